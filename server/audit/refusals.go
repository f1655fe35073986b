package audit

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/idsync/idsync/server/store"
)

// Options tune how the trail summarises refusals. The zero value takes
// the defaults.
type Options struct {
	// Window is how long the refusals of one caller are counted before
	// they are summarised in one event (default a minute).
	Window time.Duration
	// Tracked bounds how many (caller, action, target) counts are kept at
	// once (default 4,096); the refusals of callers beyond it share one
	// more count per action.
	Tracked int
	// ActorAllowance is how many refusals of one authenticated caller, for
	// one action and target, a window records one by one before it counts
	// them (default 60). A caller that has not authenticated has one.
	ActorAllowance int
	// Now is the clock (tests set one); default time.Now.
	Now func() time.Time
}

func (o Options) withDefaults() Options {
	if o.Window <= 0 {
		o.Window = time.Minute
	}
	if o.Tracked <= 0 {
		o.Tracked = 4096
	}
	if o.ActorAllowance <= 0 {
		o.ActorAllowance = 60
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// lastDetailMax bounds the detail kept of the last refusal counted.
const lastDetailMax = 256

// refusals counts refusals per caller, action and target for a window.
type refusals struct {
	o       Options
	mu      sync.Mutex
	tallies map[refusalKey]*tally
	swept   time.Time // the last sweep made to free room
	stopped bool      // after Run: every refusal is written as it comes
}

// refusalKey is what refusals are counted by. caller is "addr:HOST" for a
// caller that has not authenticated, its actor otherwise; overflow marks
// the one count per action of the callers beyond Options.Tracked.
type refusalKey struct {
	caller, action, target string
	overflow, anonymous    bool
}

// tally is one key's window: the first refusals are written, the rest
// counted, and the count is written when the window ends.
type tally struct {
	start            time.Time
	allowed, written int
	counted          int
	actor, from      string // the summary's actor; whom its detail names
	target, last     string // the summary's target; the last counted refusal's detail
}

// RecordUnauthenticated records e, a refusal of a caller that has not
// authenticated, from client address addr (host or host:port): the first
// of a window for the address, e's action and target is written, the
// others are counted and written as one event when the window ends, so
// that nobody can flood the trail without credentials. IPv6 addresses
// count by their /64.
func (l *Log) RecordUnauthenticated(ctx context.Context, addr string, e store.AuditEvent) {
	if l == nil {
		return
	}
	from := clientNet(addr)
	e = e.Bounded()
	l.refused(ctx, refusalKey{caller: "addr:" + from, action: e.Action, target: e.Target, anonymous: true},
		1, "unauthenticated@"+from, from, e)
}

// RecordRefused records e, a refusal of an authenticated caller (e's
// actor, else ctx's): the first Options.ActorAllowance of a window for the
// actor, e's action and target are written one by one, the others counted
// and written as one event when the window ends.
func (l *Log) RecordRefused(ctx context.Context, e store.AuditEvent) {
	if l == nil {
		return
	}
	e = l.withActor(ctx, e).Bounded()
	l.refused(ctx, refusalKey{caller: e.Actor, action: e.Action, target: e.Target},
		l.r.o.ActorAllowance, e.Actor, e.Actor, e)
}

func (l *Log) refused(ctx context.Context, k refusalKey, allowed int, actor, from string, e store.AuditEvent) {
	r := l.r
	now := r.o.Now()
	r.mu.Lock()
	if r.stopped {
		r.mu.Unlock()
		l.write(ctx, e)
		return
	}
	var out []store.AuditEvent
	t := r.tallies[k]
	if t != nil && now.Sub(t.start) >= r.o.Window {
		out = append(out, r.end(k, now)...)
		t = nil
	}
	if t == nil && len(r.tallies) >= r.o.Tracked && now.Sub(r.swept) >= time.Second {
		// Room is made at most once a second: a flood from many addresses
		// costs a sweep a second, not one a refusal.
		r.swept = now
		out = append(out, r.sweep(now, false)...)
	}
	if t == nil && len(r.tallies) >= r.o.Tracked {
		k = refusalKey{action: k.action, overflow: true, anonymous: k.anonymous}
		if t = r.tallies[k]; t != nil && now.Sub(t.start) >= r.o.Window {
			out = append(out, r.end(k, now)...)
			t = nil
		}
		allowed, actor, from = 1, "hub", fmt.Sprintf("callers beyond the %d tracked", r.o.Tracked)
		if k.anonymous {
			actor = "unauthenticated"
		}
	}
	if t == nil {
		t = &tally{start: now, allowed: allowed, actor: actor, from: from, target: k.target}
		r.tallies[k] = t
	}
	if t.written < t.allowed {
		t.written++
		out = append(out, e)
	} else {
		t.counted++
		t.last = store.Truncate(e.Detail, lastDetailMax)
	}
	r.mu.Unlock()
	l.write(ctx, out...)
}

// end forgets k's window and returns its summary, if it counted any.
// r.mu is held.
func (r *refusals) end(k refusalKey, now time.Time) []store.AuditEvent {
	t := r.tallies[k]
	delete(r.tallies, k)
	if t == nil || t.counted == 0 {
		return nil
	}
	span := min(now.Sub(t.start), r.o.Window).Round(time.Second)
	noun := "refusals"
	if t.counted == 1 {
		noun = "refusal"
	}
	detail := fmt.Sprintf("%d more %s from %s in the last %s", t.counted, noun, t.from, span)
	if t.last != "" {
		detail += "; the last: " + t.last
	}
	return []store.AuditEvent{{Actor: t.actor, Action: k.action, Target: t.target, Outcome: store.AuditRefused, Detail: detail}}
}

// sweep ends the windows that are over, or all of them, and returns their
// summaries. r.mu is held.
func (r *refusals) sweep(now time.Time, all bool) []store.AuditEvent {
	var out []store.AuditEvent
	for k, t := range r.tallies {
		if all || now.Sub(t.start) >= r.o.Window {
			out = append(out, r.end(k, now)...)
		}
	}
	return out
}

// Flush writes the summary of every refusal counted so far, windows still
// open included.
func (l *Log) Flush(ctx context.Context) {
	if l == nil {
		return
	}
	l.r.mu.Lock()
	out := l.r.sweep(l.r.o.Now(), true)
	l.r.mu.Unlock()
	l.write(ctx, out...)
}

// Run writes the summaries of the windows that are over as they end, until
// ctx is cancelled; then it writes every count left, and from then on each
// refusal as it comes, so that a hub that stops loses no count.
func (l *Log) Run(ctx context.Context) error {
	if l == nil {
		<-ctx.Done()
		return nil
	}
	tick := time.NewTicker(max(l.r.o.Window/4, time.Second))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			l.r.mu.Lock()
			l.r.stopped = true
			out := l.r.sweep(l.r.o.Now(), true)
			l.r.mu.Unlock()
			l.write(context.WithoutCancel(ctx), out...)
			return nil
		case <-tick.C:
			l.r.mu.Lock()
			out := l.r.sweep(l.r.o.Now(), false)
			l.r.mu.Unlock()
			l.write(ctx, out...)
		}
	}
}

// clientNet is the host of addr; an IPv6 address's /64, which one client
// usually holds whole.
func clientNet(addr string) string {
	host := addr
	if h, _, err := net.SplitHostPort(addr); err == nil {
		host = h
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		if host == "" {
			return "unknown"
		}
		return host
	}
	if ip.Is4In6() {
		return ip.Unmap().String()
	}
	if ip.Is6() && !ip.IsLoopback() {
		p, _ := ip.WithZone("").Prefix(64)
		return p.String()
	}
	return ip.String()
}
