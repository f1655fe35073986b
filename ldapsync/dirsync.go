package ldapsync

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/idsync/idsync/internal/ldapwire"
)

// dirSyncFlags asks AD for the objects the bind account may read, without
// the replication right (LDAP_DIRSYNC_OBJECT_SECURITY), and for linked
// attributes (member) as the values added and removed
// (LDAP_DIRSYNC_INCREMENTAL_VALUES): a group of 5,000 gaining a member
// comes as one value.
const dirSyncFlags = ldap.DirSyncObjectSecurity | ldap.DirSyncIncrementalValues

// zeroGUIDFilter matches no object, from the objectGUID index: a round
// with it only moves the cookie to the DC's present state.
const zeroGUIDFilter = `(objectGUID=\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00)`

// defaultTombstoneLifetime is AD's tombstone lifetime when the forest does
// not set tombstoneLifetime.
const defaultTombstoneLifetime = 60 * 24 * time.Hour

// quietCheckpointEvery is how often a DirSync round with nothing to report
// still emits its (advanced) cookie, so that a quiet directory's checkpoint
// does not age towards the tombstone lifetime.
const quietCheckpointEvery = 10 * time.Minute

// dirSyncer captures AD changes with DirSync rounds.
type dirSyncer struct {
	conn *Conn
	spec CaptureSpec
	emit func(context.Context, Event) error
	// root is the naming context holding BaseDN: DirSync only runs on a
	// naming context's root, so rounds see the whole domain and ldapsync
	// keeps what lies under base.
	root string
	base *ldap.DN
	cp   checkpointState
	// cookie is the cookie the next round sends.
	cookie     []byte
	lastEmit   time.Time
	filter     string
	attributes []string
	// members says the spec reads groups' member attribute, which then
	// comes as deltas.
	members bool
	// notified is when the last change notification arrived (UnixNano).
	notified atomic.Int64
}

// dirSyncEntry is what a round says about one object.
type dirSyncEntry struct {
	guid, dn string
	deleted  bool
	// lastKnownParent is where a deleted object lived.
	lastKnownParent string
	// renamed says the name came back: the object was created, renamed or
	// moved since the cookie.
	renamed bool
	// adds and removes are member values added and removed.
	adds, removes []string
}

// newDirSyncer prepares DirSync on spec's naming context. With cp it checks
// that cp's cookie can be resumed on this DC.
func newDirSyncer(ctx context.Context, c *Conn, spec CaptureSpec, cp *checkpointState, emit func(context.Context, Event) error) (*dirSyncer, error) {
	base, err := ldap.ParseDN(spec.BaseDN)
	if err != nil {
		return nil, fmt.Errorf("spec: BaseDN %q: %w", spec.BaseDN, err)
	}
	dse, err := readRootDSE(ctx, c)
	if err != nil {
		return nil, err
	}
	// Rounds ask for every user and group, not only those the filters
	// select, so that an object that stops matching them (a filter that
	// leaves out disabled accounts, say) still comes back and, re-read,
	// becomes a delete. Tombstones have lost objectCategory: isDeleted
	// brings them.
	d := &dirSyncer{conn: c, spec: spec, emit: emit, base: base, lastEmit: time.Now(),
		filter: "(|(objectClass=user)(objectClass=group)" + spec.UserFilter + spec.GroupFilter + "(isDeleted=TRUE))"}
	if d.root, err = namingContextOf(base, dse.namingContexts); err != nil {
		return nil, fmt.Errorf("DirSync on %s: %w", c.url, err)
	}
	if dse.dsServiceName == "" {
		return nil, fmt.Errorf("DirSync on %s: the root DSE has no dsServiceName: not an Active Directory domain controller", c.url)
	}
	invocationID, err := readInvocationID(ctx, c, dse.dsServiceName)
	if err != nil {
		return nil, err
	}
	if cp != nil {
		if err := checkInvocationID(cp.InvocationID, invocationID, c.url); err != nil {
			return nil, err
		}
		lifetime, err := readTombstoneLifetime(ctx, c, dse.configurationNC)
		if err != nil {
			return nil, err
		}
		if age := time.Since(cp.Taken); age > lifetime {
			return nil, fmt.Errorf("the DirSync checkpoint is %v old, beyond the tombstone lifetime of %v: deletions may be forgotten: %w",
				age.Round(time.Hour), lifetime, ErrReconcile)
		}
		d.cp, d.cookie = *cp, cp.Cookie
	} else {
		d.cp = newCheckpoint(StrategyDirSync, spec)
	}
	d.cp.InvocationID = invocationID
	seen := map[string]bool{}
	for _, a := range slices.Concat(spec.UserAttributes, spec.GroupAttributes, []string{"name", "isDeleted", "lastKnownParent"}) {
		l := strings.ToLower(a)
		if seen[l] || l == idAttribute[KindAD] {
			continue
		}
		seen[l] = true
		d.attributes = append(d.attributes, a)
	}
	d.members = slices.ContainsFunc(spec.GroupAttributes, func(a string) bool { return strings.EqualFold(a, "member") })
	return d, nil
}

