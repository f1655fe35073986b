package ldapsync

import (
	"context"
	"encoding/asn1"
	"fmt"
	"slices"
	"sync/atomic"

	"github.com/go-ldap/ldap/v3"
)

// psearchBuffer bounds the persistent-search results held while the
// catch-up search runs; more than that fails the capture (it is retried)
// rather than stalling the connection both searches share.
const psearchBuffer = 10_000

// Change types of the persistent search control and the entry change
// notification (draft-ietf-ldapext-psearch-03).
const (
	psearchAdd    = 1
	psearchDelete = 2
	psearchModify = 4
	psearchModDN  = 8
)

// psearchControl asks for every change type, changes only, with entry
// change notifications.
func psearchControl() ldap.Control {
	value, err := asn1.Marshal(struct {
		ChangeTypes int
		ChangesOnly bool
		ReturnECs   bool
	}{psearchAdd | psearchDelete | psearchModify | psearchModDN, true, true})
	if err != nil {
		panic(fmt.Sprintf("ldapsync: encoding the persistent search control: %v", err)) // constant input
	}
	return ldap.NewControlString(oidPersistentSearch, true, string(value))
}

// entryChangeType reads the change type of an entry change notification
// control among controls; 0 when there is none.
func entryChangeType(controls []ldap.Control) (int, error) {
	ctl, _ := ldap.FindControl(controls, oidEntryChange).(*ldap.ControlString)
	if ctl == nil {
		return 0, nil
	}
	var ecn struct {
		ChangeType   asn1.Enumerated
		PreviousDN   []byte `asn1:"optional"`
		ChangeNumber int64  `asn1:"optional"`
	}
	if _, err := asn1.Unmarshal([]byte(ctl.ControlValue), &ecn); err != nil {
		return 0, fmt.Errorf("entry change notification: %w", err)
	}
	return int(ecn.ChangeType), nil
}

// psearchResult is one entry of a persistent search.
type psearchResult struct {
	kind     ObjectKind
	entry    *ldap.Entry
	controls []ldap.Control
}

// capturePersistentSearch runs one persistent search per kind (the server
// decides the kind, no filter is evaluated here), catches up by
// modifyTimestamp from the checkpoint while their results wait, then emits
// the persistent searches' changes as they come.
func capturePersistentSearch(ctx context.Context, c *Conn, spec CaptureSpec, cp *checkpointState, emit func(context.Context, Event) error) error {
	p := newPoller(c, spec, StrategyPersistentSearch, cp, emit)
	if err := p.start(ctx, cp == nil); err != nil {
		return err
	}
	psCtx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	results := make(chan psearchResult, psearchBuffer)
	var catchingUp atomic.Bool
	catchingUp.Store(true)
	imp := newImporter(c, spec.Spec, nil)
	for _, k := range []struct {
		kind   ObjectKind
		filter string
		attrs  []string
	}{
		{ObjectUser, spec.UserFilter, spec.UserAttributes},
		{ObjectGroup, spec.GroupFilter, spec.GroupAttributes},
	} {
		req := ldap.NewSearchRequest(spec.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false, k.filter,
			spec.requestAttributes(slices.Concat(k.attrs, []string{modifyTimestamp})), []ldap.Control{psearchControl()})
		go func() {
			err := c.stream(psCtx, req, func(e *ldap.Entry, controls []ldap.Control) error {
				if e == nil {
					return nil
				}
				r := psearchResult{kind: k.kind, entry: e, controls: controls}
				select {
				case results <- r:
					return nil
				default:
				}
				if catchingUp.Load() {
					return fmt.Errorf("more than %d changes arrived during the catch-up search", psearchBuffer)
				}
				select {
				case results <- r:
					return nil
				case <-psCtx.Done():
					return psCtx.Err()
				}
			})
			if err == nil {
				err = fmt.Errorf("the server ended the persistent search for %ss", k.kind)
			}
			stop(fmt.Errorf("persistent search on %s: %w", c.url, err))
		}()
	}
	if err := p.round(ctx); err != nil {
		return err
	}
	catchingUp.Store(false)
	if err := emit(ctx, Event{Type: EventRefreshDone}); err != nil {
		return err
	}
	if err := p.checkpoint(ctx); err != nil {
		return err
	}
	for {
		select {
		case <-psCtx.Done():
			if err := ctx.Err(); err != nil {
				return err
			}
			return context.Cause(psCtx)
		case r := <-results:
			if err := p.persisted(ctx, imp, r); err != nil {
				return err
			}
		}
	}
}

// persisted emits one persistent-search result and the checkpoint after
// it.
func (p *poller) persisted(ctx context.Context, imp *importer, r psearchResult) error {
	changeType, err := entryChangeType(r.controls)
	if err != nil {
		return p.acceptError(ctx, EntryError{DN: r.entry.DN, Kind: r.kind, Message: err.Error()})
	}
	ch, ranges, eerr := imp.normalizeLDAP(r.kind, r.entry)
	switch {
	case eerr != nil:
		return p.acceptError(ctx, *eerr)
	case len(ranges) > 0:
		return p.acceptError(ctx, EntryError{DN: ch.DN, ExternalID: ch.ExternalID, Kind: r.kind,
			Message: "the server sent an attribute in ranges, which a persistent search cannot complete; the next full import reads it"})
	case changeType == psearchDelete:
		err = p.emit(ctx, Event{Type: EventChange, Change: Change{Type: ChangeDelete, Kind: r.kind, ExternalID: ch.ExternalID, DN: ch.DN}})
	default:
		sortAttributes(ch.Attributes)
		var emitted bool
		if emitted, err = p.accept(ctx, ch); err == nil && !emitted {
			return nil
		}
	}
	if err != nil {
		return err
	}
	return p.checkpoint(ctx)
}
