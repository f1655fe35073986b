package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"slices"

	"github.com/idsync/idsync/server/store"
)

const appCols = `id, name, scim_url, auth_kind, username, token_url, scopes, secret, allow_create,
	allow_update, allow_deactivate, allow_delete, push_groups, update_mode, rate_limit, concurrency,
	mapping, match_by, delete_after_ms, reconcile_interval_ms, patch_supported, target, allow_insecure_http,
	allow_local_addresses, status, status_message, created_at, updated_at`

func scanApp(sc scanner) (*store.App, error) {
	a := &store.App{}
	var patch sql.NullBool
	err := sc.Scan(&a.ID, &a.Name, &a.SCIMURL, &a.AuthKind, &a.Username, &a.TokenURL,
		scanJSON{&a.Scopes, "scopes"}, &a.Secret, &a.AllowCreate, &a.AllowUpdate, &a.AllowDeactivate,
		&a.AllowDelete, &a.PushGroups, &a.UpdateMode, &a.RateLimit, &a.Concurrency,
		scanJSON{&a.Mapping, "mapping"}, &a.MatchBy, scanMillis{&a.DeleteAfter}, scanMillis{&a.ReconcileInterval},
		&patch, scanJSON{&a.Target, "target"}, &a.AllowInsecureHTTP, &a.AllowLocalAddresses, &a.Status, &a.StatusMessage, scanTime{&a.CreatedAt}, scanTime{&a.UpdatedAt})
	if patch.Valid {
		a.PatchSupported = &patch.Bool
	}
	return a, err
}

// appSettings are the values of the settings columns of a, in the order
// of appCols from name to target.
func appSettings(a *store.App) ([]any, error) {
	scopes, err := jsonArg(a.Scopes, len(a.Scopes) == 0)
	if err != nil {
		return nil, fmt.Errorf("encoding the scopes of app %q: %w", a.Name, err)
	}
	mapping, err := jsonArg(a.Mapping, len(a.Mapping) == 0)
	if err != nil {
		return nil, fmt.Errorf("encoding the mapping of app %q: %w", a.Name, err)
	}
	var patch any
	if a.PatchSupported != nil {
		patch = *a.PatchSupported
	}
	target, err := jsonArg(a.Target, a.Target == nil)
	if err != nil {
		return nil, fmt.Errorf("encoding the directory target of app %q: %w", a.Name, err)
	}
	return []any{a.Name, a.SCIMURL, a.AuthKind, a.Username, a.TokenURL, scopes, a.Secret, a.AllowCreate,
		a.AllowUpdate, a.AllowDeactivate, a.AllowDelete, a.PushGroups, a.UpdateMode, a.RateLimit,
		a.Concurrency, mapping, a.MatchBy, millisArg(a.DeleteAfter), millisArg(a.ReconcileInterval),
		patch, target, a.AllowInsecureHTTP, a.AllowLocalAddresses}, nil
}

// appSettingCols are the columns appSettings gives.
const appSettingCols = `name, scim_url, auth_kind, username, token_url, scopes, secret, allow_create,
	allow_update, allow_deactivate, allow_delete, push_groups, update_mode, rate_limit, concurrency,
	mapping, match_by, delete_after_ms, reconcile_interval_ms, patch_supported, target, allow_insecure_http,
	allow_local_addresses`

// CreateApp inserts a and sets a.ID, a.CreatedAt and a.UpdatedAt (and
// a.Status to active when empty). A taken name is store.ErrConflict.
// Durations are kept to the millisecond; Secret is stored as given.
func (s *Store) CreateApp(ctx context.Context, a *store.App) error {
	args, err := appSettings(a)
	if err != nil {
		return err
	}
	status := a.Status
	if status == "" {
		status = store.AppActive
	}
	t := now()
	err = s.wr.row(ctx, `INSERT INTO apps (`+appSettingCols+`, status, status_message, created_at, updated_at)
		VALUES (`+marks(len(args)+4)+`) RETURNING id`,
		append(args, string(status), a.StatusMessage, s.wr.t(t), s.wr.t(t))...).Scan(&a.ID)
	if err != nil {
		return s.uniqueConflict(err, "creating app %q", a.Name)
	}
	a.Status, a.CreatedAt, a.UpdatedAt = status, t, t
	return nil
}

