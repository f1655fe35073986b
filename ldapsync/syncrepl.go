package ldapsync

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/go-ldap/ldap/v3"
)

// presentBatch bounds the ids of one EventPresent made of present-state
// entries.
const presentBatch = 1000

// zeroUUID matches no entry: an entryUUID equality answered from the index.
const zeroUUID = "00000000-0000-0000-0000-000000000000"

// captureSyncrepl runs an RFC 4533 refreshAndPersist search from cp's
// cookie (none when cp is nil) until ctx ends or the search fails.
func captureSyncrepl(ctx context.Context, c *Conn, spec CaptureSpec, cp *checkpointState, emit func(context.Context, Event) error) error {
	h, err := newSyncreplHandler(c, spec, cp, emit)
	if err != nil {
		return err
	}
	req := ldap.NewSearchRequest(spec.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		h.filter, h.attributes, []ldap.Control{ldap.NewControlSyncRequest(ldap.SyncRequestModeRefreshAndPersist, h.sent, false)})
	err = c.stream(ctx, req, func(e *ldap.Entry, controls []ldap.Control) error {
		return h.handle(ctx, e, controls)
	})
	if err != nil {
		return h.classify(err)
	}
	return fmt.Errorf("syncrepl on %s: the server ended the persistent search under %q", c.url, spec.BaseDN)
}

// syncreplCheckpointNow asks for the server's current cookie with a
// refreshOnly sync that matches nothing.
func syncreplCheckpointNow(ctx context.Context, c *Conn, spec CaptureSpec) (checkpointState, error) {
	// A filter the capture cannot evaluate fails now, before the full
	// import this checkpoint is for.
	for _, f := range []string{spec.UserFilter, spec.GroupFilter} {
		if _, err := compileMatcher(f); err != nil {
			return checkpointState{}, fmt.Errorf("spec: %w", err)
		}
	}
	filter := "(&(|" + spec.UserFilter + spec.GroupFilter + ")(entryUUID=" + zeroUUID + "))"
	req := ldap.NewSearchRequest(spec.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		filter, []string{"1.1"}, []ldap.Control{ldap.NewControlSyncRequest(ldap.SyncRequestModeRefreshOnly, nil, false)})
	controls, err := c.search(ctx, req, func(*ldap.Entry) error { return nil })
	if err != nil {
		return checkpointState{}, fmt.Errorf("syncrepl checkpoint: %w", err)
	}
	done, _ := ldap.FindControl(controls, ldap.ControlTypeSyncDone).(*ldap.ControlSyncDone)
	if done == nil || len(done.Cookie) == 0 || statelessCookie(done.Cookie) {
		return checkpointState{}, fmt.Errorf("syncrepl checkpoint: %s returned no cookie under %q (is syncprov configured on that database?)", c.url, spec.BaseDN)
	}
	cp := newCheckpoint(StrategySyncrepl, spec)
	cp.Cookie = done.Cookie
	return cp, nil
}

// syncreplHandler turns the messages of one sync search into events. It is
// a state machine over RFC 4533's stages: refreshing until a syncInfo (or
// syncDone) says the refresh is done, then persisting. Checkpoints are held
// back during the refresh, so that a refresh cut short is redone from the
// previous checkpoint; while persisting each cookie becomes a checkpoint
// as soon as the events it covers are emitted.
type syncreplHandler struct {
	spec CaptureSpec
	emit func(context.Context, Event) error
	imp  *importer // normalises entries

	filter     string
	attributes []string
	users      *matcher
	groups     *matcher
	// wanted are the requested attributes (lower case) of each kind.
	wanted map[ObjectKind]map[string]bool

	cp   checkpointState // encodes checkpoints
	sent []byte          // the cookie the search started from
	// cookie is the newest cookie received; pending says it was not yet
	// emitted as a checkpoint.
	cookie  []byte
	pending bool

	refreshing bool
	// refreshCSN holds the entryCSN of each entry the refresh sent, until
	// the persist stage brings a change of it at least as new: changes made
	// while the refresh ran are queued by slapd as they were then, and may
	// follow the newer state the refresh read (upsertStale).
	refreshCSN map[string]string
	// present says the refresh used a present phase (or started from
	// nothing): the consumer may delete what it did not hear about.
	present bool
	// received says a message arrived: a refused cookie fails at once.
	received   bool
	presentIDs []string
}

