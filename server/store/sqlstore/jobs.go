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
	"sync/atomic"
	"time"

	"github.com/idsync/idsync/server/store"
)

// The job queue. An app, kind and target has at most one open job (queued
// or running: the partial unique index jobs_open), into which Enqueue
// coalesces, and at most one dead job, the newest (jobs_dead). Claims
// lock the rows they pick with the dialect's SkipLocked, so claimers on
// several replicas pass over each other's rows; every change of a claimed
// job names its owner and state, so a worker whose lease expired and whose
// job another claimed cannot end it. Times come from the caller's clock
// where it passes one.

const jobCols = `id, app_id, kind, target, state, attempts, next_at, last_error, again, owner,
	lease_until, created_at, updated_at, finished_at`

func scanJob(sc scanner) (*store.Job, error) {
	j := &store.Job{}
	err := sc.Scan(&j.ID, &j.AppID, &j.Kind, &j.Target, &j.State, &j.Attempts, scanTime{&j.NextAt},
		&j.LastError, &j.Again, &j.Owner, scanTime{&j.LeaseUntil}, scanTime{&j.CreatedAt},
		scanTime{&j.UpdatedAt}, scanTime{&j.FinishedAt})
	return j, err
}

// byNextAt orders jobs by NextAt, then id.
func byNextAt(a, b *store.Job) int {
	return cmp.Or(a.NextAt.Compare(b.NextAt), cmp.Compare(a.ID, b.ID))
}

// Enqueue asks for (app, kind, target) to be made right at now. A queued
// job of the triple is kept, with its NextAt moved to now when that is
// earlier — unless it waits after a failure (last_error set: a backoff or
// the app's Retry-After, which a new change must not cut short); a running one is marked Again; otherwise a new job is queued
// (beside a dead one, which stays). One statement decides, so concurrent
// calls coalesce too. Unknown app: store.ErrNotFound.
func (s *Store) Enqueue(ctx context.Context, appID int64, kind store.JobKind, target string, now time.Time) (*store.Job, error) {
	t := s.wr.t(now)
	j, err := scanJob(s.wr.row(ctx, `INSERT INTO jobs (app_id, kind, target, state, next_at, created_at, updated_at)
		VALUES (?, ?, ?, 'queued', ?, ?, ?)
		ON CONFLICT (app_id, kind, target) WHERE state IN ('queued', 'running') DO UPDATE SET
		next_at = CASE WHEN jobs.state = 'queued' AND jobs.last_error = '' AND excluded.next_at < jobs.next_at
			THEN excluded.next_at ELSE jobs.next_at END,
		again = CASE WHEN jobs.state = 'running' THEN TRUE ELSE jobs.again END,
		updated_at = excluded.updated_at
		RETURNING `+jobCols, appID, string(kind), target, t, t, t))
	if err != nil {
		return nil, s.refErr(err, "enqueueing %s job %q of app %d", kind, target, appID)
	}
	return j, nil
}

// EnqueueMany is Enqueue for many targets of one app and kind, in one
// transaction of a few statements: a scope change of thousands of users
// queues them at once.
func (s *Store) EnqueueMany(ctx context.Context, appID int64, kind store.JobKind, targets []string, now time.Time) error {
	seen := make(map[string]bool, len(targets))
	uniq := make([]string, 0, len(targets))
	for _, t := range targets {
		if !seen[t] {
			seen[t] = true
			uniq = append(uniq, t)
		}
	}
	if len(uniq) == 0 {
		return nil
	}
	t := s.wr.t(now)
	err := s.inTx(ctx, func(tx runner) error {
		return chunks(uniq, s.d.MaxParams/7, func(part []string) error {
			args := make([]any, 0, 7*len(part))
			for _, target := range part {
				args = append(args, appID, string(kind), target, string(store.JobQueued), t, t, t)
			}
			_, err := tx.exec(ctx, `INSERT INTO jobs (app_id, kind, target, state, next_at, created_at, updated_at)
				VALUES `+rowMarks(len(part), 7)+`
				ON CONFLICT (app_id, kind, target) WHERE state IN ('queued', 'running') DO UPDATE SET
				next_at = CASE WHEN jobs.state = 'queued' AND jobs.last_error = '' AND excluded.next_at < jobs.next_at
					THEN excluded.next_at ELSE jobs.next_at END,
				again = CASE WHEN jobs.state = 'running' THEN TRUE ELSE jobs.again END,
				updated_at = excluded.updated_at`, args...)
			return err
		})
	})
	if err != nil {
		return s.refErr(err, "enqueueing %d %s jobs of app %d", len(uniq), kind, appID)
	}
	return nil
}

