package provision

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/idsync/idsync/server/scim"
	"github.com/idsync/idsync/server/store"
)

// TestReport is what `app test` prints: what the app says it supports and
// whether a filtered read works.
type TestReport struct {
	Config  *scim.ServiceProviderConfig
	Schemas []string
	// UsersFound is how many users the filtered GET matched, FilterUsed
	// the filter.
	UsersFound int
	FilterUsed string
	// Problems are what stands in the way of provisioning (no filter
	// support, no User schema…), each a sentence.
	Problems []string
}

// Test reads the app's /ServiceProviderConfig and /Schemas and does one
// filtered GET /Users. A refused credential or an unreachable app is an
// error; what the app lacks is in Problems. The app's PATCH support is
// recorded, so that an app whose update mode follows the app uses it.
func (e *Engine) Test(ctx context.Context, a *store.App) (*TestReport, error) {
	if a.Target != nil {
		return e.testDirectory(ctx, a)
	}
	c, err := e.Client(a)
	if err != nil {
		return nil, err
	}
	rep := &TestReport{}
	cfg, err := c.ServiceProviderConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading /ServiceProviderConfig of %s: %w", a.Name, scimOutcome(err))
	}
	rep.Config = cfg
	if patch := cfg.Patch.Supported; a.PatchSupported == nil || *a.PatchSupported != patch {
		a.PatchSupported = &patch
		if err := e.st.SetAppPatchSupported(ctx, a.ID, patch); err != nil {
			return nil, err
		}
	}
	schemas, err := c.Schemas(ctx)
	if err != nil {
		rep.Problems = append(rep.Problems, fmt.Sprintf("/Schemas cannot be read (%v); the mapping cannot be checked against the app", err))
	}
	hasUser := false
	for _, s := range schemas {
		rep.Schemas = append(rep.Schemas, s.ID)
		hasUser = hasUser || s.ID == scim.UserSchema
	}
	if err == nil && !hasUser {
		rep.Problems = append(rep.Problems, "the app does not list the core User schema")
	}
	if !cfg.Filter.Supported {
		rep.Problems = append(rep.Problems, "the app says it does not support filters: a create that conflicts (409) or whose answer is lost cannot be matched to an existing account")
	}
	if !cfg.Patch.Supported && a.UpdateMode == "patch" {
		rep.Problems = append(rep.Problems, "update mode is patch but the app does not support PATCH")
	}
	rep.FilterUsed = scim.Eq("userName", "idsync-test-probe")
	found, err := c.FindUsers(ctx, rep.FilterUsed)
	if err != nil {
		if err := scimOutcome(err); is[*AuthRefused](err) {
			return nil, fmt.Errorf("GET /Users of %s: %w", a.Name, err)
		}
		rep.Problems = append(rep.Problems, fmt.Sprintf("a filtered GET /Users failed: %v", err))
	}
	rep.UsersFound = len(found)
	return rep, nil
}

// Preview is what a push of one user would do now.
type Preview struct {
	// Action is create, update, reactivate, deactivate, delete, task
	// (a manual deprovision task) or none.
	Action string
	// Request is the method and path ("POST /Users", "PATCH /Users/ID").
	Request string
	// Body is the JSON the request would carry, indented.
	Body string
	// Reason says why, in a sentence.
	Reason string
}

