package csvimport_test

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/idsync/idsync/internal/eventually"
	"github.com/idsync/idsync/internal/testserver"
	"github.com/idsync/idsync/server/csvimport"
	"github.com/idsync/idsync/server/ingest"
	"github.com/idsync/idsync/server/store"
	"github.com/idsync/idsync/server/store/postgres"
	"github.com/idsync/idsync/server/store/sqlite"
)

func TestMain(m *testing.M) { testserver.Main(m) }

// harness is a hub's store, ingest engine and file import service.
type harness struct {
	t   *testing.T
	st  store.Store
	eng *ingest.Engine
	svc *csvimport.Service
}

// backends are the stores the tests run on: SQLite, and PostgreSQL
// (skipped locally when it is not installed).
var backends = []struct {
	name string
	open func(t *testing.T) store.Store
}{
	{"sqlite", func(t *testing.T) store.Store {
		st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "hub.db"))
		if err != nil {
			t.Fatalf("sqlite.Open: %v", err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}},
	{"postgres", func(t *testing.T) store.Store {
		st, err := postgres.Open(t.Context(), testserver.Postgres(t))
		if err != nil {
			t.Fatalf("postgres.Open: %v", err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}},
}

// eachBackend runs fn on each store.
func eachBackend(t *testing.T, fn func(t *testing.T, h *harness)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { fn(t, newHarnessOn(t, b.open(t), 0)) })
	}
}

func newHarness(t *testing.T, maxBytes int64) *harness {
	t.Helper()
	return newHarnessOn(t, backends[0].open(t), maxBytes)
}

func newHarnessOn(t *testing.T, st store.Store, maxBytes int64) *harness {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	eng := ingest.New(ingest.Config{Store: st, Log: log})
	return &harness{t: t, st: st, eng: eng,
		svc: csvimport.New(csvimport.Config{Store: st, Engine: eng, Log: log, MaxBytes: maxBytes, TempDir: t.TempDir()})}
}

// directory makes a csv directory with mapping m and layout l.
func (h *harness) directory(name string, m store.Mapping, l *store.CSVLayout) *store.Directory {
	h.t.Helper()
	d := &store.Directory{Name: name, Kind: store.KindCSV, Mapping: m, CSV: l}
	ingest.ApplyPreset(d)
	if err := ingest.ValidateDirectory(d); err != nil {
		h.t.Fatalf("directory %s: %v", name, err)
	}
	if err := h.st.CreateDirectory(h.t.Context(), d); err != nil {
		h.t.Fatal(err)
	}
	return d
}

// start sends the bytes of data as file name.
func (h *harness) start(data []byte, imp csvimport.Import) (csvimport.Result, error) {
	h.t.Helper()
	sp, err := h.svc.NewSpool()
	if err != nil {
		h.t.Fatal(err)
	}
	if _, err := sp.Write(data); err != nil {
		sp.Discard()
		return csvimport.Result{}, err
	}
	return h.svc.Start(h.t.Context(), sp, imp, "admin:test")
}

// run imports data and waits for the run to end.
func (h *harness) run(data []byte, imp csvimport.Import) *store.Run {
	h.t.Helper()
	res, err := h.start(data, imp)
	if err != nil {
		h.t.Fatalf("importing %s: %v", imp.FileName, err)
	}
	return h.wait(res.Run.ID)
}

func (h *harness) wait(id int64) *store.Run {
	h.t.Helper()
	var r *store.Run
	eventually.That(h.t, fmt.Sprintf("run %d ends", id), func() (bool, string) {
		var err error
		r, err = h.st.GetRun(h.t.Context(), id)
		if err != nil {
			return false, err.Error()
		}
		return r.State != store.RunRunning, string(r.State)
	})
	return r
}