func newSyncreplHandler(c *Conn, spec CaptureSpec, cp *checkpointState, emit func(context.Context, Event) error) (*syncreplHandler, error) {
	h := &syncreplHandler{spec: spec, emit: emit, imp: newImporter(c, spec.Spec, nil), refreshing: true,
		filter: "(|" + spec.UserFilter + spec.GroupFilter + ")", wanted: map[ObjectKind]map[string]bool{},
		refreshCSN: map[string]string{}}
	var err error
	if h.users, err = compileMatcher(spec.UserFilter); err != nil {
		return nil, fmt.Errorf("spec: UserFilter: %w", err)
	}
	if h.groups, err = compileMatcher(spec.GroupFilter); err != nil {
		return nil, fmt.Errorf("spec: GroupFilter: %w", err)
	}
	seen := map[string]bool{}
	add := func(names ...string) {
		for _, n := range names {
			if l := strings.ToLower(n); !seen[l] && l != idAttribute[spec.Kind] {
				seen[l] = true
				h.attributes = append(h.attributes, n)
			}
		}
	}
	for kind, attrs := range map[ObjectKind][]string{ObjectUser: spec.UserAttributes, ObjectGroup: spec.GroupAttributes} {
		h.wanted[kind] = map[string]bool{}
		for _, a := range attrs {
			h.wanted[kind][strings.ToLower(a)] = true
		}
	}
	add(spec.UserAttributes...)
	add(spec.GroupAttributes...)
	add(h.users.attributes()...)
	add(h.groups.attributes()...)
	add(entryCSN) // orders a refresh's entries against the changes queued meanwhile
	if len(h.attributes) == 0 {
		h.attributes = []string{"1.1"} // an empty list would ask for every attribute
	}
	if cp != nil {
		h.cp, h.sent, h.cookie = *cp, cp.Cookie, cp.Cookie
	} else {
		h.cp = newCheckpoint(StrategySyncrepl, spec)
		h.present = true // a refresh from nothing lists the whole content
	}
	return h, nil
}