// Preview computes, without sending anything, the request the next push of
// the user would make to the app: the exact SCIM body.
func (e *Engine) Preview(ctx context.Context, a *store.App, userID string) (*Preview, error) {
	m, err := CompileMapping(a.Mapping)
	if err != nil {
		return nil, err
	}
	u, acct, want, err := e.userState(ctx, a, userID, nil)
	if err != nil {
		return nil, err
	}
	if u == nil {
		return nil, fmt.Errorf("user %s: %w", userID, store.ErrNotFound)
	}
	if a.UpdateMode == "" && a.PatchSupported == nil {
		// Follow the app as the workers do: ask it whether it takes PATCH.
		c, err := e.Client(a)
		if err != nil {
			return nil, err
		}
		// Unreadable, the workers send PUT, which every app takes.
		patch := false
		if cfg, err := c.ServiceProviderConfig(ctx); err == nil {
			patch = cfg.Patch.Supported
		}
		a = cloneApp(a)
		a.PatchSupported = &patch
	}
	body := func(v any) string {
		raw, _ := json.MarshalIndent(v, "", "  ")
		return string(raw)
	}
	has := acct != nil && acct.RemoteID != "" && acct.State != store.AccountDeleted
	if !want.active {
		switch {
		case !has || acct.State == store.AccountDeactivated:
			return &Preview{Action: "none", Reason: want.why + "; the app holds no active account of the user"}, nil
		case !a.AllowDeactivate:
			return &Preview{Action: "task", Reason: want.why + "; the app does not allow deactivation: a manual deprovision task is opened"}, nil
		}
		ops := []scim.PatchOp{{Op: "replace", Path: "active", Value: false}}
		if !e.usePatch(a) {
			r, _ := decodePushed(acct.Pushed)
			r["active"] = false
			return &Preview{Action: "deactivate", Request: "PUT /Users/" + acct.RemoteID, Body: body(r), Reason: want.why}, nil
		}
		return &Preview{Action: "deactivate", Request: "PATCH /Users/" + acct.RemoteID,
			Body: body(patchBody(ops)), Reason: want.why}, nil
	}
	desired, err := m.Render(u, true)
	if err != nil {
		return nil, err
	}
	if !has {
		if !a.AllowCreate {
			return &Preview{Action: "none", Reason: "in scope, but the app does not allow idsync to create accounts"}, nil
		}
		return &Preview{Action: "create", Request: "POST /Users", Body: body(desired), Reason: want.why}, nil
	}
	action := "update"
	if acct.State == store.AccountDeactivated {
		action = "reactivate"
	}
	if !e.usePatch(a) {
		return &Preview{Action: action, Request: "PUT /Users/" + acct.RemoteID, Body: body(desired), Reason: want.why}, nil
	}
	old, _ := decodePushed(acct.Pushed)
	ops := patchOps(old, desired)
	if len(ops) == 0 {
		return &Preview{Action: "none", Reason: want.why + "; the app holds what the mapping gives"}, nil
	}
	return &Preview{Action: action, Request: "PATCH /Users/" + acct.RemoteID, Body: body(patchBody(ops)), Reason: want.why}, nil
}

// patchBody is the JSON body of a PATCH request.
func patchBody(ops []scim.PatchOp) map[string]any {
	return map[string]any{"schemas": []string{scim.PatchOpSchema}, "Operations": ops}
}

// decodePushed decodes what was last pushed; none gives an empty resource.
func decodePushed(raw []byte) (scim.Resource, error) {
	r := scim.Resource{}
	if len(raw) == 0 {
		return r, nil
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return scim.Resource{}, err
	}
	return r, nil
}

// ImportResult is what an import from an app found.
type ImportResult struct {
	// Read is the accounts the app holds; Linked those newly linked to a
	// hub user; AlreadyLinked those linked before.
	Read, Linked, AlreadyLinked int
	// Unmatched are the accounts no hub user in scope matched (or more
	// than one did), for the admin.
	Unmatched []store.RemoteAccount
	// Groups is what the import of the app's groups found (nil: not
	// asked).
	Groups *GroupImport
}

