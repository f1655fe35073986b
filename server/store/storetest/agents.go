package storetest

import (
	"bytes"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/idsync/idsync/server/store"
)

var tokenTests = []test{
	{"Enroll", testEnrollTokens},
	{"EnrollRace", testEnrollTokenRace},
	{"Admin", testAdminTokens},
}

var agentTests = []test{
	{"CreateGetList", testAgents},
	{"Sessions", testAgentSessions},
	{"Revoke", testRevokeAgent},
	{"RenewCertificate", testRenewAgentCertificate},
	{"Lag", testAgentLag},
}

func testEnrollTokens(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := time.Now().UTC()
	tokens := []*store.EnrollToken{
		{Hash: []byte("live"), Directory: "corp", ExpiresAt: now.Add(time.Hour)},
		{Hash: []byte("stale"), Directory: "corp", ExpiresAt: now.Add(-time.Second)},
		{Hash: []byte("forever"), Directory: "lab"},
	}
	for _, tok := range tokens {
		must(t, "CreateEnrollToken", s.CreateEnrollToken(ctx, tok))
	}
	wantErr(t, "CreateEnrollToken(same hash)",
		s.CreateEnrollToken(ctx, &store.EnrollToken{Hash: []byte("live"), Directory: "x"}), store.ErrConflict)

	steps := []struct {
		name  string
		hash  string
		agent string
		want  error
		dir   string
	}{
		{"live", "live", "agent-1", nil, "corp"},
		{"used", "live", "agent-2", store.ErrTokenUsed, ""},
		{"expired", "stale", "agent-3", store.ErrTokenExpired, ""},
		{"no expiry", "forever", "agent-4", nil, "lab"},
		{"unknown", "nope", "agent-5", store.ErrNotFound, ""},
	}
	for _, st := range steps {
		tok, err := s.ConsumeEnrollToken(ctx, []byte(st.hash), st.agent, now)
		wantErr(t, st.name, err, st.want)
		if err != nil {
			continue
		}
		if tok.Directory != st.dir || tok.AgentID != st.agent || !sameTime(tok.UsedAt, now) ||
			!bytes.Equal(tok.Hash, []byte(st.hash)) || tok.CreatedAt.IsZero() {
			t.Errorf("%s: consumed %+v, want directory %s, agent %s, used at %v", st.name, tok, st.dir, st.agent, now)
		}
	}
	// Expiry is exclusive: a token is dead at its expiry time.
	exp := now.Add(time.Minute)
	must(t, "CreateEnrollToken", s.CreateEnrollToken(ctx, &store.EnrollToken{Hash: []byte("edge"), ExpiresAt: exp}))
	_, err := s.ConsumeEnrollToken(ctx, []byte("edge"), "agent-6", exp)
	wantErr(t, "at expiry", err, store.ErrTokenExpired)
}

// testEnrollTokenRace: of several agents enrolling with one token at once,
// exactly one wins.
func testEnrollTokenRace(t *testing.T, s store.Store) {
	must(t, "CreateEnrollToken", s.CreateEnrollToken(t.Context(),
		&store.EnrollToken{Hash: []byte("once"), Directory: "corp", ExpiresAt: time.Now().Add(time.Hour)}))
	oneWins(t, 8, "consumers", store.ErrTokenUsed, func(i int) error {
		_, err := s.ConsumeEnrollToken(t.Context(), []byte("once"), fmt.Sprint("agent-", i), time.Now())
		return err
	})
}

