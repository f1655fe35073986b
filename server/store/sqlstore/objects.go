package sqlstore

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/idsync/idsync/server/store"
)

// Member values are resolved when read: a key "dn:<dn key>" matches any
// object by dn_key, a key "uid:<lower username>" a user by name_key, both
// in the group's directory; a key "id:<object id>" (a local group's) the
// object with that id, whatever its directory. The conditions below are
// correlated with a memberships row m (and, for the first two, a
// directory id expression); isIDKey tells the third kind by a range of
// the key, so that a local group's members go straight to the primary
// key and a directory's never try it.
const (
	matchDN  = `substr(m.member_key, 1, 3) = 'dn:' AND o.dn_key = substr(m.member_key, 4)`
	matchUID = `substr(m.member_key, 1, 4) = 'uid:' AND o.name_key = substr(m.member_key, 5) AND o.kind = 'user'`
	matchID  = `o.id = substr(m.member_key, 4)`
	isIDKey  = `m.member_key >= 'id:' AND m.member_key < 'id;'`
)

// The queries on objects read one table and look the directory name up
// per row: with no join to reorder, both planners keep to the objects
// indexes even before PostgreSQL has statistics of a freshly loaded table.

const userSelect = `SELECT o.id, o.directory_id, (SELECT d.name FROM directories d WHERE d.id = o.directory_id),
	o.external_id, o.dn, o.status, o.username, o.email, o.given_name, o.family_name, o.display_name,
	o.employee_number, o.department, o.title, o.manager, o.extra, o.created_at, o.updated_at,
	o.revision, o.dn_key, o.name_key, o.deprovisioned_at, o.source_status, o.hold_status, o.hold_by, o.hold_reason, o.held_at, o.hold_role
	FROM objects o WHERE o.kind = 'user'`

// userRow is a user with the keys member values match it by.
type userRow struct {
	*store.User
	dnKey, nameKey string
}

func scanUserRow(sc scanner) (userRow, error) {
	u := userRow{User: &store.User{}}
	p := &u.Profile
	err := sc.Scan(&u.ID, &u.DirectoryID, &u.Directory, &u.ExternalID, &u.DN, &u.Status, &p.Username,
		&p.Email, &p.GivenName, &p.FamilyName, &p.DisplayName, &p.EmployeeNumber, &p.Department, &p.Title,
		&p.Manager, scanJSON{&p.Extra, "extra attributes"}, scanTime{&u.CreatedAt}, scanTime{&u.UpdatedAt},
		&u.Revision, &u.dnKey, &u.nameKey, scanTime{&u.DeprovisionedAt}, &u.SourceStatus, &u.Hold.Status,
		&u.Hold.By, &u.Hold.Reason, scanTime{&u.Hold.At}, &u.Hold.Role)
	if u.SourceStatus == "" {
		u.SourceStatus = u.Status
	}
	return u, err
}

// keys are the member keys that name the user: its DN and username (in a
// group of its directory) and its id (in a local group).
func (u userRow) keys() []string {
	return memberKeys(u.ID, u.dnKey, u.nameKey)
}

// memberKeys are the member keys that name a user with this id, DN key and
// name key.
func memberKeys(id, dnKey, nameKey string) []string {
	keys := []string{store.MemberKeyID + id}
	if dnKey != "" {
		keys = append(keys, "dn:"+dnKey)
	}
	if nameKey != "" {
		keys = append(keys, "uid:"+nameKey)
	}
	return keys
}

func scanUser(sc scanner) (*store.User, error) {
	u, err := scanUserRow(sc)
	return u.User, err
}

// groupSelect reads groups with their member counts; a member is
// unresolved when no object matches it (of the group's directory, but for
// an id). The EXISTS tests stand in a CASE so that PostgreSQL probes the
// indexes per member instead of turning them into an anti-join over the
// directory.
const groupSelect = `SELECT g.id, g.directory_id, (SELECT d.name FROM directories d WHERE d.id = g.directory_id),
	g.external_id, g.dn, g.name, g.description, g.status, g.created_at, g.updated_at, g.revision,
	(SELECT COUNT(*) FROM memberships m WHERE m.group_id = g.id),
	(SELECT COALESCE(SUM(CASE
		WHEN ` + isIDKey + ` THEN CASE WHEN EXISTS (SELECT 1 FROM objects o WHERE ` + matchID + `) THEN 0 ELSE 1 END
		WHEN EXISTS (SELECT 1 FROM objects o WHERE ` + matchDN + ` AND o.directory_id = g.directory_id) THEN 0
		WHEN EXISTS (SELECT 1 FROM objects o WHERE ` + matchUID + ` AND o.directory_id = g.directory_id) THEN 0
		ELSE 1 END), 0) FROM memberships m WHERE m.group_id = g.id)
	FROM objects g WHERE g.kind = 'group'`

