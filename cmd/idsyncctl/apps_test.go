package main

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/fieldmaskpb"

	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
)

func TestParseMapping(t *testing.T) {
	tests := []struct {
		name    string
		data    string
		want    [][2]string // target, expr
		wantErr string
	}{
		{"yaml", `
- target: userName
  expr: lower(email)
- target: emails[type eq "work"].value
  expr: email
- target: title
  expr: default(title, "Staff")
- {target: displayName, expr: 'coalesce(display_name, given_name + " " + family_name)'}
`, [][2]string{{"userName", "lower(email)"}, {`emails[type eq "work"].value`, "email"},
			{"title", `default(title, "Staff")`}, {"displayName", `coalesce(display_name, given_name + " " + family_name)`}}, ""},
		{"json", `[{"target": "userName", "expr": "coalesce(email, username)"},
 {"target": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "expr": "default(department, \"Unknown\")"}]`,
			[][2]string{{"userName", "coalesce(email, username)"},
				{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", `default(department, "Unknown")`}}, ""},
		{"a scalar is source text", "- target: active\n  expr: true\n", [][2]string{{"active", "true"}}, ""},
		{"empty list: default mapping", "[]", [][2]string{}, ""},
		{"empty file", "", nil, "m.yaml: empty"},
		{"not a list", "target: userName\nexpr: email\n", nil, "m.yaml:1: want a list"},
		{"entry not a map", "- userName\n", nil, "m.yaml:1: entry 1: want {target"},
		{"unknown field", "- target: userName\n  expr: email\n- target: title\n  exp: title\n", nil,
			`m.yaml:3: entry 2: unknown field "exp"`},
		{"missing expr", "- target: userName\n  expr: email\n- target: title\n", nil, "m.yaml:3: entry 2 (title): expr: required"},
		{"missing target", "- expr: email\n", nil, "m.yaml:1: entry 1: target: required"},
		{"twice", "- target: a\n  target: b\n  expr: c\n", nil, "entry 1: target given twice"},
		{"list value", "- target: userName\n  expr: [a, b]\n", nil, "entry 1: expr: want text"},
		{"bad yaml", "- target: [\n", nil, "m.yaml: yaml:"},
		{"json without a value", `[{"target": "userName", "expr": }]`, nil, "m.yaml:1: entry 1 (userName): expr: required"},
		{"unclosed json", `[{"target": "userName", "expr": "email"}`, nil, "m.yaml: yaml:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rules, err := parseMapping("m.yaml", []byte(tt.data))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseMapping: error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseMapping: %v", err)
			}
			got := [][2]string{}
			for _, r := range rules {
				got = append(got, [2]string{r.GetTarget(), r.GetExpr()})
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("rules\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

func TestAppFlagsBuild(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	token := write("token", "s3cr3t-token\n")
	password := write("password", "pa ss\r\n")
	empty := write("empty", "\n")
	mapping := write("mapping.yaml", "- target: userName\n  expr: lower(email)\n")

	tests := []struct {
		name       string
		args       []string
		update     bool
		wantPaths  []string
		wantSecret string
		check      func(a *idsyncv1.App) string
		wantErr    string
	}{
		{"nothing", nil, true, nil, "", nil, ""},
		{"bearer", []string{"--scim-url", "https://a.example/scim/v2", "--auth", "bearer", "--token-file", token}, false,
			[]string{"auth", "scim_url"}, "s3cr3t-token", func(a *idsyncv1.App) string {
				if a.GetAuth() != idsyncv1.AppAuthKind_APP_AUTH_KIND_BEARER || a.GetScimUrl() != "https://a.example/scim/v2" {
					return "auth or url not set"
				}
				return ""
			}, ""},
		{"basic keeps inner spaces, drops CRLF", []string{"--auth", "basic", "--username", "svc", "--password-file", password}, false,
			[]string{"auth", "username"}, "pa ss", func(a *idsyncv1.App) string {
				if a.GetUsername() != "svc" {
					return "username " + a.GetUsername()
				}
				return ""
			}, ""},
		{"oauth2", []string{"--auth", "oauth2", "--client-id", "cid", "--token-url", "https://login.example/token",
			"--scopes", "scim.read, scim.write", "--client-secret-file", token}, false,
			[]string{"auth", "username", "scopes", "token_url"}, "s3cr3t-token", func(a *idsyncv1.App) string {
				if a.GetUsername() != "cid" || !reflect.DeepEqual(a.GetScopes(), []string{"scim.read", "scim.write"}) {
					return "client id or scopes"
				}
				return ""
			}, ""},
		{"allow sets all five", []string{"--allow", "create,delete,groups"}, true,
			[]string{"allow_create", "allow_update", "allow_deactivate", "allow_delete", "push_groups"}, "", func(a *idsyncv1.App) string {
				if !a.GetAllowCreate() || a.GetAllowUpdate() || a.GetAllowDeactivate() || !a.GetAllowDelete() || !a.GetPushGroups() {
					return "operations"
				}
				return ""
			}, ""},
		{"settings", []string{"--update-mode", "auto", "--rate-limit", "2.5", "--concurrency", "8", "--match-by", "EMAIL",
			"--delete-after", "30d", "--reconcile-interval", "off", "--mapping-file", mapping}, true,
			[]string{"concurrency", "delete_after_seconds", "mapping", "match_by", "rate_limit", "reconcile_interval_seconds", "update_mode"}, "",
			func(a *idsyncv1.App) string {
				if a.GetUpdateMode() != "" || a.GetRateLimit() != 2.5 || a.GetConcurrency() != 8 || a.GetMatchBy() != "email" ||
					a.GetDeleteAfterSeconds() != 30*86400 || a.GetReconcileIntervalSeconds() != math.MaxUint64 ||
					len(a.GetMapping()) != 1 || a.GetMapping()[0].GetExpr() != "lower(email)" {
					return "settings not carried"
				}
				return ""
			}, ""},
		{"reconcile duration", []string{"--reconcile-interval", "6h"}, true, []string{"reconcile_interval_seconds"}, "",
			func(a *idsyncv1.App) string {
				if a.GetReconcileIntervalSeconds() != 6*3600 {
					return "reconcile"
				}
				return ""
			}, ""},
		{"resume is no setting", []string{"--resume"}, true, nil, "", nil, ""},
		{"directory target: a path a flag", []string{"--ou", "OU=x", "--disable-group", "CN=g", "--rdn-attribute", "uid"}, true,
			[]string{"directory_target.disable_group_dn", "directory_target.parent_dn", "directory_target.rdn_attribute"}, "",
			func(a *idsyncv1.App) string {
				if t := a.GetDirectoryTarget(); t.GetParentDn() != "OU=x" || t.GetDisableGroupDn() != "CN=g" || t.GetRdnAttribute() != "uid" {
					return "target"
				}
				return ""
			}, ""},
		{"super-admin exceptions", []string{"--allow-insecure-http", "--allow-local-addresses=false"}, true,
			[]string{"allow_insecure_http", "allow_local_addresses"}, "", nil, ""},
		{"unknown auth", []string{"--auth", "kerberos"}, false, nil, "", nil, `--auth "kerberos"`},
		{"two secret files", []string{"--token-file", token, "--password-file", password}, false, nil, "", nil, "give one secret file"},
		{"secret file of another kind", []string{"--auth", "bearer", "--password-file", password}, false, nil, "", nil,
			"--password-file goes with --auth basic"},
		{"empty secret file", []string{"--token-file", empty}, false, nil, "", nil, "--token-file " + empty + ": the file is empty"},
		{"missing secret file", []string{"--token-file", filepath.Join(dir, "nope")}, false, nil, "", nil, "--token-file: open"},
		{"username and client id", []string{"--username", "a", "--client-id", "b"}, false, nil, "", nil, "give one"},
		{"unknown operation", []string{"--allow", "create,purge"}, true, nil, "", nil, `unknown operation "purge"`},
		{"only groups", []string{"--allow", "groups"}, true, nil, "", nil, "at least one of create"},
		{"update mode", []string{"--update-mode", "post"}, true, nil, "", nil, "--update-mode"},
		{"negative rate", []string{"--rate-limit", "-1"}, true, nil, "", nil, "--rate-limit"},
		{"match by", []string{"--match-by", "phone"}, true, nil, "", nil, "--match-by"},
		{"delete after", []string{"--delete-after", "soon"}, true, nil, "", nil, "--delete-after"},
		{"reconcile zero", []string{"--reconcile-interval", "0s"}, true, nil, "", nil, "--reconcile-interval"},
		{"mapping file named", []string{"--mapping-file", token}, true, nil, "", nil, token + ":1: want a list"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &cli{out: &bytes.Buffer{}, errOut: &bytes.Buffer{}}
			fs := c.flags("app test")
			var f appFlags
			f.register(c, fs, tt.update)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			a := &idsyncv1.App{}
			paths, secret, err := f.build(fs, a)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("build: error %v, want one containing %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "s3cr3t") || strings.Contains(err.Error(), "pa ss") {
					t.Errorf("the error carries a secret: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("build: %v", err)
			}
			if !reflect.DeepEqual(paths, tt.wantPaths) {
				t.Errorf("paths %q, want %q", paths, tt.wantPaths)
			}
			if _, err := fieldmaskpb.New(a, paths...); err != nil {
				t.Errorf("paths %q: not all of App: %v", paths, err)
			}
			if secret != tt.wantSecret {
				t.Errorf("secret %q, want %q", secret, tt.wantSecret)
			}
			if tt.check != nil {
				if msg := tt.check(a); msg != "" {
					t.Errorf("app %v: %s", a, msg)
				}
			}
		})
	}
}

func TestDurations(t *testing.T) {
	parse := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"30d", 30 * 24 * time.Hour, true}, {"720h", 720 * time.Hour, true}, {"90m", 90 * time.Minute, true},
		{"0s", 0, true}, {"-1h", 0, false}, {"d", 0, false}, {"1.5d", 0, false}, {"soon", 0, false},
	}
	for _, tt := range parse {
		got, err := parseDuration(tt.in)
		if (err == nil) != tt.ok || (tt.ok && got != tt.want) {
			t.Errorf("parseDuration(%q) = %v, %v; want %v, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
	format := []struct {
		sec  uint64
		want string
	}{{0, "0s"}, {45, "45s"}, {90, "1m30s"}, {3600, "1h"}, {5400, "1h30m"}, {86400, "24h"}, {30 * 86400, "30d"}}
	for _, tt := range format {
		if got := durationStr(tt.sec); got != tt.want {
			t.Errorf("durationStr(%d) = %q, want %q", tt.sec, got, tt.want)
		}
	}
}

// TestAppUpdateRequest: app update sends the paths of the flags given as
// the update mask, the secret apart, and resume apart.
func TestAppUpdateRequest(t *testing.T) {
	h, conf := startFakeHub(t)
	token := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(token, []byte("new-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		args   []string
		paths  []string
		secret string
		resume bool
		check  func(a *idsyncv1.App) bool
	}{
		{"a setting", []string{"crm", "--rate-limit", "5"}, []string{"rate_limit"}, "", false,
			func(a *idsyncv1.App) bool { return a.GetRateLimit() == 5 }},
		{"url and secret", []string{"crm", "--scim-url", "https://crm2.example/scim/v2", "--token-file", token},
			[]string{"scim_url"}, "new-token", false, func(a *idsyncv1.App) bool { return a.GetScimUrl() == "https://crm2.example/scim/v2" }},
		{"resume alone", []string{"crm", "--resume"}, nil, "", true, nil},
		{"one field of the target", []string{"ad-accounts", "--ou", "OU=New,DC=corp"}, []string{"directory_target.parent_dn"}, "", false,
			func(a *idsyncv1.App) bool {
				return a.GetDirectoryTarget().GetParentDn() == "OU=New,DC=corp" && a.GetDirectoryTarget().GetDirectory() == ""
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if code := run(t.Context(), append([]string{"app", "update", "--config", conf}, tt.args...), &out, &errOut); code != 0 {
				t.Fatalf("exit %d: %s", code, errOut.String())
			}
			req, ok := h.lastUpdate().(*idsyncv1.UpdateAppRequest)
			if !ok {
				t.Fatalf("the hub got %v, want an UpdateAppRequest", h.lastUpdate())
			}
			if got := req.GetUpdateMask().GetPaths(); !slices.Equal(got, tt.paths) {
				t.Errorf("update_mask %q, want %q", got, tt.paths)
			}
			if req.GetSecret() != tt.secret || req.GetResume() != tt.resume {
				t.Errorf("secret %q, resume %v; want %q, %v", req.GetSecret(), req.GetResume(), tt.secret, tt.resume)
			}
			if req.GetApp().GetName() != tt.args[0] || (tt.check != nil && !tt.check(req.GetApp())) {
				t.Errorf("app sent: %v", req.GetApp())
			}
		})
	}
	var out, errOut bytes.Buffer
	if code := run(t.Context(), []string{"app", "update", "crm", "--config", conf}, &out, &errOut); code != exitUsage ||
		!strings.Contains(errOut.String(), "nothing to change") {
		t.Errorf("app update without a change: exit %d, %q; want %d, nothing to change", code, errOut.String(), exitUsage)
	}
}