// users returns the directory's users by external id.
func (h *harness) users(d *store.Directory) map[string]*store.User {
	h.t.Helper()
	us, err := h.st.ListUsers(h.t.Context(), store.UserFilter{DirectoryID: d.ID})
	if err != nil {
		h.t.Fatal(err)
	}
	out := map[string]*store.User{}
	for _, u := range us {
		out[u.ExternalID] = u
	}
	return out
}

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestFixtures imports each realistic export and checks the users it made,
// accents and all.
func TestFixtures(t *testing.T) {
	tests := []struct {
		name     string
		file     string
		mapping  store.Mapping
		layout   *store.CSVLayout
		encoding string
		want     map[string]store.Profile // by external id
		status   map[string]store.Status
	}{
		{
			name: "BambooHR UTF-8 with BOM and CRLF", file: "bamboohr-bom.csv",
			mapping: store.Mapping{Username: "Login", GivenName: "First Name", FamilyName: "Last Name", Email: "Work Email",
				Department: "Department", Title: "Job Title"},
			layout: &store.CSVLayout{IDColumn: "Employee ID", StatusColumn: "Employment Status", ActiveValues: []string{"active", "On Leave"}},
			want: map[string]store.Profile{
				"1003": {Username: "cdiaz", GivenName: "Carmen", FamilyName: "Díaz", Email: "carmen.diaz@example.com", Department: "Finance", Title: "Controller"},
				"1005": {Username: "eoconnor", GivenName: "Eileen", FamilyName: "O'Connor", Email: "eileen.oconnor@example.com", Department: "Marketing", Title: "Director, Brand"},
			},
			status: map[string]store.Status{"1001": store.StatusActive, "1003": store.StatusActive, "1004": store.StatusSuspended},
		},
		{
			name: "UltiPro Windows-1252 with semicolons", file: "ultipro-1252-semicolon.csv", encoding: "windows-1252",
			mapping: store.Mapping{Username: "Benutzername", GivenName: "Vorname", FamilyName: "Nachname", Email: "E-Mail",
				Department: "Abteilung", Title: "Stelle"},
			layout: &store.CSVLayout{IDColumn: "Personalnummer", StatusColumn: "Status", ActiveValues: []string{"Aktiv"}},
			want: map[string]store.Profile{
				"2001": {Username: "jmueller", GivenName: "Jürgen", FamilyName: "Müller", Email: "juergen.mueller@example.de", Department: "Entwicklung", Title: "Ingenieur"},
				"2002": {Username: "hlefevre", GivenName: "Hélène", FamilyName: "Lefèvre", Email: "helene.lefevre@example.fr", Department: "Ventes", Title: "Représentante"},
				"2003": {Username: "zoezbek", GivenName: "Zoë", FamilyName: "Özbek", Email: "zoe.oezbek@example.de", Department: "Qualität", Title: "Prüferin"},
			},
			status: map[string]store.Status{"2001": store.StatusActive, "2004": store.StatusSuspended},
		},
		{
			name: "Workday quoted fields with line breaks", file: "workday-quoted-newlines.csv",
			mapping: store.Mapping{Username: "User Name", DisplayName: "Legal Name", Email: "Email", Department: "Cost Center", Title: "Business Title"},
			layout:  &store.CSVLayout{IDColumn: "Worker ID"},
			want: map[string]store.Profile{
				"W-3002": {Username: "mnguyen", DisplayName: "Nguyen, Minh", Email: "minh.nguyen@example.com",
					Department: "CC-200\nOperations (Building 7,\nFloor 2)", Title: `Lead "Ops" Analyst`},
				"W-3003": {Username: "oadeyemi", DisplayName: "Adeyemi, Ola", Email: "ola.adeyemi@example.com", Department: "CC-300 Legal", Title: "Counsel"},
			},
			status: map[string]store.Status{"W-3001": store.StatusActive},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, 0)
			d := h.directory("hr", tc.mapping, tc.layout)
			r := h.run(fixture(t, tc.file), csvimport.Import{Directory: d, FileName: tc.file, Full: true, Encoding: tc.encoding})
			if r.State != store.RunCompleted || r.Errors != 0 || r.Kind != store.RunFull {
				t.Fatalf("run: %s %s, %d errors (%s), want a completed full run without errors", r.Kind, r.State, r.Errors, r.Message)
			}
			users := h.users(d)
			for id, want := range tc.want {
				u := users[id]
				if u == nil {
					t.Errorf("user %s: not imported", id)
					continue
				}
				if got := u.Profile; got.Username != want.Username || got.GivenName != want.GivenName ||
					got.FamilyName != want.FamilyName || got.Email != want.Email || got.Department != want.Department ||
					got.Title != want.Title || got.DisplayName != want.DisplayName {
					t.Errorf("user %s: %+v, want %+v", id, got, want)
				}
			}
			for id, want := range tc.status {
				if u := users[id]; u == nil || u.Status != want {
					t.Errorf("user %s: status %v, want %s", id, u, want)
				}
			}
		})
	}
}

