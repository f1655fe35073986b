package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
)

// usageErr is a command line the command cannot run.
func usageErr(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

var authFlags = map[string]idsyncv1.AppAuthKind{
	"bearer": idsyncv1.AppAuthKind_APP_AUTH_KIND_BEARER,
	"basic":  idsyncv1.AppAuthKind_APP_AUTH_KIND_BASIC,
	"oauth2": idsyncv1.AppAuthKind_APP_AUTH_KIND_OAUTH2,
}

// secretFlags are the flags that name a secret file, with the auth kind
// each belongs to.
var secretFlags = map[string]string{"token-file": "bearer", "password-file": "basic", "client-secret-file": "oauth2"}

// operations are the --allow names, with the App fields they set.
var operations = []struct{ name, field string }{
	{"create", "allow_create"}, {"update", "allow_update"}, {"deactivate", "allow_deactivate"},
	{"delete", "allow_delete"}, {"groups", "push_groups"},
}

const defaultAllow = "create,update,deactivate"

// appFlags are the settings flags shared by app add and app update.
type appFlags struct {
	scimURL, auth, username, clientID, tokenURL, scopes string
	secretFiles                                         map[string]*string
	allow, updateMode, mappingFile, matchBy             string
	deleteAfter, reconcile                              string
	rateLimit                                           float64
	concurrency                                         uint
	resume                                              bool
	// A directory written through its agents instead of a SCIM app.
	directory, ou, disabledOU, rdn, disableAttr, disableGroup string
	// A super-admin's exceptions to https-only and no local addresses.
	insecureHTTP, localAddresses bool
}

func (f *appFlags) register(c *cli, fs *flag.FlagSet, update bool) {
	fs.StringVar(&f.scimURL, "scim-url", "", "the app's SCIM 2.0 base `URL` (https://app.example/scim/v2)")
	fs.StringVar(&f.auth, "auth", "", "how idsync authenticates: `KIND` bearer, basic or oauth2")
	f.secretFiles = map[string]*string{
		"token-file":         fs.String("token-file", "", "`FILE` holding the bearer token (--auth bearer)"),
		"password-file":      fs.String("password-file", "", "`FILE` holding the password (--auth basic)"),
		"client-secret-file": fs.String("client-secret-file", "", "`FILE` holding the OAuth2 client secret (--auth oauth2)"),
	}
	fs.StringVar(&f.username, "username", "", "user `NAME` (--auth basic)")
	fs.StringVar(&f.clientID, "client-id", "", "OAuth2 client `ID` (--auth oauth2)")
	fs.StringVar(&f.tokenURL, "token-url", "", "OAuth2 token endpoint `URL` (--auth oauth2)")
	fs.StringVar(&f.scopes, "scopes", "", "OAuth2 `SCOPES`, comma-separated")
	fs.StringVar(&f.allow, "allow", "", "what idsync may do: `OPS` among create, update, deactivate, delete, groups (push groups), comma-separated (default "+defaultAllow+")")
	fs.StringVar(&f.updateMode, "update-mode", "", "`MODE`: auto (PATCH when the app supports it), patch or put (default auto)")
	fs.Float64Var(&f.rateLimit, "rate-limit", 0, "at most `N` requests per second (0: unlimited)")
	fs.UintVar(&f.concurrency, "concurrency", 0, "at most `N` requests in parallel (default 4)")
	fs.StringVar(&f.mappingFile, "mapping-file", "", "attribute mapping `FILE`: a YAML or JSON list of {target, expr} (default: the built-in mapping)")
	fs.StringVar(&f.matchBy, "match-by", "", "how app import matches the app's accounts: `KEY` userName or email (default userName)")
	fs.StringVar(&f.deleteAfter, "delete-after", "", "with delete allowed, delete an account this `DURATION` after its user is deprovisioned (30d, 720h)")
	fs.StringVar(&f.reconcile, "reconcile-interval", "", "compare the app's accounts with what they should be every `DURATION`, or off (default 24h)")
	fs.StringVar(&f.directory, "directory", "", "instead of a SCIM app: write users into this hub `DIRECTORY` (ad or openldap) through its agents")
	fs.StringVar(&f.ou, "ou", "", "with --directory: the `DN` enabled accounts are created in")
	fs.StringVar(&f.disabledOU, "disabled-ou", "", "with --directory: the `DN` disabled accounts are moved to (default: they stay)")
	fs.StringVar(&f.rdn, "rdn-attribute", "", "with --directory: the naming `ATTRIBUTE` of created entries (default cn)")
	fs.StringVar(&f.disableAttr, "disable-attribute", "", "with an OpenLDAP --directory: `ATTR=VALUE` set while an account is disabled")
	fs.StringVar(&f.disableGroup, "disable-group", "", "with an OpenLDAP --directory: the `DN` of a group holding the disabled accounts")
	fs.BoolVar(&f.insecureHTTP, "allow-insecure-http", false, "super-admin: let the app's URLs be plain http:// (credentials in the clear)")
	fs.BoolVar(&f.localAddresses, "allow-local-addresses", false, "super-admin: let the app's URLs reach loopback and link-local addresses and the hub's own listeners")
	// The initial password is the directory's write-back setting now, a
	// super-admin's: say where it went.
	for _, name := range []string{"initial-password", "must-change-password"} {
		c.refuse(fs, name, "(moved: `idsyncctl directory update DIR --initial-password-file F`, by a super-admin)",
			"the initial password is the directory's write-back setting: a super-admin sets it with "+
				"`idsyncctl directory update DIR --initial-password-file FILE [--must-change-password=false]`")
	}
	if update {
		fs.BoolVar(&f.resume, "resume", false, "resume the app if paused (a new secret or URL resumes it too)")
	}
}

// build fills a from the flags set on the command line and returns the
// paths of App they set (an update's update_mask) and the secret read from
// a file ("" when none).
func (f *appFlags) build(fs *flag.FlagSet, a *idsyncv1.App) (paths []string, secret string, err error) {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	add := func(ps ...string) {
		for _, p := range ps {
			if !slices.Contains(paths, p) {
				paths = append(paths, p)
			}
		}
	}
	secretFlag := ""
	fs.Visit(func(fl *flag.Flag) {
		switch fl.Name {
		case "scim-url":
			a.ScimUrl = f.scimURL
			add("scim_url")
		case "auth":
			kind, ok := authFlags[f.auth]
			if !ok {
				fail("--auth %q: must be bearer, basic or oauth2", f.auth)
			}
			a.Auth = kind
			add("auth")
		case "username", "client-id":
			a.Username = f.username + f.clientID
			add("username")
		case "token-url":
			a.TokenUrl = f.tokenURL
			add("token_url")
		case "scopes":
			a.Scopes = splitList(f.scopes)
			add("scopes")
		case "token-file", "password-file", "client-secret-file":
			if secretFlag != "" {
				fail("--%s, --%s: give one secret file", secretFlag, fl.Name)
				return
			}
			secretFlag = fl.Name
			s, rerr := readSecretFile(fl.Name, *f.secretFiles[fl.Name])
			if rerr != nil {
				errs = append(errs, rerr)
			}
			secret = s
		case "allow":
			fields, perr := allowFields(a, f.allow)
			if perr != nil {
				errs = append(errs, perr)
			}
			add(fields...)
		case "update-mode":
			switch f.updateMode {
			case "auto", "patch", "put":
				a.UpdateMode = strings.TrimPrefix(f.updateMode, "auto")
			default:
				fail("--update-mode %q: must be auto, patch or put", f.updateMode)
			}
			add("update_mode")
		case "rate-limit":
			if f.rateLimit < 0 || math.IsNaN(f.rateLimit) || math.IsInf(f.rateLimit, 0) {
				fail("--rate-limit %v: must be 0 (unlimited) or more", f.rateLimit)
			}
			a.RateLimit = f.rateLimit
			add("rate_limit")
		case "concurrency":
			a.Concurrency = uint32(min(f.concurrency, math.MaxUint32))
			add("concurrency")
		case "mapping-file":
			rules, perr := readMappingFile(f.mappingFile)
			if perr != nil {
				errs = append(errs, perr)
			}
			a.Mapping = rules
			add("mapping")
		case "match-by":
			switch strings.ToLower(f.matchBy) {
			case "username":
				a.MatchBy = "userName"
			case "email":
				a.MatchBy = "email"
			default:
				fail("--match-by %q: must be userName or email", f.matchBy)
			}
			add("match_by")
		case "delete-after":
			d, perr := parseDuration(f.deleteAfter)
			if perr != nil {
				fail("--delete-after %q: want a duration such as 30d or 720h", f.deleteAfter)
			}
			a.DeleteAfterSeconds = uint64(d / time.Second)
			add("delete_after_seconds")
		case "reconcile-interval":
			if f.reconcile == "off" {
				a.ReconcileIntervalSeconds = math.MaxUint64
			} else if d, perr := parseDuration(f.reconcile); perr != nil || d <= 0 {
				fail("--reconcile-interval %q: want a duration such as 24h, or off", f.reconcile)
			} else {
				a.ReconcileIntervalSeconds = uint64(d / time.Second)
			}
			add("reconcile_interval_seconds")
		case "directory", "ou", "disabled-ou", "rdn-attribute", "disable-attribute", "disable-group":
			t := a.DirectoryTarget
			if t == nil {
				t = &idsyncv1.DirectoryTarget{}
				a.DirectoryTarget = t
			}
			// Each flag changes its own field of the target: the others
			// keep their value.
			switch fl.Name {
			case "directory":
				t.Directory = f.directory
				add("directory_target.directory")
			case "ou":
				t.ParentDn = f.ou
				add("directory_target.parent_dn")
			case "disabled-ou":
				t.DisabledParentDn = f.disabledOU
				add("directory_target.disabled_parent_dn")
			case "rdn-attribute":
				t.RdnAttribute = f.rdn
				add("directory_target.rdn_attribute")
			case "disable-attribute":
				t.DisableAttribute = f.disableAttr
				add("directory_target.disable_attribute")
			case "disable-group":
				t.DisableGroupDn = f.disableGroup
				add("directory_target.disable_group_dn")
			}
		case "allow-insecure-http":
			a.AllowInsecureHttp = f.insecureHTTP
			add("allow_insecure_http")
		case "allow-local-addresses":
			a.AllowLocalAddresses = f.localAddresses
			add("allow_local_addresses")
		}
	})
	if f.username != "" && f.clientID != "" {
		fail("--username, --client-id: give one (the user name for basic, the client id for oauth2)")
	}
	if kind, ok := secretFlags[secretFlag]; ok && f.auth != "" && authFlags[f.auth] != 0 && kind != f.auth {
		fail("--%s goes with --auth %s, not --auth %s", secretFlag, kind, f.auth)
	}
	return paths, secret, errors.Join(errs...)
}

// allowFields sets the operations of a from a --allow list and returns the
// App fields of all of them (each is set, to true or false).
func allowFields(a *idsyncv1.App, list string) ([]string, error) {
	on := map[string]bool{}
	for _, op := range splitList(list) {
		known := false
		for _, o := range operations {
			known = known || o.name == op
		}
		if !known {
			return nil, fmt.Errorf("--allow %q: unknown operation %q (want create, update, deactivate, delete, groups)", list, op)
		}
		on[op] = true
	}
	if !on["create"] && !on["update"] && !on["deactivate"] && !on["delete"] {
		return nil, fmt.Errorf("--allow %q: name at least one of create, update, deactivate, delete", list)
	}
	a.AllowCreate, a.AllowUpdate, a.AllowDeactivate = on["create"], on["update"], on["deactivate"]
	a.AllowDelete, a.PushGroups = on["delete"], on["groups"]
	fields := make([]string, 0, len(operations))
	for _, o := range operations {
		fields = append(fields, o.field)
	}
	return fields, nil
}

// parseDuration parses a Go duration, or whole days as "30d".
func parseDuration(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseUint(days, 10, 16)
		if err != nil {
			return 0, err
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err == nil && d < 0 {
		err = errors.New("negative")
	}
	return d, err
}

// readSecretFile reads a secret from a file, without its trailing newline.
// The secret never reaches an error or the output.
func readSecretFile(flagName, path string) (string, error) {
	if path == "" {
		return "", fmt.Errorf("--%s: a file name is required", flagName)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("--%s: %w", flagName, err)
	}
	s := strings.TrimRight(string(b), "\r\n")
	if s == "" {
		return "", fmt.Errorf("--%s %s: the file is empty", flagName, path)
	}
	return s, nil
}

// readMappingFile reads a mapping file.
func readMappingFile(path string) ([]*idsyncv1.AppMappingRule, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--mapping-file: %w", err)
	}
	return parseMapping(path, b)
}

// parseMapping parses a mapping: a YAML (or JSON, which YAML reads) list of
// {target, expr}. An expression is source text, so a YAML scalar is taken
// as written: a string constant keeps its own quotes ('"Staff"'). Errors
// name the file, the line and the entry. An empty list asks for the
// default mapping.
func parseMapping(file string, data []byte) ([]*idsyncv1.AppMappingRule, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("%s: %v", file, err)
	}
	if len(root.Content) == 0 {
		return nil, fmt.Errorf("%s: empty: want a list of {target, expr} entries ([] for the default mapping)", file)
	}
	list := root.Content[0]
	if list.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("%s:%d: want a list of {target, expr} entries", file, list.Line)
	}
	rules := []*idsyncv1.AppMappingRule{}
	for i, n := range list.Content {
		where := fmt.Sprintf("%s:%d: entry %d", file, n.Line, i+1)
		if n.Kind != yaml.MappingNode {
			return nil, fmt.Errorf("%s: want {target: …, expr: …}", where)
		}
		r := &idsyncv1.AppMappingRule{}
		seen := map[string]bool{}
		for j := 0; j+1 < len(n.Content); j += 2 {
			k, v := n.Content[j].Value, n.Content[j+1]
			if k != "target" && k != "expr" {
				return nil, fmt.Errorf("%s: unknown field %q (want target and expr)", where, k)
			}
			if seen[k] {
				return nil, fmt.Errorf("%s: %s given twice", where, k)
			}
			seen[k] = true
			if v.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("%s: %s: want text", where, k)
			}
			if k == "target" {
				r.Target = strings.TrimSpace(v.Value)
			} else {
				r.Expr = strings.TrimSpace(v.Value)
			}
		}
		if r.Target == "" {
			return nil, fmt.Errorf("%s: target: required (a SCIM attribute path such as userName)", where)
		}
		if r.Expr == "" {
			return nil, fmt.Errorf("%s (%s): expr: required (an expression such as lower(email))", where, r.Target)
		}
		rules = append(rules, r)
	}
	return rules, nil
}

