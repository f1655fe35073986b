package storetest

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idsync/idsync/server/store"
)

// Opener opens a fresh, empty store for one test. Run closes it when the
// test ends; the opener cleans up whatever else it made (files, databases).
type Opener func(t *testing.T) store.Store

// Run runs the conformance suite against the stores open returns, one fresh
// store per subtest. Subtests run in parallel.
func Run(t *testing.T, open Opener) {
	t.Helper()
	suites := []struct {
		name  string
		tests []test
	}{
		{"Ping", pingTests},
		{"Directories", directoryTests},
		{"Runs", runTests},
		{"ApplyBatch", batchTests},
		{"Capture", captureTests},
		{"Members", memberTests},
		{"Nesting", nestingTests},
		{"Queries", queryTests},
		{"Sweep", sweepTests},
		{"Tokens", tokenTests},
		{"Agents", agentTests},
		{"Apps", appTests},
		{"Assignments", assignmentTests},
		{"Accounts", accountTests},
		{"Queue", queueTests},
		{"Tasks", taskTests},
		{"Feed", feedTests},
		{"Leases", leaseTests},
		{"Audit", auditTests},
		{"Holds", holdTests},
		{"Local", localTests},
		{"Console", consoleTests},
		{"Rules", ruleTests},
		{"Notify", notifyTests},
	}
	for _, su := range suites {
		t.Run(su.name, func(t *testing.T) {
			t.Parallel()
			for _, tc := range su.tests {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					s := open(t)
					t.Cleanup(func() {
						if err := s.Close(); err != nil {
							t.Errorf("Close() = %v", err)
						}
					})
					tc.fn(t, s)
				})
			}
		})
	}
}

var pingTests = []test{{"Answers", func(t *testing.T, s store.Store) {
	wantErr(t, "Ping", s.Ping(t.Context()), nil)
}}}

// test is one named conformance test.
type test struct {
	name string
	fn   func(t *testing.T, s store.Store)
}

// timeTolerance is how far a time may come back from what was stored: the
// backends keep microseconds, a backend keeping milliseconds would pass.
const timeTolerance = time.Millisecond

// sameTime reports whether got is want within timeTolerance and in UTC.
func sameTime(got, want time.Time) bool {
	if got.IsZero() || want.IsZero() {
		return got.IsZero() == want.IsZero()
	}
	d := got.Sub(want)
	return d < timeTolerance && d > -timeTolerance && got.Location() == time.UTC
}

// wantErr fails t unless err is target (nil: no error).
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	switch {
	case target == nil && err != nil:
		t.Fatalf("%s: error %v, want none", what, err)
	case target != nil && !errors.Is(err, target):
		t.Fatalf("%s: error %v, want %v", what, err, target)
	}
}

// oneWins runs fn(0) … fn(n-1) at once and fails t unless exactly one
// returns nil and every other returns lose: a race that the store decides.
func oneWins(t *testing.T, n int, what string, lose error, fn func(i int) error) {
	t.Helper()
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = fn(i)
		})
	}
	close(start)
	wg.Wait()
	won := 0
	for i, err := range errs {
		if err == nil {
			won++
			continue
		}
		wantErr(t, fmt.Sprint(what, " ", i), err, lose)
	}
	if won != 1 {
		t.Errorf("%d of %d %s won, want 1", won, n, what)
	}
}

// pluck returns f of each of xs, in order; nil for none.
func pluck[T, V any](xs []T, f func(T) V) []V {
	var out []V
	for _, x := range xs {
		out = append(out, f(x))
	}
	return out
}

