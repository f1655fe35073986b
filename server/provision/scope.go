package provision

import (
	"context"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/idsync/idsync/server/store"
)

// scopeCache answers whether a user is in scope of an app from the app's
// whole scope, read once, for as long as nothing that decides it changed:
// no user or group was written (the store's feed position is the same) and
// the app's assignments are the same. Each answer checks both first (one
// query for a whole claimed batch, read after the claim), so a change
// committed before is never missed, and one committed after finds the
// batch's jobs running and marks them Again. While the directory keeps
// changing it asks the store per user instead, reading the whole scope
// again at most once a second.
type scopeCache struct {
	st    Store
	appID int64

	mu       sync.Mutex
	valid    bool
	pos      int64
	assigned string
	users    map[string]bool
	tried    time.Time
}

func newScopeCache(st Store, appID int64) *scopeCache {
	return &scopeCache{st: st, appID: appID}
}

// inScope reports whether the user is assigned to the app, directly or
// through a group.
func (c *scopeCache) inScope(ctx context.Context, userID string) (bool, error) {
	in, ok, err := c.inScopeAll(ctx, []string{userID})
	if err != nil || ok {
		return in[userID], err
	}
	apps, err := c.st.AppsOfUser(ctx, userID)
	return slices.Contains(apps, c.appID), err
}

// look reads the app's scope stamp (the feed position and the
// assignments, in one query: one round trip) and returns it with the
// cached users, which are the app's scope when current: read at this
// stamp, with no write between the stamp and their read.
func (c *scopeCache) look(ctx context.Context) (pos int64, assigned string, users map[string]bool, current bool, err error) {
	pos, as, err := c.st.ScopeStamp(ctx, c.appID)
	if err != nil {
		return 0, "", nil, false, err
	}
	assigned = fingerprint(as)
	c.mu.Lock()
	defer c.mu.Unlock()
	return pos, assigned, c.users, c.valid && c.pos == pos && c.assigned == assigned, nil
}

// inScopeAll answers inScope for many users, the jobs of a claimed batch,
// with one look at what decides the scope (one query). ok is false when
// the cache cannot answer: the directory keeps changing and the whole
// scope was read less than a second ago; ask inScope per user then.
func (c *scopeCache) inScopeAll(ctx context.Context, userIDs []string) (map[string]bool, bool, error) {
	pos, assigned, users, current, err := c.look(ctx)
	if err != nil {
		return nil, false, err
	}
	c.mu.Lock()
	refresh := !current && time.Since(c.tried) >= time.Second
	if refresh {
		c.tried = time.Now()
	}
	c.mu.Unlock()
	if !current && !refresh {
		return nil, false, nil
	}
	if refresh {
		ids, err := c.st.AppUsers(ctx, c.appID)
		if err != nil {
			return nil, false, err
		}
		if users, err = c.keep(ctx, pos, assigned, ids); err != nil {
			return nil, false, err
		}
	}
	out := make(map[string]bool, len(userIDs))
	for _, id := range userIDs {
		out[id] = users[id]
	}
	return out, true, nil
}

// read returns the ids of the users in scope of the app, as AppUsers
// does, and keeps them for inScopeAll: the scope job reads them anyway,
// and the pushes it queues then ask the cache. A current cache (look)
// answers without a read: an admin's assign counts the scope just before
// the scope job it queues reads it.
func (c *scopeCache) read(ctx context.Context) ([]string, error) {
	pos, assigned, users, current, err := c.look(ctx)
	if err != nil {
		return nil, err
	}
	var ids []string
	if current {
		ids = slices.Sorted(maps.Keys(users))
	} else {
		if ids, err = c.st.AppUsers(ctx, c.appID); err != nil {
			return nil, err
		}
		if _, err := c.keep(ctx, pos, assigned, ids); err != nil {
			return nil, err
		}
	}
	c.mu.Lock()
	c.tried = time.Now()
	c.mu.Unlock()
	return ids, nil
}

// keep keeps ids, the app's users read after the scope stamp (pos,
// assigned), as the cache's answers — valid only when no write came
// between the stamp and the feed position it reads now — and returns them
// as a set.
func (c *scopeCache) keep(ctx context.Context, pos int64, assigned string, ids []string) (map[string]bool, error) {
	after, err := c.st.FeedPosition(ctx)
	if err != nil {
		return nil, err
	}
	users := make(map[string]bool, len(ids))
	for _, id := range ids {
		users[id] = true
	}
	c.mu.Lock()
	c.valid, c.pos, c.assigned, c.users = after == pos, pos, assigned, users
	c.mu.Unlock()
	return users, nil
}

// fingerprint names a set of assignments.
func fingerprint(as []store.Assignment) string {
	keys := make([]string, len(as))
	for i, a := range as {
		keys[i] = string(a.Kind) + ":" + a.TargetID
	}
	slices.Sort(keys)
	return strings.Join(keys, ",")
}
