package console

import (
	"cmp"
	"crypto/rand"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
	"github.com/idsync/idsync/server/auth"
)

func randomToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// funcs are the templates' helpers.
var funcs = template.FuncMap{
	"when": func(t *timestamppb.Timestamp) string {
		if t == nil {
			return "—"
		}
		return t.AsTime().Local().Format("2006-01-02 15:04:05")
	},
	"ago": func(t *timestamppb.Timestamp) string {
		if t == nil {
			return "never"
		}
		return since(t.AsTime())
	},
	"enum":        enumName,
	"join":        strings.Join,
	"dash":        func(s string) string { return cmp.Or(s, "—") },
	"ms":          func(n uint64) string { return (time.Duration(n) * time.Millisecond).String() },
	"add":         func(a, b int) int { return a + b },
	"took":        took,
	"rate":        rate,
	"pathEsc":     pathEscape,
	"fieldID":     fieldID,
	"label":       func(path string) string { return fieldLabels[path] },
	"list":        func(v ...string) []string { return v },
	"field":       userField,
	"moreMembers": moreMembers,
}

// pathEscape escapes s for a segment of a URL's path.
func pathEscape(s string) string { return strings.ReplaceAll(template.URLQueryEscaper(s), "+", "%20") }

// userField is a user's profile field by its name.
func userField(u *idsyncv1.User, name string) string {
	switch name {
	case "username":
		return u.GetUsername()
	case "email":
		return u.GetEmail()
	case "given_name":
		return u.GetGivenName()
	case "family_name":
		return u.GetFamilyName()
	case "display_name":
		return u.GetDisplayName()
	case "employee_number":
		return u.GetEmployeeNumber()
	case "department":
		return u.GetDepartment()
	case "title":
		return u.GetTitle()
	case "manager":
		return u.GetManager()
	}
	return ""
}

// enumName is an enum value's name as admins say it: RUN_STATE_PAUSED_BY_SAFEGUARD → paused by safeguard.
func enumName(v fmt.Stringer) string {
	s := v.String()
	for _, p := range []string{"RUN_STATE_", "USER_STATUS_", "AGENT_STATE_", "IMPORT_KIND_", "DIRECTORY_KIND_", "APP_AUTH_KIND_", "OBJECT_KIND_"} {
		s = strings.TrimPrefix(s, p)
	}
	return strings.ToLower(strings.ReplaceAll(s, "_", " "))
}

// took is how long a run took, or has run.
func took(r *idsyncv1.ImportRun) string {
	if r.GetStartedAt() == nil {
		return "—"
	}
	end := time.Now()
	if r.GetFinishedAt() != nil {
		end = r.GetFinishedAt().AsTime()
	}
	return end.Sub(r.GetStartedAt().AsTime()).Round(time.Millisecond).String()
}

// rate is a run's objects read per second.
func rate(r *idsyncv1.ImportRun) string {
	if r.GetStartedAt() == nil {
		return "—"
	}
	end := time.Now()
	if r.GetFinishedAt() != nil {
		end = r.GetFinishedAt().AsTime()
	}
	d := end.Sub(r.GetStartedAt().AsTime()).Seconds()
	if d <= 0 {
		return "—"
	}
	return fmt.Sprintf("%.0f/s", float64(r.GetSeen())/d)
}

// overviewData is the overview's.
type overviewData struct {
	Directories []*idsyncv1.Directory
	Agents      []*idsyncv1.Agent
	Apps        []*idsyncv1.App
	OpenTasks   int
	Paused      []*idsyncv1.ImportRun
	Events      []*idsyncv1.AuditEvent
	Changes     template.HTML
	Pushes      template.HTML
	Durations   template.HTML
}

func (c *Console) overview(w http.ResponseWriter, r *http.Request, s *session) {
	ctx := c.ctx(r, s)
	var d overviewData
	can := func(p auth.Permission) bool { return auth.RoleHas(s.role, p) }
	if can(auth.PermDirectoriesRead) {
		resp, err := c.admin.ListDirectories(ctx, &idsyncv1.ListDirectoriesRequest{})
		if err != nil {
			c.fail(w, r, s, err)
			return
		}
		d.Directories = resp.GetDirectories()
	}
	if can(auth.PermAgentsRead) {
		resp, err := c.admin.ListAgents(ctx, &idsyncv1.ListAgentsRequest{})
		if err != nil {
			c.fail(w, r, s, err)
			return
		}
		d.Agents = resp.GetAgents()
	}
	if can(auth.PermAppsRead) {
		resp, err := c.apps.ListApps(ctx, &idsyncv1.ListAppsRequest{})
		if err != nil {
			c.fail(w, r, s, err)
			return
		}
		d.Apps = resp.GetApps()
	}
	if can(auth.PermPushesRead) {
		resp, err := c.apps.ListTasks(ctx, &idsyncv1.ListTasksRequest{})
		if err != nil {
			c.fail(w, r, s, err)
			return
		}
		d.OpenTasks = len(resp.GetTasks())
	}
	if can(auth.PermImportsRead) {
		resp, err := c.admin.ListImports(ctx, &idsyncv1.ListImportsRequest{Limit: 100})
		if err != nil {
			c.fail(w, r, s, err)
			return
		}
		var full []*idsyncv1.ImportRun
		for _, run := range resp.GetRuns() {
			if run.GetState() == idsyncv1.RunState_RUN_STATE_PAUSED_BY_SAFEGUARD {
				d.Paused = append(d.Paused, run)
			}
			if run.GetKind() == idsyncv1.ImportKind_IMPORT_KIND_FULL && run.GetFinishedAt() != nil && len(full) < 30 {
				full = append(full, run)
			}
		}
		d.Durations = durationChart(full)
	}
	if can(auth.PermAuditRead) {
		resp, err := c.admin.ListAuditEvents(ctx, &idsyncv1.ListAuditEventsRequest{NewestFirst: true, Limit: 10})
		if err != nil {
			c.fail(w, r, s, err)
			return
		}
		d.Events = resp.GetEvents()
	}
	if can(auth.PermReportsRead) {
		resp, err := c.admin.GetActivity(ctx, &idsyncv1.GetActivityRequest{Hours: 24})
		if err != nil {
			c.fail(w, r, s, err)
			return
		}
		d.Changes, d.Pushes = activityCharts(resp.GetHours())
	}
	c.render(w, r, s, http.StatusOK, "overview", "Overview", "overview", d)
}

