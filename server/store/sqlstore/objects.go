package sqlstore

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/idsync/idsync/server/store"
)

// Member values are resolved when read, in the group's directory: a key
// "dn:<dn key>" matches any object by dn_key, a key "uid:<lower username>"
// matches a user by name_key. The conditions below are correlated with a
// memberships row m and a directory id expression.
const (
	matchDN  = `substr(m.member_key, 1, 3) = 'dn:' AND o.dn_key = substr(m.member_key, 4)`
	matchUID = `substr(m.member_key, 1, 4) = 'uid:' AND o.name_key = substr(m.member_key, 5) AND o.kind = 'user'`
)

const userSelect = `SELECT o.id, o.directory_id, d.name, o.external_id, o.dn, o.status, o.username,
	o.email, o.given_name, o.family_name, o.display_name, o.employee_number, o.department, o.title,
	o.manager, o.extra, o.created_at, o.updated_at
	FROM objects o JOIN directories d ON d.id = o.directory_id WHERE o.kind = 'user'`

func scanUser(sc scanner) (*store.User, error) {
	u := &store.User{}
	p := &u.Profile
	err := sc.Scan(&u.ID, &u.DirectoryID, &u.Directory, &u.ExternalID, &u.DN, &u.Status, &p.Username,
		&p.Email, &p.GivenName, &p.FamilyName, &p.DisplayName, &p.EmployeeNumber, &p.Department, &p.Title,
		&p.Manager, scanJSON{&p.Extra, "extra attributes"}, scanTime{&u.CreatedAt}, scanTime{&u.UpdatedAt})
	return u, err
}

// groupSelect reads groups with their member counts; a member is
// unresolved when no object of the group's directory matches it.
const groupSelect = `SELECT g.id, g.directory_id, d.name, g.external_id, g.dn, g.name, g.description,
	g.status, g.created_at, g.updated_at,
	(SELECT COUNT(*) FROM memberships m WHERE m.group_id = g.id),
	(SELECT COUNT(*) FROM memberships m WHERE m.group_id = g.id
		AND NOT EXISTS (SELECT 1 FROM objects o WHERE ` + matchDN + ` AND o.directory_id = g.directory_id)
		AND NOT EXISTS (SELECT 1 FROM objects o WHERE ` + matchUID + ` AND o.directory_id = g.directory_id))
	FROM objects g JOIN directories d ON d.id = g.directory_id WHERE g.kind = 'group'`

func scanGroup(sc scanner) (*store.Group, error) {
	g := &store.Group{}
	err := sc.Scan(&g.ID, &g.DirectoryID, &g.Directory, &g.ExternalID, &g.DN, &g.Name, &g.Description,
		&g.Status, scanTime{&g.CreatedAt}, scanTime{&g.UpdatedAt}, &g.MemberCount, &g.UnresolvedMembers)
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
	users, err := collect(rows, scanUser, "listing users")
	if err != nil || !f.WithGroups || len(users) == 0 {
		return users, err
	}
	if err := s.fillGroups(ctx, f, users); err != nil {
		return nil, err
	}
	return users, nil
}

