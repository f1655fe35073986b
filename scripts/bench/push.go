//go:build linux

package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/idsync/idsync/internal/devstack"
	"github.com/idsync/idsync/internal/gendir"
	"github.com/idsync/idsync/internal/scimtest"
	"github.com/idsync/idsync/internal/testserver"
	"github.com/idsync/idsync/server/scim"
)

// The provisioning benchmark (issue 4). A slapd holds N users, all in one
// group; a fresh hub (SQLite) imports them; an app pointing at a scimtest
// server in this process gets the group assigned, and the push runs from
// that assign command until the app holds every user and the hub's queue
// is empty. The baseline sends the same bodies (those the app received)
// through server/scim from as many goroutines as the app's concurrency to
// a fresh scimtest server: what the queue adds is the difference.
//
// The end of the push is observed from outside — the SCIM server's user
// count in this process and the app's jobs in the hub's store, read
// through a read-only SQLite connection as the capture benchmark does,
// then `idsyncctl app show -o json` to check the accounts — and dated from
// the hub's own timestamps on every job and account row afterwards, so
// the phases (scope job, first create, drain, the parts of each job) cost
// the push nothing to observe. Nothing in the product is instrumented.

// Targets of the provisioning benchmark (issue 4).
const (
	targetPushRate = 1000 // users created per second
	targetOverhead = 0.20 // (push − direct) / direct
)

const (
	// pushConcurrency is the app's concurrency and the baseline's number
	// of goroutines.
	pushConcurrency = 8
	// pushApp is the app the bench adds to each hub.
	pushApp = "bench"
	// pushPoll is how often the queue is read during the push; the SCIM
	// server's count is read every pushTick.
	pushPoll = 250 * time.Millisecond
	pushTick = 5 * time.Millisecond
	// pushStall ends a push that made no progress for this long.
	pushStall = 60 * time.Second
)

// pushRun is one push and its baseline.
type pushRun struct {
	// wall runs from the assign command's start to the later of the SCIM
	// server holding every user (polled) and the hub finishing the last
	// job (its store's stamp); observed is when polling saw both.
	wall, observed time.Duration
	// assign is the wall time of `idsyncctl app assign`.
	assign time.Duration
	// cpu is the CPU time of hub, agent, slapd and this process (the
	// SCIM server) from the assign to the end.
	cpu map[string]time.Duration
	// hubPeak is the hub's VmHWM during the push (reset at the assign
	// when the kernel allows: resetPeak); hubBefore its VmHWM before,
	// after the import.
	hubPeak, hubBefore int64
	resetPeak          bool
	// conns is the TCP connections the hub opened to the SCIM server.
	conns int
	// retries is the hub's "push failed, retrying" log lines.
	retries int
	phases  pushPhases
	direct  directRun
}

// directRun is the baseline: the same creates through server/scim.
type directRun struct {
	wall  time.Duration
	cpu   time.Duration // this process: client and server
	conns int
}

// pushResults is everything the push benchmark measured.
type pushResults struct {
	users int
	runs  []pushRun
	// loadBefore and loadAfter are the one-minute load averages around
	// the runs.
	loadBefore, loadAfter float64
}

// pushSection loads a slapd of its own and runs the push once per run, on
// a fresh hub each time.
func (b *bench) pushSection(ctx context.Context, bins devstack.Binaries, dir string) (*pushResults, error) {
	n := b.opts.pushUsers
	var group string
	b.logf("push: loading slapd with %d users in one group", n)
	srv, slapd, err := startGenerated(ctx, filepath.Join(dir, "slapd"), gendir.Options{Seed: 4, Users: n, Groups: 1,
		GroupSize: func(int) int { return n }}, func(g *gendir.Generator) { group = g.GroupCN(0) })
	if err != nil {
		return nil, err
	}
	defer srv.Stop()
	res := &pushResults{users: n, loadBefore: loadAverage()}
	defer func() { res.loadAfter = loadAverage() }()
	for i := range b.opts.runs {
		r, err := b.pushRound(ctx, bins, filepath.Join(dir, fmt.Sprintf("stack-%d", i+1)), srv, slapd, group)
		if err != nil {
			return nil, fmt.Errorf("run %d: %w", i+1, err)
		}
		res.runs = append(res.runs, r)
		b.logf("run %d/%d: push %8.2fs (%s/s; first account %s, all queued %s), direct %.2fs (%s/s), hub CPU %s, peak RSS %s",
			i+1, b.opts.runs, r.wall.Seconds(), rate(n, r.wall), secs(r.phases.firstAccount), secs(r.phases.scopeDone),
			r.direct.wall.Seconds(), rate(n, r.direct.wall), secs(r.cpu["hub"]), mb(r.hubPeak))
	}
	return res, nil
}

