package storetest

import (
	"fmt"
	"testing"

	"github.com/idsync/idsync/server/store"
)

// BenchOpener opens a fresh, empty store for a benchmark and cleans up
// after it (the benchmark closes the store).
type BenchOpener func(tb testing.TB) store.Store

// Benchmark sizes: a full import of a large directory as the agent sends it.
const (
	benchUsers     = 100_000
	benchBatchSize = 1000 // the agent's default (ingest.DefaultBatchSize)
	benchGroup     = 4    // batches per transaction: the hub's group commit holds up to 4,000 objects
)

// BenchmarkApplyBatch imports 100,000 users in batches of 1,000 into a fresh
// store ("first import"), and imports them again unchanged into a store
// that holds them ("reimport unchanged"). It reports objects/s.
func BenchmarkApplyBatch(b *testing.B, open BenchOpener) {
	// Made once, outside the timer: the benchmark measures the store.
	users := make([]*store.Object, benchUsers)
	for i := range users {
		users[i] = benchUser(i)
	}
	b.Run("first import", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			s := open(b)
			f := newFixture(b, s, "bench")
			b.StartTimer()
			benchImport(b, f, users)
			b.StopTimer()
			must(b, "Close", s.Close())
			b.StartTimer()
		}
		b.ReportMetric(float64(benchUsers*b.N)/b.Elapsed().Seconds(), "objects/s")
	})
	b.Run("reimport unchanged", func(b *testing.B) {
		s := open(b)
		defer s.Close()
		f := newFixture(b, s, "bench")
		benchImport(b, f, users)
		b.ResetTimer()
		for b.Loop() {
			benchImport(b, f, users)
		}
		b.ReportMetric(float64(benchUsers*b.N)/b.Elapsed().Seconds(), "objects/s")
	})
}

// benchImport runs one full import of users and checks its counters. It
// commits benchGroup batches in one transaction, as the hub's session
// does with the batches queued behind a commit.
func benchImport(b *testing.B, f *fixture, users []*store.Object) {
	run := f.run(store.RunFull)
	var group []*store.Batch
	flush := func() {
		_, err := f.s.ApplyBatches(b.Context(), group)
		must(b, "ApplyBatches", err)
		group = group[:0]
	}
	for i := 0; i < len(users); i += benchBatchSize {
		f.seq[run.ID]++
		group = append(group, &store.Batch{RunID: run.ID, DirectoryID: f.dir.ID, Sequence: f.seq[run.ID],
			Upserts: users[i:min(i+benchBatchSize, len(users))]})
		if len(group) == benchGroup {
			flush()
		}
	}
	if len(group) > 0 {
		flush()
	}
	f.end(run)
	r := f.getRun(run.ID)
	if r.Seen != benchUsers || r.Created+r.Unchanged != benchUsers {
		b.Fatalf("run counted %d seen, %d created, %d unchanged; want %d seen, all created or all unchanged",
			r.Seen, r.Created, r.Unchanged, benchUsers)
	}
}

// benchUser is user i of the benchmark directory; the same i gives the same
// object (and hash). Its external id leads with bits that scatter over the
// users, as entryUUIDs and objectGUIDs do, so that the store's index on
// them is written as a directory's import writes it, not in append order.
// Its username scatters too (a directory's names do not come in
// alphabetical order), and with it the indexes on names and e-mail.
func benchUser(i int) *store.Object {
	scatter := uint32(i) * 2654435761
	return newUser(fmt.Sprintf("%08x-0000-4000-8000-%012d", scatter, i), fmt.Sprintf("u%08x%06d", scatter^0x5bd1e995, i))
}

// Queue benchmark sizes: the 10,000 users of the provisioning benchmark,
// pushed by 8 workers claiming 16 jobs at a time.
const (
	benchJobs       = 10_000
	benchWorkers    = 8
	benchClaimBatch = 16
)

