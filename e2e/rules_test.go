//go:build linux

package e2e

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/idsync/idsync/server/ingest"
	"github.com/idsync/idsync/server/store"
	"github.com/idsync/idsync/server/store/sqlite"
)

// ruleJSON and ruleOutcomeJSON are what `group rule … -o json` prints, in
// part.
type ruleJSON struct {
	Name    string `json:"name"`
	State   string `json:"state"`
	Pending string `json:"pending"`
	Members uint64 `json:"members"`
	Expr    string `json:"expr"`
}

type ruleOutcomeJSON struct {
	Rule    ruleJSON `json:"rule"`
	Matched uint64   `json:"matched"`
	Joined  uint64   `json:"joined"`
	Left    uint64   `json:"left"`
	Joining []struct {
		Username string `json:"username"`
	} `json:"joining"`
	Paused *runJSON `json:"paused"`
}

// seedLocal stops the hub, writes a local directory staff into its store
// — users u1…u6 (u1–u4 of department eng, u5 and u6 of sales), an empty
// group engineers, a safeguard of 3 members — and starts it again. (Local
// directories get their own doors with the people service; the rule
// commands are what this test drives.)
func seedLocal(t *testing.T, s *stack) {
	t.Helper()
	ctx := t.Context()
	if err := s.hub.Stop(10 * time.Second); err != nil {
		t.Fatalf("stopping the hub: %v", err)
	}
	st, err := sqlite.Open(ctx, filepath.Join(s.hub.DataDir, "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	d := &store.Directory{Name: "staff", Kind: store.KindLocal, SafeguardPercent: 20, SafeguardMax: 3}
	if err := st.CreateDirectory(ctx, d); err != nil {
		t.Fatal(err)
	}
	objs := []*store.Object{{Kind: store.ObjectGroup, ExternalID: "g-engineers", Status: store.StatusActive, Name: "engineers",
		MembersComplete: true}}
	for i := 1; i <= 6; i++ {
		dept := "eng"
		if i > 4 {
			dept = "sales"
		}
		objs = append(objs, &store.Object{Kind: store.ObjectUser, ExternalID: fmt.Sprintf("u-%d", i), Status: store.StatusActive,
			Profile: store.Profile{Username: fmt.Sprintf("u%d", i), Department: dept}})
	}
	for _, o := range objs {
		o.Hash = ingest.Hash(o)
	}
	eng := ingest.New(ingest.Config{Store: st, Log: slog.New(slog.DiscardHandler)})
	if _, err := eng.ApplyWrite(ctx, d, "test", &store.Batch{Upserts: objs}); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.hub.Restart(ctx); err != nil {
		t.Fatalf("restarting the hub: %v", err)
	}
}

// TestGroupRules drives the group rule commands against the real hub: a
// rule fills its local group, previews and shows what it holds; an update
// that would empty the group pauses under the safeguard (exit 3, a run of
// kind rule), is cancelled (held), applied again (paused again) and
// confirmed; a small rule is removed at once.
func TestGroupRules(t *testing.T) {
	s := newStack(t, "--rule-interval", "-1s")
	seedLocal(t, s)
	members := func() []string {
		var g groupJSON
		s.ctlJSON(&g, "group", "show", "engineers", "--directory", "staff")
		var out []string
		for _, m := range g.Members {
			out = append(out, m.Name)
		}
		return out
	}

	var o ruleOutcomeJSON
	s.ctlJSON(&o, "group", "rule", "add", "engineers", "--group", "staff/engineers", "--expr", `department == "eng"`)
	if o.Joined != 4 || o.Matched != 4 || len(o.Joining) != 4 || o.Rule.State != "active" {
		t.Fatalf("group rule add: %+v", o)
	}
	if got := strings.Join(members(), " "); got != "u1 u2 u3 u4" {
		t.Errorf("engineers holds %q, want u1 to u4", got)
	}
	var list []ruleJSON
	s.ctlJSON(&list, "group", "rule", "list")
	if len(list) != 1 || list[0].Name != "engineers" || list[0].Members != 4 {
		t.Errorf("group rule list: %+v", list)
	}
	var shown ruleJSON
	s.ctlJSON(&shown, "group", "rule", "show", "engineers")
	if shown.State != "active" || shown.Expr != `department == "eng"` {
		t.Errorf("group rule show: %+v", shown)
	}
	s.ctlJSON(&o, "group", "rule", "preview", "engineers")
	if o.Joined != 0 || o.Left != 0 || o.Matched != 4 {
		t.Errorf("group rule preview: %+v", o)
	}

	t.Run("an update that would empty the group pauses", func(t *testing.T) {
		r := s.ctl("group", "rule", "update", "engineers", "--expr", `department == "none"`)
		if r.Code != 3 || !strings.Contains(r.Stderr, "paused by the safeguard") {
			t.Fatalf("group rule update: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
		}
		runs := s.runList("staff")
		if len(runs) == 0 || runs[0].Kind != "rule" || runs[0].State != "paused_by_safeguard" {
			t.Errorf("import list --directory staff: %+v, want the rule's run paused", runs)
		}
		if got := len(members()); got != 4 {
			t.Errorf("engineers holds %d after the pause, want 4: nothing written", got)
		}
	})
	t.Run("cancel holds it, apply pauses again, confirm goes ahead", func(t *testing.T) {
		s.ctlJSON(&shown, "group", "rule", "cancel", "engineers")
		if shown.State != "held" {
			t.Errorf("after cancel: %+v", shown)
		}
		if r := s.ctl("group", "rule", "apply", "engineers"); r.Code != 3 {
			t.Errorf("group rule apply of a held rule: exit %d, want 3 (paused again)\n%s", r.Code, r.Stderr)
		}
		s.ctlJSON(&o, "group", "rule", "confirm", "engineers")
		if o.Left != 4 || o.Rule.State != "active" {
			t.Errorf("group rule confirm: %+v", o)
		}
		if got := members(); len(got) != 0 {
			t.Errorf("engineers holds %v after the confirmed evaluation", got)
		}
	})
	t.Run("update, then remove", func(t *testing.T) {
		s.ctlJSON(&o, "group", "rule", "update", "engineers", "--expr", `department == "sales"`, "--directory", "staff")
		if o.Joined != 2 {
			t.Errorf("group rule update: %+v", o)
		}
		s.ctlJSON(&o, "group", "rule", "remove", "engineers")
		if o.Left != 2 || o.Paused != nil {
			t.Errorf("group rule remove: %+v", o)
		}
		s.ctlJSON(&list, "group", "rule", "list")
		if len(list) != 0 {
			t.Errorf("rules after the removal: %+v", list)
		}
		if got := members(); len(got) != 0 {
			t.Errorf("engineers holds %v after the removal", got)
		}
	})
}
