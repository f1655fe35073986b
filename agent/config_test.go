package agent_test

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/idsync/idsync/agent"
)

// fixtures copies testdata/config to a temporary directory, giving the
// password files the mode 0600 that git cannot record (public.pw: 0644).
func fixtures(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	entries, err := os.ReadDir(filepath.Join("testdata", "config"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join("testdata", "config", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		mode := os.FileMode(0o644)
		if filepath.Ext(e.Name()) == ".pw" && e.Name() != "public.pw" {
			mode = 0o600
		}
		path := filepath.Join(dir, e.Name())
		if err := os.WriteFile(path, data, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestLoadConfig(t *testing.T) {
	dir := fixtures(t)
	path := filepath.Join(dir, "valid.yaml")
	c, err := agent.LoadConfig(path)
	if err != nil {
		t.Fatalf("LoadConfig: %v", err)
	}
	want := []agent.DirectoryConfig{
		{
			Name:             "corp",
			URL:              "ldaps://dc1.corp.example:636",
			BindDN:           "CN=svc-idsync,OU=Service,DC=corp,DC=example",
			BindPasswordFile: filepath.Join(dir, "bind.pw"), // resolved beside the config
			CAFile:           filepath.Join(dir, "ca.pem"),
		},
		{Name: "lab-2", URL: "ldap://ldap.lab.example", StartTLS: true},
	}
	if c.MetricsListen != "127.0.0.1:9464" {
		t.Errorf("MetricsListen = %q, want %q", c.MetricsListen, "127.0.0.1:9464")
	}
	if c.Version != 1 || c.Hub != "hub.example.com:7443" || c.Path() != path {
		t.Errorf("Version, Hub, Path = %d, %q, %q; want 1, %q, %q", c.Version, c.Hub, c.Path(), "hub.example.com:7443", path)
	}
	if len(c.Directories) != len(want) {
		t.Fatalf("got %d directories, want %d", len(c.Directories), len(want))
	}
	for i := range want {
		if c.Directories[i] != want[i] {
			t.Errorf("directories[%d] = %+v, want %+v", i, c.Directories[i], want[i])
		}
	}
	key, cert, ca := c.IdentityPaths()
	if wk, wc, wca := filepath.Join(dir, "agent.key"), filepath.Join(dir, "agent.crt"), filepath.Join(dir, "hub-ca.crt"); key != wk || cert != wc || ca != wca {
		t.Errorf("IdentityPaths() = %s, %s, %s; want %s, %s, %s", key, cert, ca, wk, wc, wca)
	}
	if d, ok := c.Directory("lab-2"); !ok || d.URL != "ldap://ldap.lab.example" {
		t.Errorf("Directory(lab-2) = %+v, %v; want the second directory", d, ok)
	}
	if _, ok := c.Directory("nope"); ok {
		t.Errorf("Directory(nope) found one, want none")
	}
}

// TestLoadConfigRelativePath checks that a config named relative to the
// working directory still puts its identity files beside it, absolutely.
func TestLoadConfigRelativePath(t *testing.T) {
	dir := fixtures(t)
	t.Chdir(dir)
	c, err := agent.LoadConfig("minimal.yaml")
	if err != nil {
		t.Fatalf("LoadConfig: %v", err)
	}
	if key, _, _ := c.IdentityPaths(); key != filepath.Join(dir, "agent.key") {
		t.Errorf("key path = %s, want %s", key, filepath.Join(dir, "agent.key"))
	}
}

func TestLoadConfigErrors(t *testing.T) {
	dir := fixtures(t)
	// In want, FILE stands for the fixture's path and DIR for its directory;
	// each line is one error.
	tests := []struct {
		fixture  string
		want     string
		unixOnly bool
	}{
		{fixture: "missing.yaml", want: "reading agent config: open FILE: no such file or directory"},
		{fixture: "empty.yaml", want: `FILE: empty; want a YAML mapping starting with "version: 1"`},
		{fixture: "comments-only.yaml", want: `FILE: empty; want a YAML mapping starting with "version: 1"`},
		{fixture: "syntax.yaml", want: "FILE: line 5: mapping values are not allowed in this context"},
		{fixture: "not-mapping.yaml", want: "FILE: line 1: want a mapping of settings (version: 1, hub: …)"},
		{fixture: "two-documents.yaml", want: "FILE: line 6: a second YAML document; the config is one document"},
		{fixture: "duplicate-key.yaml", want: `FILE: line 3: mapping key "hub" already defined at line 2`},
		{fixture: "version-missing.yaml", want: `FILE: version: required; add "version: 1"`},
		{fixture: "version-2.yaml", want: "FILE: line 1: version: unsupported version 2; this agent reads version 1"},
		{fixture: "version-string.yaml", want: "FILE: line 1: version: want the number 1"},
		{fixture: "unknown-field.yaml", want: `FILE: line 3: unknown field "log_level" (known: version, hub, directories, metrics_listen, files)`},
		{fixture: "unknown-directory-field.yaml", want: `FILE: line 7: unknown field "bind_pasword_file" (known: name, url, start_tls, bind_dn, bind_password_file, ca_file)`},
		{fixture: "wrong-type.yaml", want: "FILE: line 3: cannot unmarshal !!str `corp` into a list of directories"},
		{fixture: "hub-missing.yaml", want: "FILE: hub: required"},
		{fixture: "hub-no-port.yaml", want: `FILE: hub: want host:port (e.g. hub.example.com:7443), got "hub.example.com"`},
		{fixture: "hub-scheme.yaml", want: `FILE: hub: want host:port without a scheme, got "https://hub.example.com:7443"`},
		{fixture: "hub-bad-port.yaml", want: `FILE: hub: port must be a number from 1 to 65535, got "99999"`},
		{fixture: "metrics-listen-no-port.yaml", want: `FILE: metrics_listen: want host:port (e.g. 127.0.0.1:9464), got "localhost"`},
		{fixture: "metrics-listen-bad-port.yaml", want: `FILE: metrics_listen: port must be a number from 1 to 65535, got "http"`},
		{fixture: "no-directories.yaml", want: "FILE: directories: at least one directory (or watched folder in files) is required"},
		{fixture: "name-missing.yaml", want: "FILE: directories[0].name: required"},
		{fixture: "name-invalid.yaml", want: `FILE: directories[0].name: must be 1-63 characters of a-z, 0-9 and '-', starting with a letter or digit, got "Corp_1"`},
		{fixture: "name-duplicate.yaml", want: `FILE: directories[1].name: "corp" is already the name of directories[0]`},
		{fixture: "url-missing.yaml", want: "FILE: directories[0].url: required"},
		{fixture: "url-scheme.yaml", want: `FILE: directories[1].url: scheme must be ldap or ldaps, got "http"`},
		{fixture: "url-credentials.yaml", want: "FILE: directories[0].url: must not carry credentials; use bind_dn and bind_password_file"},
		{fixture: "url-path.yaml", want: "FILE: directories[0].url: want scheme://host[:port] only (the hub says what to read)"},
		{fixture: "url-no-host.yaml", want: "FILE: directories[0].url: host required, e.g. ldaps://dc1.corp.example:636"},
		{fixture: "start-tls-ldaps.yaml", want: "FILE: directories[0].start_tls: only with ldap:// URLs (ldaps:// is TLS from the start)"},
		{fixture: "bind-dn-alone.yaml", want: "FILE: directories[0].bind_password_file: required when bind_dn is set"},
		{fixture: "bind-password-alone.yaml", want: "FILE: directories[0].bind_dn: required when bind_password_file is set"},
		{fixture: "password-file-missing.yaml", want: "FILE: directories[0].bind_password_file: open DIR/missing.pw: no such file or directory"},
		{fixture: "password-file-empty.yaml", want: "FILE: directories[0].bind_password_file: DIR/empty.pw is empty"},
		{fixture: "password-file-public.yaml", unixOnly: true, want: "FILE: directories[0].bind_password_file: DIR/public.pw can be read or written by group or others (mode 0644): run chmod 600 DIR/public.pw"},
		{fixture: "ca-file-missing.yaml", want: "FILE: directories[0].ca_file: open DIR/missing.pem: no such file or directory"},
		{fixture: "ca-file-not-pem.yaml", want: "FILE: directories[0].ca_file: no PEM certificate found in DIR/not-a-cert.pem"},
		{fixture: "files-bad.yaml", want: `FILE: files[0].directory: required
FILE: files[0].path: stat DIR/missing-folder: no such file or directory
FILE: files[0].schedule: want a duration of at least 1s such as 15m or 1h, got "often"
FILE: files[0].settle: want a duration such as 1m or 0s, got "-1m"
FILE: files[0].encoding: must be utf-8, windows-1252, iso-8859-1 or iso-8859-15, got "utf-16"
FILE: files[1].directory: must be 1-63 characters of a-z, 0-9 and '-', starting with a letter or digit, got "HR"
FILE: files[1].path: DIR/files-ok.yaml is not a folder
FILE: files[1].schedule: want a duration of at least 1s such as 15m or 1h, got "500ms"`},
		{fixture: "many-errors.yaml", want: `FILE: hub: want host:port (e.g. hub.example.com:7443), got "hub.example.com"
FILE: directories[0].url: scheme must be ldap or ldaps, got "http"
FILE: directories[1].name: "corp" is already the name of directories[0]
FILE: directories[1].start_tls: only with ldap:// URLs (ldaps:// is TLS from the start)
FILE: directories[1].bind_password_file: required when bind_dn is set`},
	}
	for _, tt := range tests {
		t.Run(strings.TrimSuffix(tt.fixture, ".yaml"), func(t *testing.T) {
			if tt.unixOnly && runtime.GOOS == "windows" {
				t.Log("file modes are not checked on Windows; the config loads")
				tt.want = ""
			}
			path := filepath.Join(dir, tt.fixture)
			want := strings.NewReplacer("FILE", path, "DIR", dir).Replace(tt.want)
			_, err := agent.LoadConfig(path)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != want {
				t.Errorf("LoadConfig error:\n got: %s\nwant: %s", got, want)
			}
		})
	}
}

// TestLoadConfigFiles: a config of watched folders only is valid; its
// folder is resolved against the file's directory, and its directory is
// one the agent announces.
func TestLoadConfigFiles(t *testing.T) {
	dir := fixtures(t)
	c, err := agent.LoadConfig(filepath.Join(dir, "files-ok.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	f := c.Files[0]
	if f.Path != dir || f.Every() != 15*time.Minute || f.SettleFor() != agent.DefaultSettle || !f.Full ||
		f.Encoding != "windows-1252" || f.Delimiter != ";" {
		t.Errorf("files[0] = %+v (every %v, settle %v), want %s every 15m, settle 1m, full, windows-1252, ;", f, f.Every(), f.SettleFor(), dir)
	}
	if got := c.DirectoryNames(); len(got) != 1 || got[0] != "hr-csv" {
		t.Errorf("DirectoryNames = %v, want [hr-csv]", got)
	}
}

// TestLoadConfigNoSecrets checks that a URL's credentials stay out of errors.
func TestLoadConfigNoSecrets(t *testing.T) {
	_, err := agent.LoadConfig(filepath.Join(fixtures(t), "url-credentials.yaml"))
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("LoadConfig error = %v, want one without the URL's password", err)
	}
}

func TestBindPassword(t *testing.T) {
	tests := []struct {
		name     string
		content  *string // nil: no file
		mode     os.FileMode
		want     string
		wantErr  string // "" for success
		unixOnly bool
	}{
		{name: "trailing newline", content: ptr("s3cret\n"), mode: 0o600, want: "s3cret"},
		{name: "CRLF", content: ptr("s3cret\r\n"), mode: 0o600, want: "s3cret"},
		{name: "no newline", content: ptr("s3cret"), mode: 0o400, want: "s3cret"},
		{name: "inner spaces kept", content: ptr(" s3 cret \n"), mode: 0o600, want: " s3 cret "},
		{name: "readable by others", content: ptr("s3cret\n"), mode: 0o644, wantErr: "chmod 600", unixOnly: true},
		{name: "readable by group", content: ptr("s3cret\n"), mode: 0o640, wantErr: "group or others", unixOnly: true},
		{name: "empty", content: ptr(""), mode: 0o600, wantErr: "is empty"},
		{name: "only a newline", content: ptr("\n"), mode: 0o600, wantErr: "is empty"},
		{name: "missing", wantErr: "no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.unixOnly && runtime.GOOS == "windows" {
				tt.want, tt.wantErr = "s3cret", ""
			}
			path := filepath.Join(t.TempDir(), "bind.pw")
			if tt.content != nil {
				if err := os.WriteFile(path, []byte(*tt.content), tt.mode); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(path, tt.mode); err != nil {
					t.Fatal(err)
				}
			}
			d := agent.DirectoryConfig{Name: "corp", BindDN: "cn=sync", BindPasswordFile: path}
			got, err := d.BindPassword()
			if tt.wantErr == "" {
				if err != nil || got != tt.want {
					t.Fatalf("BindPassword() = %q, %v; want %q, nil", got, err, tt.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "corp") {
				t.Fatalf("BindPassword() error = %v, want one naming directory corp and %s and containing %q", err, path, tt.wantErr)
			}
			if got != "" || strings.Contains(err.Error(), "s3cret") {
				t.Errorf("BindPassword() leaked the password: %q, %v", got, err)
			}
		})
	}
	if got, err := (agent.DirectoryConfig{Name: "anon"}).BindPassword(); got != "" || err != nil {
		t.Errorf("anonymous BindPassword() = %q, %v; want \"\", nil", got, err)
	}
}

// FuzzLoadConfig checks that no file content panics LoadConfig, and that a
// file it accepts meets the rules. The seeds are the fixtures.
func FuzzLoadConfig(f *testing.F) {
	seeds, err := filepath.Glob(filepath.Join("testdata", "config", "*.yaml"))
	if err != nil || len(seeds) == 0 {
		f.Fatalf("no seed fixtures: %v", err)
	}
	for _, s := range seeds {
		data, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	dir := fixtures(f) // so that relative file names can resolve
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "fuzz.yaml")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := agent.LoadConfig(path)
		if err != nil {
			if !strings.HasPrefix(err.Error(), path+": ") {
				t.Fatalf("error %q does not start with the file name", err)
			}
			return
		}
		if c.Version != 1 || c.Hub == "" || len(c.Directories)+len(c.Files) == 0 {
			t.Fatalf("accepted %+v, which breaks the rules", c)
		}
		for i, f := range c.Files {
			if f.Directory == "" || f.Path == "" || f.Every() < time.Second || f.SettleFor() < 0 {
				t.Fatalf("accepted files[%d] = %+v, which breaks the rules", i, f)
			}
		}
		for i, d := range c.Directories {
			if d.Name == "" || d.URL == "" {
				t.Fatalf("accepted directories[%d] = %+v without a name or URL", i, d)
			}
		}
	})
}

func ptr(s string) *string { return &s }
