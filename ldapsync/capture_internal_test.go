package ldapsync

import (
	"context"
	"encoding/asn1"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/google/uuid"
)

func TestMatcher(t *testing.T) {
	person := map[string][]string{"objectclass": {"top", "person", "inetOrgPerson"}, "uid": {"jdoe"}, "cn": {"John Doe"},
		"uidnumber": {"1500"}, "createtimestamp": {"20240101000000Z"}}
	group := map[string][]string{"objectclass": {"top", "groupOfNames"}, "cn": {"Admins"}}
	tests := []struct {
		filter string
		entry  map[string][]string
		want   bool
	}{
		{"(objectClass=inetOrgPerson)", person, true},
		{"(objectclass=INETORGPERSON)", person, true},
		{"(objectClass=inetOrgPerson)", group, false},
		{"(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames)(objectClass=posixGroup))", group, true},
		{"(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames)(objectClass=posixGroup))", person, false},
		{"(&(objectClass=person)(uid=jdoe))", person, true},
		{"(&(objectClass=person)(uid=other))", person, false},
		{"(&(objectClass=person)(!(uid=jdoe)))", person, false},
		{"(!(objectClass=groupOfNames))", person, true},
		{"(uid=*)", person, true},
		{"(uid=*)", group, false},
		{"(objectClass=*)", map[string][]string{}, true},
		{"(cn=John*)", person, true},
		{"(cn=*doe)", person, true},
		{"(cn=j*n*d*e)", person, true},
		{"(cn=*x*)", person, false},
		{"(uidNumber>=1000)", person, true},
		{"(uidNumber>=2000)", person, false},
		{"(uidNumber<=1500)", person, true},
		{"(createTimestamp>=20230101000000Z)", person, true},
		{"(cn~=john doe)", person, true},
		{"(cn;lang-en=John Doe)", person, true},
		{`(cn=John\20Doe)`, person, true},
	}
	for _, tt := range tests {
		t.Run(tt.filter, func(t *testing.T) {
			m, err := compileMatcher(tt.filter)
			if err != nil {
				t.Fatalf("compileMatcher: %v", err)
			}
			if got := m.match(tt.entry); got != tt.want {
				t.Errorf("match = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCompileMatcherErrors(t *testing.T) {
	tests := []struct{ filter, want string }{
		{"(userAccountControl:1.2.840.113556.1.4.803:=2)", "extensible matches cannot be evaluated"},
		{"(&(objectClass=user)(cn:dn:=x))", "extensible"},
		{"(cn=x", "filter \"(cn=x\""},
	}
	for _, tt := range tests {
		t.Run(tt.filter, func(t *testing.T) {
			_, err := compileMatcher(tt.filter)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestMatcherAttributes(t *testing.T) {
	m, err := compileMatcher("(&(objectClass=person)(|(uid=a)(CN;lang-en=b*))(!(mail=*)))")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := m.attributes(), []string{"objectclass", "uid", "cn", "mail"}; !reflect.DeepEqual(got, want) {
		t.Errorf("attributes = %q, want %q", got, want)
	}
}

// syncMsg is one message of a sync search as go-ldap hands it over.
type syncMsg struct {
	entry    *ldap.Entry
	controls []ldap.Control
}

var (
	uuidA = uuid.MustParse("11111111-1111-4111-8111-111111111111")
	uuidB = uuid.MustParse("22222222-2222-4222-8222-222222222222")
	uuidC = uuid.MustParse("33333333-3333-4333-8333-333333333333")
)

func syncEntry(state ldap.ControlSyncStateState, id uuid.UUID, cookie string, dn string, attrs map[string][]string) syncMsg {
	e := &ldap.Entry{DN: dn}
	for name, values := range attrs {
		e.Attributes = append(e.Attributes, &ldap.EntryAttribute{Name: name, Values: values, ByteValues: toBytes(values)})
	}
	var c []byte
	if cookie != "" {
		c = []byte(cookie)
	}
	return syncMsg{entry: e, controls: []ldap.Control{&ldap.ControlSyncState{State: state, EntryUUID: id, Cookie: c}}}
}

func toBytes(values []string) [][]byte {
	out := make([][]byte, len(values))
	for i, v := range values {
		out[i] = []byte(v)
	}
	return out
}

func syncInfo(info *ldap.ControlSyncInfo) syncMsg { return syncMsg{controls: []ldap.Control{info}} }

func newCookie(c string) syncMsg {
	return syncInfo(&ldap.ControlSyncInfo{Value: ldap.SyncInfoNewcookie, NewCookie: &ldap.ControlSyncInfoNewCookie{Cookie: []byte(c)}})
}

func refreshDelete(c string, done bool) syncMsg {
	return syncInfo(&ldap.ControlSyncInfo{Value: ldap.SyncInfoRefreshDelete,
		RefreshDelete: &ldap.ControlSyncInfoRefreshDelete{Cookie: bytesOrNil(c), RefreshDone: done}})
}

func refreshPresent(c string, done bool) syncMsg {
	return syncInfo(&ldap.ControlSyncInfo{Value: ldap.SyncInfoRefreshPresent,
		RefreshPresent: &ldap.ControlSyncInfoRefreshPresent{Cookie: bytesOrNil(c), RefreshDone: done}})
}

func idSet(c string, deletes bool, ids ...uuid.UUID) syncMsg {
	return syncInfo(&ldap.ControlSyncInfo{Value: ldap.SyncInfoSyncIdSet,
		SyncIdSet: &ldap.ControlSyncInfoSyncIdSet{Cookie: bytesOrNil(c), RefreshDeletes: deletes, SyncUUIDs: ids}})
}

func syncDone(c string, refreshDeletes bool) syncMsg {
	return syncMsg{controls: []ldap.Control{&ldap.ControlSyncDone{Cookie: bytesOrNil(c), RefreshDeletes: refreshDeletes}}}
}

func bytesOrNil(s string) []byte {
	if s == "" {
		return nil
	}
	return []byte(s)
}

// summary writes an event as one line for comparisons.
func summary(t *testing.T, ev Event) string {
	switch ev.Type {
	case EventChange:
		return fmt.Sprintf("%s %s %s %s %v", ev.Change.Type, ev.Change.Kind, ev.Change.ExternalID[:8], ev.Change.DN, ev.Change.Attributes)
	case EventPresent:
		short := make([]string, len(ev.IDs))
		for i, id := range ev.IDs {
			short[i] = id[:8]
		}
		return "present " + strings.Join(short, ",")
	case EventRefreshDone:
		return fmt.Sprintf("refresh-done present=%v", ev.PresentPhase)
	case EventCheckpoint:
		var cp checkpointState
		if err := json.Unmarshal(ev.Checkpoint, &cp); err != nil {
			t.Fatalf("checkpoint %q: %v", ev.Checkpoint, err)
		}
		return "checkpoint " + string(cp.Cookie)
	case EventEntryError:
		return "entry-error " + ev.Err.DN + ": " + ev.Err.Message
	}
	return ev.Type.String()
}

// withCSN returns attrs with an entryCSN.
func withCSN(attrs map[string][]string, csn string) map[string][]string {
	out := maps.Clone(attrs)
	out["entryCSN"] = []string{csn}
	return out
}

var (
	personAttrs = map[string][]string{"objectClass": {"inetOrgPerson"}, "uid": {"a"}, "cn": {"A"}}
	groupAttrs  = map[string][]string{"objectClass": {"groupOfNames"}, "cn": {"G"}, "member": {"uid=a,dc=x"}}
)

// TestSyncreplHandler feeds each kind of RFC 4533 message to the handler,
// including those slapd does not readily send (syncIdSet for present ids,
// a refresh in two phases, cookies held back during a refresh).
func TestSyncreplHandler(t *testing.T) {
	const user = "upsert user "
	tests := []struct {
		name     string
		resume   string // the checkpoint's cookie; empty starts from nothing
		messages []syncMsg
		want     []string
		wantErr  string
	}{
		{
			name: "refresh from nothing, delete phase",
			messages: []syncMsg{
				syncEntry(ldap.SyncStateAdd, uuidA, "", "uid=a,dc=x", personAttrs),
				syncEntry(ldap.SyncStateAdd, uuidB, "", "cn=g,dc=x", groupAttrs),
				refreshDelete("c1", true),
			},
			want: []string{
				user + "11111111 uid=a,dc=x [{cn [A]} {uid [a]}]",
				"upsert group 22222222 cn=g,dc=x [{cn [G]} {member [uid=a,dc=x]}]",
				"refresh-done present=true", "checkpoint c1",
			},
		},
		{
			name:   "present phase from a cookie",
			resume: "c0",
			messages: []syncMsg{
				syncEntry(ldap.SyncStatePresent, uuidA, "", "uid=a,dc=x", nil),
				syncEntry(ldap.SyncStatePresent, uuidB, "", "uid=b,dc=x", nil),
				syncEntry(ldap.SyncStateAdd, uuidC, "", "uid=c,dc=x", personAttrs),
				refreshPresent("c2", true),
			},
			want: []string{"present 11111111,22222222", user + "33333333 uid=c,dc=x [{cn [A]} {uid [a]}]",
				"refresh-done present=true", "checkpoint c2"},
		},
		{
			name:   "syncIdSet of deletes and a delete-state entry",
			resume: "c0",
			messages: []syncMsg{
				idSet("", true, uuidA, uuidB),
				syncEntry(ldap.SyncStateDelete, uuidC, "", "uid=c,dc=x", nil),
				refreshDelete("c3", true),
			},
			want: []string{"delete ObjectKind(0) 11111111  []", "delete ObjectKind(0) 22222222  []",
				"delete ObjectKind(0) 33333333 uid=c,dc=x []", "refresh-done present=false", "checkpoint c3"},
		},
		{
			name:   "syncIdSet of present ids",
			resume: "c0",
			messages: []syncMsg{
				idSet("", false, uuidA, uuidB),
				refreshPresent("c4", true),
			},
			want: []string{"present 11111111,22222222", "refresh-done present=true", "checkpoint c4"},
		},
		{
			name:   "a present phase, then a delete phase",
			resume: "c0",
			messages: []syncMsg{
				syncEntry(ldap.SyncStatePresent, uuidA, "", "uid=a,dc=x", nil),
				refreshPresent("", false),
				syncEntry(ldap.SyncStateDelete, uuidB, "", "uid=b,dc=x", nil),
				refreshDelete("c5", true),
			},
			want: []string{"present 11111111", "delete ObjectKind(0) 22222222 uid=b,dc=x []",
				"refresh-done present=true", "checkpoint c5"},
		},
		{
			name:   "cookies within the refresh wait for its end",
			resume: "c0",
			messages: []syncMsg{
				syncEntry(ldap.SyncStateModify, uuidA, "c6", "uid=a,dc=x", personAttrs),
				newCookie("c7"),
				refreshDelete("", true),
			},
			want: []string{user + "11111111 uid=a,dc=x [{cn [A]} {uid [a]}]", "refresh-done present=false", "checkpoint c7"},
		},
		{
			name:   "persist: each cookie after its change",
			resume: "c0",
			messages: []syncMsg{
				refreshDelete("", true),
				syncEntry(ldap.SyncStateModify, uuidA, "c8", "uid=a,dc=x", personAttrs),
				syncEntry(ldap.SyncStateAdd, uuidB, "", "uid=b,dc=x", personAttrs),
				newCookie("c9"),
				syncEntry(ldap.SyncStateDelete, uuidC, "c10", "uid=c,dc=x", nil),
				idSet("c11", true, uuidA),
			},
			want: []string{"refresh-done present=false", "checkpoint c0",
				user + "11111111 uid=a,dc=x [{cn [A]} {uid [a]}]", "checkpoint c8",
				user + "22222222 uid=b,dc=x [{cn [A]} {uid [a]}]", "checkpoint c9",
				"delete ObjectKind(0) 33333333 uid=c,dc=x []", "checkpoint c10",
				"delete ObjectKind(0) 11111111  []", "checkpoint c11"},
		},
		{
			// syncprov's cookie for a change that committed before a write
			// with an earlier CSN: resumed from, it would reload everything
			// and report no delete.
			name:   "persist: a cookie without a CSN is no checkpoint",
			resume: "rid=000,csn=1",
			messages: []syncMsg{
				refreshDelete("rid=000", true),
				syncEntry(ldap.SyncStateModify, uuidA, "rid=000,csn=3", "uid=a,dc=x", personAttrs),
				syncEntry(ldap.SyncStateModify, uuidB, "rid=000", "uid=b,dc=x", personAttrs),
				syncEntry(ldap.SyncStateDelete, uuidC, "rid=000,sid=001", "uid=c,dc=x", nil),
				newCookie("rid=000"),
				syncEntry(ldap.SyncStateModify, uuidA, "rid=000,csn=4", "uid=a,dc=x", personAttrs),
			},
			want: []string{"refresh-done present=false", "checkpoint rid=000,csn=1",
				user + "11111111 uid=a,dc=x [{cn [A]} {uid [a]}]", "checkpoint rid=000,csn=3",
				user + "22222222 uid=b,dc=x [{cn [A]} {uid [a]}]",
				"delete ObjectKind(0) 33333333 uid=c,dc=x []",
				user + "11111111 uid=a,dc=x [{cn [A]} {uid [a]}]", "checkpoint rid=000,csn=4"},
		},
		{
			// slapd queues the changes made while a refresh runs, each with
			// the entry as it left it, and sends them after the refresh,
			// which may have read a newer state already.
			name:   "persist: a change older than the refresh's entry is not sent again",
			resume: "c0",
			messages: []syncMsg{
				syncEntry(ldap.SyncStateModify, uuidA, "", "uid=a3,dc=x", withCSN(personAttrs, "3")),
				syncEntry(ldap.SyncStateModify, uuidB, "", "uid=b,dc=x", withCSN(personAttrs, "3")),
				refreshDelete("c13", true),
				syncEntry(ldap.SyncStateModify, uuidA, "c14", "uid=a2,dc=x", withCSN(personAttrs, "2")),
				syncEntry(ldap.SyncStateModify, uuidB, "c15", "uid=b,dc=x", withCSN(personAttrs, "3")),
				syncEntry(ldap.SyncStateModify, uuidA, "c16", "uid=a3,dc=x", withCSN(personAttrs, "3")),
				syncEntry(ldap.SyncStateModify, uuidA, "c17", "uid=a4,dc=x", withCSN(personAttrs, "4")),
				syncEntry(ldap.SyncStateModify, uuidC, "c18", "uid=c,dc=x", withCSN(personAttrs, "1")),
			},
			want: []string{user + "11111111 uid=a3,dc=x [{cn [A]} {uid [a]}]", user + "22222222 uid=b,dc=x [{cn [A]} {uid [a]}]",
				"refresh-done present=false", "checkpoint c13",
				"checkpoint c14",
				user + "22222222 uid=b,dc=x [{cn [A]} {uid [a]}]", "checkpoint c15",
				user + "11111111 uid=a3,dc=x [{cn [A]} {uid [a]}]", "checkpoint c16",
				user + "11111111 uid=a4,dc=x [{cn [A]} {uid [a]}]", "checkpoint c17",
				user + "33333333 uid=c,dc=x [{cn [A]} {uid [a]}]", "checkpoint c18"},
		},
		{
			name: "refreshOnly ends with syncDone",
			messages: []syncMsg{
				syncEntry(ldap.SyncStateAdd, uuidA, "", "uid=a,dc=x", personAttrs),
				syncDone("c12", false),
			},
			want: []string{user + "11111111 uid=a,dc=x [{cn [A]} {uid [a]}]", "refresh-done present=true", "checkpoint c12"},
		},
		{
			name:     "an empty database has no cookie yet",
			messages: []syncMsg{refreshDelete("", true)},
			want:     []string{"refresh-done present=true"},
		},
		{
			name:     "an entry that matches neither filter",
			resume:   "c0",
			messages: []syncMsg{syncEntry(ldap.SyncStateAdd, uuidA, "", "cn=x,dc=x", map[string][]string{"objectClass": {"device"}})},
			want:     []string{"entry-error cn=x,dc=x: the server matched the entry to (|(objectClass=inetOrgPerson)(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames)(objectClass=posixGroup))), but it matches neither UserFilter nor GroupFilter as ldapsync evaluates them (by the values the entry holds)"},
		},
		{
			name:     "an entry without syncState",
			messages: []syncMsg{{entry: &ldap.Entry{DN: "uid=a,dc=x"}}},
			wantErr:  `entry "uid=a,dc=x" came without a syncState control`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec, err := CaptureSpec{Spec: Spec{Kind: KindOpenLDAP, BaseDN: "dc=x",
				UserAttributes: []string{"uid", "cn"}, GroupAttributes: []string{"cn", "member"}}}.withDefaults()
			if err != nil {
				t.Fatal(err)
			}
			var cp *checkpointState
			if tt.resume != "" {
				c := newCheckpoint(StrategySyncrepl, spec)
				c.Cookie = []byte(tt.resume)
				cp = &c
			}
			var got []string
			h, err := newSyncreplHandler(nil, spec, cp, func(_ context.Context, ev Event) error {
				got = append(got, summary(t, ev))
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range tt.messages {
				if err = h.handle(t.Context(), m.entry, m.controls); err != nil {
					break
				}
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("handle: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("events:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestSyncreplClassify(t *testing.T) {
	refresh := &ldap.Error{ResultCode: ldap.LDAPResultSyncRefreshRequired, Err: errors.New("sync cookie is stale")}
	unwilling := &ldap.Error{ResultCode: ldap.LDAPResultUnwillingToPerform, Err: errors.New("consumer state is newer than provider!")}
	tests := []struct {
		name          string
		err           error
		cookie        bool
		received      bool
		wantReconcile bool
	}{
		{"refresh required", fmt.Errorf("searching: %w", refresh), true, true, true},
		{"refresh required without a cookie", refresh, false, false, true},
		{"cookie refused at once", unwilling, true, false, true},
		{"unwilling later on", unwilling, true, true, false},
		{"unwilling without a cookie", unwilling, false, false, false},
		{"network", errors.New("connection reset"), true, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &syncreplHandler{received: tt.received}
			if tt.cookie {
				h.sent = []byte("c")
			}
			err := h.classify(tt.err)
			if got := errors.Is(err, ErrReconcile); got != tt.wantReconcile {
				t.Errorf("classify(%v) = %v; reconcile %v, want %v", tt.err, err, got, tt.wantReconcile)
			}
			if !errors.Is(err, tt.err) && !strings.Contains(err.Error(), tt.err.Error()) {
				t.Errorf("classify lost the cause: %v", err)
			}
		})
	}
}

func TestStatelessCookie(t *testing.T) {
	tests := []struct {
		cookie string
		want   bool
	}{
		{"rid=000", true},
		{"rid=001,sid=002", true},
		{"rid=000,csn=20261206145316.783198Z#000000#000#000000", false},
		{"rid=000,sid=001,csn=20261206145316.783198Z#000000#001#000000;20261206145317.000001Z#000000#002#000000", false},
		{"c0", false},
		{"ldap.example.org:389#cn=directory manager:dc=example,dc=org:(objectClass=*)#42", false},
	}
	for _, tt := range tests {
		if got := statelessCookie([]byte(tt.cookie)); got != tt.want {
			t.Errorf("statelessCookie(%q) = %v, want %v", tt.cookie, got, tt.want)
		}
	}
}

func TestCheckpointDecode(t *testing.T) {
	spec, err := CaptureSpec{Spec: Spec{Kind: KindAD, BaseDN: "DC=x", UserAttributes: []string{"cn", "Mail"}}}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	good := newCheckpoint(StrategyDirSync, spec)
	good.Cookie, good.InvocationID = []byte{1, 2, 3}, "a475cd9e-3ffb-4f56-9159-79557ecbe669"
	encoded := good.encode()
	reordered := spec
	reordered.UserAttributes = []string{"mail", "CN"}
	changed := spec
	changed.BaseDN = "OU=y,DC=x"
	rewrite := func(fields map[string]any) []byte {
		var m map[string]any
		if err := json.Unmarshal(encoded, &m); err != nil {
			t.Fatal(err)
		}
		for k, v := range fields {
			if v == nil {
				delete(m, k)
			} else {
				m[k] = v
			}
		}
		b, _ := json.Marshal(m)
		return b
	}
	tests := []struct {
		name     string
		b        []byte
		strategy Strategy
		spec     CaptureSpec
		wantErr  string
	}{
		{"round trip", encoded, StrategyDirSync, spec, ""},
		{"attribute order and case do not count", encoded, StrategyDirSync, reordered, ""},
		{"not JSON", []byte{0xff}, StrategyDirSync, spec, "not one ldapsync wrote"},
		{"empty", []byte{}, StrategyDirSync, spec, "not one ldapsync wrote"},
		{"another version", rewrite(map[string]any{"v": 2}), StrategyDirSync, spec, "version 2"},
		{"another strategy", encoded, StrategySyncrepl, spec, "taken by dirsync capture, this capture uses syncrepl"},
		{"another base", encoded, StrategyDirSync, changed, "another base DN"},
		{"no cookie", rewrite(map[string]any{"cookie": nil}), StrategyDirSync, spec, "holds no cookie"},
		{"no invocationID", rewrite(map[string]any{"invocationId": nil}), StrategyDirSync, spec, "names no invocationID"},
		{"a syncrepl cookie without a CSN", rewrite(map[string]any{"strategy": "syncrepl", "cookie": []byte("rid=000")}),
			StrategySyncrepl, spec, `cookie "rid=000" names no state`},
		{"a syncrepl cookie with a sid, without a CSN", rewrite(map[string]any{"strategy": "syncrepl", "cookie": []byte("rid=001,sid=002")}),
			StrategySyncrepl, spec, "names no state"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeCheckpoint(tt.b, tt.strategy, tt.spec)
			if tt.wantErr == "" {
				if err != nil || !reflect.DeepEqual(got.Cookie, good.Cookie) || got.InvocationID != good.InvocationID {
					t.Errorf("decodeCheckpoint = %+v, %v; want %+v", got, err, good)
				}
				return
			}
			if !errors.Is(err, ErrReconcile) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error = %v, want ErrReconcile saying %q", err, tt.wantErr)
			}
		})
	}
}

func TestCheckInvocationID(t *testing.T) {
	const id = "a475cd9e-3ffb-4f56-9159-79557ecbe669"
	if err := checkInvocationID(id, strings.ToUpper(id), "ldap://dc"); err != nil {
		t.Errorf("same invocationID (other case): %v", err)
	}
	err := checkInvocationID(id, "0badc0de-0000-4000-8000-000000000000", "ldap://dc")
	if !errors.Is(err, ErrReconcile) || !strings.Contains(err.Error(), "0badc0de") || !strings.Contains(err.Error(), id) {
		t.Errorf("another invocationID: %v, want ErrReconcile naming both", err)
	}
}

func TestChooseStrategy(t *testing.T) {
	tests := []struct {
		name      string
		kind      Kind
		supported []string
		want      Strategy
	}{
		{"AD", KindAD, []string{oidDirSync, ldap.ControlTypeMicrosoftNotification}, StrategyDirSync},
		{"AD without DirSync", KindAD, []string{ldap.ControlTypePaging}, StrategyPoll},
		{"OpenLDAP with syncprov", KindOpenLDAP, []string{oidSyncRequest, ldap.ControlTypePaging}, StrategySyncrepl},
		{"389 DS style", KindOpenLDAP, []string{oidPersistentSearch, oidSyncRequest}, StrategySyncrepl},
		{"persistent search only", KindOpenLDAP, []string{oidPersistentSearch}, StrategyPersistentSearch},
		{"nothing", KindOpenLDAP, nil, StrategyPoll},
		{"DirSync on an OpenLDAP-kind directory", KindOpenLDAP, []string{oidDirSync}, StrategyPoll},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := chooseStrategy(tt.kind, tt.supported); got != tt.want {
				t.Errorf("chooseStrategy = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseStrategy(t *testing.T) {
	tests := []struct {
		in      string
		want    Strategy
		wantErr bool
	}{
		{"", StrategyAuto, false}, {"auto", StrategyAuto, false}, {"SyncRepl", StrategySyncrepl, false},
		{"dirsync", StrategyDirSync, false}, {"psearch", StrategyPersistentSearch, false},
		{"persistent-search", StrategyPersistentSearch, false}, {" poll ", StrategyPoll, false}, {"usn", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseStrategy(tt.in)
			if got != tt.want || (err != nil) != tt.wantErr {
				t.Errorf("ParseStrategy(%q) = %v, %v; want %v (error %v)", tt.in, got, err, tt.want, tt.wantErr)
			}
			if err == nil {
				if back, _ := ParseStrategy(got.String()); back != got {
					t.Errorf("ParseStrategy(%q.String()) = %v", got, back)
				}
			}
		})
	}
}

func TestGeneralizedTime(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Time
		wantErr bool
	}{
		{"20261128200133Z", time.Date(2026, 11, 28, 20, 1, 33, 0, time.UTC), false},
		{"20261128200133.0Z", time.Date(2026, 11, 28, 20, 1, 33, 0, time.UTC), false},
		{"20261128200133.250Z", time.Date(2026, 11, 28, 20, 1, 33, 250e6, time.UTC), false},
		{"20261128200133+0100", time.Time{}, true},
		{"2026112820Z", time.Time{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseGeneralizedTime(tt.in)
			if !got.Equal(tt.want) || (err != nil) != tt.wantErr {
				t.Errorf("parseGeneralizedTime = %v, %v; want %v (error %v)", got, err, tt.want, tt.wantErr)
			}
		})
	}
	at := time.Date(2026, 11, 28, 20, 1, 33, 900e6, time.UTC)
	if got := formatGeneralizedTime(at, KindOpenLDAP); got != "20261128200133Z" {
		t.Errorf("OpenLDAP form %q", got)
	}
	if got := formatGeneralizedTime(at, KindAD); got != "20261128200133.0Z" {
		t.Errorf("AD form %q", got)
	}
}

func TestParseDirSyncEntry(t *testing.T) {
	guid := []byte{0xa7, 0xb8, 0xa3, 0x8b, 0xf8, 0x73, 0x9d, 0x4e, 0xb9, 0x88, 0x5b, 0x9f, 0xb3, 0x35, 0x82, 0x46}
	entry := func(dn string, attrs ...*ldap.EntryAttribute) *ldap.Entry {
		return &ldap.Entry{DN: dn, Attributes: append(attrs, &ldap.EntryAttribute{Name: "objectGUID", ByteValues: [][]byte{guid}, Values: []string{string(guid)}})}
	}
	a := func(name string, values ...string) *ldap.EntryAttribute {
		return &ldap.EntryAttribute{Name: name, Values: values, ByteValues: toBytes(values)}
	}
	const id = "8ba3b8a7-73f8-4e9d-b988-5b9fb3358246"
	tests := []struct {
		name  string
		entry *ldap.Entry
		want  dirSyncEntry
	}{
		{"changed attribute", entry("CN=u,OU=x,DC=t", a("title", "T")), dirSyncEntry{guid: id, dn: "CN=u,OU=x,DC=t"}},
		{"rename or move", entry("CN=u,OU=x,DC=t", a("name", "u"), a("parentGUID", "…")), dirSyncEntry{guid: id, dn: "CN=u,OU=x,DC=t", renamed: true}},
		{"membership deltas", entry("CN=g,DC=t", a("member;range=1-1", "CN=a,DC=t", "CN=b,DC=t"), a("member;range=0-0", "CN=c,DC=t")),
			dirSyncEntry{guid: id, dn: "CN=g,DC=t", adds: []string{"CN=a,DC=t", "CN=b,DC=t"}, removes: []string{"CN=c,DC=t"}}},
		{"tombstone", entry(`CN=u\0ADEL:`+id+`,CN=Deleted Objects,DC=t`, a("isDeleted", "TRUE"),
			a("lastKnownParent", "<GUID=89df5331-7b7a-4029-adce-1600501a5563>;OU=x,DC=t")),
			dirSyncEntry{guid: id, dn: `CN=u\0ADEL:` + id + `,CN=Deleted Objects,DC=t`, deleted: true, lastKnownParent: "OU=x,DC=t"}},
		{"tombstone the account may not read", entry(""), dirSyncEntry{guid: id}},
		{"extended DNs", entry("<GUID=a7b8a38bf8739d4eb9885b9fb3358246>;<SID=0105>;CN=g,DC=t",
			a("member;range=1-1", "<GUID=a7b8a38bf8739d4eb9885b9fb3358246>;<SID=0105>;CN=a,DC=t"),
			a("member;range=0-0", "<GUID=a7b8a38bf8739d4eb9885b9fb3358246>;CN=c,DC=t", "<GUID=zz>;CN=d,DC=t")),
			dirSyncEntry{guid: id, dn: "CN=g,DC=t", adds: []string{"<GUID=" + id + ">;CN=a,DC=t"},
				removes: []string{"<GUID=" + id + ">;CN=c,DC=t", "CN=d,DC=t"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseDirSyncEntry(tt.entry); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parseDirSyncEntry:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// TestDropDeletedMembers: an addition of a member the same round deletes
// is left out; others stay.
func TestDropDeletedMembers(t *testing.T) {
	in := []dirSyncEntry{
		{dn: "g1", adds: []string{"<GUID=AA>;CN=gone", "<GUID=bb>;CN=stays", "CN=plain"}},
		{dn: "gone", guid: "aa", deleted: true},
	}
	got := dropDeletedMembers(in)
	if want := []string{"<GUID=bb>;CN=stays", "CN=plain"}; !reflect.DeepEqual(got[0].adds, want) {
		t.Errorf("adds = %q, want %q", got[0].adds, want)
	}
}

// TestMembersLast: a round's membership deltas come after its other
// changes, in their order.
func TestMembersLast(t *testing.T) {
	in := []dirSyncEntry{
		{dn: "g1", removes: []string{"x"}},
		{dn: "u1", renamed: true},
		{dn: "g2", adds: []string{"y"}, renamed: true},
		{dn: "g3", adds: []string{"z"}},
		{dn: "u2"},
	}
	var got []string
	for _, e := range membersLast(in) {
		got = append(got, e.dn)
	}
	if want := []string{"u1", "g2", "u2", "g1", "g3"}; !reflect.DeepEqual(got, want) {
		t.Errorf("membersLast = %q, want %q", got, want)
	}
}

func TestNamingContextOf(t *testing.T) {
	contexts := []string{"DC=idsync,DC=test", "CN=Configuration,DC=idsync,DC=test", "CN=Schema,CN=Configuration,DC=idsync,DC=test",
		"DC=DomainDnsZones,DC=idsync,DC=test"}
	tests := []struct{ base, want string }{
		{"OU=People,DC=idsync,DC=test", "DC=idsync,DC=test"},
		{"dc=IDSYNC,dc=test", "DC=idsync,DC=test"},
		{"CN=Schema,CN=Configuration,DC=idsync,DC=test", "CN=Schema,CN=Configuration,DC=idsync,DC=test"},
		{"OU=x,DC=other,DC=test", ""},
	}
	for _, tt := range tests {
		t.Run(tt.base, func(t *testing.T) {
			base, err := ldap.ParseDN(tt.base)
			if err != nil {
				t.Fatal(err)
			}
			got, err := namingContextOf(base, contexts)
			if got != tt.want || (err != nil) != (tt.want == "") {
				t.Errorf("namingContextOf = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestPersistentSearchControls(t *testing.T) {
	ctl := psearchControl().(*ldap.ControlString)
	var req struct {
		ChangeTypes          int
		ChangesOnly, Returns bool
	}
	if rest, err := asn1.Unmarshal([]byte(ctl.ControlValue), &req); err != nil || len(rest) != 0 {
		t.Fatalf("request value: %v (%d bytes left)", err, len(rest))
	}
	if ctl.ControlType != oidPersistentSearch || !ctl.Criticality || req.ChangeTypes != 15 || !req.ChangesOnly || !req.Returns {
		t.Errorf("control %s critical %v value %+v, want %s critical, all change types, changes only, with notifications",
			ctl.ControlType, ctl.Criticality, req, oidPersistentSearch)
	}

	ecn := func(v any) []ldap.Control {
		b, err := asn1.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return []ldap.Control{ldap.NewControlString(oidEntryChange, false, string(b))}
	}
	tests := []struct {
		name     string
		controls []ldap.Control
		want     int
		wantErr  bool
	}{
		{"delete", ecn(struct{ T asn1.Enumerated }{psearchDelete}), psearchDelete, false},
		{"modDN with previous DN and change number", ecn(struct {
			T    asn1.Enumerated
			Prev []byte
			N    int64
		}{psearchModDN, []byte("uid=old,dc=x"), 42}), psearchModDN, false},
		{"no notification", nil, 0, false},
		{"garbage", []ldap.Control{ldap.NewControlString(oidEntryChange, false, "\x01\x02")}, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := entryChangeType(tt.controls)
			if got != tt.want || (err != nil) != tt.wantErr {
				t.Errorf("entryChangeType = %d, %v; want %d (error %v)", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// TestPollerAccept checks the overlap window's deduplication.
func TestPollerAccept(t *testing.T) {
	spec, err := CaptureSpec{Spec: Spec{Kind: KindOpenLDAP, BaseDN: "dc=x", UserAttributes: []string{"cn"},
		GroupAttributes: []string{"cn", "modifyTimestamp"}}}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	var emitted []Change
	p := newPoller(nil, spec, StrategyPoll, nil, func(_ context.Context, ev Event) error {
		emitted = append(emitted, ev.Change)
		return nil
	})
	change := func(kind ObjectKind, id, dn, cn, ts string) Change {
		return Change{Type: ChangeUpsert, Kind: kind, ExternalID: id, DN: dn,
			Attributes: []Attribute{{Name: "cn", Values: []string{cn}}, {Name: modifyTimestamp, Values: []string{ts}}}}
	}
	steps := []struct {
		name      string
		change    Change
		want      bool
		wantSince string
	}{
		{"first sight", change(ObjectUser, "a", "cn=a", "A", "20261128200133Z"), true, "20261128200133Z"},
		{"same again within the overlap", change(ObjectUser, "a", "cn=a", "A", "20261128200133Z"), false, "20261128200133Z"},
		{"another change in the same second", change(ObjectUser, "a", "cn=a2", "A", "20261128200133Z"), true, "20261128200133Z"},
		{"a later change", change(ObjectUser, "a", "cn=a2", "A2", "20261128200140Z"), true, "20261128200140Z"},
		{"an older one of another object", change(ObjectGroup, "g", "cn=g", "G", "20261128200139Z"), true, "20261128200140Z"},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			before := len(emitted)
			got, err := p.accept(t.Context(), s.change)
			if err != nil || got != s.want || (len(emitted) > before) != s.want {
				t.Errorf("accept = %v, %v (emitted %d); want %v", got, err, len(emitted)-before, s.want)
			}
			if want, _ := parseGeneralizedTime(s.wantSince); !p.since.Equal(want) {
				t.Errorf("since = %v, want %v", p.since, want)
			}
		})
	}
	// Users did not ask for modifyTimestamp, groups did.
	if got := emitted[0].Attributes; !reflect.DeepEqual(got, []Attribute{{Name: "cn", Values: []string{"A"}}}) {
		t.Errorf("user attributes %q, want modifyTimestamp left out", got)
	}
	if got := emitted[len(emitted)-1].Attributes; len(got) != 2 {
		t.Errorf("group attributes %q, want modifyTimestamp kept", got)
	}
	p.since, _ = parseGeneralizedTime("20261128210000Z")
	p.prune()
	if len(p.seen) != 0 {
		t.Errorf("after the window moved on, %d objects are still remembered", len(p.seen))
	}
}
