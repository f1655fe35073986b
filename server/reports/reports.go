package reports

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/idsync/idsync/server/agents"
	"github.com/idsync/idsync/server/auth"
	"github.com/idsync/idsync/server/people"
	"github.com/idsync/idsync/server/refusal"
	"github.com/idsync/idsync/server/store"
)

// Store is what the reports read of the hub's store.
type Store interface {
	UserStatusCounts(ctx context.Context) ([]store.StatusCount, error)
	GetUser(ctx context.Context, id string) (*store.User, error)
	ListApps(ctx context.Context) ([]*store.App, error)
	CountAccounts(ctx context.Context) ([]store.AccountCount, error)
	QueueStats(ctx context.Context) ([]store.QueueCount, error)
	ListTasks(ctx context.Context, f store.TaskFilter) ([]*store.Task, error)
	ListJobs(ctx context.Context, f store.JobFilter) ([]*store.Job, error)
	ListRuns(ctx context.Context, f store.RunFilter) ([]*store.Run, error)
	ListAgents(ctx context.Context) ([]*store.Agent, error)
	ListDirectories(ctx context.Context) ([]*store.Directory, error)
	PurgeDue(ctx context.Context, directoryID int64, before time.Time, limit int) ([]*store.User, error)
}

// Config is what the service is built from.
type Config struct {
	Store Store
	// Agents tells the agents' states.
	Agents *agents.Service
	// Retention is the hub's user retention, where a directory says none
	// (default people.DefaultRetention).
	Retention time.Duration
}

// Service computes reports.
type Service struct {
	st        Store
	agents    *agents.Service
	retention time.Duration
}

// New returns the service.
func New(c Config) *Service {
	return &Service{st: c.Store, agents: c.Agents, retention: c.Retention}
}

// Names lists the reports, by name.
var Names = []string{"users", "app-usage", "pending-deprovisions", "failed-pushes", "imports", "agents", "upcoming-purges"}

// needs is the permission each report needs besides reports.read: the one
// that guards what it shows, so that a report tells a role no more than
// its lists and shows do.
var needs = map[string]auth.Permission{
	"users":                auth.PermUsersRead,
	"app-usage":            auth.PermAppsRead,
	"pending-deprovisions": auth.PermPushesRead,
	"failed-pushes":        auth.PermPushesRead,
	"imports":              auth.PermImportsRead,
	"agents":               auth.PermAgentsRead,
	"upcoming-purges":      auth.PermUsersRead,
}

// Caller is the admin asking for a report (server/auth.Scope): the apps
// it may see, and the permissions its role grants.
type Caller interface {
	App(id int64) bool
	Has(p auth.Permission) bool
}

// Table is a computed report.
type Table struct {
	Columns []string
	Rows    [][]string
}

// Compute computes report name at now for caller c: a report whose
// permission c lacks is refused, and the rows of apps it may not see are
// left out.
func (s *Service) Compute(ctx context.Context, name string, c Caller, now time.Time) (*Table, error) {
	if p, ok := needs[name]; ok && !c.Has(p) {
		return nil, refusal.Deniedf("report %s: permission %s missing: it shows what %s guards", name, p, p)
	}
	apps := c.App
	var (
		cols []string
		rows [][]string
		err  error
	)
	switch name {
	case "users":
		cols, rows, err = s.users(ctx)
	case "app-usage":
		cols, rows, err = s.appUsage(ctx, apps)
	case "pending-deprovisions":
		cols, rows, err = s.pendingDeprovisions(ctx, apps)
	case "failed-pushes":
		cols, rows, err = s.failedPushes(ctx, apps)
	case "imports":
		cols, rows, err = s.imports(ctx)
	case "agents":
		cols, rows, err = s.agentHealth(ctx, now)
	case "upcoming-purges":
		cols, rows, err = s.upcomingPurges(ctx, now)
	default:
		return nil, refusal.Invalidf("report %q: must be one of %s", name, strings.Join(Names, ", "))
	}
	if err != nil {
		return nil, fmt.Errorf("computing report %s: %w", name, err)
	}
	return &Table{Columns: cols, Rows: rows}, nil
}

// upcomingWindow is how far ahead report upcoming-purges looks, and
// upcomingMax how many users of one directory it lists at most.
const (
	upcomingWindow = 30 * 24 * time.Hour
	upcomingMax    = 10000
)

