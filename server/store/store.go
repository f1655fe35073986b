package store

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Sentinel errors. Backends wrap them; callers test with errors.Is.
var (
	// ErrNotFound: no such row.
	ErrNotFound = errors.New("not found")
	// ErrConflict: a unique key is taken, or a compare-and-set lost.
	ErrConflict = errors.New("conflict")
	// ErrTokenUsed: an enrolment token was already consumed.
	ErrTokenUsed = errors.New("token already used")
	// ErrTokenExpired: an enrolment token is past its expiry.
	ErrTokenExpired = errors.New("token expired")
)

// Store is the hub's only persistent state. Every method is safe for
// concurrent use, and every method that changes several rows does so in one
// transaction. Several hub replicas may share one PostgreSQL store.
type Store interface {
	// Close releases the backend.
	Close() error
	// Ping runs the cheapest query the backend answers: the hub is not
	// ready while it fails.
	Ping(ctx context.Context) error

	// Provisioning: apps, assignments, accounts, the job queue, tasks and
	// the change feed (provision.go).
	Provisioning
	// Console: admin grants, console sessions, activity and user search
	// (console.go).
	Console
	// Rules: group rules and what their evaluation reads (rules.go).
	Rules
	// Notifications: channels, notices and their deliveries (notify.go).
	Notifications

	// CreateDirectory inserts d and sets d.ID and d.CreatedAt.
	// A taken name is ErrConflict.
	CreateDirectory(ctx context.Context, d *Directory) error
	// UpdateDirectory replaces the settings of the directory with d.ID.
	UpdateDirectory(ctx context.Context, d *Directory) error
	// GetDirectory returns a directory by name, or ErrNotFound.
	GetDirectory(ctx context.Context, name string) (*Directory, error)
	// GetDirectoryByID returns a directory by id, or ErrNotFound.
	GetDirectoryByID(ctx context.Context, id int64) (*Directory, error)
	// ListDirectories returns all directories ordered by name.
	ListDirectories(ctx context.Context) ([]*Directory, error)
	// DirectoryStats counts a directory's users per status and its groups.
	DirectoryStats(ctx context.Context, directoryID int64) (DirectoryStats, error)
	// SetSourceToken stores the hash of a SCIM source's bearer token,
	// replacing the previous one. Unknown directory: ErrNotFound.
	SetSourceToken(ctx context.Context, directoryID int64, hash []byte) error
	// DirectoryBySourceToken returns the directory whose source token has
	// this hash, or ErrNotFound.
	DirectoryBySourceToken(ctx context.Context, hash []byte) (*Directory, error)

	// CreateRun inserts r (State running) and sets r.ID and r.StartedAt. A
	// directory has at most one full and one incremental run that is running
	// or paused at a time: another is ErrConflict (enforced by the database,
	// so two hub replicas cannot both start one).
	CreateRun(ctx context.Context, r *Run) error
	// GetRun returns a run, or ErrNotFound.
	GetRun(ctx context.Context, id int64) (*Run, error)
	// ListRuns returns runs newest first.
	ListRuns(ctx context.Context, f RunFilter) ([]*Run, error)
	// ClaimRun sets AgentID and SessionID of a running run that has no
	// agent yet. It returns ErrConflict when another session claimed it or
	// the run is not running; claiming again with the same session
	// succeeds.
	ClaimRun(ctx context.Context, runID int64, agentID, sessionID string) error
	// TransitionRun moves a run from one of the states in from to the state
	// in u, and sets the fields u names (Message and PendingDeprovision
	// always, FinishedAt when u.Finished). A run in none of the from states is
	// ErrConflict (it was ended meanwhile), so two deciders cannot both win.
	TransitionRun(ctx context.Context, runID int64, from []RunState, u RunUpdate) (*Run, error)
	// RunErrors returns up to limit entry errors recorded for a run, in
	// the order recorded. A run keeps its first 1,000 (limit 0: all kept);
	// Run.Errors counts them all.
	RunErrors(ctx context.Context, runID int64, limit int) ([]EntryError, error)

	// ApplyBatch applies one batch of a run in one transaction: it upserts
	// objects by (directory, external id), never by DN; an object whose hash
	// is unchanged and whose status is not deprovisioned is not rewritten,
	// only marked seen by the run (a deprovisioned one reappearing is
	// restored to its status). Every object in the batch is marked seen by
	// the run at the current time. It applies deletes (status
	// deprovisioned, nothing removed), records
	// entry errors (their known external ids count as seen), marks the
	// Present external ids seen (nothing else: they are not counted in
	// Seen, which counts the objects sent), adds to the
	// run's counters, stores the checkpoint when given, and records the
	// batch's sequence. A batch whose sequence is not above the run's last
	// applied sequence changes nothing and returns Duplicate, even when the
	// run has ended since: the effect of at-least-once delivery is exactly
	// once. Sequences start at 1. Any other batch of a run that is not
	// running is ErrConflict. Membership deltas (AddMembers, RemoveMembers)
	// always count as a change. Every real write of an object (create,
	// update, restore, delete) adds one to its Revision. The groups of a
	// local directory name members by id, and only they do: another key in
	// a local group, or an id key in another directory's group, fails the
	// batch.
	//
	// Change capture and full imports run side by side: batches of an
	// incremental run stamp the objects they write, find unchanged or delete
	// (even one already deprovisioned) as captured now; a full run never
	// overwrites, restores, deletes or counts as changed an object captured
	// at or after the full run started (its snapshot may be older than what
	// capture applied), it only marks it seen and counts it unchanged. The
	// guard holds against a capture batch committing concurrently.
	ApplyBatch(ctx context.Context, b *Batch) (BatchResult, error)
	// ApplyBatches applies batches in order, each as ApplyBatch would (a
	// later one sees what an earlier one wrote, and a repeated sequence is
	// Duplicate), in one transaction: all of them commit, or none does.
	ApplyBatches(ctx context.Context, bs []*Batch) ([]BatchResult, error)

	// SweepCandidates counts what a sweep after run would deprovision:
	// users and groups of the run's directory that are not deprovisioned,
	// were not seen by the run, and were not seen by any batch since the run
	// started (an object an incremental batch touched meanwhile exists).
	// It also counts the directory's users and groups that are not
	// deprovisioned and were there before the run started.
	SweepCandidates(ctx context.Context, runID int64) (SweepCount, error)
	// Sweep deprovisions the candidates SweepCandidates counts and moves the
	// run from one of the from states to completed with the counts (added
	// to Deprovisioned; PendingDeprovision cleared; FinishedAt and Message
	// set), all in one transaction. It returns the updated run. ErrConflict
	// as for TransitionRun.
	Sweep(ctx context.Context, runID int64, from []RunState, message string) (*Run, error)
	// SweepPresent deprovisions the candidates SweepCandidates counts for a
	// running run without ending it (the present phase of a syncrepl
	// refresh: what was neither sent nor declared present since the run
	// started is gone), adds them to the run's Deprovisioned counter and
	// returns how many there were. A run that is not running is
	// ErrConflict, an unknown one ErrNotFound. "Since the run started": a
	// refresh in the middle of a long incremental run needs a run of its
	// own.
	SweepPresent(ctx context.Context, runID int64) (int64, error)

	// Checkpoint returns the stored capture checkpoint of a directory; nil
	// when there is none.
	Checkpoint(ctx context.Context, directoryID int64) ([]byte, error)
	// SetCheckpoint stores a directory's capture checkpoint (taken when a
	// full import began, stored once it completed); nil or empty clears it.
	// Unknown directory: ErrNotFound.
	SetCheckpoint(ctx context.Context, directoryID int64, data []byte) error
	// SetRunStrategy records how an incremental run captures changes
	// ("syncrepl", "dirsync", "psearch", "poll"). Unknown run: ErrNotFound.
	SetRunStrategy(ctx context.Context, runID int64, strategy string) error

	// ListUsers returns users ordered by id; Groups is filled when
	// f.WithGroups.
	ListUsers(ctx context.Context, f UserFilter) ([]*User, error)
	// GetUser returns a user by id, or ErrNotFound.
	GetUser(ctx context.Context, id string) (*User, error)
	// GetUsers returns the users of ids the hub has (an unknown id is
	// left out, not an error), ordered by id: a push reads the users of a
	// claimed batch of jobs at once.
	GetUsers(ctx context.Context, ids []string) ([]*User, error)
	// FindUsers returns users whose username equals name, case-insensitively,
	// in one directory when directoryID is not 0.
	FindUsers(ctx context.Context, directoryID int64, name string) ([]*User, error)
	// UserGroups returns the groups (not deprovisioned) that list the user as
	// a direct member: by DN or by username (memberUid) in its directory, by
	// id in any (a local group), ordered by name.
	UserGroups(ctx context.Context, userID string) ([]*Group, error)
	// ListGroups returns groups ordered by name, with member counts.
	ListGroups(ctx context.Context, f GroupFilter) ([]*Group, error)
	// GetGroup returns a group by id with member counts, or ErrNotFound.
	GetGroup(ctx context.Context, id string) (*Group, error)
	// FindGroups returns groups whose name equals name, case-insensitively.
	FindGroups(ctx context.Context, directoryID int64, name string) ([]*Group, error)
	// ObjectByExternalID returns the object of a directory that holds an
	// external id, of either kind and any status, or ErrNotFound: a
	// directory holds one object per external id.
	ObjectByExternalID(ctx context.Context, directoryID int64, externalID string) (ObjectRef, error)
	// GroupMembers returns the direct member values of a group, each with
	// the object it resolves to (if any), ordered by value: a DN or a
	// username in the group's directory, an id (see MemberRef) in any.
	GroupMembers(ctx context.Context, groupID string) ([]Member, error)
	// GroupMembersPage returns up to limit direct members of a group,
	// resolved as GroupMembers resolves them, ordered by Key, after the
	// member whose Key is afterKey ("": from the first). Unknown group:
	// ErrNotFound.
	GroupMembersPage(ctx context.Context, groupID, afterKey string, limit int) ([]Member, error)
	// UserGroupsTransitive returns every group (not deprovisioned) the user
	// belongs to directly (by DN or memberUid) or through nested groups,
	// each once, with the shortest nesting depth (1: direct) and, for
	// depth > 1, the name of the group through which it is reached (see
	// GroupMembership.Via). A group nests in another when a DN member value
	// of the outer one names it in the same directory, or its id does (a
	// local group's member, of any directory); a deprovisioned group breaks
	// the chain through it. Cycles in the directory's nesting
	// terminate. Ordered by depth, then name. Unknown user: ErrNotFound.
	UserGroupsTransitive(ctx context.Context, userID string) ([]GroupMembership, error)
	// GroupUsersTransitive returns the users that are members of a group
	// directly or through nested groups, each once, ordered by id. Member
	// values resolve as in GroupMembers (a live user before a deprovisioned
	// one with the same DN or name), so a deprovisioned user appears only
	// when no live one holds its key. A deprovisioned group, in the chain or
	// asked for, grants nothing: its list is empty. Unknown group:
	// ErrNotFound.
	GroupUsersTransitive(ctx context.Context, groupID string) ([]*User, error)

	// CreateEnrollToken stores an enrolment token by the hash of its secret.
	CreateEnrollToken(ctx context.Context, t *EnrollToken) error
	// ConsumeEnrollToken marks the token with this hash used by agentID and
	// returns it. Unknown: ErrNotFound; used: ErrTokenUsed; past its expiry:
	// ErrTokenExpired. Exactly one of two concurrent callers wins.
	ConsumeEnrollToken(ctx context.Context, hash []byte, agentID string, now time.Time) (*EnrollToken, error)

	// CreateAgent inserts an enrolled agent.
	CreateAgent(ctx context.Context, a *Agent) error
	// GetAgent returns an agent, or ErrNotFound.
	GetAgent(ctx context.Context, id string) (*Agent, error)
	// ListAgents returns agents ordered by name then id.
	ListAgents(ctx context.Context) ([]*Agent, error)
	// AgentConnected records a new stream of an agent: its session id,
	// version, capabilities and last-seen time.
	AgentConnected(ctx context.Context, id, sessionID, version string, capabilities []string, now time.Time) error
	// AgentSeen updates an agent's last-seen time while its session is the
	// current one; a session that another replaced is ErrConflict (its
	// stream should end).
	AgentSeen(ctx context.Context, id, sessionID string, now time.Time) error
	// AgentLag records how far an agent's capture runs behind: from the
	// agent reading its newest change to the hub committing it. Kept to the
	// millisecond. Unknown agent: ErrNotFound.
	AgentLag(ctx context.Context, id string, lag time.Duration) error
	// AgentDisconnected clears the session id when it is still sessionID,
	// and otherwise does nothing.
	AgentDisconnected(ctx context.Context, id, sessionID string, now time.Time) error
	// RevokeAgent marks an agent revoked (a second revocation keeps the
	// first time) and returns it.
	RevokeAgent(ctx context.Context, id string, now time.Time) (*Agent, error)
	// RenewAgentCertificate records an agent's renewed client certificate
	// (serial and expiry) as pending, unless the agent is revoked, which is
	// ErrConflict, and returns the agent. Unknown agent: ErrNotFound. The
	// current certificate stays current until UseAgentCertificate.
	RenewAgentCertificate(ctx context.Context, id, serial string, expiresAt time.Time) (*Agent, error)
	// UseAgentCertificate makes the pending certificate with serial the
	// current one, on its first use, and returns the agent: from then on
	// the one before is not the agent's. A serial that is not pending, or a
	// revoked agent, is ErrConflict; an unknown agent ErrNotFound.
	UseAgentCertificate(ctx context.Context, id, serial string) (*Agent, error)

	// CreateAdminToken stores an admin token by the hash of its secret; it
	// sets ID and CreatedAt when they are empty. A taken hash is
	// ErrConflict.
	CreateAdminToken(ctx context.Context, t *AdminToken) error
	// AdminTokenByHash returns the token with this hash, or ErrNotFound.
	AdminTokenByHash(ctx context.Context, hash []byte) (*AdminToken, error)
	// ListAdminTokens returns every admin token, revoked ones included,
	// oldest first.
	ListAdminTokens(ctx context.Context) ([]*AdminToken, error)
	// RevokeAdminToken revokes the live token whose id or name is ref (a
	// second revocation keeps the first time) and returns it; unknown:
	// ErrNotFound.
	RevokeAdminToken(ctx context.Context, ref string, now time.Time) (*AdminToken, error)
	// AdminTokenUsed records when a token last authenticated a call; kept
	// to the minute, so most calls write nothing.
	AdminTokenUsed(ctx context.Context, id string, now time.Time) error

	// AppendAudit appends audit events; it sets each one's ID, and At when
	// zero. Events are never updated.
	AppendAudit(ctx context.Context, events ...*AuditEvent) error
	// ListAudit returns audit events matching f, oldest first.
	ListAudit(ctx context.Context, f AuditFilter) ([]*AuditEvent, error)
	// PruneAudit deletes the events older than before and returns how many.
	PruneAudit(ctx context.Context, before time.Time) (int64, error)

	// SetHold puts an admin's hold on a user, or lifts it (h.Status ""), in
	// one transaction: the user's status becomes the stronger of the hold
	// and what its source says (deprovisioned, then suspended, then
	// active); when it changes, that is a real write (revision, change
	// feed, DeprovisionedAt) with a lifecycle audit event by h.By (action
	// given, detail h.Reason). runID names the run of kind admin it belongs
	// to. Unknown user: ErrNotFound.
	SetHold(ctx context.Context, userID string, h Hold, action string, runID int64) (*User, error)

	// PurgeDue returns up to limit users of directory deprovisioned at or
	// before cutoff (its retention has run out), oldest first — those its
	// directory says are gone: a user an admin holds deprovisioned while
	// its directory still has it is kept, held, until either changes.
	PurgeDue(ctx context.Context, directoryID int64, cutoff time.Time, limit int) ([]*User, error)
	// PurgeUser removes a deprovisioned user and its member rows (those of
	// its directory's groups, and those naming it by id anywhere), keeping
	// one audit event (user.purged, by actor, with its id, username and
	// directory) in the same transaction; a user that is not deprovisioned
	// (restored since), or that its directory still has, is ErrConflict,
	// an unknown one ErrNotFound. Its app accounts stay, each with a job
	// queued in the same transaction, for the apps to delete.
	PurgeUser(ctx context.Context, userID, actor string) (*User, error)

	// UserStatusCounts counts the users of each directory by status.
	UserStatusCounts(ctx context.Context) ([]StatusCount, error)

	// PasswordDigests returns the digests of the passwords the hub set
	// for a user in a directory (the newest 24), newest first: the
	// not-reused rule of the directory's password policy.
	PasswordDigests(ctx context.Context, directoryID int64, userID string) ([]PasswordDigest, error)
	// AddPasswordDigest records one; unknown directory: ErrNotFound.
	AddPasswordDigest(ctx context.Context, directoryID int64, userID string, d PasswordDigest) error
}

