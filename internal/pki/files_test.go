package pki_test

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/idsync/idsync/internal/pki"
)

func TestReadPrivateFile(t *testing.T) {
	const content = "s3cr3t-content"
	tests := []struct {
		name     string
		setup    func(t *testing.T, path string)
		wantErr  string // "" for success
		unixOnly bool
	}{
		{name: "0600", setup: func(t *testing.T, p string) { write(t, p, []byte(content), 0o600) }},
		{name: "0400", setup: func(t *testing.T, p string) { write(t, p, []byte(content), 0o400) }},
		{name: "0644", setup: func(t *testing.T, p string) { write(t, p, []byte(content), 0o644) }, wantErr: "(mode 0644): run chmod 600", unixOnly: true},
		{name: "0660", setup: func(t *testing.T, p string) { write(t, p, []byte(content), 0o660) }, wantErr: "group or others", unixOnly: true},
		{name: "0602", setup: func(t *testing.T, p string) { write(t, p, []byte(content), 0o602) }, wantErr: "group or others", unixOnly: true},
		{name: "missing", setup: func(t *testing.T, p string) {}, wantErr: "no such file"},
		{name: "directory", setup: func(t *testing.T, p string) { os.Mkdir(p, 0o700) }, wantErr: "not a regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "secret")
			tt.setup(t, path)
			if tt.unixOnly && runtime.GOOS == "windows" {
				tt.wantErr = ""
			}
			got, err := pki.ReadPrivateFile(path)
			if tt.wantErr == "" {
				if err != nil || string(got) != content {
					t.Fatalf("ReadPrivateFile = %q, %v; want %q, nil", got, err, content)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), path) {
				t.Fatalf("ReadPrivateFile error = %v, want one naming %s and containing %q", err, path, tt.wantErr)
			}
			if strings.Contains(err.Error(), content) {
				t.Errorf("error %q contains the file's content", err)
			}
		})
	}
}