// handle processes one message: an entry with its controls, or (e nil) the
// controls of an intermediate response or of the final result.
func (h *syncreplHandler) handle(ctx context.Context, e *ldap.Entry, controls []ldap.Control) error {
	h.received = true
	if e != nil {
		state, _ := ldap.FindControl(controls, ldap.ControlTypeSyncState).(*ldap.ControlSyncState)
		if state == nil {
			return fmt.Errorf("syncrepl: entry %q came without a syncState control", e.DN)
		}
		if err := h.entry(ctx, e, state); err != nil {
			return err
		}
		return h.setCookie(ctx, state.Cookie)
	}
	for _, ctl := range controls {
		var err error
		switch ctl := ctl.(type) {
		case *ldap.ControlSyncInfo:
			err = h.info(ctx, ctl)
		case *ldap.ControlSyncDone:
			// refreshOnly's end, or a persistent search the server ends.
			if !ctl.RefreshDeletes && h.refreshing {
				h.present = true
			}
			h.keepCookie(ctl.Cookie)
			err = h.finishRefresh(ctx)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// entry handles an entry by its sync state.
func (h *syncreplHandler) entry(ctx context.Context, e *ldap.Entry, state *ldap.ControlSyncState) error {
	id := state.EntryUUID.String()
	switch state.State {
	case ldap.SyncStatePresent:
		if h.refreshing {
			h.present = true
		}
		h.presentIDs = append(h.presentIDs, id)
		if len(h.presentIDs) >= presentBatch {
			return h.flushPresent(ctx)
		}
		return nil
	case ldap.SyncStateAdd, ldap.SyncStateModify:
		if err := h.flushPresent(ctx); err != nil {
			return err
		}
		return h.upsert(ctx, e, id)
	case ldap.SyncStateDelete:
		if err := h.flushPresent(ctx); err != nil {
			return err
		}
		delete(h.refreshCSN, id)
		return h.emit(ctx, Event{Type: EventChange, Change: Change{Type: ChangeDelete, ExternalID: id, DN: e.DN}})
	}
	return fmt.Errorf("syncrepl: entry %q has an unknown sync state %d", e.DN, state.State)
}

// upsert classifies a full entry as user or group with the spec's filters
// and emits it with that kind's attributes.
func (h *syncreplHandler) upsert(ctx context.Context, e *ldap.Entry, id string) error {
	values := make(map[string][]string, len(e.Attributes))
	for _, a := range e.Attributes {
		values[attrName(a.Name)] = a.Values
	}
	if h.upsertStale(id, values[strings.ToLower(entryCSN)]) {
		return nil
	}
	var kind ObjectKind
	switch {
	case h.users.match(values):
		kind = ObjectUser
	case h.groups.match(values):
		kind = ObjectGroup
	default:
		return h.emit(ctx, Event{Type: EventEntryError, Err: EntryError{DN: e.DN, ExternalID: id, Message: fmt.Sprintf(
			"the server matched the entry to %s, but it matches neither UserFilter nor GroupFilter as ldapsync evaluates them (by the values the entry holds)", h.filter)}})
	}
	kept := &ldap.Entry{DN: e.DN, Attributes: make([]*ldap.EntryAttribute, 0, len(e.Attributes)+1)}
	for _, a := range e.Attributes {
		if name := attrName(a.Name); h.wanted[kind][name] && name != idAttribute[h.spec.Kind] {
			kept.Attributes = append(kept.Attributes, a)
		}
	}
	// The syncState's entryUUID is the id, whether or not it was read.
	kept.Attributes = append(kept.Attributes, &ldap.EntryAttribute{Name: idAttribute[h.spec.Kind], Values: []string{id}, ByteValues: [][]byte{[]byte(id)}})
	ch, _, eerr := h.imp.normalizeLDAP(kind, kept)
	if eerr != nil {
		return h.emit(ctx, Event{Type: EventEntryError, Err: *eerr})
	}
	sortAttributes(ch.Attributes)
	return h.emit(ctx, Event{Type: EventChange, Change: ch})
}

// entryCSN is the operational attribute with the CSN of an entry's last
// change.
const entryCSN = "entryCSN"

// upsertStale reports whether an entry, whose entryCSN is csn, is older
// than what the refresh sent of it. slapd reads a refresh's entries as they
// are when it reaches them, and queues the changes made meanwhile, each
// with the entry as that change left it, for after the refresh: an entry
// changed twice while the refresh ran comes in its newest state, then in
// the older one, then in the newest again. Applying the older one would
// undo a change for a while (an app would see it) and count as a write that
// no one made. Changes that follow each other in the persist stage come in
// order. Without an entryCSN there is nothing to compare.
func (h *syncreplHandler) upsertStale(id string, csn []string) bool {
	if len(csn) != 1 {
		return false
	}
	if h.refreshing {
		if prev, ok := h.refreshCSN[id]; !ok || csn[0] > prev {
			h.refreshCSN[id] = csn[0]
		}
		return false
	}
	prev, ok := h.refreshCSN[id]
	switch {
	case !ok:
		return false
	case csn[0] < prev:
		return true
	}
	// As new as the refresh's or newer: what follows of it is newer still.
	delete(h.refreshCSN, id)
	return false
}

// info handles a syncInfo intermediate message.
func (h *syncreplHandler) info(ctx context.Context, info *ldap.ControlSyncInfo) error {
	if err := h.flushPresent(ctx); err != nil {
		return err
	}
	switch info.Value {
	case ldap.SyncInfoNewcookie:
		return h.setCookie(ctx, info.NewCookie.Cookie)
	case ldap.SyncInfoRefreshDelete:
		h.keepCookie(info.RefreshDelete.Cookie)
		if info.RefreshDelete.RefreshDone {
			return h.finishRefresh(ctx)
		}
	case ldap.SyncInfoRefreshPresent:
		if h.refreshing {
			h.present = true
		}
		h.keepCookie(info.RefreshPresent.Cookie)
		if info.RefreshPresent.RefreshDone {
			return h.finishRefresh(ctx)
		}
	case ldap.SyncInfoSyncIdSet:
		set := info.SyncIdSet
		ids := make([]string, len(set.SyncUUIDs))
		for i, u := range set.SyncUUIDs {
			ids[i] = u.String()
		}
		if set.RefreshDeletes {
			for _, id := range ids {
				if err := h.emit(ctx, Event{Type: EventChange, Change: Change{Type: ChangeDelete, ExternalID: id}}); err != nil {
					return err
				}
			}
		} else if len(ids) > 0 {
			if h.refreshing {
				h.present = true
			}
			if err := h.emit(ctx, Event{Type: EventPresent, IDs: ids}); err != nil {
				return err
			}
		}
		return h.setCookie(ctx, set.Cookie)
	}
	return nil
}

// keepCookie records a cookie without emitting it. A cookie that names no
// state is dropped: the one before still covers every event emitted.
func (h *syncreplHandler) keepCookie(cookie []byte) {
	if len(cookie) > 0 && !statelessCookie(cookie) {
		h.cookie, h.pending = cookie, true
	}
}

// statelessCookie reports whether cookie is an OpenLDAP cookie without a
// CSN ("rid=000", perhaps with a sid). syncprov sends one with a change
// that committed while a write with an earlier CSN was still pending (its
// cookie carries the newest CSN with no pending write before it, and there
// is none yet). A search resumed from it has no state to start from: slapd
// sends every entry again, no delete and no present phase, so the deletes
// made since the previous cookie would be lost. Other servers' cookies are
// opaque and do not take this form.
func statelessCookie(cookie []byte) bool {
	for field := range strings.SplitSeq(string(cookie), ",") {
		if key, _, _ := strings.Cut(field, "="); key != "rid" && key != "sid" {
			return false
		}
	}
	return true
}

// setCookie records a cookie and, once the refresh is over, emits it: every
// event before it is covered.
func (h *syncreplHandler) setCookie(ctx context.Context, cookie []byte) error {
	h.keepCookie(cookie)
	if h.refreshing || !h.pending {
		return nil
	}
	return h.checkpoint(ctx)
}

func (h *syncreplHandler) checkpoint(ctx context.Context) error {
	cp := h.cp
	cp.Cookie = h.cookie
	h.pending = false
	return h.emit(ctx, Event{Type: EventCheckpoint, Checkpoint: cp.encode()})
}

// finishRefresh ends the refresh stage: the refresh-done event, then the
// checkpoint that covers the refresh.
func (h *syncreplHandler) finishRefresh(ctx context.Context) error {
	if !h.refreshing {
		return nil
	}
	if err := h.flushPresent(ctx); err != nil {
		return err
	}
	h.refreshing = false
	if err := h.emit(ctx, Event{Type: EventRefreshDone, PresentPhase: h.present}); err != nil {
		return err
	}
	if len(h.cookie) == 0 {
		return nil // the server has no state yet (an empty database)
	}
	return h.checkpoint(ctx)
}

func (h *syncreplHandler) flushPresent(ctx context.Context) error {
	if len(h.presentIDs) == 0 {
		return nil
	}
	ids := h.presentIDs
	h.presentIDs = nil
	return h.emit(ctx, Event{Type: EventPresent, IDs: ids})
}

// classify turns a failed sync search into ErrReconcile when the server
// says the cookie cannot be served.
func (h *syncreplHandler) classify(err error) error {
	var lerr *ldap.Error
	if !errors.As(err, &lerr) {
		return err
	}
	switch {
	case lerr.ResultCode == ldap.LDAPResultSyncRefreshRequired:
		return fmt.Errorf("syncrepl: the server asks for a full refresh (e-syncRefreshRequired): %v: %w", err, ErrReconcile)
	case lerr.ResultCode == ldap.LDAPResultUnwillingToPerform && len(h.sent) > 0 && !h.received:
		// slapd refuses a cookie newer than its own state this way.
		return fmt.Errorf("syncrepl: the server refused the checkpoint's cookie: %v: %w", err, ErrReconcile)
	}
	return err
}
