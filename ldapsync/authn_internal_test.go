package ldapsync

import (
	"fmt"
	"testing"
)

// TestRefusal covers the answers the test servers cannot be made to give:
// AD's other reason codes, and a disabled account that a server lets bind
// (Samba itself answers data 533).
func TestRefusal(t *testing.T) {
	const adDiag = "80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data %s, v4563"
	uac := func(v string) foundUser { return foundUser{state: map[string][]string{adAccountControl: {v}}} }
	locked := foundUser{state: map[string][]string{pwdLockedTime: {"000001010000Z"}}}
	reset := func(v string) foundUser { return foundUser{state: map[string][]string{pwdReset: {v}}} }
	for _, tc := range []struct {
		name    string
		kind    Kind
		u       foundUser
		refused bool
		diag    string
		want    AuthReason
	}{
		{"AD bind passed", KindAD, uac("512"), false, "", ""},
		{"AD bind passed, no userAccountControl read", KindAD, foundUser{}, false, "", ""},
		{"AD bind passed, disabled", KindAD, uac("514"), false, "", AuthDisabled},
		{"AD bind passed, disabled, other bits", KindAD, uac("66050"), false, "", AuthDisabled},
		{"AD 52e", KindAD, uac("512"), true, "52e", AuthWrongPassword},
		{"AD 525", KindAD, uac("512"), true, "525", AuthUnknownUser},
		{"AD 530", KindAD, uac("512"), true, "530", AuthRefused},
		{"AD 531", KindAD, uac("512"), true, "531", AuthRefused},
		{"AD 532", KindAD, uac("512"), true, "532", AuthExpired},
		{"AD 533", KindAD, uac("512"), true, "533", AuthDisabled},
		{"AD 701", KindAD, uac("512"), true, "701", AuthExpired},
		{"AD 773", KindAD, uac("512"), true, "773", AuthExpired},
		{"AD 775", KindAD, uac("512"), true, "775", AuthLocked},
		{"AD upper-case code", KindAD, uac("512"), true, "52E", AuthWrongPassword},
		{"AD unknown code", KindAD, uac("512"), true, "999", AuthRefused},
		{"AD no code", KindAD, uac("512"), true, "", AuthRefused},
		{"OpenLDAP bind passed", KindOpenLDAP, foundUser{}, false, "", ""},
		{"OpenLDAP refused", KindOpenLDAP, foundUser{}, true, "", AuthWrongPassword},
		{"OpenLDAP locked, bind passed", KindOpenLDAP, locked, false, "", AuthLocked},
		{"OpenLDAP locked, refused", KindOpenLDAP, locked, true, "", AuthLocked},
		{"OpenLDAP must change, bind passed", KindOpenLDAP, reset("TRUE"), false, "", AuthExpired},
		{"OpenLDAP must change, any case", KindOpenLDAP, reset("true"), false, "", AuthExpired},
		{"OpenLDAP must change, refused", KindOpenLDAP, reset("TRUE"), true, "", AuthWrongPassword},
		{"OpenLDAP pwdReset FALSE", KindOpenLDAP, reset("FALSE"), false, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			diag := ""
			if tc.kind == KindAD && tc.diag != "" {
				diag = fmt.Sprintf(adDiag, tc.diag)
			}
			if got := refusal(tc.kind, tc.u, tc.refused, diag); got != tc.want {
				t.Errorf("refusal(%v, %q) = %q, want %q", tc.kind, diag, got, tc.want)
			}
		})
	}
}
