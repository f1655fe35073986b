package sqlstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/idsync/idsync/server/store"
)

const grantCols = `id, role, group_id, scope_groups, scope_apps, created_by, created_at, revoked_at`

func scanGrant(sc scanner) (*store.AdminGrant, error) {
	g := &store.AdminGrant{}
	err := sc.Scan(&g.ID, &g.Role, &g.GroupID, scanJSON{&g.Groups, "groups"}, scanJSON{&g.Apps, "apps"},
		&g.CreatedBy, scanTime{&g.CreatedAt}, scanTime{&g.RevokedAt})
	return g, err
}

// CreateAdminGrant stores a grant; a live one of the role for the group is
// store.ErrConflict.
func (s *Store) CreateAdminGrant(ctx context.Context, g *store.AdminGrant) error {
	if g.ID == "" {
		u, err := uuid.NewV7()
		if err != nil {
			return fmt.Errorf("making an admin grant id: %w", err)
		}
		g.ID = u.String()
	}
	if g.CreatedAt.IsZero() {
		g.CreatedAt = now()
	}
	groups, err := jsonArg(g.Groups, len(g.Groups) == 0)
	if err != nil {
		return err
	}
	apps, err := jsonArg(g.Apps, len(g.Apps) == 0)
	if err != nil {
		return err
	}
	_, err = s.wr.exec(ctx, `INSERT INTO admin_grants (`+grantCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		g.ID, g.Role, g.GroupID, groups, apps, g.CreatedBy, s.wr.t(g.CreatedAt), s.wr.t(g.RevokedAt))
	if err != nil {
		return s.uniqueConflict(err, "creating admin grant of %s to group %s", g.Role, g.GroupID)
	}
	return nil
}

// GetAdminGrant returns a grant by id.
func (s *Store) GetAdminGrant(ctx context.Context, id string) (*store.AdminGrant, error) {
	g, err := scanGrant(s.rd.row(ctx, `SELECT `+grantCols+` FROM admin_grants WHERE id = ?`, id))
	if err != nil {
		return nil, noRows(err, "admin grant %q", id)
	}
	return g, nil
}

