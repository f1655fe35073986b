package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/fieldmaskpb"

	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
)

// The group rule commands (server/rules): a rule fills a group of a local
// directory with exactly the users for which its expression is true.
func init() {
	commands = append(commands,
		command{"group rule add", "fill a local group by a rule: NAME --group GROUP --expr EXPR [--directory D]… (evaluated at once)", ruleAdd},
		command{"group rule update", "change a rule's expression or directories, then evaluate it: NAME [--expr EXPR] [--directory D]… [--all-directories]", ruleUpdate},
		command{"group rule list", "list group rules, in the order they are evaluated", ruleList},
		command{"group rule show", "show a group rule and where it stands: NAME", ruleShow},
		command{"group rule apply", "evaluate a rule in full now: NAME", ruleApply},
		command{"group rule preview", "how many users a full evaluation would add and remove, and ten of each; sends nothing: NAME", rulePreview},
		command{"group rule remove", "remove a rule and empty its group (the group stays): NAME", ruleRemove},
		command{"group rule confirm", "let a rule's change that the safeguard paused go ahead: NAME", ruleConfirm},
		command{"group rule cancel", "call off a rule's change that the safeguard paused: NAME", ruleCancel},
	)
}

func ruleAdd(c *cli, args []string) error {
	fs := c.flags("group rule add")
	group := fs.String("group", "", "the local `GROUP` the rule fills: its name, DIRECTORY/NAME or id")
	expr := fs.String("expr", "", "the `EXPRESSION` that is true for the users the group holds, e.g. 'department == \"engineering\"'")
	var dirs multiFlag
	fs.Var(&dirs, "directory", "cover only the users of directory `NAME` (repeat for several; default: every directory)")
	return ruleChange(c, fs, args, func(ctx context.Context, h hub, name string) (*idsyncv1.GroupRuleOutcome, error) {
		if *group == "" || *expr == "" {
			return nil, &exitError{code: exitUsage, err: fmt.Errorf("--group and --expr: required")}
		}
		r, err := h.admin.CreateGroupRule(ctx, &idsyncv1.CreateGroupRuleRequest{Name: name, Group: *group, Expr: *expr,
			Directories: splitDirs(dirs)})
		return r.GetOutcome(), err
	})
}

// splitDirs takes --directory given several times or as a list.
func splitDirs(dirs multiFlag) []string {
	var out []string
	for _, d := range dirs {
		out = append(out, splitList(d)...)
	}
	return out
}

func ruleUpdate(c *cli, args []string) error {
	fs := c.flags("group rule update")
	expr := fs.String("expr", "", "the new `EXPRESSION`")
	var dirs multiFlag
	fs.Var(&dirs, "directory", "cover only the users of directory `NAME` (repeat for several), instead of those it covers")
	all := fs.Bool("all-directories", false, "cover the users of every directory")
	return ruleChange(c, fs, args, func(ctx context.Context, h hub, name string) (*idsyncv1.GroupRuleOutcome, error) {
		req := &idsyncv1.UpdateGroupRuleRequest{Name: name, Rule: &idsyncv1.GroupRule{}, UpdateMask: &fieldmaskpb.FieldMask{}}
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if set["expr"] {
			req.Rule.Expr = *expr
			req.UpdateMask.Paths = append(req.UpdateMask.Paths, "expr")
		}
		switch {
		case set["directory"] && *all:
			return nil, &exitError{code: exitUsage, err: fmt.Errorf("--directory and --all-directories: give one")}
		case set["directory"] || *all:
			req.Rule.Directories = splitDirs(dirs)
			req.UpdateMask.Paths = append(req.UpdateMask.Paths, "directories")
		}
		if len(req.UpdateMask.Paths) == 0 {
			return nil, &exitError{code: exitUsage, err: fmt.Errorf("nothing to change: give --expr, --directory or --all-directories")}
		}
		r, err := h.admin.UpdateGroupRule(ctx, req)
		return r.GetOutcome(), err
	})
}

func ruleApply(c *cli, args []string) error {
	return ruleChange(c, c.flags("group rule apply"), args, func(ctx context.Context, h hub, name string) (*idsyncv1.GroupRuleOutcome, error) {
		r, err := h.admin.ApplyGroupRule(ctx, &idsyncv1.ApplyGroupRuleRequest{Name: name})
		return r.GetOutcome(), err
	})
}

