package api

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
	"github.com/idsync/idsync/server/auth"
	"github.com/idsync/idsync/server/people"
	"github.com/idsync/idsync/server/store"
)

// The doors of server/people: an admin's actions on a user (hold and
// lift, restore) and the writes of local directories' users and groups.
// Each decodes, checks the role and the group-admin's scope, calls the
// service and encodes; the service makes the run, the change and its
// audit event.

// maxReason bounds the reason an admin gives for a hold.
const maxReason = 500

// actionUser resolves the user an action names. A group-admin acts on
// the users of its groups only: any other user — in another directory,
// or none at all — is refused alike (PermissionDenied, audited), so that
// the answer does not tell whether it exists.
func (s *AdminServer) actionUser(ctx context.Context, ref, directory string) (*store.User, error) {
	if ref == "" {
		return nil, status.Error(codes.InvalidArgument, "user: required (a username or id)")
	}
	scope, err := groupScopeOf(ctx, s.store)
	if err != nil {
		return nil, err
	}
	outside := func() error {
		return status.Errorf(codes.PermissionDenied, "permission %s missing for user %q: a group-admin acts on the users of its groups only",
			auth.PermUsersLifecycle, ref)
	}
	var dirID int64
	if directory != "" {
		d, err := s.store.GetDirectory(ctx, directory)
		switch {
		case scope.limited && (errors.Is(err, store.ErrNotFound) || err == nil && !scope.dirs[d.ID]):
			return nil, outside()
		case errors.Is(err, store.ErrNotFound):
			return nil, noDirectory(directory)
		case err != nil:
			return nil, statusErr(err, "loading directory %q", directory)
		}
		dirID = d.ID
	}
	users, err := findUsers(ctx, s.store, scope, dirID, ref)
	if err != nil {
		return nil, err
	}
	switch {
	case len(users) == 0 && scope.limited:
		return nil, outside()
	case len(users) == 0:
		return nil, status.Errorf(codes.NotFound, "no user with id or username %q (see `idsyncctl user list`)", ref)
	case len(users) > 1:
		return nil, status.Errorf(codes.FailedPrecondition,
			"username %q exists in %d directories: name one with --directory", ref, len(users))
	}
	return users[0], nil
}

// peopleErr maps the service's errors to statuses.
func peopleErr(err error, format string, args ...any) error {
	var (
		se *people.StateError
		ro *people.ReadOnlyError
		fe *people.FieldError
		rg *people.RuleGroupError
	)
	msg := fmt.Sprintf(format, args...) + ": " + err.Error()
	switch {
	case errors.Is(err, store.ErrConflict):
		return status.Error(codes.AlreadyExists, msg)
	case errors.As(err, &fe):
		return status.Error(codes.InvalidArgument, msg)
	case errors.As(err, &se), errors.As(err, &ro), errors.As(err, &rg):
		return status.Error(codes.FailedPrecondition, msg)
	case errors.Is(err, people.ErrNotAUser), errors.Is(err, people.ErrNotAGroup):
		return status.Error(codes.NotFound, msg)
	}
	return provErr(err, format, args...)
}

// checkReason refuses a reason that is too long or holds control
// characters: it is shown in `user show` and the audit trail.
func checkReason(r string) error {
	switch {
	case len(r) > maxReason:
		return status.Errorf(codes.InvalidArgument, "reason: %d bytes, at most %d", len(r), maxReason)
	case !utf8.ValidString(r) || strings.ContainsFunc(r, unicode.IsControl):
		return status.Error(codes.InvalidArgument, "reason: text without control characters")
	}
	return nil
}

// userOut is a user as the doors return it (`user show`, and what each
// action on a user answers): its groups, direct and nested, and its purge
// date.
func (s *AdminServer) userOut(ctx context.Context, u *store.User) (*idsyncv1.User, error) {
	scope, err := groupScopeOf(ctx, s.store)
	if err != nil {
		return nil, err
	}
	return s.userOutIn(ctx, scope, u)
}

// userOutIn is userOut in a scope already read. A group-admin is told of
// its own groups only: the others are absent to it.
func (s *AdminServer) userOutIn(ctx context.Context, scope *groupScope, u *store.User) (*idsyncv1.User, error) {
	groups, err := s.store.UserGroups(ctx, u.ID)
	if err != nil {
		return nil, statusErr(err, "loading groups of %q", u.Username)
	}
	u.Groups = u.Groups[:0]
	for _, g := range groups {
		if scope.group(g.ID) {
			u.Groups = append(u.Groups, g.Name)
		}
	}
	nested, err := s.store.UserGroupsTransitive(ctx, u.ID)
	if err != nil {
		return nil, statusErr(err, "loading nested groups of %q", u.Username)
	}
	purge, err := s.people.PurgeDates(ctx)
	if err != nil {
		return nil, statusErr(err, "")
	}
	p := userToProto(u)
	p.PurgeAt = ts(purge(u))
	for _, m := range nested {
		if !scope.group(m.Group.ID) {
			continue
		}
		via := m.Via
		if scope.limited {
			via = "" // the nested group it names may be outside the admin's
		}
		p.TransitiveGroups = append(p.TransitiveGroups, &idsyncv1.TransitiveGroup{
			Name: m.Group.Name, Depth: uint32(m.Depth), Via: via})
	}
	return p, nil
}