func scanGroup(sc scanner) (*store.Group, error) {
	g := &store.Group{}
	err := sc.Scan(&g.ID, &g.DirectoryID, &g.Directory, &g.ExternalID, &g.DN, &g.Name, &g.Description,
		&g.Status, scanTime{&g.CreatedAt}, scanTime{&g.UpdatedAt}, &g.Revision, &g.MemberCount, &g.UnresolvedMembers)
	return g, err
}

// userFilter is the WHERE clause (after the kind) and arguments of f,
// on objects aliased o.
func userFilter(f store.UserFilter) (string, []any) {
	var q strings.Builder
	var args []any
	if f.DirectoryID != 0 {
		q.WriteString(" AND o.directory_id = ?")
		args = append(args, f.DirectoryID)
	}
	if f.Status != "" {
		q.WriteString(" AND o.status = ?")
		args = append(args, string(f.Status))
	}
	if f.AfterID != "" {
		q.WriteString(" AND o.id > ?")
		args = append(args, f.AfterID)
	}
	if f.IDs != nil {
		q.WriteString(" AND " + inMarks("o.id", len(f.IDs)))
		args = append(args, anys(f.IDs)...)
	}
	return q.String(), args
}

// ListUsers returns the users f selects ordered by id, after f.AfterID, at
// most f.Limit of them (0: all), with their group names when f.WithGroups.
func (s *Store) ListUsers(ctx context.Context, f store.UserFilter) ([]*store.User, error) {
	where, args := userFilter(f)
	q := userSelect + where + " ORDER BY o.id"
	if f.Limit > 0 {
		q += " LIMIT ?"
		args = append(args, f.Limit)
	}
	rows, err := s.rd.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("listing users: %w", err)
	}
	urs, err := collect(rows, scanUserRow, "listing users")
	if err != nil {
		return nil, err
	}
	if f.WithGroups {
		if err := s.fillGroups(ctx, urs, f.OnlyGroups); err != nil {
			return nil, err
		}
	}
	return usersOf(urs), nil
}

// usersOf returns the users of rows.
func usersOf(rows []userRow) []*store.User {
	users := make([]*store.User, len(rows))
	for i, u := range rows {
		users[i] = u.User
	}
	return users
}

// fillGroups sets the Groups of users: the names of their direct groups
// (directGroups), sorted; of the groups of only alone when it is not nil.
func (s *Store) fillGroups(ctx context.Context, users []userRow, only []string) error {
	keep := map[string]bool{}
	for _, id := range only {
		keep[id] = true
	}
	if err := s.directGroups(ctx, users, func(u *store.User, id, name string) {
		if only == nil || keep[id] {
			u.Groups = append(u.Groups, name)
		}
	}); err != nil {
		return err
	}
	for _, u := range users {
		slices.Sort(u.Groups)
	}
	return nil
}

// GetUser returns a user by id, or store.ErrNotFound.
func (s *Store) GetUser(ctx context.Context, id string) (*store.User, error) {
	u, err := scanUser(s.rd.row(ctx, userSelect+` AND o.id = ?`, id))
	if err != nil {
		return nil, noRows(err, "user %s", id)
	}
	return u, nil
}

// GetUsers returns the users of ids the hub has, ordered by id: a few
// statements, however many ids.
func (s *Store) GetUsers(ctx context.Context, ids []string) ([]*store.User, error) {
	out, err := queryIn(ctx, s.rd, userSelect+` AND o.id IN (`, nil, ids, scanUser, fmt.Sprintf("reading %d users", len(ids)))
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b *store.User) int { return strings.Compare(a.ID, b.ID) })
	return slices.CompactFunc(out, func(a, b *store.User) bool { return a.ID == b.ID }), nil
}