func rulePreview(c *cli, args []string) error {
	return query(c, c.flags("group rule preview"), args, "NAME",
		func(ctx context.Context, h hub, name string) (*idsyncv1.GroupRuleOutcome, error) {
			r, err := h.admin.PreviewGroupRule(ctx, &idsyncv1.PreviewGroupRuleRequest{Name: name})
			return r.GetOutcome(), err
		}, outcomeView("would join", "would leave"))
}

func ruleRemove(c *cli, args []string) error {
	return ruleChange(c, c.flags("group rule remove"), args, func(ctx context.Context, h hub, name string) (*idsyncv1.GroupRuleOutcome, error) {
		r, err := h.admin.DeleteGroupRule(ctx, &idsyncv1.DeleteGroupRuleRequest{Name: name})
		return r.GetOutcome(), err
	})
}

func ruleConfirm(c *cli, args []string) error {
	return ruleChange(c, c.flags("group rule confirm"), args, func(ctx context.Context, h hub, name string) (*idsyncv1.GroupRuleOutcome, error) {
		r, err := h.admin.ConfirmGroupRule(ctx, &idsyncv1.ConfirmGroupRuleRequest{Name: name})
		return r.GetOutcome(), err
	})
}

func ruleCancel(c *cli, args []string) error {
	return query(c, c.flags("group rule cancel"), args, "NAME",
		func(ctx context.Context, h hub, name string) (*idsyncv1.GroupRule, error) {
			r, err := h.admin.CancelGroupRule(ctx, &idsyncv1.CancelGroupRuleRequest{Name: name})
			return r.GetRule(), err
		}, ruleView)
}

func ruleList(c *cli, args []string) error {
	return query(c, c.flags("group rule list"), args, "",
		func(ctx context.Context, h hub, _ string) ([]*idsyncv1.GroupRule, error) {
			r, err := h.admin.ListGroupRules(ctx, &idsyncv1.ListGroupRulesRequest{})
			return r.GetRules(), err
		},
		listView(toRuleJSON, []string{"NAME", "GROUP", "STATE", "MEMBERS", "LAST FULL EVALUATION", "EXPRESSION"},
			func(r *idsyncv1.GroupRule) []string {
				return []string{terminalSafe(r.GetName()), terminalSafe(r.GetGroupDirectory() + "/" + r.GetGroup()), ruleState(r),
					count(r.GetMembers()), timeStr(r.GetLastFull().GetAt()), terminalSafe(r.GetExpr())}
			}))
}

func ruleShow(c *cli, args []string) error {
	return query(c, c.flags("group rule show"), args, "NAME",
		func(ctx context.Context, h hub, name string) (*idsyncv1.GroupRule, error) {
			r, err := h.admin.GetGroupRule(ctx, &idsyncv1.GetGroupRuleRequest{Name: name})
			return r.GetRule(), err
		}, ruleView)
}

// ruleChange runs a command that changes a rule and prints what the
// evaluation did; a change the safeguard paused exits exitPaused.
func ruleChange(c *cli, fs *flag.FlagSet, args []string,
	call func(ctx context.Context, h hub, name string) (*idsyncv1.GroupRuleOutcome, error)) error {
	c.timeout = longCall // a full evaluation reads every user
	var got *idsyncv1.GroupRuleOutcome
	err := query(c, fs, args, "NAME", func(ctx context.Context, h hub, name string) (*idsyncv1.GroupRuleOutcome, error) {
		o, err := call(ctx, h, name)
		got = o
		return o, err
	}, outcomeView("joined", "left"))
	if err != nil {
		return err
	}
	if p := got.GetPaused(); p != nil {
		return &exitError{code: exitPaused, err: fmt.Errorf("the change of rule %s is paused by the safeguard (run %s): nothing was changed; "+
			"group rule confirm %s lets it go ahead, group rule cancel %s calls it off", got.GetRule().GetName(), p.GetId(),
			got.GetRule().GetName(), got.GetRule().GetName())}
	}
	return nil
}

