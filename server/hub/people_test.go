package hub_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/idsync/idsync/internal/eventually"
	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
	"github.com/idsync/idsync/server/auth"
	"github.com/idsync/idsync/server/hub"
	"github.com/idsync/idsync/server/store"
)

// clock is a hub clock a test moves forward.
type clock struct {
	mu   sync.Mutex
	skip time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.skip)
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.skip += d
	c.mu.Unlock()
}

// wantCode fails unless err has code want.
func wantCode(t *testing.T, what string, err error, want codes.Code) {
	t.Helper()
	if status.Code(err) != want {
		t.Errorf("%s: %v, want %v", what, err, want)
	}
}

// TestLifecycleScopes: a group-admin deactivates and reactivates the users
// of its groups and no other (one in another group, one of a lookalike
// group, one that does not exist: the same refusal, audited), never in
// their directory; it neither restores nor writes local users; read-only
// does none of it.
func TestLifecycleScopes(t *testing.T) {
	h := startHub(t, lookalikes(t))
	ctx := t.Context()
	admin := idsyncv1.NewAdminServiceClient(h.conn)
	grp := as(ctx, h.token("helpdesk", auth.RoleGroupAdmin, []string{h.groupIDs()["corp/sales"]}, nil))
	ro := as(ctx, h.token("auditor", auth.RoleReadOnly, nil, nil))

	held, err := admin.DeactivateUser(grp, &idsyncv1.DeactivateUserRequest{User: "ann", Reason: "laptop stolen"})
	if err != nil {
		t.Fatalf("group-admin deactivates ann of its group: %v", err)
	}
	u := held.GetUser()
	if u.GetStatus() != idsyncv1.UserStatus_USER_STATUS_DEPROVISIONED || u.GetSourceStatus() != idsyncv1.UserStatus_USER_STATUS_ACTIVE ||
		u.GetHold().GetBy() != "admin:helpdesk" || u.GetHold().GetReason() != "laptop stolen" || u.GetPurgeAt() != nil {
		t.Errorf("ann after deactivate: status %v, source %v, hold %v, purge %v; want deprovisioned, held by admin:helpdesk (laptop stolen), active at the source, no purge while her directory has her",
			u.GetStatus(), u.GetSourceStatus(), u.GetHold(), u.GetPurgeAt())
	}
	refused := []struct {
		name string
		call func() error
		want codes.Code
	}{
		{"a user of another group", func() error {
			_, err := admin.DeactivateUser(grp, &idsyncv1.DeactivateUserRequest{User: "bob"})
			return err
		}, codes.PermissionDenied},
		{"a user of a lookalike group in another directory", func() error {
			_, err := admin.DeactivateUser(grp, &idsyncv1.DeactivateUserRequest{User: "eve"})
			return err
		}, codes.PermissionDenied},
		{"a user of a lookalike group, naming its directory", func() error {
			_, err := admin.SuspendUser(grp, &idsyncv1.SuspendUserRequest{User: "eve", Directory: "east"})
			return err
		}, codes.PermissionDenied},
		{"a user that does not exist", func() error {
			_, err := admin.DeactivateUser(grp, &idsyncv1.DeactivateUserRequest{User: "nobody"})
			return err
		}, codes.PermissionDenied},
		{"its own user, in the directory", func() error {
			_, err := admin.ReactivateUser(grp, &idsyncv1.ReactivateUserRequest{User: "ann", InDirectory: true})
			return err
		}, codes.PermissionDenied},
		{"a restore", func() error {
			_, err := admin.RestoreUser(grp, &idsyncv1.RestoreUserRequest{User: "ann"})
			return err
		}, codes.PermissionDenied},
		{"a local user", func() error {
			_, err := admin.CreateUser(grp, &idsyncv1.CreateUserRequest{Directory: "corp", Username: "x"})
			return err
		}, codes.PermissionDenied},
		{"read-only deactivates", func() error {
			_, err := admin.DeactivateUser(ro, &idsyncv1.DeactivateUserRequest{User: "cid"})
			return err
		}, codes.PermissionDenied},
		{"read-only reactivates", func() error {
			_, err := admin.ReactivateUser(ro, &idsyncv1.ReactivateUserRequest{User: "ann"})
			return err
		}, codes.PermissionDenied},
	}
	for _, c := range refused {
		t.Run(c.name, func(t *testing.T) { wantCode(t, c.name, c.call(), c.want) })
	}
	// The refusals of a user outside the group read alike, whether the
	// user exists or not.
	_, errBob := admin.DeactivateUser(grp, &idsyncv1.DeactivateUserRequest{User: "bob"})
	_, errNobody := admin.DeactivateUser(grp, &idsyncv1.DeactivateUserRequest{User: "nobody"})
	if strings.ReplaceAll(status.Convert(errBob).Message(), "bob", "X") != strings.ReplaceAll(status.Convert(errNobody).Message(), "nobody", "X") {
		t.Errorf("refusals tell an existing user from none: %q vs %q", status.Convert(errBob).Message(), status.Convert(errNobody).Message())
	}
	eventually.That(t, "the refusals in the audit trail", func() (bool, string) {
		ev, err := admin.ListAuditEvents(as(ctx, h.boot), &idsyncv1.ListAuditEventsRequest{Outcome: "refused"})
		if err != nil {
			return false, err.Error()
		}
		by := map[string]int{}
		for _, e := range ev.GetEvents() {
			by[e.GetActor()]++
		}
		return by["admin:helpdesk"] >= 7 && by["admin:auditor"] >= 2, fmt.Sprint(by)
	})
	if _, err := admin.ReactivateUser(grp, &idsyncv1.ReactivateUserRequest{User: "ann"}); err != nil {
		t.Errorf("group-admin reactivates ann: %v", err)
	}
	got, err := admin.GetUser(as(ctx, h.boot), &idsyncv1.GetUserRequest{User: "ann"})
	if err != nil || got.GetUser().GetStatus() != idsyncv1.UserStatus_USER_STATUS_ACTIVE || got.GetUser().GetHold() != nil {
		t.Errorf("ann after reactivate: %v (%v), want active with no hold", got.GetUser(), err)
	}
}