// pushRound imports the directory into a fresh hub, pushes it to a fresh
// app, then runs the baseline with the bodies the app received.
func (b *bench) pushRound(ctx context.Context, bins devstack.Binaries, dir string, srv *testserver.SlapdServer, slapd int, group string) (pushRun, error) {
	n := b.opts.pushUsers
	st, done, err := b.freshStack(ctx, bins, dir, "", &srv.Endpoint, slapd)
	if err != nil {
		return pushRun{}, err
	}
	defer done()
	if _, err := st.importFull(ctx, n+1); err != nil {
		return pushRun{}, err
	}
	token, err := newToken()
	if err != nil {
		return pushRun{}, err
	}
	tokenFile := filepath.Join(dir, "scim-token")
	if err := os.WriteFile(tokenFile, []byte(token), 0o600); err != nil {
		return pushRun{}, err
	}
	app, err := scimtest.Listen(scimtest.Options{Token: token})
	if err != nil {
		return pushRun{}, fmt.Errorf("starting the SCIM server: %w", err)
	}
	defer app.Close()
	// The bench's SCIM server is on loopback, plain http: a super-admin's
	// exception.
	if _, err := st.ctl(ctx, "app", "add", pushApp, "--scim-url", app.URL, "--auth", "bearer", "--token-file", tokenFile,
		"--concurrency", fmt.Sprint(pushConcurrency), "--allow-insecure-http", "--allow-local-addresses"); err != nil {
		return pushRun{}, err
	}
	// The app's first scope job (nobody assigned) runs before the clock
	// starts, so that the app's workers are up.
	if err := st.waitIdle(ctx, pushApp); err != nil {
		return pushRun{}, err
	}
	r, err := b.push(ctx, st, app, group, n)
	if err != nil {
		return r, err
	}
	bodies, err := sentBodies(app.Users())
	if err != nil {
		return r, err
	}
	r.direct, err = directCreates(ctx, token, bodies)
	return r, err
}

func newToken() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}

// appState is what `idsyncctl app show -o json` prints that the bench reads.
type appState struct {
	Status        string            `json:"status"`
	StatusMessage string            `json:"status_message"`
	Accounts      map[string]uint64 `json:"accounts"`
	Queue         map[string]uint64 `json:"queue"`
}

// open is the app's jobs queued or running.
func (a appState) open() uint64 { return a.Queue["queued"] + a.Queue["running"] }

func (s *stack) appState(ctx context.Context, name string) (appState, error) {
	var a appState
	out, err := s.ctl(ctx, "app", "show", name, "-o", "json")
	if err != nil {
		return a, err
	}
	if err := json.Unmarshal([]byte(out), &a); err != nil {
		return a, fmt.Errorf("idsyncctl app show -o json: %w\n%s", err, out)
	}
	if a.Status == "paused" {
		return a, fmt.Errorf("app %s is paused: %s", name, a.StatusMessage)
	}
	return a, nil
}

