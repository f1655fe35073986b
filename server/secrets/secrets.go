package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"runtime"

	"github.com/idsync/idsync/internal/atomicfile"
)

// KeyFile is the key's file name in the data directory.
const KeyFile = "secrets.key"

// version prefixes every ciphertext, for a later change of algorithm.
const version byte = 1

// Box seals and opens secrets.
type Box struct{ aead cipher.AEAD }

// LoadOrCreate reads the key at path, creating it (32 random bytes, 0600)
// when missing. A key file readable by group or others is refused.
func LoadOrCreate(path string) (*Box, error) {
	key, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		key = make([]byte, 32)
		rand.Read(key)
		if err := atomicfile.WriteFile(path, key, 0o600); err != nil {
			return nil, fmt.Errorf("writing the secrets key %s: %w", path, err)
		}
	case err != nil:
		return nil, fmt.Errorf("reading the secrets key: %w", err)
	default:
		if fi, err := os.Stat(path); err == nil && runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
			return nil, fmt.Errorf("secrets key %s is readable by group or others (mode %v): chmod 600 it", path, fi.Mode().Perm())
		}
	}
	return New(key)
}

// New returns a box for a 32-byte key.
func New(key []byte) (*Box, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("secrets key: %d bytes, want 32", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Box{aead: aead}, nil
}

// Seal encrypts a secret; context binds the ciphertext to its owner (an
// app's name), so it cannot be moved to another row. An empty secret seals
// to nil.
func (b *Box) Seal(secret []byte, context string) []byte {
	if len(secret) == 0 {
		return nil
	}
	nonce := make([]byte, b.aead.NonceSize())
	rand.Read(nonce)
	out := append([]byte{version}, nonce...)
	return b.aead.Seal(out, nonce, secret, []byte(context))
}

// Open decrypts what Seal made for the same context.
func (b *Box) Open(sealed []byte, context string) ([]byte, error) {
	if len(sealed) == 0 {
		return nil, nil
	}
	n := b.aead.NonceSize()
	if len(sealed) < 1+n || sealed[0] != version {
		return nil, errors.New("secret: not sealed by this hub")
	}
	plain, err := b.aead.Open(nil, sealed[1:1+n], sealed[1+n:], []byte(context))
	if err != nil {
		return nil, errors.New("secret: cannot be opened with this hub's key (another data directory's key, or tampered)")
	}
	return plain, nil
}
