package csvimport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/idsync/idsync/server/ingest"
	"github.com/idsync/idsync/server/refusal"
	"github.com/idsync/idsync/server/store"
)

// Defaults.
const (
	// DefaultMaxBytes caps a file: about 400,000 rows of a wide export.
	DefaultMaxBytes = 64 << 20
	// MaxBadShare is the share of bad rows above which a file fails
	// before anything is applied: such a file is not the export it
	// should be.
	MaxBadShare = 0.20
	// DefaultMaxSpools is how many files a hub receives and imports at
	// once: each may hold DefaultMaxBytes of its disk.
	DefaultMaxSpools = 4
	// batchSize is how many rows go into one store transaction.
	batchSize = 1000
	// previewNames is how many usernames of each kind a dry run lists.
	previewNames = 1000
	// previewErrors is how many bad rows a dry run lists.
	previewErrors = 100
)

// Store is what the service reads and writes of the hub's store.
type Store interface {
	CreateRun(ctx context.Context, r *store.Run) error
	ApplyBatch(ctx context.Context, b *store.Batch) (store.BatchResult, error)
	GetRun(ctx context.Context, id int64) (*store.Run, error)
	ListUsers(ctx context.Context, f store.UserFilter) ([]*store.User, error)
}

// Engine ends the runs (server/ingest.Engine).
type Engine interface {
	Applier(ctx context.Context, id int64) (*ingest.RunApplier, error)
	Finish(ctx context.Context, id int64) (*store.Run, error)
	FinishHeld(ctx context.Context, id int64, why string) (*store.Run, error)
	Fail(ctx context.Context, id int64, why string) (*store.Run, error)
}

var _ Engine = (*ingest.Engine)(nil)

// Auditor writes audit events (server/audit.Log).
type Auditor interface {
	Event(ctx context.Context, action, target, detail string, args ...any)
}

// Config is what the service is built from.
type Config struct {
	Store  Store
	Engine Engine
	Audit  Auditor
	Log    *slog.Logger
	// MaxBytes caps a file (0: DefaultMaxBytes).
	MaxBytes int64
	// TempDir holds the files while they are imported ("": the system's).
	TempDir string
	// MaxSpools bounds the files received and imported at once (0:
	// DefaultMaxSpools); more are refused, to be sent again.
	MaxSpools int
}

// Service imports files into csv directories.
type Service struct {
	st     Store
	eng    Engine
	audit  Auditor
	log    *slog.Logger
	max    int64
	tmpDir string
	// spools holds a token per file being received or imported.
	spools chan struct{}
}

