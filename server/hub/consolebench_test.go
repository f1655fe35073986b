package hub_test

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
	"github.com/idsync/idsync/server/store"
)

// `make bench` runs BenchmarkConsolePages (scripts/bench, section
// console) and holds each page to the target: under 150 ms of
// server time at 100,000 users and 1,000 groups on SQLite.

// Sizes of the benchmark's directory.
const (
	benchUsers  = 100_000
	benchGroups = 1_000
	// benchBigGroup is the size of the one large group (think Domain
	// Users), beside the others' 100.
	benchBigGroup = 20_000
	// benchAccounts of the users have an account in app crm.
	benchAccounts = 20_000
	benchEvents   = 20_000
	benchRuns     = 40
)

func benchUID(i int) string { return fmt.Sprintf("user%06d", i) }

func benchGroupName(i int) string {
	if i == benchGroups-1 {
		return "everyone"
	}
	return fmt.Sprintf("group%04d", i)
}

// bigDirectory fills corp with benchUsers users (one in a hundred
// suspended) and benchGroups groups: each of 100 users, every tenth also
// holding the nine after it (nesting), and one of benchBigGroup users;
// app crm with benchAccounts accounts; benchEvents audit events; and
// benchRuns completed full imports.
func bigDirectory(tb testing.TB) func(store.Store) {
	return func(st store.Store) {
		ctx := tb.Context()
		corp, err := st.GetDirectory(ctx, "corp")
		if err != nil {
			tb.Fatal(err)
		}
		runs, err := st.ListRuns(ctx, store.RunFilter{DirectoryID: corp.ID})
		if err != nil || len(runs) != 1 {
			tb.Fatalf("runs of corp: %v (%v)", runs, err)
		}
		const base = "ou=people,dc=example,dc=org"
		seq := uint64(1)
		apply := func(objs []*store.Object) {
			seq++
			if _, err := st.ApplyBatch(ctx, &store.Batch{RunID: runs[0].ID, DirectoryID: corp.ID, Sequence: seq, Upserts: objs}); err != nil {
				tb.Fatal(err)
			}
		}
		var batch []*store.Object
		for i := range benchUsers {
			u := seedUser(benchUID(i), base)
			u.Profile.GivenName, u.Profile.FamilyName = fmt.Sprintf("Given%d", i%997), fmt.Sprintf("Family%d", i%1009)
			u.Profile.DisplayName = u.Profile.GivenName + " " + u.Profile.FamilyName
			u.Profile.Department = []string{"sales", "engineering", "support", "finance"}[i%4]
			if i%100 == 99 {
				u.Status = store.StatusSuspended
			}
			u.Hash += u.Profile.DisplayName + string(u.Status)
			if batch = append(batch, u); len(batch) == 1000 {
				apply(batch)
				batch = nil
			}
		}
		for g := range benchGroups {
			var members []string
			n := 100
			if g == benchGroups-1 {
				n = benchBigGroup
			}
			for j := range n {
				members = append(members, benchUID((g*100+j)%benchUsers))
			}
			o := seedGroup(benchGroupName(g), base, members...)
			if g%10 == 0 {
				for k := g + 1; k < g+10 && k < benchGroups-1; k++ {
					dn := "cn=" + benchGroupName(k) + "," + base
					o.Members = append(o.Members, store.MemberRef{Value: dn, Key: "dn:" + strings.ToLower(dn)})
				}
			}
			if batch = append(batch, o); len(batch) == 100 {
				apply(batch)
				batch = nil
			}
		}
		if len(batch) > 0 {
			apply(batch)
		}
		app := &store.App{Name: "crm", SCIMURL: "https://crm.example.org/scim/v2", AuthKind: "bearer",
			AllowCreate: true, AllowUpdate: true, AllowDeactivate: true}
		if err := st.CreateApp(ctx, app); err != nil {
			tb.Fatal(err)
		}
		for i := range benchAccounts {
			us, err := st.FindUsers(ctx, corp.ID, benchUID(i))
			if err != nil || len(us) != 1 {
				tb.Fatalf("user %s: %v (%v)", benchUID(i), us, err)
			}
			state := store.AccountActive
			if i%100 == 99 {
				state = store.AccountDeactivated
			}
			if err := st.PutAccount(ctx, &store.Account{AppID: app.ID, UserID: us[0].ID, RemoteID: fmt.Sprint("r-", i), State: state}); err != nil {
				tb.Fatal(err)
			}
		}
		var events []*store.AuditEvent
		for i := range benchEvents {
			events = append(events, &store.AuditEvent{Actor: "admin:ops", Action: "user.deactivated", Target: "user:" + benchUID(i%benchUsers),
				Outcome: store.AuditOK, Detail: "bench"})
			if len(events) == 1000 {
				if err := st.AppendAudit(ctx, events...); err != nil {
					tb.Fatal(err)
				}
				events = nil
			}
		}
		// The hub starts caught up with its change feed, as one that has run
		// a while: the benchmark measures pages, not the first drain of the
		// feed by provisioning and the rules.
		pos, err := st.FeedPosition(ctx)
		if err != nil {
			tb.Fatal(err)
		}
		for _, c := range []string{"provision", "rules"} {
			if err := st.SetCursor(ctx, c, pos); err != nil {
				tb.Fatal(err)
			}
		}
		for range benchRuns {
			r := &store.Run{DirectoryID: corp.ID, Kind: store.RunFull, Trigger: "schedule"}
			if err := st.CreateRun(ctx, r); err != nil {
				tb.Fatal(err)
			}
			if _, err := st.TransitionRun(ctx, r.ID, []store.RunState{store.RunRunning},
				store.RunUpdate{State: store.RunCompleted, Finished: true}); err != nil {
				tb.Fatal(err)
			}
		}
	}
}

