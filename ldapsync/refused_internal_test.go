package ldapsync

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/idsync/idsync/internal/ldapwire"
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
		{"invalid write", fmt.Errorf("create: %w: ParentDN: not under the base DN", ErrInvalidWrite), true},
		{"search refused (bulk-read connection)", fmt.Errorf("searching: %w", &ldapwire.ResultError{Code: int(ldap.LDAPResultInsufficientAccessRights)}), true},
		{"search busy (bulk-read connection)", fmt.Errorf("searching: %w", &ldapwire.ResultError{Code: int(ldap.LDAPResultBusy)}), false},
		{"failed create, undo failed too", errors.Join(lerr(ldap.LDAPResultUnwillingToPerform), lerr(ldap.ErrorNetwork)), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Refused(tt.err); got != tt.want {
				t.Errorf("Refused(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

// TestRefusedInvalidWrite: every op Write rejects before sending anything
// wraps ErrInvalidWrite, which Refused counts as refused. The connection
// has no server: an op that passed validation would panic on it.
func TestRefusedInvalidWrite(t *testing.T) {
	const base = "dc=example,dc=org"
	ad := Spec{Kind: KindAD, BaseDN: base}
	ol := Spec{Kind: KindOpenLDAP, BaseDN: base}
	parent := "ou=people," + base
	cn := []Attribute{{Name: "cn", Values: []string{"Jane"}}}
	with := func(a ...Attribute) []Attribute {
		return append([]Attribute{{Name: "cn", Values: []string{"Jane"}}}, a...)
	}
	const id = "6f1c2b1e-8d7a-4a0c-9b7e-2f1d3c4b5a69"
	tests := []struct {
		name string
		spec Spec
		op   WriteOp
		want string
	}{
		{"no action", ol, WriteOp{ParentDN: parent, Attributes: cn, Enabled: true}, "unknown action"},
		{"parent not under the base DN", ol, WriteOp{Action: WriteCreate, ParentDN: "ou=x,dc=other", Attributes: cn, Enabled: true}, "not under the base DN"},
		{"disabled parent not under the base DN", ol, WriteOp{Action: WriteCreate, ParentDN: parent, DisabledParentDN: "ou=x,dc=other", Attributes: cn, Enabled: true}, "DisabledParentDN"},
		{"no parent", ol, WriteOp{Action: WriteCreate, Attributes: cn, Enabled: true}, "ParentDN is empty"},
		{"AD password without TLS", ad, WriteOp{Action: WriteCreate, ParentDN: parent, Attributes: cn, Enabled: true, Password: "Secret-1"}, "TLS"},
		{"password on update", ol, WriteOp{Action: WriteUpdate, ExternalID: id, Attributes: cn, Enabled: true, Password: "Secret-1"}, "create only"},
		{"forbidden attribute", ad, WriteOp{Action: WriteUpdate, ExternalID: id, Attributes: with(Attribute{Name: "servicePrincipalName", Values: []string{"HTTP/x"}}), Enabled: true}, "servicePrincipalName"},
		{"forbidden attribute, other case", ol, WriteOp{Action: WriteUpdate, ExternalID: id, Attributes: with(Attribute{Name: "MEMBEROF", Values: []string{"cn=admins," + base}}), Enabled: true}, "MEMBEROF"},
		{"forbidden attribute by OID", ol, WriteOp{Action: WriteUpdate, ExternalID: id, Attributes: with(Attribute{Name: "2.5.4.35", Values: []string{"x"}}), Enabled: true}, "OID"},
		{"forbidden disable attribute", ad, WriteOp{Action: WriteUpdate, ExternalID: id, Attributes: cn, DisableAttribute: "adminCount=0"}, "adminCount"},
		{"not an attribute name", ol, WriteOp{Action: WriteUpdate, ExternalID: id, Attributes: with(Attribute{Name: "cn)(x", Values: []string{"x"}}), Enabled: true}, "not an attribute name"},
		{"no RDN value", ol, WriteOp{Action: WriteCreate, ParentDN: parent, RDNAttribute: "uid", Attributes: cn, Enabled: true}, "RDN attribute uid"},
		{"disabled on OpenLDAP without a setting", ol, WriteOp{Action: WriteUpdate, ExternalID: id, Attributes: cn}, "DisableAttribute or DisableGroupDN"},
		{"bad disable attribute", ol, WriteOp{Action: WriteUpdate, ExternalID: id, Attributes: cn, DisableAttribute: "employeeType"}, "attr=value"},
		{"no ExternalID", ol, WriteOp{Action: WriteDelete}, "no ExternalID"},
		{"ExternalID not a UUID", ol, WriteOp{Action: WriteDelete, ExternalID: "cn=x"}, "not a GUID"},
		{"lookup without a value", ol, WriteOp{Action: WriteRead, LookupAttribute: "uid"}, "lookup attribute"},
		{"no writable OU", ol, WriteOp{Action: WriteCreate, ParentDN: parent, Attributes: cn, Enabled: true, WritableOUs: []string{}}, "no writable OU"},
		{"writable OU not under the base DN", ol, WriteOp{Action: WriteCreate, ParentDN: parent, Attributes: cn, Enabled: true,
			WritableOUs: []string{"dc=other"}}, "writable OU"},
		{"parent outside the writable OUs", ol, WriteOp{Action: WriteCreate, ParentDN: parent, Attributes: cn, Enabled: true,
			WritableOUs: []string{"ou=staff," + base}}, "outside the OUs"},
		{"disable group not writable", ol, WriteOp{Action: WriteUpdate, ExternalID: id, Attributes: cn, DisableGroupDN: "cn=admins," + base}, "not one of the groups"},
		{"a POSIX object class", ol, WriteOp{Action: WriteCreate, ParentDN: parent, Attributes: cn, Enabled: true,
			ObjectClasses: []string{"inetOrgPerson", "posixAccount"}}, "posixAccount"},
		{"an attribute outside the allowlist", ol, WriteOp{Action: WriteUpdate, ExternalID: id, Attributes: with(Attribute{Name: "loginShell", Values: []string{"/bin/sh"}}), Enabled: true}, "loginShell"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.op.WritableOUs == nil {
				tt.op.WritableOUs = []string{base} // what a writable directory sends
			}
			_, err := Write(t.Context(), &Conn{url: "ldap://nowhere.invalid"}, tt.spec, tt.op)
			if !errors.Is(err, ErrInvalidWrite) || !Refused(err) {
				t.Fatalf("Write = %v, want ErrInvalidWrite, refused", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "Secret-1") {
				t.Errorf("error %q holds the password", err)
			}
		})
	}
}

func TestWritableAttribute(t *testing.T) {
	tests := []struct {
		name string
		kind Kind
		want bool // allowed
	}{
		{"objectClass", KindAD, false},
		{"unicodePwd", KindAD, false},
		{"userPassword", KindOpenLDAP, false},
		{"USERPASSWORD", KindOpenLDAP, false},
		{"userPassword;binary", KindOpenLDAP, false},
		{"userAccountControl", KindAD, false},
		{"objectGUID", KindAD, false},
		{"entryUUID", KindOpenLDAP, false},
		{"servicePrincipalName", KindAD, false},
		{"altSecurityIdentities", KindAD, false},
		{"msDS-AllowedToActOnBehalfOfOtherIdentity", KindAD, false},
		{"msds-keycredentiallink", KindAD, false},
		{"sIDHistory", KindAD, false},
		{"primaryGroupID", KindAD, false},
		{"adminCount", KindAD, false},
		{"nTSecurityDescriptor", KindAD, false},
		{"scriptPath", KindAD, false},
		{"homeDirectory", KindAD, false},
		{"profilePath", KindAD, false},
		{"member", KindOpenLDAP, false},
		{"memberOf", KindAD, false},
		{"userCertificate;binary", KindOpenLDAP, false},
		{"pwdLastSet", KindAD, false},
		{"pwdReset", KindOpenLDAP, false},
		{"uidNumber", KindOpenLDAP, false},
		{"loginShell", KindOpenLDAP, false},
		{"sshPublicKey", KindOpenLDAP, false},
		{"memberUid", KindOpenLDAP, false},
		{"2.5.4.35", KindOpenLDAP, false}, // userPassword by OID
		{"cn;lang-en", KindOpenLDAP, false},
		{"cn", KindAD, true},
		{"mail", KindOpenLDAP, true},
		{"title", KindAD, true},
		{"sAMAccountName", KindAD, true},
		{"userPrincipalName", KindAD, true},
		{"uid", KindOpenLDAP, true},
		{"employeeType", KindOpenLDAP, true},
		{"physicalDeliveryOfficeName", KindAD, true},
	}
	for _, tt := range tests {
		if err := WritableAttribute(tt.kind, tt.name); (err == nil) != tt.want {
			t.Errorf("WritableAttribute(%v, %q) = %v, want allowed %v", tt.kind, tt.name, err, tt.want)
		}
	}
}