// PasswordDigest is the salted digest of a password the hub set (never
// the password).
type PasswordDigest struct {
	Salt, Sum []byte
	At        time.Time
}

// AuditEvent is one entry of the audit trail: who did what to which
// target, and how it ended.
type AuditEvent struct {
	ID      int64
	At      time.Time
	Actor   string // "admin:NAME", "agent:ID", "hub", "run:N"
	Action  string // dotted, e.g. "app.create", "user.deprovisioned"
	Target  string
	Outcome string // AuditOK, AuditRefused, AuditFailed
	Detail  string
	// AppID is the app a push event (push.succeeded, push.failed) is of:
	// the activity counts pushes per app. Not kept with the event.
	AppID int64
}

// Audit outcomes.
const (
	AuditOK      = "ok"
	AuditRefused = "refused"
	AuditFailed  = "failed"
)

// AuditFilter selects audit events. Empty fields match everything; Action
// and Target match a prefix ("app." matches every app action), Actor
// matches whole or by prefix when it ends in ":".
type AuditFilter struct {
	Since, Until time.Time
	Actor        string
	Action       string
	Target       string
	Outcome      string
	AfterID      int64
	// BeforeID keeps the events before this id (paging newest first).
	BeforeID int64
	// Newest returns the newest events first (the limit keeps the newest).
	Newest bool
	Limit  int // default 1000
}