// inDirectory enables or disables the user's own entry in its directory:
// the hold in the hub stands whatever this answers.
func (s *AdminServer) inDirectory(ctx context.Context, u *store.User, enabled bool) *idsyncv1.DirectoryWriteOutcome {
	if err := s.people.SetInDirectory(ctx, u.ID, enabled, auth.Actor(ctx)); err != nil {
		return &idsyncv1.DirectoryWriteOutcome{Message: err.Error()}
	}
	what := "enabled"
	if !enabled {
		what = "disabled"
	}
	return &idsyncv1.DirectoryWriteOutcome{Done: true, Message: fmt.Sprintf("entry %s %s in directory %s", u.DN, what, u.Directory)}
}

// hold runs one hold action on the user ref names.
func (s *AdminServer) hold(ctx context.Context, ref, directory string, a people.Action, reason string) (*store.User, error) {
	if err := checkReason(reason); err != nil {
		return nil, err
	}
	u, err := s.actionUser(ctx, ref, directory)
	if err != nil {
		return nil, err
	}
	held, err := s.people.Hold(ctx, u.ID, a, auth.ScopeOf(ctx), auth.Actor(ctx), reason)
	if err != nil {
		return nil, peopleErr(err, "%s", a.Verb)
	}
	return held, nil
}

// checkInDirectory refuses a write into the user's directory to all but a
// super-admin: write-back is a super-admin's decision.
func checkInDirectory(ctx context.Context, asked bool) error {
	if !asked {
		return nil
	}
	return auth.ScopeOf(ctx).CheckSuperAdmin("writing into a user's directory (--in-directory)")
}

// DeactivateUser holds a user deprovisioned.
func (s *AdminServer) DeactivateUser(ctx context.Context, req *idsyncv1.DeactivateUserRequest) (*idsyncv1.DeactivateUserResponse, error) {
	if err := checkInDirectory(ctx, req.GetInDirectory()); err != nil {
		return nil, err
	}
	u, err := s.hold(ctx, req.GetUser(), req.GetDirectory(), people.Deactivate, req.GetReason())
	if err != nil {
		return nil, err
	}
	resp := &idsyncv1.DeactivateUserResponse{}
	if req.GetInDirectory() {
		resp.InDirectory = s.inDirectory(ctx, u, false)
	}
	resp.User, err = s.userOut(ctx, u)
	return resp, err
}

// ReactivateUser lifts a deactivation hold.
func (s *AdminServer) ReactivateUser(ctx context.Context, req *idsyncv1.ReactivateUserRequest) (*idsyncv1.ReactivateUserResponse, error) {
	if err := checkInDirectory(ctx, req.GetInDirectory()); err != nil {
		return nil, err
	}
	u, err := s.hold(ctx, req.GetUser(), req.GetDirectory(), people.Reactivate, "")
	if err != nil {
		return nil, err
	}
	resp := &idsyncv1.ReactivateUserResponse{}
	if req.GetInDirectory() {
		resp.InDirectory = s.inDirectory(ctx, u, true)
	}
	resp.User, err = s.userOut(ctx, u)
	return resp, err
}

// SuspendUser holds a user suspended.
func (s *AdminServer) SuspendUser(ctx context.Context, req *idsyncv1.SuspendUserRequest) (*idsyncv1.SuspendUserResponse, error) {
	u, err := s.hold(ctx, req.GetUser(), req.GetDirectory(), people.Suspend, req.GetReason())
	if err != nil {
		return nil, err
	}
	pu, err := s.userOut(ctx, u)
	return &idsyncv1.SuspendUserResponse{User: pu}, err
}

// UnsuspendUser lifts a suspension hold.
func (s *AdminServer) UnsuspendUser(ctx context.Context, req *idsyncv1.UnsuspendUserRequest) (*idsyncv1.UnsuspendUserResponse, error) {
	u, err := s.hold(ctx, req.GetUser(), req.GetDirectory(), people.Unsuspend, "")
	if err != nil {
		return nil, err
	}
	pu, err := s.userOut(ctx, u)
	return &idsyncv1.UnsuspendUserResponse{User: pu}, err
}

// RestoreUser brings a deprovisioned user back within its retention.
func (s *AdminServer) RestoreUser(ctx context.Context, req *idsyncv1.RestoreUserRequest) (*idsyncv1.RestoreUserResponse, error) {
	u, err := s.actionUser(ctx, req.GetUser(), req.GetDirectory())
	if err != nil {
		return nil, err
	}
	back, err := s.people.Restore(ctx, u.ID, auth.Actor(ctx))
	if err != nil {
		return nil, peopleErr(err, "restoring user %s", u.Username)
	}
	pu, err := s.userOut(ctx, back)
	return &idsyncv1.RestoreUserResponse{User: pu}, err
}

