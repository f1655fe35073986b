package api

import (
	"context"
	"errors"
	"maps"
	"slices"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/idsync/idsync/server/auth"
	"github.com/idsync/idsync/server/store"
)

// scopeStore is what the scope of an admin, and the lookups that keep to
// it, read of the store.
type scopeStore interface {
	GetDirectory(ctx context.Context, name string) (*store.Directory, error)
	GetUser(ctx context.Context, id string) (*store.User, error)
	FindUsers(ctx context.Context, directoryID int64, name string) ([]*store.User, error)
	GetGroup(ctx context.Context, id string) (*store.Group, error)
	FindGroups(ctx context.Context, directoryID int64, name string) ([]*store.Group, error)
	GroupUsersTransitive(ctx context.Context, groupID string) ([]*store.User, error)
	ListApps(ctx context.Context) ([]*store.App, error)
}

// groupScope is what a group-admin sees: the groups it acts for (by id),
// their users (nested groups included) and the directories they are in.
// limited is false for every other role, which sees everything its
// permissions allow.
//
// For a group-admin, whatever lies outside is absent: looking it up
// answers exactly as for something that does not exist, so that the
// answer does not tell whether it does.
type groupScope struct {
	limited bool
	groups  map[string]bool
	users   map[string]bool
	dirs    map[int64]bool
}

// groupScopeOf resolves the group ids of ctx's admin, when it is a
// group-admin, to their users and directories. A granted group the hub no
// longer has grants nothing.
func groupScopeOf(ctx context.Context, st scopeStore) (*groupScope, error) {
	ids, limited := auth.ScopeOf(ctx).GroupIDs()
	gs := &groupScope{limited: limited}
	if !limited {
		return gs, nil
	}
	gs.groups, gs.users, gs.dirs = map[string]bool{}, map[string]bool{}, map[int64]bool{}
	for _, id := range ids {
		g, err := st.GetGroup(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, statusErr(err, "loading group %s", id)
		}
		gs.groups[g.ID], gs.dirs[g.DirectoryID] = true, true
		users, err := st.GroupUsersTransitive(ctx, g.ID)
		if err != nil {
			return nil, statusErr(err, "listing the users of group %s", id)
		}
		for _, u := range users {
			gs.users[u.ID], gs.dirs[u.DirectoryID] = true, true
		}
	}
	return gs, nil
}

// user reports whether the admin may see the user with this id.
func (g *groupScope) user(id string) bool { return !g.limited || g.users[id] }

// group reports whether the admin may see the group with this id.
func (g *groupScope) group(id string) bool { return !g.limited || g.groups[id] }

// groupIDs is, for a group-admin, the sorted ids of its groups (never nil,
// so that a store filter by them keeps none when there are none); nil for
// other roles, whose filters keep every group.
func (g *groupScope) groupIDs() []string {
	if !g.limited {
		return nil
	}
	return append(make([]string, 0, len(g.groups)), slices.Sorted(maps.Keys(g.groups))...)
}

// userIDs is, for a group-admin, the sorted ids of the users it sees.
func (g *groupScope) userIDs() []string { return slices.Sorted(maps.Keys(g.users)) }

// scopeWindow is how many of a group-admin's user ids one read names.
const scopeWindow = 1000

// pageInScope reads a page of up to limit items in user id order, after
// the user id after. For a group-admin it walks the sorted ids of its
// users after that one, a window at a time, asking read for the items of
// each window (ids, with no after), until the page is full: the store
// never reads users outside its groups, and a page is short only at the
// end. Other roles: one read, with nil ids (every user) and after.
func pageInScope[T any](g *groupScope, after string, limit int, read func(ids []string, after string, limit int) ([]T, error)) ([]T, error) {
	if !g.limited {
		return read(nil, after, limit)
	}
	ids := g.userIDs()
	i, found := slices.BinarySearch(ids, after)
	if found {
		i++
	}
	var out []T
	for i < len(ids) && len(out) < limit {
		window := ids[i:min(i+scopeWindow, len(ids))]
		i += len(window)
		got, err := read(window, "", limit-len(out))
		if err != nil {
			return nil, err
		}
		out = append(out, got...)
	}
	return out, nil
}

// change is what an app's copy of a hub group was found changed by hand
// (PushedGroup.Drift, Found) as g may read it: the text names the users
// added or removed in the app, who may be outside a group-admin's groups,
// so a group-admin is told that it changed, not whom.
func (g *groupScope) change(text string) string {
	if !g.limited || text == "" {
		return text
	}
	return "changed in the app outside idsync (an admin who sees every user sees how)"
}

// noDirectory answers for a directory that does not exist, or that none of
// a group-admin's groups is in.
func noDirectory(name string) error {
	return status.Errorf(codes.NotFound, "directory %q does not exist (see `idsyncctl directory list`)", name)
}

