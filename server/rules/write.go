package rules

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/idsync/idsync/server/ingest"
	"github.com/idsync/idsync/server/store"
)

// TargetError refuses a group a rule cannot master: a directory's own
// group (they stay read-only in the hub), or a deprovisioned one.
type TargetError struct {
	Group, Directory string
	Kind             store.DirectoryKind
	Why              string
}

func (e *TargetError) Error() string {
	return fmt.Sprintf("group %s of directory %s (kind %s): %s", e.Group, e.Directory, e.Kind, e.Why)
}

// target returns a rule's group and its directory, refusing a group that
// is not a live group of a local directory.
func (e *Engine) target(ctx context.Context, groupID string) (*store.Group, *store.Directory, error) {
	g, err := e.st.GetGroup(ctx, groupID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, fmt.Errorf("group %s: %w", groupID, ErrNotAGroup)
	}
	if err != nil {
		return nil, nil, err
	}
	return e.check(ctx, g)
}

// targetOf is target for the group as read with rule r (Rule.Target,
// without the member counts GetGroup reads, which cost as much as the
// group is large): what the evaluation of a few users reads.
func (e *Engine) targetOf(ctx context.Context, r *store.Rule) (*store.Group, *store.Directory, error) {
	if r.Target.Status == "" {
		return nil, nil, fmt.Errorf("group %s of rule %s: %w", r.GroupID, r.Name, ErrNotAGroup)
	}
	g := r.Target
	return e.check(ctx, &g)
}

// check refuses a group that is not a live group of a local directory.
func (e *Engine) check(ctx context.Context, g *store.Group) (*store.Group, *store.Directory, error) {
	d, err := e.st.GetDirectoryByID(ctx, g.DirectoryID)
	if err != nil {
		return nil, nil, fmt.Errorf("directory of group %s: %w", g.Name, err)
	}
	switch {
	case d.Kind != store.KindLocal:
		return nil, nil, &TargetError{Group: g.Name, Directory: d.Name, Kind: d.Kind,
			Why: "a directory's own groups stay read-only in the hub; a rule writes a group of a local directory (group create --directory LOCAL NAME)"}
	case g.Status == store.StatusDeprovisioned:
		return nil, nil, &TargetError{Group: g.Name, Directory: d.Name, Kind: d.Kind, Why: "it is deprovisioned"}
	}
	return g, d, nil
}

// members returns the users a group holds, by id, and whether it also
// holds values that are no user (an id of nothing, a purged user, a
// group), which a complete write drops.
func (e *Engine) members(ctx context.Context, groupID string) (map[string]bool, bool, error) {
	ms, err := e.st.GroupMembers(ctx, groupID)
	if err != nil {
		return nil, false, fmt.Errorf("reading the members of group %s: %w", groupID, err)
	}
	out := make(map[string]bool, len(ms))
	other := false
	for _, m := range ms {
		if m.ID != "" && m.Kind == store.ObjectUser {
			out[m.ID] = true
		} else {
			other = true
		}
	}
	return out, other, nil
}

// groupObject is the object of a rule's group, without members.
func groupObject(g *store.Group) *store.Object {
	return &store.Object{Kind: store.ObjectGroup, ExternalID: g.ExternalID, Status: store.StatusActive,
		Name: g.Name, Description: g.Description}
}

// writeSet writes the complete member set of g (a full evaluation) if the
// group was not written since it was read at revision rev: a write made
// meanwhile fails with store.ErrConflict.
func (e *Engine) writeSet(ctx context.Context, r *store.Rule, d *store.Directory, g *store.Group, ids []string,
	rev int64, ev *store.AuditEvent) error {
	o := groupObject(g)
	slices.Sort(ids)
	o.Members = make([]store.MemberRef, 0, len(ids))
	for _, id := range ids {
		o.Members = append(o.Members, store.IDMember(id))
	}
	o.MembersComplete, o.IfRevision = true, rev
	o.Hash = ingest.Hash(o)
	return e.write(ctx, r, d, o, ev)
}

// deltaObject is the object that adds and removes members of g (the
// evaluation of a few users).
func deltaObject(g *store.Group, join, leave []string) *store.Object {
	o := groupObject(g)
	for _, id := range join {
		o.AddMembers = append(o.AddMembers, store.IDMember(id))
	}
	for _, id := range leave {
		o.RemoveMembers = append(o.RemoveMembers, store.IDMember(id))
	}
	o.Hash = ingest.Hash(o)
	return o
}

// write applies one group object of rule r as a run of kind write by
// rule:NAME, with ev in its transaction.
func (e *Engine) write(ctx context.Context, r *store.Rule, d *store.Directory, o *store.Object, ev *store.AuditEvent) error {
	actor := actorOf(r)
	b := &store.Batch{Upserts: []*store.Object{o}, Actor: actor}
	if ev != nil {
		b.Audit = []*store.AuditEvent{ev}
	}
	if _, err := e.apply.ApplyWrite(ctx, d, actor, b); err != nil {
		return fmt.Errorf("writing group %s of rule %s: %w", o.Name, r.Name, err)
	}
	return nil
}

// actorOf is who a rule's writes are by.
func actorOf(r *store.Rule) string { return "rule:" + r.Name }
