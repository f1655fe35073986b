//go:build linux

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/idsync/idsync/internal/devstack"
	"github.com/idsync/idsync/internal/gendir"
	"github.com/idsync/idsync/internal/testserver"
)

// options are the command line.
type options struct {
	users, groups, runs int
	keep, verbose       bool
	// cpuProfile, when set, is where the CPU profile of the raw go-ldap
	// reads (this process) goes.
	cpuProfile string
	// hubProfiles, when set, is the directory where the hub's CPU
	// profiles of each measured phase go.
	hubProfiles string
	// timeline, when positive, samples the processes' CPU use at that
	// interval during each idsync import and prints it.
	timeline time.Duration
	// imports, when set, measures the full imports (and the raw reads
	// beside them); change capture runs on their last stack.
	imports bool
	// capture, when set, measures change capture too (issue 3).
	capture     bool
	captureOpts captureOptions
	// push, when set, measures provisioning (issue 4): pushUsers new
	// users pushed to a SCIM server, once per run.
	push      bool
	pushUsers int
	// rules, when set, runs the group rules' Go benchmarks (issue 13).
	rules bool
	// console, when set, times the console's pages (issue 14).
	console bool
	// csv, when set, measures file imports (issue 16): csvRows rows.
	csv     bool
	csvRows int
	// scaleSizes are the directory sizes of the scale run (issue 17), on
	// each of scaleStores; none: no scale run.
	scaleSizes  []int
	scaleStores []string
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.IntVar(&o.users, "users", 100_000, "users to generate")
	fs.IntVar(&o.groups, "groups", -1, "groups to generate; -1 means users/100")
	fs.IntVar(&o.runs, "runs", 3, "timed runs of each read; every idsync run gets a fresh hub")
	short := fs.Bool("short", false, "a quick smoke run: 2,000 users, 20 groups, 1 run (explicit flags win)")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory (binaries, slapd, hub data, logs)")
	fs.BoolVar(&o.verbose, "v", false, "copy the hub's and agents' logs to standard error")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the raw go-ldap reads to `FILE`")
	fs.StringVar(&o.hubProfiles, "hub-cpuprofile", "", "write CPU profiles of the hub, one per measured phase, into `DIR`")
	fs.DurationVar(&o.timeline, "timeline", 0, "print the CPU use of slapd, agent and hub every `INTERVAL` during each idsync import")
	fs.BoolVar(&o.imports, "import", true, "measure full imports against raw reads (-import=false skips them, and change capture with them)")
	fs.BoolVar(&o.capture, "capture", true, "measure change capture: latency against slapd and Samba AD, and a burst drained")
	c := &o.captureOpts
	fs.IntVar(&c.steady, "capture-changes", 1000, "changes of the steady slapd latency measurement")
	fs.Float64Var(&c.steadyRate, "capture-rate", 50, "changes per second of the steady measurements against slapd")
	fs.IntVar(&c.burst, "capture-burst", 10_000, "changes of the burst")
	fs.IntVar(&c.adChanges, "capture-ad-changes", 50, "changes of the Samba AD latency measurement")
	fs.Float64Var(&c.adRate, "capture-ad-rate", 2, "changes per second against Samba AD (it notifies within 5 s)")
	fs.BoolVar(&o.push, "push", true, "measure provisioning: new users pushed over SCIM with concurrency 8, against direct calls of the SCIM client")
	fs.IntVar(&o.pushUsers, "push-users", 10_000, "users of the provisioning push")
	fs.BoolVar(&o.rules, "rules", true, "measure group rules: a full evaluation over 100,000 users, and a profile change to the app's rule groups (go test -bench ./server/rules/)")
	fs.BoolVar(&o.console, "console", true, "time every console page at 100,000 users and 1,000 groups (go test -bench ConsolePages ./server/hub/)")
	fs.BoolVar(&o.csv, "csv", true, "measure file imports: a generated HR export streamed by idsyncctl import start --file --full --wait")
	fs.IntVar(&o.csvRows, "csv-rows", 100_000, "rows of the csv import")
	scale := fs.String("scale", "10000,100000", "directory sizes of the scale run: first import, re-import, a backlog of 10,000 changes and a push of 10,000 users on each store (\"\" skips it)")
	scale1M := fs.Bool("scale-1m", false, "add 1,000,000 users to the scale run (loading slapd alone takes minutes)")
	stores := fs.String("scale-stores", "sqlite,postgres", "the hub's stores in the scale run")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if *short {
		if !set["users"] {
			o.users = 2000
		}
		if !set["runs"] {
			o.runs = 1
		}
		for flag, v := range map[string]*int{"capture-changes": &c.steady, "capture-burst": &c.burst, "capture-ad-changes": &c.adChanges, "push-users": &o.pushUsers, "csv-rows": &o.csvRows} {
			if !set[flag] {
				*v /= 10
			}
		}
	}
	if o.groups < 0 {
		o.groups = max(1, o.users/100)
	}
	if *short && !set["scale"] {
		*scale = "1000"
	}
	for _, f := range strings.FieldsFunc(*scale, func(r rune) bool { return r == ',' }) {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 2 {
			return o, fmt.Errorf("-scale %q: %q is not a size of at least 2", *scale, f)
		}
		o.scaleSizes = append(o.scaleSizes, n)
	}
	if *scale1M {
		o.scaleSizes = append(o.scaleSizes, 1_000_000)
	}
	for _, st := range strings.FieldsFunc(*stores, func(r rune) bool { return r == ',' }) {
		if st = strings.TrimSpace(st); st != "sqlite" && st != "postgres" {
			return o, fmt.Errorf("-scale-stores %q: %q is neither sqlite nor postgres", *stores, st)
		}
		o.scaleStores = append(o.scaleStores, strings.TrimSpace(st))
	}
	if len(o.scaleStores) == 0 {
		o.scaleSizes = nil
	}
	// Change capture runs on the last import's stack.
	o.capture = o.capture && o.imports
	switch {
	case o.users < 1:
		return o, fmt.Errorf("-users %d: must be at least 1", o.users)
	case o.runs < 1:
		return o, fmt.Errorf("-runs %d: must be at least 1", o.runs)
	case o.capture && (c.steady < 1 || c.burst < 1 || c.adChanges < 1 || c.steadyRate <= 0 || c.adRate <= 0):
		return o, errors.New("-capture-changes, -capture-burst, -capture-ad-changes, -capture-rate and -capture-ad-rate must be positive")
	case o.capture && o.users < 2:
		return o, fmt.Errorf("-users %d: the capture measurements need at least 2", o.users)
	case o.push && o.pushUsers < 1:
		return o, fmt.Errorf("-push-users %d: must be at least 1", o.pushUsers)
	case o.csv && o.csvRows < 100:
		return o, fmt.Errorf("-csv-rows %d: must be at least 100", o.csvRows)
	case !o.imports && !o.push && !o.rules && !o.csv && !o.console && len(o.scaleSizes) == 0:
		return o, errors.New("-import=false, -push=false, -rules=false, -csv=false, -console=false and -scale \"\": nothing to measure")
	}
	return o, nil
}

