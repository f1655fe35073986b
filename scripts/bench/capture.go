//go:build linux

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/idsync/idsync/internal/devstack"
	"github.com/idsync/idsync/internal/gendir"
	"github.com/idsync/idsync/internal/testserver"
)

// The change-capture measurements (issue 3). A change is an LDAP modify of
// one user's title to a value never used before; it counts as committed in
// the hub when the hub's SQLite store shows that title for the user.
//
// The observer is a read-only connection to the hub's hub.db (WAL mode lets
// it read while the hub writes) that polls, every millisecond, the rows of
// the changes still in flight by (directory, external id) — an indexed
// lookup of a row or two. A change's latency runs from the return of its
// modify call in this process to the poll that first sees it: an upper
// bound by at most a poll interval. The hub also stamps updated_at in the
// transaction that writes the row, at the start of that transaction: that
// stamp minus the same start is a lower bound, printed beside it. Nothing
// in the product is changed or instrumented for the measurement.

// Targets of the capture benchmark (issue 3).
const (
	targetP99   = 250 * time.Millisecond
	targetDrain = 5000 // changes per second
)

// captureOptions shape the capture measurements.
type captureOptions struct {
	steady     int     // changes at a steady rate
	steadyRate float64 // changes per second
	burst      int     // changes as fast as slapd takes them
	adChanges  int     // changes against Samba AD
	adRate     float64
}

// latencies are the per-change latencies of a steady stream.
type latencies struct {
	n              int
	rate           float64
	visible, stamp []time.Duration
}

// burstResult is a burst drained, live and from a backlog.
type burstResult struct {
	n       int
	writers int
	// issued runs from the first modify sent to the last one returned;
	// drained to the last change seen committed in the hub; stamped to the
	// newest updated_at the hub wrote for them.
	issued, drained, stamped time.Duration
	// backlog and backlogStamped run from the start of an agent to the
	// same points, for the same burst made while no agent ran: how fast
	// idsync alone drains it, whatever slapd's write rate. backlogIssued
	// is how long slapd took to accept that burst.
	backlog, backlogStamped, backlogIssued time.Duration
	// cpu and backlogCPU are the CPU time of slapd, agent and hub during
	// each.
	cpu, backlogCPU map[string]time.Duration
}

// captureResults is everything the capture benchmark measured.
type captureResults struct {
	opts   captureOptions
	steady latencies
	burst  burstResult
	ad     *latencies
	// adSkipped says why there is no AD figure.
	adSkipped string
}

// watch is one change in flight.
type watch struct {
	ext, title string
	sent       time.Time
}

// observation is when the hub was seen holding a change.
type observation struct {
	visible, stamp time.Duration
	err            error
}

// observer polls the hub's store every millisecond for the changes in
// flight and reports each once it is committed.
type observer struct {
	db  *hubDB
	in  chan watch
	out chan observation
}

func newObserver(db *hubDB, capacity int) *observer {
	return &observer{db: db, in: make(chan watch, capacity), out: make(chan observation, capacity)}
}

func (o *observer) run(ctx context.Context) {
	var pending []watch
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		if len(pending) == 0 {
			select {
			case w := <-o.in:
				pending = append(pending, w)
			case <-ctx.Done():
				return
			}
		}
		select {
		case w := <-o.in:
			pending = append(pending, w)
		case <-tick.C:
		case <-ctx.Done():
			return
		}
		pending = slices.DeleteFunc(pending, func(w watch) bool {
			title, stamp, err := o.db.title(ctx, w.ext)
			now := time.Now()
			switch {
			case err != nil && ctx.Err() == nil:
				o.out <- observation{err: fmt.Errorf("reading %s from the hub's store: %w", w.ext, err)}
				return true
			case title != w.title:
				return false
			}
			o.out <- observation{visible: now.Sub(w.sent), stamp: stamp.Sub(w.sent)}
			return true
		})
	}
}

