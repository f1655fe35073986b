package hub_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"testing"

	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
	"github.com/idsync/idsync/server/auth"
	"github.com/idsync/idsync/server/store"
)

// staffUsers is how many users staffAndMergers puts in group staff: more
// than a page of ListUsers and more than one window of a group-admin's
// user ids.
const staffUsers = 1100

// corpGroupOf adds to corp n users named by format (of their index) in
// group name, and the groups more makes of their names.
func corpGroupOf(t *testing.T, name, format string, n int, more func(names []string) []*store.Object) func(store.Store) {
	return func(st store.Store) {
		ctx := t.Context()
		corp, err := st.GetDirectory(ctx, "corp")
		if err != nil {
			t.Fatal(err)
		}
		runs, err := st.ListRuns(ctx, store.RunFilter{DirectoryID: corp.ID})
		if err != nil || len(runs) != 1 {
			t.Fatalf("runs of corp: %v (%v)", runs, err)
		}
		const parent = "dc=example,dc=org"
		var batch []*store.Object
		var names []string
		for i := range n {
			names = append(names, fmt.Sprintf(format, i))
			batch = append(batch, seedUser(names[i], parent))
		}
		batch = append(batch, seedGroup(name, parent, names...))
		batch = append(batch, more(names)...)
		if _, err := st.ApplyBatch(ctx, &store.Batch{RunID: runs[0].ID, DirectoryID: corp.ID, Sequence: 2, Upserts: batch}); err != nil {
			t.Fatal(err)
		}
	}
}

// staffAndMergers adds to corp the users s0000… in group staff, and group
// mergers-2027 whose members are ann and s0000.
func staffAndMergers(t *testing.T) func(store.Store) {
	return corpGroupOf(t, "staff", "s%04d", staffUsers, func([]string) []*store.Object {
		return []*store.Object{seedGroup("mergers-2027", "dc=example,dc=org", "ann", "s0000")}
	})
}

