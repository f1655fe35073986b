//go:build linux

package main

import (
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
	"time"
)

// percentile returns the p-th percentile (nearest rank) of ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(ds))
	k := int(float64(len(s))*p/100+0.999999) - 1
	return s[min(max(k, 0), len(s)-1)]
}

func ms(d time.Duration) string {
	if d >= time.Second || d <= -time.Second {
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
	return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
}

// cpuLine is the CPU seconds of slapd, agent and hub.
func cpuLine(cpu map[string]time.Duration) string {
	return fmt.Sprintf("CPU slapd %s, agent %s, hub %s", secs(cpu["slapd"]), secs(cpu["agent"]), secs(cpu["hub"]))
}

func (c *captureResults) print(w io.Writer) {
	fmt.Fprintln(w, "\nchange capture: an LDAP modify to the change committed in the hub")
	fmt.Fprintln(w, "  (latency: from the modify call returning here to the first poll of the hub's hub.db that sees the row —")
	fmt.Fprintln(w, "   a read-only SQLite connection polling the changes in flight every 1 ms, an upper bound by at most that;")
	fmt.Fprintln(w, "   hub stamp: the row's updated_at, written at the start of the committing transaction, a lower bound)")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  stream\t%9s\t%9s\t%9s\t%9s\t%s\n", "p50", "p99", "max", "min", "hub stamp p50 / p99")
	row := func(name string, l latencies) {
		fmt.Fprintf(tw, "  %s\t%9s\t%9s\t%9s\t%9s\t%s / %s\n", name, ms(percentile(l.visible, 50)), ms(percentile(l.visible, 99)),
			ms(slices.Max(l.visible)), ms(slices.Min(l.visible)), ms(percentile(l.stamp, 50)), ms(percentile(l.stamp, 99)))
	}
	row(fmt.Sprintf("slapd syncrepl, %s changes at %.0f/s", thousands(c.steady.n), c.steady.rate), c.steady)
	if c.ad != nil {
		row(fmt.Sprintf("Samba AD DirSync, %s changes at %.0f/s", thousands(c.ad.n), c.ad.rate), *c.ad)
	}
	tw.Flush()
	if c.ad != nil {
		fmt.Fprintln(w, "  (Samba AD sends its change notifications up to ~5 s after a write: that bounds DirSync's latency)")
	} else {
		fmt.Fprintf(w, "  Samba AD: not measured (%s)\n", c.adSkipped)
	}
	b := c.burst
	fmt.Fprintf(w, "  burst of %s changes (one per user) from %d connections to slapd, capture running:\n", thousands(b.n), b.writers)
	fmt.Fprintf(w, "    issued in %s: slapd accepted %s changes/s while capture ran\n", secs(b.issued), rate(b.n, b.issued))
	fmt.Fprintf(w, "    drained in %s, first modify to last change committed: %s changes/s (hub stamps: %s, %s/s); %s\n",
		secs(b.drained), rate(b.n, b.drained), secs(b.stamped), rate(b.n, b.stamped), cpuLine(b.cpu))
	fmt.Fprintf(w, "  the same burst made with the agent stopped (slapd accepted it at %s changes/s), then drained from the\n",
		rate(b.n, b.backlogIssued))
	fmt.Fprintf(w, "  stored checkpoint (syncrepl refresh):\n")
	fmt.Fprintf(w, "    drained in %s, agent start to last change committed: %s changes/s (hub stamps: %s, %s/s); %s\n",
		secs(b.backlog), rate(b.n, b.backlog), secs(b.backlogStamped), rate(b.n, b.backlogStamped), cpuLine(b.backlogCPU))
	fmt.Fprintln(w, "    (each burst ends with a sentinel change watched every 1 ms; once it is in the hub, a count of the")
	fmt.Fprintln(w, "     burst's titles in hub.db confirms every change is there)")

	p99 := percentile(c.steady.visible, 99)
	drain := float64(b.n) / b.drained.Seconds()
	fmt.Fprintln(w, "\ncapture targets (information only)")
	fmt.Fprintf(w, "  %-48s %8s  %s\n", "slapd latency p99 ≤ 250 ms", ms(p99), verdict(p99 <= targetP99))
	backlog := float64(b.n) / b.backlog.Seconds()
	fmt.Fprintf(w, "  %-48s %8s  %s\n", "burst drained ≥ 5,000 changes/s (live)", rate(b.n, b.drained)+"/s", verdict(drain >= targetDrain))
	fmt.Fprintf(w, "  %-48s %8s  %s\n", "burst drained ≥ 5,000 changes/s (backlog)", rate(b.n, b.backlog)+"/s", verdict(backlog >= targetDrain))
	if b.issued > 0 && float64(b.n)/b.issued.Seconds() < targetDrain {
		fmt.Fprintf(w, "  note: slapd itself accepted only %s changes/s here while capture ran (%s/s with no agent reading),\n",
			rate(b.n, b.issued), rate(b.n, b.backlogIssued))
		fmt.Fprintln(w, "  which bounds the live drain rate: the backlog figure is idsync's own")
	}
}

func rate(n int, d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	return thousands(int(float64(n) / d.Seconds()))
}