// TestBadRows: the bad rows of a file are the run's errors, by file and
// line; the good ones are applied; the first of a duplicate id wins.
func TestBadRows(t *testing.T) { eachBackend(t, testBadRows) }

func testBadRows(t *testing.T, h *harness) {
	d := h.directory("hr", store.Mapping{Username: "Login", Email: "Work Email"}, &store.CSVLayout{IDColumn: "Employee ID"})
	r := h.run(fixture(t, "bad-rows.csv"), csvimport.Import{Directory: d, FileName: "bad-rows.csv"})
	if r.State != store.RunCompleted || r.Errors != 4 || r.Created != 17 {
		t.Fatalf("run: %s, created %d, %d errors (%s); want completed, 17 created, 4 errors", r.State, r.Created, r.Errors, r.Message)
	}
	errs, err := h.st.RunErrors(t.Context(), r.ID, 100)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range errs {
		got = append(got, e.DN+": "+e.Message)
	}
	slices.Sort(got)
	want := []string{
		`bad-rows.csv:10: 4 fields, the header has 3`,
		`bad-rows.csv:13: column "Login" is not valid text in the file's encoding (give --encoding?)`,
		`bad-rows.csv:4: no id: column "Employee ID" is empty`,
		`bad-rows.csv:7: duplicate id "5002": first on line 3`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("run errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if u := h.users(d)["5002"]; u == nil || u.Username != "user2" {
		t.Errorf("user 5002 = %v, want user2 (the first row of the id)", u)
	}
}

// TestFileFails: a file with no header, the wrong columns, or more than
// 20% bad rows fails its run before anything is applied.
func TestFileFails(t *testing.T) {
	h := newHarness(t, 0)
	d := h.directory("hr", store.Mapping{Username: "Login", Email: "Work Email"}, &store.CSVLayout{IDColumn: "Employee ID"})
	for _, tc := range []struct{ name, file, want string }{
		{"no header", "no-header.csv", `no-header.csv: the header has no column "Login" (username), "Employee ID" (id)`},
		{"wrong export", "workday-quoted-newlines.csv", `the header has no column "Login" (username)`},
		{"mostly bad", "mostly-bad.csv", "mostly-bad.csv: 3 of 5 rows are bad (more than 20%): the file is not imported; the first: line 3: no id"},
		{"empty", "", "the file is empty: no header line"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var data []byte
			if tc.file != "" {
				data = fixture(t, tc.file)
			}
			res, err := h.start(data, csvimport.Import{Directory: d, FileName: cmpOr(tc.file, "empty.csv"), Full: true})
			if err != nil {
				t.Fatal(err)
			}
			r := res.Run
			if r.State != store.RunFailed || !strings.Contains(r.Message, tc.want) || !strings.HasSuffix(r.Message, "nothing was applied") {
				t.Errorf("run: %s: %q, want failed: %q … nothing was applied", r.State, r.Message, tc.want)
			}
			if r.Created != 0 || r.Seen != 0 {
				t.Errorf("run applied something: created %d, seen %d", r.Created, r.Seen)
			}
		})
	}
	if n := len(h.users(d)); n != 0 {
		t.Errorf("the directory holds %d users, want none", n)
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// TestFullSweepAndDryRun: a full import deprovisions who is absent, within
// the safeguard; a dry run says what would happen and writes nothing.
func TestFullSweepAndDryRun(t *testing.T) { eachBackend(t, testFullSweepAndDryRun) }

func testFullSweepAndDryRun(t *testing.T, h *harness) {
	d := h.directory("hr", store.Mapping{Username: "Login", Email: "Work Email"}, &store.CSVLayout{IDColumn: "Employee ID"})
	var all strings.Builder
	all.WriteString("Employee ID,Login,Work Email\n")
	for i := range 20 {
		fmt.Fprintf(&all, "%d,user%d,user%d@example.com\n", i, i, i)
	}
	if r := h.run([]byte(all.String()), csvimport.Import{Directory: d, FileName: "all.csv", Full: true}); r.State != store.RunCompleted || r.Created != 20 {
		t.Fatalf("first import: %s, created %d (%s)", r.State, r.Created, r.Message)
	}
	// One gone, one changed, one new.
	next := strings.Replace(all.String(), "3,user3,user3@example.com\n", "", 1)
	next = strings.Replace(next, "user4@example.com", "user4@new.example.com", 1) + "20,user20,user20@example.com\n"
	imp := csvimport.Import{Directory: d, FileName: "next.csv", Full: true, DryRun: true}
	res, err := h.start([]byte(next), imp)
	if err != nil {
		t.Fatal(err)
	}
	p := res.Preview
	if p == nil || res.Run != nil {
		t.Fatalf("dry run: %+v, want a preview and no run", res)
	}
	if p.Rows != 20 || p.Created != 1 || p.Updated != 1 || p.Deprovisioned != 1 || p.Unchanged != 18 ||
		!slices.Equal(p.CreatedUsers, []string{"user20"}) || !slices.Equal(p.UpdatedUsers, []string{"user4"}) ||
		!slices.Equal(p.DeprovisionedUsers, []string{"user3"}) || p.Safeguard != "" {
		t.Errorf("preview = %+v, want 20 rows: user20 created, user4 updated, user3 deprovisioned, 18 unchanged", *p)
	}
	runs, _ := h.st.ListRuns(t.Context(), store.RunFilter{DirectoryID: d.ID})
	if len(runs) != 1 || h.users(d)["3"].Status != store.StatusActive {
		t.Errorf("the dry run wrote: %d runs, user 3 %s", len(runs), h.users(d)["3"].Status)
	}
	imp.DryRun = false
	r := h.run([]byte(next), imp)
	if r.State != store.RunCompleted || r.Created != 1 || r.Updated != 1 || r.Deprovisioned != 1 {
		t.Errorf("full import: %s, created %d, updated %d, deprovisioned %d (%s); want 1, 1, 1", r.State, r.Created, r.Updated, r.Deprovisioned, r.Message)
	}
	if u := h.users(d)["3"]; u.Status != store.StatusDeprovisioned {
		t.Errorf("user 3 is %s, want deprovisioned", u.Status)
	}
	// Half the population gone: the safeguard pauses, in the preview and
	// in the run.
	half := "Employee ID,Login,Work Email\n"
	for i := range 10 {
		half += fmt.Sprintf("%d,user%d,user%d@example.com\n", i, i, i)
	}
	res, err = h.start([]byte(half), csvimport.Import{Directory: d, FileName: "half.csv", Full: true, DryRun: true})
	if err != nil || !strings.Contains(res.Preview.Safeguard, "more than the safeguard allows") {
		t.Errorf("dry run of half: %v, safeguard %q; want the safeguard's message", err, res.Preview.Safeguard)
	}
	r = h.run([]byte(half), csvimport.Import{Directory: d, FileName: "half.csv", Full: true})
	if r.State != store.RunPausedBySafeguard || r.PendingDeprovision != 11 {
		t.Errorf("import of half: %s, pending %d; want paused by the safeguard, 11 pending (10 to 20)", r.State, r.PendingDeprovision)
	}
	if _, err := h.eng.Confirm(t.Context(), r.ID); err != nil {
		t.Fatalf("confirming: %v", err)
	}
	if u := h.users(d)["15"]; u.Status != store.StatusDeprovisioned {
		t.Errorf("after confirm, user 15 is %s, want deprovisioned", u.Status)
	}
	// Another company's export: none of its ids is the directory's. The
	// dry run says so, and the run fails before creating anyone.
	other := []byte("Employee ID,Login,Work Email\n900,zed,zed@other.example\n901,yan,yan@other.example\n")
	const foreign = "other.csv holds none of the 10 users of directory hr (by their ids)"
	if _, err := h.start(other, csvimport.Import{Directory: d, FileName: "other.csv", Full: true, DryRun: true}); err == nil ||
		!strings.Contains(err.Error(), foreign) {
		t.Errorf("dry run of another company's file: %v, want %q", err, foreign)
	}
	r = h.run(other, csvimport.Import{Directory: d, FileName: "other.csv", Full: true})
	if r.State != store.RunFailed || r.Created != 0 || !strings.Contains(r.Message, foreign) {
		t.Errorf("full import of another company's file: %s, created %d (%s); want failed, none created", r.State, r.Created, r.Message)
	}
	if u, ok := h.users(d)["900"]; ok || h.users(d)["5"].Status != store.StatusActive {
		t.Errorf("after another company's file: zed %v, user 5 %s; want no zed, user 5 active", u, h.users(d)["5"].Status)
	}
}

// TestUnreadableIDHoldsTheSweep: in a full import, a bad row whose id
// cannot be read may be a user still there: the sweep waits for an admin.
func TestUnreadableIDHoldsTheSweep(t *testing.T) {
	h := newHarness(t, 0)
	d := h.directory("hr", store.Mapping{Username: "Login"}, &store.CSVLayout{IDColumn: "Employee ID"})
	var all strings.Builder
	all.WriteString("Employee ID,Login\n")
	for i := range 10 {
		fmt.Fprintf(&all, "%d,user%d\n", i, i)
	}
	h.run([]byte(all.String()), csvimport.Import{Directory: d, FileName: "a.csv", Full: true})
	// User 9's row lost its id in the export.
	next := strings.Replace(all.String(), "9,user9\n", ",user9\n", 1)
	r := h.run([]byte(next), csvimport.Import{Directory: d, FileName: "b.csv", Full: true})
	if r.State != store.RunPausedBySafeguard || !strings.Contains(r.Message, "1 rows of b.csv have no readable id") {
		t.Errorf("run: %s %q, want paused: rows with no readable id", r.State, r.Message)
	}
	if u := h.users(d)["9"]; u.Status != store.StatusActive {
		t.Errorf("user 9 is %s, want active until an admin confirms", u.Status)
	}
}

// TestLimits: a file over the cap is refused as it comes; an unknown
// encoding or delimiter, or a directory of another kind, before.
func TestLimits(t *testing.T) {
	h := newHarness(t, 64)
	d := h.directory("hr", store.Mapping{Username: "Login"}, nil)
	sp, err := h.svc.NewSpool()
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Discard()
	if _, err := sp.Write(make([]byte, 40)); err != nil {
		t.Fatal(err)
	}
	if _, err := sp.Write(make([]byte, 40)); !errors.Is(err, csvimport.ErrTooLarge) || err.Error() != "the file is larger than the hub takes (64 bytes)" {
		t.Errorf("writing past the cap: %v, want refused", err)
	}
	// Four files at once; a fifth waits for one of them to end.
	var held []*csvimport.Spool
	for range csvimport.DefaultMaxSpools - 1 {
		sp, err := h.svc.NewSpool()
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, sp)
	}
	if _, err := h.svc.NewSpool(); err == nil || !strings.Contains(err.Error(), "receiving or importing 4 files already") {
		t.Errorf("a fifth file at once: %v, want refused", err)
	}
	held[0].Discard()
	if sp, err := h.svc.NewSpool(); err != nil {
		t.Errorf("a file once another ended: %v", err)
	} else {
		sp.Discard()
	}
	for _, sp := range held[1:] {
		sp.Discard()
	}
	for _, tc := range []struct {
		imp  csvimport.Import
		want string
	}{
		{csvimport.Import{Directory: d, Encoding: "utf-16"}, `encoding "utf-16": must be one of`},
		{csvimport.Import{Directory: d, Delimiter: `"`}, `delimiter "\"": one character`},
		{csvimport.Import{Directory: &store.Directory{Name: "corp", Kind: store.KindAD}}, "directory corp is a ad directory: files are imported into csv directories"},
	} {
		if err := csvimport.Check(tc.imp); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Check(%+v) = %v, want %q", tc.imp, err, tc.want)
		}
	}
}

