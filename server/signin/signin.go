package signin

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/idsync/idsync/internal/pki"
	"github.com/idsync/idsync/server/auth"
	"github.com/idsync/idsync/server/authn"
	"github.com/idsync/idsync/server/store"
)

// Store is what sign-ins read and write of the hub's store.
type Store interface {
	auth.SessionStore
	AdminTokenByHash(ctx context.Context, hash []byte) (*store.AdminToken, error)
	ListAdminGrants(ctx context.Context) ([]*store.AdminGrant, error)
	CreateConsoleSession(ctx context.Context, s *store.ConsoleSession) error
	EndConsoleSession(ctx context.Context, id string) (*store.ConsoleSession, error)
	StaleConsoleSessions(ctx context.Context, idleBefore, createdBefore time.Time, limit int) ([]*store.ConsoleSession, error)
}

// Authenticator checks a directory password (server/authn.Service).
type Authenticator interface {
	Authenticate(ctx context.Context, directory, username, password, addr string) (*store.User, error)
}

// Trail records audit events (server/audit.Log).
type Trail interface {
	Record(ctx context.Context, e store.AuditEvent)
	RecordRefused(ctx context.Context, e store.AuditEvent)
	RecordUnauthenticated(ctx context.Context, addr string, e store.AuditEvent)
}

// Config is what a Service is built with.
type Config struct {
	Store Store
	// Authn checks directory passwords; nil: directory sign-in is off.
	Authn  Authenticator
	Audit  Trail
	Log    *slog.Logger
	Policy auth.SessionPolicy
	// Sweep is how often stale sessions are ended (default a quarter of
	// the idle timeout, at most a minute).
	Sweep time.Duration
}

// Service opens and ends console sessions.
type Service struct {
	st     Store
	authn  Authenticator
	audit  Trail
	log    *slog.Logger
	policy auth.SessionPolicy
	sweep  time.Duration
	// resolve tells who a session acts as, with the checks every call
	// makes (server/auth).
	resolve *auth.Authenticator
}

// New returns the sign-in service; resolve is the console's
// authenticator (auth.Authenticator.Console).
func New(c Config, resolve *auth.Authenticator) *Service {
	p := c.Policy.WithDefaults()
	sweep := c.Sweep
	if sweep <= 0 {
		sweep = min(p.Idle/4, time.Minute)
	}
	return &Service{st: c.Store, authn: c.Authn, audit: c.Audit, log: cmp.Or(c.Log, slog.Default()), policy: p,
		sweep: sweep, resolve: resolve}
}

// ErrRefused is every refused sign-in, whatever the reason (the audit
// trail says which).
var ErrRefused = errors.New("sign-in refused")

// ErrTooMany: the sign-in limits of the person or the address are spent.
var ErrTooMany = authn.ErrTooManyAttempts

// Session is an open console session: Secret goes into the browser's
// cookie, the store keeps its hash.
type Session struct {
	Secret string
	Name   string
	Role   string
}

// secretPrefix marks console session secrets.
const secretPrefix = "idsync_cs_"

// WithToken signs in with an admin token from address addr.
func (s *Service) WithToken(ctx context.Context, token, addr string) (*Session, error) {
	token = strings.TrimSpace(token)
	t, err := s.st.AdminTokenByHash(ctx, pki.HashSecret(token))
	switch {
	case errors.Is(err, store.ErrNotFound) || token == "":
		s.refuse(ctx, "", addr, "an admin token not recognised")
		return nil, ErrRefused
	case err != nil:
		return nil, fmt.Errorf("checking the admin token: %w", err)
	case !t.RevokedAt.IsZero():
		s.refuse(ctx, "admin:"+t.Name, addr, "admin token "+t.Name+" is revoked")
		return nil, ErrRefused
	case t.Role == auth.RoleAuthn:
		s.refuse(ctx, "admin:"+t.Name, addr, "an authn token signs users in for an app, not admins in to the console")
		return nil, ErrRefused
	}
	return s.open(ctx, &store.ConsoleSession{TokenID: t.ID, Name: t.Name, Addr: addr}, t.Role,
		fmt.Sprintf("with admin token %s (%s) from %s", t.ID, t.Role, addr))
}

// rolePrecedence orders the roles a user may hold through several grants:
// a session takes the first.
var rolePrecedence = []string{auth.RoleSuperAdmin, auth.RoleAppAdmin, auth.RoleGroupAdmin, auth.RoleReadOnly}

