package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSecretsNotFromFlags: a token or an initial password on the command
// line is refused with a message naming the file form, and the secret
// never reaches the output; the file forms are read.
func TestSecretsNotFromFlags(t *testing.T) {
	const secret = "s3cr3t-on-the-command-line"
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"admin token", []string{"user", "list", "--token", secret}, "--admin-token-file"},
		{"initial password of an app", []string{"app", "add", "ad", "--directory", "corp", "--ou", "OU=x", "--initial-password", secret},
			"directory update DIR --initial-password-file"},
		{"must-change of an app", []string{"app", "update", "ad", "--must-change-password"}, "directory update DIR"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(t.Context(), tc.args, &out, &errOut)
			if code != exitUsage || !strings.Contains(errOut.String(), tc.want) {
				t.Errorf("exit %d, stderr %q; want %d naming %q", code, errOut.String(), exitUsage, tc.want)
			}
			if strings.Contains(out.String()+errOut.String(), secret) {
				t.Errorf("the secret reached the output")
			}
		})
	}
}

func TestReadTokenFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "admin.token")
	if err := os.WriteFile(file, []byte("tok-123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := readTokenFile(file); err != nil || got != "tok-123" {
		t.Errorf("readTokenFile(file) = %q, %v; want tok-123", got, err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := readTokenFile(empty); err == nil || !strings.Contains(err.Error(), "--admin-token-file "+empty+": the file is empty") {
		t.Errorf("readTokenFile(empty) = %v, want the file named as empty", err)
	}
	if _, err := readTokenFile(filepath.Join(dir, "nope")); err == nil || !strings.Contains(err.Error(), "--admin-token-file") {
		t.Errorf("readTokenFile(missing) = %v, want an error naming the flag", err)
	}
}
