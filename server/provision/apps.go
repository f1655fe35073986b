package provision

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/idsync/idsync/server/refusal"
	"github.com/idsync/idsync/server/secrets"
	"github.com/idsync/idsync/server/store"
)

// AppsStore is what Apps reads and writes of the hub's store.
type AppsStore interface {
	CreateApp(ctx context.Context, a *store.App) error
	UpdateApp(ctx context.Context, a *store.App) error
	DeleteApp(ctx context.Context, id int64) error
	SetAppStatus(ctx context.Context, id int64, status store.AppStatus, message string) error
	ListApps(ctx context.Context) ([]*store.App, error)
	GetDirectory(ctx context.Context, name string) (*store.Directory, error)
	Assign(ctx context.Context, a store.Assignment) error
	Unassign(ctx context.Context, a store.Assignment) error
	AppUsers(ctx context.Context, appID int64) ([]string, error)
	RequeueDead(ctx context.Context, appID, id int64, now time.Time) (int, error)
	ResolveTask(ctx context.Context, id int64, by, note string, now time.Time) (*store.Task, error)
}

// Caller is the admin acting, as far as Apps asks (server/auth.Scope):
// whether it may make the decisions that are a super-admin's alone.
type Caller interface {
	CheckSuperAdmin(what string) error
}

// AppsConfig is what Apps is built from.
type AppsConfig struct {
	Store AppsStore
	// Engine is told of every change, checks the apps' URLs, and tests,
	// previews and imports.
	Engine *Engine
	// Box seals the apps' secrets before they reach the store.
	Box   *secrets.Box
	Audit Recorder
	Log   *slog.Logger
}

// Apps is what admins do to downstream apps: create, update (a paused app
// resumed), delete, test, preview and import from them; assign users and
// groups; retry dead pushes; resolve manual tasks. Each change is
// validated, audited, and told to the engine, so that the apps follow at
// once.
type Apps struct {
	st    AppsStore
	eng   *Engine
	box   *secrets.Box
	audit Recorder
	log   *slog.Logger
}

// NewApps returns the apps service.
func NewApps(c AppsConfig) *Apps {
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return &Apps{st: c.Store, eng: c.Engine, box: c.Box, audit: c.Audit, log: c.Log}
}

// event records an audit event of ctx's admin.
func (s *Apps) event(ctx context.Context, action, target, detail string, args ...any) {
	if s.audit != nil {
		s.audit.Record(ctx, store.AuditEvent{Action: action, Target: target, Detail: fmt.Sprintf(detail, args...)})
	}
}

// Create adds app a, whose secret is secret ("" for none, and for a
// directory target). With none of the user operations allowed, it allows
// create, update and deactivate.
func (s *Apps) Create(ctx context.Context, a *store.App, secret string, c Caller, by string) error {
	if !a.AllowCreate && !a.AllowUpdate && !a.AllowDeactivate && !a.AllowDelete {
		a.AllowCreate, a.AllowUpdate, a.AllowDeactivate = true, true, true
	}
	ApplyAppDefaults(a)
	if err := ValidateApp(a, secret != ""); err != nil {
		return refusal.Invalidf("app %s: %v", a.Name, err)
	}
	if err := UnknownMappingField(a.Mapping); err != nil {
		return refusal.Invalidf("app %s: %v", a.Name, err)
	}
	if err := s.checkTarget(ctx, a); err != nil {
		return err
	}
	if a.Target != nil && secret != "" {
		return refusal.Invalidf("app %s: secret: a directory target has none (the directory's initial password is its write-back setting)", a.Name)
	}
	if err := s.checkOutbound(c, nil, a); err != nil {
		return err
	}
	if a.Target == nil {
		a.Secret = s.box.Seal([]byte(secret), SecretContext(a.Name))
	}
	a.Status = store.AppActive
	if err := s.st.CreateApp(ctx, a); errors.Is(err, store.ErrConflict) {
		return refusal.Existsf("app %q already exists", a.Name)
	} else if err != nil {
		return fmt.Errorf("creating app %q: %w", a.Name, err)
	}
	s.log.Info("app created", "app", a.Name, "scim_url", a.SCIMURL, "auth", a.AuthKind, "by", by)
	if a.Target != nil {
		s.event(ctx, "app.create", "app:"+a.Name, "directory %s, accounts in %s", a.Target.Directory, a.Target.ParentDN)
	} else {
		s.event(ctx, "app.create", "app:"+a.Name, "scim %s, auth %s", a.SCIMURL, a.AuthKind)
	}
	return s.eng.AppChanged(ctx, a.ID)
}

