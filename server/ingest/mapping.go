package ingest

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
	"github.com/idsync/idsync/server/store"
)

// Attributes returns the attributes to read for users and for groups, from the
// mapping and the kind's status attributes, de-duplicated case-insensitively.
func Attributes(d *store.Directory) (user, group []string) {
	m := d.Mapping
	var u attrSet
	for _, f := range []string{m.Username, m.Email, m.GivenName, m.FamilyName, m.DisplayName,
		m.EmployeeNumber, m.Department, m.Title, m.Manager} {
		u.addAlternatives(f)
	}
	for _, e := range m.Extra {
		u.add(e)
	}
	if p, ok := presets[d.Kind]; ok {
		for _, a := range p.StatusAttributes {
			u.add(a)
		}
	}
	var g attrSet
	g.addAlternatives(m.GroupName)
	g.addAlternatives(m.GroupDescription)
	for _, a := range m.GroupMembers {
		g.add(a)
	}
	return u.names, g.names
}

type attrSet struct {
	names []string
	seen  map[string]bool
}

func (s *attrSet) add(name string) {
	if name == "" {
		return
	}
	if s.seen == nil {
		s.seen = map[string]bool{}
	}
	k := strings.ToLower(name)
	if !s.seen[k] {
		s.seen[k] = true
		s.names = append(s.names, name)
	}
}

func (s *attrSet) addAlternatives(spec string) {
	for _, a := range strings.Split(spec, "|") {
		s.add(a)
	}
}

// Mapper turns changes read by an agent into store objects for one directory.
// Build it once per run: it pre-computes the lower-cased mapping.
type Mapper struct {
	kind       store.DirectoryKind
	m          store.Mapping
	username   []string
	email      []string
	given      []string
	family     []string
	display    []string
	employee   []string
	department []string
	title      []string
	manager    []string
	groupName  []string
	groupDesc  []string
	members    []string
	extra      []string // lower-cased
	extraNames []string // as configured
}

// NewMapper prepares the mapping of d.
func NewMapper(d *store.Directory) *Mapper {
	lower := func(spec string) []string {
		if spec == "" {
			return nil
		}
		return strings.Split(strings.ToLower(spec), "|")
	}
	mp := &Mapper{
		kind: d.Kind, m: d.Mapping,
		username: lower(d.Mapping.Username), email: lower(d.Mapping.Email),
		given: lower(d.Mapping.GivenName), family: lower(d.Mapping.FamilyName),
		display: lower(d.Mapping.DisplayName), employee: lower(d.Mapping.EmployeeNumber),
		department: lower(d.Mapping.Department), title: lower(d.Mapping.Title),
		manager: lower(d.Mapping.Manager), groupName: lower(d.Mapping.GroupName),
		groupDesc: lower(d.Mapping.GroupDescription),
	}
	for _, a := range d.Mapping.GroupMembers {
		mp.members = append(mp.members, strings.ToLower(a))
	}
	for _, a := range d.Mapping.Extra {
		mp.extra = append(mp.extra, strings.ToLower(a))
		mp.extraNames = append(mp.extraNames, a)
	}
	return mp
}

// attrs indexes a change's attributes by lower-cased name.
type attrs map[string][]string

func indexAttributes(c *idsyncv1.Change) attrs { return indexAttrs(c.GetAttributes()) }

func indexAttrs(in []*idsyncv1.Attribute) attrs {
	a := make(attrs, len(in))
	for _, at := range in {
		k := strings.ToLower(at.GetName())
		if prev, ok := a[k]; ok {
			a[k] = append(prev, at.GetValues()...)
		} else {
			// The change's own values, not a copy; clipped, so that
			// a second attribute of the same name appends to a copy.
			a[k] = slices.Clip(at.GetValues())
		}
	}
	return a
}

// first returns the first value of the first present alternative.
func (a attrs) first(alts []string) string {
	for _, n := range alts {
		if v := a[n]; len(v) > 0 && v[0] != "" {
			return v[0]
		}
	}
	return ""
}

