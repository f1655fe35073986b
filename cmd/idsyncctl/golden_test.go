package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from what the commands print now")

// TestGoldenOutput runs every command that reads against a fake hub and
// compares what it prints, in each output format, with testdata/golden:
// scripts and the e2e tests parse this output, so it changes only on
// purpose (go test -run TestGoldenOutput -update, then read the diff).
func TestGoldenOutput(t *testing.T) {
	_, conf := startFakeHub(t)
	// Tables show local time.
	local := time.Local
	time.Local = time.UTC
	t.Cleanup(func() { time.Local = local })

	commands := [][]string{
		{"directory", "list"},
		{"directory", "show", "corp"},
		{"directory", "show", "hr"},
		{"directory", "show", "ldap"},
		{"agent", "list"},
		{"agent", "revoke", "ag-2"},
		{"import", "list"},
		{"import", "show", "42"},
		{"import", "confirm", "42"},
		{"import", "cancel", "42"},
		{"user", "list"},
		{"user", "show", "ada"},
		{"group", "list"},
		{"group", "show", "eng"},
		{"group", "rule", "list"},
		{"group", "rule", "show", "engineers"},
		{"group", "rule", "show", "contractors"},
		{"group", "rule", "preview", "engineers"},
		{"group", "rule", "apply", "contractors"},
		{"group", "rule", "remove", "engineers"},
		{"group", "rule", "confirm", "contractors"},
		{"group", "rule", "cancel", "contractors"},
		{"app", "list"},
		{"app", "show", "crm"},
		{"app", "show", "ad-accounts"},
		{"app", "show", "wiki"},
		{"app", "remove", "wiki"},
		{"app", "test", "crm"},
		{"app", "test", "wiki"},
		{"app", "import", "crm"},
		{"app", "import", "wiki"},
		{"app", "import", "crm", "--groups"},
		{"app", "pause", "crm", "--reason", "maintenance"},
		{"app", "resume", "crm"},
		{"app", "accounts", "crm"},
		{"push", "list"},
		{"task", "list"},
		{"task", "resolve", "4"},
		{"admin", "token", "list"},
		{"admin", "token", "revoke", "crm-team"},
		{"audit", "list"},
		{"report", "users"},
		{"user", "deactivate", "ada", "--reason", "left early"},
		{"user", "deactivate", "ada", "--in-directory"},
		{"user", "reactivate", "ada", "--in-directory"},
		{"user", "restore", "ada"},
		{"user", "list", "--status", "deprovisioned"},
		{"user", "create", "--directory", "staff", "--username", "con", "--email", "con@example.org", "--field", "title=Contractor"},
		{"group", "create", "crew", "--directory", "staff"},
		{"group", "add-member", "crew", "--user", "con"},
		{"group", "remove-member", "crew", "--user", "con", "--user-directory", "staff"},
		{"user", "suspend", "ada", "--reason", "on leave"},
		{"user", "unsuspend", "ada"},
		{"user", "update", "con", "--field", "title=Lead"},
		{"user", "delete", "con", "--directory", "staff"},
		{"report", "upcoming-purges"},
		{"directory", "show", "hr-csv"},
		{"import", "start", "--directory", "hr-csv", "--file", "testdata/export.csv", "--full", "--dry-run"},
		{"import", "start", "--directory", "hr-csv", "--file", "testdata/export.csv", "--full"},
		{"notify", "list"},
		{"notify", "show", "ops-mail"},
		{"notify", "show", "pager"},
		{"notify", "test", "ops-mail"},
		{"notify", "retry", "ops-mail"},
	}
	type commandLine struct {
		args   []string
		format string
	}
	var lines []commandLine
	for _, args := range commands {
		lines = append(lines, commandLine{args, "table"}, commandLine{args, "json"})
		if args[0] == "audit" || args[0] == "report" {
			lines = append(lines, commandLine{args, "csv"})
		}
	}
	// Command lines that are refused.
	lines = append(lines, commandLine{[]string{"app", "show"}, "table"}, commandLine{[]string{"app", "list", "extra"}, "table"},
		commandLine{[]string{"group", "show", "a", "b"}, "table"}, commandLine{[]string{"app", "list"}, "csv"},
		commandLine{[]string{"audit", "list", "--since", "soon"}, "table"}, commandLine{[]string{"import", "show"}, "json"},
		commandLine{[]string{"user", "create", "--directory", "staff"}, "table"},
		commandLine{[]string{"user", "create", "--directory", "staff", "--username", "x", "--field", "title"}, "table"},
		commandLine{[]string{"group", "add-member", "crew"}, "table"})
	for _, l := range lines {
		args, format := l.args, l.format
		name := strings.ReplaceAll(strings.Join(append(slices.Clone(args), format), "_"), "/", "_")
		t.Run(name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(t.Context(), append(args, "--config", conf, "-o", format), &out, &errOut)
			got := fmt.Sprintf("exit %d\n--- stdout\n%s--- stderr\n%s", code, out.String(), errOut.String())
			path := filepath.Join("testdata", "golden", name+".txt")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to write it)", err)
			}
			if got != string(want) {
				t.Errorf("idsyncctl %s -o %s printed:\n%s\nwant (%s):\n%s", strings.Join(args, " "), format, got, path, want)
			}
		})
	}
}
