package admins

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/idsync/idsync/server/auth"
	"github.com/idsync/idsync/server/store"
)

// Grants are what a token grants, named for people.
type Grants struct {
	// Apps are the names of the apps an app-admin is limited to ("app N
	// (removed)" for one the hub no longer has).
	Apps []string
	// Groups are the groups a group-admin acts for, as DIRECTORY/NAME;
	// GroupIDs their ids, in the same order. A grant by name, from
	// before grants were by id, is in Groups alone, saying it grants
	// nothing.
	Groups, GroupIDs []string
}

// detail describes the groups (DIRECTORY/NAME and id) or apps of g for the
// audit trail.
func (g Grants) detail() string {
	switch {
	case len(g.GroupIDs) > 0:
		var groups []string
		for i, id := range g.GroupIDs {
			groups = append(groups, g.Groups[i]+" ("+id+")")
		}
		return ", groups " + strings.Join(groups, ",")
	case len(g.Apps) > 0:
		return ", apps " + strings.Join(g.Apps, ",")
	}
	return ""
}

// namer names what tokens grant, each group once per namer; a group the
// hub no longer holds is its id.
type namer struct {
	st     Store
	labels map[string]string
}

// namer returns a namer for one call.
func (s *Service) namer() *namer { return &namer{st: s.st, labels: map[string]string{}} }

// grants names what t grants.
func (n *namer) grants(ctx context.Context, t *store.AdminToken) (Grants, error) {
	var g Grants
	for _, name := range auth.AppNames(t) {
		g.Apps = append(g.Apps, name+" (a name: grants nothing; replace the token)")
	}
	for _, id := range auth.AppGrantIDs(t) {
		a, err := n.st.GetAppByID(ctx, id)
		switch {
		case errors.Is(err, store.ErrNotFound):
			g.Apps = append(g.Apps, fmt.Sprintf("app %d (removed)", id))
		case err != nil:
			return Grants{}, fmt.Errorf("loading app %d: %w", id, err)
		default:
			g.Apps = append(g.Apps, a.Name)
		}
	}
	for _, id := range t.Groups {
		if !auth.IsObjectID(id) {
			// A grant by name, from before grants were by id: the token is
			// refused until it is replaced.
			g.Groups = append(g.Groups, id+" (a name: grants nothing; replace the token)")
			continue
		}
		label, err := n.label(ctx, id)
		if err != nil {
			return Grants{}, err
		}
		g.Groups, g.GroupIDs = append(g.Groups, label), append(g.GroupIDs, id)
	}
	return g, nil
}

func (n *namer) label(ctx context.Context, id string) (string, error) {
	if l, ok := n.labels[id]; ok {
		return l, nil
	}
	g, err := n.st.GetGroup(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		n.labels[id] = id + " (no such group)"
	case err != nil:
		return "", fmt.Errorf("loading group %s: %w", id, err)
	default:
		n.labels[id] = g.Directory + "/" + g.Name
	}
	return n.labels[id], nil
}
