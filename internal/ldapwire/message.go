package ldapwire

import (
	"bytes"
	"fmt"
)

// Entry is one SearchResultEntry. Its slices point into the Conn's message
// buffer: they are valid only until the callback that received the Entry
// returns. Clone keeps a copy. The capacity of a DN, name or value ends at
// its length, so that an append copies it rather than overwrite the buffer.
type Entry struct {
	// DN is the entry's name exactly as the server sent it.
	DN []byte
	// Attrs are the attributes in the server's order.
	Attrs []Attr
}

// Attr is one attribute of an Entry.
type Attr struct {
	// Name is the attribute description exactly as the server sent it,
	// options included ("member;range=0-1499").
	Name []byte
	// Values are the values in the server's order.
	Values [][]byte
}

// Clone returns a deep copy of e that stays valid after the callback
// returns, in a single allocation for all the bytes.
func (e *Entry) Clone() Entry {
	size := len(e.DN)
	values := 0
	for _, a := range e.Attrs {
		size += len(a.Name)
		for _, v := range a.Values {
			size += len(v)
		}
		values += len(a.Values)
	}
	data := make([]byte, 0, size)
	keep := func(b []byte) []byte {
		data = append(data, b...)
		return data[len(data)-len(b) : len(data) : len(data)]
	}
	out := Entry{DN: keep(e.DN), Attrs: make([]Attr, len(e.Attrs))}
	all := make([][]byte, values)
	for i, a := range e.Attrs {
		vs := all[:len(a.Values):len(a.Values)]
		all = all[len(a.Values):]
		for j, v := range a.Values {
			vs[j] = keep(v)
		}
		out.Attrs[i] = Attr{Name: keep(a.Name), Values: vs}
	}
	return out
}

// message is an LDAPMessage split into its parts, all aliasing the buffer.
type message struct {
	id       int32
	op       byte   // the protocolOp's identifier
	body     []byte // the protocolOp's contents
	controls []byte // the contents of controls [0]; nil when absent
}

// parseMessage splits the contents of an LDAPMessage SEQUENCE.
func parseMessage(b []byte) (message, error) {
	id, b, err := count(b, tagInteger, "message id")
	if err != nil {
		return message{}, err
	}
	op, body, b, err := element(b)
	if err != nil {
		return message{}, fmt.Errorf("protocol op of message %d: %w", id, err)
	}
	m := message{id: id, op: op, body: body}
	if len(b) > 0 {
		if m.controls, b, err = expect(b, tagControls, "controls"); err != nil {
			return message{}, err
		}
		if m.controls == nil {
			m.controls = []byte{} // present but empty
		}
	}
	if len(b) > 0 {
		return message{}, malformed("%d bytes after the controls of message %d", len(b), id)
	}
	return m, nil
}

// count splits a non-negative 32-bit INTEGER or ENUMERATED tagged tag off
// the front of b.
func count(b []byte, tag byte, what string) (int32, []byte, error) {
	content, rest, err := expect(b, tag, what)
	if err != nil {
		return 0, nil, err
	}
	v, err := integer(content, what)
	if err != nil {
		return 0, nil, err
	}
	if v < 0 {
		return 0, nil, malformed("negative %s %d", what, v)
	}
	return v, rest, nil
}

// parseEntry decodes the contents of a SearchResultEntry into e, reusing
// e's slices.
func parseEntry(b []byte, e *Entry) error {
	dn, b, err := expect(b, tagOctetString, "entry DN")
	if err != nil {
		return err
	}
	list, b, err := expect(b, tagSequence, "attribute list")
	if err != nil {
		return err
	}
	if len(b) > 0 {
		return malformed("%d bytes after the attributes of an entry", len(b))
	}
	e.DN, e.Attrs = dn, e.Attrs[:0]
	for len(list) > 0 {
		var pa []byte
		if pa, list, err = expect(list, tagSequence, "attribute"); err != nil {
			return err
		}
		name, rest, err := expect(pa, tagOctetString, "attribute name")
		if err != nil {
			return err
		}
		// vals is a SET OF; a few old servers send a SEQUENCE.
		tag, vals, rest, err := element(rest)
		switch {
		case err != nil:
			return fmt.Errorf("values of %q: %w", name, err)
		case tag != tagSet && tag != tagSequence:
			return malformed("values of %q have tag 0x%02x, want a SET", name, tag)
		case len(rest) > 0:
			return malformed("%d bytes after the values of %q", len(rest), name)
		}
		a := e.addAttr(name)
		for len(vals) > 0 {
			var v []byte
			if v, vals, err = expect(vals, tagOctetString, "value"); err != nil {
				return fmt.Errorf("attribute %q: %w", name, err)
			}
			a.Values = append(a.Values, v)
		}
	}
	return nil
}