func appAdd(c *cli, args []string) error {
	fs := c.flags("app add")
	var f appFlags
	f.register(c, fs, false)
	pos, err := c.parse(fs, args, "NAME")
	if err != nil {
		return err
	}
	a := &idsyncv1.App{Name: pos[0]}
	if _, err := allowFields(a, defaultAllow); err != nil {
		return err
	}
	_, secret, err := f.build(fs, a)
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	switch {
	case a.DirectoryTarget != nil:
		if a.DirectoryTarget.GetDirectory() == "" || a.DirectoryTarget.GetParentDn() == "" {
			return usageErr("--directory and --ou: required together for a directory target")
		}
		if a.ScimUrl != "" || secret != "" {
			return usageErr("--scim-url, --auth and secrets are for SCIM apps, not with --directory")
		}
	case a.ScimUrl == "":
		return usageErr("--scim-url: required (or --directory to write into a directory)")
	case a.Auth == idsyncv1.AppAuthKind_APP_AUTH_KIND_UNSPECIFIED:
		return usageErr("--auth: required (bearer, basic or oauth2)")
	case secret == "":
		for name, kind := range secretFlags {
			if kind == f.auth {
				return usageErr("--%s: required by --auth %s", name, kind)
			}
		}
	}
	ctx, cancel, h, err := c.call()
	if err != nil {
		return err
	}
	defer cancel()
	resp, err := h.apps.CreateApp(ctx, &idsyncv1.CreateAppRequest{App: a, Secret: secret})
	if err != nil {
		return err
	}
	return show(c, resp.GetApp(), appView)
}

