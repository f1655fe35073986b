package ldapsync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// ErrReconcile is wrapped by Capture's error when the checkpoint cannot be
// resumed: the server refused it or no longer holds the history it needs
// (syncrepl e-syncRefreshRequired, a refused DirSync cookie), it comes from
// another domain controller (a different invocationID), it is older than
// AD keeps tombstones, or it was taken for another strategy or spec. The
// hub must then run a full reconciliation (a full import, taking a fresh
// checkpoint with CheckpointNow before it) and capture again from that
// checkpoint. The wrapping error says why.
var ErrReconcile = errors.New("a full reconciliation is needed")

// Defaults for the zero durations of a CaptureSpec.
const (
	DefaultPollInterval = 5 * time.Second
	DefaultOverlap      = 2 * time.Second
)

// Strategy is how changes are captured.
type Strategy int

const (
	// StrategyAuto picks the best strategy the server offers (see Detect).
	StrategyAuto Strategy = iota
	// StrategySyncrepl is RFC 4533 refreshAndPersist (OpenLDAP syncprov).
	StrategySyncrepl
	// StrategyDirSync is Active Directory's DirSync, woken by change
	// notification and by the poll interval.
	StrategyDirSync
	// StrategyPersistentSearch is the persistent search control
	// (2.16.840.1.113730.3.4.3) with a modifyTimestamp catch-up on start.
	StrategyPersistentSearch
	// StrategyPoll searches by modifyTimestamp every poll interval.
	StrategyPoll
)

var strategyNames = map[Strategy]string{
	StrategyAuto: "auto", StrategySyncrepl: "syncrepl", StrategyDirSync: "dirsync",
	StrategyPersistentSearch: "psearch", StrategyPoll: "poll",
}

// String returns the strategy's name as ParseStrategy reads it, e.g.
// "syncrepl".
func (s Strategy) String() string {
	if n, ok := strategyNames[s]; ok {
		return n
	}
	return fmt.Sprintf("Strategy(%d)", int(s))
}

// ParseStrategy reads a strategy name: auto (or empty), syncrepl, dirsync,
// psearch (or persistent-search), poll; case does not matter.
func ParseStrategy(name string) (Strategy, error) {
	switch n := strings.ToLower(strings.TrimSpace(name)); n {
	case "":
		return StrategyAuto, nil
	case "persistent-search":
		return StrategyPersistentSearch, nil
	default:
		for s, sn := range strategyNames {
			if sn == n {
				return s, nil
			}
		}
	}
	return StrategyAuto, fmt.Errorf("unknown capture strategy %q (want auto, syncrepl, dirsync, psearch or poll)", name)
}

// CaptureSpec says what Capture reads and how.
type CaptureSpec struct {
	Spec
	// Strategy is the capture strategy; StrategyAuto detects it.
	Strategy Strategy
	// PollInterval is how often DirSync runs a round when no change
	// notification woke it, and how often polling searches;
	// DefaultPollInterval when zero.
	PollInterval time.Duration
	// Overlap is how far back each modifyTimestamp search reaches before
	// the newest timestamp seen, for writes committed late with an older
	// timestamp; DefaultOverlap when zero.
	Overlap time.Duration
	// Logger receives the capture's own messages (strategy, notification
	// latency, rounds); nil discards them.
	Logger *slog.Logger
}

func (s CaptureSpec) withDefaults() (CaptureSpec, error) {
	var err error
	if s.Spec, err = s.Spec.withDefaults(); err != nil {
		return s, err
	}
	if s.PollInterval < 0 || s.Overlap < 0 {
		return s, fmt.Errorf("spec: PollInterval (%v) and Overlap (%v) must not be negative", s.PollInterval, s.Overlap)
	}
	if s.PollInterval == 0 {
		s.PollInterval = DefaultPollInterval
	}
	if s.Overlap == 0 {
		s.Overlap = DefaultOverlap
	}
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	return s, nil
}

// EventType says what an Event carries.
type EventType int

