package runs_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
	"github.com/idsync/idsync/server/ingest"
	"github.com/idsync/idsync/server/runs"
	"github.com/idsync/idsync/server/store"
	"github.com/idsync/idsync/server/store/sqlite"
)

// heartbeat is the agents' heartbeat in these tests: silent for three, an
// agent is gone.
const heartbeat = time.Second

// clock is the coordinator's injected clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock on by d.
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Set moves the clock to t (times the store wrote, such as a run's start,
// are taken from the wall clock).
func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// session is a runs.Session that records the commands it was asked to send.
type session struct {
	id, agent string
	dirs      []string
	caps      []string

	mu        sync.Mutex
	started   []*idsyncv1.StartImport
	cancelled []int64
}

func (s *session) ID() string                 { return s.id }
func (s *session) AgentID() string            { return s.agent }
func (s *session) Directories() []string      { return s.dirs }
func (s *session) Can(capability string) bool { return slices.Contains(s.caps, capability) }

func (s *session) StartImport(_ context.Context, si *idsyncv1.StartImport) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.started = append(s.started, si)
	return nil
}

func (s *session) CancelImport(_ context.Context, runID int64, _ string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cancelled = append(s.cancelled, runID)
	return nil
}

// sent returns the imports the session was asked to start since the last
// call.
func (s *session) sent() []*idsyncv1.StartImport {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.started
	s.started = nil
	return out
}

// waker records the wake-ups the coordinator asked for.
type waker struct {
	mu    sync.Mutex
	dirs  []string
	all   int
	woken chan string // receives each wake-up ("" for all), when not full
}

func (w *waker) Wake(d string) {
	w.mu.Lock()
	w.dirs = append(w.dirs, d)
	w.mu.Unlock()
	w.signal(d)
}

func (w *waker) WakeAll() {
	w.mu.Lock()
	w.all++
	w.mu.Unlock()
	w.signal("")
}

func (w *waker) signal(d string) {
	select {
	case w.woken <- d:
	default:
	}
}

func (w *waker) counts() (dirs []string, all int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.dirs), w.all
}

// canceller records the runs the coordinator stopped through the session
// registry, as "run/session".
type canceller struct {
	mu   sync.Mutex
	runs []string
}

func (c *canceller) CancelRun(_ context.Context, runID int64, sessionID, _ string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.runs = append(c.runs, fmt.Sprintf("%d/%s", runID, sessionID))
}

func (c *canceller) stopped() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.runs)
}

// auditLog records audit events.
type auditLog struct {
	mu      sync.Mutex
	actions []string
}

func (a *auditLog) Event(_ context.Context, action, target, _ string, _ ...any) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.actions = append(a.actions, action+" "+target)
}

func (a *auditLog) events() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.actions)
}

// hub is a coordinator over a real SQLite store and engine, with an
// injected clock and recording sessions.
type hub struct {
	t     *testing.T
	ctx   context.Context
	st    store.Store
	eng   *ingest.Engine
	c     *runs.Coordinator
	clock *clock
	wake  *waker
	stops *canceller
	audit *auditLog
	n     int // sessions opened
}

func newHub(t *testing.T) *hub {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "hub.db"))
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	h := &hub{t: t, ctx: t.Context(), st: st, clock: &clock{now: time.Now().Truncate(time.Second)}}
	h.start()
	return h
}

// start builds the engine and the coordinator, as a hub does at start.
func (h *hub) start() {
	log := slog.New(slog.DiscardHandler)
	h.eng = ingest.New(ingest.Config{Store: h.st, Log: log})
	h.wake, h.stops, h.audit = &waker{woken: make(chan string, 64)}, &canceller{}, &auditLog{}
	h.c = runs.New(runs.Config{Store: h.st, Engine: h.eng, Wake: h.wake, Cancel: h.stops, Audit: h.audit, Log: log,
		Heartbeat: heartbeat, ScheduleEvery: time.Hour, Now: h.clock.Now})
}

// restart is the hub dying and coming back over the same store: the
// coordinator's memory (capture backoffs) is gone, the store is not.
func (h *hub) restart() { h.start() }

// directory creates an OpenLDAP directory: capture on (auto), scheduled
// full imports off, a safeguard of 50%.
func (h *hub) directory(name string, opts ...func(*store.Directory)) *store.Directory {
	h.t.Helper()
	d := &store.Directory{Name: name, Kind: store.KindOpenLDAP, BaseDN: "dc=example,dc=org",
		SafeguardPercent: 50, FullImportInterval: -1}
	ingest.ApplyPreset(d)
	for _, o := range opts {
		o(d)
	}
	if err := h.st.CreateDirectory(h.ctx, d); err != nil {
		h.t.Fatalf("CreateDirectory %s: %v", name, err)
	}
	return d
}

// applyPreset creates directory d after its kind's preset.
func (h *hub) applyPreset(d *store.Directory) {
	h.t.Helper()
	ingest.ApplyPreset(d)
	if err := h.st.CreateDirectory(h.ctx, d); err != nil {
		h.t.Fatalf("CreateDirectory %s: %v", d.Name, err)
	}
}

