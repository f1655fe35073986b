package provision

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/idsync/idsync/server/scim"
	"github.com/idsync/idsync/server/store"
)

// pushGroup keeps one hub group in step as a SCIM Group of the app: the
// groups assigned to an app that pushes groups are pushed, named as in the
// hub, with their members through nesting that hold an active account in
// the app. Membership moves by difference (add and remove by member id, in
// chunks; one PUT of the whole group when the app does not take PATCH);
// what the app holds is recorded after each change, so a failed push
// resumes where it stopped. A group no longer pushed is deleted in the app
// when deletes are allowed, else emptied.
//
// A member without an account in the app cannot be put in: it is recorded
// as missing. While the push of one of them is still queued or running,
// the job waits for it, with the queue's backoff, up to Options.MaxAttempts
// runs; then (or at once when none is: its push is dead-lettered, say) the
// job ends with the members it could push, and the account's arrival
// queues the group again (commit). So a member whose create cannot succeed
// costs the queue nothing, and the queue empties.
//
// After a reconcile asked for it (PushedGroup.CheckAt), the push reads the
// group in the app first and sets back what was changed there: members
// added or removed by hand, another displayName; what it found is recorded
// as the group's drift, which app show reports.
func (r *appRunner) pushGroup(ctx context.Context, groupID string, attempt int) error {
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
	users, err := st.GroupUsersTransitive(ctx, groupID)
	if err != nil {
		return err
	}
	want, missing, accounts, err := r.members(ctx, users)
	if err != nil {
		return err
	}
	// Of the members without an account, those whose push is queued or
	// running: the job waits for them. The pushes are read after the
	// accounts, and the accounts again after: a push that completes in
	// between is seen running, or its account is.
	pending := 0
	if len(missing) > 0 {
		running, err := r.openUserJobs(ctx)
		if err != nil {
			return err
		}
		if want, missing, accounts, err = r.members(ctx, users); err != nil {
			return err
		}
		for _, id := range missing {
			if running[id] {
				pending++
			}
		}
	}
	check := pushed != nil && pushed.CheckAt.After(pushed.CheckedAt)
	if pushed == nil {
		var adopted bool
		if pushed, adopted, err = r.createGroup(ctx, g); err != nil {
			return err
		}
		// An adopted group holds what the app put in it: read it.
		check = adopted
	}
	recorded, err := st.PushedMembers(ctx, a.ID, groupID)
	if err != nil {
		return err
	}
	state := *pushed
	state.Missing = missing
	inApp := appGroup{name: pushed.DisplayName, members: recorded}
	if check {
		checkedAt := r.e.opts.Now()
		if inApp, err = r.readGroup(ctx, pushed, accounts); err != nil {
			return r.groupGone(ctx, g, err)
		}
		state.CheckedAt = checkedAt
		if d := inApp.drift(pushed.DisplayName, recorded, users); d != "" {
			state.Drift, state.DriftAt = d, checkedAt
			r.log.Info("group changed in the app; set back", "group", g.Name, "drift", d)
		}
	}
	add, remove := diffIDs(inApp.members, want)
	removeRemote := append(r.remoteIDs(remove, accounts), inApp.foreign...)
	renamed := inApp.name != g.Name
	switch {
	case !renamed && len(add)+len(removeRemote) == 0:
	case !r.patchMode(ctx):
		members := make([]any, 0, len(want))
		for _, id := range r.remoteIDs(want, accounts) {
			members = append(members, map[string]any{"value": id})
		}
		err = r.target.ReplaceGroup(ctx, pushed.RemoteID, scim.Resource{"displayName": g.Name, "externalId": g.ID, "members": members})
	default:
		if renamed {
			err = r.target.RenameGroup(ctx, pushed.RemoteID, g.Name)
		}
		if err == nil && len(add)+len(removeRemote) > 0 {
			err = r.target.PatchGroupMembers(ctx, pushed.RemoteID, r.remoteIDs(add, accounts), removeRemote)
		}
	}
	if err != nil {
		return r.groupGone(ctx, g, err)
	}
	state.DisplayName = g.Name
	if err := st.PutPushedGroup(ctx, &state); err != nil {
		return err
	}
	if add, remove := diffIDs(recorded, want); len(add)+len(remove) > 0 {
		if err := st.SetPushedMembers(ctx, a.ID, groupID, add, remove); err != nil {
			return err
		}
	}
	switch {
	case len(missing) == 0:
	case pending > 0 && attempt < r.e.opts.MaxAttempts:
		return &later{at: r.e.opts.Now().Add(r.e.backoff(attempt)),
			why: fmt.Sprintf("%d member(s) of %s have no account in the app yet; their push is running", pending, g.Name)}
	default:
		r.log.Info("group pushed without the members that have no account in the app", "group", g.Name,
			"missing", len(missing), "attempt", attempt)
	}
	return nil
}

// members sorts the active users of a group: those with an active
// account in the app (want), and those without whom the app may create
// one (missing); with the app's accounts by user.
func (r *appRunner) members(ctx context.Context, users []*store.User) (want, missing []string, accounts map[string]*store.Account, err error) {
	if accounts, err = r.accountsByUser(ctx); err != nil {
		return nil, nil, nil, err
	}
	for _, u := range users {
		if u.Status != store.StatusActive {
			continue
		}
		acct := accounts[u.ID]
		switch {
		case acct != nil && acct.State == store.AccountActive && acct.RemoteID != "":
			want = append(want, u.ID)
		case r.app.AllowCreate:
			missing = append(missing, u.ID)
		}
	}
	return want, missing, accounts, nil
}

