//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/idsync/idsync/internal/devstack"
)

// Targets of the group rules (issue 13): a rule over 100,000 users
// re-evaluated in full in under 5 s; a profile change reaching the rule
// groups' membership in the app with p99 under 1 s.
const (
	targetRuleAgain   = 5 * time.Second
	targetRuleMoveP99 = time.Second
)

// rulesBenchmarks are the Go benchmarks of server/rules the section runs
// (server/rules/bench_test.go says what each measures).
const rulesBenchmarks = "FullEvaluation100k|ProfileChangeToApp"

// rulesResults are the figures the benchmarks reported, by benchmark (its
// name without the -N of GOMAXPROCS) and unit.
type rulesResults struct {
	metrics               map[string]map[string]float64
	loadBefore, loadAfter float64
	wall                  time.Duration
}

// rulesSection runs the group rules' Go benchmarks once each (they hold
// their own store, engines and SCIM server) and reads their figures.
func (b *bench) rulesSection(ctx context.Context) (*rulesResults, error) {
	root, err := devstack.RepoRoot()
	if err != nil {
		return nil, err
	}
	b.logf("group rules: go test -bench '%s' ./server/rules/ (a few minutes)", rulesBenchmarks)
	res := &rulesResults{loadBefore: loadAverage()}
	start := time.Now()
	cmd := exec.CommandContext(ctx, "go", "test", "-run", "^$", "-bench", rulesBenchmarks, "-benchtime", "1x",
		"-timeout", "30m", "./server/rules/")
	cmd.Dir = root
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = io.MultiWriter(&out, b.goTestOutput())
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("go test -bench ./server/rules/: %w\n%s", err, tailText(out.String(), 40))
	}
	res.wall, res.loadAfter = time.Since(start), loadAverage()
	if res.metrics, err = parseBenchmarks(out.String()); err != nil {
		return nil, err
	}
	for _, name := range []string{"FullEvaluation100k/profile", "FullEvaluation100k/groups", "ProfileChangeToApp"} {
		if res.metrics[name] == nil {
			return nil, fmt.Errorf("go test -bench printed no figures of %s:\n%s", name, tailText(out.String(), 40))
		}
	}
	return res, nil
}

// goTestOutput is where the benchmark's own output goes as it runs: nowhere
// unless -v.
func (b *bench) goTestOutput() io.Writer {
	if b.opts.verbose {
		return os.Stderr
	}
	return io.Discard
}

// benchLine is a line of go test -bench: name-procs, iterations, then
// value-unit pairs.
var benchLine = regexp.MustCompile(`^Benchmark(\S+?)(?:-\d+)?\s+\d+\s+(.*)$`)

// parseBenchmarks reads the value-unit pairs of each benchmark line.
func parseBenchmarks(out string) (map[string]map[string]float64, error) {
	metrics := map[string]map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		m := benchLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		f := strings.Fields(m[2])
		if len(f)%2 != 0 {
			return nil, fmt.Errorf("benchmark line %q: odd value-unit pairs", sc.Text())
		}
		metrics[m[1]] = map[string]float64{}
		for i := 0; i < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, fmt.Errorf("benchmark line %q: %w", sc.Text(), err)
			}
			metrics[m[1]][f[i+1]] = v
		}
	}
	return metrics, sc.Err()
}

func tailText(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func (r *rulesResults) print(w io.Writer) {
	seconds := func(v float64) time.Duration { return time.Duration(v * float64(time.Second)) }
	millis := func(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }
	fmt.Fprintf(w, "\ngroup rules (server/rules Go benchmarks, SQLite, %s in all)\n", r.wall.Round(time.Second))
	fmt.Fprintf(w, "  load average before/after: %.2f / %.2f on %d CPUs\n", r.loadBefore, r.loadAfter, runtime.NumCPU())
	for _, c := range []struct{ name, what string }{
		{"FullEvaluation100k/profile", `department == "engineering" && status == "active" (25,000 of them)`},
		{"FullEvaluation100k/groups", `"contractors" in groups && department == "engineering" (5,000)`},
	} {
		m := r.metrics[c.name]
		fmt.Fprintf(w, "  full evaluation over %s users, %s: first %s (all join), again %s (no change)\n",
			thousands(int(m["users"])), c.what, secs(seconds(m["first-s"])), secs(seconds(m["again-s"])))
	}
	mv := r.metrics["ProfileChangeToApp"]
	fmt.Fprintf(w, "  profile change to the app's rule groups (2,000 users in two rule groups pushed to a SCIM app, %d changes one by one):\n",
		int(mv["changes"]))
	fmt.Fprintf(w, "    p50 %s, p99 %s, worst %s (from the commit of the change to the app's groups both showing the move)\n",
		ms(millis(mv["p50-ms"])), ms(millis(mv["p99-ms"])), ms(millis(mv["max-ms"])))
	fmt.Fprintf(w, "    of which the rule engine: p50 %s, p99 %s (until the hub's groups show the move; the rest is provisioning's pushes)\n",
		ms(millis(mv["rule-p50-ms"])), ms(millis(mv["rule-p99-ms"])))
	again := seconds(r.metrics["FullEvaluation100k/profile"]["again-s"])
	p99 := millis(mv["p99-ms"])
	fmt.Fprintln(w, "\ntargets (group rules)")
	fmt.Fprintf(w, "  %-48s %8s  %s\n", "a rule over 100,000 users re-evaluated ≤ 5 s", secs(again), verdict(again <= targetRuleAgain))
	fmt.Fprintf(w, "  %-48s %8s  %s\n", "profile change to the app, p99 ≤ 1 s", ms(p99), verdict(p99 <= targetRuleMoveP99))
}