// Map turns one upsert into a store object, or explains why it cannot.
func (mp *Mapper) Map(c *idsyncv1.Change) (*store.Object, *store.EntryError) {
	kind := store.ObjectKind(idsyncv1.ObjectKindName(c.GetKind()))
	fail := func(format string, args ...any) (*store.Object, *store.EntryError) {
		return nil, &store.EntryError{DN: c.GetDn(), ExternalID: c.GetExternalId(), Kind: kind,
			Message: fmt.Sprintf(format, args...)}
	}
	if c.GetExternalId() == "" {
		return fail("entry has no external id (entryUUID/objectGUID)")
	}
	a := indexAttributes(c)
	o := &store.Object{
		Kind: kind, ExternalID: c.GetExternalId(), DN: c.GetDn(), DNKey: DNKey(c.GetDn()),
		Status: store.StatusActive,
	}
	switch kind {
	case store.ObjectUser:
		p := &o.Profile
		p.Username = a.first(mp.username)
		if p.Username == "" {
			return fail("entry has no username attribute %q", mp.m.Username)
		}
		p.Email = a.first(mp.email)
		p.GivenName = a.first(mp.given)
		p.FamilyName = a.first(mp.family)
		p.DisplayName = a.first(mp.display)
		p.EmployeeNumber = a.first(mp.employee)
		p.Department = a.first(mp.department)
		p.Title = a.first(mp.title)
		p.Manager = a.first(mp.manager)
		for i, n := range mp.extra {
			if v := a[n]; len(v) > 0 {
				if p.Extra == nil {
					p.Extra = map[string][]string{}
				}
				p.Extra[mp.extraNames[i]] = v
			}
		}
		st, err := mp.status(a)
		if err != nil {
			return fail("%v", err)
		}
		o.Status = st
	case store.ObjectGroup:
		o.Name = a.first(mp.groupName)
		if o.Name == "" {
			return fail("group has no name attribute %q", mp.m.GroupName)
		}
		o.Description = a.first(mp.groupDesc)
		if c.GetMembersIncremental() {
			// AD DirSync incremental values: the deltas only, so a group of
			// 5,000 gaining one member moves one row.
			o.AddMembers = mp.memberRefs(indexAttrs(c.GetMemberAdds()))
			o.RemoveMembers = mp.memberRefs(indexAttrs(c.GetMemberRemoves()))
		} else {
			o.Members = mp.memberRefs(a)
			o.MembersComplete = true
		}
	default:
		return fail("unknown object kind %v", c.GetKind())
	}
	o.Hash = Hash(o)
	return o, nil
}

// status derives active or suspended from the kind's status attribute.
func (mp *Mapper) status(a attrs) (store.Status, error) {
	switch mp.kind {
	case store.KindAD:
		v := a.first([]string{"useraccountcontrol"})
		if v == "" {
			return store.StatusActive, nil
		}
		uac, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return "", fmt.Errorf("attribute userAccountControl %q is not a number", v)
		}
		if uac&0x2 != 0 { // ACCOUNTDISABLE
			return store.StatusSuspended, nil
		}
	case store.KindOpenLDAP:
		if len(a["pwdaccountlockedtime"]) > 0 {
			return store.StatusSuspended, nil
		}
	}
	return store.StatusActive, nil
}

// memberRefs collects a group's member values with their match keys: DNs by
// DNKey, memberUid values by lower-cased username.
func (mp *Mapper) memberRefs(a attrs) []store.MemberRef {
	var refs []store.MemberRef
	seen := map[string]bool{}
	for _, attr := range mp.members {
		for _, v := range a[attr] {
			ref, ok := MemberRefFor(attr, v)
			if !ok || seen[ref.Key] {
				continue
			}
			seen[ref.Key] = true
			refs = append(refs, ref)
		}
	}
	sort.Slice(refs, func(i, j int) bool { return refs[i].Key < refs[j].Key })
	return refs
}

