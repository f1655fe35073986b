package pki_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/idsync/idsync/internal/pki"
)

func TestLoadOrCreateCA(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	ca, err := pki.LoadOrCreateCA(dir)
	if err != nil {
		t.Fatalf("creating: %v", err)
	}
	for name, want := range map[string]os.FileMode{"ca.key": 0o600, "ca.crt": 0o644, ".": 0o700} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s mode = %v, want %v", name, got, want)
		}
	}

	cert := parseCert(t, ca.CertPEM())
	if !cert.IsCA || cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		t.Errorf("CA certificate: IsCA = %v, KeyUsage = %v, want a signing CA", cert.IsCA, cert.KeyUsage)
	}
	if k, ok := cert.PublicKey.(*ecdsa.PublicKey); !ok || k.Curve != elliptic.P256() {
		t.Errorf("CA key = %T, want ECDSA P-256", cert.PublicKey)
	}
	if life := cert.NotAfter.Sub(cert.NotBefore); life < 10*365*24*time.Hour {
		t.Errorf("CA lifetime = %v, want at least 10 years", life)
	}
	if got, want := ca.Fingerprint(), pki.Fingerprint(cert.Raw); got != want || len(got) != 64 || strings.ToLower(got) != got {
		t.Errorf("Fingerprint() = %q, want %q (64 lower-case hex digits)", got, want)
	}

	again, err := pki.LoadOrCreateCA(dir)
	if err != nil {
		t.Fatalf("loading: %v", err)
	}
	if again.Fingerprint() != ca.Fingerprint() {
		t.Errorf("reloaded CA fingerprint = %s, want %s", again.Fingerprint(), ca.Fingerprint())
	}
}

