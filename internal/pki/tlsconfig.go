package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
)

// PinnedTLSConfig returns the client TLS configuration for an agent's first
// contact with the hub (enrolment), when all it knows of the hub is the SHA-256
// fingerprint of the hub's CA certificate, from the enrolment token.
//
// It trusts a server only if the chain the server presents contains a
// certificate with that fingerprint and the leaf verifies against that
// certificate as the only root, for server authentication. The pin, not
// the address the agent was given, identifies the hub (only the hub holds
// the CA's key). host, when not empty, must be named by the hub's
// certificate all the same: not for trust, but because the enrolled agent
// checks the name on every connection, and a hub reached at a name its
// certificate lacks is better refused before the token is spent.
func PinnedTLSConfig(fingerprint, host string) *tls.Config {
	want := normalizeFingerprint(fingerprint)
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		// The standard verification needs a root the agent does not have yet;
		// it is replaced, not skipped: VerifyConnection below runs on every
		// handshake, full or resumed, and fails it unless the pin holds.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if err := verifyPinned(cs.PeerCertificates, want); err != nil {
				return err
			}
			if host == "" {
				return nil
			}
			if err := cs.PeerCertificates[0].VerifyHostname(host); err != nil {
				leaf := cs.PeerCertificates[0]
				names := append(slices.Clone(leaf.DNSNames), mapIPs(leaf.IPAddresses)...)
				return fmt.Errorf("the hub's certificate names %s, not %s: an agent enrolled at %s could not connect; "+
					"start the hub with --tls-hosts %s, or enrol at one of those names", strings.Join(names, ", "), host, host, host)
			}
			return nil
		},
	}
}

// mapIPs writes ips as text.
func mapIPs(ips []net.IP) []string {
	out := make([]string, len(ips))
	for i, ip := range ips {
		out[i] = ip.String()
	}
	return out
}

func verifyPinned(chain []*x509.Certificate, want string) error {
	if len(want) != fingerprintLen || !isHex(want) {
		return errors.New("pinned hub CA fingerprint is malformed: want 64 hexadecimal characters")
	}
	if len(chain) == 0 {
		return errors.New("hub presented no certificate")
	}
	var root *x509.Certificate
	got := make([]string, 0, len(chain))
	for _, c := range chain {
		fp := Fingerprint(c.Raw)
		got = append(got, fp)
		if fp == want {
			root = c
		}
	}
	if root == nil {
		return fmt.Errorf("hub CA fingerprint mismatch: want %s, the hub presented certificates with fingerprints %s (is the enrolment token for this hub?)", want, strings.Join(got, ", "))
	}
	roots := x509.NewCertPool()
	roots.AddCert(root)
	intermediates := x509.NewCertPool()
	for _, c := range chain[1:] {
		intermediates.AddCert(c)
	}
	// ServerAuth matters: agents' client certificates come from the same CA,
	// and must not let one agent impersonate the hub to another.
	if _, err := chain[0].Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: intermediates,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}); err != nil {
		return fmt.Errorf("hub certificate does not verify against the pinned CA %s: %w", want, err)
	}
	return nil
}

// ClientTLSConfig returns the agent's mutual-TLS configuration once enrolled:
// its client certificate and key, and the hub CA as the only root. serverName
// may be empty when the caller (gRPC) fills it from the address dialled.
func ClientTLSConfig(certPEM, keyPEM, caPEM []byte, serverName string) (*tls.Config, error) {
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("agent certificate: %w", err)
	}
	tc, err := hubClientTLSConfig(caPEM, serverName)
	if err != nil {
		return nil, err
	}
	tc.Certificates = []tls.Certificate{cert}
	return tc, nil
}

// RotatingClientTLSConfig is ClientTLSConfig for a client certificate that
// changes while the agent runs (renewal): every handshake presents the one
// current returns.
func RotatingClientTLSConfig(current func() *tls.Certificate, caPEM []byte, serverName string) (*tls.Config, error) {
	tc, err := hubClientTLSConfig(caPEM, serverName)
	if err != nil {
		return nil, err
	}
	tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		return current(), nil
	}
	return tc, nil
}

// hubClientTLSConfig is what both client configurations share: TLS 1.3 and
// the hub CA as the only root.
func hubClientTLSConfig(caPEM []byte, serverName string) (*tls.Config, error) {
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("hub CA: no PEM certificate found")
	}
	return &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: roots, ServerName: serverName}, nil
}

// ServerTLSConfig returns the hub's TLS configuration. A client certificate is
// verified against the CA when one is presented, but not required: the same
// port serves enrolment and admin calls, which have none. Handlers must
// therefore check for a verified chain (and revocation) themselves.
func ServerTLSConfig(serverCert tls.Certificate, ca *CA) *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	return &tls.Config{
		// TLS 1.2 still, for admin tools and browsers; agents ask for 1.3.
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{serverCert},
		ClientAuth:   tls.VerifyClientCertIfGiven,
		ClientCAs:    pool,
	}
}

const fingerprintLen = 64 // hex digits of a SHA-256

// normalizeFingerprint accepts the forms tools print (upper case, colons).
func normalizeFingerprint(s string) string {
	return strings.ToLower(strings.ReplaceAll(strings.TrimSpace(s), ":", ""))
}

func isHex(s string) bool {
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
