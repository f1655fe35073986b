package admins

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/idsync/idsync/internal/pki"
	"github.com/idsync/idsync/server/auth"
	"github.com/idsync/idsync/server/refusal"
	"github.com/idsync/idsync/server/store"
)

// Store is what the service reads and writes of the hub's store.
type Store interface {
	CreateAdminToken(ctx context.Context, t *store.AdminToken) error
	ListAdminTokens(ctx context.Context) ([]*store.AdminToken, error)
	RevokeAdminToken(ctx context.Context, idOrName string, at time.Time) (*store.AdminToken, error)
	GetApp(ctx context.Context, name string) (*store.App, error)
	GetAppByID(ctx context.Context, id int64) (*store.App, error)
	GetDirectory(ctx context.Context, name string) (*store.Directory, error)
	GetGroup(ctx context.Context, id string) (*store.Group, error)
	FindGroups(ctx context.Context, directoryID int64, name string) ([]*store.Group, error)
	// A rule's group holds no admin grant.
	RuleOfGroup(ctx context.Context, groupID string) (*store.Rule, error)
}

// Auditor writes audit events (server/audit.Log).
type Auditor interface {
	Event(ctx context.Context, action, target, detail string, args ...any)
}

// Config is what the service is built from.
type Config struct {
	Store Store
	// Grants keeps admin grants; nil: Store, when it does.
	Grants GrantStore
	Audit  Auditor
	Log    *slog.Logger
}

// Service manages admin tokens.
type Service struct {
	st     Store
	grants GrantStore
	audit  Auditor
	log    *slog.Logger
}

// New returns the service.
func New(c Config) *Service {
	if c.Audit == nil {
		c.Audit = noAuditor{}
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Grants == nil {
		c.Grants, _ = c.Store.(GrantStore)
	}
	return &Service{st: c.Store, grants: c.Grants, audit: c.Audit, log: c.Log}
}

type noAuditor struct{}

func (noAuditor) Event(context.Context, string, string, string, ...any) {}

// NewToken is a token to issue.
type NewToken struct {
	Name, Role string
	// Groups are the groups a group-admin acts for, each DIRECTORY/GROUP
	// or a group id.
	Groups []string
	// Apps are the names of the apps an app-admin is limited to (none:
	// every app).
	Apps []string
}

// Create issues an admin token. Its secret is returned alone; the store
// keeps its hash.
func (s *Service) Create(ctx context.Context, nt NewToken, by string) (secret string, t *store.AdminToken, g Grants, err error) {
	name, role := strings.TrimSpace(nt.Name), nt.Role
	switch {
	case name == "":
		return "", nil, g, refusal.Invalidf("name: required")
	case name == "bootstrap":
		return "", nil, g, refusal.Invalidf("name: \"bootstrap\" is the hub's own token")
	case !auth.ValidRole(role):
		return "", nil, g, refusal.Invalidf("role %q: must be one of %s", role, strings.Join(auth.Roles, ", "))
	}
	if err := checkScope(role, nt.Groups, nt.Apps); err != nil {
		return "", nil, g, err
	}
	groups, err := s.grantGroups(ctx, nt.Groups)
	if err != nil {
		return "", nil, g, err
	}
	// Apps are granted by id: an app removed and added again under the
	// same name is another app, which the token does not manage.
	apps, err := s.grantApps(ctx, nt.Apps)
	if err != nil {
		return "", nil, g, err
	}
	secret, hash := pki.NewSecret(pki.AdminTokenPrefix)
	t = &store.AdminToken{Name: name, Role: role, Hash: hash, Groups: groups, Apps: apps}
	if err := s.st.CreateAdminToken(ctx, t); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return "", nil, g, refusal.Existsf("a live admin token is named %q: revoke it first or pick another name", name)
		}
		return "", nil, g, fmt.Errorf("creating admin token %q: %w", name, err)
	}
	if g, err = s.namer().grants(ctx, t); err != nil {
		return "", nil, g, err
	}
	s.log.Info("admin token created", "token", t.ID, "name", name, "role", role, "by", by)
	s.audit.Event(ctx, "admin.token.create", "admin:"+name, "role %s, token %s%s", role, t.ID, g.detail())
	return secret, t, g, nil
}

