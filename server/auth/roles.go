package auth

import (
	"context"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/idsync/idsync/server/store"
)

// The admin roles, as provisioning admins know them.
const (
	// RoleSuperAdmin may do everything, admins and agents included.
	RoleSuperAdmin = "super-admin"
	// RoleAppAdmin manages apps, mappings, assignments and pushes: every
	// app, or the apps its token names.
	RoleAppAdmin = "app-admin"
	// RoleGroupAdmin assigns and unassigns apps for the groups its token
	// names, sees those groups' users, and deactivates, reactivates,
	// suspends and unsuspends them (never in their directory, and never
	// one who holds an admin grant: that is a super-admin's decision).
	RoleGroupAdmin = "group-admin"
	// RoleReadOnly reads every list, show, report and the audit log.
	RoleReadOnly = "read-only"
	// RoleAuthn only signs users in (delegated authentication): the token
	// of an application's login page.
	RoleAuthn = "authn"
)

// Roles lists the roles, for help texts and validation.
var Roles = []string{RoleSuperAdmin, RoleAppAdmin, RoleGroupAdmin, RoleReadOnly, RoleAuthn}

// Permission is what a method needs.
type Permission string

// Permissions.
const (
	PermDirectoriesRead  Permission = "directories.read"
	PermDirectoriesWrite Permission = "directories.write"
	PermAgentsRead       Permission = "agents.read"
	PermAgentsWrite      Permission = "agents.write"
	PermImportsRead      Permission = "imports.read"
	PermImportsWrite     Permission = "imports.write"
	PermUsersRead        Permission = "users.read"
	// PermUsersLifecycle holds and lifts holds on users (deactivate,
	// reactivate, suspend, unsuspend); a group-admin, the users of its
	// groups only.
	PermUsersLifecycle Permission = "users.lifecycle"
	// PermUsersWrite restores users and writes local directories' users
	// and groups.
	PermUsersWrite       Permission = "users.write"
	PermGroupsRead       Permission = "groups.read"
	PermAppsRead         Permission = "apps.read"
	PermAppsWrite        Permission = "apps.write"
	PermAssignmentsWrite Permission = "assignments.write"
	PermPushesRead       Permission = "pushes.read"
	PermPushesWrite      Permission = "pushes.write"
	PermAdminsRead       Permission = "admins.read"
	PermAdminsWrite      Permission = "admins.write"
	PermAuditRead        Permission = "audit.read"
	PermReportsRead      Permission = "reports.read"
	PermAuthenticate     Permission = "users.authenticate"
	// PermRulesWrite adds, changes, applies and removes group rules, and
	// confirms or cancels their paused changes: super-admin only.
	PermRulesWrite Permission = "rules.write"
	// PermNotifyRead lists and shows notification channels (their
	// recipients, and webhook URLs redacted to scheme://host/… unless
	// the role also has PermNotifyWrite; never a secret) and their
	// deliveries.
	PermNotifyRead Permission = "notify.read"
	// PermNotifyWrite adds, removes and tests notification channels:
	// super-admin only, as a channel says where the hub sends what
	// happens to every directory and app.
	PermNotifyWrite Permission = "notify.write"
)

