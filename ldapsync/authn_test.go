//go:build linux

package ldapsync_test

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/idsync/idsync/internal/gendir"
	"github.com/idsync/idsync/internal/testserver"
	"github.com/idsync/idsync/ldapsync"
)

// authCase is one sign-in and what it should give: a Change for the entry
// wantDN, or an *AuthError with wantReason.
type authCase struct {
	name               string
	login              []string
	username, password string
	wantReason         ldapsync.AuthReason
	wantDN             string
}

// checkAuth runs Authenticate for tc and checks the outcome; on success it
// returns the Change for further checks. No error may hold the password.
func checkAuth(t *testing.T, c *ldapsync.Conn, cfg ldapsync.Config, spec ldapsync.Spec, tc authCase) (ldapsync.Change, bool) {
	t.Helper()
	got, err := ldapsync.Authenticate(t.Context(), c, cfg, spec, tc.login, tc.username, tc.password)
	if err != nil && tc.password != "" && strings.Contains(fmt.Sprintf("%v %+v %#v", err, err, err), tc.password) {
		t.Errorf("the error holds the password: %v", err)
	}
	if tc.wantReason != "" {
		var ae *ldapsync.AuthError
		switch {
		case !errors.As(err, &ae):
			t.Errorf("Authenticate(%q) = %+v, %v; want an AuthError %q", tc.username, got, err, tc.wantReason)
		case ae.Reason != tc.wantReason || !strings.EqualFold(ae.DN, tc.wantDN):
			t.Errorf("Authenticate(%q): reason %q DN %q, want %q DN %q", tc.username, ae.Reason, ae.DN, tc.wantReason, tc.wantDN)
		case (ae.ExternalID != "") != (tc.wantDN != ""):
			// The hub charges the entry's own limit with it.
			t.Errorf("Authenticate(%q): external id %q of a refusal naming entry %q; want one exactly when an entry was found", tc.username, ae.ExternalID, tc.wantDN)
		}
		return ldapsync.Change{}, false
	}
	if err != nil {
		t.Errorf("Authenticate(%q): %v", tc.username, err)
		return ldapsync.Change{}, false
	}
	if !strings.EqualFold(got.DN, tc.wantDN) || got.Type != ldapsync.ChangeUpsert || got.Kind != ldapsync.ObjectUser {
		t.Errorf("Authenticate(%q) = %s %v %v, want upsert user %s", tc.username, got.DN, got.Type, got.Kind, tc.wantDN)
	}
	return got, true
}

