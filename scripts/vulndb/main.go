package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/mod/semver"
)

// vulndbModule is the module whose data/osv holds the database's entries.
const vulndbModule = "golang.org/x/vulndb"

func main() {
	cache := flag.String("cache", ".cache/vulndb", "`directory` that holds the built database, one subdirectory per vulndb version")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	dir, err := run(ctx, *cache)
	if err != nil {
		fmt.Fprintln(os.Stderr, "vulndb:", err)
		os.Exit(1)
	}
	fmt.Println(dir)
}

// run returns the database directory for the pinned vulndb version under
// cache, building it first when it is not there.
func run(ctx context.Context, cache string) (string, error) {
	mod, err := download(ctx, vulndbModule)
	if err != nil {
		return "", err
	}
	cache, err = filepath.Abs(cache)
	if err != nil {
		return "", err
	}
	dst := filepath.Join(cache, mod.Version)
	if _, err := os.Stat(dst); err == nil {
		return dst, nil
	}
	modified, err := mod.time()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return "", err
	}
	// Built beside its final place and renamed there: a directory under
	// cache is always a whole database.
	tmp, err := os.MkdirTemp(cache, ".build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	n, err := build(filepath.Join(mod.Dir, "data", "osv"), tmp, modified)
	if err != nil {
		return "", fmt.Errorf("building the database from %s@%s: %w", mod.Path, mod.Version, err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		if _, statErr := os.Stat(dst); statErr != nil {
			return "", err
		}
		// Another build of the same version won the race.
	}
	fmt.Fprintf(os.Stderr, "vulndb: %d entries of %s@%s in %s\n", n, mod.Path, mod.Version, dst)
	if err := prune(cache, mod.Version); err != nil {
		return "", err
	}
	return dst, nil
}

// module is what `go mod download -json` says of a module.
type module struct {
	Path    string
	Version string
	Error   string
	Info    string // the .info file: {"Version", "Time"}
	Dir     string
}

// download fetches path at the version the main module requires (verified
// against go.sum by the go command) and tells where it is.
func download(ctx context.Context, path string) (module, error) {
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, runErr := cmd.Output()
	var m module
	if err := json.Unmarshal(out, &m); err != nil {
		return module{}, fmt.Errorf("go mod download %s: %v %s", path, runErr, strings.TrimSpace(stderr.String()))
	}
	if m.Error != "" {
		return module{}, fmt.Errorf("go mod download %s: %s", path, m.Error)
	}
	if runErr != nil {
		return module{}, fmt.Errorf("go mod download %s: %v %s", path, runErr, strings.TrimSpace(stderr.String()))
	}
	if m.Version == "" || m.Dir == "" {
		return module{}, fmt.Errorf("go mod download %s: no version or directory (is it required in go.mod?)", path)
	}
	return m, nil
}

// time is the module version's commit time, from its .info file.
func (m module) time() (time.Time, error) {
	b, err := os.ReadFile(m.Info)
	if err != nil {
		return time.Time{}, err
	}
	var info struct{ Time time.Time }
	if err := json.Unmarshal(b, &info); err != nil {
		return time.Time{}, fmt.Errorf("%s: %w", m.Info, err)
	}
	if info.Time.IsZero() {
		return time.Time{}, fmt.Errorf("%s: no time", m.Info)
	}
	return info.Time.UTC(), nil
}

// prune removes the databases of other versions from cache.
func prune(cache, keep string) error {
	des, err := os.ReadDir(cache)
	if err != nil {
		return err
	}
	for _, de := range des {
		if de.IsDir() && semver.IsValid(de.Name()) && de.Name() != keep {
			if err := os.RemoveAll(filepath.Join(cache, de.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

// entry is the part of an OSV entry the indexes are made of.
type entry struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
	Aliases  []string  `json:"aliases,omitempty"`
	Affected []struct {
		Package struct {
			Name string `json:"name"`
		} `json:"package"`
		Ranges []osvRange `json:"ranges,omitempty"`
	} `json:"affected"`
}

type osvRange struct {
	Type   string `json:"type"`
	Events []struct {
		Introduced string `json:"introduced,omitempty"`
		Fixed      string `json:"fixed,omitempty"`
	} `json:"events"`
}

// The index records, as golang.org/x/vulndb's internal/database writes them.
type (
	dbMeta struct {
		Modified time.Time `json:"modified"`
	}
	moduleMeta struct {
		Path  string       `json:"path"`
		Vulns []moduleVuln `json:"vulns"`
	}
	moduleVuln struct {
		ID       string    `json:"id"`
		Modified time.Time `json:"modified"`
		Fixed    string    `json:"fixed,omitempty"`
	}
	vulnMeta struct {
		ID       string    `json:"id"`
		Modified time.Time `json:"modified"`
		Aliases  []string  `json:"aliases,omitempty"`
	}
)

// build writes the database of the OSV files in src (named <ID>.json) into
// dst, dating an undated entry at modified, and returns how many entries it
// holds.
func build(src, dst string, modified time.Time) (int, error) {
	files, err := filepath.Glob(filepath.Join(src, "*.json"))
	if err != nil {
		return 0, err
	}
	if len(files) == 0 {
		return 0, fmt.Errorf("no OSV files in %s", src)
	}
	for _, d := range []string{"index", "ID"} {
		if err := os.MkdirAll(filepath.Join(dst, d), 0o755); err != nil {
			return 0, err
		}
	}
	db := dbMeta{}
	modules := map[string]*moduleMeta{}
	var vulns []vulnMeta
	for _, f := range files {
		e, raw, err := readEntry(f, modified)
		if err != nil {
			return 0, err
		}
		if err := writeJSON(filepath.Join(dst, "ID", e.ID+".json"), raw); err != nil {
			return 0, err
		}
		if e.Modified.After(db.Modified) {
			db.Modified = e.Modified
		}
		vulns = append(vulns, vulnMeta{ID: e.ID, Modified: e.Modified, Aliases: e.Aliases})
		for path, fixed := range moduleFixes(e) {
			m := modules[path]
			if m == nil {
				m = &moduleMeta{Path: path, Vulns: []moduleVuln{}}
				modules[path] = m
			}
			m.Vulns = append(m.Vulns, moduleVuln{ID: e.ID, Modified: e.Modified, Fixed: fixed})
		}
	}
	// Glob sorts, so vulns and each module's vulns are in ID order.
	mods := make([]*moduleMeta, 0, len(modules))
	for _, m := range modules {
		mods = append(mods, m)
	}
	slices.SortFunc(mods, func(a, b *moduleMeta) int { return strings.Compare(a.Path, b.Path) })
	for name, v := range map[string]any{"db.json": db, "modules.json": mods, "vulns.json": vulns} {
		if err := writeJSON(filepath.Join(dst, "index", name), v); err != nil {
			return 0, err
		}
	}
	return len(files), nil
}

// readEntry reads the OSV file f, checks that it is named after its ID,
// and returns it with the whole entry as it goes into the database: every
// field kept, "modified" set to modified when the file has none.
func readEntry(f string, modified time.Time) (entry, map[string]json.RawMessage, error) {
	b, err := os.ReadFile(f)
	if err != nil {
		return entry{}, nil, err
	}
	var e entry
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &e); err != nil {
		return entry{}, nil, fmt.Errorf("%s: %w", f, err)
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return entry{}, nil, fmt.Errorf("%s: %w", f, err)
	}
	if e.ID == "" || filepath.Base(f) != e.ID+".json" {
		return entry{}, nil, fmt.Errorf("%s: an OSV file is named <id>.json, its id is %q", f, e.ID)
	}
	if e.Modified.IsZero() {
		e.Modified = modified
		if raw["modified"], err = json.Marshal(modified); err != nil {
			return entry{}, nil, err
		}
	}
	return e, raw, nil
}

// moduleFixes gives each module e affects the version from which none is
// affected ("" for none). An entry may name a module in several affected
// blocks (the standard library, one per package or release branch): it is
// listed once, with the latest of their fixes, or none when one block has
// none. (vuln.go.dev lists it once per block, and govulncheck then prints
// every trace twice.)
func moduleFixes(e entry) map[string]string {
	fixes := map[string]string{}
	for _, a := range e.Affected {
		fixed := latestFixed(a.Ranges)
		prev, seen := fixes[a.Package.Name]
		switch {
		case !seen:
			fixes[a.Package.Name] = fixed
		case prev == "" || fixed == "":
			fixes[a.Package.Name] = ""
		case semver.Compare("v"+prev, "v"+fixed) < 0:
			fixes[a.Package.Name] = fixed
		}
	}
	return fixes
}

// latestFixed is the version from which no version is affected according
// to ranges, or "" when there is none (no fix, or reintroduced after the
// last fix): golang.org/x/vulndb's osvutils.LatestFixed, which govulncheck
// trusts to skip entries of versions at or past it.
func latestFixed(ranges []osvRange) string {
	// As there, "" (no fix yet) sorts before every version.
	less := func(a, b string) bool { return semver.Compare("v"+a, "v"+b) < 0 }
	latest := ""
	for _, r := range ranges {
		if r.Type != "SEMVER" {
			continue
		}
		for _, e := range r.Events {
			if e.Fixed != "" && less(latest, e.Fixed) {
				latest = e.Fixed
			}
		}
		for _, e := range r.Events {
			if e.Introduced != "" && e.Introduced != "0" && less(latest, e.Introduced) {
				latest = ""
				break
			}
		}
	}
	return latest
}

// writeJSON writes v as compact JSON to a new file.
func writeJSON(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return err
	}
	return nil
}