const (
	// EventUnspecified is the zero EventType.
	EventUnspecified EventType = iota
	// EventChange carries a Change: an upsert with the object's
	// attributes, or a delete by external id.
	EventChange
	// EventPresent declares the objects of IDs present and unchanged
	// during a refresh's present phase.
	EventPresent
	// EventRefreshDone ends a refresh: what follows is live.
	EventRefreshDone
	// EventCheckpoint carries a checkpoint covering every earlier event.
	EventCheckpoint
	// EventEntryError carries an entry that could not be read.
	EventEntryError
)

// String returns the event type's name, e.g. "change".
func (t EventType) String() string {
	switch t {
	case EventChange:
		return "change"
	case EventPresent:
		return "present"
	case EventRefreshDone:
		return "refresh-done"
	case EventCheckpoint:
		return "checkpoint"
	case EventEntryError:
		return "entry-error"
	}
	return fmt.Sprintf("EventType(%d)", int(t))
}

// Event is one step of a capture, handed to the emit function in order.
type Event struct {
	Type EventType
	// Change is set for EventChange. A delete may carry only the
	// ExternalID (and a DN when the server gave one); its Kind may be
	// ObjectUnspecified.
	Change Change
	// IDs are the external ids an EventPresent declares present.
	IDs []string
	// PresentPhase is set on an EventRefreshDone when the refresh listed
	// the whole content (a present phase, or a refresh from no checkpoint):
	// the consumer may then delete every object of this source that was
	// neither sent (EventChange, EventEntryError) nor declared present
	// (EventPresent) since the refresh began — and never before this
	// event arrives. When a capture ends before EventRefreshDone, whatever
	// the consumer gathered for that refresh must be thrown away: the next
	// capture refreshes again from the last checkpoint.
	PresentPhase bool
	// Checkpoint is set for EventCheckpoint: opaque bytes to store with
	// the changes before it and hand back to Capture. No checkpoint is
	// emitted inside a refresh that may turn out to list the whole content
	// (syncrepl's, a snapshot); DirSync checkpoints its catch-up round by
	// round.
	Checkpoint []byte
	// Err is set for EventEntryError.
	Err EntryError
}

// Capture streams the changes of spec's users and groups to emit, in order,
// until ctx ends (it then returns ctx's error) or something fails. It
// resumes from checkpoint — an empty one (proto3 cannot tell it from none)
// starts from nothing, with a refresh that lists everything
// (EventRefreshDone.PresentPhase) — runs a refresh up to
// the present, then follows changes as they happen:
//
//   - syncrepl: refreshAndPersist; each persist change is emitted as it
//     arrives, followed by a checkpoint when the server sends a cookie with it
//     that names a state (slapd's cookie without a CSN names none); a change
//     queued during the refresh that is older than the entry the refresh
//     sent (by entryCSN) is dropped.
//   - DirSync: a round, then one more on each change notification or every
//     PollInterval; users are re-read whole by <GUID=…>, a group's
//     membership comes as deltas (Change.MembersIncremental).
//   - persistent search: a modifyTimestamp catch-up, then the server's
//     change notifications.
//   - polling: a modifyTimestamp search every PollInterval.
//
// Without a checkpoint, DirSync, persistent search and polling (whose
// servers cannot list their content as a refresh) start with a snapshot: a
// full import ended by EventRefreshDone with PresentPhase and a checkpoint
// taken before it; their own catch-up from that checkpoint then ends with a
// second EventRefreshDone.
//
// Persistent search and polling see no deletion that happens while the
// capture is not running (polling sees none at all): those come from the
// scheduled full imports. DirSync reads the whole naming context: an object
// outside the base DN that is created, renamed or moved comes as a delete
// of its id (it may have just left the base), which a consumer that never
// knew the id ignores.
//
// An error wrapping ErrReconcile means the checkpoint cannot be resumed.
// Any other error is worth a retry from the last checkpoint emitted. emit
// may block (backpressure); its error stops the capture and is returned.
// Capture leaves persistent searches running on c when it returns (go-ldap
// cannot abandon them): close c afterwards.
func Capture(ctx context.Context, c *Conn, spec CaptureSpec, checkpoint []byte, emit func(context.Context, Event) error) error {
	spec, err := spec.withDefaults()
	if err != nil {
		return err
	}
	strategy, err := resolveStrategy(ctx, c, spec)
	if err != nil {
		return err
	}
	spec.Logger.Debug("capture starting", "strategy", strategy, "base_dn", spec.BaseDN, "resume", len(checkpoint) > 0)
	var cp *checkpointState
	if len(checkpoint) > 0 {
		decoded, err := decodeCheckpoint(checkpoint, strategy, spec)
		if err != nil {
			return err
		}
		cp = &decoded
	}
	emitWrapped := func(ctx context.Context, ev Event) error {
		if err := emit(ctx, ev); err != nil {
			return fmt.Errorf("emit: %w", err)
		}
		return nil
	}
	switch strategy {
	case StrategySyncrepl:
		return captureSyncrepl(ctx, c, spec, cp, emitWrapped)
	case StrategyDirSync:
		return captureDirSync(ctx, c, spec, cp, emitWrapped)
	case StrategyPersistentSearch:
		return capturePersistentSearch(ctx, c, spec, cp, emitWrapped)
	default:
		return capturePoll(ctx, c, spec, cp, emitWrapped)
	}
}

