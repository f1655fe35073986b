package ldapsync

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/go-ldap/ldap/v3"

	"github.com/idsync/idsync/internal/ldapwire"
)

// ErrBaseNotFound is wrapped by FullImport's error when the base DN does not
// exist on the server.
var ErrBaseNotFound = errors.New("base DN not found")

// searchBuffer is how many decoded results go-ldap may hold ahead of the
// Sink: enough to overlap decoding with the Sink's work, small next to a page.
const searchBuffer = 64

// FullImport reads every user, then every group, under spec.BaseDN and
// hands each to sink as a Change, or as an EntryError when the entry cannot
// be read or normalised (the import goes on). It pages through the
// directory, so memory is bounded by a page. It returns an error when the
// read did not complete — bad spec, missing base DN, a search or sink
// failure, or ctx cancelled — and only a nil error means the snapshot is
// complete.
func FullImport(ctx context.Context, c *Conn, spec Spec, sink Sink) (Stats, error) {
	spec, err := spec.withDefaults()
	if err != nil {
		return Stats{}, err
	}
	imp := newImporter(c, spec, sink)
	if err := imp.checkBase(ctx); err != nil {
		return imp.stats, err
	}
	if err := imp.search(ctx, ObjectUser, spec.UserFilter, spec.UserAttributes); err != nil {
		return imp.stats, err
	}
	if err := imp.search(ctx, ObjectGroup, spec.GroupFilter, spec.GroupAttributes); err != nil {
		return imp.stats, err
	}
	return imp.stats, nil
}

// importer is the state of one FullImport.
type importer struct {
	conn   *Conn
	spec   Spec
	sink   Sink
	idAttr string
	stats  Stats
	// names caches lower-cased attribute names: servers repeat the same few
	// names on every entry.
	names map[string]string
	// controls are sent with the first search of each read (DirSync's
	// re-reads ask for extended DNs).
	controls []ldapwire.Control
}

// newImporter returns an importer of spec (with its defaults) into sink.
func newImporter(c *Conn, spec Spec, sink Sink) *importer {
	return &importer{conn: c, spec: spec, sink: sink, idAttr: idAttribute[spec.Kind], names: map[string]string{}}
}

// checkBase makes sure the base DN exists before anything is read, so that
// a typo reads as a clear error rather than as an empty directory.
func (imp *importer) checkBase(ctx context.Context) error {
	base := imp.spec.BaseDN
	req := &ldapwire.SearchRequest{BaseDN: base, Scope: ldapwire.ScopeBaseObject, Filter: "(objectClass=*)",
		Attributes: []string{"1.1"}}
	found := false
	_, err := imp.conn.wireSearch(ctx, req, func(*ldapwire.Entry) error { found = true; return nil })
	switch {
	case ldapwire.IsResultCode(err, ldap.LDAPResultNoSuchObject) || (err == nil && !found):
		return fmt.Errorf("base DN %q does not exist on %s (or the bind DN cannot see it): %w", base, imp.conn.url, ErrBaseNotFound)
	case err != nil:
		return err
	}
	return nil
}

// search pages through the entries of one kind under the base DN.
func (imp *importer) search(ctx context.Context, kind ObjectKind, filter string, attrs []string) error {
	return imp.searchUnder(ctx, imp.spec.BaseDN, ldap.ScopeWholeSubtree, kind, filter, attrs)
}

// searchUnder pages through the entries of one kind under base. Entries go
// to the sink as they arrive, except those whose attributes came in ranges:
// their remaining values are fetched once the page's search is over,
// because a search issued on a connection while another streams results can
// deadlock in go-ldap (its reader blocks on the busy consumer).
func (imp *importer) searchUnder(ctx context.Context, base string, scope int, kind ObjectKind, filter string, attrs []string) error {
	req := &ldapwire.SearchRequest{BaseDN: base, Scope: scope, Filter: filter,
		Attributes: imp.spec.requestAttributes(attrs), PageSize: imp.spec.PageSize, Controls: imp.controls}
	for {
		var pending []partial
		cookie, err := imp.conn.wireSearch(ctx, req, func(e *ldapwire.Entry) error {
			if err := ctx.Err(); err != nil {
				return err // nothing more reaches the sink once ctx is done
			}
			ch, ranges, eerr := imp.normalize(kind, e)
			switch {
			case eerr != nil:
				return imp.sendError(ctx, *eerr)
			case len(ranges) > 0:
				pending = append(pending, partial{ch, ranges})
				return nil
			}
			return imp.sendChange(ctx, ch)
		})
		if err != nil {
			return err
		}
		for _, p := range pending {
			eerr, err := imp.completeRanges(ctx, &p.change, p.ranges)
			switch {
			case err != nil:
				return err
			case eerr != nil:
				err = imp.sendError(ctx, *eerr)
			default:
				err = imp.sendChange(ctx, p.change)
			}
			if err != nil {
				return err
			}
		}
		// A server without paging answers everything at once, without the
		// control; an empty cookie marks the last page.
		if len(cookie) == 0 {
			return nil
		}
		req.Cookie = cookie
	}
}

