package secrets

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSealOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), KeyFile)
	box, err := LoadOrCreate(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v (%v), want 0600", fi.Mode().Perm(), err)
	}
	secret := []byte("scim-bearer-token-123")
	sealed := box.Seal(secret, "app:hr")
	if bytes.Contains(sealed, secret) {
		t.Fatal("the sealed form contains the secret")
	}
	got, err := box.Open(sealed, "app:hr")
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("Open = %q, %v; want the secret", got, err)
	}
	// The same key file opens it again; another app's context does not.
	again, err := LoadOrCreate(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := again.Open(sealed, "app:hr"); err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("reloaded key: Open = %q, %v", got, err)
	}
	if _, err := again.Open(sealed, "app:other"); err == nil {
		t.Fatal("a secret sealed for one app opened for another")
	}
	other, _ := LoadOrCreate(filepath.Join(t.TempDir(), KeyFile))
	if _, err := other.Open(sealed, "app:hr"); err == nil || strings.Contains(err.Error(), string(secret)) {
		t.Fatalf("another key: %v; want a refusal without the secret", err)
	}
	sealed[len(sealed)-1] ^= 1
	if _, err := box.Open(sealed, "app:hr"); err == nil {
		t.Fatal("a tampered secret opened")
	}
}

func TestLooseKeyFileRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), KeyFile)
	if _, err := LoadOrCreate(path); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreate(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("loose key file: %v; want a refusal saying chmod 600", err)
	}
}
