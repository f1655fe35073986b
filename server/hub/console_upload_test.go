package hub_test

import (
	"bytes"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/idsync/idsync/internal/eventually"
	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
	"github.com/idsync/idsync/server/auth"
	"github.com/idsync/idsync/server/hub"
	"github.com/idsync/idsync/server/store"
)

// upload posts a file to a directory's upload form as a browser does:
// the CSRF token first, then the options, then the file.
func (b *browser) upload(directory, csrf string, opts map[string]string, name string, file []byte) (int, string) {
	b.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	_ = mw.WriteField("_csrf", csrf)
	for _, k := range []string{"full", "dry_run", "encoding", "delimiter"} {
		if v, ok := opts[k]; ok {
			_ = mw.WriteField(k, v)
		}
	}
	fw, _ := mw.CreateFormFile("file", name)
	_, _ = fw.Write(file)
	_ = mw.Close()
	resp, err := b.c.Post(b.base+"/directories/"+directory+"/upload", mw.FormDataContentType(), &body)
	if err != nil {
		b.t.Fatalf("upload to %s: %v", directory, err)
	}
	defer resp.Body.Close()
	page, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(page)
}

// csvDirectory adds csv directory hr, whose rows are users by their
// Employee ID and Login.
func csvDirectory(t *testing.T) func(store.Store) {
	return func(st store.Store) {
		d := &store.Directory{Name: "hr", Kind: store.KindCSV, SafeguardPercent: 20, SafeguardMax: 500,
			FullImportInterval: -1, CaptureStrategy: "off", Mapping: store.Mapping{Username: "Login"},
			CSV: &store.CSVLayout{IDColumn: "Employee ID"}}
		if err := st.CreateDirectory(t.Context(), d); err != nil {
			t.Fatal(err)
		}
	}
}

var runPath = regexp.MustCompile(`<h1>Import (\d+) of`)

