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
// (memberUid keys name users only), or when an "id:" key of the outer
// group (a local one) names it, in any directory: a walk carries each
// group's directory, in which its own dn keys resolve. A deprovisioned
// group is no link: the chain through it is broken, as it would be in the
// directory.
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
	idKeys  = isIDKey
)

// directTerm selects the groups (not deprovisioned) that list a user,
// as edges of nestUpQuery: by the user's DN or username in its directory,
// by its id in any. Direct rows have via the group itself (a placeholder
// of the column's type and collation, which both terms of nestUpQuery
// must share). Arguments: the user's keys (memberKeys: one of them an id
// key), its directory id.
func directTerm(keys int) string {
	return `SELECT g.id, g.dn_key, g.directory_id, g.id, 1
		FROM memberships m CROSS JOIN objects g
		WHERE m.member_key IN (` + marks(keys) + `) AND g.id = m.group_id AND g.kind = 'group'
		AND (g.directory_id = ? OR ` + isIDKey + `) AND g.status <> 'deprovisioned'`
}

// directQuery selects the edges (group, via, direct) of the groups that
// list a user directly. Arguments as directTerm's.
func directQuery(keys int) string {
	return `WITH nest(id, dn_key, dir, via, direct) AS (` + directTerm(keys) + `)
		SELECT id, via, direct FROM nest`
}

// nestUpQuery walks up from the keys a user is listed by: its rows are the
// edges (group, via, direct) of the groups above the user. A step goes
// from a group to the groups that list its DN, in its directory, or its
// id, in any: one key per row of kinds, so that each is an equality the
// member key index answers from the walk's side (an OR of the two, or an
// IN list, lets PostgreSQL start from the groups instead while its
// statistics are stale, and read all their rows at every step). Arguments
// as directTerm's.
func nestUpQuery(keys int) string {
	return `WITH RECURSIVE kinds(k) AS (VALUES ('dn:'), ('id:')),
	nest(id, dn_key, dir, via, direct) AS (
		` + directTerm(keys) + `
		UNION
		SELECT g.id, g.dn_key, g.directory_id, n.id, 0
			FROM nest n CROSS JOIN kinds CROSS JOIN memberships m CROSS JOIN objects g
			WHERE (kinds.k = 'id:' OR n.dn_key <> '')
			AND m.member_key = kinds.k || CASE WHEN kinds.k = 'id:' THEN n.id ELSE n.dn_key END
			AND g.id = m.group_id AND g.kind = 'group' AND (kinds.k = 'id:' OR g.directory_id = n.dir)
			AND g.status <> 'deprovisioned')
		SELECT id, via, direct FROM nest`
}

// nestDownQuery walks down from a group (not deprovisioned) to the groups
// nested in it and selects their ids and directories, the group's own
// among them. Only a local group names members by id, and only by id
// (ApplyBatch refuses any other mix), and no directory group names a local
// one, so a chain down is id steps (byid), then dn steps within a
// directory (nest): two walks, each on one kind of key. Each step states
// its key both ways, from the member row to the group and from the group
// to the member row, so that either join order is an index probe: that
// of the member rows (a group's, then the objects by DN or id) and that
// of the groups (the few groups, then the outer group's row naming each),
// which PostgreSQL takes while its statistics say there are none.
// Argument: the group id.
const nestDownQuery = `WITH RECURSIVE byid(id, dir) AS (
		SELECT g.id, g.directory_id FROM objects g WHERE g.id = ? AND g.kind = 'group' AND g.status <> 'deprovisioned'
		UNION
		SELECT g.id, g.directory_id FROM byid n CROSS JOIN memberships m CROSS JOIN objects g
			WHERE m.group_id = n.id AND ` + idKeys + ` AND g.id = substr(m.member_key, 4) AND m.member_key = 'id:' || g.id
			AND g.kind = 'group' AND g.status <> 'deprovisioned'),
	nest(id, dir) AS (
		SELECT id, dir FROM byid
		UNION
		SELECT g.id, g.directory_id FROM nest n CROSS JOIN memberships m CROSS JOIN objects g
			WHERE m.group_id = n.id AND ` + dnKeys + ` AND g.dn_key = substr(m.member_key, 4) AND m.member_key = 'dn:' || g.dn_key
			AND +g.directory_id = n.dir AND g.kind = 'group' AND g.status <> 'deprovisioned')
	SELECT id, dir FROM nest`