// namingContextOf returns the naming context that holds base: the longest
// of contexts equal to or above it.
func namingContextOf(base *ldap.DN, contexts []string) (string, error) {
	best, depth := "", -1
	for _, nc := range contexts {
		dn, err := ldap.ParseDN(nc)
		if err != nil {
			continue
		}
		if (dn.EqualFold(base) || dn.AncestorOfFold(base)) && len(dn.RDNs) > depth {
			best, depth = nc, len(dn.RDNs)
		}
	}
	if best == "" {
		return "", fmt.Errorf("no naming context of the server holds the base DN %q (naming contexts: %q)", base, contexts)
	}
	return best, nil
}

// readInvocationID reads the invocationId of the DC's NTDS Settings
// object: it changes when the DC's database is restored, and differs from
// DC to DC, and a DirSync cookie only means something to the database
// that issued it.
func readInvocationID(ctx context.Context, c *Conn, dsServiceName string) (string, error) {
	req := ldap.NewSearchRequest(dsServiceName, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=*)", []string{"invocationId"}, nil)
	var id string
	var idErr error
	_, err := c.search(ctx, req, func(e *ldap.Entry) error {
		raw := e.GetRawAttributeValue("invocationId")
		id, idErr = formatGUID(raw)
		return nil
	})
	if err == nil {
		err = idErr
	}
	if err == nil && id == "" {
		err = errors.New("no invocationId (the bind account may not read it)")
	}
	if err != nil {
		return "", fmt.Errorf("reading the invocationId of %q: %w", dsServiceName, err)
	}
	return id, nil
}

// checkInvocationID refuses a cookie issued by another DC database.
func checkInvocationID(stored, current, url string) error {
	if !strings.EqualFold(stored, current) {
		return fmt.Errorf("the DirSync checkpoint was issued by the DC database with invocationID %s, and %s now has %s (another DC, or a restored one): %w",
			stored, url, current, ErrReconcile)
	}
	return nil
}

// readTombstoneLifetime reads how long the forest keeps tombstones.
func readTombstoneLifetime(ctx context.Context, c *Conn, configNC string) (time.Duration, error) {
	if configNC == "" {
		return defaultTombstoneLifetime, nil
	}
	dn := "CN=Directory Service,CN=Windows NT,CN=Services," + configNC
	req := ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=*)", []string{"tombstoneLifetime"}, nil)
	days := 0
	_, err := c.search(ctx, req, func(e *ldap.Entry) error {
		_, err := fmt.Sscan(e.GetAttributeValue("tombstoneLifetime"), &days)
		if err != nil {
			days = 0
		}
		return nil
	})
	if err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
		return 0, fmt.Errorf("reading the tombstone lifetime: %w", err)
	}
	if days <= 0 {
		return defaultTombstoneLifetime, nil
	}
	return time.Duration(days) * 24 * time.Hour, nil
}

