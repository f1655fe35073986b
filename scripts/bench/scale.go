//go:build linux

package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/idsync/idsync/internal/devstack"
	"github.com/idsync/idsync/internal/gendir"
	"github.com/idsync/idsync/internal/scimtest"
	"github.com/idsync/idsync/internal/testserver"
)

// The scale run (issue 17, "how cost grows"): for each size, a slapd of
// that many users (and a hundredth as many groups, the first of them with
// the push's users), and for each store a fresh hub through four phases —
// a first import, a re-import with nothing changed, a backlog of changes
// made while the agent was stopped and drained from the checkpoint, and
// the push of one group's users to a SCIM app — each with its time, the
// hub's CPU seconds (and PostgreSQL's, all its processes), then the peak
// RSS of agent and hub and the store's size. Every figure should grow at
// most linearly with the size; the agent's RSS should stay flat.

// scaleChanges is the backlog's changes and the push's users (fewer on a
// smaller directory).
const scaleChanges = 10_000

// scalePhase is one phase of a scale row.
type scalePhase struct {
	wall          time.Duration
	hub, postgres time.Duration // CPU
	load          float64       // one-minute load average at the start
	// agentPeak is the agent's VmHWM over the phase alone: reset through
	// /proc/PID/clear_refs at its start (0 when the kernel refuses).
	agentPeak int64
}

// scaleRow is one size on one store.
type scaleRow struct {
	users, groups, changes, pushed int
	store                          string
	first, again, backlog, push    scalePhase
	agentPeak, hubPeak, size, wal  int64
}

// scaleResults is the scale run.
type scaleResults struct {
	rows []scaleRow
}

// scaleSection runs every size on every store.
func (b *bench) scaleSection(ctx context.Context, bins devstack.Binaries, dir string) (*scaleResults, error) {
	res := &scaleResults{}
	var pg *testserver.PostgresServer
	for _, st := range b.opts.scaleStores {
		if st == "postgres" {
			b.logf("scale: starting PostgreSQL")
			var err error
			if pg, err = testserver.StartPostgres(ctx); err != nil {
				return nil, fmt.Errorf("starting PostgreSQL: %w", err)
			}
			defer pg.Stop()
		}
	}
	for _, n := range b.opts.scaleSizes {
		rows, err := b.scaleSize(ctx, bins, filepath.Join(dir, strconv.Itoa(n)), n, pg)
		if err != nil {
			return nil, fmt.Errorf("%d users: %w", n, err)
		}
		res.rows = append(res.rows, rows...)
	}
	return res, nil
}

// scaleSize loads a slapd with n users and runs the phases on each store.
func (b *bench) scaleSize(ctx context.Context, bins devstack.Binaries, dir string, n int, pg *testserver.PostgresServer) ([]scaleRow, error) {
	groups, pushN := max(1, n/100), min(scaleChanges, n)
	var gen *gendir.Generator
	b.logf("scale: loading slapd with %d users and %d groups", n, groups)
	srv, slapd, err := startGenerated(ctx, filepath.Join(dir, "slapd"), gendir.Options{Seed: 7, Users: n, Groups: groups,
		GroupSize: func(j int) int {
			if j == 0 {
				return pushN
			}
			return 1 + (j*7919)%25
		}}, func(g *gendir.Generator) { gen = g })
	if err != nil {
		return nil, err
	}
	defer srv.Stop()
	ids, err := people(ctx, &srv.Endpoint, srv.BaseDN, false)
	if err != nil {
		return nil, err
	}
	var rows []scaleRow
	for _, store := range b.opts.scaleStores {
		row := scaleRow{users: n, groups: groups, changes: min(scaleChanges, n-1), pushed: pushN, store: store}
		if err := b.scaleRun(ctx, bins, filepath.Join(dir, store), srv, slapd, gen, ids, pg, &row); err != nil {
			return nil, fmt.Errorf("%s: %w", store, err)
		}
		b.logf("scale: %d users, %s: first import %s (hub %s), re-import %s (hub %s), backlog %s (hub %s), push %s (hub %s)",
			n, store, secs(row.first.wall), secs(row.first.hub), secs(row.again.wall), secs(row.again.hub),
			secs(row.backlog.wall), secs(row.backlog.hub), secs(row.push.wall), secs(row.push.hub))
		rows = append(rows, row)
	}
	return rows, nil
}

