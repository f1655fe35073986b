package hub_test

import (
	"net/http"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
)

// TestSCIMSource: an admin adds a scim source and issues its token; the
// hub's HTTP listener serves /scim/v2/ with it beside /healthz, refuses a
// replaced token, and refuses a token for a directory that is no source.
func TestSCIMSource(t *testing.T) {
	h := startHub(t)
	ctx := as(t.Context(), h.boot)
	admin := idsyncv1.NewAdminServiceClient(h.conn)
	resp, err := admin.CreateDirectory(ctx, &idsyncv1.CreateDirectoryRequest{Directory: &idsyncv1.Directory{
		Name: "hr", Kind: idsyncv1.DirectoryKind_DIRECTORY_KIND_SCIM, Mastered: []string{"title", "manager"}}})
	if err != nil {
		t.Fatalf("CreateDirectory(scim): %v", err)
	}
	if d := resp.GetDirectory(); d.GetKind() != idsyncv1.DirectoryKind_DIRECTORY_KIND_SCIM || len(d.GetMastered()) != 2 {
		t.Errorf("created %v, want a scim source mastering 2 fields", d)
	}
	_, err = admin.CreateDirectory(ctx, &idsyncv1.CreateDirectoryRequest{Directory: &idsyncv1.Directory{
		Name: "hr2", Kind: idsyncv1.DirectoryKind_DIRECTORY_KIND_SCIM, Mastered: []string{"salary"}}})
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("CreateDirectory(unknown mastered field) = %v, want InvalidArgument", err)
	}
	if _, err := admin.IssueSourceToken(ctx, &idsyncv1.IssueSourceTokenRequest{Directory: "corp"}); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("IssueSourceToken(an LDAP directory) = %v, want FailedPrecondition", err)
	}
	if _, err := admin.CreateEnrollmentToken(ctx, &idsyncv1.CreateEnrollmentTokenRequest{Directory: "hr"}); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("CreateEnrollmentToken(a scim source) = %v, want FailedPrecondition", err)
	}
	first, err := admin.IssueSourceToken(ctx, &idsyncv1.IssueSourceTokenRequest{Directory: "hr"})
	if err != nil {
		t.Fatalf("IssueSourceToken: %v", err)
	}
	get := func(path, token string) int {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), "GET", "http://"+h.http+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get("/scim/v2/Users", first.GetToken()); code != http.StatusOK {
		t.Errorf("/scim/v2/Users with the token = %d, want 200", code)
	}
	if code := get("/healthz", ""); code != http.StatusOK {
		t.Errorf("/healthz = %d, want 200", code)
	}
	second, err := admin.IssueSourceToken(ctx, &idsyncv1.IssueSourceTokenRequest{Directory: "hr"})
	if err != nil {
		t.Fatalf("IssueSourceToken(again): %v", err)
	}
	for _, tc := range []struct {
		token string
		want  int
	}{{first.GetToken(), http.StatusUnauthorized}, {second.GetToken(), http.StatusOK}, {h.boot, http.StatusUnauthorized}} {
		if code := get("/scim/v2/ServiceProviderConfig", tc.token); code != tc.want {
			t.Errorf("/scim/v2/ServiceProviderConfig = %d, want %d", code, tc.want)
		}
	}
}