// addAttr appends an attribute named name, reusing the Values array a
// previous entry left in that slot.
func (e *Entry) addAttr(name []byte) *Attr {
	n := len(e.Attrs)
	if n < cap(e.Attrs) {
		e.Attrs = e.Attrs[:n+1]
		a := &e.Attrs[n]
		a.Name, a.Values = name, a.Values[:0]
		return a
	}
	e.Attrs = append(e.Attrs, Attr{Name: name})
	return &e.Attrs[n]
}

// result is an LDAPResult; rest holds the elements after it (referral [3],
// serverSaslCreds [7], responseName [10], …).
type result struct {
	code               int32
	matchedDN, message []byte
	rest               []byte
}

// parseResult decodes the LDAPResult at the front of a response's contents.
func parseResult(b []byte) (result, error) {
	code, b, err := count(b, tagEnumerated, "result code")
	if err != nil {
		return result{}, err
	}
	r := result{code: code}
	if r.matchedDN, b, err = expect(b, tagOctetString, "matched DN"); err != nil {
		return result{}, err
	}
	if r.message, b, err = expect(b, tagOctetString, "diagnostic message"); err != nil {
		return result{}, err
	}
	// The optional elements that follow only need to be well formed.
	for rest := b; len(rest) > 0; {
		if _, _, rest, err = element(rest); err != nil {
			return result{}, fmt.Errorf("after the result: %w", err)
		}
	}
	r.rest = b
	return r, nil
}

// find returns the contents of the first element tagged tag among the
// well-formed elements of b, and whether there is one.
func find(b []byte, tag byte) ([]byte, bool) {
	for len(b) > 0 {
		t, content, rest, err := element(b)
		if err != nil {
			return nil, false
		}
		if t == tag {
			return content, true
		}
		b = rest
	}
	return nil, false
}

// oidPaging is the simple paged results control (RFC 2696).
const oidPaging = "1.2.840.113556.1.4.319"

// oidNoticeOfDisconnection names the unsolicited notification a server
// sends before it drops the connection (RFC 4511 section 4.4.1).
const oidNoticeOfDisconnection = "1.3.6.1.4.1.1466.20036"

// control is one decoded Control.
type control struct {
	oid      []byte
	critical bool
	value    []byte // nil when absent
}

// eachControl calls fn for every control in the contents of controls [0].
func eachControl(b []byte, fn func(control) error) error {
	for len(b) > 0 {
		var cb []byte
		var err error
		if cb, b, err = expect(b, tagSequence, "control"); err != nil {
			return err
		}
		var c control
		if c.oid, cb, err = expect(cb, tagOctetString, "control type"); err != nil {
			return err
		}
		if len(cb) > 0 && cb[0] == tagBoolean {
			var crit []byte
			if crit, cb, err = expect(cb, tagBoolean, "control criticality"); err != nil {
				return err
			}
			if len(crit) != 1 {
				return malformed("control %s: criticality of %d bytes", c.oid, len(crit))
			}
			c.critical = crit[0] != 0
		}
		if len(cb) > 0 {
			if c.value, cb, err = expect(cb, tagOctetString, "control value"); err != nil {
				return err
			}
			if c.value == nil {
				c.value = []byte{}
			}
		}
		if len(cb) > 0 {
			return malformed("control %s: %d bytes after its value", c.oid, len(cb))
		}
		if err := fn(c); err != nil {
			return err
		}
	}
	return nil
}

// pagingCookie returns the cookie of the paged results control among the
// contents of controls [0], and whether the control is there.
func pagingCookie(controls []byte) (cookie []byte, found bool, err error) {
	err = eachControl(controls, func(c control) error {
		if found || !bytes.Equal(c.oid, []byte(oidPaging)) {
			return nil
		}
		found = true
		v, rest, err := expect(c.value, tagSequence, "paged results value")
		if err != nil {
			return err
		}
		if len(rest) > 0 {
			return malformed("%d bytes after the paged results value", len(rest))
		}
		size, v, err := expect(v, tagInteger, "paged results size")
		if err != nil {
			return err
		}
		if _, err := integer(size, "paged results size"); err != nil {
			return err
		}
		if cookie, v, err = expect(v, tagOctetString, "paged results cookie"); err != nil {
			return err
		}
		if len(v) > 0 {
			return malformed("%d bytes after the paged results cookie", len(v))
		}
		return nil
	})
	return cookie, found, err
}
