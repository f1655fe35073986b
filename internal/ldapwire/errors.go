package ldapwire

import (
	"errors"
	"fmt"
	"strings"

	"github.com/go-ldap/ldap/v3"
)

// ResultError is a result other than success from the server: a failed
// bind (Code 49, invalid credentials), a missing base DN (32, noSuchObject),
// a search over a limit (4, sizeLimitExceeded), a notice of disconnection…
// The codes are RFC 4511's, as go-ldap's LDAPResult* constants name them.
type ResultError struct {
	// Code is the resultCode.
	Code int
	// Message is the server's diagnosticMessage (AD's "… data 52e …" tells
	// a wrong password from a locked account).
	Message string
	// MatchedDN is the longest existing entry above a missing one, when the
	// server says.
	MatchedDN string
}

// Error returns the code, its name, the server's message and matched DN.
func (e *ResultError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "LDAP result %d", e.Code)
	if name, ok := ldap.LDAPResultCodeMap[uint16(e.Code)]; ok && e.Code <= 0xffff {
		fmt.Fprintf(&b, " (%s)", name)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if e.MatchedDN != "" {
		fmt.Fprintf(&b, " (matched DN %q)", e.MatchedDN)
	}
	return b.String()
}

// resultError returns r as a *ResultError, or nil for success.
func resultError(r result) error {
	if r.code == 0 {
		return nil
	}
	return &ResultError{Code: int(r.code), Message: string(r.message), MatchedDN: string(r.matchedDN)}
}

// redact removes secret from the text of a ResultError found in err, so
// that a server echoing a password cannot leak it into a log line.
func redact(err error, secret string) {
	re, ok := err.(*ResultError)
	if !ok || secret == "" {
		return
	}
	re.Message = strings.ReplaceAll(re.Message, secret, "[redacted]")
	re.MatchedDN = strings.ReplaceAll(re.MatchedDN, secret, "[redacted]")
}

// IsResultCode reports whether err is, or wraps, a ResultError with code.
func IsResultCode(err error, code uint16) bool {
	var re *ResultError
	return errors.As(err, &re) && re.Code == int(code)
}