// waitIdle waits until the app has run a job and has none open.
func (s *stack) waitIdle(ctx context.Context, name string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		a, err := s.appState(ctx, name)
		if err != nil {
			return err
		}
		if a.open() == 0 && a.Queue["done"] > 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("app %s still has jobs open after 30s: queue %v", name, a.Queue)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// push assigns the group and waits until the app holds n users and the
// hub's queue is empty, then checks and dates what happened.
func (b *bench) push(ctx context.Context, st *stack, app *scimtest.Server, group string, n int) (pushRun, error) {
	var r pushRun
	hub := st.hub.Cmd.Process.Pid
	var err error
	if r.hubBefore, err = peakRSS(hub); err != nil {
		return r, fmt.Errorf("the hub's memory: %w", err)
	}
	// Writing 5 to clear_refs resets VmHWM to the current RSS (Linux 4.0),
	// so the peak read afterwards is the push's own.
	r.resetPeak = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", hub), []byte("5"), 0) == nil
	q, err := st.openQueue(ctx, pushApp)
	if err != nil {
		return r, err
	}
	defer q.Close()
	port := app.URL[strings.LastIndexByte(app.URL, ':')+1:]
	conns := newConnCounter(port)
	pids := st.pids()
	pids["scim"] = os.Getpid()
	var tl *timeline
	if b.opts.timeline > 0 {
		tl = startTimeline(pids, b.opts.timeline)
	}
	meter := newCPUMeter(pids)
	stopProfile := sync.OnceFunc(st.prof.profile(fmt.Sprintf("push-%s", filepath.Base(st.dir))))

	start := time.Now()
	if _, err := st.ctl(ctx, "app", "assign", pushApp, "--group", group); err != nil {
		stopProfile()
		return r, err
	}
	r.assign = time.Since(start)
	// The CPU and the profile end where the push does, when the queue is
	// seen empty: waitPushed's check with `app show` after that is the
	// bench's, not the push's work.
	full, samples, err := st.waitPushed(ctx, q, app, n, start, conns, func() {
		r.observed = time.Since(start)
		r.cpu = meter.since()
		stopProfile()
	})
	stopProfile()
	if tl != nil {
		tl.stop(b.progress, "push")
	}
	if err != nil {
		return r, err
	}
	conns.sample()
	r.conns = conns.count()
	if r.hubPeak, err = peakRSS(hub); err != nil {
		return r, fmt.Errorf("the hub's memory: %w", err)
	}
	r.retries = strings.Count(st.hub.Out.String(), "push failed, retrying")
	if r.phases, err = readPhases(ctx, q, start, n); err != nil {
		return r, err
	}
	r.phases.samples = samples
	r.wall = max(full, r.phases.lastDone)
	return r, nil
}

// waitPushed polls until the SCIM server holds n users and the hub's
// store holds no open job of the app, then checks with `app show` that
// every account is active. It returns when the server first held n users.
//
// The queue is read from the store, not with `app show` during the push:
// the hub answers GetApp by reading the assigned group with its members
// (to name it), which at four polls a second took a fifth of the hub's
// CPU from the push it measured.
func (s *stack) waitPushed(ctx context.Context, q *queueReader, app *scimtest.Server, n int, start time.Time, conns *connCounter, ended func()) (time.Duration, []queueSample, error) {
	var (
		full     time.Duration
		last     queueSample
		lastPoll time.Time
		progress = time.Now()
		samples  []queueSample
	)
	tick := time.NewTicker(pushTick)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return 0, samples, ctx.Err()
		case <-s.hub.Done():
			return 0, samples, fmt.Errorf("idsync-hub exited: %v\n%s", s.hub.Err(), s.hub.Out.String())
		case <-tick.C:
		}
		count := app.UserCount()
		if count >= n && full == 0 {
			full = time.Since(start)
		}
		// Once the app is full, the end is near: read the queue every tick.
		if full == 0 && time.Since(lastPoll) < pushPoll {
			continue
		}
		lastPoll = time.Now()
		conns.sample()
		jobs, err := q.counts(ctx)
		if err != nil {
			return 0, samples, err
		}
		cur := queueSample{at: time.Since(start), inApp: count, queued: jobs["queued"], running: jobs["running"], done: jobs["done"]}
		samples = append(samples, cur)
		if dead := jobs["dead"]; dead > 0 {
			failed, _ := s.ctl(ctx, "push", "list", "--app", pushApp, "--failed", "--limit", "5")
			return 0, samples, fmt.Errorf("%d push jobs dead-lettered:\n%s", dead, failed)
		}
		if full > 0 && cur.queued+cur.running == 0 {
			ended()
			a, err := s.appState(ctx, pushApp)
			if err != nil {
				return 0, samples, err
			}
			if got := a.Accounts["active"]; got != uint64(n) || a.open() != 0 || app.UserCount() != n {
				return 0, samples, fmt.Errorf("queue empty with %d users in the app; want %d, and app show says accounts %v, queue %v",
					app.UserCount(), n, a.Accounts, a.Queue)
			}
			return full, samples, nil
		}
		if cur.inApp != last.inApp || cur.done != last.done {
			progress = time.Now()
		}
		last = cur
		if time.Since(progress) > pushStall {
			return 0, samples, fmt.Errorf("no progress for %v: %d users in the app, queue %v", pushStall, count, jobs)
		}
	}
}