// ExtendJobLeases moves the leases of owner's running jobs among ids.
func (s *Store) ExtendJobLeases(ctx context.Context, owner string, ids []int64, until time.Time) error {
	err := chunks(ids, s.d.MaxParams-2, func(part []int64) error {
		args := []any{s.wr.t(until), owner}
		for _, id := range part {
			args = append(args, id)
		}
		_, err := s.wr.exec(ctx, `UPDATE jobs SET lease_until = ? WHERE owner = ? AND state = 'running' AND id IN (`+
			marks(len(part))+`)`, args...)
		return err
	})
	if err != nil {
		return fmt.Errorf("extending the leases of %d jobs: %w", len(ids), err)
	}
	return nil
}

// ReleaseJobs puts owner's running jobs back in the queue, due at now.
func (s *Store) ReleaseJobs(ctx context.Context, owner string, now time.Time) (int, error) {
	n, err := s.wr.execN(ctx, `UPDATE jobs SET state = 'queued', next_at = ?, owner = '', again = FALSE,
		lease_until = NULL, updated_at = ? WHERE owner = ? AND state = 'running'`, s.wr.t(now), s.wr.t(now), owner)
	if err != nil {
		return 0, fmt.Errorf("releasing the jobs of %s: %w", owner, err)
	}
	return int(n), nil
}

// pruneEvery is how often (in claims) a claim also prunes done jobs when
// the queue is busy; a claim that finds fewer jobs than it asked for
// always does.
const pruneEvery = 256

// pruneBatch bounds the done jobs one claim prunes.
const pruneBatch = 1000

// keepDone is how long done jobs are kept for the record.
const keepDone = 24 * time.Hour

// What ClaimJobs picks: queued jobs that are due, and running jobs whose
// lease expired (their worker died).
const (
	dueQueued  = `state = 'queued' AND next_at <= ?`
	dueExpired = `state = 'running' AND lease_until <= ?`
)

// pickQuery selects the ids and NextAt of an app's jobs that are due, in
// NextAt order, locking them with lock (the dialect's SkipLocked).
// Arguments: the app id, now, the limit.
func pickQuery(due, lock string) string {
	return `SELECT id, next_at FROM jobs WHERE app_id = ? AND ` + due + ` ORDER BY next_at, id LIMIT ?` + lock
}

// pruneQuery deletes done jobs finished before a time, at most a limit of
// them, passing over rows others hold (lock: the dialect's SkipLocked).
func pruneQuery(lock string) string {
	return `DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE state = 'done' AND finished_at < ? LIMIT ?` + lock + `)`
}

// claims counts ClaimJobs calls of all stores of the process, to prune now
// and then; any count would do.
var claims atomic.Uint64

// ClaimJobs takes up to limit (at least 1) due jobs of an app that is not
// paused: queued with NextAt at or before now, or running with a lease
// that expired at or before now (its worker died). It marks them running
// for owner until now+lease, adds one to their Attempts, and returns them
// ordered by NextAt and id. A paused app has none; an unknown app is
// store.ErrNotFound. It also prunes done jobs older than a day, a bounded
// number at a time, when the queue runs dry and every pruneEvery claims.
func (s *Store) ClaimJobs(ctx context.Context, appID int64, owner string, now time.Time, lease time.Duration, limit int) ([]*store.Job, error) {
	var out []*store.Job
	err := s.inTx(ctx, func(tx runner) error {
		var err error
		out, _, err = s.claimJobs(ctx, tx, appID, owner, now, lease, max(limit, 1))
		return err
	})
	return out, err
}

// CycleJobs completes c.Done as CompleteJobs does, then claims up to
// c.Limit jobs of c.AppID as ClaimJobs does (none when c.Limit is 0), in
// one transaction; see store.Store.
func (s *Store) CycleJobs(ctx context.Context, c store.JobCycle) (store.JobCycleResult, error) {
	var out store.JobCycleResult
	err := s.inTx(ctx, func(tx runner) error {
		out = store.JobCycleResult{}
		var err error
		if out.Completed, err = s.completeJobs(ctx, tx, c.Owner, c.Now, c.Done); err != nil {
			return err
		}
		if c.Limit > 0 {
			out.Claimed, out.App, err = s.claimJobs(ctx, tx, c.AppID, c.Owner, c.Now, c.Lease, c.Limit)
		}
		return err
	})
	if err != nil {
		return store.JobCycleResult{}, s.refErr(err, "completing %d jobs and claiming up to %d of app %d", len(c.Done), c.Limit, c.AppID)
	}
	return out, nil
}

