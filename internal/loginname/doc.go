// Package loginname folds a login name the way directories compare it, so
// that the hub counts sign-in attempts per person rather than per
// spelling: `alice`, `ALICE`, `ａｌｉｃｅ` (fullwidth) and ` alice ` are one
// name to Active Directory and OpenLDAP, and one key here.
//
// It may import the standard library and `golang.org/x/text/...` only.
package loginname