func (c *Console) directories(w http.ResponseWriter, r *http.Request, s *session) {
	resp, err := c.admin.ListDirectories(c.ctx(r, s), &idsyncv1.ListDirectoriesRequest{})
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	c.render(w, r, s, http.StatusOK, "directories", "Directories", "directories", resp.GetDirectories())
}

// directoryData is a directory's page.
type directoryData struct {
	Dir  *idsyncv1.Directory
	Runs []*idsyncv1.ImportRun
	// MaxUploadMiB is the cap of a file uploaded into a csv directory.
	MaxUploadMiB int64
}

func (c *Console) directory(w http.ResponseWriter, r *http.Request, s *session) {
	ctx := c.ctx(r, s)
	name := r.PathValue("name")
	resp, err := c.admin.GetDirectory(ctx, &idsyncv1.GetDirectoryRequest{Name: name})
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	d := directoryData{Dir: resp.GetDirectory(), MaxUploadMiB: c.cfg.MaxUpload >> 20}
	if auth.RoleHas(s.role, auth.PermImportsRead) {
		runs, err := c.admin.ListImports(ctx, &idsyncv1.ListImportsRequest{Directory: name, Limit: 20})
		if err != nil {
			c.fail(w, r, s, err)
			return
		}
		d.Runs = runs.GetRuns()
	}
	c.render(w, r, s, http.StatusOK, "directory", "Directory "+name, "directories", d)
}

func (c *Console) startImport(w http.ResponseWriter, r *http.Request, s *session) {
	kind := idsyncv1.ImportKind_IMPORT_KIND_FULL
	resp, err := c.admin.StartImport(c.ctx(r, s), &idsyncv1.StartImportRequest{Directory: r.PathValue("name"), Kind: kind})
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	msg := "Full import started."
	if resp.GetAlreadyRunning() {
		msg = "A full import was already running: here it is."
	}
	c.done(w, r, "/imports/"+resp.GetRun().GetId(), msg)
}

func (c *Console) importPage(w http.ResponseWriter, r *http.Request, s *session) {
	resp, err := c.admin.GetImport(c.ctx(r, s), &idsyncv1.GetImportRequest{Id: r.PathValue("id")})
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	c.render(w, r, s, http.StatusOK, "import", "Import "+resp.GetRun().GetId(), "directories", resp.GetRun())
}

// runStatus is an import's progress as the page's script reads it.
type runStatus struct {
	State   string `json:"state"`
	Ended   bool   `json:"ended"`
	Seen    uint64 `json:"seen"`
	Created uint64 `json:"created"`
	Updated uint64 `json:"updated"`
	Unchang uint64 `json:"unchanged"`
	Deprov  uint64 `json:"deprovisioned"`
	Errors  uint64 `json:"errors"`
	Rate    string `json:"rate"`
	Took    string `json:"took"`
	Message string `json:"message"`
}

func (c *Console) importStatus(w http.ResponseWriter, r *http.Request, s *session) {
	resp, err := c.admin.GetImport(c.ctx(r, s), &idsyncv1.GetImportRequest{Id: r.PathValue("id")})
	if err != nil {
		code := http.StatusBadGateway
		if status.Code(err) == codes.Unauthenticated || status.Code(err) == codes.PermissionDenied {
			code = http.StatusForbidden
		}
		http.Error(w, status.Convert(err).Message(), code)
		return
	}
	run := resp.GetRun()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(runStatus{State: enumName(run.GetState()), Ended: run.GetFinishedAt() != nil ||
		run.GetState() == idsyncv1.RunState_RUN_STATE_PAUSED_BY_SAFEGUARD, Seen: run.GetSeen(), Created: run.GetCreated(),
		Updated: run.GetUpdated(), Unchang: run.GetUnchanged(), Deprov: run.GetDeprovisioned(), Errors: run.GetErrors(),
		Rate: rate(run), Took: took(run), Message: run.GetMessage()})
}

func (c *Console) importAction(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	var err error
	var msg string
	switch r.PathValue("action") {
	case "confirm":
		_, err = c.admin.ConfirmImport(c.ctx(r, s), &idsyncv1.ConfirmImportRequest{Id: id})
		msg = "Run " + id + " confirmed: the sweep ran."
	case "cancel":
		_, err = c.admin.CancelImport(c.ctx(r, s), &idsyncv1.CancelImportRequest{Id: id})
		msg = "Run " + id + " cancelled: nobody was deprovisioned."
	default:
		http.NotFound(w, r)
		return
	}
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	c.done(w, r, "/imports/"+id, msg)
}

