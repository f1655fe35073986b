package provision

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/idsync/idsync/server/scim"
	"github.com/idsync/idsync/server/store"
)

// GroupImport is what an import of an app's groups found.
type GroupImport struct {
	// Read is the groups the app holds; AlreadyLinked those a hub group
	// was pushed as before; Own those recorded as the app's own.
	Read, AlreadyLinked, Own int
	// Linked are the groups newly linked to the hub group pushed as them.
	Linked []LinkedGroup
	// Drift lists the pushed groups whose app copy gained or lost members
	// (or another name) outside the hub; the next reconcile sets them
	// back.
	Drift []GroupDrift
}

// LinkedGroup is an app's group linked to a hub group by an import.
type LinkedGroup struct {
	// Group is the hub group's name, RemoteName the app's group's.
	Group, RemoteName string
	// By is how they matched: "externalId" (the hub group's id) or
	// "displayName".
	By string
}

// GroupDrift is what a pushed group gained or lost in the app.
type GroupDrift struct {
	// Group is the hub group's name; Found says what changed.
	Group, Found string
}

// ImportGroups reads every group the app holds (paged, with members) and
// sorts them. A group a hub group is pushed as (by the remote id the
// pushes recorded) is compared with what idsync put in it: members gained
// or lost in the app outside the hub, or another name, are recorded as
// found (PushedGroup.Found) and reported; the next reconcile sets them
// back. A group whose externalId is the id of a hub group the app pushes
// and has not pushed yet, or else whose displayName is that group's name
// (the app's one group of that name, the hub's one group of that name),
// is linked to it: its push takes it over instead of creating a second
// one. Every other group is recorded as the app's own,
// with its members linked to hub users through the app's accounts (an
// import of the accounts first links those it can).
func (e *Engine) ImportGroups(ctx context.Context, a *store.App) (*GroupImport, error) {
	if a.Target != nil {
		return nil, errNotForDirectories("importing groups from the app")
	}
	c, err := e.Client(a)
	if err != nil {
		return nil, err
	}
	st := e.st
	accounts, err := st.ListAccounts(ctx, store.AccountFilter{AppID: a.ID})
	if err != nil {
		return nil, fmt.Errorf("the accounts of %s: %w", a.Name, err)
	}
	byRemote := make(map[string]string, len(accounts))
	for _, acct := range accounts {
		if acct.RemoteID != "" && acct.State != store.AccountDeleted {
			byRemote[acct.RemoteID] = acct.UserID
		}
	}
	pgs, err := st.ListPushedGroups(ctx, a.ID)
	if err != nil {
		return nil, fmt.Errorf("the pushed groups of %s: %w", a.Name, err)
	}
	pushed := make(map[string]*store.PushedGroup, len(pgs))
	for _, pg := range pgs {
		pushed[pg.RemoteID] = pg
	}
	cands, err := e.linkable(ctx, a, pgs)
	if err != nil {
		return nil, err
	}
	res := &GroupImport{}
	var own []*store.AppGroup
	var linked []string
	now := e.opts.Now()
	keep := func(id, externalID string, ag appGroup) {
		own = append(own, &store.AppGroup{AppID: a.ID, RemoteID: id, DisplayName: ag.name, ExternalID: externalID,
			Members: slices.Sorted(slices.Values(ag.members)), Unlinked: len(ag.foreign)})
	}
	// The app's members that are hub users are what the push starts from:
	// it adds and removes the difference to the hub group, and renames the
	// group. Members that are no account of idsync's are found, for the
	// reconcile.
	link := func(g *store.Group, id string, ag appGroup, by string) error {
		cands.take(g)
		if err := st.PutPushedGroup(ctx, &store.PushedGroup{AppID: a.ID, GroupID: g.ID, RemoteID: id, DisplayName: ag.name}); err != nil {
			return fmt.Errorf("linking group %s to %s: %w", ag.name, g.Name, err)
		}
		if err := st.SetPushedMembers(ctx, a.ID, g.ID, ag.members, nil); err != nil {
			return fmt.Errorf("linking group %s to %s: %w", ag.name, g.Name, err)
		}
		res.Linked = append(res.Linked, LinkedGroup{Group: g.Name, RemoteName: ag.name, By: by})
		linked = append(linked, g.ID)
		return e.noteFound(ctx, a, g.ID, appGroup{name: ag.name, foreign: ag.foreign}.found("", nil), res)
	}
	// A group named as a candidate waits for the end of the listing: it is
	// linked only if it is the app's one group of that name, and no group
	// claimed the candidate by externalId meanwhile.
	type hit struct {
		id, externalID string
		ag             appGroup
	}
	named := map[string][]hit{}
	err = c.ListGroups(ctx, scim.ListOptions{}, func(r scim.Resource) error {
		res.Read++
		id := r.ID()
		if id == "" {
			return nil
		}
		ag := appGroupOf(r, byRemote)
		if pg := pushed[id]; pg != nil {
			res.AlreadyLinked++
			recorded, err := st.PushedMembers(ctx, a.ID, pg.GroupID)
			if err != nil {
				return err
			}
			f := ag.found(pg.DisplayName, recorded)
			if f.empty() && pg.Found != "" {
				// Put back in the app meanwhile: nothing is left to report.
				return st.NotePushedGroupDrift(ctx, a.ID, pg.GroupID, "", time.Time{})
			}
			return e.noteFound(ctx, a, pg.GroupID, f, res)
		}
		if g := cands.byID[r.ExternalID()]; g != nil {
			return link(g, id, ag, "externalId")
		}
		if g := cands.named(ag.name); g != nil {
			named[g.ID] = append(named[g.ID], hit{id, r.ExternalID(), ag})
			return nil
		}
		keep(id, r.ExternalID(), ag)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("importing the groups of %s: %w", a.Name, scimOutcome(err))
	}
	for _, gid := range slices.Sorted(maps.Keys(named)) {
		hits := named[gid]
		if g := cands.byID[gid]; g != nil && len(hits) == 1 {
			if err := link(g, hits[0].id, hits[0].ag, "displayName"); err != nil {
				return nil, err
			}
			continue
		}
		for _, h := range hits {
			keep(h.id, h.externalID, h.ag)
		}
	}
	if err := st.PutAppGroups(ctx, a.ID, own); err != nil {
		return nil, fmt.Errorf("recording the groups of %s: %w", a.Name, err)
	}
	res.Own = len(own)
	if err := st.EnqueueMany(ctx, a.ID, store.JobGroup, linked, now); err != nil {
		return nil, err
	}
	e.wakeApp(a.ID)
	return res, nil
}

// noteFound records what an import found a pushed group changed in the
// app, with the usernames of the hub users it names ("": nothing).
func (e *Engine) noteFound(ctx context.Context, a *store.App, groupID string, f foundChange, res *GroupImport) error {
	if f.empty() {
		return nil
	}
	text, err := f.text(ctx, e.st)
	if err != nil {
		return err
	}
	if err := e.st.NotePushedGroupDrift(ctx, a.ID, groupID, text, e.opts.Now()); err != nil {
		return err
	}
	name := groupID
	if g, err := e.st.GetGroup(ctx, groupID); err == nil {
		name = g.Name
	}
	res.Drift = append(res.Drift, GroupDrift{Group: name, Found: text})
	return nil
}

// candidates are the hub groups an app pushes that no group of the app is
// linked to yet, by id and by folded name.
type candidates struct {
	byID   map[string]*store.Group
	byName map[string][]*store.Group
}

// linkable returns the groups assigned to an app that pushes groups, active,
// without a pushed record.
func (e *Engine) linkable(ctx context.Context, a *store.App, pgs []*store.PushedGroup) (*candidates, error) {
	c := &candidates{byID: map[string]*store.Group{}, byName: map[string][]*store.Group{}}
	if !a.PushGroups {
		return c, nil
	}
	as, err := e.st.ListAssignments(ctx, a.ID)
	if err != nil {
		return nil, fmt.Errorf("the assignments of %s: %w", a.Name, err)
	}
	pushed := make(map[string]bool, len(pgs))
	for _, pg := range pgs {
		pushed[pg.GroupID] = true
	}
	for _, x := range as {
		if x.Kind != store.AssignGroup || pushed[x.TargetID] {
			continue
		}
		g, err := e.st.GetGroup(ctx, x.TargetID)
		if isNotFound(err) {
			continue
		} else if err != nil {
			return nil, fmt.Errorf("group %s: %w", x.TargetID, err)
		}
		if g.Status != store.StatusActive {
			continue
		}
		c.byID[g.ID] = g
		k := strings.ToLower(g.Name)
		c.byName[k] = append(c.byName[k], g)
	}
	return c, nil
}

// named returns the one candidate of this name (folded), or nil.
func (c *candidates) named(name string) *store.Group {
	if gs := c.byName[strings.ToLower(name)]; len(gs) == 1 {
		return gs[0]
	}
	return nil
}

// take removes a candidate once a group of the app is linked to it.
func (c *candidates) take(g *store.Group) {
	delete(c.byID, g.ID)
	k := strings.ToLower(g.Name)
	c.byName[k] = slices.DeleteFunc(c.byName[k], func(x *store.Group) bool { return x.ID == g.ID })
}

// appGroupOf is what an app's group holds, its members sorted into hub
// users (by the accounts' remote ids) and the rest.
func appGroupOf(res scim.Resource, byRemote map[string]string) appGroup {
	ag := appGroup{name: res.DisplayName()}
	for _, m := range res.Members() {
		if id, ok := byRemote[m]; ok {
			ag.members = append(ag.members, id)
		} else {
			ag.foreign = append(ag.foreign, m)
		}
	}
	return ag
}

// foundChange is what an app's group holds that idsync did not put there
// (hub users by id, other members by remote id), what it lacks that idsync
// did, and its name when another than the one pushed.
type foundChange struct {
	added, foreign, removed []string
	renamed, pushedAs       string
}

// found compares an app's group with the name and members idsync pushed
// ("" name: not compared).
func (ag appGroup) found(name string, recorded []string) foundChange {
	added, removed := diffIDs(recorded, ag.members)
	f := foundChange{added: added, foreign: ag.foreign, removed: removed}
	if name != "" && ag.name != name {
		f.renamed, f.pushedAs = ag.name, name
	}
	return f
}

func (f foundChange) empty() bool {
	return len(f.added)+len(f.foreign)+len(f.removed) == 0 && f.renamed == ""
}

// text says it, naming hub users by username.
func (f foundChange) text(ctx context.Context, st Store) (string, error) {
	names := func(ids []string) ([]string, error) {
		out := make([]string, len(ids))
		for i, id := range ids {
			u, err := st.GetUser(ctx, id)
			if err != nil && !isNotFound(err) {
				return nil, err
			}
			out[i] = id
			if u != nil {
				out[i] = cmp.Or(u.Username, id)
			}
		}
		return out, nil
	}
	var parts []string
	if n := len(f.added) + len(f.foreign); n > 0 {
		// Three names at most are shown: look up no more.
		added, err := names(f.added[:min(len(f.added), 3)])
		if err != nil {
			return "", err
		}
		parts = append(parts, fmt.Sprintf("%d member(s) added in the app (%s)", n,
			listOf(slices.Concat(added, f.added[len(added):], f.foreign))))
	}
	if len(f.removed) > 0 {
		removed, err := names(f.removed[:min(len(f.removed), 3)])
		if err != nil {
			return "", err
		}
		parts = append(parts, fmt.Sprintf("%d member(s) removed in the app (%s)", len(f.removed),
			listOf(slices.Concat(removed, f.removed[len(removed):]))))
	}
	if f.renamed != "" {
		parts = append(parts, fmt.Sprintf("renamed %q in the app (pushed as %q)", f.renamed, f.pushedAs))
	}
	return strings.Join(parts, "; "), nil
}
