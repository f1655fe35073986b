package ldapattr

import (
	"encoding/binary"
	"fmt"
	"slices"
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

// Directory kinds, as the allowlists know them.
const (
	KindAD       = "ad"
	KindOpenLDAP = "openldap"
)

// writable are the attributes (lower-case) the hub may write into a user
// entry it created, per kind: profile fields and nothing that grants a
// right or a way to sign in. The account's state (userAccountControl,
// pwdLastSet, the password) is written by the write's own settings, never
// by name.
var writable = map[string][]string{
	KindAD: {
		"cn", "sn", "givenname", "initials", "displayname", "description", "mail", "title",
		"department", "company", "division", "manager", "employeeid", "employeenumber", "employeetype",
		"telephonenumber", "mobile", "facsimiletelephonenumber", "ipphone", "pager", "homephone",
		"physicaldeliveryofficename", "streetaddress", "l", "st", "postalcode", "c", "co", "countrycode",
		"wwwhomepage", "preferredlanguage", "samaccountname", "userprincipalname",
	},
	KindOpenLDAP: {
		"cn", "sn", "givenname", "initials", "displayname", "description", "mail", "title",
		"departmentnumber", "o", "ou", "manager", "employeenumber", "employeetype", "businesscategory",
		"telephonenumber", "mobile", "facsimiletelephonenumber", "pager", "homephone", "roomnumber",
		"physicaldeliveryofficename", "street", "l", "st", "postalcode", "postaladdress",
		"preferredlanguage", "labeleduri", "uid",
	},
}

// disableAttributes are the attributes, beyond the writable ones, that may
// mark a disabled account (OpenLDAP's ppolicy lock).
var disableAttributes = map[string][]string{
	KindOpenLDAP: {"pwdaccountlockedtime"},
}

// Writable reports, as an error naming the attribute and the kind, whether
// the attribute name (any case, without options) may not be written into a
// user entry the hub created in a directory of kind (KindAD, KindOpenLDAP).
func Writable(kind, name string) error {
	typ := strings.ToLower(name)
	if why, bad := Forbidden(typ); bad {
		return fmt.Errorf("%s may not be written: %s", name, why)
	}
	if strings.Contains(typ, ";") {
		return fmt.Errorf("%s may not be written: name the attribute without options", name)
	}
	list, ok := writable[kind]
	if !ok {
		return fmt.Errorf("%s may not be written: directories of kind %q are not written", name, kind)
	}
	if !slices.Contains(list, typ) {
		return fmt.Errorf("%s may not be written into %s entries: not among the attributes a target writes (%s)",
			name, kind, strings.Join(WritableNames(kind), ", "))
	}
	return nil
}

// WritableNames lists the attributes Writable allows for kind, sorted.
func WritableNames(kind string) []string {
	return slices.Sorted(slices.Values(writable[kind]))
}

// DisableAttribute reports, as Writable does, whether name may mark a
// disabled account in a directory of kind: a writable attribute, or the
// kind's own lock attribute.
func DisableAttribute(kind, name string) error {
	if slices.Contains(disableAttributes[kind], strings.ToLower(name)) {
		return nil
	}
	return Writable(kind, name)
}

// ObjectClasses are the object classes of the user entries the hub
// creates, per kind: the only ones a write may name.
var ObjectClasses = map[string][]string{
	KindAD:       {"top", "person", "organizationalPerson", "user"},
	KindOpenLDAP: {"top", "person", "organizationalPerson", "inetOrgPerson"},
}
