package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"math/bits"
	"strings"
	"time"
)

// scanTime scans a time column of either dialect into *t: NULL is the zero
// time, an integer is Unix microseconds (SQLite), a time is taken as is
// (PostgreSQL timestamptz). The result is in UTC.
type scanTime struct{ t *time.Time }

func (s scanTime) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		*s.t = time.Time{}
	case int64:
		*s.t = time.UnixMicro(x).UTC()
	case time.Time:
		*s.t = x.UTC()
	default:
		return fmt.Errorf("scanning a time from %T", v)
	}
	return nil
}

// scanMillis scans an integer column of milliseconds into a duration.
type scanMillis struct{ d *time.Duration }

func (s scanMillis) Scan(v any) error {
	ms, ok := v.(int64)
	if !ok {
		return fmt.Errorf("scanning milliseconds from %T", v)
	}
	*s.d = time.Duration(ms) * time.Millisecond
	return nil
}

// millisArg is an interval as the milliseconds its column keeps. A
// negative one (turned off: -1) stays negative (-1 ms): truncated toward
// zero it would read back as 0, the default.
func millisArg(d time.Duration) int64 {
	if d < 0 {
		return min(d.Milliseconds(), -1)
	}
	return d.Milliseconds()
}

// scanJSON scans a JSON column (text or bytes) into the value p points to;
// NULL or empty leaves it untouched.
type scanJSON struct {
	p    any
	what string
}

func (s scanJSON) Scan(v any) error {
	var b []byte
	switch x := v.(type) {
	case nil:
		return nil
	case string:
		b = []byte(x)
	case []byte:
		b = x
	default:
		return fmt.Errorf("scanning %s from %T", s.what, v)
	}
	if len(b) == 0 {
		return nil
	}
	if err := json.Unmarshal(b, s.p); err != nil {
		return fmt.Errorf("decoding %s: %w", s.what, err)
	}
	return nil
}

// jsonArg encodes v as JSON text for a query; NULL when empty is true.
func jsonArg(v any, empty bool) (any, error) {
	if empty {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return string(b), nil
}

// inMarks is "col IN (?,?,…)" for n values; for none, a condition that
// nothing meets (an empty IN list is not SQL on PostgreSQL).
func inMarks(col string, n int) string {
	if n == 0 {
		return "1 = 0"
	}
	return col + " IN (" + marks(n) + ")"
}

// marks returns n comma-separated placeholders: "?,?,?".
func marks(n int) string {
	if n <= 0 {
		return ""
	}
	return strings.Repeat("?,", n-1) + "?"
}

// rowMarks returns rows groups of cols placeholders: "(?,?),(?,?)".
func rowMarks(rows, cols int) string {
	one := "(" + marks(cols) + ")"
	return strings.Repeat(one+",", rows-1) + one
}

// stmtRows is the most items one statement built by chunks carries.
const stmtRows = 64

// chunks calls fn with consecutive slices of items of at most size items,
// in a few sizes only: stmtRows (or size, when smaller), then powers of
// two for the rest. A multi-row statement's text depends on its rows, so
// that the statements one batch after another builds repeat, and are
// parsed once and kept prepared (stmtCache) instead of once per batch.
func chunks[T any](items []T, size int, fn func([]T) error) error {
	size = max(1, min(size, stmtRows))
	for len(items) > 0 {
		n := size
		if len(items) < n {
			n = 1 << (bits.Len(uint(len(items))) - 1)
		}
		if err := fn(items[:n]); err != nil {
			return err
		}
		items = items[n:]
	}
	return nil
}

// queryIn runs q, which ends in an IN list's "IN (", over ids part by
// part, at most stmtRows at a time, with args before each part, and
// collects what scan reads. A part shorter than stmtRows is padded with
// its last id to a power of two (an IN list counts a value once), so that
// a few statements, kept prepared, serve parts of every length.
func queryIn[T any](ctx context.Context, r runner, q string, args []any, ids []string, scan func(scanner) (T, error), what string) ([]T, error) {
	var out []T
	for len(ids) > 0 {
		part := ids[:min(len(ids), stmtRows)]
		ids = ids[len(part):]
		n := 1 << bits.Len(uint(len(part)-1))
		all := append(make([]any, 0, len(args)+n), args...)
		for i := range n {
			all = append(all, part[min(i, len(part)-1)])
		}
		rows, err := r.query(ctx, q+marks(n)+`)`, all...)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		got, err := collect(rows, scan, what)
		if err != nil {
			return nil, err
		}
		out = append(out, got...)
	}
	return out, nil
}

// where is the WHERE clause of a list, from the conditions its filter
// sets.
type where struct {
	conds []string
	args  []any
}

// add adds cond, with its arguments, when on.
func (w *where) add(on bool, cond string, args ...any) {
	if on {
		w.conds, w.args = append(w.conds, cond), append(w.args, args...)
	}
}

// String returns " WHERE cond AND cond…", or "" without conditions.
func (w *where) String() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

// anys converts strings (or string kinds such as store.RunState) to query
// arguments of type string, which every driver accepts.
func anys[T ~string](xs []T) []any {
	out := make([]any, len(xs))
	for i, x := range xs {
		out[i] = string(x)
	}
	return out
}
