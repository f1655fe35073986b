package authn

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/idsync/idsync/internal/loginname"
	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
	"github.com/idsync/idsync/server/auth"
	"github.com/idsync/idsync/server/ingest"
	"github.com/idsync/idsync/server/store"
)

// Options tune delegated authentication. The zero value takes the
// defaults.
type Options struct {
	// UserPerMinute is how many sign-ins one person of one directory may
	// try a minute (default 5, the burst too), so that a password cannot
	// be guessed through the hub. A person is a username as the directory
	// compares it (loginname.Fold), and the entry a username found: every
	// name of the entry charges its budget. Set it below the directory's
	// own lockout threshold per minute, or guesses through the hub lock the
	// account out.
	UserPerMinute float64
	// AddrPerMinute is how many sign-ins one client address may try a
	// minute (default 60, the burst too).
	AddrPerMinute float64
	// Now is the clock the limits refill by (nil: time.Now); tests set it.
	Now func() time.Time
	// Timeout bounds the agent's answer (default 10 s).
	Timeout time.Duration
}

func (o Options) withDefaults() Options {
	if o.UserPerMinute <= 0 {
		o.UserPerMinute = 5
	}
	if o.AddrPerMinute <= 0 {
		o.AddrPerMinute = 60
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	return o
}

// Service signs users in with their directory password through an online
// agent of the directory (delegated authentication) and, on success,
// creates or refreshes the user from the entry the agent read (just in
// time), which runs the user's assignments at once. It serves POST
// /v1/authn and AdminService.Authenticate.
//
// The password is held in memory for the call only: it travels to the
// agent over the stream and is never logged, stored or audited. Every
// refusal — a wrong password, an unknown user, a disabled, locked or
// expired account — gets the same answer (ErrAuthFailed); the audit trail
// says which it was.
type Service struct {
	store  Store
	engine Ingest
	agents Agents
	audit  Trail
	log    *slog.Logger
	opts   Options
	// users are the buckets of spellings (a directory and a folded
	// username) and of entries (a directory and an external id); entryOf
	// remembers which entry a spelling found.
	users   *auth.Limiters
	addrs   *auth.Limiters
	entryOf *resolved
}

// Config is what a Service is built with.
type Config struct {
	Store Store
	// Ingest applies the entry of a sign-in (just in time).
	Ingest Ingest
	// Agents reach an online agent of the directory.
	Agents Agents
	Audit  Trail
	Log    *slog.Logger
	Options
}

// Store is what sign-ins read of the hub's store.
type Store interface {
	GetDirectory(ctx context.Context, name string) (*store.Directory, error)
	GetUser(ctx context.Context, id string) (*store.User, error)
	FindUsers(ctx context.Context, directoryID int64, name string) ([]*store.User, error)
	EntryWrites(ctx context.Context, directoryID int64, externalID string) ([]*store.DirectoryWrite, error)
	GetAccount(ctx context.Context, appID int64, userID string) (*store.Account, error)
	AppsOfUser(ctx context.Context, userID string) ([]int64, error)
}

// Ingest applies the entry an agent read as a capture would (server/ingest).
type Ingest interface {
	ApplyEntry(ctx context.Context, d *store.Directory, trigger string, c *idsyncv1.Change) (*store.Object, string, error)
}

// Agents sends a command to an agent of a directory (server/sessions).
type Agents interface {
	Call(ctx context.Context, directory, capability string, cmd *idsyncv1.Command) (*idsyncv1.CommandResult, error)
}

// Trail records audit events, refusals bounded (server/audit).
type Trail interface {
	Record(ctx context.Context, e store.AuditEvent)
	RecordRefused(ctx context.Context, e store.AuditEvent)
}

// New returns the delegated-authentication service.
func New(c Config) *Service {
	opts := c.Options.withDefaults()
	s := &Service{store: c.Store, engine: c.Ingest, agents: c.Agents, audit: c.Audit, log: c.Log, opts: opts,
		users:   auth.NewLimiters(rate.Limit(opts.UserPerMinute/60), max(1, int(opts.UserPerMinute))),
		addrs:   auth.NewLimiters(rate.Limit(opts.AddrPerMinute/60), max(1, int(opts.AddrPerMinute))),
		entryOf: newResolved()}
	s.users.Now, s.addrs.Now = opts.Now, opts.Now
	return s
}

// The answers of a sign-in other than success.
var (
	// ErrAuthFailed is every refused sign-in, whatever the reason.
	ErrAuthFailed = errors.New("authentication failed")
	// ErrTooManyAttempts: the user's or the address's limit is spent.
	ErrTooManyAttempts = errors.New("too many sign-in attempts: wait a minute")
)

// Authenticate signs a user in. addr is the client's address, for the
// limit and the audit trail. The errors are ErrAuthFailed,
// ErrTooManyAttempts, sessions.ErrNoAgent (no agent of the directory online), a
// *DirectoryError for an unknown directory, or another error when the
// directory could not be asked.
func (a *Service) Authenticate(ctx context.Context, directory, username, password, addr string) (*store.User, error) {
	host := addr
	if h, _, err := net.SplitHostPort(addr); err == nil {
		host = h
	}
	at := attempt{started: time.Now(), target: "user:" + username + "@" + directory, from: "from " + host}
	if len(username) > maxUsername {
		a.record(ctx, "authn.failed", strings.ToValidUTF8(at.target[:64], "")+"…", store.AuditRefused, "%s: a username of %d bytes", at.from, len(username))
		return nil, ErrBadUsername
	}
	// A person has one budget however the name is typed: the spelling
	// as the directory compares it, and the entry it found before.
	spelling := "name\x00" + strings.ToLower(directory) + "\x00" + loginname.Fold(username)
	if !a.addrs.Allow(host) || !a.users.Allow(spelling) {
		return nil, a.limited(ctx, at, "")
	}
	d, err := a.store.GetDirectory(ctx, directory)
	if errors.Is(err, store.ErrNotFound) {
		a.record(ctx, "authn.failed", at.target, store.AuditRefused, "%s: no directory %q", at.from, directory)
		return nil, &DirectoryError{Name: directory}
	}
	if err != nil {
		return nil, fmt.Errorf("loading directory %s: %w", directory, err)
	}
	if d.Kind != store.KindAD && d.Kind != store.KindOpenLDAP {
		return nil, a.refuse(ctx, at, "directory %s is of kind %s, which has no passwords", d.Name, d.Kind)
	}
	charged := a.entryOf.get(spelling)
	if charged != "" && !a.users.Allow(entryKey(d, charged)) {
		return nil, a.limited(ctx, at, charged)
	}
	entry, id, refusal, err := a.ask(ctx, at, d, username, password)
	if err != nil {
		return nil, err
	}
	if id != "" && id != charged {
		// The first attempt of this spelling, or the name now finds
		// another entry: the entry's budget decides the answer, so that
		// another name of the same person (jdoe@corp.example after jdoe)
		// gives no more attempts. Refused, it looks no different whether
		// the password was right or not.
		a.entryOf.put(spelling, id)
		if !a.users.Allow(entryKey(d, id)) {
			a.wait(ctx, at)
			return nil, a.limited(ctx, at, id)
		}
	}
	if refusal != "" {
		return nil, a.refuse(ctx, at, "%s", refusal)
	}
	u, err := a.justInTime(ctx, at, d, entry)
	if err != nil {
		return nil, err
	}
	a.record(ctx, "authn.succeeded", "user:"+u.ID, store.AuditOK, "%s signed in to %s %s", u.Profile.Username, d.Name, at.from)
	return u, nil
}

// maxUsername bounds what a sign-in may give as a username.
const maxUsername = 256

// ErrBadUsername: the username is longer than any directory's.
var ErrBadUsername = fmt.Errorf("username: at most %d bytes", maxUsername)

// attempt is one sign-in, for its audit events and its refusal.
type attempt struct {
	started      time.Time
	target, from string
}

// refusalFloor is the least time a refused sign-in takes, so that the
// kinds of refusal (no such user, wrong password, a disabled account)
// cannot be told apart by how long they take.
const refusalFloor = 500 * time.Millisecond

// refuse records why a sign-in was refused and answers ErrAuthFailed, no
// sooner than refusalFloor (plus a little jitter) after it began.
func (a *Service) refuse(ctx context.Context, at attempt, why string, args ...any) error {
	a.record(ctx, "authn.failed", at.target, store.AuditRefused, "%s: %s", at.from, fmt.Sprintf(why, args...))
	a.wait(ctx, at)
	return ErrAuthFailed
}

// wait returns refusalFloor (plus a little jitter) after the attempt
// began, or when ctx ends.
func (a *Service) wait(ctx context.Context, at attempt) {
	wait := time.Until(at.started.Add(refusalFloor + rand.N(100*time.Millisecond)))
	t := time.NewTimer(max(wait, 0))
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// limited records a sign-in refused by a limit — the address's, the
// spelling's, or that of the entry with external id entry — and answers
// ErrTooManyAttempts.
func (a *Service) limited(ctx context.Context, at attempt, entry string) error {
	detail := "too many attempts"
	if entry != "" {
		detail += " for entry " + entry
	}
	a.record(ctx, "authn.limited", at.target, store.AuditRefused, "%s: %s", at.from, detail)
	return ErrTooManyAttempts
}

// entryKey is the bucket of the entry with external id id in d, which
// every spelling that finds it charges.
func entryKey(d *store.Directory, id string) string {
	return fmt.Sprintf("entry\x00%d\x00%s", d.ID, id)
}

// ask has an agent of d check the password. It returns the entry the agent
// read when the password was accepted; the external id of the one entry
// the username found, accepted or not (empty when none, or from an agent
// too old to say); and why the directory refused the sign-in, for the
// audit trail, when it did.
func (a *Service) ask(ctx context.Context, at attempt, d *store.Directory, username, password string) (entry *idsyncv1.Change, id, refusal string, err error) {
	cctx, cancel := context.WithTimeout(ctx, a.opts.Timeout)
	defer cancel()
	res, err := a.agents.Call(cctx, d.Name, idsyncv1.CapabilityAuthenticate, &idsyncv1.Command{
		Cmd: &idsyncv1.Command_Authenticate{Authenticate: &idsyncv1.Authenticate{
			Source: ingest.Source(d, nil), Username: username, Password: password}}})
	if err != nil {
		a.record(ctx, "authn.error", at.target, store.AuditFailed, "%s: %v", at.from, err)
		return nil, "", "", err
	}
	if res.GetError() != "" {
		// The detail (it may name the entry found) stays in the trail.
		a.record(ctx, "authn.error", at.target, store.AuditFailed, "%s: the agent could not check: %s", at.from, res.GetError())
		return nil, "", "", ErrNotChecked
	}
	id = cmp.Or(res.GetEntryId(), res.GetEntry().GetExternalId())
	if res.GetAuthFailure() != "" || res.GetEntry() == nil {
		return nil, id, cmp.Or(res.GetAuthFailure(), "no entry"), nil
	}
	return res.GetEntry(), id, "", nil
}

// ErrNotChecked: the agent answered but could not reach or ask the
// directory.
var ErrNotChecked = errors.New("the directory could not check the sign-in")

// justInTime makes the entry the agent read the hub's user, as a capture
// would have made it (provisioning follows from the feed), and returns
// that user — or the hub user the hub wrote the entry for.
func (a *Service) justInTime(ctx context.Context, at attempt, d *store.Directory, entry *idsyncv1.Change) (*store.User, error) {
	// The write outlives a caller who gives up, within bounds: it waits
	// for any other write of the directory.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	o, writtenFor, err := a.engine.ApplyEntry(wctx, d, "sign-in", entry)
	if err != nil {
		a.record(ctx, "authn.error", at.target, store.AuditFailed, "%s: password accepted, user not stored: %v", at.from, err)
		return nil, err
	}
	if o.Status != store.StatusActive {
		// The directory took the password but the hub's mapping says the
		// account is suspended (e.g. pwdAccountLockedTime on OpenLDAP).
		return nil, a.refuse(ctx, at, "the account is %s", o.Status)
	}
	var u *store.User
	if writtenFor != "" {
		// The hub wrote this entry for one of its users (say, a hire from
		// HR): the sign-in is that user's — while an app that wrote it
		// still holds it for that user.
		userID, why, lerr := a.writtenUser(ctx, d, o.ExternalID)
		if lerr != nil {
			return nil, lerr
		}
		if userID == "" {
			return nil, a.refuse(ctx, at, "%s", why)
		}
		u, err = a.store.GetUser(ctx, userID)
	} else {
		u, err = a.userOf(ctx, d, o)
	}
	if err != nil {
		return nil, err
	}
	if u.Status != store.StatusActive {
		return nil, a.refuse(ctx, at, "the user is %s in the hub", u.Status)
	}
	return u, nil
}

// writtenUser returns the hub user an entry the hub wrote signs in as: the
// user an app wrote it for, while that app still has the user in scope and
// holds the entry as the user's active account (a live assignment). Else
// "" and why not: a record of an assignment that is gone signs nobody in.
func (a *Service) writtenUser(ctx context.Context, d *store.Directory, externalID string) (string, string, error) {
	recs, err := a.store.EntryWrites(ctx, d.ID, externalID)
	if err != nil {
		return "", "", fmt.Errorf("reading who the hub wrote entry %s for: %w", externalID, err)
	}
	if len(recs) == 0 {
		return "", "the entry is one the hub is creating, not yet recorded as any user's", nil
	}
	for _, rec := range recs {
		acct, err := a.store.GetAccount(ctx, rec.AppID, rec.UserID)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return "", "", fmt.Errorf("reading the account of user %s in app %d: %w", rec.UserID, rec.AppID, err)
		}
		if acct.State != store.AccountActive || acct.RemoteID != externalID {
			continue
		}
		apps, err := a.store.AppsOfUser(ctx, rec.UserID)
		if err != nil {
			return "", "", fmt.Errorf("reading the apps of user %s: %w", rec.UserID, err)
		}
		if slices.Contains(apps, rec.AppID) {
			return rec.UserID, "", nil
		}
	}
	return "", fmt.Sprintf("the hub wrote the entry for user %s, but no app holds it for that user now (the assignment is gone)", recs[0].UserID), nil
}

// userOf finds the hub user of an applied entry.
func (a *Service) userOf(ctx context.Context, d *store.Directory, o *store.Object) (*store.User, error) {
	users, err := a.store.FindUsers(ctx, d.ID, o.Profile.Username)
	if err != nil {
		return nil, fmt.Errorf("reading the user who signed in: %w", err)
	}
	for _, u := range users {
		if u.ExternalID == o.ExternalID {
			return a.store.GetUser(ctx, u.ID)
		}
	}
	return nil, fmt.Errorf("the user %s (%s) who signed in to %s is not in the hub after the write", o.Profile.Username, o.ExternalID, d.Name)
}

func (a *Service) record(ctx context.Context, action, target string, outcome string, format string, args ...any) {
	detail := fmt.Sprintf(format, args...)
	a.log.Info("sign-in", "action", action, "target", target, "detail", detail)
	e := store.AuditEvent{Action: action, Target: target, Outcome: outcome, Detail: detail}
	if outcome == store.AuditRefused {
		// A login page hammered with guesses writes a bounded trail: the
		// refusals of one username beyond the window's allowance, and of
		// usernames beyond those tracked, are summarised with a count.
		a.audit.RecordRefused(ctx, e)
		return
	}
	a.audit.Record(ctx, e)
}

// DirectoryError names a directory the hub does not have.
type DirectoryError struct{ Name string }

func (e *DirectoryError) Error() string { return fmt.Sprintf("no directory %q", e.Name) }
