package sqlstore

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/idsync/idsync/server/store"
)

// Nested groups. A group is a member of another when a "dn:" member key of
// the outer group matches the inner group's dn_key in the same directory
// (memberUid keys name users only). A deprovisioned group is no link: the
// chain through it is broken, as it would be in the directory.
//
// Both walks are recursive CTEs joined UNION, not UNION ALL: both backends
// discard a row that repeats one produced before, so each group (or each
// nesting edge) comes out once and a cycle ends when it comes round, with
// no depth cap. Every step is an index probe: memberships by member key or
// by group, objects by id or by dn_key (TestNestingPlansUseIndexes).

// dnKeys and uidKeys select the member keys of memberships m by kind: as a
// range, not as substr(…) = 'dn:', so that with m.group_id it is a range
// of the memberships primary key and PostgreSQL estimates it from the
// column's statistics (an expression it would guess at 0.5% of the rows,
// and then hash the whole table at every step of a walk).
const (
	dnKeys  = `m.member_key >= 'dn:' AND m.member_key < 'dn;'`
	uidKeys = `m.member_key >= 'uid:' AND m.member_key < 'uid;'`
)

// nestUpQuery walks up from the keys a user is listed by: its rows are the
// edges (group, via, direct) of the groups above the user, direct rows
// with via the group itself (a placeholder of the column's type and
// collation, which both terms must share). Arguments: the keys, then the
// directory id twice.
func nestUpQuery(keys int) string {
	return `WITH RECURSIVE nest(id, dn_key, via, direct) AS (
		SELECT g.id, g.dn_key, g.id, 1
			FROM memberships m CROSS JOIN objects g
			WHERE m.member_key IN (` + marks(keys) + `) AND g.id = m.group_id AND g.kind = 'group'
			AND g.directory_id = ? AND g.status <> 'deprovisioned'
		UNION
		SELECT g.id, g.dn_key, n.id, 0
			FROM nest n CROSS JOIN memberships m CROSS JOIN objects g
			WHERE n.dn_key <> '' AND m.member_key = 'dn:' || n.dn_key AND g.id = m.group_id
			AND g.kind = 'group' AND g.directory_id = ? AND g.status <> 'deprovisioned')
		SELECT id, via, direct FROM nest`
}

// nestDownQuery walks down from a group (not deprovisioned) to the groups
// nested in it and selects their ids, the group's own among them. Arguments:
// the group id, the directory id.
const nestDownQuery = `WITH RECURSIVE nest(id) AS (
		SELECT g.id FROM objects g WHERE g.id = ? AND g.kind = 'group' AND g.status <> 'deprovisioned'
		UNION
		SELECT g.id FROM nest n CROSS JOIN memberships m CROSS JOIN objects g
			WHERE m.group_id = n.id AND ` + dnKeys + ` AND g.dn_key = substr(m.member_key, 4)
			AND g.kind = 'group' AND g.directory_id = ? AND g.status <> 'deprovisioned')
	SELECT id FROM nest`

// groupUsersQuery resolves the members of groups to users, one user id
// (empty for none) per member, as GroupMembers resolves them. The groups come as
// constants, not joined from nestDownQuery: PostgreSQL cannot estimate a
// recursive CTE's rows and would hash whole tables rather than probe.
// Arguments: the directory id twice, then the group ids.
func groupUsersQuery(groups int) string {
	return `SELECT COALESCE(` + resolveMember(matchDN+` AND o.kind = 'user'`) + `, ` + resolveMember(matchUID) + `, '')
		FROM memberships m WHERE m.group_id IN (` + marks(groups) + `)`
}

// nestEdge is one row of nestUpQuery.
type nestEdge struct {
	group, via string
	direct     bool
}

// UserGroupsTransitive returns the groups, not deprovisioned, the user is
// in directly (by DN or memberUid) or through nested groups, each once with
// its shortest depth and, beyond depth 1, the name of the member group
// through which it is reached (the previous step: for user ∈ A ∈ B ∈ C,
// B's Via is A and C's is B; of several at the same depth, the first by
// name). Ordered by depth, name, id. Unknown user: store.ErrNotFound.
func (s *Store) UserGroupsTransitive(ctx context.Context, userID string) ([]store.GroupMembership, error) {
	var dirID int64
	var dnKey, nameKey string
	err := s.rd.row(ctx, `SELECT directory_id, dn_key, name_key FROM objects WHERE id = ? AND kind = 'user'`, userID).
		Scan(&dirID, &dnKey, &nameKey)
	if err != nil {
		return nil, noRows(err, "user %s", userID)
	}
	var keys []any
	if dnKey != "" {
		keys = append(keys, "dn:"+dnKey)
	}
	if nameKey != "" {
		keys = append(keys, "uid:"+nameKey)
	}
	if len(keys) == 0 {
		return nil, nil
	}
	what := fmt.Sprintf("reading the nested groups of user %s", userID)
	edges, err := s.nestUp(ctx, keys, dirID, what)
	if err != nil {
		return nil, err
	}
	groups, err := s.groupsByID(ctx, edges, what)
	if err != nil {
		return nil, err
	}
	return shortestNesting(edges, groups), nil
}