// listAllUsers pages ListUsers by limit until a short page, checking that
// no page is larger than it may be, and returns the users by username. A
// short page before the end would lose users: the callers count them.
func listAllUsers(t *testing.T, admin idsyncv1.AdminServiceClient, ctx context.Context, limit uint32) map[string]*idsyncv1.User {
	t.Helper()
	most := int(limit)
	if limit == 0 || limit > 1000 {
		most = 1000
	}
	out := map[string]*idsyncv1.User{}
	req := &idsyncv1.ListUsersRequest{Limit: limit}
	for {
		resp, err := admin.ListUsers(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range resp.GetUsers() {
			out[u.GetUsername()] = u
		}
		n := len(resp.GetUsers())
		if n > most {
			t.Fatalf("ListUsers limit %d: a page of %d users, want at most %d", limit, n, most)
		}
		if n < most {
			return out
		}
		req.AfterId = resp.GetUsers()[n-1].GetId()
	}
}

// TestListsKeepToAGroupAdminsGroups: a group-admin's pages of users,
// groups and accounts hold its groups' users and groups only, full pages
// (the scope is in the read, not a filter after it), with page tokens that
// name nothing outside; the users' groups it is told of are its own. An
// admin who sees everything sees the rest, so each check can fail.
func TestListsKeepToAGroupAdminsGroups(t *testing.T) {
	h := startHub(t, staffAndMergers(t), crmAccounts(t))
	ctx := t.Context()
	admin := idsyncv1.NewAdminServiceClient(h.conn)
	apps := idsyncv1.NewAppServiceClient(h.conn)
	boot := as(ctx, h.boot)
	ids := h.groupIDs()
	staff := as(ctx, h.token("staff-lead", auth.RoleGroupAdmin, []string{ids["corp/staff"]}, nil))
	sales := as(ctx, h.token("sales-lead", auth.RoleGroupAdmin, []string{ids["corp/sales"]}, nil))

	t.Run("users", func(t *testing.T) {
		// 700 a page: the scope's 1,100 users come in a full page and the
		// rest, whatever lies between them in id order outside the group.
		got := listAllUsers(t, admin, staff, 700)
		if len(got) != staffUsers {
			t.Errorf("staff's group-admin lists %d users by pages of 700, want %d", len(got), staffUsers)
		}
		for name := range got {
			if !strings.HasPrefix(name, "s") {
				t.Errorf("staff's group-admin lists %s, outside its group", name)
			}
		}
		all := listAllUsers(t, admin, boot, 0)
		if len(all) != staffUsers+3 {
			t.Errorf("the super-admin lists %d users by pages of the most (1,000), want %d", len(all), staffUsers+3)
		}
		if g := all["ann"].GetGroups(); !slices.Contains(g, "mergers-2027") {
			t.Fatalf("the super-admin sees ann in %v, want mergers-2027 among them", g)
		}
		if g := listAllUsers(t, admin, sales, 0)["ann"].GetGroups(); !slices.Equal(g, []string{"sales"}) {
			t.Errorf("sales' group-admin lists ann in groups %v, want [sales] alone", g)
		}
		if g := got["s0000"].GetGroups(); !slices.Equal(g, []string{"staff"}) {
			t.Errorf("staff's group-admin lists s0000 in groups %v, want [staff] alone", g)
		}
	})

	t.Run("a user's groups", func(t *testing.T) {
		for _, c := range []struct {
			ctx  context.Context
			want []string
		}{{boot, []string{"mergers-2027", "sales"}}, {sales, []string{"sales"}}} {
			u, err := admin.GetUser(c.ctx, &idsyncv1.GetUserRequest{User: "ann"})
			if err != nil {
				t.Fatal(err)
			}
			var nested []string
			for _, g := range u.GetUser().GetTransitiveGroups() {
				nested = append(nested, g.GetName())
			}
			slices.Sort(nested)
			if g := u.GetUser().GetGroups(); !slices.Equal(g, c.want) || !slices.Equal(nested, c.want) {
				t.Errorf("ann's groups %v and transitive groups %v, want %v", g, nested, c.want)
			}
		}
		// What an action on a user answers shows the user as user show
		// does, its groups included.
		held, err := admin.SuspendUser(sales, &idsyncv1.SuspendUserRequest{User: "ann", Reason: "leave"})
		if err != nil || !slices.Equal(held.GetUser().GetGroups(), []string{"sales"}) {
			t.Errorf("suspend by sales' group-admin answers ann in groups %v (%v), want [sales]", held.GetUser().GetGroups(), err)
		}
		back, err := admin.UnsuspendUser(boot, &idsyncv1.UnsuspendUserRequest{User: "ann"})
		if err != nil || !slices.Equal(back.GetUser().GetGroups(), []string{"mergers-2027", "sales"}) {
			t.Errorf("unsuspend by the super-admin answers ann in groups %v (%v), want [mergers-2027 sales]", back.GetUser().GetGroups(), err)
		}
		// Those actions are runs of kind admin, not imports: the
		// directory's last run is its last import still.
		runs, err := admin.ListImports(boot, &idsyncv1.ListImportsRequest{Directory: "corp", Limit: 1})
		if err != nil || len(runs.GetRuns()) != 1 || runs.GetRuns()[0].GetKind() != idsyncv1.ImportKind_IMPORT_KIND_ADMIN {
			t.Errorf("corp's newest run: %v (%v), want the unsuspend, of kind admin", runs.GetRuns(), err)
		}
		d, err := admin.GetDirectory(boot, &idsyncv1.GetDirectoryRequest{Name: "corp"})
		if k := d.GetDirectory().GetLastRun().GetKind(); err != nil || k != idsyncv1.ImportKind_IMPORT_KIND_INCREMENTAL {
			t.Errorf("corp's last run is of kind %v (%v), want the seed's import (incremental)", k, err)
		}
	})

	t.Run("groups", func(t *testing.T) {
		var names []string
		req := &idsyncv1.ListGroupsRequest{PageSize: 1}
		for {
			resp, err := admin.ListGroups(sales, req)
			if err != nil {
				t.Fatal(err)
			}
			for _, g := range resp.GetGroups() {
				names = append(names, g.GetName())
			}
			if req.PageToken = resp.GetNextPageToken(); req.PageToken == "" {
				break
			}
			raw, _ := base64.RawURLEncoding.DecodeString(req.PageToken)
			if name, _, _ := strings.Cut(string(raw), "\x00"); name != "sales" {
				t.Errorf("sales' group-admin gets a page token after group %q", name)
			}
		}
		if !slices.Equal(names, []string{"sales"}) {
			t.Errorf("sales' group-admin lists groups %v a page of one at a time, want [sales]", names)
		}
		resp, err := admin.ListGroups(boot, &idsyncv1.ListGroupsRequest{PageSize: 1})
		if err != nil || resp.GetNextPageToken() == "" {
			t.Errorf("the super-admin's first page of one group has no next page: %v (%v)", resp, err)
		}
	})

	t.Run("accounts", func(t *testing.T) {
		users := map[string]string{}
		for _, n := range []string{"ann", "bob", "cid"} {
			u, err := admin.GetUser(boot, &idsyncv1.GetUserRequest{User: n})
			if err != nil {
				t.Fatal(err)
			}
			users[u.GetUser().GetId()] = n
		}
		for _, c := range []struct {
			ctx  context.Context
			want []string
		}{{boot, []string{"ann", "bob", "cid"}}, {sales, []string{"ann"}}} {
			var got []string
			req := &idsyncv1.ListAccountsRequest{App: "crm", PageSize: 1}
			for {
				resp, err := apps.ListAccounts(c.ctx, req)
				if err != nil {
					t.Fatal(err)
				}
				if len(resp.GetAccounts()) != 1 {
					t.Errorf("a page of one account holds %d", len(resp.GetAccounts()))
				}
				for _, a := range resp.GetAccounts() {
					got = append(got, users[a.GetUserId()])
				}
				if req.PageToken = resp.GetNextPageToken(); req.PageToken == "" {
					break
				}
				if n := users[req.PageToken]; !slices.Contains(c.want, n) {
					t.Errorf("a page token names user %s (%s), not one of %v", n, req.PageToken, c.want)
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, c.want) {
				t.Errorf("accounts of crm by pages of one: %v, want %v", got, c.want)
			}
		}
	})
}

// TestListsArePaged: however large the directory or the group, a call
// answers a page: ListUsers 1,000 users at most, GetGroup 500 members,
// each with the way to the next page.
func TestListsArePaged(t *testing.T) {
	h := startHub(t, staffAndMergers(t))
	ctx := as(t.Context(), h.boot)
	admin := idsyncv1.NewAdminServiceClient(h.conn)
	for _, limit := range []uint32{0, 5000} {
		resp, err := admin.ListUsers(ctx, &idsyncv1.ListUsersRequest{Limit: limit})
		if err != nil || len(resp.GetUsers()) != 1000 {
			t.Errorf("ListUsers limit %d of %d users: %d (%v), want 1,000", limit, staffUsers+3, len(resp.GetUsers()), err)
		}
	}
	var members int
	req := &idsyncv1.GetGroupRequest{Group: "staff"}
	for pages := 1; ; pages++ {
		resp, err := admin.GetGroup(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(resp.GetMembers()); n > 500 {
			t.Errorf("GetGroup without a page size: %d members, want 500 at most", n)
		}
		members += len(resp.GetMembers())
		if req.PageToken = resp.GetNextPageToken(); req.PageToken == "" {
			if members != staffUsers || pages != 3 {
				t.Errorf("staff's members: %d in %d pages, want %d in 3", members, pages, staffUsers)
			}
			break
		}
	}
}

// TestCaptureError: a directory nothing captures, whose last capture run
// failed, says why; once a capture runs again, it does not.
func TestCaptureError(t *testing.T) {
	var failed int64
	h := startHub(t, func(st store.Store) {
		ctx := t.Context()
		lab, err := st.GetDirectory(ctx, "lab")
		if err != nil {
			t.Fatal(err)
		}
		r := &store.Run{DirectoryID: lab.ID, Kind: store.RunIncremental, Trigger: "capture"}
		if err := st.CreateRun(ctx, r); err != nil {
			t.Fatal(err)
		}
		if _, err := st.TransitionRun(ctx, r.ID, []store.RunState{store.RunRunning}, store.RunUpdate{State: store.RunFailed,
			Message: "connecting to ldap://127.0.0.1:1: connection refused", Finished: true}); err != nil {
			t.Fatal(err)
		}
		failed = r.ID
	})
	admin := idsyncv1.NewAdminServiceClient(h.conn)
	boot := as(t.Context(), h.boot)
	d, err := admin.GetDirectory(boot, &idsyncv1.GetDirectoryRequest{Name: "lab"})
	want := fmt.Sprintf("connecting to ldap://127.0.0.1:1: connection refused (run %d, ended ", failed)
	if err != nil || !strings.HasPrefix(d.GetDirectory().GetCaptureError(), want) {
		t.Errorf("lab's capture error: %q (%v), want it to start %q", d.GetDirectory().GetCaptureError(), err, want)
	}
	// corp's capture run is open: no error, whatever came before.
	if d, err := admin.GetDirectory(boot, &idsyncv1.GetDirectoryRequest{Name: "corp"}); err != nil || d.GetDirectory().GetCaptureError() != "" {
		t.Errorf("corp's capture error: %q (%v), want none while a capture run is open", d.GetDirectory().GetCaptureError(), err)
	}
}

// TestSearchInALargeScope: a group-admin whose one group holds more users
// than a search names by id (10,000) finds them all, and none outside, by
// its group's membership; one of two groups as large finds them by id, and
// within one of its groups by that group.
func TestSearchInALargeScope(t *testing.T) {
	const n = 10_050
	h := startHub(t, corpGroupOf(t, "everyone", "e%05d", n, func([]string) []*store.Object {
		return []*store.Object{seedGroup("pair", "dc=example,dc=org", "e00001", "e00002")}
	}))
	admin := idsyncv1.NewAdminServiceClient(h.conn)
	ids := h.groupIDs()
	one := as(t.Context(), h.token("all-staff", auth.RoleGroupAdmin, []string{ids["corp/everyone"]}, nil))
	found := map[string]bool{}
	req := &idsyncv1.SearchUsersRequest{PageSize: 500}
	for {
		resp, err := admin.SearchUsers(one, req)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range resp.GetUsers() {
			found[u.GetUsername()] = true
		}
		if req.PageToken = resp.GetNextPageToken(); req.PageToken == "" {
			break
		}
	}
	if len(found) != n || found["ann"] || found["bob"] {
		t.Errorf("everyone's group-admin finds %d users (ann %v, bob %v), want the %d of its group and no other", len(found), found["ann"], found["bob"], n)
	}
	two := as(t.Context(), h.token("two", auth.RoleGroupAdmin, []string{ids["corp/everyone"], ids["corp/sales"]}, nil))
	resp, err := admin.SearchUsers(two, &idsyncv1.SearchUsersRequest{Query: "an", PageSize: 10})
	if err != nil || len(resp.GetUsers()) != 1 || resp.GetUsers()[0].GetUsername() != "ann" {
		t.Errorf("a search over two groups of %d users for an…: %v (%v), want ann", n+1, resp.GetUsers(), err)
	}
	resp, err = admin.SearchUsers(two, &idsyncv1.SearchUsersRequest{Group: "sales"})
	if err != nil || len(resp.GetUsers()) != 1 || resp.GetUsers()[0].GetUsername() != "ann" {
		t.Errorf("the same admin's search within sales: %v (%v), want ann", resp.GetUsers(), err)
	}
}