func testAdminTokens(t *testing.T, s store.Store) {
	ctx := t.Context()
	tok := &store.AdminToken{Name: "ci", Role: "admin", Hash: []byte{1, 2, 3}}
	must(t, "CreateAdminToken", s.CreateAdminToken(ctx, tok))
	if tok.ID == "" || tok.CreatedAt.IsZero() {
		t.Errorf("CreateAdminToken left ID %q, CreatedAt %v; want both set", tok.ID, tok.CreatedAt)
	}
	got, err := s.AdminTokenByHash(ctx, []byte{1, 2, 3})
	must(t, "AdminTokenByHash", err)
	if !sameTime(got.CreatedAt, tok.CreatedAt) {
		t.Errorf("CreatedAt = %v, want %v", got.CreatedAt, tok.CreatedAt)
	}
	want := *tok
	want.CreatedAt = got.CreatedAt
	if !reflect.DeepEqual(*got, want) {
		t.Errorf("AdminTokenByHash = %+v, want %+v", *got, want)
	}
	_, err = s.AdminTokenByHash(ctx, []byte{9})
	wantErr(t, "AdminTokenByHash(unknown)", err, store.ErrNotFound)
	wantErr(t, "CreateAdminToken(same hash)",
		s.CreateAdminToken(ctx, &store.AdminToken{Name: "other", Hash: []byte{1, 2, 3}}), store.ErrConflict)
}

// newAgent creates an agent.
func newAgent(t *testing.T, s store.Store, id, name string) *store.Agent {
	t.Helper()
	a := &store.Agent{ID: id, Name: name, Directories: []string{"corp", "lab"}, CertSerial: "0a:0b",
		CertExpiresAt: time.Now().Add(90 * 24 * time.Hour).UTC()}
	must(t, "CreateAgent", s.CreateAgent(t.Context(), a))
	return a
}

func getAgent(t *testing.T, s store.Store, id string) *store.Agent {
	t.Helper()
	a, err := s.GetAgent(t.Context(), id)
	must(t, "GetAgent", err)
	return a
}

func testAgents(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := newAgent(t, s, "a-2", "dc1")
	newAgent(t, s, "a-1", "dc2")
	newAgent(t, s, "a-3", "dc1")
	if a.EnrolledAt.IsZero() {
		t.Errorf("CreateAgent left EnrolledAt zero")
	}
	got := getAgent(t, s, "a-2")
	if !sameTime(got.CertExpiresAt, a.CertExpiresAt) || !sameTime(got.EnrolledAt, a.EnrolledAt) {
		t.Errorf("times = %v, %v; want %v, %v", got.CertExpiresAt, got.EnrolledAt, a.CertExpiresAt, a.EnrolledAt)
	}
	want := *a
	want.CertExpiresAt, want.EnrolledAt = got.CertExpiresAt, got.EnrolledAt
	if !reflect.DeepEqual(*got, want) {
		t.Errorf("GetAgent = %+v, want %+v", *got, want)
	}
	wantErr(t, "CreateAgent(same id)", s.CreateAgent(ctx, &store.Agent{ID: "a-2", Name: "x"}), store.ErrConflict)
	_, err := s.GetAgent(ctx, "nope")
	wantErr(t, "GetAgent(unknown)", err, store.ErrNotFound)

	as, err := s.ListAgents(ctx)
	must(t, "ListAgents", err)
	var ids []string
	for _, a := range as {
		ids = append(ids, a.ID)
	}
	if want := []string{"a-2", "a-3", "a-1"}; !reflect.DeepEqual(ids, want) {
		t.Errorf("ListAgents = %v, want %v (by name, then id)", ids, want)
	}
}