// StatusCount is how many users of a directory have a status.
type StatusCount struct {
	Directory string
	Status    Status
	Count     int64
}

// DirectoryKind mirrors the proto enum; stored as text.
type DirectoryKind string

// Directory kinds.
const (
	KindOpenLDAP DirectoryKind = "openldap"
	KindAD       DirectoryKind = "ad"
	// KindSCIM is an upstream source (an HR system) that writes users and
	// groups to the hub's SCIM endpoint.
	KindSCIM DirectoryKind = "scim"
	// KindLocal is mastered by the hub itself: its users and groups are
	// made, changed and deleted by admins (server/people), and only its
	// groups may name members by id, of any directory.
	KindLocal DirectoryKind = "local"
	// KindCSV is a file of users (a CSV export of an HR system) that an
	// admin or an agent watching a folder sends to the hub; nothing reads
	// it but the hub, one file at a time.
	KindCSV DirectoryKind = "csv"
)

// Directory is a directory's hub-side settings (the agent keeps the
// connection details and secrets).
type Directory struct {
	ID               int64
	Name             string
	Kind             DirectoryKind
	BaseDN           string
	UserFilter       string
	GroupFilter      string
	Mapping          Mapping
	SafeguardPercent int // 0-100
	SafeguardMax     int
	// CaptureStrategy overrides the strategy detected from the rootDSE:
	// "" (auto), "syncrepl", "dirsync", "psearch" or "poll".
	CaptureStrategy string
	// PollInterval wakes DirSync rounds and drives polling (0: default 5 s).
	// Both intervals are kept to the millisecond.
	PollInterval time.Duration
	// FullImportInterval schedules full reconciliations (0: default 24 h;
	// negative: off, kept negative).
	FullImportInterval time.Duration
	CreatedAt          time.Time
	// Mastered lists the profile fields a SCIM source owns (ProfileFields);
	// empty: all of them. It writes only those; the rest stay as they are.
	Mastered []string
	// WriteBack, when set, lets the hub write users into the directory (an
	// AD or OpenLDAP provisioning target): a super-admin's decision. nil:
	// nothing is written there.
	WriteBack *WriteBack
	// Retention is how long a deprovisioned user of the directory keeps
	// its profile, groups and app accounts before it is purged (0: the
	// hub's default). Kept to the millisecond.
	Retention time.Duration
	// PasswordPolicy is the rules every password the hub sets there
	// follows, as written ("min-length=14,classes=3,not-username,
	// not-reused"; "" none): a super-admin's (server/passwords).
	PasswordPolicy string
	// CSV is a csv directory's file layout (nil for the other kinds).
	CSV *CSVLayout
}