// captureDirSync runs DirSync rounds until ctx ends.
func captureDirSync(ctx context.Context, c *Conn, spec CaptureSpec, cp *checkpointState, emit func(context.Context, Event) error) error {
	d, err := newDirSyncer(ctx, c, spec, cp, emit)
	if err != nil {
		return err
	}
	if cp == nil {
		start, err := d.checkpointNow(ctx)
		if err != nil {
			return err
		}
		d.cookie = start.Cookie
		if err := snapshot(ctx, c, spec, start, emit); err != nil {
			return err
		}
	}
	wake := make(chan struct{}, 1)
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go d.watch(watchCtx, wake)

	refreshing := true
	for {
		more, err := d.round(ctx)
		if err != nil {
			return err
		}
		if more {
			continue
		}
		if refreshing {
			refreshing = false
			if err := emit(ctx, Event{Type: EventRefreshDone}); err != nil {
				return err
			}
			if err := d.checkpoint(ctx); err != nil {
				return err
			}
		}
		woken, err := pause(ctx, spec.PollInterval, wake)
		if err != nil {
			return err
		}
		if woken {
			spec.Logger.Debug("DirSync round woken by change notification",
				"since_notification", time.Since(time.Unix(0, d.notified.Load())).Round(time.Millisecond))
		}
	}
}

// watch runs a change-notification search on the naming context and wakes
// a round on every notification. When the server refuses it, rounds still
// run every poll interval. Without the show-deleted control, a deletion
// (a move into CN=Deleted Objects) notifies nobody.
func (d *dirSyncer) watch(ctx context.Context, wake chan<- struct{}) {
	req := ldap.NewSearchRequest(d.root, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=*)", []string{"objectGUID"},
		[]ldap.Control{ldap.NewControlString(ldap.ControlTypeMicrosoftNotification, true, ""), ldap.NewControlMicrosoftShowDeleted()})
	err := d.conn.stream(ctx, req, func(e *ldap.Entry, _ []ldap.Control) error {
		if e != nil {
			d.notified.Store(time.Now().UnixNano())
			select {
			case wake <- struct{}{}:
			default: // a round is already due
			}
		}
		return nil
	})
	if ctx.Err() == nil {
		d.spec.Logger.Warn("change notification ended; DirSync rounds run every poll interval",
			"poll_interval", d.spec.PollInterval, "error", err)
	}
}

// checkpointNow runs a round that matches nothing: its cookie is the DC's
// present state.
func (d *dirSyncer) checkpointNow(ctx context.Context) (checkpointState, error) {
	var cookie []byte
	for {
		_, next, more, err := d.search(ctx, zeroGUIDFilter, []string{"objectGUID"}, cookie)
		if err != nil {
			return checkpointState{}, err
		}
		cookie = next
		if !more {
			break
		}
	}
	cp := d.cp
	cp.Cookie = cookie
	return cp, nil
}

// round runs one DirSync search from the cookie, emits what it found and
// then the new cookie: DirSync has no present phase, so even a long
// catch-up is checkpointed round by round. It reports whether the server
// has more.
func (d *dirSyncer) round(ctx context.Context) (bool, error) {
	entries, cookie, more, err := d.search(ctx, d.filter, d.attributes, d.cookie)
	if err != nil {
		return false, err
	}
	// Re-reads run after the round's search is over: a search issued while
	// another streams can deadlock go-ldap.
	for _, e := range membersLast(dropDeletedMembers(entries)) {
		if err := d.process(ctx, e); err != nil {
			return false, err
		}
	}
	d.cookie = cookie
	if len(entries) == 0 && time.Since(d.lastEmit) < quietCheckpointEvery {
		return more, nil
	}
	return more, d.checkpoint(ctx)
}

