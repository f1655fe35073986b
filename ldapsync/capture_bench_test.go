//go:build linux

package ldapsync_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/idsync/idsync/internal/gendir"
	"github.com/idsync/idsync/internal/testserver"
	"github.com/idsync/idsync/ldapsync"
)

const benchModifies, benchWriters = 10_000, 4

// BenchmarkSyncreplCapture measures syncrepl capture on the benchmark's
// slapd (100,000 users) with 10,000 modifies of distinct users:
//
//   - live: the modifies come from 4 connections while the capture runs;
//     events/s counts from the first modify to the last event, and each
//     change's latency runs from its modify's completion to its emission
//     (p50-ms, p99-ms).
//   - backlog: the modifies are made while no capture runs; a capture then
//     resumes from the checkpoint taken before them and drains them
//     (events/s from the capture's start to the last event).
func BenchmarkSyncreplCapture(b *testing.B) {
	srv := benchSlapd(b)
	gen, err := gendir.New(gendir.Options{BaseDN: srv.BaseDN, Seed: 1, Users: benchUsers, Groups: benchGroups})
	if err != nil {
		b.Fatal(err)
	}
	spec := ldapsync.CaptureSpec{Spec: ldapsync.Spec{Kind: ldapsync.KindOpenLDAP, BaseDN: srv.BaseDN,
		UserAttributes: openLDAPUserAttrs, GroupAttributes: openLDAPGroupAttrs}, Strategy: ldapsync.StrategySyncrepl}
	round := 0
	next := func(b *testing.B) (*benchCapture, []byte) {
		round++
		conn := dial(b, srv.Endpoint)
		checkpoint, err := ldapsync.CheckpointNow(b.Context(), conn, spec)
		if err != nil {
			b.Fatal(err)
		}
		return &benchCapture{conn: conn, spec: spec, prefix: fmt.Sprintf("bench-%d-", round)}, checkpoint
	}

	b.Run("live", func(b *testing.B) {
		var latencies []time.Duration
		var rates []float64
		for b.Loop() {
			c, checkpoint := next(b)
			c.start(b, checkpoint)
			select {
			case <-c.live:
			case err := <-c.done:
				b.Fatalf("capture: %v", err)
			}
			start := time.Now()
			completed := writeModifies(b, srv, gen, c.prefix)
			last := c.wait(b)
			rates = append(rates, benchModifies/last.Sub(start).Seconds())
			for n := range benchModifies {
				latencies = append(latencies, max(0, c.arrived[n].Sub(completed[n])))
			}
			b.Logf("all %d changes emitted %v after the first modify", benchModifies, last.Sub(start).Round(time.Millisecond))
			c.stop()
		}
		slices.Sort(latencies)
		b.ReportMetric(slices.Min(rates), "events/s")
		b.ReportMetric(float64(percentile(latencies, 50).Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(percentile(latencies, 99).Microseconds())/1000, "p99-ms")
	})

	b.Run("backlog", func(b *testing.B) {
		var rates []float64
		for b.Loop() {
			c, checkpoint := next(b)
			writeModifies(b, srv, gen, c.prefix)
			start := time.Now()
			c.start(b, checkpoint)
			last := c.wait(b)
			rates = append(rates, benchModifies/last.Sub(start).Seconds())
			b.Logf("drained %d changes in %v", benchModifies, last.Sub(start).Round(time.Millisecond))
			c.stop()
		}
		b.ReportMetric(slices.Min(rates), "events/s")
	})
}

// benchCapture is a capture that notes when each benchmark modify arrives:
// change n sets title to prefix+n.
type benchCapture struct {
	conn    *ldapsync.Conn
	spec    ldapsync.CaptureSpec
	prefix  string
	arrived []time.Time
	seen    int
	live    chan struct{} // closed at the end of the refresh
	all     chan struct{} // closed when every change arrived
	cancel  context.CancelFunc
	done    chan error
}

// start runs the capture from checkpoint.
func (c *benchCapture) start(b *testing.B, checkpoint []byte) {
	c.arrived, c.live, c.all, c.done = make([]time.Time, benchModifies), make(chan struct{}), make(chan struct{}), make(chan error, 1)
	var ctx context.Context
	ctx, c.cancel = context.WithCancel(b.Context())
	go func() { c.done <- ldapsync.Capture(ctx, c.conn, c.spec, checkpoint, c.emit) }()
}

func (c *benchCapture) emit(_ context.Context, ev ldapsync.Event) error {
	if ev.Type == ldapsync.EventRefreshDone {
		close(c.live)
	}
	if ev.Type != ldapsync.EventChange {
		return nil
	}
	for _, a := range ev.Change.Attributes {
		if a.Name != "title" || len(a.Values) != 1 {
			continue
		}
		rest, ok := strings.CutPrefix(a.Values[0], c.prefix)
		if n, err := strconv.Atoi(rest); ok && err == nil && c.arrived[n].IsZero() {
			c.arrived[n] = time.Now()
			if c.seen++; c.seen == benchModifies {
				close(c.all)
			}
		}
	}
	return nil
}

// wait waits for every modify's event and returns the last one's time.
func (c *benchCapture) wait(b *testing.B) time.Time {
	select {
	case <-c.all:
	case err := <-c.done:
		b.Fatalf("the capture ended after %d of %d changes: %v", c.seen, benchModifies, err)
	case <-time.After(2 * time.Minute):
		b.Fatalf("only %d of %d changes arrived within 2 minutes", c.seen, benchModifies)
	}
	return slices.MaxFunc(c.arrived, func(x, y time.Time) int { return x.Compare(y) })
}

func (c *benchCapture) stop() {
	c.cancel()
	<-c.done
	c.conn.Close()
}

// writeModifies sets the title of benchModifies distinct users to prefix+n
// from benchWriters connections and returns when each modify completed.
func writeModifies(b *testing.B, srv *testserver.SlapdServer, gen *gendir.Generator, prefix string) []time.Time {
	completed := make([]time.Time, benchModifies)
	var wg sync.WaitGroup
	errs := make(chan error, benchWriters)
	start := time.Now()
	for k := range benchWriters {
		wg.Go(func() {
			c, err := srv.Conn(b.Context())
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			for n := k; n < benchModifies; n += benchWriters {
				// 7 is prime to the number of users: distinct users.
				req := ldap.NewModifyRequest(gen.UserDN(n*7%benchUsers), nil)
				req.Replace("title", []string{prefix + strconv.Itoa(n)})
				if err := c.Modify(req); err != nil {
					errs <- err
					return
				}
				completed[n] = time.Now()
			}
		})
	}
	wg.Wait()
	select {
	case err := <-errs:
		b.Fatalf("modify: %v", err)
	default:
	}
	b.Logf("%d modifies written in %v (%.0f/s)", benchModifies, time.Since(start).Round(time.Millisecond),
		benchModifies/time.Since(start).Seconds())
	return completed
}