// BenchmarkImport100k imports a 100,000-row export into an empty csv
// directory through the service (the store is SQLite, as the hub's
// default): what `make bench` measures end to end, without the transport.
func BenchmarkImport100k(b *testing.B) {
	var export strings.Builder
	export.WriteString("Employee ID,Login,Work Email,Department\n")
	for i := range 100_000 {
		fmt.Fprintf(&export, "E%07d,user%d,user%d@example.com,Dept %d\n", i, i, i, i%20)
	}
	data := []byte(export.String())
	for range b.N {
		st, err := sqlite.Open(b.Context(), filepath.Join(b.TempDir(), "hub.db"))
		if err != nil {
			b.Fatal(err)
		}
		log := slog.New(slog.DiscardHandler)
		eng := ingest.New(ingest.Config{Store: st, Log: log})
		svc := csvimport.New(csvimport.Config{Store: st, Engine: eng, Log: log, TempDir: b.TempDir()})
		d := &store.Directory{Name: "hr", Kind: store.KindCSV, Mapping: store.Mapping{Username: "Login", Email: "Work Email", Department: "Department"},
			CSV: &store.CSVLayout{IDColumn: "Employee ID"}}
		ingest.ApplyPreset(d)
		if err := st.CreateDirectory(b.Context(), d); err != nil {
			b.Fatal(err)
		}
		sp, err := svc.NewSpool()
		if err != nil {
			b.Fatal(err)
		}
		if _, err := sp.Write(data); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		res, err := svc.Start(b.Context(), sp, csvimport.Import{Directory: d, FileName: "x.csv", Full: true}, "admin:bench")
		if err != nil {
			b.Fatal(err)
		}
		eventually.Within(b, 5*time.Minute, "the import ends", func() (bool, string) {
			r, err := st.GetRun(b.Context(), res.Run.ID)
			if err != nil {
				return false, err.Error()
			}
			if r.State != store.RunRunning && r.Created != 100_000 {
				b.Fatalf("run %+v, want 100,000 created", r)
			}
			return r.State != store.RunRunning, string(r.State)
		})
		b.ReportMetric(time.Since(start).Seconds(), "s/import")
		st.Close()
	}
}

// TestStaleSpoolsRemoved: a file a hub left mid-import in its data
// directory is removed when the service starts again; nothing else is.
func TestStaleSpoolsRemoved(t *testing.T) {
	dir := t.TempDir()
	stale, other := filepath.Join(dir, "idsync-import-123.csv"), filepath.Join(dir, "hub.db")
	for _, f := range []string{stale, other} {
		if err := os.WriteFile(f, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	csvimport.New(csvimport.Config{TempDir: dir})
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the stale spool: %v, want removed", err)
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("hub.db: %v, want kept", err)
	}
}