// people maps the DNs of the users under base to their external ids
// (entryUUID, or objectGUID as AD's lower-case GUID text).
func people(ctx context.Context, ep *testserver.Endpoint, base string, ad bool) (map[string]string, error) {
	conn, err := ep.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	attr, filter := "entryUUID", "(objectClass=inetOrgPerson)"
	if ad {
		attr, filter = "objectGUID", "(&(objectCategory=person)(objectClass=user))"
	}
	res, err := conn.SearchWithPaging(ldap.NewSearchRequest(base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		filter, []string{attr}, nil), 1000)
	if err != nil {
		return nil, fmt.Errorf("listing the users under %s: %w", base, err)
	}
	out := make(map[string]string, len(res.Entries))
	for _, e := range res.Entries {
		id := e.GetAttributeValue(attr)
		if ad {
			id = guidText(e.GetRawAttributeValue(attr))
		}
		out[strings.ToLower(e.DN)] = id
	}
	return out, nil
}

// guidText is an AD objectGUID as text: its first three fields are stored
// little-endian.
func guidText(b []byte) string {
	if len(b) != 16 {
		return ""
	}
	return fmt.Sprintf("%02x%02x%02x%02x-%02x%02x-%02x%02x-%x-%x", b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], b[8:10], b[10:])
}

// retitle sets a user's title.
func retitle(conn *ldap.Conn, dn, title string) error {
	req := ldap.NewModifyRequest(dn, nil)
	req.Replace("title", []string{title})
	if err := conn.Modify(req); err != nil {
		return fmt.Errorf("modifying %s: %w", dn, err)
	}
	return nil
}

// steadyLatency modifies n users, one every 1/rate seconds, and measures
// each change's way to the hub. user(k) is the DN and external id of the
// k-th user to modify.
func steadyLatency(ctx context.Context, ep *testserver.Endpoint, db *hubDB, n int, rate float64, tag string,
	user func(k int) (dn, ext string)) (latencies, error) {
	res := latencies{n: n, rate: rate}
	conn, err := ep.Conn(ctx)
	if err != nil {
		return res, err
	}
	defer conn.Close()
	octx, cancel := context.WithCancel(ctx)
	defer cancel()
	obs := newObserver(db, n)
	go obs.run(octx)
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer tick.Stop()
	for k := range n {
		select {
		case <-tick.C:
		case <-ctx.Done():
			return res, ctx.Err()
		}
		dn, ext := user(k)
		title := fmt.Sprintf("%s-%d", tag, k)
		if err := retitle(conn, dn, title); err != nil {
			return res, err
		}
		obs.in <- watch{ext: ext, title: title, sent: time.Now()}
	}
	deadline := time.After(60 * time.Second)
	for len(res.visible) < n {
		select {
		case o := <-obs.out:
			if o.err != nil {
				return res, o.err
			}
			res.visible = append(res.visible, o.visible)
			res.stamp = append(res.stamp, o.stamp)
		case <-deadline:
			return res, fmt.Errorf("%d of %d changes not in the hub 60s after the last one was made", n-len(res.visible), n)
		case <-ctx.Done():
			return res, ctx.Err()
		}
	}
	return res, nil
}

