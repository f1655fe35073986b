package api_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/idsync/idsync/internal/eventually"
	"github.com/idsync/idsync/internal/gendir"
	"github.com/idsync/idsync/internal/testserver"
	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
	"github.com/idsync/idsync/server/api"
)

// TestSignInLimitPerPerson: the sign-in limit (5 a minute) holds per
// person, not per spelling. A real hub asks a real agent, which binds to
// slapd. Every refused attempt costs half a second (the refusal floor), far
// less than the 12 s in which a budget regains one attempt.
func TestSignInLimitPerPerson(t *testing.T) {
	const (
		alicePW = "alice-Secret-1"
		carolPW = "carol-Secret-2"
		davePW  = "dave-Secret-3"
	)
	srv := testserver.Slapd(t, testserver.SlapdOptions{Preload: func(base string, emit func(gendir.Entry) error) error {
		entries := []gendir.Entry{{DN: "ou=people," + base, Attrs: []gendir.Attr{
			{Name: "objectClass", Values: []string{"top", "organizationalUnit"}}, {Name: "ou", Values: []string{"people"}}}}}
		for uid, pw := range map[string]string{"alice": alicePW, "carol": carolPW, "dave": davePW} {
			entries = append(entries, gendir.Entry{DN: "uid=" + uid + ",ou=people," + base, Attrs: []gendir.Attr{
				{Name: "objectClass", Values: []string{"top", "person", "organizationalPerson", "inetOrgPerson"}},
				{Name: "uid", Values: []string{uid}}, {Name: "cn", Values: []string{uid}}, {Name: "sn", Values: []string{uid}},
				{Name: "mail", Values: []string{uid + "@example.org"}}, {Name: "userPassword", Values: []string{pw}}}})
		}
		for _, e := range entries {
			if err := emit(e); err != nil {
				return err
			}
		}
		return nil
	}})
	h := startHub(t, api.AgentOptions{}, "")
	if _, err := h.admin.CreateDirectory(h.ctx(), &idsyncv1.CreateDirectoryRequest{Directory: &idsyncv1.Directory{
		Name: "ldap", Kind: idsyncv1.DirectoryKind_DIRECTORY_KIND_OPENLDAP, BaseDn: srv.BaseDN,
		CaptureStrategy: "off", FullImportIntervalSeconds: api.IntervalOff}}); err != nil {
		t.Fatalf("CreateDirectory: %v", err)
	}
	cfg, id := h.enroll("ldap")
	pwFile := filepath.Join(filepath.Dir(cfg.Path()), "bind.pw")
	if err := os.WriteFile(pwFile, []byte(srv.BindPassword), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.Directories[0].URL, cfg.Directories[0].BindDN, cfg.Directories[0].BindPasswordFile = srv.URL, srv.BindDN, pwFile
	runAgent(t, cfg, nil)
	eventually.That(t, "the agent to be online", func() (bool, string) {
		st := h.agentState(id).GetState()
		return st == idsyncv1.AgentState_AGENT_STATE_STANDBY, st.String()
	})
	signIn := func(username, password string) (*idsyncv1.User, codes.Code) {
		resp, err := h.admin.Authenticate(h.ctx(), &idsyncv1.AuthenticateRequest{Directory: "ldap", Username: username, Password: password})
		return resp.GetUser(), status.Code(err)
	}
	refuse := func(username string, times int) {
		t.Helper()
		for i := range times {
			if _, code := signIn(username, "wrong-"+username); code != codes.Unauthenticated {
				t.Fatalf("wrong password %d as %q: %v, want Unauthenticated", i+1, username, code)
			}
		}
	}

	t.Run("the directory takes a fullwidth letter for its own", func(t *testing.T) {
		// What makes a budget per spelling a way round the limit.
		u, code := signIn("\uff43arol", carolPW)
		if code != codes.OK || u.GetUsername() != "carol" {
			t.Fatalf("sign-in as \uff43arol (fullwidth c) with carol's password: %v %v, want carol", code, u)
		}
	})

	t.Run("a limited name spelled another way is refused", func(t *testing.T) {
		refuse("alice", 5)
		if _, code := signIn("alice", alicePW); code != codes.ResourceExhausted {
			t.Fatalf("a sixth attempt as alice: %v, want ResourceExhausted", code)
		}
		for _, spelling := range []string{"\uff41lice", "\uff21\uff2c\uff29\uff23\uff25", " Alice ", "al\u00adice"} {
			if u, code := signIn(spelling, alicePW); code != codes.ResourceExhausted {
				t.Errorf("%+q with alice's password after alice was limited: %v %v, want ResourceExhausted", spelling, code, u)
			}
		}
	})

	t.Run("a name no entry has is one name too", func(t *testing.T) {
		refuse("nobody", 5)
		if _, code := signIn("\uff4e\uff4f\uff42\uff4f\uff44\uff59", "x"); code != codes.ResourceExhausted {
			t.Errorf("nobody in fullwidth letters after nobody was limited: %v, want ResourceExhausted", code)
		}
	})

	t.Run("two names of one entry share its budget", func(t *testing.T) {
		// uid and mail: 3 + 2 attempts leave each name attempts of its
		// own, but none to the entry.
		refuse("dave", 3)
		refuse("dave@example.org", 2)
		for _, name := range []string{"DAVE@example.org", "dave"} {
			if u, code := signIn(name, davePW); code != codes.ResourceExhausted {
				t.Errorf("%s with dave's password after five attempts at his entry: %v %v, want ResourceExhausted", name, code, u)
			}
		}
		events, err := h.admin.ListAuditEvents(h.ctx(), &idsyncv1.ListAuditEventsRequest{Action: "authn.limited"})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(events.GetEvents(), func(e *idsyncv1.AuditEvent) bool {
			return strings.HasPrefix(e.GetTarget(), "user:dave") && strings.Contains(e.GetDetail(), "for entry ")
		}) {
			t.Errorf("no authn.limited event for dave names the entry's budget: %v", events.GetEvents())
		}
	})
}