func captureOff(d *store.Directory) { d.CaptureStrategy = ingest.CaptureOff }

// oneAgent creates directory corp (with opts) and agent a1 of it, and
// opens a1's stream.
func (h *hub) oneAgent(opts ...func(*store.Directory)) (*store.Directory, *session) {
	h.t.Helper()
	d := h.directory("corp", opts...)
	h.agent("a1", d)
	return d, h.connect("a1")
}

// leased creates directory corp with checkpoint cp-1, enrols and connects
// agents, and lets the first claim the capture lease: it returns the
// sessions, in the order of agents, and the capture run.
func (h *hub) leased(agents ...string) (*store.Directory, []*session, *store.Run) {
	h.t.Helper()
	d := h.directory("corp")
	h.checkpoint(d, "cp-1")
	var ss []*session
	for _, a := range agents {
		h.agent(a, d)
		ss = append(ss, h.connect(a))
	}
	si := only(h.t, h.claim(ss[0]), idsyncv1.ImportKind_IMPORT_KIND_INCREMENTAL)
	return d, ss, h.run(runID(h.t, si))
}

// fullRun starts a full run of d that s claims at once.
func (h *hub) fullRun(d *store.Directory, s *session) *store.Run {
	h.t.Helper()
	r := h.createRun(d, store.RunFull)
	if got := runID(h.t, only(h.t, h.claim(s), idsyncv1.ImportKind_IMPORT_KIND_FULL)); got != r.ID {
		h.t.Fatalf("%s was sent run %d, want full run %d", s.id, got, r.ID)
	}
	return r
}

// checkpoint stores a directory's capture checkpoint.
func (h *hub) checkpoint(d *store.Directory, cp string) {
	h.t.Helper()
	if err := h.st.SetCheckpoint(h.ctx, d.ID, []byte(cp)); err != nil {
		h.t.Fatal(err)
	}
}

func (h *hub) storedCheckpoint(d *store.Directory) string {
	h.t.Helper()
	cp, err := h.st.Checkpoint(h.ctx, d.ID)
	if err != nil {
		h.t.Fatal(err)
	}
	return string(cp)
}

// agent enrols an agent of directories.
func (h *hub) agent(id string, dirs ...*store.Directory) {
	h.t.Helper()
	a := &store.Agent{ID: id, Name: id, CertSerial: "serial-" + id, CertExpiresAt: h.clock.Now().Add(24 * time.Hour)}
	for _, d := range dirs {
		a.Directories = append(a.Directories, d.Name)
	}
	if err := h.st.CreateAgent(h.ctx, a); err != nil {
		h.t.Fatalf("CreateAgent %s: %v", id, err)
	}
}

var allCaps = []string{idsyncv1.CapabilityFullImport, idsyncv1.CapabilityCapture}

// connect opens a new stream of an agent (replacing any other), with caps
// (none given: full import and capture).
func (h *hub) connect(agentID string, caps ...string) *session {
	h.t.Helper()
	if len(caps) == 0 {
		caps = allCaps
	}
	a, err := h.st.GetAgent(h.ctx, agentID)
	if err != nil {
		h.t.Fatal(err)
	}
	h.n++
	s := &session{id: fmt.Sprintf("session-%d", h.n), agent: agentID, dirs: a.Directories, caps: caps}
	if err := h.st.AgentConnected(h.ctx, agentID, s.id, "dev", caps, h.clock.Now()); err != nil {
		h.t.Fatal(err)
	}
	return s
}

// seen records a heartbeat of s's agent now.
func (h *hub) seen(s *session) {
	h.t.Helper()
	if err := h.st.AgentSeen(h.ctx, s.agent, s.id, h.clock.Now()); err != nil {
		h.t.Fatal(err)
	}
}

// claim lets s look for work and returns the imports it was sent.
func (h *hub) claim(s *session) []*idsyncv1.StartImport {
	h.t.Helper()
	if err := h.c.Claim(h.ctx, s); err != nil {
		h.t.Fatalf("Claim by %s: %v", s.id, err)
	}
	return s.sent()
}

// createRun starts a run of d the way an admin or the scheduler does.
func (h *hub) createRun(d *store.Directory, kind store.RunKind) *store.Run {
	h.t.Helper()
	r := &store.Run{DirectoryID: d.ID, Kind: kind, State: store.RunRunning, Trigger: "test"}
	if err := h.st.CreateRun(h.ctx, r); err != nil {
		h.t.Fatalf("CreateRun: %v", err)
	}
	return r
}

func (h *hub) run(id int64) *store.Run {
	h.t.Helper()
	r, err := h.st.GetRun(h.ctx, id)
	if err != nil {
		h.t.Fatal(err)
	}
	return r
}

// openRuns returns d's running or paused runs of kind.
func (h *hub) openRuns(d *store.Directory, kind store.RunKind) []*store.Run {
	h.t.Helper()
	all, err := h.st.ListRuns(h.ctx, store.RunFilter{DirectoryID: d.ID,
		States: []store.RunState{store.RunRunning, store.RunPausedBySafeguard}})
	if err != nil {
		h.t.Fatal(err)
	}
	return slices.DeleteFunc(all, func(r *store.Run) bool { return r.Kind != kind })
}

