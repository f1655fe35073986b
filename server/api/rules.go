package api

import (
	"context"
	"errors"
	"slices"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
	"github.com/idsync/idsync/server/auth"
	"github.com/idsync/idsync/server/rules"
	"github.com/idsync/idsync/server/store"
)

// The doors of group rules (server/rules): each decodes, calls the rule
// engine with the admin as actor (the engine writes the audit events) and
// encodes; writes need rules.write, which only a super-admin holds. A
// group-admin reads the rules of its groups only, and the users an
// evaluation names that it may see.

// ruleEngine returns the rule engine, or Unimplemented when the hub runs
// without one.
func (s *AdminServer) ruleEngine() (*rules.Engine, error) {
	if s.rules == nil {
		return nil, status.Error(codes.Unimplemented, "group rules are not served by this hub")
	}
	return s.rules, nil
}

// ruleErr maps the rule engine's errors to status codes, naming the rule.
func ruleErr(err error, name string) error {
	var fe *rules.FieldError
	var te *rules.TargetError
	var se *rules.StateError
	switch {
	case errors.As(err, &fe) && errors.Is(err, store.ErrConflict):
		return status.Errorf(codes.AlreadyExists, "rule %s: %v", name, fe)
	case errors.As(err, &fe):
		return status.Errorf(codes.InvalidArgument, "rule %s: %v", name, fe)
	case errors.As(err, &te):
		return status.Errorf(codes.FailedPrecondition, "rule %s: %v", name, te)
	case errors.As(err, &se):
		return status.Error(codes.FailedPrecondition, se.Error())
	case errors.Is(err, rules.ErrNoRule):
		return status.Errorf(codes.NotFound, "no group rule %q (see `idsyncctl group rule list`)", name)
	case errors.Is(err, rules.ErrNotAGroup):
		return status.Errorf(codes.FailedPrecondition, "rule %s: %v", name, err)
	}
	return statusErr(err, "rule %s", name)
}

// CreateGroupRule adds a rule and evaluates it.
func (s *AdminServer) CreateGroupRule(ctx context.Context, req *idsyncv1.CreateGroupRuleRequest) (*idsyncv1.CreateGroupRuleResponse, error) {
	eng, err := s.ruleEngine()
	if err != nil {
		return nil, err
	}
	o, err := eng.Add(ctx, rules.Spec{Name: req.GetName(), Group: req.GetGroup(), Expr: req.GetExpr(),
		Directories: req.GetDirectories()}, auth.Actor(ctx))
	if err != nil {
		return nil, ruleErr(err, req.GetName())
	}
	out, err := s.outcomeToProto(ctx, eng, o)
	return &idsyncv1.CreateGroupRuleResponse{Outcome: out}, err
}

// ruleSettings are the paths of GroupRule an update may set.
var ruleSettings = []string{"expr", "directories"}

// UpdateGroupRule changes a rule's expression or directories and
// evaluates it.
func (s *AdminServer) UpdateGroupRule(ctx context.Context, req *idsyncv1.UpdateGroupRuleRequest) (*idsyncv1.UpdateGroupRuleResponse, error) {
	eng, err := s.ruleEngine()
	if err != nil {
		return nil, err
	}
	paths := req.GetUpdateMask().GetPaths()
	if len(paths) == 0 {
		return nil, status.Errorf(codes.InvalidArgument, "rule %s: update_mask: name what to change (%v)", req.GetName(), ruleSettings)
	}
	var expr *string
	var dirs *[]string
	for _, p := range paths {
		switch p {
		case "expr":
			e := req.GetRule().GetExpr()
			expr = &e
		case "directories":
			d := req.GetRule().GetDirectories()
			dirs = &d
		default:
			return nil, status.Errorf(codes.InvalidArgument, "rule %s: update_mask: %q cannot be changed (only %v)", req.GetName(), p, ruleSettings)
		}
	}
	o, err := eng.Update(ctx, req.GetName(), expr, dirs, auth.Actor(ctx))
	if err != nil {
		return nil, ruleErr(err, req.GetName())
	}
	out, err := s.outcomeToProto(ctx, eng, o)
	return &idsyncv1.UpdateGroupRuleResponse{Outcome: out}, err
}