// upcomingPurges: the deprovisioned users purged in the next 30 days (or
// already due: the purge loop takes them at its next round), soonest
// first.
func (s *Service) upcomingPurges(ctx context.Context, now time.Time) ([]string, [][]string, error) {
	dirs, err := s.st.ListDirectories(ctx)
	if err != nil {
		return nil, nil, err
	}
	type due struct {
		at  time.Time
		row []string
	}
	var all []due
	for _, d := range dirs {
		keep := cmp.Or(d.Retention, s.retention, people.DefaultRetention)
		users, err := s.st.PurgeDue(ctx, d.ID, now.Add(upcomingWindow-keep), upcomingMax)
		if err != nil {
			return nil, nil, err
		}
		for _, u := range users {
			at := u.DeprovisionedAt.Add(keep)
			held := ""
			if u.Hold.Status != "" {
				held = u.Hold.By
			}
			all = append(all, due{at, []string{when(at), u.Username, d.Name, when(u.DeprovisionedAt), held, u.ID}})
		}
	}
	slices.SortStableFunc(all, func(a, b due) int { return a.at.Compare(b.at) })
	rows := make([][]string, len(all))
	for i, d := range all {
		rows[i] = d.row
	}
	return []string{"purged at", "username", "directory", "deprovisioned at", "held by", "id"}, rows, nil
}

func num[T ~int64 | ~int | ~uint64](n T) string { return strconv.FormatInt(int64(n), 10) }