// ListAdminGrants returns every grant, oldest first.
func (s *Store) ListAdminGrants(ctx context.Context) ([]*store.AdminGrant, error) {
	rows, err := s.rd.query(ctx, `SELECT `+grantCols+` FROM admin_grants ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("listing admin grants: %w", err)
	}
	return collect(rows, scanGrant, "listing admin grants")
}

// RevokeAdminGrant revokes a grant and ends its sessions.
func (s *Store) RevokeAdminGrant(ctx context.Context, id string, at time.Time) (*store.AdminGrant, error) {
	var g *store.AdminGrant
	err := s.inTx(ctx, func(tx runner) error {
		var err error
		g, err = scanGrant(tx.row(ctx, `SELECT `+grantCols+` FROM admin_grants WHERE id = ?`+s.d.LockRow, id))
		if err != nil {
			return noRows(err, "admin grant %q", id)
		}
		if g.RevokedAt.IsZero() {
			g.RevokedAt = at
			if _, err := tx.exec(ctx, `UPDATE admin_grants SET revoked_at = ? WHERE id = ?`, tx.t(at), id); err != nil {
				return err
			}
		}
		_, err = tx.exec(ctx, `DELETE FROM console_sessions WHERE grant_id = ?`, id)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("revoking admin grant %q: %w", id, err)
	}
	return g, nil
}

const sessionCols = `id, hash, token_id, grant_id, user_id, name, addr, created_at, last_seen_at`

func scanSession(sc scanner) (*store.ConsoleSession, error) {
	c := &store.ConsoleSession{}
	err := sc.Scan(&c.ID, &c.Hash, &c.TokenID, &c.GrantID, &c.UserID, &c.Name, &c.Addr,
		scanTime{&c.CreatedAt}, scanTime{&c.LastSeenAt})
	return c, err
}

// CreateConsoleSession stores a session; a taken hash is
// store.ErrConflict.
func (s *Store) CreateConsoleSession(ctx context.Context, c *store.ConsoleSession) error {
	if c.ID == "" {
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		c.ID = hex.EncodeToString(b)
	}
	if c.CreatedAt.IsZero() {
		c.CreatedAt = now()
	}
	if c.LastSeenAt.IsZero() {
		c.LastSeenAt = c.CreatedAt
	}
	_, err := s.wr.exec(ctx, `INSERT INTO console_sessions (`+sessionCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.Hash, c.TokenID, c.GrantID, c.UserID, c.Name, c.Addr, s.wr.t(c.CreatedAt), s.wr.t(c.LastSeenAt))
	if err != nil {
		return s.uniqueConflict(err, "creating console session of %s", c.Name)
	}
	return nil
}

// ConsoleSessionByHash returns the session with this hash.
func (s *Store) ConsoleSessionByHash(ctx context.Context, hash []byte) (*store.ConsoleSession, error) {
	c, err := scanSession(s.rd.row(ctx, `SELECT `+sessionCols+` FROM console_sessions WHERE hash = ?`, hash))
	if err != nil {
		return nil, noRows(err, "console session")
	}
	return c, nil
}

// TouchConsoleSession moves LastSeenAt forward.
func (s *Store) TouchConsoleSession(ctx context.Context, id string, at time.Time) error {
	n, err := s.wr.execN(ctx, `UPDATE console_sessions SET last_seen_at = CASE WHEN last_seen_at < ? THEN ? ELSE last_seen_at END
		WHERE id = ?`, s.wr.t(at), s.wr.t(at), id)
	if err != nil {
		return fmt.Errorf("touching console session %s: %w", id, err)
	}
	if n == 0 {
		return notFound("console session %s", id)
	}
	return nil
}

// EndConsoleSession deletes a session and returns it.
func (s *Store) EndConsoleSession(ctx context.Context, id string) (*store.ConsoleSession, error) {
	c, err := scanSession(s.wr.row(ctx, `DELETE FROM console_sessions WHERE id = ? RETURNING `+sessionCols, id))
	if err != nil {
		return nil, noRows(err, "console session %s", id)
	}
	return c, nil
}

// StaleConsoleSessions returns sessions idle or old, oldest first.
func (s *Store) StaleConsoleSessions(ctx context.Context, idleBefore, createdBefore time.Time, limit int) ([]*store.ConsoleSession, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.rd.query(ctx, `SELECT `+sessionCols+` FROM console_sessions
		WHERE last_seen_at < ? OR created_at < ? ORDER BY created_at, id LIMIT ?`,
		s.rd.t(idleBefore), s.rd.t(createdBefore), limit)
	if err != nil {
		return nil, fmt.Errorf("listing stale console sessions: %w", err)
	}
	return collect(rows, scanSession, "listing stale console sessions")
}

// hourOf is the activity hour of t: Unix seconds / 3600.
func hourOf(t time.Time) int64 { return t.Unix() / 3600 }

// bumpActivity adds n to the count of kind of app (0: of no app) in the
// hour of at, within tx.
func bumpActivity(ctx context.Context, tx runner, at time.Time, kind string, appID, n int64) error {
	if n <= 0 || kind == "" {
		return nil
	}
	_, err := tx.exec(ctx, `INSERT INTO activity (hour, kind, app_id, n) VALUES (?, ?, ?, ?)
		ON CONFLICT (hour, kind, app_id) DO UPDATE SET n = activity.n + excluded.n`, hourOf(at), kind, appID, n)
	if err != nil {
		return fmt.Errorf("counting %s: %w", kind, err)
	}
	return nil
}

// activityOf is the activity kind an audit event counts as, or "".
func activityOf(action string) string {
	switch action {
	case store.ActivityPushSucceeded, store.ActivityPushFailed:
		return action
	}
	return ""
}

// Activity returns the hourly counts from since on, summed over the apps
// f keeps.
func (s *Store) Activity(ctx context.Context, since time.Time, f store.ActivityFilter) ([]store.ActivityCount, error) {
	q := `SELECT hour, kind, CAST(SUM(n) AS BIGINT) FROM activity WHERE hour >= ?`
	args := []any{hourOf(since)}
	if f.OnlyApps {
		// Changes belong to no app; a push counts for the apps kept.
		q += ` AND (kind = ?`
		args = append(args, store.ActivityChanges)
		if len(f.Apps) > 0 {
			q += ` OR app_id IN (` + marks(len(f.Apps)) + `)`
			for _, id := range f.Apps {
				args = append(args, id)
			}
		}
		q += `)`
	}
	rows, err := s.rd.query(ctx, q+` GROUP BY hour, kind ORDER BY hour, kind`, args...)
	if err != nil {
		return nil, fmt.Errorf("reading activity: %w", err)
	}
	return collect(rows, func(sc scanner) (store.ActivityCount, error) {
		var c store.ActivityCount
		var h int64
		err := sc.Scan(&h, &c.Kind, &c.N)
		c.Hour = time.Unix(h*3600, 0).UTC()
		return c, err
	}, "reading activity")
}

// prefixEnd is the least string above every string that starts with p,
// byte-wise.
func prefixEnd(p string) string { return p + "\U0010FFFF" }

// nestedGroups returns the ids of group groupID and of the groups nested
// in it, at any depth (just groupID when it is deprovisioned or unknown).
func (s *Store) nestedGroups(ctx context.Context, groupID string) ([]string, error) {
	byDir := map[int64]map[string]bool{}
	if err := s.nestDown(ctx, groupID, byDir, "reading the groups nested in group "+groupID); err != nil {
		return nil, err
	}
	ids := map[string]bool{groupID: true}
	for _, gs := range byDir {
		maps.Copy(ids, gs)
	}
	return slices.Sorted(maps.Keys(ids)), nil
}

// userSearchCols are what a user search compares a prefix with, of the
// user aliased %[1]s: the name key (lower(username)), then the lower-cased
// e-mail and names, each the expression of a user search index.
var userSearchCols = []string{"%[1]s.name_key", "lower(%[1]s.email)", "lower(%[1]s.display_name)", "lower(%[1]s.given_name)", "lower(%[1]s.family_name)"}

// prefixMatch returns the condition on user o that one of userSearchCols
// starts with p, byte-wise, and appends its arguments to args.
func (s *Store) prefixMatch(p string, args *[]any) string {
	alias := "x"
	if s.d.ScanUserSearch {
		alias = "o"
	}
	var terms []string
	for i, col := range userSearchCols {
		col = fmt.Sprintf(col, alias)
		if i > 0 {
			col += s.d.Bytewise
		}
		terms = append(terms, col+" >= ? AND "+col+" < ?")
		*args = append(*args, p, prefixEnd(p))
	}
	if s.d.ScanUserSearch {
		// Tested on the covering index's columns, before the table row
		// is read, by the scan of the index in name order, which stops
		// at the page's end.
		return " AND (" + strings.Join(terms, " OR ") + ")"
	}
	// Each column's own index finds its matches (a union of range scans),
	// rather than one scan of every user in name order that tests five
	// columns each: a search for one person reads a few entries, not
	// 100,000.
	const users = "SELECT x.id FROM objects x WHERE x.kind = 'user' AND "
	return " AND o.id IN (" + users + strings.Join(terms, " UNION "+users) + ")"
}

// SearchUsers returns a page of the users f selects, by name key then id.
func (s *Store) SearchUsers(ctx context.Context, f store.UserSearch) ([]*store.User, error) {
	q, args, err := s.searchUsersQuery(ctx, f)
	if err != nil || q == "" {
		return nil, err
	}
	rows, err := s.rd.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("searching users: %w", err)
	}
	urs, err := collect(rows, scanUserRow, "searching users")
	if err != nil {
		return nil, err
	}
	return usersOf(urs), nil
}

// searchUsersQuery returns SearchUsers' query of f and its arguments, or
// "" when f selects no one.
func (s *Store) searchUsersQuery(ctx context.Context, f store.UserSearch) (string, []any, error) {
	var q strings.Builder // the conditions on users o
	var args []any
	p := strings.ToLower(strings.TrimSpace(f.Prefix))
	if p != "" {
		q.WriteString(s.prefixMatch(p, &args))
	}
	if f.DirectoryID != 0 {
		// Unary plus: the order comes from the name index, not the
		// directory's.
		q.WriteString(" AND +o.directory_id = ?")
		args = append(args, f.DirectoryID)
	}
	if f.Status != "" {
		q.WriteString(" AND o.status = ?")
		args = append(args, string(f.Status))
	}
	if f.GroupID != "" {
		groups := []string{f.GroupID}
		if f.Nested {
			var err error
			if groups, err = s.nestedGroups(ctx, f.GroupID); err != nil {
				return "", nil, err
			}
		}
		// The users the memberships name, by DN, uid or id, each through
		// its index: a group's few members are found, not every user
		// tested against the group.
		in := marks(len(groups))
		q.WriteString(` AND o.id IN (
			SELECT x.id FROM objects x WHERE x.kind = 'user' AND x.dn_key IN (SELECT substr(m.member_key, 4) FROM memberships m
				WHERE m.group_id IN (` + in + `) AND m.member_key >= 'dn:' AND m.member_key < 'dn;')
			UNION SELECT x.id FROM objects x WHERE x.kind = 'user' AND x.name_key IN (SELECT substr(m.member_key, 5) FROM memberships m
				WHERE m.group_id IN (` + in + `) AND m.member_key >= 'uid:' AND m.member_key < 'uid;')
			UNION SELECT substr(m.member_key, 4) FROM memberships m
				WHERE m.group_id IN (` + in + `) AND m.member_key >= 'id:' AND m.member_key < 'id;')`)
		for range 3 {
			args = append(args, anys(groups)...)
		}
	}
	if f.IDs != nil {
		if len(f.IDs) == 0 {
			return "", nil, nil
		}
		q.WriteString(" AND o.id IN (" + marks(len(f.IDs)) + ")")
		args = append(args, anys(f.IDs)...)
	}
	if f.AfterKey != "" || f.AfterID != "" {
		// After (AfterKey, AfterID): a range of the name index, where
		// (name_key > ? OR (name_key = ? AND id > ?)) is two.
		q.WriteString(" AND o.name_key >= ? AND (o.name_key > ? OR o.id > ?)")
		args = append(args, f.AfterKey, f.AfterKey, f.AfterID)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	const order = " ORDER BY o.name_key, o.id LIMIT ?"
	if p != "" && s.d.ScanUserSearch {
		// The page's ids from the search index, which leads with id: a
		// scan of it tests the prefixes on its entries and sorts the
		// name keys and ids of the matches (or it finds by id the users
		// a group or a scope names), reading a user's row only for a
		// directory or a status; then the rows of the page alone. Not
		// the name index, whose order would save the sort at the cost
		// of every user's row where few match.
		return userSelect + ` AND o.id IN (SELECT o.id FROM objects o INDEXED BY objects_user_search WHERE o.kind = 'user'` +
			q.String() + order + `)` + order, append(args, limit, limit), nil
	}
	return userSelect + q.String() + order, append(args, limit), nil
}
