package storetest

import (
	"reflect"
	"testing"
	"time"

	"github.com/idsync/idsync/server/store"
)

var directoryTests = []test{
	{"CreateAndGet", testDirectoryCreateAndGet},
	{"NameTaken", testDirectoryNameTaken},
	{"Update", testDirectoryUpdate},
	{"List", testDirectoryList},
	{"Stats", testDirectoryStats},
	{"SourceToken", testDirectorySourceToken},
	{"WriteBack", testDirectoryWriteBack},
	{"PasswordPolicy", testDirectoryPasswordPolicy},
	{"CSVLayout", testDirectoryCSVLayout},
}

// testDirectoryCSVLayout: a csv directory's layout, column names with
// spaces and non-ASCII letters included, is kept by create and update, and
// cleared by nil.
func testDirectoryCSVLayout(t *testing.T, s store.Store) {
	ctx := t.Context()
	layout := &store.CSVLayout{IDColumn: "Employee ID", StatusColumn: "Statut employé", ActiveValues: []string{"Active", "On Leave"}}
	d := &store.Directory{Name: "hr-csv", Kind: store.KindCSV, SafeguardPercent: 20, SafeguardMax: 500,
		Mapping: store.Mapping{Username: "Login Name", Email: "Work Email"}, CSV: layout}
	must(t, "CreateDirectory", s.CreateDirectory(ctx, d))
	got, err := s.GetDirectory(ctx, "hr-csv")
	must(t, "GetDirectory", err)
	if got.Kind != store.KindCSV || !reflect.DeepEqual(got.CSV, layout) || got.Mapping.Username != "Login Name" {
		t.Errorf("read back kind %q, layout %+v, username column %q; want csv, %+v, Login Name", got.Kind, got.CSV, got.Mapping.Username, layout)
	}
	d.CSV = &store.CSVLayout{IDColumn: "Badge"}
	must(t, "UpdateDirectory", s.UpdateDirectory(ctx, d))
	if got, _ := s.GetDirectory(ctx, "hr-csv"); !reflect.DeepEqual(got.CSV, d.CSV) {
		t.Errorf("after update: layout %+v, want %+v", got.CSV, d.CSV)
	}
	d.CSV = nil
	must(t, "UpdateDirectory(nil)", s.UpdateDirectory(ctx, d))
	if got, _ := s.GetDirectory(ctx, "hr-csv"); got.CSV != nil {
		t.Errorf("after clearing: layout %+v, want nil", got.CSV)
	}
}

