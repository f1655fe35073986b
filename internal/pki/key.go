package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
)

// PEM block types written and read by this package.
const (
	pemCertificate = "CERTIFICATE"
	pemCSR         = "CERTIFICATE REQUEST"
	pemPrivateKey  = "PRIVATE KEY" // PKCS #8
	pemECKey       = "EC PRIVATE KEY"
	pemRSAKey      = "RSA PRIVATE KEY"
)

// NewKey generates an ECDSA P-256 private key: the agent's identity key, also
// used for the hub's CA and server certificate.
func NewKey() (*ecdsa.PrivateKey, error) {
	return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
}

// CreateCSR returns a PEM certificate signing request for key. name is
// informational (the hub names the certificate after the agent id it assigns).
func CreateCSR(key *ecdsa.PrivateKey, name string) ([]byte, error) {
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: name},
	}, key)
	if err != nil {
		return nil, fmt.Errorf("creating certificate request: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemCSR, Bytes: der}), nil
}

// MarshalKey encodes key as a PKCS #8 PEM block, to be written with mode 0600.
func MarshalKey(key *ecdsa.PrivateKey) ([]byte, error) {
	return marshalSigner(key)
}

// ParseKey decodes an ECDSA private key from PEM (PKCS #8 or SEC 1).
func ParseKey(pemBytes []byte) (*ecdsa.PrivateKey, error) {
	s, err := parseSigner(pemBytes)
	if err != nil {
		return nil, err
	}
	k, ok := s.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("private key is %T, want ECDSA", s)
	}
	return k, nil
}

func marshalSigner(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encoding private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemPrivateKey, Bytes: der}), nil
}

// parseSigner decodes the first private key block in pemBytes, in any of the
// encodings OpenSSL writes, so that an administrator may bring a CA key.
func parseSigner(pemBytes []byte) (crypto.Signer, error) {
	for rest := pemBytes; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return nil, errors.New("no PEM private key found")
		}
		var (
			k   any
			err error
		)
		switch b.Type {
		case pemPrivateKey:
			k, err = x509.ParsePKCS8PrivateKey(b.Bytes)
		case pemECKey:
			k, err = x509.ParseECPrivateKey(b.Bytes)
		case pemRSAKey:
			k, err = x509.ParsePKCS1PrivateKey(b.Bytes)
		default:
			continue // e.g. "EC PARAMETERS" that OpenSSL writes first
		}
		if err != nil {
			return nil, fmt.Errorf("parsing %s: %w", b.Type, err)
		}
		s, ok := k.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("unsupported private key type %T", k)
		}
		return s, nil
	}
}

// parseCertificate decodes the first certificate in pemBytes.
func parseCertificate(pemBytes []byte) (*x509.Certificate, error) {
	for rest := pemBytes; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return nil, errors.New("no PEM certificate found")
		}
		if b.Type == pemCertificate {
			return x509.ParseCertificate(b.Bytes)
		}
	}
}

func encodeCertificate(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: pemCertificate, Bytes: der})
}
