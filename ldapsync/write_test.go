//go:build linux

package ldapsync_test

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/idsync/idsync/internal/gendir"
	"github.com/idsync/idsync/internal/testserver"
	"github.com/idsync/idsync/ldapsync"
)

// addOU adds an organizational unit named name under parent and returns
// its DN.
func addOU(t *testing.T, e *testserver.Endpoint, attr, name, parent string) string {
	t.Helper()
	dn := attr + "=" + name + "," + parent
	err := e.Add(t.Context(), gendir.Entry{DN: dn, Attrs: []gendir.Attr{
		{Name: "objectClass", Values: []string{"top", "organizationalUnit"}},
		{Name: "ou", Values: []string{name}},
	}})
	if err != nil {
		t.Fatalf("adding %s: %v", dn, err)
	}
	return dn
}

// readAttr reads the values of attr on dn as the administrator, nil when
// the entry has none.
func readAttr(t *testing.T, e *testserver.Endpoint, dn, attr string) []string {
	t.Helper()
	c, err := e.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	res, err := c.Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=*)", []string{attr}, nil))
	if err != nil {
		t.Fatalf("reading %s of %s: %v", attr, dn, err)
	}
	return res.Entries[0].GetAttributeValues(attr)
}

// exists reports whether dn exists, as the administrator sees it.
func exists(t *testing.T, e *testserver.Endpoint, dn string) bool {
	t.Helper()
	c, err := e.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=*)", []string{"1.1"}, nil))
	if ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	return true
}

// bindAs dials url as dn with password and reports the error.
func bindAs(t *testing.T, url, caFile, dn, password string) error {
	t.Helper()
	c, err := ldapsync.Dial(t.Context(), ldapsync.Config{URL: url, CAFile: caFile, BindDN: dn, BindPassword: password})
	if err == nil {
		c.Close()
	}
	return err
}