func main() {
	o, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// After the first signal the cleanup runs; a second one kills at once
	// (the children die with us through their parent-death signal).
	context.AfterFunc(ctx, stop)
	b := &bench{opts: o, progress: os.Stderr}
	res, err := b.run(ctx)
	interrupted := ctx.Err() != nil
	stop()
	if err == nil && !interrupted {
		res.print(os.Stdout)
	}
	switch {
	case interrupted:
		fmt.Fprintln(os.Stderr, "bench: interrupted; everything it started is stopped and removed")
		os.Exit(130)
	case err != nil:
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// bench is one invocation.
type bench struct {
	opts     options
	progress io.Writer
	start    time.Time
	// hubProfiles is the absolute -hub-cpuprofile, "" without.
	hubProfiles string
}

// freshStack starts a stack on slapd srv in dir, with the hub's store in
// the PostgreSQL database dsn ("" for SQLite), profiled when the bench
// asks; done stops it and removes dir (unless -keep).
func (b *bench) freshStack(ctx context.Context, bins devstack.Binaries, dir, dsn string, srv *testserver.Endpoint, slapd int) (st *stack, done func(), err error) {
	if st, err = startStackOn(ctx, bins, dir, dsn, "openldap", srv, slapd, b.tee()); err != nil {
		return nil, nil, err
	}
	st.prof = b.profiler(st)
	return st, func() {
		st.stop()
		if !b.opts.keep {
			os.RemoveAll(dir)
		}
	}, nil
}

// profiler returns the CPU profiler of st's hub, nil unless
// -hub-cpuprofile asks for profiles.
func (b *bench) profiler(st *stack) *hubProfiler {
	if b.hubProfiles == "" {
		return nil
	}
	return &hubProfiler{pid: st.hub.Cmd.Process.Pid, dir: os.Getenv(hubProfileEnv), out: b.hubProfiles, logf: b.logf}
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.progress, "[%6.1fs] %s\n", time.Since(b.start).Seconds(), fmt.Sprintf(format, args...))
}

// run sets up slapd and the binaries, measures, and tears everything down,
// also when ctx is cancelled.
func (b *bench) run(ctx context.Context) (_ *results, err error) {
	b.start = time.Now()
	root, err := os.MkdirTemp("", "idsync-bench-")
	if err != nil {
		return nil, err
	}
	defer func() {
		if b.opts.keep {
			b.logf("kept %s", root)
			return
		}
		if rerr := os.RemoveAll(root); rerr != nil {
			err = errors.Join(err, fmt.Errorf("removing %s: %w", root, rerr))
		}
	}()

	var (
		bins devstack.Binaries
		srv  *testserver.SlapdServer
	)
	eg, ectx := errgroup.WithContext(ctx)
	eg.Go(func() error {
		var err error
		bins, err = devstack.Build(ectx, filepath.Join(root, "bin"))
		return err
	})
	if b.opts.imports {
		b.logf("building the commands and loading slapd with %d users and %d groups", b.opts.users, b.opts.groups)
		eg.Go(func() error {
			var err error
			srv, err = testserver.StartSlapd(ectx, testserver.SlapdOptions{
				Dir: filepath.Join(root, "slapd"), SessionLog: sessionLog,
				Preload: func(base string, emit func(gendir.Entry) error) error {
					g, err := gendir.New(gendir.Options{BaseDN: base, Seed: 1, Users: b.opts.users, Groups: b.opts.groups})
					if err != nil {
						return err
					}
					return g.Each(emit)
				},
			})
			return err
		})
	} else {
		b.logf("building the commands")
	}
	werr := eg.Wait()
	if srv != nil {
		defer srv.Stop()
	}
	if werr != nil {
		return nil, werr
	}

	if d := b.opts.hubProfiles; d != "" {
		if b.hubProfiles, err = filepath.Abs(d); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(b.hubProfiles, 0o755); err != nil {
			return nil, err
		}
		// Every hub this process starts inherits it.
		os.Setenv(hubProfileEnv, filepath.Join(root, "hubprof"))
	}
	res := &results{opts: b.opts, total: b.opts.users + b.opts.groups, loadBefore: loadAverage()}
	if b.opts.imports {
		if err := b.imports(ctx, bins, root, srv, res); err != nil {
			return nil, err
		}
	}
	if b.opts.push {
		if res.push, err = b.pushSection(ctx, bins, filepath.Join(root, "push")); err != nil {
			return nil, fmt.Errorf("provisioning push: %w", err)
		}
	}
	if b.opts.csv {
		if res.csv, err = b.csvSection(ctx, bins, filepath.Join(root, "csv"), b.opts.csvRows); err != nil {
			return nil, fmt.Errorf("csv import: %w", err)
		}
	}
	if len(b.opts.scaleSizes) > 0 {
		if res.scale, err = b.scaleSection(ctx, bins, filepath.Join(root, "scale")); err != nil {
			return nil, fmt.Errorf("scale run: %w", err)
		}
	}
	if b.opts.rules {
		if res.rules, err = b.rulesSection(ctx); err != nil {
			return nil, fmt.Errorf("group rules: %w", err)
		}
	}
	if b.opts.console {
		if res.console, err = b.consoleSection(ctx); err != nil {
			return nil, fmt.Errorf("console pages: %w", err)
		}
	}
	res.loadAfter = loadAverage()
	return res, nil
}

// imports measures the raw reads and the full imports of srv's directory,
// then change capture on the last import's stack.
func (b *bench) imports(ctx context.Context, bins devstack.Binaries, root string, srv *testserver.SlapdServer, res *results) error {
	slapd, err := pidFile(filepath.Join(srv.Dir, "slapd.pid"))
	if err != nil {
		return fmt.Errorf("slapd's pid: %w", err)
	}
	b.logf("ready: slapd on %s (pid %d)", srv.URL, slapd)
	if err := b.rawReads(ctx, srv, slapd, res); err != nil {
		return err
	}
	if b.opts.capture {
		res.capture = &captureResults{opts: b.opts.captureOpts}
	}
	for i := range b.opts.runs {
		if err := b.idsyncRound(ctx, bins, filepath.Join(root, fmt.Sprintf("stack-%d", i+1)), srv, slapd, i, res); err != nil {
			return err
		}
	}
	if res.capture != nil {
		if err := b.adCapture(ctx, bins, filepath.Join(root, "stack-ad"), res.capture); err != nil {
			return err
		}
	}
	return nil
}

// rawReads times ldapsearch and go-ldap, alternating, after one untimed
// read that warms slapd's cache as the idsync runs will find it.
func (b *bench) rawReads(ctx context.Context, srv *testserver.SlapdServer, slapd int, res *results) error {
	searches := hubSearches(srv.BaseDN)
	if _, err := goLDAPRead(ctx, srv, slapd, searches); err != nil {
		return fmt.Errorf("warm-up read: %w", err)
	}
	if b.opts.cpuProfile != "" {
		f, err := os.Create(b.opts.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	for i := range b.opts.runs {
		for _, r := range []struct {
			name string
			read func(context.Context, *testserver.SlapdServer, int, []search) (sample, error)
			into *[]sample
		}{
			{"ldapsearch", ldapsearchRead, &res.ldapsearch},
			{"go-ldap", goLDAPRead, &res.goLDAP},
		} {
			s, err := r.read(ctx, srv, slapd, searches)
			if err != nil {
				return err
			}
			if s.entries != res.total {
				return fmt.Errorf("%s read %d entries, want %d", r.name, s.entries, res.total)
			}
			*r.into = append(*r.into, s)
			b.logf("run %d/%d: %-10s %8.2fs", i+1, b.opts.runs, r.name, s.wall.Seconds())
		}
	}
	return nil
}

// idsyncRound runs a fresh stack in dir through a first import and a
// re-import, and records the processes' peak memory before stopping them.
func (b *bench) idsyncRound(ctx context.Context, bins devstack.Binaries, dir string, srv *testserver.SlapdServer, slapd, i int, res *results) error {
	st, done, err := b.freshStack(ctx, bins, dir, "", &srv.Endpoint, slapd)
	if err != nil {
		return err
	}
	defer done()
	for _, phase := range []struct {
		name string
		into *[]importResult
	}{
		{"first import", &res.first},
		{"re-import", &res.again},
	} {
		var tl *timeline
		if b.opts.timeline > 0 {
			tl = startTimeline(st.pids(), b.opts.timeline)
		}
		stop := st.prof.profile(fmt.Sprintf("%s-%d", strings.ReplaceAll(phase.name, " ", "-"), i+1))
		r, err := st.importFull(ctx, res.total)
		stop()
		if tl != nil {
			tl.stop(b.progress, fmt.Sprintf("run %d, %s", i+1, phase.name))
		}
		if err != nil {
			return fmt.Errorf("run %d, %s: %w", i+1, phase.name, err)
		}
		*phase.into = append(*phase.into, r)
		b.logf("run %d/%d: idsync %-12s %8.2fs (command %.2fs, agent read %.2fs): created %d, updated %d, unchanged %d",
			i+1, b.opts.runs, phase.name, r.duration().Seconds(), r.command.Seconds(), r.agentRead.Seconds(),
			r.run.Created, r.run.Updated, r.run.Unchanged)
	}
	m, err := st.memory()
	if err != nil {
		return fmt.Errorf("run %d: reading memory: %w", i+1, err)
	}
	res.memory = append(res.memory, m)
	if res.capture != nil && i == b.opts.runs-1 {
		// The last stack has captured changes since its first import.
		if err := b.openLDAPCapture(ctx, st, srv, res.capture); err != nil {
			return fmt.Errorf("run %d, change capture: %w", i+1, err)
		}
	}
	return nil
}

// tee is where the stack's logs are copied, if anywhere.
func (b *bench) tee() io.Writer {
	if b.opts.verbose {
		return b.progress
	}
	return nil
}