// claimJobs is ClaimJobs in tx; it also returns the app's status and
// UpdatedAt as it read them.
func (s *Store) claimJobs(ctx context.Context, tx runner, appID int64, owner string, now time.Time, lease time.Duration, limit int) ([]*store.Job, store.AppStamp, error) {
	prune := claims.Add(1)%pruneEvery == 1
	var app store.AppStamp
	if err := tx.row(ctx, `SELECT status, updated_at FROM apps WHERE id = ?`, appID).Scan(&app.Status, scanTime{&app.UpdatedAt}); err != nil {
		return nil, app, noRows(err, "app %d", appID)
	}
	if app.Status == store.AppPaused {
		return nil, app, nil
	}
	// Two picks, each in NextAt order from the jobs_due index; the rows
	// picked but not taken stay locked until commit.
	var picked []*store.Job
	for _, due := range []string{dueQueued, dueExpired} {
		rows, err := tx.query(ctx, pickQuery(due, s.d.SkipLocked), appID, tx.t(now), limit)
		if err != nil {
			return nil, app, fmt.Errorf("picking jobs of app %d: %w", appID, err)
		}
		jobs, err := collect(rows, func(sc scanner) (*store.Job, error) {
			j := &store.Job{}
			err := sc.Scan(&j.ID, scanTime{&j.NextAt})
			return j, err
		}, fmt.Sprintf("picking jobs of app %d", appID))
		if err != nil {
			return nil, app, err
		}
		picked = append(picked, jobs...)
	}
	slices.SortFunc(picked, byNextAt)
	picked = picked[:min(limit, len(picked))]
	var out []*store.Job
	if len(picked) > 0 {
		ids := make([]any, len(picked))
		for i, j := range picked {
			ids[i] = j.ID
		}
		rows, err := tx.query(ctx, `UPDATE jobs SET state = 'running', owner = ?, lease_until = ?,
			attempts = attempts + 1, updated_at = ? WHERE id IN (`+marks(len(ids))+`) RETURNING `+jobCols,
			append([]any{owner, tx.t(now.Add(lease)), tx.t(now)}, ids...)...)
		if err != nil {
			return nil, app, fmt.Errorf("claiming jobs of app %d: %w", appID, err)
		}
		if out, err = collect(rows, scanJob, fmt.Sprintf("claiming jobs of app %d", appID)); err != nil {
			return nil, app, err
		}
		slices.SortFunc(out, byNextAt)
	}
	if prune || len(out) < limit {
		_, err := tx.exec(ctx, pruneQuery(s.d.SkipLocked), tx.t(now.Add(-keepDone)), pruneBatch)
		if err != nil {
			return nil, app, fmt.Errorf("pruning done jobs: %w", err)
		}
	}
	return out, app, nil
}

// jobMissing tells why a change of job id held by owner changed nothing:
// the job is unknown (store.ErrNotFound), or not running for owner
// (store.ErrConflict: it ended, or another worker claimed it after its
// lease expired).
func jobMissing(ctx context.Context, q runner, id int64, owner, doing string) error {
	var state store.JobState
	var holder string
	err := q.row(ctx, `SELECT state, owner FROM jobs WHERE id = ?`, id).Scan(&state, &holder)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return notFound("%s job %d", doing, id)
	case err != nil:
		return fmt.Errorf("%s job %d: %w", doing, id, err)
	case state != store.JobRunning:
		return conflict("%s job %d for %s: it is %s", doing, id, owner, state)
	}
	return conflict("%s job %d for %s: %s holds it", doing, id, owner, holder)
}

// completeJobs ends jobs: done, or queued again at once when marked again.
// Arguments: now three times, then those of the WHERE clause it ends with.
const completeJobs = `UPDATE jobs SET
	state = CASE WHEN again THEN 'queued' ELSE 'done' END,
	attempts = CASE WHEN again THEN 0 ELSE attempts END,
	next_at = CASE WHEN again THEN ? ELSE next_at END,
	finished_at = CASE WHEN again THEN finished_at ELSE ? END,
	owner = CASE WHEN again THEN '' ELSE owner END,
	again = FALSE, last_error = '', lease_until = NULL, updated_at = ?
	WHERE `