func TestLoadOrCreateCAErrors(t *testing.T) {
	other, err := pki.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	otherKey, err := other.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	leafPEM, _ := issueLeaf(t, other)
	tests := []struct {
		name    string
		mutate  func(t *testing.T, dir string) // applied to a directory holding a valid CA
		wantErr string
	}{
		{
			name:    "key readable by others",
			mutate:  func(t *testing.T, dir string) { chmod(t, filepath.Join(dir, "ca.key"), 0o644) },
			wantErr: "chmod 600",
		},
		{
			name:    "key readable by group",
			mutate:  func(t *testing.T, dir string) { chmod(t, filepath.Join(dir, "ca.key"), 0o640) },
			wantErr: "ca.key can be read or written by group or others",
		},
		{
			name:    "certificate missing",
			mutate:  func(t *testing.T, dir string) { remove(t, filepath.Join(dir, "ca.crt")) },
			wantErr: "ca.key but not",
		},
		{
			name:    "key missing",
			mutate:  func(t *testing.T, dir string) { remove(t, filepath.Join(dir, "ca.key")) },
			wantErr: "ca.crt but not",
		},
		{
			name:    "key of another CA",
			mutate:  func(t *testing.T, dir string) { write(t, filepath.Join(dir, "ca.key"), otherKey, 0o600) },
			wantErr: "CA key does not match the CA certificate",
		},
		{
			name:    "certificate is not a CA",
			mutate:  func(t *testing.T, dir string) { write(t, filepath.Join(dir, "ca.crt"), leafPEM, 0o644) },
			wantErr: "not a CA certificate",
		},
		{
			name:    "certificate garbage",
			mutate:  func(t *testing.T, dir string) { write(t, filepath.Join(dir, "ca.crt"), []byte("hello"), 0o644) },
			wantErr: "no PEM certificate found",
		},
		{
			name:    "key garbage",
			mutate:  func(t *testing.T, dir string) { write(t, filepath.Join(dir, "ca.key"), []byte("hello"), 0o600) },
			wantErr: "no PEM private key found",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if _, err := pki.LoadOrCreateCA(dir); err != nil {
				t.Fatal(err)
			}
			tt.mutate(t, dir)
			_, err := pki.LoadOrCreateCA(dir)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("LoadOrCreateCA error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestServerCertificate(t *testing.T) {
	ca := newCA(t)
	dir := t.TempDir()
	hosts := []string{"hub.example.com", "127.0.0.1", "[::1]"}
	c, err := ca.ServerCertificate(dir, hosts)
	if err != nil {
		t.Fatalf("ServerCertificate: %v", err)
	}
	leaf := c.Leaf
	if len(c.Certificate) != 2 || !bytes.Equal(c.Certificate[1], parseCert(t, ca.CertPEM()).Raw) {
		t.Fatalf("chain has %d certificates, want the leaf and the CA certificate", len(c.Certificate))
	}
	for _, h := range []string{"hub.example.com", "127.0.0.1", "::1"} {
		if err := leaf.VerifyHostname(h); err != nil {
			t.Errorf("certificate does not cover %s: %v", h, err)
		}
	}
	if got, want := leaf.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}; len(got) != 1 || got[0] != want[0] {
		t.Errorf("ExtKeyUsage = %v, want %v", got, want)
	}
	if life := leaf.NotAfter.Sub(time.Now()); life < 364*24*time.Hour || life > 366*24*time.Hour {
		t.Errorf("server certificate valid for %v, want about a year", life)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: poolOf(t, ca), DNSName: "hub.example.com"}); err != nil {
		t.Errorf("server certificate does not verify against the CA: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "hub.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("hub.key: %v, mode %v; want 0600", err, fi.Mode().Perm())
	}

	tests := []struct {
		name        string
		ca          *pki.CA
		hosts       []string
		wantReissue bool
	}{
		{name: "same hosts are reused", ca: ca, hosts: hosts},
		{name: "subset of hosts is reused", ca: ca, hosts: []string{"HUB.example.com"}},
		{name: "new host is re-issued", ca: ca, hosts: append(hosts, "hub2.example.com"), wantReissue: true},
		{name: "another CA re-issues", ca: newCA(t), hosts: hosts, wantReissue: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			first, err := ca.ServerCertificate(dir, hosts)
			if err != nil {
				t.Fatal(err)
			}
			second, err := tt.ca.ServerCertificate(dir, tt.hosts)
			if err != nil {
				t.Fatal(err)
			}
			reissued := !second.Leaf.Equal(first.Leaf)
			if reissued != tt.wantReissue {
				t.Errorf("re-issued = %v, want %v", reissued, tt.wantReissue)
			}
			for _, h := range tt.hosts {
				if err := second.Leaf.VerifyHostname(strings.Trim(h, "[]")); err != nil {
					t.Errorf("certificate does not cover %s: %v", h, err)
				}
			}
			if _, err := second.Leaf.Verify(x509.VerifyOptions{Roots: poolOf(t, tt.ca)}); err != nil {
				t.Errorf("certificate does not verify against its CA: %v", err)
			}
			onDisk := parseCert(t, read(t, filepath.Join(dir, "hub.crt")))
			if !onDisk.Equal(second.Leaf) {
				t.Errorf("hub.crt on disk is not the certificate returned")
			}
		})
	}
}

func TestServerCertificateErrors(t *testing.T) {
	ca := newCA(t)
	tests := []struct {
		name    string
		hosts   []string
		wantErr string
	}{
		{name: "no hosts", hosts: nil, wantErr: "at least one host"},
		{name: "blank hosts", hosts: []string{" ", ""}, wantErr: "at least one host"},
		{name: "host with port", hosts: []string{"hub.example.com:7443"}, wantErr: "neither an IP address nor a DNS name"},
		{name: "URL", hosts: []string{"https://hub"}, wantErr: "neither an IP address nor a DNS name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ca.ServerCertificate(t.TempDir(), tt.hosts)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("ServerCertificate(%q) error = %v, want one containing %q", tt.hosts, err, tt.wantErr)
			}
		})
	}
}

