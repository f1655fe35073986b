//go:build linux

package ldapsync_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idsync/idsync/internal/gendir"
	"github.com/idsync/idsync/internal/testserver"
	"github.com/idsync/idsync/ldapsync"
)

func TestDialErrors(t *testing.T) {
	srv := testserver.Slapd(t)
	const wrongPassword = "Wr0ng-Pa55word-7f3a"
	closedPort := testserver.FreePort(t)
	silent, err := net.Listen("tcp", "127.0.0.1:0") // accepts, never answers
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	silentURL := "ldap://" + silent.Addr().String()

	tests := []struct {
		name    string
		cfg     ldapsync.Config
		want    []string
		wantIs  error
		forbid  string
		maxTime time.Duration
	}{
		{
			name:   "wrong bind password",
			cfg:    ldapsync.Config{URL: srv.URL, BindDN: srv.BindDN, BindPassword: wrongPassword},
			want:   []string{srv.URL, srv.BindDN, "rejected the credentials"},
			wantIs: ldapsync.ErrInvalidCredentials,
			forbid: wrongPassword,
		},
		{
			name: "unreachable server",
			cfg:  ldapsync.Config{URL: fmt.Sprintf("ldap://127.0.0.1:%d", closedPort), BindDN: srv.BindDN, BindPassword: "some-password"},
			want: []string{fmt.Sprintf("connecting to ldap://127.0.0.1:%d", closedPort), "connection refused"},
		},
		{
			name:    "server that never answers",
			cfg:     ldapsync.Config{URL: silentURL, BindDN: srv.BindDN, BindPassword: "some-password", Timeout: 300 * time.Millisecond},
			want:    []string{silentURL, srv.BindDN, "deadline exceeded"},
			wantIs:  context.DeadlineExceeded,
			maxTime: 30 * time.Second, // "does not hang", not a speed claim
		},
		{
			name: "unknown scheme",
			cfg:  ldapsync.Config{URL: "ldapx://127.0.0.1"},
			want: []string{`"ldapx://127.0.0.1"`, "scheme must be ldap or ldaps"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			c, err := ldapsync.Dial(t.Context(), tt.cfg)
			if err == nil {
				c.Close()
				t.Fatalf("Dial succeeded, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("error %q is not %v", err, tt.wantIs)
			}
			if tt.forbid != "" && strings.Contains(err.Error(), tt.forbid) {
				t.Errorf("error %q contains the password", err)
			}
			if tt.maxTime > 0 && time.Since(start) > tt.maxTime {
				t.Errorf("Dial took %v, want at most %v", time.Since(start), tt.maxTime)
			}
		})
	}
}

func TestDialTLS(t *testing.T) {
	srv := testserver.Slapd(t, testserver.SlapdOptions{TLS: true})
	tests := []struct {
		name    string
		cfg     ldapsync.Config
		wantErr []string
	}{
		{"ldaps with the CA", ldapsync.Config{URL: srv.LDAPSURL, CAFile: srv.CAFile}, nil},
		{"StartTLS with the CA", ldapsync.Config{URL: srv.URL, StartTLS: true, CAFile: srv.CAFile}, nil},
		{"ldaps without the CA", ldapsync.Config{URL: srv.LDAPSURL}, []string{"TLS handshake with " + srv.LDAPSURL, "certificate"}},
		{"StartTLS without the CA", ldapsync.Config{URL: srv.URL, StartTLS: true}, []string{"StartTLS with " + srv.URL, "certificate"}},
		{"CA file missing", ldapsync.Config{URL: srv.LDAPSURL, CAFile: "/nonexistent/ca.pem"}, []string{"CA file", "/nonexistent/ca.pem"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.BindDN, tt.cfg.BindPassword = srv.BindDN, srv.BindPassword
			c, err := ldapsync.Dial(t.Context(), tt.cfg)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Dial: %v", err)
				}
				defer c.Close()
				rec := &recorder{}
				if _, err := ldapsync.FullImport(t.Context(), c, ldapsync.Spec{Kind: ldapsync.KindOpenLDAP, BaseDN: srv.BaseDN}, rec); err != nil {
					t.Errorf("FullImport over TLS: %v", err)
				}
				return
			}
			if err == nil {
				c.Close()
				t.Fatalf("Dial succeeded, want an error")
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestFullImportBaseDNMissing(t *testing.T) {
	srv := testserver.Slapd(t)
	conn := dial(t, srv.Endpoint)
	base := "ou=nowhere," + srv.BaseDN
	_, err := ldapsync.FullImport(t.Context(), conn, ldapsync.Spec{Kind: ldapsync.KindOpenLDAP, BaseDN: base}, &recorder{})
	if !errors.Is(err, ldapsync.ErrBaseNotFound) {
		t.Errorf("error = %v, want ErrBaseNotFound", err)
	}
	for _, w := range []string{fmt.Sprintf("base DN %q does not exist", base), srv.URL} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error %v does not contain %q", err, w)
		}
	}
}

// stopper is a Sink that cancels the import's ctx after n changes, or
// blocks until ctx is done.
type stopper struct {
	n      int64
	cancel context.CancelFunc
	block  bool
	seen   atomic.Int64
}

func (s *stopper) Change(ctx context.Context, _ ldapsync.Change) error {
	if s.seen.Add(1) == s.n {
		if s.block {
			go func() { time.Sleep(100 * time.Millisecond); s.cancel() }()
			<-ctx.Done()
			return ctx.Err()
		}
		s.cancel()
	}
	return nil
}

func (s *stopper) EntryError(context.Context, ldapsync.EntryError) error { return nil }

func TestFullImportCancel(t *testing.T) {
	const users = 3000
	srv, _ := preloaded(t, gendir.Options{Seed: 3, Users: users, Groups: 20})
	conn := dial(t, srv.Endpoint)
	spec := ldapsync.Spec{Kind: ldapsync.KindOpenLDAP, BaseDN: srv.BaseDN, UserAttributes: openLDAPUserAttrs, PageSize: 200}
	tests := []struct {
		name  string
		after int64
		block bool
	}{
		{"cancelled by the sink mid-page", 250, false},
		{"cancelled while the sink blocks", 10, true},
		{"cancelled among groups", users + 5, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			sink := &stopper{n: tt.after, cancel: cancel, block: tt.block}
			start := time.Now()
			stats, err := ldapsync.FullImport(ctx, conn, spec, sink)
			if !errors.Is(err, context.Canceled) {
				t.Errorf("error = %v, want context.Canceled", err)
			}
			if d := time.Since(start); d > 30*time.Second { // "does not hang", not a speed claim
				t.Errorf("FullImport returned %v after the start, want promptly", d)
			}
			if got := int64(stats.Users + stats.Groups); got > tt.after {
				t.Errorf("%d changes sent, want at most %d (none after the cancellation)", got, tt.after)
			}
		})
	}
	// The connection stays usable after a cancelled import.
	rec := &recorder{}
	stats, err := ldapsync.FullImport(t.Context(), conn, spec, rec)
	if err != nil || stats.Users != users || stats.Groups != 20 {
		t.Errorf("import after the cancellations: %+v, %v; want %d users and 20 groups", stats, err, users)
	}
}