// CompleteJob ends a job owner holds: done at now, or, when it was marked
// Again while it ran, queued again at now with Attempts reset. Unknown
// job: store.ErrNotFound; not running for owner: store.ErrConflict. (A
// running job's finished_at is NULL: the CASE keeps it so, and gives
// PostgreSQL the parameter's type.)
func (s *Store) CompleteJob(ctx context.Context, id int64, owner string, now time.Time) error {
	t := s.wr.t(now)
	n, err := s.wr.execN(ctx, completeJobs+`id = ? AND owner = ? AND state = 'running'`, t, t, t, id, owner)
	if err != nil {
		return fmt.Errorf("completing job %d: %w", id, err)
	}
	if n == 0 {
		return jobMissing(ctx, s.wr, id, owner, "completing")
	}
	return nil
}

// CompleteJobs is CompleteJob for many jobs at once, each with the
// account its push left (nil: none), in one transaction: workers that
// finish together share a commit. Jobs the owner no longer holds are
// left alone (their accounts are stored all the same: they say what the
// app holds). It returns how many jobs it completed.
//
// A few multi-row statements serve the whole set — the accounts, the
// jobs (which say which they completed), the audit events of those, one
// count per kind of activity — in the few shapes chunks cuts them to, so
// that they stay prepared.
func (s *Store) CompleteJobs(ctx context.Context, owner string, now time.Time, done []store.JobResult) (int, error) {
	completed := 0
	err := s.inTx(ctx, func(tx runner) error {
		var err error
		completed, err = s.completeJobs(ctx, tx, owner, now, done)
		return err
	})
	if err != nil {
		return 0, s.refErr(err, "completing %d jobs", len(done))
	}
	return completed, nil
}

