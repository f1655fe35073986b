package main

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
)

// The fake hub's group rules: engineers (active, over every directory)
// and contractors (paused: its evaluation would remove 700 members).

func fixtureRules() []*idsyncv1.GroupRule {
	return []*idsyncv1.GroupRule{
		{Name: "engineers", Id: 1, GroupId: "g-10", Group: "engineers", GroupDirectory: "staff",
			Expr: `department == "engineering" && status == "active"`, State: idsyncv1.GroupRuleState_GROUP_RULE_STATE_ACTIVE,
			Members: 2500, LastFull: &idsyncv1.GroupRuleEvaluation{At: at(5), Matched: 2500, Joined: 3, Left: 1},
			CreatedBy: "admin:root", CreatedAt: at(0), UpdatedAt: at(0)},
		{Name: "contractors", Id: 2, GroupId: "g-11", Group: "contractors", GroupDirectory: "staff",
			Expr: `"contractors" in groups`, Directories: []string{"corp", "hr"},
			State: idsyncv1.GroupRuleState_GROUP_RULE_STATE_PAUSED, Pending: idsyncv1.GroupRulePending_GROUP_RULE_PENDING_APPLY,
			Run: fixtureRuleRun(), Members: 900, LastError: "user bob (u-2): 1:1: \"in\" looks for a string, got a bool true\x1b[31m",
			LastErrorAt: at(7), CreatedBy: "admin:root", CreatedAt: at(1), UpdatedAt: at(6)},
	}
}

func fixtureRuleRun() *idsyncv1.ImportRun {
	return &idsyncv1.ImportRun{Id: "43", Directory: "staff", Kind: idsyncv1.ImportKind_IMPORT_KIND_RULE,
		State: idsyncv1.RunState_RUN_STATE_PAUSED_BY_SAFEGUARD, PendingDeprovision: 700, Trigger: "rule:contractors",
		Message: "rule contractors: the evaluation would remove 700 of the group's 900 members", StartedAt: at(6)}
}

func fixtureOutcome(r *idsyncv1.GroupRule) *idsyncv1.GroupRuleOutcome {
	o := &idsyncv1.GroupRuleOutcome{Rule: r, Members: 2497, Matched: 2500, Joined: 12, Left: 9,
		Errors: 1, FirstError: "user eve (u-9): the expression gave \"x\" (a string), not true or false"}
	for i := range 10 {
		o.Joining = append(o.Joining, &idsyncv1.GroupRuleUser{Id: fmt.Sprintf("u-%d", 100+i), Username: fmt.Sprintf("new%d", i), Directory: "corp"})
	}
	o.Leaving = []*idsyncv1.GroupRuleUser{{Id: "u-7", Username: "old\x1b[2J", Directory: "hr"}}
	return o
}

func (h *fakeHub) ruleNamed(name string) (*idsyncv1.GroupRule, error) {
	for _, r := range fixtureRules() {
		if r.GetName() == name {
			return r, nil
		}
	}
	return nil, status.Errorf(codes.NotFound, "no group rule %q (see `idsyncctl group rule list`)", name)
}

func (h *fakeHub) ListGroupRules(context.Context, *idsyncv1.ListGroupRulesRequest) (*idsyncv1.ListGroupRulesResponse, error) {
	return &idsyncv1.ListGroupRulesResponse{Rules: fixtureRules()}, nil
}

func (h *fakeHub) GetGroupRule(_ context.Context, req *idsyncv1.GetGroupRuleRequest) (*idsyncv1.GetGroupRuleResponse, error) {
	r, err := h.ruleNamed(req.GetName())
	return &idsyncv1.GetGroupRuleResponse{Rule: r}, err
}

func (h *fakeHub) PreviewGroupRule(_ context.Context, req *idsyncv1.PreviewGroupRuleRequest) (*idsyncv1.PreviewGroupRuleResponse, error) {
	r, err := h.ruleNamed(req.GetName())
	if err != nil {
		return nil, err
	}
	return &idsyncv1.PreviewGroupRuleResponse{Outcome: fixtureOutcome(r)}, nil
}

func (h *fakeHub) CreateGroupRule(_ context.Context, req *idsyncv1.CreateGroupRuleRequest) (*idsyncv1.CreateGroupRuleResponse, error) {
	h.record(req)
	r := fixtureRules()[0]
	r.Name, r.Expr, r.Directories = req.GetName(), req.GetExpr(), req.GetDirectories()
	return &idsyncv1.CreateGroupRuleResponse{Outcome: fixtureOutcome(r)}, nil
}

func (h *fakeHub) UpdateGroupRule(_ context.Context, req *idsyncv1.UpdateGroupRuleRequest) (*idsyncv1.UpdateGroupRuleResponse, error) {
	h.record(req)
	r, err := h.ruleNamed(req.GetName())
	if err != nil {
		return nil, err
	}
	return &idsyncv1.UpdateGroupRuleResponse{Outcome: fixtureOutcome(r)}, nil
}

