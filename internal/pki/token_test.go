package pki_test

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/idsync/idsync/internal/pki"
)

func TestNewSecret(t *testing.T) {
	seen := map[string]bool{}
	for range 50 {
		token, hash := pki.NewSecret(pki.AdminTokenPrefix)
		rest, ok := strings.CutPrefix(token, "idsa_")
		if !ok {
			t.Fatalf("token does not start with idsa_")
		}
		if b, err := base64.RawURLEncoding.DecodeString(rest); err != nil || len(b) != 32 {
			t.Fatalf("token body is not 32 bytes of base64url (err %v, %d bytes)", err, len(b))
		}
		if seen[token] {
			t.Fatal("NewSecret returned the same token twice")
		}
		seen[token] = true
		if got := pki.HashSecret(token); string(got) != string(hash) || len(hash) != 32 {
			t.Fatalf("hash is not the SHA-256 HashSecret gives")
		}
		if !pki.SecretMatches(token, hash) {
			t.Fatal("SecretMatches(token, its hash) = false")
		}
		if pki.SecretMatches(token+"x", hash) || pki.SecretMatches(token, hash[:31]) {
			t.Fatal("SecretMatches accepts another secret or a short hash")
		}
	}
}

func TestEnrollTokenRoundTrip(t *testing.T) {
	ca := newCA(t)
	token, hash := pki.NewEnrollToken(ca.Fingerprint())
	if !strings.HasPrefix(token, "idse1.") {
		t.Errorf("token does not start with idse1.")
	}
	for _, variant := range []string{token, "  " + token + "\n"} {
		secret, fp, err := pki.ParseEnrollToken(variant)
		if err != nil {
			t.Fatalf("ParseEnrollToken: %v", err)
		}
		if fp != ca.Fingerprint() {
			t.Errorf("fingerprint = %s, want %s", fp, ca.Fingerprint())
		}
		if !pki.SecretMatches(secret, hash) {
			t.Errorf("the parsed secret does not match the stored hash")
		}
	}
	// A fingerprint printed by other tools is normalised.
	upper, _ := pki.NewEnrollToken(colons(strings.ToUpper(ca.Fingerprint())))
	if _, fp, err := pki.ParseEnrollToken(upper); err != nil || fp != ca.Fingerprint() {
		t.Errorf("ParseEnrollToken(upper-case token) = %s, %v; want %s", fp, err, ca.Fingerprint())
	}
}

func TestParseEnrollToken(t *testing.T) {
	secret := strings.Repeat("A", 43)
	fp := strings.Repeat("ab", 32)
	tests := []struct {
		name       string
		token      string
		wantSecret string
		wantFP     string
		wantErr    string // "" for success
	}{
		{name: "valid", token: "idse1." + secret + "." + fp, wantSecret: secret, wantFP: fp},
		{name: "upper-case fingerprint", token: "idse1." + secret + "." + strings.ToUpper(fp), wantSecret: secret, wantFP: fp},
		{name: "surrounding white space", token: "\t idse1." + secret + "." + fp + "\r\n", wantSecret: secret, wantFP: fp},
		{name: "empty", token: "", wantErr: "empty"},
		{name: "blank", token: "   ", wantErr: "empty"},
		{name: "admin token", token: "idsa_" + secret, wantErr: `it should start with "idse1."`},
		{name: "future version", token: "idse2." + secret + "." + fp, wantErr: "unsupported format version"},
		{name: "two parts", token: "idse1." + secret, wantErr: "want 3 dot-separated parts, got 2"},
		{name: "four parts", token: "idse1." + secret + "." + fp + ".x", wantErr: "want 3 dot-separated parts, got 4"},
		{name: "secret too short", token: "idse1." + secret[:42] + "." + fp, wantErr: "secret part is damaged (want 43 base64url characters, got 42)"},
		{name: "secret too long", token: "idse1." + secret + "AAAA." + fp, wantErr: "secret part is damaged"},
		{name: "secret not base64url", token: "idse1." + secret[:42] + "+." + fp, wantErr: "secret part is damaged"},
		{name: "secret padded", token: "idse1." + secret[:42] + "=." + fp, wantErr: "secret part is damaged"},
		{name: "secret empty", token: "idse1.." + fp, wantErr: "secret part is damaged"},
		{name: "fingerprint truncated", token: "idse1." + secret + "." + fp[:63], wantErr: "CA fingerprint part is damaged (want 64 hexadecimal characters, got 63 characters)"},
		{name: "fingerprint not hex", token: "idse1." + secret + "." + fp[:63] + "g", wantErr: "CA fingerprint part is damaged"},
		{name: "fingerprint with colons", token: "idse1." + secret + "." + colons(fp), wantErr: "CA fingerprint part is damaged"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gotSecret, gotFP, err := pki.ParseEnrollToken(tt.token)
			if tt.wantErr == "" {
				if err != nil || gotSecret != tt.wantSecret || gotFP != tt.wantFP {
					t.Fatalf("ParseEnrollToken = %q, %q, %v; want %q, %q, nil", gotSecret, gotFP, err, tt.wantSecret, tt.wantFP)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, pki.ErrMalformedToken) {
				t.Fatalf("ParseEnrollToken error = %v, want ErrMalformedToken containing %q", err, tt.wantErr)
			}
			if gotSecret != "" || gotFP != "" {
				t.Errorf("on error returned %q, %q; want empty strings", gotSecret, gotFP)
			}
			if strings.Contains(err.Error(), secret[:20]) {
				t.Errorf("error %q repeats the secret", err)
			}
		})
	}
}

// FuzzParseEnrollToken checks that no input panics, that accepted tokens have
// the documented shape, and that errors never repeat the input. Its seed
// corpus is in testdata/fuzz/FuzzParseEnrollToken.
func FuzzParseEnrollToken(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		secret, fp, err := pki.ParseEnrollToken(s)
		if err != nil {
			if !errors.Is(err, pki.ErrMalformedToken) {
				t.Fatalf("error %v does not wrap ErrMalformedToken", err)
			}
			// Error texts hold no run of 20 characters without a space, so
			// finding one of the input's means the input leaked.
			for _, part := range strings.Split(s, ".") {
				if len(part) >= 20 && !strings.ContainsAny(part, " \t\r\n") && strings.Contains(err.Error(), part) {
					t.Fatalf("error %q repeats part of the input", err)
				}
			}
			return
		}
		if b, derr := base64.RawURLEncoding.DecodeString(secret); derr != nil || len(b) != 32 {
			t.Fatalf("accepted a secret that is not 32 bytes of base64url")
		}
		if len(fp) != 64 || strings.ToLower(fp) != fp || strings.Trim(fp, "0123456789abcdef") != "" {
			t.Fatalf("accepted fingerprint %q, want 64 lower-case hex digits", fp)
		}
	})
}
