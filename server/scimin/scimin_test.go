package scimin_test

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"

	"github.com/idsync/idsync/server/store"
)

// TestRecordedClients replays the requests Okta, Entra ID and an HR feed
// send, as recorded from their documentation (testdata/README.md), and
// checks the hub's users and groups after each one.
func TestRecordedClients(t *testing.T) {
	t.Run("okta", func(t *testing.T) {
		h := newHub(t)
		name := "test.user@okta.local"
		// Okta looks the user up before it creates it.
		code, list := h.do("GET", "/scim/v2/Users?filter="+url.QueryEscape(`userName eq "`+name+`"`)+"&startIndex=1&count=100", nil)
		if code != 200 || list["totalResults"] != 0.0 {
			t.Fatalf("lookup before create = %d %v, want 200 with no results", code, list)
		}
		code, res := h.do("POST", "/scim/v2/Users", fixture(t, "okta/create-user.json", nil))
		if code != http.StatusCreated {
			t.Fatalf("create = %d %v, want 201", code, res)
		}
		u := h.user(name)
		if res["id"] != u.ID || u.ExternalID != "00ujl29u0le5T6Aj10h7" || u.Status != store.StatusActive ||
			u.Email != name || u.GivenName != "Test" || u.FamilyName != "User" || u.DisplayName != "Test User" {
			t.Fatalf("after create: id %v, hub user %+v", res["id"], *u)
		}
		ids := map[string]string{"23a35c27-23d3-4c03-b4c5-6443c09e7173": u.ID}
		code, list = h.do("GET", "/scim/v2/Users?filter="+url.QueryEscape(`userName eq "`+name+`"`), nil)
		if code != 200 || list["totalResults"] != 1.0 {
			t.Fatalf("lookup after create = %d %v, want 1 result", code, list)
		}
		if code, _ := h.do("POST", "/scim/v2/Users", fixture(t, "okta/create-user.json", nil)); code != http.StatusConflict {
			t.Errorf("second create = %d, want 409", code)
		}
		if code, res = h.do("PUT", "/scim/v2/Users/"+u.ID, fixture(t, "okta/replace-user.json", ids)); code != 200 {
			t.Fatalf("replace = %d %v", code, res)
		}
		if u = h.user(name); u.GivenName != "Another" || u.Status != store.StatusActive || u.ExternalID != "00ujl29u0le5T6Aj10h7" {
			t.Errorf("after replace: %+v, want given name Another, same external id", *u)
		}
		if code, res = h.do("PATCH", "/scim/v2/Users/"+u.ID, fixture(t, "okta/deactivate-user.json", nil)); code != 200 || res["active"] != false {
			t.Fatalf("deactivate = %d %v", code, res)
		}
		if u = h.user(name); u.Status != store.StatusSuspended {
			t.Errorf("after deactivation: status %s, want suspended", u.Status)
		}

		code, res = h.do("POST", "/scim/v2/Groups", fixture(t, "okta/create-group.json", nil))
		if code != http.StatusCreated {
			t.Fatalf("create group = %d %v", code, res)
		}
		gid := res["id"].(string)
		ids["abf4dd94-a4c0-4f67-89c9-76b03340cb9b"] = gid
		if code, res = h.do("PATCH", "/scim/v2/Groups/"+gid, fixture(t, "okta/rename-group.json", ids)); code != 200 || res["displayName"] != "Test SCIMv2 Renamed" {
			t.Fatalf("rename group = %d %v", code, res)
		}
		if code, res = h.do("PATCH", "/scim/v2/Groups/"+gid, fixture(t, "okta/group-add-member.json", ids)); code != 200 {
			t.Fatalf("add member = %d %v", code, res)
		}
		h.wantMembers(gid, u.ID)
		if code, res = h.do("PATCH", "/scim/v2/Groups/"+gid, fixture(t, "okta/group-remove-member.json", ids)); code != 200 {
			t.Fatalf("remove member = %d %v", code, res)
		}
		h.wantMembers(gid)
	})

	t.Run("entra", func(t *testing.T) {
		h := newHub(t)
		code, res := h.do("POST", "/scim/v2/Users", fixture(t, "entra/create-user.json", nil))
		if code != http.StatusCreated {
			t.Fatalf("create = %d %v", code, res)
		}
		id := res["id"].(string)
		u := h.user("Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1")
		if u.ID != id || u.ExternalID != "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef" ||
			u.Email != "Test_User_fd0ea19b-0777-472c-9f96-4f70d2226f2e@testuser.com" || u.FamilyName != "familyName" {
			t.Fatalf("after create: %+v", *u)
		}
		// Entra's lookup by externalId and by userName.
		for _, f := range []string{`externalId eq "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"`,
			`userName eq "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1"`} {
			if code, list := h.do("GET", "/scim/v2/Users?filter="+url.QueryEscape(f), nil); code != 200 || list["totalResults"] != 1.0 {
				t.Errorf("filter %s = %d %v, want 1 result", f, code, list)
			}
		}
		if code, res = h.do("PATCH", "/scim/v2/Users/"+id, fixture(t, "entra/update-user-multi.json", nil)); code != 200 {
			t.Fatalf("multi-valued update = %d %v", code, res)
		}
		if u = h.user(u.Username); u.Email != "updatedEmail@microsoft.com" || u.FamilyName != "updatedFamilyName" {
			t.Errorf("after multi-valued update: email %q, family name %q", u.Email, u.FamilyName)
		}
		if code, res = h.do("PATCH", "/scim/v2/Users/"+id, fixture(t, "entra/update-user-single.json", nil)); code != 200 {
			t.Fatalf("single-valued update = %d %v", code, res)
		}
		u = h.user("5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com")
		if u.ID != id {
			t.Errorf("the renamed user is %s, want %s (a rename is an update)", u.ID, id)
		}
		if code, res = h.do("PATCH", "/scim/v2/Users/"+id, fixture(t, "entra/update-user-manager.json", nil)); code != 200 {
			t.Fatalf("manager update = %d %v", code, res)
		}
		if u = h.user(u.Username); u.Manager != "2819c223-7f76-453a-919d-413861904646" {
			t.Errorf("manager = %q", u.Manager)
		}

		// A group with the user, then without.
		code, res = h.do("POST", "/scim/v2/Groups", fixture(t, "entra/create-group.json", nil))
		if code != http.StatusCreated {
			t.Fatalf("create group = %d %v", code, res)
		}
		gid := res["id"].(string)
		ids := map[string]string{"f648f8d5ea4e4cd38e9c": id}
		if code, list := h.do("GET", "/scim/v2/Groups?excludedAttributes=members&filter="+url.QueryEscape(`displayName eq "displayName"`), nil); code != 200 || list["totalResults"] != 1.0 {
			t.Errorf("group lookup = %d %v", code, list)
		}
		if code, res = h.do("PATCH", "/scim/v2/Groups/"+gid, fixture(t, "entra/group-add-member.json", ids)); code != 200 {
			t.Fatalf("add member = %d %v", code, res)
		}
		h.wantMembers(gid, id)
		if code, res = h.do("PATCH", "/scim/v2/Groups/"+gid, fixture(t, "entra/group-remove-member.json", ids)); code != 200 {
			t.Fatalf("remove member = %d %v", code, res)
		}
		h.wantMembers(gid)

		// Disable as Entra's non-compliant mode sends it ("False"), then
		// as it sends it when compliant; the user stays, suspended.
		for _, f := range []string{"entra/disable-user-string.json", "entra/disable-user.json"} {
			if code, res = h.do("PATCH", "/scim/v2/Users/"+id, fixture(t, f, nil)); code != 200 || res["active"] != false {
				t.Fatalf("%s = %d %v", f, code, res)
			}
			if u = h.user(u.Username); u.Status != store.StatusSuspended {
				t.Errorf("after %s: status %s, want suspended", f, u.Status)
			}
		}
		// Delete deprovisions; the user is kept, and gone from SCIM.
		if code, _ := h.do("DELETE", "/scim/v2/Users/"+id, nil); code != http.StatusNoContent {
			t.Fatalf("delete = %d, want 204", code)
		}
		if u = h.user(u.Username); u.Status != store.StatusDeprovisioned {
			t.Errorf("after delete: status %s, want deprovisioned (never deleted)", u.Status)
		}
		if code, _ := h.do("GET", "/scim/v2/Users/"+id, nil); code != http.StatusNotFound {
			t.Errorf("GET after delete = %d, want 404", code)
		}
	})

	t.Run("workday", func(t *testing.T) {
		h := newHub(t)
		code, res := h.do("POST", "/scim/v2/Users", fixture(t, "workday/hire.json", nil))
		if code != http.StatusCreated {
			t.Fatalf("hire = %d %v", code, res)
		}
		id := res["id"].(string)
		u := h.user("logan.mcneil")
		want := store.Profile{Username: "logan.mcneil", Email: "lmcneil@workday.net", GivenName: "Logan",
			FamilyName: "McNeil", DisplayName: "Logan McNeil", EmployeeNumber: "21001",
			Department: "Human Resources", Title: "Chief Human Resources Officer", Manager: "21002"}
		if u.ID != id || u.ExternalID != "21001" || fmt.Sprint(u.Profile) != fmt.Sprint(want) {
			t.Fatalf("after hire: %+v\nwant profile %+v", *u, want)
		}
		if code, res = h.do("PUT", "/scim/v2/Users/"+id, fixture(t, "workday/job-change.json", nil)); code != 200 {
			t.Fatalf("job change = %d %v", code, res)
		}
		if u = h.user("logan.mcneil"); u.Title != "Chief People Officer" || u.Department != "People" || u.Manager != "21003" {
			t.Errorf("after job change: %+v", u.Profile)
		}
		if code, res = h.do("PATCH", "/scim/v2/Users/"+id, fixture(t, "workday/terminate.json", nil)); code != 200 {
			t.Fatalf("terminate = %d %v", code, res)
		}
		if u = h.user("logan.mcneil"); u.Status != store.StatusSuspended {
			t.Errorf("after termination: status %s, want suspended", u.Status)
		}
	})
}

// wantMembers checks a group's resolved members.
func (h *hub) wantMembers(gid string, want ...string) {
	h.t.Helper()
	ms, err := h.st.GroupMembers(h.t.Context(), gid)
	if err != nil {
		h.t.Fatal(err)
	}
	var got []string
	for _, m := range ms {
		got = append(got, m.ID)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		h.t.Errorf("members of group %s = %v, want %v", gid, got, want)
	}
}