// UpdateApp replaces the settings (name included, status not) of the app
// with a.ID and sets a.UpdatedAt. Unknown id: store.ErrNotFound; a taken
// name: store.ErrConflict.
func (s *Store) UpdateApp(ctx context.Context, a *store.App) error {
	args, err := appSettings(a)
	if err != nil {
		return err
	}
	t := now()
	n, err := s.wr.execN(ctx, `UPDATE apps SET (`+appSettingCols+`, updated_at) = (`+marks(len(args)+1)+`)
		WHERE id = ?`, append(args, s.wr.t(t), a.ID)...)
	if err != nil {
		return s.uniqueConflict(err, "updating app %d (%q)", a.ID, a.Name)
	}
	if n == 0 {
		return notFound("app %d", a.ID)
	}
	a.UpdatedAt = t
	return nil
}

// GetApp returns an app by name, or store.ErrNotFound.
func (s *Store) GetApp(ctx context.Context, name string) (*store.App, error) {
	a, err := scanApp(s.rd.row(ctx, `SELECT `+appCols+` FROM apps WHERE name = ?`, name))
	if err != nil {
		return nil, noRows(err, "app %q", name)
	}
	return a, nil
}

// GetAppByID returns an app by id, or store.ErrNotFound.
func (s *Store) GetAppByID(ctx context.Context, id int64) (*store.App, error) {
	a, err := scanApp(s.rd.row(ctx, `SELECT `+appCols+` FROM apps WHERE id = ?`, id))
	if err != nil {
		return nil, noRows(err, "app %d", id)
	}
	return a, nil
}

