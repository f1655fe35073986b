package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/idsync/idsync/internal/atomicfile"
)

// Lifetimes and margins of the certificates the hub issues.
const (
	caValidity     = 10 * 365 * 24 * time.Hour
	serverValidity = 365 * 24 * time.Hour
	// renewBefore is how long before its expiry the server certificate is
	// replaced at start-up.
	renewBefore = 30 * 24 * time.Hour
	// backdate tolerates clocks that lag the hub's a little.
	backdate = 5 * time.Minute
)

// File names in the hub's PKI directory.
const (
	caKeyFile      = "ca.key"
	caCertFile     = "ca.crt"
	serverKeyFile  = "hub.key"
	serverCertFile = "hub.crt"
)

// CA is the hub's certificate authority: it signs the hub's server certificate
// and the agents' client certificates.
type CA struct {
	cert    *x509.Certificate
	certPEM []byte
	key     crypto.Signer
}

// LoadOrCreateCA loads the CA from ca.key and ca.crt in dir, or, when neither
// exists, creates an ECDSA P-256 CA valid for ten years and writes them (the
// key with mode 0600, dir created 0700 if missing). It refuses a key file that
// group or others can read, and a directory holding only one of the two files
// (re-creating the CA would silently orphan every enrolled agent).
//
// Two processes must not create a CA in the same directory at the same time.
func LoadOrCreateCA(dir string) (*CA, error) {
	keyPath, certPath := filepath.Join(dir, caKeyFile), filepath.Join(dir, caCertFile)
	keyPEM, keyErr := ReadPrivateFile(keyPath)
	certPEM, certErr := os.ReadFile(certPath)
	keyMissing, certMissing := errors.Is(keyErr, fs.ErrNotExist), errors.Is(certErr, fs.ErrNotExist)
	switch {
	case keyMissing && certMissing:
		return createCA(dir, keyPath, certPath)
	case keyMissing || certMissing:
		have, lack := keyPath, certPath
		if keyMissing {
			have, lack = certPath, keyPath
		}
		return nil, fmt.Errorf("found %s but not %s: restore the missing file, or remove both to create a new CA (every agent must then re-enrol)", have, lack)
	case keyErr != nil:
		return nil, fmt.Errorf("loading hub CA: %w", keyErr)
	case certErr != nil:
		return nil, fmt.Errorf("loading hub CA: %w", certErr)
	}
	ca, err := ParseCA(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("loading hub CA from %s: %w", dir, err)
	}
	return ca, nil
}

func createCA(dir, keyPath, certPath string) (*CA, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating hub CA: %w", err)
	}
	ca, err := NewCA()
	if err != nil {
		return nil, err
	}
	keyPEM, err := ca.KeyPEM()
	if err != nil {
		return nil, err
	}
	// The key first: a crash between the writes leaves a key without a
	// certificate, which LoadOrCreateCA reports instead of overwriting.
	if err := atomicfile.WriteFile(keyPath, keyPEM, 0o600); err != nil {
		return nil, fmt.Errorf("creating hub CA: %w", err)
	}
	if err := atomicfile.WriteFile(certPath, ca.certPEM, 0o644); err != nil {
		return nil, fmt.Errorf("creating hub CA: %w", err)
	}
	return ca, nil
}

