package provision

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"github.com/idsync/idsync/server/scim"
	"github.com/idsync/idsync/server/store"
)

// maxRunning bounds the running jobs scope reads: far more than the
// workers of every replica hold at once.
const maxRunning = 100000

// scopePart is how many user jobs scope queues in one commit.
const scopePart = 1000

// scope compares who is in scope of the app with the accounts idsync
// holds, without reading the app, and queues a push for every user whose
// account is missing or should no longer be active — after an assignment,
// an unassignment or a membership change — and for every group to push.
func (r *appRunner) scope(ctx context.Context) error {
	a, st := r.app, r.e.st
	now := r.e.opts.Now()
	// The users whose push is running are queued again whatever their
	// stored account says: that account is what the app held before the
	// push, which may have read the scope before this change (its
	// outcome is stored when it completes). Read before the accounts, so
	// that a push completing in between is either seen running here or
	// seen done there.
	running, err := st.ListJobs(ctx, store.JobFilter{AppID: a.ID, States: []store.JobState{store.JobRunning}, Limit: maxRunning})
	if err != nil {
		return err
	}
	var push []string
	for _, j := range running {
		if j.Kind == store.JobUser {
			push = append(push, j.Target)
		}
	}
	users, err := r.scopes.read(ctx)
	if err != nil {
		return err
	}
	accounts, err := r.accountsByUser(ctx)
	if err != nil {
		return err
	}
	inScope := make(map[string]bool, len(users))
	for _, id := range users {
		inScope[id] = true
		acct := accounts[id]
		if acct == nil || acct.State != store.AccountActive {
			push = append(push, id)
		}
	}
	for id, acct := range accounts {
		if !inScope[id] && (acct.State == store.AccountActive || acct.State == store.AccountCreating) {
			push = append(push, id)
		}
	}
	// Queued in parts, each its own commit, with the runner woken after
	// each: the first users' pushes start while the rest are queued. A
	// crash between parts leaves this job running; it runs again and
	// queues them all, coalescing into the jobs queued before. A user is
	// queued once: a second enqueue of a job claimed meanwhile would mark
	// it to run again.
	seen := make(map[string]bool, len(push))
	push = slices.DeleteFunc(push, func(id string) bool {
		dup := seen[id]
		seen[id] = true
		return dup
	})
	for part := range slices.Chunk(push, scopePart) {
		if err := st.EnqueueMany(ctx, a.ID, store.JobUser, part, now); err != nil {
			return err
		}
		signal(r.wake)
	}
	if err := r.queueGroups(ctx); err != nil {
		return err
	}
	if len(push) > 0 {
		r.log.Debug("scope", "in_scope", len(users), "queued", len(push))
	}
	return nil
}

// queueGroups queues a push of every group assigned to the app (when it
// pushes groups) and of every group pushed before.
func (r *appRunner) queueGroups(ctx context.Context) error {
	a, st := r.app, r.e.st
	now := r.e.opts.Now()
	groups := map[string]bool{}
	if a.PushGroups {
		as, err := st.ListAssignments(ctx, a.ID)
		if err != nil {
			return err
		}
		for _, x := range as {
			if x.Kind == store.AssignGroup {
				groups[x.TargetID] = true
			}
		}
	}
	pushed, err := st.ListPushedGroups(ctx, a.ID)
	if err != nil {
		return err
	}
	for _, pg := range pushed {
		groups[pg.GroupID] = true
	}
	return st.EnqueueMany(ctx, a.ID, store.JobGroup, slices.Collect(maps.Keys(groups)), now)
}