// testDirectoryPasswordPolicy: the password policy is kept by create and
// update; a user's password digests are kept per directory, newest first,
// the newest 24 of them.
func testDirectoryPasswordPolicy(t *testing.T, s store.Store) {
	ctx := t.Context()
	d := &store.Directory{Name: "corp", Kind: store.KindAD, BaseDN: "DC=corp", PasswordPolicy: "min-length=14,classes=3"}
	must(t, "CreateDirectory", s.CreateDirectory(ctx, d))
	other := &store.Directory{Name: "lab", Kind: store.KindOpenLDAP, BaseDN: "dc=lab"}
	must(t, "CreateDirectory", s.CreateDirectory(ctx, other))
	got, err := s.GetDirectory(ctx, "corp")
	must(t, "GetDirectory", err)
	if got.PasswordPolicy != d.PasswordPolicy {
		t.Errorf("PasswordPolicy = %q, want %q", got.PasswordPolicy, d.PasswordPolicy)
	}
	d.PasswordPolicy = "not-reused"
	must(t, "UpdateDirectory", s.UpdateDirectory(ctx, d))
	if got, _ := s.GetDirectory(ctx, "corp"); got.PasswordPolicy != "not-reused" {
		t.Errorf("after update: PasswordPolicy = %q, want not-reused", got.PasswordPolicy)
	}
	for i := range 30 {
		must(t, "AddPasswordDigest", s.AddPasswordDigest(ctx, d.ID, "u-1", store.PasswordDigest{Salt: []byte{byte(i)}, Sum: []byte{byte(i), 1}}))
	}
	must(t, "AddPasswordDigest", s.AddPasswordDigest(ctx, other.ID, "u-1", store.PasswordDigest{Salt: []byte{99}, Sum: []byte{99}}))
	ds, err := s.PasswordDigests(ctx, d.ID, "u-1")
	must(t, "PasswordDigests", err)
	if len(ds) != 24 || ds[0].Salt[0] != 29 || ds[23].Salt[0] != 6 || ds[0].At.IsZero() {
		t.Errorf("PasswordDigests = %d digests, first %v, want the newest 24 (29 … 6), newest first", len(ds), ds[0])
	}
	if ds, _ := s.PasswordDigests(ctx, other.ID, "u-1"); len(ds) != 1 {
		t.Errorf("the other directory's digests: %d, want 1", len(ds))
	}
	if ds, _ := s.PasswordDigests(ctx, d.ID, "u-2"); len(ds) != 0 {
		t.Errorf("another user's digests: %d, want none", len(ds))
	}
	wantErr(t, "AddPasswordDigest(unknown directory)", s.AddPasswordDigest(ctx, 999, "u-1",
		store.PasswordDigest{Salt: []byte{1}, Sum: []byte{1}}), store.ErrNotFound)
}

// testDirectoryWriteBack: the write-back settings and the sealed initial
// password are kept by create and update, and cleared by nil.
func testDirectoryWriteBack(t *testing.T, s store.Store) {
	ctx := t.Context()
	wb := &store.WriteBack{OUs: []string{"OU=Staff,DC=corp", "OU=Gone,DC=corp"}, Groups: []string{"CN=Disabled,DC=corp"},
		MustChangePassword: true, InitialPassword: []byte{0, 1, 0xfe, 0xff}}
	d := &store.Directory{Name: "corp", Kind: store.KindAD, BaseDN: "DC=corp", WriteBack: wb}
	must(t, "CreateDirectory", s.CreateDirectory(ctx, d))
	other := &store.Directory{Name: "lab", Kind: store.KindOpenLDAP, BaseDN: "dc=lab"}
	must(t, "CreateDirectory", s.CreateDirectory(ctx, other))
	check := func(name string, want *store.WriteBack) {
		t.Helper()
		got, err := s.GetDirectory(ctx, name)
		must(t, "GetDirectory", err)
		if !reflect.DeepEqual(got.WriteBack, want) {
			t.Errorf("%s: WriteBack = %+v, want %+v", name, got.WriteBack, want)
		}
	}
	check("corp", wb)
	check("lab", nil)
	// No password, must-change off.
	d.WriteBack = &store.WriteBack{OUs: []string{"OU=Staff,DC=corp"}}
	must(t, "UpdateDirectory", s.UpdateDirectory(ctx, d))
	check("corp", &store.WriteBack{OUs: []string{"OU=Staff,DC=corp"}})
	d.WriteBack = nil
	must(t, "UpdateDirectory(nil)", s.UpdateDirectory(ctx, d))
	check("corp", nil)
}