// ruleState names where a rule stands, with what waits.
func ruleState(r *idsyncv1.GroupRule) string {
	s := enumName(r.GetState().String(), "GROUP_RULE_STATE_")
	if p := r.GetPending(); p != idsyncv1.GroupRulePending_GROUP_RULE_PENDING_UNSPECIFIED && r.GetState() != idsyncv1.GroupRuleState_GROUP_RULE_STATE_ACTIVE {
		s += " (" + enumName(p.String(), "GROUP_RULE_PENDING_") + ")"
	}
	return s
}

// ruleJSON is a group rule as `-o json` prints it.
type ruleJSON struct {
	Name        string          `json:"name"`
	ID          uint64          `json:"id"`
	Group       string          `json:"group"`
	GroupID     string          `json:"group_id"`
	Directory   string          `json:"group_directory"`
	Expr        string          `json:"expr"`
	Directories []string        `json:"directories"`
	State       string          `json:"state"`
	Pending     string          `json:"pending,omitempty"`
	Run         *runJSON        `json:"run,omitempty"`
	Members     uint64          `json:"members"`
	LastFull    *evaluationJSON `json:"last_full,omitempty"`
	LastError   string          `json:"last_error,omitempty"`
	LastErrorAt *time.Time      `json:"last_error_at,omitempty"`
	CreatedBy   string          `json:"created_by"`
	CreatedAt   *time.Time      `json:"created_at,omitempty"`
	UpdatedAt   *time.Time      `json:"updated_at,omitempty"`
}

type evaluationJSON struct {
	At      *time.Time `json:"at,omitempty"`
	Matched uint64     `json:"matched"`
	Joined  uint64     `json:"joined"`
	Left    uint64     `json:"left"`
	Errors  uint64     `json:"errors"`
}

func toRuleJSON(r *idsyncv1.GroupRule) ruleJSON {
	j := ruleJSON{Name: r.GetName(), ID: r.GetId(), Group: r.GetGroup(), GroupID: r.GetGroupId(), Directory: r.GetGroupDirectory(),
		Expr: r.GetExpr(), Directories: r.GetDirectories(), State: enumName(r.GetState().String(), "GROUP_RULE_STATE_"),
		Members: r.GetMembers(), LastError: r.GetLastError(), LastErrorAt: timeJSON(r.GetLastErrorAt()), CreatedBy: r.GetCreatedBy(),
		CreatedAt: timeJSON(r.GetCreatedAt()), UpdatedAt: timeJSON(r.GetUpdatedAt())}
	if j.Directories == nil {
		j.Directories = []string{}
	}
	if p := r.GetPending(); p != idsyncv1.GroupRulePending_GROUP_RULE_PENDING_UNSPECIFIED {
		j.Pending = enumName(p.String(), "GROUP_RULE_PENDING_")
	}
	if run := r.GetRun(); run != nil {
		rj := toRunJSON(run)
		j.Run = &rj
	}
	if e := r.GetLastFull(); e != nil {
		j.LastFull = &evaluationJSON{At: timeJSON(e.GetAt()), Matched: e.GetMatched(), Joined: e.GetJoined(), Left: e.GetLeft(), Errors: e.GetErrors()}
	}
	return j
}

var ruleView = itemView(toRuleJSON, ruleText)

func ruleText(w io.Writer, r *idsyncv1.GroupRule) error {
	kv := [][2]string{
		{"rule", r.GetName()}, {"order", fmt.Sprint(r.GetId())},
		{"group", r.GetGroup() + " of " + r.GetGroupDirectory() + " (" + r.GetGroupId() + ")"},
		{"expression", r.GetExpr()}, {"users of", usersOf(r.GetDirectories())},
		{"state", ruleState(r)}, {"members", count(r.GetMembers())},
	}
	if e := r.GetLastFull(); e != nil {
		kv = append(kv, [2]string{"last full", fmt.Sprintf("%s: %s matched, %s joined, %s left, %s errors", timeStr(e.GetAt()),
			count(e.GetMatched()), count(e.GetJoined()), count(e.GetLeft()), count(e.GetErrors()))})
	} else {
		kv = append(kv, [2]string{"last full", "never"})
	}
	if r.GetLastError() != "" {
		kv = append(kv, [2]string{"last error", timeStr(r.GetLastErrorAt()) + ": " + r.GetLastError()})
	}
	if run := r.GetRun(); run != nil {
		kv = append(kv, [2]string{"run", run.GetId() + " " + runStateName(run.GetState()) + ": " + dash(run.GetMessage())})
	}
	kv = append(kv, [2]string{"created", timeStr(r.GetCreatedAt()) + " by " + dash(r.GetCreatedBy())},
		[2]string{"updated", timeStr(r.GetUpdatedAt())})
	return fields(w, safePairs(kv))
}