func testAgentSessions(t *testing.T, s store.Store) {
	ctx := t.Context()
	newAgent(t, s, "a-1", "dc1")
	t0 := time.Now().UTC()
	steps := []struct {
		name        string
		do          func(at time.Time) error
		want        error
		wantSession string
		seenMoves   bool
	}{
		{"connect", func(at time.Time) error {
			return s.AgentConnected(ctx, "a-1", "s1", "v1.2.3", []string{"full-import"}, at)
		}, nil, "s1", true},
		{"seen", func(at time.Time) error { return s.AgentSeen(ctx, "a-1", "s1", at) }, nil, "s1", true},
		{"reconnect replaces", func(at time.Time) error {
			return s.AgentConnected(ctx, "a-1", "s2", "v1.2.3", []string{"full-import", "capture"}, at)
		}, nil, "s2", true},
		{"old session seen", func(at time.Time) error { return s.AgentSeen(ctx, "a-1", "s1", at) }, store.ErrConflict, "s2", false},
		{"old session disconnects", func(at time.Time) error { return s.AgentDisconnected(ctx, "a-1", "s1", at) }, nil, "s2", false},
		{"disconnect", func(at time.Time) error { return s.AgentDisconnected(ctx, "a-1", "s2", at) }, nil, "", true},
	}
	for i, st := range steps {
		at := t0.Add(time.Duration(i+1) * time.Second)
		before := getAgent(t, s, "a-1")
		wantErr(t, st.name, st.do(at), st.want)
		got := getAgent(t, s, "a-1")
		if got.SessionID != st.wantSession {
			t.Errorf("%s: session %q, want %q", st.name, got.SessionID, st.wantSession)
		}
		if st.seenMoves && !sameTime(got.LastSeen, at) {
			t.Errorf("%s: LastSeen %v, want %v", st.name, got.LastSeen, at)
		}
		if !st.seenMoves && !got.LastSeen.Equal(before.LastSeen) {
			t.Errorf("%s: LastSeen moved to %v", st.name, got.LastSeen)
		}
	}
	got := getAgent(t, s, "a-1")
	if got.Version != "v1.2.3" {
		t.Errorf("Version = %q, want v1.2.3", got.Version)
	}
	// The last Hello's capabilities replace the earlier ones.
	if want := []string{"full-import", "capture"}; !reflect.DeepEqual(got.Capabilities, want) {
		t.Errorf("Capabilities = %q, want %q", got.Capabilities, want)
	}
	unknown := []struct {
		name string
		err  error
	}{
		{"AgentConnected", s.AgentConnected(ctx, "nope", "s", "v", nil, t0)},
		{"AgentSeen", s.AgentSeen(ctx, "nope", "s", t0)},
		{"AgentDisconnected", s.AgentDisconnected(ctx, "nope", "s", t0)},
	}
	for _, u := range unknown {
		wantErr(t, u.name+"(unknown)", u.err, store.ErrNotFound)
	}
}

func testRevokeAgent(t *testing.T, s store.Store) {
	ctx := t.Context()
	newAgent(t, s, "a-1", "dc1")
	at := time.Now().UTC()
	a, err := s.RevokeAgent(ctx, "a-1", at)
	must(t, "RevokeAgent", err)
	if !sameTime(a.RevokedAt, at) {
		t.Errorf("RevokedAt = %v, want %v", a.RevokedAt, at)
	}
	a, err = s.RevokeAgent(ctx, "a-1", at.Add(time.Hour))
	must(t, "RevokeAgent(again)", err)
	if !sameTime(a.RevokedAt, at) {
		t.Errorf("RevokedAt after a second revocation = %v, want still %v", a.RevokedAt, at)
	}
	if got := getAgent(t, s, "a-1"); !sameTime(got.RevokedAt, at) {
		t.Errorf("GetAgent RevokedAt = %v, want %v", got.RevokedAt, at)
	}
	_, err = s.RevokeAgent(ctx, "nope", at)
	wantErr(t, "RevokeAgent(unknown)", err, store.ErrNotFound)
}