// wantState fails the test unless run id is in state want.
func (h *hub) wantState(id int64, want store.RunState) *store.Run {
	h.t.Helper()
	r := h.run(id)
	if r.State != want {
		h.t.Fatalf("run %d is %s (%q), want %s", id, r.State, r.Message, want)
	}
	return r
}

// batch is an agent's batch of run: the users named, seen.
func batch(run *store.Run, seq uint64, users ...string) *idsyncv1.ChangeBatch {
	b := &idsyncv1.ChangeBatch{RunId: fmt.Sprint(run.ID), Sequence: seq}
	for _, u := range users {
		b.Changes = append(b.Changes, &idsyncv1.Change{Type: idsyncv1.ChangeType_CHANGE_TYPE_UPSERT,
			Kind: idsyncv1.ObjectKind_OBJECT_KIND_USER, ExternalId: "id-" + u,
			Dn:         "uid=" + u + ",ou=people,dc=example,dc=org",
			Attributes: []*idsyncv1.Attribute{{Name: "uid", Values: []string{u}}}})
	}
	return b
}

// commit applies b as the gRPC session does (a full run's checkpoint held
// back until the run completes), tells the coordinator about a batch that
// was new, and returns the result and the held-back checkpoint. It does
// not end the run: see ReadComplete.
func (h *hub) commit(s *session, b *idsyncv1.ChangeBatch) (store.BatchResult, []byte, error) {
	h.t.Helper()
	id, err := ingest.ParseRunID(b.GetRunId())
	if err != nil {
		h.t.Fatal(err)
	}
	ap, err := h.eng.Applier(h.ctx, id)
	if err != nil {
		h.t.Fatal(err)
	}
	sb := ap.Prepare(b)
	var held []byte
	if ap.Run().Kind == store.RunFull {
		held, sb.Checkpoint = sb.Checkpoint, nil
	}
	res, err := ap.Commit(h.ctx, sb)
	if err != nil {
		return res, nil, err
	}
	if !res.Duplicate {
		if err := h.c.Committed(h.ctx, s, ap.Run(), b); err != nil {
			h.t.Fatalf("Committed: %v", err)
		}
	}
	return res, held, nil
}

// mustCommit is commit that fails the test on an error.
func (h *hub) mustCommit(s *session, b *idsyncv1.ChangeBatch) (store.BatchResult, []byte) {
	h.t.Helper()
	res, held, err := h.commit(s, b)
	if err != nil {
		h.t.Fatalf("committing batch %d of run %s: %v", b.GetSequence(), b.GetRunId(), err)
	}
	return res, held
}

// readAll has s read a whole full run of users in one last batch, and
// ends it.
func (h *hub) readAll(s *session, run *store.Run, checkpoint string, users ...string) *store.Run {
	h.t.Helper()
	b := batch(run, 1, users...)
	b.Last, b.Checkpoint = true, []byte(checkpoint)
	_, held := h.mustCommit(s, b)
	done, err := h.c.ReadComplete(h.ctx, run.ID, held)
	if err != nil {
		h.t.Fatalf("ReadComplete of run %d: %v", run.ID, err)
	}
	return done
}

// imported runs a full import of d by s that sees users, and completes.
func (h *hub) imported(d *store.Directory, s *session, users ...string) {
	h.t.Helper()
	if done := h.readAll(s, h.fullRun(d, s), "", users...); done.State != store.RunCompleted {
		h.t.Fatalf("first import is %s (%s), want completed", done.State, done.Message)
	}
}

// active returns the names of d's users that are not deprovisioned.
func (h *hub) active(d *store.Directory) []string {
	h.t.Helper()
	users, err := h.st.ListUsers(h.ctx, store.UserFilter{DirectoryID: d.ID})
	if err != nil {
		h.t.Fatal(err)
	}
	var out []string
	for _, u := range users {
		if u.Status != store.StatusDeprovisioned {
			out = append(out, u.Username)
		}
	}
	slices.Sort(out)
	return out
}

func (h *hub) wantActive(d *store.Directory, want ...string) {
	h.t.Helper()
	if got := h.active(d); !slices.Equal(got, want) {
		h.t.Fatalf("active users of %s: %v, want %v", d.Name, got, want)
	}
}

// only returns the one import in got, failing the test otherwise.
func only(t *testing.T, got []*idsyncv1.StartImport, kind idsyncv1.ImportKind) *idsyncv1.StartImport {
	t.Helper()
	if len(got) != 1 || got[0].GetKind() != kind {
		t.Fatalf("sent %v, want one %v import", got, kind)
	}
	return got[0]
}

func runID(t *testing.T, si *idsyncv1.StartImport) int64 {
	t.Helper()
	id, err := ingest.ParseRunID(si.GetRunId())
	if err != nil {
		t.Fatal(err)
	}
	return id
}
