package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/idsync/idsync/ldapsync"
	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
)

// maxBatchBytes closes a batch once its changes are this large on the
// wire, whatever their count: a batch is at most this and one entry.
const maxBatchBytes = 2 << 20

// runImport reads a directory as the hub asked: a full import streamed in
// batches, or change capture from the hub's checkpoint until cancelled. A
// full read is complete only when every batch, the last included, is
// acknowledged; any error before that fails the run on the hub (no sweep).
func (a *Agent) runImport(ctx context.Context, st *stream, r *run, si *idsyncv1.StartImport) error {
	src := si.GetSource()
	dc, err := a.directory(src.GetDirectory())
	if err != nil {
		return err
	}
	log := a.log.With("run", si.GetRunId(), "directory", dc.Name)
	conn, _, err := dial(ctx, dc)
	if err != nil {
		return err
	}
	defer conn.Close()
	b := &batcher{ctx: ctx, st: st, run: r, runID: si.GetRunId(), max: int(max(1, src.GetBatchSize())),
		m: a.metrics, directory: dc.Name, kind: kindFull}
	if si.GetKind() == idsyncv1.ImportKind_IMPORT_KIND_INCREMENTAL {
		b.kind = kindCapture
	}
	switch si.GetKind() {
	case idsyncv1.ImportKind_IMPORT_KIND_FULL:
		return a.fullImport(ctx, log, conn, b, si)
	case idsyncv1.ImportKind_IMPORT_KIND_INCREMENTAL:
		return a.capture(ctx, log, conn, b, src)
	}
	return fmt.Errorf("import kind %v is not supported by this agent version", si.GetKind())
}

// captureSpec is what the hub asked for, with the strategy resolved.
func (a *Agent) captureSpec(ctx context.Context, conn *ldapsync.Conn, src *idsyncv1.Source) (ldapsync.CaptureSpec, error) {
	spec := ldapsync.CaptureSpec{Spec: specFor(src),
		PollInterval: time.Duration(src.GetPollIntervalSeconds()) * time.Second, Logger: a.log}
	s, err := ldapsync.ParseStrategy(src.GetCaptureStrategy())
	if err != nil {
		return spec, err
	}
	if s == ldapsync.StrategyAuto {
		if s, err = ldapsync.Detect(ctx, conn, spec.Kind); err != nil {
			return spec, fmt.Errorf("detecting how to capture changes: %w", err)
		}
	}
	spec.Strategy = s
	return spec, nil
}

