package scimin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/scim2/filter-parser/v2"

	"github.com/idsync/idsync/server/ingest"
	"github.com/idsync/idsync/server/store"
)

type groupResources struct{ h *Handler }

func (h *Handler) groups() resources { return groupResources{h} }

func (groupResources) typ(context.Context) *resourceType { return groupType }

func (r groupResources) group(ctx context.Context, id string) (*store.Group, error) {
	g, err := r.h.st.GetGroup(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && (g.DirectoryID != source(ctx).ID || g.Status == store.StatusDeprovisioned)) {
		return nil, errorf(http.StatusNotFound, "", "no group %s", id)
	}
	if err != nil {
		return nil, fmt.Errorf("reading group %s: %w", id, err)
	}
	return g, nil
}

func (r groupResources) get(ctx context.Context, id string) (map[string]any, error) {
	g, err := r.group(ctx, id)
	if err != nil {
		return nil, err
	}
	return r.render(ctx, g)
}

func (r groupResources) render(ctx context.Context, g *store.Group) (map[string]any, error) {
	ms, err := r.h.st.GroupMembers(ctx, g.ID)
	if err != nil {
		return nil, fmt.Errorf("reading the members of group %s: %w", g.ID, err)
	}
	var members []any
	for _, m := range ms {
		if m.ID != "" && m.Kind == store.ObjectUser {
			members = append(members, map[string]any{"value": m.ID, "$ref": baseOf(ctx) + "/Users/" + m.ID,
				"display": m.Name, "type": "User"})
		}
	}
	res := map[string]any{
		"schemas":     []string{schemaGroup},
		"id":          g.ID,
		"displayName": g.Name,
		"meta":        meta("Group", g.CreatedAt, g.UpdatedAt, g.Revision),
	}
	// No members: unassigned, not shown (RFC 7643 §2.5), as every other
	// attribute without a value.
	if len(members) > 0 {
		res["members"] = members
	}
	if !strings.HasPrefix(g.ExternalID, generatedPrefix) {
		res["externalId"] = g.ExternalID
	}
	return res, nil
}

func (r groupResources) each(ctx context.Context, f filter.Expression, yield func(map[string]any) bool) error {
	d := source(ctx)
	var gs []*store.Group
	var err error
	if name, ok := eqValue(f, "displayName"); ok {
		gs, err = r.h.st.FindGroups(ctx, d.ID, name)
	} else {
		gs, err = r.h.st.ListGroups(ctx, store.GroupFilter{DirectoryID: d.ID})
	}
	if err != nil {
		return fmt.Errorf("listing the groups of %s: %w", d.Name, err)
	}
	for _, g := range gs {
		if g.Status == store.StatusDeprovisioned {
			continue
		}
		res, err := r.render(ctx, g)
		if err != nil {
			return err
		}
		if !yield(res) {
			return nil
		}
	}
	return nil
}

func (r groupResources) create(ctx context.Context, body map[string]any) (map[string]any, error) {
	c, err := groupType.decode(body)
	if err != nil {
		return nil, err
	}
	name := str(c["displayName"])
	if err := r.nameFree(ctx, name, ""); err != nil {
		return nil, err
	}
	ext := str(c["externalId"])
	if err := r.h.externalIDFree(ctx, store.ObjectGroup, ext); err != nil {
		return nil, err
	}
	if ext == "" {
		ext = generatedPrefix + newID()
	}
	o, err := r.object(ctx, c, ext)
	if err != nil {
		return nil, err
	}
	return r.write(ctx, o)
}

func (r groupResources) replace(ctx context.Context, id string, body map[string]any) (map[string]any, error) {
	g, err := r.group(ctx, id)
	if err != nil {
		return nil, err
	}
	c, err := groupType.decode(body)
	if err != nil {
		return nil, err
	}
	if err := r.nameFree(ctx, str(c["displayName"]), g.ID); err != nil {
		return nil, err
	}
	if err := sameExternalID(c, g.ExternalID); err != nil {
		return nil, err
	}
	o, err := r.object(ctx, c, g.ExternalID)
	if err != nil {
		return nil, err
	}
	return r.write(ctx, o)
}

func (r groupResources) remove(ctx context.Context, id string) error {
	g, err := r.group(ctx, id)
	if err != nil {
		return err
	}
	_, err = writeRun(ctx).Apply(ctx, &store.Batch{Deletes: []string{g.ExternalID}})
	return err
}

func (r groupResources) nameFree(ctx context.Context, name, self string) error {
	if name == "" {
		return errorf(http.StatusBadRequest, "invalidValue", "displayName: required")
	}
	gs, err := r.h.st.FindGroups(ctx, source(ctx).ID, name)
	if err != nil {
		return fmt.Errorf("finding groups named %q: %w", name, err)
	}
	for _, g := range gs {
		if g.ID != self && g.Status != store.StatusDeprovisioned {
			return errorf(http.StatusConflict, "uniqueness", "displayName %q is taken by group %s", name, g.ID)
		}
	}
	return nil
}

// object maps a Group (decoded: canonical names) to the object the source
// writes. Members are
// users of the same source, by SCIM id; they are keyed by the users' DNs
// (made from their external ids), so a renamed user stays a member.
func (r groupResources) object(ctx context.Context, c map[string]any, ext string) (*store.Object, error) {
	d := source(ctx)
	name := str(c["displayName"])
	var members []store.MemberRef
	seen := map[string]bool{}
	for _, m := range elements(c["members"]) {
		mm, _ := m.(map[string]any)
		id := str(mm["value"])
		if id == "" || seen[id] {
			continue
		}
		seen[id] = true
		u, err := r.h.st.GetUser(ctx, id)
		if errors.Is(err, store.ErrNotFound) || (err == nil && u.DirectoryID != d.ID) {
			return nil, errorf(http.StatusBadRequest, "invalidValue", "member %s is not a user of this source", id)
		}
		if err != nil {
			return nil, fmt.Errorf("reading member %s: %w", id, err)
		}
		ref, _ := ingest.MemberRefFor("member", u.DN)
		ref.ExternalID = u.ExternalID
		members = append(members, ref)
	}
	// In key order, as an agent's mapping has them: the order a source
	// lists members in changes nothing.
	slices.SortFunc(members, func(a, b store.MemberRef) int { return strings.Compare(a.Key, b.Key) })
	o := newObject(d, store.ObjectGroup, ext)
	o.Status, o.Name, o.Members, o.MembersComplete = store.StatusActive, name, members, true
	o.Hash = ingest.Hash(o)
	return o, nil
}

func (r groupResources) write(ctx context.Context, o *store.Object) (map[string]any, error) {
	d := source(ctx)
	if _, err := writeRun(ctx).Apply(ctx, &store.Batch{Upserts: []*store.Object{o}}); err != nil {
		return nil, err
	}
	gs, err := r.h.st.FindGroups(ctx, d.ID, o.Name)
	if err != nil {
		return nil, fmt.Errorf("reading back group %q: %w", o.Name, err)
	}
	for _, g := range gs {
		if g.ExternalID == o.ExternalID {
			return r.render(ctx, g)
		}
	}
	return nil, fmt.Errorf("group %q of %s is not in the store after its write", o.Name, d.Name)
}
