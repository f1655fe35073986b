package gendir

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Flavor is the kind of directory the entries are shaped for.
type Flavor int

const (
	// OpenLDAP shapes users as inetOrgPerson under ou=people and groups as
	// groupOfNames, groupOfUniqueNames and posixGroup (in turn) under
	// ou=groups.
	OpenLDAP Flavor = iota
	// AD shapes users as enabled user objects without a password
	// (userAccountControl 544) under OU=People and groups as global security
	// groups under OU=Groups.
	AD
)

// Options say what to generate. The same Options always yield the same
// entries.
type Options struct {
	// Flavor selects the schema.
	Flavor Flavor
	// BaseDN is the entry the people and groups containers go under; it must
	// exist (gendir does not emit it).
	BaseDN string
	// Seed varies names, titles, departments and memberships.
	Seed uint64
	// Users and Groups are the numbers of each to generate.
	Users, Groups int
	// GroupSize, when set, gives the number of members of group j; it is
	// clipped to [1, Users]. When nil, sizes are skewed like a real
	// directory: most groups have up to 25 members, one in ten up to 500.
	GroupSize func(j int) int
	// MailDomain is the domain of mail addresses and, for AD, of
	// userPrincipalName; "example.org" when empty.
	MailDomain string
	// AccountPrefix starts every uid (sAMAccountName) and AD group account
	// name. AD wants those unique in the whole domain, so generators
	// sharing one (tests in their own OUs of one DC) each need their own;
	// at most 2 characters, to keep users within AD's 20.
	AccountPrefix string
}

// Attr is one attribute with its values.
type Attr struct {
	Name   string
	Values []string
}

// Entry is one directory entry.
type Entry struct {
	DN    string
	Attrs []Attr
}

// Get returns the values of the attribute name (case-insensitive), or nil.
func (e Entry) Get(name string) []string {
	for _, a := range e.Attrs {
		if strings.EqualFold(a.Name, name) {
			return a.Values
		}
	}
	return nil
}

// Generator computes entries from Options. It holds no entries, only the
// options, so it is cheap and safe for concurrent use.
type Generator struct {
	opts Options
}

// New checks opts and returns a Generator.
func New(opts Options) (*Generator, error) {
	switch {
	case opts.BaseDN == "":
		return nil, errors.New("gendir: BaseDN is required")
	case opts.Users < 0 || opts.Groups < 0:
		return nil, fmt.Errorf("gendir: Users (%d) and Groups (%d) must not be negative", opts.Users, opts.Groups)
	case opts.Groups > 0 && opts.Users == 0:
		return nil, errors.New("gendir: groups need at least one user to be members")
	case len(opts.AccountPrefix) > 2:
		return nil, fmt.Errorf("gendir: AccountPrefix %q is longer than 2 characters", opts.AccountPrefix)
	case opts.Flavor != OpenLDAP && opts.Flavor != AD:
		return nil, fmt.Errorf("gendir: unknown flavor %d", opts.Flavor)
	}
	if opts.MailDomain == "" {
		opts.MailDomain = "example.org"
	}
	return &Generator{opts: opts}, nil
}

// Options returns the options the generator was made with (defaults filled).
func (g *Generator) Options() Options { return g.opts }

// PeopleDN is the container of the users.
func (g *Generator) PeopleDN() string {
	if g.opts.Flavor == AD {
		return "OU=People," + g.opts.BaseDN
	}
	return "ou=people," + g.opts.BaseDN
}

// GroupsDN is the container of the groups.
func (g *Generator) GroupsDN() string {
	if g.opts.Flavor == AD {
		return "OU=Groups," + g.opts.BaseDN
	}
	return "ou=groups," + g.opts.BaseDN
}

// Containers returns the two organizational units users and groups live in,
// parents first.
func (g *Generator) Containers() []Entry {
	ou := func(dn, name string) Entry {
		return Entry{DN: dn, Attrs: []Attr{
			{"objectClass", []string{"top", "organizationalUnit"}},
			{"ou", []string{name}},
		}}
	}
	if g.opts.Flavor == AD {
		return []Entry{ou(g.PeopleDN(), "People"), ou(g.GroupsDN(), "Groups")}
	}
	return []Entry{ou(g.PeopleDN(), "people"), ou(g.GroupsDN(), "groups")}
}

// person holds the parts of user i that other entries refer to.
type person struct {
	given, sur name
	uid, cn    string
}

