package adminconf_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/idsync/idsync/internal/adminconf"
)

func TestWriteRead(t *testing.T) {
	tests := []struct {
		name string
		conf adminconf.Conf
	}{
		{"as the hub writes it", adminconf.Conf{Version: 1, Hub: "hub.example.com:7443", CA: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n", Token: "idsa_x"}},
		// yaml.v3 writes this CA as a block scalar it cannot read back.
		{"a line starting with a tab", adminconf.Conf{Version: 1, Hub: "h:1", CA: "\ta\n", Token: "\tb\n"}},
		{"not UTF-8", adminconf.Conf{Version: 1, Hub: "h:1", CA: "\ta\n", Token: "\xff"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "admin.conf")
			if err := adminconf.Write(path, tt.conf); err != nil {
				t.Fatalf("Write: %v", err)
			}
			if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("Stat = %v, %v; want mode 0600", fi, err)
			}
			got, err := adminconf.Read(path)
			if err != nil || *got != tt.conf {
				t.Fatalf("Read = %+v, %v; want %+v", got, err, tt.conf)
			}
		})
	}
}

func TestReadErrors(t *testing.T) {
	tests := []struct{ name, data, wantErr string }{
		{"unknown field", "version: 1\nhub: h:1\nca: x\nextra: 1\n", "field extra not found"},
		{"version", "version: 2\nhub: h:1\nca: x\n", "version: must be 1"},
		{"hub", "version: 1\nca: x\n", "hub: required"},
		{"ca", "version: 1\nhub: h:1\n", "ca: required"},
		{"syntax", "version: [1\n", "did not find expected"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "admin.conf")
			if err := os.WriteFile(path, []byte(tt.data), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := adminconf.Read(path)
			if err == nil || !strings.HasPrefix(err.Error(), path+": ") || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Read error = %v, want one starting with the path and containing %q", err, tt.wantErr)
			}
		})
	}
}

// FuzzRead checks Read on any file content: no panic, an error that names
// the file, and a file it accepts that meets the rules and survives Write
// and Read unchanged. Seeds: testdata/fuzz/FuzzRead and the f.Add calls.
func FuzzRead(f *testing.F) {
	f.Add([]byte("# idsyncctl configuration\nversion: 1\nhub: hub.example.com:7443\nca: |\n  -----BEGIN CERTIFICATE-----\n  MIIB\n  -----END CERTIFICATE-----\ntoken: idsa_abc\n"))
	f.Add([]byte("version: 1\nhub: h:1\nca: x\nextra: 1\n"))
	f.Add([]byte("{version: 1, hub: \"h:1\", ca: \"\\xff\"}"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "admin.conf")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := adminconf.Read(path)
		if err != nil {
			if !strings.HasPrefix(err.Error(), path+": ") {
				t.Fatalf("error %q does not start with the file name", err)
			}
			return
		}
		if c.Version != 1 || c.Hub == "" || c.CA == "" {
			t.Fatalf("accepted %+v, which breaks the rules", c)
		}
		again := filepath.Join(dir, "again.conf")
		if err := adminconf.Write(again, *c); err != nil {
			t.Fatalf("Write(%+v): %v", c, err)
		}
		back, err := adminconf.Read(again)
		if err != nil || *back != *c {
			t.Fatalf("written and read back: %+v, %v; want %+v", back, err, c)
		}
	})
}
