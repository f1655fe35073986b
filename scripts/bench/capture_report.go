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
	if d >= 10*time.Second || d <= -10*time.Second {
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
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
	fmt.Fprintf(w, "  burst of %s changes from %d connections to slapd:\n", thousands(b.n), b.writers)
	fmt.Fprintf(w, "    issued in %s (%s changes/s accepted by slapd while capture ran)\n", secs(b.issued), rate(b.n, b.issued))
	fmt.Fprintf(w, "    drained in %s from the first modify to the last change committed: %s changes/s (hub stamps: %s, %s changes/s)\n",
		secs(b.drained), rate(b.n, b.drained), secs(b.stamped), rate(b.n, b.stamped))
	fmt.Fprintln(w, "    (drained: the burst's last write is followed by a sentinel change; the sentinel seen in the hub, a count")
	fmt.Fprintln(w, "     of the burst's titles in hub.db confirms every change is there)")

	p99 := percentile(c.steady.visible, 99)
	drain := float64(b.n) / b.drained.Seconds()
	fmt.Fprintln(w, "\ncapture targets (information only)")
	fmt.Fprintf(w, "  %-48s %8s  %s\n", "slapd latency p99 ≤ 250 ms", ms(p99), verdict(p99 <= targetP99))
	fmt.Fprintf(w, "  %-48s %8s  %s\n", "burst drained ≥ 5,000 changes/s", rate(b.n, b.drained)+"/s", verdict(drain >= targetDrain))
	if b.issued > 0 && float64(b.n)/b.issued.Seconds() < targetDrain {
		fmt.Fprintf(w, "  note: slapd itself accepted only %s changes/s on this machine, which bounds the drain rate\n", rate(b.n, b.issued))
	}
}

func rate(n int, d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	return thousands(int(float64(n) / d.Seconds()))
}
