package pki

import (
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServerCertificateRenewal checks the expiry rule with certificates
// written as if issued earlier.
func TestServerCertificateRenewal(t *testing.T) {
	ca, err := NewCA()
	if err != nil {
		t.Fatal(err)
	}
	hosts := []string{"hub.example.com"}
	now := time.Now()
	tests := []struct {
		name        string
		notAfter    time.Time
		wantReissue bool
	}{
		{name: "expired", notAfter: now.Add(-time.Hour), wantReissue: true},
		{name: "expires in 10 days", notAfter: now.Add(10 * 24 * time.Hour), wantReissue: true},
		{name: "expires in 29 days", notAfter: now.Add(29 * 24 * time.Hour), wantReissue: true},
		{name: "expires in 31 days", notAfter: now.Add(31 * 24 * time.Hour)},
		{name: "expires in 200 days", notAfter: now.Add(200 * 24 * time.Hour)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			certPEM, keyPEM, err := ca.issueServer(hosts, now.Add(-300*24*time.Hour), tt.notAfter)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, serverCertFile), certPEM, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, serverKeyFile), keyPEM, 0o600); err != nil {
				t.Fatal(err)
			}
			old, err := parseCertificate(certPEM)
			if err != nil {
				t.Fatal(err)
			}
			c, err := ca.ServerCertificate(dir, hosts)
			if err != nil {
				t.Fatalf("ServerCertificate: %v", err)
			}
			if reissued := !c.Leaf.Equal(old); reissued != tt.wantReissue {
				t.Errorf("re-issued = %v, want %v", reissued, tt.wantReissue)
			}
			if left := time.Until(c.Leaf.NotAfter); left < renewBefore {
				t.Errorf("certificate returned expires in %v, want at least %v", left, renewBefore)
			}
		})
	}
}

// TestServerCertificateUnreadableKey checks that a key file with loose
// permissions is reported, not silently replaced.
func TestServerCertificateUnreadableKey(t *testing.T) {
	ca, err := NewCA()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, err := ca.ServerCertificate(dir, []string{"localhost"}); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, serverKeyFile), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = ca.ServerCertificate(dir, []string{"localhost"})
	if err == nil || errors.Is(err, errReissue) || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("ServerCertificate with a 0644 key: error = %v, want the permission error", err)
	}
}

// TestNewCAKeyUsage pins the CA's constraints: it signs leaves only.
func TestNewCAKeyUsage(t *testing.T) {
	ca, err := NewCA()
	if err != nil {
		t.Fatal(err)
	}
	c := ca.cert
	if !c.BasicConstraintsValid || !c.IsCA || c.MaxPathLen != 0 || !c.MaxPathLenZero {
		t.Errorf("basic constraints: valid %v CA %v maxPathLen %d zero %v; want a CA that signs leaves only",
			c.BasicConstraintsValid, c.IsCA, c.MaxPathLen, c.MaxPathLenZero)
	}
	if want := x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature; c.KeyUsage != want {
		t.Errorf("KeyUsage = %v, want %v", c.KeyUsage, want)
	}
}