func testDirectorySourceToken(t *testing.T, s store.Store) {
	ctx := t.Context()
	d := &store.Directory{Name: "hr", Kind: store.KindSCIM, SafeguardPercent: 20, SafeguardMax: 500,
		Mastered: []string{"title", "department"}}
	must(t, "CreateDirectory", s.CreateDirectory(ctx, d))
	other := &store.Directory{Name: "crm", Kind: store.KindSCIM, SafeguardPercent: 20, SafeguardMax: 500}
	must(t, "CreateDirectory", s.CreateDirectory(ctx, other))
	got, err := s.GetDirectory(ctx, "hr")
	must(t, "GetDirectory", err)
	if !reflect.DeepEqual(got.Mastered, d.Mastered) {
		t.Errorf("Mastered = %q, want %q", got.Mastered, d.Mastered)
	}
	_, err = s.DirectoryBySourceToken(ctx, []byte("h1"))
	wantErr(t, "DirectoryBySourceToken(before any token)", err, store.ErrNotFound)
	_, err = s.DirectoryBySourceToken(ctx, nil)
	wantErr(t, "DirectoryBySourceToken(nil)", err, store.ErrNotFound)
	must(t, "SetSourceToken", s.SetSourceToken(ctx, d.ID, []byte("h1")))
	got, err = s.DirectoryBySourceToken(ctx, []byte("h1"))
	must(t, "DirectoryBySourceToken", err)
	if got.ID != d.ID {
		t.Errorf("DirectoryBySourceToken = directory %d, want %d", got.ID, d.ID)
	}
	must(t, "SetSourceToken(again)", s.SetSourceToken(ctx, d.ID, []byte("h2")))
	_, err = s.DirectoryBySourceToken(ctx, []byte("h1"))
	wantErr(t, "DirectoryBySourceToken(replaced token)", err, store.ErrNotFound)
	wantErr(t, "SetSourceToken(taken hash)", s.SetSourceToken(ctx, other.ID, []byte("h2")), store.ErrConflict)
	wantErr(t, "SetSourceToken(unknown)", s.SetSourceToken(ctx, other.ID+100, []byte("h3")), store.ErrNotFound)
	// Updating the settings keeps the token.
	got.Mastered = nil
	must(t, "UpdateDirectory", s.UpdateDirectory(ctx, got))
	again, err := s.DirectoryBySourceToken(ctx, []byte("h2"))
	must(t, "DirectoryBySourceToken(after update)", err)
	if again.Mastered != nil {
		t.Errorf("Mastered after clearing = %q, want none", again.Mastered)
	}
}

func testDirectoryCreateAndGet(t *testing.T, s store.Store) {
	ctx := t.Context()
	before := time.Now()
	d := &store.Directory{
		Name: "corp", Kind: store.KindAD, BaseDN: "DC=corp,DC=example", UserFilter: "(objectClass=user)",
		GroupFilter: "(objectClass=group)", SafeguardPercent: 5, SafeguardMax: 250,
		CaptureStrategy: "dirsync", PollInterval: 2500 * time.Millisecond, FullImportInterval: 12 * time.Hour,
		Mapping: store.Mapping{Username: "sAMAccountName", Email: "mail", GroupName: "cn",
			GroupMembers: []string{"member"}, Extra: []string{"telephoneNumber", "mobile"}},
	}
	must(t, "CreateDirectory", s.CreateDirectory(ctx, d))
	if d.ID == 0 {
		t.Fatalf("CreateDirectory left ID 0")
	}
	if d.CreatedAt.Before(before.Add(-timeTolerance)) || d.CreatedAt.After(time.Now().Add(timeTolerance)) {
		t.Errorf("CreatedAt = %v, want about %v", d.CreatedAt, before)
	}
	byName, err := s.GetDirectory(ctx, "corp")
	must(t, "GetDirectory", err)
	byID, err := s.GetDirectoryByID(ctx, d.ID)
	must(t, "GetDirectoryByID", err)
	for _, got := range []*store.Directory{byName, byID} {
		if !sameTime(got.CreatedAt, d.CreatedAt) {
			t.Errorf("CreatedAt = %v, want %v (UTC)", got.CreatedAt, d.CreatedAt)
		}
		want := *d
		want.CreatedAt = got.CreatedAt
		if !reflect.DeepEqual(*got, want) {
			t.Errorf("read back %+v, want %+v", *got, want)
		}
	}

	_, err = s.GetDirectory(ctx, "nope")
	wantErr(t, "GetDirectory(unknown)", err, store.ErrNotFound)
	_, err = s.GetDirectoryByID(ctx, d.ID+100)
	wantErr(t, "GetDirectoryByID(unknown)", err, store.ErrNotFound)
}

