package sqlstore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/idsync/idsync/server/store"
)

const directoryCols = `id, name, kind, base_dn, user_filter, group_filter, mapping,
	safeguard_percent, safeguard_max, capture_strategy, poll_interval_ms, full_import_interval_ms, created_at, mastered, write_back, initial_password, retention_ms, password_policy, csv_layout`

func scanDirectory(sc scanner) (*store.Directory, error) {
	d := &store.Directory{}
	var password []byte
	err := sc.Scan(&d.ID, &d.Name, &d.Kind, &d.BaseDN, &d.UserFilter, &d.GroupFilter,
		scanJSON{&d.Mapping, "mapping"}, &d.SafeguardPercent, &d.SafeguardMax, &d.CaptureStrategy,
		scanMillis{&d.PollInterval}, scanMillis{&d.FullImportInterval}, scanTime{&d.CreatedAt},
		scanJSON{&d.Mastered, "mastered fields"}, scanJSON{&d.WriteBack, "write-back settings"}, &password,
		scanMillis{&d.Retention}, &d.PasswordPolicy, scanJSON{&d.CSV, "csv layout"})
	if d.WriteBack != nil && len(password) > 0 {
		d.WriteBack.InitialPassword = password
	}
	return d, err
}

// writeBackArgs are the write_back and initial_password values of d.
func writeBackArgs(d *store.Directory) (wb any, password []byte, err error) {
	if d.WriteBack == nil {
		return nil, nil, nil
	}
	wb, err = jsonArg(d.WriteBack, false)
	if err != nil {
		return nil, nil, fmt.Errorf("encoding the write-back settings of directory %q: %w", d.Name, err)
	}
	if len(d.WriteBack.InitialPassword) > 0 {
		password = d.WriteBack.InitialPassword
	}
	return wb, password, nil
}

