package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
)

// The commands that act on people: an admin's holds (deactivate,
// reactivate, suspend, unsuspend), restore, and the writes of local
// directories' users and groups. Each prints the user (or group) as it now
// is, as `user show` (`group show`) does.

// userView prints a user an action returned.
var userView = itemView(toUserJSON, userText)

// userAction runs an action on the user its one argument names.
func userAction(c *cli, fs *flag.FlagSet, args []string, call func(ctx context.Context, h hub, user string) (*idsyncv1.User, error)) error {
	return query(c, fs, args, "USERNAME|ID", call, userView)
}

// directoryOutcome is what an action's write into the user's directory
// did: printed after the user, and the command fails when it failed (the
// hold in the hub stands).
func directoryOutcome(c *cli, o *idsyncv1.DirectoryWriteOutcome) error {
	if o == nil {
		return nil
	}
	if o.GetDone() {
		fmt.Fprintf(c.errOut, "in the directory: %s\n", terminalSafe(o.GetMessage()))
		return nil
	}
	return &exitError{code: exitFailed, err: fmt.Errorf("held in the hub, but not in the directory: %s", o.GetMessage())}
}

func userDeactivate(c *cli, args []string) error {
	fs := c.flags("user deactivate")
	dir := fs.String("directory", "", "the directory `NAME`, when the username exists in several")
	reason := fs.String("reason", "", "why, for the audit trail and `user show` (`TEXT`)")
	inDir := fs.Bool("in-directory", false, "also disable the entry in the user's directory, through its agent (a super-admin's; the directory must allow write-back)")
	var outcome *idsyncv1.DirectoryWriteOutcome
	err := userAction(c, fs, args, func(ctx context.Context, h hub, user string) (*idsyncv1.User, error) {
		r, err := h.admin.DeactivateUser(ctx, &idsyncv1.DeactivateUserRequest{User: user, Directory: *dir, Reason: *reason, InDirectory: *inDir})
		outcome = r.GetInDirectory()
		return r.GetUser(), err
	})
	if err != nil {
		return err
	}
	return directoryOutcome(c, outcome)
}

func userReactivate(c *cli, args []string) error {
	fs := c.flags("user reactivate")
	dir := fs.String("directory", "", "the directory `NAME`, when the username exists in several")
	inDir := fs.Bool("in-directory", false, "also enable the entry in the user's directory, through its agent")
	var outcome *idsyncv1.DirectoryWriteOutcome
	err := userAction(c, fs, args, func(ctx context.Context, h hub, user string) (*idsyncv1.User, error) {
		r, err := h.admin.ReactivateUser(ctx, &idsyncv1.ReactivateUserRequest{User: user, Directory: *dir, InDirectory: *inDir})
		outcome = r.GetInDirectory()
		return r.GetUser(), err
	})
	if err != nil {
		return err
	}
	return directoryOutcome(c, outcome)
}

func userSuspend(c *cli, args []string) error {
	fs := c.flags("user suspend")
	dir := fs.String("directory", "", "the directory `NAME`, when the username exists in several")
	reason := fs.String("reason", "", "why, for the audit trail and `user show` (`TEXT`)")
	return userAction(c, fs, args, func(ctx context.Context, h hub, user string) (*idsyncv1.User, error) {
		r, err := h.admin.SuspendUser(ctx, &idsyncv1.SuspendUserRequest{User: user, Directory: *dir, Reason: *reason})
		return r.GetUser(), err
	})
}

func userUnsuspend(c *cli, args []string) error {
	fs := c.flags("user unsuspend")
	dir := fs.String("directory", "", "the directory `NAME`, when the username exists in several")
	return userAction(c, fs, args, func(ctx context.Context, h hub, user string) (*idsyncv1.User, error) {
		r, err := h.admin.UnsuspendUser(ctx, &idsyncv1.UnsuspendUserRequest{User: user, Directory: *dir})
		return r.GetUser(), err
	})
}

func userRestore(c *cli, args []string) error {
	fs := c.flags("user restore")
	dir := fs.String("directory", "", "the directory `NAME`, when the username exists in several")
	return userAction(c, fs, args, func(ctx context.Context, h hub, user string) (*idsyncv1.User, error) {
		r, err := h.admin.RestoreUser(ctx, &idsyncv1.RestoreUserRequest{User: user, Directory: *dir})
		return r.GetUser(), err
	})
}

// profileFlags are the profile fields of user create and update.
type profileFlags struct {
	username, email, givenName, familyName, displayName string
	fields                                              multiFlag
}

func (f *profileFlags) register(fs *flag.FlagSet, usernameHelp string) {
	fs.StringVar(&f.username, "username", "", usernameHelp)
	fs.StringVar(&f.email, "email", "", "e-mail `ADDRESS`")
	fs.StringVar(&f.givenName, "given-name", "", "given `NAME`")
	fs.StringVar(&f.familyName, "family-name", "", "family `NAME`")
	fs.StringVar(&f.displayName, "display-name", "", "display `NAME`")
	fs.Var(&f.fields, "field", "a profile field, `NAME=VALUE` (repeatable): employee_number, department, title, manager, or extra.NAME; an empty VALUE clears it")
}