// TestConsoleUpload: a file uploaded in the console is the gRPC
// ImportFile's — a run whose bad row is listed by file and line, a dry
// run's preview, a file that is not an export failed naming the line and
// column, a directory of another kind and a file over the hub's cap
// refused with a page that says so — and only a role with imports.write
// may upload: the others are refused, and the refusal audited.
func TestConsoleUpload(t *testing.T) {
	const max = 4 << 10
	h := startHubWith(t, func(c *hub.Config) { c.ImportMaxBytes = max }, csvDirectory(t))
	b := newBrowser(t, h)
	b.signIn(h.boot)
	if _, page, _ := b.get("/directories/hr"); !strings.Contains(page, `id="upload-form"`) || strings.Contains(page, `id="start-import"`) {
		t.Errorf("the csv directory's page: want the upload form and no Start a full import\n%s", page)
	}
	if _, page, _ := b.get("/directories/corp"); strings.Contains(page, `id="upload-form"`) {
		t.Errorf("an LDAP directory's page offers a file upload")
	}
	token := b.csrf("/directories/hr")

	t.Run("a run, its bad row listed by line", func(t *testing.T) {
		file := []byte("Employee ID,Login\n1,ann\n2,bob\n3,cid,extra\n4,dee\n5,eve\n6,fay\n")
		code, page := b.upload("hr", token, map[string]string{"full": "on"}, "staff.csv", file)
		m := runPath.FindStringSubmatch(page)
		if code != http.StatusOK || m == nil || !strings.Contains(page, "started: full import of hr from staff.csv") {
			t.Fatalf("upload: %d, want the run's page saying it started\n%s", code, page)
		}
		admin := idsyncv1.NewAdminServiceClient(h.conn)
		eventually.That(t, "run "+m[1]+" completed", func() (bool, string) {
			r, err := admin.GetImport(as(t.Context(), h.boot), &idsyncv1.GetImportRequest{Id: m[1]})
			return err == nil && r.GetRun().GetState() == idsyncv1.RunState_RUN_STATE_COMPLETED, fmt.Sprint(r, err)
		})
		_, page, _ = b.get("/imports/" + m[1])
		if !strings.Contains(page, "staff.csv:4") || !strings.Contains(page, "3 fields, the header has 2") {
			t.Errorf("the run's page does not list its bad row by file and line (staff.csv:4):\n%s", page)
		}
		users, err := admin.ListUsers(as(t.Context(), h.boot), &idsyncv1.ListUsersRequest{Directory: "hr"})
		if err != nil || len(users.GetUsers()) != 5 {
			t.Errorf("hr's users after the upload: %v (%v), want the 5 good rows", users.GetUsers(), err)
		}
	})

	t.Run("a dry run", func(t *testing.T) {
		code, page := b.upload("hr", token, map[string]string{"dry_run": "on", "full": "on"}, "next.csv",
			[]byte("Employee ID,Login\n1,ann\n2,bob\n3,cid\n4,dee\n5,eve\n6,fay\n7,gus\n"))
		if code != http.StatusOK || !strings.Contains(page, "Nothing was changed") || !strings.Contains(page, `data-field="created">2<`) ||
			!strings.Contains(page, "cid, gus") {
			t.Errorf("dry run: %d, want its preview: cid (a bad row before) and gus to create\n%s", code, page)
		}
	})

	t.Run("a file that is not an export: failed, naming the line and column", func(t *testing.T) {
		code, page := b.upload("hr", token, nil, "broken.csv", []byte("Employee ID,Lo\"gin\n1,ann\n"))
		if code != http.StatusOK || !strings.Contains(page, "failed: broken.csv: the header line: parse error on line 1, column 15") {
			t.Errorf("a broken header: %d, want the failed run's page naming line 1, column 15\n%s", code, page)
		}
	})

	t.Run("a directory of another kind", func(t *testing.T) {
		code, page := b.upload("corp", token, nil, "x.csv", []byte("Employee ID,Login\n1,ann\n"))
		if code != http.StatusBadRequest || !strings.Contains(page, "files are imported into csv directories") {
			t.Errorf("a file for an LDAP directory: %d, want 400 naming csv directories\n%s", code, page)
		}
	})

	t.Run("over the cap", func(t *testing.T) {
		big := []byte("Employee ID,Login\n" + strings.Repeat("9,zed\n", max/6+1))
		code, page := b.upload("hr", token, nil, "big.csv", big)
		if code != http.StatusBadRequest || !strings.Contains(page, "larger than the hub takes (4096 bytes)") {
			t.Errorf("a file over the hub's cap: %d, want 400 saying so\n%s", code, page)
		}
		huge := bytes.Repeat([]byte("9,zed\n"), 20000)
		code, page = b.upload("hr", token, nil, "huge.csv", huge)
		if code != http.StatusRequestEntityTooLarge || !strings.Contains(page, "larger than the hub takes (4096 bytes)") ||
			!strings.Contains(page, "<html") {
			t.Errorf("a form far over the cap: %d, want 413 and the console's page saying so\n%s", code, page)
		}
	})

	for _, role := range auth.Roles[1:] {
		if role == auth.RoleAuthn {
			continue // signs in to no console
		}
		t.Run("a "+role, func(t *testing.T) {
			var groups []string
			if role == auth.RoleGroupAdmin {
				groups = []string{"corp/sales"}
			}
			name := "up-" + role
			o := newBrowser(t, h)
			o.signIn(h.token(name, role, groups, nil))
			_, page, _ := o.get("/directories/hr")
			offered := strings.Contains(page, `id="upload-form"`)
			allowed := auth.RoleHas(role, auth.PermImportsWrite)
			if offered && !allowed {
				t.Errorf("%s is offered the upload form", role)
			}
			code, page := o.upload("hr", o.csrf("/"), map[string]string{"dry_run": "on"}, "x.csv", []byte("Employee ID,Login\n1,ann\n"))
			if allowed {
				if code != http.StatusOK {
					t.Errorf("%s may import: %d\n%s", role, code, page)
				}
				return
			}
			if code != http.StatusForbidden || !strings.Contains(page, string(auth.PermImportsWrite)) {
				t.Errorf("%s's upload: %d, want 403 naming %s\n%s", role, code, auth.PermImportsWrite, page)
			}
			ev, err := idsyncv1.NewAdminServiceClient(h.conn).ListAuditEvents(as(t.Context(), h.boot),
				&idsyncv1.ListAuditEventsRequest{Actor: "admin:" + name, Outcome: "refused"})
			audited := false
			for _, e := range ev.GetEvents() {
				audited = audited || strings.HasSuffix(e.GetTarget(), "/ImportFile")
			}
			if err != nil || !audited {
				t.Errorf("refusals of %s: %v (%v), want ImportFile's", name, ev.GetEvents(), err)
			}
		})
	}
}