// usersData is the user list's.
type usersData struct {
	Query, Directory, Status, Group string
	// Nested: the group's members through nested groups too.
	Nested      bool
	Users       []*idsyncv1.User
	Next        string
	Directories []*idsyncv1.Directory
}

var statusNames = map[string]idsyncv1.UserStatus{"active": idsyncv1.UserStatus_USER_STATUS_ACTIVE,
	"suspended": idsyncv1.UserStatus_USER_STATUS_SUSPENDED, "deprovisioned": idsyncv1.UserStatus_USER_STATUS_DEPROVISIONED}

func (c *Console) users(w http.ResponseWriter, r *http.Request, s *session) {
	ctx := c.ctx(r, s)
	q := r.URL.Query()
	d := usersData{Query: q.Get("q"), Directory: q.Get("directory"), Status: q.Get("status"), Group: q.Get("group"),
		Nested: q.Get("nested") == "on"}
	resp, err := c.admin.SearchUsers(ctx, &idsyncv1.SearchUsersRequest{Query: d.Query, Directory: d.Directory,
		Status: statusNames[d.Status], Group: d.Group, Nested: d.Nested, PageSize: 50, PageToken: q.Get("page")})
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	d.Users, d.Next = resp.GetUsers(), resp.GetNextPageToken()
	if auth.RoleHas(s.role, auth.PermDirectoriesRead) {
		dirs, err := c.admin.ListDirectories(ctx, &idsyncv1.ListDirectoriesRequest{})
		if err != nil {
			c.fail(w, r, s, err)
			return
		}
		d.Directories = dirs.GetDirectories()
	}
	c.render(w, r, s, http.StatusOK, "users", "Users", "users", d)
}

// nextPage is the URL of the next page of a list.
func (d usersData) NextURL() string {
	v := map[string]string{"q": d.Query, "directory": d.Directory, "status": d.Status, "group": d.Group, "page": d.Next}
	if d.Nested {
		v["nested"] = "on"
	}
	var parts []string
	for _, k := range []string{"q", "directory", "status", "group", "nested", "page"} {
		if v[k] != "" {
			parts = append(parts, k+"="+template.URLQueryEscaper(v[k]))
		}
	}
	return "/users?" + strings.Join(parts, "&")
}

// userData is a user's page.
type userData struct {
	User    *idsyncv1.User
	Details *idsyncv1.GetUserDetailsResponse
}

func (c *Console) user(w http.ResponseWriter, r *http.Request, s *session) {
	ctx := c.ctx(r, s)
	id := r.PathValue("id")
	u, err := c.admin.GetUser(ctx, &idsyncv1.GetUserRequest{User: id})
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	det, err := c.admin.GetUserDetails(ctx, &idsyncv1.GetUserDetailsRequest{User: id})
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	c.render(w, r, s, http.StatusOK, "user", "User "+u.GetUser().GetUsername(), "users", userData{User: u.GetUser(), Details: det})
}

func (c *Console) userAction(w http.ResponseWriter, r *http.Request, s *session) {
	ctx := c.ctx(r, s)
	id, reason := r.PathValue("id"), r.PostFormValue("reason")
	var err error
	var msg string
	switch r.PathValue("action") {
	case "deactivate":
		_, err = c.admin.DeactivateUser(ctx, &idsyncv1.DeactivateUserRequest{User: id, Reason: reason})
		msg = "Deactivated: held deprovisioned in the hub and every app."
	case "reactivate":
		_, err = c.admin.ReactivateUser(ctx, &idsyncv1.ReactivateUserRequest{User: id})
		msg = "Reactivated: the user takes its directory's status again."
	case "suspend":
		_, err = c.admin.SuspendUser(ctx, &idsyncv1.SuspendUserRequest{User: id, Reason: reason})
		msg = "Suspended: app accounts deactivated."
	case "unsuspend":
		_, err = c.admin.UnsuspendUser(ctx, &idsyncv1.UnsuspendUserRequest{User: id})
		msg = "Suspension lifted."
	case "restore":
		_, err = c.admin.RestoreUser(ctx, &idsyncv1.RestoreUserRequest{User: id})
		msg = "Restored, app accounts too."
	default:
		http.NotFound(w, r)
		return
	}
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	c.done(w, r, "/users/"+id, msg)
}

// groupsData is the group list's, a page of it: from the page token
// From, Next asks for the next.
type groupsData struct {
	Directory, Query string
	Groups           []*idsyncv1.Group
	From, Next       string
}

const groupPage = 100

func (c *Console) groups(w http.ResponseWriter, r *http.Request, s *session) {
	q := r.URL.Query()
	d := groupsData{Directory: q.Get("directory"), Query: q.Get("q"), From: q.Get("page")}
	resp, err := c.admin.ListGroups(c.ctx(r, s), &idsyncv1.ListGroupsRequest{Directory: d.Directory, Query: d.Query,
		PageSize: groupPage, PageToken: d.From})
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	d.Groups, d.Next = resp.GetGroups(), resp.GetNextPageToken()
	c.render(w, r, s, http.StatusOK, "groups", "Groups", "groups", d)
}

// groupData is a group's page: a page of its members, from the page
// token From; Next asks for the next.
type groupData struct {
	Group      *idsyncv1.Group
	Members    []*idsyncv1.GroupMember
	From, Next string
	Apps       []string
	// InApps are the apps the group is pushed to, as the group is there
	// (the apps the role manages, as GetGroup answers).
	InApps []*idsyncv1.GroupInApp
}

