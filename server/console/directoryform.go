package console

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
	"github.com/idsync/idsync/server/auth"
)

// directoryText are the directory settings the edit form shows as text,
// by their path in UpdateDirectory's mask, with how to read and set each.
var directoryText = []struct {
	path string
	get  func(*idsyncv1.Directory) string
	set  func(*idsyncv1.Directory, string)
}{
	{"base_dn", (*idsyncv1.Directory).GetBaseDn, func(d *idsyncv1.Directory, v string) { d.BaseDn = v }},
	{"user_filter", (*idsyncv1.Directory).GetUserFilter, func(d *idsyncv1.Directory, v string) { d.UserFilter = v }},
	{"group_filter", (*idsyncv1.Directory).GetGroupFilter, func(d *idsyncv1.Directory, v string) { d.GroupFilter = v }},
	{"capture_strategy", (*idsyncv1.Directory).GetCaptureStrategy, func(d *idsyncv1.Directory, v string) { d.CaptureStrategy = v }},
	{"mapping.username", mapGet((*idsyncv1.AttributeMapping).GetUsername), mapSet(func(m *idsyncv1.AttributeMapping, v string) { m.Username = v })},
	{"mapping.email", mapGet((*idsyncv1.AttributeMapping).GetEmail), mapSet(func(m *idsyncv1.AttributeMapping, v string) { m.Email = v })},
	{"mapping.given_name", mapGet((*idsyncv1.AttributeMapping).GetGivenName), mapSet(func(m *idsyncv1.AttributeMapping, v string) { m.GivenName = v })},
	{"mapping.family_name", mapGet((*idsyncv1.AttributeMapping).GetFamilyName), mapSet(func(m *idsyncv1.AttributeMapping, v string) { m.FamilyName = v })},
	{"mapping.display_name", mapGet((*idsyncv1.AttributeMapping).GetDisplayName), mapSet(func(m *idsyncv1.AttributeMapping, v string) { m.DisplayName = v })},
	{"mapping.employee_number", mapGet((*idsyncv1.AttributeMapping).GetEmployeeNumber), mapSet(func(m *idsyncv1.AttributeMapping, v string) { m.EmployeeNumber = v })},
	{"mapping.department", mapGet((*idsyncv1.AttributeMapping).GetDepartment), mapSet(func(m *idsyncv1.AttributeMapping, v string) { m.Department = v })},
	{"mapping.title", mapGet((*idsyncv1.AttributeMapping).GetTitle), mapSet(func(m *idsyncv1.AttributeMapping, v string) { m.Title = v })},
	{"mapping.manager", mapGet((*idsyncv1.AttributeMapping).GetManager), mapSet(func(m *idsyncv1.AttributeMapping, v string) { m.Manager = v })},
}

// directoryNumbers are the settings the form shows as whole numbers.
var directoryNumbers = []struct {
	path string
	get  func(*idsyncv1.Directory) uint64
	set  func(*idsyncv1.Directory, uint64)
}{
	{"safeguard_percent", func(d *idsyncv1.Directory) uint64 { return uint64(d.GetSafeguardPercent()) },
		func(d *idsyncv1.Directory, v uint64) { d.SafeguardPercent = uint32(v) }},
	{"safeguard_max", func(d *idsyncv1.Directory) uint64 { return uint64(d.GetSafeguardMax()) },
		func(d *idsyncv1.Directory, v uint64) { d.SafeguardMax = uint32(v) }},
	{"poll_interval_seconds", func(d *idsyncv1.Directory) uint64 { return uint64(d.GetPollIntervalSeconds()) },
		func(d *idsyncv1.Directory, v uint64) { d.PollIntervalSeconds = uint32(v) }},
	{"full_import_interval_seconds", func(d *idsyncv1.Directory) uint64 { return uint64(d.GetFullImportIntervalSeconds()) },
		func(d *idsyncv1.Directory, v uint64) { d.FullImportIntervalSeconds = uint32(v) }},
	{"retention_seconds", (*idsyncv1.Directory).GetRetentionSeconds, func(d *idsyncv1.Directory, v uint64) { d.RetentionSeconds = v }},
}