func appUpdate(c *cli, args []string) error {
	fs := c.flags("app update")
	var f appFlags
	f.register(c, fs, true)
	pos, err := c.parse(fs, args, "NAME")
	if err != nil {
		return err
	}
	a := &idsyncv1.App{Name: pos[0]}
	paths, secret, err := f.build(fs, a)
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	if len(paths) == 0 && secret == "" && !f.resume {
		return usageErr("nothing to change: name a setting flag, or --resume")
	}
	ctx, cancel, h, err := c.call()
	if err != nil {
		return err
	}
	defer cancel()
	resp, err := h.apps.UpdateApp(ctx, &idsyncv1.UpdateAppRequest{App: a, UpdateMask: &fieldmaskpb.FieldMask{Paths: paths},
		Secret: secret, Resume: f.resume})
	if err != nil {
		return err
	}
	return show(c, resp.GetApp(), appView)
}

func appList(c *cli, args []string) error {
	return query(c, c.flags("app list"), args, "",
		func(ctx context.Context, h hub, _ string) ([]*idsyncv1.App, error) {
			r, err := h.apps.ListApps(ctx, &idsyncv1.ListAppsRequest{})
			return r.GetApps(), err
		},
		listView(toAppJSON, []string{"NAME", "STATUS", "SCIM URL / TARGET", "AUTH", "ASSIGNMENTS", "ACTIVE ACCOUNTS", "QUEUED", "DEAD"},
			func(a *idsyncv1.App) []string {
				q := a.GetQueue()
				where := a.GetScimUrl()
				if t := a.GetDirectoryTarget(); t != nil {
					where = "directory " + t.GetDirectory()
				}
				return []string{a.GetName(), a.GetStatus(), where, authName(a.GetAuth()),
					fmt.Sprint(len(a.GetAssignments())), count(a.GetAccounts()["active"]),
					count(q["queued"] + q["running"]), count(q["dead"])}
			}))
}

func appShow(c *cli, args []string) error {
	return query(c, c.flags("app show"), args, "NAME",
		func(ctx context.Context, h hub, name string) (*idsyncv1.App, error) {
			r, err := h.apps.GetApp(ctx, &idsyncv1.GetAppRequest{Name: name})
			return r.GetApp(), err
		}, appView)
}

func appRemove(c *cli, args []string) error {
	return query(c, c.flags("app remove"), args, "NAME",
		func(ctx context.Context, h hub, name string) (string, error) {
			_, err := h.apps.DeleteApp(ctx, &idsyncv1.DeleteAppRequest{Name: name})
			return name, err
		},
		itemView(func(name string) map[string]string { return map[string]string{"removed": name} },
			func(w io.Writer, name string) error {
				_, err := fmt.Fprintf(w, "app %s removed; its accounts in the app are left as they are\n", name)
				return err
			}))
}

func appTest(c *cli, args []string) error {
	c.timeout = longCall
	return query(c, c.flags("app test"), args, "NAME",
		func(ctx context.Context, h hub, name string) (*idsyncv1.TestAppResponse, error) {
			return h.apps.TestApp(ctx, &idsyncv1.TestAppRequest{Name: name})
		}, itemView(toTestJSON, testText))
}

func toTestJSON(r *idsyncv1.TestAppResponse) testJSON {
	return testJSON{Patch: r.GetPatch(), Filter: r.GetFilter(), Bulk: r.GetBulk(), ETag: r.GetEtag(),
		Sort: r.GetSort(), ChangePassword: r.GetChangePassword(), MaxResults: r.GetMaxResults(),
		AuthSchemes: nonNil(r.GetAuthSchemes()), Schemas: nonNil(r.GetSchemas()), UsersFound: r.GetUsersFound(),
		FilterUsed: r.GetFilterUsed(), Problems: nonNil(r.GetProblems())}
}

