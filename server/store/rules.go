package store

import (
	"context"
	"time"
)

// Rules is the part of the store behind group rules (server/rules): a rule
// names a group of a local directory and an expression over a user's
// profile, and the group holds exactly the users for which it is true. It
// is part of Store.
type Rules interface {
	// CreateRule inserts r and sets ID, CreatedAt and UpdatedAt (and the
	// fields filled on read). A name another rule has, whatever its case,
	// or a group that is another rule's is ErrConflict; a group the hub
	// does not have is ErrNotFound.
	CreateRule(ctx context.Context, r *Rule) error
	// UpdateRule replaces the expression and the directories of the rule
	// with r.ID and sets r.UpdatedAt. Unknown rule: ErrNotFound.
	UpdateRule(ctx context.Context, r *Rule) error
	// GetRule returns the rule named name, whatever its case, or
	// ErrNotFound.
	GetRule(ctx context.Context, name string) (*Rule, error)
	// RuleOfGroup returns the rule whose group is groupID, or ErrNotFound:
	// the rule masters that group's members.
	RuleOfGroup(ctx context.Context, groupID string) (*Rule, error)
	// ListRules returns every rule in id order, the order in which they
	// are evaluated.
	ListRules(ctx context.Context) ([]*Rule, error)
	// DeleteRule removes a rule (not its group). Unknown: ErrNotFound.
	DeleteRule(ctx context.Context, id int64) error
	// RuleEvaluated records a full evaluation of a rule (Rule.LastFull);
	// a position below the one recorded is kept as it was, the rest is
	// replaced. lastError, when not empty, is recorded as the rule's
	// LastError at e.At. Unknown rule: ErrNotFound.
	RuleEvaluated(ctx context.Context, id int64, e RuleEvaluation, lastError string) error
	// RuleFailed records an evaluation error of a rule (a user's, or the
	// rule's own) as its LastError at at. Unknown rule: ErrNotFound.
	RuleFailed(ctx context.Context, id int64, msg string, at time.Time) error
	// MarkRulesGroupsChanged raises the GroupsPos of the rules with these
	// ids to pos (one that is higher already stays): a group change at
	// that feed position may have changed groups for their users.
	MarkRulesGroupsChanged(ctx context.Context, ids []int64, pos int64) error
	// SetRulePause records the run (of kind rule) that holds a change of
	// the rule for an admin and what it holds, or clears it (runID 0,
	// pending ""). Unknown rule: ErrNotFound.
	SetRulePause(ctx context.Context, id, runID int64, pending RulePending) error

	// DirectGroups returns, by user id, the ids of the groups (not
	// deprovisioned) that list each of the users directly, as UserGroups
	// finds them; a user in none has no entry.
	DirectGroups(ctx context.Context, userIDs []string) (map[string][]string, error)
	// MemberCount counts the direct member values of a group (0 for an
	// unknown one), without resolving them as GetGroup does.
	MemberCount(ctx context.Context, groupID string) (int64, error)
	// GroupGraph returns every group that is not deprovisioned and the
	// nesting edges between them, as UserGroupsTransitive follows them:
	// the inner group is a member of the outer one, by DN in the outer
	// group's directory or by id in any.
	GroupGraph(ctx context.Context) (*GroupGraph, error)
}

// Rule is a group rule.
type Rule struct {
	ID   int64
	Name string
	// GroupID is the group the rule masters, a group of a local
	// directory; Group, DirectoryID and Directory (its name, its
	// directory's id and name) are filled on read.
	GroupID     string
	Group       string
	DirectoryID int64
	Directory   string
	// Target is the group as read with the rule, without its member
	// counts (a read the evaluation of a few users can afford whatever
	// the group's size): ID, DirectoryID, Directory, ExternalID, Name,
	// Description, Status and Revision.
	Target Group
	// Expr is the expression (server/provision/expr) that says whether a
	// user belongs in the group.
	Expr string
	// Directories are the ids of the directories whose users the rule
	// covers, none for every directory; DirectoryNames, filled on read,
	// their names in the same order.
	Directories    []int64
	DirectoryNames []string
	// CreatedBy is who made the rule ("admin:NAME").
	CreatedBy string
	CreatedAt time.Time
	UpdatedAt time.Time
	// LastFull is what the last full evaluation found (zero: none yet).
	LastFull RuleEvaluation
	// GroupsPos is the newest feed position of a group change that may
	// have changed groups for the rule's users: a full evaluation is due
	// while it is above LastFull.Position.
	GroupsPos int64
	// LastError is the newest evaluation error (a user's, or the
	// rule's), LastErrorAt when it was met.
	LastError   string
	LastErrorAt time.Time
	// PausedRun is the run of kind rule that holds the rule's pending
	// change (Pending) for an admin's decision; 0 when there is none.
	PausedRun int64
	Pending   RulePending
}

// RuleEvaluation is what a full evaluation of a rule found.
type RuleEvaluation struct {
	At time.Time
	// Position is the feed position of the store the evaluation read:
	// every change up to it was in what it read.
	Position int64
	// Matched is the users for which the expression was true; Joined and
	// Left the members the evaluation added and removed; Errors the users
	// for which it failed (their membership was left as it was).
	Matched, Joined, Left, Errors int64
}

// RulePending is a change of a rule that waits for an admin.
type RulePending string

// What a paused rule holds.
const (
	// RulePendingApply: an evaluation would remove more members than the
	// safeguard allows.
	RulePendingApply RulePending = "apply"
	// RulePendingRemove: removing the rule would empty a group larger
	// than the safeguard allows.
	RulePendingRemove RulePending = "remove"
)

// GroupGraph is the hub's groups that are not deprovisioned, and how they
// nest.
type GroupGraph struct {
	// Groups are by id: ID, Name, DirectoryID and Directory are set.
	Groups map[string]*Group
	// Edges are the nesting steps, ordered by Outer then Inner.
	Edges []NestEdge
}

// NestEdge is one step of group nesting: Inner is a member of Outer.
type NestEdge struct {
	Outer, Inner string
}