// ListApps returns all apps ordered by name.
func (s *Store) ListApps(ctx context.Context) ([]*store.App, error) {
	rows, err := s.rd.query(ctx, `SELECT `+appCols+` FROM apps ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("listing apps: %w", err)
	}
	return collect(rows, scanApp, "listing apps")
}

// appTables are the tables that hold an app's rows, children first.
var appTables = []string{"app_groups", "pushed_members", "pushed_groups", "unmatched", "tasks", "jobs", "accounts", "assignments",
	"directory_writes"}

// DeleteApp removes an app with its assignments, accounts, jobs, tasks,
// unmatched accounts, pushed groups, the app's own groups and written entries' records, in one
// transaction. Unknown app:
// store.ErrNotFound.
func (s *Store) DeleteApp(ctx context.Context, id int64) error {
	return s.inTx(ctx, func(tx runner) error {
		for _, table := range appTables {
			if _, err := tx.exec(ctx, `DELETE FROM `+table+` WHERE app_id = ?`, id); err != nil {
				return fmt.Errorf("deleting the %s of app %d: %w", table, id, err)
			}
		}
		n, err := tx.execN(ctx, `DELETE FROM apps WHERE id = ?`, id)
		if err != nil {
			return fmt.Errorf("deleting app %d: %w", id, err)
		}
		if n == 0 {
			return notFound("app %d", id)
		}
		return nil
	})
}

// SetAppStatus sets an app's status and its message. Unknown app:
// store.ErrNotFound.
func (s *Store) SetAppStatus(ctx context.Context, id int64, status store.AppStatus, message string) error {
	return s.inTx(ctx, func(tx runner) error {
		var was store.AppStatus
		var name string
		if err := tx.row(ctx, `SELECT status, name FROM apps WHERE id = ?`+s.d.LockRow, id).Scan(&was, &name); err != nil {
			return noRows(err, "app %d", id)
		}
		if _, err := tx.exec(ctx, `UPDATE apps SET status = ?, status_message = ?, updated_at = ? WHERE id = ?`,
			string(status), message, tx.t(now()), id); err != nil {
			return fmt.Errorf("setting the status of app %d: %w", id, err)
		}
		if status != store.AppPaused || was == store.AppPaused {
			return nil
		}
		_, err := addNotice(ctx, tx, &store.Notice{Kind: store.NoticeAppPaused, AppID: id, Subject: name,
			Ref: fmt.Sprintf("app:%d", id), Detail: message})
		return err
	})
}

// SetAppPatchSupported records what the app's ServiceProviderConfig says
// of PATCH, leaving UpdatedAt alone: it is a fact learnt about the app,
// not a change of its settings.
func (s *Store) SetAppPatchSupported(ctx context.Context, id int64, supported bool) error {
	n, err := s.wr.execN(ctx, `UPDATE apps SET patch_supported = ? WHERE id = ?`, supported, id)
	if err != nil {
		return fmt.Errorf("recording the PATCH support of app %d: %w", id, err)
	}
	if n == 0 {
		return notFound("app %d", id)
	}
	return nil
}

// refErr maps the error of a write that names other rows: a foreign key
// violation (an app or object that does not exist) is store.ErrNotFound, a
// unique violation store.ErrConflict.
func (s *Store) refErr(err error, format string, args ...any) error {
	if s.d.IsForeignKeyViolation(err) {
		return notFound(format, args...)
	}
	return s.uniqueConflict(err, format, args...)
}

// Assign adds an assignment; an existing one is not an error. An unknown
// app, or a target that is no object of the kind the assignment names, is
// store.ErrNotFound.
func (s *Store) Assign(ctx context.Context, a store.Assignment) error {
	what := fmt.Sprintf("assigning %s %s to app %d", a.Kind, a.TargetID, a.AppID)
	return s.inTx(ctx, func(tx runner) error {
		ok, err := tx.exists(ctx, `SELECT 1 FROM objects WHERE id = ? AND kind = ?`, a.TargetID, string(a.Kind))
		switch {
		case err != nil:
			return fmt.Errorf("%s: %w", what, err)
		case !ok:
			return notFound("%s: no such %s", what, a.Kind)
		}
		_, err = tx.exec(ctx, `INSERT INTO assignments (app_id, kind, target_id, created_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (app_id, kind, target_id) DO NOTHING`, a.AppID, string(a.Kind), a.TargetID, tx.t(now()))
		if err != nil {
			return s.refErr(err, "%s", what)
		}
		return nil
	})
}

// Unassign removes an assignment; store.ErrNotFound when there was none.
func (s *Store) Unassign(ctx context.Context, a store.Assignment) error {
	n, err := s.wr.execN(ctx, `DELETE FROM assignments WHERE app_id = ? AND kind = ? AND target_id = ?`,
		a.AppID, string(a.Kind), a.TargetID)
	if err != nil {
		return fmt.Errorf("unassigning %s %s from app %d: %w", a.Kind, a.TargetID, a.AppID, err)
	}
	if n == 0 {
		return notFound("assignment of %s %s to app %d", a.Kind, a.TargetID, a.AppID)
	}
	return nil
}

// ListAssignments returns an app's assignments (appID 0: all apps) ordered
// by app, kind and target.
func (s *Store) ListAssignments(ctx context.Context, appID int64) ([]store.Assignment, error) {
	q, args := `SELECT app_id, kind, target_id FROM assignments`, []any(nil)
	if appID != 0 {
		q, args = q+` WHERE app_id = ?`, append(args, appID)
	}
	rows, err := s.rd.query(ctx, q+` ORDER BY app_id, kind, target_id`, args...)
	if err != nil {
		return nil, fmt.Errorf("listing assignments: %w", err)
	}
	return collect(rows, func(sc scanner) (store.Assignment, error) {
		var a store.Assignment
		err := sc.Scan(&a.AppID, &a.Kind, &a.TargetID)
		return a, err
	}, "listing assignments")
}

// resolvesTo selects, for a user key of one kind, the user a member value
// with that key resolves to as groupUsersQuery resolves it: a live user
// before a deprovisioned one, then the first by id. Arguments: the key
// (without its prefix), the directory id.
func resolvesTo(column string) string {
	return `(SELECT o.id FROM objects o WHERE o.` + column + ` = ? AND o.directory_id = ? AND o.kind = 'user'
		ORDER BY CASE WHEN o.status = 'deprovisioned' THEN 1 ELSE 0 END, o.id LIMIT 1)`
}

// AppsOfUser returns the ids of the apps the user is in scope of, in id
// order: assigned directly, or through a group (not deprovisioned) it is
// in directly or by nesting. It agrees with AppUsers: a member value
// counts for the user it resolves to (a live user before a deprovisioned
// one with the same DN or name). Unknown user: store.ErrNotFound.
func (s *Store) AppsOfUser(ctx context.Context, userID string) ([]int64, error) {
	var dirID int64
	var dnKey, nameKey string
	var byDN, byName sql.NullString
	err := s.rd.row(ctx, `SELECT directory_id, dn_key, name_key FROM objects WHERE id = ? AND kind = 'user'`, userID).
		Scan(&dirID, &dnKey, &nameKey)
	if err != nil {
		return nil, noRows(err, "user %s", userID)
	}
	what := fmt.Sprintf("reading the apps of user %s", userID)
	err = s.rd.row(ctx, `SELECT `+resolvesTo("dn_key")+`, `+resolvesTo("name_key"), dnKey, dirID, nameKey, dirID).
		Scan(&byDN, &byName)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	// Its id names it alone; its DN and name only while it is the user
	// they resolve to.
	keys := []any{store.MemberKeyID + userID}
	if dnKey != "" && byDN.String == userID {
		keys = append(keys, "dn:"+dnKey)
	}
	if nameKey != "" && byName.String == userID {
		keys = append(keys, "uid:"+nameKey)
	}
	edges, err := s.nestUp(ctx, keys, dirID, what)
	if err != nil {
		return nil, err
	}
	var groups []string
	for _, e := range edges {
		groups = append(groups, e.group)
	}
	slices.Sort(groups)
	groups = slices.Compact(groups)
	apps := map[int64]bool{}
	add := func(q string, args ...any) error {
		rows, err := s.rd.query(ctx, q, args...)
		if err != nil {
			return err
		}
		ids, err := collect(rows, scanInt64, what)
		for _, id := range ids {
			apps[id] = true
		}
		return err
	}
	if err := add(`SELECT app_id FROM assignments WHERE target_id = ? AND kind = 'user'`, userID); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	err = chunks(groups, 1000, func(part []string) error {
		return add(`SELECT DISTINCT app_id FROM assignments WHERE target_id IN (`+marks(len(part))+`)
			AND kind = 'group'`, anys(part)...)
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return slices.Sorted(maps.Keys(apps)), nil
}

// AppUsers returns the ids of the users in scope of an app, each once, in
// id order: those assigned directly (of any status), and the users of the
// assigned groups and the groups nested in them, resolved as
// GroupUsersTransitive resolves them (a deprovisioned group grants
// nothing). It reads each assigned group's nesting in one query and the
// members of all of them in one query per directory. Unknown app:
// store.ErrNotFound.
func (s *Store) AppUsers(ctx context.Context, appID int64) ([]string, error) {
	what := fmt.Sprintf("reading the users of app %d", appID)
	ok, err := s.rd.exists(ctx, `SELECT 1 FROM apps WHERE id = ?`, appID)
	switch {
	case err != nil:
		return nil, fmt.Errorf("%s: %w", what, err)
	case !ok:
		return nil, notFound("app %d", appID)
	}
	rows, err := s.rd.query(ctx, `SELECT target_id FROM assignments WHERE app_id = ? AND kind = 'user'`, appID)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	direct, err := collect(rows, scanString, what)
	if err != nil {
		return nil, err
	}
	users := map[string]bool{}
	for _, id := range direct {
		users[id] = true
	}
	rows, err = s.rd.query(ctx, `SELECT target_id FROM assignments WHERE app_id = ? AND kind = 'group'`, appID)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	roots, err := collect(rows, scanString, what)
	if err != nil {
		return nil, err
	}
	groups := map[int64]map[string]bool{} // nested groups by directory
	for _, g := range roots {
		if err := s.nestDown(ctx, g, groups, what); err != nil {
			return nil, err
		}
	}
	if err := s.usersOfGroups(ctx, groups, users, what); err != nil {
		return nil, err
	}
	return slices.Sorted(maps.Keys(users)), nil
}

// scanInt64 scans a row of one integer column.
func scanInt64(sc scanner) (int64, error) {
	var v int64
	err := sc.Scan(&v)
	return v, err
}