// FindUsers returns the users whose username equals name case-insensitively,
// in one directory when directoryID is not 0, ordered by id.
func (s *Store) FindUsers(ctx context.Context, directoryID int64, name string) ([]*store.User, error) {
	q, args := userSelect+` AND o.name_key = ?`, []any{strings.ToLower(name)}
	if directoryID != 0 {
		q, args = q+` AND o.directory_id = ?`, append(args, directoryID)
	}
	// Sorted here: an ORDER BY would draw SQLite to the directory index.
	rows, err := s.rd.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("finding user %q: %w", name, err)
	}
	us, err := collect(rows, scanUser, fmt.Sprintf("finding user %q", name))
	slices.SortFunc(us, func(a, b *store.User) int { return strings.Compare(a.ID, b.ID) })
	return us, err
}

// UserGroups returns the groups, not deprovisioned, that list the user as
// a direct member: by DN or by username in its directory, by id in any,
// ordered by name. Unknown user: store.ErrNotFound.
func (s *Store) UserGroups(ctx context.Context, userID string) ([]*store.Group, error) {
	keys, dirID, err := s.userKeys(ctx, userID)
	if err != nil {
		return nil, err
	}
	what := fmt.Sprintf("reading the groups of user %s", userID)
	edges, err := s.direct(ctx, keys, dirID, what)
	if err != nil {
		return nil, err
	}
	groups, err := s.groupsByID(ctx, edges, what)
	if err != nil {
		return nil, err
	}
	out := slices.Collect(maps.Values(groups))
	slices.SortFunc(out, func(a, b *store.Group) int {
		return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(a.ID, b.ID))
	})
	return out, nil
}

// userKeys returns the member keys that name a user (memberKeys) and its
// directory. Unknown user: store.ErrNotFound.
func (s *Store) userKeys(ctx context.Context, userID string) ([]any, int64, error) {
	var dirID int64
	var dnKey, nameKey string
	err := s.rd.row(ctx, `SELECT directory_id, dn_key, name_key FROM objects WHERE id = ? AND kind = 'user'`, userID).
		Scan(&dirID, &dnKey, &nameKey)
	if err != nil {
		return nil, 0, noRows(err, "user %s", userID)
	}
	return anys(memberKeys(userID, dnKey, nameKey)), dirID, nil
}

// ListGroups returns groups of every status ordered by name, with member
// counts.
func (s *Store) ListGroups(ctx context.Context, f store.GroupFilter) ([]*store.Group, error) {
	q, args := groupSelect, []any(nil)
	if f.DirectoryID != 0 {
		q, args = q+` AND g.directory_id = ?`, append(args, f.DirectoryID)
	}
	if p := strings.ToLower(strings.TrimSpace(f.Prefix)); p != "" {
		q, args = q+` AND g.name_key >= ? AND g.name_key < ?`, append(args, p, prefixEnd(p))
	}
	if f.AfterName != "" || f.AfterID != "" {
		q, args = q+` AND (g.name > ? OR (g.name = ? AND g.id > ?))`, append(args, f.AfterName, f.AfterName, f.AfterID)
	}
	if f.IDs != nil {
		q, args = q+` AND `+inMarks("g.id", len(f.IDs)), append(args, anys(f.IDs)...)
	}
	q += ` ORDER BY g.name, g.id`
	if f.Limit > 0 {
		q, args = q+` LIMIT ?`, append(args, f.Limit)
	}
	rows, err := s.rd.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("listing groups: %w", err)
	}
	return collect(rows, scanGroup, "listing groups")
}

// GetGroup returns a group by id with member counts, or store.ErrNotFound.
func (s *Store) GetGroup(ctx context.Context, id string) (*store.Group, error) {
	g, err := scanGroup(s.rd.row(ctx, groupSelect+` AND g.id = ?`, id))
	if err != nil {
		return nil, noRows(err, "group %s", id)
	}
	return g, nil
}

// FindGroups returns the groups whose name equals name case-insensitively,
// in one directory when directoryID is not 0, ordered by name.
func (s *Store) FindGroups(ctx context.Context, directoryID int64, name string) ([]*store.Group, error) {
	q, args := groupSelect+` AND g.name_key = ?`, []any{strings.ToLower(name)}
	if directoryID != 0 {
		q, args = q+` AND g.directory_id = ?`, append(args, directoryID)
	}
	rows, err := s.rd.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("finding group %q: %w", name, err)
	}
	gs, err := collect(rows, scanGroup, fmt.Sprintf("finding group %q", name))
	slices.SortFunc(gs, func(a, b *store.Group) int {
		return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(a.ID, b.ID))
	})
	return gs, err
}

