package rules_test

import (
	"cmp"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/idsync/idsync/internal/eventually"
)

// `make bench` runs these (scripts/bench, section rules) and holds them to
// the targets: a rule over 100,000 users re-evaluated in full in
// under 5 s; a profile change reaching the rule group's membership in the
// app with p99 under 1 s.

// benchUsers writes n corp users, every fourth of department
// engineering, the others sales; every tenth in the corp group
// contractors.
func benchUsers(w *world, n int) {
	ps := make([]person, n)
	var contractors []string
	for i := range ps {
		ps[i] = person{name: fmt.Sprintf("user%06d", i), department: "sales"}
		if i%4 == 0 {
			ps[i].department = "engineering"
		}
		if i%10 == 0 {
			contractors = append(contractors, ps[i].name)
		}
	}
	w.addPeople(ps...)
	w.corpGroup("contractors", contractors)
}

// BenchmarkFullEvaluation100k evaluates rules over 100,000 users in full:
// first (the group fills: 25,000 join), then again (nothing changes: the
// re-evaluation the schedule and group rule apply run), for a rule over
// the profile and for one that reads groups.
func BenchmarkFullEvaluation100k(b *testing.B) {
	const n = 100_000
	w := newWorld(b, options{})
	benchUsers(w, n)
	for _, tc := range []struct {
		name, expr string
		want       int
	}{
		{"profile", `department == "engineering" && status == "active"`, n / 4},
		{"groups", `"contractors" in groups && department == "engineering"`, n / 20},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				name := fmt.Sprintf("%s-%d", tc.name, i)
				w.group(name)
				start := time.Now()
				first := w.add(name, name, tc.expr)
				firstTook := time.Since(start)
				start = time.Now()
				again, err := w.rules.Apply(b.Context(), name, "admin:bench")
				againTook := time.Since(start)
				if err != nil {
					b.Fatal(err)
				}
				if first.Joined != tc.want || again.Joined != 0 || again.Left != 0 || again.Matched != tc.want {
					b.Fatalf("first %+v, again %+v; want %d joined, then no change", first, again, tc.want)
				}
				b.ReportMetric(firstTook.Seconds(), "first-s")
				b.ReportMetric(againTook.Seconds(), "again-s")
			}
			b.ReportMetric(n, "users")
		})
	}
}

// BenchmarkProfileChangeToApp measures, over changes of department made
// one after another, the time from the commit of a user's profile change
// to the app's groups holding the user in its new rule group and no
// longer in its old one: 2,000 users of two rule groups pushed to a SCIM
// app, the rule engine and provisioning running and woken by the commits
// as in the hub. It reports p50, p99 and the worst; and, apart, the rule
// engine's share: until the hub's two groups show the move (rule-p50,
// rule-p99), the rest being provisioning's pushes.
func BenchmarkProfileChangeToApp(b *testing.B) {
	const n, changes = 2000, 200
	ps := make([]person, n)
	for i := range ps {
		ps[i] = person{name: fmt.Sprintf("user%05d", i), department: []string{"eng", "sales"}[i%2]}
	}
	w, p, eng, sales := movesWorld(b, ps)
	groupOf := map[string]string{"eng-auto": eng.ID, "sales-auto": sales.ID}

	for b.Loop() {
		var lat, rule []time.Duration
		for i := range changes {
			u := ps[(i*7)%n]
			from, to := u.department+"-auto", map[string]string{"eng": "sales", "sales": "eng"}[u.department]
			u.department = to
			ps[(i*7)%n] = u
			remote, ok := p.srv.UserByName(u.name + "@corp.example")
			if !ok {
				b.Fatalf("%s has no account in the app", u.name)
			}
			id, hubID := fmt.Sprint(remote["id"]), w.user(u.name).ID
			start := time.Now()
			w.apply(userObject(u))
			ruled := time.Duration(0)
			eventually.That(b, fmt.Sprintf("change %d (%s to %s) in the app", i, u.name, to), func() (bool, string) {
				if ruled == 0 {
					d, err := w.st.DirectGroups(b.Context(), []string{hubID})
					if err != nil {
						b.Fatal(err)
					}
					if slices.Equal(d[hubID], []string{groupOf[to+"-auto"]}) {
						ruled = time.Since(start)
					}
				}
				return p.moved(id, to+"-auto", from), fmt.Sprintf("the hub's groups moved after %v", ruled)
			})
			lat = append(lat, time.Since(start))
			rule = append(rule, cmp.Or(ruled, time.Since(start)))
		}
		report := func(ds []time.Duration, prefix string) {
			slices.Sort(ds)
			b.ReportMetric(float64(ds[len(ds)/2].Microseconds())/1000, prefix+"p50-ms")
			b.ReportMetric(float64(ds[len(ds)*99/100].Microseconds())/1000, prefix+"p99-ms")
		}
		report(lat, "")
		report(rule, "rule-")
		b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
	}
	b.ReportMetric(changes, "changes")
}
