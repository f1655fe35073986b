package main

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// stamp dates the testdata's undated entries.
var stamp = time.Date(2026, 11, 5, 23, 49, 57, 0, time.UTC)

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// TestBuild builds the database of four entries from golang.org/x/vulndb
// (testdata/osv, copied as they are there) and checks every index.
func TestBuild(t *testing.T) {
	dst := t.TempDir()
	n, err := build("testdata/osv", dst, stamp)
	if err != nil {
		t.Fatal(err)
	}
	if n != 4 {
		t.Errorf("build: %d entries, want 4", n)
	}

	var db dbMeta
	readJSON(t, filepath.Join(dst, "index", "db.json"), &db)
	if !db.Modified.Equal(stamp) {
		t.Errorf("db.json modified %v, want %v", db.Modified, stamp)
	}

	var modules []moduleMeta
	readJSON(t, filepath.Join(dst, "index", "modules.json"), &modules)
	wantModules := []moduleMeta{
		// Fixed in 0.16.4, reintroduced in 0.17.0: no version is safe.
		{Path: "github.com/submariner-io/submariner-operator", Vulns: []moduleVuln{
			{ID: "GO-2024-2866", Modified: stamp},
		}},
		{Path: "golang.org/x/net", Vulns: []moduleVuln{
			{ID: "GO-2022-0969", Modified: stamp, Fixed: "0.0.0-20220906165146-f3363e06e74c"},
			{ID: "GO-2023-2102", Modified: stamp, Fixed: "0.17.0"},
			{ID: "GO-2026-6617", Modified: stamp, Fixed: "0.60.0"},
		}},
		// Fixed in two release branches: the later fix counts.
		{Path: "stdlib", Vulns: []moduleVuln{
			{ID: "GO-2022-0969", Modified: stamp, Fixed: "1.19.1"},
			{ID: "GO-2023-2102", Modified: stamp, Fixed: "1.21.3"},
			// Two affected blocks (net/http before 1.27, its http2 in
			// 1.27): listed once, with the later fix.
			{ID: "GO-2026-6617", Modified: stamp, Fixed: "1.27.2"},
		}},
	}
	if !reflect.DeepEqual(modules, wantModules) {
		t.Errorf("modules.json:\n got %+v\nwant %+v", modules, wantModules)
	}

	var vulns []vulnMeta
	readJSON(t, filepath.Join(dst, "index", "vulns.json"), &vulns)
	wantVulns := []vulnMeta{
		{ID: "GO-2022-0969", Modified: stamp, Aliases: []string{"CVE-2022-27664", "GHSA-69cg-p879-7622"}},
		{ID: "GO-2023-2102", Modified: stamp, Aliases: []string{"CVE-2023-39325", "GHSA-4374-p667-p6c8"}},
		{ID: "GO-2024-2866", Modified: stamp, Aliases: []string{"CVE-2024-5042", "GHSA-2rhx-qhxp-5jpw"}},
		{ID: "GO-2026-6617", Modified: stamp, Aliases: []string{"CVE-2026-97032"}},
	}
	if !reflect.DeepEqual(vulns, wantVulns) {
		t.Errorf("vulns.json:\n got %+v\nwant %+v", vulns, wantVulns)
	}

	// An entry is the OSV file with its date set, every other field kept
	// (govulncheck reads the symbols under ecosystem_specific).
	for _, v := range wantVulns {
		var src, got map[string]any
		readJSON(t, filepath.Join("testdata", "osv", v.ID+".json"), &src)
		readJSON(t, filepath.Join(dst, "ID", v.ID+".json"), &got)
		if got["modified"] != stamp.Format(time.RFC3339) {
			t.Errorf("%s modified %v, want %s", v.ID, got["modified"], stamp.Format(time.RFC3339))
		}
		delete(src, "modified")
		delete(got, "modified")
		if !reflect.DeepEqual(got, src) {
			t.Errorf("%s differs from its OSV file beyond modified", v.ID)
		}
	}
}

// TestBuildKeepsDates: an entry that has a date keeps it.
func TestBuildKeepsDates(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	dated := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	writeOSV(t, src, "GO-2024-0001", `"modified": "2024-01-02T03:04:05Z", "affected": []`)
	writeOSV(t, src, "GO-2023-0001", `"modified": "2023-01-02T03:04:05Z", "affected": []`)
	if _, err := build(src, dst, stamp); err != nil {
		t.Fatal(err)
	}
	var db dbMeta
	readJSON(t, filepath.Join(dst, "index", "db.json"), &db)
	if !db.Modified.Equal(dated) {
		t.Errorf("db.json modified %v, want the newest entry's %v", db.Modified, dated)
	}
}