// queueReader counts an app's jobs per state through a read-only
// connection to the hub's store.
type queueReader struct {
	h     *hubDB
	appID int64
	stmt  *sql.Stmt
}

func (s *stack) openQueue(ctx context.Context, app string) (_ *queueReader, err error) {
	h, err := s.openHubDB(ctx)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			h.Close()
		}
	}()
	q := &queueReader{h: h}
	if err := h.db.QueryRowContext(ctx, h.q(`SELECT id FROM apps WHERE name = ?`), app).Scan(&q.appID); err != nil {
		return nil, fmt.Errorf("app %s in the hub's store: %w", app, err)
	}
	if q.stmt, err = h.db.PrepareContext(ctx, h.q(`SELECT state, COUNT(*) FROM jobs WHERE app_id = ? GROUP BY state`)); err != nil {
		return nil, err
	}
	return q, nil
}

func (q *queueReader) Close() error { return q.h.Close() }

func (q *queueReader) counts(ctx context.Context) (map[string]uint64, error) {
	rows, err := q.stmt.QueryContext(ctx, q.appID)
	if err != nil {
		return nil, fmt.Errorf("counting jobs in the hub's store: %w", err)
	}
	defer rows.Close()
	out := map[string]uint64{}
	for rows.Next() {
		var state string
		var n uint64
		if err := rows.Scan(&state, &n); err != nil {
			return nil, fmt.Errorf("counting jobs in the hub's store: %w", err)
		}
		out[state] = n
	}
	return out, rows.Err()
}

// pushPhases date a push from the hub's store, relative to the start of
// the assign command. A user job's account carries the stamps of its
// first write (A: as creating before the POST, when the engine records
// one, else as active after it) and its last (B: active, after the POST);
// the job, of its end (C). They split each job's time.
type pushPhases struct {
	// scopeQueued and scopeDone are the scope job's creation (by the
	// assign) and end (every user's job queued).
	scopeQueued, scopeDone time.Duration
	// firstAccount is the first account the hub wrote (A).
	firstAccount time.Duration
	// firstDone and lastDone span the ends of the user jobs (C);
	// doneInScope is how many ended before the scope job did.
	firstDone, lastDone time.Duration
	doneInScope         int
	// post is each job's B − A: the creating record's write and the POST
	// (zero when the account is written once); record is C − B: the
	// active record's write.
	post, record []time.Duration
	// done counts the user jobs ended in each second since the assign.
	done []int
	// samples are the queue as the store showed it during the push.
	samples []queueSample
}

// queueSample is one read of the queue during the push.
type queueSample struct {
	at                    time.Duration
	inApp                 int // users the SCIM server held
	queued, running, done uint64
}