func testText(w io.Writer, r *idsyncv1.TestAppResponse) error {
	filter := yesNo(r.GetFilter())
	if r.GetMaxResults() > 0 {
		filter += fmt.Sprintf(" (at most %d results)", r.GetMaxResults())
	}
	kv := [][2]string{
		{"patch", yesNo(r.GetPatch())}, {"filter", filter}, {"bulk", yesNo(r.GetBulk())},
		{"etag", yesNo(r.GetEtag())}, {"sort", yesNo(r.GetSort())}, {"change password", yesNo(r.GetChangePassword())},
		{"auth schemes", dash(strings.Join(r.GetAuthSchemes(), ", "))},
		{"schemas", dash(strings.Join(r.GetSchemas(), ", "))},
		{"filtered GET /Users", fmt.Sprintf("%s: %d found", r.GetFilterUsed(), r.GetUsersFound())},
	}
	if len(r.GetProblems()) == 0 {
		kv = append(kv, [2]string{"problems", "none"})
	}
	if err := fields(w, kv); err != nil {
		return err
	}
	if len(r.GetProblems()) > 0 {
		fmt.Fprintln(w, "problems:")
		for _, p := range r.GetProblems() {
			fmt.Fprintf(w, "  - %s\n", terminalSafe(p))
		}
	}
	return nil
}

type testJSON struct {
	Patch          bool     `json:"patch"`
	Filter         bool     `json:"filter"`
	Bulk           bool     `json:"bulk"`
	ETag           bool     `json:"etag"`
	Sort           bool     `json:"sort"`
	ChangePassword bool     `json:"change_password"`
	MaxResults     uint64   `json:"max_results"`
	AuthSchemes    []string `json:"auth_schemes"`
	Schemas        []string `json:"schemas"`
	UsersFound     uint64   `json:"users_found"`
	FilterUsed     string   `json:"filter_used"`
	Problems       []string `json:"problems"`
}

func appPreview(c *cli, args []string) error {
	fs := c.flags("app preview")
	user := fs.String("user", "", "the hub user: `USERNAME` or id")
	dir := fs.String("directory", "", "the user's directory `NAME`, when the username exists in several")
	pos, err := c.parse(fs, args, "NAME")
	if err != nil {
		return err
	}
	if *user == "" {
		return usageErr("--user: required")
	}
	ctx, cancel, h, err := c.call()
	if err != nil {
		return err
	}
	defer cancel()
	p, err := h.apps.PreviewApp(ctx, &idsyncv1.PreviewAppRequest{Name: pos[0], User: *user, Directory: *dir})
	if err != nil {
		return err
	}
	if c.output == "json" {
		out := struct {
			Action  string `json:"action"`
			Request string `json:"request,omitempty"`
			Body    any    `json:"body,omitempty"`
			Reason  string `json:"reason"`
		}{Action: p.GetAction(), Request: p.GetRequest(), Reason: p.GetReason()}
		if b := p.GetBody(); json.Valid([]byte(b)) {
			out.Body = json.RawMessage(b)
		} else if b != "" {
			out.Body = b
		}
		return printJSON(c.out, out)
	}
	if err := fields(c.out, [][2]string{{"action", p.GetAction()}, {"reason", dash(p.GetReason())},
		{"request", dash(p.GetRequest())}}); err != nil {
		return err
	}
	if b := p.GetBody(); b != "" {
		fmt.Fprintf(c.out, "\n%s\n", strings.TrimRight(b, "\n"))
	}
	return nil
}

func appAssign(c *cli, args []string) error   { return appScope(c, "app assign", args, true) }
func appUnassign(c *cli, args []string) error { return appScope(c, "app unassign", args, false) }

// appScope assigns (or unassigns) a user or a group.
func appScope(c *cli, name string, args []string, assign bool) error {
	fs := c.flags(name)
	user := fs.String("user", "", "a hub user: `USERNAME` or id")
	group := fs.String("group", "", "a hub group (its members, nested ones included): `NAME` or id")
	dir := fs.String("directory", "", "the directory `NAME`, when the user or group name is in several")
	pos, err := c.parse(fs, args, "NAME")
	if err != nil {
		return err
	}
	if (*user == "") == (*group == "") {
		return usageErr("--user, --group: give one")
	}
	ctx, cancel, h, err := c.call()
	if err != nil {
		return err
	}
	defer cancel()
	var (
		app     *idsyncv1.App
		inScope uint64
		verb    = "assigned to"
	)
	if assign {
		resp, err := h.apps.AssignApp(ctx, &idsyncv1.AssignAppRequest{Name: pos[0], User: *user, Group: *group, Directory: *dir})
		if err != nil {
			return err
		}
		app, inScope = resp.GetApp(), resp.GetUsersInScope()
	} else {
		resp, err := h.apps.UnassignApp(ctx, &idsyncv1.UnassignAppRequest{Name: pos[0], User: *user, Group: *group, Directory: *dir})
		if err != nil {
			return err
		}
		app, inScope, verb = resp.GetApp(), resp.GetUsersInScope(), "unassigned from"
	}
	return c.printScope(verb, *user, *group, app, inScope)
}

func (c *cli) printScope(verb, user, group string, a *idsyncv1.App, inScope uint64) error {
	if c.output == "json" {
		return printJSON(c.out, struct {
			App          appJSON `json:"app"`
			UsersInScope uint64  `json:"users_in_scope"`
		}{toAppJSON(a), inScope})
	}
	what := "user " + user
	if group != "" {
		what = "group " + group
	}
	fmt.Fprintf(c.out, "%s %s app %s; users in scope now: %s\n", what, verb, a.GetName(), count(inScope))
	return nil
}

func appImport(c *cli, args []string) error {
	c.timeout = longCall
	fs := c.flags("app import")
	groups := fs.Bool("groups", false, "also read the app's groups: link each to the hub group pushed as it, or record it as the app's own")
	return query(c, fs, args, "NAME",
		func(ctx context.Context, h hub, name string) (*idsyncv1.ImportFromAppResponse, error) {
			return h.apps.ImportFromApp(ctx, &idsyncv1.ImportFromAppRequest{Name: name, Groups: *groups})
		}, itemView(toAppImportJSON, appImportText))
}

func appPause(c *cli, args []string) error {
	fs := c.flags("app pause")
	reason := fs.String("reason", "", "why, shown as the app's status and in the audit trail")
	return query(c, fs, args, "NAME",
		func(ctx context.Context, h hub, name string) (*idsyncv1.App, error) {
			r, err := h.apps.PauseApp(ctx, &idsyncv1.PauseAppRequest{Name: name, Reason: *reason})
			return r.GetApp(), err
		}, appView)
}

func appResume(c *cli, args []string) error {
	return query(c, c.flags("app resume"), args, "NAME",
		func(ctx context.Context, h hub, name string) (*idsyncv1.App, error) {
			r, err := h.apps.ResumeApp(ctx, &idsyncv1.ResumeAppRequest{Name: name})
			return r.GetApp(), err
		}, appView)
}