// safePairs makes what the hub stored (names, expressions, errors) safe
// for a terminal.
func safePairs(kv [][2]string) [][2]string {
	for i := range kv {
		kv[i][1] = terminalSafe(kv[i][1])
	}
	return kv
}

func usersOf(dirs []string) string {
	if len(dirs) == 0 {
		return "every directory"
	}
	return strings.Join(dirs, ", ")
}

// outcomeJSON is what an evaluation did as `-o json` prints it.
type outcomeJSON struct {
	Rule       ruleJSON   `json:"rule"`
	Members    uint64     `json:"members"`
	Matched    uint64     `json:"matched"`
	Joined     uint64     `json:"joined"`
	Left       uint64     `json:"left"`
	Joining    []ruleUser `json:"joining"`
	Leaving    []ruleUser `json:"leaving"`
	Errors     uint64     `json:"errors"`
	FirstError string     `json:"first_error,omitempty"`
	Paused     *runJSON   `json:"paused,omitempty"`
}

type ruleUser struct {
	ID        string `json:"id"`
	Username  string `json:"username"`
	Directory string `json:"directory"`
}

func toOutcomeJSON(o *idsyncv1.GroupRuleOutcome) outcomeJSON {
	users := func(us []*idsyncv1.GroupRuleUser) []ruleUser {
		out := []ruleUser{}
		for _, u := range us {
			out = append(out, ruleUser{ID: u.GetId(), Username: u.GetUsername(), Directory: u.GetDirectory()})
		}
		return out
	}
	j := outcomeJSON{Rule: toRuleJSON(o.GetRule()), Members: o.GetMembers(), Matched: o.GetMatched(), Joined: o.GetJoined(),
		Left: o.GetLeft(), Joining: users(o.GetJoining()), Leaving: users(o.GetLeaving()), Errors: o.GetErrors(),
		FirstError: o.GetFirstError()}
	if p := o.GetPaused(); p != nil {
		rj := toRunJSON(p)
		j.Paused = &rj
	}
	return j
}

// outcomeView prints what an evaluation did (joined, left) or would do (a
// preview: would join, would leave).
func outcomeView(join, leave string) view[*idsyncv1.GroupRuleOutcome] {
	return itemView(toOutcomeJSON, func(w io.Writer, o *idsyncv1.GroupRuleOutcome) error {
		r := o.GetRule()
		kv := [][2]string{{"rule", r.GetName()}, {"group", r.GetGroup() + " of " + r.GetGroupDirectory()},
			{"expression", r.GetExpr()}, {"state", ruleState(r)}, {"members before", count(o.GetMembers())},
			{"matched", count(o.GetMatched())}, {join, count(o.GetJoined())}, {leave, count(o.GetLeft())},
			{"errors", count(o.GetErrors())}}
		if o.GetFirstError() != "" {
			kv = append(kv, [2]string{"first error", o.GetFirstError()})
		}
		if p := o.GetPaused(); p != nil {
			kv = append(kv, [2]string{"paused", "run " + p.GetId() + ": " + p.GetMessage()})
		}
		if err := fields(w, safePairs(kv)); err != nil {
			return err
		}
		for _, part := range []struct {
			title string
			n     uint64
			users []*idsyncv1.GroupRuleUser
		}{{join, o.GetJoined(), o.GetJoining()}, {leave, o.GetLeft(), o.GetLeaving()}} {
			if len(part.users) == 0 {
				continue
			}
			title := part.title
			if part.n > uint64(len(part.users)) {
				title += fmt.Sprintf(" (the first %d of %s)", len(part.users), count(part.n))
			}
			fmt.Fprintf(w, "\n%s:\n", title)
			rows := mapSlice(part.users, func(u *idsyncv1.GroupRuleUser) []string {
				return []string{terminalSafe(u.GetUsername()), terminalSafe(u.GetDirectory()), u.GetId()}
			})
			if err := table(w, []string{"USERNAME", "DIRECTORY", "ID"}, rows); err != nil {
				return err
			}
		}
		return nil
	})
}