func (c *Console) group(w http.ResponseWriter, r *http.Request, s *session) {
	ctx := c.ctx(r, s)
	from := r.URL.Query().Get("page")
	resp, err := c.admin.GetGroup(ctx, &idsyncv1.GetGroupRequest{Group: r.PathValue("id"), PageSize: groupPage, PageToken: from})
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	d := groupData{Group: resp.GetGroup(), Members: resp.GetMembers(), From: from, Next: resp.GetNextPageToken(), InApps: resp.GetApps()}
	if auth.RoleHas(s.role, auth.PermAppsRead) {
		apps, err := c.apps.ListApps(ctx, &idsyncv1.ListAppsRequest{})
		if err != nil {
			c.fail(w, r, s, err)
			return
		}
		for _, a := range apps.GetApps() {
			for _, as := range a.GetAssignments() {
				if as.GetKind() == "group" && as.GetTargetId() == d.Group.GetId() {
					d.Apps = append(d.Apps, a.GetName())
				}
			}
		}
	}
	c.render(w, r, s, http.StatusOK, "group", "Group "+d.Group.GetName(), "groups", d)
}

func (c *Console) appList(w http.ResponseWriter, r *http.Request, s *session) {
	resp, err := c.apps.ListApps(c.ctx(r, s), &idsyncv1.ListAppsRequest{})
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	c.render(w, r, s, http.StatusOK, "apps", "Apps", "apps", resp.GetApps())
}

// appData is an app's page (and its forms').
type appData struct {
	App     *idsyncv1.App
	Failed  []*idsyncv1.PushJob
	Recent  []*idsyncv1.PushJob
	Test    *idsyncv1.TestAppResponse
	Import  *idsyncv1.ImportFromAppResponse
	Preview *idsyncv1.PreviewAppResponse
	User    string
	New     bool
	// Accounts is a page of the app's accounts, from the user id
	// AccountsFrom on; AccountsNext asks for the next.
	Accounts                   []*idsyncv1.AppAccount
	AccountsFrom, AccountsNext string
	// AppGroups is a page of the groups the app holds of its own (as the
	// last `app import --groups` found them, within the role's scope),
	// from the GroupsFrom-th on; GroupsNext starts the next page (0: none).
	AppGroups              []*idsyncv1.AppGroup
	GroupsFrom, GroupsNext int
	// Pushed are the hub groups pushed to the app (the app's groups linked
	// to them), with what the pushes and imports found.
	Pushed []pushedGroup
}

// pushedGroup is a hub group pushed to an app; State is nil when there is
// nothing to report.
type pushedGroup struct {
	Name  string
	State *idsyncv1.PushedGroupState
}

// moreMembers is how many members of an app's group are hub users beyond
// those it names.
func moreMembers(g *idsyncv1.AppGroup) uint64 {
	return g.GetMemberCount() - min(g.GetMemberCount(), uint64(len(g.GetMembers())))
}

// appGroupPage is how many of an app's own groups its page lists at a
// time.
const appGroupPage = 50

// pageOf returns the page of n items from the from-th, and where the next
// starts (0: none).
func pageOf[T any](all []T, from, n int) ([]T, int) {
	from = min(max(from, 0), len(all))
	end := min(from+n, len(all))
	if end == len(all) {
		return all[from:end], 0
	}
	return all[from:end], end
}

// accountPage is how many accounts an app's page lists at a time.
const accountPage = 50

func (c *Console) appNew(w http.ResponseWriter, r *http.Request, s *session) {
	if !c.mayWriteApps(w, r, s) {
		return
	}
	c.render(w, r, s, http.StatusOK, "appform", "Add an app", "apps", appData{New: true, App: &idsyncv1.App{
		AllowCreate: true, AllowUpdate: true, AllowDeactivate: true, Auth: idsyncv1.AppAuthKind_APP_AUTH_KIND_BEARER}})
}

func (c *Console) appEdit(w http.ResponseWriter, r *http.Request, s *session) {
	if !c.mayWriteApps(w, r, s) {
		return
	}
	resp, err := c.apps.GetApp(c.ctx(r, s), &idsyncv1.GetAppRequest{Name: r.PathValue("name")})
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	c.render(w, r, s, http.StatusOK, "appform", "Edit "+resp.GetApp().GetName(), "apps", appData{App: resp.GetApp()})
}

// mayWriteApps answers a form of apps.write for a role without it: the
// form would offer what the server refuses.
func (c *Console) mayWriteApps(w http.ResponseWriter, r *http.Request, s *session) bool {
	if auth.RoleHas(s.role, auth.PermAppsWrite) {
		return true
	}
	c.fail(w, r, s, status.Errorf(codes.PermissionDenied, "permission %s missing: role %s adds and edits no app", auth.PermAppsWrite, s.role))
	return false
}

var authKinds = map[string]idsyncv1.AppAuthKind{"bearer": idsyncv1.AppAuthKind_APP_AUTH_KIND_BEARER,
	"basic": idsyncv1.AppAuthKind_APP_AUTH_KIND_BASIC, "oauth2": idsyncv1.AppAuthKind_APP_AUTH_KIND_OAUTH2}

