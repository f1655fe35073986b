package provision

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/idsync/idsync/internal/scimtest"
	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
	"github.com/idsync/idsync/server/scim"
)

// outcomeName names the outcome err is, for the tables below.
func outcomeName(err error) string {
	switch {
	case err == nil:
		return "none"
	case is[*NotFound](err):
		return "NotFound"
	case is[*Conflict](err):
		return "Conflict"
	case is[*Refused](err):
		return "Refused"
	case is[*AuthRefused](err):
		return "AuthRefused"
	case is[*Unavailable](err):
		return "Unavailable"
	case is[*RetryAfter](err):
		return "RetryAfter"
	}
	return "error"
}

// TestSCIMOutcome: every answer the SCIM client can give becomes the
// outcome whose handling by the queue (retry, dead-letter, pause, wait;
// whether a create is looked up) is what it was when the queue read the
// SCIM errors itself.
func TestSCIMOutcome(t *testing.T) {
	he := func(status int) error {
		return &scim.HTTPError{Method: "POST", Path: "/Users", Status: status, Detail: "detail", Attempts: 2}
	}
	tests := []struct {
		name      string
		err       error
		want      string
		retry     bool // retried with backoff (or after the wait)
		ambiguous bool // a create is looked up before it is sent again
	}{
		{"bad request", he(400), "Refused", false, false},
		{"unprocessable", he(422), "Refused", false, false},
		{"not found", he(404), "NotFound", false, false},
		{"conflict", he(409), "Conflict", false, false},
		{"request timeout", he(408), "Unavailable", true, true},
		{"too many requests, no Retry-After", he(429), "Unavailable", true, false},
		{"server error", he(500), "Unavailable", true, true},
		{"bad gateway", he(502), "Unavailable", true, true},
		{"unavailable, no Retry-After", he(503), "Unavailable", true, true},
		// Dead-lettered as before; a create answered 501 made nothing, so
		// it is no longer recorded as a create in flight.
		{"not implemented", he(501), "Refused", false, false},
		{"2xx that is not the JSON expected", he(200), "Refused", false, false},
		{"unauthorized", &scim.AuthError{Method: "GET", Path: "/Users", Status: 401}, "AuthRefused", false, false},
		{"forbidden", &scim.AuthError{Method: "GET", Path: "/Users", Status: 403}, "AuthRefused", false, false},
		{"retry after", &scim.RetryAfterError{Method: "GET", Path: "/Users", Status: 429, Wait: time.Minute}, "RetryAfter", true, false},
		{"no answer", &scim.NetworkError{Method: "POST", Path: "/Users", Attempts: 2, Err: errors.New("connection reset")}, "Unavailable", true, true},
		// A call cut by a deadline (the HTTP client's timeout) is the app
		// not answering: retried, a create looked up first.
		{"no answer in time", &scim.NetworkError{Method: "POST", Path: "/Users", Attempts: 2, Err: fmt.Errorf("awaiting headers: %w", context.DeadlineExceeded)}, "Unavailable", true, true},
		{"wrapped", fmt.Errorf("creating jdoe: %w", he(404)), "NotFound", false, false},
		{"cancelled", fmt.Errorf("scim: POST /Users: %w", context.Canceled), "error", false, true},
		{"too many results", fmt.Errorf("/Users?filter=x: %w", scim.ErrTooManyResults), "error", false, true},
		{"a callback's own error", errors.New("database is locked"), "error", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := scimOutcome(tt.err)
			if name := outcomeName(got); name != tt.want {
				t.Fatalf("scimOutcome(%v) is %s, want %s", tt.err, name, tt.want)
			}
			if got.Error() != tt.err.Error() {
				t.Errorf("message %q, want the client's %q", got.Error(), tt.err.Error())
			}
			if !errors.Is(got, tt.err) {
				t.Errorf("the outcome does not wrap the client's error")
			}
			if r := retryable(got); r != tt.retry {
				t.Errorf("retryable = %v, want %v", r, tt.retry)
			}
			if a := ambiguous(got); a != tt.ambiguous {
				t.Errorf("ambiguous = %v, want %v", a, tt.ambiguous)
			}
		})
	}
	if scimOutcome(nil) != nil {
		t.Error("scimOutcome(nil) is not nil")
	}
	var ar *AuthRefused
	if !errors.As(scimOutcome(&scim.AuthError{Method: "GET", Path: "/Users", Status: 401}), &ar) || ar.Where != "401 on GET /Users" {
		t.Errorf("AuthRefused.Where = %+v, want 401 on GET /Users", ar)
	}
	var ra *RetryAfter
	if !errors.As(scimOutcome(&scim.RetryAfterError{Status: 429, Wait: time.Minute}), &ra) || ra.Wait != time.Minute {
		t.Errorf("RetryAfter = %+v, want a wait of 1m", ra)
	}
}

