package refusal

import (
	"errors"
	"fmt"
)

// Kind is why a request is refused.
type Kind int

const (
	// Invalid: the request itself is wrong, whatever the state.
	Invalid Kind = iota + 1
	// NotFound: what the request names does not exist.
	NotFound
	// Exists: what the request would make exists already.
	Exists
	// Unmet: the request is sound, but the state does not allow it now.
	Unmet
	// Denied: the caller may not do this.
	Denied
	// Unauthenticated: the caller did not prove who it is (a credential
	// unknown, used up or expired).
	Unauthenticated
)

// Error is a refusal. Its message is written for the admin who made the
// request, and is shown as it is.
type Error struct {
	Kind Kind
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

func newf(k Kind, format string, args []any) error {
	return &Error{Kind: k, Msg: fmt.Sprintf(format, args...)}
}

// Invalidf returns an Invalid refusal.
func Invalidf(format string, args ...any) error { return newf(Invalid, format, args) }

// NotFoundf returns a NotFound refusal.
func NotFoundf(format string, args ...any) error { return newf(NotFound, format, args) }

// Existsf returns an Exists refusal.
func Existsf(format string, args ...any) error { return newf(Exists, format, args) }

// Unmetf returns an Unmet refusal.
func Unmetf(format string, args ...any) error { return newf(Unmet, format, args) }

// Deniedf returns a Denied refusal.
func Deniedf(format string, args ...any) error { return newf(Denied, format, args) }

// Unauthenticatedf returns an Unauthenticated refusal.
func Unauthenticatedf(format string, args ...any) error { return newf(Unauthenticated, format, args) }

// As returns the refusal in err's chain, if any.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}
