//go:build linux

package ldapwire_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/idsync/idsync/internal/ldapwire"
	"github.com/idsync/idsync/internal/testserver"
)

// TestMain stops the process-wide servers (Samba, the benchmark's slapd).
func TestMain(m *testing.M) { testserver.Main(m) }

// bound dials url and binds as e's administrator; the connection closes
// when the test ends.
func bound(t testing.TB, url string, e testserver.Endpoint, opts ldapwire.Options) *ldapwire.Conn {
	t.Helper()
	c, err := ldapwire.Dial(t.Context(), url, opts)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Bind(t.Context(), e.BindDN, e.BindPassword); err != nil {
		t.Fatalf("Bind: %v", err)
	}
	return c
}

// query is one search, run by both clients.
type query struct {
	name     string
	base     string
	scope    int
	filter   string
	attrs    []string
	pageSize int
}

// goLDAP runs q with go-ldap, paged like ldapwire when q.pageSize is set.
func goLDAP(t testing.TB, e testserver.Endpoint, q query) *ldap.SearchResult {
	t.Helper()
	c, err := e.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	filter := q.filter
	if filter == "" {
		filter = "(objectClass=*)" // as ldapwire defaults
	}
	req := ldap.NewSearchRequest(q.base, q.scope, ldap.NeverDerefAliases, 0, 0, false, filter, q.attrs, nil)
	var res *ldap.SearchResult
	if q.pageSize > 0 {
		res, err = c.SearchWithPaging(req, uint32(q.pageSize))
	} else {
		res, err = c.Search(req)
	}
	if err != nil {
		t.Fatalf("go-ldap search %s: %v", q.name, err)
	}
	return res
}

// pages runs q with ldapwire to its last page, calling fn for every entry,
// and returns the number of pages. It fails the test when a page holds
// more entries than the page size.
func pages(t testing.TB, c *ldapwire.Conn, q query, fn func(*ldapwire.Entry) error) int {
	t.Helper()
	req := &ldapwire.SearchRequest{BaseDN: q.base, Scope: q.scope, Filter: q.filter, Attributes: q.attrs, PageSize: q.pageSize}
	for n := 1; ; n++ {
		inPage := 0
		cookie, err := c.Search(t.Context(), req, func(e *ldapwire.Entry) error {
			inPage++
			return fn(e)
		})
		if err != nil {
			t.Fatalf("ldapwire search %s, page %d: %v", q.name, n, err)
		}
		if q.pageSize > 0 && inPage > q.pageSize {
			t.Fatalf("page %d holds %d entries, more than the page size %d", n, inPage, q.pageSize)
		}
		if len(cookie) == 0 {
			return n
		}
		req.Cookie = cookie
	}
}

// compare runs q with both clients and fails on the first entries where
// ldapwire's DN, attribute names or values differ from go-ldap's, byte for
// byte and in the same order. It returns the number of entries and pages.
func compare(t testing.TB, c *ldapwire.Conn, e testserver.Endpoint, q query) (entries, npages int) {
	t.Helper()
	want := goLDAP(t, e, q).Entries
	i := 0
	npages = pages(t, c, q, func(got *ldapwire.Entry) error {
		if i >= len(want) {
			return fmt.Errorf("entry %d %q beyond go-ldap's %d entries", i, got.DN, len(want))
		}
		if diff := entryDiff(got, want[i]); diff != "" {
			return fmt.Errorf("entry %d: %s", i, diff)
		}
		i++
		return nil
	})
	if i != len(want) {
		t.Fatalf("%s: ldapwire read %d entries, go-ldap %d", q.name, i, len(want))
	}
	return i, npages
}

// same runs compare as a test case: wantEntries (unless negative) is the
// number of entries, and a paged search must have used its pages.
func same(t *testing.T, c *ldapwire.Conn, e testserver.Endpoint, q query, wantEntries int) {
	t.Helper()
	start := time.Now()
	n, np := compare(t, c, e, q)
	t.Logf("%d entries in %d pages, equal to go-ldap's, in %v", n, np, time.Since(start))
	if wantEntries >= 0 && n != wantEntries {
		t.Errorf("%d entries, want %d", n, wantEntries)
	}
	if q.pageSize > 0 && np < n/q.pageSize {
		t.Errorf("%d pages for %d entries, want at least %d", np, n, n/q.pageSize)
	}
}

// entryDiff says how got differs from want, or "" when it does not.
func entryDiff(got *ldapwire.Entry, want *ldap.Entry) string {
	if string(got.DN) != want.DN {
		return fmt.Sprintf("DN %q, want %q", got.DN, want.DN)
	}
	if len(got.Attrs) != len(want.Attributes) {
		return fmt.Sprintf("%s: %d attributes, want %d", want.DN, len(got.Attrs), len(want.Attributes))
	}
	for j, a := range got.Attrs {
		wa := want.Attributes[j]
		if string(a.Name) != wa.Name {
			return fmt.Sprintf("%s: attribute %d is %q, want %q", want.DN, j, a.Name, wa.Name)
		}
		if len(a.Values) != len(wa.ByteValues) {
			return fmt.Sprintf("%s: %s has %d values, want %d", want.DN, a.Name, len(a.Values), len(wa.ByteValues))
		}
		for k, v := range a.Values {
			if !bytes.Equal(v, wa.ByteValues[k]) {
				return fmt.Sprintf("%s: value %d of %s is %q, want %q", want.DN, k, a.Name, short(v), short(wa.ByteValues[k]))
			}
		}
	}
	return ""
}

// short abbreviates a value for a message.
func short(v []byte) string {
	if len(v) > 80 {
		return fmt.Sprintf("%s… (%d bytes)", v[:80], len(v))
	}
	return string(v)
}

// count returns the number of entries q finds, in pages.
func count(ctx context.Context, c *ldapwire.Conn, q query) (int, error) {
	req := &ldapwire.SearchRequest{BaseDN: q.base, Scope: q.scope, Filter: q.filter, Attributes: q.attrs, PageSize: q.pageSize}
	n := 0
	for {
		cookie, err := c.Search(ctx, req, func(*ldapwire.Entry) error { n++; return nil })
		if err != nil || len(cookie) == 0 {
			return n, err
		}
		req.Cookie = cookie
	}
}
