package sessions

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
)

// Stream is one open agent stream, as the registry sees it.
type Stream interface {
	// ID is the stream's session id; AgentID its agent's.
	ID() string
	AgentID() string
	// Directories are the directories the agent serves on the stream.
	Directories() []string
	// Can reports whether the agent announced capability.
	Can(capability string) bool
	// Call sends cmd and waits for its result, within ctx; ErrAgentGone
	// (wrapped) when the stream ends first.
	Call(ctx context.Context, cmd *idsyncv1.Command) (*idsyncv1.CommandResult, error)
	// Poke makes the stream look for work now.
	Poke()
	// Revoke ends the stream: its agent was revoked.
	Revoke()
	// Replaced ends the stream: a newer one of its agent (session by)
	// replaced it.
	Replaced(by string)
	// CancelRun stops a run on the agent.
	CancelRun(ctx context.Context, runID int64, why string)
}

// ErrNoAgent: no agent of the directory with the capability asked for is
// connected to this hub. ErrAgentGone: the agent's stream ended before it
// answered (what it did is unknown).
var (
	ErrNoAgent   = errors.New("no agent of the directory is connected to this hub")
	ErrAgentGone = errors.New("the agent's stream ended before it answered")
)

// Registry is this replica's registry of open agent streams, for immediate
// dispatch and revocation.
type Registry struct {
	opening sync.Mutex // held while a stream opens (see Open)
	mu      sync.Mutex
	byID    map[string]Stream
	turn    int // round robin of Call
}

// New returns an empty registry.
func New() *Registry { return &Registry{byID: map[string]Stream{}} }

// Open records s as its agent's stream (record writes it to the store,
// where streams on other replicas find they were replaced) and ends the
// agent's other streams on this replica. Opens are serialised, so that of
// two streams of an agent opening here at once the one the store records
// last is the one left.
func (h *Registry) Open(s Stream, record func() error) error {
	h.opening.Lock()
	defer h.opening.Unlock()
	if err := record(); err != nil {
		return err
	}
	h.mu.Lock()
	var older []Stream
	for _, o := range h.byID {
		if o.AgentID() == s.AgentID() {
			older = append(older, o)
		}
	}
	h.byID[s.ID()] = s
	h.mu.Unlock()
	for _, o := range older {
		o.Replaced(s.ID())
	}
	return nil
}

// Remove forgets a stream that ended.
func (h *Registry) Remove(s Stream) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.byID, s.ID())
}

// Count returns how many agent streams this hub serves now.
func (h *Registry) Count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.byID)
}

// Wake makes the streams serving directory look for work now.
func (h *Registry) Wake(directory string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range h.byID {
		if slices.Contains(s.Directories(), directory) {
			s.Poke()
		}
	}
}

// WakeAll makes every stream look for work now.
func (h *Registry) WakeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range h.byID {
		s.Poke()
	}
}

// Revoke closes the open streams of an agent.
func (h *Registry) Revoke(agentID string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range h.byID {
		if s.AgentID() == agentID {
			s.Revoke()
		}
	}
}

// CancelRun tells the stream holding a run to stop it on the agent.
func (h *Registry) CancelRun(ctx context.Context, runID int64, sessionID, why string) {
	h.mu.Lock()
	s := h.byID[sessionID]
	h.mu.Unlock()
	if s != nil {
		s.CancelRun(ctx, runID, why)
	}
}

// Call sends cmd to one agent of directory that announced capability and
// returns its result: ErrNoAgent when there is none on this replica, and
// ErrAgentGone when its stream ends first. Agents of a directory take
// calls in turn.
func (h *Registry) Call(ctx context.Context, directory, capability string, cmd *idsyncv1.Command) (*idsyncv1.CommandResult, error) {
	h.mu.Lock()
	pick := h.serving(directory, capability)
	var s Stream
	if len(pick) > 0 {
		slices.SortFunc(pick, func(a, b Stream) int { return strings.Compare(a.ID(), b.ID()) })
		h.turn++
		s = pick[h.turn%len(pick)]
	}
	h.mu.Unlock()
	if s == nil {
		return nil, fmt.Errorf("directory %s: %w", directory, ErrNoAgent)
	}
	return s.Call(ctx, cmd)
}

// Serves reports whether an agent of directory with capability is
// connected to this replica.
func (h *Registry) Serves(directory, capability string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.serving(directory, capability)) > 0
}

// serving returns the streams of directory whose agent announced
// capability. h.mu is held.
func (h *Registry) serving(directory, capability string) []Stream {
	var out []Stream
	for _, s := range h.byID {
		if slices.Contains(s.Directories(), directory) && s.Can(capability) {
			out = append(out, s)
		}
	}
	return out
}
