package authn

import (
	"sync"
	"time"
)

// resolved remembers which directory entry (by external id) a sign-in
// spelling found, so that the next attempt with that spelling is charged to
// the entry's budget before an agent binds. It lives in memory, like the
// limits it serves; an entry not used for a while is forgotten (its budget
// has refilled by then, and the next attempt learns it again).
type resolved struct {
	mu sync.Mutex
	m  map[string]resolvedEntry
}

type resolvedEntry struct {
	id   string
	used time.Time
}

// resolvedMax is how many spellings are kept before the ones unused for
// resolvedIdle are dropped.
const (
	resolvedMax  = 10000
	resolvedIdle = 10 * time.Minute
)

func newResolved() *resolved { return &resolved{m: map[string]resolvedEntry{}} }

// get returns the external id spelling found last, or "".
func (r *resolved) get(spelling string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.m[spelling]
	if !ok {
		return ""
	}
	e.used = time.Now()
	r.m[spelling] = e
	return e.id
}

// put records that spelling found the entry with external id id.
func (r *resolved) put(spelling, id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	if len(r.m) >= resolvedMax {
		for k, e := range r.m {
			if now.Sub(e.used) > resolvedIdle {
				delete(r.m, k)
			}
		}
	}
	r.m[spelling] = resolvedEntry{id: id, used: now}
}