// appForm reads the app form's settings and the paths they set.
func appForm(r *http.Request, role string) (*idsyncv1.App, []string) {
	f := func(k string) string { return strings.TrimSpace(r.PostFormValue(k)) }
	on := func(k string) bool { return r.PostFormValue(k) == "on" }
	a := &idsyncv1.App{Name: f("name"), ScimUrl: f("scim_url"), Auth: authKinds[f("auth")], Username: f("username"),
		TokenUrl: f("token_url"), AllowCreate: on("allow_create"), AllowUpdate: on("allow_update"),
		AllowDeactivate: on("allow_deactivate"), AllowDelete: on("allow_delete"), PushGroups: on("push_groups"),
		MatchBy: f("match_by")}
	paths := []string{"scim_url", "auth", "username", "token_url", "allow_create", "allow_update", "allow_deactivate",
		"allow_delete", "push_groups", "match_by"}
	if auth.RoleHas(role, auth.PermAdminsWrite) {
		// Only a super-admin sees these; the server checks again.
		a.AllowInsecureHttp, a.AllowLocalAddresses = on("allow_insecure_http"), on("allow_local_addresses")
		paths = append(paths, "allow_insecure_http", "allow_local_addresses")
	}
	if v, err := strconv.ParseFloat(f("rate_limit"), 64); err == nil {
		a.RateLimit = v
		paths = append(paths, "rate_limit")
	}
	return a, paths
}

func (c *Console) appCreate(w http.ResponseWriter, r *http.Request, s *session) {
	a, _ := appForm(r, s.role)
	resp, err := c.apps.CreateApp(c.ctx(r, s), &idsyncv1.CreateAppRequest{App: a, Secret: r.PostFormValue("secret")})
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	c.done(w, r, "/apps/"+template.URLQueryEscaper(resp.GetApp().GetName()), "App "+resp.GetApp().GetName()+" added.")
}

func (c *Console) app(w http.ResponseWriter, r *http.Request, s *session) {
	d, err := c.appPage(r, s)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	c.render(w, r, s, http.StatusOK, "app", "App "+d.App.GetName(), "apps", d)
}

// appPage reads what an app's page shows.
func (c *Console) appPage(r *http.Request, s *session) (*appData, error) {
	ctx := c.ctx(r, s)
	name := r.PathValue("name")
	resp, err := c.apps.GetApp(ctx, &idsyncv1.GetAppRequest{Name: name})
	if err != nil {
		return nil, err
	}
	d := &appData{App: resp.GetApp(), AccountsFrom: r.URL.Query().Get("accounts")}
	d.GroupsFrom, _ = strconv.Atoi(r.URL.Query().Get("groups"))
	d.AppGroups, d.GroupsNext = pageOf(d.App.GetAppGroups(), d.GroupsFrom, appGroupPage)
	states := map[string]*idsyncv1.PushedGroupState{}
	for _, st := range d.App.GetPushedGroupStates() {
		states[st.GetName()] = st
	}
	for _, g := range d.App.GetPushedGroups() {
		d.Pushed = append(d.Pushed, pushedGroup{Name: g, State: states[g]})
	}
	accounts, err := c.apps.ListAccounts(ctx, &idsyncv1.ListAccountsRequest{App: name, PageSize: accountPage, PageToken: d.AccountsFrom})
	if err != nil {
		return nil, err
	}
	d.Accounts, d.AccountsNext = accounts.GetAccounts(), accounts.GetNextPageToken()
	if auth.RoleHas(s.role, auth.PermPushesRead) {
		failed, err := c.apps.ListPushes(ctx, &idsyncv1.ListPushesRequest{App: name, Failed: true, Limit: 50})
		if err != nil {
			return nil, err
		}
		recent, err := c.apps.ListPushes(ctx, &idsyncv1.ListPushesRequest{App: name, Limit: 50})
		if err != nil {
			return nil, err
		}
		d.Failed = failed.GetJobs()
		for _, j := range recent.GetJobs() {
			if j.GetState() != "dead" {
				d.Recent = append(d.Recent, j)
			}
		}
	}
	return d, nil
}

func (c *Console) appPreview(w http.ResponseWriter, r *http.Request, s *session) {
	d, err := c.appPage(r, s)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	d.User = strings.TrimSpace(r.URL.Query().Get("user"))
	if d.User != "" {
		p, err := c.apps.PreviewApp(c.ctx(r, s), &idsyncv1.PreviewAppRequest{Name: d.App.GetName(), User: d.User})
		if err != nil {
			c.fail(w, r, s, err)
			return
		}
		d.Preview = p
	}
	if r.URL.Query().Get("part") == "preview" {
		// The page's script asks for the preview alone.
		c.renderPart(w, "preview", d)
		return
	}
	c.render(w, r, s, http.StatusOK, "app", "App "+d.App.GetName(), "apps", d)
}

// renderPart renders one named template of the app page alone.
func (c *Console) renderPart(w http.ResponseWriter, name string, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := c.pages["app"].ExecuteTemplate(w, name, data); err != nil {
		c.log.Error("rendering a console part", "part", name, "err", err)
	}
}