// dropDeletedMembers leaves out of a round's membership additions the
// members the same round reports deleted: AD drops the links to a deleted
// object, but Samba's DirSync may still list the addition made before the
// delete (and never its removal).
func dropDeletedMembers(entries []dirSyncEntry) []dirSyncEntry {
	deleted := map[string]bool{}
	for _, e := range entries {
		if e.deleted && e.guid != "" {
			deleted[strings.ToLower(e.guid)] = true
		}
	}
	if len(deleted) == 0 {
		return entries
	}
	for i, e := range entries {
		entries[i].adds = slices.DeleteFunc(e.adds, func(v string) bool {
			g, ok := memberGUID(v)
			return ok && deleted[strings.ToLower(g)]
		})
	}
	return entries
}

// memberGUID returns the GUID of a "<GUID=g>;DN" member value.
func memberGUID(v string) (string, bool) {
	rest, ok := strings.CutPrefix(v, "<GUID=")
	if !ok {
		return "", false
	}
	i := strings.IndexByte(rest, '>')
	if i < 0 {
		return "", false
	}
	return rest[:i], true
}

// membersLast orders a round's entries so that membership deltas come
// after every other change of the round. A delta names members by their
// DN at the time of the read: a member renamed after it left a group is
// named by its new DN, which the hub learns from the member's own entry —
// an entry DirSync returns after the group's when the rename came last.
func membersLast(entries []dirSyncEntry) []dirSyncEntry {
	rank := func(e dirSyncEntry) int {
		if e.renamed || len(e.adds)+len(e.removes) == 0 {
			return 0
		}
		return 1
	}
	slices.SortStableFunc(entries, func(a, b dirSyncEntry) int { return rank(a) - rank(b) })
	return entries
}

func (d *dirSyncer) checkpoint(ctx context.Context) error {
	cp := d.cp
	cp.Cookie = d.cookie
	d.lastEmit = time.Now()
	return d.emit(ctx, Event{Type: EventCheckpoint, Checkpoint: cp.encode()})
}

// search runs one DirSync search with a new request (go-ldap's DirSync
// helpers would resend an old cookie with a reused one) and returns what
// it found, the next cookie and whether the server has more.
func (d *dirSyncer) search(ctx context.Context, filter string, attrs []string, cookie []byte) ([]dirSyncEntry, []byte, bool, error) {
	req := ldap.NewSearchRequest(d.root, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false, filter, attrs,
		[]ldap.Control{ldap.NewRequestControlDirSync(dirSyncFlags, 0, cookie), &ldap.ControlString{ControlType: controlExtendedDN}})
	var entries []dirSyncEntry
	controls, err := d.conn.search(ctx, req, func(e *ldap.Entry) error {
		entries = append(entries, parseDirSyncEntry(e))
		return nil
	})
	if err != nil {
		// AD and Samba refuse a cookie they cannot read as an unavailable
		// critical extension (or unwilling to perform).
		if len(cookie) > 0 && ldap.IsErrorAnyOf(err, ldap.LDAPResultUnavailableCriticalExtension, ldap.LDAPResultUnwillingToPerform) {
			return nil, nil, false, fmt.Errorf("DirSync: the server refused the checkpoint's cookie: %v: %w", err, ErrReconcile)
		}
		return nil, nil, false, fmt.Errorf("DirSync: %w", err)
	}
	resp, _ := ldap.FindControl(controls, ldap.ControlTypeDirSync).(*ldap.ControlDirSync)
	if resp == nil || len(resp.Cookie) == 0 {
		return nil, nil, false, fmt.Errorf("DirSync on %s: the response carries no DirSync cookie", d.conn.url)
	}
	return entries, resp.Cookie, resp.Flags != 0, nil
}

// controlExtendedDN (LDAP_SERVER_EXTENDED_DN_OID) makes DN values carry
// the object's GUID: "<GUID=hex>;<SID=hex>;DN". A removed member value is
// the DN the member had when it left (Samba) or has now (Windows), so the
// hub removes it by GUID too: a member renamed around its removal is still
// removed.
const controlExtendedDN = "1.2.840.113556.1.4.529"

