package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/idsync/idsync/server/store"
)

const accountCols = `app_id, user_id, remote_id, state, pushed, hash, linked, last_error, created_at,
	updated_at, deactivated_at`

// accountUpsert inserts or replaces the account of (app, user); arguments:
// the values of accountCols.
const accountUpsert = `INSERT INTO accounts (` + accountCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)` + accountConflict

// accountConflict is the tail of an account upsert: an existing account
// keeps its created_at.
const accountConflict = `
	ON CONFLICT (app_id, user_id) DO UPDATE SET remote_id = excluded.remote_id, state = excluded.state,
	pushed = excluded.pushed, hash = excluded.hash, linked = excluded.linked,
	last_error = excluded.last_error, updated_at = excluded.updated_at,
	deactivated_at = excluded.deactivated_at`

// accountsUpsert is accountUpsert for n accounts, none twice.
func accountsUpsert(n int) string {
	return `INSERT INTO accounts (` + accountCols + `) VALUES ` + rowMarks(n, 11) + accountConflict
}

func scanAccount(sc scanner) (*store.Account, error) {
	a := &store.Account{}
	err := sc.Scan(&a.AppID, &a.UserID, &a.RemoteID, &a.State, &a.Pushed, &a.Hash, &a.Linked, &a.LastError,
		scanTime{&a.CreatedAt}, scanTime{&a.UpdatedAt}, scanTime{&a.DeactivatedAt})
	return a, err
}

// GetAccount returns the account of a user in an app, or
// store.ErrNotFound.
func (s *Store) GetAccount(ctx context.Context, appID int64, userID string) (*store.Account, error) {
	a, err := scanAccount(s.rd.row(ctx, `SELECT `+accountCols+` FROM accounts WHERE app_id = ? AND user_id = ?`,
		appID, userID))
	if err != nil {
		return nil, noRows(err, "account of user %s in app %d", userID, appID)
	}
	return a, nil
}

// GetAccounts returns the accounts of an app of the users of userIDs
// that have one, ordered by user id: a few statements, however many users.
func (s *Store) GetAccounts(ctx context.Context, appID int64, userIDs []string) ([]*store.Account, error) {
	out, err := queryIn(ctx, s.rd, `SELECT `+accountCols+` FROM accounts WHERE app_id = ? AND user_id IN (`,
		[]any{appID}, userIDs, scanAccount, fmt.Sprintf("reading the accounts of %d users in app %d", len(userIDs), appID))
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b *store.Account) int { return strings.Compare(a.UserID, b.UserID) })
	return slices.CompactFunc(out, func(a, b *store.Account) bool { return a.UserID == b.UserID }), nil
}

// GetAccountByRemoteID returns the account of an app with this remote id,
// or store.ErrNotFound (also for an empty remote id).
func (s *Store) GetAccountByRemoteID(ctx context.Context, appID int64, remoteID string) (*store.Account, error) {
	a, err := scanAccount(s.rd.row(ctx, `SELECT `+accountCols+` FROM accounts
		WHERE app_id = ? AND remote_id = ? AND remote_id <> ''`, appID, remoteID))
	if err != nil {
		return nil, noRows(err, "account %q in app %d", remoteID, appID)
	}
	return a, nil
}

// PutAccount inserts or replaces the account of (a.AppID, a.UserID) and
// sets a.UpdatedAt to now, and a.CreatedAt to now when the account is new
// (otherwise to the stored one). An unknown app, or a user the hub has
// not and no account of it exists (a purged user's stays until its job
// deletes it in the app), is store.ErrNotFound; a remote id another account of the app holds is
// store.ErrConflict.
func (s *Store) PutAccount(ctx context.Context, a *store.Account) error {
	t := now()
	err := s.inTx(ctx, func(tx runner) error {
		// A new account is of a user the hub has; an existing one may
		// outlive its user (purged, its job deleting it in the app).
		ok, err := tx.exists(ctx, `SELECT 1 FROM objects WHERE id = ? AND kind = 'user'
			UNION ALL SELECT 1 FROM accounts WHERE app_id = ? AND user_id = ?`, a.UserID, a.AppID, a.UserID)
		if err != nil {
			return err
		}
		if !ok {
			return notFound("no user %s", a.UserID)
		}
		return tx.row(ctx, accountUpsert+` RETURNING created_at`,
			a.AppID, a.UserID, a.RemoteID, string(a.State), a.Pushed, a.Hash, a.Linked, a.LastError,
			tx.t(t), tx.t(t), tx.t(a.DeactivatedAt)).Scan(scanTime{&a.CreatedAt})
	})
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("storing the account of user %s in app %d: %w", a.UserID, a.AppID, err)
	}
	if err != nil {
		return s.refErr(err, "storing the account of user %s in app %d", a.UserID, a.AppID)
	}
	a.UpdatedAt = t
	return nil
}

// ListAccounts returns the accounts f selects ordered by user id, then app
// (f.AppID 0: all apps), after f.AfterUserID, at most f.Limit (0: all).
func (s *Store) ListAccounts(ctx context.Context, f store.AccountFilter) ([]*store.Account, error) {
	var w where
	w.add(f.AppID != 0, "app_id = ?", f.AppID)
	w.add(f.State != "", "state = ?", string(f.State))
	w.add(f.AfterUserID != "", "user_id > ?", f.AfterUserID)
	w.add(f.UserIDs != nil, inMarks("user_id", len(f.UserIDs)), anys(f.UserIDs)...)
	q, args := `SELECT `+accountCols+` FROM accounts`+w.String()+" ORDER BY user_id, app_id", w.args
	if f.Limit > 0 {
		q, args = q+" LIMIT ?", append(args, f.Limit)
	}
	rows, err := s.rd.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("listing accounts: %w", err)
	}
	return collect(rows, scanAccount, "listing accounts")
}

// CountAccounts counts accounts per app and state, ordered by app and
// state.
func (s *Store) CountAccounts(ctx context.Context) ([]store.AccountCount, error) {
	rows, err := s.rd.query(ctx, `SELECT app_id, state, COUNT(*) FROM accounts GROUP BY app_id, state
		ORDER BY app_id, state`)
	if err != nil {
		return nil, fmt.Errorf("counting accounts: %w", err)
	}
	return collect(rows, func(sc scanner) (store.AccountCount, error) {
		var c store.AccountCount
		err := sc.Scan(&c.AppID, &c.State, &c.Count)
		return c, err
	}, "counting accounts")
}

// PutUnmatched replaces the unmatched accounts of an app in one
// transaction (a remote id given twice keeps its last entry). Unknown app:
// store.ErrNotFound.
func (s *Store) PutUnmatched(ctx context.Context, appID int64, accounts []store.RemoteAccount) error {
	last := make(map[string]store.RemoteAccount, len(accounts))
	for _, a := range accounts {
		last[a.RemoteID] = a
	}
	return s.inTx(ctx, func(tx runner) error {
		if _, err := tx.exec(ctx, `DELETE FROM unmatched WHERE app_id = ?`, appID); err != nil {
			return fmt.Errorf("clearing the unmatched accounts of app %d: %w", appID, err)
		}
		return chunks(slices.Sorted(maps.Keys(last)), s.d.MaxParams/4, func(part []string) error {
			args := make([]any, 0, 4*len(part))
			for _, id := range part {
				a := last[id]
				args = append(args, appID, a.RemoteID, a.UserName, a.Email)
			}
			_, err := tx.exec(ctx, `INSERT INTO unmatched (app_id, remote_id, user_name, email) VALUES `+
				rowMarks(len(part), 4), args...)
			if err != nil {
				return s.refErr(err, "storing the unmatched accounts of app %d", appID)
			}
			return nil
		})
	})
}

// ListUnmatched returns the unmatched accounts of an app ordered by user
// name, then remote id.
func (s *Store) ListUnmatched(ctx context.Context, appID int64) ([]store.RemoteAccount, error) {
	rows, err := s.rd.query(ctx, `SELECT remote_id, user_name, email FROM unmatched WHERE app_id = ?
		ORDER BY user_name, remote_id`, appID)
	if err != nil {
		return nil, fmt.Errorf("listing the unmatched accounts of app %d: %w", appID, err)
	}
	return collect(rows, func(sc scanner) (store.RemoteAccount, error) {
		var a store.RemoteAccount
		err := sc.Scan(&a.RemoteID, &a.UserName, &a.Email)
		return a, err
	}, fmt.Sprintf("listing the unmatched accounts of app %d", appID))
}

// PutPushedGroup records the app group a hub group is pushed to: a new
// one with g.CreatedAt now, a known one with what its push knows replaced
// (and g.CreatedAt and g.CheckAt set to the stored ones); what an import
// found is cleared when the push read the group after it (CheckedAt not
// before FoundAt), else kept (g.Found is not written). An unknown app
// or group is store.ErrNotFound.
func (s *Store) PutPushedGroup(ctx context.Context, g *store.PushedGroup) error {
	missing, err := jsonArg(g.Missing, len(g.Missing) == 0)
	if err != nil {
		return fmt.Errorf("storing pushed group %s of app %d: %w", g.GroupID, g.AppID, err)
	}
	err = s.wr.row(ctx, `INSERT INTO pushed_groups (app_id, group_id, remote_id, display_name, missing, checked_at, drift,
		drift_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (app_id, group_id) DO UPDATE SET remote_id = excluded.remote_id, display_name = excluded.display_name,
		missing = excluded.missing, checked_at = excluded.checked_at, drift = excluded.drift, drift_at = excluded.drift_at,
		found = CASE WHEN pushed_groups.found_at <= excluded.checked_at THEN '' ELSE pushed_groups.found END,
		found_at = CASE WHEN pushed_groups.found_at <= excluded.checked_at THEN NULL ELSE pushed_groups.found_at END
		RETURNING created_at, check_at`,
		g.AppID, g.GroupID, g.RemoteID, g.DisplayName, missing, s.wr.t(g.CheckedAt), g.Drift, s.wr.t(g.DriftAt),
		s.wr.t(now())).Scan(scanTime{&g.CreatedAt}, scanTime{&g.CheckAt})
	if err != nil {
		return s.refErr(err, "storing pushed group %s of app %d", g.GroupID, g.AppID)
	}
	return nil
}

// CheckPushedGroups sets CheckAt of an app's pushed groups.
func (s *Store) CheckPushedGroups(ctx context.Context, appID int64, at time.Time) error {
	if _, err := s.wr.exec(ctx, `UPDATE pushed_groups SET check_at = ? WHERE app_id = ?`, s.wr.t(at), appID); err != nil {
		return fmt.Errorf("asking for a check of the pushed groups of app %d: %w", appID, err)
	}
	return nil
}

// ListPushedGroups returns an app's pushed groups ordered by group id.
func (s *Store) ListPushedGroups(ctx context.Context, appID int64) ([]*store.PushedGroup, error) {
	rows, err := s.rd.query(ctx, `SELECT `+pushedGroupCols+` FROM pushed_groups WHERE app_id = ? ORDER BY group_id`, appID)
	if err != nil {
		return nil, fmt.Errorf("listing the pushed groups of app %d: %w", appID, err)
	}
	return collect(rows, scanPushedGroup, fmt.Sprintf("listing the pushed groups of app %d", appID))
}

// PushesOfGroup returns the records of a hub group pushed to apps, ordered
// by app id.
func (s *Store) PushesOfGroup(ctx context.Context, groupID string) ([]*store.PushedGroup, error) {
	rows, err := s.rd.query(ctx, `SELECT `+pushedGroupCols+` FROM pushed_groups WHERE group_id = ? ORDER BY app_id`, groupID)
	if err != nil {
		return nil, fmt.Errorf("listing the apps group %s is pushed to: %w", groupID, err)
	}
	return collect(rows, scanPushedGroup, fmt.Sprintf("listing the apps group %s is pushed to", groupID))
}

const pushedGroupCols = `app_id, group_id, remote_id, display_name, missing, check_at, checked_at, drift, drift_at,
	found, found_at, created_at`

func scanPushedGroup(sc scanner) (*store.PushedGroup, error) {
	g := &store.PushedGroup{}
	err := sc.Scan(&g.AppID, &g.GroupID, &g.RemoteID, &g.DisplayName, scanJSON{&g.Missing, "missing members"},
		scanTime{&g.CheckAt}, scanTime{&g.CheckedAt}, &g.Drift, scanTime{&g.DriftAt}, &g.Found, scanTime{&g.FoundAt},
		scanTime{&g.CreatedAt})
	return g, err
}

// NotePushedGroupDrift records what an import found a pushed group gained
// or lost in the app. Unknown: store.ErrNotFound.
func (s *Store) NotePushedGroupDrift(ctx context.Context, appID int64, groupID, found string, at time.Time) error {
	n, err := s.wr.execN(ctx, `UPDATE pushed_groups SET found = ?, found_at = ? WHERE app_id = ? AND group_id = ?`,
		found, s.wr.t(at), appID, groupID)
	if err != nil {
		return fmt.Errorf("recording what the import found of pushed group %s of app %d: %w", groupID, appID, err)
	}
	if n == 0 {
		return notFound("pushed group %s of app %d", groupID, appID)
	}
	return nil
}

// PutAppGroups replaces the groups an app holds of its own, in one
// transaction (a remote id given twice keeps its last entry). Unknown app:
// store.ErrNotFound.
func (s *Store) PutAppGroups(ctx context.Context, appID int64, groups []*store.AppGroup) error {
	last := make(map[string]*store.AppGroup, len(groups))
	for _, g := range groups {
		last[g.RemoteID] = g
	}
	at := s.wr.t(now())
	return s.inTx(ctx, func(tx runner) error {
		if _, err := tx.exec(ctx, `DELETE FROM app_groups WHERE app_id = ?`, appID); err != nil {
			return fmt.Errorf("clearing the groups of app %d: %w", appID, err)
		}
		return chunks(slices.Sorted(maps.Keys(last)), s.d.MaxParams/7, func(part []string) error {
			args := make([]any, 0, 7*len(part))
			for _, id := range part {
				g := last[id]
				members, err := jsonArg(g.Members, len(g.Members) == 0)
				if err != nil {
					return fmt.Errorf("storing group %s of app %d: %w", id, appID, err)
				}
				args = append(args, appID, g.RemoteID, g.DisplayName, g.ExternalID, members, g.Unlinked, at)
			}
			_, err := tx.exec(ctx, `INSERT INTO app_groups (app_id, remote_id, display_name, external_id, members, unlinked,
				imported_at) VALUES `+rowMarks(len(part), 7), args...)
			if err != nil {
				return s.refErr(err, "storing the groups of app %d", appID)
			}
			return nil
		})
	})
}

// ListAppGroups returns the groups an app holds of its own, ordered by
// display name, then remote id.
func (s *Store) ListAppGroups(ctx context.Context, appID int64) ([]*store.AppGroup, error) {
	rows, err := s.rd.query(ctx, `SELECT app_id, remote_id, display_name, external_id, members, unlinked, imported_at
		FROM app_groups WHERE app_id = ? ORDER BY display_name, remote_id`, appID)
	if err != nil {
		return nil, fmt.Errorf("listing the groups of app %d: %w", appID, err)
	}
	return collect(rows, func(sc scanner) (*store.AppGroup, error) {
		g := &store.AppGroup{}
		err := sc.Scan(&g.AppID, &g.RemoteID, &g.DisplayName, &g.ExternalID, scanJSON{&g.Members, "members"}, &g.Unlinked,
			scanTime{&g.ImportedAt})
		return g, err
	}, fmt.Sprintf("listing the groups of app %d", appID))
}

// DeletePushedGroup forgets a pushed group and its members. Unknown:
// store.ErrNotFound.
func (s *Store) DeletePushedGroup(ctx context.Context, appID int64, groupID string) error {
	return s.inTx(ctx, func(tx runner) error {
		if _, err := tx.exec(ctx, `DELETE FROM pushed_members WHERE app_id = ? AND group_id = ?`, appID, groupID); err != nil {
			return fmt.Errorf("forgetting the members of pushed group %s of app %d: %w", groupID, appID, err)
		}
		n, err := tx.execN(ctx, `DELETE FROM pushed_groups WHERE app_id = ? AND group_id = ?`, appID, groupID)
		if err != nil {
			return fmt.Errorf("forgetting pushed group %s of app %d: %w", groupID, appID, err)
		}
		if n == 0 {
			return notFound("pushed group %s of app %d", groupID, appID)
		}
		return nil
	})
}

// PushedMembers returns the user ids idsync last put into an app group,
// ordered by id.
func (s *Store) PushedMembers(ctx context.Context, appID int64, groupID string) ([]string, error) {
	rows, err := s.rd.query(ctx, `SELECT user_id FROM pushed_members WHERE app_id = ? AND group_id = ?
		ORDER BY user_id`, appID, groupID)
	if err != nil {
		return nil, fmt.Errorf("reading the members of pushed group %s of app %d: %w", groupID, appID, err)
	}
	return collect(rows, scanString, fmt.Sprintf("reading the members of pushed group %s of app %d", groupID, appID))
}

// SetPushedMembers adds add to and then removes remove from the pushed
// members of an app group, in one transaction, writing only the rows that
// change (an id in both ends up removed). A group that is not pushed is
// store.ErrNotFound.
func (s *Store) SetPushedMembers(ctx context.Context, appID int64, groupID string, add, remove []string) error {
	what := fmt.Sprintf("setting the members of pushed group %s of app %d", groupID, appID)
	add = slices.Compact(slices.Sorted(slices.Values(add)))
	remove = slices.Compact(slices.Sorted(slices.Values(remove)))
	return s.inTx(ctx, func(tx runner) error {
		ok, err := tx.exists(ctx, `SELECT 1 FROM pushed_groups WHERE app_id = ? AND group_id = ?`, appID, groupID)
		switch {
		case err != nil:
			return fmt.Errorf("%s: %w", what, err)
		case !ok:
			return notFound("pushed group %s of app %d", groupID, appID)
		}
		err = chunks(add, s.d.MaxParams/3, func(part []string) error {
			args := make([]any, 0, 3*len(part))
			for _, id := range part {
				args = append(args, appID, groupID, id)
			}
			_, err := tx.exec(ctx, `INSERT INTO pushed_members (app_id, group_id, user_id) VALUES `+
				rowMarks(len(part), 3)+` ON CONFLICT (app_id, group_id, user_id) DO NOTHING`, args...)
			return err
		})
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		err = chunks(remove, s.d.MaxParams-2, func(part []string) error {
			_, err := tx.exec(ctx, `DELETE FROM pushed_members WHERE app_id = ? AND group_id = ? AND user_id IN (`+
				marks(len(part))+`)`, append([]any{appID, groupID}, anys(part)...)...)
			return err
		})
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	})
}

// PutDirectoryWrite inserts or replaces the record of (w.AppID, w.UserID).
func (s *Store) PutDirectoryWrite(ctx context.Context, w *store.DirectoryWrite) error {
	_, err := s.wr.exec(ctx, `INSERT INTO directory_writes (app_id, user_id, directory_id, dn_key, external_id)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT (app_id, user_id) DO UPDATE SET directory_id = excluded.directory_id,
		dn_key = excluded.dn_key, external_id = excluded.external_id`,
		w.AppID, w.UserID, w.DirectoryID, w.DNKey, w.ExternalID)
	if err != nil {
		return fmt.Errorf("recording the entry app %d writes for user %s: %w", w.AppID, w.UserID, err)
	}
	return nil
}

// WrittenObjects returns the external ids and DN keys of directory that
// are entries apps wrote, each with the hub user written; a DN key counts
// only for an entry whose id is not known yet. A directory no app writes
// to costs one probe.
func (s *Store) WrittenObjects(ctx context.Context, directoryID int64, externalIDs, dnKeys []string) (map[string]string, error) {
	out := map[string]string{}
	if len(externalIDs)+len(dnKeys) == 0 {
		return out, nil
	}
	var n int
	err := s.rd.row(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM directory_writes WHERE directory_id = ? LIMIT 1) w`, directoryID).Scan(&n)
	if err != nil {
		return nil, fmt.Errorf("looking for entries written into directory %d: %w", directoryID, err)
	}
	if n == 0 {
		return out, nil
	}
	// A DN names an entry only until the directory gave its id: the DN
	// may later be another entry's (a rename, a delete, a namesake). Both
	// keys are looked up in one statement, one snapshot: with a query per
	// kind of key, a record that took its id between the two (the
	// directory's answer to the create, stored while its entry comes back
	// on the change stream) matched neither, and the hub made a second
	// user of the entry it wrote. The keys at the same index — one
	// object's id and DN key, as the change stream passes them — share a
	// statement however many there are.
	what := fmt.Sprintf("looking for entries written into directory %d", directoryID)
	step := (s.d.MaxParams - 1) / 2
	for i := 0; i < max(len(externalIDs), len(dnKeys)); i += step {
		window := func(keys []string) []string { return keys[min(i, len(keys)):min(i+step, len(keys))] }
		ids, keys := window(externalIDs), window(dnKeys)
		var cond []string
		args := []any{directoryID}
		if len(ids) > 0 {
			cond = append(cond, `external_id IN (`+marks(len(ids))+`)`)
			args = append(args, anys(ids)...)
		}
		if len(keys) > 0 {
			cond = append(cond, `(external_id = '' AND dn_key IN (`+marks(len(keys))+`))`)
			args = append(args, anys(keys)...)
		}
		rows, err := s.rd.query(ctx, `SELECT external_id, dn_key, user_id FROM directory_writes WHERE directory_id = ? AND (`+
			strings.Join(cond, " OR ")+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		found, err := collect(rows, func(sc scanner) (writtenKey, error) {
			var ext, dnKey string
			var w writtenKey
			err := sc.Scan(&ext, &dnKey, &w.user)
			w.key = cmp.Or(ext, dnKey) // the DN key counts only before the id is known
			return w, err
		}, what)
		if err != nil {
			return nil, err
		}
		for _, w := range found {
			out[w.key] = w.user
		}
	}
	return out, nil
}

// writtenKey is a key WrittenObjects found (the entry's id, or its DN key
// before the id is known) with the hub user the entry is of.
type writtenKey struct{ key, user string }

// DeleteDirectoryWrite forgets the record of (appID, userID).
func (s *Store) DeleteDirectoryWrite(ctx context.Context, appID int64, userID string) error {
	if _, err := s.wr.exec(ctx, `DELETE FROM directory_writes WHERE app_id = ? AND user_id = ?`, appID, userID); err != nil {
		return fmt.Errorf("forgetting the entry app %d writes for user %s: %w", appID, userID, err)
	}
	return nil
}

const directoryWriteCols = `app_id, user_id, directory_id, dn_key, external_id`

func scanDirectoryWrite(sc scanner) (*store.DirectoryWrite, error) {
	w := &store.DirectoryWrite{}
	return w, sc.Scan(&w.AppID, &w.UserID, &w.DirectoryID, &w.DNKey, &w.ExternalID)
}

// FindDirectoryWrite returns app appID's record of the entry externalID,
// else of the create in flight at dnKey.
func (s *Store) FindDirectoryWrite(ctx context.Context, appID int64, externalID, dnKey string) (*store.DirectoryWrite, error) {
	if externalID != "" {
		w, err := scanDirectoryWrite(s.rd.row(ctx, `SELECT `+directoryWriteCols+` FROM directory_writes
			WHERE app_id = ? AND external_id = ?`, appID, externalID))
		if err == nil {
			return w, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("reading entry %s written by app %d: %w", externalID, appID, err)
		}
	}
	if dnKey == "" {
		return nil, notFound("entry %s written by app %d", externalID, appID)
	}
	w, err := scanDirectoryWrite(s.rd.row(ctx, `SELECT `+directoryWriteCols+` FROM directory_writes
		WHERE app_id = ? AND external_id = '' AND dn_key = ?`, appID, dnKey))
	if err != nil {
		return nil, noRows(err, "entry %s (%s) written by app %d", externalID, dnKey, appID)
	}
	return w, nil
}

// EntryWrites returns every app's record of the entry externalID of
// directoryID, by app id.
func (s *Store) EntryWrites(ctx context.Context, directoryID int64, externalID string) ([]*store.DirectoryWrite, error) {
	rows, err := s.rd.query(ctx, `SELECT `+directoryWriteCols+` FROM directory_writes
		WHERE directory_id = ? AND external_id = ? ORDER BY app_id`, directoryID, externalID)
	if err != nil {
		return nil, fmt.Errorf("reading the apps that wrote entry %s of directory %d: %w", externalID, directoryID, err)
	}
	defer rows.Close()
	var out []*store.DirectoryWrite
	for rows.Next() {
		w, err := scanDirectoryWrite(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	return out, rows.Err()
}