// scaleRun runs the four phases on a fresh stack.
func (b *bench) scaleRun(ctx context.Context, bins devstack.Binaries, dir string, srv *testserver.SlapdServer, slapd int,
	gen *gendir.Generator, ids map[string]string, pg *testserver.PostgresServer, row *scaleRow) error {
	var dsn string
	if row.store == "postgres" {
		var err error
		if dsn, err = pg.CreateDatabase(ctx); err != nil {
			return err
		}
	}
	b.agentHeapProfiles(fmt.Sprintf("scale-%d-%s-import", row.users, row.store))
	st, done, err := b.freshStack(ctx, bins, dir, dsn, &srv.Endpoint, slapd)
	if err != nil {
		return err
	}
	defer done()
	// phase measures fn: wall time, the hub's CPU and PostgreSQL's.
	phase := func(label string, p *scalePhase, fn func() (time.Duration, error)) error {
		p.load = loadAverage()
		hub0, _ := cpuTime(st.hub.Cmd.Process.Pid)
		pg0 := postgresCPU(pg, dsn)
		// Writing 5 to clear_refs resets VmHWM to the current RSS (Linux
		// 4.0), so the peak read afterwards is the phase's own; the
		// backlog's agent is a new process, started within the phase.
		reset := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", st.agent.Cmd.Process.Pid), []byte("5"), 0) == nil
		stop := func() {}
		if label != "push" { // b.push profiles itself
			stop = st.prof.profile(fmt.Sprintf("scale-%d-%s-%s", row.users, row.store, label))
		}
		wall, err := fn()
		stop()
		hub1, _ := cpuTime(st.hub.Cmd.Process.Pid)
		p.wall, p.hub, p.postgres = wall, hub1-hub0, postgresCPU(pg, dsn)-pg0
		if peak, perr := peakRSS(st.agent.Cmd.Process.Pid); perr == nil && (reset || label == "backlog") {
			p.agentPeak = peak
		}
		return err
	}
	total := row.users + row.groups
	for _, p := range []struct {
		label string
		into  *scalePhase
	}{{"first", &row.first}, {"reimport", &row.again}} {
		if err := phase(p.label, p.into, func() (time.Duration, error) {
			r, err := st.importFull(ctx, total)
			return r.duration(), err
		}); err != nil {
			return fmt.Errorf("%s import: %w", p.label, err)
		}
	}

	// The backlog: made while the agent is stopped, drained from the
	// checkpoint when it starts again.
	db, err := st.openHubDB(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := st.waitCapture(ctx, "syncrepl"); err != nil {
		return err
	}
	row.agentPeak, _ = peakRSS(st.agent.Cmd.Process.Pid)
	if err := st.agent.Stop(10 * time.Second); err != nil {
		return fmt.Errorf("stopping the agent: %w", err)
	}
	user := func(i int) (string, string) {
		dn := gen.UserDN(i % row.users)
		return dn, ids[strings.ToLower(dn)]
	}
	_, sentinel := user(row.users - 1)
	// Titles of this row's own: the rows before changed the same users.
	tag := "scale-" + row.store
	if _, _, err := issueBurst(ctx, &srv.Endpoint, row.changes, burstWriters, tag, user, row.users-1); err != nil {
		return fmt.Errorf("backlog: %w", err)
	}
	b.agentHeapProfiles(fmt.Sprintf("scale-%d-%s-backlog", row.users, row.store))
	if err := phase("backlog", &row.backlog, func() (time.Duration, error) {
		restart := time.Now()
		if err := st.startAgent(ctx); err != nil {
			return 0, err
		}
		drained, _, err := waitBurst(ctx, db, row.changes, tag, sentinel, restart)
		return drained, err
	}); err != nil {
		return err
	}

	// The push of the first group's users to a fresh SCIM app.
	token, err := newToken()
	if err != nil {
		return err
	}
	tokenFile := filepath.Join(dir, "scim-token")
	if err := os.WriteFile(tokenFile, []byte(token), 0o600); err != nil {
		return err
	}
	app, err := scimtest.Listen(scimtest.Options{Token: token})
	if err != nil {
		return fmt.Errorf("starting the SCIM server: %w", err)
	}
	defer app.Close()
	if _, err := st.ctl(ctx, "app", "add", pushApp, "--scim-url", app.URL, "--auth", "bearer", "--token-file", tokenFile,
		"--concurrency", fmt.Sprint(pushConcurrency), "--allow-insecure-http", "--allow-local-addresses"); err != nil {
		return err
	}
	if err := st.waitIdle(ctx, pushApp); err != nil {
		return err
	}
	if err := phase("push", &row.push, func() (time.Duration, error) {
		r, err := b.push(ctx, st, app, gen.GroupCN(0), row.pushed)
		return r.wall, err
	}); err != nil {
		return fmt.Errorf("push: %w", err)
	}

	// Each phase reset the peak at its start: the row's is the highest.
	agent, _ := peakRSS(st.agent.Cmd.Process.Pid)
	row.agentPeak = max(row.agentPeak, agent, row.first.agentPeak, row.again.agentPeak, row.backlog.agentPeak, row.push.agentPeak)
	if row.hubPeak, err = peakRSS(st.hub.Cmd.Process.Pid); err != nil {
		return fmt.Errorf("the hub's memory: %w", err)
	}
	if row.size, row.wal, err = db.size(ctx, st.hub.DataDir); err != nil {
		return fmt.Errorf("the store's size: %w", err)
	}
	return nil
}

// postgresCPU is the CPU time PostgreSQL's processes have used: the
// postmaster and its children, those that ended included (the
// postmaster's cutime and cstime). 0 without PostgreSQL or for SQLite (dsn
// "").
func postgresCPU(pg *testserver.PostgresServer, dsn string) time.Duration {
	if pg == nil || dsn == "" {
		return 0
	}
	pm := pg.Pid()
	total := statTicks(pm, 11, 15) // utime, stime, cutime, cstime
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == pm || parentPid(pid) != pm {
			continue
		}
		total += statTicks(pid, 11, 13)
	}
	return time.Duration(total) * time.Second / userHZ
}

