//go:build linux

// Command bench is `make bench`: it measures a full import of a generated
// directory end to end and sets it beside the two ways of reading the same
// entries without idsync.
//
// One local slapd is loaded with N users and M groups (slapadd). The entries
// idsync reads — the hub's filters and attribute lists for an OpenLDAP
// directory — are then read, several times each, by
//
//   - ldapsearch -E pr=500/noprompt (OpenLDAP's client, output counted),
//   - a bare go-ldap paged SearchAsync loop in this process (entries
//     discarded), and
//   - idsync itself: the real idsync-hub (SQLite), an enrolled idsync-agent
//     and `idsyncctl import start --full --wait`, first on an empty hub (all
//     created) and again (all unchanged), on a fresh hub for every run.
//
// It prints wall times, entries per second, the ratios of idsync to the raw
// reads, CPU seconds per process, the peak RSS (VmHWM) of agent and hub, the
// size of the hub's SQLite files, and the targets with PASS or MISS. A missed
// target is information; the exit status is non-zero only when something
// broke (a process failed, a count was wrong) or the run was interrupted.
//
// With -capture (the default) it then measures change capture on the last
// idsync stack, whose capture runs since its first import: the latency from
// an LDAP modify in slapd to the change committed in the hub over 1,000
// changes at 50 per second (p50, p99), a burst of 10,000 changes drained,
// and the same latency against a Samba AD DC of its own (DirSync, 50
// changes) when samba is installed. A change counts as committed when a
// read-only connection to the hub's SQLite store sees it (capture.go says
// how); nothing in the product is instrumented.
//
// With -push (the default) it then measures provisioning: a slapd of its
// own holds -push-users users (10,000) in one group, a fresh hub imports
// them, and an app with concurrency 8 pointing at a scimtest server in
// this process gets the group assigned. The push runs from the assign
// command until the app holds every user and the hub's queue is empty;
// the baseline sends the same bodies through server/scim from 8
// goroutines to a fresh scimtest server. It prints users per second, end
// to end time, the queue's overhead over the baseline, the hub's CPU and
// peak RSS during the push, and the phases of the push dated by the hub's
// own stamps in its store (push.go says how). -import=false skips the
// imports and change capture, to measure the push alone.
//
// With -rules (the default) it then runs the group rules' Go benchmarks
// (server/rules/bench_test.go, through go test -bench): a rule over
// 100,000 users evaluated in full, first and again, and a profile change
// reaching a SCIM app's rule groups (p50, p99 over 200 changes), and holds
// them to the targets.
//
// With -csv (the default) it then imports a generated HR export of
// -csv-rows rows (100,000) into a csv directory of a fresh hub with
// `idsyncctl import start --file --full --wait`, timed from the command's
// start to the run's end: into an empty directory, the same file again,
// and a file with a tenth of its rows changed and 1% gone (csv.go); the
// issue's target is under 10 s for the first.
// With -scale (10,000 and 100,000 users; -scale-1m adds 1,000,000) it
// then runs the scale run (scale.go): per size a slapd of its own and, per
// store (-scale-stores: SQLite and PostgreSQL, a PostgreSQL of its own as
// the tests start it), a fresh hub through a first import, a re-import, a
// backlog of 10,000 changes drained from the checkpoint and a push of
// 10,000 users, each with its time and the hub's (and PostgreSQL's) CPU,
// then the peak RSS of agent and hub and the store's size, and the agent's
// peak of each phase (VmHWM reset through /proc/PID/clear_refs).
//
// With -hub-cpuprofile DIR each hub profiles its CPU in each measured
// phase (the hub's IDSYNC_HUB_CPUPROFILE, cmd/idsync-hub/profile_unix.go),
// one file per phase in DIR, for go tool pprof. With -agent-heapprofile DIR
// the scale run's agents write heap profiles (the agent's
// IDSYNC_AGENT_HEAPPROFILE, cmd/idsync-agent/profile_unix.go), one folder
// per agent in DIR.
//
// With -console (the default) it runs server/hub's BenchmarkConsolePages
// (consolebench_test.go, through go test -bench): a hub whose SQLite store
// holds 100,000 users and 1,000 groups, every console page loaded 50
// times over HTTP, its p50 and p99 printed and the p99 held to 150 ms.
//
// Linux only: it reads /proc.
//
// It may import the stack helpers (`internal/devstack`,
// `internal/testserver`, `internal/gendir`, `internal/scimtest`), go-ldap
// (`github.com/go-ldap/ldap/v3`), `server/ingest` with `server/store` for
// the filters and attributes the hub sends an agent, `server/scim` for the
// provisioning baseline, the SQLite driver (`modernc.org/sqlite`) and pgx's
// database/sql driver (`github.com/jackc/pgx/v5/stdlib`) to observe the
// hub's store from outside, and `golang.org/x/sync/errgroup`.
package main
