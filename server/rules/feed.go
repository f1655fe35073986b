package rules

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/idsync/idsync/server/store"
)

// drain evaluates the rules for the changes the feed holds after the
// cursor, a page at a time; the cursor moves only once a page's writes are
// done, so a hub that stops in between evaluates the page again.
func (e *Engine) drain(ctx context.Context) error {
	pos, err := e.st.Cursor(ctx, cursorName)
	if err != nil {
		return err
	}
	if pos == 0 {
		if pos, err = e.start(ctx); err != nil {
			return err
		}
		if err := e.st.SetCursor(ctx, cursorName, pos); err != nil {
			return err
		}
	}
	// With no rule, no change calls for an evaluation (changed skips
	// every page): the cursor moves to the newest position, read before
	// the rules were, without reading the changes. A rule created after
	// is due for a full evaluation, which reads everything as it then is.
	head, err := e.st.FeedPosition(ctx)
	if err != nil {
		return err
	}
	if rules, err := e.st.ListRules(ctx); err != nil || len(rules) == 0 {
		if err != nil || head <= pos {
			return err
		}
		return e.st.SetCursor(ctx, cursorName, head)
	}
	for {
		changes, next, err := e.st.Changes(ctx, pos, feedPage)
		if err != nil {
			return err
		}
		if len(changes) == 0 {
			return nil
		}
		if err := e.changed(ctx, changes, next); err != nil {
			return err
		}
		if err := e.st.SetCursor(ctx, cursorName, next); err != nil {
			return err
		}
		pos = next
		if len(changes) < feedPage {
			return nil
		}
	}
}

// start is where a hub that never read the feed for rules begins: after
// what the last full evaluation of every rule read (a rule never
// evaluated in full is due for one, which reads everything), or at the
// newest position when no rule has been.
func (e *Engine) start(ctx context.Context) (int64, error) {
	pos, err := e.st.FeedPosition(ctx)
	if err != nil {
		return 0, err
	}
	rules, err := e.st.ListRules(ctx)
	if err != nil {
		return 0, err
	}
	for _, r := range rules {
		if !r.LastFull.At.IsZero() {
			pos = min(pos, r.LastFull.Position)
		}
	}
	return pos, nil
}

// changed evaluates the rules for a page of the feed that ends at next:
// every active rule for the users it changed, and the rules that read
// groups also for the users of the groups it changed (those holding at
// most ImmediateGroupUsers), which it marks for a full evaluation as well.
// A rule's own group is left out: the rules after it read its writes in
// this step, and its full evaluations mark them.
func (e *Engine) changed(ctx context.Context, changes []store.ObjectChange, next int64) error {
	rules, err := e.st.ListRules(ctx)
	if err != nil || len(rules) == 0 {
		return err
	}
	ruled := map[string]bool{}
	var active []*compiled
	var marks []int64
	for _, r := range rules {
		ruled[r.GroupID] = true
		c, err := compile(r)
		if err != nil {
			e.failed(ctx, r, err)
			continue
		}
		active = append(active, c)
		if c.groups {
			marks = append(marks, r.ID)
		}
	}
	var users, groups []string
	for _, c := range changes {
		switch {
		case c.Kind == store.ObjectUser:
			users = append(users, c.ObjectID)
		case !ruled[c.ObjectID]:
			groups = append(groups, c.ObjectID)
		}
	}
	members := map[string]bool{}
	if len(marks) > 0 && len(groups) > 0 {
		if err := e.st.MarkRulesGroupsChanged(ctx, marks, next); err != nil {
			return err
		}
		for _, id := range groups {
			if err := e.groupUsers(ctx, id, members); err != nil {
				return err
			}
		}
	}
	return e.evaluate(ctx, rules, active, users, members)
}

