package agents

import (
	"context"
	"fmt"
	"time"

	"github.com/idsync/idsync/server/store"
)

// State is where an agent stands.
type State string

// The states of an agent.
const (
	Offline State = "offline"
	Revoked State = "revoked"
	// Active: online and holding the change capture of a directory.
	Active State = "active"
	// Standby: online, holding no capture.
	Standby State = "standby"
)

// Online says whether an agent has a live stream: not revoked, connected,
// and heard from within three heartbeats.
func (s *Service) Online(a *store.Agent, now time.Time) bool {
	return a.RevokedAt.IsZero() && a.SessionID != "" && now.Sub(a.LastSeen) < 3*s.heartbeat
}

// State says where an agent stands; capturing are the directories whose
// change capture its session holds (see Capturing).
func (s *Service) State(a *store.Agent, now time.Time, capturing []string) State {
	switch {
	case !a.RevokedAt.IsZero():
		return Revoked
	case s.Online(a, now) && len(capturing) > 0:
		return Active
	case s.Online(a, now):
		return Standby
	}
	return Offline
}

// Capturing maps agent sessions to the directories whose capture they
// hold (running incremental runs).
func (s *Service) Capturing(ctx context.Context) (map[string][]string, error) {
	runs, err := s.st.ListRuns(ctx, store.RunFilter{States: []store.RunState{store.RunRunning}, Limit: 10000})
	if err != nil {
		return nil, fmt.Errorf("listing runs: %w", err)
	}
	m := map[string][]string{}
	for _, r := range runs {
		if r.Kind == store.RunIncremental && r.SessionID != "" {
			m[r.SessionID] = append(m[r.SessionID], r.Directory)
		}
	}
	return m, nil
}
