package audit

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/idsync/idsync/server/auth"
	"github.com/idsync/idsync/server/store"
)

// DefaultRetention is how long events are kept unless configured.
const DefaultRetention = 180 * 24 * time.Hour

// Appender is the part of the store the trail writes.
type Appender interface {
	AppendAudit(ctx context.Context, events ...*store.AuditEvent) error
}

// Log records audit events. A nil *Log records nothing.
type Log struct {
	st  Appender
	log *slog.Logger
	r   *refusals
}

// New returns a trail writing to st, summarising refusals as the default
// Options do; failures to write are logged on log.
func New(st Appender, log *slog.Logger) *Log { return NewWithOptions(st, log, Options{}) }

// NewWithOptions returns a trail writing to st that summarises refusals as
// o says.
func NewWithOptions(st Appender, log *slog.Logger, o Options) *Log {
	return &Log{st: st, log: log.With("component", "audit"),
		r: &refusals{o: o.withDefaults(), tallies: map[refusalKey]*tally{}}}
}

// Record appends e, its actor taken from ctx when empty (the admin or
// agent that authenticated the call, else the hub). A failure to write is
// logged, never returned: the action it records has already happened.
func (l *Log) Record(ctx context.Context, e store.AuditEvent) {
	if l == nil {
		return
	}
	l.write(ctx, l.withActor(ctx, e))
}

// withActor returns e with ctx's actor when it names none, and the id of
// ctx's admin token in its detail.
func (l *Log) withActor(ctx context.Context, e store.AuditEvent) store.AuditEvent {
	if e.Actor == "" {
		e.Actor = auth.Actor(ctx)
		if t, ok := auth.Admin(ctx); ok && t.ID != "" {
			e.Detail = join("token "+t.ID, e.Detail)
		}
	}
	return e
}

// write appends events in one transaction. The events outlive a cancelled
// request: a refusal is recorded even when the caller has gone.
func (l *Log) write(ctx context.Context, events ...store.AuditEvent) {
	if len(events) == 0 {
		return
	}
	ptrs := make([]*store.AuditEvent, len(events))
	for i := range events {
		ptrs[i] = &events[i]
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := l.st.AppendAudit(wctx, ptrs...); err != nil {
		e := events[0]
		l.log.Error("audit event not written", "action", e.Action, "target", e.Target, "actor", e.Actor,
			"events", len(events), "err", err)
	}
}

// Event records an event of ctx's actor with outcome ok.
func (l *Log) Event(ctx context.Context, action, target string, detail string, args ...any) {
	l.Record(ctx, store.AuditEvent{Action: action, Target: target, Detail: fmt.Sprintf(detail, args...)})
}

func join(a, b string) string {
	if b == "" {
		return a
	}
	return a + "; " + b
}

// Pruner is the part of the store that forgets old events.
type Pruner interface {
	PruneAudit(ctx context.Context, before time.Time) (int64, error)
}

// Prune deletes events older than retention every interval until ctx ends.
func Prune(ctx context.Context, st Pruner, retention, every time.Duration, log *slog.Logger) error {
	if retention <= 0 {
		retention = DefaultRetention
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		n, err := st.PruneAudit(ctx, time.Now().Add(-retention))
		switch {
		case err != nil && ctx.Err() == nil:
			log.Warn("pruning audit events", "err", err)
		case n > 0:
			log.Info("audit events past their retention pruned", "events", n, "retention", retention)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