// groupUsers adds to into the users group id holds, directly or through
// nesting, when they are at most ImmediateGroupUsers.
func (e *Engine) groupUsers(ctx context.Context, id string, into map[string]bool) error {
	n, err := e.st.MemberCount(ctx, id)
	if err != nil || n > ImmediateGroupUsers {
		return err
	}
	us, err := e.st.GroupUsersTransitive(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil || len(us) > ImmediateGroupUsers {
		return err
	}
	for _, u := range us {
		into[u.ID] = true
	}
	return nil
}

// evaluate decides the users changed for every active rule, and the users
// of changed groups for the rules that read groups, in the rules' order
// (a rule reads in groups what the rules before it decided), then writes
// every rule's joins and leaves together: one batch per local directory,
// so that a user who moves from one rule's group to another's is in
// neither for no moment an app could see — it would lose its account in
// an app both groups are assigned to, and get it back. When the groups
// are in several directories, the joins are written before the leaves.
// It holds the locks of the rules, taken in their order.
func (e *Engine) evaluate(ctx context.Context, rules []*store.Rule, active []*compiled, changed []string, members map[string]bool) error {
	all := slices.Clone(changed)
	for id := range members {
		all = append(all, id)
	}
	slices.Sort(all)
	all = slices.Compact(all)
	if len(all) == 0 || len(active) == 0 {
		return nil
	}
	users := make(map[string]*store.User, len(all))
	for _, id := range all {
		u, err := e.st.GetUser(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			continue // purged
		}
		if err != nil {
			return err
		}
		users[id] = u
	}
	direct, err := e.st.DirectGroups(ctx, all)
	if err != nil {
		return err
	}
	var gr *graph
	if slices.ContainsFunc(active, func(c *compiled) bool { return c.groups }) {
		gg, err := e.st.GroupGraph(ctx)
		if err != nil {
			return err
		}
		gr = newGraph(gg, rules)
	}
	slices.Sort(changed)
	var errs []error
	var moves []*move
	for _, c := range active {
		ids := changed
		if c.groups {
			ids = all
		}
		defer e.lock(c.r.ID)()
		m, err := e.decideFor(ctx, c, ids, users, direct, gr)
		if err != nil {
			errs = append(errs, e.ruleFailed(ctx, c.r, err)...)
			continue
		}
		if m != nil {
			moves = append(moves, m)
		}
	}
	if err := e.writeMoves(ctx, moves); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// ruleFailed records and logs an error of a rule's evaluation; it returns
// it when the page is to be evaluated again: a rule whose group cannot be
// written (no longer a live local group) waits for an admin instead.
func (e *Engine) ruleFailed(ctx context.Context, r *store.Rule, err error) []error {
	e.failed(ctx, r, err)
	e.log.Warn("evaluating a rule for changed users", "rule", r.Name, "err", err)
	var te *TargetError
	if errors.As(err, &te) || errors.Is(err, ErrNotAGroup) {
		return nil
	}
	return []error{err}
}

// move is what a rule's evaluation of some users changes in its group.
type move struct {
	r           *store.Rule
	g           *store.Group
	d           *store.Directory
	join, leave []*store.User
}

// decideFor evaluates rule c for the users ids; it returns the joins and
// leaves (nil when none), and keeps direct (the users' direct groups) in
// step with them, for the rules after it. The caller holds the rule's
// lock.
func (e *Engine) decideFor(ctx context.Context, c *compiled, ids []string, users map[string]*store.User,
	direct map[string][]string, gr *graph) (*move, error) {
	r, err := e.st.GetRule(ctx, c.r.Name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil // removed meanwhile
	}
	if err != nil {
		return nil, err
	}
	if st, _, err := e.state(ctx, r); err != nil || st != StateActive || r.Expr != c.r.Expr || r.ID != c.r.ID {
		return nil, err // paused, held or changed meanwhile: its own evaluation follows
	}
	g, d, err := e.targetOf(ctx, r)
	if err != nil {
		return nil, err
	}
	m := &move{r: r, g: g, d: d}
	errs, first := 0, ""
	for _, id := range ids {
		u := users[id]
		if u == nil {
			continue
		}
		member := slices.Contains(direct[id], g.ID)
		var groups []string
		if c.groups {
			groups = gr.names(r.ID, direct[id])
		}
		in, err := c.decide(u, groups)
		switch {
		case err != nil:
			if errs++; first == "" {
				first = userError(u, err)
			}
		case in && !member:
			m.join = append(m.join, u)
			direct[id] = append(direct[id], g.ID)
		case !in && member:
			m.leave = append(m.leave, u)
			direct[id] = slices.DeleteFunc(direct[id], func(gid string) bool { return gid == g.ID })
		}
	}
	if first != "" {
		e.log.Warn("a rule's expression failed for a user; its membership was left as it was", "rule", r.Name, "errors", errs, "first", first)
		if err := e.st.RuleFailed(ctx, r.ID, first, e.now()); err != nil {
			return nil, err
		}
	}
	if len(m.join) == 0 && len(m.leave) == 0 {
		return nil, nil
	}
	return m, nil
}

// writeMoves writes the moves of a step: one batch per directory, the
// joins of every directory before the leaves when there are several.
func (e *Engine) writeMoves(ctx context.Context, moves []*move) error {
	byDir := map[int64][]*move{}
	var dirs []int64
	for _, m := range moves {
		if byDir[m.d.ID] == nil {
			dirs = append(dirs, m.d.ID)
		}
		byDir[m.d.ID] = append(byDir[m.d.ID], m)
	}
	phases := []func(*move) ([]*store.User, []*store.User){
		func(m *move) ([]*store.User, []*store.User) { return m.join, m.leave },
	}
	if len(dirs) > 1 {
		phases = []func(*move) ([]*store.User, []*store.User){
			func(m *move) ([]*store.User, []*store.User) { return m.join, nil },
			func(m *move) ([]*store.User, []*store.User) { return nil, m.leave },
		}
	}
	for _, phase := range phases {
		for _, dir := range dirs {
			var objs []*store.Object
			var evs []*store.AuditEvent
			var names []string
			for _, m := range byDir[dir] {
				join, leave := phase(m)
				if len(join) == 0 && len(leave) == 0 {
					continue
				}
				objs = append(objs, deltaObject(m.g, userIDs(join), userIDs(leave)))
				evs = append(evs, &store.AuditEvent{Actor: actorOf(m.r), Action: "rule.applied", Target: "group:" + m.g.Name,
					Detail: fmt.Sprintf("rule %s, on change: %d joined%s, %d left%s", m.r.Name, len(join), list(join, len(join)),
						len(leave), list(leave, len(leave)))})
				names = append(names, m.r.Name)
				e.log.Debug("rule applied to changed users", "rule", m.r.Name, "joined", len(join), "left", len(leave))
			}
			if len(objs) == 0 {
				continue
			}
			actor := "rule:" + strings.Join(names, ",")
			b := &store.Batch{Upserts: objs, Actor: actor, Audit: evs}
			if _, err := e.apply.ApplyWrite(ctx, byDir[dir][0].d, actor, b); err != nil {
				return fmt.Errorf("writing the groups of rules %s: %w", strings.Join(names, ", "), err)
			}
		}
	}
	return nil
}

// scheduled runs the full evaluations that are due, under the safeguard.
func (e *Engine) scheduled(ctx context.Context) error {
	rules, err := e.st.ListRules(ctx)
	if err != nil {
		return err
	}
	for _, r := range rules {
		if err := e.scheduledOne(ctx, r.Name); err != nil && ctx.Err() == nil {
			e.log.Warn("a scheduled full evaluation of a rule", "rule", r.Name, "err", err)
		}
	}
	return ctx.Err()
}

func (e *Engine) scheduledOne(ctx context.Context, name string) error {
	r, st, _, unlock, err := e.locked(ctx, name)
	if err != nil {
		return err
	}
	defer unlock()
	c, err := compile(r)
	if err != nil || st != StateActive {
		return nil // a compile error is recorded by the feed's step
	}
	why := e.due(c, e.now())
	if why == "" {
		return nil
	}
	o, err := e.full(ctx, c, mode{guarded: true, why: why})
	if err == nil && o.Paused != nil {
		e.log.Warn("a scheduled full evaluation of a rule paused: an admin must confirm or cancel it", "rule", r.Name, "run", o.Paused.ID)
	}
	return err
}

// due says why a full evaluation of c is due at now, "" when it is not:
// never evaluated in full (Settle after it was made, which leaves the
// first one to the door that made it, and after a failure), the schedule,
// or a group change since its last one, Settle after it.
func (e *Engine) due(c *compiled, now time.Time) string {
	r := c.r
	last := r.LastFull.At
	switch {
	case last.IsZero():
		if now.Sub(r.CreatedAt) < e.settle || (!r.LastErrorAt.IsZero() && now.Sub(r.LastErrorAt) < e.settle) {
			return ""
		}
		return "never evaluated in full"
	case e.every > 0 && now.Sub(last) >= e.every:
		return "scheduled"
	case c.groups && r.GroupsPos > r.LastFull.Position && now.Sub(last) >= e.settle:
		return "groups changed"
	}
	return ""
}