// groupGone turns a failed write to a pushed group into the job's error:
// a group deleted in the app is forgotten, so that the next run creates
// it again.
func (r *appRunner) groupGone(ctx context.Context, g *store.Group, err error) error {
	if is[*NotFound](err) {
		if derr := r.e.st.DeletePushedGroup(ctx, r.app.ID, g.ID); derr != nil {
			return derr
		}
		return fmt.Errorf("group %s is gone from the app; it is pushed again: %w", g.Name, err)
	}
	return fmt.Errorf("group %s: %w", g.Name, err)
}

// appGroup is what an app's group holds: its name, the hub users among its
// members, and the members that are no account of idsync's.
type appGroup struct {
	name    string
	members []string // hub user ids
	foreign []string // remote ids
}

// readGroup reads a pushed group in the app.
func (r *appRunner) readGroup(ctx context.Context, pg *store.PushedGroup, accounts map[string]*store.Account) (appGroup, error) {
	res, err := r.target.GetGroup(ctx, pg.RemoteID)
	if err != nil {
		return appGroup{}, err
	}
	byRemote := make(map[string]string, len(accounts))
	for _, acct := range accounts {
		if acct.RemoteID != "" && acct.State != store.AccountDeleted {
			byRemote[acct.RemoteID] = acct.UserID
		}
	}
	return appGroupOf(res, byRemote), nil
}

// drift says what the app's group holds that idsync did not put there,
// and what it lacks that idsync did: "" when nothing.
func (ag appGroup) drift(name string, recorded []string, users []*store.User) string {
	names := make(map[string]string, len(users))
	for _, u := range users {
		names[u.ID] = u.Username
	}
	added, removed := diffIDs(recorded, ag.members)
	var parts []string
	if n := len(added) + len(ag.foreign); n > 0 {
		parts = append(parts, fmt.Sprintf("%d member(s) added in the app removed (%s)", n,
			listOf(append(nameAll(added, names), ag.foreign...))))
	}
	if len(removed) > 0 {
		parts = append(parts, fmt.Sprintf("%d member(s) removed in the app put back (%s)", len(removed), listOf(nameAll(removed, names))))
	}
	if name != "" && ag.name != name {
		parts = append(parts, fmt.Sprintf("renamed %q in the app, named %q again", ag.name, name))
	}
	return strings.Join(parts, "; ")
}

func nameAll(ids []string, names map[string]string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = cmp.Or(names[id], id)
	}
	return out
}

// listOf lists up to three names, and how many more.
func listOf(s []string) string {
	if len(s) > 3 {
		return strings.Join(s[:3], ", ") + fmt.Sprintf(" and %d more", len(s)-3)
	}
	return strings.Join(s, ", ")
}

// remoteIDs are the app's ids of the accounts of users.
func (r *appRunner) remoteIDs(users []string, accounts map[string]*store.Account) []string {
	out := make([]string, 0, len(users))
	for _, id := range users {
		if acct := accounts[id]; acct != nil && acct.RemoteID != "" {
			out = append(out, acct.RemoteID)
		}
	}
	return out
}

// openUserJobs are the users whose push is queued or running.
func (r *appRunner) openUserJobs(ctx context.Context) (map[string]bool, error) {
	js, err := r.e.st.ListJobs(ctx, store.JobFilter{AppID: r.app.ID, States: []store.JobState{store.JobQueued, store.JobRunning},
		Limit: maxRunning})
	if err != nil {
		return nil, err
	}
	out := make(map[string]bool, len(js))
	for _, j := range js {
		if j.Kind == store.JobUser {
			out[j.Target] = true
		}
	}
	return out, nil
}

// wakeGroups queues the push of each pushed group that misses one of
// these users, whose accounts in the app now exist.
func (r *appRunner) wakeGroups(ctx context.Context, users map[string]bool) {
	if !r.app.PushGroups || len(users) == 0 {
		return
	}
	pgs, err := r.e.st.ListPushedGroups(ctx, r.app.ID)
	if err != nil {
		r.log.Warn("reading the pushed groups", "err", err)
		return
	}
	var groups []string
	for _, pg := range pgs {
		if slices.ContainsFunc(pg.Missing, func(id string) bool { return users[id] }) {
			groups = append(groups, pg.GroupID)
		}
	}
	if len(groups) == 0 {
		return
	}
	if err := r.e.st.EnqueueMany(ctx, r.app.ID, store.JobGroup, groups, r.e.opts.Now()); err != nil {
		r.log.Warn("queueing the groups that waited for accounts", "err", err)
		return
	}
	signal(r.wake)
}

// createGroup creates the SCIM Group of a hub group, or adopts the one
// group of that displayName (Conflict).
func (r *appRunner) createGroup(ctx context.Context, g *store.Group) (*store.PushedGroup, bool, error) {
	res, err := r.target.CreateGroup(ctx, scim.Resource{"displayName": g.Name, "externalId": g.ID})
	adopted := is[*Conflict](err)
	if adopted {
		found, ferr := r.target.FindGroups(ctx, g.Name)
		if ferr != nil {
			return nil, false, fmt.Errorf("group %s: looking up the group of that name: %w", g.Name, ferr)
		}
		var match []scim.Resource
		for _, f := range found {
			if strings.EqualFold(f.DisplayName(), g.Name) {
				match = append(match, f)
			}
		}
		if len(match) != 1 {
			return nil, false, &permanent{fmt.Errorf("group %s: the name is taken, but the app holds %d groups of that name", g.Name, len(match))}
		}
		res, err = match[0], nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("creating group %s: %w", g.Name, err)
	}
	pg := &store.PushedGroup{AppID: r.app.ID, GroupID: g.ID, RemoteID: res.ID(), DisplayName: res.DisplayName()}
	if err := r.e.st.PutPushedGroup(ctx, pg); err != nil {
		return nil, false, err
	}
	return pg, adopted, nil
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
		remove := r.remoteIDs(have, accounts)
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