// appAccounts lists every account of an app, a page of the hub's at a
// time.
func appAccounts(c *cli, args []string) error {
	fs := c.flags("app accounts")
	state := fs.String("state", "", "only accounts in this state: creating, active, deactivated or deleted")
	return query(c, fs, args, "NAME",
		func(ctx context.Context, h hub, name string) ([]*idsyncv1.AppAccount, error) {
			var all []*idsyncv1.AppAccount
			req := &idsyncv1.ListAccountsRequest{App: name, State: *state, PageSize: 500}
			for {
				r, err := h.apps.ListAccounts(ctx, req)
				if err != nil {
					return nil, err
				}
				all = append(all, r.GetAccounts()...)
				if r.GetNextPageToken() == "" {
					return all, nil
				}
				req.PageToken = r.GetNextPageToken()
			}
		},
		listView(toAccountJSON, []string{"USER", "STATE", "REMOTE ID", "LINKED", "UPDATED", "LAST ERROR"},
			func(a *idsyncv1.AppAccount) []string {
				return []string{cmp.Or(a.GetUser(), a.GetUserId()), a.GetState(), dash(a.GetRemoteId()), yesNo(a.GetLinked()),
					timeStr(a.GetUpdatedAt()), dash(oneLine(a.GetLastError()))}
			}))
}

type accountJSON struct {
	UserID    string     `json:"user_id"`
	User      string     `json:"user"`
	State     string     `json:"state"`
	RemoteID  string     `json:"remote_id"`
	Linked    bool       `json:"linked"`
	LastError string     `json:"last_error,omitempty"`
	UpdatedAt *time.Time `json:"updated_at,omitempty"`
}

func toAccountJSON(a *idsyncv1.AppAccount) accountJSON {
	return accountJSON{UserID: a.GetUserId(), User: a.GetUser(), State: a.GetState(), RemoteID: a.GetRemoteId(),
		Linked: a.GetLinked(), LastError: a.GetLastError(), UpdatedAt: timeJSON(a.GetUpdatedAt())}
}

type appImportJSON struct {
	Read          uint64              `json:"read"`
	Linked        uint64              `json:"linked"`
	AlreadyLinked uint64              `json:"already_linked"`
	Unmatched     []remoteAccountJSON `json:"unmatched"`
	// Groups is set with --groups.
	Groups *appGroupImportJSON `json:"groups,omitempty"`
}

type appGroupImportJSON struct {
	Read          uint64            `json:"read"`
	AlreadyLinked uint64            `json:"already_linked"`
	Linked        []linkedGroupJSON `json:"linked"`
	Drift         []groupDriftJSON  `json:"drift"`
	Own           uint64            `json:"own"`
}

type linkedGroupJSON struct {
	Group      string `json:"group"`
	RemoteName string `json:"remote_name"`
	By         string `json:"by"`
}

type groupDriftJSON struct {
	Group string `json:"group"`
	Found string `json:"found"`
}

func toAppImportJSON(r *idsyncv1.ImportFromAppResponse) appImportJSON {
	j := appImportJSON{Read: r.GetRead(), Linked: r.GetLinked(), AlreadyLinked: r.GetAlreadyLinked(),
		Unmatched: mapSlice(r.GetUnmatched(), func(u *idsyncv1.RemoteAccount) remoteAccountJSON {
			return remoteAccountJSON{u.GetRemoteId(), u.GetUserName(), u.GetEmail()}
		})}
	if g := r.GetGroups(); g != nil {
		j.Groups = &appGroupImportJSON{Read: g.GetRead(), AlreadyLinked: g.GetAlreadyLinked(), Own: g.GetOwn(),
			Linked: mapSlice(g.GetLinked(), func(l *idsyncv1.LinkedAppGroup) linkedGroupJSON {
				return linkedGroupJSON{l.GetGroup(), l.GetRemoteName(), l.GetBy()}
			}),
			Drift: mapSlice(g.GetDrift(), func(d *idsyncv1.AppGroupDrift) groupDriftJSON {
				return groupDriftJSON{d.GetGroup(), d.GetFound()}
			})}
	}
	return j
}

func appImportText(w io.Writer, r *idsyncv1.ImportFromAppResponse) error {
	fmt.Fprintf(w, "read %s accounts: %s linked now, %s linked before, %s unmatched\n",
		count(r.GetRead()), count(r.GetLinked()), count(r.GetAlreadyLinked()), count(uint64(len(r.GetUnmatched()))))
	if g := r.GetGroups(); g != nil {
		fmt.Fprintf(w, "read %s groups: %s linked now, %s linked before, %s the app's own\n",
			count(g.GetRead()), count(uint64(len(g.GetLinked()))), count(g.GetAlreadyLinked()), count(g.GetOwn()))
	}
	if len(r.GetUnmatched()) > 0 {
		fmt.Fprintln(w, "\nunmatched accounts (no user in scope matches, or several do):")
		var rows [][]string
		for _, u := range r.GetUnmatched() {
			rows = append(rows, []string{u.GetRemoteId(), dash(u.GetUserName()), dash(u.GetEmail())})
		}
		if err := table(w, []string{"REMOTE ID", "USERNAME", "EMAIL"}, rows); err != nil {
			return err
		}
	}
	if l := r.GetGroups().GetLinked(); len(l) > 0 {
		fmt.Fprintln(w, "\ngroups linked to the hub group pushed as them (the next push puts them in step):")
		rows := mapSlice(l, func(l *idsyncv1.LinkedAppGroup) []string {
			return []string{l.GetGroup(), l.GetRemoteName(), l.GetBy()}
		})
		if err := table(w, []string{"GROUP", "IN THE APP", "MATCHED BY"}, rows); err != nil {
			return err
		}
	}
	if d := r.GetGroups().GetDrift(); len(d) > 0 {
		fmt.Fprintln(w, "\npushed groups changed in the app outside the hub (the next reconcile sets them back):")
		rows := mapSlice(d, func(d *idsyncv1.AppGroupDrift) []string { return []string{d.GetGroup(), d.GetFound()} })
		if err := table(w, []string{"GROUP", "FOUND"}, rows); err != nil {
			return err
		}
	}
	return nil
}

type remoteAccountJSON struct {
	RemoteID string `json:"remote_id"`
	UserName string `json:"user_name"`
	Email    string `json:"email"`
}