// MemberRefFor returns the member reference for a value of a membership
// attribute (lower-cased name).
func MemberRefFor(attr, value string) (store.MemberRef, bool) {
	value = strings.TrimSpace(value)
	if value == "" {
		return store.MemberRef{}, false
	}
	if attr == "memberuid" {
		return store.MemberRef{Value: value, Key: "uid:" + strings.ToLower(value)}, true
	}
	// AD's member deltas come as "<GUID=…>;DN": the member's identity,
	// then its DN.
	var ext string
	if rest, ok := strings.CutPrefix(value, "<GUID="); ok {
		if i := strings.Index(rest, ">;"); i > 0 {
			ext, value = rest[:i], strings.TrimSpace(rest[i+2:])
			if value == "" {
				return store.MemberRef{}, false
			}
		}
	}
	dn := value
	if attr == "uniquemember" {
		// nameAndOptionalUID: "DN#'0110'B"; the UID part is not part of the DN.
		if i := strings.LastIndex(dn, "#'"); i > 0 && strings.HasSuffix(dn, "'B") {
			dn = dn[:i]
		}
	}
	return store.MemberRef{Value: value, Key: "dn:" + DNKey(dn), ExternalID: ext}, true
}

// Hash is the content hash of a mapped object: every field the hub keeps,
// length-prefixed so that no two different objects share an encoding.
func Hash(o *store.Object) string {
	// One buffer, hashed at once: a Write per field cost an allocation
	// each (the string's bytes escape through hash.Hash) and a call.
	w := hashWriter{b: make([]byte, 0, 512)}
	w.str(string(o.Kind))
	w.str(o.DN)
	w.str(string(o.Status))
	p := o.Profile
	for _, s := range []string{p.Username, p.Email, p.GivenName, p.FamilyName, p.DisplayName,
		p.EmployeeNumber, p.Department, p.Title, p.Manager, o.Name, o.Description} {
		w.str(s)
	}
	keys := make([]string, 0, len(p.Extra))
	for k := range p.Extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	w.num(len(keys))
	for _, k := range keys {
		w.str(k)
		w.num(len(p.Extra[k]))
		for _, v := range p.Extra[k] {
			w.str(v)
		}
	}
	if o.Kind == store.ObjectGroup && !o.MembersComplete {
		// A delta says nothing of the whole membership: its hash must
		// never equal a complete set's, or the next complete read of the
		// group (an empty one, say) would count unchanged and leave the
		// rows the deltas wrote.
		w.str("\x00membership deltas")
	}
	w.num(len(o.Members))
	for _, m := range o.Members { // sorted by key in memberRefs
		w.str(m.Key)
		w.str(m.Value)
	}
	sum := sha256.Sum256(w.b)
	return hex.EncodeToString(sum[:16])
}

// hashWriter encodes Hash's input: each number as 8 bytes big-endian,
// each string as its length, then its bytes.
type hashWriter struct{ b []byte }

func (w *hashWriter) num(n int) {
	w.b = binary.BigEndian.AppendUint64(w.b, uint64(n))
}

func (w *hashWriter) str(s string) {
	w.num(len(s))
	w.b = append(w.b, s...)
}

// Default read settings sent to agents.
const (
	DefaultPageSize      = 500
	DefaultBatchSize     = 1000
	DefaultMaxValueBytes = 1 << 20
)

// Source is the part of a directory's settings that an agent needs to read
// it. Connection details and secrets are the agent's own.
func Source(d *store.Directory, checkpoint []byte) *idsyncv1.Source {
	user, group := Attributes(d)
	kind := idsyncv1.DirectoryKind_DIRECTORY_KIND_OPENLDAP
	if d.Kind == store.KindAD {
		kind = idsyncv1.DirectoryKind_DIRECTORY_KIND_AD
	}
	return &idsyncv1.Source{
		Directory: d.Name, Kind: kind, BaseDn: d.BaseDN,
		UserFilter: d.UserFilter, GroupFilter: d.GroupFilter,
		UserAttributes: user, GroupAttributes: group,
		PageSize: DefaultPageSize, BatchSize: DefaultBatchSize, MaxValueBytes: DefaultMaxValueBytes,
		Checkpoint: checkpoint, CaptureStrategy: d.CaptureStrategy,
		PollIntervalSeconds: uint32(d.PollInterval / time.Second),
	}
}