// MethodPermissions names the permission every admin method needs. A
// method missing here is refused (a test checks that every method of
// AdminService and AppService is listed).
var MethodPermissions = map[string]Permission{
	adminPrefix + "CreateDirectory":       PermDirectoriesWrite,
	adminPrefix + "UpdateDirectory":       PermDirectoriesWrite,
	adminPrefix + "ListDirectories":       PermDirectoriesRead,
	adminPrefix + "GetDirectory":          PermDirectoriesRead,
	adminPrefix + "IssueSourceToken":      PermDirectoriesWrite,
	adminPrefix + "CreateEnrollmentToken": PermAgentsWrite,
	adminPrefix + "ListAgents":            PermAgentsRead,
	adminPrefix + "RevokeAgent":           PermAgentsWrite,
	adminPrefix + "StartImport":           PermImportsWrite,
	adminPrefix + "ImportFile":            PermImportsWrite,
	adminPrefix + "ListImports":           PermImportsRead,
	adminPrefix + "GetImport":             PermImportsRead,
	adminPrefix + "ConfirmImport":         PermImportsWrite,
	adminPrefix + "CancelImport":          PermImportsWrite,
	adminPrefix + "ListUsers":             PermUsersRead,
	adminPrefix + "GetUser":               PermUsersRead,
	adminPrefix + "ListGroups":            PermGroupsRead,
	adminPrefix + "GetGroup":              PermGroupsRead,
	adminPrefix + "CreateAdminToken":      PermAdminsWrite,
	adminPrefix + "ListAdminTokens":       PermAdminsRead,
	adminPrefix + "RevokeAdminToken":      PermAdminsWrite,
	adminPrefix + "ListAuditEvents":       PermAuditRead,
	adminPrefix + "GetReport":             PermReportsRead,
	adminPrefix + "Authenticate":          PermAuthenticate,
	adminPrefix + "DeactivateUser":        PermUsersLifecycle,
	adminPrefix + "ReactivateUser":        PermUsersLifecycle,
	adminPrefix + "SuspendUser":           PermUsersLifecycle,
	adminPrefix + "UnsuspendUser":         PermUsersLifecycle,
	adminPrefix + "RestoreUser":           PermUsersWrite,
	adminPrefix + "CreateUser":            PermUsersWrite,
	adminPrefix + "UpdateUser":            PermUsersWrite,
	adminPrefix + "DeleteUser":            PermUsersWrite,
	adminPrefix + "CreateGroup":           PermUsersWrite,
	adminPrefix + "AddGroupMember":        PermUsersWrite,
	adminPrefix + "RemoveGroupMember":     PermUsersWrite,
	adminPrefix + "CreateAdminGrant":      PermAdminsWrite,
	adminPrefix + "ListAdminGrants":       PermAdminsRead,
	adminPrefix + "RevokeAdminGrant":      PermAdminsWrite,
	adminPrefix + "SearchUsers":           PermUsersRead,
	adminPrefix + "GetUserDetails":        PermUsersRead,
	adminPrefix + "GetActivity":           PermReportsRead,
	adminPrefix + "CreateGroupRule":       PermRulesWrite,
	adminPrefix + "UpdateGroupRule":       PermRulesWrite,
	adminPrefix + "ListGroupRules":        PermGroupsRead,
	adminPrefix + "GetGroupRule":          PermGroupsRead,
	adminPrefix + "ApplyGroupRule":        PermRulesWrite,
	adminPrefix + "PreviewGroupRule":      PermGroupsRead,
	adminPrefix + "DeleteGroupRule":       PermRulesWrite,
	adminPrefix + "ConfirmGroupRule":      PermRulesWrite,
	adminPrefix + "CancelGroupRule":       PermRulesWrite,
	adminPrefix + "CreateNotifyChannel":   PermNotifyWrite,
	adminPrefix + "ListNotifyChannels":    PermNotifyRead,
	adminPrefix + "GetNotifyChannel":      PermNotifyRead,
	adminPrefix + "DeleteNotifyChannel":   PermNotifyWrite,
	adminPrefix + "TestNotifyChannel":     PermNotifyWrite,
	adminPrefix + "RetryNotifyDeliveries": PermNotifyWrite,
	appPrefix + "CreateApp":               PermAppsWrite,
	appPrefix + "UpdateApp":               PermAppsWrite,
	appPrefix + "ListApps":                PermAppsRead,
	appPrefix + "GetApp":                  PermAppsRead,
	appPrefix + "DeleteApp":               PermAppsWrite,
	appPrefix + "TestApp":                 PermAppsWrite,
	appPrefix + "PreviewApp":              PermAppsRead,
	appPrefix + "AssignApp":               PermAssignmentsWrite,
	appPrefix + "UnassignApp":             PermAssignmentsWrite,
	appPrefix + "ImportFromApp":           PermAppsWrite,
	appPrefix + "ListPushes":              PermPushesRead,
	appPrefix + "RetryPushes":             PermPushesWrite,
	appPrefix + "ListTasks":               PermPushesRead,
	appPrefix + "ResolveTask":             PermPushesWrite,
	appPrefix + "PauseApp":                PermAppsWrite,
	appPrefix + "ResumeApp":               PermAppsWrite,
	appPrefix + "ListAccounts":            PermAppsRead,
}

