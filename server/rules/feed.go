package rules

import (
	"context"
	"errors"
	"fmt"
	"slices"
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
	g, err := e.st.GetGroup(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil || g.MemberCount > ImmediateGroupUsers {
		return err
	}
	us, err := e.st.GroupUsersTransitive(ctx, id)
	if err != nil || len(us) > ImmediateGroupUsers {
		return err
	}
	for _, u := range us {
		into[u.ID] = true
	}
	return nil
}

// evaluate decides the users changed for every active rule, and the users
// of changed groups for the rules that read groups, in the rules' order:
// each rule's joins and leaves are written (one batch) before the next
// rule reads groups.
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
	for _, c := range active {
		ids := changed
		if c.groups {
			ids = all
		}
		err := e.decideFor(ctx, c, ids, users, direct, gr)
		if err == nil {
			continue
		}
		e.failed(ctx, c.r, err)
		e.log.Warn("evaluating a rule for changed users", "rule", c.r.Name, "err", err)
		// A rule whose group cannot be written (no longer a live local
		// group) waits for an admin; any other failure evaluates the page
		// again at the next step.
		var te *TargetError
		if !errors.As(err, &te) && !errors.Is(err, ErrNotAGroup) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// decideFor evaluates rule c for the users ids and writes the joins and
// leaves, keeping direct (the users' direct groups) in step with what it
// wrote.
func (e *Engine) decideFor(ctx context.Context, c *compiled, ids []string, users map[string]*store.User,
	direct map[string][]string, gr *graph) error {
	defer e.lock(c.r.ID)()
	r, err := e.st.GetRule(ctx, c.r.Name)
	if errors.Is(err, store.ErrNotFound) {
		return nil // removed meanwhile
	}
	if err != nil {
		return err
	}
	if st, _, err := e.state(ctx, r); err != nil || st != StateActive || r.Expr != c.r.Expr || r.ID != c.r.ID {
		return err // paused, held or changed meanwhile: its own evaluation follows
	}
	g, d, err := e.target(ctx, r.GroupID)
	if err != nil {
		return err
	}
	var join, leave []*store.User
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
			join = append(join, u)
		case !in && member:
			leave = append(leave, u)
		}
	}
	if first != "" {
		e.log.Warn("a rule's expression failed for a user; its membership was left as it was", "rule", r.Name, "errors", errs, "first", first)
		if err := e.st.RuleFailed(ctx, r.ID, first, e.now()); err != nil {
			return err
		}
	}
	if len(join) == 0 && len(leave) == 0 {
		return nil
	}
	ev := &store.AuditEvent{Action: "rule.applied", Target: "group:" + g.Name,
		Detail: fmt.Sprintf("rule %s, on change: %d joined%s, %d left%s", r.Name, len(join), list(join, len(join)), len(leave), list(leave, len(leave)))}
	if err := e.writeDelta(ctx, r, d, g, userIDs(join), userIDs(leave), ev); err != nil {
		return err
	}
	for _, u := range join {
		direct[u.ID] = append(direct[u.ID], g.ID)
	}
	for _, u := range leave {
		direct[u.ID] = slices.DeleteFunc(direct[u.ID], func(id string) bool { return id == g.ID })
	}
	e.log.Debug("rule applied to changed users", "rule", r.Name, "joined", len(join), "left", len(leave))
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
// never evaluated in full (but within Settle of a failure), the schedule,
// or a group change since its last one, Settle after it.
func (e *Engine) due(c *compiled, now time.Time) string {
	r := c.r
	last := r.LastFull.At
	switch {
	case last.IsZero():
		if !r.LastErrorAt.IsZero() && now.Sub(r.LastErrorAt) < e.settle {
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
