//go:build linux

package ldapwire_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/idsync/idsync/internal/gendir"
	"github.com/idsync/idsync/internal/ldapwire"
	"github.com/idsync/idsync/internal/testserver"
)

// bigValues returns a description of 10 MiB of text and a jpegPhoto of
// 2 MiB holding every byte value, both the same on every call.
func bigValues() (description, photo string) {
	var b strings.Builder
	for i := 0; b.Len() < 10<<20; i++ {
		fmt.Fprintf(&b, "value %08d of a very long description; ", i)
	}
	r := rand.New(rand.NewChaCha8([32]byte{7}))
	p := make([]byte, 2<<20)
	for i := range p {
		p[i] = byte(r.Uint32())
	}
	return b.String()[:10<<20], string(p)
}

// TestLocalSlapd runs what needs a slapd of the test's own: TLS, values of
// megabytes (an outside server may refuse them), a stalled and a killed
// server.
func TestLocalSlapd(t *testing.T) {
	description, photo := bigValues()
	var bigDN string
	srv := testserver.Slapd(t, testserver.SlapdOptions{TLS: true, Preload: func(base string, emit func(gendir.Entry) error) error {
		gen, err := gendir.New(gendir.Options{BaseDN: base, Seed: 3, Users: 300, Groups: 10})
		if err != nil {
			return err
		}
		if err := gen.Each(emit); err != nil {
			return err
		}
		bigDN = "cn=big," + base
		return emit(gendir.Entry{DN: bigDN, Attrs: []gendir.Attr{
			{Name: "objectClass", Values: []string{"inetOrgPerson"}},
			{Name: "cn", Values: []string{"big"}}, {Name: "sn", Values: []string{"Big"}},
			{Name: "description", Values: []string{description}},
			{Name: "jpegPhoto", Values: []string{photo}},
		}})
	}})
	bigQuery := query{"the big entry", bigDN, ldapwire.ScopeBaseObject, "", []string{"*", "+"}, 0}

	t.Run("TLS", func(t *testing.T) {
		pem, err := os.ReadFile(srv.CAFile)
		if err != nil {
			t.Fatal(err)
		}
		ours := x509.NewCertPool()
		if !ours.AppendCertsFromPEM(pem) {
			t.Fatalf("no certificate in %s", srv.CAFile)
		}
		tests := []struct {
			name     string
			url      string
			startTLS bool
			roots    *x509.CertPool // nil: the system's
			wantErr  string
		}{
			{"ldaps", srv.LDAPSURL, false, ours, ""},
			{"StartTLS", srv.URL, true, ours, ""},
			{"ldaps, server not trusted", srv.LDAPSURL, false, nil, "certificate signed by unknown authority"},
			{"StartTLS, server not trusted", srv.URL, true, nil, "certificate signed by unknown authority"},
			{"StartTLS on ldaps", srv.LDAPSURL, true, ours, "StartTLS is for ldap://"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				opts := ldapwire.Options{TLSConfig: &tls.Config{RootCAs: tt.roots, MinVersion: tls.VersionTLS12}, StartTLS: tt.startTLS}
				if tt.wantErr != "" {
					c, err := ldapwire.Dial(t.Context(), tt.url, opts)
					if err == nil {
						c.Close()
						t.Fatal("Dial succeeded, want an error")
					}
					if !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), tt.url) {
						t.Fatalf("Dial error %q, want one naming %s and containing %q", err, tt.url, tt.wantErr)
					}
					return
				}
				c := bound(t, tt.url, srv.Endpoint, opts)
				// Megabytes through TLS records, byte for byte.
				compare(t, c, srv.Endpoint, bigQuery)
				compare(t, c, srv.Endpoint, query{"users", srv.BaseDN, ldapwire.ScopeWholeSubtree, usersFilter, userAttrs, 100})
			})
		}
	})

	t.Run("values of megabytes", func(t *testing.T) {
		c := bound(t, srv.URL, srv.Endpoint, ldapwire.Options{})
		compare(t, c, srv.Endpoint, bigQuery)
		got := map[string]string{}
		pages(t, c, bigQuery, func(e *ldapwire.Entry) error {
			for _, a := range e.Attrs {
				if len(a.Values) == 1 {
					got[string(a.Name)] = string(a.Values[0])
				}
			}
			return nil
		})
		if got["description"] != description || got["jpegPhoto"] != photo {
			t.Errorf("description of %d bytes and jpegPhoto of %d bytes, want the %d and %d bytes written",
				len(got["description"]), len(got["jpegPhoto"]), len(description), len(photo))
		}
		// Small entries after the big one.
		compare(t, c, srv.Endpoint, query{"groups", srv.BaseDN, ldapwire.ScopeWholeSubtree, groupsFilter, groupAttrs, 3})
	})

	t.Run("message over MaxMessageBytes", func(t *testing.T) {
		c := bound(t, srv.URL, srv.Endpoint, ldapwire.Options{MaxMessageBytes: 1 << 20})
		_, err := c.Search(t.Context(), &ldapwire.SearchRequest{BaseDN: bigDN}, func(*ldapwire.Entry) error { return nil })
		if err == nil || !strings.Contains(err.Error(), "exceeds the limit of 1048576 bytes (MaxMessageBytes)") {
			t.Fatalf("Search = %v, want an error saying the message exceeds MaxMessageBytes", err)
		}
	})

	t.Run("stalled server", func(t *testing.T) {
		stalled := func(t *testing.T) {
			pid := slapdPID(t, srv)
			if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGCONT) })
			// kill returns before every thread has stopped: wait for it, so
			// that the server cannot answer at once.
			for stat := ""; !strings.Contains(stat, ") T "); {
				b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
				if err != nil {
					t.Fatal(err)
				}
				stat = string(b)
			}
		}
		tests := []struct {
			name    string
			idle    time.Duration
			cancel  time.Duration // the ctx deadline; 0: none
			wantErr string
		}{
			{"ctx deadline", -1, 300 * time.Millisecond, context.DeadlineExceeded.Error()},
			{"idle timeout", 500 * time.Millisecond, 0, "no progress for 500ms (IdleTimeout)"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				c := bound(t, srv.URL, srv.Endpoint, ldapwire.Options{IdleTimeout: tt.idle})
				stalled(t)
				ctx := t.Context()
				if tt.cancel > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, tt.cancel)
					defer cancel()
				}
				start := time.Now()
				_, err := c.Search(ctx, &ldapwire.SearchRequest{BaseDN: srv.BaseDN}, func(*ldapwire.Entry) error { return nil })
				took := time.Since(start)
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Search = %v, want an error containing %q", err, tt.wantErr)
				}
				if took > 30*time.Second { // "does not hang", not a speed claim
					t.Errorf("Search returned after %v, want within a few seconds", took)
				}
				t.Logf("returned after %v: %v", took.Round(time.Millisecond), err)
			})
		}
	})

	t.Run("server killed mid-search", func(t *testing.T) {
		c := bound(t, srv.URL, srv.Endpoint, ldapwire.Options{})
		n := 0
		_, err := c.Search(t.Context(), &ldapwire.SearchRequest{BaseDN: srv.BaseDN, Scope: ldapwire.ScopeWholeSubtree, PageSize: 1000},
			func(*ldapwire.Entry) error {
				if n++; n == 10 {
					if err := srv.Kill(); err != nil {
						return err
					}
				}
				return nil
			})
		if err == nil || !strings.Contains(err.Error(), "closed the connection") && !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("Search = %v after %d entries, want an error saying the server went away", err, n)
		}
		t.Logf("after %d entries: %v", n, err)
		if err := srv.Restart(t.Context()); err != nil {
			t.Fatal(err)
		}
	})
}

