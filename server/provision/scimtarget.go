package provision

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/idsync/idsync/server/scim"
)

// scimTarget is an app the hub reaches over SCIM: every call goes through
// the app's client (retrying within the call), creates through the one
// that tries once, and every failure the app answers becomes an outcome
// (scimOutcome).
type scimTarget struct {
	c, once *scim.Client
}

// scimOutcome turns the SCIM client's errors into the outcomes the queue
// acts on: the one place where an HTTP status means something to
// provisioning. 401 and 403 refuse the credentials; a Retry-After asks to
// wait; no answer, 408, 429 and 5xx (but 501) are unavailable (unsure but
// for a 429); 404 is not found, 409 a conflict; any other answer is
// refused. Errors that are no answer of the app's (a cancelled context, a
// ListUsers callback's) are returned as they are.
func scimOutcome(err error) error {
	var (
		ae *scim.AuthError
		ra *scim.RetryAfterError
		ne *scim.NetworkError
		he *scim.HTTPError
	)
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ae):
		return &AuthRefused{Where: fmt.Sprintf("%d on %s %s", ae.Status, ae.Method, ae.Path), Err: err}
	case errors.As(err, &ra):
		return &RetryAfter{Wait: ra.Wait, Err: err}
	case errors.As(err, &ne):
		return &Unavailable{Err: err, Unsure: true}
	case !errors.As(err, &he):
		return err
	case he.Status == http.StatusNotFound:
		return &NotFound{Err: err}
	case he.Status == http.StatusConflict:
		return &Conflict{Err: err}
	case scim.Retryable(he):
		// A 429 was turned away before the app did anything; a 408 or a
		// 5xx may have been carried out.
		return &Unavailable{Err: err, Unsure: he.Status != http.StatusTooManyRequests}
	}
	return &Refused{Err: err}
}

// PatchSupported says what the app's ServiceProviderConfig says.
func (t *scimTarget) PatchSupported(ctx context.Context) (bool, error) {
	cfg, err := t.c.ServiceProviderConfig(ctx)
	if err != nil {
		return false, scimOutcome(err)
	}
	return cfg.Patch.Supported, nil
}

func (t *scimTarget) CreateUser(ctx context.Context, _ scim.Resource, body []byte) (string, error) {
	id, err := t.once.CreateUserJSON(ctx, body)
	return id, scimOutcome(err)
}

func (t *scimTarget) ReplaceUser(ctx context.Context, id string, user scim.Resource) error {
	_, err := t.c.ReplaceUser(ctx, id, user)
	return scimOutcome(err)
}

func (t *scimTarget) PatchUser(ctx context.Context, id string, ops []scim.PatchOp) error {
	_, err := t.c.PatchUser(ctx, id, ops)
	return scimOutcome(err)
}

// DeactivateUser sends PATCH active false.
func (t *scimTarget) DeactivateUser(ctx context.Context, id string) error {
	return t.PatchUser(ctx, id, []scim.PatchOp{{Op: "replace", Path: "active", Value: false}})
}

func (t *scimTarget) DeleteUser(ctx context.Context, id string) error {
	return scimOutcome(t.c.DeleteUser(ctx, id))
}

// FindUsers filters on attribute. An app that refuses a filter on
// externalId (400: it cannot filter on it) finds none that way.
func (t *scimTarget) FindUsers(ctx context.Context, attribute, value string) ([]scim.Resource, error) {
	found, err := t.c.FindUsers(ctx, scim.Eq(attribute, value))
	var he *scim.HTTPError
	if attribute == "externalId" && errors.As(err, &he) && he.Status == http.StatusBadRequest {
		return found, nil
	}
	return found, scimOutcome(err)
}

func (t *scimTarget) ListUsers(ctx context.Context, fn func(scim.Resource) error) error {
	return scimOutcome(t.c.ListUsers(ctx, scim.ListOptions{}, fn))
}

func (t *scimTarget) CreateGroup(ctx context.Context, group scim.Resource) (scim.Resource, error) {
	res, err := t.c.CreateGroup(ctx, group)
	return res, scimOutcome(err)
}

func (t *scimTarget) FindGroups(ctx context.Context, displayName string) ([]scim.Resource, error) {
	found, err := t.c.FindGroups(ctx, scim.Eq("displayName", displayName))
	return found, scimOutcome(err)
}

func (t *scimTarget) GetGroup(ctx context.Context, id string) (scim.Resource, error) {
	res, err := t.c.GetGroup(ctx, id)
	return res, scimOutcome(err)
}

// RenameGroup sends PATCH replace displayName.
func (t *scimTarget) RenameGroup(ctx context.Context, id, displayName string) error {
	_, err := t.c.PatchGroup(ctx, id, []scim.PatchOp{{Op: "replace", Path: "displayName", Value: displayName}})
	return scimOutcome(err)
}

func (t *scimTarget) ReplaceGroup(ctx context.Context, id string, group scim.Resource) error {
	_, err := t.c.ReplaceGroup(ctx, id, group)
	return scimOutcome(err)
}

func (t *scimTarget) DeleteGroup(ctx context.Context, id string) error {
	return scimOutcome(t.c.DeleteGroup(ctx, id))
}

func (t *scimTarget) PatchGroupMembers(ctx context.Context, id string, add, remove []string) error {
	return scimOutcome(t.c.PatchGroupMembers(ctx, id, add, remove))
}
