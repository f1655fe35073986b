//go:build linux

package e2e

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	_ "modernc.org/sqlite"

	"github.com/idsync/idsync/internal/devstack"
	"github.com/idsync/idsync/internal/eventually"
	"github.com/idsync/idsync/internal/gendir"
	"github.com/idsync/idsync/internal/testserver"
)

// editCheckpoint rewrites a field of the directory's stored capture
// checkpoint in the hub's SQLite file (fault injection: a cookie the DC
// refuses, a checkpoint from another DC database).
func (s *stack) editCheckpoint(directory string, edit func(cp map[string]any)) {
	s.t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(s.hub.DataDir, "hub.db")+"?_busy_timeout=10000")
	if err != nil {
		s.t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(s.t.Context(), 30*time.Second)
	defer cancel()
	var data []byte
	q := `SELECT c.data FROM checkpoints c JOIN directories d ON d.id = c.directory_id WHERE d.name = ?`
	if err := db.QueryRowContext(ctx, q, directory).Scan(&data); err != nil {
		s.t.Fatalf("reading the checkpoint of %s: %v", directory, err)
	}
	cp := map[string]any{}
	if err := json.Unmarshal(data, &cp); err != nil {
		s.t.Fatalf("checkpoint of %s is not JSON: %v", directory, err)
	}
	edit(cp)
	data, _ = json.Marshal(cp)
	if _, err := db.ExecContext(ctx, `UPDATE checkpoints SET data = ? WHERE directory_id = (SELECT id FROM directories WHERE name = ?)`,
		data, directory); err != nil {
		s.t.Fatalf("writing the checkpoint of %s: %v", directory, err)
	}
}