// CreateDirectory inserts d and sets d.ID and d.CreatedAt. A taken name is
// store.ErrConflict. Intervals are kept to the millisecond.
func (s *Store) CreateDirectory(ctx context.Context, d *store.Directory) error {
	mapping, err := jsonArg(d.Mapping, false)
	if err != nil {
		return fmt.Errorf("encoding the mapping of directory %q: %w", d.Name, err)
	}
	mastered, err := jsonArg(d.Mastered, len(d.Mastered) == 0)
	if err != nil {
		return fmt.Errorf("encoding the mastered fields of directory %q: %w", d.Name, err)
	}
	wb, password, err := writeBackArgs(d)
	if err != nil {
		return err
	}
	layout, err := jsonArg(d.CSV, d.CSV == nil)
	if err != nil {
		return fmt.Errorf("encoding the csv layout of directory %q: %w", d.Name, err)
	}
	created := now()
	err = s.wr.row(ctx, `INSERT INTO directories (name, kind, base_dn, user_filter, group_filter, mapping,
		safeguard_percent, safeguard_max, capture_strategy, poll_interval_ms, full_import_interval_ms, created_at, mastered,
		write_back, initial_password, retention_ms, password_policy, csv_layout)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		d.Name, string(d.Kind), d.BaseDN, d.UserFilter, d.GroupFilter, mapping,
		d.SafeguardPercent, d.SafeguardMax, d.CaptureStrategy, millisArg(d.PollInterval),
		millisArg(d.FullImportInterval), s.wr.t(created), mastered, wb, password, d.Retention.Milliseconds(),
		d.PasswordPolicy, layout).Scan(&d.ID)
	if err != nil {
		return s.uniqueConflict(err, "creating directory %q", d.Name)
	}
	d.CreatedAt = created
	return nil
}

// UpdateDirectory replaces the settings (name included) of the directory
// with d.ID. Unknown id: store.ErrNotFound; a taken name: store.ErrConflict.
func (s *Store) UpdateDirectory(ctx context.Context, d *store.Directory) error {
	mapping, err := jsonArg(d.Mapping, false)
	if err != nil {
		return fmt.Errorf("encoding the mapping of directory %q: %w", d.Name, err)
	}
	mastered, err := jsonArg(d.Mastered, len(d.Mastered) == 0)
	if err != nil {
		return fmt.Errorf("encoding the mastered fields of directory %q: %w", d.Name, err)
	}
	wb, password, err := writeBackArgs(d)
	if err != nil {
		return err
	}
	layout, err := jsonArg(d.CSV, d.CSV == nil)
	if err != nil {
		return fmt.Errorf("encoding the csv layout of directory %q: %w", d.Name, err)
	}
	n, err := s.wr.execN(ctx, `UPDATE directories SET name = ?, kind = ?, base_dn = ?, user_filter = ?,
		group_filter = ?, mapping = ?, safeguard_percent = ?, safeguard_max = ?, capture_strategy = ?,
		poll_interval_ms = ?, full_import_interval_ms = ?, mastered = ?, write_back = ?, initial_password = ?,
		retention_ms = ?, password_policy = ?, csv_layout = ? WHERE id = ?`,
		d.Name, string(d.Kind), d.BaseDN, d.UserFilter, d.GroupFilter, mapping,
		d.SafeguardPercent, d.SafeguardMax, d.CaptureStrategy, millisArg(d.PollInterval),
		millisArg(d.FullImportInterval), mastered, wb, password, d.Retention.Milliseconds(), d.PasswordPolicy, layout, d.ID)
	if err != nil {
		return s.uniqueConflict(err, "updating directory %d (%q)", d.ID, d.Name)
	}
	if n == 0 {
		return notFound("directory %d", d.ID)
	}
	return nil
}

// GetDirectory returns a directory by name, or store.ErrNotFound.
func (s *Store) GetDirectory(ctx context.Context, name string) (*store.Directory, error) {
	d, err := scanDirectory(s.rd.row(ctx, `SELECT `+directoryCols+` FROM directories WHERE name = ?`, name))
	if err != nil {
		return nil, noRows(err, "directory %q", name)
	}
	return d, nil
}

// GetDirectoryByID returns a directory by id, or store.ErrNotFound.
func (s *Store) GetDirectoryByID(ctx context.Context, id int64) (*store.Directory, error) {
	d, err := scanDirectory(s.rd.row(ctx, `SELECT `+directoryCols+` FROM directories WHERE id = ?`, id))
	if err != nil {
		return nil, noRows(err, "directory %d", id)
	}
	return d, nil
}

// SetSourceToken stores the hash of a SCIM source's bearer token,
// replacing the one it had. Unknown directory: store.ErrNotFound.
func (s *Store) SetSourceToken(ctx context.Context, directoryID int64, hash []byte) error {
	n, err := s.wr.execN(ctx, `UPDATE directories SET source_token_hash = ? WHERE id = ?`, hash, directoryID)
	if err != nil {
		return s.uniqueConflict(err, "setting the token of directory %d", directoryID)
	}
	if n == 0 {
		return notFound("directory %d", directoryID)
	}
	return nil
}

// DirectoryBySourceToken returns the directory whose source token has this
// hash, or store.ErrNotFound.
func (s *Store) DirectoryBySourceToken(ctx context.Context, hash []byte) (*store.Directory, error) {
	if len(hash) == 0 {
		return nil, notFound("source token")
	}
	d, err := scanDirectory(s.rd.row(ctx, `SELECT `+directoryCols+` FROM directories WHERE source_token_hash = ?`, hash))
	if err != nil {
		return nil, noRows(err, "source token")
	}
	return d, nil
}

// ListDirectories returns all directories ordered by name.
func (s *Store) ListDirectories(ctx context.Context) ([]*store.Directory, error) {
	rows, err := s.rd.query(ctx, `SELECT `+directoryCols+` FROM directories ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("listing directories: %w", err)
	}
	return collect(rows, scanDirectory, "listing directories")
}

