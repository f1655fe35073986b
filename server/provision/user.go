package provision

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/idsync/idsync/server/scim"
	"github.com/idsync/idsync/server/store"
)

// wanted is what an app should hold of a user.
type wanted struct {
	// inScope: assigned directly or through a group; active: in scope and
	// active in the hub, so the account should be active.
	inScope, active bool
	why             string
}

// userState reads a user (nil when the hub has none by that id), its
// account in the app (nil when none) and what the app should hold.
//
// inScope, when not nil, answers whether the user is in scope of the app
// (a runner's cache); nil asks the store.
func (e *Engine) userState(ctx context.Context, a *store.App, userID string, inScope func(context.Context, string) (bool, error)) (*store.User, *store.Account, wanted, error) {
	u, err := e.st.GetUser(ctx, userID)
	if isNotFound(err) {
		u, err = nil, nil
	}
	if err != nil {
		return nil, nil, wanted{}, fmt.Errorf("reading user %s: %w", userID, err)
	}
	acct, err := e.st.GetAccount(ctx, a.ID, userID)
	if isNotFound(err) {
		acct, err = nil, nil
	}
	if err != nil {
		return nil, nil, wanted{}, fmt.Errorf("reading the account of user %s: %w", userID, err)
	}
	if u == nil {
		return u, acct, wantedOf(nil, false), nil
	}
	if inScope == nil {
		inScope = func(ctx context.Context, userID string) (bool, error) {
			apps, err := e.st.AppsOfUser(ctx, userID)
			return slices.Contains(apps, a.ID), err
		}
	}
	in, err := inScope(ctx, userID)
	if err != nil {
		return nil, nil, wanted{}, fmt.Errorf("the apps of user %s: %w", userID, err)
	}
	return u, acct, wantedOf(u, in), nil
}

// wantedOf is what an app should hold of user u (nil: the hub has none),
// in scope of the app or not.
func wantedOf(u *store.User, inScope bool) wanted {
	w := wanted{inScope: inScope}
	switch {
	case u == nil:
		w.inScope = false
		w.why = "the user is no longer in the hub"
	case !inScope:
		w.why = "the user is not assigned to the app (directly or through a group)"
	case u.Status != store.StatusActive:
		w.why = fmt.Sprintf("the user is %s in the hub", u.Status)
	default:
		w.active = true
		w.why = "the user is assigned and active"
	}
	return w
}

// userRead is what the read of a claimed batch found for one user job:
// the user (nil: the hub has none), its account in the app (nil: none),
// and, when scoped, whether it is in scope of the app.
type userRead struct {
	user            *store.User
	acct            *store.Account
	scoped, inScope bool
}