func when(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// users: users per status per directory, one row per directory.
func (s *Service) users(ctx context.Context) ([]string, [][]string, error) {
	counts, err := s.st.UserStatusCounts(ctx)
	if err != nil {
		return nil, nil, err
	}
	statuses := []store.Status{store.StatusActive, store.StatusSuspended, store.StatusDeprovisioned}
	byDir := map[string]map[store.Status]int64{}
	var dirs []string
	for _, c := range counts {
		if byDir[c.Directory] == nil {
			byDir[c.Directory] = map[store.Status]int64{}
			dirs = append(dirs, c.Directory)
		}
		byDir[c.Directory][c.Status] += c.Count
	}
	var rows [][]string
	for _, d := range dirs {
		row, total := []string{d}, int64(0)
		for _, st := range statuses {
			row = append(row, num(byDir[d][st]))
			total += byDir[d][st]
		}
		rows = append(rows, append(row, num(total)))
	}
	return []string{"directory", "active", "suspended", "deprovisioned", "total"}, rows, nil
}

// appUsage: accounts per state and queue depth per app.
func (s *Service) appUsage(ctx context.Context, visible func(int64) bool) ([]string, [][]string, error) {
	apps, err := s.st.ListApps(ctx)
	if err != nil {
		return nil, nil, err
	}
	acc, err := s.st.CountAccounts(ctx)
	if err != nil {
		return nil, nil, err
	}
	q, err := s.st.QueueStats(ctx)
	if err != nil {
		return nil, nil, err
	}
	var rows [][]string
	for _, a := range apps {
		if !visible(a.ID) {
			continue
		}
		var active, inactive, queued, dead int64
		for _, c := range acc {
			if c.AppID == a.ID && c.State == store.AccountActive {
				active += c.Count
			} else if c.AppID == a.ID {
				inactive += c.Count
			}
		}
		for _, c := range q {
			switch {
			case c.AppID != a.ID:
			case c.State == store.JobQueued || c.State == store.JobRunning:
				queued += c.Count
			case c.State == store.JobDead:
				dead += c.Count
			}
		}
		rows = append(rows, []string{a.Name, string(a.Status), num(active), num(inactive), num(queued), num(dead)})
	}
	return []string{"app", "state", "active accounts", "inactive accounts", "queued pushes", "failed pushes"}, rows, nil
}

// appNames maps app ids to names, of the apps visible says.
func (s *Service) appNames(ctx context.Context, visible func(int64) bool) (map[int64]string, error) {
	apps, err := s.st.ListApps(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing apps: %w", err)
	}
	m := make(map[int64]string, len(apps))
	for _, a := range apps {
		if visible(a.ID) {
			m[a.ID] = a.Name
		}
	}
	return m, nil
}

// usernames names users by id, once each per report; a user gone from
// the hub has no name ("").
type usernames struct {
	st    Store
	names map[string]string
}

func (n *usernames) name(ctx context.Context, id string) (string, error) {
	if v, ok := n.names[id]; ok {
		return v, nil
	}
	name := ""
	u, err := n.st.GetUser(ctx, id)
	switch {
	case err == nil:
		name = u.Username
	case !errors.Is(err, store.ErrNotFound):
		return "", fmt.Errorf("loading user %s: %w", id, err)
	}
	n.names[id] = name
	return name, nil
}

func (s *Service) usernames() *usernames { return &usernames{st: s.st, names: map[string]string{}} }

// pendingDeprovisions: open manual deprovision tasks.
func (s *Service) pendingDeprovisions(ctx context.Context, visible func(int64) bool) ([]string, [][]string, error) {
	names, err := s.appNames(ctx, visible)
	if err != nil {
		return nil, nil, err
	}
	tasks, err := s.st.ListTasks(ctx, store.TaskFilter{State: store.TaskOpen})
	if err != nil {
		return nil, nil, err
	}
	n := s.usernames()
	var rows [][]string
	for _, t := range tasks {
		app, ok := names[t.AppID]
		if !ok || t.Kind != "deprovision" {
			continue
		}
		user, err := n.name(ctx, t.UserID)
		if err != nil {
			return nil, nil, err
		}
		rows = append(rows, []string{num(t.ID), app, user, when(t.CreatedAt), t.Detail})
	}
	return []string{"task", "app", "user", "since", "detail"}, rows, nil
}

// failedPushes: dead letters and jobs retrying after an error.
func (s *Service) failedPushes(ctx context.Context, visible func(int64) bool) ([]string, [][]string, error) {
	names, err := s.appNames(ctx, visible)
	if err != nil {
		return nil, nil, err
	}
	jobs, err := s.st.ListJobs(ctx, store.JobFilter{States: []store.JobState{store.JobDead, store.JobQueued}, Limit: 10000})
	if err != nil {
		return nil, nil, err
	}
	n := s.usernames()
	var rows [][]string
	for _, j := range jobs {
		app, ok := names[j.AppID]
		if !ok || (j.State == store.JobQueued && j.LastError == "") {
			continue
		}
		target := j.Target
		if j.Kind == store.JobUser {
			if target, err = n.name(ctx, j.Target); err != nil {
				return nil, nil, err
			}
		}
		state := "dead"
		if j.State == store.JobQueued {
			state = "retrying"
		}
		rows = append(rows, []string{num(j.ID), app, string(j.Kind), target, state, num(j.Attempts), when(j.UpdatedAt), j.LastError})
	}
	slices.SortStableFunc(rows, func(a, b []string) int { return strings.Compare(a[1], b[1]) })
	return []string{"job", "app", "kind", "target", "state", "attempts", "updated", "last error"}, rows, nil
}

// imports: the newest runs of every directory.
func (s *Service) imports(ctx context.Context) ([]string, [][]string, error) {
	runs, err := s.st.ListRuns(ctx, store.RunFilter{Limit: 200})
	if err != nil {
		return nil, nil, err
	}
	var rows [][]string
	for _, r := range runs {
		took := ""
		if !r.FinishedAt.IsZero() {
			took = r.FinishedAt.Sub(r.StartedAt).Round(time.Millisecond).String()
		}
		rows = append(rows, []string{num(r.ID), r.Directory, string(r.Kind), string(r.State), r.Trigger, when(r.StartedAt), took,
			num(r.Seen), num(r.Created), num(r.Updated), num(r.Deprovisioned), num(r.Errors), r.Message})
	}
	return []string{"run", "directory", "kind", "state", "trigger", "started", "took", "seen", "created", "updated",
		"deprovisioned", "errors", "message"}, rows, nil
}

// agentHealth: every agent's health.
func (s *Service) agentHealth(ctx context.Context, now time.Time) ([]string, [][]string, error) {
	all, err := s.st.ListAgents(ctx)
	if err != nil {
		return nil, nil, err
	}
	capturing, err := s.agents.Capturing(ctx)
	if err != nil {
		return nil, nil, err
	}
	var rows [][]string
	for _, a := range all {
		state := s.agents.State(a, now, capturing[a.SessionID])
		seen := ""
		if !a.LastSeen.IsZero() {
			seen = fmt.Sprintf("%s (%s ago)", when(a.LastSeen), now.Sub(a.LastSeen).Round(time.Second))
		}
		rows = append(rows, []string{a.ID, a.Name, strings.Join(a.Directories, ","), string(state), a.Version, seen,
			num(max(a.Lag, 0).Milliseconds()), when(a.CertExpiresAt)})
	}
	return []string{"agent", "name", "directories", "state", "version", "last seen", "lag ms", "cert expires"}, rows, nil
}
