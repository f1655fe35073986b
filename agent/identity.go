package agent

import (
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"time"

	"github.com/idsync/idsync/internal/atomicfile"
	"github.com/idsync/idsync/internal/pki"
)

// identity is the agent's key, client certificate and hub CA, as written at
// enrolment and replaced at each renewal. Every new connection to the hub
// presents the current certificate.
type identity struct {
	keyPath, certPath, caPath string
	caPEM                     []byte

	mu   sync.Mutex
	cert *tls.Certificate // Leaf set
}

// pendingKey is where a renewed key waits while its certificate is written:
// key and certificate live in two files, and a crash between the two writes
// must not leave a certificate without its key.
func pendingKey(keyPath string) string { return keyPath + ".next" }

// loadIdentity reads the identity written at enrolment or by the last
// renewal, completing a renewal that a crash interrupted.
func loadIdentity(cfg *Config) (*identity, error) {
	keyPath, certPath, caPath := cfg.IdentityPaths()
	id := &identity{keyPath: keyPath, certPath: certPath, caPath: caPath}
	missing := func(p string, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s is missing: enrol this agent first with `idsync-agent enroll`", p)
		}
		return err
	}
	keyPEM, err := pki.ReadPrivateFile(keyPath)
	if err != nil {
		return nil, missing(keyPath, err)
	}
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, missing(certPath, err)
	}
	if id.caPEM, err = os.ReadFile(caPath); err != nil {
		return nil, missing(caPath, err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	pending := pendingKey(keyPath)
	if err != nil {
		// The certificate may be a renewed one whose key is still pending.
		next, perr := pki.ReadPrivateFile(pending)
		if perr != nil {
			return nil, fmt.Errorf("agent identity in %s and %s: %w", certPath, keyPath, err)
		}
		if cert, err = tls.X509KeyPair(certPEM, next); err != nil {
			return nil, fmt.Errorf("agent identity in %s: matches neither %s nor %s: %w", certPath, keyPath, pending, err)
		}
		if err := atomicfile.WriteFile(keyPath, next, 0o600); err != nil {
			return nil, fmt.Errorf("completing the certificate renewal: %w", err)
		}
	}
	if err := os.Remove(pending); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("removing %s: %w", pending, err)
	}
	id.cert = &cert
	return id, nil
}

// current returns the certificate new connections present.
func (id *identity) current() *tls.Certificate {
	id.mu.Lock()
	defer id.mu.Unlock()
	return id.cert
}

// agentID is the certificate's common name, the id the hub assigned.
func (id *identity) agentID() string { return id.current().Leaf.Subject.CommonName }

// tlsConfig returns the mutual-TLS configuration for dialling the hub.
func (id *identity) tlsConfig(serverName string) (*tls.Config, error) {
	tc, err := pki.RotatingClientTLSConfig(id.current, id.caPEM, serverName)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", id.caPath, err)
	}
	return tc, nil
}

// renewAt is when the current certificate should be renewed: when the
// fraction left of its lifetime remains.
func (id *identity) renewAt(left float64) time.Time {
	leaf := id.current().Leaf
	life := leaf.NotAfter.Sub(leaf.NotBefore)
	return leaf.NotAfter.Add(-time.Duration(float64(life) * left))
}

// install checks a renewed certificate (issued by the hub's CA to this agent
// for key, for client authentication) and makes it current: the key goes to
// a pending file, the certificate replaces the old one (the commit point),
// then the key replaces the old key. Each write is atomic; loadIdentity
// completes a renewal a crash interrupted.
func (id *identity) install(key *ecdsa.PrivateKey, certPEM []byte) error {
	keyPEM, err := pki.MarshalKey(key)
	if err != nil {
		return err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return fmt.Errorf("renewed certificate: %w", err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(id.caPEM)
	if _, err := cert.Leaf.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return fmt.Errorf("renewed certificate does not verify against the hub CA: %w", err)
	}
	if got, want := cert.Leaf.Subject.CommonName, id.agentID(); got != want {
		return fmt.Errorf("renewed certificate names agent %q, want %q", got, want)
	}
	pending := pendingKey(id.keyPath)
	if err := atomicfile.WriteFile(pending, keyPEM, 0o600); err != nil {
		return err
	}
	if err := atomicfile.WriteFile(id.certPath, certPEM, 0o600); err != nil {
		return err
	}
	if err := atomicfile.WriteFile(id.keyPath, keyPEM, 0o600); err != nil {
		return err
	}
	if err := os.Remove(pending); err != nil {
		return fmt.Errorf("removing %s: %w", pending, err)
	}
	id.mu.Lock()
	id.cert = &cert
	id.mu.Unlock()
	return nil
}

// serial is the current certificate's serial, as the hub records it.
func (id *identity) serial() string { return pki.Serial(id.current().Leaf) }
