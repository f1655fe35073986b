//go:build linux

package e2e

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/idsync/idsync/internal/gendir"
	"github.com/idsync/idsync/internal/testserver"
)

// churn is a seeded change driver: several workers write a stream of adds,
// modifies, renames, moves, deletes and membership changes to a directory
// at once, and count the writes each object received.
//
// Each worker owns a disjoint part of the directory (user i and group j
// belong to worker i mod W and j mod W, and a worker only puts its own
// users in its own groups), so its sequence of operations is fixed by the
// seed and no two workers race on an object; only the interleaving of the
// workers varies between runs.
//
// Objects are known by a tag the driver never changes, which the hub
// shows: a user's employeeNumber, a group's description. counts[tag] is
// what the exactly-once check bounds the hub's revision with:
//
//   - 1 for the creation (a preloaded object, or the driver's add);
//   - +1 for every write the driver sent naming the object — a modify of
//     its attributes, a rename or move (modify DN), its delete, and for a
//     group every modify of its member attribute (membership changes, and
//     on OpenLDAP the referential-integrity edits that follow a member's
//     rename, move or delete, which the driver makes itself);
//   - on AD, +1 for a group whenever the driver renames, moves or deletes a
//     user in it: the server rewrites or drops the member value itself
//     (linked attributes), a change of the group nobody sent;
//   - a write counts when it is sent, whatever its outcome: while the
//     server is being killed a write may have been applied or not, and the
//     count is an upper bound.
//
// The hub's revision counts its real writes of an object (create, update,
// restore, delete). Syncrepl and DirSync coalesce changes, so a revision
// below the count is expected; one above it means the hub applied some
// change twice.
type churn struct {
	opts churnOptions
	ep   *testserver.Endpoint
	gen  *gendir.Generator
	base string

	issued atomic.Int64 // writes reserved so far
	start  time.Time

	mu     sync.Mutex
	counts map[string]int            // by tag
	ops    map[string]int            // writes by operation, for the log
	errs   map[string]map[string]int // retried failures by operation and cause
}

// churnOptions shape a churn.
type churnOptions struct {
	flavor gendir.Flavor
	seed   uint64
	// users and groups are preloaded; workers own user i and group j when
	// i mod workers and j mod workers are their number.
	users, groups, workers int
	// changes is the number of LDAP writes in all.
	changes int
	// rate caps the writes per second of all workers together; 0: as fast
	// as the server takes them.
	rate float64
	// weights, when set, replace the weights of the operations they name
	// ("rename user", …; 0 leaves one out).
	weights map[string]int
}

func newChurn(o churnOptions, base string) (*churn, error) {
	gen, err := gendir.New(gendir.Options{Flavor: o.flavor, BaseDN: base, Seed: o.seed, Users: o.users, MailDomain: "idsync.test"})
	if err != nil {
		return nil, err
	}
	c := &churn{opts: o, gen: gen, base: base, counts: map[string]int{}, ops: map[string]int{},
		errs: map[string]map[string]int{}}
	return c, nil
}

func (c *churn) ad() bool { return c.opts.flavor == gendir.AD }

// The two containers of each kind that moves go between.
func (c *churn) userOUs() [2]string {
	if c.ad() {
		return [2]string{c.gen.PeopleDN(), "OU=Staff," + c.base}
	}
	return [2]string{c.gen.PeopleDN(), "ou=staff," + c.base}
}

func (c *churn) groupOUs() [2]string {
	if c.ad() {
		return [2]string{c.gen.GroupsDN(), "OU=Teams," + c.base}
	}
	return [2]string{c.gen.GroupsDN(), "ou=teams," + c.base}
}

func userTag(i int) string  { return fmt.Sprintf("E%07d", i) }
func groupTag(j int) string { return fmt.Sprintf("G%05d", j) }

// tagIndex parses a tag back to its index; -1 when it is not one.
func tagIndex(tag string, prefix byte) int {
	if len(tag) < 2 || tag[0] != prefix {
		return -1
	}
	n, err := strconv.Atoi(tag[1:])
	if err != nil {
		return -1
	}
	return n
}

