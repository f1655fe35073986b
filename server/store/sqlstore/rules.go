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

// Group rules (group_rules): a rule and what its evaluations found. The
// group's name and directory are read with it; the names of the
// directories it covers are looked up after.

const ruleSelect = `SELECT r.id, r.name, r.group_id, COALESCE(g.name, ''), COALESCE(g.directory_id, 0),
	COALESCE((SELECT d.name FROM directories d WHERE d.id = g.directory_id), ''), r.expr, r.directories,
	r.created_by, r.created_at, r.updated_at, r.full_at, r.full_pos, r.full_matched, r.full_joined,
	r.full_left, r.full_errors, r.groups_pos, r.last_error, r.last_error_at, r.paused_run, r.pending,
	COALESCE(g.external_id, ''), COALESCE(g.description, ''), COALESCE(g.status, ''), COALESCE(g.revision, 0)
	FROM group_rules r LEFT JOIN objects g ON g.id = r.group_id`

func scanRule(sc scanner) (*store.Rule, error) {
	r := &store.Rule{}
	e, g := &r.LastFull, &r.Target
	err := sc.Scan(&r.ID, &r.Name, &r.GroupID, &r.Group, &r.DirectoryID, &r.Directory, &r.Expr,
		scanJSON{&r.Directories, "directories"}, &r.CreatedBy, scanTime{&r.CreatedAt}, scanTime{&r.UpdatedAt},
		scanTime{&e.At}, &e.Position, &e.Matched, &e.Joined, &e.Left, &e.Errors, &r.GroupsPos,
		&r.LastError, scanTime{&r.LastErrorAt}, &r.PausedRun, &r.Pending,
		&g.ExternalID, &g.Description, &g.Status, &g.Revision)
	g.ID, g.Name, g.DirectoryID, g.Directory = r.GroupID, r.Group, r.DirectoryID, r.Directory
	return r, err
}

