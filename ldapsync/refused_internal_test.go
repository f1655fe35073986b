package ldapsync

import (
	"errors"
	"fmt"
	"testing"

	"github.com/go-ldap/ldap/v3"
)

// TestRefused: LDAP results that fail again are refusals; a broken or busy
// server, and errors that are no LDAP result, may pass later.
func TestRefused(t *testing.T) {
	lerr := func(code uint16) error {
		return fmt.Errorf("modifying cn=x: %w", &ldap.Error{ResultCode: code, Err: errors.New("diagnostic")})
	}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"constraint violation", lerr(ldap.LDAPResultConstraintViolation), true},
		{"insufficient access", lerr(ldap.LDAPResultInsufficientAccessRights), true},
		{"unwilling to perform (AD password policy)", lerr(ldap.LDAPResultUnwillingToPerform), true},
		{"object class violation", lerr(ldap.LDAPResultObjectClassViolation), true},
		{"network", lerr(ldap.ErrorNetwork), false},
		{"busy", lerr(ldap.LDAPResultBusy), false},
		{"unavailable", lerr(ldap.LDAPResultUnavailable), false},
		{"server down", lerr(ldap.LDAPResultServerDown), false},
		{"timeout", lerr(ldap.LDAPResultTimeout), false},
		{"not an LDAP result", errors.New("connecting to ldap://x: connection refused"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Refused(tt.err); got != tt.want {
				t.Errorf("Refused(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}
