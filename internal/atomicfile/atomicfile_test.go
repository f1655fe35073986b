package atomicfile_test

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/idsync/idsync/internal/atomicfile"
)

func TestWriteFile(t *testing.T) {
	tests := []struct {
		name     string
		existing []byte      // content already at the path; nil for none
		oldPerm  os.FileMode // its mode
		data     []byte
		perm     os.FileMode
	}{
		{name: "new private file", data: []byte("secret\n"), perm: 0o600},
		{name: "new public file", data: []byte("cert\n"), perm: 0o644},
		{name: "empty file", data: []byte{}, perm: 0o600},
		{name: "replaces content", existing: []byte("old content, longer than new"), oldPerm: 0o600, data: []byte("new"), perm: 0o600},
		{name: "narrows permissions of an existing file", existing: []byte("old"), oldPerm: 0o644, data: []byte("key"), perm: 0o600},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "file")
			if tt.existing != nil {
				if err := os.WriteFile(path, tt.existing, tt.oldPerm); err != nil {
					t.Fatal(err)
				}
			}
			if err := atomicfile.WriteFile(path, tt.data, tt.perm); err != nil {
				t.Fatalf("WriteFile: %v", err)
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tt.data) {
				t.Errorf("content = %q, want %q", got, tt.data)
			}
			if runtime.GOOS != "windows" {
				fi, err := os.Stat(path)
				if err != nil {
					t.Fatal(err)
				}
				if got := fi.Mode().Perm(); got != tt.perm {
					t.Errorf("perm = %v, want %v", got, tt.perm)
				}
			}
			assertOnlyFile(t, dir, "file")
		})
	}
}

func TestWriteFileErrors(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(t *testing.T, dir string) string // returns the path to write
		wantErr string
	}{
		{
			name:    "directory missing",
			setup:   func(t *testing.T, dir string) string { return filepath.Join(dir, "missing", "file") },
			wantErr: "no such file or directory",
		},
		{
			name: "target is a directory",
			setup: func(t *testing.T, dir string) string {
				p := filepath.Join(dir, "sub")
				if err := os.Mkdir(p, 0o700); err != nil {
					t.Fatal(err)
				}
				return p
			},
			wantErr: "not a regular file",
		},
		{
			name: "target is a symlink",
			setup: func(t *testing.T, dir string) string {
				p := filepath.Join(dir, "link")
				if err := os.Symlink(filepath.Join(dir, "elsewhere"), p); err != nil {
					t.Fatal(err)
				}
				return p
			},
			wantErr: "not a regular file",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := tt.setup(t, dir)
			err := atomicfile.WriteFile(path, []byte("x"), 0o600)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), path) {
				t.Fatalf("WriteFile(%s) error = %v, want one naming the path and containing %q", path, err, tt.wantErr)
			}
		})
	}
}

// assertOnlyFile checks that no temporary file was left behind in dir.
func assertOnlyFile(t *testing.T, dir, name string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) != 1 || names[0] != name {
		t.Errorf("directory holds %q, want only %q", names, name)
	}
}
