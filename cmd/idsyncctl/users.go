package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
)

var statusFlags = map[string]idsyncv1.UserStatus{
	"active":        idsyncv1.UserStatus_USER_STATUS_ACTIVE,
	"suspended":     idsyncv1.UserStatus_USER_STATUS_SUSPENDED,
	"deprovisioned": idsyncv1.UserStatus_USER_STATUS_DEPROVISIONED,
}

func userList(c *cli, args []string) error {
	fs := c.flags("user list")
	dir := fs.String("directory", "", "only this directory `NAME`")
	st := fs.String("status", "", "only this `STATUS`: active, suspended or deprovisioned")
	limit := fs.Uint("limit", 0, "at most `N` users (0: all)")
	if _, err := c.parse(fs, args); err != nil {
		return err
	}
	req := &idsyncv1.ListUsersRequest{Directory: *dir, Limit: uint32(*limit)}
	// Deprovisioned users are listed with the date each is purged.
	purges := *st == "deprovisioned"
	if *st != "" {
		s, ok := statusFlags[*st]
		if !ok {
			return &exitError{code: exitUsage, err: fmt.Errorf("--status %q: must be active, suspended or deprovisioned", *st)}
		}
		req.Status = s
	}
	ctx, client, err := c.admin()
	if err != nil {
		return err
	}
	// Pages of users, printed as they come: a directory of 100,000 users
	// never needs one huge message.
	var (
		tw    *tabwriter.Writer
		count int
	)
	if c.output == "json" {
		fmt.Fprint(c.out, "[")
	} else {
		tw = tabwriter.NewWriter(c.out, 0, 0, 2, ' ', 0)
		header := "USERNAME\tDIRECTORY\tSTATUS\tDISPLAY NAME\tEMAIL\tID"
		if purges {
			header += "\tPURGED"
		}
		fmt.Fprintln(tw, header)
	}
	for {
		page := uint32(userPage)
		if *limit > 0 {
			page = uint32(min(uint(userPage), *limit-uint(count)))
		}
		req.Limit = page
		cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		resp, err := client.ListUsers(cctx, req)
		cancel()
		if err != nil {
			return err
		}
		for _, u := range resp.GetUsers() {
			if tw != nil {
				row := []string{u.GetUsername(), u.GetDirectory(), statusName(u.GetStatus()),
					dash(u.GetDisplayName()), dash(u.GetEmail()), u.GetId()}
				if u.GetHold() != nil {
					row[2] += " (held)"
				}
				if purges {
					row = append(row, dash(timeStr(u.GetPurgeAt())))
				}
				fmt.Fprintln(tw, strings.Join(mapSlice(row, terminalSafe), "\t"))
				continue
			}
			b, err := json.MarshalIndent(toUserJSON(u), "  ", "  ")
			if err != nil {
				return err
			}
			if count > 0 {
				fmt.Fprint(c.out, ",")
			}
			fmt.Fprintf(c.out, "\n  %s", b)
			count++
		}
		if tw != nil {
			count += len(resp.GetUsers())
		}
		n := len(resp.GetUsers())
		if n < int(page) || (*limit > 0 && uint(count) >= *limit) {
			break
		}
		req.AfterId = resp.GetUsers()[n-1].GetId()
	}
	if tw != nil {
		return tw.Flush()
	}
	if count > 0 {
		fmt.Fprint(c.out, "\n")
	}
	fmt.Fprintln(c.out, "]")
	return nil
}

// userPage is how many users one ListUsers call asks for.
const userPage = 1000

// groupPage is the page of ListGroups and of a group's members that the
// CLI asks for: the most the hub gives.
const groupPage = 500

func userShow(c *cli, args []string) error {
	fs := c.flags("user show")
	dir := fs.String("directory", "", "the directory `NAME`, when the username exists in several")
	return query(c, fs, args, "USERNAME|ID",
		func(ctx context.Context, h hub, user string) (*idsyncv1.User, error) {
			r, err := h.admin.GetUser(ctx, &idsyncv1.GetUserRequest{User: user, Directory: *dir})
			return r.GetUser(), err
		}, itemView(toUserJSON, userText))
}

