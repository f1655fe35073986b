package people

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/idsync/idsync/internal/backoff"
	"github.com/idsync/idsync/server/refusal"
	"github.com/idsync/idsync/server/store"
)

// Store is what the admin actions read and write.
type Store interface {
	GetUser(ctx context.Context, id string) (*store.User, error)
	GetDirectoryByID(ctx context.Context, id int64) (*store.Directory, error)
	CreateRun(ctx context.Context, r *store.Run) error
	TransitionRun(ctx context.Context, runID int64, from []store.RunState, u store.RunUpdate) (*store.Run, error)
	SetHold(ctx context.Context, userID string, h store.Hold, action string, runID int64) (*store.User, error)

	// The writes to local directories read these.
	GetDirectory(ctx context.Context, name string) (*store.Directory, error)
	FindUsers(ctx context.Context, directoryID int64, name string) ([]*store.User, error)
	GetGroup(ctx context.Context, id string) (*store.Group, error)
	FindGroups(ctx context.Context, directoryID int64, name string) ([]*store.Group, error)
	GroupMembers(ctx context.Context, groupID string) ([]store.Member, error)

	// The purge dates read this.
	ListDirectories(ctx context.Context) ([]*store.Directory, error)
	// A group a rule masters is refused to hand edits.
	RuleOfGroup(ctx context.Context, groupID string) (*store.Rule, error)

	// A hold on an admin is a super-admin's: these tell who is one.
	ListAdminGrants(ctx context.Context) ([]*store.AdminGrant, error)
	UserGroupsTransitive(ctx context.Context, userID string) ([]store.GroupMembership, error)
}

// Caller is the admin acting, as far as the service asks
// (server/auth.Scope): whether it is a super-admin, its role (recorded
// with a hold it sets), and whether it covers another role (may lift a
// hold set with it).
type Caller interface {
	SuperAdmin() bool
	Role() string
	Covers(role string) bool
}

// Internal is the hub's own work and in-process callers: unrestricted. A
// hold it sets records no role: a super-admin's to lift.
var Internal Caller = internal{}

type internal struct{}

func (internal) SuperAdmin() bool     { return true }
func (internal) Role() string         { return "" }
func (internal) Covers(_ string) bool { return true }

// Config is what a Service is built with.
type Config struct {
	Store Store
	// Apply writes local directories' users and groups (ingest.Engine).
	Apply Applier
	// Notify wakes provisioning once an action committed (the change
	// feed has it either way; this makes it at once).
	Notify func()
	Log    *slog.Logger
	// Now is the clock (tests).
	Now func() time.Time
	// Entries enables and disables users' own entries in their
	// directories (provision.Engine); nil: in-directory actions are
	// refused.
	Entries EntryWriter
	// Audit records the in-directory writes (the hold actions are audited
	// by the store, with their change).
	Audit Recorder
	// Retention is how long a deprovisioned user is kept before it is
	// purged, where its directory does not say (default DefaultRetention):
	// for the purge dates shown (PurgeDates).
	Retention time.Duration
}

// EntryWriter enables or disables a user's own entry in its directory
// through an agent (server/provision).
type EntryWriter interface {
	SetEntryEnabled(ctx context.Context, d *store.Directory, externalID, dn string, enabled bool) error
}

// Recorder writes audit events (server/audit.Log).
type Recorder interface {
	Record(ctx context.Context, e store.AuditEvent)
}

// Service acts on people in the hub.
type Service struct {
	st     Store
	apply  Applier
	notify func()
	log    *slog.Logger
	now    func() time.Time
	writer EntryWriter
	audit  Recorder
	keep   time.Duration
	// locks serialises the writes to one local directory in this
	// process (directory id → *sync.Mutex).
	locks sync.Map
}