// ListGroupRules lists the rules in their order.
func (s *AdminServer) ListGroupRules(ctx context.Context, _ *idsyncv1.ListGroupRulesRequest) (*idsyncv1.ListGroupRulesResponse, error) {
	eng, err := s.ruleEngine()
	if err != nil {
		return nil, err
	}
	scope, err := groupScopeOf(ctx, s.store)
	if err != nil {
		return nil, err
	}
	list, err := eng.List(ctx)
	if err != nil {
		return nil, statusErr(err, "listing group rules")
	}
	resp := &idsyncv1.ListGroupRulesResponse{Rules: []*idsyncv1.GroupRule{}}
	for _, st := range list {
		if scope.group(st.Rule.GroupID) {
			resp.Rules = append(resp.Rules, ruleToProto(st, scope))
		}
	}
	return resp, nil
}

// ruleStatus reads a rule a caller may see: for a group-admin, one whose
// group is not among its groups is not found, as one that does not exist.
func (s *AdminServer) ruleStatus(ctx context.Context, eng *rules.Engine, name string) (*rules.Status, *groupScope, error) {
	scope, err := groupScopeOf(ctx, s.store)
	if err != nil {
		return nil, nil, err
	}
	st, err := eng.Get(ctx, name)
	if err == nil && !scope.group(st.Rule.GroupID) {
		err = rules.ErrNoRule
	}
	if err != nil {
		return nil, nil, ruleErr(err, name)
	}
	return st, scope, nil
}

// GetGroupRule shows a rule.
func (s *AdminServer) GetGroupRule(ctx context.Context, req *idsyncv1.GetGroupRuleRequest) (*idsyncv1.GetGroupRuleResponse, error) {
	eng, err := s.ruleEngine()
	if err != nil {
		return nil, err
	}
	st, scope, err := s.ruleStatus(ctx, eng, req.GetName())
	if err != nil {
		return nil, err
	}
	return &idsyncv1.GetGroupRuleResponse{Rule: ruleToProto(st, scope)}, nil
}

// ApplyGroupRule evaluates a rule in full now.
func (s *AdminServer) ApplyGroupRule(ctx context.Context, req *idsyncv1.ApplyGroupRuleRequest) (*idsyncv1.ApplyGroupRuleResponse, error) {
	eng, err := s.ruleEngine()
	if err != nil {
		return nil, err
	}
	o, err := eng.Apply(ctx, req.GetName(), auth.Actor(ctx))
	if err != nil {
		return nil, ruleErr(err, req.GetName())
	}
	out, err := s.outcomeToProto(ctx, eng, o)
	return &idsyncv1.ApplyGroupRuleResponse{Outcome: out}, err
}

// PreviewGroupRule says what a full evaluation would do, writing nothing.
func (s *AdminServer) PreviewGroupRule(ctx context.Context, req *idsyncv1.PreviewGroupRuleRequest) (*idsyncv1.PreviewGroupRuleResponse, error) {
	eng, err := s.ruleEngine()
	if err != nil {
		return nil, err
	}
	if _, _, err := s.ruleStatus(ctx, eng, req.GetName()); err != nil {
		return nil, err
	}
	o, err := eng.Preview(ctx, req.GetName())
	if err != nil {
		return nil, ruleErr(err, req.GetName())
	}
	out, err := s.outcomeToProto(ctx, eng, o)
	return &idsyncv1.PreviewGroupRuleResponse{Outcome: out}, err
}

// DeleteGroupRule removes a rule and empties its group.
func (s *AdminServer) DeleteGroupRule(ctx context.Context, req *idsyncv1.DeleteGroupRuleRequest) (*idsyncv1.DeleteGroupRuleResponse, error) {
	eng, err := s.ruleEngine()
	if err != nil {
		return nil, err
	}
	o, err := eng.Remove(ctx, req.GetName(), auth.Actor(ctx))
	if err != nil {
		return nil, ruleErr(err, req.GetName())
	}
	out, err := s.outcomeToProto(ctx, eng, o)
	return &idsyncv1.DeleteGroupRuleResponse{Outcome: out}, err
}

// ConfirmGroupRule lets a paused change of a rule go ahead.
func (s *AdminServer) ConfirmGroupRule(ctx context.Context, req *idsyncv1.ConfirmGroupRuleRequest) (*idsyncv1.ConfirmGroupRuleResponse, error) {
	eng, err := s.ruleEngine()
	if err != nil {
		return nil, err
	}
	o, err := eng.Confirm(ctx, req.GetName(), auth.Actor(ctx))
	if err != nil {
		return nil, ruleErr(err, req.GetName())
	}
	out, err := s.outcomeToProto(ctx, eng, o)
	return &idsyncv1.ConfirmGroupRuleResponse{Outcome: out}, err
}

