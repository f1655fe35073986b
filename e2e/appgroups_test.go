package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/idsync/idsync/internal/eventually"
)

// TestProvisionImportGroups: `app import crm --groups` reads the app's
// groups: the group the hub pushes is linked before, and what someone
// added to it in the app is reported (in the import's output, app show and
// group show) and set back by the next reconcile; a group the app holds of
// its own is recorded with its member that is a hub user.
func TestProvisionImportGroups(t *testing.T) {
	p := newProvEnv(t, 4, 3)
	p.addApp("crm", "--allow", "create,update,deactivate,groups")
	ms := p.assignGroup("crm")
	group := p.gen.GroupCN(0)
	var pushedID string
	eventually.That(t, "the group pushed with its members", func() (bool, string) {
		g, members := p.appGroup(group)
		pushedID, _ = g["id"].(string)
		return len(members) == len(ms), fmt.Sprint(g)
	})
	eventually.That(t, "the queue idle", func() (bool, string) { a := p.app("crm"); return a.idle(), fmt.Sprint(a.Queue) })

	// In the app, by hand: a stranger put into the pushed group, and a
	// group of the app's own holding one member and the stranger.
	stranger, err := p.scim.SeedUser(map[string]any{"userName": "stranger@example.org", "active": true})
	if err != nil {
		t.Fatal(err)
	}
	first, _ := p.scim.UserByName(ms[0].mail)
	if _, err := p.scim.SeedGroup(map[string]any{"displayName": "crm-admins",
		"members": []any{map[string]any{"value": first["id"]}, map[string]any{"value": stranger}}}); err != nil {
		t.Fatal(err)
	}
	p.patchGroup(pushedID, map[string]any{"op": "add", "path": "members", "value": []any{map[string]any{"value": stranger}}})

	wantFound := "1 member(s) added in the app (" + stranger + ")"
	p.s.step("the import links and reports", func(t *testing.T) {
		out := p.s.mustCtl("app", "import", "crm", "--groups")
		for _, want := range []string{"read 2 groups: 0 linked now, 1 linked before, 1 the app's own",
			"pushed groups changed in the app outside the hub (the next reconcile sets them back)", wantFound} {
			if !strings.Contains(out, want) {
				t.Errorf("app import crm --groups does not say %q:\n%s", want, out)
			}
		}
		var res struct {
			Groups struct {
				Read          uint64 `json:"read"`
				AlreadyLinked uint64 `json:"already_linked"`
				Own           uint64 `json:"own"`
				Drift         []struct {
					Group, Found string
				} `json:"drift"`
			} `json:"groups"`
		}
		p.s.ctlJSON(&res, "app", "import", "crm", "--groups")
		g := res.Groups
		if g.Read != 2 || g.AlreadyLinked != 1 || g.Own != 1 || len(g.Drift) != 1 || g.Drift[0].Group != group || g.Drift[0].Found != wantFound {
			t.Errorf("app import --groups -o json: %+v, want 2 read, 1 linked before, 1 the app's own, %s: %s", g, group, wantFound)
		}
	})
	p.s.step("app show and group show list them", func(t *testing.T) {
		var a struct {
			States []struct {
				Name, Found string
			} `json:"pushed_group_states"`
			AppGroups []struct {
				Name     string   `json:"name"`
				Members  []string `json:"members"`
				Unlinked uint64   `json:"unlinked"`
			} `json:"app_groups"`
		}
		p.s.ctlJSON(&a, "app", "show", "crm")
		if len(a.AppGroups) != 1 || a.AppGroups[0].Name != "crm-admins" || !slices.Equal(a.AppGroups[0].Members, []string{ms[0].uid}) ||
			a.AppGroups[0].Unlinked != 1 {
			t.Errorf("app show crm: app groups %+v, want crm-admins with %s and one member not linked", a.AppGroups, ms[0].uid)
		}
		if len(a.States) != 1 || a.States[0].Name != group || a.States[0].Found != wantFound {
			t.Errorf("app show crm: pushed group states %+v, want %s: %s", a.States, group, wantFound)
		}
		if out := p.s.mustCtl("app", "show", "crm"); !strings.Contains(out, "groups of the app (no hub group is pushed as them)") {
			t.Errorf("app show crm does not list the app's groups:\n%s", out)
		}
		var g struct {
			Apps []struct {
				App, Name, Found string
				RemoteID         string `json:"remote_id"`
			} `json:"apps"`
		}
		p.s.ctlJSON(&g, "group", "show", group, "--directory", p.name)
		if len(g.Apps) != 1 || g.Apps[0].App != "crm" || g.Apps[0].Name != group || g.Apps[0].RemoteID != pushedID || g.Apps[0].Found != wantFound {
			t.Errorf("group show %s: apps %+v, want crm as %s (%s), with what the import found", group, g.Apps, group, pushedID)
		}
	})
	p.s.step("the next reconcile sets it back", func(t *testing.T) {
		// The app was created more than a minute ago, or will have been:
		// with this interval its reconcile is due.
		p.s.mustCtl("app", "update", "crm", "--reconcile-interval", "1m")
		eventually.Within(t, 3*time.Minute, "the stranger out of the pushed group, nothing found left", func() (bool, string) {
			_, members := p.appGroup(group)
			var a struct {
				States []struct{ Found, Drift string } `json:"pushed_group_states"`
			}
			p.s.ctlJSON(&a, "app", "show", "crm")
			done := !slices.Contains(members, stranger) && len(members) == len(ms) && len(a.States) == 1 &&
				a.States[0].Found == "" && strings.Contains(a.States[0].Drift, stranger)
			return done, fmt.Sprintf("members %v, states %+v", members, a.States)
		})
	})
}

// appGroup returns the app's group named name, and its members' ids.
func (p *provEnv) appGroup(name string) (map[string]any, []string) {
	for _, g := range p.scim.Groups() {
		if g["displayName"] != name {
			continue
		}
		var ids []string
		list, _ := g["members"].([]any)
		for _, m := range list {
			if mm, ok := m.(map[string]any); ok {
				id, _ := mm["value"].(string)
				ids = append(ids, id)
			}
		}
		return g, ids
	}
	return nil, nil
}

// patchGroup sends one PATCH operation to the app's group id, as someone
// working in the app would.
func (p *provEnv) patchGroup(id string, op map[string]any) {
	p.s.t.Helper()
	body, err := json.Marshal(map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": []any{op}})
	if err != nil {
		p.s.t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(p.s.t.Context(), http.MethodPatch, p.scim.URL+"/Groups/"+id, bytes.NewReader(body))
	if err != nil {
		p.s.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+p.token)
	req.Header.Set("Content-Type", "application/scim+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.s.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		p.s.t.Fatalf("PATCH /Groups/%s: %s", id, resp.Status)
	}
}