// partial is an entry waiting for the rest of its ranged values.
type partial struct {
	change Change
	ranges []pendingRange
}

// pendingRange is an attribute of which the server sent a first window.
type pendingRange struct {
	name       string // lower-case base description, as in the Change
	next, step int    // first index not yet read, window size
}

// normalizeLDAP is normalize for an entry go-ldap decoded (change capture's
// streams).
func (imp *importer) normalizeLDAP(kind ObjectKind, e *ldap.Entry) (Change, []pendingRange, *EntryError) {
	we := ldapwire.Entry{DN: []byte(e.DN), Attrs: make([]ldapwire.Attr, len(e.Attributes))}
	for i, a := range e.Attributes {
		we.Attrs[i] = ldapwire.Attr{Name: []byte(a.Name), Values: a.ByteValues}
	}
	return imp.normalize(kind, &we)
}

// normalize turns an entry into a Change, or an EntryError when the id is
// missing or a value cannot be sent. It reads every attribute even after a
// problem so that an EntryError carries the id whenever there is one. The
// Change owns its strings: e may be reused once it returns.
func (imp *importer) normalize(kind ObjectKind, e *ldapwire.Entry) (Change, []pendingRange, *EntryError) {
	dn := string(e.DN)
	ch := Change{Type: ChangeUpsert, Kind: kind, DN: dn, Attributes: make([]Attribute, 0, len(e.Attrs))}
	var ranges []pendingRange
	var problem string
	for _, a := range e.Attrs {
		name := imp.lower(a.Name)
		var r attrRange
		ranged := false
		if strings.IndexByte(name, ';') >= 0 {
			if r, ranged = parseRange(name); ranged {
				name = r.base
			}
		}
		// The id attribute is never among the Change's attributes, even
		// when a server sends it with a range option.
		if name == imp.idAttr {
			id, err := imp.externalID(a.Values)
			if err != nil && problem == "" {
				problem = fmt.Sprintf("attribute %s: %v", name, err)
			}
			ch.ExternalID = id
			continue
		}
		if ranged && r.high != openEnded {
			ranges = append(ranges, pendingRange{name: name, next: r.high + 1, step: r.high - r.low + 1})
		}
		values, err := imp.values(name, a.Values)
		if err != nil && problem == "" {
			problem = fmt.Sprintf("attribute %s: %v", name, err)
		}
		ch.Attributes = append(ch.Attributes, Attribute{Name: name, Values: values})
	}
	if ch.ExternalID == "" && problem == "" {
		problem = fmt.Sprintf("the entry has no %s: the id is missing or the bind DN may not read it", imp.idAttr)
	}
	if problem != "" {
		return Change{}, nil, &EntryError{DN: dn, ExternalID: ch.ExternalID, Kind: kind, Message: problem}
	}
	return ch, ranges, nil
}

// lower returns name in lower case, from the cache when it can (the map
// lookup with string(name) does not allocate).
func (imp *importer) lower(name []byte) string {
	if l, ok := imp.names[string(name)]; ok {
		return l
	}
	l := strings.ToLower(string(name))
	if len(imp.names) < 1000 { // a bound, in case a server invents names
		imp.names[string(name)] = l
	}
	return l
}

// externalID reads the id attribute's single value in canonical form.
func (imp *importer) externalID(values [][]byte) (string, error) {
	if len(values) != 1 {
		return "", fmt.Errorf("%d values, want one", len(values))
	}
	if imp.spec.Kind == KindAD {
		return formatGUID(values[0])
	}
	id := values[0]
	if !isUUID(id) {
		return "", fmt.Errorf("%q is not a UUID", id)
	}
	return asciiLower(string(id)), nil
}