// groupClass is the kind of group j on OpenLDAP: groupOfNames,
// groupOfUniqueNames or posixGroup in turn; AD has one kind.
func (c *churn) groupClass(j int) string {
	if c.ad() {
		return "group"
	}
	return []string{"groupOfNames", "groupOfUniqueNames", "posixGroup"}[j%3]
}

func memberAttrOf(class string) string {
	switch class {
	case "groupOfUniqueNames":
		return "uniqueMember"
	case "posixGroup":
		return "memberUid"
	}
	return "member"
}

// user returns the entry of user i as the driver adds it: gendir's, without
// a manager (on AD a manager is a linked attribute the server rewrites on
// the manager's rename, which would be a change nobody sent), and on AD
// with an account name of this run's own.
func (c *churn) user(i int) gendir.Entry {
	e := c.gen.User(i)
	e.Attrs = slices.DeleteFunc(slices.Clone(e.Attrs), func(a gendir.Attr) bool { return strings.EqualFold(a.Name, "manager") })
	if c.ad() {
		for k, a := range e.Attrs {
			switch a.Name {
			case "sAMAccountName":
				e.Attrs[k].Values = []string{c.account(i)}
			case "userPrincipalName":
				e.Attrs[k].Values = []string{c.account(i) + "@idsync.test"}
			}
		}
	}
	return e
}

// account is user i's uid (sAMAccountName on AD). Account names are unique
// in the whole AD domain, which other tests share: there they carry a salt
// of the run's base DN (a fresh OU).
func (c *churn) account(i int) string {
	if c.ad() {
		return fmt.Sprintf("x%s%d", c.salt(), i)
	}
	return c.gen.UserUID(i)
}

func (c *churn) salt() string {
	h := fnv.New32a()
	h.Write([]byte(c.base))
	return fmt.Sprintf("%05x", h.Sum32()&0xfffff)
}

// group returns the entry of group j with the given members.
func (c *churn) group(j int, dn string, members []*cUser) gendir.Entry {
	class := c.groupClass(j)
	cn := groupCN(j, 0)
	attrs := []gendir.Attr{{Name: "objectClass", Values: []string{"top", class}}, {Name: "cn", Values: []string{cn}},
		{Name: "description", Values: []string{groupTag(j)}}}
	switch class {
	case "posixGroup":
		attrs = append(attrs, gendir.Attr{Name: "gidNumber", Values: []string{strconv.Itoa(20000 + j)}})
	case "group":
		attrs = append(attrs, gendir.Attr{Name: "sAMAccountName", Values: []string{fmt.Sprintf("g%s%d", c.salt(), j)}})
	}
	if len(members) > 0 {
		vals := make([]string, len(members))
		for k, u := range members {
			vals[k] = u.memberValue(class)
		}
		attrs = append(attrs, gendir.Attr{Name: memberAttrOf(class), Values: vals})
	}
	return gendir.Entry{DN: dn, Attrs: attrs}
}

// groupCN names group j, renamed for the seq-th time when seq > 0.
func groupCN(j, seq int) string {
	if seq == 0 {
		return fmt.Sprintf("Team %05d", j)
	}
	return fmt.Sprintf("Team %05d r%d", j, seq)
}

// fixture returns the preloaded entries, parents first, and counts their
// creation: the containers, the users, and groups of 3 to 15 members of
// their owner's users.
func (c *churn) fixture() []gendir.Entry {
	ou := func(dn string) gendir.Entry {
		name, _, _ := strings.Cut(strings.SplitN(dn, "=", 2)[1], ",")
		return gendir.Entry{DN: dn, Attrs: []gendir.Attr{{Name: "objectClass", Values: []string{"top", "organizationalUnit"}},
			{Name: "ou", Values: []string{name}}}}
	}
	uo, gou := c.userOUs(), c.groupOUs()
	out := []gendir.Entry{ou(uo[0]), ou(uo[1]), ou(gou[0]), ou(gou[1])}
	users := make([]*cUser, c.opts.users)
	for i := range c.opts.users {
		e := c.user(i)
		out = append(out, e)
		users[i] = c.modelUser(i, e)
		c.counts[userTag(i)] = 1
	}
	W := c.opts.workers
	for j := range c.opts.groups {
		rng := rand.New(rand.NewPCG(c.opts.seed, uint64(1_000_000+j)))
		var own []*cUser
		for i := j % W; i < c.opts.users; i += W {
			own = append(own, users[i])
		}
		n := min(len(own), 3+rng.IntN(13))
		rng.Shuffle(len(own), func(a, b int) { own[a], own[b] = own[b], own[a] })
		out = append(out, c.group(j, c.groupDN(groupCN(j, 0), gou[0]), own[:n]))
		c.counts[groupTag(j)] = 1
	}
	return out
}

