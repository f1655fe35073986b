package hub_test

import (
	"testing"

	"google.golang.org/grpc/codes"

	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
	"github.com/idsync/idsync/server/auth"
	"github.com/idsync/idsync/server/store"
)

// pushesOfTwoApps seeds apps crm and wiki (no assignment: nothing is
// pushed) and the activity of their pushes this hour: crm 2 succeeded;
// wiki 1 succeeded and 3 failed; and 4 succeeded counted before pushes
// counted per app (app 0).
func pushesOfTwoApps(t *testing.T) func(store.Store) {
	return func(st store.Store) {
		ctx := t.Context()
		ids := map[string]int64{}
		for _, name := range []string{"crm", "wiki"} {
			a := &store.App{Name: name, SCIMURL: "https://" + name + ".example.org/scim/v2", AuthKind: "bearer"}
			if err := st.CreateApp(ctx, a); err != nil {
				t.Fatal(err)
			}
			ids[name] = a.ID
		}
		var events []*store.AuditEvent
		add := func(app string, action string, n int) {
			for range n {
				events = append(events, &store.AuditEvent{Actor: "hub", Action: action, Target: "app:" + app, AppID: ids[app]})
			}
		}
		add("crm", store.ActivityPushSucceeded, 2)
		add("wiki", store.ActivityPushSucceeded, 1)
		add("wiki", store.ActivityPushFailed, 3)
		add("", store.ActivityPushSucceeded, 4)
		if err := st.AppendAudit(ctx, events...); err != nil {
			t.Fatal(err)
		}
	}
}

// TestActivityFollowsAppScope: the overview's activity (GetActivity)
// counts for an app-admin limited to some apps the pushes of those apps
// alone, not every app's totals; a super-admin, read-only and an app-admin
// of every app see every push, those counted before pushes were counted
// per app included; all see the same changes applied; a group-admin,
// without reports.read, is refused.
func TestActivityFollowsAppScope(t *testing.T) {
	h := startHub(t, pushesOfTwoApps(t))
	ctx := t.Context()
	admin := idsyncv1.NewAdminServiceClient(h.conn)
	type want struct{ succeeded, failed uint64 }
	cases := []struct {
		who   string
		token string
		want  want
	}{
		{"super-admin", h.boot, want{7, 3}},
		{"read-only", h.token("auditor", auth.RoleReadOnly, nil, nil), want{7, 3}},
		{"app-admin of every app", h.token("apps-team", auth.RoleAppAdmin, nil, nil), want{7, 3}},
		{"app-admin of crm", h.token("crm-team", auth.RoleAppAdmin, nil, []string{"crm"}), want{2, 0}},
		{"app-admin of wiki", h.token("wiki-team", auth.RoleAppAdmin, nil, []string{"wiki"}), want{1, 3}},
		{"app-admin of crm and wiki", h.token("both-teams", auth.RoleAppAdmin, nil, []string{"crm", "wiki"}), want{3, 3}},
	}
	var changes []uint64
	for _, c := range cases {
		resp, err := admin.GetActivity(as(ctx, c.token), &idsyncv1.GetActivityRequest{Hours: 2})
		if err != nil {
			t.Errorf("GetActivity as %s: %v", c.who, err)
			continue
		}
		var got want
		var ch uint64
		for _, hr := range resp.GetHours() {
			got.succeeded += hr.GetPushesSucceeded()
			got.failed += hr.GetPushesFailed()
			ch += hr.GetChanges()
		}
		if got != c.want {
			t.Errorf("GetActivity as %s: pushes %+v, want %+v", c.who, got, c.want)
		}
		changes = append(changes, ch)
	}
	for i, ch := range changes {
		if ch == 0 || ch != changes[0] {
			t.Errorf("changes applied, per caller: %v, want the seed's, alike for all (caller %d)", changes, i)
			break
		}
	}
	grp := as(ctx, h.token("helpdesk", auth.RoleGroupAdmin, []string{h.groupIDs()["corp/sales"]}, nil))
	_, err := admin.GetActivity(grp, &idsyncv1.GetActivityRequest{Hours: 2})
	wantCode(t, "GetActivity as a group-admin", err, codes.PermissionDenied)
}