func pushList(c *cli, args []string) error {
	fs := c.flags("push list")
	app := fs.String("app", "", "only this app `NAME`")
	failed := fs.Bool("failed", false, "only dead-lettered jobs")
	limit := fs.Uint("limit", 0, "at most `N` jobs (default 100)")
	return query(c, fs, args, "",
		func(ctx context.Context, h hub, _ string) ([]*idsyncv1.PushJob, error) {
			r, err := h.apps.ListPushes(ctx, &idsyncv1.ListPushesRequest{App: *app, Failed: *failed,
				Limit: uint32(min(*limit, math.MaxUint32))})
			return r.GetJobs(), err
		},
		listView(toPushJSON, []string{"ID", "APP", "KIND", "TARGET", "STATE", "ATTEMPTS", "NEXT", "UPDATED", "LAST ERROR"},
			func(j *idsyncv1.PushJob) []string {
				next := "-"
				if j.GetState() == "queued" {
					next = timeStr(j.GetNextAt())
				}
				return []string{j.GetId(), j.GetApp(), j.GetKind(), j.GetTarget(), j.GetState(),
					fmt.Sprint(j.GetAttempts()), next, timeStr(j.GetUpdatedAt()), dash(oneLine(j.GetLastError()))}
			}))
}

func toPushJSON(j *idsyncv1.PushJob) pushJSON {
	return pushJSON{ID: j.GetId(), App: j.GetApp(), Kind: j.GetKind(), Target: j.GetTarget(),
		State: j.GetState(), Attempts: j.GetAttempts(), NextAt: timeJSON(j.GetNextAt()),
		LastError: j.GetLastError(), UpdatedAt: timeJSON(j.GetUpdatedAt())}
}

type pushJSON struct {
	ID        string     `json:"id"`
	App       string     `json:"app"`
	Kind      string     `json:"kind"`
	Target    string     `json:"target"`
	State     string     `json:"state"`
	Attempts  uint32     `json:"attempts"`
	NextAt    *time.Time `json:"next_at,omitempty"`
	LastError string     `json:"last_error,omitempty"`
	UpdatedAt *time.Time `json:"updated_at,omitempty"`
}

// parseOptional parses flags and at most one positional argument, name.
func (c *cli) parseOptional(fs *flag.FlagSet, args []string, name string) (string, error) {
	_, err := c.parse(fs, args)
	var ee *exitError
	if err == nil || !errors.As(err, &ee) || ee.err == nil || (c.output != "table" && c.output != "json") {
		return "", err
	}
	pos, err := c.parse(fs, args, name)
	if err != nil {
		return "", err
	}
	return pos[0], nil
}

func pushRetry(c *cli, args []string) error {
	fs := c.flags("push retry")
	app := fs.String("app", "", "every dead job of this app `NAME`")
	id, err := c.parseOptional(fs, args, "ID")
	if err != nil {
		return err
	}
	if (id == "") == (*app == "") {
		return usageErr("give a job ID or --app NAME")
	}
	ctx, cancel, h, err := c.call()
	if err != nil {
		return err
	}
	defer cancel()
	resp, err := h.apps.RetryPushes(ctx, &idsyncv1.RetryPushesRequest{Id: id, App: *app})
	if err != nil {
		return err
	}
	if c.output == "json" {
		return printJSON(c.out, map[string]uint64{"requeued": resp.GetRequeued()})
	}
	fmt.Fprintf(c.out, "%s job(s) requeued\n", count(resp.GetRequeued()))
	return nil
}

func taskList(c *cli, args []string) error {
	fs := c.flags("task list")
	app := fs.String("app", "", "only this app `NAME`")
	all := fs.Bool("all", false, "resolved tasks too")
	return query(c, fs, args, "",
		func(ctx context.Context, h hub, _ string) ([]*idsyncv1.ManualTask, error) {
			r, err := h.apps.ListTasks(ctx, &idsyncv1.ListTasksRequest{App: *app, All: *all})
			return r.GetTasks(), err
		},
		listView(toTaskJSON, []string{"ID", "APP", "USER", "KIND", "STATE", "CREATED", "RESOLVED BY", "DETAIL"},
			func(t *idsyncv1.ManualTask) []string {
				return []string{t.GetId(), t.GetApp(), t.GetUser(), t.GetKind(), t.GetState(),
					timeStr(t.GetCreatedAt()), dash(t.GetResolvedBy()), dash(oneLine(t.GetDetail()))}
			}))
}

func taskResolve(c *cli, args []string) error {
	fs := c.flags("task resolve")
	note := fs.String("note", "", "what was done, kept with the task")
	return query(c, fs, args, "ID",
		func(ctx context.Context, h hub, id string) (*idsyncv1.ManualTask, error) {
			r, err := h.apps.ResolveTask(ctx, &idsyncv1.ResolveTaskRequest{Id: id, Note: *note})
			return r.GetTask(), err
		},
		itemView(toTaskJSON, func(w io.Writer, t *idsyncv1.ManualTask) error {
			_, err := fmt.Fprintf(w, "task %s (%s of %s in %s) resolved by %s\n", t.GetId(), t.GetKind(), t.GetUser(), t.GetApp(), t.GetResolvedBy())
			return err
		}))
}

type taskJSON struct {
	ID         string     `json:"id"`
	App        string     `json:"app"`
	User       string     `json:"user"`
	Kind       string     `json:"kind"`
	State      string     `json:"state"`
	Detail     string     `json:"detail"`
	CreatedAt  *time.Time `json:"created_at,omitempty"`
	ResolvedBy string     `json:"resolved_by,omitempty"`
	ResolvedAt *time.Time `json:"resolved_at,omitempty"`
	Note       string     `json:"note,omitempty"`
}

func toTaskJSON(t *idsyncv1.ManualTask) taskJSON {
	return taskJSON{ID: t.GetId(), App: t.GetApp(), User: t.GetUser(), Kind: t.GetKind(), State: t.GetState(),
		Detail: t.GetDetail(), CreatedAt: timeJSON(t.GetCreatedAt()), ResolvedBy: t.GetResolvedBy(),
		ResolvedAt: timeJSON(t.GetResolvedAt()), Note: t.GetNote()}
}

// appJSON is an app as `-o json` prints it.
type appJSON struct {
	Name           string           `json:"name"`
	Status         string           `json:"status"`
	StatusMessage  string           `json:"status_message,omitempty"`
	ScimURL        string           `json:"scim_url"`
	Auth           string           `json:"auth"`
	Username       string           `json:"username,omitempty"`
	TokenURL       string           `json:"token_url,omitempty"`
	Scopes         []string         `json:"scopes,omitempty"`
	HasSecret      bool             `json:"has_secret"`
	Allow          []string         `json:"allow"`
	UpdateMode     string           `json:"update_mode"`
	PatchSupported *bool            `json:"patch_supported,omitempty"`
	RateLimit      float64          `json:"rate_limit"`
	Concurrency    uint32           `json:"concurrency"`
	MatchBy        string           `json:"match_by"`
	DeleteAfter    uint64           `json:"delete_after_seconds"`
	Reconcile      *uint64          `json:"reconcile_interval_seconds"` // null: never
	Assignments    []assignmentJSON `json:"assignments"`
	PushedGroups   []string         `json:"pushed_groups"`
	// PushedGroupStates are the pushed groups with something to report.
	PushedGroupStates []pushedGroupJSON `json:"pushed_group_states,omitempty"`
	// AppGroups are the groups the app holds of its own.
	AppGroups []appGroupJSON `json:"app_groups,omitempty"`
	// Target is set for an app that is a directory written through its
	// agents.
	Target    *targetJSON       `json:"directory_target,omitempty"`
	Accounts  map[string]uint64 `json:"accounts"`
	Queue     map[string]uint64 `json:"queue"`
	Mapping   []mappingRuleJSON `json:"mapping"`
	CreatedAt *time.Time        `json:"created_at,omitempty"`
	// A super-admin's exceptions.
	AllowInsecureHTTP   bool `json:"allow_insecure_http,omitempty"`
	AllowLocalAddresses bool `json:"allow_local_addresses,omitempty"`
}

