// Package ldapattr holds what the hub, the agent and the test servers all
// need to know of LDAP attributes: which ones the hub may never write into
// a user entry it masters (checked by the hub when an app's mapping is
// configured and by the agent before every write), and how AD takes a
// password.
package ldapattr

import (
	"encoding/binary"
	"strings"
	"unicode/utf16"
)

// UnicodePwd encodes a password as AD's unicodePwd takes it: in double
// quotes, UTF-16LE.
func UnicodePwd(password string) string {
	u := utf16.Encode([]rune(`"` + password + `"`))
	b := make([]byte, 2*len(u))
	for i, r := range u {
		binary.LittleEndian.PutUint16(b[2*i:], r)
	}
	return string(b)
}

// forbiddenAttributes are the attributes (lower-case) a write may not
// list: they would change what the entry is or what it may do, or they are
// set through the write's own settings or by the server.
var forbiddenAttributes = map[string]string{
	"objectclass":        "the object classes are the target's, set on create",
	"unicodepwd":         "a password is set only as the initial password",
	"userpassword":       "a password is set only as the initial password",
	"useraccountcontrol": "the account's enabled state sets it",
	"pwdlastset":         "must-change-password sets it",
	"pwdreset":           "must-change-password sets it",
	"objectguid":         "the server sets it",
	"entryuuid":          "the server sets it",
	// Kerberos delegation, certificate and key mappings, SID and group
	// membership, the security descriptor and logon scripts: each grants
	// rights or a way to sign in as someone.
	"serviceprincipalname":                     "",
	"altsecurityidentities":                    "",
	"msds-allowedtoactonbehalfofotheridentity": "",
	"msds-keycredentiallink":                   "",
	"msds-supportedencryptiontypes":            "",
	"sidhistory":                               "",
	"primarygroupid":                           "",
	"admincount":                               "",
	"ntsecuritydescriptor":                     "",
	"scriptpath":                               "",
	"userparameters":                           "",
	"member":                                   "",
	"memberof":                                 "",
	"usercertificate":                          "",
}

// Forbidden reports whether the attribute name (any case, with or without
// options such as ";binary") may not be written into a user entry the hub
// masters, and why: one that would change what the entry is or what it
// may do. A numeric OID is forbidden too, as nobody can tell which
// attribute it names.
func Forbidden(name string) (why string, forbidden bool) {
	typ, _, _ := strings.Cut(strings.ToLower(name), ";")
	if typ != "" && typ[0] >= '0' && typ[0] <= '9' {
		return "name attributes by their names, not by OID", true
	}
	why, ok := forbiddenAttributes[typ]
	if ok && why == "" {
		why = "it would change the rights of the account"
	}
	return why, ok
}