// must fails t on err.
func must(t testing.TB, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// fixture is a store with a directory, and helpers to feed it.
type fixture struct {
	t   testing.TB
	s   store.Store
	dir *store.Directory
	seq map[int64]uint64
}

// newFixture creates directory name in s.
func newFixture(t testing.TB, s store.Store, name string) *fixture {
	t.Helper()
	d := &store.Directory{Name: name, Kind: store.KindOpenLDAP, BaseDN: "dc=example,dc=org",
		SafeguardPercent: 10, SafeguardMax: 100}
	must(t, "CreateDirectory", s.CreateDirectory(t.Context(), d))
	return &fixture{t: t, s: s, dir: d, seq: map[int64]uint64{}}
}

// run starts a run of the fixture's directory.
func (f *fixture) run(kind store.RunKind) *store.Run {
	f.t.Helper()
	r := &store.Run{DirectoryID: f.dir.ID, Kind: kind, Trigger: "test"}
	must(f.t, "CreateRun", f.s.CreateRun(f.t.Context(), r))
	return r
}

// end completes a running run, as a run ends before the next of its kind.
func (f *fixture) end(run *store.Run) {
	f.t.Helper()
	_, err := f.s.TransitionRun(f.t.Context(), run.ID, []store.RunState{store.RunRunning},
		store.RunUpdate{State: store.RunCompleted, Finished: true})
	must(f.t, "TransitionRun(completed)", err)
}

// apply applies a batch to run with the run's next sequence number.
func (f *fixture) apply(run *store.Run, b store.Batch) store.BatchResult {
	f.t.Helper()
	f.seq[run.ID]++
	b.RunID, b.DirectoryID, b.Sequence = run.ID, f.dir.ID, f.seq[run.ID]
	res, err := f.s.ApplyBatch(f.t.Context(), &b)
	must(f.t, fmt.Sprintf("ApplyBatch(run %d, sequence %d)", run.ID, b.Sequence), err)
	return res
}

// upsert applies a batch of upserts to run.
func (f *fixture) upsert(run *store.Run, objs ...*store.Object) store.BatchResult {
	f.t.Helper()
	return f.apply(run, store.Batch{Upserts: objs})
}

// getRun reads a run back.
func (f *fixture) getRun(id int64) *store.Run {
	f.t.Helper()
	r, err := f.s.GetRun(f.t.Context(), id)
	must(f.t, "GetRun", err)
	return r
}

// user finds the one user with this username.
func (f *fixture) user(name string) *store.User {
	f.t.Helper()
	us, err := f.s.FindUsers(f.t.Context(), f.dir.ID, name)
	return only(f.t, "FindUsers", name, us, err)
}

// group finds the one group with this name.
func (f *fixture) group(name string) *store.Group {
	f.t.Helper()
	gs, err := f.s.FindGroups(f.t.Context(), f.dir.ID, name)
	return only(f.t, "FindGroups", name, gs, err)
}

// only returns the one thing a find found.
func only[T any](t testing.TB, what, name string, found []T, err error) T {
	t.Helper()
	must(t, what, err)
	if len(found) != 1 {
		t.Fatalf("%s(%q) found %d, want 1", what, name, len(found))
	}
	return found[0]
}

// userDN is the DN of a test user.
func userDN(name string) string { return "uid=" + name + ",ou=People,dc=example,dc=org" }

// groupDN is the DN of a test group.
func groupDN(name string) string { return "cn=" + name + ",ou=Groups,dc=example,dc=org" }

// newUser returns a user object with external id ext and username name.
func newUser(ext, name string) *store.Object {
	o := &store.Object{
		Kind: store.ObjectUser, ExternalID: ext, DN: userDN(name), DNKey: strings.ToLower(userDN(name)),
		Status: store.StatusActive,
		Profile: store.Profile{
			Username: name, Email: name + "@example.org", GivenName: "Given " + name,
			FamilyName: "Family " + name, DisplayName: "Display " + name, EmployeeNumber: "E-" + ext,
			Department: "Engineering", Title: "Engineer", Manager: userDN("boss"),
		},
	}
	return rehash(o)
}

// newGroup returns a group object with a complete member set.
func newGroup(ext, name string, members ...store.MemberRef) *store.Object {
	o := &store.Object{
		Kind: store.ObjectGroup, ExternalID: ext, DN: groupDN(name), DNKey: strings.ToLower(groupDN(name)),
		Status: store.StatusActive, Name: name, Description: "Group " + name,
		Members: members, MembersComplete: true,
	}
	return rehash(o)
}

// dnMember is a member value naming a DN.
func dnMember(dn string) store.MemberRef {
	return store.MemberRef{Value: dn, Key: "dn:" + strings.ToLower(dn)}
}

// uidMember is a posixGroup memberUid value.
func uidMember(uid string) store.MemberRef {
	return store.MemberRef{Value: uid, Key: "uid:" + strings.ToLower(uid)}
}

// rehash sets o.Hash from everything else in o, as the sync layer does.
func rehash(o *store.Object) *store.Object {
	c := *o
	c.Hash = ""
	sum := sha256.Sum256(fmt.Appendf(nil, "%+v", c))
	o.Hash = hex.EncodeToString(sum[:])
	return o
}

// clone returns a deep enough copy of o to change and rehash.
func clone(o *store.Object) *store.Object {
	c := *o
	c.Members = append([]store.MemberRef(nil), o.Members...)
	return &c
}