func (c *churn) groupDN(cn, ou string) string {
	if c.ad() {
		return "CN=" + ldap.EscapeDN(cn) + "," + ou
	}
	return "cn=" + ldap.EscapeDN(cn) + "," + ou
}

// modelUser is user i as the driver adds it, before the server names it.
func (c *churn) modelUser(i int, e gendir.Entry) *cUser {
	u := &cUser{i: i, tag: userTag(i), dn: e.DN, alive: true, groups: map[*cGroup]bool{}}
	u.uid = c.account(i)
	u.cn = e.Get("cn")[0]
	u.ou = c.userOUs()[0]
	return u
}

// addTo adds the fixture to a running server over LDAP: containers, then
// users with several connections, then groups.
func addFixture(ctx context.Context, ep *testserver.Endpoint, entries []gendir.Entry, workers int) error {
	var users, rest []gendir.Entry
	for _, e := range entries {
		if len(e.Get("employeeNumber")) > 0 {
			users = append(users, e)
		} else {
			rest = append(rest, e)
		}
	}
	for _, e := range rest[:4] { // the four containers
		if err := ep.Add(ctx, e); err != nil {
			return err
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, workers)
	for k := range workers {
		wg.Go(func() {
			conn, err := ep.Conn(ctx)
			if err != nil {
				errs[k] = err
				return
			}
			defer conn.Close()
			for i := k; i < len(users); i += workers {
				if err := addEntryConn(conn, users[i]); err != nil {
					errs[k] = err
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for _, e := range rest[4:] {
		if err := ep.Add(ctx, e); err != nil {
			return err
		}
	}
	return nil
}

func addEntryConn(conn *ldap.Conn, e gendir.Entry) error {
	req := ldap.NewAddRequest(e.DN, nil)
	for _, a := range e.Attrs {
		req.Attribute(a.Name, a.Values)
	}
	if err := conn.Add(req); err != nil {
		return fmt.Errorf("adding %s: %w", e.DN, err)
	}
	return nil
}

// cUser and cGroup are a worker's model of its objects.
type cUser struct {
	i           int
	tag         string
	uid, cn, ou string
	dn          string
	alive       bool
	groups      map[*cGroup]bool
}

// memberValue is what a group of class lists for the user.
func (u *cUser) memberValue(class string) string {
	if class == "posixGroup" {
		return u.uid
	}
	return u.dn
}

type cGroup struct {
	j       int
	tag     string
	class   string
	ou, dn  string
	alive   bool
	members map[*cUser]bool
	// dangling are member values that name none of the worker's users:
	// left by a rename, move or delete that the server applied just before
	// it went away, whose group edits were never sent.
	dangling []string
}

// needsMember says the group's schema requires at least one member.
func (g *cGroup) needsMember() bool {
	return g.class == "groupOfNames" || g.class == "groupOfUniqueNames"
}

// count records writes sent to the objects of tags.
func (c *churn) count(op string, tags ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ops[op]++
	for _, t := range tags {
		c.counts[t]++
	}
}

// reserve takes one write from the budget, waiting for the rate; false
// when the budget is spent.
func (c *churn) reserve(ctx context.Context) bool {
	n := c.issued.Add(1)
	if n > int64(c.opts.changes) {
		return false
	}
	if c.opts.rate > 0 {
		at := c.start.Add(time.Duration(float64(n-1) / c.opts.rate * float64(time.Second)))
		if d := time.Until(at); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
				return false
			}
		}
	}
	return true
}

// Done returns how many writes have been sent or are being sent.
func (c *churn) done() int { return int(min(c.issued.Load(), int64(c.opts.changes))) }

// counted returns a copy of the per-tag counts.
func (c *churn) counted() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.counts)
}

// summary says what was written, for the test log.
func (c *churn) summary() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var parts []string
	total := 0
	for _, k := range slices.Sorted(maps.Keys(c.ops)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, c.ops[k]))
		total += c.ops[k]
	}
	s := fmt.Sprintf("%d writes (%s)", total, strings.Join(parts, ", "))
	for op, causes := range c.errs {
		for cause, n := range causes {
			s += fmt.Sprintf("; %d × %s failed and was re-read: %s", n, op, cause)
		}
	}
	return s
}

