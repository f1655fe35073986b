//go:build linux

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/idsync/idsync/internal/devstack"
)

// The csv tests (issue 16, bulk import from files) import HR exports as an
// admin would, with idsyncctl and the real binaries, from the fixtures of
// server/csvimport; and let an agent watching a folder send the newest
// file of it, with its own identity and no admin token.

const hrFixtures = "../server/csvimport/testdata/"

// fileRunJSON is a run as `import list -o json` prints it, with who
// started it.
type fileRunJSON struct {
	runJSON
	Trigger string `json:"trigger"`
}

func (s *stack) fileRuns(directory string) []fileRunJSON {
	s.t.Helper()
	var runs []fileRunJSON
	s.ctlJSON(&runs, "import", "list", "--directory", directory)
	return runs
}

// TestCSVImport: a csv directory, a dry run that changes nothing, a full
// import of a BambooHR export (BOM, CRLF, a status column), the next
// day's export swept through the safeguard, a Windows-1252 export with
// semicolons, and a file with bad rows and one that is not the export.
func TestCSVImport(t *testing.T) {
	s := newStack(t)
	s.step("directory add", func(t *testing.T) {
		out := s.mustCtl("directory", "add", "hr-csv", "--kind", "csv", "--map", "username=Login", "--map", "email=Work Email",
			"--map", "given_name=First Name", "--map", "family_name=Last Name", "--map", "department=Department",
			"--map", "title=Job Title", "--id-column", "Employee ID", "--status-column", "Employment Status",
			"--active-values", "Active,On Leave")
		for _, want := range []string{"kind", "csv", "id column", "Employee ID", "status column",
			"Employment Status (active: Active, On Leave; other values suspend)", "column username", "Login"} {
			if !strings.Contains(out, want) {
				t.Errorf("directory add printed:\n%s\nwant %q in it", out, want)
			}
		}
	})
	s.step("dry run", func(t *testing.T) {
		out := s.mustCtl("import", "start", "--directory", "hr-csv", "--file", hrFixtures+"bamboohr-bom.csv", "--full", "--dry-run")
		for _, want := range []string{"dry run: nothing was changed", "would create", "5", "would be created:", "ajohnson", "eoconnor"} {
			if !strings.Contains(out, want) {
				t.Errorf("dry run printed:\n%s\nwant %q in it", out, want)
			}
		}
		if n := len(s.users("hr-csv")); n != 0 || len(s.fileRuns("hr-csv")) != 0 {
			t.Errorf("after a dry run: %d users, %d runs; want none", n, len(s.fileRuns("hr-csv")))
		}
	})
	s.step("full import", func(t *testing.T) {
		var run runJSON
		s.ctlJSON(&run, "import", "start", "--directory", "hr-csv", "--file", hrFixtures+"bamboohr-bom.csv", "--full", "--wait")
		if run.State != "completed" || run.Created != 5 || run.Errors != 0 || run.Kind != "full" {
			t.Fatalf("run %+v, want a completed full run that created 5", run)
		}
		users := s.users("hr-csv")
		if u := users["cdiaz"]; u.FamilyName != "Díaz" || u.ExternalID != "1003" || u.Status != "active" {
			t.Errorf("cdiaz = %+v, want Díaz, id 1003, active (On Leave is active)", u)
		}
		if u := users["dkim"]; u.Status != "suspended" {
			t.Errorf("dkim = %s, want suspended (Terminated is not an active value)", u.Status)
		}
		if u := users["eoconnor"]; u.Title != "Director, Brand" {
			t.Errorf("eoconnor's title = %q, want the quoted field", u.Title)
		}
	})
	s.step("next day", func(t *testing.T) {
		out := s.mustCtl("import", "start", "--directory", "hr-csv", "--file", hrFixtures+"bamboohr-bom-next-day.csv", "--full", "--dry-run")
		for _, want := range []string{"would be created:\n  fnakamura", "would be updated:\n  ajohnson\n\n", "would be deprovisioned:\n  bsmith"} {
			if !strings.Contains(out, want) {
				t.Errorf("dry run printed:\n%s\nwant %q in it", out, want)
			}
		}
		var run runJSON
		s.ctlJSON(&run, "import", "start", "--directory", "hr-csv", "--file", hrFixtures+"bamboohr-bom-next-day.csv", "--full", "--wait")
		if run.State != "completed" || run.Created != 1 || run.Updated != 1 || run.Deprovisioned != 1 {
			t.Fatalf("run %+v, want completed: 1 created, 1 updated (On Leave to Active changes nothing), 1 deprovisioned", run)
		}
		if u := s.users("hr-csv")["bsmith"]; u.Status != "deprovisioned" {
			t.Errorf("bsmith = %s, want deprovisioned (absent from a full import)", u.Status)
		}
		out = s.mustCtl("directory", "update", "hr-csv", "--active-values", "Active,On Leave,Sabbatical")
		if !strings.Contains(out, "Employment Status (active: Active, On Leave, Sabbatical; other values suspend)") {
			t.Errorf("directory update printed:\n%s\nwant the new active values", out)
		}
	})
	s.step("windows-1252", func(t *testing.T) {
		s.mustCtl("directory", "add", "hr-de", "--kind", "csv", "--map", "username=Benutzername", "--map", "given_name=Vorname",
			"--map", "family_name=Nachname", "--map", "email=E-Mail", "--id-column", "Personalnummer")
		var run runJSON
		s.ctlJSON(&run, "import", "start", "--directory", "hr-de", "--file", hrFixtures+"ultipro-1252-semicolon.csv",
			"--encoding", "windows-1252", "--delimiter", ";", "--wait")
		if run.State != "completed" || run.Created != 4 || run.Kind != "incremental" {
			t.Fatalf("run %+v, want a completed run (not full) that created 4", run)
		}
		if u := s.users("hr-de")["zoezbek"]; u.GivenName != "Zoë" || u.FamilyName != "Özbek" {
			t.Errorf("zoezbek = %+v, want Zoë Özbek", u)
		}
	})
	s.step("bad rows", func(t *testing.T) {
		s.mustCtl("directory", "add", "hr-bad", "--kind", "csv", "--map", "username=Login", "--map", "email=Work Email",
			"--id-column", "Employee ID")
		var run runJSON
		s.ctlJSON(&run, "import", "start", "--directory", "hr-bad", "--file", hrFixtures+"bad-rows.csv", "--wait")
		if run.State != "completed" || run.Created != 17 || run.Errors != 4 {
			t.Fatalf("run %+v, want completed: 17 created, 4 errors", run)
		}
		out := s.mustCtl("import", "show", run.ID)
		for _, want := range []string{"bad-rows.csv:4: no id", "bad-rows.csv:7: duplicate id \"5002\": first on line 3",
			"bad-rows.csv:10: 4 fields, the header has 3", "bad-rows.csv:13: column \"Login\" is not valid text"} {
			if !strings.Contains(out, want) {
				t.Errorf("import show printed:\n%s\nwant %q in it", out, want)
			}
		}
	})
	s.step("not the export", func(t *testing.T) {
		r := s.ctl("import", "start", "--directory", "hr-csv", "--file", hrFixtures+"no-header.csv", "--full", "--wait")
		if r.Code != 1 || !strings.Contains(r.Stdout, `the header has no column "Login" (username)`) ||
			!strings.Contains(r.Stdout, "nothing was applied") {
			t.Errorf("import of a file without header: exit %d\n%s%s\nwant exit 1, the run failed naming the column", r.Code, r.Stdout, r.Stderr)
		}
		r = s.ctl("import", "start", "--directory", "hr-csv", "--full", "--wait")
		if r.Code == 0 || !strings.Contains(r.Stderr, "is a csv directory: import a file into it") {
			t.Errorf("import start without --file: exit %d: %s, want refused, naming --file", r.Code, r.Stderr)
		}
		if u := s.users("hr-csv"); u["ajohnson"].Status != "active" || len(u) != 6 {
			t.Errorf("after failed imports: %d users, ajohnson %s; want 6, active", len(u), u["ajohnson"].Status)
		}
	})
}