func (c *Console) appAction(w http.ResponseWriter, r *http.Request, s *session) {
	ctx := c.ctx(r, s)
	name := r.PathValue("name")
	to := "/apps/" + template.URLQueryEscaper(name)
	var err error
	msg := ""
	switch r.PathValue("action") {
	case "edit":
		a, paths := appForm(r, s.role)
		a.Name = name
		_, err = c.apps.UpdateApp(ctx, &idsyncv1.UpdateAppRequest{App: a, Secret: r.PostFormValue("secret"),
			UpdateMask: &fieldmaskpb.FieldMask{Paths: paths}})
		msg = "Settings saved."
	case "pause":
		_, err = c.apps.PauseApp(ctx, &idsyncv1.PauseAppRequest{Name: name, Reason: strings.TrimSpace(r.PostFormValue("reason"))})
		msg = "Paused: its pushes wait in the queue until you resume it."
	case "resume":
		_, err = c.apps.ResumeApp(ctx, &idsyncv1.ResumeAppRequest{Name: name})
		msg = "Resumed: its queue runs again."
	case "assign", "unassign":
		target := strings.TrimSpace(r.PostFormValue("target"))
		dir := strings.TrimSpace(r.PostFormValue("directory"))
		user, group := "", ""
		if kind, ref, ok := strings.Cut(target, ":"); ok && (kind == "user" || kind == "group") {
			target = ref
			if kind == "group" {
				group = ref
			} else {
				user = ref
			}
		} else if r.PostFormValue("kind") == "group" {
			group = target
		} else {
			user = target
		}
		if r.PathValue("action") == "assign" {
			var resp *idsyncv1.AssignAppResponse
			resp, err = c.apps.AssignApp(ctx, &idsyncv1.AssignAppRequest{Name: name, User: user, Group: group, Directory: dir})
			msg = fmt.Sprintf("Assigned %s: %d users in scope.", target, resp.GetUsersInScope())
		} else {
			var resp *idsyncv1.UnassignAppResponse
			resp, err = c.apps.UnassignApp(ctx, &idsyncv1.UnassignAppRequest{Name: name, User: user, Group: group, Directory: dir})
			msg = fmt.Sprintf("Unassigned %s: %d users in scope.", target, resp.GetUsersInScope())
		}
	case "retry":
		var resp *idsyncv1.RetryPushesResponse
		req := &idsyncv1.RetryPushesRequest{App: name}
		if id := r.PostFormValue("job"); id != "" {
			req = &idsyncv1.RetryPushesRequest{Id: id}
		}
		resp, err = c.apps.RetryPushes(ctx, req)
		msg = fmt.Sprintf("%d dead-lettered pushes queued again.", resp.GetRequeued())
	case "test", "import":
		d, perr := c.appPage(r, s)
		if perr != nil {
			c.fail(w, r, s, perr)
			return
		}
		if r.PathValue("action") == "test" {
			d.Test, err = c.apps.TestApp(ctx, &idsyncv1.TestAppRequest{Name: name})
		} else {
			d.Import, err = c.apps.ImportFromApp(ctx, &idsyncv1.ImportFromAppRequest{Name: name})
		}
		if err != nil {
			c.fail(w, r, s, err)
			return
		}
		c.render(w, r, s, http.StatusOK, "app", "App "+name, "apps", d)
		return
	case "delete":
		_, err = c.apps.DeleteApp(ctx, &idsyncv1.DeleteAppRequest{Name: name})
		to, msg = "/apps", "App "+name+" removed (its accounts in the app stay as they are)."
	default:
		http.NotFound(w, r)
		return
	}
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	c.done(w, r, to, msg)
}

func (c *Console) tasks(w http.ResponseWriter, r *http.Request, s *session) {
	all := r.URL.Query().Get("all") == "1"
	resp, err := c.apps.ListTasks(c.ctx(r, s), &idsyncv1.ListTasksRequest{App: r.URL.Query().Get("app"), All: all})
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	c.render(w, r, s, http.StatusOK, "tasks", "Tasks", "tasks", struct {
		Tasks []*idsyncv1.ManualTask
		All   bool
	}{resp.GetTasks(), all})
}

func (c *Console) taskResolve(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	if _, err := c.apps.ResolveTask(c.ctx(r, s), &idsyncv1.ResolveTaskRequest{Id: id, Note: r.PostFormValue("note")}); err != nil {
		c.fail(w, r, s, err)
		return
	}
	c.done(w, r, "/tasks", "Task "+id+" resolved.")
}

// auditData is the audit page's.
type auditData struct {
	Actor, Action, Target, Outcome, Since string
	Events                                []*idsyncv1.AuditEvent
	Older                                 string
}

const auditPage = 100

// auditQuery reads the audit filters.
func auditQuery(r *http.Request) (auditData, *idsyncv1.ListAuditEventsRequest, error) {
	q := r.URL.Query()
	d := auditData{Actor: q.Get("actor"), Action: q.Get("action"), Target: q.Get("target"), Outcome: q.Get("outcome"), Since: q.Get("since")}
	req := &idsyncv1.ListAuditEventsRequest{Actor: d.Actor, Action: d.Action, Target: d.Target, Outcome: d.Outcome, NewestFirst: true}
	if d.Since != "" {
		dur, err := time.ParseDuration(d.Since)
		if err != nil {
			return d, nil, status.Errorf(codes.InvalidArgument, "since %q: a duration back, e.g. 24h", d.Since)
		}
		req.Since = timestamppb.New(time.Now().Add(-dur))
	}
	if b, err := strconv.ParseInt(q.Get("before"), 10, 64); err == nil {
		req.BeforeId = b
	}
	return d, req, nil
}