// parseDirSyncEntry reads what DirSync says about one object.
func parseDirSyncEntry(e *ldap.Entry) dirSyncEntry {
	out := dirSyncEntry{dn: stripExtendedDN(e.DN)}
	for _, a := range e.Attributes {
		name := strings.ToLower(a.Name)
		switch {
		case name == "objectguid" && len(a.ByteValues) == 1:
			out.guid, _ = formatGUID(a.ByteValues[0])
		case name == "isdeleted":
			out.deleted = len(a.Values) == 1 && strings.EqualFold(a.Values[0], "TRUE")
		case name == "lastknownparent" && len(a.Values) == 1:
			out.lastKnownParent = stripExtendedDN(a.Values[0])
		case name == "name":
			out.renamed = true
		default:
			// Incremental values: member;range=1-1 adds, member;range=0-0
			// removes.
			if r, ok := parseRange(name); ok && r.base == "member" && r.low == r.high {
				for _, v := range a.Values {
					v = guidMember(v)
					if r.low == 1 {
						out.adds = append(out.adds, v)
					} else {
						out.removes = append(out.removes, v)
					}
				}
			}
		}
	}
	return out
}

// guidMember turns an extended DN member value into "<GUID=g>;DN", g
// formatted as objectGUID is (the external id the hub knows the member
// by); a value without a GUID is the plain DN.
func guidMember(v string) string {
	dn := stripExtendedDN(v)
	rest, ok := strings.CutPrefix(v, "<GUID=")
	if !ok {
		return dn
	}
	i := strings.IndexByte(rest, '>')
	if i < 0 {
		return dn
	}
	raw, err := hex.DecodeString(rest[:i])
	if err != nil {
		return dn
	}
	guid, err := formatGUID(raw)
	if err != nil || guid == "" {
		return dn
	}
	return "<GUID=" + guid + ">;" + dn
}

// stripExtendedDN removes the <GUID=…>;<SID=…>; prefix AD puts before a DN
// value when extended DNs are on (DirSync turns them on for
// lastKnownParent).
func stripExtendedDN(v string) string {
	for strings.HasPrefix(v, "<") {
		i := strings.Index(v, ">;")
		if i < 0 {
			break
		}
		v = v[i+2:]
	}
	return v
}

// inBase reports whether dn is the base DN or lies under it.
func (d *dirSyncer) inBase(dn string) bool {
	parsed, err := ldap.ParseDN(dn)
	return err == nil && (d.base.EqualFold(parsed) || d.base.AncestorOfFold(parsed))
}

// process turns what a round said about one object into events: deletes
// for tombstones and objects that left the base, a re-read for the rest.
func (d *dirSyncer) process(ctx context.Context, e dirSyncEntry) error {
	deleteEvent := func(dn string, departed bool) error {
		return d.emit(ctx, Event{Type: EventChange, Change: Change{Type: ChangeDelete, ExternalID: e.guid, DN: dn, Departed: departed}})
	}
	switch {
	case e.guid == "":
		d.spec.Logger.Warn("DirSync returned an object without objectGUID; skipped", "dn", e.dn)
		return nil
	case e.deleted || e.dn == "":
		// A tombstone, or (DN empty) one the account may not read.
		if e.lastKnownParent != "" && !d.inBase(e.lastKnownParent) {
			return nil
		}
		return deleteEvent("", false)
	case !d.inBase(e.dn):
		// Outside the base: it may have just moved out. A change that is
		// not a rename or a move cannot have taken it out.
		if e.renamed {
			return deleteEvent(e.dn, true)
		}
		return nil
	}
	found, err := d.reread(ctx, e)
	if err != nil || found {
		return err
	}
	// It matches neither filter any more.
	return deleteEvent(e.dn, true)
}