// run drives the stream to its end, or until ctx ends or a write fails
// for a reason other than the server going away.
func (c *churn) run(ctx context.Context, ep *testserver.Endpoint) error {
	c.ep = ep
	c.start = time.Now()
	errs := make([]error, c.opts.workers)
	var wg sync.WaitGroup
	for w := range c.opts.workers {
		wg.Go(func() {
			wk := &worker{c: c, w: w, rng: rand.New(rand.NewPCG(c.opts.seed, uint64(w))),
				users: map[string]*cUser{}, groups: map[string]*cGroup{}}
			errs[w] = wk.run(ctx)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// worker is one connection's share of the stream.
type worker struct {
	c      *churn
	w      int
	rng    *rand.Rand
	conn   *ldap.Conn
	seq    int // operations begun, for fresh names and values
	kU, kG int // users and groups added
	users  map[string]*cUser
	groups map[string]*cGroup
	ulist  []*cUser // in tag order, for seeded picks
	glist  []*cGroup
}

// errStale says a write failed because the server went away: the worker
// reconnected and re-read its objects, and picks its next operation afresh.
var errStale = errors.New("server went away; objects re-read")

// errSkip says an operation does not apply to what was picked.
var errSkip = errors.New("operation does not apply")

func (wk *worker) run(ctx context.Context) error {
	defer func() {
		if wk.conn != nil {
			wk.conn.Close()
		}
	}()
	if err := wk.reconnect(ctx); err != nil {
		return err
	}
	type op struct {
		name   string
		weight int
		do     func(context.Context) error
	}
	ops := []op{
		{"modify user", 30, wk.modifyUser},
		{"add user", 9, wk.addUser},
		{"delete user", 7, wk.deleteUser},
		{"rename user", 8, wk.renameUser},
		{"move user", 8, wk.moveUser},
		{"join group", 16, wk.joinGroup},
		{"leave group", 12, wk.leaveGroup},
		{"rename group", 3, wk.renameGroup},
		{"move group", 3, wk.moveGroup},
		{"add group", 3, wk.addGroup},
		{"delete group", 2, wk.deleteGroup},
	}
	total := 0
	for k, o := range ops {
		if w, ok := wk.c.opts.weights[o.name]; ok {
			ops[k].weight = w
		}
		total += ops[k].weight
	}
	for ctx.Err() == nil && wk.c.issued.Load() < int64(wk.c.opts.changes) {
		n := wk.rng.IntN(total)
		var o op
		for _, o = range ops {
			if n < o.weight {
				break
			}
			n -= o.weight
		}
		wk.seq++
		err := wk.repair(ctx)
		if err == nil {
			err = o.do(ctx)
		}
		switch {
		case err == nil, errors.Is(err, errSkip), errors.Is(err, errStale):
		case errors.Is(err, errBudget) || ctx.Err() != nil:
			return nil
		default:
			return fmt.Errorf("worker %d, %s: %w", wk.w, o.name, err)
		}
	}
	return nil
}

// errBudget says the stream's writes are all spent.
var errBudget = errors.New("write budget spent")

// write sends one write naming the objects of tags (counted before it is
// sent). When the server went away it reconnects, re-reads the worker's
// objects and returns errStale.
func (wk *worker) write(ctx context.Context, op string, tags []string, fn func(*ldap.Conn) error) error {
	if !wk.c.reserve(ctx) {
		return errBudget
	}
	wk.c.count(op, tags...)
	err := fn(wk.conn)
	if err == nil {
		return nil
	}
	if !serverGone(err) && !wk.conn.IsClosing() {
		return err
	}
	wk.c.mu.Lock()
	if wk.c.errs[op] == nil {
		wk.c.errs[op] = map[string]int{}
	}
	wk.c.errs[op][ldapCause(err)]++
	wk.c.mu.Unlock()
	if err := wk.reconnect(ctx); err != nil {
		return err
	}
	return errStale
}

// serverGone says an LDAP error means the server (or the connection) went
// away, so that the write may or may not have been applied.
func serverGone(err error) bool {
	for _, code := range []uint16{ldap.ErrorNetwork, ldap.LDAPResultBusy, ldap.LDAPResultUnavailable} {
		if ldap.IsErrorWithCode(err, code) {
			return true
		}
	}
	return false
}

func ldapCause(err error) string {
	var le *ldap.Error
	if errors.As(err, &le) {
		return ldap.LDAPResultCodeMap[le.ResultCode]
	}
	return "connection lost"
}

// reconnect dials until the server answers, then re-reads the worker's
// objects.
func (wk *worker) reconnect(ctx context.Context) error {
	if wk.conn != nil {
		wk.conn.Close()
		wk.conn = nil
	}
	for {
		conn, err := wk.c.ep.Conn(ctx)
		if err == nil {
			wk.conn = conn
			if err = wk.reread(); err == nil {
				return nil
			}
			closing := conn.IsClosing()
			conn.Close()
			wk.conn = nil
			if !serverGone(err) && !closing {
				return fmt.Errorf("re-reading worker %d's objects: %w", wk.w, err)
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// reread rebuilds the worker's model from the directory: after a write
// whose outcome is unknown, the directory is the truth.
func (wk *worker) reread() error {
	c := wk.c
	filter := "(|(objectClass=inetOrgPerson)(objectClass=groupOfNames)(objectClass=groupOfUniqueNames)(objectClass=posixGroup))"
	if c.ad() {
		filter = "(|(&(objectCategory=person)(objectClass=user))(objectClass=group))"
	}
	res, err := wk.conn.SearchWithPaging(ldap.NewSearchRequest(c.base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		filter, []string{"objectClass", "employeeNumber", "description", "uid", "sAMAccountName", "cn", "member", "uniqueMember", "memberUid"}, nil), 500)
	if err != nil {
		return err
	}
	for _, u := range wk.users {
		u.alive, u.groups = false, map[*cGroup]bool{}
	}
	for _, g := range wk.groups {
		g.alive, g.members, g.dangling = false, map[*cUser]bool{}, nil
	}
	byDN, byUID := map[string]*cUser{}, map[string]*cUser{}
	var groups []*ldap.Entry
	for _, e := range res.Entries {
		if tag := e.GetAttributeValue("employeeNumber"); tag != "" {
			i := tagIndex(tag, 'E')
			if i < 0 || i%c.opts.workers != wk.w {
				continue
			}
			u := wk.users[tag]
			if u == nil {
				u = &cUser{i: i, tag: tag, groups: map[*cGroup]bool{}}
				wk.users[tag] = u
			}
			u.alive, u.dn, u.cn = true, e.DN, e.GetAttributeValue("cn")
			u.uid = e.GetAttributeValue("uid")
			if c.ad() {
				u.uid = e.GetAttributeValue("sAMAccountName")
			}
			u.ou = parentDN(e.DN)
			byDN[strings.ToLower(e.DN)], byUID[u.uid] = u, u
			continue
		}
		groups = append(groups, e)
	}
	for _, e := range groups {
		tag := e.GetAttributeValue("description")
		j := tagIndex(tag, 'G')
		if j < 0 || j%c.opts.workers != wk.w {
			continue
		}
		g := wk.groups[tag]
		if g == nil {
			g = &cGroup{j: j, tag: tag, class: c.groupClass(j), members: map[*cUser]bool{}}
			wk.groups[tag] = g
		}
		g.alive, g.dn, g.ou = true, e.DN, parentDN(e.DN)
		for _, v := range e.GetAttributeValues(memberAttrOf(g.class)) {
			u := byDN[strings.ToLower(v)]
			if g.class == "posixGroup" {
				u = byUID[v]
			}
			if u == nil {
				g.dangling = append(g.dangling, v)
				continue
			}
			g.members[u], u.groups[g] = true, true
		}
	}
	wk.ulist = sortedByTag(wk.users)
	wk.glist = sortedByTag(wk.groups)
	return nil
}

func sortedByTag[T interface{ tagOf() string }](m map[string]T) []T {
	out := make([]T, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].tagOf() < out[b].tagOf() })
	return out
}

func (u *cUser) tagOf() string  { return u.tag }
func (g *cGroup) tagOf() string { return g.tag }

func parentDN(dn string) string {
	_, parent, _ := strings.Cut(dn, ",")
	return parent
}

// repair removes dangling member values (adding a member first where the
// schema needs one), as the referential integrity edits would have.
func (wk *worker) repair(ctx context.Context) error {
	for _, g := range wk.glist {
		if !g.alive || len(g.dangling) == 0 {
			continue
		}
		attr := memberAttrOf(g.class)
		req := ldap.NewModifyRequest(g.dn, nil)
		var add *cUser
		if g.needsMember() && len(g.members) == 0 {
			if add = wk.pickUser(); add == nil {
				return fmt.Errorf("group %s: no live user to replace its dangling members with", g.dn)
			}
			req.Add(attr, []string{add.memberValue(g.class)})
		}
		req.Delete(attr, g.dangling)
		if err := wk.write(ctx, "repair group", []string{g.tag}, func(c *ldap.Conn) error { return c.Modify(req) }); err != nil {
			return err
		}
		g.dangling = nil
		if add != nil {
			g.members[add], add.groups[g] = true, true
		}
	}
	return nil
}

// pickUser returns a random live user of the worker, or nil.
func (wk *worker) pickUser() *cUser {
	for range 20 {
		if len(wk.ulist) == 0 {
			return nil
		}
		if u := wk.ulist[wk.rng.IntN(len(wk.ulist))]; u.alive {
			return u
		}
	}
	return nil
}

// pickGroup returns a random live group of the worker for which ok holds,
// or nil.
func (wk *worker) pickGroup(ok func(*cGroup) bool) *cGroup {
	for range 20 {
		if len(wk.glist) == 0 {
			return nil
		}
		if g := wk.glist[wk.rng.IntN(len(wk.glist))]; g.alive && ok(g) {
			return g
		}
	}
	return nil
}

func (wk *worker) liveGroups() int {
	n := 0
	for _, g := range wk.glist {
		if g.alive {
			n++
		}
	}
	return n
}

// sortedGroups returns the user's groups in tag order, for a seeded order
// of writes.
func (u *cUser) sortedGroups() []*cGroup {
	gs := slices.Collect(maps.Keys(u.groups))
	sort.Slice(gs, func(a, b int) bool { return gs[a].tag < gs[b].tag })
	return gs
}

func (wk *worker) modifyUser(ctx context.Context) error {
	u := wk.pickUser()
	if u == nil {
		return errSkip
	}
	attrs := []string{"title", "departmentNumber", "displayName", "mail", "givenName", "sn"}
	if wk.c.ad() {
		attrs = append(attrs, "userAccountControl")
	}
	req := ldap.NewModifyRequest(u.dn, nil)
	for _, k := range wk.rng.Perm(len(attrs))[:1+wk.rng.IntN(2)] {
		a := attrs[k]
		v := fmt.Sprintf("%s w%d-%d", a, wk.w, wk.seq)
		switch a {
		case "mail":
			v = fmt.Sprintf("u%d.%d@idsync.test", u.i, wk.seq)
		case "departmentNumber":
			v = strconv.Itoa(wk.seq)
		case "userAccountControl":
			v = []string{"544", "546"}[wk.rng.IntN(2)] // 546: disabled, suspended in the hub
		}
		req.Replace(a, []string{v})
	}
	return wk.write(ctx, "modify user", []string{u.tag}, func(c *ldap.Conn) error { return c.Modify(req) })
}

func (wk *worker) addUser(ctx context.Context) error {
	c := wk.c
	i := c.opts.users + c.opts.workers*wk.kU + wk.w
	wk.kU++
	e := c.user(i)
	u := c.modelUser(i, e)
	// The add counts as the creation.
	if err := wk.write(ctx, "add user", []string{u.tag}, func(conn *ldap.Conn) error { return addEntryConn(conn, e) }); err != nil {
		return err
	}
	wk.users[u.tag] = u
	wk.ulist = append(wk.ulist, u)
	return nil
}

// impliedOnAD returns the tags of the user's groups when the server itself
// rewrites their member values (AD), for the count.
func (wk *worker) impliedOnAD(u *cUser) []string {
	var tags []string
	if wk.c.ad() {
		for _, g := range u.sortedGroups() {
			tags = append(tags, g.tag)
		}
	}
	return tags
}

func (wk *worker) deleteUser(ctx context.Context) error {
	u := wk.pickUser()
	if u == nil {
		return errSkip
	}
	if !wk.c.ad() {
		// OpenLDAP keeps no referential integrity here: the driver removes
		// the user from its groups first, as the refint overlay would.
		for g := range u.groups {
			if g.needsMember() && len(g.members) == 1 {
				return errSkip // its group would be left without a member
			}
		}
		for _, g := range u.sortedGroups() {
			if err := wk.setMember(ctx, "leave group (delete)", g, u, false); err != nil {
				return err
			}
		}
	}
	if err := wk.del(ctx, "delete user", u.dn, append([]string{u.tag}, wk.impliedOnAD(u)...)); err != nil {
		return err
	}
	u.alive = false
	for g := range u.groups {
		delete(g.members, u)
	}
	u.groups = map[*cGroup]bool{}
	return nil
}

// del deletes the entry dn, counted for tags.
func (wk *worker) del(ctx context.Context, op, dn string, tags []string) error {
	return wk.write(ctx, op, tags, func(c *ldap.Conn) error { return c.Del(ldap.NewDelRequest(dn, nil)) })
}

// setMember adds or removes the user's value in the group.
func (wk *worker) setMember(ctx context.Context, op string, g *cGroup, u *cUser, add bool) error {
	req := ldap.NewModifyRequest(g.dn, nil)
	if add {
		req.Add(memberAttrOf(g.class), []string{u.memberValue(g.class)})
	} else {
		req.Delete(memberAttrOf(g.class), []string{u.memberValue(g.class)})
	}
	if err := wk.write(ctx, op, []string{g.tag}, func(c *ldap.Conn) error { return c.Modify(req) }); err != nil {
		return err
	}
	if add {
		g.members[u], u.groups[g] = true, true
	} else {
		delete(g.members, u)
		delete(u.groups, g)
	}
	return nil
}

// renameOrMove renames the user (new RDN value) or moves it to the other
// container, then, on OpenLDAP, rewrites its value in the groups that list
// it.
func (wk *worker) renameOrMove(ctx context.Context, move bool) error {
	u := wk.pickUser()
	if u == nil {
		return errSkip
	}
	c := wk.c
	oldDN, oldUID := u.dn, u.uid
	uid, cn, ou := u.uid, u.cn, u.ou
	op := "rename user"
	if move {
		op = "move user"
		ous := c.userOUs()
		ou = ous[0]
		if strings.EqualFold(u.ou, ous[0]) {
			ou = ous[1]
		}
	} else if c.ad() {
		cn = fmt.Sprintf("%s r%d", c.gen.UserUID(u.i), wk.seq)
	} else {
		uid = fmt.Sprintf("%s-r%d", c.gen.UserUID(u.i), wk.seq)
	}
	rdn := "uid=" + ldap.EscapeDN(uid)
	if c.ad() {
		rdn = "CN=" + ldap.EscapeDN(cn)
	}
	superior := ""
	if move {
		superior = ou
	}
	req := ldap.NewModifyDNRequest(oldDN, rdn, true, superior)
	if err := wk.write(ctx, op, append([]string{u.tag}, wk.impliedOnAD(u)...), func(conn *ldap.Conn) error { return conn.ModifyDN(req) }); err != nil {
		return err
	}
	u.uid, u.cn, u.ou, u.dn = uid, cn, ou, rdn+","+ou
	if c.ad() {
		return nil
	}
	for _, g := range u.sortedGroups() {
		old := oldDN
		if g.class == "posixGroup" {
			if move {
				continue // memberUid names the uid, which a move keeps
			}
			old = oldUID
		}
		req := ldap.NewModifyRequest(g.dn, nil)
		req.Delete(memberAttrOf(g.class), []string{old})
		req.Add(memberAttrOf(g.class), []string{u.memberValue(g.class)})
		if err := wk.write(ctx, op+" (group)", []string{g.tag}, func(conn *ldap.Conn) error { return conn.Modify(req) }); err != nil {
			return err
		}
	}
	return nil
}

func (wk *worker) renameUser(ctx context.Context) error { return wk.renameOrMove(ctx, false) }
func (wk *worker) moveUser(ctx context.Context) error   { return wk.renameOrMove(ctx, true) }

func (wk *worker) joinGroup(ctx context.Context) error {
	u := wk.pickUser()
	if u == nil {
		return errSkip
	}
	g := wk.pickGroup(func(g *cGroup) bool { return !g.members[u] })
	if g == nil {
		return errSkip
	}
	return wk.setMember(ctx, "join group", g, u, true)
}

func (wk *worker) leaveGroup(ctx context.Context) error {
	g := wk.pickGroup(func(g *cGroup) bool { return len(g.members) > 1 || (!g.needsMember() && len(g.members) > 0) })
	if g == nil {
		return errSkip
	}
	members := slices.Collect(maps.Keys(g.members))
	sort.Slice(members, func(a, b int) bool { return members[a].tag < members[b].tag })
	return wk.setMember(ctx, "leave group", g, members[wk.rng.IntN(len(members))], false)
}

// renameOrMoveGroup renames the group or moves it to the other container.
func (wk *worker) renameOrMoveGroup(ctx context.Context, move bool) error {
	g := wk.pickGroup(func(*cGroup) bool { return true })
	if g == nil {
		return errSkip
	}
	c := wk.c
	rdn, _, _ := strings.Cut(g.dn, ",")
	ou, superior, op := g.ou, "", "move group"
	if move {
		ous := c.groupOUs()
		ou = ous[0]
		if strings.EqualFold(g.ou, ous[0]) {
			ou = ous[1]
		}
		superior = ou
	} else {
		op = "rename group"
		rdn = strings.SplitN(c.groupDN(groupCN(g.j, wk.seq), ou), ",", 2)[0]
	}
	req := ldap.NewModifyDNRequest(g.dn, rdn, true, superior)
	if err := wk.write(ctx, op, []string{g.tag}, func(conn *ldap.Conn) error { return conn.ModifyDN(req) }); err != nil {
		return err
	}
	g.dn, g.ou = rdn+","+ou, ou
	return nil
}

func (wk *worker) renameGroup(ctx context.Context) error { return wk.renameOrMoveGroup(ctx, false) }
func (wk *worker) moveGroup(ctx context.Context) error   { return wk.renameOrMoveGroup(ctx, true) }

func (wk *worker) addGroup(ctx context.Context) error {
	c := wk.c
	var members []*cUser
	for range 1 + wk.rng.IntN(4) {
		if u := wk.pickUser(); u != nil && !slices.Contains(members, u) {
			members = append(members, u)
		}
	}
	if len(members) == 0 {
		return errSkip
	}
	j := c.opts.groups + c.opts.workers*wk.kG + wk.w
	wk.kG++
	g := &cGroup{j: j, tag: groupTag(j), class: c.groupClass(j), ou: c.groupOUs()[0], alive: true, members: map[*cUser]bool{}}
	g.dn = c.groupDN(groupCN(j, 0), g.ou)
	e := c.group(j, g.dn, members)
	if err := wk.write(ctx, "add group", []string{g.tag}, func(conn *ldap.Conn) error { return addEntryConn(conn, e) }); err != nil {
		return err
	}
	for _, u := range members {
		g.members[u], u.groups[g] = true, true
	}
	wk.groups[g.tag] = g
	wk.glist = append(wk.glist, g)
	return nil
}

func (wk *worker) deleteGroup(ctx context.Context) error {
	if wk.liveGroups() <= 3 {
		return errSkip
	}
	g := wk.pickGroup(func(*cGroup) bool { return true })
	if g == nil {
		return errSkip
	}
	if err := wk.del(ctx, "delete group", g.dn, []string{g.tag}); err != nil {
		return err
	}
	g.alive = false
	for u := range g.members {
		delete(u.groups, g)
	}
	g.members = map[*cUser]bool{}
	return nil
}
