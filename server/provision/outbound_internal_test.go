package provision

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/idsync/idsync/server/store"
)

// TestOutboundDial: every connection of an app's pushes is checked, so a
// name that resolves to a local address is refused as a literal one is;
// redirects are not followed; an allowed app connects.
func TestOutboundDial(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "http://169.254.169.254/latest/meta-data", http.StatusFound)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	e := &Engine{}
	strict := &store.App{Name: "strict", AllowInsecureHTTP: true}
	for _, u := range []string{srv.URL, "http://localhost:" + port + "/"} {
		_, err := e.httpClient(strict).Get(u)
		if !errors.Is(err, ErrOutbound) || !strings.Contains(err.Error(), "--allow-local-addresses") {
			t.Errorf("GET %s without local addresses: %v, want ErrOutbound", u, err)
		}
	}
	local := &store.App{Name: "local", AllowInsecureHTTP: true, AllowLocalAddresses: true}
	resp, err := e.httpClient(local).Get(srv.URL)
	if err != nil {
		t.Fatalf("GET with local addresses allowed: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Errorf("status %d, want 204", resp.StatusCode)
	}
	if _, err := e.httpClient(local).Get(srv.URL + "/redirect"); !errors.Is(err, ErrOutbound) || !strings.Contains(err.Error(), "redirect") {
		t.Errorf("GET of a redirect: %v, want ErrOutbound, no redirect followed", err)
	}
}

// TestOwnListener: the hub's listen addresses are its own; one on every
// interface makes each of this host's addresses with that port its own.
func TestOwnListener(t *testing.T) {
	e := &Engine{opts: Options{Listeners: []string{"0.0.0.0:7080", "10.9.8.7:7443"}}}
	host := e.hostAddrs()
	if len(host) == 0 {
		t.Fatal("this host has no interface addresses")
	}
	for _, tc := range []struct {
		name string
		ip   netip.Addr
		port int
		want bool
	}{
		{"a listen address", netip.MustParseAddr("10.9.8.7"), 7443, true},
		{"its port elsewhere", netip.MustParseAddr("10.9.8.6"), 7443, false},
		{"a host address, any-interface listener", host[len(host)-1], 7080, true},
		{"a host address, another port", host[len(host)-1], 7081, false},
		{"a remote address", netip.MustParseAddr("192.0.2.10"), 7080, false},
	} {
		if got := e.ownListener(tc.ip, tc.port); got != tc.want {
			t.Errorf("%s: ownListener(%s, %d) = %v, want %v", tc.name, tc.ip, tc.port, got, tc.want)
		}
	}
	a := &store.App{Name: "x"}
	if err := e.allowedAddr(a, netip.MustParseAddr("10.9.8.7"), 7443); !errors.Is(err, ErrOutbound) || !strings.Contains(err.Error(), "hub's own") {
		t.Errorf("allowedAddr(own listener) = %v, want refused as the hub's own", err)
	}
	if err := e.allowedAddr(a, netip.MustParseAddr("192.0.2.10"), 443); err != nil {
		t.Errorf("allowedAddr(remote) = %v, want allowed", err)
	}
}
