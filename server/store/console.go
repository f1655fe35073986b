package store

import (
	"context"
	"time"
)

// Console is the part of the store behind the admin console: admin grants
// (roles bound to directory groups), console sessions (shared by the hub's
// replicas), the hourly activity of the overview's charts and the user
// search. It is part of Store.
type Console interface {
	// CreateAdminGrant stores g and sets its ID (when empty) and
	// CreatedAt. A live grant of the same role to the same group is
	// ErrConflict.
	CreateAdminGrant(ctx context.Context, g *AdminGrant) error
	// GetAdminGrant returns a grant, revoked or not, or ErrNotFound.
	GetAdminGrant(ctx context.Context, id string) (*AdminGrant, error)
	// ListAdminGrants returns every grant, revoked ones included, oldest
	// first.
	ListAdminGrants(ctx context.Context) ([]*AdminGrant, error)
	// RevokeAdminGrant revokes a grant (a second revocation keeps the
	// first time) and ends the console sessions opened through it, in one
	// transaction, and returns it; unknown: ErrNotFound.
	RevokeAdminGrant(ctx context.Context, id string, now time.Time) (*AdminGrant, error)

	// CreateConsoleSession stores a session by the hash of its secret; it
	// sets ID when empty. A taken hash is ErrConflict.
	CreateConsoleSession(ctx context.Context, s *ConsoleSession) error
	// ConsoleSessionByHash returns the session with this hash, or
	// ErrNotFound.
	ConsoleSessionByHash(ctx context.Context, hash []byte) (*ConsoleSession, error)
	// TouchConsoleSession moves a session's LastSeenAt forward to now
	// (never back). Unknown session: ErrNotFound.
	TouchConsoleSession(ctx context.Context, id string, now time.Time) error
	// EndConsoleSession deletes a session and returns it: of two replicas
	// ending it at once, one gets it and the other ErrNotFound.
	EndConsoleSession(ctx context.Context, id string) (*ConsoleSession, error)
	// StaleConsoleSessions returns up to limit sessions last seen before
	// idleBefore or created before createdBefore, oldest first.
	StaleConsoleSessions(ctx context.Context, idleBefore, createdBefore time.Time, limit int) ([]*ConsoleSession, error)

	// Activity returns the hourly counts of what the hub did from since
	// on (changes applied, pushes succeeded and failed), oldest first, one
	// per hour and kind: the pushes of the apps f keeps.
	Activity(ctx context.Context, since time.Time, f ActivityFilter) ([]ActivityCount, error)
	// SearchUsers returns the users f selects, ordered by username (its
	// name key) then id, after f.After, at most f.Limit (0: 50).
	SearchUsers(ctx context.Context, f UserSearch) ([]*User, error)
}

// AdminGrant binds a role to a directory group: its members sign in to the
// console with their directory password and act with the role while they
// are members.
type AdminGrant struct {
	ID   string
	Role string
	// GroupID is the directory group whose members the grant is for.
	GroupID string
	// Groups are the ids of the groups a group-admin acts for; Apps the
	// apps an app-admin manages ("id:N"; none: every app), as on an
	// AdminToken.
	Groups    []string
	Apps      []string
	CreatedBy string
	CreatedAt time.Time
	RevokedAt time.Time
}

// ConsoleSession is an admin signed in to the console: with an admin token
// (TokenID), or as a directory user (UserID) through a grant (GrantID).
type ConsoleSession struct {
	ID   string
	Hash []byte
	// TokenID is the admin token the session was opened with, or "".
	TokenID string
	// GrantID and UserID are the grant and the user of a directory
	// sign-in, or "".
	GrantID, UserID string
	// Name names the admin: the token's name, or DIRECTORY/USERNAME.
	Name string
	// Addr is the client address that signed in.
	Addr       string
	CreatedAt  time.Time
	LastSeenAt time.Time
}

// Activity kinds.
const (
	ActivityChanges       = "changes"
	ActivityPushSucceeded = "push.succeeded"
	ActivityPushFailed    = "push.failed"
)

// ActivityFilter selects the pushes Activity counts. Changes applied
// belong to no app and are counted whatever it says.
type ActivityFilter struct {
	// Apps, when OnlyApps, are the apps whose pushes count (none: no
	// push); the pushes counted before pushes were counted per app belong
	// to no app, and count without OnlyApps alone.
	OnlyApps bool
	Apps     []int64
}

// ActivityCount is how many of a kind happened in the hour starting at
// Hour.
type ActivityCount struct {
	Hour time.Time
	Kind string
	N    int64
}

// UserSearch selects users for the console's user list.
type UserSearch struct {
	// Prefix matches the start of the username, e-mail, display, given
	// or family name, ignoring case; "": every user.
	Prefix      string
	DirectoryID int64  // 0: all
	Status      Status // "": all
	// GroupID keeps the direct members of a group; with Nested, the
	// members of the groups nested in it too, at any depth.
	GroupID string
	Nested  bool
	// IDs, when not nil, keeps these users only (a group-admin's scope).
	IDs []string
	// AfterKey and AfterID resume after the last user of a page (its
	// lower-cased username and id).
	AfterKey, AfterID string
	Limit             int
}
