package pki

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// Token prefixes. The readable prefix tells an administrator (and a secret
// scanner) what a leaked string is.
const (
	// AdminTokenPrefix starts admin API tokens.
	AdminTokenPrefix = "idsa_"
	// enrollTokenPrefix starts enrolment tokens; the digit is the format
	// version.
	enrollTokenPrefix = "idse1."
)

// secretBytes is the entropy of every secret: 256 bits.
const secretBytes = 32

// ErrMalformedToken is wrapped by every ParseEnrollToken error.
var ErrMalformedToken = errors.New("malformed enrolment token")

// NewSecret returns a new random token, prefix followed by 32 random bytes in
// unpadded base64url, and its hash to store. The token itself is shown once
// and never stored.
func NewSecret(prefix string) (token string, hash []byte) {
	token = prefix + randomSecret()
	return token, HashSecret(token)
}

func randomSecret() string {
	b := make([]byte, secretBytes)
	// crypto/rand.Read never returns an error; it crashes the program if the
	// system's random source fails.
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// HashSecret returns the SHA-256 of a secret, the form in which the hub stores
// it and looks it up. A fast hash is right here, unlike for passwords: the
// secrets are 256 random bits, which no guessing can reach, so slowing each
// guess down would buy nothing.
func HashSecret(s string) []byte {
	sum := sha256.Sum256([]byte(s))
	return sum[:]
}

// SecretMatches reports whether secret hashes to hash, in constant time.
func SecretMatches(secret string, hash []byte) bool {
	return subtle.ConstantTimeCompare(HashSecret(secret), hash) == 1
}

// NewEnrollToken returns a single-use enrolment token for the hub whose CA
// has the given fingerprint, and the hash of its secret part to store. The
// token reads "idse1.<secret>.<fingerprint>": one string carries both what
// the agent proves (the secret) and what it checks (the hub's CA).
func NewEnrollToken(fingerprint string) (token string, hash []byte) {
	secret := randomSecret()
	return enrollTokenPrefix + secret + "." + normalizeFingerprint(fingerprint), HashSecret(secret)
}

// ParseEnrollToken splits an enrolment token into its secret, which the agent
// sends to the hub (which compares HashSecret(secret) with what it stored),
// and the hub CA's fingerprint in lower-case hex. Surrounding white space is
// ignored. Errors wrap ErrMalformedToken and never repeat any part of s.
func ParseEnrollToken(s string) (secret, fingerprint string, err error) {
	s = strings.TrimSpace(s)
	rest, ok := strings.CutPrefix(s, enrollTokenPrefix)
	switch {
	case s == "":
		return "", "", fmt.Errorf("%w: empty", ErrMalformedToken)
	case !ok && strings.HasPrefix(s, "idse"):
		return "", "", fmt.Errorf("%w: unsupported format version (this agent reads %q tokens)", ErrMalformedToken, enrollTokenPrefix)
	case !ok:
		return "", "", fmt.Errorf("%w: it should start with %q (is it an admin token, or truncated?)", ErrMalformedToken, enrollTokenPrefix)
	}
	parts := strings.Split(rest, ".")
	if len(parts) != 2 {
		return "", "", fmt.Errorf("%w: want 3 dot-separated parts, got %d", ErrMalformedToken, len(parts)+1)
	}
	secret, fingerprint = parts[0], strings.ToLower(parts[1])
	if b, err := base64.RawURLEncoding.Strict().DecodeString(secret); err != nil || len(b) != secretBytes {
		return "", "", fmt.Errorf("%w: the secret part is damaged (want %d base64url characters, got %d)",
			ErrMalformedToken, base64.RawURLEncoding.EncodedLen(secretBytes), len(secret))
	}
	if len(fingerprint) != fingerprintLen || !isHex(fingerprint) {
		return "", "", fmt.Errorf("%w: the CA fingerprint part is damaged (want %d hexadecimal characters, got %d characters)",
			ErrMalformedToken, fingerprintLen, len(fingerprint))
	}
	return secret, fingerprint, nil
}
