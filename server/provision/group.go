package provision

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/idsync/idsync/server/scim"
	"github.com/idsync/idsync/server/store"
)

// groupRetry is how soon a group push runs again while some of its members'
// accounts are still being created (users before groups).
const groupRetry = 2 * time.Second

// pushGroup keeps one hub group in step as a SCIM Group of the app: the
// groups assigned to an app that pushes groups are pushed, with their
// members through nesting that hold an active account in the app.
// Membership moves by difference (add and remove by member id, in
// chunks); what the app holds is recorded after each change, so a failed
// push resumes where it stopped. A group no longer pushed is deleted in
// the app when deletes are allowed, else emptied.
func (r *appRunner) pushGroup(ctx context.Context, groupID string) error {
	a, st := r.app, r.e.st
	g, err := st.GetGroup(ctx, groupID)
	if isNotFound(err) {
		g, err = nil, nil
	}
	if err != nil {
		return err
	}
	pushed, err := r.pushedGroup(ctx, groupID)
	if err != nil {
		return err
	}
	assigned, err := r.groupAssigned(ctx, groupID)
	if err != nil {
		return err
	}
	if !a.PushGroups || g == nil || g.Status != store.StatusActive || !assigned {
		if pushed == nil {
			return nil
		}
		return r.unpushGroup(ctx, pushed)
	}
	accounts, err := r.accountsByUser(ctx)
	if err != nil {
		return err
	}
	users, err := st.GroupUsersTransitive(ctx, groupID)
	if err != nil {
		return err
	}
	var want []string
	waiting := 0
	for _, u := range users {
		if u.Status != store.StatusActive {
			continue
		}
		acct := accounts[u.ID]
		if acct != nil && acct.State == store.AccountActive && acct.RemoteID != "" {
			want = append(want, u.ID)
		} else if a.AllowCreate {
			waiting++
		}
	}
	if pushed == nil {
		pushed, err = r.createGroup(ctx, g)
		if err != nil {
			return err
		}
	}
	have, err := st.PushedMembers(ctx, a.ID, groupID)
	if err != nil {
		return err
	}
	add, remove := diffIDs(have, want)
	remote := func(ids []string) []string {
		out := make([]string, 0, len(ids))
		for _, id := range ids {
			if acct := accounts[id]; acct != nil && acct.RemoteID != "" {
				out = append(out, acct.RemoteID)
			}
		}
		return out
	}
	if len(add)+len(remove) > 0 {
		err := r.target.PatchGroupMembers(ctx, pushed.RemoteID, remote(add), remote(remove))
		if is[*NotFound](err) {
			// Deleted in the app: forget it; the next run creates it again.
			if derr := st.DeletePushedGroup(ctx, a.ID, groupID); derr != nil {
				return derr
			}
			return fmt.Errorf("group %s is gone from the app; it is pushed again: %w", g.Name, err)
		}
		if err != nil {
			return fmt.Errorf("group %s: %w", g.Name, err)
		}
		if err := st.SetPushedMembers(ctx, a.ID, groupID, add, remove); err != nil {
			return err
		}
	}
	if waiting > 0 {
		return &later{at: r.e.opts.Now().Add(groupRetry),
			why: fmt.Sprintf("%d member(s) of %s have no account in the app yet", waiting, g.Name)}
	}
	return nil
}

// createGroup creates the SCIM Group of a hub group, or adopts the one
// group of that displayName (Conflict).
func (r *appRunner) createGroup(ctx context.Context, g *store.Group) (*store.PushedGroup, error) {
	res, err := r.target.CreateGroup(ctx, scim.Resource{"displayName": g.Name, "externalId": g.ID})
	if is[*Conflict](err) {
		found, ferr := r.target.FindGroups(ctx, g.Name)
		if ferr != nil {
			return nil, fmt.Errorf("group %s: looking up the group of that name: %w", g.Name, ferr)
		}
		var match []scim.Resource
		for _, f := range found {
			if strings.EqualFold(f.DisplayName(), g.Name) {
				match = append(match, f)
			}
		}
		if len(match) != 1 {
			return nil, &permanent{fmt.Errorf("group %s: the name is taken, but the app holds %d groups of that name", g.Name, len(match))}
		}
		res, err = match[0], nil
	}
	if err != nil {
		return nil, fmt.Errorf("creating group %s: %w", g.Name, err)
	}
	pg := &store.PushedGroup{AppID: r.app.ID, GroupID: g.ID, RemoteID: res.ID()}
	if err := r.e.st.PutPushedGroup(ctx, pg); err != nil {
		return nil, err
	}
	return pg, nil
}

// unpushGroup deletes (or empties) a group that is no longer pushed.
func (r *appRunner) unpushGroup(ctx context.Context, pg *store.PushedGroup) error {
	st := r.e.st
	if r.app.AllowDelete {
		if err := r.target.DeleteGroup(ctx, pg.RemoteID); err != nil && !is[*NotFound](err) {
			return fmt.Errorf("deleting group %s: %w", pg.RemoteID, err)
		}
	} else {
		have, err := st.PushedMembers(ctx, r.app.ID, pg.GroupID)
		if err != nil {
			return err
		}
		accounts, err := r.accountsByUser(ctx)
		if err != nil {
			return err
		}
		var remove []string
		for _, id := range have {
			if acct := accounts[id]; acct != nil && acct.RemoteID != "" {
				remove = append(remove, acct.RemoteID)
			}
		}
		if err := r.target.PatchGroupMembers(ctx, pg.RemoteID, nil, remove); err != nil && !is[*NotFound](err) {
			return fmt.Errorf("emptying group %s: %w", pg.RemoteID, err)
		}
	}
	return st.DeletePushedGroup(ctx, r.app.ID, pg.GroupID)
}

func (r *appRunner) pushedGroup(ctx context.Context, groupID string) (*store.PushedGroup, error) {
	gs, err := r.e.st.ListPushedGroups(ctx, r.app.ID)
	if err != nil {
		return nil, err
	}
	for _, g := range gs {
		if g.GroupID == groupID {
			return g, nil
		}
	}
	return nil, nil
}

func (r *appRunner) groupAssigned(ctx context.Context, groupID string) (bool, error) {
	as, err := r.e.st.ListAssignments(ctx, r.app.ID)
	if err != nil {
		return false, err
	}
	return slices.ContainsFunc(as, func(a store.Assignment) bool {
		return a.Kind == store.AssignGroup && a.TargetID == groupID
	}), nil
}

// accountsByUser reads the app's accounts by user id.
func (r *appRunner) accountsByUser(ctx context.Context) (map[string]*store.Account, error) {
	all, err := r.e.st.ListAccounts(ctx, store.AccountFilter{AppID: r.app.ID})
	if err != nil {
		return nil, err
	}
	out := make(map[string]*store.Account, len(all))
	for _, a := range all {
		out[a.UserID] = a
	}
	return out, nil
}

// diffIDs returns what to add to have to make want, and what to remove.
func diffIDs(have, want []string) (add, remove []string) {
	h := make(map[string]bool, len(have))
	for _, id := range have {
		h[id] = true
	}
	w := make(map[string]bool, len(want))
	for _, id := range want {
		w[id] = true
		if !h[id] {
			add = append(add, id)
		}
	}
	for _, id := range have {
		if !w[id] {
			remove = append(remove, id)
		}
	}
	return add, remove
}
