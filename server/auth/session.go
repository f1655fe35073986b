package auth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/idsync/idsync/internal/pki"
	"github.com/idsync/idsync/server/store"
)

// SessionScheme starts the authorization value of a call made for a
// console session: "Session SECRET". Only the console's in-process server
// takes it (see Console).
const SessionScheme = "Session "

// SessionPolicy bounds console sessions. The zero value takes the
// defaults.
type SessionPolicy struct {
	// Idle ends a session unused this long (default 30 minutes).
	Idle time.Duration
	// MaxAge ends a session this long after sign-in, used or not
	// (default 12 hours).
	MaxAge time.Duration
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// WithDefaults fills the zero fields.
func (p SessionPolicy) WithDefaults() SessionPolicy {
	if p.Idle <= 0 {
		p.Idle = 30 * time.Minute
	}
	if p.MaxAge <= 0 {
		p.MaxAge = 12 * time.Hour
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	return p
}

// Expired says why s has ended at now ("" while it has not).
func (p SessionPolicy) Expired(s *store.ConsoleSession, now time.Time) string {
	switch {
	case now.Sub(s.CreatedAt) >= p.MaxAge:
		return fmt.Sprintf("signed in more than %s ago", p.MaxAge)
	case now.Sub(s.LastSeenAt) >= p.Idle:
		return fmt.Sprintf("idle for %s", p.Idle)
	}
	return ""
}

// SessionStore is what resolving a console session reads of the store.
type SessionStore interface {
	ConsoleSessionByHash(ctx context.Context, hash []byte) (*store.ConsoleSession, error)
	TouchConsoleSession(ctx context.Context, id string, now time.Time) error
	ListAdminTokens(ctx context.Context) ([]*store.AdminToken, error)
	GrantStore
}

// GrantStore is what checking an admin grant reads of the store.
type GrantStore interface {
	GetAdminGrant(ctx context.Context, id string) (*store.AdminGrant, error)
	GetUser(ctx context.Context, id string) (*store.User, error)
	UserGroupsTransitive(ctx context.Context, userID string) ([]store.GroupMembership, error)
}

// Console returns an authenticator for the console's in-process gRPC
// server: the same checks as a, recording refusals alike, that also takes
// console sessions, which st holds and p bounds.
func (a *Authenticator) Console(st SessionStore, p SessionPolicy) *Authenticator {
	return &Authenticator{store: a.store, audit: a.audit, agentCAs: a.agentCAs, streams: a.streams,
		messages: a.messages, enrolls: a.enrolls, used: map[string]time.Time{},
		sessions: &sessionResolver{st: st, policy: p.WithDefaults()}}
}

// sessionResolver turns a console session into the admin it acts as.
type sessionResolver struct {
	st     SessionStore
	policy SessionPolicy
}

// errNoSession is every session that does not (or no longer) authenticate.
func errNoSession(why string) error {
	return status.Error(codes.Unauthenticated, "console session ended: "+why+": sign in again")
}

// session returns the admin a console session secret acts as: the admin
// token it was opened with, or the grant of the directory user it signed
// in, while the user still holds it.
func (a *Authenticator) session(ctx context.Context, secret string) (*store.AdminToken, error) {
	r := a.sessions
	s, err := r.st.ConsoleSessionByHash(ctx, pki.HashSecret(secret))
	if errors.Is(err, store.ErrNotFound) {
		return nil, errNoSession("signed out, expired or unknown")
	}
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "checking console session: %v", err)
	}
	now := r.policy.Now()
	if why := r.policy.Expired(s, now); why != "" {
		return nil, errNoSession(why)
	}
	var t *store.AdminToken
	switch {
	case s.TokenID != "":
		if t, err = r.token(ctx, s.TokenID); err != nil {
			return nil, err
		}
	case s.GrantID != "":
		g, err := r.st.GetAdminGrant(ctx, s.GrantID)
		if errors.Is(err, store.ErrNotFound) {
			return nil, errNoSession("its admin grant is gone")
		}
		if err != nil {
			return nil, status.Errorf(codes.Unavailable, "checking admin grant: %v", err)
		}
		if why, err := GrantHeld(ctx, r.st, g, s.UserID); err != nil {
			return nil, status.Errorf(codes.Unavailable, "checking admin grant: %v", err)
		} else if why != "" {
			return nil, errNoSession(why)
		}
		t = GrantToken(g, s.Name)
	default:
		return nil, errNoSession("it names no admin")
	}
	if a.due("session:"+s.ID, now, 10*time.Second) {
		_ = r.st.TouchConsoleSession(ctx, s.ID, now) // a failed touch ends the session early at worst
	}
	return t, nil
}

// token returns the live admin token with this id.
func (r *sessionResolver) token(ctx context.Context, id string) (*store.AdminToken, error) {
	tokens, err := r.st.ListAdminTokens(ctx)
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "checking admin token: %v", err)
	}
	i := slices.IndexFunc(tokens, func(t *store.AdminToken) bool { return t.ID == id })
	switch {
	case i < 0:
		return nil, errNoSession("its admin token is gone")
	case !tokens[i].RevokedAt.IsZero():
		return nil, errNoSession(fmt.Sprintf("admin token %q was revoked", tokens[i].Name))
	}
	return tokens[i], nil
}

// GrantHeld says why the user with userID does not hold grant g now ("":
// it does): the grant is revoked, the user is gone or not active (a hold,
// a suspension, deprovisioning), or no longer in the grant's group,
// directly or through nesting.
func GrantHeld(ctx context.Context, st GrantStore, g *store.AdminGrant, userID string) (string, error) {
	if !g.RevokedAt.IsZero() {
		return "its admin grant was revoked", nil
	}
	u, err := st.GetUser(ctx, userID)
	if errors.Is(err, store.ErrNotFound) {
		return "the user is gone", nil
	}
	if err != nil {
		return "", err
	}
	if u.Status != store.StatusActive {
		return fmt.Sprintf("user %s/%s is %s", u.Directory, u.Username, u.Status), nil
	}
	groups, err := st.UserGroupsTransitive(ctx, userID)
	if err != nil {
		return "", err
	}
	if !slices.ContainsFunc(groups, func(m store.GroupMembership) bool { return m.Group.ID == g.GroupID }) {
		return fmt.Sprintf("user %s/%s is no longer in the admin grant's group", u.Directory, u.Username), nil
	}
	return "", nil
}

// GrantToken is the admin a directory user named name acts as through
// grant g: the grant's role and scope, named for the audit trail.
func GrantToken(g *store.AdminGrant, name string) *store.AdminToken {
	return &store.AdminToken{ID: "grant:" + g.ID, Name: name, Role: g.Role, Groups: g.Groups, Apps: g.Apps,
		CreatedAt: g.CreatedAt}
}

// due reports whether key's periodic write is due at now (every period),
// and if so records it.
func (a *Authenticator) due(key string, now time.Time, period time.Duration) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if now.Sub(a.used[key]) < period {
		return false
	}
	a.used[key] = now
	return true
}

// ConsoleAdmin returns the admin a console session secret acts as, with
// the checks of every call; Unauthenticated when it acts as none. Only an
// authenticator from Console resolves sessions.
func (a *Authenticator) ConsoleAdmin(ctx context.Context, secret string) (*store.AdminToken, error) {
	if a.sessions == nil {
		return nil, status.Error(codes.Unauthenticated, "console sessions are not served here")
	}
	return a.session(ctx, secret)
}
