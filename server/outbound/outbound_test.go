package outbound_test

import (
	"net/netip"
	"testing"

	"github.com/idsync/idsync/server/outbound"
)

func TestLocal(t *testing.T) {
	for _, tc := range []struct {
		addr string
		want bool
	}{
		{"127.0.0.1", true}, {"::1", true}, {"::ffff:127.0.0.1", true}, {"169.254.169.254", true}, {"fe80::1", true},
		{"0.0.0.0", true}, {"224.0.0.1", true}, {"192.0.2.7", false}, {"10.1.2.3", false}, {"2001:db8::1", false},
	} {
		if got := outbound.LocalAddr(netip.MustParseAddr(tc.addr)); got != tc.want {
			t.Errorf("LocalAddr(%s) = %v, want %v", tc.addr, got, tc.want)
		}
	}
	for name, want := range map[string]bool{"localhost": true, "LOCALHOST.": true, "a.localhost": true, "localhost.example.org": false} {
		if got := outbound.LocalName(name); got != want {
			t.Errorf("LocalName(%q) = %v, want %v", name, got, want)
		}
	}
	listeners := []string{"192.0.2.7:7443", "[2001:db8::5]:7080"}
	for _, tc := range []struct {
		addr string
		port int
		want bool
	}{{"192.0.2.7", 7443, true}, {"192.0.2.7", 7444, false}, {"2001:db8::5", 7080, true}, {"::ffff:192.0.2.7", 7443, true}} {
		if got := outbound.OwnListener(listeners, netip.MustParseAddr(tc.addr), tc.port); got != tc.want {
			t.Errorf("OwnListener(%s, %d) = %v, want %v", tc.addr, tc.port, got, tc.want)
		}
	}
}