// appGroups seeds app crm's groups: its own crm-admins (ann, bob and a
// member no hub user), crm-ops (bob), and 55 more of cid's; hub group
// sales pushed to it, with what an import found changed there.
func appGroups(t *testing.T) func(store.Store) {
	return func(st store.Store) {
		ctx := t.Context()
		a := &store.App{Name: "crm", SCIMURL: "https://crm.example.org/scim/v2", AuthKind: "bearer", AllowCreate: true, PushGroups: true}
		if err := st.CreateApp(ctx, a); err != nil {
			t.Fatal(err)
		}
		corp, err := st.GetDirectory(ctx, "corp")
		if err != nil {
			t.Fatal(err)
		}
		id := map[string]string{}
		for _, n := range []string{"ann", "bob", "cid"} {
			us, err := st.FindUsers(ctx, corp.ID, n)
			if err != nil || len(us) != 1 {
				t.Fatalf("user %s: %v (%v)", n, us, err)
			}
			id[n] = us[0].ID
		}
		own := []*store.AppGroup{{RemoteID: "r-adm", DisplayName: "crm-admins", Members: []string{id["ann"], id["bob"]}, Unlinked: 1},
			{RemoteID: "r-ops", DisplayName: "crm-ops", Members: []string{id["bob"]}}}
		for i := range 55 {
			own = append(own, &store.AppGroup{RemoteID: fmt.Sprintf("r-%02d", i), DisplayName: fmt.Sprintf("team-%02d", i), Members: []string{id["cid"]}})
		}
		if err := st.PutAppGroups(ctx, a.ID, own); err != nil {
			t.Fatal(err)
		}
		gs, err := st.FindGroups(ctx, corp.ID, "sales")
		if err != nil || len(gs) != 1 {
			t.Fatalf("group sales: %v (%v)", gs, err)
		}
		if err := st.PutPushedGroup(ctx, &store.PushedGroup{AppID: a.ID, GroupID: gs[0].ID, RemoteID: "r-sales", DisplayName: "Sales"}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestConsoleAppGroups: an app's page lists the groups it holds of its
// own, by pages, and the hub groups pushed to it with what was found
// there; a group's page lists the apps it is pushed to. A group-admin
// sees only the app's groups that hold its users, and of them only its
// users, as app show answers it.
func TestConsoleAppGroups(t *testing.T) {
	h := startHub(t, appGroups(t))
	b := newBrowser(t, h)
	b.signIn(h.boot)
	_, page, _ := b.get("/apps/crm")
	for _, want := range []string{"crm-admins", "ann, bob", "crm-ops", "team-00", "team-47", `href="/apps/crm?groups=50#app-groups"`,
		`<a href="/groups?q=sales">sales</a>`} {
		if !strings.Contains(page, want) {
			t.Errorf("/apps/crm as a super-admin lacks %q", want)
		}
	}
	if strings.Contains(page, "team-48") {
		t.Errorf("/apps/crm lists more than a page of the app's groups")
	}
	_, page, _ = b.get("/apps/crm?groups=50")
	if !strings.Contains(page, "team-48") || !strings.Contains(page, "team-54") || strings.Contains(page, "crm-admins") ||
		strings.Contains(page, "app-groups-next") {
		t.Errorf("/apps/crm?groups=50: want the last 7 of the app's groups, and no next page\n%s", page)
	}

	sales := h.groupIDs()["corp/sales"]
	_, page, _ = b.get("/groups/" + sales)
	if !strings.Contains(page, `id="group-in-apps"`) || !strings.Contains(page, "r-sales") || !strings.Contains(page, "Sales") {
		t.Errorf("/groups/%s does not list crm holding it as Sales (r-sales)\n%s", sales, page)
	}

	g := newBrowser(t, h)
	g.signIn(h.token("sales-lead", auth.RoleGroupAdmin, []string{"corp/sales"}, nil))
	code, page, _ := g.get("/apps/crm")
	if code != http.StatusOK {
		t.Fatalf("/apps/crm as a group-admin: %d\n%s", code, page)
	}
	tbl := page[strings.Index(page, `id="app-groups-table"`):]
	tbl = tbl[:strings.Index(tbl, "</table>")]
	if !strings.Contains(tbl, "crm-admins") || !strings.Contains(tbl, "ann") {
		t.Errorf("a group-admin of sales does not see crm-admins with ann:\n%s", tbl)
	}
	for _, not := range []string{"bob", "crm-ops", "team-", "<td>1</td>"} {
		if strings.Contains(tbl, not) {
			t.Errorf("a group-admin of sales sees %q among the app's groups, outside its scope:\n%s", not, tbl)
		}
	}
}