// New returns the service.
func New(c Config) *Service {
	s := &Service{st: c.Store, eng: c.Engine, audit: c.Audit, log: c.Log, max: c.MaxBytes, tmpDir: c.TempDir}
	if s.audit == nil {
		s.audit = noAuditor{}
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.log = s.log.With("component", "csvimport")
	if s.max <= 0 {
		s.max = DefaultMaxBytes
	}
	if c.MaxSpools <= 0 {
		c.MaxSpools = DefaultMaxSpools
	}
	s.spools = make(chan struct{}, c.MaxSpools)
	s.removeStale()
	return s
}

// spoolPattern names the files being imported.
const spoolPattern = "idsync-import-*.csv"

// removeStale removes the files a hub that stopped mid-import left in its
// own TempDir (a hub's data directory is its alone): they hold people's
// records, and their runs were failed by the reaper.
func (s *Service) removeStale() {
	if s.tmpDir == "" {
		return // the system's: shared, and cleaned by it
	}
	stale, _ := filepath.Glob(filepath.Join(s.tmpDir, spoolPattern))
	for _, f := range stale {
		if err := os.Remove(f); err != nil {
			s.log.Warn("removing a file left by an import", "file", f, "err", err)
			continue
		}
		s.log.Info("removed a file left by an import that did not end", "file", f)
	}
}

type noAuditor struct{}

func (noAuditor) Event(context.Context, string, string, string, ...any) {}

// MaxBytes is the largest file the service takes.
func (s *Service) MaxBytes() int64 { return s.max }

// Spool is a file being received, kept on disk until it is imported.
type Spool struct {
	f       *os.File
	n       int64
	max     int64
	release func()
}

// NewSpool starts receiving a file. While MaxSpools files are received or
// imported, another is refused (Unmet): the sender tries again later.
func (s *Service) NewSpool() (*Spool, error) {
	select {
	case s.spools <- struct{}{}:
	default:
		return nil, refusal.Unmetf("the hub is receiving or importing %d files already: send this one again in a moment", cap(s.spools))
	}
	release := sync.OnceFunc(func() { <-s.spools })
	f, err := os.CreateTemp(s.tmpDir, spoolPattern)
	if err != nil {
		release()
		return nil, fmt.Errorf("spooling the file: %w", err)
	}
	return &Spool{f: f, max: s.max, release: release}, nil
}

// ErrTooLarge is a file over the size cap.
var ErrTooLarge = errors.New("file too large")

// tooLarge is the refusal of a file over the cap, which is ErrTooLarge.
type tooLarge struct{ error }

func (e tooLarge) Unwrap() []error { return []error{e.error, ErrTooLarge} }

// Write appends p; past the cap it fails with ErrTooLarge.
func (sp *Spool) Write(p []byte) (int, error) {
	if sp.n+int64(len(p)) > sp.max {
		return 0, tooLarge{refusal.Invalidf("the file is larger than the hub takes (%s)", sizeText(sp.max))}
	}
	n, err := sp.f.Write(p)
	sp.n += int64(n)
	return n, err
}

// sizeText says n bytes in MiB, or in bytes when less than one.
func sizeText(n int64) string {
	if n < 1<<20 {
		return fmt.Sprintf("%d bytes", n)
	}
	return fmt.Sprintf("%d MiB", n>>20)
}

// Size is what was received.
func (sp *Spool) Size() int64 { return sp.n }

// Discard removes the spooled file, and lets another be received.
func (sp *Spool) Discard() {
	sp.f.Close()
	os.Remove(sp.f.Name())
	sp.release()
}

// Import is what a file is and how to import it.
type Import struct {
	Directory *store.Directory
	// FileName names the file in the run's errors ("export.csv:17").
	FileName string
	// Full: the file is the whole population; the rest is swept.
	Full bool
	// DryRun writes nothing.
	DryRun              bool
	Encoding, Delimiter string
}

// Result is the run a file started, or a dry run's preview.
type Result struct {
	Run     *store.Run
	Preview *Preview
}

// Preview is what an import would do.
type Preview struct {
	Rows, Created, Updated, Unchanged, Deprovisioned int64
	CreatedUsers, UpdatedUsers, DeprovisionedUsers   []string
	Errors                                           []store.EntryError
	ErrorCount                                       int64
	// Safeguard says why the sweep would pause ("" it would not).
	Safeguard string
}

// Check refuses what cannot be imported before a file is received: a
// directory of another kind, an unknown encoding or delimiter.
func Check(imp Import) error {
	if imp.Directory.Kind != store.KindCSV {
		return refusal.Unmetf("directory %s is a %s directory: files are imported into csv directories "+
			"(idsyncctl directory add NAME --kind csv --map username=COLUMN)", imp.Directory.Name, imp.Directory.Kind)
	}
	if err := CheckFormat(imp.Encoding, imp.Delimiter); err != nil {
		return refusal.Invalidf("%v", err)
	}
	return nil
}

// Start imports the spooled file sp, which it owns from now on. A dry run
// answers with its preview. Otherwise a run is made and the file checked
// whole: a file that cannot be imported fails the run before anything is
// applied (the run is returned, failed); a good one is applied in the
// background, until the run ends (the run is returned, running). by is
// who sent the file ("admin:NAME", "agent:ID").
func (s *Service) Start(ctx context.Context, sp *Spool, imp Import, by string) (Result, error) {
	if err := Check(imp); err != nil {
		sp.Discard()
		return Result{}, err
	}
	imp.FileName = cleanName(imp.FileName)
	if imp.DryRun {
		defer sp.Discard()
		p, err := s.preview(ctx, sp, imp)
		return Result{Preview: p}, err
	}
	d := imp.Directory
	kind := store.RunIncremental
	if imp.Full {
		kind = store.RunFull
	}
	r := &store.Run{DirectoryID: d.ID, Kind: kind, State: store.RunRunning, Trigger: by}
	if err := s.st.CreateRun(ctx, r); errors.Is(err, store.ErrConflict) {
		sp.Discard()
		return Result{}, refusal.Unmetf("a %s run of %s is open: wait for it to end, or confirm or cancel it "+
			"(see `idsyncctl import list --directory %s`)", kind, d.Name, d.Name)
	} else if err != nil {
		sp.Discard()
		return Result{}, fmt.Errorf("creating the run: %w", err)
	}
	r.Directory = d.Name
	s.log.Info("file import started", "run", r.ID, "directory", d.Name, "file", imp.FileName, "bytes", sp.Size(), "full", imp.Full, "by", by)
	s.audit.Event(ctx, "import.start", fmt.Sprintf("run:%d", r.ID), "directory %s, %s import of file %s (%d bytes)",
		d.Name, kind, imp.FileName, sp.Size())
	// The run must end even when the caller has gone.
	bg := context.WithoutCancel(ctx)
	chk, err := s.check(sp, imp)
	if err == nil && imp.Full {
		err = s.foreign(bg, imp, chk)
	}
	if err != nil {
		defer sp.Discard()
		failed, ferr := s.fail(bg, r.ID, imp, chk, err)
		return Result{Run: failed}, ferr
	}
	go func() {
		defer sp.Discard()
		if _, err := s.apply(bg, r.ID, sp, imp, chk); err != nil {
			s.log.Error("file import", "run", r.ID, "directory", d.Name, "err", err)
		}
	}()
	return Result{Run: r}, nil
}

// cleanName keeps the base name of a file, for messages.
func cleanName(name string) string {
	name = filepath.Base(strings.ReplaceAll(name, `\`, "/"))
	if name == "." || name == "/" || name == "" {
		return "file"
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '_'
		}
		return r
	}, name)
}

// foreign refuses a file, for a full import, that holds none of the users
// the directory has (not deprovisioned): an export of another company, or
// one whose id column changed, would create its rows and then sweep
// everyone. It reads the directory's users a page at a time, and stops at
// the first it finds in the file.
func (s *Service) foreign(ctx context.Context, imp Import, c *checked) error {
	// A bad row of a known user keeps it (as the sweep does): it counts.
	bad := map[string]bool{}
	for _, e := range c.bad {
		bad[e.ExternalID] = e.ExternalID != ""
	}
	var active int64
	for after := ""; ; {
		page, err := s.st.ListUsers(ctx, store.UserFilter{DirectoryID: imp.Directory.ID, AfterID: after, Limit: 1000})
		if err != nil {
			return fmt.Errorf("reading the users of %s: %w", imp.Directory.Name, err)
		}
		for _, u := range page {
			if u.Status == store.StatusDeprovisioned {
				continue
			}
			if _, ok := c.ids[u.ExternalID]; ok || bad[u.ExternalID] {
				return nil
			}
			active++
		}
		if len(page) < 1000 {
			break
		}
		after = page[len(page)-1].ID
	}
	return foreignErr(imp, active)
}

// foreignErr refuses a file for a full import that holds none of the
// directory's active users (none when it has none).
func foreignErr(imp Import, active int64) error {
	if active == 0 {
		return nil
	}
	return fileErrorf("%s holds none of the %d users of directory %s (by their ids): a full import of it would "+
		"create its rows and deprovision everyone else; an export of another company, or one whose id column "+
		"changed, is never imported", imp.FileName, active, imp.Directory.Name)
}

// checked is what the check of a whole file found.
type checked struct {
	rows int64
	bad  []store.EntryError
	// badLines are the lines of bad rows, which the apply skips.
	badLines map[int]bool
	// unidentified counts bad rows whose id could not be read.
	unidentified int64
	// ids are the ids of the rows that are not bad, by their line.
	ids map[string]int
}

// check reads the whole file: its header, and every row, to count the
// bad ones. A file error, or too many bad rows, is an error.
func (s *Service) check(sp *Spool, imp Import) (*checked, error) {
	p, err := s.open(sp, imp)
	if err != nil {
		return nil, err
	}
	defer p.done()
	c := &checked{badLines: map[int]bool{}}
	seen := map[string]int{}
	c.ids = seen
	for {
		r, err := p.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return c, fileErrorf("%s: %v", imp.FileName, err)
		}
		if r.err == "" {
			if first, dup := seen[r.id]; dup {
				r.err = fmt.Sprintf("duplicate id %q: first on line %d", r.id, first)
			} else {
				seen[r.id] = r.line
			}
		}
		if r.err != "" {
			c.badLines[r.line] = true
			if r.id == "" {
				c.unidentified++
			}
			c.bad = append(c.bad, store.EntryError{DN: fmt.Sprintf("%s:%d", imp.FileName, r.line), ExternalID: r.id,
				Kind: store.ObjectUser, Message: r.err})
		}
	}
	c.rows = int64(p.rows)
	if c.rows == 0 {
		return c, fileErrorf("%s has a header and no rows: an empty export is never imported", imp.FileName)
	}
	if float64(len(c.bad)) > MaxBadShare*float64(c.rows) {
		return c, fileErrorf("%s: %d of %d rows are bad (more than %d%%): the file is not imported; the first: line %s",
			imp.FileName, len(c.bad), c.rows, int(MaxBadShare*100), strings.TrimPrefix(c.bad[0].DN, imp.FileName+":")+": "+c.bad[0].Message)
	}
	return c, nil
}

func (s *Service) open(sp *Spool, imp Import) (*parser, error) {
	f, err := os.Open(sp.f.Name())
	if err != nil {
		return nil, fmt.Errorf("reading the spooled file: %w", err)
	}
	p, err := newParser(f, imp.Directory, format{encoding: imp.Encoding, delimiter: imp.Delimiter})
	if err != nil {
		f.Close()
		var fe *FileError
		if errors.As(err, &fe) {
			return nil, fileErrorf("%s: %s", imp.FileName, fe.msg)
		}
		return nil, err
	}
	p.close = func() { f.Close() }
	return p, nil
}

// fail ends run id, failed before anything was applied: the bad rows
// found are its errors (the first ones), the reason its message.
func (s *Service) fail(ctx context.Context, id int64, imp Import, c *checked, why error) (*store.Run, error) {
	if c != nil && len(c.bad) > 0 {
		b := &store.Batch{RunID: id, DirectoryID: imp.Directory.ID, Sequence: 1, Errors: c.bad[:min(len(c.bad), previewErrors)]}
		// Errors without ids: nothing of the directory is marked seen.
		for i := range b.Errors {
			b.Errors[i].ExternalID = ""
		}
		if _, err := s.st.ApplyBatch(ctx, b); err != nil {
			s.log.Warn("recording the bad rows of a failed file", "run", id, "err", err)
		}
	}
	s.log.Warn("file import failed before anything was applied", "run", id, "directory", imp.Directory.Name, "reason", why)
	r, err := s.eng.Fail(ctx, id, why.Error()+"; nothing was applied")
	if err != nil {
		return nil, err
	}
	return r, nil
}

// apply applies the good rows of a checked file to run id in batches,
// with the bad rows as its errors, then ends it: a full import sweeps
// (through the safeguard), held for an admin when rows could not be
// identified.
func (s *Service) apply(ctx context.Context, id int64, sp *Spool, imp Import, c *checked) (*store.Run, error) {
	ap, err := s.eng.Applier(ctx, id)
	if err != nil {
		return nil, err
	}
	failRun := func(err error) (*store.Run, error) {
		if errors.Is(err, ingest.ErrRunEnded) {
			return nil, err // cancelled meanwhile: nothing to end
		}
		r, ferr := s.eng.Fail(ctx, id, err.Error()+"; nothing was swept")
		if ferr != nil {
			return nil, errors.Join(err, ferr)
		}
		return r, err
	}
	p, err := s.open(sp, imp)
	if err != nil {
		return failRun(err)
	}
	defer p.done()
	seq := uint64(0)
	b := &store.Batch{Errors: c.bad}
	flush := func() error {
		seq++
		b.RunID, b.DirectoryID, b.Sequence = id, imp.Directory.ID, seq
		if _, err := ap.Commit(ctx, b); err != nil {
			return err
		}
		b = &store.Batch{Upserts: make([]*store.Object, 0, batchSize)}
		return nil
	}
	for {
		r, err := p.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return failRun(fmt.Errorf("%s changed while it was imported: %w", imp.FileName, err))
		}
		if c.badLines[r.line] || r.obj == nil {
			continue
		}
		r.obj.Hash = ingest.Hash(r.obj)
		b.Upserts = append(b.Upserts, r.obj)
		if len(b.Upserts) >= batchSize {
			if err := flush(); err != nil {
				return failRun(err)
			}
		}
	}
	if len(b.Upserts) > 0 || len(b.Errors) > 0 || seq == 0 {
		if err := flush(); err != nil {
			return failRun(err)
		}
	}
	var run *store.Run
	if imp.Full && c.unidentified > 0 {
		run, err = s.eng.FinishHeld(ctx, id, fmt.Sprintf("%d rows of %s have no readable id, and their users may be among those absent",
			c.unidentified, imp.FileName))
	} else {
		run, err = s.eng.Finish(ctx, id)
	}
	if err != nil {
		return nil, err
	}
	s.log.Info("file import ended", "run", id, "directory", imp.Directory.Name, "state", run.State, "seen", run.Seen,
		"created", run.Created, "updated", run.Updated, "deprovisioned", run.Deprovisioned, "errors", run.Errors)
	return run, nil
}