// fieldLabels label the edit form's fields.
var fieldLabels = map[string]string{
	"base_dn": "Search base (DN)", "user_filter": "LDAP filter of users", "group_filter": "LDAP filter of groups",
	"capture_strategy": "Capture strategy (empty: detected; syncrepl, dirsync, psearch or poll)",
	"mapping.username": "username", "mapping.email": "email", "mapping.given_name": "given_name",
	"mapping.family_name": "family_name", "mapping.display_name": "display_name", "mapping.employee_number": "employee_number",
	"mapping.department": "department", "mapping.title": "title", "mapping.manager": "manager",
	"safeguard_percent":            "Safeguard: pause a sweep that would deprovision more than this % of the active users",
	"safeguard_max":                "Safeguard: … or more than this many users",
	"poll_interval_seconds":        "Seconds between DirSync rounds or polls (0: 5)",
	"full_import_interval_seconds": "Seconds between scheduled full imports (0: a day)",
	"retention_seconds":            "Seconds a deprovisioned user is kept, restorable (0: the hub's default)",
}

func mapGet(f func(*idsyncv1.AttributeMapping) string) func(*idsyncv1.Directory) string {
	return func(d *idsyncv1.Directory) string { return f(d.GetMapping()) }
}

func mapSet(f func(*idsyncv1.AttributeMapping, string)) func(*idsyncv1.Directory, string) {
	return func(d *idsyncv1.Directory, v string) {
		if d.Mapping == nil {
			d.Mapping = &idsyncv1.AttributeMapping{}
		}
		f(d.Mapping, v)
	}
}

// directoryField is one field of the edit form.
type directoryField struct {
	Path, Value string
	Number      bool
}

// directoryFormData is the edit form's.
type directoryFormData struct {
	Dir    *idsyncv1.Directory
	Fields []directoryField
}

// fieldID is a form field's id and name for a mask path.
func fieldID(path string) string { return "d-" + strings.ReplaceAll(path, ".", "-") }

func (c *Console) directoryEdit(w http.ResponseWriter, r *http.Request, s *session) {
	if !auth.RoleHas(s.role, auth.PermDirectoriesWrite) {
		// The form would offer what the server refuses.
		c.fail(w, r, s, status.Errorf(codes.PermissionDenied, "permission %s missing: role %s edits no directory", auth.PermDirectoriesWrite, s.role))
		return
	}
	resp, err := c.admin.GetDirectory(c.ctx(r, s), &idsyncv1.GetDirectoryRequest{Name: r.PathValue("name")})
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	d := resp.GetDirectory()
	data := directoryFormData{Dir: d}
	for _, f := range directoryText {
		data.Fields = append(data.Fields, directoryField{Path: f.path, Value: f.get(d)})
	}
	for _, f := range directoryNumbers {
		data.Fields = append(data.Fields, directoryField{Path: f.path, Value: strconv.FormatUint(f.get(d), 10), Number: true})
	}
	c.render(w, r, s, http.StatusOK, "directoryform", "Edit directory "+d.GetName(), "directories", data)
}

// directoryChanges reads the edit form against the directory as it is:
// the settings the admin changed, and their paths (the mask).
func directoryChanges(r *http.Request, cur *idsyncv1.Directory) (*idsyncv1.Directory, []string, error) {
	d := &idsyncv1.Directory{Name: cur.GetName()}
	var paths []string
	for _, f := range directoryText {
		v, ok := r.PostForm[fieldID(f.path)]
		if !ok || strings.TrimSpace(v[0]) == f.get(cur) {
			continue
		}
		f.set(d, strings.TrimSpace(v[0]))
		paths = append(paths, f.path)
	}
	for _, f := range directoryNumbers {
		v, ok := r.PostForm[fieldID(f.path)]
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSpace(v[0]), 10, 32)
		if err != nil {
			return nil, nil, status.Errorf(codes.InvalidArgument, "%s: %q is not a whole number", f.path, v[0])
		}
		if n == f.get(cur) {
			continue
		}
		f.set(d, n)
		paths = append(paths, f.path)
	}
	return d, paths, nil
}

func (c *Console) directorySave(w http.ResponseWriter, r *http.Request, s *session) {
	ctx := c.ctx(r, s)
	name := r.PathValue("name")
	resp, err := c.admin.GetDirectory(ctx, &idsyncv1.GetDirectoryRequest{Name: name})
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	d, paths, err := directoryChanges(r, resp.GetDirectory())
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	to := "/directories/" + pathEscape(name)
	if len(paths) == 0 {
		c.done(w, r, to, "Nothing changed.")
		return
	}
	if _, err := c.admin.UpdateDirectory(ctx, &idsyncv1.UpdateDirectoryRequest{Directory: d,
		UpdateMask: &fieldmaskpb.FieldMask{Paths: paths}}); err != nil {
		c.fail(w, r, s, err)
		return
	}
	c.done(w, r, to, fmt.Sprintf("Saved: %s.", strings.Join(paths, ", ")))
}