// CSVLayout is how the rows of a csv directory's files become users; the
// profile fields come from the columns Mapping names. Stored as JSON.
type CSVLayout struct {
	// IDColumn identifies a user across files ("": the username column).
	IDColumn string `json:"id_column,omitempty"`
	// StatusColumn, when set, tells active rows (ActiveValues, compared
	// ignoring case) from the others, which suspend their users.
	StatusColumn string   `json:"status_column,omitempty"`
	ActiveValues []string `json:"active_values,omitempty"`
}

// WriteBack is where and how the hub may write into a directory. Stored as
// JSON, but for the initial password, which is sealed and stored apart.
type WriteBack struct {
	// OUs are the DNs under which (subtrees included) the hub may create
	// entries and change, move, disable and delete those it created.
	OUs []string `json:"ous"`
	// Groups are the DNs of the groups the hub may add its entries to.
	Groups []string `json:"groups,omitempty"`
	// MustChangePassword makes a created account's user change the initial
	// password at the first sign-in.
	MustChangePassword bool `json:"must_change_password"`
	// InitialPassword is the sealed mapping expression of a created
	// account's password (nil: none). The store keeps it as it is given.
	InitialPassword []byte `json:"-"`
}

// ProfileFields are the profile fields a source may master, by name.
var ProfileFields = []string{"email", "given_name", "family_name", "display_name",
	"employee_number", "department", "title", "manager"}

