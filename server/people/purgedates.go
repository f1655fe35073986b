package people

import (
	"context"
	"fmt"
	"time"

	"github.com/idsync/idsync/server/store"
)

// PurgeDates returns when each user is purged: deprovisioned, its
// directory's retention (else the hub's) after it became so; zero for a
// user that is not deprovisioned, or is held so while its directory has
// it.
func (s *Service) PurgeDates(ctx context.Context) (func(*store.User) time.Time, error) {
	dirs, err := s.st.ListDirectories(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing directories: %w", err)
	}
	keep := make(map[int64]time.Duration, len(dirs))
	for _, d := range dirs {
		keep[d.ID] = d.Retention
	}
	return func(u *store.User) time.Time {
		// A user an admin holds while its directory still has it is kept
		// until either changes (store.PurgeDue).
		if u.Status != store.StatusDeprovisioned || u.SourceStatus != store.StatusDeprovisioned || u.DeprovisionedAt.IsZero() {
			return time.Time{}
		}
		k := keep[u.DirectoryID]
		if k <= 0 {
			k = s.keep
		}
		if k <= 0 {
			k = DefaultRetention
		}
		return u.DeprovisionedAt.Add(k)
	}, nil
}