// ImportFromApp reads every account the app holds (paged) and correlates it
// with the users in scope of the app, by userName (compared with the
// userName the mapping gives each user) or by email, as the app's MatchBy
// says, case-insensitively. A match is linked — the account is idsync's
// from then on, so the first push updates it instead of creating a
// duplicate — and its push is queued; the rest are stored as unmatched and
// returned. Users outside the scope are never linked: a link would
// deactivate their account.
func (e *Engine) ImportFromApp(ctx context.Context, a *store.App) (*ImportResult, error) {
	if a.Target != nil {
		return nil, errNotForDirectories("importing accounts from the app")
	}
	m, err := CompileMapping(a.Mapping)
	if err != nil {
		return nil, err
	}
	c, err := e.Client(a)
	if err != nil {
		return nil, err
	}
	byEmail := strings.EqualFold(a.MatchBy, "email")
	ids, err := e.st.AppUsers(ctx, a.ID)
	if err != nil {
		return nil, fmt.Errorf("the users in scope of %s: %w", a.Name, err)
	}
	// key → user ids (more than one: ambiguous).
	keys := map[string][]string{}
	for _, id := range ids {
		u, err := e.st.GetUser(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("user %s: %w", id, err)
		}
		var key string
		if byEmail {
			key = u.Profile.Email
		} else if r, err := m.Render(u, true); err == nil {
			key = r.UserName()
		}
		if key != "" {
			k := strings.ToLower(key)
			keys[k] = append(keys[k], id)
		}
	}
	res := &ImportResult{}
	var unmatched []store.RemoteAccount
	now := e.opts.Now()
	err = c.ListUsers(ctx, scim.ListOptions{}, func(r scim.Resource) error {
		res.Read++
		ra := store.RemoteAccount{RemoteID: r.ID(), UserName: r.UserName(), Email: primaryEmail(r)}
		if ra.RemoteID == "" {
			return nil
		}
		if _, err := e.st.GetAccountByRemoteID(ctx, a.ID, ra.RemoteID); err == nil {
			res.AlreadyLinked++
			return nil
		} else if !isNotFound(err) {
			return err
		}
		key := ra.UserName
		if byEmail {
			key = ra.Email
		}
		users := keys[strings.ToLower(key)]
		if key == "" || len(users) != 1 {
			unmatched = append(unmatched, ra)
			return nil
		}
		uid := users[0]
		if old, err := e.st.GetAccount(ctx, a.ID, uid); err == nil && old.RemoteID != "" && old.State != store.AccountDeleted {
			// The user already has an account of idsync's: this one is
			// another, for the admin to look at.
			unmatched = append(unmatched, ra)
			return nil
		}
		state := store.AccountActive
		if active, ok := r.Active(); ok && !active {
			state = store.AccountDeactivated
		}
		pushed, _ := json.Marshal(stripMeta(r))
		if err := e.st.PutAccount(ctx, &store.Account{AppID: a.ID, UserID: uid, RemoteID: ra.RemoteID,
			State: state, Pushed: pushed, Linked: true}); err != nil {
			return fmt.Errorf("linking %s to user %s: %w", ra.UserName, uid, err)
		}
		res.Linked++
		if _, err := e.st.Enqueue(ctx, a.ID, store.JobUser, uid, now); err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("importing the accounts of %s: %w", a.Name, scimOutcome(err))
	}
	if err := e.st.PutUnmatched(ctx, a.ID, unmatched); err != nil {
		return nil, fmt.Errorf("recording the unmatched accounts of %s: %w", a.Name, err)
	}
	res.Unmatched = unmatched
	e.wakeApp(a.ID)
	return res, nil
}

// primaryEmail returns the primary email of a SCIM user, or the first.
func primaryEmail(r scim.Resource) string {
	list, _ := r["emails"].([]any)
	first := ""
	for _, x := range list {
		m, _ := x.(map[string]any)
		v, _ := m["value"].(string)
		if p, _ := m["primary"].(bool); p && v != "" {
			return v
		}
		if first == "" {
			first = v
		}
	}
	return first
}

// stripMeta returns r without what the app adds of its own (id, meta):
// what is left is compared with the mapping's result.
func stripMeta(r scim.Resource) scim.Resource {
	c := r.Clone()
	delete(c, "id")
	delete(c, "meta")
	return c
}

func cloneApp(a *store.App) *store.App {
	c := *a
	return &c
}