// completeJobs is CompleteJobs in tx.
func (s *Store) completeJobs(ctx context.Context, tx runner, owner string, now time.Time, done []store.JobResult) (int, error) {
	if len(done) == 0 {
		return 0, nil
	}
	t := tx.t(now)
	stamp := tx.t(time.Now().UTC().Truncate(time.Microsecond))
	// One account per app and user, the last: PostgreSQL refuses an
	// upsert that meets a row twice.
	type accountKey struct {
		app  int64
		user string
	}
	last := map[accountKey]int{}
	var accounts []*store.Account
	for _, d := range done {
		if a := d.Account; a != nil {
			k := accountKey{a.AppID, a.UserID}
			if i, ok := last[k]; ok {
				accounts[i] = a
				continue
			}
			last[k] = len(accounts)
			accounts = append(accounts, a)
		}
	}
	ids := make([]int64, len(done))
	for i, d := range done {
		ids[i] = d.ID
	}
	err := chunks(accounts, s.d.MaxParams/11, func(part []*store.Account) error {
		args := make([]any, 0, 11*len(part))
		for _, a := range part {
			args = append(args, a.AppID, a.UserID, a.RemoteID, string(a.State), a.Pushed,
				a.Hash, a.Linked, a.LastError, stamp, stamp, tx.t(a.DeactivatedAt))
		}
		_, err := tx.exec(ctx, accountsUpsert(len(part)), args...)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("storing the accounts of %d jobs: %w", len(accounts), err)
	}
	ended := map[int64]bool{}
	err = chunks(ids, s.d.MaxParams-4, func(part []int64) error {
		args := []any{t, t, t, owner}
		for _, id := range part {
			args = append(args, id)
		}
		rows, err := tx.query(ctx, completeJobs+`owner = ? AND state = 'running' AND id IN (`+marks(len(part))+`) RETURNING id`, args...)
		if err != nil {
			return err
		}
		got, err := collect(rows, func(sc scanner) (int64, error) {
			var id int64
			err := sc.Scan(&id)
			return id, err
		}, "completing jobs")
		for _, id := range got {
			ended[id] = true
		}
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("completing %d jobs: %w", len(ids), err)
	}
	var events []*store.AuditEvent
	type countKey struct {
		kind string
		app  int64
	}
	counts := map[countKey]int64{}
	for _, d := range done {
		if e := d.Audit; e != nil && ended[d.ID] {
			e.At = now
			events = append(events, e)
			counts[countKey{activityOf(e.Action), e.AppID}]++
		}
	}
	if err := chunks(events, s.d.MaxParams/6, func(part []*store.AuditEvent) error {
		args := make([]any, 0, 6*len(part))
		for _, e := range part {
			args = append(args, auditArgs(tx, e)...)
		}
		_, err := tx.exec(ctx, `INSERT INTO audit_events (at, actor, action, target, outcome, detail) VALUES `+
			rowMarks(len(part), 6), args...)
		return err
	}); err != nil {
		return 0, fmt.Errorf("auditing %d jobs: %w", len(events), err)
	}
	// In one order, so that two replicas take the rows' locks alike.
	keys := slices.SortedFunc(maps.Keys(counts), func(a, b countKey) int {
		return cmp.Or(strings.Compare(a.kind, b.kind), cmp.Compare(a.app, b.app))
	})
	for _, k := range keys {
		if err := bumpActivity(ctx, tx, now, k.kind, k.app, counts[k]); err != nil {
			return 0, err
		}
	}
	return len(ended), nil
}

// RetryJob puts a job owner holds back in the queue at nextAt with the
// error that stopped it (a change that marked it Again meanwhile is
// covered by the retry). Unknown job: store.ErrNotFound; not running for
// owner: store.ErrConflict.
func (s *Store) RetryJob(ctx context.Context, id int64, owner string, nextAt time.Time, lastError string) error {
	n, err := s.wr.execN(ctx, `UPDATE jobs SET state = 'queued', next_at = ?, last_error = ?, owner = '',
		again = FALSE, lease_until = NULL, updated_at = ? WHERE id = ? AND owner = ? AND state = 'running'`,
		s.wr.t(nextAt), lastError, s.wr.t(now()), id, owner)
	if err != nil {
		return fmt.Errorf("retrying job %d: %w", id, err)
	}
	if n == 0 {
		return jobMissing(ctx, s.wr, id, owner, "retrying")
	}
	return nil
}

// WaitJob puts a job owner holds back in the queue without an error, at
// until, or at now when it was marked Again while it ran; see
// store.Store.
func (s *Store) WaitJob(ctx context.Context, id int64, owner string, until, at time.Time) error {
	// COALESCE with the column gives PostgreSQL the parameters' type.
	n, err := s.wr.execN(ctx, `UPDATE jobs SET state = 'queued',
		next_at = CASE WHEN again THEN COALESCE(?, next_at) ELSE COALESCE(?, next_at) END,
		last_error = '', owner = '', again = FALSE, lease_until = NULL, updated_at = ?
		WHERE id = ? AND owner = ? AND state = 'running'`,
		s.wr.t(at), s.wr.t(until), s.wr.t(now()), id, owner)
	if err != nil {
		return fmt.Errorf("putting job %d back to wait: %w", id, err)
	}
	if n == 0 {
		return jobMissing(ctx, s.wr, id, owner, "putting back")
	}
	return nil
}

// DeadJob dead-letters a job owner holds, at now with lastError; an older
// dead job of the same app, kind and target is dropped (this one
// supersedes it). Unknown job: store.ErrNotFound; not running for owner:
// store.ErrConflict.
func (s *Store) DeadJob(ctx context.Context, id int64, owner string, lastError string, now time.Time) error {
	return s.inTx(ctx, func(tx runner) error {
		var appID int64
		var kind, target string
		var attempts int
		err := tx.row(ctx, `SELECT app_id, kind, target, attempts FROM jobs WHERE id = ? AND owner = ? AND state = 'running'`+
			s.d.LockRow, id, owner).Scan(&appID, &kind, &target, &attempts)
		if errors.Is(err, sql.ErrNoRows) {
			return jobMissing(ctx, tx, id, owner, "dead-lettering")
		}
		if err != nil {
			return fmt.Errorf("dead-lettering job %d: %w", id, err)
		}
		if _, err := tx.exec(ctx, `DELETE FROM jobs WHERE app_id = ? AND kind = ? AND target = ? AND state = 'dead'`,
			appID, kind, target); err != nil {
			return fmt.Errorf("dropping the dead job job %d supersedes: %w", id, err)
		}
		t := tx.t(now)
		_, err = tx.exec(ctx, `UPDATE jobs SET state = 'dead', last_error = ?, finished_at = ?, again = FALSE,
			lease_until = NULL, updated_at = ? WHERE id = ?`, lastError, t, t, id)
		if err != nil {
			return fmt.Errorf("dead-lettering job %d: %w", id, err)
		}
		subject := target
		if kind == string(store.JobUser) {
			subject = username(ctx, tx, target)
		}
		_, err = addNotice(ctx, tx, &store.Notice{Kind: store.NoticePushDead, AppID: appID, Subject: subject,
			Ref: fmt.Sprintf("job:%d", id), Detail: fmt.Sprintf("%s push dead-lettered after %d attempts: %s "+
				"(retry with `idsyncctl push retry %d`)", kind, attempts, lastError, id), At: now})
		return err
	})
}

// sameTriple correlates jobs of alias with the row of jobs the statement
// changes.
func sameTriple(alias string) string {
	return alias + `.app_id = jobs.app_id AND ` + alias + `.kind = jobs.kind AND ` + alias + `.target = jobs.target`
}

// RequeueDead puts dead jobs back in the queue at now with Attempts reset:
// the one with this id (id != 0), those of one app (appID != 0), or all
// (both 0). A dead job whose app, kind and target has an open job is
// folded into it instead (the dead row goes; the open job is due at now,
// or marked Again when running). It returns how many dead jobs it
// requeued or folded.
func (s *Store) RequeueDead(ctx context.Context, appID, id int64, now time.Time) (int, error) {
	sel := func(alias string) (string, []any) {
		q, args := alias+`.state = 'dead'`, []any(nil)
		if id != 0 {
			q, args = q+` AND `+alias+`.id = ?`, append(args, id)
		}
		if appID != 0 {
			q, args = q+` AND `+alias+`.app_id = ?`, append(args, appID)
		}
		return q, args
	}
	var total int64
	err := s.inTx(ctx, func(tx runner) error {
		t := tx.t(now)
		dead, deadArgs := sel("d")
		_, err := tx.exec(ctx, `UPDATE jobs SET
			next_at = CASE WHEN state = 'queued' AND next_at > ? THEN ? ELSE next_at END,
			again = CASE WHEN state = 'running' THEN TRUE ELSE again END, updated_at = ?
			WHERE state IN ('queued', 'running') AND EXISTS (SELECT 1 FROM jobs d WHERE `+sameTriple("d")+` AND `+dead+`)`,
			append([]any{t, t, t}, deadArgs...)...)
		if err != nil {
			return fmt.Errorf("requeueing dead jobs into open ones: %w", err)
		}
		these, args := sel("jobs")
		folded, err := tx.execN(ctx, `DELETE FROM jobs WHERE `+these+` AND EXISTS (SELECT 1 FROM jobs o
			WHERE `+sameTriple("o")+` AND o.state IN ('queued', 'running'))`, args...)
		if err != nil {
			return fmt.Errorf("dropping dead jobs folded into open ones: %w", err)
		}
		requeued, err := tx.execN(ctx, `UPDATE jobs SET state = 'queued', attempts = 0, next_at = ?, owner = '',
			again = FALSE, finished_at = NULL, lease_until = NULL, updated_at = ? WHERE `+these,
			append([]any{t, t}, args...)...)
		if err != nil {
			return fmt.Errorf("requeueing dead jobs: %w", err)
		}
		total = folded + requeued
		return nil
	})
	return int(total), err
}

// defaultJobs is how many jobs ListJobs returns when the filter sets no
// limit.
const defaultJobs = 100

// ListJobs returns the jobs f selects ordered by id, at most f.Limit (0:
// 100).
func (s *Store) ListJobs(ctx context.Context, f store.JobFilter) ([]*store.Job, error) {
	var w where
	w.add(f.AppID != 0, "app_id = ?", f.AppID)
	w.add(len(f.States) > 0, "state IN ("+marks(len(f.States))+")", anys(f.States)...)
	limit := f.Limit
	if limit <= 0 {
		limit = defaultJobs
	}
	rows, err := s.rd.query(ctx, `SELECT `+jobCols+` FROM jobs`+w.String()+" ORDER BY id LIMIT ?", append(w.args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("listing jobs: %w", err)
	}
	return collect(rows, scanJob, "listing jobs")
}

// QueueStats counts jobs per app and state, ordered by app and state.
func (s *Store) QueueStats(ctx context.Context) ([]store.QueueCount, error) {
	rows, err := s.rd.query(ctx, `SELECT app_id, state, COUNT(*) FROM jobs GROUP BY app_id, state ORDER BY app_id, state`)
	if err != nil {
		return nil, fmt.Errorf("counting jobs: %w", err)
	}
	return collect(rows, func(sc scanner) (store.QueueCount, error) {
		var c store.QueueCount
		err := sc.Scan(&c.AppID, &c.State, &c.Count)
		return c, err
	}, "counting jobs")
}

const taskCols = `id, app_id, user_id, kind, state, detail, note, resolved_by, created_at, resolved_at`

func scanTask(sc scanner) (*store.Task, error) {
	t := &store.Task{}
	err := sc.Scan(&t.ID, &t.AppID, &t.UserID, &t.Kind, &t.State, &t.Detail, &t.Note, &t.ResolvedBy,
		scanTime{&t.CreatedAt}, scanTime{&t.ResolvedAt})
	return t, err
}

// CreateTask opens a manual task (CreatedAt now when zero) and returns it
// with its ID and State set; when the app, user and kind have an open task
// already, it returns that one and creates none. Unknown app:
// store.ErrNotFound.
func (s *Store) CreateTask(ctx context.Context, t *store.Task) (*store.Task, error) {
	created := t.CreatedAt
	if created.IsZero() {
		created = now()
	}
	var out *store.Task
	err := s.inTx(ctx, func(tx runner) error {
		var id int64
		err := tx.row(ctx, `INSERT INTO tasks (app_id, user_id, kind, state, detail, created_at) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (app_id, user_id, kind) WHERE state = 'open' DO NOTHING RETURNING id`,
			t.AppID, t.UserID, t.Kind, string(store.TaskOpen), t.Detail, tx.t(created)).Scan(&id)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			out, err = scanTask(tx.row(ctx, `SELECT `+taskCols+` FROM tasks
				WHERE app_id = ? AND user_id = ? AND kind = ? AND state = 'open'`, t.AppID, t.UserID, t.Kind))
			if err != nil {
				return fmt.Errorf("reading the open %s task of user %s in app %d: %w", t.Kind, t.UserID, t.AppID, err)
			}
			return nil
		case err != nil:
			return s.refErr(err, "creating a %s task for user %s in app %d", t.Kind, t.UserID, t.AppID)
		}
		if _, err := addNotice(ctx, tx, &store.Notice{Kind: store.NoticeTaskOpened, AppID: t.AppID,
			Subject: username(ctx, tx, t.UserID), Ref: fmt.Sprintf("task:%d", id), Detail: t.Detail}); err != nil {
			return err
		}
		c := *t
		c.ID, c.State, c.CreatedAt = id, store.TaskOpen, created.UTC().Truncate(time.Microsecond)
		c.Note, c.ResolvedBy, c.ResolvedAt = "", "", time.Time{}
		out = &c
		return nil
	})
	return out, err
}

// ListTasks returns the tasks f selects ordered by id.
func (s *Store) ListTasks(ctx context.Context, f store.TaskFilter) ([]*store.Task, error) {
	var w where
	w.add(f.AppID != 0, "app_id = ?", f.AppID)
	w.add(f.State != "", "state = ?", string(f.State))
	rows, err := s.rd.query(ctx, `SELECT `+taskCols+` FROM tasks`+w.String()+" ORDER BY id", w.args...)
	if err != nil {
		return nil, fmt.Errorf("listing tasks: %w", err)
	}
	return collect(rows, scanTask, "listing tasks")
}

// ResolveTask marks an open task resolved by who at now with a note and
// returns it. Resolved already: store.ErrConflict; unknown:
// store.ErrNotFound.
func (s *Store) ResolveTask(ctx context.Context, id int64, by, note string, now time.Time) (*store.Task, error) {
	var out *store.Task
	err := s.inTx(ctx, func(tx runner) error {
		n, err := tx.execN(ctx, `UPDATE tasks SET state = ?, resolved_by = ?, note = ?, resolved_at = ?
			WHERE id = ? AND state = ?`, string(store.TaskResolved), by, note, tx.t(now), id, string(store.TaskOpen))
		if err != nil {
			return fmt.Errorf("resolving task %d: %w", id, err)
		}
		out, err = scanTask(tx.row(ctx, `SELECT `+taskCols+` FROM tasks WHERE id = ?`, id))
		switch {
		case err != nil:
			return noRows(err, "task %d", id)
		case n == 0:
			return conflict("resolving task %d: it is %s", id, out.State)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