// ProfileField is one named field of two profiles, to copy between them.
type ProfileField struct {
	Name     string
	Dst, Src *string
}

// ProfileFieldsOf pairs the fields of dst and src by their ProfileFields
// name.
func ProfileFieldsOf(dst, src *Profile) []ProfileField {
	return []ProfileField{
		{"email", &dst.Email, &src.Email}, {"given_name", &dst.GivenName, &src.GivenName},
		{"family_name", &dst.FamilyName, &src.FamilyName}, {"display_name", &dst.DisplayName, &src.DisplayName},
		{"employee_number", &dst.EmployeeNumber, &src.EmployeeNumber}, {"department", &dst.Department, &src.Department},
		{"title", &dst.Title, &src.Title}, {"manager", &dst.Manager, &src.Manager},
	}
}

// Mapping names the LDAP attribute that fills each profile field. Stored as
// JSON.
type Mapping struct {
	Username         string   `json:"username"`
	Email            string   `json:"email"`
	GivenName        string   `json:"given_name"`
	FamilyName       string   `json:"family_name"`
	DisplayName      string   `json:"display_name"`
	EmployeeNumber   string   `json:"employee_number"`
	Department       string   `json:"department"`
	Title            string   `json:"title"`
	Manager          string   `json:"manager"`
	GroupName        string   `json:"group_name"`
	GroupDescription string   `json:"group_description"`
	GroupMembers     []string `json:"group_members"`
	Extra            []string `json:"extra"`
}

