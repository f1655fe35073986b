package audit_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idsync/idsync/server/audit"
	"github.com/idsync/idsync/server/store"
)

// trail is an audit log over an in-memory store, on a clock the test
// moves.
type trail struct {
	*audit.Log
	mu     sync.Mutex
	events []store.AuditEvent
	now    atomic.Int64 // nanoseconds since the epoch
}

func newTrail(o audit.Options) *trail {
	tr := &trail{}
	tr.now.Store(time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC).UnixNano())
	o.Now = func() time.Time { return time.Unix(0, tr.now.Load()) }
	tr.Log = audit.NewWithOptions(tr, slog.New(slog.DiscardHandler), o)
	return tr
}

func (tr *trail) AppendAudit(_ context.Context, events ...*store.AuditEvent) error {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for _, e := range events {
		tr.events = append(tr.events, *e)
	}
	return nil
}

func (tr *trail) advance(d time.Duration) { tr.now.Add(int64(d)) }

// written returns the events written so far.
func (tr *trail) written() []store.AuditEvent {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return append([]store.AuditEvent(nil), tr.events...)
}

// refusals is how many refusals events stand for: one each, and the count
// of a summary.
func refusals(events []store.AuditEvent) int {
	n := 0
	for _, e := range events {
		var more int
		if _, err := fmt.Sscanf(e.Detail, "%d more refusal", &more); err == nil {
			n += more
		} else {
			n++
		}
	}
	return n
}

// refused is a refusal of a caller that has not authenticated.
func refused(addr, target string) store.AuditEvent {
	return store.AuditEvent{Actor: "unauthenticated@" + addr, Action: "request.refused", Target: target,
		Outcome: store.AuditRefused, Detail: "admin token not recognised"}
}

// TestRefusalSummaries: refusals are written, counted and summarised per
// caller, action and target and window.
func TestRefusalSummaries(t *testing.T) {
	const listUsers, getUser = "/idsync.v1.AdminService/ListUsers", "/idsync.v1.AdminService/GetUser"
	type step struct {
		addr    string // "" : an authenticated refusal by admin:eve
		target  string
		times   int
		advance time.Duration // the clock moves by this before the step
	}
	tests := []struct {
		name  string
		opts  audit.Options
		steps []step
		// wantBefore are the events written before Flush, wantAfter after,
		// as "actor target detail-prefix".
		wantBefore, wantAfter []string
	}{
		{
			name:       "a flood from one address is its first refusal and one count",
			steps:      []step{{addr: "192.0.2.7:40000", target: listUsers, times: 500}},
			wantBefore: []string{"unauthenticated@192.0.2.7:40000 " + listUsers + " admin token not recognised"},
			wantAfter: []string{"unauthenticated@192.0.2.7:40000 " + listUsers + " admin token not recognised",
				"unauthenticated@192.0.2.7 " + listUsers + " 499 more refusals from 192.0.2.7 in the last 0s; the last: admin token not recognised"},
		},
		{
			name: "the next refusal after the window writes the count, and opens a window",
			steps: []step{{addr: "192.0.2.7:1", target: listUsers, times: 10},
				{addr: "192.0.2.7:2", target: listUsers, times: 1, advance: time.Minute}},
			wantBefore: []string{"unauthenticated@192.0.2.7:1 " + listUsers + " admin",
				"unauthenticated@192.0.2.7 " + listUsers + " 9 more refusals from 192.0.2.7 in the last 1m0s",
				"unauthenticated@192.0.2.7:2 " + listUsers + " admin"},
		},
		{
			name:       "one more is a refusal",
			steps:      []step{{addr: "192.0.2.7:1", target: listUsers, times: 2}},
			wantBefore: []string{"unauthenticated@192.0.2.7:1 " + listUsers + " admin"},
			wantAfter: []string{"unauthenticated@192.0.2.7:1 " + listUsers + " admin",
				"unauthenticated@192.0.2.7 " + listUsers + " 1 more refusal from 192.0.2.7 in the last"},
		},
		{
			name: "addresses and targets count apart",
			steps: []step{{addr: "192.0.2.7:1", target: listUsers, times: 3}, {addr: "192.0.2.8:1", target: listUsers, times: 1},
				{addr: "192.0.2.7:1", target: getUser, times: 1}},
			wantBefore: []string{"unauthenticated@192.0.2.7:1 " + listUsers + " admin", "unauthenticated@192.0.2.8:1 " + listUsers + " admin",
				"unauthenticated@192.0.2.7:1 " + getUser + " admin"},
			wantAfter: []string{"unauthenticated@192.0.2.7:1 " + listUsers + " admin", "unauthenticated@192.0.2.8:1 " + listUsers + " admin",
				"unauthenticated@192.0.2.7:1 " + getUser + " admin",
				"unauthenticated@192.0.2.7 " + listUsers + " 2 more refusals from 192.0.2.7"},
		},
		{
			name:       "an IPv6 client counts by its /64",
			steps:      []step{{addr: "[2001:db8:1:2::1]:1", target: listUsers, times: 1}, {addr: "[2001:db8:1:2::99]:1", target: listUsers, times: 1}},
			wantBefore: []string{"unauthenticated@[2001:db8:1:2::1]:1 " + listUsers + " admin"},
			wantAfter: []string{"unauthenticated@[2001:db8:1:2::1]:1 " + listUsers + " admin",
				"unauthenticated@2001:db8:1:2::/64 " + listUsers + " 1 more refusal from 2001:db8:1:2::/64"},
		},
		{
			name: "callers beyond the bound share one count",
			opts: audit.Options{Tracked: 2},
			steps: []step{{addr: "192.0.2.1:1", target: listUsers, times: 1}, {addr: "192.0.2.2:1", target: listUsers, times: 1},
				{addr: "192.0.2.3:1", target: listUsers, times: 1}, {addr: "192.0.2.4:1", target: listUsers, times: 5},
				{addr: "192.0.2.5:1", target: getUser, times: 1}},
			wantBefore: []string{"unauthenticated@192.0.2.1:1 " + listUsers, "unauthenticated@192.0.2.2:1 " + listUsers,
				"unauthenticated@192.0.2.3:1 " + listUsers},
			wantAfter: []string{"unauthenticated@192.0.2.1:1 " + listUsers, "unauthenticated@192.0.2.2:1 " + listUsers,
				"unauthenticated@192.0.2.3:1 " + listUsers,
				"unauthenticated  6 more refusals from callers beyond the 2 tracked"},
		},
		{
			name:  "an authenticated caller's refusals are written one by one up to the allowance",
			opts:  audit.Options{ActorAllowance: 3},
			steps: []step{{target: listUsers, times: 5}},
			wantBefore: []string{"admin:eve " + listUsers + " permission", "admin:eve " + listUsers + " permission",
				"admin:eve " + listUsers + " permission"},
			wantAfter: []string{"admin:eve " + listUsers + " permission", "admin:eve " + listUsers + " permission",
				"admin:eve " + listUsers + " permission", "admin:eve " + listUsers + " 2 more refusals from admin:eve"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newTrail(tt.opts)
			ctx := t.Context()
			sent := 0
			for _, s := range tt.steps {
				tr.advance(s.advance)
				for range s.times {
					if s.addr == "" {
						tr.RecordRefused(ctx, store.AuditEvent{Actor: "admin:eve", Action: "request.refused", Target: s.target,
							Outcome: store.AuditRefused, Detail: "permission users.read missing"})
					} else {
						tr.RecordUnauthenticated(ctx, s.addr, refused(s.addr, s.target))
					}
					sent++
				}
			}
			check := func(when string, want []string) {
				t.Helper()
				got := tr.written()
				if len(got) != len(want) {
					t.Fatalf("%s: %d events written %v, want %d %q", when, len(got), got, len(want), want)
				}
				for i, e := range got {
					if line := e.Actor + " " + e.Target + " " + e.Detail; !strings.HasPrefix(line, want[i]) {
						t.Errorf("%s: event %d is %q, want it to start with %q", when, i, line, want[i])
					}
					if e.Outcome != store.AuditRefused || e.Action != "request.refused" {
						t.Errorf("%s: event %d is %s %s, want request.refused refused", when, i, e.Action, e.Outcome)
					}
				}
			}
			check("before Flush", tt.wantBefore)
			if tt.wantAfter == nil {
				tt.wantAfter = tt.wantBefore
			}
			tr.Flush(ctx)
			check("after Flush", tt.wantAfter)
			if got := refusals(tr.written()); got != sent {
				t.Errorf("the events stand for %d refusals, want the %d sent", got, sent)
			}
		})
	}
}

