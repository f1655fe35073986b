package ldapsync

import (
	"context"
	"hash/fnv"
	"slices"
	"strings"
	"time"
)

// modifyTimestamp is the attribute polling and persistent search order
// changes by (lower case, as Changes name attributes).
const modifyTimestamp = "modifytimestamp"

// poller finds changes by modifyTimestamp, for servers without syncrepl or
// DirSync. Timestamps have a one-second resolution and a write may become
// visible after a later one, so each search reaches Overlap back before the
// newest timestamp seen; what was already emitted with the same
// (id, modifyTimestamp) and the same content is not emitted again (two
// changes within one second share a timestamp, not their content).
type poller struct {
	conn *Conn
	spec CaptureSpec
	emit func(context.Context, Event) error
	cp   checkpointState
	// since is the newest modifyTimestamp seen, the checkpoint.
	since time.Time
	// seen holds what was emitted within the overlap window, by id.
	seen map[string]seenChange
	// errors holds the entry errors emitted since since last moved, so
	// that a bad entry in the window is reported once.
	errors      map[string]bool
	errorsSince time.Time
	// keepTimestamp says the spec asked for modifyTimestamp itself.
	keepTimestamp map[ObjectKind]bool
}

func newPoller(c *Conn, spec CaptureSpec, strategy Strategy, cp *checkpointState, emit func(context.Context, Event) error) *poller {
	p := &poller{conn: c, spec: spec, emit: emit, seen: map[string]seenChange{}, errors: map[string]bool{},
		keepTimestamp: map[ObjectKind]bool{
			ObjectUser:  slices.ContainsFunc(spec.UserAttributes, isModifyTimestamp),
			ObjectGroup: slices.ContainsFunc(spec.GroupAttributes, isModifyTimestamp),
		}}
	if cp != nil {
		p.cp, p.since = *cp, cp.Since
	} else {
		p.cp = newCheckpoint(strategy, spec)
	}
	return p
}

func isModifyTimestamp(a string) bool { return strings.EqualFold(a, modifyTimestamp) }

// capturePoll polls every PollInterval until ctx ends.
func capturePoll(ctx context.Context, c *Conn, spec CaptureSpec, cp *checkpointState, emit func(context.Context, Event) error) error {
	p := newPoller(c, spec, StrategyPoll, cp, emit)
	if err := p.start(ctx, cp == nil); err != nil {
		return err
	}
	for refreshing := true; ; refreshing = false {
		before := p.since
		if err := p.round(ctx); err != nil {
			return err
		}
		if refreshing {
			if err := emit(ctx, Event{Type: EventRefreshDone}); err != nil {
				return err
			}
		}
		if refreshing || p.since.After(before) {
			if err := p.checkpoint(ctx); err != nil {
				return err
			}
		}
		if _, err := pause(ctx, spec.PollInterval, nil); err != nil {
			return err
		}
	}
}

// pause waits for d, a signal on wake (reported as true) or the end of ctx
// (its error).
func pause(ctx context.Context, d time.Duration, wake <-chan struct{}) (bool, error) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false, ctx.Err()
	case <-wake:
		return true, nil
	case <-timer.C:
		return false, nil
	}
}

// start, for a capture without checkpoint, takes the server's time and
// imports everything (snapshot): polling resumes from that time.
func (p *poller) start(ctx context.Context, fromNothing bool) error {
	if !fromNothing {
		return nil
	}
	now, err := serverTime(ctx, p.conn)
	if err != nil {
		return err
	}
	p.since = now
	p.cp.Since = now
	return snapshot(ctx, p.conn, p.spec, p.cp, p.emit)
}

// round searches users and groups modified since the window's start and
// emits those not yet emitted.
func (p *poller) round(ctx context.Context) error {
	if !p.errorsSince.Equal(p.since) {
		clear(p.errors)
		p.errorsSince = p.since
	}
	from := formatGeneralizedTime(p.since.Add(-p.spec.Overlap), p.spec.Kind)
	imp := newImporter(p.conn, p.spec.Spec, pollSink{p})
	for _, k := range []struct {
		kind   ObjectKind
		filter string
		attrs  []string
	}{
		{ObjectUser, p.spec.UserFilter, p.spec.UserAttributes},
		{ObjectGroup, p.spec.GroupFilter, p.spec.GroupAttributes},
	} {
		filter := "(&" + k.filter + "(modifyTimestamp>=" + from + "))"
		if err := imp.search(ctx, k.kind, filter, append(slices.Clone(k.attrs), modifyTimestamp)); err != nil {
			return err
		}
	}
	p.prune()
	return nil
}

// prune forgets what fell out of the overlap window.
func (p *poller) prune() {
	horizon := p.since.Add(-p.spec.Overlap)
	for id, s := range p.seen {
		if s.ts.Before(horizon) {
			delete(p.seen, id)
		}
	}
}

// seenChange is what was emitted of one object: its modifyTimestamp and a
// digest of its DN and attributes.
type seenChange struct {
	ts  time.Time
	sum uint64
}

// digest sums a change's DN and attributes.
func digest(ch Change) uint64 {
	h := fnv.New64a()
	h.Write([]byte(ch.DN))
	for _, a := range ch.Attributes {
		h.Write([]byte{0, 0})
		h.Write([]byte(a.Name))
		for _, v := range a.Values {
			h.Write([]byte{0})
			h.Write([]byte(v))
		}
	}
	return h.Sum64()
}

// accept emits a change unless it was emitted already with the same
// modifyTimestamp and content, and moves since forward. It reports whether
// it emitted.
func (p *poller) accept(ctx context.Context, ch Change) (bool, error) {
	var ts time.Time
	if i := slices.IndexFunc(ch.Attributes, func(a Attribute) bool { return a.Name == modifyTimestamp }); i >= 0 {
		if len(ch.Attributes[i].Values) == 1 {
			ts, _ = parseGeneralizedTime(ch.Attributes[i].Values[0])
		}
		if !p.keepTimestamp[ch.Kind] {
			ch.Attributes = slices.Delete(slices.Clone(ch.Attributes), i, i+1)
		}
	}
	if !ts.IsZero() {
		s := seenChange{ts: ts, sum: digest(ch)}
		if last, ok := p.seen[ch.ExternalID]; ok && last.ts.Equal(s.ts) && last.sum == s.sum {
			return false, nil
		}
		p.seen[ch.ExternalID] = s
		if ts.After(p.since) {
			p.since = ts
		}
	}
	return true, p.emit(ctx, Event{Type: EventChange, Change: ch})
}

// acceptError emits an entry error once per position of the window.
func (p *poller) acceptError(ctx context.Context, e EntryError) error {
	key := e.DN + "\x00" + e.Message
	if p.errors[key] {
		return nil
	}
	p.errors[key] = true
	return p.emit(ctx, Event{Type: EventEntryError, Err: e})
}

func (p *poller) checkpoint(ctx context.Context) error {
	cp := p.cp
	cp.Since = p.since
	return p.emit(ctx, Event{Type: EventCheckpoint, Checkpoint: cp.encode()})
}

// pollSink passes what a polling search reads through the poller.
type pollSink struct{ p *poller }

var _ Sink = pollSink{}

func (s pollSink) Change(ctx context.Context, c Change) error {
	_, err := s.p.accept(ctx, c)
	return err
}

func (s pollSink) EntryError(ctx context.Context, e EntryError) error {
	return s.p.acceptError(ctx, e)
}
