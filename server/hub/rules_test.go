package hub_test

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
	"github.com/idsync/idsync/server/auth"
	"github.com/idsync/idsync/server/store"
)

// localStaff seeds a local directory staff with an empty group auto.
func localStaff(t *testing.T) func(store.Store) {
	return func(st store.Store) {
		ctx := t.Context()
		d := &store.Directory{Name: "staff", Kind: store.KindLocal, SafeguardPercent: 20, SafeguardMax: 500}
		if err := st.CreateDirectory(ctx, d); err != nil {
			t.Fatal(err)
		}
		r := &store.Run{DirectoryID: d.ID, Kind: store.RunWrite, Trigger: "test"}
		if err := st.CreateRun(ctx, r); err != nil {
			t.Fatal(err)
		}
		g := &store.Object{Kind: store.ObjectGroup, ExternalID: "ext-auto", Status: store.StatusActive, Hash: "auto",
			Name: "auto", MembersComplete: true}
		if _, err := st.ApplyBatch(ctx, &store.Batch{RunID: r.ID, DirectoryID: d.ID, Sequence: 1, Upserts: []*store.Object{g}}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.TransitionRun(ctx, r.ID, []store.RunState{store.RunRunning},
			store.RunUpdate{State: store.RunCompleted, Finished: true}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestGroupRuleDoors: the group rule doors of a running hub — a
// super-admin adds, updates, applies, previews and removes a rule, with
// errors that name what is wrong mapped to codes; a read-only admin
// reads; a group-admin sees the rules of its groups only; the audit trail
// names the admin.
func TestGroupRuleDoors(t *testing.T) {
	h := startHub(t, localStaff(t))
	ctx := t.Context()
	admin := idsyncv1.NewAdminServiceClient(h.conn)
	boot := as(ctx, h.boot)
	reader := as(ctx, h.token("reader", auth.RoleReadOnly, nil, nil))
	sales := as(ctx, h.token("sales-admin", auth.RoleGroupAdmin, []string{"corp/sales"}, nil))

	created, err := admin.CreateGroupRule(boot, &idsyncv1.CreateGroupRuleRequest{Name: "sellers", Group: "staff/auto",
		Expr: `"sales" in groups`})
	if err != nil {
		t.Fatal(err)
	}
	o := created.GetOutcome()
	if o.GetJoined() != 1 || o.GetMatched() != 1 || len(o.GetJoining()) != 1 || o.GetJoining()[0].GetUsername() != "ann" ||
		o.GetRule().GetState() != idsyncv1.GroupRuleState_GROUP_RULE_STATE_ACTIVE || o.GetRule().GetMembers() != 1 ||
		o.GetRule().GetGroupDirectory() != "staff" || o.GetRule().GetLastFull().GetMatched() != 1 {
		t.Fatalf("CreateGroupRule: %v", o)
	}

	for _, tc := range []struct {
		name string
		err  error
		code codes.Code
		want string
	}{
		{"a bad expression", func() error {
			_, err := admin.CreateGroupRule(boot, &idsyncv1.CreateGroupRuleRequest{Name: "x", Group: "staff/auto", Expr: `department ==`})
			return err
		}(), codes.InvalidArgument, "expr: \"department ==\": 1:14: expected a value"},
		{"a misspelt field", func() error {
			_, err := admin.CreateGroupRule(boot, &idsyncv1.CreateGroupRuleRequest{Name: "x", Group: "staff/auto", Expr: `departmnt == "1005"`})
			return err
		}(), codes.InvalidArgument, `unknown field "departmnt" (did you mean department?)`},
		{"a misspelt field, in an update", func() error {
			_, err := admin.UpdateGroupRule(boot, &idsyncv1.UpdateGroupRuleRequest{Name: "sellers",
				Rule: &idsyncv1.GroupRule{Expr: `titel == "x"`}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"expr"}}})
			return err
		}(), codes.InvalidArgument, `unknown field "titel" (did you mean title?)`},
		{"a directory's group", func() error {
			_, err := admin.CreateGroupRule(boot, &idsyncv1.CreateGroupRuleRequest{Name: "x", Group: "corp/sales", Expr: "true"})
			return err
		}(), codes.FailedPrecondition, "a directory's own groups stay read-only in the hub"},
		{"the group of another rule", func() error {
			_, err := admin.CreateGroupRule(boot, &idsyncv1.CreateGroupRuleRequest{Name: "x", Group: "auto", Expr: "true"})
			return err
		}(), codes.AlreadyExists, "is the group of rule sellers already"},
		{"a setting that cannot change", func() error {
			_, err := admin.UpdateGroupRule(boot, &idsyncv1.UpdateGroupRuleRequest{Name: "sellers",
				Rule: &idsyncv1.GroupRule{Group: "other"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"group"}}})
			return err
		}(), codes.InvalidArgument, `update_mask: "group" cannot be changed`},
		{"no such rule", func() error {
			_, err := admin.ApplyGroupRule(boot, &idsyncv1.ApplyGroupRuleRequest{Name: "nope"})
			return err
		}(), codes.NotFound, `no group rule "nope"`},
		{"a read-only admin adds", func() error {
			_, err := admin.CreateGroupRule(reader, &idsyncv1.CreateGroupRuleRequest{Name: "x", Group: "staff/auto", Expr: "true"})
			return err
		}(), codes.PermissionDenied, "rules.write"},
		{"a hand edit of the rule's group", func() error {
			_, err := admin.AddGroupMember(boot, &idsyncv1.AddGroupMemberRequest{Group: "auto", Directory: "staff", User: "cid"})
			return err
		}(), codes.FailedPrecondition, "group auto is the group of rule sellers: its members are what the rule says"},
		{"a group-admin reads a rule outside its groups", func() error {
			_, err := admin.GetGroupRule(sales, &idsyncv1.GetGroupRuleRequest{Name: "sellers"})
			return err
		}(), codes.NotFound, `no group rule "sellers"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if s := status.Convert(tc.err); s.Code() != tc.code || !strings.Contains(s.Message(), tc.want) {
				t.Errorf("%v, want %v saying %q", tc.err, tc.code, tc.want)
			}
		})
	}

	t.Run("reads", func(t *testing.T) {
		list, err := admin.ListGroupRules(reader, &idsyncv1.ListGroupRulesRequest{})
		if err != nil || len(list.GetRules()) != 1 || list.GetRules()[0].GetName() != "sellers" {
			t.Errorf("ListGroupRules as read-only: %v, %v", list, err)
		}
		if list, err := admin.ListGroupRules(sales, &idsyncv1.ListGroupRulesRequest{}); err != nil || len(list.GetRules()) != 0 {
			t.Errorf("ListGroupRules as a group-admin of corp/sales: %v, %v; want none (the rule fills staff/auto)", list, err)
		}
		p, err := admin.PreviewGroupRule(reader, &idsyncv1.PreviewGroupRuleRequest{Name: "sellers"})
		if err != nil || p.GetOutcome().GetJoined() != 0 || p.GetOutcome().GetLeft() != 0 || p.GetOutcome().GetMatched() != 1 {
			t.Errorf("PreviewGroupRule: %v, %v", p, err)
		}
	})
	t.Run("update, apply, remove", func(t *testing.T) {
		u, err := admin.UpdateGroupRule(boot, &idsyncv1.UpdateGroupRuleRequest{Name: "sellers",
			Rule: &idsyncv1.GroupRule{Expr: `"ops" in groups || "sales" in groups`}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"expr"}}})
		if err != nil || u.GetOutcome().GetJoined() != 1 || u.GetOutcome().GetJoining()[0].GetUsername() != "bob" {
			t.Fatalf("UpdateGroupRule: %v, %v", u, err)
		}
		a, err := admin.ApplyGroupRule(boot, &idsyncv1.ApplyGroupRuleRequest{Name: "sellers"})
		if err != nil || a.GetOutcome().GetJoined() != 0 || a.GetOutcome().GetMatched() != 2 {
			t.Errorf("ApplyGroupRule: %v, %v", a, err)
		}
		d, err := admin.DeleteGroupRule(boot, &idsyncv1.DeleteGroupRuleRequest{Name: "sellers"})
		if err != nil || d.GetOutcome().GetLeft() != 2 || d.GetOutcome().GetPaused() != nil ||
			d.GetOutcome().GetRule().GetState() != idsyncv1.GroupRuleState_GROUP_RULE_STATE_REMOVED {
			t.Fatalf("DeleteGroupRule: %v, %v; want 2 left, the rule removed", d, err)
		}
		if list, err := admin.ListGroupRules(boot, &idsyncv1.ListGroupRulesRequest{}); err != nil || len(list.GetRules()) != 0 {
			t.Errorf("ListGroupRules after the removal: %v, %v", list, err)
		}
	})
	t.Run("audit", func(t *testing.T) {
		resp, err := admin.ListAuditEvents(boot, &idsyncv1.ListAuditEventsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, e := range resp.GetEvents() {
			if strings.HasPrefix(e.GetAction(), "rule.") {
				got[e.GetAction()+" "+e.GetTarget()] = e.GetActor()
			}
		}
		for _, want := range []string{"rule.created rule:sellers", "rule.updated rule:sellers", "rule.applied rule:sellers",
			"rule.removed rule:sellers", "rule.applied group:auto"} {
			if got[want] == "" {
				t.Errorf("no audit event %s (got %v)", want, got)
			}
		}
		if a := got["rule.created rule:sellers"]; !strings.HasPrefix(a, "admin:") {
			t.Errorf("rule.created by %q, want the admin", a)
		}
		if a := got["rule.applied group:auto"]; a != "rule:sellers" {
			t.Errorf("the group's writes by %q, want rule:sellers", a)
		}
	})
}

// TestGroupRuleErrorsInScope: a rule's last error names the user its
// expression failed for; a group-admin of the rule's group reads the rule
// and its preview, but not the name or id of a user outside its groups.
func TestGroupRuleErrorsInScope(t *testing.T) {
	h := startHub(t, localStaff(t))
	ctx := t.Context()
	admin := idsyncv1.NewAdminServiceClient(h.conn)
	boot := as(ctx, h.boot)
	created, err := admin.CreateGroupRule(boot, &idsyncv1.CreateGroupRuleRequest{Name: "broken", Group: "staff/auto", Expr: `username`})
	if err != nil {
		t.Fatal(err)
	}
	if e := created.GetOutcome().GetRule().GetLastError(); !strings.Contains(e, "not true or false") {
		t.Fatalf("the rule's last error as a super-admin reads it: %q, want the evaluation's", e)
	}
	auto := as(ctx, h.token("auto-admin", auth.RoleGroupAdmin, []string{"staff/auto"}, nil))
	users, err := admin.ListUsers(boot, &idsyncv1.ListUsersRequest{})
	if err != nil {
		t.Fatal(err)
	}
	leaks := func(what, text string) {
		t.Helper()
		for _, u := range users.GetUsers() {
			if strings.Contains(text, "user "+u.GetUsername()) || strings.Contains(text, u.GetId()) {
				t.Errorf("%s as a group-admin of staff/auto: %q names user %s, outside its groups", what, text, u.GetUsername())
			}
		}
	}
	got, err := admin.GetGroupRule(auto, &idsyncv1.GetGroupRuleRequest{Name: "broken"})
	if err != nil {
		t.Fatalf("GetGroupRule as a group-admin of the rule's group: %v", err)
	}
	if got.GetRule().GetLastFull().GetErrors() == 0 {
		t.Errorf("GetGroupRule as a group-admin: %v, want the count of errors", got.GetRule())
	}
	leaks("GetGroupRule", got.GetRule().GetLastError())
	list, err := admin.ListGroupRules(auto, &idsyncv1.ListGroupRulesRequest{})
	if err != nil || len(list.GetRules()) != 1 {
		t.Fatalf("ListGroupRules as a group-admin: %v (%v), want the rule", list, err)
	}
	leaks("ListGroupRules", list.GetRules()[0].GetLastError())
	p, err := admin.PreviewGroupRule(auto, &idsyncv1.PreviewGroupRuleRequest{Name: "broken"})
	if err != nil {
		t.Fatal(err)
	}
	leaks("PreviewGroupRule", p.GetOutcome().GetRule().GetLastError()+" "+p.GetOutcome().GetFirstError())
}

// TestRulesDoNotMakeAdmins: a group rule fills its group from what
// directories and sources say of users (attributes, group names that any
// directory may hold), so a rule never decides who is an admin: a rule on a
// group that holds an admin grant is refused, and so is an admin grant on
// a group a rule fills, each naming the other.
func TestRulesDoNotMakeAdmins(t *testing.T) {
	h := startHub(t, localStaff(t))
	ctx := t.Context()
	admin := idsyncv1.NewAdminServiceClient(h.conn)
	boot := as(ctx, h.boot)
	grant, err := admin.CreateAdminGrant(boot, &idsyncv1.CreateAdminGrantRequest{Role: auth.RoleSuperAdmin, Group: "staff/auto"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = admin.CreateGroupRule(boot, &idsyncv1.CreateGroupRuleRequest{Name: "sellers", Group: "staff/auto", Expr: `"sales" in groups`})
	if msg := status.Convert(err).Message(); status.Code(err) != codes.FailedPrecondition ||
		!strings.Contains(msg, grant.GetGrant().GetId()) || !strings.Contains(msg, auth.RoleSuperAdmin) {
		t.Errorf("a rule on a group that holds an admin grant: %v, want FailedPrecondition naming the grant and its role", err)
	}
	if m, err := admin.GetGroup(boot, &idsyncv1.GetGroupRequest{Group: "auto", Directory: "staff"}); err != nil || m.GetGroup().GetMemberCount() != 0 {
		t.Errorf("staff/auto after the refused rule: %v (%v), want no member", m.GetGroup(), err)
	}

	if _, err := admin.RevokeAdminGrant(boot, &idsyncv1.RevokeAdminGrantRequest{Id: grant.GetGrant().GetId()}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CreateGroupRule(boot, &idsyncv1.CreateGroupRuleRequest{Name: "sellers", Group: "staff/auto", Expr: `"sales" in groups`}); err != nil {
		t.Fatalf("a rule on the group, its grant revoked: %v", err)
	}
	_, err = admin.CreateAdminGrant(boot, &idsyncv1.CreateAdminGrantRequest{Role: auth.RoleReadOnly, Group: "staff/auto"})
	if msg := status.Convert(err).Message(); status.Code(err) != codes.FailedPrecondition || !strings.Contains(msg, "rule sellers") {
		t.Errorf("an admin grant on a rule's group: %v, want FailedPrecondition naming the rule", err)
	}
}