func (g *Generator) person(i int) person {
	h := g.hash(kindUser, i)
	given := givenNames[h%uint64(len(givenNames))]
	sur := surnames[(h>>16)%uint64(len(surnames))]
	stem := sur.ascii
	if len(stem) > 10 {
		stem = stem[:10]
	}
	// uid stays within AD's 20-character sAMAccountName limit for indexes
	// below ten million.
	uid := g.opts.AccountPrefix + given.ascii[:1] + stem + strconv.Itoa(i)
	cn := given.text + " " + sur.text
	if g.opts.Flavor == AD {
		// AD names users by CN, which must be unique within the OU.
		cn += " (" + uid + ")"
	}
	return person{given: given, sur: sur, uid: uid, cn: cn}
}

// UserDN returns the DN of user i.
func (g *Generator) UserDN(i int) string {
	p := g.person(i)
	if g.opts.Flavor == AD {
		return "CN=" + p.cn + "," + g.PeopleDN()
	}
	return "uid=" + p.uid + "," + g.PeopleDN()
}

// UserUID returns the uid (sAMAccountName on AD) of user i.
func (g *Generator) UserUID(i int) string { return g.person(i).uid }

// Manager returns the index of user i's manager, or -1 for the top of the
// tree (user 0). Users 8k..8k+7 report to user k, so managers always come
// before their reports in the output.
func (g *Generator) Manager(i int) int {
	if i == 0 {
		return -1
	}
	return i / 8
}

// User returns the entry of user i, exactly as it is written out.
func (g *Generator) User(i int) Entry {
	p := g.person(i)
	h := g.hash(kindUserDetail, i)
	attrs := make([]Attr, 0, 14)
	add := func(name string, values ...string) { attrs = append(attrs, Attr{name, values}) }
	if g.opts.Flavor == AD {
		add("objectClass", "top", "person", "organizationalPerson", "user")
		add("cn", p.cn)
		add("sAMAccountName", p.uid)
		add("userPrincipalName", p.uid+"@"+g.opts.MailDomain)
		add("userAccountControl", "544")
	} else {
		add("objectClass", "top", "person", "organizationalPerson", "inetOrgPerson")
		add("uid", p.uid)
		add("cn", p.cn)
	}
	add("sn", p.sur.text)
	add("givenName", p.given.text)
	add("displayName", p.given.text+" "+p.sur.text)
	add("mail", p.given.ascii+"."+p.sur.ascii+strconv.Itoa(i)+"@"+g.opts.MailDomain)
	add("employeeNumber", fmt.Sprintf("E%07d", i))
	add("departmentNumber", strconv.Itoa(1000+int(h%uint64(len(departments)))))
	add("title", titles[(h>>16)%uint64(len(titles))])
	if m := g.Manager(i); m >= 0 {
		add("manager", g.UserDN(m))
	}
	return Entry{DN: g.UserDN(i), Attrs: attrs}
}

// groupClass is the structural object class of group j.
type groupClass int

const (
	groupOfNames groupClass = iota
	groupOfUniqueNames
	posixGroup
	adGroup
)

func (g *Generator) class(j int) groupClass {
	if g.opts.Flavor == AD {
		return adGroup
	}
	return groupClass(j % 3)
}

// GroupCN returns the cn of group j.
func (g *Generator) GroupCN(j int) string {
	h := g.hash(kindGroup, j)
	return fmt.Sprintf("%s %05d", departments[h%uint64(len(departments))], j)
}

// GroupDN returns the DN of group j.
func (g *Generator) GroupDN(j int) string {
	if g.opts.Flavor == AD {
		return "CN=" + g.GroupCN(j) + "," + g.GroupsDN()
	}
	return "cn=" + g.GroupCN(j) + "," + g.GroupsDN()
}

// MemberAttr returns the attribute that lists the members of group j:
// member, uniqueMember (DNs) or memberUid (uids).
func (g *Generator) MemberAttr(j int) string {
	switch g.class(j) {
	case groupOfUniqueNames:
		return "uniqueMember"
	case posixGroup:
		return "memberUid"
	default:
		return "member"
	}
}

