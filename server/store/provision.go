package store

import (
	"context"
	"time"
)

// Provisioning is the part of the store behind downstream provisioning:
// apps, assignments, the accounts idsync holds in each app, the durable job
// queue, manual tasks, and the change feed that makes a directory change
// reach the apps at once. It is part of Store.
type Provisioning interface {
	// CreateApp inserts a and sets ID and CreatedAt; a taken name is
	// ErrConflict.
	CreateApp(ctx context.Context, a *App) error
	// UpdateApp replaces the settings of the app with a.ID (not its
	// status: see SetAppStatus).
	UpdateApp(ctx context.Context, a *App) error
	// GetApp returns an app by name, or ErrNotFound.
	GetApp(ctx context.Context, name string) (*App, error)
	// GetAppByID returns an app by id, or ErrNotFound.
	GetAppByID(ctx context.Context, id int64) (*App, error)
	// ListApps returns all apps ordered by name.
	ListApps(ctx context.Context) ([]*App, error)
	// DeleteApp removes an app with its assignments, accounts, jobs, tasks,
	// pushed groups and the records of the directory entries it wrote
	// (which are then the directory's own).
	DeleteApp(ctx context.Context, id int64) error
	// SetAppStatus sets an app's status and its message (e.g. paused after
	// a 401, with why).
	SetAppStatus(ctx context.Context, id int64, status AppStatus, message string) error

	// SetAppPatchSupported records whether the app takes PATCH (from its
	// ServiceProviderConfig), without touching UpdatedAt.
	SetAppPatchSupported(ctx context.Context, id int64, supported bool) error

	// Assign adds an assignment; an existing one is not an error.
	Assign(ctx context.Context, a Assignment) error
	// Unassign removes an assignment; ErrNotFound when there was none.
	Unassign(ctx context.Context, a Assignment) error
	// ListAssignments returns an app's assignments (appID 0: all apps).
	ListAssignments(ctx context.Context, appID int64) ([]Assignment, error)
	// AppsOfUser returns the ids of the apps a user is in scope of: assigned
	// directly, or through a group it is in directly or by nesting
	// (deprovisioned groups grant nothing).
	AppsOfUser(ctx context.Context, userID string) ([]int64, error)
	// AppUsers returns the ids of the users in scope of an app, each once,
	// in id order.
	AppUsers(ctx context.Context, appID int64) ([]string, error)

	// GetAccount returns the account of a user in an app, or ErrNotFound.
	GetAccount(ctx context.Context, appID int64, userID string) (*Account, error)
	// GetAccounts returns the accounts in an app of the users of userIDs
	// that have one, ordered by user id.
	GetAccounts(ctx context.Context, appID int64, userIDs []string) ([]*Account, error)
	// GetAccountByRemoteID returns the account with this remote id, or
	// ErrNotFound.
	GetAccountByRemoteID(ctx context.Context, appID int64, remoteID string) (*Account, error)
	// PutDirectoryWrite inserts or replaces the record of the entry an app
	// with a DirectoryTarget writes for (w.AppID, w.UserID).
	PutDirectoryWrite(ctx context.Context, w *DirectoryWrite) error
	// DeleteDirectoryWrite forgets the record of (appID, userID); none is
	// not an error.
	DeleteDirectoryWrite(ctx context.Context, appID int64, userID string) error
	// FindDirectoryWrite returns the record of app appID for the entry with
	// externalID, else the record of a create in flight (no id known yet)
	// whose DN key is dnKey; ErrNotFound when there is neither. Only the
	// app's own records count: an entry another app wrote is not its.
	FindDirectoryWrite(ctx context.Context, appID int64, externalID, dnKey string) (*DirectoryWrite, error)
	// EntryWrites returns the records of every app that wrote the entry
	// with externalID into directory, ordered by app id.
	EntryWrites(ctx context.Context, directoryID int64, externalID string) ([]*DirectoryWrite, error)
	// WrittenObjects returns which of the external ids and DN keys of
	// directory belong to entries apps wrote there, each with the hub
	// user the entry is of: the change stream skips those (no loop). A DN
	// key counts only while the entry's id is not known (a create in
	// flight). Both kinds of key are in the one map.
	WrittenObjects(ctx context.Context, directoryID int64, externalIDs, dnKeys []string) (map[string]string, error)
	// PutAccount inserts or replaces the account of (a.AppID, a.UserID) and
	// sets its UpdatedAt (and CreatedAt when new).
	PutAccount(ctx context.Context, a *Account) error
	// ListAccounts returns an app's accounts ordered by user id (appID 0:
	// all apps).
	ListAccounts(ctx context.Context, f AccountFilter) ([]*Account, error)
	// CountAccounts counts accounts per app and state.
	CountAccounts(ctx context.Context) ([]AccountCount, error)

	// PutUnmatched replaces the app accounts that an import from the app
	// could not correlate with a hub user.
	PutUnmatched(ctx context.Context, appID int64, accounts []RemoteAccount) error
	// ListUnmatched returns them.
	ListUnmatched(ctx context.Context, appID int64) ([]RemoteAccount, error)

	// PutPushedGroup records the app group a hub group is pushed to and
	// what its push knows of it (remote id, display name, missing members,
	// the last check and the drift it found; not CheckAt), and
	// SetPushedMembers the user ids the app group holds as far as idsync
	// knows (replacing them by difference).
	PutPushedGroup(ctx context.Context, g *PushedGroup) error
	// CheckPushedGroups asks the next push of each of an app's pushed
	// groups to read the group in the app (sets CheckAt to at): a
	// reconcile.
	CheckPushedGroups(ctx context.Context, appID int64, at time.Time) error
	// ListPushedGroups returns an app's pushed groups.
	ListPushedGroups(ctx context.Context, appID int64) ([]*PushedGroup, error)
	// DeletePushedGroup forgets a pushed group and its members.
	DeletePushedGroup(ctx context.Context, appID int64, groupID string) error
	// PushedMembers returns the user ids idsync last put into an app group.
	PushedMembers(ctx context.Context, appID int64, groupID string) ([]string, error)
	// SetPushedMembers applies a membership diff to the pushed members.
	SetPushedMembers(ctx context.Context, appID int64, groupID string, add, remove []string) error
	// NotePushedGroupDrift records what an import from the app found a
	// pushed group gained or lost in the app outside the hub (PushedGroup.
	// Found, at at); the next push that reads the group and sets it back
	// (CheckedAt not before at) clears it. Unknown: ErrNotFound.
	NotePushedGroupDrift(ctx context.Context, appID int64, groupID, found string, at time.Time) error
	// PushesOfGroup returns the apps' records of one hub group pushed to
	// them, ordered by app id: the apps that hold it, and under what name.
	PushesOfGroup(ctx context.Context, groupID string) ([]*PushedGroup, error)

	// PutAppGroups replaces the groups an app holds of its own (no hub
	// group is pushed as them), as an import from the app found them, in
	// one transaction. Unknown app: ErrNotFound.
	PutAppGroups(ctx context.Context, appID int64, groups []*AppGroup) error
	// ListAppGroups returns them, ordered by display name, then remote id.
	ListAppGroups(ctx context.Context, appID int64) ([]*AppGroup, error)

	// Enqueue asks for (app, kind, target) to be made right. Jobs coalesce:
	// a queued job for the same triple is kept (its NextAt moved to the
	// earlier of the two, unless it waits after a failure: LastError set
	// by RetryJob), a running one is marked Again so that it runs
	// once more when it ends, so a burst of changes to one user costs one
	// push. It returns the job.
	Enqueue(ctx context.Context, appID int64, kind JobKind, target string, now time.Time) (*Job, error)
	// EnqueueMany is Enqueue for many targets of one app and kind, at
	// once (duplicates among targets count once).
	EnqueueMany(ctx context.Context, appID int64, kind JobKind, targets []string, now time.Time) error
	// ClaimJobs takes up to limit due jobs (queued with NextAt <= now, or
	// running with an expired lease: a worker died) of an app that is not
	// paused, oldest NextAt first, marks them running for owner until
	// now+lease and increments their Attempts. Two claimers never get the
	// same job (several hub replicas share one queue).
	ClaimJobs(ctx context.Context, appID int64, owner string, now time.Time, lease time.Duration, limit int) ([]*Job, error)
	// ExtendJobLeases moves the lease of the running jobs of owner among
	// ids to until: a worker renews the jobs it holds while it runs them,
	// so that a short lease recovers soon from a dead worker without
	// cutting a long job short.
	ExtendJobLeases(ctx context.Context, owner string, ids []int64, until time.Time) error
	// ReleaseJobs puts every running job of owner back in the queue, due
	// at now, and returns how many: a hub that starts again under the name
	// it had (same host and data directory) takes back what it held when
	// it died, without waiting for the leases to end.
	ReleaseJobs(ctx context.Context, owner string, now time.Time) (int, error)
	// CompleteJob ends a job the owner holds: done, or queued again at once
	// (Attempts reset) when it was marked Again while running. Done jobs
	// are kept for a day for the record, then pruned.
	CompleteJob(ctx context.Context, id int64, owner string, now time.Time) error
	// CompleteJobs completes many jobs the owner holds in one transaction,
	// storing the account each push left (JobResult.Account, nil for none)
	// with them; jobs the owner no longer holds stay as they are (their
	// accounts are stored all the same). It returns how many it completed.
	CompleteJobs(ctx context.Context, owner string, now time.Time, done []JobResult) (int, error)
	// CycleJobs is a job runner's one transaction: it completes c.Done as
	// CompleteJobs does, then claims up to c.Limit due jobs of c.AppID as
	// ClaimJobs does (none when c.Limit is 0: the app is not read either),
	// and returns how many it completed, the jobs it claimed, and the app's
	// status and UpdatedAt as the claim read them, so that a runner learns
	// without another read that the app changed under it. Unknown app
	// (with a claim): ErrNotFound, and nothing is completed.
	CycleJobs(ctx context.Context, c JobCycle) (JobCycleResult, error)
	// RetryJob puts a job the owner holds back in the queue at nextAt with
	// the error that stopped it.
	RetryJob(ctx context.Context, id int64, owner string, nextAt time.Time, lastError string) error
	// WaitJob puts a job the owner holds back in the queue, without an
	// error, to run at until (a retention before a delete) — or at now
	// when a change marked it Again while it ran: that change may be what
	// ends the wait (a restore, a purge). Unknown job: ErrNotFound; not
	// running for owner: ErrConflict.
	WaitJob(ctx context.Context, id int64, owner string, until, now time.Time) error
	// DeadJob dead-letters a job the owner holds: it stays visible and
	// retryable and is not claimed again.
	DeadJob(ctx context.Context, id int64, owner string, lastError string, now time.Time) error
	// RequeueDead puts dead jobs back in the queue with Attempts reset: one
	// by id (id != 0), or all of an app's (appID != 0). It returns how many.
	RequeueDead(ctx context.Context, appID, id int64, now time.Time) (int, error)
	// ListJobs returns jobs ordered by id.
	ListJobs(ctx context.Context, f JobFilter) ([]*Job, error)
	// QueueStats counts an app's jobs per state (appID 0: all apps, by
	// app).
	QueueStats(ctx context.Context) ([]QueueCount, error)

	// CreateTask opens a manual task; an open task of the same app, user and
	// kind is returned instead of a second one.
	CreateTask(ctx context.Context, t *Task) (*Task, error)
	// ListTasks returns tasks ordered by id.
	ListTasks(ctx context.Context, f TaskFilter) ([]*Task, error)
	// ResolveTask marks a task resolved by who; a resolved one is
	// ErrConflict, an unknown one ErrNotFound.
	ResolveTask(ctx context.Context, id int64, by, note string, now time.Time) (*Task, error)

	// Changes returns the objects written after feed position after, in
	// feed order, up to limit, with the position the last one reached. Every
	// real write of a user or group (create, update, restore, delete,
	// deprovision, a membership change) moves it forward; objects written in
	// one transaction share a position. Positions become visible in order:
	// a reader never sees position n+1 before every write of position n has
	// committed.
	Changes(ctx context.Context, after int64, limit int) ([]ObjectChange, int64, error)
	// FeedPosition returns the newest position written.
	FeedPosition(ctx context.Context) (int64, error)
	// ScopeStamp returns the newest feed position and the app's
	// assignments (ordered by kind and target), read together in one
	// query: what decides the app's scope, checked once per push.
	ScopeStamp(ctx context.Context, appID int64) (int64, []Assignment, error)
	// Cursor returns a named, stored position (0 when none), and SetCursor
	// stores one.
	Cursor(ctx context.Context, name string) (int64, error)
	SetCursor(ctx context.Context, name string, pos int64) error
	// TryLease takes or renews the named lease for holder until now+ttl;
	// it reports false while another holder's lease is current. Loops that
	// must run on one hub replica at a time hold one.
	TryLease(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (bool, error)
}

// AppStatus is whether an app's queue runs.
type AppStatus string

// App statuses.
const (
	AppActive AppStatus = "active"
	// AppPaused: the app refused idsync's credentials (401/403); nothing is
	// pushed until an admin fixes them (app update) or resumes it.
	AppPaused AppStatus = "paused"
)

// App is a downstream application provisioned over SCIM 2.0.
type App struct {
	ID      int64
	Name    string
	SCIMURL string
	// AuthKind is "bearer", "basic" or "oauth2"; the secret itself (token,
	// password, client secret) is Secret, encrypted by the hub before it is
	// stored, never in clear.
	AuthKind string
	// Username (basic), or client id (oauth2).
	Username string
	// TokenURL and Scopes for OAuth2 client credentials.
	TokenURL string
	Scopes   []string
	Secret   []byte // ciphertext
	// Operations the app allows.
	AllowCreate, AllowUpdate, AllowDeactivate, AllowDelete, PushGroups bool
	// UpdateMode is "patch" or "put"; "" follows ServiceProviderConfig.
	UpdateMode string
	// RateLimit is requests per second (0: unlimited); Concurrency the
	// parallel requests (0: 4).
	RateLimit   float64
	Concurrency int
	// Mapping is SCIM attribute path → expression over the hub profile.
	Mapping []MappingRule
	// MatchBy is how an import from the app correlates its accounts with
	// hub users: "userName" or "email".
	MatchBy string
	// DeleteAfter is the retention after deprovisioning before a delete
	// downstream (only with AllowDelete).
	DeleteAfter time.Duration
	// ReconcileInterval is how often the app's accounts are compared with
	// what they should be (0: 24 h; negative: never).
	ReconcileInterval time.Duration
	// PatchSupported is what the app's ServiceProviderConfig said (nil:
	// not read yet).
	PatchSupported *bool
	// Target, when set, makes the app a directory written through its
	// agents (AD or OpenLDAP as a provisioning target) instead of a SCIM
	// service.
	Target *DirectoryTarget
	// AllowInsecureHTTP lets the app's URLs be plain http://, and
	// AllowLocalAddresses lets them reach loopback and link-local
	// addresses and the hub's own listeners: a super-admin's exceptions.
	AllowInsecureHTTP, AllowLocalAddresses bool
	Status                                 AppStatus
	StatusMessage                          string
	CreatedAt                              time.Time
	UpdatedAt                              time.Time
}

// DirectoryTarget is how the hub writes users into a directory.
type DirectoryTarget struct {
	// Directory is the name of the hub directory (kind ad or openldap)
	// whose agents write.
	Directory string `json:"directory"`
	// ParentDN is where enabled accounts are created; DisabledParentDN,
	// when set, where disabled ones are moved.
	ParentDN         string `json:"parent_dn"`
	DisabledParentDN string `json:"disabled_parent_dn,omitempty"`
	// RDNAttribute names the entries ("cn" when empty).
	RDNAttribute string `json:"rdn_attribute,omitempty"`
	// DisableAttribute ("attr=value") and DisableGroupDN mark disabled
	// accounts on OpenLDAP.
	DisableAttribute string `json:"disable_attribute,omitempty"`
	DisableGroupDN   string `json:"disable_group_dn,omitempty"`
}

// DirectoryWrite is a user entry an app with a DirectoryTarget writes for
// one hub user. It is recorded before the entry is created, by the DN key
// the entry will have, and completed with the directory's id for it once
// known: when the change stream brings the entry back, the hub knows it as
// its own. It is the app's only licence to touch the entry: it is removed
// when the create fails, when the entry is deleted, and with the app.
type DirectoryWrite struct {
	AppID       int64
	UserID      string
	DirectoryID int64
	DNKey       string
	ExternalID  string
}

// MappingRule maps one SCIM attribute.
type MappingRule struct {
	// Target is a SCIM attribute path: "userName", "name.givenName",
	// "emails[type eq \"work\"].value", or an enterprise extension
	// attribute ("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department").
	Target string `json:"target"`
	// Expr is an expression over the hub profile (server/provision/expr).
	Expr string `json:"expr"`
}

// AssignmentKind says what an assignment names.
type AssignmentKind string

// Assignment kinds.
const (
	AssignUser  AssignmentKind = "user"
	AssignGroup AssignmentKind = "group"
)

// Assignment puts a user, or a group's members (nesting included), in scope
// of an app.
type Assignment struct {
	AppID    int64
	Kind     AssignmentKind
	TargetID string // hub user id or group id
}

// AccountState is where an account in an app stands.
type AccountState string

// Account states.
const (
	// AccountCreating: a create was sent and its outcome is not known yet;
	// the next attempt looks the account up before creating again.
	AccountCreating    AccountState = "creating"
	AccountActive      AccountState = "active"
	AccountDeactivated AccountState = "deactivated"
	AccountDeleted     AccountState = "deleted"
)

// Account is a user's account in an app, as idsync last made it.
type Account struct {
	AppID    int64
	UserID   string
	RemoteID string
	State    AccountState
	// Pushed is the JSON of the last resource idsync sent (for PATCH diffs),
	// Hash its digest (unchanged → nothing to send).
	Pushed []byte
	Hash   string
	// Linked: the account existed in the app and was correlated by an
	// import from the app, not created by idsync.
	Linked        bool
	LastError     string
	CreatedAt     time.Time
	UpdatedAt     time.Time
	DeactivatedAt time.Time
}

// AccountFilter selects accounts.
type AccountFilter struct {
	AppID int64 // 0: all apps
	State AccountState
	// AfterUserID pages: only accounts of users with a greater id.
	AfterUserID string
	Limit       int // 0: all
	// UserIDs, when not nil, keeps only these users' accounts: a window of
	// ids that one IN list holds (a group-admin's scope).
	UserIDs []string
}

// AccountCount is one app's accounts in one state.
type AccountCount struct {
	AppID int64
	State AccountState
	Count int64
}

// RemoteAccount is an account found in an app.
type RemoteAccount struct {
	RemoteID string
	UserName string
	Email    string
}

// PushedGroup is a hub group pushed to an app as a SCIM Group.
type PushedGroup struct {
	AppID    int64
	GroupID  string
	RemoteID string
	// DisplayName is the name the app's group was given when last pushed
	// ("" before it was recorded): a group renamed in the hub is renamed
	// in the app.
	DisplayName string
	// Missing are the members (hub user ids) the app's group should hold
	// and does not: they have no account in the app (yet).
	Missing []string
	// CheckAt is when a reconcile asked the next push to read the group
	// in the app and set back what was changed there; CheckedAt is when a
	// push last did.
	CheckAt, CheckedAt time.Time
	// Drift says what the last read that found the group changed in the
	// app set back, at DriftAt ("" none ever).
	Drift   string
	DriftAt time.Time
	// Found says what an import from the app found the group gained or
	// lost there outside the hub, at FoundAt, not set back yet: the next
	// reconcile does ("" none).
	Found     string
	FoundAt   time.Time
	CreatedAt time.Time
}

// AppGroup is a group an app holds of its own, as the last import from
// the app found it: no hub group is pushed as it.
type AppGroup struct {
	AppID       int64
	RemoteID    string
	DisplayName string
	ExternalID  string
	// Members are the hub users among its members (through the accounts
	// linked in the app), by id; Unlinked counts the members that are no
	// account of a hub user.
	Members    []string
	Unlinked   int
	ImportedAt time.Time
}

// JobKind is what a job makes right.
type JobKind string

// Job kinds.
const (
	// JobUser makes one user's account right (create, update, deactivate,
	// delete, reactivate).
	JobUser JobKind = "user"
	// JobGroup makes one pushed group right (create it, membership diff).
	JobGroup JobKind = "group"
	// JobReconcile compares what the app holds with what it should hold.
	JobReconcile JobKind = "reconcile"
	// JobImport reads the app's accounts and correlates them.
	JobImport JobKind = "import"
)

// JobState is where a job stands.
type JobState string

// Job states.
const (
	JobQueued  JobState = "queued"
	JobRunning JobState = "running"
	JobDone    JobState = "done"
	JobDead    JobState = "dead"
)

// Job is one durable unit of downstream work. It names what to make right,
// not what to send: the worker computes that when it runs, so a job run
// twice, or late, does the right thing.
type Job struct {
	ID         int64
	AppID      int64
	Kind       JobKind
	Target     string
	State      JobState
	Attempts   int
	NextAt     time.Time
	LastError  string
	Again      bool
	Owner      string
	LeaseUntil time.Time
	CreatedAt  time.Time
	UpdatedAt  time.Time
	FinishedAt time.Time
}

// JobResult is a job that ended well and the account it left.
type JobResult struct {
	ID      int64
	Account *Account
	// Audit, when set, is appended to the audit trail with the completion.
	Audit *AuditEvent
}

// JobCycle is what CycleJobs does: complete Done, jobs Owner holds, at
// Now, then claim up to Limit due jobs of app AppID for Owner until
// Now+Lease.
type JobCycle struct {
	Owner string
	Now   time.Time
	Done  []JobResult
	AppID int64
	Lease time.Duration
	Limit int
}

// JobCycleResult is what CycleJobs did.
type JobCycleResult struct {
	// Completed counts the jobs of Done completed (the others had ended,
	// or another owner held them).
	Completed int
	// Claimed are the jobs claimed, in NextAt order.
	Claimed []*Job
	// App is the app as the claim read it (zero without a claim).
	App AppStamp
}

// AppStamp is what says an app changed: its status and UpdatedAt.
type AppStamp struct {
	Status    AppStatus
	UpdatedAt time.Time
}

// JobFilter selects jobs.
type JobFilter struct {
	AppID  int64
	States []JobState
	Limit  int // 0: 100
}

// QueueCount is one app's jobs in one state.
type QueueCount struct {
	AppID int64
	State JobState
	Count int64
}

// TaskState is whether a manual task is done.
type TaskState string

// Task states.
const (
	TaskOpen     TaskState = "open"
	TaskResolved TaskState = "resolved"
)

// Task is work for a human: an app that cannot deactivate accounts gets a
// manual deprovision task per account.
type Task struct {
	ID         int64
	AppID      int64
	UserID     string
	Kind       string // "deprovision"
	State      TaskState
	Detail     string
	Note       string
	ResolvedBy string
	CreatedAt  time.Time
	ResolvedAt time.Time
}

// TaskFilter selects tasks.
type TaskFilter struct {
	AppID int64
	State TaskState
}

// ObjectChange is one entry of the change feed.
type ObjectChange struct {
	Position    int64
	ObjectID    string
	Kind        ObjectKind
	DirectoryID int64
}