// TestRefusalsRun: Run writes a window's count when it ends, and every
// count left when it stops; refusals after that are written as they come.
func TestRefusalsRun(t *testing.T) {
	tr := newTrail(audit.Options{Window: time.Second})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- tr.Run(ctx) }()
	for range 100 {
		tr.RecordUnauthenticated(t.Context(), "192.0.2.7:1", refused("192.0.2.7:1", "tls.handshake"))
	}
	if got := tr.written(); len(got) != 1 {
		t.Fatalf("%d events written, want 1 (the first refusal)", len(got))
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v", err)
	}
	if got := tr.written(); len(got) != 2 || !strings.HasPrefix(got[1].Detail, "99 more refusals from 192.0.2.7") {
		t.Fatalf("after Run stopped: %v, want the first refusal and 99 more", got)
	}
	tr.RecordUnauthenticated(t.Context(), "192.0.2.7:1", refused("192.0.2.7:1", "tls.handshake"))
	tr.RecordUnauthenticated(t.Context(), "192.0.2.7:1", refused("192.0.2.7:1", "tls.handshake"))
	if got := tr.written(); len(got) != 4 || refusals(got) != 102 {
		t.Errorf("refusals after Run stopped: %d events for %d refusals, want each written (4 for 102)", len(got), refusals(got))
	}
}

// TestRefusalFieldsBounded: a refusal's huge detail is not what the trail
// keeps in memory or writes.
func TestRefusalFieldsBounded(t *testing.T) {
	tr := newTrail(audit.Options{})
	huge := refused("192.0.2.7:1", strings.Repeat("T", 1<<20))
	huge.Detail = strings.Repeat("D", 1<<20)
	for range 3 {
		tr.RecordUnauthenticated(t.Context(), "192.0.2.7:1", huge)
	}
	tr.Flush(t.Context())
	got := tr.written()
	if len(got) != 2 {
		t.Fatalf("%d events, want 2 (the first refusal, 2 more)", len(got))
	}
	for i, e := range got {
		if len(e.Target) > store.AuditFieldMax || len(e.Detail) > store.AuditDetailMax {
			t.Errorf("event %d: target of %d bytes, detail of %d, want at most %d and %d",
				i, len(e.Target), len(e.Detail), store.AuditFieldMax, store.AuditDetailMax)
		}
	}
}
