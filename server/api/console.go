package api

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
	"github.com/idsync/idsync/server/admins"
	"github.com/idsync/idsync/server/auth"
	"github.com/idsync/idsync/server/store"
)

// The doors the admin console added: admin grants (a role bound to a
// directory group, for signing in with a directory account), the user
// search, a user's details and the hourly activity.

// grantToProto describes a grant, its groups as DIRECTORY/NAME.
func grantToProto(g admins.Grant) *idsyncv1.AdminGrant {
	return &idsyncv1.AdminGrant{Id: g.ID, Role: g.Role, Group: g.Holder, GroupId: g.GroupID, Groups: g.Grants.Groups,
		Apps: g.Grants.Apps, CreatedBy: g.CreatedBy, CreatedAt: ts(g.CreatedAt), RevokedAt: ts(g.RevokedAt)}
}

// CreateAdminGrant binds a role to a directory group.
func (s *AdminServer) CreateAdminGrant(ctx context.Context, req *idsyncv1.CreateAdminGrantRequest) (*idsyncv1.CreateAdminGrantResponse, error) {
	g, err := s.admins.CreateGrant(ctx, admins.NewGrant{Role: req.GetRole(), Group: req.GetGroup(), Groups: req.GetGroups(),
		Apps: req.GetApps()}, auth.Actor(ctx))
	if err != nil {
		return nil, statusErr(err, "")
	}
	return &idsyncv1.CreateAdminGrantResponse{Grant: grantToProto(g)}, nil
}

// ListAdminGrants lists the grants.
func (s *AdminServer) ListAdminGrants(ctx context.Context, _ *idsyncv1.ListAdminGrantsRequest) (*idsyncv1.ListAdminGrantsResponse, error) {
	grants, err := s.admins.ListGrants(ctx)
	if err != nil {
		return nil, statusErr(err, "")
	}
	resp := &idsyncv1.ListAdminGrantsResponse{}
	for _, g := range grants {
		resp.Grants = append(resp.Grants, grantToProto(g))
	}
	return resp, nil
}

// RevokeAdminGrant revokes a grant: its console sessions end at once.
func (s *AdminServer) RevokeAdminGrant(ctx context.Context, req *idsyncv1.RevokeAdminGrantRequest) (*idsyncv1.RevokeAdminGrantResponse, error) {
	me, _ := auth.Admin(ctx)
	var self string
	if me != nil {
		self = me.ID
	}
	g, err := s.admins.RevokeGrant(ctx, req.GetId(), self, auth.Actor(ctx))
	if err != nil {
		return nil, statusErr(err, "")
	}
	return &idsyncv1.RevokeAdminGrantResponse{Grant: grantToProto(g)}, nil
}

// maxSearchPage bounds a page of SearchUsers.
const maxSearchPage = 500

// maxScopeIDs bounds the user ids a group-admin's search names in one
// statement; past it, the search reads its group's members instead when
// it can (one group, or one named), which costs nothing per user.
// maxStatementIDs is the most one statement takes at all, below SQLite's
// bound on parameters (32,766).
const (
	maxScopeIDs     = 10_000
	maxStatementIDs = 30_000
)

// pageToken is where a page of users ends: its last user's name key and
// id.
func pageToken(u *store.User) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strings.ToLower(u.Username) + "\x00" + u.ID))
}

