//go:build linux

package ldapwire_test

import (
	"context"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/idsync/idsync/internal/gendir"
	"github.com/idsync/idsync/internal/ldapwire"
	"github.com/idsync/idsync/internal/testserver"
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

// meter measures a benchmark per entry: wall time, the CPU time of this
// process (or of its children, for ldapsearch) and the heap allocations.
type meter struct {
	children bool
	cpu      time.Duration
	mem      runtime.MemStats
}

func (m *meter) cpuTime() time.Duration {
	who := syscall.RUSAGE_SELF
	if m.children {
		who = syscall.RUSAGE_CHILDREN
	}
	var ru syscall.Rusage
	_ = syscall.Getrusage(who, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func (m *meter) start() {
	runtime.ReadMemStats(&m.mem)
	m.cpu = m.cpuTime()
}

// report checks the entries read per iteration and reports entries/s,
// CPU ns/entry, allocs/entry and B/entry.
func (m *meter) report(b *testing.B, perLoop int) {
	cpu := m.cpuTime() - m.cpu
	before := m.mem
	runtime.ReadMemStats(&m.mem)
	if want := benchUsers + benchGroups; perLoop != want {
		b.Fatalf("read %d entries, want %d", perLoop, want)
	}
	entries := float64(perLoop) * float64(b.N)
	b.ReportMetric(entries/b.Elapsed().Seconds(), "entries/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/entries, "cpu-ns/entry")
	if !m.children {
		b.ReportMetric(float64(m.mem.Mallocs-before.Mallocs)/entries, "allocs/entry")
		b.ReportMetric(float64(m.mem.TotalAlloc-before.TotalAlloc)/entries, "B/entry")
	}
}

// BenchmarkSearch reads benchUsers users and benchGroups groups in pages of
// 500 three ways: ldapwire, go-ldap's paged SearchAsync, and OpenLDAP's
// ldapsearch -E pr=500/noprompt (output to /dev/null).
func BenchmarkSearch(b *testing.B) {
	srv := benchSlapd(b)
	searches := []query{
		{"users", srv.BaseDN, ldapwire.ScopeWholeSubtree, usersFilter, userAttrs, 500},
		{"groups", srv.BaseDN, ldapwire.ScopeWholeSubtree, groupsFilter, groupAttrs, 500},
	}

	b.Run("ldapwire", func(b *testing.B) {
		c := bound(b, srv.URL, srv.Endpoint, ldapwire.Options{})
		var m meter
		var n, values int
		count := func(e *ldapwire.Entry) error {
			n++
			for _, a := range e.Attrs {
				values += len(a.Values)
			}
			return nil
		}
		m.start()
		for b.Loop() {
			n = 0
			for _, q := range searches {
				req := &ldapwire.SearchRequest{BaseDN: q.base, Scope: q.scope, Filter: q.filter, Attributes: q.attrs, PageSize: q.pageSize}
				for {
					cookie, err := c.Search(b.Context(), req, count)
					if err != nil {
						b.Fatal(err)
					}
					if len(cookie) == 0 {
						break
					}
					req.Cookie = cookie
				}
			}
		}
		m.report(b, n)
	})

	b.Run("go-ldap-paged", func(b *testing.B) {
		conn, err := srv.Conn(b.Context())
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close()
		var m meter
		var n int
		m.start()
		for b.Loop() {
			n = 0
			for _, q := range searches {
				paging := ldap.NewControlPaging(uint32(q.pageSize))
				req := ldap.NewSearchRequest(q.base, q.scope, ldap.NeverDerefAliases, 0, 0, false, q.filter, q.attrs, []ldap.Control{paging})
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
		m.report(b, n)
	})

	b.Run("ldapsearch", func(b *testing.B) {
		devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
		if err != nil {
			b.Fatal(err)
		}
		defer devNull.Close()
		m := meter{children: true}
		m.start()
		for b.Loop() {
			for _, q := range searches {
				args := append([]string{"-x", "-LLL", "-H", srv.URL, "-D", srv.BindDN, "-w", srv.BindPassword,
					"-b", q.base, "-E", "pr=500/noprompt", q.filter}, q.attrs...)
				cmd := exec.CommandContext(b.Context(), "ldapsearch", args...)
				var stderr strings.Builder
				cmd.Stdout, cmd.Stderr = devNull, &stderr
				if err := cmd.Run(); err != nil {
					b.Fatalf("ldapsearch: %v: %s", err, stderr.String())
				}
			}
		}
		// ldapsearch's output is discarded; the count is the same as the
		// others read.
		m.report(b, benchUsers+benchGroups)
	})
}