// issueBurst modifies users 0..n-1 from writers connections as fast as
// slapd takes it, then one more user (the sentinel). It returns when the
// burst began and how long it took, the sentinel left out.
func issueBurst(ctx context.Context, ep *testserver.Endpoint, n, writers int, tag string,
	user func(k int) (dn, ext string), sentinel int) (time.Time, time.Duration, error) {
	conns := make([]*ldap.Conn, writers)
	for w := range conns {
		c, err := ep.Conn(ctx)
		if err != nil {
			return time.Time{}, 0, err
		}
		defer c.Close()
		conns[w] = c
	}
	start := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for w, c := range conns {
		wg.Go(func() {
			for k := w; k < n; k += writers {
				dn, _ := user(k)
				if errs[w] = retitle(c, dn, fmt.Sprintf("%s-%d", tag, k)); errs[w] != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return start, 0, err
	}
	issued := time.Since(start)
	dn, _ := user(sentinel)
	return start, issued, retitle(conns[0], dn, tag+"-sentinel")
}

// waitBurst waits until the hub holds the n changes of a burst and its
// sentinel, and returns the time from start to the poll that saw them all
// and to the newest updated_at among them. The sentinel is watched every
// millisecond; once it is there a count of the burst's titles in the store
// confirms the rest (syncrepl's persist phase delivers in order, a refresh
// need not).
func waitBurst(ctx context.Context, db *hubDB, n int, tag, sentinelExt string, start time.Time) (drained, stamped time.Duration, err error) {
	octx, cancel := context.WithCancel(ctx)
	defer cancel()
	obs := newObserver(db, 1)
	go obs.run(octx)
	obs.in <- watch{ext: sentinelExt, title: tag + "-sentinel", sent: start}
	select {
	case o := <-obs.out:
		if o.err != nil {
			return 0, 0, o.err
		}
	case <-time.After(2 * time.Minute):
		return 0, 0, fmt.Errorf("the %s burst's sentinel is not in the hub after 2 minutes", tag)
	case <-ctx.Done():
		return 0, 0, ctx.Err()
	}
	deadline := time.Now().Add(time.Minute)
	for {
		var count, newest int64
		err := db.db.QueryRowContext(ctx, db.q(`SELECT COUNT(*), COALESCE(MAX(`+db.micros("updated_at")+`), 0) FROM objects
			WHERE directory_id = ? AND title LIKE ?`), db.dirID, tag+"-%").Scan(&count, &newest)
		if err != nil {
			return 0, 0, fmt.Errorf("counting the %s burst in the hub's store: %w", tag, err)
		}
		if count >= int64(n)+1 { // the sentinel included
			return time.Since(start), time.UnixMicro(newest).Sub(start), nil
		}
		if time.Now().After(deadline) {
			return 0, 0, fmt.Errorf("only %d of the %s burst's %d changes in the hub a minute after its sentinel", count-1, tag, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitCapture waits until the stack's directory captures changes with
// strategy.
func (s *stack) waitCapture(ctx context.Context, strategy string) error {
	deadline := time.Now().Add(time.Minute)
	var last string
	for time.Now().Before(deadline) {
		out, err := s.ctl(ctx, "directory", "show", directoryName, "-o", "json")
		if err != nil {
			return err
		}
		var d struct {
			CaptureStatus *struct {
				Strategy string `json:"strategy"`
			} `json:"capture_status"`
		}
		if err := json.Unmarshal([]byte(out), &d); err != nil {
			return fmt.Errorf("idsyncctl directory show -o json: %w", err)
		}
		if d.CaptureStatus != nil {
			if last = d.CaptureStatus.Strategy; last == strategy {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fmt.Errorf("capture of %s is not running with %s after a minute (strategy %q)", directoryName, strategy, last)
}

// observe waits until the stack captures changes with strategy, and
// returns the external ids of the directory's users by DN and the hub's
// store to watch.
func (s *stack) observe(ctx context.Context, strategy string, srv *testserver.Endpoint) (map[string]string, *hubDB, error) {
	if err := s.waitCapture(ctx, strategy); err != nil {
		return nil, nil, err
	}
	ids, err := people(ctx, srv, srv.BaseDN, strategy == "dirsync")
	if err != nil {
		return nil, nil, err
	}
	db, err := s.openHubDB(ctx)
	return ids, db, err
}

// openLDAPCapture measures the steady latency and the burst on the stack of
// the last idsync round, whose capture runs since its first import.
func (b *bench) openLDAPCapture(ctx context.Context, st *stack, srv *testserver.SlapdServer, res *captureResults) error {
	o := res.opts
	gen, err := gendir.New(gendir.Options{BaseDN: srv.BaseDN, Seed: 1, Users: b.opts.users, Groups: b.opts.groups})
	if err != nil {
		return err
	}
	ids, db, err := st.observe(ctx, "syncrepl", &srv.Endpoint)
	if err != nil {
		return err
	}
	defer db.Close()
	users := b.opts.users
	user := func(i int) (string, string) {
		dn := gen.UserDN(i % users)
		return dn, ids[strings.ToLower(dn)]
	}
	b.logf("capture: %d changes at %.0f/s against slapd", o.steady, o.steadyRate)
	// Spread over the directory, each user once when there are enough.
	stride := max(1, users/o.steady)
	if res.steady, err = steadyLatency(ctx, &srv.Endpoint, db, o.steady, o.steadyRate, "lat",
		func(k int) (string, string) { return user(k * stride) }); err != nil {
		return fmt.Errorf("steady latency: %w", err)
	}
	// The sentinel is the last user, outside the burst when the directory
	// has more users than the burst; the burst takes each other user once.
	n := min(o.burst, users-1)
	_, sentinel := user(users - 1)
	b.logf("capture: burst of %d changes", n)
	bu := &res.burst
	bu.n, bu.writers = n, burstWriters
	meter := newCPUMeter(st.pids())
	start, issued, err := issueBurst(ctx, &srv.Endpoint, n, burstWriters, "burst", user, users-1)
	if err != nil {
		return fmt.Errorf("burst: %w", err)
	}
	bu.issued = issued
	if bu.drained, bu.stamped, err = waitBurst(ctx, db, n, "burst", sentinel, start); err != nil {
		return err
	}
	bu.cpu = meter.since()

	b.logf("capture: the same burst with the agent stopped, then drained from the checkpoint")
	if err := st.agent.Stop(10 * time.Second); err != nil {
		return fmt.Errorf("stopping the agent: %w", err)
	}
	if _, bu.backlogIssued, err = issueBurst(ctx, &srv.Endpoint, n, burstWriters, "backlog", user, users-1); err != nil {
		return fmt.Errorf("backlog: %w", err)
	}
	meter = newCPUMeter(map[string]int{"slapd": st.slapd, "hub": st.hub.Cmd.Process.Pid})
	stopProfile := st.prof.profile("backlog")
	restart := time.Now()
	if err := st.startAgent(ctx); err != nil {
		stopProfile()
		return err
	}
	bu.backlog, bu.backlogStamped, err = waitBurst(ctx, db, n, "backlog", sentinel, restart)
	bu.backlogCPU = meter.since()
	stopProfile()
	if err != nil {
		return err
	}
	bu.backlogCPU["agent"], _ = cpuTime(st.agent.Cmd.Process.Pid) // all of the new agent's
	return nil
}

// burstWriters is how many connections write a burst.
const burstWriters = 8

// adCapture starts a Samba AD DC with a few users, a fresh stack reading it
// by DirSync, and measures the steady latency there. Without Samba it
// records why there is no figure.
func (b *bench) adCapture(ctx context.Context, bins devstack.Binaries, dir string, res *captureResults) error {
	o := res.opts
	b.logf("capture: starting Samba AD")
	srv, stopDC, err := testserver.StartSambaAD(ctx, "bench")
	if errors.Is(err, testserver.ErrSambaMissing) {
		res.adSkipped = err.Error()
		return nil
	}
	if err != nil {
		return err
	}
	defer stopDC()
	gen, err := gendir.New(gendir.Options{Flavor: gendir.AD, BaseDN: srv.BaseDN, Seed: 1, Users: o.adChanges, MailDomain: "idsync.test"})
	if err != nil {
		return err
	}
	if err := srv.AddGenerated(ctx, gen, 4); err != nil {
		return fmt.Errorf("loading Samba AD: %w", err)
	}
	st, err := startStack(ctx, bins, dir, "ad", &srv.Endpoint, 0, b.tee())
	if err != nil {
		return err
	}
	defer st.stop()
	if _, err := st.importFull(ctx, o.adChanges); err != nil {
		return err
	}
	ids, db, err := st.observe(ctx, "dirsync", &srv.Endpoint)
	if err != nil {
		return err
	}
	defer db.Close()
	b.logf("capture: %d changes at %.0f/s against Samba AD", o.adChanges, o.adRate)
	lat, err := steadyLatency(ctx, &srv.Endpoint, db, o.adChanges, o.adRate, "adlat", func(k int) (string, string) {
		dn := gen.UserDN(k)
		return dn, ids[strings.ToLower(dn)]
	})
	if err != nil {
		return fmt.Errorf("AD latency: %w", err)
	}
	res.ad = &lat
	return nil
}