// NewCA creates a CA in memory: an ECDSA P-256 key and a self-signed
// certificate valid for ten years. LoadOrCreateCA is the usual way to get one;
// NewCA, KeyPEM and ParseCA serve a hub that keeps its CA elsewhere.
func NewCA() (*CA, error) {
	key, err := NewKey()
	if err != nil {
		return nil, fmt.Errorf("generating CA key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		// The serial in the name tells two hubs' CAs apart in a trust store.
		Subject:               pkix.Name{Organization: []string{"idsync"}, CommonName: "idsync hub CA " + fmt.Sprintf("%032x", serial)[:8]},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		// The CA signs leaves only.
		MaxPathLenZero: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("creating CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("creating CA certificate: %w", err)
	}
	return &CA{cert: cert, certPEM: encodeCertificate(der), key: key}, nil
}

// ParseCA builds a CA from its PEM certificate and private key. It checks that
// the certificate is a CA certificate, still valid, and matches the key.
func ParseCA(certPEM, keyPEM []byte) (*CA, error) {
	cert, err := parseCertificate(certPEM)
	if err != nil {
		return nil, fmt.Errorf("CA certificate: %w", err)
	}
	if !cert.IsCA || cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, errors.New("CA certificate: not a CA certificate (basic constraints CA:TRUE and key usage certSign required)")
	}
	if now := time.Now(); now.After(cert.NotAfter) {
		return nil, fmt.Errorf("CA certificate expired on %s", cert.NotAfter.UTC().Format(time.DateOnly))
	}
	key, err := parseSigner(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("CA key: %w", err)
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(cert.PublicKey) {
		return nil, errors.New("CA key does not match the CA certificate")
	}
	return &CA{cert: cert, certPEM: encodeCertificate(cert.Raw), key: key}, nil
}

// CertPEM returns the CA certificate in PEM, for agents to trust.
func (ca *CA) CertPEM() []byte { return bytes.Clone(ca.certPEM) }

// KeyPEM returns the CA private key in PEM (PKCS #8). Handle with care.
func (ca *CA) KeyPEM() ([]byte, error) { return marshalSigner(ca.key) }

// Fingerprint returns the SHA-256 fingerprint of the CA certificate, the value
// enrolment tokens carry.
func (ca *CA) Fingerprint() string { return Fingerprint(ca.cert.Raw) }

// Fingerprint returns the SHA-256 of a DER certificate in lower-case hex.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// Serial formats a certificate's serial number the way SignClientCSR reports
// it (lower-case hex), so the hub can look up the peer of a connection.
func Serial(cert *x509.Certificate) string { return cert.SerialNumber.Text(16) }

// ServerCertificate returns the hub's TLS server certificate for hosts (IP
// addresses and DNS names), with the CA certificate appended to the chain so
// that an agent pinning the CA fingerprint finds it. It loads hub.key and
// hub.crt from dir, and issues and writes new ones (valid for a year) when
// they are missing, were issued by another CA, lack one of hosts, or expire
// within 30 days.
func (ca *CA) ServerCertificate(dir string, hosts []string) (tls.Certificate, error) {
	hosts, err := normalizeHosts(hosts)
	if err != nil {
		return tls.Certificate{}, err
	}
	keyPath, certPath := filepath.Join(dir, serverKeyFile), filepath.Join(dir, serverCertFile)
	if c, err := ca.loadServerCertificate(keyPath, certPath, hosts, time.Now()); err == nil {
		return c, nil
	} else if !errors.Is(err, errReissue) {
		return tls.Certificate{}, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return tls.Certificate{}, fmt.Errorf("hub server certificate: %w", err)
	}
	now := time.Now()
	certPEM, keyPEM, err := ca.issueServer(hosts, now.Add(-backdate), now.Add(serverValidity))
	if err != nil {
		return tls.Certificate{}, err
	}
	if err := atomicfile.WriteFile(keyPath, keyPEM, 0o600); err != nil {
		return tls.Certificate{}, err
	}
	if err := atomicfile.WriteFile(certPath, certPEM, 0o644); err != nil {
		return tls.Certificate{}, err
	}
	return ca.serverChain(certPEM, keyPEM)
}

// errReissue says the stored server certificate is missing or unfit and a new
// one should be issued; other errors (an unreadable key file) are the
// administrator's to fix.
var errReissue = errors.New("server certificate must be re-issued")

func (ca *CA) loadServerCertificate(keyPath, certPath string, hosts []string, now time.Time) (tls.Certificate, error) {
	keyPEM, err := ReadPrivateFile(keyPath)
	if errors.Is(err, fs.ErrNotExist) {
		return tls.Certificate{}, errReissue
	}
	if err != nil {
		return tls.Certificate{}, err
	}
	certPEM, err := os.ReadFile(certPath)
	if errors.Is(err, fs.ErrNotExist) {
		return tls.Certificate{}, errReissue
	}
	if err != nil {
		return tls.Certificate{}, err
	}
	c, err := ca.serverChain(certPEM, keyPEM)
	if err != nil {
		// A corrupt or mismatched pair is ours to replace.
		return tls.Certificate{}, errReissue
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	if _, err := c.Leaf.Verify(x509.VerifyOptions{
		Roots:       roots,
		CurrentTime: now,
		KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}); err != nil {
		return tls.Certificate{}, errReissue
	}
	if c.Leaf.NotAfter.Sub(now) < renewBefore {
		return tls.Certificate{}, errReissue
	}
	for _, h := range hosts {
		if c.Leaf.VerifyHostname(h) != nil {
			return tls.Certificate{}, errReissue
		}
	}
	return c, nil
}

// serverChain pairs a leaf and its key and appends the CA certificate.
func (ca *CA) serverChain(certPEM, keyPEM []byte) (tls.Certificate, error) {
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("hub server certificate: %w", err)
	}
	c.Certificate = append(c.Certificate[:1:1], ca.cert.Raw)
	return c, nil
}

// issueServer creates a server certificate and key for hosts.
func (ca *CA) issueServer(hosts []string, notBefore, notAfter time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := NewKey()
	if err != nil {
		return nil, nil, fmt.Errorf("generating hub server key: %w", err)
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{Organization: []string{"idsync"}, CommonName: hosts[0]},
		NotBefore:   notBefore,
		NotAfter:    notAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := ca.sign(tmpl, key.Public())
	if err != nil {
		return nil, nil, fmt.Errorf("issuing hub server certificate: %w", err)
	}
	keyPEM, err = MarshalKey(key)
	if err != nil {
		return nil, nil, err
	}
	return encodeCertificate(der), keyPEM, nil
}

// normalizeHosts trims, lower-cases and de-duplicates host names, strips the
// brackets of IPv6 literals, and requires at least one.
func normalizeHosts(hosts []string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, h := range hosts {
		h = strings.ToLower(strings.TrimSpace(h))
		h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
		if h == "" || seen[h] {
			continue
		}
		if ip := net.ParseIP(h); ip == nil && strings.ContainsAny(h, ":/ ") {
			return nil, fmt.Errorf("hub server certificate: %q is neither an IP address nor a DNS name (give hosts without port or scheme)", h)
		}
		seen[h] = true
		out = append(out, h)
	}
	if len(out) == 0 {
		return nil, errors.New("hub server certificate: at least one host name or IP address is required")
	}
	return out, nil
}

// SignClientCSR issues an agent's client certificate from its PEM CSR. The
// CSR's signature must verify (the agent holds the key); whatever subject and
// names it asks for are ignored: the certificate names commonName (the agent
// id the hub assigned), allows client authentication only, and is valid for
// ttl (at most until the CA expires), backdated a little for clocks that lag
// the hub's. The hub calls it at enrolment and at each renewal. serial is the certificate's random
// 128-bit serial number in lower-case hex, as Serial reports it.
func (ca *CA) SignClientCSR(csrPEM []byte, commonName string, ttl time.Duration) (certPEM []byte, serial string, notAfter time.Time, err error) {
	if commonName == "" {
		return nil, "", time.Time{}, errors.New("signing client certificate: empty common name")
	}
	if ttl <= 0 {
		return nil, "", time.Time{}, fmt.Errorf("signing client certificate for %s: non-positive lifetime %v", commonName, ttl)
	}
	csr, err := parseCSR(csrPEM)
	if err != nil {
		return nil, "", time.Time{}, fmt.Errorf("signing client certificate for %s: %w", commonName, err)
	}
	now := time.Now()
	notAfter = now.Add(ttl)
	if notAfter.After(ca.cert.NotAfter) {
		notAfter = ca.cert.NotAfter
	}
	tmpl := &x509.Certificate{
		Subject: pkix.Name{CommonName: commonName},
		// Backdated by at most a tenth of the lifetime, so that the agent,
		// which renews when a fraction of NotBefore..NotAfter remains, does
		// not renew a short-lived certificate at once.
		NotBefore:   now.Add(-min(backdate, ttl/10)),
		NotAfter:    notAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := ca.sign(tmpl, csr.PublicKey)
	if err != nil {
		return nil, "", time.Time{}, fmt.Errorf("signing client certificate for %s: %w", commonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, "", time.Time{}, fmt.Errorf("signing client certificate for %s: %w", commonName, err)
	}
	return encodeCertificate(der), Serial(cert), cert.NotAfter, nil
}

// parseCSR decodes a PEM CSR, checks its self-signature, and accepts only key
// types and sizes worth trusting.
func parseCSR(csrPEM []byte) (*x509.CertificateRequest, error) {
	b, _ := pem.Decode(csrPEM)
	if b == nil || b.Type != pemCSR {
		return nil, errors.New("no PEM certificate request found")
	}
	csr, err := x509.ParseCertificateRequest(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parsing certificate request: %w", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("certificate request signature: %w", err)
	}
	switch k := csr.PublicKey.(type) {
	case ed25519.PublicKey:
	case *ecdsa.PublicKey:
		if k.Curve.Params().BitSize < 256 {
			return nil, fmt.Errorf("certificate request has a %d-bit ECDSA key, want at least 256", k.Curve.Params().BitSize)
		}
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return nil, fmt.Errorf("certificate request has a %d-bit RSA key, want at least 2048", k.N.BitLen())
		}
	default:
		return nil, fmt.Errorf("certificate request has an unsupported %T key", k)
	}
	return csr, nil
}

// sign completes tmpl as a leaf certificate with a fresh serial and signs it.
func (ca *CA) sign(tmpl *x509.Certificate, pub crypto.PublicKey) ([]byte, error) {
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial
	tmpl.BasicConstraintsValid = true
	tmpl.IsCA = false
	return x509.CreateCertificate(rand.Reader, tmpl, ca.cert, pub, ca.key)
}

// newSerial returns a random positive serial number of up to 128 bits: random
// so that serials reveal nothing and never collide across hub replicas.
func newSerial() (*big.Int, error) {
	for {
		n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
		if err != nil {
			return nil, fmt.Errorf("generating serial number: %w", err)
		}
		if n.Sign() > 0 {
			return n, nil
		}
	}
}