func TestAuthenticateOpenLDAP(t *testing.T) {
	const (
		alicePW = "alice-Secret-1"
		sharePW = "share-Secret-2"
		davePW  = "dave-Secret-3"
		erinPW  = "erin-Secret-4"
	)
	person := func(uid, mail, password string, extra ...gendir.Attr) gendir.Entry {
		return gendir.Entry{DN: "uid=" + uid + ",ou=people," + testserver.SlapdSuffix, Attrs: append([]gendir.Attr{
			{Name: "objectClass", Values: []string{"top", "person", "organizationalPerson", "inetOrgPerson"}},
			{Name: "uid", Values: []string{uid}}, {Name: "cn", Values: []string{uid}}, {Name: "sn", Values: []string{uid}},
			{Name: "mail", Values: []string{mail}}, {Name: "userPassword", Values: []string{password}},
		}, extra...)}
	}
	entries := []gendir.Entry{
		{DN: "ou=people," + testserver.SlapdSuffix, Attrs: []gendir.Attr{
			{Name: "objectClass", Values: []string{"top", "organizationalUnit"}}, {Name: "ou", Values: []string{"people"}}}},
		person("alice", "alice@example.org", alicePW),
		person("bob", "shared@example.org", sharePW),
		person("carol", "shared@example.org", sharePW),
		person("dave", "dave@example.org", davePW, gendir.Attr{Name: "pwdAccountLockedTime", Values: []string{"000001010000Z"}}),
		// An administrator set erin's password: she must change it first.
		person("erin", "erin@example.org", erinPW, gendir.Attr{Name: "pwdReset", Values: []string{"TRUE"}}),
	}
	srv := testserver.Slapd(t, testserver.SlapdOptions{PasswordPolicy: true,
		Preload: func(_ string, emit func(gendir.Entry) error) error {
			for _, e := range entries {
				if err := emit(e); err != nil {
					return err
				}
			}
			return nil
		}})
	conn := dial(t, srv.Endpoint)
	cfg := ldapsync.Config{URL: srv.URL}
	spec := ldapsync.Spec{Kind: ldapsync.KindOpenLDAP, BaseDN: srv.BaseDN, UserAttributes: []string{"uid", "mail", "cn"}}
	uuids := entryUUIDs(t, srv)
	alice, dave, erin := entries[1], entries[4], entries[5]

	for _, tc := range []authCase{
		{name: "by uid", username: "alice", password: alicePW, wantDN: alice.DN},
		{name: "by mail", username: "alice@example.org", password: alicePW, wantDN: alice.DN},
		{name: "by mail, any case", username: "ALICE@example.org", password: alicePW, wantDN: alice.DN},
		// The server folds what the hub's sign-in limit folds (loginname).
		{name: "by uid, fullwidth letter", username: "\uff41lice", password: alicePW, wantDN: alice.DN},
		{name: "by uid, spaces around", username: "  Alice ", password: alicePW, wantDN: alice.DN},
		{name: "login attribute given", login: []string{"mail"}, username: "alice@example.org", password: alicePW, wantDN: alice.DN},
		{name: "not a login attribute", login: []string{"mail"}, username: "alice", password: alicePW, wantReason: ldapsync.AuthUnknownUser},
		{name: "wrong password", username: "alice", password: "alice-Secret-2", wantReason: ldapsync.AuthWrongPassword, wantDN: alice.DN},
		{name: "another user's password", username: "alice", password: davePW, wantReason: ldapsync.AuthWrongPassword, wantDN: alice.DN},
		{name: "unknown user", username: "zoe", password: alicePW, wantReason: ldapsync.AuthUnknownUser},
		{name: "empty password", username: "alice", password: "", wantReason: ldapsync.AuthEmptyPassword},
		{name: "empty username", username: "", password: alicePW, wantReason: ldapsync.AuthEmptyPassword},
		{name: "two entries with the mail", username: "shared@example.org", password: sharePW, wantReason: ldapsync.AuthAmbiguous},
		{name: "locked, right password", username: "dave", password: davePW, wantReason: ldapsync.AuthLocked, wantDN: dave.DN},
		{name: "locked, wrong password", username: "dave", password: alicePW, wantReason: ldapsync.AuthLocked, wantDN: dave.DN},
		{name: "must change password", username: "erin", password: erinPW, wantReason: ldapsync.AuthExpired, wantDN: erin.DN},
		{name: "must change password, wrong password", username: "erin", password: alicePW, wantReason: ldapsync.AuthWrongPassword, wantDN: erin.DN},
		{name: "wildcard username", username: "*", password: alicePW, wantReason: ldapsync.AuthUnknownUser},
		{name: "prefix wildcard", username: "ali*", password: alicePW, wantReason: ldapsync.AuthUnknownUser},
		{name: "filter injection", username: "a)(uid=*", password: alicePW, wantReason: ldapsync.AuthUnknownUser},
		{name: "filter injection closing the filter", username: "alice)(|(uid=*", password: alicePW, wantReason: ldapsync.AuthUnknownUser},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := checkAuth(t, conn, cfg, spec, tc)
			if !ok {
				return
			}
			if want := uuids[strings.ToLower(tc.wantDN)]; got.ExternalID != want || len(want) != 36 {
				t.Errorf("external id %q, want the entryUUID %q", got.ExternalID, want)
			}
			if want := want(alice, spec.UserAttributes); !reflect.DeepEqual(got.Attributes, want) {
				t.Errorf("attributes:\n got %q\nwant %q", got.Attributes, want)
			}
		})
	}

	// The account state is read whether or not it is requested, and
	// reported only when it is.
	for _, tc := range []struct {
		attr  string
		state authCase
	}{
		{"pwdAccountLockedTime", authCase{username: "dave", password: davePW, wantReason: ldapsync.AuthLocked, wantDN: dave.DN}},
		{"pwdReset", authCase{username: "erin", password: erinPW, wantReason: ldapsync.AuthExpired, wantDN: erin.DN}},
	} {
		t.Run(tc.attr+" requested", func(t *testing.T) {
			spec := spec
			spec.UserAttributes = append(spec.UserAttributes, tc.attr)
			got, ok := checkAuth(t, conn, cfg, spec, authCase{username: "alice", password: alicePW, wantDN: alice.DN})
			if v := attr(got, strings.ToLower(tc.attr)); ok && v != nil {
				t.Errorf("alice has no %s, got %q", tc.attr, v)
			}
			checkAuth(t, conn, cfg, spec, tc.state)
		})
	}

	t.Run("other errors", func(t *testing.T) {
		// The bind's server is down while the lookup's is up: an error
		// that is no AuthError, with the password (here part of the URL)
		// redacted.
		down := ldapsync.Config{URL: fmt.Sprintf("ldap://127.0.0.1:%d", testserver.FreePort(t))}
		for _, tc := range []struct {
			name     string
			cfg      ldapsync.Config
			spec     ldapsync.Spec
			login    []string
			username string
			password string
			wantText string
		}{
			{"bind server down", down, spec, nil, "alice", "127.0.0.1", "ldap://[redacted]"},
			// An unknown user still costs a bind: this one reaches the server that is down.
			{"bind server down, unknown user", down, spec, nil, "zoe", alicePW, down.URL},
			// So does an ambiguous one.
			{"bind server down, ambiguous user", down, spec, nil, "shared@example.org", sharePW, down.URL},
			{"bad login attribute", cfg, spec, []string{"uid=*)(cn"}, "alice", alicePW, "login attribute"},
			{"bad filter", cfg, ldapsync.Spec{Kind: ldapsync.KindOpenLDAP, BaseDN: srv.BaseDN, UserFilter: "(uid="}, nil, "alice", alicePW, "UserFilter"},
			{"no kind", cfg, ldapsync.Spec{BaseDN: srv.BaseDN}, nil, "alice", alicePW, "kind"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := ldapsync.Authenticate(t.Context(), conn, tc.cfg, tc.spec, tc.login, tc.username, tc.password)
				var ae *ldapsync.AuthError
				switch {
				case err == nil || errors.As(err, &ae):
					t.Fatalf("Authenticate = %v, want an error that is no AuthError", err)
				case strings.Contains(fmt.Sprintf("%v %+v", err, err), tc.password):
					t.Errorf("the error holds the password: %v", err)
				case !strings.Contains(err.Error(), tc.wantText):
					t.Errorf("error %q does not say %q", err, tc.wantText)
				}
			})
		}
	})
}

