package outbound

import (
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
)

// LocalAddr reports whether ip is a loopback, link-local, unspecified or
// multicast address: one the hub does not connect to on an admin's word.
func LocalAddr(ip netip.Addr) bool {
	ip = ip.Unmap()
	return ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsUnspecified() ||
		ip.IsMulticast() || ip.IsInterfaceLocalMulticast()
}

// LocalName reports whether host is localhost or a name under it.
func LocalName(host string) bool {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	return h == "localhost" || strings.HasSuffix(h, ".localhost")
}

// OwnListener reports whether ip:port is where the hub listens: one of
// listeners (host:port), or, for one on every interface, any address of
// this host with that port.
func OwnListener(listeners []string, ip netip.Addr, port int) bool {
	ip = ip.Unmap()
	for _, l := range listeners {
		ap, err := netip.ParseAddrPort(l)
		if err != nil || int(ap.Port()) != port {
			continue
		}
		if ap.Addr().Unmap() == ip {
			return true
		}
		if ap.Addr().IsUnspecified() && slices.Contains(HostAddrs(), ip) {
			return true
		}
	}
	return false
}

// HostAddrs returns this host's interface addresses, read once.
var HostAddrs = sync.OnceValue(func() []netip.Addr {
	var out []netip.Addr
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			out = append(out, p.Addr().Unmap())
		}
	}
	return out
})