// readUsers reads what the user jobs among a claimed batch push — their
// users, accounts and scope — in a few queries for the whole batch instead
// of a few per job, keyed by user id. Read after the claim committed, it
// is as fresh as a job's own read at its start: a change committed after
// it (a user's, a membership's, an assignment's) queues the user's job
// while it is still running, marking it Again, so that it runs once more
// (the feed does, and the scope job for every running user job). nil when
// a read failed: each job reads its own then.
func (r *appRunner) readUsers(ctx context.Context, jobs []*store.Job) map[string]*userRead {
	var ids []string
	for _, j := range jobs {
		if j.Kind == store.JobUser {
			ids = append(ids, j.Target)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	in, scoped, err := r.scopes.inScopeAll(ctx, ids)
	if err != nil {
		r.log.Warn("reading the scope of a batch of jobs", "jobs", len(ids), "err", err)
		return nil
	}
	users, err := r.e.st.GetUsers(ctx, ids)
	if err != nil {
		r.log.Warn("reading the users of a batch of jobs", "jobs", len(ids), "err", err)
		return nil
	}
	accounts, err := r.e.st.GetAccounts(ctx, r.app.ID, ids)
	if err != nil {
		r.log.Warn("reading the accounts of a batch of jobs", "jobs", len(ids), "err", err)
		return nil
	}
	out := make(map[string]*userRead, len(ids))
	for _, id := range ids {
		out[id] = &userRead{scoped: scoped, inScope: in[id]}
	}
	for _, u := range users {
		if ur := out[u.ID]; ur != nil {
			ur.user = u
		}
	}
	for _, a := range accounts {
		if ur := out[a.UserID]; ur != nil {
			ur.acct = a
		}
	}
	return out
}

// userState is Engine.userState for a push: from the read of its batch
// when there is one, through the runner's scope cache.
func (r *appRunner) userState(ctx context.Context, userID string, read *userRead) (*store.User, *store.Account, wanted, error) {
	switch {
	case read == nil:
		return r.e.userState(ctx, r.app, userID, r.scopes.inScope)
	case read.user == nil || read.scoped:
		return read.user, read.acct, wantedOf(read.user, read.inScope), nil
	}
	in, err := r.scopes.inScope(ctx, userID)
	if err != nil {
		return nil, nil, wanted{}, fmt.Errorf("the apps of user %s: %w", userID, err)
	}
	return read.user, read.acct, wantedOf(read.user, in), nil
}

// usePatch says whether updates use PATCH: the app's setting, else what
// its ServiceProviderConfig said (PUT when it was never read).
func (e *Engine) usePatch(a *store.App) bool {
	switch a.UpdateMode {
	case "patch":
		return true
	case "put":
		return false
	}
	return a.PatchSupported != nil && *a.PatchSupported
}

// patchMode is usePatch, reading the app's ServiceProviderConfig once
// when the app follows it and it was never read.
func (r *appRunner) patchMode(ctx context.Context) bool {
	if r.app.UpdateMode == "patch" || r.app.UpdateMode == "put" {
		return r.app.UpdateMode == "patch"
	}
	r.patchMu.Lock()
	defer r.patchMu.Unlock()
	if r.patch == nil {
		p, err := r.target.PatchSupported(ctx)
		if err != nil {
			return false // PUT works everywhere; read again next time
		}
		r.patch = &p
		// Recorded for preview, which must show what the push sends.
		if err := r.e.st.SetAppPatchSupported(ctx, r.app.ID, p); err != nil {
			r.log.Warn("recording the PATCH support", "err", err)
		}
	}
	return *r.patch
}

// pushUser makes the app hold what it should of one user: create, update,
// reactivate, deactivate (or a manual task), delete after the retention.
// It decides from the store and what was last pushed, so running it twice
// or late does the right thing.
//
// retry says an earlier attempt of the job may have sent a create whose
// outcome is unknown (the hub died, or the job failed after it): the
// account is then looked up before it is created.
//
// read, when not nil, is what the read of the job's batch found.
func (r *appRunner) pushUser(ctx context.Context, userID string, retry bool, read *userRead) error {
	a := r.app
	u, acct, w, err := r.userState(ctx, userID, read)
	if err != nil {
		return err
	}
	if retry && acct == nil {
		// Treat it as a create in flight: found, it is adopted.
		acct = &store.Account{AppID: a.ID, UserID: userID, State: store.AccountCreating}
	}
	if !w.active {
		return r.deprovision(ctx, u, userID, acct, w)
	}
	desired, err := r.mapping.Render(u, true)
	if err != nil {
		return &permanent{err}
	}
	switch {
	case acct == nil || acct.State == store.AccountDeleted || (acct.RemoteID == "" && acct.State != store.AccountCreating):
		if !a.AllowCreate {
			return nil
		}
		return r.create(ctx, u, acct, desired)
	case acct.State == store.AccountCreating:
		return r.create(ctx, u, acct, desired)
	}
	hash, _, err := hashResource(desired)
	if err != nil {
		return &permanent{err}
	}
	if acct.State == store.AccountActive && acct.Hash == hash {
		return nil
	}
	if acct.State == store.AccountActive && !a.AllowUpdate {
		return nil
	}
	return r.update(ctx, u, acct, desired, true)
}

// create makes a new account. Should the answer be lost, the account is
// recorded as creating, and the next attempt looks it up by externalId
// (then userName) before creating again — as does any later attempt of the
// job, should the hub die mid-create — so a create retried after a lost
// response makes no duplicate. A Conflict (userName taken) adopts the one
// account with that userName, when it is not another hub user's.
func (r *appRunner) create(ctx context.Context, u *store.User, acct *store.Account, desired scim.Resource) error {
	if acct != nil && acct.State == store.AccountCreating {
		found, err := r.lookup(ctx, u.ID, desired.UserName())
		if err != nil {
			return err
		}
		if found != nil {
			return r.adopt(ctx, u, found, desired)
		}
	}
	pending := &store.Account{AppID: r.app.ID, UserID: u.ID, State: store.AccountCreating}
	if acct != nil {
		pending.Linked = acct.Linked
	}
	hash, raw, err := hashResource(desired) // what is sent is what the account keeps
	if err != nil {
		return &permanent{err}
	}
	// One attempt per call: a create is never resent blind, the next
	// attempt of the job looks first.
	id, err := r.target.CreateUser(ctx, desired, raw)
	if is[*Conflict](err) {
		found, lerr := r.findByUserName(ctx, u.ID, desired.UserName())
		if lerr != nil {
			return lerr
		}
		if found == nil {
			return &permanent{fmt.Errorf("creating %s: the userName is taken, but no single account of that userName can be adopted: %w", desired.UserName(), err)}
		}
		r.log.Info("adopting the existing account", "user", u.ID, "user_name", desired.UserName(), "remote_id", found.ID())
		return r.adopt(ctx, u, found, desired)
	}
	if err != nil {
		if ambiguous(err) {
			// The app may have created it: the next attempt looks first.
			if perr := r.putAccount(ctx, pending); perr != nil {
				return errors.Join(err, perr)
			}
		}
		return fmt.Errorf("creating %s: %w", desired.UserName(), err)
	}
	if id == "" {
		return fmt.Errorf("creating %s: the app answered without an id", desired.UserName())
	}
	r.log.Debug("account created", "user", u.ID, "remote_id", id)
	return r.recordHashed(ctx, u.ID, id, store.AccountActive, hash, raw, pending.Linked)
}

// adopt takes over an account the app already holds: what it holds
// becomes what was pushed, and an update brings it to desired.
func (r *appRunner) adopt(ctx context.Context, u *store.User, found scim.Resource, desired scim.Resource) error {
	prior := stripMeta(found)
	acct := &store.Account{AppID: r.app.ID, UserID: u.ID, RemoteID: found.ID(), State: store.AccountActive}
	if active, ok := found.Active(); ok && !active {
		acct.State = store.AccountDeactivated
	}
	acct.Pushed, _ = json.Marshal(prior)
	if err := r.putAccount(ctx, acct); err != nil {
		return err
	}
	return r.update(ctx, u, acct, desired, false)
}

// update brings an existing account to desired: PATCH of what changed
// since the last push, or PUT. NotFound (deleted in the app) looks the
// account up and, when it is gone, creates it again once.
func (r *appRunner) update(ctx context.Context, u *store.User, acct *store.Account, desired scim.Resource, mayRecreate bool) error {
	var err error
	if r.patchMode(ctx) {
		old, derr := decodePushed(acct.Pushed)
		if derr != nil {
			old = scim.Resource{}
		}
		if ops := patchOps(old, desired); len(ops) > 0 {
			err = r.target.PatchUser(ctx, acct.RemoteID, ops)
		}
	} else {
		err = r.target.ReplaceUser(ctx, acct.RemoteID, desired)
	}
	if is[*NotFound](err) && mayRecreate {
		r.log.Info("the account is gone from the app; looking it up", "user", u.ID, "remote_id", acct.RemoteID)
		found, lerr := r.lookup(ctx, u.ID, desired.UserName())
		if lerr != nil {
			return lerr
		}
		if found != nil && found.ID() != acct.RemoteID {
			return r.adopt(ctx, u, found, desired)
		}
		return r.create(ctx, u, nil, desired)
	}
	if err != nil {
		return fmt.Errorf("updating %s (%s): %w", desired.UserName(), acct.RemoteID, err)
	}
	return r.record(ctx, u.ID, acct.RemoteID, store.AccountActive, desired, acct.Linked)
}

// record stores what the app now holds of a user.
func (r *appRunner) record(ctx context.Context, userID, remoteID string, state store.AccountState, pushed scim.Resource, linked bool) error {
	hash, raw, err := hashResource(pushed)
	if err != nil {
		return err
	}
	return r.recordHashed(ctx, userID, remoteID, state, hash, raw, linked)
}

// recordHashed is record of a resource hashResource gave hash and raw of.
func (r *appRunner) recordHashed(ctx context.Context, userID, remoteID string, state store.AccountState, hash string, raw []byte, linked bool) error {
	acct := &store.Account{AppID: r.app.ID, UserID: userID, RemoteID: remoteID, State: state,
		Pushed: raw, Hash: hash, Linked: linked}
	if state == store.AccountDeactivated {
		acct.DeactivatedAt = r.e.opts.Now()
	}
	return r.putAccount(ctx, acct)
}

// deprovision deactivates the account of a user who should not have an
// active one (or opens a manual task when the app cannot deactivate), and
// deletes it once the retention is over when the app allows deletes.
func (r *appRunner) deprovision(ctx context.Context, u *store.User, userID string, acct *store.Account, w wanted) error {
	a := r.app
	if acct == nil || acct.State == store.AccountDeleted {
		return nil
	}
	if u == nil && acct.State != store.AccountCreating {
		// Purged after the hub's retention: the account goes now where
		// the app allows it, else an admin removes it.
		if a.AllowDelete {
			return r.deleteAccount(ctx, acct)
		}
		_, err := r.e.st.CreateTask(ctx, &store.Task{AppID: a.ID, UserID: userID, Kind: "deprovision",
			Detail: fmt.Sprintf("remove account %s (id %s) from %s by hand: the user was purged from the hub after its retention, "+
				"and the app does not let idsync delete accounts", accountName(acct), acct.RemoteID, a.Name)})
		return err
	}
	if acct.State == store.AccountCreating {
		// A create whose outcome is unknown: find out.
		name := ""
		if u != nil {
			if d, err := r.mapping.Render(u, false); err == nil {
				name = d.UserName()
			}
		}
		found, err := r.lookup(ctx, userID, name)
		if err != nil {
			return err
		}
		if found == nil {
			return r.putAccount(ctx, &store.Account{AppID: a.ID, UserID: userID, State: store.AccountDeleted})
		}
		acct = &store.Account{AppID: a.ID, UserID: userID, RemoteID: found.ID(), State: store.AccountActive, Linked: acct.Linked}
		acct.Pushed, _ = json.Marshal(stripMeta(found))
		if err := r.putAccount(ctx, acct); err != nil {
			return err
		}
	}
	if acct.State == store.AccountActive {
		if !a.AllowDeactivate {
			if a.AllowDelete && a.DeleteAfter == 0 {
				return r.deleteAccount(ctx, acct)
			}
			_, err := r.e.st.CreateTask(ctx, &store.Task{AppID: a.ID, UserID: userID, Kind: "deprovision",
				Detail: fmt.Sprintf("deactivate or remove account %s (id %s) in %s by hand: %s, and the app does not let idsync deactivate accounts",
					accountName(acct), acct.RemoteID, a.Name, w.why)})
			return err
		}
		if err := r.deactivate(ctx, acct); err != nil {
			return err
		}
		acct.State, acct.DeactivatedAt = store.AccountDeactivated, r.e.opts.Now()
	}
	if acct.State != store.AccountDeactivated || !a.AllowDelete {
		return nil
	}
	since := acct.DeactivatedAt
	if since.IsZero() {
		// Deactivated before idsync knew (an account linked by an import):
		// the retention starts now.
		since = r.e.opts.Now()
		acct.DeactivatedAt = since
		if err := r.putAccount(ctx, acct); err != nil {
			return err
		}
	}
	if u != nil && !u.DeprovisionedAt.IsZero() && u.DeprovisionedAt.Before(since) {
		since = u.DeprovisionedAt
	}
	if due := since.Add(a.DeleteAfter); r.e.opts.Now().Before(due) {
		return &later{at: due, why: fmt.Sprintf("deactivated; deleted after the retention, at %s", due.UTC().Format(time.RFC3339))}
	}
	return r.deleteAccount(ctx, acct)
}

// deactivate sets active to false in the app.
func (r *appRunner) deactivate(ctx context.Context, acct *store.Account) error {
	pushed, err := decodePushed(acct.Pushed)
	if err != nil {
		pushed = scim.Resource{}
	}
	pushed["active"] = false
	if r.patchMode(ctx) || pushed.UserName() == "" {
		err = r.target.DeactivateUser(ctx, acct.RemoteID)
	} else {
		err = r.target.ReplaceUser(ctx, acct.RemoteID, pushed)
	}
	if is[*NotFound](err) {
		r.log.Info("the account to deactivate is gone from the app", "user", acct.UserID, "remote_id", acct.RemoteID)
		return r.putAccount(ctx, &store.Account{AppID: acct.AppID, UserID: acct.UserID, RemoteID: acct.RemoteID,
			State: store.AccountDeleted, Pushed: acct.Pushed, Linked: acct.Linked})
	}
	if err != nil {
		return fmt.Errorf("deactivating %s: %w", acct.RemoteID, err)
	}
	return r.record(ctx, acct.UserID, acct.RemoteID, store.AccountDeactivated, pushed, acct.Linked)
}

// deleteAccount deletes the account in the app (gone already is fine).
func (r *appRunner) deleteAccount(ctx context.Context, acct *store.Account) error {
	if err := r.target.DeleteUser(ctx, acct.RemoteID); err != nil && !is[*NotFound](err) {
		return fmt.Errorf("deleting %s: %w", acct.RemoteID, err)
	}
	r.log.Info("account deleted", "user", acct.UserID, "remote_id", acct.RemoteID)
	return r.putAccount(ctx, &store.Account{AppID: acct.AppID, UserID: acct.UserID, RemoteID: acct.RemoteID,
		State: store.AccountDeleted, Pushed: acct.Pushed, Hash: "", Linked: acct.Linked, DeactivatedAt: acct.DeactivatedAt})
}

// lookup finds the account of a hub user in the app: by externalId (the
// hub's id, which idsync's creates carry), else by userName when that
// account carries no other externalId. nil when there is none.
func (r *appRunner) lookup(ctx context.Context, userID, userName string) (scim.Resource, error) {
	found, err := r.target.FindUsers(ctx, "externalId", userID)
	if err != nil {
		return nil, fmt.Errorf("looking up user %s by externalId: %w", userID, err)
	}
	if len(found) == 1 {
		return found[0], nil
	}
	if userName == "" {
		return nil, nil
	}
	return r.findByUserName(ctx, userID, userName)
}

// findByUserName returns the one account whose userName is userName
// (compared case-insensitively), unless it carries another externalId or
// is linked to another hub user; nil otherwise.
func (r *appRunner) findByUserName(ctx context.Context, userID, userName string) (scim.Resource, error) {
	found, err := r.target.FindUsers(ctx, "userName", userName)
	if err != nil {
		return nil, fmt.Errorf("looking up %s by userName: %w", userName, err)
	}
	var match []scim.Resource
	for _, f := range found {
		if strings.EqualFold(f.UserName(), userName) {
			match = append(match, f)
		}
	}
	if len(match) != 1 {
		return nil, nil
	}
	f := match[0]
	if ext := f.ExternalID(); ext != "" && ext != userID {
		return nil, nil
	}
	if other, err := r.e.st.GetAccountByRemoteID(ctx, r.app.ID, f.ID()); err == nil && other.UserID != userID {
		return nil, nil
	}
	return f, nil
}

func accountName(acct *store.Account) string {
	if r, err := decodePushed(acct.Pushed); err == nil && r.UserName() != "" {
		return r.UserName()
	}
	return acct.UserID
}

// patchOps is the PATCH that turns old into desired, less externalId: many
// applications refuse a path to it (it is a common attribute, not one of
// the User schema), and an account adopted or linked without it is known
// by its id anyway.
func patchOps(old, desired scim.Resource) []scim.PatchOp {
	ops := scim.Diff(old, desired)
	return slices.DeleteFunc(ops, func(op scim.PatchOp) bool { return strings.EqualFold(op.Path, "externalId") })
}