// List lists admin tokens, with what each grants; never their secrets.
func (s *Service) List(ctx context.Context) ([]*store.AdminToken, []Grants, error) {
	tokens, err := s.st.ListAdminTokens(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("listing admin tokens: %w", err)
	}
	n := s.namer()
	grants := make([]Grants, len(tokens))
	for i, t := range tokens {
		if grants[i], err = n.grants(ctx, t); err != nil {
			return nil, nil, err
		}
	}
	return tokens, grants, nil
}

// Revoke revokes the token with id or live name ref at once: its next
// call is refused.
func (s *Service) Revoke(ctx context.Context, ref, by string) (*store.AdminToken, Grants, error) {
	t, err := s.st.RevokeAdminToken(ctx, ref, time.Now())
	if errors.Is(err, store.ErrNotFound) {
		return nil, Grants{}, refusal.NotFoundf("no admin token with id or live name %q (see `idsyncctl admin token list`)", ref)
	}
	if err != nil {
		return nil, Grants{}, fmt.Errorf("revoking admin token %q: %w", ref, err)
	}
	s.log.Info("admin token revoked", "token", t.ID, "name", t.Name, "by", by)
	s.audit.Event(ctx, "admin.token.revoke", "admin:"+t.Name, "token %s", t.ID)
	g, err := s.namer().grants(ctx, t)
	return t, g, err
}

// grantGroups resolves the groups a group-admin token is to act for, each
// DIRECTORY/GROUP or a group id, to one group id each.
func (s *Service) grantGroups(ctx context.Context, refs []string) ([]string, error) {
	var ids []string
	for _, ref := range refs {
		g, err := s.grantGroup(ctx, strings.TrimSpace(ref))
		if err != nil {
			return nil, err
		}
		if !slices.Contains(ids, g.ID) {
			ids = append(ids, g.ID)
		}
	}
	return ids, nil
}

// grantGroup finds the one group ref names: by id, or as DIRECTORY/GROUP
// with the group's name in any case (exactly as written when several
// differ only in case). Unknown and ambiguous refs are refused, named.
func (s *Service) grantGroup(ctx context.Context, ref string) (*store.Group, error) {
	if auth.IsObjectID(ref) {
		g, err := s.st.GetGroup(ctx, ref)
		if errors.Is(err, store.ErrNotFound) {
			return nil, refusal.NotFoundf("groups: no group with id %q (see `idsyncctl group list`)", ref)
		}
		if err != nil {
			return nil, fmt.Errorf("loading group %q: %w", ref, err)
		}
		return g, nil
	}
	dir, name, ok := strings.Cut(ref, "/")
	if !ok || dir == "" || name == "" {
		return nil, refusal.Invalidf(
			"groups: %q: name a group as DIRECTORY/GROUP (a name alone may be in several directories), or give its id", ref)
	}
	d, err := s.st.GetDirectory(ctx, dir)
	if errors.Is(err, store.ErrNotFound) {
		return nil, refusal.NotFoundf("groups: %q: directory %q does not exist (see `idsyncctl directory list`)", ref, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("loading directory %q: %w", dir, err)
	}
	groups, err := s.st.FindGroups(ctx, d.ID, name)
	if err != nil {
		return nil, fmt.Errorf("finding group %q: %w", ref, err)
	}
	if exact := slices.DeleteFunc(slices.Clone(groups), func(g *store.Group) bool { return g.Name != name }); len(exact) > 0 {
		groups = exact
	}
	switch len(groups) {
	case 0:
		return nil, refusal.NotFoundf("groups: %q: directory %s has no group named %q (see `idsyncctl group list --directory %s`)",
			ref, d.Name, name, d.Name)
	case 1:
		return groups[0], nil
	}
	var which []string
	for _, g := range groups {
		which = append(which, fmt.Sprintf("%s (id %s)", g.DN, g.ID))
	}
	return nil, refusal.Invalidf("groups: %q names %d groups of directory %s: %s; give the id of one",
		ref, len(groups), d.Name, strings.Join(which, ", "))
}
