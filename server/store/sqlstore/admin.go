package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/idsync/idsync/server/store"
)

const adminTokenCols = `id, name, role, hash, scope_groups, scope_apps, created_at, revoked_at, last_used_at`

func scanAdminToken(sc scanner) (*store.AdminToken, error) {
	t := &store.AdminToken{}
	err := sc.Scan(&t.ID, &t.Name, &t.Role, &t.Hash, scanJSON{&t.Groups, "groups"}, scanJSON{&t.Apps, "apps"},
		scanTime{&t.CreatedAt}, scanTime{&t.RevokedAt}, scanTime{&t.LastUsedAt})
	return t, err
}

// CreateAdminToken stores an admin token by the hash of its secret; it sets
// t.ID (a new UUID) and t.CreatedAt (now) when they are empty. A taken id
// or hash, or the name of a live token, is store.ErrConflict.
func (s *Store) CreateAdminToken(ctx context.Context, t *store.AdminToken) error {
	if t.ID == "" {
		u, err := uuid.NewV7()
		if err != nil {
			return fmt.Errorf("making an admin token id: %w", err)
		}
		t.ID = u.String()
	}
	if t.CreatedAt.IsZero() {
		t.CreatedAt = now()
	}
	groups, err := jsonArg(t.Groups, len(t.Groups) == 0)
	if err != nil {
		return err
	}
	apps, err := jsonArg(t.Apps, len(t.Apps) == 0)
	if err != nil {
		return err
	}
	_, err = s.wr.exec(ctx, `INSERT INTO admin_tokens (`+adminTokenCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		t.ID, t.Name, t.Role, t.Hash, groups, apps, s.wr.t(t.CreatedAt), s.wr.t(t.RevokedAt), s.wr.t(t.LastUsedAt))
	if err != nil {
		return s.uniqueConflict(err, "creating admin token %q", t.Name)
	}
	return nil
}

// AdminTokenByHash returns the token with this hash, revoked or not, or
// store.ErrNotFound.
func (s *Store) AdminTokenByHash(ctx context.Context, hash []byte) (*store.AdminToken, error) {
	t, err := scanAdminToken(s.rd.row(ctx, `SELECT `+adminTokenCols+` FROM admin_tokens WHERE hash = ?`, hash))
	if err != nil {
		return nil, noRows(err, "admin token")
	}
	return t, nil
}

