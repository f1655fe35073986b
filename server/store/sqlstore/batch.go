package sqlstore

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/idsync/idsync/server/store"
)

// maxRunErrors is how many entry errors a run keeps; more are only counted.
const maxRunErrors = 1000

// objectCols are the columns an upsert writes, in the order objectArgs
// gives them.
var objectCols = []string{
	"id", "directory_id", "kind", "external_id", "dn", "dn_key", "status", "hash",
	"username", "email", "given_name", "family_name", "display_name", "employee_number",
	"department", "title", "manager", "extra", "name", "description", "name_key",
	"created_at", "updated_at", "revision", "captured_at",
	"deprovisioned_at", "feed_pos", "source_status",
}

// heldStatus is the status an upsert leaves an object in: what its source
// says (excluded.status), unless an admin's hold is stronger (deprovisioned,
// then suspended, then active).
const heldStatus = `CASE WHEN objects.hold_status = 'deprovisioned' OR excluded.status = 'deprovisioned' THEN 'deprovisioned'
	WHEN objects.hold_status = 'suspended' OR excluded.status = 'suspended' THEN 'suspended' ELSE excluded.status END`

// objectUpsertHead and objectUpsertTail surround the rows of a multi-row
// upsert of objects: an existing (directory, external id) keeps its id and
// created_at, adds one to its revision, and keeps its captured_at when the
// batch is not capture's. objectUpsertGuarded, the tail of a full run's
// upsert, leaves alone a row captured at or after the time its one
// parameter gives (the run's start): the guard stands in the statement, so
// that it holds against a capture batch that committed after the full
// run's batch read the row. RETURNING names only the rows written. An
// object that stays deprovisioned keeps the time it became so; any other
// status clears it.
var objectUpsertHead, objectUpsertTail, objectUpsertGuarded = objectUpsert()

func objectUpsert() (head, tail, guarded string) {
	var set []string
	for _, c := range objectCols {
		switch c {
		case "id", "directory_id", "external_id", "created_at":
		case "revision":
			set = append(set, "revision = objects.revision + 1")
		case "captured_at":
			set = append(set, "captured_at = COALESCE(excluded.captured_at, objects.captured_at)")
		case "status":
			set = append(set, "status = "+heldStatus)
		case "deprovisioned_at":
			set = append(set, "deprovisioned_at = CASE WHEN ("+heldStatus+") = 'deprovisioned' "+
				"THEN COALESCE(objects.deprovisioned_at, excluded.deprovisioned_at, excluded.updated_at) END")
		default:
			set = append(set, c+" = excluded."+c)
		}
	}
	update := " ON CONFLICT (directory_id, external_id) DO UPDATE SET " + strings.Join(set, ", ")
	const returning = " RETURNING id, external_id"
	return "INSERT INTO objects (" + strings.Join(objectCols, ", ") + ") VALUES ",
		update + returning,
		update + " WHERE objects.captured_at IS NULL OR objects.captured_at < ?" + returning
}

// known is what the store holds of an object a batch names.
type known struct {
	id   string
	kind store.ObjectKind
	hash string
	// status is the object's, source what its directory or source says,
	// hold an admin's hold ("" none).
	status, source, hold store.Status
	dnKey                string
	captured             time.Time // zero: never captured
	revision             int64
}

// effective is the status of an object whose source says src under hold:
// the stronger (deprovisioned, then suspended, then active).
func effective(hold, src store.Status) store.Status {
	for _, s := range []store.Status{store.StatusDeprovisioned, store.StatusSuspended} {
		if hold == s || src == s {
			return s
		}
	}
	return src
}

// batchApply is one ApplyBatch in its transaction.
type batchApply struct {
	tx    runner
	b     *store.Batch
	dirID int64
	// local is set for a batch of a local directory, whose groups may
	// name members by id.
	local bool
	now   time.Time
	// full is set for a full run's batch; started is when its run began.
	full    bool
	started time.Time
	// errored counts the run's entry errors before this batch.
	errored int64
	res     store.BatchResult
	errs    []store.EntryError
	// feed is the batch's position in the change feed, taken (lock: the
	// dialect's LockRow) before its first write.
	feed feedPos
	lock string
	// lifecycle are the batch's user changes, audited with it.
	lifecycle []lifecycle
}

// ApplyBatch applies one batch of a run in one transaction; see
// store.Store. A batch whose sequence is not above the run's last one is
// Duplicate even when the run has ended since, so a redelivery is
// acknowledged; any other batch of a run that is not running is
// store.ErrConflict. Within a batch an external id upserted twice takes its
// last version, and deletes apply after upserts. Membership deltas
// (AddMembers, RemoveMembers) always count as a change of the group.
//
// Present external ids are marked seen and nothing else: they do not count
// in the run's Seen, which counts the objects a batch sends (created,
// updated, unchanged). Unknown ones are ignored.
//
// An incremental run's batch stamps captured_at (now) on the objects it
// writes, finds unchanged or deletes, including objects already
// deprovisioned. A full run's batch neither writes nor deletes an object
// captured at or after the run started: it counts it unchanged and marks
// it seen. Every write of an object (create, update, restore, delete) adds
// one to its revision.
func (s *Store) ApplyBatch(ctx context.Context, b *store.Batch) (store.BatchResult, error) {
	res, err := s.ApplyBatches(ctx, []*store.Batch{b})
	if err != nil {
		return store.BatchResult{}, err
	}
	return res[0], nil
}