// DirectoryStats counts a directory's objects.
type DirectoryStats struct {
	Active, Suspended, Deprovisioned int64
	Groups                           int64 // not deprovisioned
}

// Status is a user's (or group's) lifecycle status.
type Status string

// Statuses.
const (
	StatusActive        Status = "active"
	StatusSuspended     Status = "suspended"
	StatusDeprovisioned Status = "deprovisioned"
)

// ObjectKind is user or group.
type ObjectKind string

// Object kinds.
const (
	ObjectUser  ObjectKind = "user"
	ObjectGroup ObjectKind = "group"
)

// Object is one user or group as the sync layer hands it to ApplyBatch:
// already mapped into the profile, with a content hash.
type Object struct {
	Kind       ObjectKind
	ExternalID string
	DN         string
	// DNKey is the normalised DN that member values are matched against.
	DNKey string
	// Status is active or suspended (deprovisioned comes only from a sweep
	// or a delete).
	Status Status
	// Hash covers every field below and the members; equal hash, no write.
	Hash string
	// IfRevision, when not 0, writes the object only while its stored
	// Revision is this one: an admin's change made from what it read. An
	// object written since (or unknown) fails the batch with ErrConflict,
	// rather than a newer version being overwritten by an older read. It
	// is checked as the batch reads what it writes; a directory's write
	// runs run one at a time, which makes it a compare-and-set for the
	// writes the hub itself makes (ingest.Engine.ApplyWrite).
	IfRevision int64

	// User fields.
	Profile Profile

	// Group fields.
	Name        string
	Description string
	// Members is the complete set of member keys (see MemberKey) when
	// MembersComplete; otherwise AddMembers/RemoveMembers are deltas.
	Members         []MemberRef
	MembersComplete bool
	AddMembers      []MemberRef
	RemoveMembers   []MemberRef
}

// Profile is the hub's user profile.
type Profile struct {
	Username       string
	Email          string
	GivenName      string
	FamilyName     string
	DisplayName    string
	EmployeeNumber string
	Department     string
	Title          string
	Manager        string
	Extra          map[string][]string
}

// MemberRef is a member value as read and the key it is matched by:
// "dn:" + normalised DN, or "uid:" + lower-cased username (posixGroup
// memberUid), both resolved in the group's directory; or "id:" + hub
// object id (IDMember), resolved whatever the object's directory — a user,
// or a group nested in this one. A local directory's groups hold id keys
// only, and only they hold them.
type MemberRef struct {
	Value string
	Key   string
	// ExternalID, when the directory names it (AD's extended DNs), is the
	// member object's external id. In a delta it wins over the DN: an
	// addition is keyed by the DN the hub knows the object by (when it
	// knows it), and a removal also removes that DN's row, so a delta that
	// names a member by an older or newer DN than the hub's still applies.
	ExternalID string
}

// IDMember is the member that names a hub object (user or group) by its
// id: the value is the id.
func IDMember(id string) MemberRef { return MemberRef{Value: id, Key: MemberKeyID + id} }

// MemberKeyID starts the key of a member named by hub object id.
const MemberKeyID = "id:"

