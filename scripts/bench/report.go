//go:build linux

package main

import (
	"cmp"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Targets of the benchmark (issue: "end to end ≤ 1.5× the raw go-ldap
// search; agent peak RSS ≤ 64 MB").
const (
	targetRatio     = 1.5
	targetAgentPeak = 64 << 20
)

// results is everything measured.
type results struct {
	opts   options
	total  int
	memory []memory
	// loadBefore and loadAfter are the one-minute load averages around the
	// measurements.
	loadBefore, loadAfter float64

	ldapsearch, goLDAP []sample
	first, again       []importResult
	// capture is nil when change capture was not measured.
	capture *captureResults
	// push is nil when provisioning was not measured.
	push *pushResults
	// rules is nil when group rules were not measured.
	rules *rulesResults
	// console is nil when the console's pages were not measured.
	console *consoleResults
	// csv is nil when file imports were not measured.
	csv *csvResults
	// scale is nil without a scale run.
	scale *scaleResults
}

// timing is one row of the table: several runs of one measure, with the
// CPU time per process of each run (nil when not measured).
type timing struct {
	name  string
	walls []time.Duration
	cpu   []map[string]time.Duration
}

func (t timing) best() time.Duration { return slices.Min(t.walls) }

// medianRun is the index of the median run (the lower middle one for an
// even count), so that its CPU times go with its wall time.
func (t timing) medianRun() int {
	idx := make([]int, len(t.walls))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return cmp.Compare(t.walls[a], t.walls[b]) })
	return idx[(len(idx)-1)/2]
}

func (t timing) median() time.Duration { return t.walls[t.medianRun()] }

func rawTiming(name string, ss []sample) timing {
	t := timing{name: name}
	for _, s := range ss {
		t.walls = append(t.walls, s.wall)
		t.cpu = append(t.cpu, s.cpu)
	}
	return t
}

// importTimings returns a row for the runs' own durations and one for the
// command's wall time.
func importTimings(name string, rs []importResult) (run, command, agent timing) {
	run.name, command.name, agent.name = name+" (run)", name+" (idsyncctl)", name+" (agent read)"
	for _, r := range rs {
		run.walls = append(run.walls, r.duration())
		run.cpu = append(run.cpu, r.cpu)
		command.walls = append(command.walls, r.command)
		agent.walls = append(agent.walls, r.agentRead)
	}
	return run, command, agent
}

func (r *results) print(w io.Writer) {
	if len(r.first) > 0 {
		r.printImports(w)
	} else {
		fmt.Fprintf(w, "\nidsync bench: %d CPUs, %s\n", runtime.NumCPU(), runtime.Version())
		fmt.Fprintf(w, "load average before/after: %.2f / %.2f on %d CPUs (other work on the machine slows every figure)\n",
			r.loadBefore, r.loadAfter, runtime.NumCPU())
	}
	if r.push != nil {
		r.push.print(w)
	}
	if r.csv != nil {
		r.csv.print(w)
	}
	if r.scale != nil {
		r.scale.print(w)
	}
	if r.rules != nil {
		r.rules.print(w)
	}
	if r.console != nil {
		r.console.print(w)
	}
}