// New returns the service.
func New(c Config) *Service {
	s := &Service{st: c.Store, apply: c.Apply, notify: c.Notify, log: c.Log, now: c.Now, writer: c.Entries, audit: c.Audit,
		keep: c.Retention}
	if s.notify == nil {
		s.notify = func() {}
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

// DefaultRetention is how long a deprovisioned user is kept, restorable,
// before it is purged, unless the hub or its directory says otherwise.
const DefaultRetention = 90 * 24 * time.Hour

// ErrNotAUser is returned for an id that is not a user of the hub.
var ErrNotAUser = errors.New("no such user")

// Action is one of the hold actions.
type Action struct {
	// Verb is the audit action ("user.deactivated"…).
	Verb string
	// Command is idsyncctl's for it ("user deactivate"…).
	Command string
	// Hold is the status held, "" to lift the hold.
	Hold store.Status
	// LiftsAny lifts a hold of any kind (a restore).
	LiftsAny bool
}

// The hold actions.
var (
	Deactivate = Action{Verb: "user.deactivated", Command: "user deactivate", Hold: store.StatusDeprovisioned}
	Reactivate = Action{Verb: "user.reactivated", Command: "user reactivate"}
	Suspend    = Action{Verb: "user.suspended", Command: "user suspend", Hold: store.StatusSuspended}
	Unsuspend  = Action{Verb: "user.unsuspended", Command: "user unsuspend"}
	restore    = Action{Verb: "user.restored", Command: "user restore", LiftsAny: true}
)

// Hold puts (or lifts) a hold on a user, by actor, as a run of kind admin
// of the user's directory: the user's status, in the hub and in every app,
// is the stronger of the hold and what its directory says until lifted.
// Lifting a hold of another kind (reactivate a suspended user) is refused,
// naming the hold, so that an admin does not lift more than they meant.
// A user who holds an admin grant is held and released by a super-admin
// alone (see checkAdmin).
func (s *Service) Hold(ctx context.Context, userID string, a Action, c Caller, actor, reason string) (*store.User, error) {
	u, err := s.user(ctx, userID)
	if err != nil {
		return nil, err
	}
	if err := s.checkAdmin(ctx, u, c, a); err != nil {
		return nil, err
	}
	if err := checkHolder(u, c, a); err != nil {
		return nil, err
	}
	if a.Hold == "" && !a.LiftsAny && u.Hold.Status != "" && a != liftOf(u.Hold.Status) {
		return nil, &StateError{User: u, Why: fmt.Sprintf("it is held %s by %s: `idsyncctl %s` lifts that", u.Hold.Status, u.Hold.By, liftOf(u.Hold.Status).Command)}
	}
	if a.Hold == "" && u.Hold.Status == "" {
		return u, nil // nothing held: nothing to lift
	}
	r, err := s.startRun(ctx, u.DirectoryID, actor)
	if err != nil {
		return nil, err
	}
	end := context.WithoutCancel(ctx)
	held, err := s.st.SetHold(ctx, userID, store.Hold{Status: a.Hold, By: actor, Reason: reason, At: s.now(), Role: c.Role()}, a.Verb, r.ID)
	if err != nil {
		_, _ = s.st.TransitionRun(end, r.ID, []store.RunState{store.RunRunning},
			store.RunUpdate{State: store.RunFailed, Message: err.Error(), Finished: true})
		return nil, fmt.Errorf("%s of user %s (run %d): %w", a.Verb, userID, r.ID, err)
	}
	if _, err := s.st.TransitionRun(end, r.ID, []store.RunState{store.RunRunning},
		store.RunUpdate{State: store.RunCompleted, Message: a.Verb + " " + held.Profile.Username, Finished: true}); err != nil {
		return nil, fmt.Errorf("completing run %d: %w", r.ID, err)
	}
	s.notify()
	s.log.Info("admin action on a user", "action", a.Verb, "user", held.ID, "username", held.Profile.Username,
		"status", held.Status, "by", actor, "run", r.ID)
	return held, nil
}

// SetInDirectory enables or disables the user's own entry in its
// directory through an agent, by actor: deactivate and reactivate
// --in-directory. The directory must let the hub write (a super-admin's
// write-back settings) and the entry lie in its writable OUs. The write
// is audited (user.disabled_in_directory, user.enabled_in_directory),
// failed or not; a hold is not touched.
func (s *Service) SetInDirectory(ctx context.Context, userID string, enabled bool, actor string) error {
	u, err := s.user(ctx, userID)
	if err != nil {
		return err
	}
	d, err := s.st.GetDirectoryByID(ctx, u.DirectoryID)
	if err != nil {
		return fmt.Errorf("reading the directory of user %s: %w", u.Username, err)
	}
	action, verb := "user.enabled_in_directory", "enabling"
	if !enabled {
		action, verb = "user.disabled_in_directory", "disabling"
	}
	switch {
	case s.writer == nil:
		err = fmt.Errorf("this hub writes into no directory")
	case u.DN == "" || u.ExternalID == "":
		err = fmt.Errorf("user %s has no entry in directory %s (kind %s)", u.Username, d.Name, d.Kind)
	default:
		err = s.writer.SetEntryEnabled(ctx, d, u.ExternalID, u.DN, enabled)
	}
	e := store.AuditEvent{Actor: actor, Action: action, Target: "user:" + u.Username, Outcome: store.AuditOK,
		Detail: fmt.Sprintf("entry %s of directory %s", u.DN, d.Name)}
	if err != nil {
		e.Outcome, e.Detail = store.AuditFailed, e.Detail+": "+err.Error()
		err = fmt.Errorf("%s the entry of user %s in directory %s: %w", verb, u.Username, d.Name, err)
	}
	if s.audit != nil {
		s.audit.Record(context.WithoutCancel(ctx), e)
	}
	s.log.Info("admin write into a user's directory", "action", action, "user", u.ID, "dn", u.DN, "directory", d.Name,
		"by", actor, "err", err)
	return err
}

// liftOf is the action that lifts a hold of status.
func liftOf(status store.Status) Action {
	if status == store.StatusSuspended {
		return Unsuspend
	}
	return Reactivate
}

// StateError refuses an action the user's state does not allow, saying
// why.
type StateError struct {
	User *store.User
	Why  string
}

func (e *StateError) Error() string {
	return fmt.Sprintf("user %s: %s", e.User.Profile.Username, e.Why)
}

// startRun starts a run of kind admin of directory, waiting for another
// admin run of it to end (one runs at a time per directory).
func (s *Service) startRun(ctx context.Context, directoryID int64, actor string) (*store.Run, error) {
	r := &store.Run{DirectoryID: directoryID, Kind: store.RunAdmin, State: store.RunRunning, Trigger: actor}
	bo := backoff.New(5*time.Millisecond, 200*time.Millisecond)
	for {
		err := s.st.CreateRun(ctx, r)
		if err == nil {
			return r, nil
		}
		if !errors.Is(err, store.ErrConflict) {
			return nil, fmt.Errorf("starting an admin run of directory %d: %w", directoryID, err)
		}
		if !bo.Wait(ctx) {
			return nil, fmt.Errorf("waiting for the open admin run of directory %d: %w", directoryID, ctx.Err())
		}
	}
}

// Restore brings a deprovisioned user back within its retention: a hold
// is lifted, so the user takes its directory's status again. A user whose
// directory says it is gone cannot be restored from the hub — it comes
// back when the directory has it again — and the error says so; but a
// local directory's user, deleted in the hub, is written back active. The
// apps follow from the change: accounts reactivated, created again where
// the app deleted them.
func (s *Service) Restore(ctx context.Context, userID, actor string) (*store.User, error) {
	u, err := s.st.GetUser(ctx, userID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("user %s: %w (a purged user cannot be restored)", userID, ErrNotAUser)
	}
	if err != nil {
		return nil, err
	}
	if u.Status != store.StatusDeprovisioned {
		return nil, &StateError{User: u, Why: fmt.Sprintf("it is %s, not deprovisioned: nothing to restore", u.Status)}
	}
	if u.SourceStatus == store.StatusDeprovisioned {
		d, err := s.home(ctx, u.DirectoryID, "user "+u.Username)
		var ro *ReadOnlyError
		if errors.As(err, &ro) {
			return nil, &StateError{User: u, Why: fmt.Sprintf("directory %s no longer has it (deleted there, or out of its scope): "+
				"it comes back when the directory has it again", u.Directory)}
		}
		if err != nil {
			return nil, err
		}
		if u, err = s.restoreLocal(ctx, u, d, actor); err != nil {
			return nil, err
		}
	}
	return s.Hold(ctx, userID, restore, Internal, actor, "")
}

// checkAdmin refuses an admin other than a super-admin who would hold or
// release a user who holds an admin grant (through its group, nesting
// included): a console session holds while its user is active, so a hold
// would lock a higher role out of the console, and a release would give a
// role back that a super-admin took away.
func (s *Service) checkAdmin(ctx context.Context, u *store.User, c Caller, a Action) error {
	if c.SuperAdmin() {
		return nil
	}
	grants, err := s.st.ListAdminGrants(ctx)
	if err != nil {
		return fmt.Errorf("listing admin grants: %w", err)
	}
	var live []*store.AdminGrant
	for _, g := range grants {
		if g.RevokedAt.IsZero() {
			live = append(live, g)
		}
	}
	if len(live) == 0 {
		return nil
	}
	groups, err := s.st.UserGroupsTransitive(ctx, u.ID)
	if err != nil {
		return fmt.Errorf("reading the groups of user %s: %w", u.Profile.Username, err)
	}
	for _, g := range live {
		for _, m := range groups {
			if m.Group.ID == g.GroupID {
				return refusal.Deniedf("user %s/%s holds the %s role through admin grant %s of group %s/%s: "+
					"%s of an admin is a super-admin's decision", u.Directory, u.Profile.Username, g.Role, g.ID,
					m.Group.Directory, m.Group.Name, a.Verb)
			}
		}
	}
	return nil
}

// checkHolder refuses a caller whose role does not cover the role that
// set the user's hold (see auth.Scope.Covers) to lift or replace it: a
// group-admin does not undo a super-admin's hold on an ordinary user of
// its groups — neither lift it, nor put its own hold in its place and
// lift that. A hold set before roles were recorded is a super-admin's.
func checkHolder(u *store.User, c Caller, a Action) error {
	if u.Hold.Status == "" || c.Covers(u.Hold.Role) {
		return nil
	}
	role := u.Hold.Role
	if role == "" {
		role = "unrecorded, so a super-admin's"
	}
	return refusal.Deniedf("%s refused: user %s/%s is held %s by %s (role %s): lifting or changing that hold needs role %s "+
		"(or one granting all it grants); this admin's role is %s", a.Verb, u.Directory, u.Profile.Username, u.Hold.Status,
		u.Hold.By, role, needed(u.Hold.Role), c.Role())
}

// needed is the role that lifts a hold set with role.
func needed(role string) string {
	if role == "" {
		return "super-admin"
	}
	return role
}

// Apps learns of a user the hub no longer has, so that its app accounts
// are deleted where the app allows it, else handed to an admin
// (server/provision).
type Apps interface {
	UserGone(ctx context.Context, userID string) error
}

// Purger purges the users whose retention has run out.
type Purger interface {
	ListDirectories(ctx context.Context) ([]*store.Directory, error)
	PurgeDue(ctx context.Context, directoryID int64, cutoff time.Time, limit int) ([]*store.User, error)
	PurgeUser(ctx context.Context, userID, actor string) (*store.User, error)
}

// Purge purges, in every directory, the deprovisioned users whose
// retention (the directory's, else def) has run out, and tells apps so
// that their accounts go too. It returns how many it purged.
func Purge(ctx context.Context, st Purger, apps Apps, def time.Duration, now time.Time, log *slog.Logger) (int, error) {
	dirs, err := st.ListDirectories(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, d := range dirs {
		keep := d.Retention
		if keep <= 0 {
			keep = def
		}
		for {
			due, err := st.PurgeDue(ctx, d.ID, now.Add(-keep), 100)
			if err != nil {
				return n, err
			}
			for _, u := range due {
				if _, err := st.PurgeUser(ctx, u.ID, "hub"); errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
					continue // restored, or purged by another replica
				} else if err != nil {
					return n, err
				}
				n++
				log.Info("user purged: its retention ran out", "user", u.ID, "username", u.Profile.Username,
					"directory", d.Name, "deprovisioned", u.DeprovisionedAt, "retention", keep)
				if err := apps.UserGone(ctx, u.ID); err != nil {
					log.Warn("telling the apps of a purged user", "user", u.ID, "err", err)
				}
			}
			if len(due) < 100 {
				break
			}
		}
	}
	return n, nil
}

// PurgeConfig is what the purge loop runs with.
type PurgeConfig struct {
	Store Purger
	Apps  Apps
	// Retention is the hub's retention, where a directory says none
	// (default DefaultRetention).
	Retention time.Duration
	// Every is how often the loop looks for users due (default 10 min).
	Every time.Duration
	// Now is the clock (tests).
	Now func() time.Time
	Log *slog.Logger
}

// RunPurge purges the users whose retention ran out, at once and then
// every c.Every, until ctx ends. A failed round is logged and tried again
// at the next.
func RunPurge(ctx context.Context, c PurgeConfig) error {
	if c.Retention <= 0 {
		c.Retention = DefaultRetention
	}
	if c.Every <= 0 {
		c.Every = 10 * time.Minute
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	log := c.Log.With("component", "purge")
	t := time.NewTicker(c.Every)
	defer t.Stop()
	for {
		if n, err := Purge(ctx, c.Store, c.Apps, c.Retention, c.Now(), log); err != nil && ctx.Err() == nil {
			log.Error("purging the users whose retention ran out", "purged", n, "err", err)
		} else if n > 0 {
			log.Info("purged the users whose retention ran out", "purged", n)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