func writeOSV(t *testing.T, dir, name, fields string) {
	t.Helper()
	id := strings.TrimSuffix(name, ".json")
	body := `{"schema_version": "1.3.1", "id": "` + id + `", "details": "test", ` + fields + `}`
	if err := os.WriteFile(filepath.Join(dir, name+".json"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestBuildRefuses(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string)
		want  string
	}{
		{"no entries", func(*testing.T, string) {}, "no OSV files"},
		{"file not named after its id", func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, "GO-2024-0002.json"), []byte(`{"id": "GO-2024-0003", "affected": []}`), 0o644); err != nil {
				t.Fatal(err)
			}
		}, `its id is "GO-2024-0003"`},
		{"not JSON", func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, "GO-2024-0004.json"), []byte(`{`), 0o644); err != nil {
				t.Fatal(err)
			}
		}, "GO-2024-0004.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := t.TempDir()
			tt.setup(t, src)
			_, err := build(src, t.TempDir(), stamp)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("build: error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// semverRange is a SEMVER range of events "introduced V" or "fixed V".
func semverRange(events ...string) osvRange {
	r := osvRange{Type: "SEMVER"}
	for _, e := range events {
		kind, v, _ := strings.Cut(e, " ")
		ev := struct {
			Introduced string `json:"introduced,omitempty"`
			Fixed      string `json:"fixed,omitempty"`
		}{}
		if kind == "introduced" {
			ev.Introduced = v
		} else {
			ev.Fixed = v
		}
		r.Events = append(r.Events, ev)
	}
	return r
}

func TestLatestFixed(t *testing.T) {
	tests := []struct {
		name   string
		ranges []osvRange
		want   string
	}{
		{"no ranges", nil, ""},
		{"never fixed", []osvRange{semverRange("introduced 0")}, ""},
		{"fixed", []osvRange{semverRange("introduced 0", "fixed 1.2.3")}, "1.2.3"},
		{"two branches", []osvRange{semverRange("introduced 0", "fixed 1.20.10", "introduced 1.21.0-0", "fixed 1.21.3")}, "1.21.3"},
		{"events out of order", []osvRange{semverRange("introduced 1.21.0-0", "fixed 1.21.3", "introduced 0", "fixed 1.20.10")}, "1.21.3"},
		{"reintroduced after the fix", []osvRange{semverRange("introduced 0", "fixed 0.16.4", "introduced 0.17.0")}, ""},
		{"pseudo-version", []osvRange{semverRange("introduced 0", "fixed 0.0.0-20220906165146-f3363e06e74c")}, "0.0.0-20220906165146-f3363e06e74c"},
		{"not semver", []osvRange{{Type: "ECOSYSTEM"}}, ""},
		{"over two ranges", []osvRange{semverRange("introduced 0", "fixed 1.1.0"), semverRange("introduced 2.0.0", "fixed 2.0.1")}, "2.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := latestFixed(tt.ranges); got != tt.want {
				t.Errorf("latestFixed: got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestModuleFixes(t *testing.T) {
	block := func(module string, ranges ...osvRange) string {
		b, err := json.Marshal(map[string]any{"package": map[string]string{"name": module}, "ranges": ranges})
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	tests := []struct {
		name   string
		blocks []string
		want   map[string]string
	}{
		{"one block each", []string{
			block("stdlib", semverRange("introduced 0", "fixed 1.26.9")),
			block("golang.org/x/net", semverRange("introduced 0", "fixed 0.60.0")),
		}, map[string]string{"stdlib": "1.26.9", "golang.org/x/net": "0.60.0"}},
		{"two blocks, the later fix", []string{
			block("stdlib", semverRange("introduced 1.27.0-0", "fixed 1.27.2")),
			block("stdlib", semverRange("introduced 0", "fixed 1.26.9")),
		}, map[string]string{"stdlib": "1.27.2"}},
		{"two blocks, one never fixed", []string{
			block("stdlib", semverRange("introduced 0", "fixed 1.26.9")),
			block("stdlib"),
		}, map[string]string{"stdlib": ""}},
		{"two blocks, the first never fixed", []string{
			block("stdlib", semverRange("introduced 0")),
			block("stdlib", semverRange("introduced 0", "fixed 1.26.9")),
		}, map[string]string{"stdlib": ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e entry
			if err := json.Unmarshal([]byte(`{"id": "GO-2026-0001", "affected": [`+strings.Join(tt.blocks, ",")+`]}`), &e); err != nil {
				t.Fatal(err)
			}
			if got := moduleFixes(e); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("moduleFixes: got %v, want %v", got, tt.want)
			}
		})
	}
}

// TestPinned builds the database of the vulndb version go.mod pins, as
// `make lint` does, and finds known entries in it; the second run reuses
// it and a database of another version is removed.
func TestPinned(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the whole pinned database")
	}
	cache := t.TempDir()
	old := filepath.Join(cache, "v0.0.0-20200101000000-000000000000")
	if err := os.MkdirAll(old, 0o755); err != nil {
		t.Fatal(err)
	}
	dir, err := run(t.Context(), cache)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(old); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the database of another version is still there (%v)", err)
	}

	var modules []moduleMeta
	readJSON(t, filepath.Join(dir, "index", "modules.json"), &modules)
	ids := map[string][]string{}
	for _, m := range modules {
		for _, v := range m.Vulns {
			ids[m.Path] = append(ids[m.Path], v.ID)
		}
	}
	for _, want := range []struct{ module, id string }{
		{"stdlib", "GO-2022-0969"},           // net/http: HTTP/2 after Shutdown
		{"stdlib", "GO-2023-2102"},           // HTTP/2 rapid reset
		{"golang.org/x/net", "GO-2023-2102"}, // the same in x/net/http2
		{"toolchain", "GO-2021-0068"},        // cmd/go: cgo code injection on Windows
	} {
		if !slices.Contains(ids[want.module], want.id) {
			t.Errorf("modules.json: no %s under %s", want.id, want.module)
		}
		if _, err := os.Stat(filepath.Join(dir, "ID", want.id+".json")); err != nil {
			t.Errorf("entry %s: %v", want.id, err)
		}
	}
	if len(ids["stdlib"]) < 100 {
		t.Errorf("modules.json: %d stdlib entries, want the hundreds there are", len(ids["stdlib"]))
	}

	before, err := os.Stat(filepath.Join(dir, "index", "db.json"))
	if err != nil {
		t.Fatal(err)
	}
	again, err := run(t.Context(), cache)
	if err != nil {
		t.Fatal(err)
	}
	after, err := os.Stat(filepath.Join(again, "index", "db.json"))
	if err != nil {
		t.Fatal(err)
	}
	if again != dir || !after.ModTime().Equal(before.ModTime()) {
		t.Errorf("second run: %s (db.json %v), want %s untouched (%v)", again, after.ModTime(), dir, before.ModTime())
	}
}

// TestGovulncheckOffline runs the govulncheck go.mod pins, with every HTTP
// proxy pointing at a closed port and GOPROXY off, against a database built
// here that says net/url.Parse is vulnerable, on a throwaway module that
// calls it: govulncheck must find it through the file database alone.
func TestGovulncheckOffline(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a go build of govulncheck: runs without -short (make test)")
	}
	tmp := t.TempDir()
	goroot, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(tmp, "govulncheck")
	if out, err := exec.Command("go", "build", "-o", bin, "golang.org/x/vuln/cmd/govulncheck").CombinedOutput(); err != nil {
		t.Fatalf("go build govulncheck: %v\n%s", err, out)
	}

	osv, db := filepath.Join(tmp, "osv"), filepath.Join(tmp, "db")
	mod := filepath.Join(tmp, "throwaway")
	for _, d := range []string{osv, mod} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// govulncheck's text output needs database_specific (it panics without).
	writeOSV(t, osv, "GO-2099-0001", `"summary": "test: url.Parse", "database_specific": {"url": "https://example.com/GO-2099-0001"}, "affected": [{
		"package": {"name": "stdlib", "ecosystem": "Go"},
		"ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}]}],
		"ecosystem_specific": {"imports": [{"path": "net/url", "symbols": ["Parse"]}]}}]`)
	// Imported, not called: not reported at the default (symbol) level.
	writeOSV(t, osv, "GO-2099-0002", `"summary": "test: url.QueryUnescape", "database_specific": {"url": "https://example.com/GO-2099-0002"}, "affected": [{
		"package": {"name": "stdlib", "ecosystem": "Go"},
		"ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}]}],
		"ecosystem_specific": {"imports": [{"path": "net/url", "symbols": ["QueryUnescape"]}]}}]`)
	if _, err := build(osv, db, stamp); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"go.mod": "module example.com/throwaway\n\ngo 1.22\n",
		"main.go": `package main

import (
	"fmt"
	"net/url"
)

func main() {
	u, err := url.Parse("https://example.com/")
	fmt.Println(u, err)
}
`,
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(mod, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	cmd := exec.Command(bin, "-C", mod, "-db", "file://"+db, "./...")
	cmd.Env = append(os.Environ(),
		"PATH="+filepath.Join(strings.TrimSpace(string(goroot)), "bin")+string(os.PathListSeparator)+os.Getenv("PATH"),
		"GOTOOLCHAIN=local", "GOPROXY=off", "GOFLAGS=-mod=mod",
		"HTTPS_PROXY=http://127.0.0.1:1", "HTTP_PROXY=http://127.0.0.1:1", "NO_PROXY=",
		"https_proxy=http://127.0.0.1:1", "http_proxy=http://127.0.0.1:1", "no_proxy=",
	)
	out, err := cmd.CombinedOutput()
	t.Logf("govulncheck:\n%s", out)
	var exit *exec.ExitError
	// govulncheck exits 3 when it finds a vulnerability.
	if !errors.As(err, &exit) || exit.ExitCode() != 3 {
		t.Fatalf("govulncheck: %v, want exit status 3\n%s", err, out)
	}
	if !strings.Contains(string(out), "GO-2099-0001") || !strings.Contains(string(out), "url.Parse") {
		t.Errorf("govulncheck did not report GO-2099-0001 (url.Parse):\n%s", out)
	}
	if strings.Contains(string(out), "Vulnerability #2") {
		t.Errorf("govulncheck reported more than the called symbol's vulnerability:\n%s", out)
	}
}
