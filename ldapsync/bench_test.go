//go:build linux

package ldapsync_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/idsync/idsync/internal/gendir"
	"github.com/idsync/idsync/internal/testserver"
	"github.com/idsync/idsync/ldapsync"
)

const benchUsers, benchGroups = 100_000, 1_000

var bench struct {
	once sync.Once
	srv  *testserver.SlapdServer
	err  error
}

// benchSlapd returns a slapd preloaded once per process with benchUsers
// users and benchGroups groups, stopped by Main.
func benchSlapd(b *testing.B) *testserver.SlapdServer {
	b.Helper()
	if os.Getenv("IDSYNC_TEST_LDAP_URL") != "" {
		testserver.Unavailable(b, "the benchmark preloads a local slapd with slapadd")
	}
	testserver.LocalSlapd(b)
	bench.once.Do(func() {
		start := time.Now()
		bench.srv, bench.err = testserver.StartSlapd(context.Background(), testserver.SlapdOptions{
			Preload: func(base string, emit func(gendir.Entry) error) error {
				gen, err := gendir.New(gendir.Options{BaseDN: base, Seed: 1, Users: benchUsers, Groups: benchGroups})
				if err != nil {
					return err
				}
				return gen.Each(emit)
			},
		})
		if bench.err == nil {
			testserver.AtExit(func() { bench.srv.Stop() })
			b.Logf("slapd with %d users and %d groups ready in %v", benchUsers, benchGroups, time.Since(start))
		}
	})
	if bench.err != nil {
		b.Fatalf("starting slapd: %v", bench.err)
	}
	return bench.srv
}

// counter is a Sink that only counts.
type counter struct{ n int }

func (c *counter) Change(context.Context, ldapsync.Change) error         { c.n++; return nil }
func (c *counter) EntryError(context.Context, ldapsync.EntryError) error { c.n++; return nil }

// BenchmarkFullImport reads benchUsers users and benchGroups groups three
// ways: ldapsync.FullImport, a bare go-ldap paged SearchAsync loop (no
// normalisation), and OpenLDAP's ldapsearch -E pr=500/noprompt.
func BenchmarkFullImport(b *testing.B) {
	srv := benchSlapd(b)
	const total = benchUsers + benchGroups
	searches := [][2]any{
		{"(objectClass=inetOrgPerson)", append([]string{"entryUUID"}, openLDAPUserAttrs...)},
		{"(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames)(objectClass=posixGroup))", append([]string{"entryUUID"}, openLDAPGroupAttrs...)},
	}
	report := func(b *testing.B, got int) {
		if got != total {
			b.Fatalf("read %d entries, want %d", got, total)
		}
		b.ReportMetric(float64(total)*float64(b.N)/b.Elapsed().Seconds(), "entries/s")
	}

	b.Run("ldapsync", func(b *testing.B) {
		conn := dial(b, srv.Endpoint)
		spec := ldapsync.Spec{Kind: ldapsync.KindOpenLDAP, BaseDN: srv.BaseDN,
			UserAttributes: openLDAPUserAttrs, GroupAttributes: openLDAPGroupAttrs, PageSize: 500}
		b.ReportAllocs()
		var n int
		for b.Loop() {
			c := &counter{}
			if _, err := ldapsync.FullImport(b.Context(), conn, spec, c); err != nil {
				b.Fatal(err)
			}
			n = c.n
		}
		report(b, n)
	})

	b.Run("go-ldap-paged", func(b *testing.B) {
		conn, err := srv.Conn(b.Context())
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close()
		b.ReportAllocs()
		var n int
		for b.Loop() {
			n = 0
			for _, s := range searches {
				paging := ldap.NewControlPaging(500)
				req := ldap.NewSearchRequest(srv.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
					s[0].(string), s[1].([]string), []ldap.Control{paging})
				for {
					resp := conn.SearchAsync(b.Context(), req, 64)
					var cookie []byte
					for resp.Next() {
						if resp.Entry() != nil {
							n++
						} else if p, ok := ldap.FindControl(resp.Controls(), ldap.ControlTypePaging).(*ldap.ControlPaging); ok {
							cookie = p.Cookie
						}
					}
					if err := resp.Err(); err != nil {
						b.Fatal(err)
					}
					if len(cookie) == 0 {
						break
					}
					paging.SetCookie(cookie)
				}
			}
		}
		report(b, n)
	})

	b.Run("ldapsearch", func(b *testing.B) {
		devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
		if err != nil {
			b.Fatal(err)
		}
		defer devNull.Close()
		for b.Loop() {
			for _, s := range searches {
				args := append([]string{"-x", "-LLL", "-H", srv.URL, "-D", srv.BindDN, "-w", srv.BindPassword,
					"-b", srv.BaseDN, "-E", "pr=500/noprompt", s[0].(string)}, s[1].([]string)...)
				cmd := exec.CommandContext(b.Context(), "ldapsearch", args...)
				var stderr strings.Builder
				cmd.Stdout, cmd.Stderr = devNull, &stderr
				if err := cmd.Run(); err != nil {
					b.Fatalf("ldapsearch: %v: %s", err, stderr.String())
				}
			}
		}
		// ldapsearch's output is discarded; the count is checked once here.
		report(b, total)
	})
}