// Batch is one ChangeBatch, mapped, ready to apply.
type Batch struct {
	RunID       int64
	DirectoryID int64
	Sequence    uint64
	Upserts     []*Object
	// Deletes are external ids that the directory reports gone.
	Deletes []string
	// Departed are external ids that left the directory's scope (moved
	// outside the base DN, or out of the filter) but exist there: they are
	// deprovisioned as Deletes are, but a directory that links members
	// keeps them in its groups, so the hub keeps their member rows too — a
	// return restores their groups with them.
	Departed []string
	// Present are external ids declared present without their data (a
	// syncrepl present phase): they count as seen by the run.
	Present []string
	Errors  []EntryError
	// Checkpoint is stored with the batch when not nil.
	Checkpoint []byte
	// LinkedMembers says the directory's member values are links to
	// objects (Active Directory): when an upsert changes an object's DN,
	// the member rows of the directory's groups that named the old DN name
	// the new one, and a deleted object leaves every group of the
	// directory, as the directory drops links to deleted objects (Samba's
	// DirSync does not report those removals) — a departed one does not. A
	// group the hub unlinks a member from is marked for a rewrite at its
	// next read (its stored hash no longer covers its rows). Elsewhere
	// (OpenLDAP without refint) a group keeps the values it lists until the
	// group changes.
	LinkedMembers bool
	// Actor, when set, is who made the write (an admin: "admin:NAME"): the
	// batch's lifecycle audit events are by it, their detail naming the
	// run; when empty they are by "run:N".
	Actor string
	// Audit are events committed with the batch, in its transaction (a
	// duplicate commits none): what an admin did that the lifecycle events
	// do not tell (a group made, a member added). Actor fills an empty
	// actor, the current time an empty At.
	Audit []*AuditEvent
}

// BatchResult says what a batch did.
type BatchResult struct {
	Duplicate                                  bool
	Created, Updated, Unchanged, Deleted, Errs int
}

// EntryError is one entry that could not be imported.
type EntryError struct {
	DN         string
	ExternalID string
	Kind       ObjectKind
	Message    string
}

// RunKind is full, incremental or write.
type RunKind string

// Run kinds.
const (
	RunFull        RunKind = "full"
	RunIncremental RunKind = "incremental"
	// RunWrite is one batch the hub applies itself, not read by an agent:
	// a write of a SCIM source, a sign-in's entry (just in time).
	RunWrite RunKind = "write"
	// RunAdmin is an admin's action on a user (a hold put or lifted, a
	// restore), with its audit event and its change.
	RunAdmin RunKind = "admin"
	// RunRule is a group rule's change that would remove more members
	// than the safeguard allows: paused for an admin to confirm or cancel
	// (server/rules), never swept.
	RunRule RunKind = "rule"
)

// RunState is where a run stands.
type RunState string

// Run states.
const (
	RunRunning           RunState = "running"
	RunCompleted         RunState = "completed"
	RunFailed            RunState = "failed"
	RunCancelled         RunState = "cancelled"
	RunPausedBySafeguard RunState = "paused_by_safeguard"
)

// NamedRun is a run's message with its id where the message says RUN, in
// the commands it names (`idsyncctl import confirm RUN`): the engine
// writes the message before it knows how it will be shown.
func NamedRun(id int64, message string) string {
	n := strconv.FormatInt(id, 10)
	return strings.NewReplacer("import confirm RUN", "import confirm "+n, "import cancel RUN", "import cancel "+n).Replace(message)
}

// Run is one import run.
type Run struct {
	ID          int64
	DirectoryID int64
	Directory   string // name, filled on read
	Kind        RunKind
	State       RunState
	Trigger     string
	AgentID     string
	SessionID   string
	// Counters.
	Seen, Created, Updated, Unchanged, Deprovisioned, Errors int64
	// PendingDeprovision is what the paused sweep would deprovision.
	PendingDeprovision int64
	// Message says why a run failed or paused.
	Message      string
	LastSequence uint64
	// Strategy is how an incremental run captures changes.
	Strategy   string
	StartedAt  time.Time
	FinishedAt time.Time // zero while running or paused
}

// RunUpdate is what TransitionRun sets.
type RunUpdate struct {
	State              RunState
	Message            string
	PendingDeprovision int64
	// Finished sets FinishedAt to now.
	Finished bool
}

// RunFilter selects runs.
type RunFilter struct {
	DirectoryID int64 // 0: all
	States      []RunState
	Kinds       []RunKind // nil: all
	Limit       int       // 0: 50
	// SessionID selects runs claimed by one agent session.
	SessionID string
}

// SweepCount is what a sweep would do.
type SweepCount struct {
	// Users and Groups would be deprovisioned.
	Users, Groups int64
	// ActiveUsers and ActiveGroups are the directory's users and groups
	// that are not deprovisioned and were there before the run started:
	// what the run could have seen, and the sweep could deprovision.
	ActiveUsers, ActiveGroups int64
}