func (a *Agent) fullImport(ctx context.Context, log *slog.Logger, conn *ldapsync.Conn, b *batcher, si *idsyncv1.StartImport) error {
	start := time.Now()
	src := si.GetSource()
	log.Info("full import starting", "url", conn.URL(), "base_dn", src.GetBaseDn())
	var checkpoint []byte
	if si.GetTakeCheckpoint() {
		// Taken before the snapshot reads anything, so that capture resumes
		// with every change made while it ran.
		spec, err := a.captureSpec(ctx, conn, src)
		if err != nil {
			return err
		}
		if checkpoint, err = ldapsync.CheckpointNow(ctx, conn, spec); err != nil {
			return fmt.Errorf("taking a capture checkpoint: %w", err)
		}
		b.strategy = spec.Strategy.String()
	}
	stats, err := ldapsync.FullImport(ctx, conn, specFor(src), b)
	if err != nil {
		return err
	}
	b.checkpoint = checkpoint
	if err := b.flush(true); err != nil {
		return err
	}
	// Wait for the window to drain: the run is done when the hub has
	// committed everything.
	for i := 0; i < cap(b.run.slots); i++ {
		select {
		case b.run.slots <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	elapsed := time.Since(start)
	a.metrics.fullTime.WithLabelValues(b.directory).Set(elapsed.Seconds())
	a.metrics.fullCount.WithLabelValues(b.directory).Set(float64(stats.Users + stats.Groups))
	log.Info("full import read", "users", stats.Users, "groups", stats.Groups, "errors", stats.Errors,
		"batches", b.seq, "elapsed", elapsed.Round(time.Millisecond))
	return nil
}

// errReconcile marks a capture whose checkpoint cannot be resumed.
type errReconcile struct{ err error }

func (e *errReconcile) Error() string { return e.err.Error() }
func (e *errReconcile) Unwrap() error { return e.err }

// capture streams changes from the hub's checkpoint until ctx ends. Events
// are batched as they come: when the directory is quiet a change leaves at
// once (latency), under a burst whatever has queued goes together
// (throughput). Each batch carries the newest checkpoint among its events.
func (a *Agent) capture(ctx context.Context, log *slog.Logger, conn *ldapsync.Conn, b *batcher, src *idsyncv1.Source) error {
	spec, err := a.captureSpec(ctx, conn, src)
	if err != nil {
		return err
	}
	log.Info("change capture starting", "strategy", spec.Strategy, "url", conn.URL(), "base_dn", src.GetBaseDn())
	b.strategy = spec.Strategy.String()
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Bounded by size: while the window is full the reader waits (queue.go).
	q := newEventQueue(captureQueueBytes, captureQueueLen)
	done := make(chan error, 1)
	go func() {
		done <- ldapsync.Capture(cctx, conn, spec, src.GetCheckpoint(), q.put)
	}()
	// The strategy goes to the hub at once, so `directory show` tells it.
	if err := b.flush(false); err != nil {
		return err
	}
	for {
		var e queuedEvent
		select {
		case e = <-q.events:
		case err := <-done:
			cancel()
			if errors.Is(err, ldapsync.ErrReconcile) {
				return &errReconcile{err}
			}
			if err == nil || ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		// Take what has queued, up to a batch; a refresh's end closes it.
		for {
			last := b.addEvent(e.ev)
			q.taken(e)
			if last || b.full() {
				break
			}
			select {
			case e = <-q.events:
				continue
			default:
			}
			break
		}
		if err := b.flush(false); err != nil {
			return err
		}
	}
}

// addEvent adds a capture event to the batch and reports whether it must be
// the batch's last.
func (b *batcher) addEvent(ev ldapsync.Event) bool {
	switch ev.Type {
	case ldapsync.EventChange:
		b.add(ev.Change)
		b.readAt = time.Now()
	case ldapsync.EventPresent:
		b.present = append(b.present, ev.IDs...)
	case ldapsync.EventEntryError:
		e := ev.Err
		b.errs = append(b.errs, &idsyncv1.EntryError{Dn: e.DN, ExternalId: e.ExternalID, Kind: idsyncv1.ObjectKindNamed(e.Kind.String()), Message: e.Message})
	case ldapsync.EventCheckpoint:
		b.checkpoint = ev.Checkpoint
	case ldapsync.EventRefreshDone:
		b.refreshDone, b.presentPhase = true, ev.PresentPhase
		return true
	}
	return false
}

func specFor(src *idsyncv1.Source) ldapsync.Spec {
	kind := ldapsync.KindOpenLDAP
	if src.GetKind() == idsyncv1.DirectoryKind_DIRECTORY_KIND_AD {
		kind = ldapsync.KindAD
	}
	return ldapsync.Spec{
		Kind: kind, BaseDN: src.GetBaseDn(), UserFilter: src.GetUserFilter(), GroupFilter: src.GetGroupFilter(),
		UserAttributes: src.GetUserAttributes(), GroupAttributes: src.GetGroupAttributes(),
		PageSize: int(src.GetPageSize()), MaxValueBytes: int(src.GetMaxValueBytes()),
	}
}

// batcher turns entries into ChangeBatches; it is the ldapsync.Sink of a
// full import and the batch builder of a capture. A full ack window blocks
// it, and with it the LDAP read: backpressure.
type batcher struct {
	ctx   context.Context
	st    *stream
	run   *run
	runID string
	max   int
	// m counts what is sent, by directory and kind (full or incremental).
	m         *metrics
	directory string
	kind      string

	seq          uint64
	changes      []*idsyncv1.Change
	errs         []*idsyncv1.EntryError
	present      []string
	checkpoint   []byte
	refreshDone  bool
	presentPhase bool
	strategy     string // sent once, on the next batch
	readAt       time.Time
	bytes        int
}

var _ ldapsync.Sink = (*batcher)(nil)

func attributes(in []ldapsync.Attribute) []*idsyncv1.Attribute {
	out := make([]*idsyncv1.Attribute, 0, len(in))
	for _, at := range in {
		out = append(out, &idsyncv1.Attribute{Name: at.Name, Values: at.Values})
	}
	return out
}

// add queues one change, or, when it is over idsyncv1.MaxEntryBytes on the
// wire, an error of its entry: the hub would refuse the batch, and the
// entry still counts as seen, so it is not swept.
func (b *batcher) add(c ldapsync.Change) {
	pc, n := wireChange(c)
	if n > idsyncv1.MaxEntryBytes {
		b.errs = append(b.errs, &idsyncv1.EntryError{Dn: c.DN, ExternalId: c.ExternalID, Kind: idsyncv1.ObjectKindNamed(c.Kind.String()),
			Message: fmt.Sprintf("the entry is %d bytes on the wire, over the limit of %d bytes for one entry (a group of too many members?)",
				n, idsyncv1.MaxEntryBytes)})
		return
	}
	b.changes = append(b.changes, pc)
	b.bytes += n
}

// wireChange is c as the hub reads it, with its size on the wire.
func wireChange(c ldapsync.Change) (*idsyncv1.Change, int) {
	pc := &idsyncv1.Change{Type: idsyncv1.ChangeType_CHANGE_TYPE_UPSERT, Kind: idsyncv1.ObjectKindNamed(c.Kind.String()),
		ExternalId: c.ExternalID, Dn: c.DN, MembersIncremental: c.MembersIncremental,
		Attributes: attributes(c.Attributes), MemberAdds: attributes(c.MemberAdds), MemberRemoves: attributes(c.MemberRemoves)}
	if c.Type == ldapsync.ChangeDelete {
		pc.Type, pc.Departed = idsyncv1.ChangeType_CHANGE_TYPE_DELETE, c.Departed
	}
	return pc, proto.Size(pc)
}

// full says the batch has reached its bounds.
func (b *batcher) full() bool {
	return len(b.changes)+len(b.errs)+len(b.present)/8 >= b.max || b.bytes >= maxBatchBytes
}

// Change adds one entry of a full import.
func (b *batcher) Change(ctx context.Context, c ldapsync.Change) error {
	b.add(c)
	if b.full() {
		return b.flush(false)
	}
	return nil
}

// EntryError adds one entry that could not be read.
func (b *batcher) EntryError(ctx context.Context, e ldapsync.EntryError) error {
	b.errs = append(b.errs, &idsyncv1.EntryError{Dn: e.DN, ExternalId: e.ExternalID, Kind: idsyncv1.ObjectKindNamed(e.Kind.String()), Message: e.Message})
	if b.full() {
		return b.flush(false)
	}
	return nil
}

// pending says there is something to send.
func (b *batcher) pending() bool {
	return len(b.changes)+len(b.errs)+len(b.present) > 0 || b.checkpoint != nil || b.refreshDone || b.strategy != ""
}

// flush sends the pending batch once the window has room.
func (b *batcher) flush(last bool) error {
	if !last && !b.pending() {
		return nil
	}
	select {
	case b.run.slots <- struct{}{}:
	case <-b.ctx.Done():
		return b.ctx.Err()
	}
	b.seq++
	cb := &idsyncv1.ChangeBatch{
		RunId: b.runID, Sequence: b.seq, Changes: b.changes, Errors: b.errs, Last: last,
		Checkpoint: b.checkpoint, PresentIds: b.present, RefreshDone: b.refreshDone,
		PresentPhase: b.presentPhase, Strategy: b.strategy,
	}
	if !b.readAt.IsZero() {
		cb.ReadAt = timestamppb.New(b.readAt)
	}
	msg := &idsyncv1.ConnectRequest{Msg: &idsyncv1.ConnectRequest_ChangeBatch{ChangeBatch: cb}}
	if !b.readAt.IsZero() {
		b.run.sent(b.seq, b.readAt)
	}
	sent := len(b.changes)
	b.changes, b.errs, b.present, b.bytes = make([]*idsyncv1.Change, 0, b.max), nil, nil, 0
	b.checkpoint, b.refreshDone, b.presentPhase, b.strategy, b.readAt = nil, false, false, "", time.Time{}
	if err := b.st.send(msg); err != nil {
		return fmt.Errorf("sending batch %d: %w", b.seq, err)
	}
	b.m.batches.WithLabelValues(b.directory, b.kind).Inc()
	b.m.changes.WithLabelValues(b.directory, b.kind).Add(float64(sent))
	return nil
}