func (c *Console) audit(w http.ResponseWriter, r *http.Request, s *session) {
	d, req, err := auditQuery(r)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	csvOut := r.URL.Query().Get("format") == "csv"
	req.Limit = auditPage
	if csvOut {
		req.Limit = 100000
	}
	resp, err := c.admin.ListAuditEvents(c.ctx(r, s), req)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	if csvOut {
		rows := [][]string{{"id", "at", "actor", "action", "target", "outcome", "detail"}}
		for _, e := range resp.GetEvents() {
			rows = append(rows, []string{strconv.FormatInt(e.GetId(), 10), e.GetAt().AsTime().UTC().Format(time.RFC3339),
				e.GetActor(), e.GetAction(), e.GetTarget(), e.GetOutcome(), e.GetDetail()})
		}
		writeCSV(w, "audit.csv", rows)
		return
	}
	d.Events = resp.GetEvents()
	if len(d.Events) == auditPage {
		d.Older = strconv.FormatInt(d.Events[len(d.Events)-1].GetId(), 10)
	}
	c.render(w, r, s, http.StatusOK, "audit", "Audit", "audit", d)
}

// QueryWith is the audit page's query string with before set.
func (d auditData) QueryWith(before string) string {
	var parts []string
	for _, kv := range [][2]string{{"actor", d.Actor}, {"action", d.Action}, {"target", d.Target}, {"outcome", d.Outcome},
		{"since", d.Since}, {"before", before}} {
		if kv[1] != "" {
			parts = append(parts, kv[0]+"="+template.URLQueryEscaper(kv[1]))
		}
	}
	return strings.Join(parts, "&")
}

// writeCSV answers with rows as a CSV download. A cell that a spreadsheet
// would take for a formula is quoted as text.
func writeCSV(w http.ResponseWriter, name string, rows [][]string) {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	cw := csv.NewWriter(w)
	for _, row := range rows {
		out := make([]string, len(row))
		for i, v := range row {
			if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
				v = "'" + v
			}
			out[i] = v
		}
		_ = cw.Write(out)
	}
	cw.Flush()
}

// reportNames are the hub's reports, as GetReport names them.
var reportNames = []string{"users", "app-usage", "pending-deprovisions", "failed-pushes", "imports", "agents", "upcoming-purges"}

// reportNeeds is the permission each report needs besides reports.read,
// as server/reports asks it: the page lists those the role may read.
var reportNeeds = map[string]auth.Permission{
	"users": auth.PermUsersRead, "app-usage": auth.PermAppsRead, "pending-deprovisions": auth.PermPushesRead,
	"failed-pushes": auth.PermPushesRead, "imports": auth.PermImportsRead, "agents": auth.PermAgentsRead,
	"upcoming-purges": auth.PermUsersRead,
}

func (c *Console) reports(w http.ResponseWriter, r *http.Request, s *session) {
	var names []string
	for _, n := range reportNames {
		if p, ok := reportNeeds[n]; !ok || auth.RoleHas(s.role, p) {
			names = append(names, n)
		}
	}
	c.render(w, r, s, http.StatusOK, "reports", "Reports", "reports", names)
}

// reportData is a report's page.
type reportData struct {
	Report *idsyncv1.GetReportResponse
	Chart  template.HTML
}

func (c *Console) report(w http.ResponseWriter, r *http.Request, s *session) {
	name := r.PathValue("name")
	resp, err := c.admin.GetReport(c.ctx(r, s), &idsyncv1.GetReportRequest{Name: name})
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	if r.URL.Query().Get("format") == "csv" {
		rows := [][]string{resp.GetColumns()}
		for _, row := range resp.GetRows() {
			rows = append(rows, row.GetCells())
		}
		writeCSV(w, name+".csv", rows)
		return
	}
	c.render(w, r, s, http.StatusOK, "report", "Report "+name, "reports", reportData{Report: resp, Chart: reportChart(resp)})
}

// agentsData is the agents page's.
type agentsData struct {
	Agents      []*idsyncv1.Agent
	Directories []*idsyncv1.Directory
	Token       string
	Directory   string
	Expires     *timestamppb.Timestamp
	Command     string
}

func (c *Console) agentsPage(r *http.Request, s *session) (*agentsData, error) {
	ctx := c.ctx(r, s)
	resp, err := c.admin.ListAgents(ctx, &idsyncv1.ListAgentsRequest{})
	if err != nil {
		return nil, err
	}
	d := &agentsData{Agents: resp.GetAgents()}
	if auth.RoleHas(s.role, auth.PermAgentsWrite) {
		dirs, err := c.admin.ListDirectories(ctx, &idsyncv1.ListDirectoriesRequest{})
		if err != nil {
			return nil, err
		}
		for _, dir := range dirs.GetDirectories() {
			if k := dir.GetKind(); k == idsyncv1.DirectoryKind_DIRECTORY_KIND_AD || k == idsyncv1.DirectoryKind_DIRECTORY_KIND_OPENLDAP {
				d.Directories = append(d.Directories, dir)
			}
		}
	}
	return d, nil
}

func (c *Console) agents(w http.ResponseWriter, r *http.Request, s *session) {
	d, err := c.agentsPage(r, s)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	c.render(w, r, s, http.StatusOK, "agents", "Agents", "agents", d)
}

// agentToken issues an enrolment token and shows it once, with the
// command that uses it.
func (c *Console) agentToken(w http.ResponseWriter, r *http.Request, s *session) {
	dir := r.PostFormValue("directory")
	resp, err := c.admin.CreateEnrollmentToken(c.ctx(r, s), &idsyncv1.CreateEnrollmentTokenRequest{Directory: dir})
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	d, err := c.agentsPage(r, s)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	d.Token, d.Directory, d.Expires = resp.GetToken(), dir, resp.GetExpiresAt()
	d.Command = EnrollCommand(c.cfg.GRPCAddr, resp.GetToken())
	c.render(w, r, s, http.StatusOK, "agents", "Agents", "agents", d)
}

