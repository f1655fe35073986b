//go:build linux

package main

import (
	"fmt"
	"io"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"
)

func (p *pushResults) print(w io.Writer) {
	push := timing{name: "idsync push"}
	direct := timing{name: "direct server/scim"}
	for _, r := range p.runs {
		push.walls = append(push.walls, r.wall)
		direct.walls = append(direct.walls, r.direct.wall)
	}
	m := p.runs[push.medianRun()]
	n := p.users
	fmt.Fprintf(w, "\nprovisioning: %s new users of one group pushed to a SCIM 2.0 app, concurrency %d, %d run(s)\n",
		thousands(n), pushConcurrency, len(p.runs))
	fmt.Fprintln(w, "  (push: a fresh hub (SQLite) per run imports the directory; then from the start of `idsyncctl app assign --group`")
	fmt.Fprintln(w, "   to the app holding every user and the hub's last job done, as the hub's store dates it; the app is scimtest")
	fmt.Fprintln(w, "   in this process. direct: the bodies the app received, sent again to a fresh scimtest through one server/scim")
	fmt.Fprintf(w, "   client from %d goroutines in this process)\n", pushConcurrency)
	fmt.Fprintf(w, "  load average before/after the push runs: %.2f / %.2f on %d CPUs\n", p.loadBefore, p.loadAfter, runtime.NumCPU())
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  \t%8s\t%8s\t%8s\t%s\n", "best", "median", "users/s", "runs")
	for _, t := range []timing{push, direct} {
		runs := make([]string, len(t.walls))
		for i, d := range t.walls {
			runs[i] = secs(d)
		}
		fmt.Fprintf(tw, "  %s\t%8s\t%8s\t%8s\t%s\n", t.name, secs(t.best()), secs(t.median()), rate(n, t.median()),
			strings.Join(runs, " "))
	}
	tw.Flush()

	fmt.Fprintf(w, "  CPU during the median push (%s): hub %s (%.2f ms per user, %.2f cores on average), SCIM server %s,\n",
		secs(m.wall), secs(m.cpu["hub"]), perUser(m.cpu["hub"], n), ratio(m.cpu["hub"], m.observed), secs(m.cpu["scim"]))
	fmt.Fprintf(w, "    agent %s, slapd %s; direct run: client and server together %s\n",
		secs(m.cpu["agent"]), secs(m.cpu["slapd"]), secs(m.direct.cpu))
	peak := "VmHWM reset at the assign"
	if !m.resetPeak {
		peak = "the hub's lifetime VmHWM: the kernel refused a reset"
	}
	fmt.Fprintf(w, "  hub peak RSS during the push: %s (%s; %s after the import)\n", mb(m.hubPeak), peak, mb(m.hubBefore))
	fmt.Fprintf(w, "  TCP connections to the app: %d from the hub, %d from the direct client (%d workers each)\n",
		m.conns, m.direct.conns, pushConcurrency)
	if m.retries > 0 {
		fmt.Fprintf(w, "  note: the hub logged %d retried pushes\n", m.retries)
	}

	ph := m.phases
	fmt.Fprintln(w, "  phases of the median push (the hub's stamps, from the start of the assign command):")
	fmt.Fprintf(w, "    assign command returned   %8s\n", secs(m.assign))
	fmt.Fprintf(w, "    scope job queued, done    %8s, %s (every user's job queued when it is done)\n", secs(ph.scopeQueued), secs(ph.scopeDone))
	fmt.Fprintf(w, "    first account recorded    %8s\n", secs(ph.firstAccount))
	fmt.Fprintf(w, "    user jobs done            %8s to %s: %s while the scope job ran (%s/s), %s after it (%s/s)\n",
		secs(ph.firstDone), secs(ph.lastDone), thousands(ph.doneInScope), rate(ph.doneInScope, ph.scopeDone-ph.firstDone),
		thousands(n-ph.doneInScope), rate(n-ph.doneInScope, ph.lastDone-ph.scopeDone))
	// Each worker runs one job after another: its cycle is the
	// concurrency times the time per job, split by the stamps.
	cycle := (ph.lastDone - ph.firstDone) * pushConcurrency / time.Duration(n)
	post, record := mean(ph.post), mean(ph.record)
	fmt.Fprintf(w, "  time per job, each of %d workers (mean, then p50 / p99), from the stamps of the account's first write (A),\n", pushConcurrency)
	fmt.Fprintln(w, "  its last write (B) and the job's end (C):")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "    cycle: %d × drain time / users\t%8s\n", pushConcurrency, ms(cycle))
	rest, once := "the rest: job completed and claimed, user read, body rendered, POST", true
	if percentile(ph.post, 50) > 0 {
		// The engine records the account before its POST too.
		fmt.Fprintf(tw, "    A to B: the write before the POST, the POST\t%8s\t(%s / %s)\n", ms(post), ms(percentile(ph.post, 50)), ms(percentile(ph.post, 99)))
		rest, once = "the rest: job completed and claimed, user read, body rendered", false
	}
	fmt.Fprintf(tw, "    B to C: the account's write after the POST\t%8s\t(%s / %s)\n", ms(record), ms(percentile(ph.record, 50)), ms(percentile(ph.record, 99)))
	fmt.Fprintf(tw, "    %s\t%8s\n", rest, ms(cycle-post-record))
	fmt.Fprintf(tw, "    direct: one POST, %d × direct time / users\t%8s\n", pushConcurrency, ms(m.direct.wall*pushConcurrency/time.Duration(n)))
	tw.Flush()
	if once {
		fmt.Fprintln(w, "    (A = B: the engine writes each account once, after its POST)")
	}

	pushRate := float64(n) / push.median().Seconds()
	overhead := ratio(push.median(), direct.median()) - 1
	ok := pushRate >= targetPushRate && overhead <= targetOverhead
	if !ok {
		ph.printSeconds(w)
	}
	fmt.Fprintln(w, "\nprovisioning targets (medians; information only)")
	fmt.Fprintf(w, "  %-48s %8s  %s\n", "push ≥ 1,000 users/s", rate(n, push.median())+"/s", verdict(pushRate >= targetPushRate))
	fmt.Fprintf(w, "  %-48s %8s  %s\n", "queue overhead ≤ 20% ((push − direct) / direct)", fmt.Sprintf("%.0f%%", 100*overhead),
		verdict(overhead <= targetOverhead))
}

// printSeconds prints the user jobs done in each second (from the hub's
// stamps) beside the last read of the queue in that second.
func (p pushPhases) printSeconds(w io.Writer) {
	fmt.Fprintln(w, "  the median push second by second (done: user jobs the hub stamped done; the rest: the last read of that second)")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "    second\t%7s\t%11s\t%9s\t%7s\t%8s\n", "done", "done so far", "in app", "queued", "running")
	total, k := 0, 0
	for s := range len(p.done) {
		total += p.done[s]
		var last *queueSample
		for ; k < len(p.samples) && p.samples[k].at < time.Duration(s+1)*time.Second; k++ {
			last = &p.samples[k]
		}
		show := []string{"-", "-", "-"}
		if last != nil {
			show = []string{thousands(last.inApp), thousands(int(last.queued)), thousands(int(last.running))}
		}
		fmt.Fprintf(tw, "    %d–%d\t%7s\t%11s\t%9s\t%7s\t%8s\n", s, s+1, thousands(p.done[s]), thousands(total), show[0], show[1], show[2])
	}
	tw.Flush()
}

func mean(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return sum / time.Duration(len(ds))
}

func perUser(d time.Duration, n int) float64 {
	return float64(d) / float64(time.Millisecond) / float64(n)
}