// BenchmarkQueue enqueues 10,000 user jobs of one app ("enqueue") and
// drains them with 8 workers that each claim 16 at a time and complete
// them one by one ("claim and complete"). It reports jobs/s.
func BenchmarkQueue(b *testing.B, open BenchOpener) {
	targets := make([]string, benchJobs)
	for i := range targets {
		targets[i] = benchUser(i).ExternalID
	}
	// fill makes a store with an app, and its jobs when queued is set.
	fill := func(queued bool) (store.Store, *store.App) {
		s := open(b)
		a := newApp(b, s, "bench")
		if queued {
			for _, target := range targets {
				enqueue(b, s, a.ID, store.JobUser, target, at(0))
			}
		}
		return s, a
	}
	b.Run("enqueue", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			s, a := fill(false)
			b.StartTimer()
			for _, target := range targets {
				enqueue(b, s, a.ID, store.JobUser, target, at(0))
			}
			b.StopTimer()
			must(b, "Close", s.Close())
			b.StartTimer()
		}
		b.ReportMetric(float64(benchJobs*b.N)/b.Elapsed().Seconds(), "jobs/s")
	})
	b.Run("claim and complete", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			s, a := fill(true)
			b.StartTimer()
			completed, failed := drain(b, s, a.ID, benchJobs, benchWorkers, benchClaimBatch)
			b.StopTimer()
			if len(completed) != benchJobs || failed > 0 {
				b.Fatalf("%d jobs completed, %d completions failed; want %d, none", len(completed), failed, benchJobs)
			}
			must(b, "Close", s.Close())
			b.StartTimer()
		}
		b.ReportMetric(float64(benchJobs*b.N)/b.Elapsed().Seconds(), "jobs/s")
	})
}

// Nesting benchmark sizes: a directory of 100,000 users, all in one group,
// and in 100 department groups of 1,000 that one group nests.
const (
	benchDepts    = 100
	benchDeptSize = benchUsers / benchDepts
)

// BenchmarkNesting measures the reads that resolve members and walk
// nesting, over a directory of 100,000 users: group everyone lists them
// all by DN, dept00 … dept99 list 1,000 each, and depts nests the 100
// departments; app bench is assigned depts. Loaded once, outside the
// timer.
func BenchmarkNesting(b *testing.B, open BenchOpener) {
	benchNestingOf(b, open, false)
}

// BenchmarkNestingByID is BenchmarkNesting with the groups in a local
// directory, holding the users of the other directory and nesting the
// departments by id.
func BenchmarkNestingByID(b *testing.B, open BenchOpener) {
	benchNestingOf(b, open, true)
}

func benchNestingOf(b *testing.B, open BenchOpener, byID bool) {
	ctx := b.Context()
	s := open(b)
	defer s.Close()
	f := newFixture(b, s, "bench")
	run := f.run(store.RunFull)
	users := make([]*store.Object, benchUsers)
	for i := range users {
		users[i] = benchUser(i)
	}
	for i := 0; i < len(users); i += benchBatchSize {
		f.upsert(run, users[i:min(i+benchBatchSize, len(users))]...)
	}
	f.end(run)
	member := func(o *store.Object) store.MemberRef { return dnMember(o.DN) }
	groupOf := newGroup
	nested := func(name string) store.MemberRef { return dnMember(groupDN(name)) }
	g := f
	if byID {
		g = newLocalFixture(b, s, "staff")
		all, err := s.ListUsers(ctx, store.UserFilter{DirectoryID: f.dir.ID})
		must(b, "ListUsers", err)
		id := map[string]string{}
		for _, u := range all {
			id[u.ExternalID] = u.ID
		}
		member = func(o *store.Object) store.MemberRef { return store.IDMember(id[o.ExternalID]) }
		groupOf = func(ext, name string, members ...store.MemberRef) *store.Object {
			return rehash(&store.Object{Kind: store.ObjectGroup, ExternalID: ext, Status: store.StatusActive, Name: name,
				Members: members, MembersComplete: true})
		}
		nested = func(name string) store.MemberRef { return store.IDMember(g.group(name).ID) }
	}
	grun := g.run(store.RunWrite)
	everyone := pluck(users, member)
	var groups []*store.Object
	for d := range benchDepts {
		name := fmt.Sprintf("dept%02d", d)
		groups = append(groups, groupOf("g-"+name, name, everyone[d*benchDeptSize:(d+1)*benchDeptSize]...))
	}
	g.upsert(grun, append(groups, groupOf("g-everyone", "everyone", everyone...))...)
	var depts []store.MemberRef
	for d := range benchDepts {
		depts = append(depts, nested(fmt.Sprintf("dept%02d", d)))
	}
	g.upsert(grun, groupOf("g-depts", "depts", depts...))
	g.end(grun)
	app := newApp(b, s, "bench")
	must(b, "Assign", s.Assign(ctx, store.Assignment{AppID: app.ID, Kind: store.AssignGroup, TargetID: g.group("depts").ID}))
	user := f.user(benchUser(benchUsers / 2).Profile.Username)
	dept := g.group(fmt.Sprintf("dept%02d", benchDepts/2))

	benchNesting(b, s, app.ID, user, dept.ID, g.group("everyone").ID, benchUsers)
}

