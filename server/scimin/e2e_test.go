package scimin_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/idsync/idsync/internal/eventually"
	"github.com/idsync/idsync/internal/scimtest"
	"github.com/idsync/idsync/server/audit"
	"github.com/idsync/idsync/server/provision"
	"github.com/idsync/idsync/server/secrets"
	"github.com/idsync/idsync/server/store"
)

// TestHireToAppAndTermination: an HR hire through the SCIM endpoint
// becomes a hub user, reaches a SCIM app through the app's group
// assignment, a job change follows, and the termination deactivates the
// account downstream. The provisioning engine is the hub's, unchanged.
func TestHireToAppAndTermination(t *testing.T) {
	h := newHub(t)
	ctx := t.Context()
	app := scimtest.Start(t, scimtest.Options{Token: "app-token-3c9e"})
	key := sha256.Sum256([]byte(t.Name()))
	box, err := secrets.New(key[:])
	if err != nil {
		t.Fatal(err)
	}
	a := &store.App{Name: "wiki", SCIMURL: app.URL, AuthKind: "bearer", AllowCreate: true, AllowUpdate: true,
		AllowInsecureHTTP: true, AllowLocalAddresses: true, // the test app is on loopback
		AllowDeactivate: true, UpdateMode: "patch", Concurrency: 2, MatchBy: "userName", Status: store.AppActive}
	a.Secret = box.Seal([]byte("app-token-3c9e"), provision.SecretContext(a.Name))
	if err := h.st.CreateApp(ctx, a); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	prov := provision.New(h.st, box, log, provision.Options{PollInterval: 50 * time.Millisecond, Lease: 3 * time.Second,
		MaxAttempts: 4, MinBackoff: 50 * time.Millisecond, MaxBackoff: 400 * time.Millisecond, Audit: audit.New(h.st, log)})
	notify := prov.Notify
	h.changed.Store(&notify)
	pctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() { defer close(done); _ = prov.Run(pctx) }()
	t.Cleanup(func() { cancel(); <-done })

	// HR keeps a group of employees; the admin assigns it to the app.
	code, res := h.do("POST", "/scim/v2/Groups", []byte(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],
		"externalId":"sup-org-1","displayName":"Employees","members":[]}`))
	if code != http.StatusCreated {
		t.Fatalf("create group = %d %v", code, res)
	}
	gid := res["id"].(string)
	if err := h.st.Assign(ctx, store.Assignment{AppID: a.ID, Kind: store.AssignGroup, TargetID: gid}); err != nil {
		t.Fatal(err)
	}
	if err := prov.AppChanged(ctx, a.ID); err != nil {
		t.Fatal(err)
	}

	// The hire, then the hire joins the group.
	code, res = h.do("POST", "/scim/v2/Users", fixture(t, "workday/hire.json", nil))
	if code != http.StatusCreated {
		t.Fatalf("hire = %d %v", code, res)
	}
	uid := res["id"].(string)
	if u := h.user("logan.mcneil"); u.ID != uid || u.Status != store.StatusActive {
		t.Fatalf("hub user after hire: %+v", *u)
	}
	add := fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
		"Operations":[{"op":"add","path":"members","value":[{"value":%q}]}]}`, uid)
	if code, res = h.do("PATCH", "/scim/v2/Groups/"+gid, []byte(add)); code != 200 {
		t.Fatalf("add to group = %d %v", code, res)
	}
	// The account, by the id the app gave it (its userName follows the
	// email, which the job change changes).
	remote := func() (map[string]any, bool) {
		acct, err := h.st.GetAccount(ctx, a.ID, uid)
		if err != nil || acct.RemoteID == "" {
			return nil, false
		}
		return app.User(acct.RemoteID)
	}
	eventually.That(t, "the hire has an account in the app", func() (bool, string) {
		r, ok := remote()
		if !ok {
			return false, "no account"
		}
		if r["active"] != true || r["title"] != "Chief Human Resources Officer" {
			return false, fmt.Sprintf("account %v", r)
		}
		return true, ""
	})

	// A job change flows.
	if code, res = h.do("PUT", "/scim/v2/Users/"+uid, fixture(t, "workday/job-change.json", nil)); code != 200 {
		t.Fatalf("job change = %d %v", code, res)
	}
	eventually.That(t, "the job change reaches the app", func() (bool, string) {
		if r, _ := remote(); r["title"] != "Chief People Officer" || r["userName"] != "logan.mcneil@workday.net" {
			return false, fmt.Sprintf("account %v", r)
		}
		return true, ""
	})

	// The termination deactivates downstream; nothing is deleted.
	if code, res = h.do("PATCH", "/scim/v2/Users/"+uid, fixture(t, "workday/terminate.json", nil)); code != 200 {
		t.Fatalf("terminate = %d %v", code, res)
	}
	eventually.That(t, "the termination deactivates the account", func() (bool, string) {
		r, ok := remote()
		if !ok {
			return false, "the account is gone (it must be deactivated, not deleted)"
		}
		if r["active"] != false {
			return false, fmt.Sprintf("account %v", r)
		}
		return true, ""
	})
	if u := h.user("logan.mcneil"); u.Status != store.StatusSuspended {
		t.Errorf("hub user after termination: status %s, want suspended", u.Status)
	}
	evs, err := h.st.ListAudit(ctx, store.AuditFilter{Action: "user."})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range evs {
		actions = append(actions, e.Action)
	}
	if fmt.Sprint(actions) != "[user.created user.updated user.suspended]" {
		t.Errorf("lifecycle events = %v, want created, updated, suspended", actions)
	}
}
