package passwords

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
)

// digestIterations is PBKDF2's work per digest: a leaked history is slow
// to guess from, and checking a password against a user's few digests
// stays in milliseconds.
const digestIterations = 20000

// Digest is a salted, slow digest of a password the hub set: what the
// not-reused rule compares against. It cannot give the password back.
type Digest struct {
	Salt []byte
	Sum  []byte
}

// NewDigest returns the digest of password with a fresh salt.
func NewDigest(password string) (Digest, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return Digest{}, fmt.Errorf("salting a password digest: %w", err)
	}
	return digest(password, salt)
}

func digest(password string, salt []byte) (Digest, error) {
	sum, err := pbkdf2.Key(sha256.New, password, salt, digestIterations, 32)
	if err != nil {
		return Digest{}, fmt.Errorf("digesting a password: %w", err)
	}
	return Digest{Salt: salt, Sum: sum}, nil
}

// Matches reports whether password is the one d was made of.
func (d Digest) Matches(password string) bool {
	other, err := digest(password, d.Salt)
	return err == nil && hmac.Equal(other.Sum, d.Sum)
}

// AnyMatches reports whether password is one of the digests'.
func AnyMatches(ds []Digest, password string) bool {
	for _, d := range ds {
		if d.Matches(password) {
			return true
		}
	}
	return false
}