func TestSignClientCSR(t *testing.T) {
	ca := newCA(t)
	key, err := pki.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	// The CSR asks for more than it may have: another name, SANs, CA powers.
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject:        pkix.Name{CommonName: "admin", Organization: []string{"evil"}},
		DNSNames:       []string{"hub.example.com"},
		IPAddresses:    []net.IP{net.ParseIP("127.0.0.1")},
		EmailAddresses: []string{"root@example.com"},
	}, key)
	if err != nil {
		t.Fatal(err)
	}
	csrPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})

	certPEM, serial, notAfter, err := ca.SignClientCSR(csrPEM, "agent-42", 24*time.Hour)
	if err != nil {
		t.Fatalf("SignClientCSR: %v", err)
	}
	cert := parseCert(t, certPEM)
	checks := []struct {
		name      string
		got, want any
	}{
		{"subject", cert.Subject.String(), "CN=agent-42"},
		{"DNS names", len(cert.DNSNames), 0},
		{"IP addresses", len(cert.IPAddresses), 0},
		{"email addresses", len(cert.EmailAddresses), 0},
		{"IsCA", cert.IsCA, false},
		{"ExtKeyUsage", cert.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}},
		{"serial", serial, pki.Serial(cert)},
		{"notAfter", notAfter.Equal(cert.NotAfter), true},
		{"public key is the CSR's", key.PublicKey.Equal(cert.PublicKey), true},
	}
	for _, c := range checks {
		if g, w := fmt.Sprint(c.got), fmt.Sprint(c.want); g != w {
			t.Errorf("%s = %s, want %s", c.name, g, w)
		}
	}
	if life := time.Until(cert.NotAfter); life < 23*time.Hour || life > 25*time.Hour {
		t.Errorf("certificate valid for %v more, want about 24h", life)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: poolOf(t, ca), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("client certificate does not verify against the CA: %v", err)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: poolOf(t, ca), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err == nil {
		t.Errorf("client certificate verifies for server authentication, want refused")
	}

	// Serials are random 128-bit numbers: distinct, and not small.
	seen := map[string]bool{serial: true}
	for range 20 {
		_, s, _, err := ca.SignClientCSR(csrPEM, "agent-42", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if seen[s] {
			t.Fatalf("serial %s issued twice", s)
		}
		seen[s] = true
		if len(s) > 32 || len(s) < 16 {
			t.Errorf("serial %s has %d hex digits, want a random 128-bit number", s, len(s))
		}
	}

	// The lifetime stops at the CA's own expiry.
	_, _, notAfter, err = ca.SignClientCSR(csrPEM, "agent-42", 100*365*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if caCert := parseCert(t, ca.CertPEM()); notAfter.After(caCert.NotAfter) {
		t.Errorf("notAfter = %v, beyond the CA's %v", notAfter, caCert.NotAfter)
	}
}

// TestSignClientCSRBackdate: a certificate is backdated for lagging clocks,
// by at most a tenth of a short lifetime, so that an agent renewing when a
// third of NotBefore..NotAfter remains does not renew a short-lived one at
// once.
func TestSignClientCSRBackdate(t *testing.T) {
	ca := newCA(t)
	key, err := pki.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	csrPEM, err := pki.CreateCSR(key, "dc1")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		ttl, wantBackdate time.Duration
	}{
		{24 * time.Hour, 5 * time.Minute},
		{10 * time.Minute, time.Minute},
		{10 * time.Second, time.Second},
	}
	for _, tt := range tests {
		certPEM, _, _, err := ca.SignClientCSR(csrPEM, "agent-42", tt.ttl)
		if err != nil {
			t.Fatal(err)
		}
		cert := parseCert(t, certPEM)
		// Certificates hold whole seconds.
		if got := cert.NotAfter.Sub(cert.NotBefore); got < tt.ttl+tt.wantBackdate-time.Second || got > tt.ttl+tt.wantBackdate+time.Second {
			t.Errorf("ttl %v: NotBefore..NotAfter = %v, want about %v", tt.ttl, got, tt.ttl+tt.wantBackdate)
		}
	}
}

func TestSignClientCSRErrors(t *testing.T) {
	ca := newCA(t)
	key, err := pki.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	good, err := pki.CreateCSR(key, "laptop")
	if err != nil {
		t.Fatal(err)
	}
	// Flip a bit of the signature (the CSR's last bytes).
	b, _ := pem.Decode(good)
	tampered := bytes.Clone(b.Bytes)
	tampered[len(tampered)-1] ^= 1
	rsaKey, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	weak, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, rsaKey)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		csr     []byte
		cn      string
		ttl     time.Duration
		wantErr string
	}{
		{name: "bad signature", csr: pemCSR(tampered), cn: "a1", ttl: time.Hour, wantErr: "signature"},
		{name: "not PEM", csr: []byte("hello"), cn: "a1", ttl: time.Hour, wantErr: "no PEM certificate request"},
		{name: "a certificate, not a CSR", csr: ca.CertPEM(), cn: "a1", ttl: time.Hour, wantErr: "no PEM certificate request"},
		{name: "garbage DER", csr: pemCSR([]byte{0x30, 0x03, 1, 2, 3}), cn: "a1", ttl: time.Hour, wantErr: "parsing certificate request"},
		{name: "weak RSA key", csr: pemCSR(weak), cn: "a1", ttl: time.Hour, wantErr: "1024-bit RSA key"},
		{name: "empty common name", csr: good, cn: "", ttl: time.Hour, wantErr: "empty common name"},
		{name: "zero lifetime", csr: good, cn: "a1", ttl: 0, wantErr: "non-positive lifetime"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, _, err := ca.SignClientCSR(tt.csr, tt.cn, tt.ttl)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("SignClientCSR error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestKeyRoundTrip(t *testing.T) {
	key, err := pki.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	pemKey, err := pki.MarshalKey(key)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pki.ParseKey(pemKey)
	if err != nil {
		t.Fatalf("ParseKey: %v", err)
	}
	if !got.Equal(key) {
		t.Errorf("ParseKey(MarshalKey(k)) != k")
	}
	// OpenSSL's "EC PRIVATE KEY" (SEC 1) form, after an "EC PARAMETERS" block.
	sec1, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	openssl := append(pem.EncodeToMemory(&pem.Block{Type: "EC PARAMETERS", Bytes: []byte{6, 8, 42, 134, 72, 206, 61, 3, 1, 7}}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1})...)
	if got, err := pki.ParseKey(openssl); err != nil || !got.Equal(key) {
		t.Errorf("ParseKey(SEC 1) = %v, want the key", err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)})
	if _, err := pki.ParseKey(pkcs1); err == nil || !strings.Contains(err.Error(), "want ECDSA") {
		t.Errorf("ParseKey(RSA) error = %v, want one saying ECDSA is wanted", err)
	}
	if _, err := pki.ParseKey([]byte("not a key")); err == nil {
		t.Errorf("ParseKey(garbage) succeeded, want an error")
	}
}