func testDirectoryNameTaken(t *testing.T, s store.Store) {
	newFixture(t, s, "corp")
	err := s.CreateDirectory(t.Context(), &store.Directory{Name: "corp", Kind: store.KindAD})
	wantErr(t, "CreateDirectory(taken name)", err, store.ErrConflict)
}

func testDirectoryUpdate(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := newFixture(t, s, "corp")
	newFixture(t, s, "other")
	d := *f.dir
	d.Name, d.BaseDN, d.SafeguardPercent = "renamed", "dc=new,dc=org", 50
	d.Mapping.Username = "uid"
	d.CaptureStrategy, d.PollInterval, d.FullImportInterval = "poll", time.Minute, 6*time.Hour
	must(t, "UpdateDirectory", s.UpdateDirectory(ctx, &d))
	got, err := s.GetDirectoryByID(ctx, d.ID)
	must(t, "GetDirectoryByID", err)
	d.CreatedAt = got.CreatedAt
	if !reflect.DeepEqual(*got, d) {
		t.Errorf("after update read %+v, want %+v", *got, d)
	}
	off := d
	off.FullImportInterval = -1 // scheduled full imports off
	must(t, "UpdateDirectory(full imports off)", s.UpdateDirectory(ctx, &off))
	got, err = s.GetDirectoryByID(ctx, d.ID)
	must(t, "GetDirectoryByID(full imports off)", err)
	if got.FullImportInterval >= 0 {
		t.Errorf("full import interval off (-1) read back as %v, want it negative (off), not the default", got.FullImportInterval)
	}
	if _, err := s.GetDirectory(ctx, "corp"); err == nil {
		t.Errorf("GetDirectory(old name) found it after the rename")
	}

	taken := d
	taken.Name = "other"
	wantErr(t, "UpdateDirectory(taken name)", s.UpdateDirectory(ctx, &taken), store.ErrConflict)
	unknown := d
	unknown.ID += 100
	wantErr(t, "UpdateDirectory(unknown id)", s.UpdateDirectory(ctx, &unknown), store.ErrNotFound)
}

func testDirectoryList(t *testing.T, s store.Store) {
	for _, n := range []string{"zeta", "alpha", "Mid", "beta"} {
		newFixture(t, s, n)
	}
	ds, err := s.ListDirectories(t.Context())
	must(t, "ListDirectories", err)
	var got []string
	for _, d := range ds {
		got = append(got, d.Name)
	}
	// Byte order: upper case sorts first in every backend.
	want := []string{"Mid", "alpha", "beta", "zeta"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ListDirectories names = %v, want %v", got, want)
	}
}

func testDirectoryStats(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := newFixture(t, s, "corp")
	other := newFixture(t, s, "other")
	run := f.run(store.RunIncremental)
	suspended := newUser("u3", "carol")
	suspended.Status = store.StatusSuspended
	f.upsert(run, newUser("u1", "alice"), newUser("u2", "bob"), rehash(suspended), newUser("u4", "dave"),
		newGroup("g1", "staff"), newGroup("g2", "old"))
	f.apply(run, store.Batch{Deletes: []string{"u4", "g2"}})
	other.upsert(other.run(store.RunIncremental), newUser("x1", "xavier"))

	got, err := s.DirectoryStats(ctx, f.dir.ID)
	must(t, "DirectoryStats", err)
	want := store.DirectoryStats{Active: 2, Suspended: 1, Deprovisioned: 1, Groups: 1}
	if got != want {
		t.Errorf("DirectoryStats = %+v, want %+v", got, want)
	}
	_, err = s.DirectoryStats(ctx, other.dir.ID+100)
	wantErr(t, "DirectoryStats(unknown)", err, store.ErrNotFound)
}