// changes are the fields set on the command line, by the names the hub
// knows them by.
func (f *profileFlags) changes(fs *flag.FlagSet) (map[string]string, error) {
	out := map[string]string{}
	named := map[string]*string{"username": &f.username, "email": &f.email, "given-name": &f.givenName,
		"family-name": &f.familyName, "display-name": &f.displayName}
	fs.Visit(func(fl *flag.Flag) {
		if v, ok := named[fl.Name]; ok {
			out[strings.ReplaceAll(fl.Name, "-", "_")] = *v
		}
	})
	for _, kv := range f.fields {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--field %q: want NAME=VALUE", kv)
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("--field %s: set twice", k)
		}
		out[k] = v
	}
	return out, nil
}

func userCreate(c *cli, args []string) error {
	fs := c.flags("user create")
	dir := fs.String("directory", "", "the local directory `NAME` (required)")
	var f profileFlags
	f.register(fs, "login `NAME` (required): unique in the directory, whatever its case")
	return query(c, fs, args, "", func(ctx context.Context, h hub, _ string) (*idsyncv1.User, error) {
		if *dir == "" || f.username == "" {
			return nil, usageErr("--directory and --username: required")
		}
		fields, err := f.changes(fs)
		if err != nil {
			return nil, usageErr("%s", err)
		}
		delete(fields, "username")
		delete(fields, "email")
		r, err := h.admin.CreateUser(ctx, &idsyncv1.CreateUserRequest{Directory: *dir, Username: f.username,
			Email: f.email, Fields: fields})
		return r.GetUser(), err
	}, userView)
}

func userUpdate(c *cli, args []string) error {
	fs := c.flags("user update")
	dir := fs.String("directory", "", "the directory `NAME`, when the username exists in several")
	var f profileFlags
	f.register(fs, "a new login `NAME`")
	return userAction(c, fs, args, func(ctx context.Context, h hub, user string) (*idsyncv1.User, error) {
		fields, err := f.changes(fs)
		if err != nil {
			return nil, usageErr("%s", err)
		}
		if len(fields) == 0 {
			return nil, usageErr("nothing to change: name a field flag")
		}
		r, err := h.admin.UpdateUser(ctx, &idsyncv1.UpdateUserRequest{User: user, Directory: *dir, Fields: fields})
		return r.GetUser(), err
	})
}

func userDelete(c *cli, args []string) error {
	fs := c.flags("user delete")
	dir := fs.String("directory", "", "the directory `NAME`, when the username exists in several")
	return userAction(c, fs, args, func(ctx context.Context, h hub, user string) (*idsyncv1.User, error) {
		r, err := h.admin.DeleteUser(ctx, &idsyncv1.DeleteUserRequest{User: user, Directory: *dir})
		return r.GetUser(), err
	})
}

// groupView prints a group a write returned.
var groupView = itemView(toGroupJSON, func(w io.Writer, g *idsyncv1.Group) error {
	return fields(w, [][2]string{{"id", g.GetId()}, {"directory", g.GetDirectory()}, {"name", g.GetName()},
		{"status", statusName(g.GetStatus())}, {"members", count(g.GetMemberCount())}})
})

func groupCreate(c *cli, args []string) error {
	fs := c.flags("group create")
	dir := fs.String("directory", "", "the local directory `NAME` (required)")
	return query(c, fs, args, "NAME", func(ctx context.Context, h hub, name string) (*idsyncv1.Group, error) {
		if *dir == "" {
			return nil, usageErr("--directory: required")
		}
		r, err := h.admin.CreateGroup(ctx, &idsyncv1.CreateGroupRequest{Directory: *dir, Name: name})
		return r.GetGroup(), err
	}, groupView)
}

// groupMember is group add-member or remove-member.
func groupMember(add bool) func(c *cli, args []string) error {
	name := "group remove-member"
	if add {
		name = "group add-member"
	}
	return func(c *cli, args []string) error {
		fs := c.flags(name)
		dir := fs.String("directory", "", "the group's directory `NAME`, when the group name exists in several")
		user := fs.String("user", "", "the user: `USERNAME|ID` (required), of any directory")
		userDir := fs.String("user-directory", "", "the user's directory `NAME`, when the username exists in several")
		return query(c, fs, args, "GROUP", func(ctx context.Context, h hub, group string) (*idsyncv1.Group, error) {
			if *user == "" {
				return nil, usageErr("--user: required")
			}
			if add {
				r, err := h.admin.AddGroupMember(ctx, &idsyncv1.AddGroupMemberRequest{Group: group, Directory: *dir,
					User: *user, UserDirectory: *userDir})
				return r.GetGroup(), err
			}
			r, err := h.admin.RemoveGroupMember(ctx, &idsyncv1.RemoveGroupMemberRequest{Group: group, Directory: *dir,
				User: *user, UserDirectory: *userDir})
			return r.GetGroup(), err
		}, groupView)
	}
}