// CheckpointNow returns a checkpoint of the directory as it is now, cheaply,
// for a full import about to start: taken before the import reads anything,
// it lets Capture resume with every change made since the snapshot began
// (some may come again; applying them twice changes nothing).
//
//   - syncrepl: a refreshOnly sync whose filter matches no entry (an
//     entryUUID of zeros, answered from the index); the server's syncDone
//     cookie is its current state. syncprov cookies hold CSNs, not the
//     filter, so the cookie serves the real search.
//   - DirSync: a DirSync round whose filter matches no object (an
//     objectGUID of zeros); the cookie carries the DC's highest USN.
//   - persistent search and polling: the server's time (the rootDSE's
//     currentTime), or the local clock less DefaultClockSkew when the
//     server does not publish it.
func CheckpointNow(ctx context.Context, c *Conn, spec CaptureSpec) ([]byte, error) {
	spec, err := spec.withDefaults()
	if err != nil {
		return nil, err
	}
	strategy, err := resolveStrategy(ctx, c, spec)
	if err != nil {
		return nil, err
	}
	var cp checkpointState
	switch strategy {
	case StrategySyncrepl:
		cp, err = syncreplCheckpointNow(ctx, c, spec)
	case StrategyDirSync:
		var ds *dirSyncer
		if ds, err = newDirSyncer(ctx, c, spec, nil, nil); err == nil {
			cp, err = ds.checkpointNow(ctx)
		}
	default:
		var now time.Time
		if now, err = serverTime(ctx, c); err == nil {
			cp = newCheckpoint(strategy, spec)
			cp.Since = now
		}
	}
	if err != nil {
		return nil, err
	}
	return cp.encode(), nil
}

// resolveStrategy returns spec's strategy, detecting it when Auto.
func resolveStrategy(ctx context.Context, c *Conn, spec CaptureSpec) (Strategy, error) {
	if spec.Strategy != StrategyAuto {
		if _, ok := strategyNames[spec.Strategy]; !ok {
			return 0, fmt.Errorf("spec: unknown strategy %v", spec.Strategy)
		}
		return spec.Strategy, nil
	}
	return Detect(ctx, c, spec.Kind)
}

// emitSink is the Sink through which a full import inside a capture emits.
type emitSink struct {
	emit func(context.Context, Event) error
}

var _ Sink = emitSink{}

func (s emitSink) Change(ctx context.Context, c Change) error {
	return s.emit(ctx, Event{Type: EventChange, Change: c})
}

func (s emitSink) EntryError(ctx context.Context, e EntryError) error {
	return s.emit(ctx, Event{Type: EventEntryError, Err: e})
}

// snapshot is the start of a capture without checkpoint for the strategies
// whose servers cannot list their whole content as a refresh: cp, taken
// before anything is read, then a full import, then the refresh's end with
// the present-phase meaning, then cp.
func snapshot(ctx context.Context, c *Conn, spec CaptureSpec, cp checkpointState, emit func(context.Context, Event) error) error {
	if _, err := FullImport(ctx, c, spec.Spec, emitSink{emit}); err != nil {
		return err
	}
	if err := emit(ctx, Event{Type: EventRefreshDone, PresentPhase: true}); err != nil {
		return err
	}
	return emit(ctx, Event{Type: EventCheckpoint, Checkpoint: cp.encode()})
}