// groupUsersQuery resolves the members of groups of one directory to
// users, one user id (empty for none) per member, as GroupMembers resolves
// them. The groups come as constants, not joined from nestDownQuery:
// PostgreSQL cannot estimate a recursive CTE's rows and would hash whole
// tables rather than probe. Arguments: the directory id twice, then the
// group ids.
func groupUsersQuery(groups int) string {
	return `SELECT CASE WHEN ` + isIDKey + ` THEN COALESCE((SELECT o.id FROM objects o WHERE ` + matchID + ` AND o.kind = 'user'), '')
		ELSE COALESCE(` + resolveMember(matchDN+` AND o.kind = 'user'`) + `, ` + resolveMember(matchUID) + `, '') END
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
	keys, dirID, err := s.userKeys(ctx, userID)
	if err != nil {
		return nil, err
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

// nestUp returns the edges of the groups above the member keys a user of
// directory dirID is listed by (see nestUpQuery).
func (s *Store) nestUp(ctx context.Context, keys []any, dirID int64, what string) ([]nestEdge, error) {
	return s.edges(ctx, nestUpQuery(len(keys)), append(keys, dirID), what)
}

// direct returns the edges of the groups that list a user of directory
// dirID by one of keys (see directQuery).
func (s *Store) direct(ctx context.Context, keys []any, dirID int64, what string) ([]nestEdge, error) {
	return s.edges(ctx, directQuery(len(keys)), append(keys, dirID), what)
}

func (s *Store) edges(ctx context.Context, q string, args []any, what string) ([]nestEdge, error) {
	rows, err := s.rd.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return collect(rows, func(sc scanner) (nestEdge, error) {
		var e nestEdge
		err := sc.Scan(&e.group, &e.via, &e.direct)
		return e, err
	}, what)
}

// nestDown adds to groups, by directory, the id of a group that is not
// deprovisioned and of the groups nested in it (nothing for a
// deprovisioned group).
func (s *Store) nestDown(ctx context.Context, groupID string, groups map[int64]map[string]bool, what string) error {
	rows, err := s.rd.query(ctx, nestDownQuery, groupID)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	type nested struct {
		id  string
		dir int64
	}
	found, err := collect(rows, func(sc scanner) (nested, error) {
		var n nested
		err := sc.Scan(&n.id, &n.dir)
		return n, err
	}, what)
	for _, n := range found {
		if groups[n.dir] == nil {
			groups[n.dir] = map[string]bool{}
		}
		groups[n.dir][n.id] = true
	}
	return err
}

// usersOfGroups adds to ids the users the members of groups (by
// directory, as nestDown gives them) resolve to.
func (s *Store) usersOfGroups(ctx context.Context, groups map[int64]map[string]bool, ids map[string]bool, what string) error {
	for _, dir := range slices.Sorted(maps.Keys(groups)) {
		if err := s.usersOf(ctx, dir, slices.Sorted(maps.Keys(groups[dir])), ids, what); err != nil {
			return err
		}
	}
	return nil
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
	ok, err := s.rd.exists(ctx, `SELECT 1 FROM objects WHERE id = ? AND kind = 'group'`, groupID)
	if err != nil {
		return nil, fmt.Errorf("reading group %s: %w", groupID, err)
	}
	if !ok {
		return nil, notFound("group %s", groupID)
	}
	what := fmt.Sprintf("reading the users of group %s and its nested groups", groupID)
	groups := map[int64]map[string]bool{}
	if err := s.nestDown(ctx, groupID, groups, what); err != nil {
		return nil, err
	}
	ids := map[string]bool{}
	if err := s.usersOfGroups(ctx, groups, ids, what); err != nil {
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