// ObjectByExternalID returns the object of a directory that holds an
// external id, of either kind and any status, or store.ErrNotFound.
func (s *Store) ObjectByExternalID(ctx context.Context, directoryID int64, externalID string) (store.ObjectRef, error) {
	var r store.ObjectRef
	err := s.rd.row(ctx, `SELECT kind, id, status FROM objects WHERE directory_id = ? AND external_id = ?`,
		directoryID, externalID).Scan(&r.Kind, &r.ID, &r.Status)
	if err != nil {
		return store.ObjectRef{}, noRows(err, "object with external id %q", externalID)
	}
	return r, nil
}

// resolveMember is the id of the object a membership m resolves to by
// match, in the directory its one argument names: a live object before a
// deprovisioned one with the same key, then the first by id. Correlated
// and limited to one row, it is an index probe per member in both
// backends.
func resolveMember(match string) string {
	return `(SELECT o.id FROM objects o WHERE ` + match + ` AND o.directory_id = ?
		ORDER BY CASE WHEN o.status = 'deprovisioned' THEN 1 ELSE 0 END, o.id LIMIT 1)`
}

// groupMembersQuery reads a group's member rows with the object each
// resolves to. Arguments: the group's directory id twice, the group id.
var groupMembersSelect = `SELECT m.member_value, COALESCE(r.id, ''), COALESCE(r.kind, ''),
	COALESCE(CASE WHEN r.kind = 'user' THEN r.username ELSE r.name END, ''), m.member_key
	FROM memberships m LEFT JOIN objects r ON r.id = CASE WHEN ` + isIDKey + ` THEN substr(m.member_key, 4)
		ELSE COALESCE(` + resolveMember(matchDN) + `, ` + resolveMember(matchUID) + `) END
	WHERE m.group_id = ?`

var groupMembersQuery = groupMembersSelect + ` ORDER BY m.member_value, m.member_key`

// groupMembersPageQuery pages in the primary key's order, so that a page
// resolves its own members alone (arguments: the directory twice, the
// group, the key after, the limit).
var groupMembersPageQuery = groupMembersSelect + ` AND m.member_key > ? ORDER BY m.member_key LIMIT ?`

// GroupMembers returns the direct member values of a group ordered by
// value, each with the object it resolves to: a live object before a
// deprovisioned one with the same key, in the group's directory; the
// object with the id, in any. A user resolves with its username as Name,
// a group with its name. Unknown group: store.ErrNotFound.
func (s *Store) GroupMembers(ctx context.Context, groupID string) ([]store.Member, error) {
	var dirID int64
	err := s.rd.row(ctx, `SELECT directory_id FROM objects WHERE id = ? AND kind = 'group'`, groupID).Scan(&dirID)
	if err != nil {
		return nil, noRows(err, "group %s", groupID)
	}
	rows, err := s.rd.query(ctx, groupMembersQuery, dirID, dirID, groupID)
	if err != nil {
		return nil, fmt.Errorf("reading the members of group %s: %w", groupID, err)
	}
	return collect(rows, func(sc scanner) (store.Member, error) {
		m, err := scanMember(sc)
		m.Key = "" // the pages' alone
		return m, err
	}, fmt.Sprintf("reading the members of group %s", groupID))
}

func scanMember(sc scanner) (store.Member, error) {
	var m store.Member
	err := sc.Scan(&m.Value, &m.ID, &m.Kind, &m.Name, &m.Key)
	return m, err
}

// GroupMembersPage returns a page of a group's members; see store.Store.
func (s *Store) GroupMembersPage(ctx context.Context, groupID, afterKey string, limit int) ([]store.Member, error) {
	var dirID int64
	err := s.rd.row(ctx, `SELECT directory_id FROM objects WHERE id = ? AND kind = 'group'`, groupID).Scan(&dirID)
	if err != nil {
		return nil, noRows(err, "group %s", groupID)
	}
	rows, err := s.rd.query(ctx, groupMembersPageQuery, dirID, dirID, groupID, afterKey, limit)
	if err != nil {
		return nil, fmt.Errorf("reading the members of group %s: %w", groupID, err)
	}
	return collect(rows, scanMember, fmt.Sprintf("reading the members of group %s", groupID))
}