// TestPeopleDoors: the super-admin's side of issue 13 through the API —
// holds of both kinds (each lifted by its own verb), an in-directory write
// to a directory that allows none (the hold stands, the answer says why),
// a local directory's users and groups, retention per directory shown as
// purge dates and in report upcoming-purges, restore, and the purge loop
// on the hub's clock.
func TestPeopleDoors(t *testing.T) {
	clk := &clock{}
	h := startHubWith(t, func(c *hub.Config) {
		c.Now, c.PurgeEvery, c.UserRetention = clk.Now, 20*time.Millisecond, 30*24*time.Hour
	})
	ctx := t.Context()
	admin := idsyncv1.NewAdminServiceClient(h.conn)
	boot := as(ctx, h.boot)

	t.Run("holds", func(t *testing.T) {
		s, err := admin.SuspendUser(boot, &idsyncv1.SuspendUserRequest{User: "bob", Reason: "on leave"})
		if err != nil || s.GetUser().GetStatus() != idsyncv1.UserStatus_USER_STATUS_SUSPENDED || s.GetUser().GetPurgeAt() != nil {
			t.Fatalf("suspend bob: %v (%v), want suspended, no purge date", s.GetUser(), err)
		}
		_, err = admin.ReactivateUser(boot, &idsyncv1.ReactivateUserRequest{User: "bob"})
		wantCode(t, "reactivate a suspended user", err, codes.FailedPrecondition)
		if !strings.Contains(status.Convert(err).Message(), "`idsyncctl user unsuspend` lifts that") {
			t.Errorf("the refusal %q does not say what lifts the hold", status.Convert(err).Message())
		}
		if u, err := admin.UnsuspendUser(boot, &idsyncv1.UnsuspendUserRequest{User: "bob"}); err != nil ||
			u.GetUser().GetStatus() != idsyncv1.UserStatus_USER_STATUS_ACTIVE {
			t.Errorf("unsuspend bob: %v (%v), want active", u.GetUser(), err)
		}
		d, err := admin.DeactivateUser(boot, &idsyncv1.DeactivateUserRequest{User: "cid", InDirectory: true})
		if err != nil {
			t.Fatalf("deactivate cid --in-directory: %v", err)
		}
		if d.GetUser().GetStatus() != idsyncv1.UserStatus_USER_STATUS_DEPROVISIONED || d.GetInDirectory().GetDone() ||
			!strings.Contains(d.GetInDirectory().GetMessage(), "not writable") {
			t.Errorf("deactivate cid --in-directory in a directory without write-back: %v, %v; want held in the hub, the directory write refused as not writable",
				d.GetUser().GetStatus(), d.GetInDirectory())
		}
		r, err := admin.RestoreUser(boot, &idsyncv1.RestoreUserRequest{User: "cid"})
		if err != nil || r.GetUser().GetStatus() != idsyncv1.UserStatus_USER_STATUS_ACTIVE {
			t.Errorf("restore cid (held): %v (%v), want active", r.GetUser(), err)
		}
		_, err = admin.RestoreUser(boot, &idsyncv1.RestoreUserRequest{User: "cid"})
		wantCode(t, "restore an active user", err, codes.FailedPrecondition)
		_, err = admin.DeactivateUser(boot, &idsyncv1.DeactivateUserRequest{User: "cid", Reason: "bad\x1b[2Jreason"})
		wantCode(t, "a reason with an escape sequence", err, codes.InvalidArgument)
	})

	if _, err := admin.CreateDirectory(boot, &idsyncv1.CreateDirectoryRequest{Directory: &idsyncv1.Directory{
		Name: "staff", Kind: idsyncv1.DirectoryKind_DIRECTORY_KIND_LOCAL}}); err != nil {
		t.Fatalf("a local directory: %v", err)
	}
	var con *idsyncv1.User
	t.Run("local users", func(t *testing.T) {
		c, err := admin.CreateUser(boot, &idsyncv1.CreateUserRequest{Directory: "staff", Username: "contractor",
			Email: "con@example.org", Fields: map[string]string{"title": "Contractor", "extra.costCenter": "42"}})
		if err != nil {
			t.Fatalf("create contractor: %v", err)
		}
		con = c.GetUser()
		if con.GetTitle() != "Contractor" || con.GetStatus() != idsyncv1.UserStatus_USER_STATUS_ACTIVE || len(con.GetExtra()) != 1 {
			t.Errorf("contractor: %v", con)
		}
		for _, bad := range []struct {
			name string
			req  *idsyncv1.CreateUserRequest
			want codes.Code
			says string
		}{
			{"taken name, other case", &idsyncv1.CreateUserRequest{Directory: "staff", Username: "CONTRACTOR"}, codes.AlreadyExists, "taken"},
			{"bad email", &idsyncv1.CreateUserRequest{Directory: "staff", Username: "x", Email: "not-an-address"}, codes.InvalidArgument, "email"},
			{"unknown field", &idsyncv1.CreateUserRequest{Directory: "staff", Username: "y", Fields: map[string]string{"salary": "1"}}, codes.InvalidArgument, "salary"},
			{"a directory's", &idsyncv1.CreateUserRequest{Directory: "corp", Username: "z"}, codes.FailedPrecondition, "corp"},
		} {
			_, err := admin.CreateUser(boot, bad.req)
			if status.Code(err) != bad.want || !strings.Contains(status.Convert(err).Message(), bad.says) {
				t.Errorf("create %s: %v, want %v naming %q", bad.name, err, bad.want, bad.says)
			}
		}
		u, err := admin.UpdateUser(boot, &idsyncv1.UpdateUserRequest{User: "contractor", Directory: "staff",
			Fields: map[string]string{"title": "Lead", "extra.costCenter": ""}})
		if err != nil || u.GetUser().GetTitle() != "Lead" || len(u.GetUser().GetExtra()) != 0 {
			t.Errorf("update contractor: %v (%v), want title Lead, costCenter cleared", u.GetUser(), err)
		}
		_, err = admin.UpdateUser(boot, &idsyncv1.UpdateUserRequest{User: "ann", Fields: map[string]string{"title": "CEO"}})
		wantCode(t, "update a directory's user", err, codes.FailedPrecondition)
	})

	t.Run("local groups", func(t *testing.T) {
		g, err := admin.CreateGroup(boot, &idsyncv1.CreateGroupRequest{Directory: "staff", Name: "crew"})
		if err != nil {
			t.Fatalf("create crew: %v", err)
		}
		for _, m := range []*idsyncv1.AddGroupMemberRequest{{Group: "crew", User: "contractor"}, {Group: g.GetGroup().GetId(), User: "ann", UserDirectory: "corp"}} {
			if _, err := admin.AddGroupMember(boot, m); err != nil {
				t.Fatalf("add %s to crew: %v", m.GetUser(), err)
			}
		}
		crew, err := admin.GetGroup(boot, &idsyncv1.GetGroupRequest{Group: "crew"})
		if err != nil || len(crew.GetMembers()) != 2 {
			t.Fatalf("crew: %v (%v), want ann and the contractor", crew.GetMembers(), err)
		}
		r, err := admin.RemoveGroupMember(boot, &idsyncv1.RemoveGroupMemberRequest{Group: "crew", User: "ann"})
		if err != nil || r.GetGroup().GetMemberCount() != 1 {
			t.Errorf("remove ann from crew: %v (%v), want one member left", r.GetGroup(), err)
		}
		_, err = admin.AddGroupMember(boot, &idsyncv1.AddGroupMemberRequest{Group: "sales", User: "contractor"})
		wantCode(t, "add to a directory's group", err, codes.FailedPrecondition)
	})

	t.Run("retention and purge", func(t *testing.T) {
		d, err := admin.DeleteUser(boot, &idsyncv1.DeleteUserRequest{User: "contractor"})
		if err != nil {
			t.Fatalf("delete contractor: %v", err)
		}
		gone := d.GetUser()
		if got := gone.GetPurgeAt().AsTime().Sub(gone.GetDeprovisionedAt().AsTime()); got != 30*24*time.Hour {
			t.Errorf("contractor purged %v after deletion, want the hub's 30 days", got)
		}
		if _, err := admin.UpdateDirectory(boot, &idsyncv1.UpdateDirectoryRequest{
			Directory:  &idsyncv1.Directory{Name: "staff", RetentionSeconds: 7 * 24 * 3600},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"retention_seconds"}}}); err != nil {
			t.Fatalf("staff's retention 7d: %v", err)
		}
		list, err := admin.ListUsers(boot, &idsyncv1.ListUsersRequest{Status: idsyncv1.UserStatus_USER_STATUS_DEPROVISIONED})
		if err != nil || len(list.GetUsers()) != 1 ||
			list.GetUsers()[0].GetPurgeAt().AsTime().Sub(gone.GetDeprovisionedAt().AsTime()) != 7*24*time.Hour {
			t.Fatalf("deprovisioned users: %v (%v), want the contractor, purged 7 days after", list.GetUsers(), err)
		}
		rep, err := admin.GetReport(boot, &idsyncv1.GetReportRequest{Name: "upcoming-purges"})
		if err != nil || len(rep.GetRows()) != 1 || rep.GetRows()[0].GetCells()[1] != "contractor" {
			t.Errorf("report upcoming-purges: %v (%v), want the contractor", rep.GetRows(), err)
		}
		back, err := admin.RestoreUser(boot, &idsyncv1.RestoreUserRequest{User: "contractor"})
		if err != nil || back.GetUser().GetStatus() != idsyncv1.UserStatus_USER_STATUS_ACTIVE || back.GetUser().GetId() != gone.GetId() {
			t.Fatalf("restore the contractor: %v (%v), want active, the same id", back.GetUser(), err)
		}
		if _, err := admin.DeleteUser(boot, &idsyncv1.DeleteUserRequest{User: "contractor"}); err != nil {
			t.Fatal(err)
		}
		// A temp of a directory that keeps its users 5 days, deleted now
		// too: six days on, the purge takes it and keeps the contractor
		// (7 days); eight days on, the contractor goes.
		if _, err := admin.CreateDirectory(boot, &idsyncv1.CreateDirectoryRequest{Directory: &idsyncv1.Directory{
			Name: "temps", Kind: idsyncv1.DirectoryKind_DIRECTORY_KIND_LOCAL, RetentionSeconds: 5 * 24 * 3600}}); err != nil {
			t.Fatal(err)
		}
		if _, err := admin.CreateUser(boot, &idsyncv1.CreateUserRequest{Directory: "temps", Username: "temp1"}); err != nil {
			t.Fatal(err)
		}
		temp, err := admin.DeleteUser(boot, &idsyncv1.DeleteUserRequest{User: "temp1"})
		if err != nil {
			t.Fatal(err)
		}
		clk.advance(6 * 24 * time.Hour)
		eventually.That(t, "temp1 purged after its directory's 5 days", func() (bool, string) {
			_, err := admin.GetUser(boot, &idsyncv1.GetUserRequest{User: temp.GetUser().GetId()})
			return status.Code(err) == codes.NotFound, status.Convert(err).Message()
		})
		if _, err := admin.GetUser(boot, &idsyncv1.GetUserRequest{User: gone.GetId()}); err != nil {
			t.Fatalf("the contractor six days after: %v, want kept (7 days)", err)
		}
		clk.advance(2 * 24 * time.Hour)
		eventually.That(t, "the contractor purged", func() (bool, string) {
			_, err := admin.GetUser(boot, &idsyncv1.GetUserRequest{User: gone.GetId()})
			return status.Code(err) == codes.NotFound, status.Convert(err).Message()
		})
		ev, err := admin.ListAuditEvents(boot, &idsyncv1.ListAuditEventsRequest{Action: "user.purged"})
		if err != nil || len(ev.GetEvents()) != 2 || !strings.Contains(ev.GetEvents()[1].GetDetail(), gone.GetId()) ||
			!strings.Contains(ev.GetEvents()[1].GetDetail(), "staff") {
			t.Errorf("user.purged events: %v (%v), want temp1 then the contractor, naming its id and directory", ev.GetEvents(), err)
		}
		_, err = admin.RestoreUser(boot, &idsyncv1.RestoreUserRequest{User: gone.GetId()})
		wantCode(t, "restore a purged user", err, codes.NotFound)
		// The same username later is a new user.
		again, err := admin.CreateUser(boot, &idsyncv1.CreateUserRequest{Directory: "staff", Username: "contractor"})
		if err != nil || again.GetUser().GetId() == gone.GetId() {
			t.Errorf("contractor again: %v (%v), want a new user", again.GetUser(), err)
		}
	})
}