// checkTarget checks that a directory target names a directory the hub
// may write, and stays within what a super-admin let the hub write there
// (CheckTarget): the OUs, the groups, the attributes.
func (s *Apps) checkTarget(ctx context.Context, a *store.App) error {
	if a.Target == nil {
		return nil
	}
	d, err := s.st.GetDirectory(ctx, a.Target.Directory)
	if errors.Is(err, store.ErrNotFound) {
		return refusal.Invalidf("app %s: directory_target.directory %q does not exist (see `idsyncctl directory list`)", a.Name, a.Target.Directory)
	}
	if err != nil {
		return fmt.Errorf("loading directory %q: %w", a.Target.Directory, err)
	}
	if err := CheckTarget(d, a); err != nil {
		return refusal.Invalidf("app %s: %v", a.Name, err)
	}
	if d.Kind == store.KindOpenLDAP && a.AllowDeactivate && a.Target.DisableAttribute == "" && a.Target.DisableGroupDN == "" {
		return refusal.Invalidf("app %s: OpenLDAP has no disabled state of its own: give --disable-attribute attr=value or --disable-group DN", a.Name)
	}
	return nil
}

// checkOutbound holds the app's URLs to what it may reach, and the
// exceptions (plain http, local addresses) to super-admins: only one may
// grant one, or move the URLs of an app that has one. before is nil for a
// new app.
func (s *Apps) checkOutbound(c Caller, before, a *store.App) error {
	granted := a.AllowInsecureHTTP && (before == nil || !before.AllowInsecureHTTP) ||
		a.AllowLocalAddresses && (before == nil || !before.AllowLocalAddresses)
	if granted {
		if err := c.CheckSuperAdmin("allowing an app plain http or local addresses"); err != nil {
			return err
		}
	}
	if before != nil && (before.AllowInsecureHTTP || before.AllowLocalAddresses) &&
		(before.SCIMURL != a.SCIMURL || before.TokenURL != a.TokenURL) {
		if err := c.CheckSuperAdmin(fmt.Sprintf("moving app %s, which a super-admin allowed plain http or local addresses,", a.Name)); err != nil {
			return err
		}
	}
	if err := s.eng.CheckURLs(a); err != nil {
		return refusal.Invalidf("app %s: %v", a.Name, err)
	}
	return nil
}

// AppUpdate is what an update changes beside the settings.
type AppUpdate struct {
	// Fields are the settings changed, by name (a field of App in the
	// wire's terms: "scim_url", "mapping"…).
	Fields []string
	// Secret is a new secret ("": the stored one is kept).
	Secret string
	// Resume sets a paused app active again.
	Resume bool
}

// credentialFields are the settings whose change may fix what paused an
// app (a 401, a wrong URL): changing one resumes it, as a new secret does.
var credentialFields = []string{"scim_url", "auth", "username", "token_url", "scopes",
	"allow_insecure_http", "allow_local_addresses"}