// ApplyBatches applies batches in order in one transaction, each as
// ApplyBatch would; see store.Store. One commit for several batches writes
// each page they share once: an import's batches touch the same index
// pages, and the commit, not the statements, was most of a batch's cost.
func (s *Store) ApplyBatches(ctx context.Context, bs []*store.Batch) ([]store.BatchResult, error) {
	var res []store.BatchResult
	analyze := false
	err := s.inTx(ctx, func(tx runner) error {
		res, analyze = make([]store.BatchResult, len(bs)), false
		for i, b := range bs {
			r, created, err := s.applyOne(ctx, tx, b)
			if err != nil {
				return fmt.Errorf("applying batch %d of run %d: %w", b.Sequence, b.RunID, err)
			}
			res[i] = r
			analyze = analyze || grewPast(created, created+int64(r.Created))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if s.d.Analyze != "" && analyze {
		// Best effort, after the commit: a planner that still believes
		// the tables empty picks scans that grow with every batch.
		_, _ = s.w.ExecContext(ctx, s.d.Analyze)
	}
	return res, nil
}

// applyOne applies batch b in tx and returns its result and how many
// objects its run had created before it.
func (s *Store) applyOne(ctx context.Context, tx runner, b *store.Batch) (res store.BatchResult, created int64, err error) {
	a := &batchApply{tx: tx, b: b, now: now(), lock: s.d.LockRow}
	var state store.RunState
	var kind store.RunKind
	var dirKind store.DirectoryKind
	var last int64
	err = tx.row(ctx, `SELECT r.directory_id, r.kind, r.state, r.last_sequence, r.errors, r.created, r.started_at,
		(SELECT d.kind FROM directories d WHERE d.id = r.directory_id)
		FROM runs r WHERE r.id = ?`+s.d.LockRow, b.RunID).
		Scan(&a.dirID, &kind, &state, &last, &a.errored, &created, scanTime{&a.started}, &dirKind)
	if err != nil {
		return res, 0, noRows(err, "run %d", b.RunID)
	}
	a.local = dirKind == store.KindLocal
	a.full = kind == store.RunFull
	switch {
	case b.Sequence <= uint64(last):
		return store.BatchResult{Duplicate: true}, created, nil
	case state != store.RunRunning:
		return res, 0, conflict("run %d is %s", b.RunID, state)
	case b.DirectoryID != 0 && b.DirectoryID != a.dirID:
		return res, 0, fmt.Errorf("batch of directory %d for run %d of directory %d", b.DirectoryID, b.RunID, a.dirID)
	}
	if err := a.apply(ctx, s.d.MaxParams); err != nil {
		return res, 0, err
	}
	res = a.res
	return res, created, bumpActivity(ctx, tx, a.now, store.ActivityChanges, 0, int64(res.Created+res.Updated+res.Deleted))
}

// grewPast reports whether a run that had created before objects and now
// after passed a power of two from 1,024 up: the points at which a first
// import refreshes the planner's statistics (seven times up to 100,000).
func grewPast(before, after int64) bool {
	for n := int64(1024); n <= after; n *= 2 {
		if before < n {
			return true
		}
	}
	return false
}

func (a *batchApply) apply(ctx context.Context, maxParams int) error {
	a.errs = slices.Clone(a.b.Errors)
	upserts := a.dedupe()
	// The feed position is taken before the batch reads the store, as
	// before any row is written or marked seen: a transaction waiting for
	// it holds no object row that the one holding it may need, and on
	// PostgreSQL a sweep (which takes it first) never deprovisions an
	// object between this batch's read of it and its mark.
	if len(upserts) > 0 || len(a.errs) > 0 || len(a.b.Present) > 0 || len(a.b.Deletes) > 0 || len(a.b.Departed) > 0 {
		if err := a.feed.take(ctx, a.tx, a.lock); err != nil {
			return err
		}
	}
	have, err := a.known(ctx, upserts, maxParams)
	if err != nil {
		return err
	}
	for _, o := range upserts {
		if k := have[o.ExternalID]; o.IfRevision != 0 && k.revision != o.IfRevision {
			return conflict("%s %s is at revision %d, not %d: written since it was read", o.Kind, o.ExternalID, k.revision, o.IfRevision)
		}
	}

	// stamp is marked captured: capture found it unchanged.
	var writes []*store.Object
	var stamp []string
	for _, o := range upserts {
		k, ok := have[o.ExternalID]
		switch {
		case !ok:
			a.res.Created++
			writes = append(writes, o)
		case a.capturedSince(k), unchanged(k, o) && a.full:
			a.res.Unchanged++
		case unchanged(k, o):
			a.res.Unchanged++
			stamp = append(stamp, o.ExternalID)
		default:
			a.res.Updated++
			writes = append(writes, o)
		}
	}
	// Every object the batch names that the store holds ends the batch
	// seen by its run: the upserted (written, unchanged or refused by the
	// guard); those of entry errors, so that a sweep does not deprovision
	// an object only because it failed to map; the external ids declared
	// present.
	seen := make([]string, 0, len(upserts)+len(a.errs)+len(a.b.Present))
	for _, o := range upserts {
		seen = append(seen, o.ExternalID)
	}
	for _, e := range a.errs {
		if e.ExternalID != "" {
			seen = append(seen, e.ExternalID)
		}
	}
	for _, ext := range a.b.Present {
		if ext != "" {
			seen = append(seen, ext)
		}
	}
	seen = slices.Compact(slices.Sorted(slices.Values(seen)))

	ids, err := a.writeObjects(ctx, writes, have, maxParams)
	if err != nil {
		return err
	}
	// A full run's upsert that the guard refused (capture wrote the object
	// after this batch read it) leaves the object as it is: unchanged, seen.
	written := writes[:0:0]
	for _, o := range writes {
		if ids[o.ExternalID] != "" {
			written = append(written, o)
			continue
		}
		if _, ok := have[o.ExternalID]; ok {
			a.res.Updated--
		} else {
			a.res.Created--
		}
		a.res.Unchanged++
	}
	a.feed.wrote = a.feed.wrote || len(written) > 0
	for _, o := range written {
		if o.Kind == store.ObjectUser {
			k, had := have[o.ExternalID]
			a.lifecycle = append(a.lifecycle, lifecycle{lifecycleAction(had, k.status, effective(k.hold, status(o))), o.Profile.Username, o.DN})
		}
	}
	if a.b.LinkedMembers {
		if err := a.followRenames(ctx, written, have); err != nil {
			return err
		}
		if err := a.followIdentity(ctx, written, have, maxParams); err != nil {
			return err
		}
	}
	if err := a.writeMembers(ctx, written, ids, maxParams); err != nil {
		return err
	}
	if err := a.markSeen(ctx, seen, have, ids, maxParams); err != nil {
		return err
	}
	if err := a.stamp(ctx, stamp, maxParams); err != nil {
		return err
	}
	if err := a.deletes(ctx, maxParams); err != nil {
		return err
	}
	if err := a.recordErrors(ctx, maxParams); err != nil {
		return err
	}
	if err := auditLifecycle(ctx, a.tx, a.b.RunID, a.b.Actor, a.now, a.lifecycle); err != nil {
		return err
	}
	for _, e := range a.b.Audit {
		ev := *e
		ev.Actor, ev.At = cmp.Or(ev.Actor, a.b.Actor), cmpTime(ev.At, a.now)
		if _, err := a.tx.exec(ctx, auditInsert, auditArgs(a.tx, &ev)...); err != nil {
			return fmt.Errorf("auditing the batch: %w", err)
		}
	}
	return a.finish(ctx)
}

// dedupe returns the upserts with one object per external id (the last),
// sorted by external id so that concurrent writers lock rows in one order.
// An upsert without an external id becomes an entry error.
func (a *batchApply) dedupe() []*store.Object {
	last := make(map[string]*store.Object, len(a.b.Upserts))
	for _, o := range a.b.Upserts {
		if o.ExternalID == "" {
			a.errs = append(a.errs, store.EntryError{DN: o.DN, Kind: o.Kind, Message: "object has no external id"})
			continue
		}
		if prev, ok := last[o.ExternalID]; ok {
			o = foldMembers(prev, o)
		}
		last[o.ExternalID] = o
	}
	out := slices.Collect(maps.Values(last))
	slices.SortFunc(out, func(x, y *store.Object) int { return strings.Compare(x.ExternalID, y.ExternalID) })
	return out
}

// foldMembers returns next, a later version of prev in the same batch,
// with prev's membership folded in when next carries only deltas: two
// DirSync rounds that change one group can share a batch, and the first
// round's deltas must not be lost to the second's. Deltas fold in order —
// a later addition cancels an earlier removal of the same member and a
// later removal an earlier addition, matched by key or external id — and
// deltas after a complete set edit that set.
func foldMembers(prev, next *store.Object) *store.Object {
	if next.Kind != store.ObjectGroup || next.MembersComplete || prev.Kind != store.ObjectGroup {
		return next
	}
	same := func(a, b store.MemberRef) bool {
		return a.Key == b.Key || (a.ExternalID != "" && strings.EqualFold(a.ExternalID, b.ExternalID))
	}
	without := func(refs, drop []store.MemberRef) []store.MemberRef {
		return slices.DeleteFunc(slices.Clone(refs), func(m store.MemberRef) bool {
			return slices.ContainsFunc(drop, func(d store.MemberRef) bool { return same(m, d) })
		})
	}
	out := *next
	if prev.MembersComplete {
		out.Members = append(without(prev.Members, slices.Concat(next.RemoveMembers, next.AddMembers)), without(next.AddMembers, next.RemoveMembers)...)
		out.MembersComplete, out.AddMembers, out.RemoveMembers = true, nil, nil
		// next's hash does not cover the members; the folded one's must,
		// or a stored group of that hash would count unchanged.
		h := sha256.New()
		h.Write([]byte(next.Hash))
		for _, m := range out.Members {
			fmt.Fprintf(h, "\x00%s\x00%s\x00%s", m.Key, m.Value, m.ExternalID)
		}
		out.Hash = hex.EncodeToString(h.Sum(nil)[:16])
		return &out
	}
	out.AddMembers = append(without(prev.AddMembers, slices.Concat(next.RemoveMembers, next.AddMembers)), next.AddMembers...)
	out.RemoveMembers = append(without(prev.RemoveMembers, slices.Concat(next.AddMembers, next.RemoveMembers)), next.RemoveMembers...)
	return &out
}

// known reads, in one query per chunk, what the store holds of the
// objects the batch upserts or reports errors for.
func (a *batchApply) known(ctx context.Context, upserts []*store.Object, maxParams int) (map[string]known, error) {
	ext := make([]string, 0, len(upserts)+len(a.errs))
	for _, o := range upserts {
		ext = append(ext, o.ExternalID)
	}
	for _, e := range a.errs {
		if e.ExternalID != "" {
			ext = append(ext, e.ExternalID)
		}
	}
	have := make(map[string]known, len(ext))
	const cols = `external_id, id, kind, hash, status, source_status, hold_status, dn_key, captured_at, revision`
	head, args := `SELECT `+cols+` FROM objects WHERE directory_id = ? AND external_id IN (`, []any{a.dirID}
	tail := `)`
	err := chunks(ext, maxParams-len(args), func(part []string) error {
		rows, err := a.tx.query(ctx, head+marks(len(part))+tail, append(slices.Clip(args), anys(part)...)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var e string
			var k known
			if err := rows.Scan(&e, &k.id, &k.kind, &k.hash, &k.status, &k.source, &k.hold, &k.dnKey, scanTime{&k.captured}, &k.revision); err != nil {
				return err
			}
			if k.source == "" {
				k.source = k.status
			}
			have[e] = k
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("reading the batch's objects: %w", err)
	}
	return have, nil
}

// unchanged reports whether o is what the store holds: same kind, hash and
// status as its source said last (so a deprovisioned object reappearing is
// restored, and a held one is not rewritten for its hold), and no
// membership deltas to apply.
func unchanged(k known, o *store.Object) bool {
	return k.kind == o.Kind && k.hash == o.Hash && k.source == status(o) &&
		len(o.AddMembers) == 0 && len(o.RemoveMembers) == 0
}

// capturedSince reports whether k is an object that change capture wrote,
// deleted or confirmed at or after the full run of this batch started: the
// run's snapshot of it may be older.
func (a *batchApply) capturedSince(k known) bool {
	return a.full && !k.captured.IsZero() && !k.captured.Before(a.started)
}

func status(o *store.Object) store.Status {
	if o.Status == "" {
		return store.StatusActive
	}
	return o.Status
}

// writeObjects upserts the new and changed objects and returns the id of
// each it wrote by external id; a full run's guard may refuse some.
func (a *batchApply) writeObjects(ctx context.Context, writes []*store.Object, have map[string]known, maxParams int) (map[string]string, error) {
	ids := make(map[string]string, len(writes))
	err := chunks(writes, (maxParams-1)/len(objectCols), func(part []*store.Object) error {
		args := make([]any, 0, len(part)*len(objectCols)+1)
		for _, o := range part {
			row, err := a.objectArgs(o, have)
			if err != nil {
				return err
			}
			args = append(args, row...)
		}
		tail := objectUpsertTail
		if a.full {
			tail = objectUpsertGuarded
			args = append(args, a.tx.t(a.started))
		}
		rows, err := a.tx.query(ctx, objectUpsertHead+rowMarks(len(part), len(objectCols))+tail, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id, ext string
			if err := rows.Scan(&id, &ext); err != nil {
				return err
			}
			ids[ext] = id
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("writing objects: %w", err)
	}
	return ids, nil
}

// objectArgs returns the values of objectCols for o.
func (a *batchApply) objectArgs(o *store.Object, have map[string]known) ([]any, error) {
	id := have[o.ExternalID].id
	if id == "" {
		u, err := uuid.NewV7()
		if err != nil {
			return nil, fmt.Errorf("making an id for %s: %w", o.ExternalID, err)
		}
		id = u.String()
	}
	p := &o.Profile
	var nameKey string
	if o.Kind == store.ObjectUser {
		nameKey = strings.ToLower(p.Username)
	} else {
		nameKey = strings.ToLower(o.Name)
	}
	extra, err := jsonArg(p.Extra, len(p.Extra) == 0)
	if err != nil {
		return nil, fmt.Errorf("encoding the extra attributes of %s: %w", o.DN, err)
	}
	t := a.tx.t(a.now)
	var deprovisioned any
	if status(o) == store.StatusDeprovisioned {
		deprovisioned = t
	}
	return []any{
		id, a.dirID, string(o.Kind), o.ExternalID, o.DN, o.DNKey, string(status(o)), o.Hash,
		p.Username, p.Email, p.GivenName, p.FamilyName, p.DisplayName, p.EmployeeNumber,
		p.Department, p.Title, p.Manager, extra, o.Name, o.Description, nameKey,
		t, t, 1, a.captured(), deprovisioned, a.feed.pos, string(status(o)),
	}, nil
}

// followRenames rewrites, in the directory's groups, the member rows that
// named a written object by its old DN to name it by its new one. It runs
// before the batch's own member rows, whose values already name the new
// DN. Groups that list both keep one row.
func (a *batchApply) followRenames(ctx context.Context, written []*store.Object, have map[string]known) error {
	for _, o := range written {
		k, ok := have[o.ExternalID]
		if !ok || k.dnKey == "" || k.dnKey == o.DNKey || o.DNKey == "" {
			continue
		}
		oldKey, newKey := "dn:"+k.dnKey, "dn:"+o.DNKey
		if _, err := a.tx.exec(ctx, `DELETE FROM memberships WHERE member_key = ?
			AND group_id IN (SELECT group_id FROM memberships WHERE member_key = ?)
			AND group_id IN (SELECT id FROM objects WHERE directory_id = ?)`, oldKey, newKey, a.dirID); err != nil {
			return fmt.Errorf("renaming %s in its groups: %w", o.DN, err)
		}
		if _, err := a.tx.exec(ctx, `UPDATE memberships SET member_key = ?, member_value = ? WHERE member_key = ?
			AND group_id IN (SELECT id FROM objects WHERE directory_id = ?)`, newKey, o.DN, oldKey, a.dirID); err != nil {
			return fmt.Errorf("renaming %s in its groups: %w", o.DN, err)
		}
	}
	return nil
}

// followIdentity rekeys the member rows that carry the identity of a
// written object, new or renamed, by its DN: rows keyed by a DN the hub
// never knew it by (a whole membership read while it was between two
// renames, or before it arrived). Groups that list both keep one row.
func (a *batchApply) followIdentity(ctx context.Context, written []*store.Object, have map[string]known, maxParams int) error {
	var ext []string
	for _, o := range written {
		if k, ok := have[o.ExternalID]; !ok || k.dnKey != o.DNKey {
			ext = append(ext, o.ExternalID)
		}
	}
	return chunks(ext, maxParams-3, func(part []string) error {
		if _, err := a.tx.exec(ctx, `DELETE FROM memberships WHERE member_ext IN (`+marks(len(part))+`)
			AND EXISTS (SELECT 1 FROM objects o, memberships m2 WHERE o.directory_id = ?
				AND o.external_id = memberships.member_ext AND m2.group_id = memberships.group_id
				AND m2.member_key = 'dn:' || o.dn_key AND m2.member_key <> memberships.member_key)`,
			append(anys(part), a.dirID)...); err != nil {
			return fmt.Errorf("rekeying members by identity: %w", err)
		}
		_, err := a.tx.exec(ctx, `UPDATE memberships SET
			member_key = (SELECT 'dn:' || o.dn_key FROM objects o WHERE o.directory_id = ? AND o.external_id = memberships.member_ext),
			member_value = (SELECT o.dn FROM objects o WHERE o.directory_id = ? AND o.external_id = memberships.member_ext)
			WHERE member_ext IN (`+marks(len(part))+`)
			AND member_key <> (SELECT 'dn:' || o.dn_key FROM objects o WHERE o.directory_id = ? AND o.external_id = memberships.member_ext)`,
			append(append([]any{a.dirID, a.dirID}, anys(part)...), a.dirID)...)
		if err != nil {
			return fmt.Errorf("rekeying members by identity: %w", err)
		}
		return nil
	})
}

// memberRow is one row of memberships.
type memberRow struct{ group, key, value, ext string }

// writeMembers brings the member rows of the written groups in line: a
// complete member set replaces the stored one by difference (a group of
// 5,000 gaining one member writes one row); deltas add and remove keys.
func (a *batchApply) writeMembers(ctx context.Context, writes []*store.Object, ids map[string]string, maxParams int) error {
	var complete []*store.Object
	var put []memberRow
	del := map[string][]string{}    // keys to remove by group id
	delExt := map[string][]string{} // external ids of members to remove, by group id
	known, err := a.knownMembers(ctx, writes, maxParams)
	if err != nil {
		return err
	}
	for _, o := range writes {
		if o.Kind != store.ObjectGroup {
			continue
		}
		if err := a.idKeysAllowed(o); err != nil {
			return err
		}
		gid := ids[o.ExternalID]
		if o.MembersComplete {
			complete = append(complete, o)
			continue
		}
		// Adds first, then removes: a key in both ends up removed.
		add := make(map[string]store.MemberRef, len(o.AddMembers))
		for _, m := range o.AddMembers {
			m = known.key(m)
			if m.Key != "" {
				add[m.Key] = m
			}
		}
		for _, m := range o.RemoveMembers {
			delete(add, m.Key)
			del[gid] = append(del[gid], m.Key)
			if m.ExternalID != "" {
				delExt[gid] = append(delExt[gid], m.ExternalID)
			}
		}
		for _, k := range slices.Sorted(maps.Keys(add)) {
			put = append(put, memberRow{gid, k, add[k].Value, add[k].ExternalID})
		}
	}
	current, err := a.members(ctx, complete, ids, maxParams)
	if err != nil {
		return err
	}
	for _, o := range complete {
		gid := ids[o.ExternalID]
		want := make(map[string]store.MemberRef, len(o.Members))
		for _, m := range o.Members {
			m = known.key(m)
			if m.Key != "" {
				want[m.Key] = m
			}
		}
		have := current[gid]
		for _, k := range slices.Sorted(maps.Keys(want)) {
			if v, ok := have[k]; !ok || v != want[k].Value || want[k].ExternalID != "" {
				put = append(put, memberRow{gid, k, want[k].Value, want[k].ExternalID})
			}
		}
		for _, k := range slices.Sorted(maps.Keys(have)) {
			if _, ok := want[k]; !ok {
				del[gid] = append(del[gid], k)
			}
		}
	}
	for _, gid := range slices.Sorted(maps.Keys(del)) {
		if err := chunks(del[gid], maxParams-1, func(part []string) error {
			_, err := a.tx.exec(ctx, `DELETE FROM memberships WHERE group_id = ? AND member_key IN (`+marks(len(part))+`)`,
				append([]any{gid}, anys(part)...)...)
			return err
		}); err != nil {
			return fmt.Errorf("removing members of group %s: %w", gid, err)
		}
	}
	for _, gid := range slices.Sorted(maps.Keys(delExt)) {
		if err := chunks(delExt[gid], maxParams-2, func(part []string) error {
			_, err := a.tx.exec(ctx, `DELETE FROM memberships WHERE group_id = ? AND (member_key IN
				(SELECT 'dn:' || dn_key FROM objects WHERE directory_id = ? AND external_id IN (`+marks(len(part))+`))
				OR member_ext IN (`+marks(len(part))+`))`,
				append(append([]any{gid, a.dirID}, anys(part)...), anys(part)...)...)
			return err
		}); err != nil {
			return fmt.Errorf("removing members of group %s by external id: %w", gid, err)
		}
	}
	if err := chunks(put, maxParams/4, func(part []memberRow) error {
		args := make([]any, 0, 4*len(part))
		for _, m := range part {
			args = append(args, m.group, m.key, m.value, m.ext)
		}
		// A key added again with the value and identity it has is not
		// rewritten; a value without identity leaves the one known.
		_, err := a.tx.exec(ctx, `INSERT INTO memberships (group_id, member_key, member_value, member_ext) VALUES `+
			rowMarks(len(part), 4)+` ON CONFLICT (group_id, member_key) DO UPDATE SET member_value = excluded.member_value,
			member_ext = CASE WHEN excluded.member_ext <> '' THEN excluded.member_ext ELSE memberships.member_ext END
			WHERE memberships.member_value <> excluded.member_value
				OR (excluded.member_ext <> '' AND memberships.member_ext <> excluded.member_ext)`,
			args...)
		return err
	}); err != nil {
		return fmt.Errorf("adding group members: %w", err)
	}
	return nil
}

// idKeysAllowed refuses a group that names a member by id in a directory
// that is not local (a directory's groups list what the directory says),
// and a local group that names one otherwise (the hub knows its members
// by id): so every nesting chain down is id steps, then DN steps
// (nestDownQuery).
func (a *batchApply) idKeysAllowed(o *store.Object) error {
	for _, m := range slices.Concat(o.Members, o.AddMembers) {
		switch byID := strings.HasPrefix(m.Key, store.MemberKeyID); {
		case byID && !a.local:
			return fmt.Errorf("group %s names member %s by id: only a local directory's groups do", o.ExternalID, m.Key)
		case !byID && a.local:
			return fmt.Errorf("local group %s names member %s: a local group names its members by id", o.ExternalID, m.Key)
		}
	}
	return nil
}

// memberObject is the DN the hub knows a member object by.
type memberObject struct{ dn, dnKey string }

// knownObjects are the member objects a batch names by external id.
type knownObjects map[string]memberObject

// key returns m keyed by the DN the hub knows its object by, when m names
// an object by external id and the hub knows it: a value naming an older
// DN (Samba's DirSync) would not resolve, and a newer one is rewritten
// when the member's own rename arrives.
func (k knownObjects) key(m store.MemberRef) store.MemberRef {
	if o, ok := k[m.ExternalID]; ok && m.ExternalID != "" {
		m.Key, m.Value = "dn:"+o.dnKey, o.dn
	}
	return m
}

// knownMembers reads the DNs of the objects that the written groups'
// members and member additions name by external id.
func (a *batchApply) knownMembers(ctx context.Context, writes []*store.Object, maxParams int) (knownObjects, error) {
	var ext []string
	for _, o := range writes {
		for _, m := range slices.Concat(o.AddMembers, o.Members) {
			if m.ExternalID != "" {
				ext = append(ext, m.ExternalID)
			}
		}
	}
	out := make(knownObjects, len(ext))
	err := chunks(ext, maxParams-1, func(part []string) error {
		rows, err := a.tx.query(ctx, `SELECT external_id, dn, dn_key FROM objects
			WHERE directory_id = ? AND external_id IN (`+marks(len(part))+`)`, append([]any{a.dirID}, anys(part)...)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var e string
			var m memberObject
			if err := rows.Scan(&e, &m.dn, &m.dnKey); err != nil {
				return err
			}
			out[e] = m
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("reading the members named by external id: %w", err)
	}
	return out, nil
}

// members reads the stored member rows of groups, by group id and key.
func (a *batchApply) members(ctx context.Context, groups []*store.Object, ids map[string]string, maxParams int) (map[string]map[string]string, error) {
	gids := make([]string, 0, len(groups))
	for _, o := range groups {
		gids = append(gids, ids[o.ExternalID])
	}
	out := make(map[string]map[string]string, len(gids))
	err := chunks(gids, maxParams, func(part []string) error {
		rows, err := a.tx.query(ctx, `SELECT group_id, member_key, member_value FROM memberships
			WHERE group_id IN (`+marks(len(part))+`)`, anys(part)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var m memberRow
			if err := rows.Scan(&m.group, &m.key, &m.value); err != nil {
				return err
			}
			if out[m.group] == nil {
				out[m.group] = map[string]string{}
			}
			out[m.group][m.key] = m.value
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("reading group members: %w", err)
	}
	return out, nil
}

// captured is the captured_at an upsert or delete of this batch sets:
// now for change capture, NULL (keep) for a full run.
func (a *batchApply) captured() any {
	if a.full {
		return nil
	}
	return a.tx.t(a.now)
}

// markSeen marks the objects of the directory with these external ids
// (sorted) seen by the batch's run, now; unknown ones are ignored. One the
// batch created (in written, not in have) needs no mark: a sweep counts an
// object created since its run started as seen. The others are marked by
// their id, in id order (an import's order), those the batch did not read
// (present ids) through their external id.
func (a *batchApply) markSeen(ctx context.Context, ext []string, have map[string]known, written map[string]string, maxParams int) error {
	var ids, other []string
	for _, e := range ext {
		if k, ok := have[e]; ok {
			ids = append(ids, k.id)
		} else if written[e] == "" {
			other = append(other, e)
		}
	}
	slices.Sort(ids)
	run, at := a.b.RunID, a.tx.t(a.now)
	err := chunks(ids, maxParams/3, func(part []string) error {
		args := make([]any, 0, 3*len(part))
		for _, id := range part {
			args = append(args, id, run, at)
		}
		_, err := a.tx.exec(ctx, `INSERT INTO object_seen (object_id, run_id, at) VALUES `+rowMarks(len(part), 3)+`
			ON CONFLICT (object_id) DO UPDATE SET run_id = excluded.run_id, at = excluded.at`, args...)
		return err
	})
	if err == nil {
		args := []any{run, at, a.dirID}
		err = chunks(other, maxParams-len(args), func(part []string) error {
			_, err := a.tx.exec(ctx, `INSERT INTO object_seen (object_id, run_id, at)
				SELECT id, ?, ? FROM objects WHERE directory_id = ? AND external_id IN (`+marks(len(part))+`)
				ON CONFLICT (object_id) DO UPDATE SET run_id = excluded.run_id, at = excluded.at`,
				append(slices.Clip(args), anys(part)...)...)
			return err
		})
	}
	if err != nil {
		return fmt.Errorf("marking objects seen: %w", err)
	}
	return nil
}

// stamp marks the objects with these external ids (in the order dedupe
// sorted the upserts in) captured now, without rewriting them otherwise.
func (a *batchApply) stamp(ctx context.Context, ext []string, maxParams int) error {
	args := []any{a.tx.t(a.now), a.dirID}
	err := chunks(ext, maxParams-len(args), func(part []string) error {
		_, err := a.tx.exec(ctx, `UPDATE objects SET captured_at = ? WHERE directory_id = ? AND external_id IN (`+
			marks(len(part))+`)`, append(slices.Clip(args), anys(part)...)...)
		return err
	})
	if err != nil {
		return fmt.Errorf("marking objects captured: %w", err)
	}
	return nil
}

// deletes deprovisions the objects the directory reports gone or departed
// from its scope. Capture's deletes stamp captured_at, also on objects
// already deprovisioned (so that a full run that read them before they
// went does not restore them); a full run's deletes leave objects captured
// since it started alone. Only the deleted leave their groups: a departed
// object keeps its member rows, as the directory keeps its links.
func (a *batchApply) deletes(ctx context.Context, maxParams int) error {
	deleted := slices.Compact(slices.Sorted(slices.Values(a.b.Deletes)))
	if a.b.LinkedMembers {
		if err := a.unlinkDeleted(ctx, deleted); err != nil {
			return err
		}
	}
	ext := slices.Compact(slices.Sorted(slices.Values(slices.Concat(a.b.Deletes, a.b.Departed))))
	deprovisioned := string(store.StatusDeprovisioned)
	err := chunks(ext, maxParams-8, func(part []string) error {
		if !a.full {
			_, err := a.tx.exec(ctx, `UPDATE objects SET captured_at = ?
				WHERE directory_id = ? AND status = ? AND external_id IN (`+marks(len(part))+`)`,
				append([]any{a.tx.t(a.now), a.dirID, deprovisioned}, anys(part)...)...)
			if err != nil {
				return err
			}
		}
		// A held object (deprovisioned already) takes its source's delete
		// too, so that lifting the hold leaves it deprovisioned.
		if _, err := a.tx.exec(ctx, `UPDATE objects SET source_status = ?
			WHERE directory_id = ? AND status = ? AND source_status <> ? AND external_id IN (`+marks(len(part))+`)`,
			append([]any{deprovisioned, a.dirID, deprovisioned, deprovisioned}, anys(part)...)...); err != nil {
			return err
		}
		q := `UPDATE objects SET status = ?, source_status = ?, updated_at = ?, revision = revision + 1,
			captured_at = COALESCE(?, captured_at), deprovisioned_at = ?, feed_pos = ?
			WHERE directory_id = ? AND status <> ?`
		args := []any{deprovisioned, deprovisioned, a.tx.t(a.now), a.captured(), a.tx.t(a.now), a.feed.pos, a.dirID, deprovisioned}
		if a.full {
			q, args = q+` AND (captured_at IS NULL OR captured_at < ?)`, append(args, a.tx.t(a.started))
		}
		rows, err := a.tx.query(ctx, q+` AND external_id IN (`+marks(len(part))+`) RETURNING kind, COALESCE(username, ''), dn`,
			append(args, anys(part)...)...)
		if err != nil {
			return err
		}
		evs, n, err := deprovisionedUsers(rows)
		a.lifecycle = append(a.lifecycle, evs...)
		a.res.Deleted += int(n)
		a.feed.wrote = a.feed.wrote || n > 0
		return err
	})
	if err != nil {
		return fmt.Errorf("deprovisioning deleted objects: %w", err)
	}
	return nil
}

// unlinkDeleted removes deleted objects from the groups of their
// directory, by the DN the hub knows each by — unless a live object of the
// directory now has that DN (created there since), whose membership it is.
// The groups it changes are marked for a rewrite: their stored hash covers
// the member values they had when read, which are not their rows now, so
// the next read of such a group writes it whole instead of counting it
// unchanged.
func (a *batchApply) unlinkDeleted(ctx context.Context, ext []string) error {
	for _, e := range ext {
		// The groups it leaves, by the rows that carry its identity
		// (whatever DN they name: the hub may never have known the object)
		// and by the DN the hub knows it by.
		dirty := `SELECT group_id FROM memberships WHERE group_id IN (SELECT id FROM objects WHERE directory_id = ?) AND (member_ext = ?
			OR member_key IN (SELECT 'dn:' || d.dn_key FROM objects d WHERE d.directory_id = ? AND d.external_id = ? AND d.dn_key <> ''
				AND NOT EXISTS (SELECT 1 FROM objects o WHERE o.directory_id = d.directory_id AND o.dn_key = d.dn_key
					AND o.id <> d.id AND o.status <> 'deprovisioned')))`
		args := []any{a.dirID, e, a.dirID, e}
		if _, err := a.tx.exec(ctx, `UPDATE objects SET hash = ? WHERE id IN (`+dirty+`)`,
			append([]any{unlinkedHash}, args...)...); err != nil {
			return fmt.Errorf("marking the groups of deleted object %s: %w", e, err)
		}
		if _, err := a.tx.exec(ctx, `DELETE FROM memberships WHERE (group_id, member_key) IN (
				SELECT group_id, member_key FROM memberships WHERE group_id IN (SELECT id FROM objects WHERE directory_id = ?) AND (member_ext = ?
				OR member_key IN (SELECT 'dn:' || d.dn_key FROM objects d WHERE d.directory_id = ? AND d.external_id = ? AND d.dn_key <> ''
					AND NOT EXISTS (SELECT 1 FROM objects o WHERE o.directory_id = d.directory_id AND o.dn_key = d.dn_key
						AND o.id <> d.id AND o.status <> 'deprovisioned'))))`, args...); err != nil {
			return fmt.Errorf("removing deleted object %s from its groups: %w", e, err)
		}
	}
	return nil
}

// unlinkedHash is the stored hash of a group the hub changed the rows of
// outside a read of it: no content hashes to it, so the next read rewrites
// the group.
const unlinkedHash = "unlinked"

// recordErrors stores the batch's entry errors while the run keeps fewer
// than maxRunErrors.
func (a *batchApply) recordErrors(ctx context.Context, maxParams int) error {
	a.res.Errs = len(a.errs)
	keep := a.errs[:min(len(a.errs), max(0, maxRunErrors-int(a.errored)))]
	err := chunks(keep, maxParams/5, func(part []store.EntryError) error {
		args := make([]any, 0, 5*len(part))
		for _, e := range part {
			args = append(args, a.b.RunID, e.DN, e.ExternalID, string(e.Kind), e.Message)
		}
		_, err := a.tx.exec(ctx, `INSERT INTO run_errors (run_id, dn, external_id, kind, message) VALUES `+
			rowMarks(len(part), 5), args...)
		return err
	})
	if err != nil {
		return fmt.Errorf("recording entry errors: %w", err)
	}
	return nil
}

// finish adds the batch to the run's counters, records its sequence,
// stores the checkpoint and the feed position its writes took.
func (a *batchApply) finish(ctx context.Context) error {
	if err := a.feed.commit(ctx, a.tx); err != nil {
		return err
	}
	r := &a.res
	_, err := a.tx.exec(ctx, `UPDATE runs SET seen = seen + ?, created = created + ?, updated = updated + ?,
		unchanged = unchanged + ?, deprovisioned = deprovisioned + ?, errors = errors + ?, last_sequence = ?
		WHERE id = ?`,
		r.Created+r.Updated+r.Unchanged, r.Created, r.Updated, r.Unchanged, r.Deleted, r.Errs,
		int64(a.b.Sequence), a.b.RunID)
	if err != nil {
		return fmt.Errorf("counting the batch: %w", err)
	}
	if a.b.Checkpoint == nil {
		return nil
	}
	return putCheckpoint(ctx, a.tx, a.dirID, a.b.Checkpoint, a.now)
}