// nestUp returns the edges of the groups of directory dirID above the
// member keys a user is listed by (see nestUpQuery).
func (s *Store) nestUp(ctx context.Context, keys []any, dirID int64, what string) ([]nestEdge, error) {
	rows, err := s.rd.query(ctx, nestUpQuery(len(keys)), append(keys, dirID, dirID)...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return collect(rows, func(sc scanner) (nestEdge, error) {
		var e nestEdge
		err := sc.Scan(&e.group, &e.via, &e.direct)
		return e, err
	}, what)
}

// nestDown returns the ids of a group of directory dirID that is not
// deprovisioned and of the groups nested in it (none for a deprovisioned
// group).
func (s *Store) nestDown(ctx context.Context, groupID string, dirID int64, what string) ([]string, error) {
	rows, err := s.rd.query(ctx, nestDownQuery, groupID, dirID)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return collect(rows, scanString, what)
}

// usersOf adds to ids the users the members of groups, of directory
// dirID, resolve to (see groupUsersQuery), a chunk of groups per query.
func (s *Store) usersOf(ctx context.Context, dirID int64, groups []string, ids map[string]bool, what string) error {
	err := chunks(groups, 1000, func(part []string) error {
		rows, err := s.rd.query(ctx, groupUsersQuery(len(part)), append([]any{dirID, dirID}, anys(part)...)...)
		if err != nil {
			return err
		}
		users, err := collect(rows, scanString, "resolving members")
		for _, id := range users {
			if id != "" {
				ids[id] = true
			}
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// groupsByID reads the groups the edges name, by id.
func (s *Store) groupsByID(ctx context.Context, edges []nestEdge, what string) (map[string]*store.Group, error) {
	ids := map[string]bool{}
	for _, e := range edges {
		ids[e.group] = true
	}
	out := make(map[string]*store.Group, len(ids))
	err := chunks(slices.Sorted(maps.Keys(ids)), 1000, func(part []string) error {
		rows, err := s.rd.query(ctx, groupSelect+` AND g.id IN (`+marks(len(part))+`)`, anys(part)...)
		if err != nil {
			return err
		}
		gs, err := collect(rows, scanGroup, "reading groups")
		for _, g := range gs {
			out[g.ID] = g
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

// shortestNesting walks the edges breadth first from the direct groups and
// returns each group once at its shortest depth, ordered by depth, name
// and id. A group missing from groups (deprovisioned since the edges were
// read) is left out.
func shortestNesting(edges []nestEdge, groups map[string]*store.Group) []store.GroupMembership {
	byName := func(a, b string) int {
		return cmp.Or(strings.Compare(groups[a].Name, groups[b].Name), strings.Compare(a, b))
	}
	above := map[string][]string{} // group id → the groups it is a member of
	var level []string
	for _, e := range edges {
		if groups[e.group] == nil || groups[e.via] == nil {
			continue
		}
		if e.direct {
			level = append(level, e.group)
		} else {
			above[e.via] = append(above[e.via], e.group)
		}
	}
	slices.SortFunc(level, byName)
	level = slices.Compact(level)
	var out []store.GroupMembership
	reached := map[string]bool{}
	for _, id := range level {
		reached[id] = true
		out = append(out, store.GroupMembership{Group: groups[id], Depth: 1})
	}
	for depth := 2; len(level) > 0; depth++ {
		via := map[string]string{} // next group → the first group by name it is reached from
		for _, from := range level {
			for _, to := range above[from] {
				if !reached[to] && (via[to] == "" || byName(from, via[to]) < 0) {
					via[to] = from
				}
			}
		}
		level = slices.SortedFunc(maps.Keys(via), byName)
		for _, id := range level {
			reached[id] = true
			out = append(out, store.GroupMembership{Group: groups[id], Depth: depth, Via: groups[via[id]].Name})
		}
	}
	return out
}

// GroupUsersTransitive returns the users listed by the group or by the
// groups nested in it, each once, ordered by id. A member value resolves as
// in GroupMembers: to a live user before a deprovisioned one with the same
// key, so a deprovisioned user is returned only when no live user holds its
// DN or name. A deprovisioned group grants nothing, here as in the chain:
// its list is empty. Unknown group: store.ErrNotFound.
func (s *Store) GroupUsersTransitive(ctx context.Context, groupID string) ([]*store.User, error) {
	var dirID int64
	err := s.rd.row(ctx, `SELECT directory_id FROM objects WHERE id = ? AND kind = 'group'`, groupID).Scan(&dirID)
	if err != nil {
		return nil, noRows(err, "group %s", groupID)
	}
	what := fmt.Sprintf("reading the users of group %s and its nested groups", groupID)
	groups, err := s.nestDown(ctx, groupID, dirID, what)
	if err != nil {
		return nil, err
	}
	ids := map[string]bool{}
	if err := s.usersOf(ctx, dirID, groups, ids, what); err != nil {
		return nil, err
	}
	var out []*store.User
	err = chunks(slices.Sorted(maps.Keys(ids)), 1000, func(part []string) error {
		rows, err := s.rd.query(ctx, userSelect+` AND o.id IN (`+marks(len(part))+`)`, anys(part)...)
		if err != nil {
			return err
		}
		users, err := collect(rows, scanUser, "reading users")
		out = append(out, users...)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	// Sorted here: an ORDER BY would draw SQLite to the directory index.
	slices.SortFunc(out, func(a, b *store.User) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// scanString scans a row of one text column.
func scanString(sc scanner) (string, error) {
	var v string
	err := sc.Scan(&v)
	return v, err
}