// scopeIn returns the group scope of ctx's admin and the id of the
// directory named name as that scope sees it (0 when name is empty: any
// directory).
func scopeIn(ctx context.Context, st scopeStore, name string) (*groupScope, int64, error) {
	g, err := groupScopeOf(ctx, st)
	if err != nil || name == "" {
		return g, 0, err
	}
	d, err := st.GetDirectory(ctx, name)
	if errors.Is(err, store.ErrNotFound) || (err == nil && g.limited && !g.dirs[d.ID]) {
		return nil, 0, noDirectory(name)
	}
	if err != nil {
		return nil, 0, statusErr(err, "loading directory %q", name)
	}
	return g, d.ID, nil
}

// findUsers returns the user with id ref, else the users named ref, of
// directory dirID (0: any), that g sees.
func findUsers(ctx context.Context, st scopeStore, g *groupScope, dirID int64, ref string) ([]*store.User, error) {
	u, err := st.GetUser(ctx, ref)
	switch {
	case err == nil && (dirID == 0 || u.DirectoryID == dirID) && g.user(u.ID):
		return []*store.User{u}, nil
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return nil, statusErr(err, "loading user %q", ref)
	}
	users, err := st.FindUsers(ctx, dirID, ref)
	if err != nil {
		return nil, statusErr(err, "finding user %q", ref)
	}
	return slices.DeleteFunc(users, func(u *store.User) bool { return !g.user(u.ID) }), nil
}

// findGroups returns the group with id ref, else the groups named ref, of
// directory dirID (0: any), that g sees.
func findGroups(ctx context.Context, st scopeStore, g *groupScope, dirID int64, ref string) ([]*store.Group, error) {
	gr, err := st.GetGroup(ctx, ref)
	switch {
	case err == nil && (dirID == 0 || gr.DirectoryID == dirID) && g.group(gr.ID):
		return []*store.Group{gr}, nil
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return nil, statusErr(err, "loading group %q", ref)
	}
	groups, err := st.FindGroups(ctx, dirID, ref)
	if err != nil {
		return nil, statusErr(err, "finding group %q", ref)
	}
	return slices.DeleteFunc(groups, func(gr *store.Group) bool { return !g.group(gr.ID) }), nil
}

// oneGroup returns the one group with id ref, else named ref, in the
// directory named directory ("": any) as ctx's admin sees it: NotFound
// when none, FailedPrecondition when the name is in several directories.
func oneGroup(ctx context.Context, st scopeStore, ref, directory string) (*store.Group, error) {
	scope, dirID, err := scopeIn(ctx, st, directory)
	if err != nil {
		return nil, err
	}
	groups, err := findGroups(ctx, st, scope, dirID, ref)
	if err != nil {
		return nil, err
	}
	switch len(groups) {
	case 0:
		return nil, status.Errorf(codes.NotFound, "no group with id or name %q (see `idsyncctl group list`)", ref)
	case 1:
		return groups[0], nil
	}
	return nil, status.Errorf(codes.FailedPrecondition,
		"group name %q exists in %d directories: name one with --directory", ref, len(groups))
}

// oneUser returns the one user with id ref, else username ref, in the
// directory named directory ("": any) as ctx's admin sees it: NotFound
// when none, FailedPrecondition when the name is in several directories.
func oneUser(ctx context.Context, st scopeStore, ref, directory string) (*store.User, error) {
	scope, dirID, err := scopeIn(ctx, st, directory)
	if err != nil {
		return nil, err
	}
	return oneUserIn(ctx, st, scope, dirID, ref)
}

// oneUserIn is oneUser in a scope already read and a directory id (0: any).
func oneUserIn(ctx context.Context, st scopeStore, scope *groupScope, dirID int64, ref string) (*store.User, error) {
	users, err := findUsers(ctx, st, scope, dirID, ref)
	if err != nil {
		return nil, err
	}
	switch len(users) {
	case 0:
		return nil, status.Errorf(codes.NotFound, "no user with id or username %q", ref)
	case 1:
		return users[0], nil
	}
	return nil, status.Errorf(codes.FailedPrecondition,
		"username %q exists in %d directories: name one with --directory", ref, len(users))
}

// scopedAppNames maps app ids to names: every app, or the ones an
// app-admin limited to apps manages.
func scopedAppNames(ctx context.Context, st scopeStore) (map[int64]string, error) {
	apps, err := st.ListApps(ctx)
	if err != nil {
		return nil, statusErr(err, "listing apps")
	}
	scope := auth.ScopeOf(ctx)
	m := make(map[int64]string, len(apps))
	for _, a := range apps {
		if scope.App(a.ID) {
			m[a.ID] = a.Name
		}
	}
	return m, nil
}
