package provision

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/idsync/idsync/server/store"
)

// scopeCache answers whether a user is in scope of an app from the app's
// whole scope, read once, for as long as nothing that decides it changed:
// no user or group was written (the store's feed position is the same) and
// the app's assignments are the same. Each answer checks both first, so a
// change committed before a push started is never missed. While the
// directory keeps changing it asks the store per user instead, reading
// the whole scope again at most once a second.
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
	// Both in one query: one round trip a push.
	pos, as, err := c.st.ScopeStamp(ctx, c.appID)
	if err != nil {
		return false, err
	}
	assigned := fingerprint(as)
	c.mu.Lock()
	if c.valid && c.pos == pos && c.assigned == assigned {
		in := c.users[userID]
		c.mu.Unlock()
		return in, nil
	}
	refresh := time.Since(c.tried) >= time.Second
	if refresh {
		c.tried = time.Now()
	}
	c.mu.Unlock()
	if !refresh {
		apps, err := c.st.AppsOfUser(ctx, userID)
		return slices.Contains(apps, c.appID), err
	}
	ids, err := c.st.AppUsers(ctx, c.appID)
	if err != nil {
		return false, err
	}
	after, err := c.st.FeedPosition(ctx)
	if err != nil {
		return false, err
	}
	users := make(map[string]bool, len(ids))
	for _, id := range ids {
		users[id] = true
	}
	c.mu.Lock()
	// Kept only when no write came between the two positions.
	c.valid, c.pos, c.assigned, c.users = after == pos, pos, assigned, users
	c.mu.Unlock()
	return users[userID], nil
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