func TestCreateCSR(t *testing.T) {
	key, err := pki.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	csrPEM, err := pki.CreateCSR(key, "laptop")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(csrPEM)
	if b == nil || b.Type != "CERTIFICATE REQUEST" {
		t.Fatalf("CreateCSR output is not a PEM certificate request")
	}
	csr, err := x509.ParseCertificateRequest(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if err := csr.CheckSignature(); err != nil {
		t.Errorf("CSR signature: %v", err)
	}
	if csr.Subject.CommonName != "laptop" || !key.PublicKey.Equal(csr.PublicKey) {
		t.Errorf("CSR subject %q with key %T, want CN laptop and the agent's key", csr.Subject.CommonName, csr.PublicKey)
	}
}

// Helpers shared by the package's tests.

func newCA(t *testing.T) *pki.CA {
	t.Helper()
	ca, err := pki.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// issueLeaf enrols a fresh agent key with ca and returns its certificate and
// key in PEM.
func issueLeaf(t *testing.T, ca *pki.CA) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := pki.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	csr, err := pki.CreateCSR(key, "agent")
	if err != nil {
		t.Fatal(err)
	}
	certPEM, _, _, err = ca.SignClientCSR(csr, "agent-1", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err = pki.MarshalKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return certPEM, keyPEM
}

func parseCert(t *testing.T, pemBytes []byte) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode(pemBytes)
	if b == nil {
		t.Fatal("no PEM block")
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func poolOf(t *testing.T, ca *pki.CA) *x509.CertPool {
	t.Helper()
	p := x509.NewCertPool()
	p.AddCert(parseCert(t, ca.CertPEM()))
	return p
}

func pemCSR(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

func chmod(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func remove(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}

func write(t *testing.T, path string, data []byte, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, data, mode); err != nil {
		t.Fatal(err)
	}
	chmod(t, path, mode) // exactly mode, whatever the umask
}

func read(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