// TestCSVWatchedFolder: an agent enrolled for a csv directory watches a
// folder holding several exports and sends the newest over its stream, on
// its schedule, with no admin token; a newer file dropped later (renamed
// into place, as an SFTP client does) is sent too, once; a file of a
// directory the agent is not enrolled for is refused.
func TestCSVWatchedFolder(t *testing.T) {
	s := newStack(t)
	s.mustCtl("directory", "add", "hr-csv", "--kind", "csv", "--map", "username=Login", "--map", "email=Work Email",
		"--id-column", "Employee ID", "--status-column", "Employment Status", "--active-values", "Active,On Leave")
	s.mustCtl("directory", "add", "hr-other", "--kind", "csv", "--map", "username=Login")
	drop := filepath.Join(s.dir, "sftp", "outgoing")
	if err := os.MkdirAll(drop, 0o700); err != nil {
		t.Fatal(err)
	}
	// The folder holds last week's export and an older one: the newest is
	// the one sent.
	copyFixture(t, "bamboohr-bom.csv", filepath.Join(drop, "employees-2026-11-29.csv"), time.Now().Add(-7*24*time.Hour))
	copyFixture(t, "no-header.csv", filepath.Join(drop, "employees-2026-11-22.csv"), time.Now().Add(-14*24*time.Hour))
	other := filepath.Join(s.dir, "other")
	if err := os.MkdirAll(other, 0o700); err != nil {
		t.Fatal(err)
	}
	copyFixture(t, "bamboohr-bom.csv", filepath.Join(other, "x.csv"), time.Now().Add(-time.Hour))

	dir := filepath.Join(s.dir, "agent-files")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "agent.yaml")
	conf := fmt.Sprintf(`version: 1
hub: %s
files:
  - directory: hr-csv
    path: %s
    schedule: 1s
    settle: 0s
    full: true
  - directory: hr-other
    path: %s
    schedule: 1s
`, s.hub.GRPCAddr, drop, other)
	if err := os.WriteFile(config, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(s.mustCtl("agent", "token", "--directory", "hr-csv"))
	out, err := devstack.Enroll(t.Context(), bins, config, s.hub.GRPCAddr, token)
	if err != nil {
		t.Fatal(err)
	}
	id := strings.TrimSuffix(strings.Fields(strings.TrimPrefix(out, "enrolled as agent "))[0], ";")
	p, err := devstack.StartAgent(t.Context(), bins, config, nil, "--log-level", "debug")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = p.Stop(10 * time.Second)
		if t.Failed() {
			t.Logf("agent log:\n%s", tailLines(p.Out.String(), 40))
		}
	})

	s.step("newest file", func(t *testing.T) {
		await(t, "the agent's first file imported", func() string {
			runs := s.fileRuns("hr-csv")
			if len(runs) != 1 || runs[0].State != "completed" {
				return fmt.Sprintf("runs: %+v", runs)
			}
			if r := runs[0]; r.Trigger != "agent:"+id || r.Kind != "full" || r.Created != 5 {
				return fmt.Sprintf("run %+v, want a full run by agent:%s that created 5", r, id)
			}
			return ""
		})
		if u := s.users("hr-csv")["dkim"]; u.Status != "suspended" {
			t.Errorf("dkim = %s, want suspended", u.Status)
		}
		// The hub reads no source for a directory of files: an agent that
		// sends files is not told it serves nothing.
		if out := p.Out.String(); strings.Contains(out, "none of these directories of its config") {
			t.Errorf("an agent of files only logs that it serves none of its directories:\n%s", tailLines(out, 10))
		}
	})
	s.step("a newer drop", func(t *testing.T) {
		// An SFTP client writes a partial name, then renames.
		part := filepath.Join(drop, "employees-2026-12-06.csv.part")
		copyFixture(t, "bamboohr-bom-next-day.csv", part, time.Now())
		if err := os.Rename(part, filepath.Join(drop, "employees-2026-12-06.csv")); err != nil {
			t.Fatal(err)
		}
		await(t, "the newer file imported", func() string {
			runs := s.fileRuns("hr-csv")
			if len(runs) < 2 || runs[0].State != "completed" {
				return fmt.Sprintf("runs: %+v", runs)
			}
			if r := runs[0]; r.Created != 1 || r.Deprovisioned != 1 {
				return fmt.Sprintf("newest run %+v, want 1 created and 1 deprovisioned", r)
			}
			return ""
		})
		if u := s.users("hr-csv")["bsmith"]; u.Status != "deprovisioned" {
			t.Errorf("bsmith = %s, want deprovisioned", u.Status)
		}
		// The agent sends a file once: several schedules later, two runs.
		await(t, "the agent looked at the folder again", func() string {
			if n := strings.Count(p.Out.String(), "the newest file of a watched folder was taken already"); n < 2 {
				return fmt.Sprintf("%d looks since", n)
			}
			return ""
		})
		if runs := s.fileRuns("hr-csv"); len(runs) != 2 {
			t.Errorf("%d runs, want 2 (each file sent once): %+v", len(runs), runs)
		}
	})
	s.step("not enrolled", func(t *testing.T) {
		await(t, "the refusal of hr-other's file", func() string {
			if !strings.Contains(p.Out.String(), "this agent is not enrolled for directory") || !strings.Contains(p.Out.String(), "hr-other") {
				return "not refused yet"
			}
			return ""
		})
		if runs := s.fileRuns("hr-other"); len(runs) != 0 {
			t.Errorf("hr-other has runs %+v, want none", runs)
		}
	})
}

// copyFixture copies a file of hrFixtures to path, modified at mod.
func copyFixture(t *testing.T, name, path string, mod time.Time) {
	t.Helper()
	b, err := os.ReadFile(hrFixtures + name)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, mod, mod); err != nil {
		t.Fatal(err)
	}
}
