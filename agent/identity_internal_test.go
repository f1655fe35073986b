package agent

import (
	"crypto/ecdsa"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/idsync/idsync/internal/pki"
)

// enrolled writes an agent identity signed by a new CA beside a config and
// returns the config, the CA and the key.
func enrolled(t *testing.T) (*Config, *pki.CA, *ecdsa.PrivateKey) {
	t.Helper()
	ca, err := pki.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := &Config{dir: dir}
	key, certPEM := issue(t, ca, time.Hour)
	keyPEM, err := pki.MarshalKey(key)
	if err != nil {
		t.Fatal(err)
	}
	keyPath, certPath, caPath := cfg.IdentityPaths()
	for p, b := range map[string][]byte{keyPath: keyPEM, certPath: certPEM, caPath: ca.CertPEM()} {
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return cfg, ca, key
}

func issue(t *testing.T, ca *pki.CA, ttl time.Duration) (*ecdsa.PrivateKey, []byte) {
	t.Helper()
	key, err := pki.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	csr, err := pki.CreateCSR(key, "dc1")
	if err != nil {
		t.Fatal(err)
	}
	certPEM, _, _, err := ca.SignClientCSR(csr, "agent-1", ttl)
	if err != nil {
		t.Fatal(err)
	}
	return key, certPEM
}

// TestIdentityRenewal: install replaces key and certificate; a renewal a
// crash interrupted after the certificate was written is completed on the
// next load; one interrupted before keeps the old identity.
func TestIdentityRenewal(t *testing.T) {
	t.Run("install", func(t *testing.T) {
		cfg, ca, _ := enrolled(t)
		id, err := loadIdentity(cfg)
		if err != nil {
			t.Fatal(err)
		}
		old := id.serial()
		key, certPEM := issue(t, ca, 2*time.Hour)
		if err := id.install(key, certPEM); err != nil {
			t.Fatalf("install: %v", err)
		}
		again, err := loadIdentity(cfg)
		if err != nil {
			t.Fatalf("loading the renewed identity: %v", err)
		}
		if again.serial() == old || again.serial() != id.serial() {
			t.Errorf("after install: serial on disk %s, in memory %s; old %s", again.serial(), id.serial(), old)
		}
		keyPath, _, _ := cfg.IdentityPaths()
		if _, err := os.Stat(pendingKey(keyPath)); !os.IsNotExist(err) {
			t.Errorf("pending key left behind: %v", err)
		}
	})

	t.Run("crash after the certificate was written", func(t *testing.T) {
		cfg, ca, _ := enrolled(t)
		key, certPEM := issue(t, ca, 2*time.Hour)
		keyPEM, err := pki.MarshalKey(key)
		if err != nil {
			t.Fatal(err)
		}
		keyPath, certPath, _ := cfg.IdentityPaths()
		must(t, os.WriteFile(pendingKey(keyPath), keyPEM, 0o600))
		must(t, os.WriteFile(certPath, certPEM, 0o600))
		id, err := loadIdentity(cfg)
		if err != nil {
			t.Fatalf("loadIdentity: %v; want the renewal completed", err)
		}
		if got, _ := os.ReadFile(keyPath); string(got) != string(keyPEM) {
			t.Errorf("agent.key is not the renewed key")
		}
		if _, err := os.Stat(pendingKey(keyPath)); !os.IsNotExist(err) {
			t.Errorf("pending key left behind: %v", err)
		}
		if id.current().Leaf.NotAfter.Sub(time.Now()) < time.Hour+30*time.Minute {
			t.Errorf("loaded certificate expires %v, want the renewed one", id.current().Leaf.NotAfter)
		}
	})

	t.Run("crash before the certificate was written", func(t *testing.T) {
		cfg, _, oldKey := enrolled(t)
		other, err := pki.NewKey()
		must(t, err)
		pending, err := pki.MarshalKey(other)
		must(t, err)
		keyPath, _, _ := cfg.IdentityPaths()
		must(t, os.WriteFile(pendingKey(keyPath), pending, 0o600))
		id, err := loadIdentity(cfg)
		if err != nil {
			t.Fatalf("loadIdentity: %v; want the old identity", err)
		}
		if !id.current().PrivateKey.(*ecdsa.PrivateKey).Equal(oldKey) {
			t.Errorf("loaded key is not the old one")
		}
		if _, err := os.Stat(pendingKey(keyPath)); !os.IsNotExist(err) {
			t.Errorf("stale pending key left behind: %v", err)
		}
	})

	t.Run("certificate of another CA is refused", func(t *testing.T) {
		cfg, _, _ := enrolled(t)
		id, err := loadIdentity(cfg)
		must(t, err)
		other, err := pki.NewCA()
		must(t, err)
		key, certPEM := issue(t, other, time.Hour)
		if err := id.install(key, certPEM); err == nil {
			t.Fatal("install accepted a certificate of another CA")
		}
		_, certPath, _ := cfg.IdentityPaths()
		if got, _ := os.ReadFile(certPath); string(got) == string(certPEM) {
			t.Errorf("the refused certificate was written to %s", filepath.Base(certPath))
		}
	})
}

func TestRenewAt(t *testing.T) {
	cfg, _, _ := enrolled(t)
	id, err := loadIdentity(cfg)
	must(t, err)
	leaf := id.current().Leaf
	life := leaf.NotAfter.Sub(leaf.NotBefore)
	tests := []struct {
		left float64
		want time.Time
	}{
		{1.0 / 3, leaf.NotAfter.Add(-life / 3)},
		{0.5, leaf.NotBefore.Add(life / 2)},
		{0, leaf.NotAfter},
	}
	for _, tt := range tests {
		if got := id.renewAt(tt.left); got.Sub(tt.want).Abs() > time.Millisecond {
			t.Errorf("renewAt(%v) = %v, want %v", tt.left, got, tt.want)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
