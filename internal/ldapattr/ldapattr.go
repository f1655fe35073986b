// Package ldapattr knows which LDAP attributes the hub may never write into
// a user entry it masters. Both sides check it: the hub when an app's
// mapping is configured, the agent (ldapsync) before every write.
package ldapattr

import "strings"

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
