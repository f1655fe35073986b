package hub_test

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
	"github.com/idsync/idsync/server/hub"
	"github.com/idsync/idsync/server/store"
	"github.com/idsync/idsync/server/store/sqlite"
)

// TestRefusalFlood: a flood of requests without valid credentials from one
// address — admin calls with a made-up token, SCIM requests and sign-ins
// with one — leaves a bounded number of events in the audit trail that
// still count every refusal: the first of a window, then one count per
// window, written when the next refusal comes after the window or when the
// hub stops.
func TestRefusalFlood(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	h := startHubWith(t, func(c *hub.Config) {
		c.Audit.Now = func() time.Time { return time.Unix(0, now.Load()) }
	})
	ctx := t.Context()
	admin := idsyncv1.NewAdminServiceClient(h.conn)
	const listUsers = "/idsync.v1.AdminService/ListUsers"
	badToken := as(ctx, "idsa_made-up")
	flood := func(n int) {
		t.Helper()
		for range n {
			if _, err := admin.ListUsers(badToken, &idsyncv1.ListUsersRequest{}); status.Code(err) != codes.Unauthenticated {
				t.Fatalf("ListUsers with a made-up token: %v, want Unauthenticated", err)
			}
		}
	}
	post := func(path string, n int) {
		t.Helper()
		for range n {
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+h.http+path, strings.NewReader("{}"))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer made-up")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("POST %s with a made-up token: %s, want 401", path, resp.Status)
			}
		}
	}

	flood(500)
	if ev := h.refused(t, listUsers); len(ev) != 1 || !strings.HasPrefix(ev[0].GetActor(), "unauthenticated@127.0.0.1:") ||
		ev[0].GetDetail() != "admin token not recognised" {
		t.Fatalf("after 500 refusals in a window the trail holds %v, want the first refusal alone", ev)
	}

	now.Add(int64(time.Minute))
	flood(1)
	ev := h.refused(t, listUsers)
	if len(ev) != 3 || ev[1].GetActor() != "unauthenticated@127.0.0.1" ||
		ev[1].GetDetail() != "499 more refusals from 127.0.0.1 in the last 1m0s; the last: admin token not recognised" {
		t.Fatalf("after the window and one more refusal the trail holds %v, want the first, 499 more, and the new first", ev)
	}

	flood(10)
	post("/scim/v2/Users", 100)
	post("/v1/authn", 100)
	if err := h.stop(); err != nil {
		t.Fatalf("hub: %v", err)
	}

	// The counts of the windows still open were written when the hub
	// stopped.
	st, err := sqlite.Open(ctx, filepath.Join(h.dir, "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	events, err := st.ListAudit(ctx, store.AuditFilter{Outcome: store.AuditRefused})
	if err != nil {
		t.Fatal(err)
	}
	type tally struct{ events, refusals int }
	got := map[string]tally{}
	for _, e := range events {
		k := e.Action + " " + e.Target
		c := got[k]
		c.events++
		var more int
		if _, err := fmt.Sscanf(e.Detail, "%d more refusal", &more); err == nil {
			c.refusals += more
		} else {
			c.refusals++
		}
		if !strings.HasPrefix(e.Actor, "unauthenticated@127.0.0.1") {
			t.Errorf("event %s by %s, want unauthenticated@127.0.0.1", k, e.Actor)
		}
		got[k] = c
	}
	want := map[string]tally{
		"request.refused " + listUsers:   {events: 4, refusals: 511},
		"scim.auth /scim/v2/":            {events: 2, refusals: 100},
		"request.refused POST /v1/authn": {events: 2, refusals: 100},
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: %d events for %d refusals, want %d events for %d", k, got[k].events, got[k].refusals, w.events, w.refusals)
		}
	}
	if len(events) != 8 {
		t.Errorf("the trail holds %d refusals, want 8: %v", len(events), got)
	}
}

// TestSignInFlood: a login page hammered with sign-ins for ever new
// usernames (with the page's valid authn token) leaves a bounded trail:
// past the limits every attempt is refused, and the refusals are counted,
// not written one by one.
func TestSignInFlood(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	h := startHubWith(t, func(c *hub.Config) {
		c.Audit.Now = func() time.Time { return time.Unix(0, now.Load()) }
		// The limits refill by the same stopped clock: a loaded machine
		// that takes seconds over the 400 attempts refills nobody's bucket.
		c.Authn.Now = c.Audit.Now
		c.Audit.Tracked = 50
	})
	ctx := t.Context()
	page := h.token("login-page", "authn", nil, nil)
	answers := map[int]int{}
	const attempts = 400
	for i := range attempts {
		body := fmt.Sprintf(`{"directory":"corp","username":"guess-%d","password":"x"}`, i)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+h.http+"/v1/authn", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+page)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		answers[resp.StatusCode]++
	}
	// No agent serves corp: the address's first 60 reach the directory
	// lookup (503), the rest are limited (429).
	if answers[http.StatusTooManyRequests] != attempts-60 {
		t.Errorf("answers %v, want %d limited", answers, attempts-60)
	}
	if err := h.stop(); err != nil {
		t.Fatalf("hub: %v", err)
	}
	st, err := sqlite.Open(ctx, filepath.Join(h.dir, "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	events, err := st.ListAudit(ctx, store.AuditFilter{Action: "authn.limited"})
	if err != nil {
		t.Fatal(err)
	}
	counted := 0
	for _, e := range events {
		var more int
		if _, err := fmt.Sscanf(e.Detail, "%d more refusal", &more); err == nil {
			counted += more
		} else {
			counted++
		}
	}
	if counted != attempts-60 || len(events) > 60 {
		t.Errorf("the trail holds %d authn.limited events counting %d refusals, want at most 60 events counting %d",
			len(events), counted, attempts-60)
	}
}