// rolePermissions is what each role may do; super-admin may do all.
var rolePermissions = map[string][]Permission{
	RoleAppAdmin: {PermAppsRead, PermAppsWrite, PermAssignmentsWrite, PermPushesRead, PermPushesWrite,
		PermUsersRead, PermGroupsRead, PermDirectoriesRead, PermReportsRead},
	RoleGroupAdmin: {PermAppsRead, PermAssignmentsWrite, PermUsersRead, PermGroupsRead, PermUsersLifecycle},
	RoleReadOnly: {PermDirectoriesRead, PermAgentsRead, PermImportsRead, PermUsersRead, PermGroupsRead,
		PermAppsRead, PermPushesRead, PermAdminsRead, PermAuditRead, PermReportsRead, PermNotifyRead},
	RoleAuthn: {PermAuthenticate},
}

// ValidRole reports whether r is a role.
func ValidRole(r string) bool { return slices.Contains(Roles, r) }

// Has reports whether the token's role grants p.
func Has(t *store.AdminToken, p Permission) bool {
	if t == nil || t.Role == RoleSuperAdmin {
		return t != nil
	}
	return slices.Contains(rolePermissions[t.Role], p)
}

// authorize checks that the caller's token may call method.
func authorize(t *store.AdminToken, method string) error {
	p, ok := MethodPermissions[method]
	if !ok {
		return status.Errorf(codes.PermissionDenied, "method %s is not served to admin tokens", method)
	}
	if !Has(t, p) {
		return status.Errorf(codes.PermissionDenied, "permission %s missing: admin token %q has role %s", p, t.Name, t.Role)
	}
	if names := GroupNames(t); len(names) > 0 {
		return status.Errorf(codes.PermissionDenied, "admin token %q names its groups (%s) by name, which grants nothing: "+
			"a group-admin acts for group ids; create a token with --groups DIRECTORY/GROUP and revoke this one",
			t.Name, strings.Join(names, ", "))
	}
	if names := AppNames(t); len(names) > 0 {
		return status.Errorf(codes.PermissionDenied, "admin token %q names its apps (%s) by name, which grants nothing: "+
			"an app-admin manages apps by id (an app removed and added again under the name is another app); "+
			"create a token with --apps again and revoke this one", t.Name, strings.Join(names, ", "))
	}
	return nil
}

// AppGrant is how a token holds an app it manages: by the app's id, so
// that another app given the name of a removed one is not among them.
func AppGrant(id int64) string { return "id:" + strconv.FormatInt(id, 10) }

// appGrantID is the app id of a grant, and whether it is one.
func appGrantID(grant string) (int64, bool) {
	v, ok := strings.CutPrefix(grant, "id:")
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseInt(v, 10, 64)
	return id, err == nil && id > 0
}

// AppGrantIDs returns the app ids of an app-admin token's grants.
func AppGrantIDs(t *store.AdminToken) []int64 {
	var ids []int64
	for _, g := range t.Apps {
		if id, ok := appGrantID(g); ok {
			ids = append(ids, id)
		}
	}
	return ids
}

// AppNames returns the apps of an app-admin token that are not grants by
// id: names, as tokens held them before. Such a token is refused until it
// is replaced.
func AppNames(t *store.AdminToken) []string {
	if t == nil || t.Role != RoleAppAdmin {
		return nil
	}
	var names []string
	for _, a := range t.Apps {
		if _, ok := appGrantID(a); !ok {
			names = append(names, a)
		}
	}
	return names
}

// GroupNames returns the groups of a group-admin token that are not group
// ids: names, as tokens held them before grants were by id. Such a token
// is refused until it is replaced, rather than guessed into ids.
func GroupNames(t *store.AdminToken) []string {
	if t == nil || t.Role != RoleGroupAdmin {
		return nil
	}
	var names []string
	for _, g := range t.Groups {
		if !IsObjectID(g) {
			names = append(names, g)
		}
	}
	return names
}

// IsObjectID reports whether s has the form of the id the hub gives users
// and groups (a UUID in its canonical text).
func IsObjectID(s string) bool {
	u, err := uuid.Parse(s)
	return err == nil && u.String() == s
}