// TestCaptureSambaAD: DirSync with change notification streams AD changes —
// attributes, disabling, membership deltas, nested groups, deletions — and a
// refused cookie or another DC's checkpoint forces a full reconciliation,
// after which capture resumes.
func TestCaptureSambaAD(t *testing.T) {
	srv := testserver.SambaAD(t)
	gen, err := gendir.New(gendir.Options{Flavor: gendir.AD, BaseDN: srv.BaseDN, Seed: 29, Users: 30, Groups: 3,
		MailDomain: "idsync.test", AccountPrefix: "ca", GroupSize: func(j int) int { return []int{10, 5, 3}[j] }})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.AddGenerated(t.Context(), gen, 2); err != nil {
		t.Fatal(err)
	}
	s := newStack(t)
	s.mustCtl("directory", "add", "ad", "--kind", "ad", "--base-dn", srv.BaseDN, "--full-import-interval", "off",
		"--poll-interval", "2s")
	ag := s.startAgent(devstack.AgentDirectory{Name: "ad", URL: srv.URL, BindDN: srv.BindDN, BindPassword: srv.BindPassword})
	s.mustImportFull("ad")
	eventually.Within(t, 30*time.Second, "capture running with dirsync", func() (bool, string) {
		var d directoryJSON
		s.ctlJSON(&d, "directory", "show", "ad")
		return d.CaptureStatus != nil && d.CaptureStatus.Strategy == "dirsync", fmt.Sprintf("%+v", d.CaptureStatus)
	})
	users := func() map[string]userJSON { return s.users("ad") }
	const wait = 30 * time.Second // Samba notifies about 5 s late

	s.run("attribute change", func(t *testing.T) {
		if err := srv.Modify(t.Context(), replace(gen.UserDN(1), "title", "Directory Whisperer")); err != nil {
			t.Fatal(err)
		}
		took := eventually.Within(t, wait, "title change", func() (bool, string) {
			u := users()[gen.UserUID(1)]
			return u.Title == "Directory Whisperer", u.Title
		})
		t.Logf("AD modify reached the hub in %v", took.Round(100*time.Millisecond))
	})
	s.run("disable and enable", func(t *testing.T) {
		if err := srv.Modify(t.Context(), replace(gen.UserDN(2), "userAccountControl", "546")); err != nil {
			t.Fatal(err)
		}
		eventually.Within(t, wait, "suspended", func() (bool, string) { u := users()[gen.UserUID(2)]; return u.Status == "suspended", u.Status })
		if err := srv.Modify(t.Context(), replace(gen.UserDN(2), "userAccountControl", "544")); err != nil {
			t.Fatal(err)
		}
		eventually.Within(t, wait, "active again", func() (bool, string) { u := users()[gen.UserUID(2)]; return u.Status == "active", u.Status })
	})
	s.run("membership delta and nesting", func(t *testing.T) {
		// User 29 joins group 2, and group 2 joins group 0: user 29 is then in
		// group 0 through group 2.
		add := ldap.NewModifyRequest(gen.GroupDN(2), nil)
		add.Add("member", []string{gen.UserDN(29)})
		if err := srv.Modify(t.Context(), add); err != nil {
			t.Fatal(err)
		}
		nest := ldap.NewModifyRequest(gen.GroupDN(0), nil)
		nest.Add("member", []string{gen.GroupDN(2)})
		if err := srv.Modify(t.Context(), nest); err != nil {
			t.Fatal(err)
		}
		eventually.Within(t, wait, "nested membership", func() (bool, string) {
			var u struct {
				Groups []string `json:"groups"`
				Nested []struct {
					Name  string `json:"name"`
					Depth int    `json:"depth"`
					Via   string `json:"via"`
				} `json:"nested_groups"`
			}
			s.ctlJSON(&u, "user", "show", gen.UserUID(29), "--directory", "ad")
			direct := strings.Join(u.Groups, ",")
			for _, n := range u.Nested {
				if n.Name == gen.GroupCN(0) && n.Depth == 2 && n.Via == gen.GroupCN(2) && strings.Contains(direct, gen.GroupCN(2)) {
					return true, ""
				}
			}
			return false, fmt.Sprintf("direct %s nested %+v", direct, u.Nested)
		})
	})
	s.run("delete", func(t *testing.T) {
		if err := srv.Delete(t.Context(), gen.UserDN(3)); err != nil {
			t.Fatal(err)
		}
		eventually.Within(t, wait, "deprovisioned", func() (bool, string) { u := users()[gen.UserUID(3)]; return u.Status == "deprovisioned", u.Status })
	})

	reconcile := func(t *testing.T, why string, edit func(cp map[string]any)) {
		before := s.ctlRuns("ad")
		_ = ag.proc.Stop(10 * time.Second)
		s.editCheckpoint("ad", edit)
		p, err := devstack.StartAgent(t.Context(), bins, ag.config, nil)
		if err != nil {
			t.Fatal(err)
		}
		ag.past = append(ag.past, ag.proc.Out.String())
		ag.proc = p
		t.Cleanup(func() { _ = p.Stop(10 * time.Second) })
		eventually.Within(t, 60*time.Second, "a completed reconciliation ("+why+")", func() (bool, string) {
			for _, r := range s.runList("ad") {
				if r.Kind == "full" && r.Trigger == "reconcile" && r.State == "completed" && !before[r.ID] {
					return true, ""
				}
			}
			return false, "no completed reconcile run yet"
		})
		// Capture resumes from the reconciliation's checkpoint.
		title := "After " + why
		if err := srv.Modify(t.Context(), replace(gen.UserDN(4), "title", title)); err != nil {
			t.Fatal(err)
		}
		eventually.Within(t, wait, "a change after the reconciliation", func() (bool, string) {
			u := users()[gen.UserUID(4)]
			return u.Title == title, u.Title
		})
	}
	s.run("refused cookie", func(t *testing.T) {
		reconcile(t, "a refused cookie", func(cp map[string]any) { cp["cookie"] = "bm90IGEgY29va2llIGF0IGFsbA==" })
	})
	s.run("changed invocationID", func(t *testing.T) {
		reconcile(t, "another DC database", func(cp map[string]any) { cp["invocationId"] = "00000000-0000-0000-0000-000000000001" })
	})
}

type runSummary struct {
	ID      string `json:"id"`
	Kind    string `json:"kind"`
	State   string `json:"state"`
	Trigger string `json:"trigger"`
}

// runList lists a directory's runs, newest first.
func (s *stack) runList(directory string) []runSummary {
	s.t.Helper()
	var runs []runSummary
	s.ctlJSON(&runs, "import", "list", "--directory", directory)
	return runs
}

// ctlRuns returns the ids of a directory's runs.
func (s *stack) ctlRuns(directory string) map[string]bool {
	s.t.Helper()
	m := map[string]bool{}
	for _, r := range s.runList(directory) {
		m[r.ID] = true
	}
	return m
}
