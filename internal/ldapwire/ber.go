package ldapwire

import (
	"errors"
	"fmt"
)

// ErrMalformed is wrapped by every error about bytes from the server that
// are not a well-formed LDAP message.
var ErrMalformed = errors.New("malformed LDAP message")

// BER identifier octets used by LDAP (RFC 4511 section 4 and Appendix B).
const (
	tagBoolean     = 0x01
	tagInteger     = 0x02
	tagOctetString = 0x04
	tagEnumerated  = 0x0a
	tagSequence    = 0x30 // constructed
	tagSet         = 0x31 // constructed

	tagBindRequest      = 0x60 // [APPLICATION 0] constructed
	tagBindResponse     = 0x61
	tagUnbindRequest    = 0x42 // [APPLICATION 2] primitive NULL
	tagSearchRequest    = 0x63
	tagSearchEntry      = 0x64 // [APPLICATION 4]
	tagSearchDone       = 0x65 // [APPLICATION 5]
	tagAbandonRequest   = 0x50 // [APPLICATION 16] primitive INTEGER
	tagSearchReference  = 0x73 // [APPLICATION 19]
	tagExtendedRequest  = 0x77 // [APPLICATION 23]
	tagExtendedResponse = 0x78 // [APPLICATION 24]
	tagIntermediate     = 0x79 // [APPLICATION 25]

	tagControls     = 0xa0 // [0] constructed, in LDAPMessage
	tagSimpleAuth   = 0x80 // [0] primitive, in BindRequest
	tagExtendedName = 0x80 // [0] primitive, in ExtendedRequest
	tagResponseName = 0x8a // [10] primitive, in ExtendedResponse
)

// malformed returns an ErrMalformed error saying what was wrong.
func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// element splits one BER element off the front of b: its identifier octet,
// its contents and the bytes after it. Contents alias b. Only the definite
// length forms are accepted (RFC 4511 section 5.1), and only single-octet
// identifiers, the only ones LDAP uses.
func element(b []byte) (tag byte, content, rest []byte, err error) {
	if len(b) < 2 {
		return 0, nil, nil, malformed("element truncated after %d bytes", len(b))
	}
	tag = b[0]
	if tag&0x1f == 0x1f {
		return 0, nil, nil, malformed("multi-octet tag 0x%02x", tag)
	}
	n, size, err := length(b[1:], len(b)-1)
	if err != nil {
		return 0, nil, nil, err
	}
	start := 1 + size
	if n > len(b)-start {
		return 0, nil, nil, malformed("element of %d bytes where %d remain", n, len(b)-start)
	}
	return tag, b[start : start+n : start+n], b[start+n:], nil
}

// length decodes the length octets at the front of b: the length and how
// many octets encode it. A length above limit is an error, so that callers
// need no overflow checks.
func length(b []byte, limit int) (n, size int, err error) {
	if len(b) == 0 {
		return 0, 0, malformed("length missing")
	}
	first := b[0]
	switch {
	case first < 0x80:
		return int(first), 1, nil
	case first == 0x80:
		return 0, 0, malformed("indefinite length")
	case first == 0xff:
		return 0, 0, malformed("reserved length octet 0xff")
	}
	k := int(first & 0x7f)
	if k > 8 {
		return 0, 0, malformed("length of %d octets", k)
	}
	if len(b) < 1+k {
		return 0, 0, malformed("length truncated")
	}
	var v uint64
	for _, c := range b[1 : 1+k] {
		if v > uint64(limit)>>8 {
			return 0, 0, malformed("length exceeds %d bytes", limit)
		}
		v = v<<8 | uint64(c)
	}
	if v > uint64(limit) {
		return 0, 0, malformed("length %d exceeds %d bytes", v, limit)
	}
	return int(v), 1 + k, nil
}

// expect splits an element with identifier want off the front of b; what
// names it in the error. The common case, a short length, is inlined: it
// is most of the decoding work.
func expect(b []byte, want byte, what string) (content, rest []byte, err error) {
	if len(b) >= 2 && b[0] == want {
		if end := 2 + int(b[1]); end <= len(b) && b[1] < 0x80 {
			return b[2:end:end], b[end:], nil
		}
	}
	return expectLong(b, want, what)
}

// expectLong is expect for long lengths and errors.
func expectLong(b []byte, want byte, what string) (content, rest []byte, err error) {
	tag, content, rest, err := element(b)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", what, err)
	}
	if tag != want {
		return nil, nil, malformed("%s has tag 0x%02x, want 0x%02x", what, tag, want)
	}
	return content, rest, nil
}

// integer decodes the contents of an INTEGER or ENUMERATED that must fit in
// 32 bits (message ids, result codes, sizes).
func integer(content []byte, what string) (int32, error) {
	if len(content) == 0 || len(content) > 4 {
		return 0, malformed("%s is an integer of %d bytes", what, len(content))
	}
	v := int32(int8(content[0])) // sign-extend the first octet
	for _, c := range content[1:] {
		v = v<<8 | int32(c)
	}
	return v, nil
}

// The encoding helpers append to a request buffer. Constructed elements are
// opened with begin, which leaves one length octet, and closed with end,
// which writes the minimal length and moves the contents when it needs
// more octets: requests are small, so the move costs nothing that matters.

// begin appends the identifier and a length placeholder; end takes the
// returned offset.
func begin(b []byte, tag byte) ([]byte, int) {
	b = append(b, tag, 0)
	return b, len(b)
}

// end writes the length of the element whose contents start at start.
func end(b []byte, start int) []byte {
	n := len(b) - start
	if n < 0x80 {
		b[start-1] = byte(n)
		return b
	}
	k := 0
	for v := n; v > 0; v >>= 8 {
		k++
	}
	b = append(b, make([]byte, k)...)
	copy(b[start+k:], b[start:start+n])
	b[start-1] = 0x80 | byte(k)
	for i := k - 1; i >= 0; i-- {
		b[start+i] = byte(n)
		n >>= 8
	}
	return b
}

// appendBytes appends a primitive element.
func appendBytes[T []byte | string](b []byte, tag byte, v T) []byte {
	b, start := begin(b, tag)
	b = append(b, v...)
	return end(b, start)
}

// appendInt appends an INTEGER or ENUMERATED in its minimal two's-complement
// form.
func appendInt(b []byte, tag byte, v int64) []byte {
	n := 1
	for n < 8 && (v >= 0 && v>>(8*n-1) != 0 || v < 0 && v>>(8*n-1) != -1) {
		n++
	}
	b = append(b, tag, byte(n))
	for i := n - 1; i >= 0; i-- {
		b = append(b, byte(v>>(8*i)))
	}
	return b
}

// appendBool appends a BOOLEAN.
func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, tagBoolean, 1, 0xff)
	}
	return append(b, tagBoolean, 1, 0)
}