// Scope is what an authenticated admin may touch within its permissions.
type Scope struct {
	token *store.AdminToken
}

// ScopeOf returns the scope of the admin that authenticated ctx; a
// context without one (in-process callers) is unrestricted.
func ScopeOf(ctx context.Context) Scope {
	t, _ := Admin(ctx)
	return Scope{token: t}
}

// SuperAdmin reports whether the admin is a super-admin (or an in-process
// caller): the decisions only a super-admin makes check it.
func (s Scope) SuperAdmin() bool { return s.token == nil || s.token.Role == RoleSuperAdmin }

// CheckSuperAdmin refuses what only a super-admin may do, naming it.
func (s Scope) CheckSuperAdmin(what string) error {
	if s.SuperAdmin() {
		return nil
	}
	return status.Errorf(codes.PermissionDenied, "%s is a super-admin's decision: admin token %q has role %s",
		what, s.token.Name, s.token.Role)
}

// Role is the admin's role (an in-process caller: "", which only a
// super-admin covers).
func (s Scope) Role() string {
	if s.token == nil {
		return ""
	}
	return s.token.Role
}

// Covers reports whether the admin's role grants every permission of
// role: whether it may undo what an admin of that role decided (lift its
// hold on a user). A super-admin covers every role; only a super-admin
// covers a super-admin, the hub's own work, or a role not recorded ("")
// or unknown.
func (s Scope) Covers(role string) bool {
	return s.token == nil || RoleCovers(s.token.Role, role)
}

// RoleCovers reports whether role have grants every permission of role
// (see Scope.Covers): what a page offers (the server decides again).
func RoleCovers(have, role string) bool {
	if have == RoleSuperAdmin {
		return true
	}
	if role == "" || role == RoleSuperAdmin || !ValidRole(role) {
		return false
	}
	for _, p := range rolePermissions[role] {
		if !RoleHas(have, p) {
			return false
		}
	}
	return true
}

// Has reports whether the admin's role grants p (an in-process caller:
// every permission).
func (s Scope) Has(p Permission) bool { return s.token == nil || Has(s.token, p) }

// AllApps reports whether the admin may manage every app.
func (s Scope) AllApps() bool {
	return s.token == nil || s.token.Role != RoleAppAdmin || len(s.token.Apps) == 0
}

// App reports whether the admin may act on the app with this id.
func (s Scope) App(id int64) bool {
	return s.AllApps() || slices.Contains(s.token.Apps, AppGrant(id))
}

// CheckApp refuses an app named name, with id (0: no such app), that the
// admin may not act on. An app that does not exist is refused alike, so
// that an admin limited to apps learns nothing of the others.
func (s Scope) CheckApp(name string, id int64) error {
	if (id != 0 || s.AllApps()) && s.App(id) {
		return nil
	}
	return status.Errorf(codes.PermissionDenied, "permission apps.write missing for app %q: admin token %q manages only the apps it was granted",
		name, s.token.Name)
}

// AppIDs returns the ids of the apps an app-admin limited to some apps
// manages, and whether the admin is so limited.
func (s Scope) AppIDs() ([]int64, bool) {
	if s.AllApps() {
		return nil, false
	}
	return AppGrantIDs(s.token), true
}

// GroupIDs returns the ids of the groups a group-admin acts for, and
// whether the admin is limited to them.
func (s Scope) GroupIDs() ([]string, bool) {
	if s.token == nil || s.token.Role != RoleGroupAdmin {
		return nil, false
	}
	return s.token.Groups, true
}

// Actor names the caller of ctx for logs and the audit trail:
// "admin:NAME", "agent:ID", or "hub" for the hub's own work.
func Actor(ctx context.Context) string {
	if t, ok := Admin(ctx); ok {
		return "admin:" + t.Name
	}
	if id, ok := AgentID(ctx); ok {
		return "agent:" + id
	}
	return "hub"
}

// RoleHas reports whether role grants p: what a page offers a role (the
// server decides again on every call).
func RoleHas(role string, p Permission) bool { return Has(&store.AdminToken{Role: role}, p) }
