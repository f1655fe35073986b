package agent

import (
	"context"
	"fmt"
	"time"

	"github.com/idsync/idsync/ldapsync"
	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
)

// maxBatchBytes bounds a batch's approximate size, whatever its count.
const maxBatchBytes = 2 << 20

// runImport reads a directory as the hub asked and streams it in batches.
// The read is complete only when every batch, the last included, is
// acknowledged; any error before that fails the run on the hub (no sweep).
func (a *Agent) runImport(ctx context.Context, st *stream, r *run, si *idsyncv1.StartImport) error {
	src := si.GetSource()
	dc, ok := a.cfg.Directory(src.GetDirectory())
	if !ok {
		return fmt.Errorf("directory %q is not configured on this agent", src.GetDirectory())
	}
	if si.GetKind() != idsyncv1.ImportKind_IMPORT_KIND_FULL {
		return fmt.Errorf("import kind %v is not supported by this agent version", si.GetKind())
	}
	password, err := dc.BindPassword()
	if err != nil {
		return err
	}
	start := time.Now()
	log := a.log.With("run", si.GetRunId(), "directory", dc.Name)
	log.Info("full import starting", "url", dc.URL, "base_dn", src.GetBaseDn())
	conn, err := ldapsync.Dial(ctx, ldapsync.Config{
		URL: dc.URL, StartTLS: dc.StartTLS, BindDN: dc.BindDN, BindPassword: password, CAFile: dc.CAFile,
	})
	if err != nil {
		return err
	}
	defer conn.Close()

	b := &batcher{ctx: ctx, st: st, run: r, runID: si.GetRunId(), max: int(max(1, src.GetBatchSize()))}
	stats, err := ldapsync.FullImport(ctx, conn, specFor(src), b)
	if err != nil {
		return err
	}
	if err := b.flush(true); err != nil {
		return err
	}
	// Wait for the window to drain: the run is done when the hub has
	// committed everything.
	for i := 0; i < cap(r.slots); i++ {
		select {
		case r.slots <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	log.Info("full import read", "users", stats.Users, "groups", stats.Groups, "errors", stats.Errors,
		"batches", b.seq, "elapsed", time.Since(start).Round(time.Millisecond))
	return nil
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

// batcher is the ldapsync.Sink that turns entries into ChangeBatches. A
// full ack window blocks it, and with it the LDAP read: backpressure.
type batcher struct {
	ctx   context.Context
	st    *stream
	run   *run
	runID string
	max   int

	seq     uint64
	changes []*idsyncv1.Change
	errs    []*idsyncv1.EntryError
	bytes   int
}

var _ ldapsync.Sink = (*batcher)(nil)

func objectKind(k ldapsync.ObjectKind) idsyncv1.ObjectKind {
	if k == ldapsync.ObjectGroup {
		return idsyncv1.ObjectKind_OBJECT_KIND_GROUP
	}
	return idsyncv1.ObjectKind_OBJECT_KIND_USER
}

// Change adds one entry.
func (b *batcher) Change(ctx context.Context, c ldapsync.Change) error {
	pc := &idsyncv1.Change{Type: idsyncv1.ChangeType_CHANGE_TYPE_UPSERT, Kind: objectKind(c.Kind),
		ExternalId: c.ExternalID, Dn: c.DN, Attributes: make([]*idsyncv1.Attribute, 0, len(c.Attributes))}
	if c.Type == ldapsync.ChangeDelete {
		pc.Type = idsyncv1.ChangeType_CHANGE_TYPE_DELETE
	}
	size := len(c.DN) + len(c.ExternalID)
	for _, at := range c.Attributes {
		pc.Attributes = append(pc.Attributes, &idsyncv1.Attribute{Name: at.Name, Values: at.Values})
		for _, v := range at.Values {
			size += len(v) + 2
		}
	}
	b.changes = append(b.changes, pc)
	b.bytes += size
	if len(b.changes)+len(b.errs) >= b.max || b.bytes >= maxBatchBytes {
		return b.flush(false)
	}
	return nil
}

// EntryError adds one entry that could not be read.
func (b *batcher) EntryError(ctx context.Context, e ldapsync.EntryError) error {
	b.errs = append(b.errs, &idsyncv1.EntryError{Dn: e.DN, ExternalId: e.ExternalID, Kind: objectKind(e.Kind), Message: e.Message})
	if len(b.changes)+len(b.errs) >= b.max {
		return b.flush(false)
	}
	return nil
}

// flush sends the pending batch once the window has room.
func (b *batcher) flush(last bool) error {
	if !last && len(b.changes) == 0 && len(b.errs) == 0 {
		return nil
	}
	select {
	case b.run.slots <- struct{}{}:
	case <-b.ctx.Done():
		return b.ctx.Err()
	}
	b.seq++
	msg := &idsyncv1.ConnectRequest{Msg: &idsyncv1.ConnectRequest_ChangeBatch{ChangeBatch: &idsyncv1.ChangeBatch{
		RunId: b.runID, Sequence: b.seq, Changes: b.changes, Errors: b.errs, Last: last,
	}}}
	b.changes, b.errs, b.bytes = make([]*idsyncv1.Change, 0, b.max), nil, 0
	if err := b.st.send(msg); err != nil {
		return fmt.Errorf("sending batch %d: %w", b.seq, err)
	}
	return nil
}