// ListAdminTokens returns every admin token, oldest first.
func (s *Store) ListAdminTokens(ctx context.Context) ([]*store.AdminToken, error) {
	rows, err := s.rd.query(ctx, `SELECT `+adminTokenCols+` FROM admin_tokens ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("listing admin tokens: %w", err)
	}
	return collect(rows, scanAdminToken, "listing admin tokens")
}

// RevokeAdminToken revokes the token whose id is ref, or the live one
// whose name is ref, and returns it. A revoked token keeps its first
// revocation time.
func (s *Store) RevokeAdminToken(ctx context.Context, ref string, at time.Time) (*store.AdminToken, error) {
	var t *store.AdminToken
	err := s.inTx(ctx, func(tx runner) error {
		var err error
		t, err = scanAdminToken(tx.row(ctx, `SELECT `+adminTokenCols+` FROM admin_tokens
			WHERE id = ? OR (name = ? AND revoked_at IS NULL) ORDER BY created_at DESC LIMIT 1`, ref, ref))
		if err != nil {
			return noRows(err, "admin token %q", ref)
		}
		if !t.RevokedAt.IsZero() {
			return nil
		}
		t.RevokedAt = at
		_, err = tx.exec(ctx, `UPDATE admin_tokens SET revoked_at = ? WHERE id = ?`, tx.t(at), t.ID)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("revoking admin token %q: %w", ref, err)
	}
	return t, nil
}

// AdminTokenUsed records the token's last use, at most once a minute.
func (s *Store) AdminTokenUsed(ctx context.Context, id string, at time.Time) error {
	_, err := s.wr.exec(ctx, `UPDATE admin_tokens SET last_used_at = ? WHERE id = ?
		AND (last_used_at IS NULL OR last_used_at < ?)`, s.wr.t(at), id, s.wr.t(at.Add(-time.Minute)))
	if err != nil {
		return fmt.Errorf("recording the use of admin token %s: %w", id, err)
	}
	return nil
}

const auditCols = `id, at, actor, action, target, outcome, detail`

// AppendAudit appends events in one statement per chunk; their IDs are set
// in order.
func (s *Store) AppendAudit(ctx context.Context, events ...*store.AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	return s.inTx(ctx, func(tx runner) error { return appendAudit(ctx, tx, events) })
}

// appendAudit writes events within tx, so that an event can commit with
// the change it records.
func appendAudit(ctx context.Context, tx runner, events []*store.AuditEvent) error {
	t := now()
	for _, e := range events {
		if e.At.IsZero() {
			e.At = t
		}
		if e.Outcome == "" {
			e.Outcome = store.AuditOK
		}
		err := tx.row(ctx, auditInsert+` RETURNING id`, auditArgs(tx, e)...).Scan(&e.ID)
		if err != nil {
			return fmt.Errorf("appending audit event %s: %w", e.Action, err)
		}
		if k := activityOf(e.Action); k != "" {
			if err := bumpActivity(ctx, tx, e.At, k, e.AppID, 1); err != nil {
				return err
			}
		}
	}
	return nil
}

// ListAudit returns the events f selects, oldest first.
func (s *Store) ListAudit(ctx context.Context, f store.AuditFilter) ([]*store.AuditEvent, error) {
	var where []string
	var args []any
	add := func(cond string, arg any) { where = append(where, cond); args = append(args, arg) }
	if !f.Since.IsZero() {
		add("at >= ?", s.rd.t(f.Since))
	}
	if !f.Until.IsZero() {
		add("at < ?", s.rd.t(f.Until))
	}
	if f.AfterID > 0 {
		add("id > ?", f.AfterID)
	}
	if f.BeforeID > 0 {
		add("id < ?", f.BeforeID)
	}
	prefix := func(col, v string) {
		add(col+" LIKE ? ESCAPE '\\'", likeEscape(v)+"%")
	}
	switch {
	case f.Actor == "":
	case strings.HasSuffix(f.Actor, ":"):
		prefix("actor", f.Actor)
	default:
		add("actor = ?", f.Actor)
	}
	if f.Action != "" {
		prefix("action", f.Action)
	}
	if f.Target != "" {
		prefix("target", f.Target)
	}
	if f.Outcome != "" {
		add("outcome = ?", f.Outcome)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 1000
	}
	q := `SELECT ` + auditCols + ` FROM audit_events`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	order := "id"
	if f.Newest {
		order = "id DESC"
	}
	rows, err := s.rd.query(ctx, q+fmt.Sprintf(` ORDER BY %s LIMIT %d`, order, limit), args...)
	if err != nil {
		return nil, fmt.Errorf("listing audit events: %w", err)
	}
	return collect(rows, func(sc scanner) (*store.AuditEvent, error) {
		e := &store.AuditEvent{}
		err := sc.Scan(&e.ID, scanTime{&e.At}, &e.Actor, &e.Action, &e.Target, &e.Outcome, &e.Detail)
		return e, err
	}, "listing audit events")
}

// likeEscape escapes LIKE's wildcards in v.
func likeEscape(v string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(v)
}

// PruneAudit deletes the events older than before.
func (s *Store) PruneAudit(ctx context.Context, before time.Time) (int64, error) {
	n, err := s.wr.execN(ctx, `DELETE FROM audit_events WHERE at < ?`, s.wr.t(before))
	if err != nil {
		return 0, fmt.Errorf("pruning audit events: %w", err)
	}
	return n, nil
}

// UserStatusCounts counts users by directory and status.
func (s *Store) UserStatusCounts(ctx context.Context) ([]store.StatusCount, error) {
	dirs, err := s.ListDirectories(ctx)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(dirs, func(a, b *store.Directory) int { return strings.Compare(a.Name, b.Name) })
	var out []store.StatusCount
	for _, d := range dirs {
		// One directory at a time: each count reads the index on
		// (directory_id, kind, status) alone, in its order.
		rows, err := s.rd.query(ctx, `SELECT status, COUNT(*) FROM objects WHERE directory_id = ? AND kind = ?
			GROUP BY status ORDER BY status`, d.ID, string(store.ObjectUser))
		if err != nil {
			return nil, fmt.Errorf("counting users by status: %w", err)
		}
		counts, err := collect(rows, func(sc scanner) (store.StatusCount, error) {
			c := store.StatusCount{Directory: d.Name}
			err := sc.Scan(&c.Status, &c.Count)
			return c, err
		}, "counting users by status")
		if err != nil {
			return nil, err
		}
		out = append(out, counts...)
	}
	return out, nil
}

// lifecycle is a change of a user's state, for the audit trail.
type lifecycle struct{ action, username, dn string }

// lifecycleAction names what an upsert did to a user: created,
// suspended, deprovisioned, restored (from deprovisioned), activated (from
// suspended) or updated.
func lifecycleAction(had bool, before, after store.Status) string {
	switch {
	case !had:
		return "user.created"
	case before == after:
		return "user.updated"
	case after == store.StatusDeprovisioned:
		return "user.deprovisioned"
	case after == store.StatusSuspended:
		return "user.suspended"
	case before == store.StatusDeprovisioned:
		return "user.restored"
	default:
		return "user.activated"
	}
}

// auditInsert inserts one audit event; auditArgs are its arguments.
const auditInsert = `INSERT INTO audit_events (at, actor, action, target, outcome, detail) VALUES (?, ?, ?, ?, ?, ?)`

// Every event written goes through here, and is cut to the bounds of its
// fields.
func auditArgs(tx runner, e *store.AuditEvent) []any {
	b := e.Bounded()
	return []any{tx.t(b.At), b.Actor, b.Action, b.Target, cmp.Or(b.Outcome, store.AuditOK), b.Detail}
}

// auditLifecycle appends the lifecycle events of a run in tx, so that they
// commit with the changes they record, in one statement per chunk. They
// are by the run, or by actor when one is given (an admin's write), then
// naming the run in their detail.
func auditLifecycle(ctx context.Context, tx runner, runID int64, actor string, at time.Time, evs []lifecycle) error {
	run := fmt.Sprintf("run:%d", runID)
	return chunks(evs, tx.d.MaxParams/6, func(part []lifecycle) error {
		args := make([]any, 0, 6*len(part))
		for _, e := range part {
			ev := &store.AuditEvent{At: at, Actor: run, Action: e.action, Target: "user:" + e.username, Detail: e.dn}
			if actor != "" {
				ev.Actor, ev.Detail = actor, strings.TrimSuffix(fmt.Sprintf("run %d: %s", runID, e.dn), ": ")
			}
			args = append(args, auditArgs(tx, ev)...)
		}
		_, err := tx.exec(ctx, `INSERT INTO audit_events (at, actor, action, target, outcome, detail) VALUES `+
			rowMarks(len(part), 6), args...)
		if err != nil {
			return fmt.Errorf("auditing user changes of run %d: %w", runID, err)
		}
		return nil
	})
}

// deprovisionedUsers reads the users of an UPDATE … RETURNING kind,
// username, dn as deprovisioned lifecycle events, and counts every row.
func deprovisionedUsers(rows *sql.Rows) ([]lifecycle, int64, error) {
	defer rows.Close()
	var evs []lifecycle
	var n int64
	for rows.Next() {
		var kind, username, dn string
		if err := rows.Scan(&kind, &username, &dn); err != nil {
			return nil, 0, err
		}
		n++
		if kind == string(store.ObjectUser) {
			evs = append(evs, lifecycle{"user.deprovisioned", username, dn})
		}
	}
	return evs, n, rows.Err()
}