// fillGroups sets the Groups of users, the page ListUsers read with f, in
// one query over the same filter bounded by the page's last id.
func (s *Store) fillGroups(ctx context.Context, f store.UserFilter, users []*store.User) error {
	where, fargs := userFilter(f)
	where += " AND o.id <= ?"
	fargs = append(fargs, users[len(users)-1].ID)
	part := func(key string) string {
		return `SELECT o.id, g.id, g.name FROM objects o
			JOIN memberships m ON m.member_key = ` + key + `
			JOIN objects g ON g.id = m.group_id
			WHERE o.kind = 'user'` + where + ` AND g.directory_id = o.directory_id
			AND g.kind = 'group' AND g.status <> 'deprovisioned'`
	}
	q := part(`'dn:' || o.dn_key`) + ` AND o.dn_key <> '' UNION ` + part(`'uid:' || o.name_key`) + ` AND o.name_key <> ''`
	rows, err := s.rd.query(ctx, q, append(slices.Clone(fargs), fargs...)...)
	if err != nil {
		return fmt.Errorf("reading the groups of users: %w", err)
	}
	defer rows.Close()
	groups := map[string][]string{}
	for rows.Next() {
		var uid, gid, name string
		if err := rows.Scan(&uid, &gid, &name); err != nil {
			return fmt.Errorf("reading the groups of users: %w", err)
		}
		groups[uid] = append(groups[uid], name)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading the groups of users: %w", err)
	}
	for _, u := range users {
		u.Groups = groups[u.ID]
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

// FindUsers returns the users whose username equals name case-insensitively,
// in one directory when directoryID is not 0, ordered by id.
func (s *Store) FindUsers(ctx context.Context, directoryID int64, name string) ([]*store.User, error) {
	q, args := userSelect+` AND o.name_key = ?`, []any{strings.ToLower(name)}
	if directoryID != 0 {
		q, args = q+` AND o.directory_id = ?`, append(args, directoryID)
	}
	rows, err := s.rd.query(ctx, q+` ORDER BY o.id`, args...)
	if err != nil {
		return nil, fmt.Errorf("finding user %q: %w", name, err)
	}
	return collect(rows, scanUser, fmt.Sprintf("finding user %q", name))
}

// UserGroups returns the groups, not deprovisioned, of the user's directory
// that list the user as a direct member by DN or by username, ordered by
// name. Unknown user: store.ErrNotFound.
func (s *Store) UserGroups(ctx context.Context, userID string) ([]*store.Group, error) {
	ok, err := s.rd.exists(ctx, `SELECT 1 FROM objects WHERE id = ? AND kind = 'user'`, userID)
	if err != nil {
		return nil, fmt.Errorf("reading user %s: %w", userID, err)
	}
	if !ok {
		return nil, notFound("user %s", userID)
	}
	rows, err := s.rd.query(ctx, groupSelect+` AND g.status <> 'deprovisioned' AND g.id IN (
		SELECT m.group_id FROM objects o JOIN memberships m ON m.member_key = 'dn:' || o.dn_key
			WHERE o.id = ? AND o.dn_key <> ''
		UNION
		SELECT m.group_id FROM objects o JOIN memberships m ON m.member_key = 'uid:' || o.name_key
			WHERE o.id = ? AND o.name_key <> '')
		AND g.directory_id = (SELECT directory_id FROM objects WHERE id = ?)
		ORDER BY g.name, g.id`, userID, userID, userID)
	if err != nil {
		return nil, fmt.Errorf("reading the groups of user %s: %w", userID, err)
	}
	return collect(rows, scanGroup, fmt.Sprintf("reading the groups of user %s", userID))
}

// ListGroups returns groups of every status ordered by name, with member
// counts.
func (s *Store) ListGroups(ctx context.Context, f store.GroupFilter) ([]*store.Group, error) {
	q, args := groupSelect, []any(nil)
	if f.DirectoryID != 0 {
		q, args = q+` AND g.directory_id = ?`, append(args, f.DirectoryID)
	}
	rows, err := s.rd.query(ctx, q+` ORDER BY g.name, g.id`, args...)
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
	rows, err := s.rd.query(ctx, q+` ORDER BY g.name, g.id`, args...)
	if err != nil {
		return nil, fmt.Errorf("finding group %q: %w", name, err)
	}
	return collect(rows, scanGroup, fmt.Sprintf("finding group %q", name))
}

// GroupMembers returns the direct member values of a group ordered by
// value, each with the object it resolves to: a live object before a
// deprovisioned one with the same key. A user resolves with its username
// as Name, a group with its name. Unknown group: store.ErrNotFound.
func (s *Store) GroupMembers(ctx context.Context, groupID string) ([]store.Member, error) {
	var dirID int64
	err := s.rd.row(ctx, `SELECT directory_id FROM objects WHERE id = ? AND kind = 'group'`, groupID).Scan(&dirID)
	if err != nil {
		return nil, noRows(err, "group %s", groupID)
	}
	resolve := func(match string) string {
		return `(SELECT o.id FROM objects o WHERE ` + match + ` AND o.directory_id = ?
			ORDER BY CASE WHEN o.status = 'deprovisioned' THEN 1 ELSE 0 END, o.id LIMIT 1)`
	}
	rows, err := s.rd.query(ctx, `SELECT m.member_value, COALESCE(r.id, ''), COALESCE(r.kind, ''),
		COALESCE(CASE WHEN r.kind = 'user' THEN r.username ELSE r.name END, '')
		FROM memberships m LEFT JOIN objects r ON r.id = COALESCE(`+resolve(matchDN)+`, `+resolve(matchUID)+`)
		WHERE m.group_id = ? ORDER BY m.member_value, m.member_key`, dirID, dirID, groupID)
	if err != nil {
		return nil, fmt.Errorf("reading the members of group %s: %w", groupID, err)
	}
	return collect(rows, func(sc scanner) (store.Member, error) {
		var m store.Member
		err := sc.Scan(&m.Value, &m.ID, &m.Kind, &m.Name)
		return m, err
	}, fmt.Sprintf("reading the members of group %s", groupID))
}
