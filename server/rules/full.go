package rules

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/idsync/idsync/server/ingest"
	"github.com/idsync/idsync/server/store"
)

// Sample is how many of the users joining and leaving an Outcome names.
const Sample = 10

// Outcome is what an evaluation of a rule did, or would do (a preview).
type Outcome struct {
	Rule *store.Rule
	// Members is how many users the group held before; Matched how many
	// the expression holds.
	Members, Matched int
	// Joined and Left count the users who join and leave; Joining and
	// Leaving name the first Sample of each.
	Joined, Left     int
	Joining, Leaving []*store.User
	// Errors counts the users for which the expression failed (their
	// membership is left as it was); FirstError says why for the first.
	Errors     int
	FirstError string
	// Paused is the run that holds the change for an admin: the safeguard
	// tripped and nothing was written.
	Paused *store.Run
}

// plan is a full evaluation computed and not yet written.
type plan struct {
	Outcome
	c   *compiled
	g   *store.Group
	d   *store.Directory
	pos int64 // the feed position read before anything else
	// want are the ids the group should hold; other: it holds values
	// that are no user, which the complete write drops.
	want  []string
	other bool
}

// changes reports whether writing the plan changes the group.
func (p *plan) changes() bool { return p.Joined > 0 || p.Left > 0 || p.other }

// plan evaluates rule c over every user it covers; rules are every rule
// (for groups).
func (e *Engine) plan(ctx context.Context, c *compiled, rules []*store.Rule) (*plan, error) {
	pos, err := e.st.FeedPosition(ctx)
	if err != nil {
		return nil, err
	}
	g, d, err := e.target(ctx, c.r.GroupID)
	if err != nil {
		return nil, err
	}
	current, other, err := e.members(ctx, g.ID)
	if err != nil {
		return nil, err
	}
	p := &plan{Outcome: Outcome{Rule: c.r, Members: len(current)}, c: c, g: g, d: d, pos: pos, other: other}
	var gr *graph
	if c.groups {
		gg, err := e.st.GroupGraph(ctx)
		if err != nil {
			return nil, fmt.Errorf("reading the groups: %w", err)
		}
		gr = newGraph(gg, rules)
	}
	visited := map[string]bool{} // the current members the pages held
	dirs := c.r.Directories
	if len(dirs) == 0 {
		dirs = []int64{0}
	}
	for _, dir := range dirs {
		after := ""
		for {
			users, err := e.st.ListUsers(ctx, store.UserFilter{DirectoryID: dir, AfterID: after, Limit: feedPage})
			if err != nil {
				return nil, fmt.Errorf("listing users: %w", err)
			}
			if len(users) == 0 {
				break
			}
			after = users[len(users)-1].ID
			var direct map[string][]string
			if gr != nil {
				if direct, err = e.st.DirectGroups(ctx, userIDs(users)); err != nil {
					return nil, fmt.Errorf("reading the groups of users: %w", err)
				}
			}
			for _, u := range users {
				var groups []string
				if gr != nil {
					groups = gr.names(c.r.ID, direct[u.ID])
				}
				p.add(u, groups, current[u.ID])
				if current[u.ID] {
					visited[u.ID] = true
				}
			}
			if len(users) < feedPage {
				break
			}
		}
	}
	// Members the pages did not hold (of a directory the rule does not
	// cover) leave.
	var gone []string
	for id := range current {
		if !visited[id] {
			gone = append(gone, id)
		}
	}
	slices.Sort(gone)
	for _, id := range gone {
		u, err := e.st.GetUser(ctx, id)
		if err != nil {
			u = &store.User{ID: id}
		}
		p.leave(u)
	}
	return p, nil
}

// add decides for one user.
func (p *plan) add(u *store.User, groups []string, member bool) {
	in, err := p.c.decide(u, groups)
	if err != nil {
		p.Errors++
		if p.FirstError == "" {
			p.FirstError = userError(u, err)
		}
		in = member
	}
	switch {
	case in:
		p.Matched++
		p.want = append(p.want, u.ID)
		if !member {
			p.Joined++
			if len(p.Joining) < Sample {
				p.Joining = append(p.Joining, u)
			}
		}
	case member:
		p.leave(u)
	}
}

func (p *plan) leave(u *store.User) {
	p.Left++
	if len(p.Leaving) < Sample {
		p.Leaving = append(p.Leaving, u)
	}
}

func userIDs(users []*store.User) []string {
	ids := make([]string, len(users))
	for i, u := range users {
		ids[i] = u.ID
	}
	return ids
}

// safeguardOf returns the directory's safeguard, its defaults where unset.
func safeguardOf(d *store.Directory) (percent, most int) {
	return cmp.Or(d.SafeguardPercent, ingest.DefaultSafeguardPercent), cmp.Or(d.SafeguardMax, ingest.DefaultSafeguardMax)
}

