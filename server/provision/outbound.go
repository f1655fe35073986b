package provision

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"syscall"
	"time"

	"github.com/idsync/idsync/server/outbound"
	"github.com/idsync/idsync/server/store"
)

// What an app's pushes may connect to. An app's URLs are https:// unless a
// super-admin allowed plain http for it (AllowInsecureHTTP), and reach no
// loopback, link-local, unspecified or multicast address and none of the
// hub's own listeners unless a super-admin allowed it
// (AllowLocalAddresses): an app admin cannot aim the hub's pushes (with
// their credentials) at the hub itself, a cloud's metadata service or
// another service on the hub's host. The host is checked when the app is
// configured and again for every connection (a name may resolve anywhere),
// and redirects are not followed.

// ErrOutbound is wrapped by the errors of an outbound URL or connection
// the app may not make.
var ErrOutbound = errors.New("refused outbound address")

// CheckURLs checks the app's SCIM and token URLs against what it may
// reach, naming the field; a directory target has none.
func (e *Engine) CheckURLs(a *store.App) error {
	if a.Target != nil {
		return nil
	}
	for _, f := range []struct{ name, url string }{{"scim_url", a.SCIMURL}, {"token_url", a.TokenURL}} {
		if f.url == "" {
			continue
		}
		if err := e.checkURL(a, f.url); err != nil {
			return fmt.Errorf("%s %q: %w", f.name, f.url, err)
		}
	}
	return nil
}

func (e *Engine) checkURL(a *store.App, raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	if u.Scheme == "http" && !a.AllowInsecureHTTP {
		return fmt.Errorf("%w: plain http:// sends the app's credentials in the clear; use https://, or a super-admin allows it "+
			"with --allow-insecure-http (on `idsyncctl app add`, or `idsyncctl app update %s --allow-insecure-http`)", ErrOutbound, a.Name)
	}
	if a.AllowLocalAddresses {
		return nil
	}
	host := u.Hostname()
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	if outbound.LocalName(host) {
		return localRefusal(a, host)
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		p, _ := strconv.Atoi(port)
		if err := e.allowedAddr(a, ip, p); err != nil {
			return err
		}
	}
	return nil
}

// allowedAddr checks one address an app connects to.
func (e *Engine) allowedAddr(a *store.App, ip netip.Addr, port int) error {
	if a.AllowLocalAddresses {
		return nil
	}
	ip = ip.Unmap()
	if outbound.LocalAddr(ip) {
		return localRefusal(a, ip.String())
	}
	if e.ownListener(ip, port) {
		return fmt.Errorf("%w: %s is one of the hub's own listeners; a super-admin allows it with "+
			"--allow-local-addresses (on `idsyncctl app add`, or `idsyncctl app update %s --allow-local-addresses`)", ErrOutbound, netip.AddrPortFrom(ip, uint16(port)), a.Name)
	}
	return nil
}

func localRefusal(a *store.App, host string) error {
	return fmt.Errorf("%w: %s is a loopback, link-local or otherwise local address the hub does not push to; "+
		"a super-admin allows it with --allow-local-addresses (on `idsyncctl app add`, or `idsyncctl app update %s --allow-local-addresses`)", ErrOutbound, host, a.Name)
}

// ownListener reports whether ip:port is where this hub listens.
func (e *Engine) ownListener(ip netip.Addr, port int) bool {
	return outbound.OwnListener(e.opts.Listeners, ip, port)
}

// hostAddrs are this host's interface addresses.
func (e *Engine) hostAddrs() []netip.Addr { return outbound.HostAddrs() }

// httpClient is the client of an app's pushes: a pooled transport whose
// every connection is checked against what the app may reach, following
// no redirect (a redirect would carry the credentials elsewhere). Tests
// and benchmarks may give their own (Options.HTTPClient).
func (e *Engine) httpClient(a *store.App) *http.Client {
	if e.opts.HTTPClient != nil {
		return e.opts.HTTPClient
	}
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second,
		Control: func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("%w: %s: %v", ErrOutbound, address, err)
			}
			return e.allowedAddr(a, ap.Addr(), int(ap.Port()))
		}}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = d.DialContext
	t.Proxy = nil // a proxy would connect for us, unchecked
	// The queue runs several workers per application: keep their
	// connections instead of redialling (the default keeps 2 per host).
	t.MaxIdleConnsPerHost = 64
	return &http.Client{Transport: t, Timeout: 30 * time.Second,
		CheckRedirect: func(req *http.Request, _ []*http.Request) error {
			return fmt.Errorf("%w: the app redirected to %s; idsync follows no redirect", ErrOutbound, req.URL.Redacted())
		}}
}
