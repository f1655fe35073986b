//go:build linux

package e2e

import (
	"fmt"
	"strings"
	"testing"

	"github.com/idsync/idsync/internal/eventually"
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

// localStaff makes a local directory staff with a safeguard of 3 members,
// users u1…u6 (u1–u4 of department eng, u5 and u6 of sales) and an empty
// group engineers, through idsyncctl.
func localStaff(s *stack) {
	s.mustCtl("directory", "add", "staff", "--kind", "local", "--safeguard-max", "3")
	for i := 1; i <= 6; i++ {
		dept := "eng"
		if i > 4 {
			dept = "sales"
		}
		s.mustCtl("user", "create", "--directory", "staff", "--username", fmt.Sprintf("u%d", i), "--field", "department="+dept)
	}
	s.mustCtl("group", "create", "engineers", "--directory", "staff")
}

// TestGroupRules drives the group rule commands against the real hub: a
// rule fills its local group, previews and shows what it holds, refuses
// hand edits of it, and follows a user's profile change; an update that
// would empty the group pauses under the safeguard (exit 3, a run of kind
// rule), is cancelled (held), applied again (paused again) and confirmed;
// a small rule is removed at once.
func TestGroupRules(t *testing.T) {
	s := newStack(t, "--rule-interval", "-1s")
	localStaff(s)
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

	t.Run("a hand edit is refused", func(t *testing.T) {
		r := s.ctl("group", "add-member", "engineers", "--directory", "staff", "--user", "u5")
		if r.Code == 0 || !strings.Contains(r.Stderr, "is the group of rule engineers") {
			t.Errorf("group add-member: exit %d\n%s", r.Code, r.Stderr)
		}
	})
	t.Run("a profile change moves the user", func(t *testing.T) {
		s.mustCtl("user", "update", "u4", "--field", "department=sales")
		eventually.That(t, "u4 out of engineers", func() (bool, string) {
			got := strings.Join(members(), " ")
			return got == "u1 u2 u3", got
		})
		s.mustCtl("user", "update", "u4", "--field", "department=eng")
		eventually.That(t, "u4 back in engineers", func() (bool, string) {
			got := strings.Join(members(), " ")
			return got == "u1 u2 u3 u4", got
		})
	})
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
