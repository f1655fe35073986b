package notify

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"syscall"

	"github.com/idsync/idsync/server/outbound"
	"github.com/idsync/idsync/server/refusal"
	"github.com/idsync/idsync/server/store"
)

// What a channel may connect to: the outbound rules of app URLs
// (server/provision). The host is checked when the channel is added and
// every address again when it is dialled (a name may resolve anywhere).

// checkHost checks a channel's host and port as configured.
func (s *Service) checkHost(c *store.NotifyChannel, host, port string) error {
	if c.AllowLocal {
		return nil
	}
	if outbound.LocalName(host) {
		return s.localRefusal(host)
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		p, _ := strconv.Atoi(port)
		return s.allowedAddr(c, ip, p)
	}
	return nil
}

// allowedAddr checks one address a channel connects to.
func (s *Service) allowedAddr(c *store.NotifyChannel, ip netip.Addr, port int) error {
	if c.AllowLocal {
		return nil
	}
	ip = ip.Unmap()
	if outbound.LocalAddr(ip) {
		return s.localRefusal(ip.String())
	}
	if outbound.OwnListener(s.opts.Listeners, ip, port) {
		return refusal.Invalidf("%s is one of the hub's own listeners; a super-admin allows it with "+
			"--allow-local-addresses", netip.AddrPortFrom(ip, uint16(port)))
	}
	return nil
}

func (s *Service) localRefusal(host string) error {
	return refusal.Invalidf("%s is a loopback, link-local or otherwise local address the hub does not send to; "+
		"a super-admin allows it with --allow-local-addresses", host)
}

// dialer dials a channel's server, checking every address it connects to.
func (s *Service) dialer(c *store.NotifyChannel) *net.Dialer {
	return &net.Dialer{Timeout: s.opts.SendTimeout, KeepAlive: -1,
		Control: func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("refused outbound address %s: %v", address, err)
			}
			return s.allowedAddr(c, ap.Addr(), int(ap.Port()))
		}}
}

// tlsConfig checks the server of a channel against its CA, or the
// system's.
func tlsConfig(c *store.NotifyChannel, host string) (*tls.Config, error) {
	cfg := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	if c.CAPEM != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(c.CAPEM)) {
			return nil, fmt.Errorf("channel %s: its CA holds no PEM certificate", c.Name)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// deadline is when an attempt ends.
func (s *Service) deadline(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.opts.SendTimeout)
}

// urlHost is the host name of a URL.
func urlHost(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", err
	}
	return u.Hostname(), nil
}