// SetHold puts or lifts an admin's hold on a user; see store.Store.
func (s *Store) SetHold(ctx context.Context, userID string, h store.Hold, action string, runID int64) (*store.User, error) {
	var u *store.User
	err := s.inTx(ctx, func(tx runner) error {
		var before, source store.Status
		var name, dn string
		err := tx.row(ctx, `SELECT status, source_status, COALESCE(username, ''), dn FROM objects WHERE id = ? AND kind = 'user'`+s.d.LockRow, userID).
			Scan(&before, &source, &name, &dn)
		if err != nil {
			return noRows(err, "user %s", userID)
		}
		if source == "" {
			source = before
		}
		after := effective(h.Status, source)
		now := now()
		var held any
		if h.Status != "" {
			held = tx.t(cmpTime(h.At, now))
		}
		if _, err := tx.exec(ctx, `UPDATE objects SET hold_status = ?, hold_by = ?, hold_reason = ?, held_at = ?, hold_role = ? WHERE id = ?`,
			string(h.Status), h.By, h.Reason, held, h.Role, userID); err != nil {
			return fmt.Errorf("holding user %s: %w", userID, err)
		}
		if after != before {
			var feed feedPos
			if err := feed.take(ctx, tx, s.d.LockRow); err != nil {
				return err
			}
			var deprovisioned any
			if after == store.StatusDeprovisioned {
				deprovisioned = tx.t(now)
			}
			if _, err := tx.exec(ctx, `UPDATE objects SET status = ?, updated_at = ?, revision = revision + 1, feed_pos = ?,
				deprovisioned_at = CASE WHEN ? = 'deprovisioned' THEN COALESCE(deprovisioned_at, ?) END WHERE id = ?`,
				string(after), tx.t(now), feed.pos, string(after), deprovisioned, userID); err != nil {
				return fmt.Errorf("setting the status of user %s: %w", userID, err)
			}
			feed.wrote = true
			if err := feed.commit(ctx, tx); err != nil {
				return err
			}
		}
		e := &store.AuditEvent{At: now, Actor: h.By, Action: action, Target: "user:" + name, Outcome: store.AuditOK,
			Detail: holdDetail(before, after, h, runID)}
		if _, err := tx.exec(ctx, auditInsert, auditArgs(tx, e)...); err != nil {
			return fmt.Errorf("auditing the hold of user %s: %w", userID, err)
		}
		u, err = scanUser(tx.row(ctx, userSelect+` AND o.id = ?`, userID))
		return err
	})
	return u, err
}

// holdDetail says what a hold did, for the audit trail.
func holdDetail(before, after store.Status, h store.Hold, runID int64) string {
	d := fmt.Sprintf("run %d: %s → %s", runID, before, after)
	if h.Reason != "" {
		d += ": " + h.Reason
	}
	return d
}

func cmpTime(t, def time.Time) time.Time {
	if t.IsZero() {
		return def
	}
	return t
}

// PurgeDue returns the users of directoryID deprovisioned at or before
// cutoff, oldest first.
func (s *Store) PurgeDue(ctx context.Context, directoryID int64, cutoff time.Time, limit int) ([]*store.User, error) {
	rows, err := s.rd.query(ctx, userSelect+` AND o.directory_id = ? AND o.status = 'deprovisioned'
		AND o.source_status = 'deprovisioned' AND o.deprovisioned_at <= ? ORDER BY o.deprovisioned_at, o.id LIMIT ?`, directoryID, s.rd.t(cutoff), max(limit, 1))
	if err != nil {
		return nil, fmt.Errorf("listing the users of directory %d due for purge: %w", directoryID, err)
	}
	return collect(rows, scanUser, "listing users due for purge")
}