// isUUID reports whether b is a UUID in its text form (RFC 4530's entryUUID
// syntax): 36 characters, hex digits in groups of 8-4-4-4-12.
func isUUID(b []byte) bool {
	if len(b) != 36 {
		return false
	}
	for i, c := range b {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// sidAttributes are AD attributes of SID syntax, sent in their S-1-… form.
var sidAttributes = map[string]bool{"objectsid": true, "sidhistory": true}

// values checks and converts the values of attribute name (lower case):
// SIDs become text on AD; any other value must be valid UTF-8 and within
// MaxValueBytes.
func (imp *importer) values(name string, raw [][]byte) ([]string, error) {
	out := make([]string, len(raw))
	if imp.spec.Kind == KindAD && sidAttributes[name] {
		for i, b := range raw {
			s, err := formatSID(b)
			if err != nil {
				return nil, err
			}
			out[i] = s
		}
		return out, nil
	}
	for i, v := range raw {
		if len(v) > imp.spec.MaxValueBytes {
			return nil, fmt.Errorf("a value of %d bytes exceeds the limit of %d bytes", len(v), imp.spec.MaxValueBytes)
		}
		if !utf8.Valid(v) {
			return nil, errors.New("a value is not valid UTF-8 (binary data cannot be sent as text)")
		}
		out[i] = string(v)
	}
	return out, nil
}

// completeRanges fetches the remaining windows of ch's ranged attributes
// with base-scope searches, each window as large as the server's previous
// one, and appends them to the attribute. A problem with the entry (deleted
// meanwhile, a bad value) is an EntryError; a failed search is an error.
func (imp *importer) completeRanges(ctx context.Context, ch *Change, ranges []pendingRange) (*EntryError, error) {
	entryError := func(format string, args ...any) *EntryError {
		return &EntryError{DN: ch.DN, ExternalID: ch.ExternalID, Kind: ch.Kind, Message: fmt.Sprintf(format, args...)}
	}
	for _, r := range ranges {
		i := slices.IndexFunc(ch.Attributes, func(a Attribute) bool { return a.Name == r.name })
		for next, step := r.next, r.step; ; {
			req := &ldapwire.SearchRequest{BaseDN: ch.DN, Scope: ldapwire.ScopeBaseObject, Filter: "(objectClass=*)",
				Attributes: []string{rangeDesc(r.name, next, next+step-1)}}
			imp.stats.RangeFetches++
			var window []string
			var got attrRange
			var verr error
			found := false
			_, err := imp.conn.wireSearch(ctx, req, func(e *ldapwire.Entry) error {
				for _, a := range e.Attrs {
					if rr, ok := parseRange(string(a.Name)); ok && strings.EqualFold(rr.base, r.name) {
						found, got = true, rr
						window, verr = imp.values(r.name, a.Values)
					}
				}
				return nil
			})
			if ldapwire.IsResultCode(err, ldap.LDAPResultNoSuchObject) {
				return entryError("attribute %s: the entry went away while its values %d and on were read", r.name, next), nil
			}
			if err != nil {
				return nil, err
			}
			if !found {
				break // no values from next on: the previous window ended exactly at the last value
			}
			if got.low != next {
				return entryError("attribute %s: asked for values from %d, the server sent %d-%d", r.name, next, got.low, got.high), nil
			}
			if verr != nil {
				return entryError("attribute %s: %v", r.name, verr), nil
			}
			ch.Attributes[i].Values = append(ch.Attributes[i].Values, window...)
			if got.high == openEnded {
				break
			}
			next, step = got.high+1, got.high-got.low+1
		}
	}
	return nil, nil
}

// sortAttributes orders attributes by name, as every Change has them.
func sortAttributes(attrs []Attribute) {
	slices.SortFunc(attrs, func(a, b Attribute) int { return cmp.Compare(a.Name, b.Name) })
}

func (imp *importer) sendChange(ctx context.Context, ch Change) error {
	sortAttributes(ch.Attributes)
	if err := imp.sink.Change(ctx, ch); err != nil {
		return fmt.Errorf("sink: %w", err)
	}
	if ch.Kind == ObjectGroup {
		imp.stats.Groups++
	} else {
		imp.stats.Users++
	}
	return nil
}

func (imp *importer) sendError(ctx context.Context, e EntryError) error {
	if err := imp.sink.EntryError(ctx, e); err != nil {
		return fmt.Errorf("sink: %w", err)
	}
	imp.stats.Errors++
	return nil
}
