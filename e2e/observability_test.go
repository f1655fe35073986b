//go:build linux

package e2e

import (
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/idsync/idsync/internal/eventually"
	"github.com/idsync/idsync/internal/obs/obstest"
	"github.com/idsync/idsync/internal/scimtest"
)

// servingMetrics is the agent's log line naming its metrics address.
var servingMetrics = regexp.MustCompile(`msg="serving metrics"[^\n]* addr=(\S+)`)

// TestObservability: after real work (a full import, change capture, pushes
// to an app, one of them dead-lettered) the hub's and the agent's /metrics
// show it, their counters agree with the runs the hub stored, and both are
// ready.
func TestObservability(t *testing.T) {
	p := newProvEnv(t, 12, 5)
	hubURL := "http://" + p.s.hub.HTTPAddr
	first := p.waitCapture("syncrepl", "")

	// The agent again, now with its metrics listener on a port the kernel
	// picks (one picked here could be taken by another test before the
	// agent binds it), read from the agent's log.
	f, err := os.OpenFile(p.a.config, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = fmt.Fprintf(f, "metrics_listen: 127.0.0.1:0\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	_ = p.a.proc.Stop(10 * time.Second)
	p.s.reviveAgent(p.a)
	p.waitCapture("syncrepl", first)
	var addr string
	eventually.That(t, "the agent's metrics address in its log", func() (bool, string) {
		m := servingMetrics.FindStringSubmatch(p.a.proc.Out.String())
		if m == nil {
			return false, "no \"serving metrics\" line yet"
		}
		addr = m[1]
		return true, ""
	})
	agentURL := "http://" + addr

	for _, url := range []string{hubURL, agentURL} {
		if code, body := obstest.Get(t, url+"/readyz"); code != http.StatusOK {
			t.Errorf("GET %s/readyz = %d %q, want 200", url, code, body)
		}
	}

	// A full import: the agent reports what it read and sent.
	run := p.s.mustImportFull(p.name)
	am := obstest.Scrape(t, agentURL)
	for _, c := range []struct {
		series string
		want   float64
	}{
		{"idsync_agent_connected", 1},
		{"idsync_agent_reconnects_total", 0},
		{`idsync_agent_full_import_objects{directory="corp"}`, float64(run.Seen)},
		{`idsync_agent_changes_sent_total{directory="corp",kind="full"}`, float64(run.Seen)},
	} {
		if got, ok := am[c.series]; !ok || got != c.want {
			t.Errorf("agent %s = %v (present %v), want %v", c.series, got, ok, c.want)
		}
	}
	batches := am[`idsync_agent_batches_sent_total{directory="corp",kind="full"}`]
	if batches < 1 || am["idsync_agent_acks_total"] < batches {
		t.Errorf("agent: %v full batches sent and %v acks, want at least one batch, each acknowledged",
			batches, am["idsync_agent_acks_total"])
	}
	if d := am[`idsync_agent_full_import_duration_seconds{directory="corp"}`]; d <= 0 {
		t.Errorf("agent full import duration = %v, want > 0", d)
	}

	// The hub's counters add up what the runs of this hub counted.
	eventually.That(t, "the hub's counters equal its runs' counters", func() (bool, string) {
		var runs []runJSON
		p.s.ctlJSON(&runs, "import", "list", "--directory", p.name, "--limit", "10000")
		hm := obstest.Scrape(t, hubURL)
		var diffs []string
		for outcome, sum := range runSums(runs) {
			series := fmt.Sprintf(`idsync_hub_objects_applied_total{directory="corp",outcome=%q}`, outcome)
			if got := hm[series]; got != sum {
				diffs = append(diffs, fmt.Sprintf("%s = %v, runs say %v", series, got, sum))
			}
		}
		return len(diffs) == 0 && hm[`idsync_hub_objects_applied_total{directory="corp",outcome="created"}`] > 0,
			strings.Join(diffs, "; ")
	})

	// Pushes: the members of group 0 reach the app.
	p.addApp("crm")
	ms := p.assignGroup("crm")
	eventually.That(t, "pushes counted and the queue drained", func() (bool, string) {
		hm := obstest.Scrape(t, hubURL)
		ok := hm[`idsync_hub_pushes_total{app="crm",outcome="succeeded"}`] >= float64(len(ms)) &&
			hm[`idsync_hub_push_queue_depth{app="crm"}`] == 0
		return ok, fmt.Sprintf("succeeded %v, queue %v", hm[`idsync_hub_pushes_total{app="crm",outcome="succeeded"}`],
			hm[`idsync_hub_push_queue_depth{app="crm"}`])
	})

	// Capture: a title change in the directory reaches the hub; the app
	// refuses its push with a 400, which dead-letters it.
	updated := `idsync_hub_objects_applied_total{directory="corp",outcome="updated"}`
	before := obstest.Scrape(t, hubURL)[updated]
	p.scim.Inject(scimtest.Fault{PathPrefix: "/Users/", Status: 400, Times: -1})
	defer p.scim.ClearFaults()
	if err := p.ep.Modify(t.Context(), replace(ms[0].dn, "title", "Observed Officer")); err != nil {
		t.Fatal(err)
	}
	lagSeries := fmt.Sprintf(`idsync_hub_capture_lag_seconds{agent=%q,directory="corp"}`, p.a.id)
	eventually.That(t, "the captured change and its dead push in the hub's metrics", func() (bool, string) {
		hm := obstest.Scrape(t, hubURL)
		_, lag := hm[lagSeries]
		ok := hm[updated] > before && hm[`idsync_hub_pushes_total{app="crm",outcome="dead"}`] >= 1 &&
			hm[`idsync_hub_push_dead_jobs{app="crm"}`] >= 1 && lag && hm["idsync_hub_agent_streams"] == 1
		return ok, fmt.Sprintf("updated %v (before %v), dead pushes %v, dead jobs %v, lag present %v, streams %v",
			hm[updated], before, hm[`idsync_hub_pushes_total{app="crm",outcome="dead"}`],
			hm[`idsync_hub_push_dead_jobs{app="crm"}`], lag, hm["idsync_hub_agent_streams"])
	})
	eventually.That(t, "the captured change in the agent's metrics", func() (bool, string) {
		am := obstest.Scrape(t, agentURL)
		_, lag := am[`idsync_agent_capture_lag_seconds{directory="corp"}`]
		sent := am[`idsync_agent_changes_sent_total{directory="corp",kind="incremental"}`]
		return sent >= 1 && lag, fmt.Sprintf("incremental changes sent %v, lag present %v", sent, lag)
	})
	hm := obstest.Scrape(t, hubURL)
	t.Logf("hub: created %v, unchanged %v, updated %v, pushes succeeded %v, dead %v, capture lag %vs",
		hm[`idsync_hub_objects_applied_total{directory="corp",outcome="created"}`],
		hm[`idsync_hub_objects_applied_total{directory="corp",outcome="unchanged"}`], hm[updated],
		hm[`idsync_hub_pushes_total{app="crm",outcome="succeeded"}`], hm[`idsync_hub_pushes_total{app="crm",outcome="dead"}`],
		hm[lagSeries])
	for _, series := range []string{"go_goroutines", "process_resident_memory_bytes"} {
		if _, ok := obstest.Scrape(t, hubURL)[series]; !ok {
			t.Errorf("the hub's /metrics lacks %s", series)
		}
		if _, ok := obstest.Scrape(t, agentURL)[series]; !ok {
			t.Errorf("the agent's /metrics lacks %s", series)
		}
	}
}

// runSums adds up the runs' counters by the outcome the hub's
// idsync_hub_objects_applied_total labels them with.
func runSums(runs []runJSON) map[string]float64 {
	sums := map[string]float64{}
	for _, r := range runs {
		sums["created"] += float64(r.Created)
		sums["updated"] += float64(r.Updated)
		sums["unchanged"] += float64(r.Unchanged)
		sums["deprovisioned"] += float64(r.Deprovisioned)
	}
	return sums
}