// tripped says why removing left of a group's members passes d's
// safeguard, if it does. The safeguard guards large groups: it trips when
// more than SafeguardMax members would go, or more than SafeguardPercent
// of a group that holds more than SafeguardMax (a small group losing a
// few members is no mass removal; a removal of the rule, which empties
// the group, trips when the group holds more than SafeguardMax).
func tripped(d *store.Directory, left, members int) (string, bool) {
	percent, most := safeguardOf(d)
	if left <= most && (members <= most || left*100 <= percent*members) {
		return "", false
	}
	return fmt.Sprintf("the evaluation would remove %d of the group's %d members, more than the safeguard of directory %s allows "+
		"(%d members, or %d%% of a group of more than %d)", left, members, d.Name, most, percent, most), true
}

// mode says how a full evaluation goes.
type mode struct {
	// guarded: the safeguard applies.
	guarded bool
	// why is what asked for it ("added by admin:NAME", "scheduled"), for
	// the audit event.
	why string
}

// tries is how many times a full evaluation runs when the group was
// written meanwhile.
const tries = 3

// full evaluates rule c in full and writes its group: every user it covers
// is decided, the complete member set written. Under the safeguard, a
// removal of more members than it allows pauses instead (Outcome.Paused).
// The caller holds the rule's lock.
func (e *Engine) full(ctx context.Context, c *compiled, m mode) (*Outcome, error) {
	for try := 1; ; try++ {
		rules, err := e.st.ListRules(ctx)
		if err != nil {
			return nil, err
		}
		p, err := e.plan(ctx, c, rules)
		if err != nil {
			e.failed(ctx, c.r, err)
			return nil, err
		}
		if msg, trip := tripped(p.d, p.Left, p.Members); m.guarded && trip {
			run, err := e.pause(ctx, c.r, p.d, store.RulePendingApply, msg, p.Left)
			if err != nil {
				return nil, err
			}
			p.Paused = run
			return &p.Outcome, nil
		}
		if p.changes() {
			ev := &store.AuditEvent{Action: "rule.applied", Target: "group:" + p.g.Name,
				Detail: fmt.Sprintf("rule %s, full evaluation (%s): %d matched, %d joined%s, %d left%s, %d errors",
					c.r.Name, m.why, p.Matched, p.Joined, list(p.Joining, p.Joined), p.Left, list(p.Leaving, p.Left), p.Errors)}
			err := e.writeSet(ctx, c.r, p.d, p.g, p.want, p.g.Revision, ev)
			if errors.Is(err, store.ErrConflict) && try < tries {
				e.log.Info("a rule's group was written during its evaluation: evaluating again", "rule", c.r.Name, "try", try)
				continue
			}
			if err != nil {
				e.failed(ctx, c.r, err)
				return nil, err
			}
			if err := e.markLater(ctx, c.r, rules); err != nil {
				return nil, err
			}
		}
		ev := store.RuleEvaluation{At: e.now(), Position: p.pos, Matched: int64(p.Matched), Joined: int64(p.Joined),
			Left: int64(p.Left), Errors: int64(p.Errors)}
		if err := e.st.RuleEvaluated(ctx, c.r.ID, ev, p.FirstError); err != nil {
			return nil, fmt.Errorf("recording the evaluation of rule %s: %w", c.r.Name, err)
		}
		c.r.LastFull = ev
		if p.Errors > 0 {
			e.log.Warn("a rule's expression failed for some users; their membership was left as it was",
				"rule", c.r.Name, "errors", p.Errors, "first", p.FirstError)
		}
		e.log.Info("rule evaluated in full", "rule", c.r.Name, "group", p.g.Name, "why", m.why,
			"matched", p.Matched, "joined", p.Joined, "left", p.Left, "errors", p.Errors)
		return &p.Outcome, nil
	}
}

// list names the first Sample of n users in parentheses, "" when n is 0.
func list(users []*store.User, n int) string {
	if n == 0 {
		return ""
	}
	shown := users[:min(len(users), Sample)]
	more := ""
	if n > len(shown) {
		more = fmt.Sprintf(" and %d more", n-len(shown))
	}
	return " (" + usernames(shown) + more + ")"
}

// failed records an error of rule r.
func (e *Engine) failed(ctx context.Context, r *store.Rule, err error) {
	if ctx.Err() != nil {
		return
	}
	if rerr := e.st.RuleFailed(context.WithoutCancel(ctx), r.ID, err.Error(), e.now()); rerr != nil && !errors.Is(rerr, store.ErrNotFound) {
		e.log.Warn("recording a rule's error", "rule", r.Name, "err", rerr)
	}
}

// markLater marks the rules after r that read groups for a full
// evaluation: r's group changed, which moves groups for them.
func (e *Engine) markLater(ctx context.Context, r *store.Rule, rules []*store.Rule) error {
	var ids []int64
	for _, o := range rules {
		if o.ID <= r.ID {
			continue
		}
		if c, err := compile(o); err == nil && c.groups {
			ids = append(ids, o.ID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	pos, err := e.st.FeedPosition(ctx)
	if err != nil {
		return err
	}
	return e.st.MarkRulesGroupsChanged(ctx, ids, pos)
}
