package ldapwire

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/go-ldap/ldap/v3"
)

// Search scopes (RFC 4511 section 4.5.1.2), the values of go-ldap's.
const (
	ScopeBaseObject   = 0
	ScopeSingleLevel  = 1
	ScopeWholeSubtree = 2
)

// SearchRequest is one search, or one page of a paged search. Aliases are
// never dereferenced and there is no time limit.
type SearchRequest struct {
	BaseDN string
	// Scope is one of the Scope constants.
	Scope int
	// Filter is an RFC 4515 filter; "(objectClass=*)" when empty.
	Filter string
	// Attributes are the attribute descriptions to return, options
	// included ("member;range=1500-*"); none means all user attributes.
	Attributes []string
	// SizeLimit caps the number of entries; 0 means the server's limit.
	SizeLimit int
	// PageSize, when positive, asks for pages of that many entries with the
	// simple paged results control (RFC 2696, not critical: a server
	// without paging returns everything at once).
	PageSize int
	// Cookie is the cookie of the previous page; nil for the first.
	Cookie []byte
	// Controls are extra request controls.
	Controls []Control
}

// filter returns the filter to send.
func (req *SearchRequest) filter() string {
	if req.Filter == "" {
		return "(objectClass=*)"
	}
	return req.Filter
}

// Control is a request control.
type Control struct {
	// OID is the controlType.
	OID string
	// Critical asks the server to fail the operation rather than ignore a
	// control it does not support.
	Critical bool
	// Value is the controlValue, already BER-encoded; nil for none.
	Value []byte
}

// Search sends req and calls fn for every entry as it arrives. It returns
// the cookie of the paged results control in the final result (a fresh
// slice): empty on the last page or when the server does not page. Continuation
// references and intermediate responses are skipped. A result other than
// success is a *ResultError (Code 32 when the base DN does not exist).
//
// The Entry and all its slices are valid only until fn returns: they point
// into a buffer that the next message overwrites. fn must not use c.
//
// When fn returns an error, Search sends an Abandon request and returns the
// error as it is; the connection stays usable (late entries of the
// abandoned search are skipped). When ctx ends first, Search closes the
// connection (that is how it interrupts a blocked read) and returns ctx's
// error; the Conn is unusable afterwards.
func (c *Conn) Search(ctx context.Context, req *SearchRequest, fn func(*Entry) error) (cookie []byte, err error) {
	var fnErr error
	err = c.do(ctx, func() error {
		id := c.nextID()
		if err := c.encodeSearch(id, req); err != nil {
			return err
		}
		if err := c.send(c.wbuf); err != nil {
			return err
		}
		for {
			m, err := c.receive(id)
			if err != nil {
				return err
			}
			switch m.op {
			case tagSearchEntry:
				if err := parseEntry(m.body, &c.entry); err != nil {
					c.abandon(id)
					return fmt.Errorf("entry: %w", err)
				}
				if c.interrupted.Load() {
					return errInterrupted // do returns ctx's error
				}
				if fnErr = fn(&c.entry); fnErr != nil {
					c.abandon(id)
					return fnErr
				}
			case tagSearchReference, tagIntermediate:
			case tagSearchDone:
				r, err := parseResult(m.body)
				if err != nil {
					return fmt.Errorf("search result: %w", err)
				}
				if err := resultError(r); err != nil {
					return err
				}
				raw, _, err := pagingCookie(m.controls)
				if err != nil {
					return fmt.Errorf("search result controls: %w", err)
				}
				if len(raw) > 0 {
					cookie = append([]byte(nil), raw...)
				}
				return nil
			default:
				return c.fail(malformed("response 0x%02x to a search", m.op))
			}
		}
	})
	switch {
	case err == nil:
		return cookie, nil
	case fnErr != nil && errors.Is(err, fnErr), ctx.Err() != nil && errors.Is(err, ctx.Err()):
		return nil, err
	}
	return nil, fmt.Errorf("searching %s under %q for %s: %w", c.url, req.BaseDN, req.filter(), err)
}

// encodeSearch writes the SearchRequest message into c.wbuf.
func (c *Conn) encodeSearch(id int32, req *SearchRequest) error {
	switch {
	case req.Scope < ScopeBaseObject || req.Scope > ScopeWholeSubtree:
		return fmt.Errorf("scope %d is not one of 0 (base), 1 (one level), 2 (subtree)", req.Scope)
	case req.SizeLimit < 0 || req.SizeLimit > math.MaxInt32:
		return fmt.Errorf("size limit %d is out of range", req.SizeLimit)
	case req.PageSize < 0 || req.PageSize > math.MaxInt32:
		return fmt.Errorf("page size %d is out of range", req.PageSize)
	}
	filter := req.filter()
	if filter != c.filter || c.filterBER == nil {
		p, err := ldap.CompileFilter(filter)
		if err != nil {
			return fmt.Errorf("filter %s: %w", filter, err)
		}
		c.filter, c.filterBER = filter, p.Bytes()
	}
	c.wbuf = envelope(c.wbuf[:0], id, func(b []byte) []byte {
		b, op := begin(b, tagSearchRequest)
		b = appendBytes(b, tagOctetString, req.BaseDN)
		b = appendInt(b, tagEnumerated, int64(req.Scope))
		b = appendInt(b, tagEnumerated, 0) // neverDerefAliases
		b = appendInt(b, tagInteger, int64(req.SizeLimit))
		b = appendInt(b, tagInteger, 0) // no time limit
		b = appendBool(b, false)        // types and values
		b = append(b, c.filterBER...)
		b, attrs := begin(b, tagSequence)
		for _, a := range req.Attributes {
			b = appendBytes(b, tagOctetString, a)
		}
		b = end(b, attrs)
		b = end(b, op)
		if req.PageSize == 0 && len(req.Controls) == 0 {
			return b
		}
		b, controls := begin(b, tagControls)
		if req.PageSize > 0 {
			var value []byte
			value, seq := begin(value, tagSequence)
			value = appendInt(value, tagInteger, int64(req.PageSize))
			value = appendBytes(value, tagOctetString, req.Cookie)
			b = appendControl(b, Control{OID: oidPaging, Value: end(value, seq)})
		}
		for _, ctl := range req.Controls {
			b = appendControl(b, ctl)
		}
		return end(b, controls)
	})
	return nil
}

// appendControl appends one Control.
func appendControl(b []byte, ctl Control) []byte {
	b, start := begin(b, tagSequence)
	b = appendBytes(b, tagOctetString, ctl.OID)
	if ctl.Critical {
		b = appendBool(b, true)
	}
	if ctl.Value != nil {
		b = appendBytes(b, tagOctetString, ctl.Value)
	}
	return end(b, start)
}