func userText(w io.Writer, u *idsyncv1.User) error {
	kv := [][2]string{
		{"id", u.GetId()}, {"directory", u.GetDirectory()}, {"external id", dash(u.GetExternalId())}, {"dn", dash(u.GetDn())},
		{"username", u.GetUsername()}, {"status", statusLine(u)}, {"email", dash(u.GetEmail())},
		{"given name", dash(u.GetGivenName())}, {"family name", dash(u.GetFamilyName())},
		{"display name", dash(u.GetDisplayName())}, {"employee number", dash(u.GetEmployeeNumber())},
		{"department", dash(u.GetDepartment())}, {"title", dash(u.GetTitle())}, {"manager", dash(u.GetManager())},
	}
	for _, a := range u.GetExtra() {
		kv = append(kv, [2]string{a.GetName(), strings.Join(a.GetValues(), "; ")})
	}
	var nested []string
	for _, g := range u.GetTransitiveGroups() {
		if g.GetDepth() > 1 {
			nested = append(nested, fmt.Sprintf("%s (via %s)", g.GetName(), g.GetVia()))
		}
	}
	kv = append(kv, [2]string{"groups", dash(strings.Join(u.GetGroups(), ", "))},
		[2]string{"nested groups", dash(strings.Join(nested, ", "))},
		[2]string{"revision", fmt.Sprint(u.GetRevision())},
		[2]string{"created", timeStr(u.GetCreatedAt())}, [2]string{"updated", timeStr(u.GetUpdatedAt())})
	if h := u.GetHold(); h != nil && h.GetStatus() == idsyncv1.UserStatus_USER_STATUS_DEPROVISIONED && u.GetPurgeAt() == nil {
		kv = append(kv, [2]string{"purged", "not while held and its directory has it (`idsyncctl user reactivate` lifts the hold)"})
	}
	if u.GetPurgeAt() != nil {
		// An admin's hold is lifted by a restore; a user its directory
		// deleted comes back when the directory has it again.
		back := "`idsyncctl user restore` brings it back until then"
		if h := u.GetHold(); h == nil || h.GetStatus() != idsyncv1.UserStatus_USER_STATUS_DEPROVISIONED {
			back = "it comes back if its directory has it again before then; `idsyncctl user restore` writes a local directory's user back"
		}
		kv = append(kv, [2]string{"purged", fmt.Sprintf("%s (deprovisioned %s; %s)",
			timeStr(u.GetPurgeAt()), timeStr(u.GetDeprovisionedAt()), back)})
	}
	return fields(w, kv)
}

// statusLine is a user's status, with the admin's hold on it and what the
// directory says underneath.
func statusLine(u *idsyncv1.User) string {
	st := statusName(u.GetStatus())
	h := u.GetHold()
	if h == nil {
		return st
	}
	st += ", held by " + h.GetBy()
	if h.GetRole() != "" {
		st += " (" + h.GetRole() + ")"
	}
	st += " since " + timeStr(h.GetAt())
	if h.GetReason() != "" {
		st += " (" + h.GetReason() + ")"
	}
	if src := u.GetSourceStatus(); src != idsyncv1.UserStatus_USER_STATUS_UNSPECIFIED {
		st += "; its directory says " + statusName(src)
	}
	return st
}

// userAuthenticate signs a user in through AdminService.Authenticate. The
// password comes from a file (never an argument, which ps shows); "-"
// reads it from standard input.
func userAuthenticate(c *cli, args []string) error {
	fs := c.flags("user authenticate")
	dir := fs.String("directory", "", "the directory `NAME` (required)")
	pwFile := fs.String("password-file", "", "`FILE` holding the password, - for standard input (required)")
	pos, err := c.parse(fs, args, "USERNAME")
	if err != nil {
		return err
	}
	if *dir == "" {
		return usageErr("--directory: required")
	}
	var password string
	if *pwFile == "-" {
		b, rerr := io.ReadAll(io.LimitReader(os.Stdin, 4096))
		if rerr != nil {
			return rerr
		}
		password = strings.TrimRight(string(b), "\r\n")
	} else if password, err = readSecretFile("password-file", *pwFile); err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	ctx, cancel, h, err := c.call()
	if err != nil {
		return err
	}
	defer cancel()
	resp, err := h.admin.Authenticate(ctx, &idsyncv1.AuthenticateRequest{Directory: *dir, Username: pos[0], Password: password})
	if err != nil {
		return err
	}
	return show(c, resp.GetUser(), itemView(toUserJSON, func(w io.Writer, u *idsyncv1.User) error {
		return fields(w, [][2]string{{"signed in", u.GetUsername()}, {"id", u.GetId()}, {"directory", u.GetDirectory()},
			{"status", statusName(u.GetStatus())}, {"email", dash(u.GetEmail())}})
	}))
}

type groupJSON struct {
	ID                string       `json:"id"`
	Directory         string       `json:"directory"`
	ExternalID        string       `json:"external_id"`
	DN                string       `json:"dn"`
	Name              string       `json:"name"`
	Description       string       `json:"description"`
	Status            string       `json:"status"`
	MemberCount       uint64       `json:"member_count"`
	UnresolvedMembers uint64       `json:"unresolved_members"`
	Members           []memberJSON `json:"members,omitempty"`
	// Apps are the apps that hold the group (group show).
	Apps []groupInAppJSON `json:"apps,omitempty"`
}

type groupInAppJSON struct {
	App      string `json:"app"`
	RemoteID string `json:"remote_id"`
	Name     string `json:"name"`
	Drift    string `json:"drift,omitempty"`
	Found    string `json:"found,omitempty"`
}

type memberJSON struct {
	Value string `json:"value"`
	ID    string `json:"id,omitempty"`
	Kind  string `json:"kind,omitempty"`
	Name  string `json:"name,omitempty"`
}