// WithDirectory signs a directory user in with its password, through the
// grant of the strongest role the user holds. A wrong password and a user
// in no admin group are refused alike.
func (s *Service) WithDirectory(ctx context.Context, directory, username, password, addr string) (*Session, error) {
	if s.authn == nil {
		s.refuse(ctx, "", addr, "directory sign-in is off")
		return nil, ErrRefused
	}
	u, err := s.authn.Authenticate(ctx, directory, username, password, addr)
	switch {
	case errors.Is(err, authn.ErrTooManyAttempts):
		return nil, ErrTooMany
	case err != nil:
		// authn recorded why; a missing agent, an unknown directory and
		// a wrong password look the same here.
		s.log.Info("console sign-in refused", "directory", directory, "err", err)
		return nil, ErrRefused
	}
	name := u.Directory + "/" + u.Username
	grants, err := s.st.ListAdminGrants(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing admin grants: %w", err)
	}
	var held *store.AdminGrant
	for _, g := range grants {
		if !g.RevokedAt.IsZero() {
			continue
		}
		why, err := auth.GrantHeld(ctx, s.st, g, u.ID)
		if err != nil {
			return nil, fmt.Errorf("checking admin grant %s: %w", g.ID, err)
		}
		if why == "" && (held == nil || slices.Index(rolePrecedence, g.Role) < slices.Index(rolePrecedence, held.Role)) {
			held = g
		}
	}
	if held == nil {
		s.refuse(ctx, "user:"+name, addr, "user "+name+" is in no admin grant's group")
		return nil, ErrRefused
	}
	return s.open(ctx, &store.ConsoleSession{GrantID: held.ID, UserID: u.ID, Name: name, Addr: addr}, held.Role,
		fmt.Sprintf("as directory user %s through admin grant %s (%s) from %s", name, held.ID, held.Role, addr))
}

// open stores a new session and records the sign-in.
func (s *Service) open(ctx context.Context, c *store.ConsoleSession, role, detail string) (*Session, error) {
	secret, hash := pki.NewSecret(secretPrefix)
	c.Hash = hash
	now := s.policy.Now().UTC()
	c.CreatedAt, c.LastSeenAt = now, now
	if err := s.st.CreateConsoleSession(ctx, c); err != nil {
		return nil, fmt.Errorf("opening the console session: %w", err)
	}
	s.audit.Record(ctx, store.AuditEvent{Actor: "admin:" + c.Name, Action: "console.signin", Target: "session:" + c.ID,
		Outcome: store.AuditOK, Detail: detail})
	return &Session{Secret: secret, Name: c.Name, Role: role}, nil
}

// refuse records a refused sign-in: by who it claimed to be, else by the
// address.
func (s *Service) refuse(ctx context.Context, actor, addr, why string) {
	e := store.AuditEvent{Actor: actor, Action: "console.signin", Target: "console", Outcome: store.AuditRefused,
		Detail: why + " (from " + addr + ")"}
	if actor == "" {
		e.Actor = "unauthenticated@" + addr
		host := addr
		if h, _, err := net.SplitHostPort(addr); err == nil {
			host = h
		}
		s.audit.RecordUnauthenticated(ctx, host, e)
		return
	}
	s.audit.RecordRefused(ctx, e)
}

// Who names the admin a session secret acts as now and its role, with the checks of
// every call (idle, age, a revoked token or grant, a user no longer in the
// grant's group).
func (s *Service) Who(ctx context.Context, secret string) (name, role string, err error) {
	t, err := s.resolve.ConsoleAdmin(ctx, secret)
	if err != nil {
		return "", "", err
	}
	return t.Name, t.Role, nil
}

// SignOut ends a session; one already ended is not an error.
func (s *Service) SignOut(ctx context.Context, secret string) error {
	c, err := s.st.ConsoleSessionByHash(ctx, pki.HashSecret(secret))
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("finding the console session: %w", err)
	}
	if _, err := s.st.EndConsoleSession(ctx, c.ID); errors.Is(err, store.ErrNotFound) {
		return nil
	} else if err != nil {
		return fmt.Errorf("ending the console session: %w", err)
	}
	s.audit.Record(ctx, store.AuditEvent{Actor: "admin:" + c.Name, Action: "console.signout", Target: "session:" + c.ID,
		Outcome: store.AuditOK, Detail: "signed out"})
	return nil
}

// Run ends the idle and old sessions until ctx is cancelled.
func (s *Service) Run(ctx context.Context) error {
	t := time.NewTicker(s.sweep)
	defer t.Stop()
	for {
		if err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("ending stale console sessions", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Sweep ends the sessions idle or older than the policy allows, each with
// a console.session.expired event (one replica ends each).
func (s *Service) Sweep(ctx context.Context) error {
	for {
		now := s.policy.Now()
		stale, err := s.st.StaleConsoleSessions(ctx, now.Add(-s.policy.Idle), now.Add(-s.policy.MaxAge), 100)
		if err != nil || len(stale) == 0 {
			return err
		}
		for _, c := range stale {
			if _, err := s.st.EndConsoleSession(ctx, c.ID); errors.Is(err, store.ErrNotFound) {
				continue // another replica ended it
			} else if err != nil {
				return err
			}
			s.audit.Record(ctx, store.AuditEvent{Actor: "hub", Action: "console.session.expired", Target: "session:" + c.ID,
				Outcome: store.AuditOK, Detail: "admin:" + c.Name + ": " + s.policy.Expired(c, now)})
		}
	}
}