// slapdPID returns the process id of a local slapd.
func slapdPID(t *testing.T, srv *testserver.SlapdServer) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(srv.Dir, "slapd.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(string(bytes.TrimSpace(b)))
	if err != nil {
		t.Fatalf("slapd.pid: %v", err)
	}
	return pid
}

// TestDial checks Dial's refusals and that ctx bounds it.
func TestDial(t *testing.T) {
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	closedPort := "ldap://127.0.0.1:" + strconv.Itoa(testserver.FreePort(t))
	tests := []struct {
		name    string
		ctx     context.Context
		url     string
		wantErr string
		wantIs  error
	}{
		{"bad scheme", t.Context(), "http://127.0.0.1", "scheme must be ldap or ldaps", nil},
		{"no host", t.Context(), "ldap://", "no host", nil},
		{"nothing listening", t.Context(), closedPort, "connecting to " + closedPort, nil},
		{"ctx cancelled", cancelled, closedPort, "connecting to " + closedPort, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ldapwire.Dial(tt.ctx, tt.url, ldapwire.Options{})
			if err == nil {
				c.Close()
				t.Fatal("Dial succeeded, want an error")
			}
			if !strings.Contains(err.Error(), tt.wantErr) || tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Fatalf("Dial error %q, want one containing %q (and wrapping %v)", err, tt.wantErr, tt.wantIs)
			}
		})
	}
}