// pushedGroupJSON is what the pushes know of a pushed group.
type pushedGroupJSON struct {
	Name      string     `json:"name"`
	Missing   []string   `json:"missing,omitempty"`
	Drift     string     `json:"drift,omitempty"`
	DriftAt   *time.Time `json:"drift_at,omitempty"`
	CheckedAt *time.Time `json:"checked_at,omitempty"`
	Found     string     `json:"found,omitempty"`
	FoundAt   *time.Time `json:"found_at,omitempty"`
}

// appGroupJSON is a group an app holds of its own.
type appGroupJSON struct {
	RemoteID    string     `json:"remote_id"`
	Name        string     `json:"name"`
	ExternalID  string     `json:"external_id,omitempty"`
	Members     []string   `json:"members"`
	MemberCount uint64     `json:"member_count"`
	Unlinked    uint64     `json:"unlinked"`
	ImportedAt  *time.Time `json:"imported_at,omitempty"`
}

type assignmentJSON struct {
	Kind string `json:"kind"`
	ID   string `json:"id"`
	Name string `json:"name"`
}

type mappingRuleJSON struct {
	Target string `json:"target"`
	Expr   string `json:"expr"`
}

// targetJSON is a directory target as JSON.
type targetJSON struct {
	Directory        string `json:"directory"`
	OU               string `json:"ou"`
	DisabledOU       string `json:"disabled_ou,omitempty"`
	RDNAttribute     string `json:"rdn_attribute,omitempty"`
	DisableAttribute string `json:"disable_attribute,omitempty"`
	DisableGroup     string `json:"disable_group,omitempty"`
}

func toAppJSON(a *idsyncv1.App) appJSON {
	j := appJSON{
		Name: a.GetName(), Status: a.GetStatus(), StatusMessage: a.GetStatusMessage(), ScimURL: a.GetScimUrl(),
		Auth: authName(a.GetAuth()), Username: a.GetUsername(), TokenURL: a.GetTokenUrl(), Scopes: a.GetScopes(),
		HasSecret: a.GetHasSecret(), Allow: allowList(a), UpdateMode: cmp.Or(a.GetUpdateMode(), "auto"),
		PatchSupported: a.PatchSupported, RateLimit: a.GetRateLimit(), Concurrency: a.GetConcurrency(),
		MatchBy: a.GetMatchBy(), DeleteAfter: a.GetDeleteAfterSeconds(), Assignments: []assignmentJSON{},
		PushedGroups: nonNil(a.GetPushedGroups()), Accounts: a.GetAccounts(), Queue: a.GetQueue(),
		Mapping: []mappingRuleJSON{}, CreatedAt: timeJSON(a.GetCreatedAt()),
		AllowInsecureHTTP: a.GetAllowInsecureHttp(), AllowLocalAddresses: a.GetAllowLocalAddresses(),
	}
	if s := a.GetReconcileIntervalSeconds(); s != math.MaxUint64 {
		j.Reconcile = &s
	}
	if t := a.GetDirectoryTarget(); t != nil {
		j.Target = &targetJSON{Directory: t.GetDirectory(), OU: t.GetParentDn(), DisabledOU: t.GetDisabledParentDn(),
			RDNAttribute: t.GetRdnAttribute(), DisableAttribute: t.GetDisableAttribute(), DisableGroup: t.GetDisableGroupDn()}
	}
	for _, as := range a.GetAssignments() {
		j.Assignments = append(j.Assignments, assignmentJSON{Kind: as.GetKind(), ID: as.GetTargetId(), Name: as.GetName()})
	}
	for _, g := range a.GetPushedGroupStates() {
		j.PushedGroupStates = append(j.PushedGroupStates, pushedGroupJSON{Name: g.GetName(), Missing: g.GetMissing(),
			Drift: g.GetDrift(), DriftAt: timeJSON(g.GetDriftAt()), CheckedAt: timeJSON(g.GetCheckedAt()),
			Found: g.GetFound(), FoundAt: timeJSON(g.GetFoundAt())})
	}
	for _, g := range a.GetAppGroups() {
		j.AppGroups = append(j.AppGroups, appGroupJSON{RemoteID: g.GetRemoteId(), Name: g.GetName(), ExternalID: g.GetExternalId(),
			Members: nonNil(g.GetMembers()), MemberCount: g.GetMemberCount(), Unlinked: g.GetUnlinked(),
			ImportedAt: timeJSON(g.GetImportedAt())})
	}
	for _, r := range a.GetMapping() {
		j.Mapping = append(j.Mapping, mappingRuleJSON{Target: r.GetTarget(), Expr: r.GetExpr()})
	}
	return j
}

// appView shows an app: its settings, status, figures, assignments and
// mapping.
var appView = itemView(toAppJSON, appText)