func parsePageToken(tok string) (key, id string, err error) {
	if tok == "" {
		return "", "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	key, id, ok := strings.Cut(string(b), "\x00")
	if err != nil || !ok {
		return "", "", status.Error(codes.InvalidArgument, "page_token: not one this hub gave")
	}
	return key, id, nil
}

// SearchUsers finds users by prefix, a page at a time. A group-admin finds
// the users of its groups only.
func (s *AdminServer) SearchUsers(ctx context.Context, req *idsyncv1.SearchUsersRequest) (*idsyncv1.SearchUsersResponse, error) {
	scope, dirID, err := scopeIn(ctx, s.store, req.GetDirectory())
	if err != nil {
		return nil, err
	}
	f := store.UserSearch{Prefix: req.GetQuery(), DirectoryID: dirID, Limit: int(req.GetPageSize())}
	if f.Limit <= 0 {
		f.Limit = 50
	}
	f.Limit = min(f.Limit, maxSearchPage)
	if f.AfterKey, f.AfterID, err = parsePageToken(req.GetPageToken()); err != nil {
		return nil, err
	}
	if req.GetStatus() != idsyncv1.UserStatus_USER_STATUS_UNSPECIFIED {
		f.Status = statusFromProto(req.GetStatus())
	}
	if req.GetGroup() != "" {
		g, err := oneGroup(ctx, s.store, req.GetGroup(), req.GetDirectory())
		if err != nil {
			return nil, err
		}
		f.GroupID, f.Nested = g.ID, req.GetNested()
	}
	if scope.limited {
		big := len(scope.users) > maxScopeIDs
		switch {
		case big && f.GroupID != "":
			// One of its own groups (oneGroup finds no other): every
			// member, nested or not, is in its scope.
		case big && len(scope.groups) == 1:
			for id := range scope.groups {
				f.GroupID, f.Nested = id, true
			}
		case len(scope.users) <= maxStatementIDs:
			f.IDs = scope.userIDs()
		default:
			return nil, status.Errorf(codes.FailedPrecondition, "the groups this admin acts for hold %d users, more than "+
				"one search names (%d): search within one of them (group)", len(scope.users), maxStatementIDs)
		}
	}
	want := f.Limit
	f.Limit++ // one more tells whether there is a next page
	users, err := s.store.SearchUsers(ctx, f)
	if err != nil {
		return nil, statusErr(err, "searching users")
	}
	resp := &idsyncv1.SearchUsersResponse{}
	if len(users) > want {
		users = users[:want]
		resp.NextPageToken = pageToken(users[want-1])
	}
	for _, u := range users {
		resp.Users = append(resp.Users, userToProto(u))
	}
	return resp, nil
}

// GetUserDetails shows a user's field sources, app accounts and history.
func (s *AdminServer) GetUserDetails(ctx context.Context, req *idsyncv1.GetUserDetailsRequest) (*idsyncv1.GetUserDetailsResponse, error) {
	u, err := oneUser(ctx, s.store, req.GetUser(), req.GetDirectory())
	if err != nil {
		return nil, err
	}
	d, err := s.store.GetDirectoryByID(ctx, u.DirectoryID)
	if err != nil {
		return nil, statusErr(err, "loading the directory of %q", u.Username)
	}
	resp := &idsyncv1.GetUserDetailsResponse{FieldSources: fieldSources(d)}
	names, err := scopedAppNames(ctx, s.store)
	if err != nil {
		return nil, err
	}
	inScope, err := s.store.AppsOfUser(ctx, u.ID)
	if err != nil {
		return nil, statusErr(err, "loading the apps of %q", u.Username)
	}
	for _, id := range inScope {
		if n, ok := names[id]; ok {
			resp.AppsInScope = append(resp.AppsInScope, n)
		}
	}
	slices.Sort(resp.AppsInScope)
	for id, name := range names {
		a, err := s.store.GetAccount(ctx, id, u.ID)
		if errors.Is(err, store.ErrNotFound) {
			continue
		} else if err != nil {
			return nil, statusErr(err, "loading the account of %q in %s", u.Username, name)
		}
		resp.Accounts = append(resp.Accounts, &idsyncv1.UserAccount{App: name, State: string(a.State), RemoteId: a.RemoteID,
			LastError: a.LastError, UpdatedAt: ts(a.UpdatedAt)})
	}
	slices.SortFunc(resp.Accounts, func(a, b *idsyncv1.UserAccount) int { return strings.Compare(a.GetApp(), b.GetApp()) })
	limit := int(req.GetHistoryLimit())
	if limit <= 0 {
		limit = 50
	}
	// Lifecycle events name the user "user:NAME", sign-ins "user:NAME@DIRECTORY".
	target := "user:" + u.Username
	events, err := s.store.ListAudit(ctx, store.AuditFilter{Target: target, Newest: true, Limit: min(limit, 1000) * 4})
	if err != nil {
		return nil, statusErr(err, "reading the history of %q", u.Username)
	}
	own := &userEvents{st: s.store, u: u, dir: d, runs: map[int64]bool{}}
	for _, e := range events {
		if len(resp.History) == limit {
			break
		}
		mine, err := own.of(ctx, e)
		if err != nil {
			return nil, statusErr(err, "reading the history of %q", u.Username)
		}
		if e.Target == target+"@"+d.Name || e.Target == target && mine {
			resp.History = append(resp.History, auditToProto(e))
		}
	}
	return resp, nil
}

// userEvents tells which events of target user:NAME are u's. That target
// names a user by username alone, which users of other directories share
// (and a scope may see the one and not the other), so an event is u's only
// where it shows u's directory: by a run of it (the actor run:N, or a
// detail "run N: …"), naming the directory in its detail, or u's id.
type userEvents struct {
	st interface {
		GetRun(ctx context.Context, id int64) (*store.Run, error)
	}
	u    *store.User
	dir  *store.Directory
	runs map[int64]bool // run id → whether it is of u's directory
}

func (o *userEvents) of(ctx context.Context, e *store.AuditEvent) (bool, error) {
	if strings.Contains(e.Detail, o.u.ID) || namesDirectory(e.Detail, o.dir.Name) {
		return true, nil
	}
	run, ok := strings.CutPrefix(e.Actor, "run:")
	if !ok {
		rest, isRun := strings.CutPrefix(e.Detail, "run ")
		if run, _, ok = strings.Cut(rest, ":"); !isRun || !ok {
			return false, nil
		}
	}
	id, err := strconv.ParseInt(run, 10, 64)
	if err != nil {
		return false, nil
	}
	if mine, ok := o.runs[id]; ok {
		return mine, nil
	}
	r, err := o.st.GetRun(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		o.runs[id] = false
		return false, nil
	} else if err != nil {
		return false, err
	}
	o.runs[id] = r.DirectoryID == o.dir.ID
	return o.runs[id], nil
}

// namesDirectory reports whether text names "directory NAME", whole.
func namesDirectory(text, name string) bool {
	for rest := text; ; {
		i := strings.Index(rest, "directory "+name)
		if i < 0 {
			return false
		}
		rest = rest[i+len("directory "+name):]
		if r, _ := utf8.DecodeRuneInString(rest); rest == "" || !(unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("._-", r)) {
			return true
		}
	}
}

// auditToProto is an audit event on the wire.
func auditToProto(e *store.AuditEvent) *idsyncv1.AuditEvent {
	return &idsyncv1.AuditEvent{Id: e.ID, At: ts(e.At), Actor: e.Actor, Action: e.Action, Target: e.Target,
		Outcome: e.Outcome, Detail: e.Detail}
}

// fieldSources says which source masters each profile field of d's users:
// the directory through its mapped attribute, a SCIM source for the fields
// it masters, or the hub for a local directory.
func fieldSources(d *store.Directory) []*idsyncv1.FieldSource {
	m := d.Mapping
	attrs := map[string]string{"username": m.Username, "email": m.Email, "given_name": m.GivenName,
		"family_name": m.FamilyName, "display_name": m.DisplayName, "employee_number": m.EmployeeNumber,
		"department": m.Department, "title": m.Title, "manager": m.Manager}
	var out []*idsyncv1.FieldSource
	for _, f := range append([]string{"username"}, store.ProfileFields...) {
		var src string
		switch {
		case d.Kind == store.KindLocal:
			src = "hub (local directory " + d.Name + ")"
		case d.Kind == store.KindSCIM && f != "username" && len(d.Mastered) > 0 && !slices.Contains(d.Mastered, f):
			src = "hub (not mastered by source " + d.Name + ")"
		case d.Kind == store.KindSCIM:
			src = "SCIM source " + d.Name
		case attrs[f] == "":
			src = d.Name + " (not mapped)"
		default:
			src = fmt.Sprintf("%s (attribute %s)", d.Name, attrs[f])
		}
		out = append(out, &idsyncv1.FieldSource{Field: f, Source: src})
	}
	return out
}

// maxActivityHours bounds GetActivity.
const maxActivityHours = 720

// GetActivity counts what the hub did per hour, every hour of the span,
// as far as the caller may see: changes applied to the directories
// (every role with reports.read reads every directory), and the pushes
// of the apps it may read — an app-admin limited to some apps, theirs
// alone; a super-admin, read-only or unlimited app-admin, every app's,
// those counted before pushes counted per app included. A group-admin
// has no reports.read; should it gain it, it sees changes and no push
// (apps are not in its scope; its groups' pushes are not counted apart).
func (s *AdminServer) GetActivity(ctx context.Context, req *idsyncv1.GetActivityRequest) (*idsyncv1.GetActivityResponse, error) {
	scope := auth.ScopeOf(ctx)
	var f store.ActivityFilter
	if ids, limited := scope.AppIDs(); limited {
		f = store.ActivityFilter{OnlyApps: true, Apps: ids}
	}
	if _, limited := scope.GroupIDs(); limited {
		f = store.ActivityFilter{OnlyApps: true}
	}
	hours := int(req.GetHours())
	if hours <= 0 {
		hours = 24
	}
	hours = min(hours, maxActivityHours)
	first := time.Now().UTC().Truncate(time.Hour).Add(-time.Duration(hours-1) * time.Hour)
	counts, err := s.store.Activity(ctx, first, f)
	if err != nil {
		return nil, statusErr(err, "reading activity")
	}
	resp := &idsyncv1.GetActivityResponse{Hours: make([]*idsyncv1.ActivityHour, hours)}
	for i := range resp.Hours {
		resp.Hours[i] = &idsyncv1.ActivityHour{Start: ts(first.Add(time.Duration(i) * time.Hour))}
	}
	for _, c := range counts {
		i := int(c.Hour.Sub(first) / time.Hour)
		if i < 0 || i >= hours {
			continue
		}
		switch h := resp.Hours[i]; c.Kind {
		case store.ActivityChanges:
			h.Changes += uint64(c.N)
		case store.ActivityPushSucceeded:
			h.PushesSucceeded += uint64(c.N)
		case store.ActivityPushFailed:
			h.PushesFailed += uint64(c.N)
		}
	}
	return resp, nil
}