// rules reads the rules q (ruleSelect and a condition) selects, with the
// names of the directories they cover.
func (s *Store) rules(ctx context.Context, q runner, what, cond string, args ...any) ([]*store.Rule, error) {
	rows, err := q.query(ctx, ruleSelect+cond, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	rules, err := collect(rows, scanRule, what)
	if err != nil || !slices.ContainsFunc(rules, func(r *store.Rule) bool { return len(r.Directories) > 0 }) {
		return rules, err
	}
	rows, err = q.query(ctx, `SELECT id, name FROM directories`)
	if err != nil {
		return nil, fmt.Errorf("%s: reading directory names: %w", what, err)
	}
	type dir struct {
		id   int64
		name string
	}
	dirs, err := collect(rows, func(sc scanner) (dir, error) {
		var d dir
		return d, sc.Scan(&d.id, &d.name)
	}, what)
	if err != nil {
		return nil, err
	}
	names := make(map[int64]string, len(dirs))
	for _, d := range dirs {
		names[d.id] = d.name
	}
	for _, r := range rules {
		for _, id := range r.Directories {
			r.DirectoryNames = append(r.DirectoryNames, cmp.Or(names[id], fmt.Sprintf("#%d", id)))
		}
	}
	return rules, nil
}

// rule reads the one rule cond selects, or store.ErrNotFound naming it.
func (s *Store) rule(ctx context.Context, q runner, name, cond string, args ...any) (*store.Rule, error) {
	rs, err := s.rules(ctx, q, "reading rule "+name, cond, args...)
	if err != nil {
		return nil, err
	}
	if len(rs) == 0 {
		return nil, notFound("rule %s", name)
	}
	return rs[0], nil
}

// CreateRule inserts r and sets r.ID, its times and the fields filled on
// read. A taken name (whatever its case) or group is store.ErrConflict; a
// group the hub does not have store.ErrNotFound.
func (s *Store) CreateRule(ctx context.Context, r *store.Rule) error {
	dirs, err := jsonArg(r.Directories, len(r.Directories) == 0)
	if err != nil {
		return fmt.Errorf("encoding the directories of rule %q: %w", r.Name, err)
	}
	var got *store.Rule
	err = s.inTx(ctx, func(tx runner) error {
		ok, err := tx.exists(ctx, `SELECT 1 FROM objects WHERE id = ? AND kind = 'group'`, r.GroupID)
		if err != nil {
			return fmt.Errorf("creating rule %q: %w", r.Name, err)
		}
		if !ok {
			return notFound("creating rule %q: group %s", r.Name, r.GroupID)
		}
		t := tx.t(now())
		var id int64
		if err := tx.row(ctx, `INSERT INTO group_rules (name, name_key, group_id, expr, directories, created_by,
			created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			r.Name, strings.ToLower(r.Name), r.GroupID, r.Expr, dirs, r.CreatedBy, t, t).Scan(&id); err != nil {
			return s.refErr(err, "creating rule %q (its name, or its group %s, is another rule's)", r.Name, r.GroupID)
		}
		got, err = s.rule(ctx, tx, r.Name, ` WHERE r.id = ?`, id)
		return err
	})
	if err != nil {
		return err
	}
	*r = *got
	return nil
}

// UpdateRule replaces the expression and directories of the rule with
// r.ID and sets r.UpdatedAt. Unknown: store.ErrNotFound.
func (s *Store) UpdateRule(ctx context.Context, r *store.Rule) error {
	dirs, err := jsonArg(r.Directories, len(r.Directories) == 0)
	if err != nil {
		return fmt.Errorf("encoding the directories of rule %q: %w", r.Name, err)
	}
	t := now()
	n, err := s.wr.execN(ctx, `UPDATE group_rules SET expr = ?, directories = ?, updated_at = ? WHERE id = ?`,
		r.Expr, dirs, s.wr.t(t), r.ID)
	if err != nil {
		return fmt.Errorf("updating rule %d (%q): %w", r.ID, r.Name, err)
	}
	if n == 0 {
		return notFound("rule %d", r.ID)
	}
	r.UpdatedAt = t
	return nil
}

// GetRule returns the rule named name, whatever its case.
func (s *Store) GetRule(ctx context.Context, name string) (*store.Rule, error) {
	return s.rule(ctx, s.rd, fmt.Sprintf("%q", name), ` WHERE r.name_key = ?`, strings.ToLower(name))
}

// RuleOfGroup returns the rule of group groupID.
func (s *Store) RuleOfGroup(ctx context.Context, groupID string) (*store.Rule, error) {
	return s.rule(ctx, s.rd, "of group "+groupID, ` WHERE r.group_id = ?`, groupID)
}

// ListRules returns every rule in id order.
func (s *Store) ListRules(ctx context.Context) ([]*store.Rule, error) {
	return s.rules(ctx, s.rd, "listing rules", ` ORDER BY r.id`)
}

// DeleteRule removes a rule.
func (s *Store) DeleteRule(ctx context.Context, id int64) error {
	n, err := s.wr.execN(ctx, `DELETE FROM group_rules WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("deleting rule %d: %w", id, err)
	}
	if n == 0 {
		return notFound("rule %d", id)
	}
	return nil
}

// RuleEvaluated records a full evaluation, unless the rule holds a newer
// one already (a higher position).
func (s *Store) RuleEvaluated(ctx context.Context, id int64, e store.RuleEvaluation, lastError string) error {
	return s.inTx(ctx, func(tx runner) error {
		var pos int64
		if err := tx.row(ctx, `SELECT full_pos FROM group_rules WHERE id = ?`+tx.d.LockRow, id).Scan(&pos); err != nil {
			return noRows(err, "rule %d", id)
		}
		if e.Position < pos {
			return nil
		}
		if _, err := tx.exec(ctx, `UPDATE group_rules SET full_at = ?, full_pos = ?, full_matched = ?, full_joined = ?,
			full_left = ?, full_errors = ? WHERE id = ?`,
			tx.t(e.At), e.Position, e.Matched, e.Joined, e.Left, e.Errors, id); err != nil {
			return fmt.Errorf("recording the evaluation of rule %d: %w", id, err)
		}
		if lastError != "" {
			return ruleFailed(ctx, tx, id, lastError, e.At)
		}
		return nil
	})
}

// RuleFailed records a rule's newest evaluation error.
func (s *Store) RuleFailed(ctx context.Context, id int64, msg string, at time.Time) error {
	return ruleFailed(ctx, s.wr, id, msg, at)
}

func ruleFailed(ctx context.Context, q runner, id int64, msg string, at time.Time) error {
	n, err := q.execN(ctx, `UPDATE group_rules SET last_error = ?, last_error_at = ? WHERE id = ?`, msg, q.t(at), id)
	if err != nil {
		return fmt.Errorf("recording an error of rule %d: %w", id, err)
	}
	if n == 0 {
		return notFound("rule %d", id)
	}
	return nil
}

// MarkRulesGroupsChanged raises the groups position of the rules ids to
// pos.
func (s *Store) MarkRulesGroupsChanged(ctx context.Context, ids []int64, pos int64) error {
	return chunks(ids, s.d.MaxParams-1, func(part []int64) error {
		args := []any{pos}
		for _, id := range part {
			args = append(args, id)
		}
		if _, err := s.wr.exec(ctx, `UPDATE group_rules SET groups_pos = ? WHERE id IN (`+marks(len(part))+`)
			AND groups_pos < ?`, append(args, pos)...); err != nil {
			return fmt.Errorf("marking the groups of %d rules changed: %w", len(part), err)
		}
		return nil
	})
}

// SetRulePause records or clears the run that holds a rule's change.
func (s *Store) SetRulePause(ctx context.Context, id, runID int64, pending store.RulePending) error {
	n, err := s.wr.execN(ctx, `UPDATE group_rules SET paused_run = ?, pending = ? WHERE id = ?`, runID, string(pending), id)
	if err != nil {
		return fmt.Errorf("setting the pause of rule %d: %w", id, err)
	}
	if n == 0 {
		return notFound("rule %d", id)
	}
	return nil
}

// DirectGroups returns the ids of the groups that list each user
// directly, by user id: the users' member keys looked up in chunks, as
// fillGroups does.
func (s *Store) DirectGroups(ctx context.Context, userIDs []string) (map[string][]string, error) {
	var users []userRow
	err := chunks(userIDs, s.d.MaxParams, func(part []string) error {
		rows, err := s.rd.query(ctx, `SELECT id, directory_id, dn_key, name_key FROM objects
			WHERE id IN (`+marks(len(part))+`) AND kind = 'user'`, anys(part)...)
		if err != nil {
			return err
		}
		got, err := collect(rows, func(sc scanner) (userRow, error) {
			u := userRow{User: &store.User{}}
			return u, sc.Scan(&u.ID, &u.DirectoryID, &u.dnKey, &u.nameKey)
		}, "reading member keys")
		users = append(users, got...)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("reading the member keys of %d users: %w", len(userIDs), err)
	}
	out := make(map[string][]string, len(users))
	if err := s.directGroups(ctx, users, func(u *store.User, groupID, _ string) {
		out[u.ID] = append(out[u.ID], groupID)
	}); err != nil {
		return nil, err
	}
	for _, ids := range out {
		slices.Sort(ids)
	}
	return out, nil
}

// directGroups calls found once for each user and each group (not
// deprovisioned) that lists it directly: by DN or by username in its
// directory, by id in any. It looks the users' member keys up in chunks,
// as constants, which both planners serve from the member key index.
func (s *Store) directGroups(ctx context.Context, users []userRow, found func(u *store.User, groupID, name string)) error {
	byKey := map[string][]*store.User{}
	for _, u := range users {
		for _, k := range u.keys() {
			byKey[k] = append(byKey[k], u.User)
		}
	}
	type membership struct{ user, group string }
	seen := map[membership]bool{}
	// CROSS JOIN keeps SQLite from scanning the groups first.
	err := chunks(slices.Sorted(maps.Keys(byKey)), 1000, func(part []string) error {
		rows, err := s.rd.query(ctx, `SELECT m.member_key, g.id, g.directory_id, g.name
			FROM memberships m CROSS JOIN objects g
			WHERE m.member_key IN (`+marks(len(part))+`) AND g.id = m.group_id
			AND g.kind = 'group' AND g.status <> 'deprovisioned'`, anys(part)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var key, gid, name string
			var dir int64
			if err := rows.Scan(&key, &gid, &dir, &name); err != nil {
				return err
			}
			for _, u := range byKey[key] {
				if (u.DirectoryID == dir || strings.HasPrefix(key, store.MemberKeyID)) && !seen[membership{u.ID, gid}] {
					seen[membership{u.ID, gid}] = true
					found(u, gid, name)
				}
			}
		}
		return rows.Err()
	})
	if err != nil {
		return fmt.Errorf("reading the groups of users: %w", err)
	}
	return nil
}

// MemberCount counts a group's member rows: a range of the memberships
// primary key.
func (s *Store) MemberCount(ctx context.Context, groupID string) (int64, error) {
	var n int64
	if err := s.rd.row(ctx, `SELECT COUNT(*) FROM memberships WHERE group_id = ?`, groupID).Scan(&n); err != nil {
		return 0, fmt.Errorf("counting the members of group %s: %w", groupID, err)
	}
	return n, nil
}

// nestingEdges selects the nesting steps: a group (not deprovisioned)
// whose DN another group of its directory lists, or whose id any group
// lists; each step is a probe of the member key index per group.
const nestingEdges = `SELECT m.group_id, g.id FROM objects g CROSS JOIN memberships m CROSS JOIN objects o
	WHERE g.kind = 'group' AND g.status <> 'deprovisioned' AND g.dn_key <> ''
	AND m.member_key = 'dn:' || g.dn_key AND o.id = m.group_id AND o.kind = 'group'
	AND o.directory_id = g.directory_id AND o.status <> 'deprovisioned'
	UNION
	SELECT m.group_id, g.id FROM objects g CROSS JOIN memberships m CROSS JOIN objects o
	WHERE g.kind = 'group' AND g.status <> 'deprovisioned'
	AND m.member_key = 'id:' || g.id AND o.id = m.group_id AND o.kind = 'group' AND o.status <> 'deprovisioned'`

// GroupGraph returns the groups that are not deprovisioned and how they
// nest.
func (s *Store) GroupGraph(ctx context.Context) (*store.GroupGraph, error) {
	rows, err := s.rd.query(ctx, `SELECT g.id, g.directory_id, COALESCE(d.name, ''), g.name
		FROM objects g LEFT JOIN directories d ON d.id = g.directory_id
		WHERE g.kind = 'group' AND g.status <> 'deprovisioned'`)
	if err != nil {
		return nil, fmt.Errorf("reading the groups: %w", err)
	}
	groups, err := collect(rows, func(sc scanner) (*store.Group, error) {
		g := &store.Group{Status: store.StatusActive}
		return g, sc.Scan(&g.ID, &g.DirectoryID, &g.Directory, &g.Name)
	}, "reading the groups")
	if err != nil {
		return nil, err
	}
	out := &store.GroupGraph{Groups: make(map[string]*store.Group, len(groups))}
	for _, g := range groups {
		out.Groups[g.ID] = g
	}
	rows, err = s.rd.query(ctx, nestingEdges)
	if err != nil {
		return nil, fmt.Errorf("reading the nesting of groups: %w", err)
	}
	if out.Edges, err = collect(rows, func(sc scanner) (store.NestEdge, error) {
		var e store.NestEdge
		return e, sc.Scan(&e.Outer, &e.Inner)
	}, "reading the nesting of groups"); err != nil {
		return nil, err
	}
	slices.SortFunc(out.Edges, func(a, b store.NestEdge) int {
		return cmp.Or(strings.Compare(a.Outer, b.Outer), strings.Compare(a.Inner, b.Inner))
	})
	return out, nil
}