// CreateUser makes a user in a local directory.
func (s *AdminServer) CreateUser(ctx context.Context, req *idsyncv1.CreateUserRequest) (*idsyncv1.CreateUserResponse, error) {
	var p store.Profile
	c := people.Changes{}
	for k, v := range req.GetFields() {
		if k == "username" || k == "email" {
			return nil, status.Errorf(codes.InvalidArgument, "fields[%q]: set it as %s", k, k)
		}
		c[k] = v
	}
	c["username"], c["email"] = req.GetUsername(), req.GetEmail()
	if err := c.Apply(&p); err != nil {
		return nil, peopleErr(err, "user %s", req.GetUsername())
	}
	u, err := s.people.CreateUser(ctx, req.GetDirectory(), p, auth.Actor(ctx))
	if err != nil {
		return nil, peopleErr(err, "creating user %s in %s", req.GetUsername(), req.GetDirectory())
	}
	pu, err := s.userOut(ctx, u)
	return &idsyncv1.CreateUserResponse{User: pu}, err
}

// UpdateUser changes fields of a local user.
func (s *AdminServer) UpdateUser(ctx context.Context, req *idsyncv1.UpdateUserRequest) (*idsyncv1.UpdateUserResponse, error) {
	if len(req.GetFields()) == 0 {
		return nil, status.Error(codes.InvalidArgument, "fields: name at least one field to change")
	}
	u, err := s.actionUser(ctx, req.GetUser(), req.GetDirectory())
	if err != nil {
		return nil, err
	}
	changed, err := s.people.UpdateUser(ctx, u.ID, people.Changes(req.GetFields()), auth.Actor(ctx))
	if err != nil {
		return nil, peopleErr(err, "updating user %s", u.Username)
	}
	pu, err := s.userOut(ctx, changed)
	return &idsyncv1.UpdateUserResponse{User: pu}, err
}

// DeleteUser deletes a local user (deprovisioned, restorable until its
// purge).
func (s *AdminServer) DeleteUser(ctx context.Context, req *idsyncv1.DeleteUserRequest) (*idsyncv1.DeleteUserResponse, error) {
	u, err := s.actionUser(ctx, req.GetUser(), req.GetDirectory())
	if err != nil {
		return nil, err
	}
	gone, err := s.people.DeleteUser(ctx, u.ID, auth.Actor(ctx))
	if err != nil {
		return nil, peopleErr(err, "deleting user %s", u.Username)
	}
	pu, err := s.userOut(ctx, gone)
	return &idsyncv1.DeleteUserResponse{User: pu}, err
}

// CreateGroup makes an empty group in a local directory.
func (s *AdminServer) CreateGroup(ctx context.Context, req *idsyncv1.CreateGroupRequest) (*idsyncv1.CreateGroupResponse, error) {
	g, err := s.people.CreateGroup(ctx, req.GetDirectory(), req.GetName(), auth.Actor(ctx))
	if err != nil {
		return nil, peopleErr(err, "creating group %s in %s", req.GetName(), req.GetDirectory())
	}
	return &idsyncv1.CreateGroupResponse{Group: groupToProto(g)}, nil
}

// memberRequest is AddGroupMemberRequest or RemoveGroupMemberRequest.
type memberRequest interface {
	GetGroup() string
	GetDirectory() string
	GetUser() string
	GetUserDirectory() string
}

// member adds or removes a user of a local group.
func (s *AdminServer) member(ctx context.Context, req memberRequest, add bool) (*idsyncv1.Group, error) {
	if req.GetGroup() == "" {
		return nil, status.Error(codes.InvalidArgument, "group: required (a name or id)")
	}
	g, err := oneGroup(ctx, s.store, req.GetGroup(), req.GetDirectory())
	if err != nil {
		return nil, err
	}
	u, err := s.actionUser(ctx, req.GetUser(), req.GetUserDirectory())
	if err != nil {
		return nil, err
	}
	change, verb := s.people.RemoveMember, "removing"
	if add {
		change, verb = s.people.AddMember, "adding"
	}
	changed, err := change(ctx, g.ID, u.ID, auth.Actor(ctx))
	if err != nil {
		return nil, peopleErr(err, "%s user %s in group %s", verb, u.Username, g.Name)
	}
	return groupToProto(changed), nil
}

// AddGroupMember adds a user of any directory to a local group.
func (s *AdminServer) AddGroupMember(ctx context.Context, req *idsyncv1.AddGroupMemberRequest) (*idsyncv1.AddGroupMemberResponse, error) {
	g, err := s.member(ctx, req, true)
	if err != nil {
		return nil, err
	}
	return &idsyncv1.AddGroupMemberResponse{Group: g}, nil
}

// RemoveGroupMember takes a user out of a local group.
func (s *AdminServer) RemoveGroupMember(ctx context.Context, req *idsyncv1.RemoveGroupMemberRequest) (*idsyncv1.RemoveGroupMemberResponse, error) {
	g, err := s.member(ctx, req, false)
	if err != nil {
		return nil, err
	}
	return &idsyncv1.RemoveGroupMemberResponse{Group: g}, nil
}