// printImports prints the raw reads, the imports and change capture.
func (r *results) printImports(w io.Writer) {
	o := r.opts
	fmt.Fprintf(w, "\nidsync bench: %s users + %s groups = %s entries, page size %d, %d run(s) each, %d CPUs, %s\n",
		thousands(o.users), thousands(o.groups), thousands(r.total), pageSize, o.runs, runtime.NumCPU(), runtime.Version())
	fmt.Fprintln(w, "(idsync: a fresh hub with SQLite for each run; first import creates everything, re-import finds it unchanged)")
	fmt.Fprintf(w, "load average before/after: %.2f / %.2f on %d CPUs (other work on the machine slows every figure)\n",
		r.loadBefore, r.loadAfter, runtime.NumCPU())
	fmt.Fprintln(w)

	ldapsearch := rawTiming("ldapsearch -E pr/noprompt", r.ldapsearch)
	goLDAP := rawTiming("go-ldap paged SearchAsync", r.goLDAP)
	firstRun, firstCmd, firstAgent := importTimings("idsync first import", r.first)
	againRun, againCmd, againAgent := importTimings("idsync re-import", r.again)

	// Cells have fixed widths, so that left-aligned columns line up on
	// the right.
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "read\t%8s\t%8s\t%9s\t%12s\t%9s\n", "best", "median", "entries/s", "× ldapsearch", "× go-ldap")
	for _, t := range []timing{ldapsearch, goLDAP, firstRun, firstCmd, firstAgent, againRun, againCmd, againAgent} {
		med := t.median()
		fmt.Fprintf(tw, "%s\t%8s\t%8s\t%9s\t%12.2f\t%9.2f\n", t.name, secs(t.best()), secs(med),
			thousands(int(float64(r.total)/med.Seconds())), ratio(med, ldapsearch.median()), ratio(med, goLDAP.median()))
	}
	tw.Flush()
	fmt.Fprintln(w, "  (run: the hub's own start to finish, sweep committed; idsyncctl: the command's wall time, polling every 300 ms;")
	fmt.Fprintln(w, "   agent read: the agent's dial to the last batch acknowledged)")

	fmt.Fprintln(w, "\nCPU seconds per process during the median run")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "read\t%8s\t%8s\t%8s\t%8s\t%8s\n", "slapd", "client", "agent", "hub", "wall")
	for _, t := range []timing{ldapsearch, goLDAP, firstRun, againRun} {
		m := t.medianRun()
		cpu := t.cpu[m]
		cell := func(name string) string {
			v, ok := cpu[name]
			if !ok {
				return "-"
			}
			return secs(v)
		}
		fmt.Fprintf(tw, "%s\t%8s\t%8s\t%8s\t%8s\t%8s\n", t.name, cell("slapd"), cell("client"), cell("agent"), cell("hub"), secs(t.walls[m]))
	}
	tw.Flush()
	fmt.Fprintln(w, "  (client: ldapsearch's processes, or this process for go-ldap; CPU above wall means several cores busy)")
	// Other work on the machine stretches wall times but hardly CPU times:
	// the CPU an import needs bounds how fast it can be on idle cores.
	fmt.Fprintf(w, "  on %d idle CPUs an import takes at least its CPU seconds / %d (slapd, agent and hub together):\n",
		runtime.NumCPU(), runtime.NumCPU())
	for _, t := range []timing{firstRun, againRun} {
		floor := cpuFloor(t.cpu[t.medianRun()])
		fmt.Fprintf(w, "    %-22s %s = %.2f× the go-ldap median\n", strings.TrimPrefix(t.name, "idsync "), secs(floor),
			ratio(floor, goLDAP.median()))
	}

	var peak memory
	for _, m := range r.memory {
		peak.agentPeak = max(peak.agentPeak, m.agentPeak)
		peak.hubPeak = max(peak.hubPeak, m.hubPeak)
		peak.db = max(peak.db, m.db)
		peak.wal = max(peak.wal, m.wal)
	}
	fmt.Fprintf(w, "\nmemory (largest of %d hub(s), read after both imports)\n", len(r.memory))
	fmt.Fprintf(w, "  agent peak RSS (VmHWM)  %8s\n", mb(peak.agentPeak))
	fmt.Fprintf(w, "  hub peak RSS (VmHWM)    %8s\n", mb(peak.hubPeak))
	fmt.Fprintf(w, "  hub SQLite              %8s (hub.db %s + WAL %s)\n", mb(peak.db+peak.wal), mb(peak.db), mb(peak.wal))

	fmt.Fprintln(w, "\ntargets (medians; information only, a miss does not fail the build)")
	for _, t := range []timing{firstRun, againRun} {
		x := ratio(t.median(), goLDAP.median())
		fmt.Fprintf(w, "  %-48s %8s  %s\n", "end to end ≤ 1.5× go-ldap, "+strings.TrimPrefix(t.name, "idsync "),
			fmt.Sprintf("%.2f×", x), verdict(x <= targetRatio))
	}
	fmt.Fprintf(w, "  %-48s %8s  %s\n", "agent peak RSS ≤ 64 MB", mb(peak.agentPeak), verdict(peak.agentPeak <= targetAgentPeak))
	for i, a := range r.again {
		if a.run.Created != 0 || a.run.Updated != 0 || a.run.Unchanged != uint64(r.total) {
			fmt.Fprintf(w, "  note: re-import %d created %d, updated %d, unchanged %d; want 0, 0, %d\n",
				i+1, a.run.Created, a.run.Updated, a.run.Unchanged, r.total)
		}
	}
	if r.capture != nil {
		r.capture.print(w)
	}
}

// cpuFloor is the least wall time work with these CPU times can take on
// idle CPUs, spread perfectly over all of them.
func cpuFloor(cpu map[string]time.Duration) time.Duration {
	var total time.Duration
	for _, d := range cpu {
		total += d
	}
	return total / time.Duration(runtime.NumCPU())
}

func verdict(ok bool) string {
	if ok {
		return "PASS"
	}
	return "MISS"
}

func ratio(a, b time.Duration) float64 {
	if b <= 0 {
		return 0
	}
	return a.Seconds() / b.Seconds()
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2fs", d.Seconds()) }

func mb(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/(1<<20)) }

// thousands formats n with commas.
func thousands(n int) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return s
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