// Update stores app a, whose settings the caller changed from stored, and
// the secret u gives. A new secret, URL or credential setting, or
// u.Resume, sets a paused app active again.
func (s *Apps) Update(ctx context.Context, stored, a *store.App, u AppUpdate, c Caller, by string) error {
	if a.SCIMURL != stored.SCIMURL {
		a.PatchSupported = nil // another endpoint: read its config again
	}
	newSecret := u.Secret != ""
	changed := slices.Clone(u.Fields)
	if newSecret {
		changed = append(changed, "secret")
	}
	if u.Resume {
		changed = append(changed, "resume")
	}
	resume := newSecret || u.Resume ||
		slices.ContainsFunc(u.Fields, func(f string) bool { return slices.Contains(credentialFields, f) })
	if why := SecretBoundTo(stored, a); why != "" && !newSecret && len(a.Secret) > 0 {
		// The secret was given for the endpoint it went to: it does not
		// follow the app elsewhere.
		a.Secret = nil
		if err := ValidateSCIM(a, false); err != nil {
			return refusal.Invalidf("app %s: %s, so the stored secret is not sent there: %v", a.Name, why, err)
		}
	}
	ApplyAppDefaults(a)
	if err := ValidateApp(a, len(a.Secret) > 0 || newSecret); err != nil {
		return refusal.Invalidf("app %s: %v", a.Name, err)
	}
	// A mapping an admin writes reads known fields only; one stored before
	// this check is left be until it is changed.
	if slices.Contains(u.Fields, "mapping") {
		if err := UnknownMappingField(a.Mapping); err != nil {
			return refusal.Invalidf("app %s: %v", a.Name, err)
		}
	}
	if err := s.checkTarget(ctx, a); err != nil {
		return err
	}
	if err := s.checkOutbound(c, stored, a); err != nil {
		return err
	}
	if newSecret && a.Target != nil {
		return refusal.Invalidf("app %s: secret: a directory target has none", a.Name)
	}
	if newSecret {
		a.Secret = s.box.Seal([]byte(u.Secret), SecretContext(a.Name))
	}
	if err := s.st.UpdateApp(ctx, a); err != nil {
		return fmt.Errorf("updating app %q: %w", a.Name, err)
	}
	if resume && a.Status != store.AppActive {
		if err := s.st.SetAppStatus(ctx, a.ID, store.AppActive, ""); err != nil {
			return fmt.Errorf("resuming app %q: %w", a.Name, err)
		}
		s.log.Info("app resumed", "app", a.Name, "was", a.StatusMessage, "by", by)
		a.Status, a.StatusMessage = store.AppActive, ""
	}
	s.log.Info("app updated", "app", a.Name, "fields", changed, "by", by)
	s.event(ctx, "app.update", "app:"+a.Name, "fields %s", strings.Join(changed, ","))
	return s.eng.AppChanged(ctx, a.ID)
}

// Pause stops the pushes to app a, by an admin, for reason: the jobs
// wait in the queue until Resume. An app paused already (its credentials
// refused) is paused by the admin now: its message says so.
func (s *Apps) Pause(ctx context.Context, a *store.App, reason, by string) error {
	msg := "paused by " + by
	if reason != "" {
		msg += ": " + reason
	}
	if err := s.st.SetAppStatus(ctx, a.ID, store.AppPaused, msg); err != nil {
		return fmt.Errorf("pausing app %q: %w", a.Name, err)
	}
	a.Status, a.StatusMessage = store.AppPaused, msg
	s.log.Info("app paused", "app", a.Name, "by", by, "reason", reason)
	s.event(ctx, "app.pause", "app:"+a.Name, "%s", reason)
	return nil
}

// Resume sets paused app a active again, by an admin: its queue runs at
// once. Resuming an active app changes nothing.
func (s *Apps) Resume(ctx context.Context, a *store.App, by string) error {
	if a.Status == store.AppActive {
		return nil
	}
	was := a.StatusMessage
	if err := s.st.SetAppStatus(ctx, a.ID, store.AppActive, ""); err != nil {
		return fmt.Errorf("resuming app %q: %w", a.Name, err)
	}
	a.Status, a.StatusMessage = store.AppActive, ""
	s.log.Info("app resumed", "app", a.Name, "was", was, "by", by)
	s.event(ctx, "app.resume", "app:"+a.Name, "was %s", was)
	return s.eng.AppChanged(ctx, a.ID)
}