// CancelGroupRule calls off a paused change of a rule.
func (s *AdminServer) CancelGroupRule(ctx context.Context, req *idsyncv1.CancelGroupRuleRequest) (*idsyncv1.CancelGroupRuleResponse, error) {
	eng, err := s.ruleEngine()
	if err != nil {
		return nil, err
	}
	st, err := eng.Cancel(ctx, req.GetName(), auth.Actor(ctx))
	if err != nil {
		return nil, ruleErr(err, req.GetName())
	}
	return &idsyncv1.CancelGroupRuleResponse{Rule: ruleToProto(st, &groupScope{})}, nil
}

var ruleStates = map[rules.State]idsyncv1.GroupRuleState{
	rules.StateActive:   idsyncv1.GroupRuleState_GROUP_RULE_STATE_ACTIVE,
	rules.StatePaused:   idsyncv1.GroupRuleState_GROUP_RULE_STATE_PAUSED,
	rules.StateHeld:     idsyncv1.GroupRuleState_GROUP_RULE_STATE_HELD,
	rules.StateRemoving: idsyncv1.GroupRuleState_GROUP_RULE_STATE_REMOVING,
	rules.StateRemoved:  idsyncv1.GroupRuleState_GROUP_RULE_STATE_REMOVED,
}

var rulePending = map[store.RulePending]idsyncv1.GroupRulePending{
	store.RulePendingApply:  idsyncv1.GroupRulePending_GROUP_RULE_PENDING_APPLY,
	store.RulePendingRemove: idsyncv1.GroupRulePending_GROUP_RULE_PENDING_REMOVE,
}

// ruleToProto encodes a rule as scope sees it: a group-admin is not told
// the last error, which names the user the expression failed for (and
// what it gave for that user), who may be outside its groups.
func ruleToProto(st *rules.Status, scope *groupScope) *idsyncv1.GroupRule {
	r := st.Rule
	lastError := r.LastError
	if scope.limited {
		lastError = ""
	}
	out := &idsyncv1.GroupRule{Name: r.Name, Id: uint64(r.ID), GroupId: r.GroupID, Group: r.Group, GroupDirectory: r.Directory,
		Expr: r.Expr, Directories: slices.Clone(r.DirectoryNames), State: ruleStates[st.State], Pending: rulePending[r.Pending],
		Members: uint64(max(st.Members, 0)), LastError: lastError, LastErrorAt: ts(r.LastErrorAt), CreatedBy: r.CreatedBy,
		CreatedAt: ts(r.CreatedAt), UpdatedAt: ts(r.UpdatedAt)}
	if st.Run != nil {
		run := *st.Run
		if run.Directory == "" {
			run.Directory = r.Directory
		}
		out.Run = runToProto(&run)
	}
	if e := r.LastFull; !e.At.IsZero() {
		out.LastFull = &idsyncv1.GroupRuleEvaluation{At: ts(e.At), Matched: uint64(e.Matched), Joined: uint64(e.Joined),
			Left: uint64(e.Left), Errors: uint64(e.Errors)}
	}
	return out
}

// outcomeToProto encodes what an evaluation did with the rule as it
// stands after (a removed rule as it was); a group-admin sees only the
// users it may see among those named.
func (s *AdminServer) outcomeToProto(ctx context.Context, eng *rules.Engine, o *rules.Outcome) (*idsyncv1.GroupRuleOutcome, error) {
	scope, err := groupScopeOf(ctx, s.store)
	if err != nil {
		return nil, err
	}
	st, err := eng.Get(ctx, o.Rule.Name)
	if errors.Is(err, rules.ErrNoRule) {
		st, err = &rules.Status{Rule: o.Rule, State: rules.StateRemoved}, nil
	}
	if err != nil {
		return nil, ruleErr(err, o.Rule.Name)
	}
	out := &idsyncv1.GroupRuleOutcome{Rule: ruleToProto(st, scope), Members: uint64(o.Members), Matched: uint64(o.Matched),
		Joined: uint64(o.Joined), Left: uint64(o.Left), Errors: uint64(o.Errors), FirstError: o.FirstError}
	users := func(us []*store.User) []*idsyncv1.GroupRuleUser {
		var out []*idsyncv1.GroupRuleUser
		for _, u := range us {
			if scope.user(u.ID) {
				out = append(out, &idsyncv1.GroupRuleUser{Id: u.ID, Username: u.Username, Directory: u.Directory})
			}
		}
		return out
	}
	out.Joining, out.Leaving = users(o.Joining), users(o.Leaving)
	if scope.limited {
		out.FirstError = "" // it names a user the admin may not see
	}
	if o.Paused != nil {
		run := *o.Paused
		if run.Directory == "" {
			run.Directory = o.Rule.Directory
		}
		out.Paused = runToProto(&run)
	}
	return out, nil
}
