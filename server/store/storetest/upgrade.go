package storetest

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/idsync/idsync/server/store"
)

// SeedV1 returns the statements that fill a database at schema version 1
// (migrations/0001_init.sql applied, nothing else) with what CheckUpgrade
// expects to find upgraded; at is a time literal of the backend's dialect.
// Directory corp has two open full runs (1 running, 2 paused) and one
// open incremental run (3); lab has one open full run (5).
func SeedV1(at string) []string {
	return []string{
		`INSERT INTO directories (id, name, kind, created_at) VALUES (1, 'corp', 'openldap', ` + at + `),
			(2, 'lab', 'ad', ` + at + `)`,
		`INSERT INTO runs (id, directory_id, kind, state, started_at) VALUES
			(1, 1, 'full', 'running', ` + at + `), (2, 1, 'full', 'paused_by_safeguard', ` + at + `),
			(3, 1, 'incremental', 'running', ` + at + `), (4, 1, 'incremental', 'completed', ` + at + `),
			(5, 2, 'full', 'running', ` + at + `)`,
		`INSERT INTO objects (id, directory_id, kind, external_id, status, username, name_key, created_at, updated_at)
			VALUES ('u-1', 1, 'user', 'e-1', 'active', 'alice', 'alice', ` + at + `, ` + at + `),
			('u-2', 1, 'user', 'e-2', 'deprovisioned', 'bob', 'bob', ` + at + `, ` + at + `)`,
		`INSERT INTO agents (id, name) VALUES ('a-1', 'dc1')`,
	}
}

// CheckUpgrade checks a store opened on a database SeedV1 filled: of the
// open runs of one directory and kind only the newest stays open (the
// others failed), the new columns hold their defaults (an object written
// once has revision 1), a user deprovisioned before the upgrade is taken
// to have been so since its last write, and the change feed starts empty.
// It creates nothing that takes an id.
func CheckUpgrade(t *testing.T, s store.Store) {
	t.Helper()
	ctx := t.Context()
	want := map[int64]store.RunState{
		1: store.RunFailed, 2: store.RunPausedBySafeguard, 3: store.RunRunning, 4: store.RunCompleted,
		5: store.RunRunning,
	}
	for id, st := range want {
		r, err := s.GetRun(ctx, id)
		must(t, "GetRun", err)
		if r.State != st || r.Strategy != "" {
			t.Errorf("run %d is %s, strategy %q; want %s, none", id, r.State, r.Strategy, st)
		}
	}
	if r, _ := s.GetRun(ctx, 1); r.FinishedAt.IsZero() || !strings.Contains(r.Message, "upgrade") {
		t.Errorf("run 1 finished %v with %q; want finished, with a message naming the upgrade", r.FinishedAt, r.Message)
	}
	wantErr(t, "CreateRun(a third open full run)", s.CreateRun(ctx, &store.Run{DirectoryID: 1, Kind: store.RunFull}),
		store.ErrConflict)
	d, err := s.GetDirectory(ctx, "corp")
	must(t, "GetDirectory", err)
	if d.CaptureStrategy != "" || d.PollInterval != 0 || d.FullImportInterval != 0 {
		t.Errorf("corp capture settings %q, %v, %v; want the defaults", d.CaptureStrategy, d.PollInterval, d.FullImportInterval)
	}
	u, err := s.GetUser(ctx, "u-1")
	must(t, "GetUser", err)
	if u.Revision != 1 || !u.DeprovisionedAt.IsZero() {
		t.Errorf("alice revision %d, deprovisioned at %v; want 1, zero", u.Revision, u.DeprovisionedAt)
	}
	bob, err := s.GetUser(ctx, "u-2")
	must(t, "GetUser", err)
	if bob.DeprovisionedAt.IsZero() || !bob.DeprovisionedAt.Equal(bob.UpdatedAt) {
		t.Errorf("bob, deprovisioned before the upgrade, deprovisioned at %v; want his last write, %v",
			bob.DeprovisionedAt, bob.UpdatedAt)
	}
	changes, last, err := s.Changes(ctx, 0, 10)
	must(t, "Changes", err)
	if p, err := s.FeedPosition(ctx); err != nil || p != 0 || len(changes) != 0 || last != 0 {
		t.Errorf("the feed after the upgrade: position %d (%v), changes %v up to %d; want empty at 0", p, err, changes, last)
	}
	a, err := s.GetAgent(ctx, "a-1")
	must(t, "GetAgent", err)
	if a.Lag != 0 {
		t.Errorf("agent lag %v, want 0", a.Lag)
	}
}

// CheckActivityUpgrade checks a store upgraded from schema version 25
// whose activity counted, this hour, 5 changes and 3 pushes succeeded:
// the pushes, whose app nobody recorded, count for every app and for no
// one app; the changes count for all.
func CheckActivityUpgrade(t *testing.T, s store.Store) {
	t.Helper()
	since := time.Now().Add(-time.Hour)
	for _, c := range []struct {
		what   string
		f      store.ActivityFilter
		pushes int64
	}{{"every app", store.ActivityFilter{}, 3}, {"app 1", store.ActivityFilter{OnlyApps: true, Apps: []int64{1}}, 0}} {
		got, err := s.Activity(t.Context(), since, c.f)
		if err != nil {
			t.Fatalf("Activity of %s after the upgrade: %v", c.what, err)
		}
		sum := map[string]int64{}
		for _, a := range got {
			sum[a.Kind] += a.N
		}
		if sum[store.ActivityChanges] != 5 || sum[store.ActivityPushSucceeded] != c.pushes {
			t.Errorf("Activity of %s after the upgrade: %v, want 5 changes and %d pushes succeeded", c.what, sum, c.pushes)
		}
	}
}

// Migration is a migration file of a backend, to build a database of an
// older schema in an upgrade test.
type Migration struct {
	Version  int
	Name     string
	Contents string
}

// MigrationsUpTo reads the migrations of dir up to version upTo, in order.
func MigrationsUpTo(t *testing.T, dir string, upTo int) []Migration {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.sql"))
	if err != nil || len(files) == 0 {
		t.Fatalf("listing the migrations of %s: %v, %d files", dir, err, len(files))
	}
	var ms []Migration
	for _, f := range files {
		name := filepath.Base(f)
		v, err := strconv.Atoi(strings.SplitN(name, "_", 2)[0])
		if err != nil {
			t.Fatalf("migration %s: its name does not start with a version", f)
		}
		if v > upTo {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		ms = append(ms, Migration{Version: v, Name: name, Contents: string(b)})
	}
	return ms
}