func TestAuthenticateAD(t *testing.T) {
	t.Parallel()
	const pw = "Auth-Test-Pw-9!"
	srv := testserver.SambaAD(t)
	if srv.LDAPSURL == "" {
		t.Fatal("the AD has no LDAPS URL to set passwords over")
	}
	gen, err := gendir.New(gendir.Options{Flavor: gendir.AD, BaseDN: srv.BaseDN, Seed: 5, Users: 3, MailDomain: "idsync.test", AccountPrefix: "au"})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.AddGenerated(t.Context(), gen, 1); err != nil {
		t.Fatalf("loading AD: %v", err)
	}
	for i := range 3 {
		if err := srv.SetPassword(t.Context(), gen.UserDN(i), pw); err != nil {
			t.Fatal(err)
		}
	}
	disable := ldap.NewModifyRequest(gen.UserDN(2), nil)
	disable.Replace("userAccountControl", []string{"514"})
	if err := srv.Modify(t.Context(), disable); err != nil {
		t.Fatal(err)
	}

	conn := dial(t, srv.Endpoint)
	// The user's bind goes over LDAPS, with the CA of the agent's config.
	cfg := ldapsync.Config{URL: srv.LDAPSURL, CAFile: srv.CAFile}
	spec := ldapsync.Spec{Kind: ldapsync.KindAD, BaseDN: srv.BaseDN, UserAttributes: []string{"cn", "sAMAccountName", "userPrincipalName"}}
	guids := extendedGUIDs(t, srv)
	u0, u1 := gen.User(0), gen.User(1)

	for _, tc := range []authCase{
		{name: "by sAMAccountName", username: gen.UserUID(0), password: pw, wantDN: u0.DN},
		{name: "by userPrincipalName", username: u1.Get("userPrincipalName")[0], password: pw, wantDN: u1.DN},
		// Samba, unlike Windows, does not match fullwidth letters; the
		// hub's limit folds them all the same (loginname).
		{name: "by sAMAccountName, upper case and spaces", username: " " + strings.ToUpper(gen.UserUID(0)) + " ", password: pw, wantDN: u0.DN},
		{name: "wrong password", username: gen.UserUID(0), password: pw + "x", wantReason: ldapsync.AuthWrongPassword, wantDN: u0.DN},
		{name: "disabled, right password", username: gen.UserUID(2), password: pw, wantReason: ldapsync.AuthDisabled, wantDN: gen.UserDN(2)},
		{name: "unknown user", username: "au-nobody", password: pw, wantReason: ldapsync.AuthUnknownUser},
		{name: "empty password", username: gen.UserUID(0), password: "", wantReason: ldapsync.AuthEmptyPassword},
		{name: "wildcard username", username: "au*", password: pw, wantReason: ldapsync.AuthUnknownUser},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := checkAuth(t, conn, cfg, spec, tc)
			if !ok {
				return
			}
			if want := guids[strings.ToLower(tc.wantDN)]; got.ExternalID != want || want == "" {
				t.Errorf("external id %q, want the server's GUID %q", got.ExternalID, want)
			}
			u := u0
			if strings.EqualFold(tc.wantDN, u1.DN) {
				u = u1
			}
			// userAccountControl is read for the check but not reported
			// unless requested.
			if want := want(u, spec.UserAttributes); !reflect.DeepEqual(got.Attributes, want) {
				t.Errorf("attributes:\n got %q\nwant %q", got.Attributes, want)
			}
		})
	}

	t.Run("userAccountControl requested", func(t *testing.T) {
		spec := spec
		spec.UserAttributes = append(spec.UserAttributes, "userAccountControl")
		got, ok := checkAuth(t, conn, cfg, spec, authCase{username: gen.UserUID(0), password: pw, wantDN: u0.DN})
		if uac := attr(got, "useraccountcontrol"); ok && len(uac) != 1 {
			t.Errorf("useraccountcontrol = %q, want one value", uac)
		}
		checkAuth(t, conn, cfg, spec, authCase{username: gen.UserUID(2), password: pw, wantReason: ldapsync.AuthDisabled, wantDN: gen.UserDN(2)})
	})
}