// uniqueName returns prefix with random hex, short enough for a
// sAMAccountName (20 characters): the Samba DC is shared by the process.
func uniqueName(prefix string) string {
	var b [5]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// mustWrite runs Write and fails the test on an error, which must not show
// the password either way.
func mustWrite(t *testing.T, c *ldapsync.Conn, spec ldapsync.Spec, op ldapsync.WriteOp) ldapsync.Change {
	t.Helper()
	ch, err := ldapsync.Write(t.Context(), c, spec, op)
	if err != nil {
		noSecret(t, err, op.Password)
		t.Fatalf("Write(%v): %v", op.Action, err)
	}
	return ch
}

// noSecret fails when err's text holds secret.
func noSecret(t *testing.T, err error, secret string) {
	t.Helper()
	if err != nil && secret != "" && strings.Contains(err.Error(), secret) {
		t.Errorf("error %q contains the password", err)
	}
}

// wantAttrs checks that ch has each attribute with exactly these values.
func wantAttrs(t *testing.T, ch ldapsync.Change, want map[string][]string) {
	t.Helper()
	for name, values := range want {
		if got := attr(ch, name); !slices.Equal(got, values) {
			t.Errorf("%s = %q, want %q", name, got, values)
		}
	}
}

// underDN reports whether dn's parent is parent.
func underDN(dn, parent string) bool {
	d, err1 := ldap.ParseDN(dn)
	p, err2 := ldap.ParseDN(parent)
	return err1 == nil && err2 == nil && len(d.RDNs) > 0 && p.EqualFold(&ldap.DN{RDNs: d.RDNs[1:]})
}

func uac(t *testing.T, ch ldapsync.Change) int {
	t.Helper()
	v := attr(ch, "useraccountcontrol")
	if len(v) != 1 {
		t.Fatalf("userAccountControl = %q", v)
	}
	n, err := strconv.Atoi(v[0])
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestWriteAD(t *testing.T) {
	t.Parallel()
	srv := testserver.SambaAD(t)
	if srv.LDAPSURL == "" {
		t.Fatal("the AD has no LDAPS URL: AD takes passwords over TLS only")
	}
	staff := addOU(t, &srv.Endpoint, "OU", "Staff", srv.BaseDN)
	disabled := addOU(t, &srv.Endpoint, "OU", "Disabled", srv.BaseDN)
	conn, err := ldapsync.Dial(t.Context(), ldapsync.Config{URL: srv.LDAPSURL, CAFile: srv.CAFile,
		BindDN: srv.BindDN, BindPassword: srv.BindPassword})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	writes := ldapsync.CountWrites(conn)
	plain := dial(t, srv.Endpoint)
	spec := ldapsync.Spec{Kind: ldapsync.KindAD, BaseDN: srv.BaseDN, UserAttributes: adUserAttrs}

	sam := uniqueName("w")
	const password = "Wr1te-Secret-Pa55"
	attrs := func(cn, title string) []ldapsync.Attribute {
		return []ldapsync.Attribute{
			{Name: "cn", Values: []string{cn}},
			{Name: "givenName", Values: []string{"Jane"}},
			{Name: "sn", Values: []string{"Doe"}},
			{Name: "displayName", Values: []string{"Jane Doe"}},
			{Name: "mail", Values: []string{sam + "@idsync.test"}},
			{Name: "title", Values: []string{title}},
			{Name: "sAMAccountName", Values: []string{sam}},
			{Name: "userPrincipalName", Values: []string{sam + "@idsync.test"}},
		}
	}
	writable := []string{staff, disabled}
	create := ldapsync.WriteOp{Action: ldapsync.WriteCreate, ParentDN: staff, DisabledParentDN: disabled,
		Attributes: attrs("Jane Doe "+sam, "Engineer"), Enabled: true, Password: password, WritableOUs: writable}

	t.Run("password over plain LDAP", func(t *testing.T) {
		_, err := ldapsync.Write(t.Context(), plain, spec, create)
		if !errors.Is(err, ldapsync.ErrInvalidWrite) || !strings.Contains(err.Error(), "TLS") {
			t.Fatalf("err = %v, want ErrInvalidWrite saying AD takes passwords over TLS", err)
		}
		noSecret(t, err, password)
		if exists(t, &srv.Endpoint, "CN=Jane Doe "+sam+","+staff) {
			t.Error("the entry was written")
		}
	})

	t.Run("password refused by AD's complexity", func(t *testing.T) {
		weak := create
		weak.Attributes = attrs("Weak Pw "+sam, "Engineer")
		for i, a := range weak.Attributes {
			if a.Name == "sAMAccountName" || a.Name == "userPrincipalName" || a.Name == "mail" {
				weak.Attributes[i].Values = []string{strings.Replace(a.Values[0], sam, sam+"w", 1)}
			}
		}
		weak.Password = "alllowercase"
		_, err := ldapsync.Write(t.Context(), conn, spec, weak)
		if !errors.Is(err, ldapsync.ErrPasswordRefused) || !ldapsync.Refused(err) {
			t.Fatalf("err = %v, want ErrPasswordRefused, a refusal", err)
		}
		noSecret(t, err, weak.Password)
		if exists(t, &srv.Endpoint, "CN=Weak Pw "+sam+","+staff) {
			t.Error("the half-made entry was left")
		}
	})

	created := mustWrite(t, conn, spec, create)
	id := created.ExternalID
	t.Run("create", func(t *testing.T) {
		if guid := extendedGUIDs(t, srv)[strings.ToLower(created.DN)]; id == "" || id != guid {
			t.Errorf("ExternalID = %q, want the objectGUID %q", id, guid)
		}
		if !underDN(created.DN, staff) {
			t.Errorf("DN = %q, want it under %q", created.DN, staff)
		}
		wantAttrs(t, created, map[string][]string{"givenname": {"Jane"}, "sn": {"Doe"}, "title": {"Engineer"},
			"samaccountname": {sam}, "userprincipalname": {sam + "@idsync.test"}, "useraccountcontrol": {"512"}})
		if err := bindAs(t, srv.LDAPSURL, srv.CAFile, created.DN, password); err != nil {
			t.Errorf("binding as the new user: %v", err)
		}
	})

	update := ldapsync.WriteOp{Action: ldapsync.WriteUpdate, ExternalID: id, ParentDN: staff, DisabledParentDN: disabled,
		Attributes: attrs("Jane Roe "+sam, "Manager"), Enabled: true, WritableOUs: writable}
	var updated ldapsync.Change
	t.Run("update and rename", func(t *testing.T) {
		updated = mustWrite(t, conn, spec, update)
		if updated.ExternalID != id || !strings.HasPrefix(updated.DN, "CN=Jane Roe "+sam+",") || !underDN(updated.DN, staff) {
			t.Errorf("got %s %q, want %s CN=Jane Roe %s under %s", updated.ExternalID, updated.DN, id, sam, staff)
		}
		wantAttrs(t, updated, map[string][]string{"title": {"Manager"}, "cn": {"Jane Roe " + sam}})
	})
	t.Run("identical update sends nothing", func(t *testing.T) {
		before, sent := readAttr(t, &srv.Endpoint, updated.DN, "uSNChanged"), writes.Load()
		again := mustWrite(t, conn, spec, update)
		if n := writes.Load() - sent; n != 0 {
			t.Errorf("the update sent %d writes, want none", n)
		}
		if after := readAttr(t, &srv.Endpoint, updated.DN, "uSNChanged"); !slices.Equal(before, after) {
			t.Errorf("uSNChanged moved from %v to %v", before, after)
		}
		if again.DN != updated.DN {
			t.Errorf("DN = %q, want %q", again.DN, updated.DN)
		}
	})

	t.Run("disable and rename", func(t *testing.T) {
		op := update
		op.Enabled = false
		op.Attributes = attrs("Jane Gone "+sam, "Manager")
		ch := mustWrite(t, conn, spec, op)
		if uac(t, ch)&2 == 0 || !underDN(ch.DN, disabled) || !strings.HasPrefix(ch.DN, "CN=Jane Gone ") {
			t.Errorf("userAccountControl %d at %q, want bit 2, CN=Jane Gone … under %q", uac(t, ch), ch.DN, disabled)
		}
		if err := bindAs(t, srv.LDAPSURL, srv.CAFile, ch.DN, password); !errors.Is(err, ldapsync.ErrInvalidCredentials) {
			t.Errorf("binding as the disabled user: %v, want ErrInvalidCredentials", err)
		}
	})
	t.Run("enable and rename back", func(t *testing.T) {
		ch := mustWrite(t, conn, spec, update)
		if uac(t, ch) != 512 || ch.DN != updated.DN {
			t.Errorf("userAccountControl %d at %q, want 512 at %q", uac(t, ch), ch.DN, updated.DN)
		}
		if err := bindAs(t, srv.LDAPSURL, srv.CAFile, ch.DN, password); err != nil {
			t.Errorf("binding as the enabled user: %v", err)
		}
	})

	t.Run("create taken", func(t *testing.T) {
		other := uniqueName("w")
		for _, tc := range []struct {
			name  string
			attrs []ldapsync.Attribute
		}{
			{"same DN", append(attrs("Jane Roe "+sam, "x")[:6], ldapsync.Attribute{Name: "sAMAccountName", Values: []string{other}})},
			{"same sAMAccountName", append(attrs("Someone "+other, "x")[:6], ldapsync.Attribute{Name: "sAMAccountName", Values: []string{sam}})},
			{"same userPrincipalName", append(attrs("Someone "+other, "x")[:6],
				ldapsync.Attribute{Name: "sAMAccountName", Values: []string{other}},
				ldapsync.Attribute{Name: "userPrincipalName", Values: []string{sam + "@idsync.test"}})},
		} {
			t.Run(tc.name, func(t *testing.T) {
				op := create
				op.Attributes = tc.attrs
				_, err := ldapsync.Write(t.Context(), conn, spec, op)
				if !errors.Is(err, ldapsync.ErrEntryExists) {
					t.Errorf("err = %v, want ErrEntryExists", err)
				}
				noSecret(t, err, password)
			})
		}
	})

	t.Run("read", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			op   ldapsync.WriteOp
			err  error
		}{
			{"by sAMAccountName", ldapsync.WriteOp{Action: ldapsync.WriteRead, LookupAttribute: "sAMAccountName", LookupValue: sam}, nil},
			{"by id", ldapsync.WriteOp{Action: ldapsync.WriteRead, ExternalID: id}, nil},
			{"nobody", ldapsync.WriteOp{Action: ldapsync.WriteRead, LookupAttribute: "sAMAccountName", LookupValue: "nobody-" + sam}, ldapsync.ErrEntryNotFound},
		} {
			t.Run(tc.name, func(t *testing.T) {
				ch, err := ldapsync.Write(t.Context(), conn, spec, tc.op)
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				if tc.err == nil && (ch.ExternalID != id || attr(ch, "samaccountname")[0] != sam) {
					t.Errorf("got %s %q, want %s", ch.ExternalID, ch.DN, id)
				}
			})
		}
	})

	t.Run("must change password", func(t *testing.T) {
		s := uniqueName("w")
		op := create
		op.Attributes = append(attrs("Must Change "+s, "x")[:6], ldapsync.Attribute{Name: "sAMAccountName", Values: []string{s}})
		op.MustChangePassword = true
		ch := mustWrite(t, conn, spec, op)
		if got := readAttr(t, &srv.Endpoint, ch.DN, "pwdLastSet"); !slices.Equal(got, []string{"0"}) || uac(t, ch) != 512 {
			t.Errorf("pwdLastSet = %q, userAccountControl %d; want 0 and 512", got, uac(t, ch))
		}
	})

	t.Run("password refused, then created afresh", func(t *testing.T) {
		s := uniqueName("w")
		op := create
		op.Password = "weakweak" // fails the domain's complexity rules
		op.Attributes = append(attrs("Weak Password "+s, "x")[:6], ldapsync.Attribute{Name: "sAMAccountName", Values: []string{s}})
		_, err := ldapsync.Write(t.Context(), conn, spec, op)
		dn := "CN=Weak Password " + s + "," + staff
		if err == nil || !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(dn)) {
			t.Fatalf("err = %v, want one naming %s", err, dn)
		}
		if errors.Is(err, ldapsync.ErrEntryExists) || !ldapsync.Refused(err) {
			t.Errorf("err = %v, want a refusal that is not ErrEntryExists", err)
		}
		noSecret(t, err, op.Password)
		// The Add went through, and the failed create took it back.
		if exists(t, &srv.Endpoint, dn) {
			t.Errorf("%s exists after the failed create", dn)
		}
		lookup := ldapsync.WriteOp{Action: ldapsync.WriteRead, LookupAttribute: "sAMAccountName", LookupValue: s}
		if _, err := ldapsync.Write(t.Context(), conn, spec, lookup); !errors.Is(err, ldapsync.ErrEntryNotFound) {
			t.Errorf("looking up %s after the failed create: %v, want ErrEntryNotFound", s, err)
		}
		// The retry, with a good password, creates the account enabled.
		op.Password = password
		ch := mustWrite(t, conn, spec, op)
		if uac(t, ch) != 512 || !underDN(ch.DN, staff) {
			t.Errorf("userAccountControl %d at %q, want 512 under %q", uac(t, ch), ch.DN, staff)
		}
		if err := bindAs(t, srv.LDAPSURL, srv.CAFile, ch.DN, password); err != nil {
			t.Errorf("binding as the retried user: %v", err)
		}
	})

	t.Run("an entry outside the writable OUs", func(t *testing.T) {
		// An account the directory had, by its GUID: no update or delete
		// reaches it, whatever the hub asks.
		admins := addOU(t, &srv.Endpoint, "OU", "Admins", srv.BaseDN)
		adminSam := uniqueName("a")
		admin := "CN=" + adminSam + "," + admins
		if err := srv.Add(t.Context(), gendir.Entry{DN: admin, Attrs: []gendir.Attr{
			{Name: "objectClass", Values: []string{"top", "person", "organizationalPerson", "user"}},
			{Name: "sAMAccountName", Values: []string{adminSam}},
		}}); err != nil {
			t.Fatal(err)
		}
		guid := extendedGUIDs(t, srv)[strings.ToLower(admin)]
		if guid == "" {
			t.Fatalf("no GUID for %s", admin)
		}
		before, sent := readAttr(t, &srv.Endpoint, admin, "uSNChanged"), writes.Load()
		for _, op := range []ldapsync.WriteOp{
			{Action: ldapsync.WriteUpdate, ExternalID: guid, Attributes: []ldapsync.Attribute{{Name: "title", Values: []string{"pwned"}}},
				Enabled: false, WritableOUs: writable},
			{Action: ldapsync.WriteDelete, ExternalID: guid, WritableOUs: writable},
			{Action: ldapsync.WriteUpdate, ExternalID: guid, ParentDN: staff, Enabled: true, WritableOUs: writable},
		} {
			_, err := ldapsync.Write(t.Context(), conn, spec, op)
			if !errors.Is(err, ldapsync.ErrInvalidWrite) || !strings.Contains(err.Error(), "outside the OUs") {
				t.Errorf("%v of %s: %v, want ErrInvalidWrite: outside the OUs", op.Action, admin, err)
			}
		}
		if n := writes.Load() - sent; n != 0 {
			t.Errorf("the refused writes sent %d writes", n)
		}
		if after := readAttr(t, &srv.Endpoint, admin, "uSNChanged"); !slices.Equal(before, after) {
			t.Errorf("%s: uSNChanged moved from %v to %v", admin, before, after)
		}
	})

	t.Run("delete", func(t *testing.T) {
		del := ldapsync.WriteOp{Action: ldapsync.WriteDelete, ExternalID: id, WritableOUs: writable}
		ch := mustWrite(t, conn, spec, del)
		if ch.Type != ldapsync.ChangeDelete || ch.ExternalID != id {
			t.Errorf("got %v %s, want a delete of %s", ch.Type, ch.ExternalID, id)
		}
		if exists(t, &srv.Endpoint, updated.DN) {
			t.Errorf("%s still exists", updated.DN)
		}
		if _, err := ldapsync.Write(t.Context(), conn, spec, del); !errors.Is(err, ldapsync.ErrEntryNotFound) {
			t.Errorf("second delete: %v, want ErrEntryNotFound", err)
		}
	})
}