// statTicks sums fields from to to-1 (counted after the command name, from
// the state) of /proc/pid/stat; 0 when unreadable.
func statTicks(pid, from, to int) int64 {
	f := statFields(pid)
	if len(f) < to {
		return 0
	}
	var n int64
	for _, v := range f[from:to] {
		x, _ := strconv.ParseInt(v, 10, 64)
		n += x
	}
	return n
}

// parentPid is process pid's parent, 0 when unreadable.
func parentPid(pid int) int {
	f := statFields(pid)
	if len(f) < 2 {
		return 0
	}
	p, _ := strconv.Atoi(f[1])
	return p
}

// statFields are the fields of /proc/pid/stat after the command name.
func statFields(pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(s[i+1:])
}

// machine names the CPU model and the number of CPUs, for the report.
func machine() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	defer f.Close()
	model, n := "", 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		switch k = strings.TrimSpace(k); {
		case !ok:
		case k == "processor":
			n++
		case k == "model name" && model == "":
			model = strings.TrimSpace(v)
		}
	}
	return fmt.Sprintf("%s, %d CPUs", model, n)
}

func (r *scaleResults) print(w io.Writer) {
	fmt.Fprintf(w, "\nscale: a fresh hub per size and store; time / hub CPU (+ PostgreSQL's CPU, all its processes) per phase; %s\n", machine())
	fmt.Fprintln(w, "  (first: first import of the users and groups; again: re-import, nothing changed; backlog: changes made with the")
	fmt.Fprintln(w, "   agent stopped, drained from the checkpoint; push: one group's users to a SCIM app, concurrency 8; load: the")
	fmt.Fprintln(w, "   one-minute load average at the start of the first import; PostgreSQL runs without fsync, as the tests run it;")
	fmt.Fprintln(w, "   agent RSS: the peak over the four phases, then each phase's own peak, first/again/backlog/push)")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "users\tstore\tfirst\tagain\tbacklog\tpush\tagent RSS\thub RSS\tstore\tload\t")
	cell := func(p scalePhase) string {
		s := fmt.Sprintf("%.1fs / %.2fs", p.wall.Seconds(), p.hub.Seconds())
		if p.postgres > 0 {
			s += fmt.Sprintf(" +%.2fs", p.postgres.Seconds())
		}
		return s
	}
	for _, row := range r.rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s (%s)\t%s (%s)\t%s\t%s\t%s\t%.1f\t\n", count(row.users), row.store,
			cell(row.first), cell(row.again), cell(row.backlog), count(row.changes), cell(row.push), count(row.pushed),
			mb(row.agentPeak)+" ("+phasePeaks(row)+")", mb(row.hubPeak), storeSize(row), row.first.load)
	}
	tw.Flush()
}

// phasePeaks is the agent's peak RSS of each phase, in MB, "?" where it
// could not be reset.
func phasePeaks(row scaleRow) string {
	var out []string
	for _, p := range []scalePhase{row.first, row.again, row.backlog, row.push} {
		if p.agentPeak == 0 {
			out = append(out, "?")
			continue
		}
		out = append(out, fmt.Sprintf("%.0f", float64(p.agentPeak)/(1<<20)))
	}
	return strings.Join(out, "/")
}

// storeSize is the store's size, SQLite's WAL apart: it grows to 64 MiB
// whatever the directory's size before a checkpoint empties it.
func storeSize(row scaleRow) string {
	if row.store == "sqlite" {
		return fmt.Sprintf("%s + WAL %s", mb(row.size), mb(row.wal))
	}
	return mb(row.size)
}

// count writes n with thousands separators.
func count(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// sessionLog is the session log of the bench's slapd, sized as
// docs/directories.md asks of a server: above the changes of the longest
// time an agent may be away (here the backlog of 10,000 changes, with
// the bursts before it). A smaller log makes a resumed refresh name
// every unchanged entry present, which costs the directory's size, not
// the backlog's.
const sessionLog = 100_000

// startGenerated starts a slapd in dir loaded with the directory o
// generates under slapd's base DN, hands the generator to gen, and returns
// the server with its pid.
func startGenerated(ctx context.Context, dir string, o gendir.Options, gen func(*gendir.Generator)) (*testserver.SlapdServer, int, error) {
	srv, err := testserver.StartSlapd(ctx, testserver.SlapdOptions{
		Dir: dir, SessionLog: sessionLog,
		Preload: func(base string, emit func(gendir.Entry) error) error {
			o.BaseDN = base
			g, err := gendir.New(o)
			if err != nil {
				return err
			}
			gen(g)
			return g.Each(emit)
		},
	})
	if err != nil {
		return nil, 0, err
	}
	slapd, err := pidFile(filepath.Join(srv.Dir, "slapd.pid"))
	if err != nil {
		srv.Stop()
		return nil, 0, fmt.Errorf("slapd's pid: %w", err)
	}
	return srv, slapd, nil
}