// Group returns the entry of group j, exactly as it is written out. Its
// member list is the only part of the output that grows with a group's size.
func (g *Generator) Group(j int) Entry {
	cn := g.GroupCN(j)
	attrs := make([]Attr, 0, 6)
	add := func(name string, values ...string) { attrs = append(attrs, Attr{name, values}) }
	switch g.class(j) {
	case groupOfNames:
		add("objectClass", "top", "groupOfNames")
	case groupOfUniqueNames:
		add("objectClass", "top", "groupOfUniqueNames")
	case posixGroup:
		add("objectClass", "top", "posixGroup")
		add("gidNumber", strconv.Itoa(10000+j))
	case adGroup:
		add("objectClass", "top", "group")
		add("sAMAccountName", fmt.Sprintf("%sgrp%05d", g.opts.AccountPrefix, j))
	}
	add("cn", cn)
	add("description", "Generated group "+cn)
	members := g.GroupMembers(j)
	values := make([]string, len(members))
	for k, i := range members {
		if g.class(j) == posixGroup {
			values[k] = g.UserUID(i)
		} else {
			values[k] = g.UserDN(i)
		}
	}
	add(g.MemberAttr(j), values...)
	return Entry{DN: g.GroupDN(j), Attrs: attrs}
}

// GroupSize returns the number of members of group j.
func (g *Generator) GroupSize(j int) int {
	n := g.opts.Users
	var s int
	if g.opts.GroupSize != nil {
		s = g.opts.GroupSize(j)
	} else {
		h := g.hash(kindGroupSize, j)
		limit := min(n, 25)
		if h%10 == 0 {
			limit = min(n, 500)
		}
		s = 1 + int((h>>8)%uint64(limit))
	}
	return max(1, min(s, n))
}

// Groups are drawn as arithmetic progressions modulo the number of users,
// member k of group j being user (offset + k·stride) mod n with stride prime
// to n: members are distinct, spread over the whole directory, and whether a
// user is in a group is one modular inverse away, so nothing is stored.
func (g *Generator) progression(j int) (offset, stride uint64) {
	n := uint64(g.opts.Users)
	h := g.hash(kindGroupMembers, j)
	offset = h % n
	stride = (h >> 20) % n
	if stride == 0 {
		stride = 1
	}
	for gcd(stride, n) != 1 {
		stride = stride%n + 1
	}
	return offset, stride
}

// GroupMembers returns the indexes of the users in group j, in output order.
func (g *Generator) GroupMembers(j int) []int {
	n := uint64(g.opts.Users)
	offset, stride := g.progression(j)
	out := make([]int, g.GroupSize(j))
	for k := range out {
		out[k] = int((offset + uint64(k)*stride) % n)
	}
	return out
}

// UserGroups returns the indexes of the groups user i is a member of, in
// increasing order.
func (g *Generator) UserGroups(i int) []int {
	n := uint64(g.opts.Users)
	var out []int
	for j := range g.opts.Groups {
		offset, stride := g.progression(j)
		k := (uint64(i) + n - offset) % n * modInverse(stride, n) % n
		if k < uint64(g.GroupSize(j)) {
			out = append(out, j)
		}
	}
	return out
}

// Each calls fn with every entry in an order a server accepts: containers,
// users (managers before their reports), then groups.
func (g *Generator) Each(fn func(Entry) error) error {
	for _, e := range g.Containers() {
		if err := fn(e); err != nil {
			return err
		}
	}
	for i := range g.opts.Users {
		if err := fn(g.User(i)); err != nil {
			return err
		}
	}
	for j := range g.opts.Groups {
		if err := fn(g.Group(j)); err != nil {
			return err
		}
	}
	return nil
}

// Hash domains, so that the attributes of one index are independent.
const (
	kindUser = iota + 1
	kindUserDetail
	kindGroup
	kindGroupSize
	kindGroupMembers
)

// hash is splitmix64 over the seed, a domain and an index.
func (g *Generator) hash(kind, i int) uint64 {
	z := g.opts.Seed ^ uint64(kind)<<56 ^ uint64(i)*0x9e3779b97f4a7c15
	z += 0x9e3779b97f4a7c15
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// modInverse returns x with a·x ≡ 1 (mod n), for a prime to n.
func modInverse(a, n uint64) uint64 {
	if n == 1 {
		return 0
	}
	t, newT := int64(0), int64(1)
	r, newR := int64(n), int64(a%n)
	for newR != 0 {
		q := r / newR
		t, newT = newT, t-q*newT
		r, newR = newR, r-q*newR
	}
	if t < 0 {
		t += int64(n)
	}
	return uint64(t)
}