// EnrollCommand is the command that enrols an agent with token at the hub
// whose gRPC address is hub (the token on standard input, not in the
// process list).
func EnrollCommand(hub, token string) string {
	return fmt.Sprintf("printf '%%s\\n' '%s' | idsync-agent enroll --hub %s --config /etc/idsync/agent.yaml --token-file -", token, hub)
}

func (c *Console) agentRevoke(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	if _, err := c.admin.RevokeAgent(c.ctx(r, s), &idsyncv1.RevokeAgentRequest{Id: id}); err != nil {
		c.fail(w, r, s, err)
		return
	}
	c.done(w, r, "/agents", "Agent "+id+" revoked: its stream closed.")
}

// adminsData is the admins page's.
type adminsData struct {
	Tokens []*idsyncv1.AdminToken
	Grants []*idsyncv1.AdminGrant
	Secret string
	Named  string
	Roles  []string
}

func (c *Console) adminsPage(r *http.Request, s *session) (*adminsData, error) {
	ctx := c.ctx(r, s)
	tokens, err := c.admin.ListAdminTokens(ctx, &idsyncv1.ListAdminTokensRequest{})
	if err != nil {
		return nil, err
	}
	grants, err := c.admin.ListAdminGrants(ctx, &idsyncv1.ListAdminGrantsRequest{})
	if err != nil {
		return nil, err
	}
	return &adminsData{Tokens: tokens.GetTokens(), Grants: grants.GetGrants(),
		Roles: []string{auth.RoleSuperAdmin, auth.RoleAppAdmin, auth.RoleGroupAdmin, auth.RoleReadOnly}}, nil
}

// admins is super-admin only: other roles get the page that says so (the
// server would refuse their writes regardless).
func (c *Console) admins(w http.ResponseWriter, r *http.Request, s *session) {
	if s.role != auth.RoleSuperAdmin {
		c.fail(w, r, s, status.Error(codes.PermissionDenied, "the admins page is a super-admin's"))
		return
	}
	d, err := c.adminsPage(r, s)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	c.render(w, r, s, http.StatusOK, "admins", "Admins", "admins", d)
}

func list(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func (c *Console) adminCreate(w http.ResponseWriter, r *http.Request, s *session) {
	ctx := c.ctx(r, s)
	role, groups, apps := r.PostFormValue("role"), list(r.PostFormValue("groups")), list(r.PostFormValue("apps"))
	switch r.PathValue("kind") {
	case "tokens":
		resp, err := c.admin.CreateAdminToken(ctx, &idsyncv1.CreateAdminTokenRequest{Name: r.PostFormValue("name"),
			Role: role, Groups: groups, Apps: apps})
		if err != nil {
			c.fail(w, r, s, err)
			return
		}
		d, err := c.adminsPage(r, s)
		if err != nil {
			c.fail(w, r, s, err)
			return
		}
		d.Secret, d.Named = resp.GetSecret(), resp.GetToken().GetName()
		c.render(w, r, s, http.StatusOK, "admins", "Admins", "admins", d)
	case "grants":
		resp, err := c.admin.CreateAdminGrant(ctx, &idsyncv1.CreateAdminGrantRequest{Role: role, Group: r.PostFormValue("group"),
			Groups: groups, Apps: apps})
		if err != nil {
			c.fail(w, r, s, err)
			return
		}
		c.done(w, r, "/admins", fmt.Sprintf("The members of %s now sign in as %s.", resp.GetGrant().GetGroup(), role))
	default:
		http.NotFound(w, r)
	}
}

func (c *Console) adminRevoke(w http.ResponseWriter, r *http.Request, s *session) {
	ctx := c.ctx(r, s)
	id := r.PathValue("id")
	var err error
	switch r.PathValue("kind") {
	case "tokens":
		_, err = c.admin.RevokeAdminToken(ctx, &idsyncv1.RevokeAdminTokenRequest{Token: id})
	case "grants":
		_, err = c.admin.RevokeAdminGrant(ctx, &idsyncv1.RevokeAdminGrantRequest{Id: id})
	default:
		http.NotFound(w, r)
		return
	}
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	c.done(w, r, "/admins", "Revoked.")
}

// suggestion is one type-ahead answer.
type suggestion struct {
	Value string `json:"value"`
	Label string `json:"label"`
}

// typeahead suggests users and groups whose names start with q, for the
// assign form.
func (c *Console) typeahead(w http.ResponseWriter, r *http.Request, s *session) {
	ctx := c.ctx(r, s)
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	out := []suggestion{}
	if q != "" {
		users, err := c.admin.SearchUsers(ctx, &idsyncv1.SearchUsersRequest{Query: q, PageSize: 8})
		if err == nil {
			for _, u := range users.GetUsers() {
				out = append(out, suggestion{Value: "user:" + u.GetId(), Label: u.GetDirectory() + "/" + u.GetUsername() + " (user)"})
			}
		}
		groups, err := c.admin.ListGroups(ctx, &idsyncv1.ListGroupsRequest{Query: q, PageSize: 8})
		if err == nil {
			for _, g := range groups.GetGroups() {
				out = append(out, suggestion{Value: "group:" + g.GetId(), Label: g.GetDirectory() + "/" + g.GetName() + " (group)"})
			}
		}
	}
	slices.SortStableFunc(out, func(a, b suggestion) int { return strings.Compare(a.Label, b.Label) })
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(out)
}