// readPhases reads the stamps of the push that started at start from the
// hub's store.
func readPhases(ctx context.Context, q *queueReader, start time.Time, n int) (pushPhases, error) {
	var p pushPhases
	h, appID := q.h, q.appID
	since := func(us int64) time.Duration { return time.UnixMicro(us).Sub(start) }
	t0 := start.UnixMicro()
	var scopeCreated, scopeFinished sql.NullInt64
	err := h.db.QueryRowContext(ctx, h.q(`SELECT `+h.micros("created_at")+`, `+h.micros("finished_at")+` FROM jobs
		WHERE app_id = ? AND kind = 'reconcile' AND target = 'scope' AND `+h.micros("created_at")+` >= ? ORDER BY id LIMIT 1`), appID, t0).
		Scan(&scopeCreated, &scopeFinished)
	if err != nil {
		return p, fmt.Errorf("the scope job in the hub's store: %w", err)
	}
	p.scopeQueued, p.scopeDone = since(scopeCreated.Int64), since(scopeFinished.Int64)

	rows, err := h.db.QueryContext(ctx, h.q(`SELECT `+h.micros("a.created_at")+`, `+h.micros("a.updated_at")+`, `+h.micros("j.finished_at")+` FROM accounts a
		JOIN jobs j ON j.app_id = a.app_id AND j.kind = 'user' AND j.target = a.user_id
		WHERE a.app_id = ? AND `+h.micros("j.created_at")+` >= ?`), appID, t0)
	if err != nil {
		return p, fmt.Errorf("user jobs in the hub's store: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var created, updated int64
		var finished sql.NullInt64
		if err := rows.Scan(&created, &updated, &finished); err != nil {
			return p, fmt.Errorf("user jobs in the hub's store: %w", err)
		}
		if !finished.Valid {
			return p, errors.New("a user job has not finished although the queue was empty")
		}
		a, c := since(created), since(finished.Int64)
		if len(p.post) == 0 {
			p.firstAccount, p.firstDone, p.lastDone = a, c, c
		}
		p.firstAccount, p.firstDone, p.lastDone = min(p.firstAccount, a), min(p.firstDone, c), max(p.lastDone, c)
		p.post = append(p.post, time.Duration(updated-created)*time.Microsecond)
		p.record = append(p.record, time.Duration(finished.Int64-updated)*time.Microsecond)
		if c <= p.scopeDone {
			p.doneInScope++
		}
		s := max(0, int(c/time.Second))
		for len(p.done) <= s {
			p.done = append(p.done, 0)
		}
		p.done[s]++
	}
	if err := rows.Err(); err != nil {
		return p, fmt.Errorf("user jobs in the hub's store: %w", err)
	}
	if len(p.post) != n {
		return p, fmt.Errorf("%d user jobs with an account in the hub's store since the assign, want %d (one per user)", len(p.post), n)
	}
	return p, nil
}

// sentBodies turns the users the app holds back into what was sent:
// without the id and meta the app added.
func sentBodies(users []map[string]any) ([]scim.Resource, error) {
	out := make([]scim.Resource, 0, len(users))
	for _, u := range users {
		r := scim.Resource{}
		for k, v := range u {
			if k != "id" && k != "meta" {
				r[k] = v
			}
		}
		if r.UserName() == "" || r.ExternalID() == "" {
			return nil, fmt.Errorf("a pushed user without userName or externalId: %v", u)
		}
		out = append(out, r)
	}
	return out, nil
}

// directCreates creates bodies in a fresh scimtest server through one
// server/scim client from pushConcurrency goroutines.
func directCreates(ctx context.Context, token string, bodies []scim.Resource) (directRun, error) {
	var d directRun
	app, err := scimtest.Listen(scimtest.Options{Token: token})
	if err != nil {
		return d, fmt.Errorf("starting the SCIM server: %w", err)
	}
	defer app.Close()
	c, err := scim.New(app.URL, scim.Auth{Kind: scim.AuthBearer, Token: token}, scim.Options{})
	if err != nil {
		return d, err
	}
	conns := newConnCounter(app.URL[strings.LastIndexByte(app.URL, ':')+1:])
	var next atomic.Int64
	cpu := selfCPU()
	start := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	for range pushConcurrency {
		g.Go(func() error {
			for {
				i := next.Add(1) - 1
				if i >= int64(len(bodies)) {
					return nil
				}
				if _, err := c.CreateUser(gctx, bodies[i]); err != nil {
					return fmt.Errorf("direct create of %s: %w", bodies[i].UserName(), err)
				}
			}
		})
	}
	err = g.Wait()
	d.wall, d.cpu = time.Since(start), selfCPU()-cpu
	if err != nil {
		return d, err
	}
	conns.sample()
	d.conns = conns.count()
	if got := app.UserCount(); got != len(bodies) {
		return d, fmt.Errorf("direct creates: the app holds %d users, want %d", got, len(bodies))
	}
	return d, nil
}