// TestAgentOutcome: the class of a failed write the agent answers is the
// outcome, and the agent's sentence is in its message.
func TestAgentOutcome(t *testing.T) {
	tests := []struct {
		code      idsyncv1.WriteErrorCode
		want      string
		retry     bool
		ambiguous bool
	}{
		{idsyncv1.WriteErrorCode_WRITE_ERROR_CODE_NOT_FOUND, "NotFound", false, false},
		{idsyncv1.WriteErrorCode_WRITE_ERROR_CODE_EXISTS, "Conflict", false, false},
		{idsyncv1.WriteErrorCode_WRITE_ERROR_CODE_REFUSED, "Refused", false, false},
		{idsyncv1.WriteErrorCode_WRITE_ERROR_CODE_UNAVAILABLE, "Unavailable", true, true},
		// An agent that does not say (the directory not configured on it):
		// later, as for unavailable.
		{idsyncv1.WriteErrorCode_WRITE_ERROR_CODE_UNSPECIFIED, "Unavailable", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.code.String(), func(t *testing.T) {
			got := agentOutcome("directory corp: deleting entry 42", &idsyncv1.CommandResult{Error: "the server said no", ErrorCode: tt.code})
			if name := outcomeName(got); name != tt.want {
				t.Fatalf("agentOutcome(%v) is %s, want %s", tt.code, name, tt.want)
			}
			if want := "directory corp: deleting entry 42: the server said no"; got.Error() != want {
				t.Errorf("message %q, want %q", got.Error(), want)
			}
			if r := retryable(got); r != tt.retry {
				t.Errorf("retryable = %v, want %v", r, tt.retry)
			}
			if a := ambiguous(got); a != tt.ambiguous {
				t.Errorf("ambiguous = %v, want %v", a, tt.ambiguous)
			}
		})
	}
}