// reread reads a changed object whole by its GUID, as a user when the user
// filter matches it, else as a group. A group's member attribute is left
// out and its DirSync deltas passed on instead — unless the group was
// created, renamed or moved, when its whole membership is read (the hub
// may not know it yet).
func (d *dirSyncer) reread(ctx context.Context, e dirSyncEntry) (bool, error) {
	guidDN := "<GUID=" + e.guid + ">"
	readUser := func() (bool, error) {
		return d.read(ctx, guidDN, ObjectUser, d.spec.UserFilter, d.spec.UserAttributes, nil)
	}
	readGroup := func() (bool, error) { return d.readGroup(ctx, guidDN, e) }
	first, second := readUser, readGroup
	if len(e.adds)+len(e.removes) > 0 {
		first, second = readGroup, readUser // only groups have members
	}
	found, err := first()
	if err != nil || found {
		return found, err
	}
	return second()
}

// readGroup re-reads a group, its membership as DirSync's deltas when it
// can.
func (d *dirSyncer) readGroup(ctx context.Context, guidDN string, e dirSyncEntry) (bool, error) {
	// A whole membership is read with extended DNs: each member comes with
	// its GUID, by which the hub keys it as the DN it knows that member by
	// (the member may have been renamed since the hub last heard of it,
	// and again before its own change arrives).
	attrs, modify, controls := d.spec.GroupAttributes, fromExtendedDNs, []ldapwire.Control{{OID: controlExtendedDN}}
	if d.members && !e.renamed {
		attrs = slices.DeleteFunc(slices.Clone(attrs), func(a string) bool { return strings.EqualFold(a, "member") })
		controls = nil
		modify = func(ch *Change) {
			ch.MembersIncremental = true
			if len(e.adds) > 0 {
				ch.MemberAdds = []Attribute{{Name: "member", Values: e.adds}}
			}
			if len(e.removes) > 0 {
				ch.MemberRemoves = []Attribute{{Name: "member", Values: e.removes}}
			}
		}
	}
	return d.read(ctx, guidDN, ObjectGroup, d.spec.GroupFilter, attrs, modify, controls...)
}

// fromExtendedDNs turns the extended DNs of a re-read into plain ones,
// keeping the GUID of each member as guidMember does.
func fromExtendedDNs(ch *Change) {
	ch.DN = stripExtendedDN(ch.DN)
	for i, a := range ch.Attributes {
		member := strings.EqualFold(a.Name, "member")
		for j, v := range a.Values {
			switch {
			case !strings.HasPrefix(v, "<"):
			case member:
				ch.Attributes[i].Values[j] = guidMember(v)
			default:
				ch.Attributes[i].Values[j] = stripExtendedDN(v)
			}
		}
	}
}

// read searches base (a <GUID=…> DN) for an object of kind and emits it,
// after modify, when filter matches it.
func (d *dirSyncer) read(ctx context.Context, base string, kind ObjectKind, filter string, attrs []string, modify func(*Change), controls ...ldapwire.Control) (bool, error) {
	sink := &rereadSink{emit: d.emit, modify: modify}
	imp := newImporter(d.conn, d.spec.Spec, sink)
	imp.controls = controls
	err := imp.searchUnder(ctx, base, ldap.ScopeBaseObject, kind, filter, attrs)
	if ldapwire.IsResultCode(err, ldap.LDAPResultNoSuchObject) {
		return false, nil // deleted since the round
	}
	return sink.found, err
}

// rereadSink emits what a re-read finds and notes that it found something.
type rereadSink struct {
	emit   func(context.Context, Event) error
	modify func(*Change)
	found  bool
}

var _ Sink = (*rereadSink)(nil)

func (s *rereadSink) Change(ctx context.Context, c Change) error {
	s.found = true
	if s.modify != nil {
		s.modify(&c)
	}
	return s.emit(ctx, Event{Type: EventChange, Change: c})
}

func (s *rereadSink) EntryError(ctx context.Context, e EntryError) error {
	s.found = true
	return s.emit(ctx, Event{Type: EventEntryError, Err: e})
}