// directoryStatsQuery counts a directory's objects by status and kind,
// grouped in objects_directory_counts' order: read from that index alone,
// without a sort. Argument: the directory id.
const directoryStatsQuery = `SELECT kind, status, COUNT(*) FROM objects WHERE directory_id = ? GROUP BY status, kind`

// DirectoryStats counts a directory's users per status and its groups that
// are not deprovisioned. Unknown directory: store.ErrNotFound.
func (s *Store) DirectoryStats(ctx context.Context, directoryID int64) (store.DirectoryStats, error) {
	var st store.DirectoryStats
	ok, err := s.rd.exists(ctx, `SELECT 1 FROM directories WHERE id = ?`, directoryID)
	if err != nil {
		return st, fmt.Errorf("reading directory %d: %w", directoryID, err)
	}
	if !ok {
		return st, notFound("directory %d", directoryID)
	}
	rows, err := s.rd.query(ctx, directoryStatsQuery, directoryID)
	if err != nil {
		return st, fmt.Errorf("counting the objects of directory %d: %w", directoryID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var kind store.ObjectKind
		var status store.Status
		var n int64
		if err := rows.Scan(&kind, &status, &n); err != nil {
			return st, fmt.Errorf("counting the objects of directory %d: %w", directoryID, err)
		}
		switch {
		case kind == store.ObjectGroup && status != store.StatusDeprovisioned:
			st.Groups += n
		case kind == store.ObjectUser && status == store.StatusActive:
			st.Active += n
		case kind == store.ObjectUser && status == store.StatusSuspended:
			st.Suspended += n
		case kind == store.ObjectUser && status == store.StatusDeprovisioned:
			st.Deprovisioned += n
		}
	}
	return st, rows.Err()
}

// collect scans every row with scan and closes rows.
func collect[T any](rows *sql.Rows, scan func(scanner) (T, error), what string) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

// maxPasswordDigests is how many digests a user keeps per directory.
const maxPasswordDigests = 24

// PasswordDigests returns the digests of the passwords the hub set for a
// user in a directory, newest first.
func (s *Store) PasswordDigests(ctx context.Context, directoryID int64, userID string) ([]store.PasswordDigest, error) {
	rows, err := s.rd.query(ctx, `SELECT salt, digest, created_at FROM password_history
		WHERE directory_id = ? AND user_id = ? ORDER BY id DESC LIMIT ?`, directoryID, userID, maxPasswordDigests)
	if err != nil {
		return nil, fmt.Errorf("reading the password digests of user %s in directory %d: %w", userID, directoryID, err)
	}
	return collect(rows, func(sc scanner) (store.PasswordDigest, error) {
		var d store.PasswordDigest
		err := sc.Scan(&d.Salt, &d.Sum, scanTime{&d.At})
		return d, err
	}, "reading password digests")
}

// AddPasswordDigest records the digest of a password the hub set for a
// user in a directory, keeping the newest maxPasswordDigests. Unknown
// directory: store.ErrNotFound.
func (s *Store) AddPasswordDigest(ctx context.Context, directoryID int64, userID string, d store.PasswordDigest) error {
	return s.inTx(ctx, func(tx runner) error {
		at := d.At
		if at.IsZero() {
			at = now()
		}
		if _, err := tx.exec(ctx, `INSERT INTO password_history (directory_id, user_id, salt, digest, created_at)
			VALUES (?, ?, ?, ?, ?)`, directoryID, userID, d.Salt, d.Sum, tx.t(at)); err != nil {
			return s.refErr(err, "recording a password digest of user %s in directory %d", userID, directoryID)
		}
		_, err := tx.exec(ctx, `DELETE FROM password_history WHERE directory_id = ? AND user_id = ? AND id NOT IN
			(SELECT id FROM password_history WHERE directory_id = ? AND user_id = ? ORDER BY id DESC LIMIT ?)`,
			directoryID, userID, directoryID, userID, maxPasswordDigests)
		if err != nil {
			return fmt.Errorf("pruning the password digests of user %s in directory %d: %w", userID, directoryID, err)
		}
		return nil
	})
}