// benchNesting runs the nesting reads: app holds want users through
// nested groups, user is in a department group dept, big lists want
// users directly.
func benchNesting(b *testing.B, s store.Store, app int64, user *store.User, dept, big string, want int) {
	ctx := b.Context()
	count := func(what string, got, want int) {
		if got != want {
			b.Fatalf("%s: %d, want %d", what, got, want)
		}
	}
	b.Run("AppUsers", func(b *testing.B) {
		for b.Loop() {
			ids, err := s.AppUsers(ctx, app)
			must(b, "AppUsers", err)
			count("AppUsers", len(ids), want)
		}
	})
	b.Run("AppsOfUser", func(b *testing.B) {
		for b.Loop() {
			ids, err := s.AppsOfUser(ctx, user.ID)
			must(b, "AppsOfUser", err)
			count("AppsOfUser", len(ids), 1)
		}
	})
	b.Run("UserGroups", func(b *testing.B) {
		for b.Loop() {
			gs, err := s.UserGroups(ctx, user.ID)
			must(b, "UserGroups", err)
			count("UserGroups", len(gs), 2)
		}
	})
	b.Run("UserGroupsTransitive", func(b *testing.B) {
		for b.Loop() {
			ms, err := s.UserGroupsTransitive(ctx, user.ID)
			must(b, "UserGroupsTransitive", err)
			count("UserGroupsTransitive", len(ms), 3)
		}
	})
	b.Run("GroupUsersTransitive of a department", func(b *testing.B) {
		for b.Loop() {
			us, err := s.GroupUsersTransitive(ctx, dept)
			must(b, "GroupUsersTransitive", err)
			count("GroupUsersTransitive", len(us), benchDeptSize)
		}
	})
	b.Run("GroupMembers of a department", func(b *testing.B) {
		for b.Loop() {
			ms, err := s.GroupMembers(ctx, dept)
			must(b, "GroupMembers", err)
			count("GroupMembers", len(ms), benchDeptSize)
		}
	})
	b.Run("GetGroup of the largest", func(b *testing.B) {
		for b.Loop() {
			g, err := s.GetGroup(ctx, big)
			must(b, "GetGroup", err)
			count("GetGroup members", int(g.MemberCount-g.UnresolvedMembers), want)
		}
	})
	b.Run("ListUsers with groups, a page of 500", func(b *testing.B) {
		for b.Loop() {
			us, err := s.ListUsers(ctx, store.UserFilter{AfterID: user.ID, Limit: 500, WithGroups: true})
			must(b, "ListUsers", err)
			count("ListUsers", len(us), 500)
		}
	})
}