// reconcile reads every account the app holds and repairs drift: an
// account idsync made that is gone is created again, one whose mapped
// attributes were changed in the app is set back, the pushed groups are
// read and set back (members added or removed by hand, another name: see
// pushGroup), then the scope is compared. Accounts idsync does not know are left alone (an import from
// the app links them).
func (r *appRunner) reconcile(ctx context.Context) error {
	if r.app.Target != nil {
		// A directory is not listed: its accounts are kept by the pushes,
		// and the scope compared.
		return r.scope(ctx)
	}
	a, st := r.app, r.e.st
	now := r.e.opts.Now()
	accounts, err := r.accountsByUser(ctx)
	if err != nil {
		return err
	}
	byRemote := make(map[string]*store.Account, len(accounts))
	for _, acct := range accounts {
		if acct.RemoteID != "" && acct.State != store.AccountDeleted {
			byRemote[acct.RemoteID] = acct
		}
	}
	seen := map[string]bool{}
	drifted := 0
	err = r.target.ListUsers(ctx, func(res scim.Resource) error {
		acct := byRemote[res.ID()]
		if acct == nil {
			return nil
		}
		seen[res.ID()] = true
		pushed, err := decodePushed(acct.Pushed)
		if err != nil || !drift(pushed, res) {
			return nil
		}
		drifted++
		// What the app holds becomes what was pushed: the next push
		// sends the difference to what it should hold.
		acct.Pushed, _ = json.Marshal(project(pushed, res))
		acct.Hash = ""
		if err := st.PutAccount(ctx, acct); err != nil {
			return err
		}
		_, err = st.Enqueue(ctx, a.ID, store.JobUser, acct.UserID, now)
		return err
	})
	if err != nil {
		return fmt.Errorf("reading the accounts of %s: %w", a.Name, err)
	}
	gone := 0
	for remoteID, acct := range byRemote {
		if seen[remoteID] {
			continue
		}
		gone++
		acct.State, acct.Hash = store.AccountDeleted, ""
		if err := st.PutAccount(ctx, acct); err != nil {
			return err
		}
		if _, err := st.Enqueue(ctx, a.ID, store.JobUser, acct.UserID, now); err != nil {
			return err
		}
	}
	if drifted+gone > 0 {
		r.log.Info("reconcile found drift", "changed_in_app", drifted, "gone_from_app", gone)
	}
	// The pushed groups are read and set back by their own pushes, which
	// scope queues: one push of a group at a time reads and writes it.
	if err := st.CheckPushedGroups(ctx, a.ID, now); err != nil {
		return err
	}
	return r.scope(ctx)
}

// drift reports whether the app holds other values than were pushed, for
// the attributes pushed (the app's own attributes do not count).
func drift(pushed, remote scim.Resource) bool {
	return !reflect.DeepEqual(normal(pushed), normal(project(pushed, remote)))
}

// project returns remote's values of the attributes pushed holds.
func project(pushed, remote scim.Resource) scim.Resource {
	out := scim.Resource{}
	for k, pv := range pushed {
		if k == "schemas" || k == "id" || k == "meta" || k == "externalId" {
			out[k] = pv
			continue
		}
		rv, ok := lookupFold(remote, k)
		if !ok {
			continue
		}
		pm, pIsObj := pv.(map[string]any)
		rm, rIsObj := rv.(map[string]any)
		if pIsObj && rIsObj {
			sub := map[string]any{}
			for sk := range pm {
				if v, ok := lookupFold(rm, sk); ok {
					sub[sk] = v
				}
			}
			out[k] = sub
			continue
		}
		if pl, ok := pv.([]any); ok {
			if rl, ok := rv.([]any); ok {
				out[k] = projectList(pl, rl)
				continue
			}
		}
		out[k] = rv
	}
	return out
}

// projectList keeps, of each remote element of a multi-valued attribute,
// the sub-attributes the pushed elements have.
func projectList(pushed, remote []any) []any {
	keys := map[string]bool{}
	for _, e := range pushed {
		if m, ok := e.(map[string]any); ok {
			for k := range m {
				keys[k] = true
			}
		}
	}
	out := make([]any, 0, len(remote))
	for _, e := range remote {
		m, ok := e.(map[string]any)
		if !ok {
			out = append(out, e)
			continue
		}
		sub := map[string]any{}
		for k := range keys {
			if v, ok := lookupFold(m, k); ok {
				sub[k] = v
			}
		}
		out = append(out, sub)
	}
	return out
}

func lookupFold(m map[string]any, k string) (any, bool) {
	if v, ok := m[k]; ok {
		return v, true
	}
	for mk, v := range m {
		if strings.EqualFold(mk, k) {
			return v, true
		}
	}
	return nil, false
}

// normal round-trips through JSON so that values decoded from the app and
// built by the mapping compare equal when they are.
func normal(r scim.Resource) any {
	raw, _ := json.Marshal(r)
	var v any
	_ = json.Unmarshal(raw, &v)
	return v
}
