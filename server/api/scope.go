package api

import (
	"context"

	"github.com/idsync/idsync/server/auth"
	"github.com/idsync/idsync/server/store"
)

// groupScope is what a group-admin sees: the groups it acts for (by id)
// and their users, nested groups included. limited is false for every
// other role, which sees everything its permissions allow.
type groupScope struct {
	limited bool
	groups  map[string]bool
	users   map[string]bool
}

// groupScopeOf resolves the groups of ctx's admin, when it is a
// group-admin, to their ids and users.
func groupScopeOf(ctx context.Context, st store.Store) (*groupScope, error) {
	names, limited := auth.ScopeOf(ctx).Groups()
	gs := &groupScope{limited: limited}
	if !limited {
		return gs, nil
	}
	gs.groups, gs.users = map[string]bool{}, map[string]bool{}
	for _, n := range names {
		groups, err := st.FindGroups(ctx, 0, n)
		if err != nil {
			return nil, statusErr(err, "finding group %q", n)
		}
		for _, g := range groups {
			gs.groups[g.ID] = true
			users, err := st.GroupUsersTransitive(ctx, g.ID)
			if err != nil {
				return nil, statusErr(err, "listing the users of group %q", n)
			}
			for _, u := range users {
				gs.users[u.ID] = true
			}
		}
	}
	return gs, nil
}

// user reports whether the admin may see the user with this id.
func (g *groupScope) user(id string) bool { return !g.limited || g.users[id] }

// group reports whether the admin may see the group with this id.
func (g *groupScope) group(id string) bool { return !g.limited || g.groups[id] }

// outOfScope is the refusal of an object outside a group-admin's groups.
func outOfScope(ctx context.Context, perm auth.Permission, what string) error {
	return auth.ScopeOf(ctx).OutOfGroups(perm, what)
}

// scopedAppNames maps app ids to names: every app, or the ones an
// app-admin limited to apps manages.
func scopedAppNames(ctx context.Context, st store.Store) (map[int64]string, error) {
	apps, err := st.ListApps(ctx)
	if err != nil {
		return nil, statusErr(err, "listing apps")
	}
	scope := auth.ScopeOf(ctx)
	m := make(map[int64]string, len(apps))
	for _, a := range apps {
		if scope.App(a.Name) {
			m[a.ID] = a.Name
		}
	}
	return m, nil
}
