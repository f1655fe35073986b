package gendir_test

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/idsync/idsync/internal/gendir"
)

func mustNew(t *testing.T, opts gendir.Options) *gendir.Generator {
	t.Helper()
	g, err := gendir.New(opts)
	if err != nil {
		t.Fatalf("New(%+v): %v", opts, err)
	}
	return g
}

func TestNewRejectsBadOptions(t *testing.T) {
	tests := []struct {
		name string
		opts gendir.Options
		want string
	}{
		{"no base", gendir.Options{Users: 1}, "BaseDN"},
		{"negative", gendir.Options{BaseDN: "dc=x", Users: -1}, "negative"},
		{"groups without users", gendir.Options{BaseDN: "dc=x", Groups: 2}, "at least one user"},
		{"bad flavor", gendir.Options{BaseDN: "dc=x", Flavor: 7}, "flavor"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := gendir.New(tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestMembershipIsConsistent(t *testing.T) {
	for _, flavor := range []gendir.Flavor{gendir.OpenLDAP, gendir.AD} {
		for _, users := range []int{1, 2, 97, 1000} {
			g := mustNew(t, gendir.Options{Flavor: flavor, BaseDN: "dc=example,dc=org", Seed: 3, Users: users, Groups: 40})
			inGroup := make(map[[2]int]bool)
			for j := range 40 {
				members := g.GroupMembers(j)
				if got, want := len(members), g.GroupSize(j); got != want {
					t.Fatalf("users=%d group %d: %d members, want GroupSize %d", users, j, got, want)
				}
				seen := map[int]bool{}
				for _, i := range members {
					if i < 0 || i >= users || seen[i] {
						t.Fatalf("users=%d group %d: member %d out of range or repeated", users, j, i)
					}
					seen[i] = true
					inGroup[[2]int{i, j}] = true
				}
			}
			for i := range users {
				for _, j := range g.UserGroups(i) {
					if !inGroup[[2]int{i, j}] {
						t.Errorf("users=%d: UserGroups(%d) has %d, but GroupMembers(%d) lacks the user", users, i, j, j)
					}
					delete(inGroup, [2]int{i, j})
				}
			}
			if len(inGroup) != 0 {
				t.Errorf("users=%d: %d memberships missing from UserGroups", users, len(inGroup))
			}
		}
	}
}

func TestGroupSizeOption(t *testing.T) {
	g := mustNew(t, gendir.Options{BaseDN: "dc=x", Users: 100, Groups: 3,
		GroupSize: func(j int) int { return []int{0, 50, 1000}[j] }})
	for j, want := range []int{1, 50, 100} {
		if got := len(g.Group(j).Get(g.MemberAttr(j))); got != want {
			t.Errorf("group %d has %d members, want %d (clipped to [1, Users])", j, got, want)
		}
	}
}

func TestUsersAreRealisticAndDeterministic(t *testing.T) {
	opts := gendir.Options{Flavor: gendir.AD, BaseDN: "OU=t,DC=idsync,DC=test", Seed: 9, Users: 5000}
	a, b := mustNew(t, opts), mustNew(t, opts)
	nonASCII := 0
	uids := map[string]bool{}
	for i := range 5000 {
		u := a.User(i)
		if got, want := u.DN, b.User(i).DN; got != want {
			t.Fatalf("user %d DN differs between generators: %q vs %q", i, got, want)
		}
		uid := u.Get("sAMAccountName")[0]
		if len(uid) > 20 || uids[uid] {
			t.Fatalf("user %d sAMAccountName %q too long or repeated", i, uid)
		}
		uids[uid] = true
		if rdn := strings.TrimPrefix(u.DN, "CN="); strings.ContainsAny(strings.TrimSuffix(rdn, ","+a.PeopleDN()), `,+"\<>;=#`) {
			t.Fatalf("user %d DN %q needs escaping", i, u.DN)
		}
		if !utf8.ValidString(u.DN) {
			t.Fatalf("user %d DN is not UTF-8", i)
		}
		if u.Get("givenName")[0] != strings.TrimSuffix(u.Get("displayName")[0], " "+u.Get("sn")[0]) {
			t.Errorf("user %d displayName %q is not givenName sn", i, u.Get("displayName")[0])
		}
		if m := a.Manager(i); m >= 0 && u.Get("manager")[0] != a.UserDN(m) {
			t.Errorf("user %d manager = %q, want %q", i, u.Get("manager")[0], a.UserDN(m))
		}
		for _, c := range u.Get("displayName")[0] {
			if c > 127 {
				nonASCII++
				break
			}
		}
		for _, attr := range []string{"mail", "sAMAccountName", "userPrincipalName"} {
			for _, c := range u.Get(attr)[0] {
				if c > 127 {
					t.Fatalf("user %d %s %q is not ASCII", i, attr, u.Get(attr)[0])
				}
			}
		}
	}
	if nonASCII < 1000 {
		t.Errorf("only %d of 5000 users have non-ASCII names, want many", nonASCII)
	}
}

// TestWriteLDIF decodes the LDIF back and compares it with Each.
func TestWriteLDIF(t *testing.T) {
	g := mustNew(t, gendir.Options{BaseDN: "dc=example,dc=org", Seed: 1, Users: 300, Groups: 30})
	var buf bytes.Buffer
	if err := g.WriteLDIF(&buf); err != nil {
		t.Fatalf("WriteLDIF: %v", err)
	}
	var want []gendir.Entry
	if err := g.Each(func(e gendir.Entry) error { want = append(want, e); return nil }); err != nil {
		t.Fatal(err)
	}
	got := parseLDIF(t, buf.String())
	if len(got) != len(want) || len(want) != 2+300+30 {
		t.Fatalf("LDIF has %d entries, Each %d, want %d", len(got), len(want), 332)
	}
	for k := range want {
		if got[k].DN != want[k].DN {
			t.Fatalf("entry %d DN = %q, want %q", k, got[k].DN, want[k].DN)
		}
		for _, a := range want[k].Attrs {
			if g := got[k].Get(a.Name); !slices.Equal(g, a.Values) {
				t.Errorf("entry %q %s = %q, want %q", want[k].DN, a.Name, g, a.Values)
			}
		}
	}
	classes := map[string]int{}
	for _, e := range want[302:] {
		classes[e.Get("objectClass")[1]]++
	}
	for _, c := range []string{"groupOfNames", "groupOfUniqueNames", "posixGroup"} {
		if classes[c] != 10 {
			t.Errorf("%d groups of class %s, want 10", classes[c], c)
		}
	}
}

// parseLDIF reads the unfolded LDIF that WriteEntry writes.
func parseLDIF(t *testing.T, s string) []gendir.Entry {
	t.Helper()
	var out []gendir.Entry
	var cur *gendir.Entry
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			cur = nil
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			t.Fatalf("bad LDIF line %q", line)
		}
		if strings.HasPrefix(value, ":") {
			b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(value[1:]))
			if err != nil {
				t.Fatalf("bad base64 in %q: %v", line, err)
			}
			value = string(b)
		} else {
			value = strings.TrimPrefix(value, " ")
		}
		if name == "dn" {
			out = append(out, gendir.Entry{DN: value})
			cur = &out[len(out)-1]
			continue
		}
		if n := len(cur.Attrs); n > 0 && cur.Attrs[n-1].Name == name {
			cur.Attrs[n-1].Values = append(cur.Attrs[n-1].Values, value)
		} else {
			cur.Attrs = append(cur.Attrs, gendir.Attr{Name: name, Values: []string{value}})
		}
	}
	return out
}