func TestWriteOpenLDAP(t *testing.T) {
	t.Parallel()
	srv := testserver.Slapd(t, testserver.SlapdOptions{TLS: true})
	people := addOU(t, &srv.Endpoint, "ou", "people", srv.BaseDN)
	groupDN := "cn=disabled," + srv.BaseDN
	// A groupOfNames keeps at least one member.
	if err := srv.Add(t.Context(), gendir.Entry{DN: groupDN, Attrs: []gendir.Attr{
		{Name: "objectClass", Values: []string{"groupOfNames"}},
		{Name: "cn", Values: []string{"disabled"}},
		{Name: "member", Values: []string{srv.BindDN}},
	}}); err != nil {
		t.Fatal(err)
	}
	conn, err := ldapsync.Dial(t.Context(), ldapsync.Config{URL: srv.LDAPSURL, CAFile: srv.CAFile,
		BindDN: srv.BindDN, BindPassword: srv.BindPassword})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	writes := ldapsync.CountWrites(conn)
	spec := ldapsync.Spec{Kind: ldapsync.KindOpenLDAP, BaseDN: srv.BaseDN, UserAttributes: append(openLDAPUserAttrs, "employeeType")}

	const password = "ldap-Wr1te-Secret"
	attrs := func(uid, mail string) []ldapsync.Attribute {
		return []ldapsync.Attribute{
			{Name: "uid", Values: []string{uid}},
			{Name: "cn", Values: []string{"John Smith"}},
			{Name: "sn", Values: []string{"Smith"}},
			{Name: "mail", Values: []string{mail}},
		}
	}
	writable, groups := []string{people}, []string{groupDN}
	created := mustWrite(t, conn, spec, ldapsync.WriteOp{Action: ldapsync.WriteCreate, ParentDN: people, RDNAttribute: "uid",
		Attributes: attrs("jsmith", "jsmith@idsync.test"), Enabled: true, Password: password, MustChangePassword: true,
		WritableOUs: writable, WritableGroups: groups})
	id := created.ExternalID
	t.Run("create", func(t *testing.T) {
		if want := entryUUIDs(t, srv)[strings.ToLower(created.DN)]; id == "" || id != want {
			t.Errorf("ExternalID = %q, want the entryUUID %q", id, want)
		}
		if created.DN != "uid=jsmith,"+people {
			t.Errorf("DN = %q", created.DN)
		}
		wantAttrs(t, created, map[string][]string{"uid": {"jsmith"}, "cn": {"John Smith"}, "mail": {"jsmith@idsync.test"}})
		if v := readAttr(t, &srv.Endpoint, created.DN, "userPassword"); len(v) != 1 || !strings.HasPrefix(v[0], "{") || strings.Contains(v[0], password) {
			t.Errorf("userPassword = %q, want a hash", v)
		}
		if err := bindAs(t, srv.LDAPSURL, srv.CAFile, created.DN, password); err != nil {
			t.Errorf("binding as the new user: %v", err)
		}
	})

	update := ldapsync.WriteOp{Action: ldapsync.WriteUpdate, ExternalID: id, ParentDN: people, RDNAttribute: "uid",
		Attributes: append(attrs("john.smith", "john.smith@idsync.test"), ldapsync.Attribute{Name: "title"}), Enabled: true,
		DisableAttribute: "employeeType=disabled", WritableOUs: writable, WritableGroups: groups}
	var dn string
	t.Run("update and rename", func(t *testing.T) {
		ch := mustWrite(t, conn, spec, update)
		dn = ch.DN
		if ch.ExternalID != id || dn != "uid=john.smith,"+people {
			t.Errorf("got %s %q", ch.ExternalID, dn)
		}
		wantAttrs(t, ch, map[string][]string{"uid": {"john.smith"}, "mail": {"john.smith@idsync.test"}, "title": nil})
	})
	t.Run("identical update sends nothing", func(t *testing.T) {
		before, sent := readAttr(t, &srv.Endpoint, dn, "entryCSN"), writes.Load()
		mustWrite(t, conn, spec, update)
		if n := writes.Load() - sent; n != 0 {
			t.Errorf("the update sent %d writes, want none", n)
		}
		if after := readAttr(t, &srv.Endpoint, dn, "entryCSN"); !slices.Equal(before, after) {
			t.Errorf("entryCSN moved from %v to %v", before, after)
		}
	})

	member := func() bool {
		return slices.ContainsFunc(readAttr(t, &srv.Endpoint, groupDN, "member"), func(v string) bool { return strings.EqualFold(v, dn) })
	}
	for _, tc := range []struct {
		name    string
		op      func(*ldapsync.WriteOp)
		enabled bool
		// employeeType and group membership wanted after the write.
		employeeType []string
		inGroup      bool
		// noWrites says the entry is in that state already.
		noWrites bool
	}{
		{"disable by attribute", func(op *ldapsync.WriteOp) {}, false, []string{"disabled"}, false, false},
		{"enable by attribute", func(op *ldapsync.WriteOp) {}, true, nil, false, false},
		{"disable by attribute, keeping other values", func(op *ldapsync.WriteOp) {
			op.Attributes = append(slices.Clone(op.Attributes), ldapsync.Attribute{Name: "employeeType", Values: []string{"contractor"}})
		}, false, []string{"contractor", "disabled"}, false, false},
		{"enable, keeping other values", func(op *ldapsync.WriteOp) {
			op.Attributes = append(slices.Clone(op.Attributes), ldapsync.Attribute{Name: "employeeType", Values: []string{"contractor"}})
		}, true, []string{"contractor"}, false, false},
		{"disable by group", func(op *ldapsync.WriteOp) { op.DisableAttribute, op.DisableGroupDN = "", groupDN }, false, []string{"contractor"}, true, false},
		{"disable by group again", func(op *ldapsync.WriteOp) { op.DisableAttribute, op.DisableGroupDN = "", groupDN }, false, []string{"contractor"}, true, true},
		{"enable by group", func(op *ldapsync.WriteOp) { op.DisableAttribute, op.DisableGroupDN = "", groupDN }, true, []string{"contractor"}, false, false},
		{"disable by both", func(op *ldapsync.WriteOp) { op.DisableGroupDN = groupDN }, false, []string{"contractor", "disabled"}, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			op := update
			op.Enabled = tc.enabled
			tc.op(&op)
			sent := writes.Load()
			ch := mustWrite(t, conn, spec, op)
			if n := writes.Load() - sent; tc.noWrites != (n == 0) {
				t.Errorf("the write sent %d writes, want none: %v", n, tc.noWrites)
			}
			got := attr(ch, "employeetype")
			slices.Sort(got)
			if !slices.Equal(got, tc.employeeType) || member() != tc.inGroup {
				t.Errorf("employeeType %q, in the group %v; want %q, %v", got, member(), tc.employeeType, tc.inGroup)
			}
		})
	}

	t.Run("create failing after the Add", func(t *testing.T) {
		// The disable group is missing: the entry is added, then cannot be
		// put in it, and the create takes the entry back.
		missing := "cn=no-such-group," + srv.BaseDN
		op := ldapsync.WriteOp{Action: ldapsync.WriteCreate, ParentDN: people, RDNAttribute: "uid",
			Attributes: attrs("halfmade", "halfmade@idsync.test"), Password: password,
			DisableGroupDN: missing, WritableOUs: writable, WritableGroups: []string{missing, groupDN}}
		_, err := ldapsync.Write(t.Context(), conn, spec, op)
		if err == nil || !strings.Contains(err.Error(), "no-such-group") {
			t.Fatalf("err = %v, want one naming the missing disable group", err)
		}
		noSecret(t, err, password)
		if strings.Contains(err.Error(), "half made") {
			t.Errorf("err = %v: the undo failed", err)
		}
		if exists(t, &srv.Endpoint, "uid=halfmade,"+people) {
			t.Fatal("the entry exists after the failed create")
		}
		op.DisableGroupDN = groupDN
		ch := mustWrite(t, conn, spec, op)
		if ch.DN != "uid=halfmade,"+people || !slices.ContainsFunc(readAttr(t, &srv.Endpoint, groupDN, "member"),
			func(v string) bool { return strings.EqualFold(v, ch.DN) }) {
			t.Errorf("retried create: %q, want uid=halfmade,%s in the disable group", ch.DN, people)
		}
		if err := bindAs(t, srv.LDAPSURL, srv.CAFile, ch.DN, password); err != nil {
			t.Errorf("binding as the retried user: %v", err)
		}
	})

	t.Run("disable without a setting", func(t *testing.T) {
		op := update
		op.Enabled, op.DisableAttribute = false, ""
		before, sent := readAttr(t, &srv.Endpoint, dn, "entryCSN"), writes.Load()
		_, err := ldapsync.Write(t.Context(), conn, spec, op)
		if n := writes.Load() - sent; n != 0 {
			t.Errorf("the refused write sent %d writes", n)
		}
		if !errors.Is(err, ldapsync.ErrInvalidWrite) || !strings.Contains(err.Error(), "DisableAttribute") {
			t.Errorf("err = %v, want ErrInvalidWrite naming DisableAttribute", err)
		}
		if after := readAttr(t, &srv.Endpoint, dn, "entryCSN"); !slices.Equal(before, after) {
			t.Errorf("entryCSN moved from %v to %v", before, after)
		}
	})

	t.Run("refused before anything is sent", func(t *testing.T) {
		admins := addOU(t, &srv.Endpoint, "ou", "admins", srv.BaseDN)
		outside := mustWrite(t, conn, spec, ldapsync.WriteOp{Action: ldapsync.WriteCreate, ParentDN: admins, RDNAttribute: "uid",
			Attributes: attrs("root2", "root2@idsync.test"), Enabled: true, WritableOUs: []string{admins}})
		entryOutside := func(op *ldapsync.WriteOp) { op.ExternalID = outside.ExternalID }
		for _, tc := range []struct {
			name, want string
			op         func(*ldapsync.WriteOp)
		}{
			{"no writable OU", "no writable OU", func(op *ldapsync.WriteOp) { op.WritableOUs = nil }},
			{"update outside", "outside the OUs", entryOutside},
			{"disable outside", "outside the OUs", func(op *ldapsync.WriteOp) { entryOutside(op); op.Enabled = false }},
			{"delete outside", "outside the OUs", func(op *ldapsync.WriteOp) { entryOutside(op); op.Action = ldapsync.WriteDelete }},
			{"parent outside", "outside the OUs", func(op *ldapsync.WriteOp) { op.ParentDN = admins }},
			{"create outside", "outside the OUs", func(op *ldapsync.WriteOp) {
				op.Action, op.ExternalID, op.ParentDN = ldapsync.WriteCreate, "", admins
			}},
			{"disabled parent outside", "outside the OUs", func(op *ldapsync.WriteOp) { op.DisabledParentDN = admins }},
			{"a group not listed", "not one of the groups", func(op *ldapsync.WriteOp) {
				op.DisableGroupDN, op.WritableGroups = "cn=admins,"+srv.BaseDN, groups
			}},
			{"an attribute not allowed", "loginShell", func(op *ldapsync.WriteOp) {
				op.Attributes = append(slices.Clone(op.Attributes), ldapsync.Attribute{Name: "loginShell", Values: []string{"/bin/sh"}})
			}},
			{"a disable attribute not allowed", "userPassword", func(op *ldapsync.WriteOp) { op.DisableAttribute = "userPassword=x" }},
			{"an object class", "object class", func(op *ldapsync.WriteOp) {
				op.Action, op.ExternalID, op.ObjectClasses = ldapsync.WriteCreate, "", []string{"inetOrgPerson", "posixAccount"}
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				op := update
				tc.op(&op)
				sent := writes.Load()
				_, err := ldapsync.Write(t.Context(), conn, spec, op)
				if !errors.Is(err, ldapsync.ErrInvalidWrite) || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("err = %v, want ErrInvalidWrite naming %q", err, tc.want)
				}
				if n := writes.Load() - sent; n != 0 {
					t.Errorf("the refused write sent %d writes", n)
				}
			})
		}
		if got := readAttr(t, &srv.Endpoint, outside.DN, "uid"); !slices.Equal(got, []string{"root2"}) {
			t.Errorf("the entry outside has uid %q, want it untouched", got)
		}
	})

	t.Run("delete", func(t *testing.T) {
		del := ldapsync.WriteOp{Action: ldapsync.WriteDelete, ExternalID: id, DisableGroupDN: groupDN, WritableOUs: writable, WritableGroups: groups}
		ch := mustWrite(t, conn, spec, del)
		if ch.Type != ldapsync.ChangeDelete || ch.ExternalID != id {
			t.Errorf("got %v %s, want a delete of %s", ch.Type, ch.ExternalID, id)
		}
		if exists(t, &srv.Endpoint, dn) || member() {
			t.Errorf("%s still exists or is still in the disable group", dn)
		}
		if _, err := ldapsync.Write(t.Context(), conn, spec, del); !errors.Is(err, ldapsync.ErrEntryNotFound) {
			t.Errorf("second delete: %v, want ErrEntryNotFound", err)
		}
	})
}