// PurgeUser removes a deprovisioned user and its member rows; see
// store.Store.
func (s *Store) PurgeUser(ctx context.Context, userID, actor string) (*store.User, error) {
	var u *store.User
	err := s.inTx(ctx, func(tx runner) error {
		row, err := scanUserRow(tx.row(ctx, userSelect+` AND o.id = ?`+s.d.LockRow, userID))
		if err != nil {
			return noRows(err, "user %s", userID)
		}
		u = row.User
		if u.Status != store.StatusDeprovisioned {
			return conflict("user %s is %s, not deprovisioned", userID, u.Status)
		}
		if u.SourceStatus != store.StatusDeprovisioned {
			// Held by an admin while its directory still has it: purged,
			// it would come back from the directory as a new, active
			// user, the hold lost.
			return conflict("user %s is held deprovisioned by %s, and its directory still has it", userID, u.Hold.By)
		}
		// Its rows in groups: by its identity, and by the DN or username
		// the hub knows it by where no other object of the directory holds
		// them. The groups are marked for a rewrite, as a deleted member's
		// are (unlinkDeleted): the directory may list it still (OpenLDAP
		// without refint), and their stored hash covers the rows as read,
		// so the next read of such a group writes it whole — a user made
		// later at that DN is in it — instead of counting it unchanged.
		rows := `FROM memberships WHERE group_id IN (SELECT id FROM objects WHERE directory_id = ?)
			AND (member_ext = ? OR (member_key IN (?, ?) AND NOT EXISTS (SELECT 1 FROM objects o WHERE o.directory_id = ?
				AND o.id <> ? AND ('dn:' || o.dn_key = memberships.member_key OR ('uid:' || o.name_key = memberships.member_key AND o.kind = 'user')))))`
		args := []any{u.DirectoryID, u.ExternalID, "dn:" + row.dnKey, "uid:" + row.nameKey, u.DirectoryID, userID}
		if _, err := tx.exec(ctx, `UPDATE objects SET hash = ? WHERE id IN (SELECT group_id `+rows+`)`,
			append([]any{unlinkedHash}, args...)...); err != nil {
			return fmt.Errorf("marking the groups of user %s: %w", userID, err)
		}
		if _, err := tx.exec(ctx, `DELETE `+rows, args...); err != nil {
			return fmt.Errorf("removing user %s from its groups: %w", userID, err)
		}
		// Its rows by id, in local groups of any directory; those groups
		// are marked for a rewrite, as a deleted member's are
		// (unlinkDeleted): their stored hash covered the row.
		byID := store.MemberKeyID + userID
		if _, err := tx.exec(ctx, `UPDATE objects SET hash = ? WHERE id IN (SELECT group_id FROM memberships WHERE member_key = ?)`,
			unlinkedHash, byID); err != nil {
			return fmt.Errorf("marking the local groups of user %s: %w", userID, err)
		}
		if _, err := tx.exec(ctx, `DELETE FROM memberships WHERE member_key = ?`, byID); err != nil {
			return fmt.Errorf("removing user %s from local groups: %w", userID, err)
		}
		// Its direct assignments go with it; its app accounts stay, each
		// with a job queued now, in this transaction, that deletes the
		// account in the app (or opens a task) once the user is gone: a
		// crash after the commit loses none.
		if _, err := tx.exec(ctx, `DELETE FROM assignments WHERE target_id = ? AND kind = ?`, userID, string(store.AssignUser)); err != nil {
			return fmt.Errorf("removing the assignments of user %s: %w", userID, err)
		}
		t := tx.t(now())
		if _, err := tx.exec(ctx, `INSERT INTO jobs (app_id, kind, target, state, next_at, created_at, updated_at)
			SELECT app_id, ?, user_id, 'queued', ?, ?, ? FROM accounts WHERE user_id = ? AND state <> ?
			ON CONFLICT (app_id, kind, target) WHERE state IN ('queued', 'running') DO UPDATE SET
			next_at = CASE WHEN jobs.state = 'queued' AND jobs.last_error = '' AND excluded.next_at < jobs.next_at
				THEN excluded.next_at ELSE jobs.next_at END,
			again = CASE WHEN jobs.state = 'running' THEN TRUE ELSE jobs.again END,
			updated_at = excluded.updated_at`,
			string(store.JobUser), t, t, t, userID, string(store.AccountDeleted)); err != nil {
			return fmt.Errorf("queueing the app accounts of user %s: %w", userID, err)
		}
		if _, err := tx.exec(ctx, `DELETE FROM object_seen WHERE object_id = ?`, userID); err != nil {
			return fmt.Errorf("purging user %s: %w", userID, err)
		}
		if _, err := tx.exec(ctx, `DELETE FROM objects WHERE id = ?`, userID); err != nil {
			return fmt.Errorf("purging user %s: %w", userID, err)
		}
		e := &store.AuditEvent{At: now(), Actor: actor, Action: "user.purged", Target: "user:" + u.Profile.Username, Outcome: store.AuditOK,
			Detail: fmt.Sprintf("user %s (%s) of directory %s, deprovisioned since %s", u.ID, u.Profile.Username, u.Directory,
				u.DeprovisionedAt.UTC().Format(time.RFC3339))}
		if _, err := tx.exec(ctx, auditInsert, auditArgs(tx, e)...); err != nil {
			return fmt.Errorf("auditing the purge of user %s: %w", userID, err)
		}
		return nil
	})
	return u, err
}