// hubAdmins seeds group corp/hub-admins = {ann}, for an admin grant.
func hubAdmins(t *testing.T) func(store.Store) {
	return func(st store.Store) {
		corp, run := seededCorp(t, st)
		if _, err := st.ApplyBatch(t.Context(), &store.Batch{RunID: run, DirectoryID: corp.ID, Sequence: 2, Upserts: []*store.Object{
			seedGroup("hub-admins", "dc=example,dc=org", "ann")}}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestLifecycleOfAdmins: a group-admin acts on the users of its groups, but
// a user who holds an admin grant (ann, a super-admin through
// corp/hub-admins, and in the group-admin's corp/sales) is a super-admin's
// to hold or release: a group-admin who deactivated or suspended her would
// end her console sessions (a grant holds while its user is active) and lock
// a higher role out, and one who reactivated her would give her admin role
// back. Once the grant is revoked she is an ordinary user of the group.
func TestLifecycleOfAdmins(t *testing.T) {
	h := startHub(t, hubAdmins(t))
	ctx := t.Context()
	admin := idsyncv1.NewAdminServiceClient(h.conn)
	boot := as(ctx, h.boot)
	grant, err := admin.CreateAdminGrant(boot, &idsyncv1.CreateAdminGrantRequest{Role: auth.RoleSuperAdmin, Group: "corp/hub-admins"})
	if err != nil {
		t.Fatal(err)
	}
	grp := as(ctx, h.token("helpdesk", auth.RoleGroupAdmin, []string{h.groupIDs()["corp/sales"]}, nil))

	for what, call := range map[string]func() error{
		"deactivate": func() error {
			_, err := admin.DeactivateUser(grp, &idsyncv1.DeactivateUserRequest{User: "ann"})
			return err
		},
		"suspend": func() error {
			_, err := admin.SuspendUser(grp, &idsyncv1.SuspendUserRequest{User: "ann"})
			return err
		},
	} {
		err := call()
		if msg := status.Convert(err).Message(); status.Code(err) != codes.PermissionDenied ||
			!strings.Contains(msg, "corp/hub-admins") || !strings.Contains(msg, auth.RoleSuperAdmin) {
			t.Errorf("group-admin's %s of ann, a super-admin through a grant: %v, want PermissionDenied naming the grant's group and role", what, err)
		}
	}
	got, err := admin.GetUser(boot, &idsyncv1.GetUserRequest{User: "ann"})
	if err != nil || got.GetUser().GetStatus() != idsyncv1.UserStatus_USER_STATUS_ACTIVE || got.GetUser().GetHold() != nil {
		t.Fatalf("ann after the refusals: %v (%v), want active with no hold", got.GetUser(), err)
	}

	// A super-admin holds her; the group-admin may not lift it.
	if _, err := admin.SuspendUser(boot, &idsyncv1.SuspendUserRequest{User: "ann", Reason: "investigation"}); err != nil {
		t.Fatalf("super-admin suspends ann: %v", err)
	}
	_, err = admin.UnsuspendUser(grp, &idsyncv1.UnsuspendUserRequest{User: "ann"})
	wantCode(t, "group-admin unsuspends ann, a super-admin through a grant", err, codes.PermissionDenied)
	if _, err := admin.UnsuspendUser(boot, &idsyncv1.UnsuspendUserRequest{User: "ann"}); err != nil {
		t.Fatalf("super-admin unsuspends ann: %v", err)
	}

	// Revoked, the grant protects her no more.
	if _, err := admin.RevokeAdminGrant(boot, &idsyncv1.RevokeAdminGrantRequest{Id: grant.GetGrant().GetId()}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.SuspendUser(grp, &idsyncv1.SuspendUserRequest{User: "ann"}); err != nil {
		t.Errorf("group-admin suspends ann, her grant revoked: %v", err)
	}
	refused, err := admin.ListAuditEvents(boot, &idsyncv1.ListAuditEventsRequest{Outcome: store.AuditRefused, Actor: "admin:helpdesk"})
	if err != nil || len(refused.GetEvents()) != 3 {
		t.Errorf("refusals of helpdesk in the audit trail: %v (%v), want 3", refused.GetEvents(), err)
	}
}

// annOfLab seeds a second user named ann, in directory lab.
func annOfLab(t *testing.T) func(store.Store) {
	return func(st store.Store) {
		ctx := t.Context()
		lab, err := st.GetDirectory(ctx, "lab")
		if err != nil {
			t.Fatal(err)
		}
		r := &store.Run{DirectoryID: lab.ID, Kind: store.RunIncremental, Trigger: "test"}
		if err := st.CreateRun(ctx, r); err != nil {
			t.Fatal(err)
		}
		if _, err := st.ApplyBatch(ctx, &store.Batch{RunID: r.ID, DirectoryID: lab.ID, Sequence: 1,
			Upserts: []*store.Object{seedUser("ann", "dc=lab,dc=org")}}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestUserHistoryIsTheUsers: the history of a user's details is that
// user's, not another's of the same username in another directory: a
// group-admin who sees ann of corp is not shown why ann of lab, outside its
// groups, was suspended and by whom.
func TestUserHistoryIsTheUsers(t *testing.T) {
	h := startHub(t, annOfLab(t))
	ctx := t.Context()
	admin := idsyncv1.NewAdminServiceClient(h.conn)
	boot := as(ctx, h.boot)
	if _, err := admin.SuspendUser(boot, &idsyncv1.SuspendUserRequest{User: "ann", Directory: "lab", Reason: "fraud inquiry 42"}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.SuspendUser(boot, &idsyncv1.SuspendUserRequest{User: "ann", Directory: "corp", Reason: "parental leave"}); err != nil {
		t.Fatal(err)
	}
	grp := as(ctx, h.token("helpdesk", auth.RoleGroupAdmin, []string{h.groupIDs()["corp/sales"]}, nil))
	for who, c := range map[string]context.Context{"super-admin": boot, "group-admin of corp/sales": grp} {
		d, err := admin.GetUserDetails(c, &idsyncv1.GetUserDetailsRequest{User: "ann", Directory: "corp"})
		if err != nil {
			t.Fatalf("GetUserDetails of corp/ann as %s: %v", who, err)
		}
		var own bool
		for _, e := range d.GetHistory() {
			if strings.Contains(e.GetDetail(), "fraud inquiry") || strings.Contains(e.GetDetail(), "dc=lab") {
				t.Errorf("history of corp/ann as %s holds lab/ann's event %v", who, e)
			}
			own = own || strings.Contains(e.GetDetail(), "parental leave")
		}
		if !own || len(d.GetHistory()) < 2 {
			t.Errorf("history of corp/ann as %s: %v, want her creation and her suspension", who, d.GetHistory())
		}
	}
}

// adminInSales seeds corp user dan, in group sales beside ann, and in
// group it, which is a member of group idsync-admins (nesting).
func adminInSales(t *testing.T) func(store.Store) {
	return func(st store.Store) {
		corp, runID := seededCorp(t, st)
		const base = "dc=example,dc=org"
		sales := seedGroup("sales", base, "ann", "dan")
		sales.Hash += "+dan"
		admins := seedGroup("idsync-admins", base)
		admins.Members = []store.MemberRef{{Value: "cn=it," + base, Key: "dn:cn=it," + base}}
		if _, err := st.ApplyBatch(t.Context(), &store.Batch{RunID: runID, DirectoryID: corp.ID, Sequence: 2, Upserts: []*store.Object{
			seedUser("dan", base), sales, seedGroup("it", base, "dan"), admins}}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestLifecycleOfNestedAdmins: a group-admin does not hold, nor lift the
// hold of, a user of its groups who is an admin through an admin grant (a
// member of the grant's group through nesting): refused as a denial and
// audited, whatever the grant's role; a super-admin does; once the grant
// is revoked the group-admin does too.
func TestLifecycleOfNestedAdmins(t *testing.T) {
	h := startHub(t, adminInSales(t))
	ctx := t.Context()
	admin := idsyncv1.NewAdminServiceClient(h.conn)
	boot := as(ctx, h.boot)
	grp := as(ctx, h.token("helpdesk", auth.RoleGroupAdmin, []string{h.groupIDs()["corp/sales"]}, nil))
	grant, err := admin.CreateAdminGrant(boot, &idsyncv1.CreateAdminGrantRequest{Role: auth.RoleReadOnly, Group: "corp/idsync-admins"})
	if err != nil {
		t.Fatalf("CreateAdminGrant: %v", err)
	}

	refused := []struct {
		name string
		call func() error
	}{
		{"deactivate", func() error {
			_, err := admin.DeactivateUser(grp, &idsyncv1.DeactivateUserRequest{User: "dan", Reason: "x"})
			return err
		}},
		{"suspend", func() error {
			_, err := admin.SuspendUser(grp, &idsyncv1.SuspendUserRequest{User: "dan"})
			return err
		}},
	}
	for _, c := range refused {
		err := c.call()
		wantCode(t, "a group-admin's "+c.name+" of an admin", err, codes.PermissionDenied)
		if msg := status.Convert(err).Message(); !strings.Contains(msg, "super-admin") || !strings.Contains(msg, "idsync-admins") {
			t.Errorf("the refusal of %s %q does not say why (the grant's group, a super-admin's)", c.name, msg)
		}
	}
	if u, err := admin.GetUser(boot, &idsyncv1.GetUserRequest{User: "dan"}); err != nil ||
		u.GetUser().GetStatus() != idsyncv1.UserStatus_USER_STATUS_ACTIVE || u.GetUser().GetHold() != nil {
		t.Errorf("dan after the refusals: %v (%v), want active with no hold", u.GetUser(), err)
	}
	eventually.That(t, "the refusals in the audit trail", func() (bool, string) {
		ev, err := admin.ListAuditEvents(boot, &idsyncv1.ListAuditEventsRequest{Actor: "admin:helpdesk", Outcome: "refused"})
		if err != nil {
			return false, err.Error()
		}
		var targets []string
		for _, e := range ev.GetEvents() {
			targets = append(targets, e.GetTarget())
		}
		all := strings.Join(targets, " ")
		return strings.Contains(all, "DeactivateUser") && strings.Contains(all, "SuspendUser"), all
	})
	if _, err := admin.DeactivateUser(grp, &idsyncv1.DeactivateUserRequest{User: "ann"}); err != nil {
		t.Errorf("the group-admin deactivates ann, no admin: %v", err)
	}

	// A super-admin holds an admin, and lifts it; the group-admin may not
	// lift a super-admin's hold of an admin either.
	if _, err := admin.SuspendUser(boot, &idsyncv1.SuspendUserRequest{User: "dan", Reason: "investigation"}); err != nil {
		t.Fatalf("a super-admin suspends dan: %v", err)
	}
	_, err = admin.UnsuspendUser(grp, &idsyncv1.UnsuspendUserRequest{User: "dan"})
	wantCode(t, "a group-admin lifts the suspension of an admin", err, codes.PermissionDenied)
	if _, err := admin.UnsuspendUser(boot, &idsyncv1.UnsuspendUserRequest{User: "dan"}); err != nil {
		t.Errorf("a super-admin unsuspends dan: %v", err)
	}

	if _, err := admin.RevokeAdminGrant(boot, &idsyncv1.RevokeAdminGrantRequest{Id: grant.GetGrant().GetId()}); err != nil {
		t.Fatalf("RevokeAdminGrant: %v", err)
	}
	if _, err := admin.DeactivateUser(grp, &idsyncv1.DeactivateUserRequest{User: "dan"}); err != nil {
		t.Errorf("the group-admin deactivates dan once the grant is revoked: %v", err)
	}
}

// TestSearchUsersNested: the users of a group through nested groups are
// found with nested, and only the direct members without.
func TestSearchUsersNested(t *testing.T) {
	h := startHub(t, adminInSales(t))
	admin := idsyncv1.NewAdminServiceClient(h.conn)
	boot := as(t.Context(), h.boot)
	for _, c := range []struct {
		nested bool
		want   string
	}{{false, ""}, {true, "dan"}} {
		resp, err := admin.SearchUsers(boot, &idsyncv1.SearchUsersRequest{Group: "idsync-admins", Directory: "corp", Nested: c.nested})
		if err != nil {
			t.Fatalf("SearchUsers nested=%v: %v", c.nested, err)
		}
		var got []string
		for _, u := range resp.GetUsers() {
			got = append(got, u.GetUsername())
		}
		if strings.Join(got, ",") != c.want {
			t.Errorf("the users of idsync-admins (nested %v): %v, want %q", c.nested, got, c.want)
		}
	}
}

// TestGroupMemberPages: a group's members come a page at a time, each
// once, and the console's group page links the next.
func TestGroupMemberPages(t *testing.T) {
	h := startHub(t, adminInSales(t))
	admin := idsyncv1.NewAdminServiceClient(h.conn)
	boot := as(t.Context(), h.boot)
	var names []string
	req := &idsyncv1.GetGroupRequest{Group: "sales", Directory: "corp", PageSize: 1}
	for range 5 {
		resp, err := admin.GetGroup(boot, req)
		if err != nil {
			t.Fatalf("GetGroup: %v", err)
		}
		if len(resp.GetMembers()) > 1 {
			t.Fatalf("a page of 1 holds %d members", len(resp.GetMembers()))
		}
		for _, m := range resp.GetMembers() {
			names = append(names, m.GetName())
		}
		if resp.GetNextPageToken() == "" {
			break
		}
		req.PageToken = resp.GetNextPageToken()
	}
	if strings.Join(names, ",") != "ann,dan" {
		t.Errorf("the members of sales by pages: %v, want ann, dan", names)
	}
	_, err := admin.GetGroup(boot, &idsyncv1.GetGroupRequest{Group: "sales", Directory: "corp", PageSize: 1, PageToken: "!!"})
	wantCode(t, "a page token not the hub's", err, codes.InvalidArgument)
}

// TestGroupAdminLiftsNoHigherHold: a hold records the role that set it,
// and a lower role neither lifts it nor puts its own hold in its place
// (which it could lift next): a group-admin of corp/sales is refused,
// audited, when ann, an ordinary user of its group, is held by a
// super-admin, and the refusal names who held her and the role it takes.
// The super-admin lifts it; a hold of a group-admin is lifted by another
// group-admin of the group.
func TestGroupAdminLiftsNoHigherHold(t *testing.T) {
	h := startHub(t)
	ctx := t.Context()
	admin := idsyncv1.NewAdminServiceClient(h.conn)
	boot := as(ctx, h.boot)
	sales := []string{h.groupIDs()["corp/sales"]}
	grp := as(ctx, h.token("helpdesk", auth.RoleGroupAdmin, sales, nil))
	other := as(ctx, h.token("helpdesk2", auth.RoleGroupAdmin, sales, nil))

	held, err := admin.SuspendUser(boot, &idsyncv1.SuspendUserRequest{User: "ann", Reason: "fraud inquiry"})
	if err != nil {
		t.Fatalf("super-admin suspends ann: %v", err)
	}
	by := held.GetUser().GetHold().GetBy()
	for _, c := range []struct {
		name string
		call func() error
	}{
		{"unsuspend", func() error {
			_, err := admin.UnsuspendUser(grp, &idsyncv1.UnsuspendUserRequest{User: "ann"})
			return err
		}},
		{"reactivate", func() error {
			_, err := admin.ReactivateUser(grp, &idsyncv1.ReactivateUserRequest{User: "ann"})
			return err
		}},
		{"deactivate over it", func() error {
			_, err := admin.DeactivateUser(grp, &idsyncv1.DeactivateUserRequest{User: "ann"})
			return err
		}},
		{"suspend over it", func() error {
			_, err := admin.SuspendUser(grp, &idsyncv1.SuspendUserRequest{User: "ann", Reason: "mine now"})
			return err
		}},
	} {
		err := c.call()
		msg := status.Convert(err).Message()
		if status.Code(err) != codes.PermissionDenied || !strings.Contains(msg, by) || !strings.Contains(msg, "role "+auth.RoleSuperAdmin) ||
			!strings.Contains(msg, auth.RoleGroupAdmin) {
			t.Errorf("group-admin's %s of ann, held by a super-admin: %v, want PermissionDenied naming %s, the role it needs and the caller's", c.name, err, by)
		}
	}
	u, err := admin.GetUser(boot, &idsyncv1.GetUserRequest{User: "ann"})
	if err != nil || u.GetUser().GetStatus() != idsyncv1.UserStatus_USER_STATUS_SUSPENDED || u.GetUser().GetHold().GetBy() != by ||
		u.GetUser().GetHold().GetRole() != auth.RoleSuperAdmin || u.GetUser().GetHold().GetReason() != "fraud inquiry" {
		t.Fatalf("ann after the refusals: %v (%v), want suspended by %s (super-admin) still", u.GetUser(), err, by)
	}
	eventually.That(t, "the four refusals in the audit trail", func() (bool, string) {
		ev, err := admin.ListAuditEvents(boot, &idsyncv1.ListAuditEventsRequest{Actor: "admin:helpdesk", Outcome: store.AuditRefused})
		if err != nil {
			return false, err.Error()
		}
		var n int
		var all []string
		for _, e := range ev.GetEvents() {
			all = append(all, e.GetTarget()+" "+e.GetDetail())
			if strings.Contains(e.GetDetail(), by) {
				n++
			}
		}
		return n == 4, strings.Join(all, "\n")
	})

	if _, err := admin.UnsuspendUser(boot, &idsyncv1.UnsuspendUserRequest{User: "ann"}); err != nil {
		t.Fatalf("super-admin unsuspends ann: %v", err)
	}
	// A group-admin's hold: another group-admin of the group lifts it.
	if _, err := admin.DeactivateUser(grp, &idsyncv1.DeactivateUserRequest{User: "ann", Reason: "left"}); err != nil {
		t.Fatalf("group-admin deactivates ann: %v", err)
	}
	if _, err := admin.ReactivateUser(other, &idsyncv1.ReactivateUserRequest{User: "ann"}); err != nil {
		t.Errorf("another group-admin of sales reactivates ann, held by a group-admin: %v", err)
	}
}