func appText(w io.Writer, a *idsyncv1.App) error {
	st := a.GetStatus()
	if m := a.GetStatusMessage(); m != "" {
		// A message that names the status itself ("paused: 401 …") is
		// not prefixed twice.
		st = m
		if !strings.HasPrefix(m, a.GetStatus()+":") {
			st = a.GetStatus() + ": " + m
		}
	}
	secret := "none stored"
	if a.GetHasSecret() {
		secret = "stored, encrypted"
	}
	mode := cmp.Or(a.GetUpdateMode(), "auto")
	if p := a.PatchSupported; p != nil && a.GetUpdateMode() == "" {
		mode += map[bool]string{true: " (the app supports PATCH)", false: " (the app does not support PATCH: PUT)"}[*p]
	}
	rate := "unlimited"
	if r := a.GetRateLimit(); r > 0 {
		rate = strconv.FormatFloat(r, 'f', -1, 64) + " requests/s"
	}
	reconcile := "off"
	if s := a.GetReconcileIntervalSeconds(); s != math.MaxUint64 {
		reconcile = "every " + durationStr(s)
	}
	deleteAfter := "never (delete not allowed)"
	if a.GetAllowDelete() {
		deleteAfter = durationStr(a.GetDeleteAfterSeconds()) + " after deprovisioning"
	}
	kv := [][2]string{
		{"name", a.GetName()}, {"status", st}, {"scim url", a.GetScimUrl()}, {"auth", authName(a.GetAuth())},
	}
	if a.GetAllowInsecureHttp() || a.GetAllowLocalAddresses() {
		var ex []string
		if a.GetAllowInsecureHttp() {
			ex = append(ex, "plain http")
		}
		if a.GetAllowLocalAddresses() {
			ex = append(ex, "local addresses")
		}
		kv = append(kv, [2]string{"allowed by a super-admin", strings.Join(ex, ", ")})
	}
	if t := a.GetDirectoryTarget(); t != nil {
		kv = [][2]string{{"name", a.GetName()}, {"status", st}, {"directory", t.GetDirectory()},
			{"accounts in", t.GetParentDn()}, {"disabled accounts in", cmp.Or(t.GetDisabledParentDn(), "(they stay)")},
			{"naming attribute", cmp.Or(t.GetRdnAttribute(), "cn")}}
		if t.GetDisableAttribute() != "" {
			kv = append(kv, [2]string{"disabled by attribute", t.GetDisableAttribute()})
		}
		if t.GetDisableGroupDn() != "" {
			kv = append(kv, [2]string{"disabled by group", t.GetDisableGroupDn()})
		}
		kv = append(kv, [2]string{"initial password", "the directory's (see `idsyncctl directory show " + t.GetDirectory() + "`)"})
	}
	switch a.GetAuth() {
	case idsyncv1.AppAuthKind_APP_AUTH_KIND_BASIC:
		kv = append(kv, [2]string{"username", a.GetUsername()})
	case idsyncv1.AppAuthKind_APP_AUTH_KIND_OAUTH2:
		kv = append(kv, [2]string{"client id", a.GetUsername()}, [2]string{"token url", a.GetTokenUrl()},
			[2]string{"scopes", dash(strings.Join(a.GetScopes(), " "))})
	}
	kv = append(kv, [][2]string{
		{"secret", secret}, {"allowed", strings.Join(allowList(a), ", ")}, {"update mode", mode},
		{"rate limit", rate}, {"concurrency", fmt.Sprint(a.GetConcurrency())}, {"import matches by", a.GetMatchBy()},
		{"delete", deleteAfter}, {"reconcile", reconcile},
		{"accounts", countsLine(a.GetAccounts())}, {"queue", countsLine(a.GetQueue())},
		{"pushed groups", dash(strings.Join(a.GetPushedGroups(), ", "))}, {"created", timeStr(a.GetCreatedAt())},
	}...)
	if err := fields(w, kv); err != nil {
		return err
	}
	if states := a.GetPushedGroupStates(); len(states) > 0 {
		// What needs an admin's eye: members that cannot be in the app's
		// group, and what was changed in the app by hand.
		fmt.Fprintln(w, "pushed groups, what the pushes found:")
		var rows [][]string
		for _, g := range states {
			if m := g.GetMissing(); len(m) > 0 {
				rows = append(rows, []string{"  " + g.GetName(), fmt.Sprintf("%d member(s) without an account in the app, not in the group: %s",
					len(m), strings.Join(m, ", "))})
			}
			if f := g.GetFound(); f != "" {
				rows = append(rows, []string{"  " + g.GetName(), "changed in the app outside the hub, found by an import at " +
					timeStr(g.GetFoundAt()) + ", set back by the next reconcile: " + f})
			}
			if d := g.GetDrift(); d != "" {
				rows = append(rows, []string{"  " + g.GetName(), "changed in the app by hand, set back at " + timeStr(g.GetDriftAt()) + ": " + d})
			}
		}
		if err := tableNoHeader(w, rows); err != nil {
			return err
		}
	}
	if ags := a.GetAppGroups(); len(ags) > 0 {
		// The app's own groups, as the last `app import --groups` found
		// them.
		fmt.Fprintln(w, "groups of the app (no hub group is pushed as them):")
		rows := mapSlice(ags, func(g *idsyncv1.AppGroup) []string {
			members := strings.Join(g.GetMembers(), ", ")
			if more := g.GetMemberCount() - uint64(len(g.GetMembers())); more > 0 {
				members += fmt.Sprintf(" and %s more", count(more))
			}
			if n := g.GetUnlinked(); n > 0 {
				members = strings.TrimPrefix(members+fmt.Sprintf("; %s not linked to a hub user", count(n)), "; ")
			}
			return []string{"  " + g.GetName(), g.GetRemoteId(), dash(members)}
		})
		if err := tableNoHeader(w, rows); err != nil {
			return err
		}
	}
	fmt.Fprintln(w, "assignments:")
	if len(a.GetAssignments()) == 0 {
		fmt.Fprintln(w, "  none: nobody is in scope (idsyncctl app assign)")
	}
	rows := mapSlice(a.GetAssignments(), func(as *idsyncv1.AppAssignment) []string {
		return []string{"  " + as.GetKind(), dash(as.GetName()), as.GetTargetId()}
	})
	if err := tableNoHeader(w, rows); err != nil {
		return err
	}
	fmt.Fprintln(w, "mapping:")
	return tableNoHeader(w, mapSlice(a.GetMapping(), func(r *idsyncv1.AppMappingRule) []string {
		return []string{"  " + r.GetTarget(), "= " + r.GetExpr()}
	}))
}

// tableNoHeader writes aligned rows, if any.
func tableNoHeader(w io.Writer, rows [][]string) error {
	if len(rows) == 0 {
		return nil
	}
	return table(w, rows[0], rows[1:])
}

func authName(k idsyncv1.AppAuthKind) string { return enumName(k.String(), "APP_AUTH_KIND_") }

// allowList names the operations an app allows, as --allow takes them.
func allowList(a *idsyncv1.App) []string {
	on := map[string]bool{"create": a.GetAllowCreate(), "update": a.GetAllowUpdate(),
		"deactivate": a.GetAllowDeactivate(), "delete": a.GetAllowDelete(), "groups": a.GetPushGroups()}
	out := []string{}
	for _, o := range operations {
		if on[o.name] {
			out = append(out, o.name)
		}
	}
	return out
}

// countsLine writes counts per state: "active 12, deactivated 3".
func countsLine(m map[string]uint64) string {
	var parts []string
	for _, k := range sortedKeys(m) {
		if m[k] > 0 {
			parts = append(parts, k+" "+count(m[k]))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// durationStr writes seconds as "30d", "24h", "1h30m" or "45s".
func durationStr(sec uint64) string {
	if sec%86400 == 0 && sec >= 3*86400 {
		return fmt.Sprintf("%dd", sec/86400)
	}
	s := (time.Duration(min(sec, math.MaxInt64/uint64(time.Second))) * time.Second).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// oneLine keeps a table row on one line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
