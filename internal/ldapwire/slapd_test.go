//go:build linux

package ldapwire_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/idsync/idsync/internal/gendir"
	"github.com/idsync/idsync/internal/ldapwire"
	"github.com/idsync/idsync/internal/testserver"
)

var (
	userAttrs  = []string{"entryUUID", "objectClass", "uid", "cn", "sn", "givenName", "displayName", "mail", "employeeNumber", "departmentNumber", "title", "manager"}
	groupAttrs = []string{"entryUUID", "objectClass", "cn", "description", "member", "uniqueMember", "memberUid", "gidNumber"}
)

const (
	usersFilter  = "(objectClass=inetOrgPerson)"
	groupsFilter = "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames)(objectClass=posixGroup))"
)

// TestSlapd reads a directory of 10,000 users and 300 groups with ldapwire
// and go-ldap and checks that every entry, attribute and value is the same,
// in the same order, with several page sizes; then the errors.
func TestSlapd(t *testing.T) {
	const users, groups = 10_000, 300
	var gen *gendir.Generator
	start := time.Now()
	srv := testserver.Slapd(t, testserver.SlapdOptions{Preload: func(base string, emit func(gendir.Entry) error) error {
		var err error
		if gen, err = gendir.New(gendir.Options{BaseDN: base, Seed: 42, Users: users, Groups: groups}); err != nil {
			return err
		}
		return gen.Each(emit)
	}})
	t.Logf("slapd with %d users and %d groups ready in %v", users, groups, time.Since(start))
	c := bound(t, srv.URL, srv.Endpoint, ldapwire.Options{})
	sub := ldapwire.ScopeWholeSubtree

	t.Run("same entries as go-ldap", func(t *testing.T) {
		tests := []struct {
			query
			wantEntries int
		}{
			{query{"users, pages of 500", srv.BaseDN, sub, usersFilter, userAttrs, 500}, users},
			{query{"groups, pages of 500", srv.BaseDN, sub, groupsFilter, groupAttrs, 500}, groups},
			{query{"all attributes, operational too, pages of 1000", srv.BaseDN, sub, "", []string{"*", "+"}, 1000}, -1},
			{query{"groups, pages of 1", gen.GroupsDN(), ldapwire.ScopeSingleLevel, "", nil, 1}, groups},
			{query{"everything at once, no paging", srv.BaseDN, sub, "(objectClass=*)", nil, 0}, -1},
			{query{"names only", srv.BaseDN, sub, "(employeeNumber=E00001*)", []string{"1.1"}, 3}, 100},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) { same(t, c, srv.Endpoint, tt.query, tt.wantEntries) })
		}
	})

	t.Run("bind", func(t *testing.T) {
		const wrong = "Wr0ng-Pa55word-For-Test"
		tests := []struct {
			name, dn, password string
			wantCode           int // -1: refused before sending
		}{
			{"administrator", srv.BindDN, srv.BindPassword, 0},
			{"anonymous", "", "", 0},
			{"wrong password", srv.BindDN, wrong, 49},
			{"unknown DN", "cn=nobody," + srv.BaseDN, wrong, 49},
			{"empty password", srv.BindDN, "", -1},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				c, err := ldapwire.Dial(t.Context(), srv.URL, ldapwire.Options{})
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				err = c.Bind(t.Context(), tt.dn, tt.password)
				var re *ldapwire.ResultError
				switch {
				case tt.wantCode == 0 && err != nil:
					t.Fatalf("Bind: %v", err)
				case tt.wantCode == 0:
					if _, err := count(t.Context(), c, query{base: srv.BaseDN, filter: "(employeeNumber=E0000001)", scope: sub}); err != nil {
						t.Errorf("searching after the bind: %v", err)
					}
					return
				case err == nil:
					t.Fatalf("Bind succeeded, want an error")
				case tt.wantCode < 0 && errors.As(err, &re):
					t.Errorf("Bind error %v came from the server, want a refusal before sending", err)
				case tt.wantCode > 0 && (!errors.As(err, &re) || re.Code != tt.wantCode):
					t.Errorf("Bind error %v, want a ResultError with code %d", err, tt.wantCode)
				}
				if tt.password != "" && strings.Contains(err.Error(), tt.password) {
					t.Errorf("the error %q contains the password", err)
				}
				if !strings.Contains(err.Error(), tt.dn) || !strings.Contains(err.Error(), srv.URL) {
					t.Errorf("the error %q names neither the DN nor the server", err)
				}
				t.Logf("error: %v", err)
			})
		}
	})

	t.Run("result errors", func(t *testing.T) {
		tests := []struct {
			name        string
			req         ldapwire.SearchRequest
			wantCode    int
			wantMatched string
			wantEntries int
		}{
			{"base DN missing", ldapwire.SearchRequest{BaseDN: "ou=missing," + srv.BaseDN, Scope: sub}, 32, srv.BaseDN, 0},
			{"size limit", ldapwire.SearchRequest{BaseDN: srv.BaseDN, Scope: sub, Filter: usersFilter, SizeLimit: 5}, 4, "", 5},
			{"unknown critical control", ldapwire.SearchRequest{BaseDN: srv.BaseDN, Scope: ldapwire.ScopeBaseObject,
				Controls: []ldapwire.Control{{OID: "1.2.3.4.5.6.7", Critical: true}}}, 12, "", 0},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				n := 0
				_, err := c.Search(t.Context(), &tt.req, func(*ldapwire.Entry) error { n++; return nil })
				var re *ldapwire.ResultError
				if !errors.As(err, &re) || re.Code != tt.wantCode || !strings.EqualFold(re.MatchedDN, tt.wantMatched) {
					t.Fatalf("error %v, want a ResultError with code %d and matched DN %q", err, tt.wantCode, tt.wantMatched)
				}
				if n != tt.wantEntries {
					t.Errorf("%d entries before the error, want %d", n, tt.wantEntries)
				}
				wrapped := fmt.Errorf("reading: %w", err)
				if !ldapwire.IsResultCode(wrapped, uint16(tt.wantCode)) || ldapwire.IsResultCode(wrapped, uint16(tt.wantCode+1)) {
					t.Errorf("IsResultCode(%v, %d) is not true for the code alone", wrapped, tt.wantCode)
				}
				if !strings.Contains(err.Error(), tt.req.BaseDN) {
					t.Errorf("the error %q does not name the base DN", err)
				}
			})
		}
		// None of these leaves the connection unusable.
		if n, err := count(t.Context(), c, query{base: gen.GroupsDN(), scope: sub, pageSize: 100}); err != nil || n != groups+1 {
			t.Errorf("after the errors: %d entries, %v; want %d", n, err, groups+1)
		}
	})

	t.Run("bad requests", func(t *testing.T) {
		tests := []struct {
			name    string
			req     ldapwire.SearchRequest
			wantErr string
		}{
			{"bad filter", ldapwire.SearchRequest{BaseDN: srv.BaseDN, Filter: "(cn=a"}, "filter (cn=a"},
			{"bad scope", ldapwire.SearchRequest{BaseDN: srv.BaseDN, Scope: 3}, "scope 3"},
			{"negative page size", ldapwire.SearchRequest{BaseDN: srv.BaseDN, PageSize: -1}, "page size -1"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, err := c.Search(t.Context(), &tt.req, func(*ldapwire.Entry) error { return nil })
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
			})
		}
	})

	t.Run("callback error abandons the search", func(t *testing.T) {
		c := bound(t, srv.URL, srv.Endpoint, ldapwire.Options{})
		stop := errors.New("stop here")
		tests := []struct {
			name     string
			pageSize int
		}{
			{"without paging, thousands of entries in flight", 0},
			{"mid-page", 500},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				n := 0
				req := &ldapwire.SearchRequest{BaseDN: srv.BaseDN, Scope: sub, Filter: usersFilter, PageSize: tt.pageSize}
				_, err := c.Search(t.Context(), req, func(*ldapwire.Entry) error {
					if n++; n == 100 {
						return stop
					}
					return nil
				})
				if err != stop || n != 100 {
					t.Fatalf("Search = %v after %d entries, want the callback's error as it is after 100", err, n)
				}
				// The abandoned search's late entries are skipped: the next
				// search on the connection reads exactly its own.
				if n, err := count(t.Context(), c, query{base: gen.GroupsDN(), scope: sub, filter: groupsFilter, pageSize: 50}); err != nil || n != groups {
					t.Errorf("next search: %d entries, %v; want %d", n, err, groups)
				}
			})
		}
	})

	t.Run("cancelled in the callback", func(t *testing.T) {
		c := bound(t, srv.URL, srv.Endpoint, ldapwire.Options{})
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		n := 0
		_, err := c.Search(ctx, &ldapwire.SearchRequest{BaseDN: srv.BaseDN, Scope: sub, PageSize: 500}, func(*ldapwire.Entry) error {
			if n++; n == 100 {
				cancel()
			}
			return nil
		})
		if !errors.Is(err, context.Canceled) || n > 500 {
			t.Fatalf("Search = %v after %d entries, want context.Canceled within the page", err, n)
		}
		_, err = c.Search(t.Context(), &ldapwire.SearchRequest{BaseDN: srv.BaseDN}, func(*ldapwire.Entry) error { return nil })
		if err == nil || !strings.Contains(err.Error(), "unusable") {
			t.Errorf("a search after the cancellation: %v, want an error saying the connection is unusable", err)
		}
	})
}