// Delete removes app a and what the hub knows of it; the accounts in the
// app stay as they are.
func (s *Apps) Delete(ctx context.Context, a *store.App, by string) error {
	if err := s.st.DeleteApp(ctx, a.ID); err != nil {
		return fmt.Errorf("deleting app %q: %w", a.Name, err)
	}
	s.log.Warn("app deleted", "app", a.Name, "by", by)
	s.event(ctx, "app.delete", "app:"+a.Name, "")
	return nil
}

// Test reads what app a supports.
func (s *Apps) Test(ctx context.Context, a *store.App, by string) (*TestReport, error) {
	rep, err := s.eng.Test(ctx, a)
	if err != nil {
		return nil, err
	}
	s.log.Info("app tested", "app", a.Name, "problems", len(rep.Problems), "by", by)
	s.event(ctx, "app.test", "app:"+a.Name, "%d problems", len(rep.Problems))
	return rep, nil
}

// Preview shows the request the next push of user userID to app a would
// make.
func (s *Apps) Preview(ctx context.Context, a *store.App, userID string) (*Preview, error) {
	return s.eng.Preview(ctx, a, userID)
}

// Import reads app a's accounts and links those matching users in scope;
// with groups, it then reads the app's groups (ImportGroups), whose members
// the accounts just linked name.
func (s *Apps) Import(ctx context.Context, a *store.App, groups bool, by string) (*ImportResult, error) {
	res, err := s.eng.ImportFromApp(ctx, a)
	if err != nil {
		return nil, err
	}
	s.log.Info("app imported", "app", a.Name, "read", res.Read, "linked", res.Linked,
		"already_linked", res.AlreadyLinked, "unmatched", len(res.Unmatched), "by", by)
	detail := fmt.Sprintf("accounts: %d read, %d linked, %d unmatched", res.Read, res.Linked, len(res.Unmatched))
	if groups {
		g, err := s.eng.ImportGroups(ctx, a)
		if err != nil {
			// The accounts were linked all the same.
			if s.audit != nil {
				s.audit.Record(ctx, store.AuditEvent{Action: "app.import", Target: "app:" + a.Name, Outcome: store.AuditFailed,
					Detail: detail + "; groups: " + err.Error()})
			}
			return nil, err
		}
		res.Groups = g
		s.log.Info("app groups imported", "app", a.Name, "read", g.Read, "linked", len(g.Linked),
			"already_linked", g.AlreadyLinked, "drift", len(g.Drift), "own", g.Own, "by", by)
		detail += fmt.Sprintf("; groups: %d read, %d linked, %d already linked, %d changed in the app, %d the app's own",
			g.Read, len(g.Linked), g.AlreadyLinked, len(g.Drift), g.Own)
	}
	s.event(ctx, "app.import", "app:"+a.Name, "%s", detail)
	return res, nil
}

// Assignee is a user or group an admin assigns to an app, or unassigns.
type Assignee struct {
	Kind store.AssignmentKind
	ID   string
	// Name is the username or group name, for the log and the trail.
	Name string
}

// Assign puts user or group to (a group's members) in scope of app a, and
// returns how many users are in its scope now.
func (s *Apps) Assign(ctx context.Context, a *store.App, to Assignee, by string) (int, error) {
	if err := s.st.Assign(ctx, store.Assignment{AppID: a.ID, Kind: to.Kind, TargetID: to.ID}); err != nil {
		return 0, fmt.Errorf("assigning %s %s to app %q: %w", to.Kind, to.Name, a.Name, err)
	}
	s.log.Info("app assigned", "app", a.Name, "kind", to.Kind, "target", to.Name, "id", to.ID, "by", by)
	s.event(ctx, "app.assign", "app:"+a.Name, "%s %s (%s)", to.Kind, to.Name, to.ID)
	return s.inScope(ctx, a)
}