// User is a hub user.
type User struct {
	ID          string
	DirectoryID int64
	Directory   string // name, filled on read
	ExternalID  string
	DN          string
	Status      Status
	Profile
	// Groups are the names of the groups (not deprovisioned) the user is a
	// direct member of; filled by UserGroups callers or ListUsers WithGroups.
	Groups []string
	// Revision counts the real writes of the object (create, update,
	// restore, delete, deprovisioning by a sweep); 1 once created.
	Revision  int64
	CreatedAt time.Time
	UpdatedAt time.Time
	// DeprovisionedAt is when the user became deprovisioned (zero unless
	// deprovisioned): downstream deletes wait for a retention after it.
	DeprovisionedAt time.Time
	// SourceStatus is what the user's directory or source says; Status is
	// the stronger of it and an admin's Hold.
	SourceStatus Status
	// Hold is an admin's hold on the user (Status "" when none).
	Hold Hold
}

// Hold is an admin's hold on a user: the status it keeps (deprovisioned or
// suspended) whatever its directory or source says, until lifted.
type Hold struct {
	Status Status
	// By is the actor ("admin:NAME"), Reason what it said, At when.
	By, Reason string
	At         time.Time
	// Role is the role By acted with (server/auth: "super-admin",
	// "group-admin"; "" for a hold set before roles were recorded): a
	// lower role does not lift the hold.
	Role string
}

// GroupMembership is a group a user belongs to, directly or through nesting.
type GroupMembership struct {
	Group *Group
	// Depth is 1 for a direct membership, 2 for a member of a member group…
	Depth int
	// Via is the name of the nested group through which the user is in
	// Group (depth > 1): the previous step, a member of Group at Depth-1
	// (for user ∈ A ∈ B ∈ C, C's Via is B and B's is A), the first by name
	// of several. Following Via gives a shortest chain.
	Via string
}

// UserFilter selects users.
type UserFilter struct {
	DirectoryID int64  // 0: all
	Status      Status // "": all
	AfterID     string
	Limit       int // 0: all
	// IDs, when not nil, keeps only these users: a window of ids that one
	// IN list holds (a group-admin's scope, a window at a time).
	IDs        []string
	WithGroups bool
	// OnlyGroups, when not nil, keeps in Groups (WithGroups) the names of
	// these groups only (by id): the groups a group-admin sees.
	OnlyGroups []string
}

// Group is a hub group.
type Group struct {
	ID                string
	DirectoryID       int64
	Directory         string
	ExternalID        string
	DN                string
	Name              string
	Description       string
	Status            Status
	MemberCount       int64
	UnresolvedMembers int64
	// Revision counts the real writes of the group, as User.Revision.
	Revision  int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

// GroupFilter selects groups.
type GroupFilter struct {
	DirectoryID int64
	// Prefix keeps the groups whose name starts with it, ignoring case.
	Prefix string
	// AfterName and AfterID resume after the last group of a page.
	AfterName, AfterID string
	Limit              int // 0: all
	// IDs, when not nil, keeps only these groups (a group-admin's own,
	// which one IN list holds).
	IDs []string
}

// ObjectRef names an object of a directory: its kind, id and status.
type ObjectRef struct {
	Kind   ObjectKind
	ID     string
	Status Status
}

// Member is one direct member value of a group and what it resolves to.
type Member struct {
	Value string
	// Key is the value as memberships key it: GroupMembersPage sets it
	// and pages by it.
	Key string
	// ID, Kind and Name are empty when no object matches the value.
	ID   string
	Kind ObjectKind
	Name string
}

// EnrollToken is a single-use agent enrolment token.
type EnrollToken struct {
	Hash      []byte
	Directory string
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    time.Time // zero until used
	AgentID   string
}

// Agent is an enrolled agent.
type Agent struct {
	ID            string
	Name          string
	Directories   []string
	CertSerial    string
	CertExpiresAt time.Time
	// PendingCertSerial and PendingCertExpiresAt are a renewed certificate
	// the agent has not connected with yet ("" when none).
	PendingCertSerial    string
	PendingCertExpiresAt time.Time
	Version              string
	// Capabilities are those the agent announced in its last Hello.
	Capabilities []string
	SessionID    string // non-empty while a stream is open
	// Lag is the newest capture lag the agent's batches showed.
	Lag        time.Duration
	EnrolledAt time.Time
	LastSeen   time.Time
	RevokedAt  time.Time // zero unless revoked
}

// AdminToken is a hashed admin bearer token.
type AdminToken struct {
	ID   string
	Name string
	Role string
	Hash []byte
	// Groups are the ids of the groups a group-admin acts for (tokens
	// made before grants were by id hold names, which grant nothing);
	// Apps the apps an app-admin manages (none: every app).
	Groups     []string
	Apps       []string
	CreatedAt  time.Time
	RevokedAt  time.Time
	LastUsedAt time.Time
}
