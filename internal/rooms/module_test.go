package rooms

import (
	"bytes"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"testing"
)

const module = "github.com/idsync/idsync"

// sqlDrivers are what the agent must not link: it keeps no sync state.
var sqlDrivers = []string{"database/sql", "modernc.org/sqlite/...", "github.com/jackc/pgx/..."}

// roomsTable is the "never" column of ARCHITECTURE.md's rooms table: the
// doc.go of every package a pattern covers must say it never imports these,
// and the check then holds it to that like to the rest of its doc.
var roomsTable = []struct {
	packages string
	never    []string
}{
	{"ldapsync", []string{"google.golang.org/grpc/...", "google.golang.org/protobuf/...", "proto/...", "server/..."}},
	{"agent", append([]string{"server/...", "installer"}, sqlDrivers...)},
	{"cmd/idsync-agent", append([]string{"server/..."}, sqlDrivers...)},
	{"server/...", []string{"agent", "ldapsync"}},
	{"installer", []string{"agent"}},
}

// TestModule checks every package of the module against its doc.go, for
// each system the binaries are built for.
func TestModule(t *testing.T) {
	failures := map[string][]string{} // message → the systems it holds on
	for _, goos := range []string{"linux", "windows"} {
		cmd := exec.Command("go", "list", "-e", "-deps",
			"-json=ImportPath,Dir,Standard,DepOnly,Imports,Deps,Module,Error", module+"/...")
		cmd.Env = append(cmd.Environ(), "GOOS="+goos, "CGO_ENABLED=0")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("GOOS=%s go list: %v\n%s", goos, err, stderr.Bytes())
		}
		pkgs, err := Decode(bytes.NewReader(out))
		if err != nil {
			t.Fatal(err)
		}
		// The check proves nothing if go list saw nothing: the agent alone
		// links well over fifty packages.
		i := slices.IndexFunc(pkgs, func(p Package) bool { return p.ImportPath == module+"/cmd/idsync-agent" })
		if i < 0 || len(pkgs[i].Deps) < 50 {
			t.Fatalf("GOOS=%s: go list did not list cmd/idsync-agent and its dependencies: the check would prove nothing", goos)
		}
		root := pkgs[i].Module.Dir + "/"

		var errs []error
		rule := func(p Package) (*Rule, error) {
			r, err := ReadRule(p.Dir)
			if err == nil {
				errs = append(errs, pinned(strings.TrimPrefix(p.ImportPath, module+"/"), r)...)
			}
			return r, err
		}
		errs = append(errs, Check(module, pkgs, rule)...)
		for _, err := range errs {
			msg := strings.ReplaceAll(err.Error(), root, "")
			failures[msg] = append(failures[msg], goos)
		}
	}
	msgs := make([]string, 0, len(failures))
	for msg := range failures {
		msgs = append(msgs, msg)
	}
	sort.Strings(msgs)
	for _, msg := range msgs {
		t.Errorf("GOOS=%s: %s", strings.Join(failures[msg], ","), msg)
	}
}

// pinned returns the rules of the rooms table that the doc of pkg leaves out.
func pinned(pkg string, r *Rule) []error {
	var errs []error
	for _, room := range roomsTable {
		base, tree := strings.CutSuffix(room.packages, "/...")
		if pkg != base && !(tree && strings.HasPrefix(pkg, base+"/")) {
			continue
		}
		for _, n := range room.never {
			if !slices.Contains(r.Never, n) {
				errs = append(errs, &missingError{r, n})
			}
		}
	}
	return errs
}

type missingError struct {
	rule  *Rule
	never string
}

func (e *missingError) Error() string {
	return e.rule.Pos + " does not say it never imports `" + e.never +
		"`, as ARCHITECTURE.md's rooms table wants:\n\t" + e.rule.Text
}