// Unassign removes an assignment of app a, and returns how many users are
// in its scope now.
func (s *Apps) Unassign(ctx context.Context, a *store.App, from Assignee, by string) (int, error) {
	err := s.st.Unassign(ctx, store.Assignment{AppID: a.ID, Kind: from.Kind, TargetID: from.ID})
	if errors.Is(err, store.ErrNotFound) {
		return 0, refusal.NotFoundf("%s %s is not assigned to app %q (see `idsyncctl app show %s`)", from.Kind, from.Name, a.Name, a.Name)
	} else if err != nil {
		return 0, fmt.Errorf("unassigning %s %s from app %q: %w", from.Kind, from.Name, a.Name, err)
	}
	s.log.Info("app unassigned", "app", a.Name, "kind", from.Kind, "target", from.Name, "id", from.ID, "by", by)
	s.event(ctx, "app.unassign", "app:"+a.Name, "%s %s (%s)", from.Kind, from.Name, from.ID)
	return s.inScope(ctx, a)
}

// inScope counts the users in scope of app a, and tells the engine that
// its assignments changed. The count comes first, through the engine: the
// scope job that the change queues then finds the users it read, where it
// would read them all again. The change is told whether the count failed
// or not.
func (s *Apps) inScope(ctx context.Context, a *store.App) (int, error) {
	users, err := s.eng.ScopeUsers(ctx, a.ID)
	if cerr := s.eng.AppChanged(ctx, a.ID); cerr != nil {
		return 0, cerr
	}
	if err != nil {
		return 0, fmt.Errorf("listing the users in scope of %q: %w", a.Name, err)
	}
	return len(users), nil
}

// Retry is which dead pushes to put back in the queue: job JobID, or
// all of app AppID's.
type Retry struct {
	AppID, JobID int64
	// App and Job are the app and job as the admin named them, for the
	// log and the trail.
	App, Job string
}

// RetryPushes puts dead jobs back in the queue and wakes their apps; it
// returns how many.
func (s *Apps) RetryPushes(ctx context.Context, r Retry, by string) (int, error) {
	n, err := s.st.RequeueDead(ctx, r.AppID, r.JobID, time.Now())
	if err != nil {
		return 0, fmt.Errorf("requeueing dead jobs: %w", err)
	}
	if r.JobID != 0 && n == 0 {
		return 0, refusal.NotFoundf("no dead-lettered job %d (see `idsyncctl push list --failed`)", r.JobID)
	}
	s.log.Info("pushes retried", "app", r.App, "job", r.Job, "requeued", n, "by", by)
	s.event(ctx, "push.retry", "app:"+r.App, "job %q, %d requeued", r.Job, n)
	if r.AppID != 0 {
		s.eng.Wake(r.AppID)
	} else if apps, err := s.st.ListApps(ctx); err == nil {
		// The job's app is not known here; waking is cheap.
		for _, a := range apps {
			s.eng.Wake(a.ID)
		}
	}
	return n, nil
}

// ResolveTask marks manual task id done by the admin by, with a note.
func (s *Apps) ResolveTask(ctx context.Context, id int64, note, by string) (*store.Task, error) {
	t, err := s.st.ResolveTask(ctx, id, by, note, time.Now())
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, refusal.NotFoundf("task %d does not exist (see `idsyncctl task list --all`)", id)
	case errors.Is(err, store.ErrConflict):
		return nil, refusal.Unmetf("task %d is already resolved", id)
	case err != nil:
		return nil, fmt.Errorf("resolving task %d: %w", id, err)
	}
	s.log.Info("task resolved", "task", id, "by", by)
	s.event(ctx, "task.resolve", fmt.Sprintf("task:%d", id), "%s", note)
	return t, nil
}