func toGroupJSON(g *idsyncv1.Group) groupJSON {
	return groupJSON{ID: g.GetId(), Directory: g.GetDirectory(), ExternalID: g.GetExternalId(), DN: g.GetDn(),
		Name: g.GetName(), Description: g.GetDescription(), Status: statusName(g.GetStatus()),
		MemberCount: g.GetMemberCount(), UnresolvedMembers: g.GetUnresolvedMembers()}
}

func groupList(c *cli, args []string) error {
	fs := c.flags("group list")
	dir := fs.String("directory", "", "only this directory `NAME`")
	return query(c, fs, args, "",
		func(ctx context.Context, h hub, _ string) ([]*idsyncv1.Group, error) {
			// The hub answers a page at a time.
			req := &idsyncv1.ListGroupsRequest{Directory: *dir, PageSize: groupPage}
			var all []*idsyncv1.Group
			for {
				r, err := h.admin.ListGroups(ctx, req)
				if err != nil {
					return nil, err
				}
				all = append(all, r.GetGroups()...)
				if req.PageToken = r.GetNextPageToken(); req.PageToken == "" {
					return all, nil
				}
			}
		},
		listView(toGroupJSON, []string{"NAME", "DIRECTORY", "STATUS", "MEMBERS", "UNRESOLVED", "ID"},
			func(g *idsyncv1.Group) []string {
				return []string{g.GetName(), g.GetDirectory(), statusName(g.GetStatus()),
					count(g.GetMemberCount()), count(g.GetUnresolvedMembers()), g.GetId()}
			}))
}

func groupShow(c *cli, args []string) error {
	fs := c.flags("group show")
	dir := fs.String("directory", "", "the directory `NAME`, when the group name exists in several")
	return query(c, fs, args, "NAME|ID",
		func(ctx context.Context, h hub, group string) (*idsyncv1.GetGroupResponse, error) {
			// The hub answers the members a page at a time; the group
			// and its apps come with the first.
			req := &idsyncv1.GetGroupRequest{Group: group, Directory: *dir, PageSize: groupPage}
			first, err := h.admin.GetGroup(ctx, req)
			for r := first; err == nil && r.GetNextPageToken() != ""; {
				// By id from here: a rename between pages changes nothing.
				req.Group, req.Directory, req.PageToken = first.GetGroup().GetId(), "", r.GetNextPageToken()
				if r, err = h.admin.GetGroup(ctx, req); err == nil {
					first.Members = append(first.Members, r.GetMembers()...)
				}
			}
			return first, err
		}, itemView(toGroupMembersJSON, groupText))
}

// toGroupMembersJSON is a group with its members.
func toGroupMembersJSON(r *idsyncv1.GetGroupResponse) groupJSON {
	j := toGroupJSON(r.GetGroup())
	for _, m := range r.GetMembers() {
		j.Members = append(j.Members, memberJSON{Value: m.GetValue(), ID: m.GetId(),
			Kind: objectKindName(m.GetKind()), Name: m.GetName()})
	}
	for _, a := range r.GetApps() {
		j.Apps = append(j.Apps, groupInAppJSON{App: a.GetApp(), RemoteID: a.GetRemoteId(), Name: a.GetName(),
			Drift: a.GetDrift(), Found: a.GetFound()})
	}
	return j
}

func groupText(w io.Writer, r *idsyncv1.GetGroupResponse) error {
	g := r.GetGroup()
	if err := fields(w, [][2]string{
		{"id", g.GetId()}, {"directory", g.GetDirectory()}, {"external id", g.GetExternalId()}, {"dn", g.GetDn()},
		{"name", g.GetName()}, {"description", dash(g.GetDescription())}, {"status", statusName(g.GetStatus())},
		{"members", count(g.GetMemberCount())}, {"unresolved", count(g.GetUnresolvedMembers())},
	}); err != nil {
		return err
	}
	fmt.Fprintln(w)
	var rows [][]string
	for _, m := range r.GetMembers() {
		kind, name := "unresolved", "-"
		if m.GetId() != "" {
			kind, name = objectKindName(m.GetKind()), m.GetName()
		}
		rows = append(rows, []string{name, kind, m.GetValue()})
	}
	if err := table(w, []string{"MEMBER", "KIND", "VALUE"}, rows); err != nil {
		return err
	}
	if len(r.GetApps()) == 0 {
		return nil
	}
	fmt.Fprintln(w, "\nin apps:")
	rows = mapSlice(r.GetApps(), func(a *idsyncv1.GroupInApp) []string {
		state := "as pushed"
		if a.GetFound() != "" {
			state = "changed in the app, set back by the next reconcile: " + a.GetFound()
		}
		return []string{a.GetApp(), a.GetName(), a.GetRemoteId(), state}
	})
	return table(w, []string{"APP", "NAME IN THE APP", "REMOTE ID", "STATE"}, rows)
}
