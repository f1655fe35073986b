package rules

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/idsync/idsync/server/provision"
	"github.com/idsync/idsync/server/provision/expr"
	"github.com/idsync/idsync/server/store"
)

// compiled is a rule ready to evaluate.
type compiled struct {
	r *store.Rule
	e *expr.Expr
	// groups: the expression reads the field groups.
	groups bool
	// dirs are the directories the rule covers; nil: every one.
	dirs map[int64]bool
}

// compile checks a rule's expression; the error names the line and
// column.
func compile(r *store.Rule) (*compiled, error) {
	x, err := expr.Compile(r.Expr)
	if err != nil {
		return nil, &FieldError{Field: "expr", Why: fmt.Sprintf("%q: %v", r.Expr, err)}
	}
	c := &compiled{r: r, e: x, groups: slices.Contains(x.Fields(), "groups")}
	if len(r.Directories) > 0 {
		c.dirs = map[int64]bool{}
		for _, id := range r.Directories {
			c.dirs[id] = true
		}
	}
	return c, nil
}

// covers reports whether the rule covers the users of directory id.
func (c *compiled) covers(directoryID int64) bool { return c.dirs == nil || c.dirs[directoryID] }

// decide says whether u belongs in the rule's group; groups is the field
// groups (nil when the rule does not read it). A user of a directory the
// rule does not cover does not. An expression that fails, or gives
// something that is not a bool or null, is an error: no decision.
func (c *compiled) decide(u *store.User, groups []string) (bool, error) {
	if !c.covers(u.DirectoryID) {
		return false, nil
	}
	if c.groups && groups == nil {
		groups = []string{}
	}
	v, err := c.e.Eval(provision.UserEnv{User: u, Groups: groups})
	if err != nil {
		return false, err
	}
	if v.IsNull() {
		return false, nil
	}
	b, ok := v.AsBool()
	if !ok {
		return false, fmt.Errorf("the expression gave %s (a %s), not true or false", v, v.Kind())
	}
	return b, nil
}

// userError names the user an evaluation failed for.
func userError(u *store.User, err error) string {
	var ee *expr.Error
	if errors.As(err, &ee) {
		return fmt.Sprintf("user %s (%s): %s", u.Username, u.ID, ee)
	}
	return fmt.Sprintf("user %s (%s): %v", u.Username, u.ID, err)
}

// graph is the hub's groups and their nesting, as the rules see them in
// groups.
type graph struct {
	groups map[string]*store.Group
	// up holds, by group id, the groups it is a member of.
	up map[string][]string
	// ruleOf holds, by group id, the id of the rule that masters it.
	ruleOf map[string]int64
	// memo holds, by rule id and group id, the names a user directly in
	// the group has in groups as that rule sees it.
	memo map[int64]map[string][]string
}

func newGraph(g *store.GroupGraph, rules []*store.Rule) *graph {
	out := &graph{groups: g.Groups, up: map[string][]string{}, ruleOf: map[string]int64{},
		memo: map[int64]map[string][]string{}}
	for _, e := range g.Edges {
		out.up[e.Inner] = append(out.up[e.Inner], e.Outer)
	}
	for _, r := range rules {
		out.ruleOf[r.GroupID] = r.ID
	}
	return out
}

// hidden reports whether rule does not see group: the group of that rule
// or of a later one.
func (g *graph) hidden(rule int64, group string) bool {
	owner, ok := g.ruleOf[group]
	return ok && owner >= rule
}

// names returns groups for a user directly in the groups direct, as rule
// sees it: every group reached from them going up, but those hidden to
// the rule and what is reached only through them, each by its name and
// by DIRECTORY/NAME, sorted, each once.
func (g *graph) names(rule int64, direct []string) []string {
	out := []string{}
	for _, id := range direct {
		out = append(out, g.above(rule, id)...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// above returns the names of group id and the groups above it, as rule
// sees them.
func (g *graph) above(rule int64, id string) []string {
	m := g.memo[rule]
	if m == nil {
		m = map[string][]string{}
		g.memo[rule] = m
	}
	if names, ok := m[id]; ok {
		return names
	}
	var names []string
	seen := map[string]bool{}
	stack := []string{id}
	for len(stack) > 0 {
		cur := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		gr, ok := g.groups[cur]
		if seen[cur] || !ok || g.hidden(rule, cur) {
			continue
		}
		seen[cur] = true
		names = append(names, gr.Name, gr.Directory+"/"+gr.Name)
		stack = append(stack, g.up[cur]...)
	}
	m[id] = names
	return names
}

// names joins the usernames of users.
func usernames(users []*store.User) string {
	var b strings.Builder
	for i, u := range users {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(cmp.Or(u.Username, u.ID))
	}
	return b.String()
}
