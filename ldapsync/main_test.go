//go:build linux

package ldapsync_test

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/idsync/idsync/internal/gendir"
	"github.com/idsync/idsync/internal/testserver"
	"github.com/idsync/idsync/ldapsync"
)

// TestMain stops the process-wide servers (Samba, the benchmark's slapd).
func TestMain(m *testing.M) { testserver.Main(m) }

// recorder is a Sink that keeps everything, for tests small enough to.
type recorder struct {
	mu      sync.Mutex
	changes []ldapsync.Change
	errors  []ldapsync.EntryError
}

var _ ldapsync.Sink = (*recorder)(nil)

func (r *recorder) Change(_ context.Context, c ldapsync.Change) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.changes = append(r.changes, c)
	return nil
}

func (r *recorder) EntryError(_ context.Context, e ldapsync.EntryError) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errors = append(r.errors, e)
	return nil
}

// byDN indexes the changes by lower-cased DN, failing on a repeated DN or
// external id.
func (r *recorder) byDN(t *testing.T) map[string]ldapsync.Change {
	t.Helper()
	out := make(map[string]ldapsync.Change, len(r.changes))
	ids := make(map[string]string, len(r.changes))
	for _, c := range r.changes {
		dn := strings.ToLower(c.DN)
		if _, dup := out[dn]; dup {
			t.Fatalf("DN %q imported twice", c.DN)
		}
		if other, dup := ids[c.ExternalID]; dup {
			t.Fatalf("external id %q on both %q and %q", c.ExternalID, other, c.DN)
		}
		out[dn], ids[c.ExternalID] = c, c.DN
	}
	return out
}

// dial connects to an endpoint as its administrator.
func dial(t testing.TB, e testserver.Endpoint) *ldapsync.Conn {
	t.Helper()
	c, err := ldapsync.Dial(t.Context(), ldapsync.Config{URL: e.URL, BindDN: e.BindDN, BindPassword: e.BindPassword})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// want returns the attributes of a generated entry as an import reports
// them: only the requested ones, names in lower case, sorted by name.
func want(e gendir.Entry, requested []string) []ldapsync.Attribute {
	var out []ldapsync.Attribute
	for _, a := range e.Attrs {
		if slices.ContainsFunc(requested, func(r string) bool { return strings.EqualFold(r, a.Name) }) {
			out = append(out, ldapsync.Attribute{Name: strings.ToLower(a.Name), Values: a.Values})
		}
	}
	slices.SortFunc(out, func(a, b ldapsync.Attribute) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// attr returns the values of attribute name in c.
func attr(c ldapsync.Change, name string) []string {
	for _, a := range c.Attributes {
		if a.Name == name {
			return a.Values
		}
	}
	return nil
}
