package scim

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// HTTPError is an answer the application gave with a status the call could
// not accept: any 4xx but 401, 403 (AuthError), or a 5xx or 429 still
// failing after the call's retries. SCIMType and Detail come from the SCIM
// error body (RFC 7644 §3.12) when there is one.
type HTTPError struct {
	Method   string
	Path     string // the URL path below the base URL, without the query
	Status   int
	SCIMType string // e.g. "uniqueness", "invalidFilter", "noTarget"
	Detail   string
	Attempts int
}

func (e *HTTPError) Error() string {
	s := fmt.Sprintf("scim: %s %s: %d %s", e.Method, e.Path, e.Status, http.StatusText(e.Status))
	if e.SCIMType != "" {
		s += " (" + e.SCIMType + ")"
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	if e.Attempts > 1 {
		s += fmt.Sprintf(" after %d attempts", e.Attempts)
	}
	return s
}

// AuthError means the application (or its OAuth2 token endpoint) refused the
// credentials: 401 or 403. Retrying does not help; the caller pauses the
// application until an admin fixes its credentials.
type AuthError struct {
	Method string
	Path   string
	Status int
	Detail string
}

func (e *AuthError) Error() string {
	s := fmt.Sprintf("scim: %s %s: %d %s: the application refused the credentials", e.Method, e.Path, e.Status, http.StatusText(e.Status))
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// RetryAfterError means the application asked to wait (429 or 503 with
// Retry-After) longer than the client waits within one call, or still asked
// after the call's attempts. The caller re-queues the work after Wait.
type RetryAfterError struct {
	Method string
	Path   string
	Status int
	Wait   time.Duration
}

func (e *RetryAfterError) Error() string {
	return fmt.Sprintf("scim: %s %s: %d %s: retry after %v", e.Method, e.Path, e.Status, http.StatusText(e.Status), e.Wait)
}

// NetworkError means the request got no HTTP answer (connection refused or
// reset, timeout, TLS failure) after the call's attempts.
type NetworkError struct {
	Method   string
	Path     string
	Attempts int
	Err      error
}

func (e *NetworkError) Error() string {
	return fmt.Sprintf("scim: %s %s: no answer after %d attempt(s): %v", e.Method, e.Path, e.Attempts, e.Err)
}

func (e *NetworkError) Unwrap() error { return e.Err }

// ErrTooManyResults is returned by FindUsers and FindGroups when a filter
// matches more resources than they collect (use ListUsers to stream them).
var ErrTooManyResults = errors.New("scim: the filter matches too many resources")

// Retryable reports whether trying err's call again later may succeed: a
// RetryAfterError, a NetworkError, or an HTTPError with status 429, 408 or
// 5xx but 501. Auth errors, other 4xx and a cancelled context are not.
func Retryable(err error) bool {
	var (
		ra *RetryAfterError
		ne *NetworkError
		he *HTTPError
	)
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return false
	case errors.As(err, &ra), errors.As(err, &ne):
		return true
	case errors.As(err, &he):
		return retryableStatus(he.Status)
	}
	return false
}

func retryableStatus(status int) bool {
	return status == http.StatusTooManyRequests || status == http.StatusRequestTimeout ||
		(status >= 500 && status != http.StatusNotImplemented)
}

// IsNotFound reports whether err is an HTTPError with status 404.
func IsNotFound(err error) bool { return hasStatus(err, http.StatusNotFound) }

// IsConflict reports whether err is an HTTPError with status 409 (for a
// create: the userName or displayName is taken).
func IsConflict(err error) bool { return hasStatus(err, http.StatusConflict) }

func hasStatus(err error, status int) bool {
	var he *HTTPError
	return errors.As(err, &he) && he.Status == status
}