// BenchmarkConsolePages times each page of the console, signed in as the
// bootstrap super-admin, over HTTP on loopback against a hub whose SQLite
// store holds bigDirectory: the time from the request to the last byte
// of the answer, its p50 and p99 reported per page.
func BenchmarkConsolePages(b *testing.B) {
	start := time.Now()
	h := startHub(b, bigDirectory(b))
	b.Logf("seeded %d users, %d groups in %s", benchUsers, benchGroups, time.Since(start).Round(time.Second))
	ctx := as(b.Context(), h.boot)
	admin := idsyncv1.NewAdminServiceClient(h.conn)
	apps := idsyncv1.NewAppServiceClient(h.conn)
	user, err := admin.GetUser(ctx, &idsyncv1.GetUserRequest{User: benchUID(54321), Directory: "corp"})
	if err != nil {
		b.Fatal(err)
	}
	groupID := func(name string) string {
		resp, err := admin.GetGroup(ctx, &idsyncv1.GetGroupRequest{Group: name, Directory: "corp"})
		if err != nil {
			b.Fatalf("group %s: %v", name, err)
		}
		return resp.GetGroup().GetId()
	}
	nesting, big := groupID(benchGroupName(500)), groupID("everyone")
	runs, err := admin.ListImports(ctx, &idsyncv1.ListImportsRequest{Directory: "corp", Limit: 1})
	if err != nil || len(runs.GetRuns()) == 0 {
		b.Fatalf("ListImports: %v (%v)", runs, err)
	}
	accounts, err := apps.ListAccounts(ctx, &idsyncv1.ListAccountsRequest{App: "crm"})
	if err != nil {
		b.Fatal(err)
	}
	users, err := admin.SearchUsers(ctx, &idsyncv1.SearchUsersRequest{})
	if err != nil {
		b.Fatal(err)
	}
	groups, err := admin.ListGroups(ctx, &idsyncv1.ListGroupsRequest{PageSize: 100})
	if err != nil {
		b.Fatal(err)
	}
	q := url.QueryEscape
	pages := []struct{ name, path string }{
		{"overview", "/"},
		{"directories", "/directories"},
		{"directory", "/directories/corp"},
		{"directory-edit", "/directories/corp/edit"},
		{"import", "/imports/" + runs.GetRuns()[0].GetId()},
		{"users", "/users"},
		{"users-next-page", "/users?page=" + q(users.GetNextPageToken())},
		{"users-search", "/users?q=user0543"},
		{"users-search-name", "/users?q=given42"},
		// No user matches: the search passes over every user.
		{"users-search-nobody", "/users?q=zzzz-nobody"},
		// Every user matches: the page is the first 50 of 100,000.
		{"users-search-everyone", "/users?q=user"},
		{"users-suspended", "/users?status=suspended&directory=corp"},
		{"users-in-group", "/users?group=" + q(nesting)},
		{"users-in-group-nested", "/users?nested=on&group=" + q(nesting)},
		{"users-in-big-group", "/users?group=" + q(big)},
		{"user", "/users/" + user.GetUser().GetId()},
		{"groups", "/groups"},
		{"groups-next-page", "/groups?page=" + q(groups.GetNextPageToken())},
		{"groups-search", "/groups?q=group05"},
		{"group", "/groups/" + nesting},
		{"group-big", "/groups/" + big},
		{"apps", "/apps"},
		{"app", "/apps/crm"},
		{"app-accounts-next", "/apps/crm?accounts=" + q(accounts.GetNextPageToken())},
		{"app-edit", "/apps/crm/edit"},
		{"tasks", "/tasks"},
		{"audit", "/audit"},
		{"audit-filtered", "/audit?actor=admin%3Aops&action=user.deactivated"},
		{"reports", "/reports"},
		{"report-users", "/reports/users"},
		{"report-app-usage", "/reports/app-usage"},
		{"report-pending-deprovisions", "/reports/pending-deprovisions"},
		{"report-failed-pushes", "/reports/failed-pushes"},
		{"report-imports", "/reports/imports"},
		{"report-agents", "/reports/agents"},
		{"report-upcoming-purges", "/reports/upcoming-purges"},
		{"agents", "/agents"},
		{"admins", "/admins"},
		{"typeahead", "/typeahead?q=group05"},
	}
	br := newBrowser(b, h)
	br.signIn(h.boot)
	for _, p := range pages {
		b.Run(p.name, func(b *testing.B) {
			var took []time.Duration
			for b.Loop() {
				t0 := time.Now()
				code, body, _ := br.get(p.path)
				took = append(took, time.Since(t0))
				if code != 200 {
					b.Fatalf("GET %s: %d\n%s", p.path, code, body)
				}
			}
			slices.Sort(took)
			at := func(q float64) float64 {
				return float64(took[min(len(took)-1, int(q*float64(len(took))))]) / float64(time.Millisecond)
			}
			b.ReportMetric(at(0.5), "p50-ms")
			b.ReportMetric(at(0.99), "p99-ms")
		})
	}
}
