package provision

import (
	"context"
	"errors"
	"time"

	"github.com/idsync/idsync/server/scim"
)

// Target is where an app's runner keeps accounts: a SCIM application
// (scimTarget) or a directory the hub writes users into through its agents
// (dirTarget). Accounts and groups travel as the SCIM resources the mapping
// renders. A failure the target answers is one of the outcomes below
// (NotFound, Conflict, Refused, AuthRefused, Unavailable, RetryAfter), so
// that the queue decides what comes next — retry, dead-letter, pause,
// adopt, look up — without knowing which kind of target it is; any other
// error is the engine's own (a store's, a cancelled context).
type Target interface {
	// PatchSupported reports whether the target takes partial updates
	// (PatchUser).
	PatchSupported(ctx context.Context) (bool, error)
	// CreateUser creates an account and returns its id; a taken userName
	// is a *Conflict. It is tried once: a create whose answer was lost is
	// looked up by the next attempt, never sent again blind. body is the
	// JSON of user, its schemas included (hashResource's), which a SCIM
	// target sends as it is.
	CreateUser(ctx context.Context, user scim.Resource, body []byte) (id string, err error)
	// ReplaceUser sets every attribute of account id to user's.
	ReplaceUser(ctx context.Context, id string, user scim.Resource) error
	// PatchUser changes the attributes ops name.
	PatchUser(ctx context.Context, id string, ops []scim.PatchOp) error
	// DeactivateUser makes account id inactive, its attributes as they are.
	DeactivateUser(ctx context.Context, id string) error
	// DeleteUser deletes account id.
	DeleteUser(ctx context.Context, id string) error
	// FindUsers returns the accounts whose attribute ("externalId" or
	// "userName") is value. A target that cannot look up by externalId
	// finds none that way.
	FindUsers(ctx context.Context, attribute, value string) ([]scim.Resource, error)
	// ListUsers calls fn with every account the target holds.
	ListUsers(ctx context.Context, fn func(scim.Resource) error) error
	// CreateGroup creates a group; a taken displayName is a *Conflict.
	CreateGroup(ctx context.Context, group scim.Resource) (scim.Resource, error)
	// FindGroups returns the groups named displayName.
	FindGroups(ctx context.Context, displayName string) ([]scim.Resource, error)
	// GetGroup reads group id with its members.
	GetGroup(ctx context.Context, id string) (scim.Resource, error)
	// RenameGroup sets the displayName of group id (PATCH).
	RenameGroup(ctx context.Context, id, displayName string) error
	// ReplaceGroup sets every attribute of group id, its whole member list
	// included (PUT), for a target that does not take PATCH.
	ReplaceGroup(ctx context.Context, id string, group scim.Resource) error
	// DeleteGroup deletes group id.
	DeleteGroup(ctx context.Context, id string) error
	// PatchGroupMembers adds and removes members (account ids) of group id.
	PatchGroupMembers(ctx context.Context, id string, add, remove []string) error
}

var (
	_ Target = (*scimTarget)(nil)
	_ Target = (*dirTarget)(nil)
)

// NotFound is a target's answer that it holds no such account, group or
// entry.
type NotFound struct{ Err error }

// Conflict is a target's answer to a create that the name (userName,
// displayName, a unique value) is taken.
type Conflict struct{ Err error }

// Refused is a target's refusal of a request that it will refuse again as
// it is (a 400, a directory's constraint or access right): the job is
// dead-lettered.
type Refused struct{ Err error }

// AuthRefused is a target's refusal of idsync's credentials (401, 403): the
// app is paused until an admin updates them. Where says which request was
// refused ("401 on GET /Users").
type AuthRefused struct {
	Where string
	Err   error
}

// Unavailable is a target that could not be reached, was busy or failed (no
// answer, a 5xx, no agent of the directory online): a later attempt may
// pass, after a backoff. Unsure says the request may have been carried out
// all the same (no answer came, or a server error): a create is then
// looked up before it is sent again.
type Unavailable struct {
	Err    error
	Unsure bool
}

// RetryAfter is a target's request to wait (429 or 503 with Retry-After)
// longer than a call waits: the job runs again after Wait.
type RetryAfter struct {
	Wait time.Duration
	Err  error
}

func (e *NotFound) Error() string    { return e.Err.Error() }
func (e *NotFound) Unwrap() error    { return e.Err }
func (e *Conflict) Error() string    { return e.Err.Error() }
func (e *Conflict) Unwrap() error    { return e.Err }
func (e *Refused) Error() string     { return e.Err.Error() }
func (e *Refused) Unwrap() error     { return e.Err }
func (e *AuthRefused) Error() string { return e.Err.Error() }
func (e *AuthRefused) Unwrap() error { return e.Err }
func (e *Unavailable) Error() string { return e.Err.Error() }
func (e *Unavailable) Unwrap() error { return e.Err }
func (e *RetryAfter) Error() string  { return e.Err.Error() }
func (e *RetryAfter) Unwrap() error  { return e.Err }

// is reports whether err is (or wraps) an outcome of type T.
func is[T error](err error) bool {
	var t T
	return errors.As(err, &t)
}

// retryable reports whether a later attempt may pass: the target was
// unavailable or asked to wait. A call a context cut short is not (the
// HTTP client's timeout included), nor is anything else.
//
// A call the target did not answer in time (the HTTP client's timeout, a
// deadline inside the call) is the target's unavailability, retried like
// any other; the job's own end (the hub stopping) is told apart by the
// runner before it asks.
func retryable(err error) bool {
	if is[*Unavailable](err) || is[*RetryAfter](err) {
		return true
	}
	return false
}

// ambiguous reports whether a failed write may have been carried out all
// the same: the target was unavailable and unsure, or the failure is no
// answer of the target's at all. A target that answered (not found, taken,
// refused, wait) did nothing.
func ambiguous(err error) bool {
	var u *Unavailable
	if errors.As(err, &u) {
		return u.Unsure
	}
	return !is[*NotFound](err) && !is[*Conflict](err) && !is[*Refused](err) &&
		!is[*AuthRefused](err) && !is[*RetryAfter](err)
}