// TestSCIMTargetAnswers: a SCIM app's answers, through the real client,
// reach the queue as outcomes.
func TestSCIMTargetAnswers(t *testing.T) {
	const token = "target-test-token"
	app := scimtest.Start(t, scimtest.Options{Token: token})
	client := func(attempts int) *scim.Client {
		c, err := scim.New(app.URL, scim.Auth{Kind: scim.AuthBearer, Token: token}, scim.Options{
			Retry:         scim.RetryPolicy{Attempts: attempts, MinWait: time.Millisecond, MaxWait: time.Millisecond},
			MaxRetryAfter: time.Second,
		})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	tg := &scimTarget{c: client(2), once: client(1)}
	ctx := t.Context()
	jdoe := scim.Resource{"schemas": []any{scim.UserSchema}, "userName": "jdoe", "externalId": "u-1", "active": true}
	createdID, err := tg.CreateUser(ctx, jdoe, mustJSON(t, jdoe))
	if err != nil {
		t.Fatalf("creating jdoe: %v", err)
	}

	t.Run("a taken userName is a conflict", func(t *testing.T) {
		if _, err := tg.CreateUser(ctx, jdoe, mustJSON(t, jdoe)); !is[*Conflict](err) {
			t.Fatalf("creating jdoe again: %v (%s), want Conflict", err, outcomeName(err))
		}
	})
	t.Run("a missing account is not found", func(t *testing.T) {
		if err := tg.ReplaceUser(ctx, "no-such-id", jdoe); !is[*NotFound](err) {
			t.Fatalf("replacing a missing account: %v (%s), want NotFound", err, outcomeName(err))
		}
	})
	t.Run("found by externalId and userName", func(t *testing.T) {
		for _, by := range []struct{ attr, value string }{{"externalId", "u-1"}, {"userName", "jdoe"}} {
			found, err := tg.FindUsers(ctx, by.attr, by.value)
			if err != nil || len(found) != 1 || found[0].ID() != createdID {
				t.Fatalf("FindUsers(%s, %s) = %v, %v; want jdoe", by.attr, by.value, found, err)
			}
		}
	})
	t.Run("an app that cannot filter on externalId finds none that way", func(t *testing.T) {
		app.Inject(scimtest.Fault{Method: "GET", PathPrefix: "/Users", Status: 400})
		if found, err := tg.FindUsers(ctx, "externalId", "u-1"); err != nil || len(found) != 0 {
			t.Fatalf("FindUsers(externalId) answered 400 = %v, %v; want none, no error", found, err)
		}
		app.Inject(scimtest.Fault{Method: "GET", PathPrefix: "/Users", Status: 400})
		if _, err := tg.FindUsers(ctx, "userName", "jdoe"); !is[*Refused](err) {
			t.Fatalf("FindUsers(userName) answered 400: %v (%s), want Refused", err, outcomeName(err))
		}
	})
	t.Run("refused credentials pause", func(t *testing.T) {
		app.Inject(scimtest.Fault{Method: "PATCH", Status: 401})
		var ar *AuthRefused
		if err := tg.DeactivateUser(ctx, createdID); !errors.As(err, &ar) || ar.Where != "401 on PATCH /Users/"+createdID {
			t.Fatalf("deactivating with refused credentials: %v, want AuthRefused on PATCH /Users/%s", err, createdID)
		}
	})
	t.Run("a long Retry-After is a wait", func(t *testing.T) {
		app.Inject(scimtest.Fault{Method: "DELETE", Status: 429, RetryAfter: "60"})
		var ra *RetryAfter
		if err := tg.DeleteUser(ctx, createdID); !errors.As(err, &ra) || ra.Wait != time.Minute {
			t.Fatalf("deleting, asked to wait 60 s: %v, want RetryAfter of 1m", err)
		}
	})
	t.Run("a create whose answer is lost is unavailable and unsure", func(t *testing.T) {
		asmith := scim.Resource{"schemas": []any{scim.UserSchema}, "userName": "asmith"}
		app.Inject(scimtest.Fault{Method: "POST", PathPrefix: "/Users", Drop: true})
		var u *Unavailable
		_, err := tg.CreateUser(ctx, asmith, mustJSON(t, asmith))
		if !errors.As(err, &u) || !u.Unsure {
			t.Fatalf("a create with no answer: %v, want Unavailable and unsure", err)
		}
	})
	t.Run("too many requests without a wait is unavailable and sure", func(t *testing.T) {
		app.Inject(scimtest.Fault{Method: "PATCH", Status: 429, Times: 2})
		var u *Unavailable
		if err := tg.PatchUser(ctx, createdID, []scim.PatchOp{{Op: "replace", Path: "title", Value: "x"}}); !errors.As(err, &u) || u.Unsure {
			t.Fatalf("a PATCH answered 429 twice: %v, want Unavailable and not unsure", err)
		}
	})
	t.Run("groups", func(t *testing.T) {
		g, err := tg.CreateGroup(ctx, scim.Resource{"schemas": []any{scim.GroupSchema}, "displayName": "staff"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tg.CreateGroup(ctx, scim.Resource{"schemas": []any{scim.GroupSchema}, "displayName": "staff"}); !is[*Conflict](err) {
			t.Fatalf("creating staff again: %v (%s), want Conflict", err, outcomeName(err))
		}
		found, err := tg.FindGroups(ctx, "staff")
		if err != nil || len(found) != 1 || found[0].ID() != g.ID() {
			t.Fatalf("FindGroups(staff) = %v, %v; want the group", found, err)
		}
		if err := tg.PatchGroupMembers(ctx, g.ID(), []string{createdID}, nil); err != nil {
			t.Fatalf("adding jdoe to staff: %v", err)
		}
		if err := tg.DeleteGroup(ctx, g.ID()); err != nil {
			t.Fatal(err)
		}
		if err := tg.DeleteGroup(ctx, g.ID()); !is[*NotFound](err) {
			t.Fatalf("deleting staff again: %v (%s), want NotFound", err, outcomeName(err))
		}
	})
	t.Run("listed", func(t *testing.T) {
		var names []string
		if err := tg.ListUsers(ctx, func(r scim.Resource) error { names = append(names, r.UserName()); return nil }); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(names, []string{"jdoe"}) {
			t.Fatalf("listed %v, want [jdoe] (the dropped create made nothing)", names)
		}
	})
}

// mustJSON is what a create sends of r: its JSON as hashResource makes it.
func mustJSON(t *testing.T, r scim.Resource) []byte {
	t.Helper()
	_, raw, err := hashResource(r)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}
