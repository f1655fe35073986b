package admins

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/idsync/idsync/server/auth"
	"github.com/idsync/idsync/server/refusal"
	"github.com/idsync/idsync/server/store"
)

// GrantStore is what the service reads and writes of admin grants: roles
// bound to directory groups, whose members sign in to the console.
type GrantStore interface {
	CreateAdminGrant(ctx context.Context, g *store.AdminGrant) error
	ListAdminGrants(ctx context.Context) ([]*store.AdminGrant, error)
	RevokeAdminGrant(ctx context.Context, id string, at time.Time) (*store.AdminGrant, error)
}

// NewGrant binds a role to a directory group.
type NewGrant struct {
	Role string
	// Group is the group whose members hold the role, DIRECTORY/GROUP or
	// an id.
	Group string
	// Groups and Apps scope the role as NewToken's do.
	Groups, Apps []string
}

// Grant is an admin grant with what it grants, named for people.
type Grant struct {
	*store.AdminGrant
	// Holder is the group holding the role, DIRECTORY/NAME.
	Holder string
	Grants
}

// checkScope refuses groups for a role other than group-admin, apps for
// one other than app-admin, and a group-admin without groups.
func checkScope(role string, groups, apps []string) error {
	switch {
	case role == auth.RoleGroupAdmin && len(groups) == 0:
		return refusal.Invalidf("groups: a group-admin needs the groups it acts for")
	case role != auth.RoleGroupAdmin && len(groups) > 0:
		return refusal.Invalidf("groups: only a group-admin acts for groups, not a %s", role)
	case role != auth.RoleAppAdmin && len(apps) > 0:
		return refusal.Invalidf("apps: only an app-admin is limited to apps, not a %s", role)
	}
	return nil
}

// grantApps resolves the apps an app-admin manages to their grants by id:
// an app removed and added again under the same name is another app.
func (s *Service) grantApps(ctx context.Context, names []string) ([]string, error) {
	var apps []string
	for _, name := range names {
		a, err := s.st.GetApp(ctx, strings.TrimSpace(name))
		if errors.Is(err, store.ErrNotFound) {
			return nil, refusal.NotFoundf("apps: no app named %q (see `idsyncctl app list`)", name)
		} else if err != nil {
			return nil, fmt.Errorf("loading app %q: %w", name, err)
		}
		if g := auth.AppGrant(a.ID); !slices.Contains(apps, g) {
			apps = append(apps, g)
		}
	}
	return apps, nil
}

// describe names what g grants.
func (n *namer) describe(ctx context.Context, g *store.AdminGrant) (Grant, error) {
	grants, err := n.grants(ctx, &store.AdminToken{Role: g.Role, Groups: g.Groups, Apps: g.Apps})
	if err != nil {
		return Grant{}, err
	}
	holder, err := n.label(ctx, g.GroupID)
	if err != nil {
		return Grant{}, err
	}
	return Grant{AdminGrant: g, Holder: holder, Grants: grants}, nil
}

// CreateGrant binds a role to a directory group: its members sign in to
// the console with their directory password and hold the role while they
// are members.
func (s *Service) CreateGrant(ctx context.Context, ng NewGrant, by string) (Grant, error) {
	role := ng.Role
	switch {
	case !auth.ValidRole(role):
		return Grant{}, refusal.Invalidf("role %q: must be one of %s", role, strings.Join(auth.Roles, ", "))
	case role == auth.RoleAuthn:
		return Grant{}, refusal.Invalidf("role authn: it signs users in for an app; nobody signs in to the console with it")
	case strings.TrimSpace(ng.Group) == "":
		return Grant{}, refusal.Invalidf("group: the directory group whose members hold the role, DIRECTORY/GROUP, required")
	}
	if err := checkScope(role, ng.Groups, ng.Apps); err != nil {
		return Grant{}, err
	}
	holder, err := s.grantGroup(ctx, strings.TrimSpace(ng.Group))
	if err != nil {
		return Grant{}, err
	}
	// A rule fills its group from what directories and sources say of
	// users; who is an admin is not theirs to say (server/rules refuses a
	// rule on a grant's group alike).
	if r, err := s.st.RuleOfGroup(ctx, holder.ID); err == nil {
		return Grant{}, refusal.Unmetf("group %s/%s is filled by rule %s, and a rule does not decide who is an admin: "+
			"grant the role to a group whose members admins choose", holder.Directory, holder.Name, r.Name)
	} else if !errors.Is(err, store.ErrNotFound) {
		return Grant{}, fmt.Errorf("reading the rule of group %s/%s: %w", holder.Directory, holder.Name, err)
	}
	groups, err := s.grantGroups(ctx, ng.Groups)
	if err != nil {
		return Grant{}, err
	}
	apps, err := s.grantApps(ctx, ng.Apps)
	if err != nil {
		return Grant{}, err
	}
	g := &store.AdminGrant{Role: role, GroupID: holder.ID, Groups: groups, Apps: apps, CreatedBy: by}
	if err := s.grants.CreateAdminGrant(ctx, g); errors.Is(err, store.ErrConflict) {
		return Grant{}, refusal.Existsf("group %s/%s already holds %s (see `idsyncctl admin grant list`)",
			holder.Directory, holder.Name, role)
	} else if err != nil {
		return Grant{}, fmt.Errorf("creating admin grant: %w", err)
	}
	out, err := s.namer().describe(ctx, g)
	if err != nil {
		return Grant{}, err
	}
	s.log.Info("admin grant created", "grant", g.ID, "role", role, "group", out.Holder, "by", by)
	s.audit.Event(ctx, "admin.grant.create", "group:"+out.Holder, "role %s, grant %s%s", role, g.ID, out.detail())
	return out, nil
}

// ListGrants lists the admin grants, revoked ones too.
func (s *Service) ListGrants(ctx context.Context) ([]Grant, error) {
	grants, err := s.grants.ListAdminGrants(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing admin grants: %w", err)
	}
	n := s.namer()
	out := make([]Grant, len(grants))
	for i, g := range grants {
		if out[i], err = n.describe(ctx, g); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// RevokeGrant revokes a grant: its console sessions end at once. A grant
// is not revoked through itself (self is the caller's admin id).
func (s *Service) RevokeGrant(ctx context.Context, id, self, by string) (Grant, error) {
	switch {
	case id == "":
		return Grant{}, refusal.Invalidf("id: required")
	case self == "grant:"+id:
		return Grant{}, refusal.Unmetf("an admin grant cannot be revoked through itself: sign in with another")
	}
	g, err := s.grants.RevokeAdminGrant(ctx, id, time.Now())
	if errors.Is(err, store.ErrNotFound) {
		return Grant{}, refusal.NotFoundf("no admin grant with id %q (see `idsyncctl admin grant list`)", id)
	} else if err != nil {
		return Grant{}, fmt.Errorf("revoking admin grant %q: %w", id, err)
	}
	out, err := s.namer().describe(ctx, g)
	if err != nil {
		return Grant{}, err
	}
	s.log.Info("admin grant revoked", "grant", g.ID, "by", by)
	s.audit.Event(ctx, "admin.grant.revoke", "group:"+out.Holder, "role %s, grant %s", g.Role, g.ID)
	return out, nil
}