// testRenewAgentCertificate: a renewal is pending, the current serial and
// expiry kept, until its first use makes it current; a serial that is not
// pending is not made current; a revoked agent's renewal changes nothing
// and is ErrConflict.
func testRenewAgentCertificate(t *testing.T, s store.Store) {
	ctx := t.Context()
	newAgent(t, s, "a-1", "dc1")
	newAgent(t, s, "a-2", "dc2")
	before := getAgent(t, s, "a-1")
	exp := time.Now().Add(48 * time.Hour).UTC()
	a, err := s.RenewAgentCertificate(ctx, "a-1", "0c:0d", exp)
	must(t, "RenewAgentCertificate", err)
	for _, got := range []*store.Agent{a, getAgent(t, s, "a-1")} {
		if got.CertSerial != "0a:0b" || !sameTime(got.CertExpiresAt, before.CertExpiresAt) ||
			got.PendingCertSerial != "0c:0d" || !sameTime(got.PendingCertExpiresAt, exp) {
			t.Errorf("after renewal: serial %q (%v), pending %q (%v); want 0a:0b kept, 0c:0d pending until %v",
				got.CertSerial, got.CertExpiresAt, got.PendingCertSerial, got.PendingCertExpiresAt, exp)
		}
	}
	_, err = s.UseAgentCertificate(ctx, "a-1", "0a:0b")
	wantErr(t, "UseAgentCertificate(the current one)", err, store.ErrConflict)
	_, err = s.UseAgentCertificate(ctx, "a-1", "")
	wantErr(t, "UseAgentCertificate(empty)", err, store.ErrConflict)
	a, err = s.UseAgentCertificate(ctx, "a-1", "0c:0d")
	must(t, "UseAgentCertificate", err)
	for _, got := range []*store.Agent{a, getAgent(t, s, "a-1")} {
		if got.CertSerial != "0c:0d" || !sameTime(got.CertExpiresAt, exp) || got.PendingCertSerial != "" {
			t.Errorf("after first use: serial %q (%v), pending %q; want 0c:0d until %v, none pending",
				got.CertSerial, got.CertExpiresAt, got.PendingCertSerial, exp)
		}
	}
	_, err = s.UseAgentCertificate(ctx, "a-1", "0c:0d")
	wantErr(t, "UseAgentCertificate(again)", err, store.ErrConflict)
	_, err = s.UseAgentCertificate(ctx, "nope", "0c:0d")
	wantErr(t, "UseAgentCertificate(unknown)", err, store.ErrNotFound)
	if got := getAgent(t, s, "a-2"); got.CertSerial != "0a:0b" || got.PendingCertSerial != "" {
		t.Errorf("renewing a-1 changed a-2: serial %q, pending %q", got.CertSerial, got.PendingCertSerial)
	}

	_, err = s.RevokeAgent(ctx, "a-2", time.Now())
	must(t, "RevokeAgent", err)
	_, err = s.RenewAgentCertificate(ctx, "a-2", "0e:0f", exp)
	wantErr(t, "RenewAgentCertificate(revoked)", err, store.ErrConflict)
	if got := getAgent(t, s, "a-2"); got.CertSerial != "0a:0b" || got.PendingCertSerial != "" {
		t.Errorf("a revoked agent's refused renewal changed it: serial %q, pending %q", got.CertSerial, got.PendingCertSerial)
	}
	_, err = s.RenewAgentCertificate(ctx, "nope", "01", exp)
	wantErr(t, "RenewAgentCertificate(unknown)", err, store.ErrNotFound)
}

func testAgentLag(t *testing.T, s store.Store) {
	ctx := t.Context()
	newAgent(t, s, "a-1", "dc1")
	newAgent(t, s, "a-2", "dc2")
	steps := []struct {
		name string
		lag  time.Duration
		want time.Duration
	}{
		{"first", 1500 * time.Millisecond, 1500 * time.Millisecond},
		{"kept to the millisecond", 42*time.Millisecond + 700*time.Microsecond, 42 * time.Millisecond},
		{"caught up", 0, 0},
		{"long behind", 3 * time.Hour, 3 * time.Hour},
	}
	for _, st := range steps {
		must(t, st.name, s.AgentLag(ctx, "a-1", st.lag))
		if got := getAgent(t, s, "a-1").Lag; got != st.want {
			t.Errorf("%s: GetAgent Lag = %v, want %v", st.name, got, st.want)
		}
		as, err := s.ListAgents(ctx)
		must(t, "ListAgents", err)
		got := map[string]time.Duration{}
		for _, a := range as {
			got[a.ID] = a.Lag
		}
		if got["a-1"] != st.want || got["a-2"] != 0 {
			t.Errorf("%s: ListAgents lags %v, want a-1 %v, a-2 0", st.name, got, st.want)
		}
	}
	wantErr(t, "AgentLag(unknown)", s.AgentLag(ctx, "nope", time.Second), store.ErrNotFound)
}
