package ldapsync

import (
	"cmp"
	"fmt"
	"strconv"
	"strings"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
)

// A matcher evaluates an LDAP filter against an entry on the client.
//
// syncrepl runs one search for users and groups together, (|(user)(group)),
// so that one cookie covers both; which of the two an entry is must then be
// decided here. Asking the server again per entry is not possible while
// the persistent search streams on the same connection (go-ldap would
// deadlock), and two searches would need two cookies whose events cannot be
// ordered against each other. Directory filters are small: objectClass
// equalities under and/or/not, sometimes a presence or a substring. The
// matcher handles that subset the way a server does for the usual
// case-ignoring syntaxes; extensible matches are refused when the capture
// starts, so a filter is never silently evaluated wrong.
type matcher struct {
	op       uint64 // an ldap.Filter* constant
	attr     string // lower case, without options
	value    string
	initial  string   // substrings
	any      []string // substrings
	final    string   // substrings
	children []*matcher
}

// compileMatcher parses filter into a matcher, or says why it cannot be
// evaluated on the client.
func compileMatcher(filter string) (*matcher, error) {
	packet, err := ldap.CompileFilter(filter)
	if err != nil {
		return nil, fmt.Errorf("filter %q: %w", filter, err)
	}
	var build func(p *filterPacket) (*matcher, error)
	build = func(p *filterPacket) (*matcher, error) {
		m := &matcher{op: p.tag}
		switch p.tag {
		case ldap.FilterAnd, ldap.FilterOr, ldap.FilterNot:
			for _, c := range p.children {
				cm, err := build(c)
				if err != nil {
					return nil, err
				}
				m.children = append(m.children, cm)
			}
		case ldap.FilterPresent:
			m.attr = attrName(p.data)
		case ldap.FilterEqualityMatch, ldap.FilterApproxMatch, ldap.FilterGreaterOrEqual, ldap.FilterLessOrEqual:
			if len(p.children) != 2 {
				return nil, fmt.Errorf("filter %q: malformed assertion", filter)
			}
			m.attr, m.value = attrName(p.children[0].data), p.children[1].data
		case ldap.FilterSubstrings:
			if len(p.children) != 2 {
				return nil, fmt.Errorf("filter %q: malformed substring assertion", filter)
			}
			m.attr = attrName(p.children[0].data)
			for _, s := range p.children[1].children {
				switch s.tag {
				case ldap.FilterSubstringsInitial:
					m.initial = s.data
				case ldap.FilterSubstringsFinal:
					m.final = s.data
				default:
					m.any = append(m.any, s.data)
				}
			}
		default:
			return nil, fmt.Errorf("filter %q: extensible matches cannot be evaluated by ldapsync; use a filter of and, or, not, equality, presence, substrings and ordering", filter)
		}
		return m, nil
	}
	return build(toFilterPacket(packet))
}

// filterPacket is the part of go-ldap's compiled filter (a BER packet) the
// matcher reads.
type filterPacket struct {
	tag      uint64
	data     string
	children []*filterPacket
}

func toFilterPacket(p *ber.Packet) *filterPacket {
	fp := &filterPacket{tag: uint64(p.Tag)}
	if p.Data != nil {
		fp.data = p.Data.String()
	}
	for _, c := range p.Children {
		fp.children = append(fp.children, toFilterPacket(c))
	}
	return fp
}

// attrName is an attribute description reduced to its lower-case name.
func attrName(desc string) string {
	name, _, _ := strings.Cut(desc, ";")
	return strings.ToLower(name)
}

// attributes returns the lower-case attribute names the filter reads, so
// that the search can ask for them.
func (m *matcher) attributes() []string {
	var out []string
	var walk func(*matcher)
	walk = func(m *matcher) {
		if m.attr != "" {
			out = append(out, m.attr)
		}
		for _, c := range m.children {
			walk(c)
		}
	}
	walk(m)
	return out
}

// match reports whether an entry with these attribute values (keyed by
// lower-case name) matches.
func (m *matcher) match(values map[string][]string) bool {
	switch m.op {
	case ldap.FilterAnd:
		for _, c := range m.children {
			if !c.match(values) {
				return false
			}
		}
		return true
	case ldap.FilterOr:
		for _, c := range m.children {
			if c.match(values) {
				return true
			}
		}
		return false
	case ldap.FilterNot:
		return !m.children[0].match(values)
	case ldap.FilterPresent:
		if m.attr == "objectclass" {
			return true // every entry has one, whether or not it was read
		}
		return len(values[m.attr]) > 0
	}
	for _, v := range values[m.attr] {
		if m.matchValue(v) {
			return true
		}
	}
	return false
}

// matchValue compares one value: case-insensitively, numerically for
// ordering between two integers.
func (m *matcher) matchValue(v string) bool {
	switch m.op {
	case ldap.FilterEqualityMatch, ldap.FilterApproxMatch:
		return strings.EqualFold(v, m.value)
	case ldap.FilterGreaterOrEqual, ldap.FilterLessOrEqual:
		c := compareValues(v, m.value)
		return c == 0 || (c > 0) == (m.op == ldap.FilterGreaterOrEqual)
	case ldap.FilterSubstrings:
		v = strings.ToLower(v)
		initial, final := strings.ToLower(m.initial), strings.ToLower(m.final)
		if !strings.HasPrefix(v, initial) {
			return false
		}
		v = v[len(initial):]
		for _, a := range m.any {
			i := strings.Index(v, strings.ToLower(a))
			if i < 0 {
				return false
			}
			v = v[i+len(a):]
		}
		return strings.HasSuffix(v, final)
	}
	return false
}

// compareValues orders two values as integers when both are, else as
// case-folded text (which orders generalized times correctly too).
func compareValues(a, b string) int {
	x, errA := strconv.ParseInt(a, 10, 64)
	y, errB := strconv.ParseInt(b, 10, 64)
	if errA == nil && errB == nil {
		return cmp.Compare(x, y)
	}
	return strings.Compare(strings.ToLower(a), strings.ToLower(b))
}