// ApplyGroupRule pauses contractors, as the safeguard would.
func (h *fakeHub) ApplyGroupRule(_ context.Context, req *idsyncv1.ApplyGroupRuleRequest) (*idsyncv1.ApplyGroupRuleResponse, error) {
	r, err := h.ruleNamed(req.GetName())
	if err != nil {
		return nil, err
	}
	o := fixtureOutcome(r)
	if r.GetRun() != nil {
		o = &idsyncv1.GroupRuleOutcome{Rule: r, Members: 900, Matched: 200, Left: 700, Paused: r.GetRun()}
	}
	return &idsyncv1.ApplyGroupRuleResponse{Outcome: o}, nil
}

func (h *fakeHub) DeleteGroupRule(_ context.Context, req *idsyncv1.DeleteGroupRuleRequest) (*idsyncv1.DeleteGroupRuleResponse, error) {
	r, err := h.ruleNamed(req.GetName())
	if err != nil {
		return nil, err
	}
	r.State = idsyncv1.GroupRuleState_GROUP_RULE_STATE_REMOVED
	return &idsyncv1.DeleteGroupRuleResponse{Outcome: &idsyncv1.GroupRuleOutcome{Rule: r, Members: 2500, Left: 2500}}, nil
}

func (h *fakeHub) ConfirmGroupRule(_ context.Context, req *idsyncv1.ConfirmGroupRuleRequest) (*idsyncv1.ConfirmGroupRuleResponse, error) {
	r, err := h.ruleNamed(req.GetName())
	if err != nil {
		return nil, err
	}
	return &idsyncv1.ConfirmGroupRuleResponse{Outcome: &idsyncv1.GroupRuleOutcome{Rule: r, Members: 900, Matched: 200, Left: 700}}, nil
}

func (h *fakeHub) CancelGroupRule(_ context.Context, req *idsyncv1.CancelGroupRuleRequest) (*idsyncv1.CancelGroupRuleResponse, error) {
	r, err := h.ruleNamed(req.GetName())
	if err != nil {
		return nil, err
	}
	r.State = idsyncv1.GroupRuleState_GROUP_RULE_STATE_HELD
	return &idsyncv1.CancelGroupRuleResponse{Rule: r}, nil
}

// TestRuleRequests: what the rule commands send — the directories as
// given (repeated or listed), an update's mask naming only what its flags
// set — and what they refuse before sending anything.
func TestRuleRequests(t *testing.T) {
	h, conf := startFakeHub(t)
	for _, tc := range []struct {
		name string
		args []string
		want proto.Message
		code int
		err  string
	}{
		{"add", []string{"group", "rule", "add", "eng", "--group", "staff/eng", "--expr", `department == "eng"`,
			"--directory", "corp", "--directory", "hr,lab"},
			&idsyncv1.CreateGroupRuleRequest{Name: "eng", Group: "staff/eng", Expr: `department == "eng"`, Directories: []string{"corp", "hr", "lab"}}, 0, ""},
		{"add without an expression", []string{"group", "rule", "add", "eng", "--group", "staff/eng"}, nil, exitUsage, "--group and --expr: required"},
		{"update the expression", []string{"group", "rule", "update", "engineers", "--expr", "true"},
			&idsyncv1.UpdateGroupRuleRequest{Name: "engineers", Rule: &idsyncv1.GroupRule{Expr: "true"}, UpdateMask: mask("expr")}, 0, ""},
		{"update the directories", []string{"group", "rule", "update", "engineers", "--directory", "corp"},
			&idsyncv1.UpdateGroupRuleRequest{Name: "engineers", Rule: &idsyncv1.GroupRule{Directories: []string{"corp"}}, UpdateMask: mask("directories")}, 0, ""},
		{"update to every directory", []string{"group", "rule", "update", "engineers", "--all-directories", "--expr", ""},
			&idsyncv1.UpdateGroupRuleRequest{Name: "engineers", Rule: &idsyncv1.GroupRule{}, UpdateMask: mask("expr", "directories")}, 0, ""},
		{"update nothing", []string{"group", "rule", "update", "engineers"}, nil, exitUsage, "nothing to change"},
		{"update both ways", []string{"group", "rule", "update", "engineers", "--all-directories", "--directory", "corp"}, nil, exitUsage, "give one"},
		{"a paused change", []string{"group", "rule", "apply", "contractors"}, nil, exitPaused, "paused by the safeguard (run 43)"},
		{"no such rule", []string{"group", "rule", "show", "nope"}, nil, exitFailed, `no group rule "nope"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h.mu.Lock()
			h.updates = nil
			h.mu.Unlock()
			var out, errOut bytes.Buffer
			code := run(t.Context(), append(tc.args, "--config", conf), &out, &errOut)
			if code != tc.code || !strings.Contains(errOut.String(), tc.err) {
				t.Fatalf("exit %d, stderr %q; want exit %d saying %q", code, errOut.String(), tc.code, tc.err)
			}
			if got := h.lastUpdate(); (tc.want == nil) != (got == nil) || (tc.want != nil && !proto.Equal(got, tc.want)) {
				t.Errorf("sent %v, want %v", got, tc.want)
			}
		})
	}
}

func mask(paths ...string) *fieldmaskpb.FieldMask {
	return &fieldmaskpb.FieldMask{Paths: slices.Clone(paths)}
}
