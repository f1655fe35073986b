package ldapwire

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"math"
	"strconv"
	"strings"
	"testing"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"

	"github.com/idsync/idsync/internal/gendir"
)

// tlv builds a test element with a minimal length.
func tlv(tag byte, parts ...[]byte) []byte {
	b, start := begin(nil, tag)
	for _, p := range parts {
		b = append(b, p...)
	}
	return end(b, start)
}

func str(s string) []byte { return tlv(tagOctetString, []byte(s)) }

// entryMsg builds the contents of an LDAPMessage holding a
// SearchResultEntry.
func entryMsg(id int64, dn string, attrs ...[]byte) []byte {
	return append(appendInt(nil, tagInteger, id), tlv(tagSearchEntry, str(dn), tlv(tagSequence, attrs...))...)
}

func attr(name string, values ...string) []byte {
	var vs [][]byte
	for _, v := range values {
		vs = append(vs, str(v))
	}
	return tlv(tagSequence, str(name), tlv(tagSet, vs...))
}

func TestElementLengths(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		wantLen int // contents length; -1 for an error
	}{
		{"short form", []byte{0x04, 0x02, 'h', 'i'}, 2},
		{"empty", []byte{0x04, 0x00}, 0},
		{"long form one octet", append([]byte{0x04, 0x81, 0x80}, make([]byte, 128)...), 128},
		{"long form four octets, as AD sends", append([]byte{0x04, 0x84, 0, 0, 0, 3}, "abc"...), 3},
		{"long form eight octets", append([]byte{0x04, 0x88, 0, 0, 0, 0, 0, 0, 0, 1}, 'x'), 1},
		{"nine length octets", []byte{0x04, 0x89, 0, 0, 0, 0, 0, 0, 0, 0, 1, 'x'}, -1},
		{"indefinite", []byte{0x30, 0x80, 0x04, 0x00, 0x00, 0x00}, -1},
		{"reserved 0xff", []byte{0x04, 0xff, 0}, -1},
		{"length beyond the data", []byte{0x04, 0x05, 'a'}, -1},
		{"huge length", []byte{0x04, 0x88, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, -1},
		{"length octets missing", []byte{0x04, 0x82, 0x01}, -1},
		{"one byte", []byte{0x04}, -1},
		{"multi-octet tag", []byte{0x1f, 0x81, 0x01, 0x00}, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, content, _, err := element(tt.in)
			switch {
			case tt.wantLen < 0 && err == nil:
				t.Fatalf("element(% x) = %d bytes, want an error", tt.in, len(content))
			case tt.wantLen < 0 && !errors.Is(err, ErrMalformed):
				t.Fatalf("element(% x) error %v, want ErrMalformed", tt.in, err)
			case tt.wantLen >= 0 && err != nil:
				t.Fatalf("element(% x): %v", tt.in, err)
			case tt.wantLen >= 0 && len(content) != tt.wantLen:
				t.Fatalf("element(% x) = %d bytes, want %d", tt.in, len(content), tt.wantLen)
			}
		})
	}
}

// TestAppendInt checks the minimal encoding against asn1-ber's decoder and
// ours.
func TestAppendInt(t *testing.T) {
	for _, v := range []int64{0, 1, 127, 128, 255, 256, 32767, 32768, -1, -128, -129, -32769, math.MaxInt32, math.MinInt32, math.MaxInt64, math.MinInt64} {
		b := appendInt(nil, tagInteger, v)
		p, err := ber.DecodePacketErr(b)
		if err != nil {
			t.Fatalf("%d encoded as % x: %v", v, b, err)
		}
		if got, _ := p.Value.(int64); got != v || int(b[1]) != len(b)-2 {
			t.Errorf("%d encoded as % x decodes as %v", v, b, p.Value)
		}
		if v >= math.MinInt32 && v <= math.MaxInt32 {
			if got, err := integer(b[2:], "v"); err != nil || int64(got) != v {
				t.Errorf("integer(% x) = %d, %v; want %d", b[2:], got, err, v)
			}
		}
	}
}

// TestEncodeSearch decodes requests with asn1-ber and compares every field
// with the request, and the filter with go-ldap's compilation.
func TestEncodeSearch(t *testing.T) {
	long := strings.Repeat("x", 70000)
	tests := []struct {
		name string
		req  SearchRequest
	}{
		{"plain", SearchRequest{BaseDN: "dc=example,dc=org", Scope: ScopeWholeSubtree, Filter: "(uid=a*)", Attributes: []string{"cn", "member;range=0-1499"}}},
		{"default filter, no attributes", SearchRequest{BaseDN: "", Scope: ScopeBaseObject}},
		{"paged with cookie", SearchRequest{BaseDN: "o=x", Scope: ScopeSingleLevel, Filter: "(&(objectClass=person)(!(cn=*\\2a*)))", PageSize: 500, Cookie: []byte{0, 1, 0xff}, SizeLimit: 10}},
		{"long fields", SearchRequest{BaseDN: long, Scope: ScopeWholeSubtree, Filter: "(cn=" + long[:300] + ")", Attributes: []string{long[:200], "a"}, PageSize: math.MaxInt32, Cookie: []byte(long)}},
		{"extra controls", SearchRequest{BaseDN: "o=x", PageSize: 1, Controls: []Control{{OID: "1.2.3", Critical: true, Value: []byte{0x30, 0}}, {OID: "1.2.4"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Conn
			if err := c.encodeSearch(7, &tt.req); err != nil {
				t.Fatal(err)
			}
			p, err := ber.DecodePacketErr(c.wbuf)
			if err != nil {
				t.Fatalf("asn1-ber cannot read the request: %v", err)
			}
			if len(p.Children) < 2 || p.Children[0].Value != int64(7) {
				t.Fatalf("envelope %s", ber.DescribePacket(p))
			}
			op := p.Children[1]
			filter := tt.req.Filter
			if filter == "" {
				filter = "(objectClass=*)"
			}
			want, err := ldap.CompileFilter(filter)
			if err != nil {
				t.Fatal(err)
			}
			var attrs []string
			for _, a := range op.Children[7].Children {
				attrs = append(attrs, string(a.Data.Bytes()))
			}
			got := []any{op.Tag, string(op.Children[0].Data.Bytes()), op.Children[1].Value, op.Children[2].Value,
				op.Children[3].Value, op.Children[4].Value, op.Children[5].Value, len(attrs)}
			wantFields := []any{ber.Tag(ldap.ApplicationSearchRequest), tt.req.BaseDN, int64(tt.req.Scope), int64(0),
				int64(tt.req.SizeLimit), int64(0), false, len(tt.req.Attributes)}
			for i := range got {
				if got[i] != wantFields[i] {
					t.Errorf("field %d = %v, want %v", i, got[i], wantFields[i])
				}
			}
			if !bytes.Equal(op.Children[6].Bytes(), want.Bytes()) {
				t.Errorf("filter % x, want go-ldap's % x", op.Children[6].Bytes(), want.Bytes())
			}
			for i, a := range attrs {
				if a != tt.req.Attributes[i] {
					t.Errorf("attribute %d = %q, want %q", i, a, tt.req.Attributes[i])
				}
			}
			checkControls(t, p, tt.req)
		})
	}
}

// checkControls compares the controls of a decoded request with req's.
func checkControls(t *testing.T, p *ber.Packet, req SearchRequest) {
	t.Helper()
	want := req.Controls
	if req.PageSize > 0 {
		value := ber.NewSequence("")
		value.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, int64(req.PageSize), ""))
		value.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, string(req.Cookie), ""))
		want = append([]Control{{OID: oidPaging, Value: value.Bytes()}}, want...)
	}
	if len(want) == 0 {
		if len(p.Children) != 2 {
			t.Errorf("%d elements in the message, want 2 (no controls)", len(p.Children))
		}
		return
	}
	if len(p.Children) != 3 || len(p.Children[2].Children) != len(want) {
		t.Fatalf("controls %s, want %d", ber.DescribePacket(p), len(want))
	}
	for i, cp := range p.Children[2].Children {
		got := Control{OID: string(cp.Children[0].Data.Bytes())}
		for _, f := range cp.Children[1:] {
			if f.Tag == ber.TagBoolean {
				got.Critical = f.Data.Bytes()[0] != 0
			} else {
				got.Value = f.Data.Bytes()
			}
		}
		if got.OID != want[i].OID || got.Critical != want[i].Critical || !bytes.Equal(got.Value, want[i].Value) {
			t.Errorf("control %d = %+v, want %+v", i, got, want[i])
		}
	}
}

func TestParseEntry(t *testing.T) {
	tests := []struct {
		name    string
		msg     []byte
		want    string // DN then name=values per attribute; "" for an error
		wantErr string
	}{
		{"two attributes", entryMsg(3, "cn=a,o=x", attr("cn", "a"), attr("member;range=0-1", "x", "y")),
			"cn=a,o=x|cn=a|member;range=0-1=x,y", ""},
		{"no attributes", entryMsg(3, "o=x"), "o=x", ""},
		{"attribute without values (typesOnly)", entryMsg(3, "o=x", attr("cn")), "o=x|cn=", ""},
		{"empty values", entryMsg(3, "", attr("a", "", "")), "|a=,", ""},
		{"values as a SEQUENCE", entryMsg(3, "o=x", tlv(tagSequence, str("a"), tlv(tagSequence, str("v")))), "o=x|a=v", ""},
		{"DN not an OCTET STRING", append(appendInt(nil, tagInteger, 3), tlv(tagSearchEntry, tlv(tagInteger, []byte{1}), tlv(tagSequence))...), "", "entry DN has tag 0x02"},
		{"value not an OCTET STRING", entryMsg(3, "o=x", tlv(tagSequence, str("a"), tlv(tagSet, tlv(tagInteger, []byte{1})))), "", "value has tag 0x02"},
		{"constructed value", entryMsg(3, "o=x", tlv(tagSequence, str("a"), tlv(tagSet, tlv(0x24, str("v"))))), "", "value has tag 0x24"},
		{"trailing bytes in an attribute", entryMsg(3, "o=x", tlv(tagSequence, str("a"), tlv(tagSet), str("junk"))), "", "bytes after the values"},
		{"values missing", entryMsg(3, "o=x", tlv(tagSequence, str("a"))), "", "values of \"a\""},
		{"attribute list missing", append(appendInt(nil, tagInteger, 3), tlv(tagSearchEntry, str("o=x"))...), "", "attribute list"},
		{"trailing bytes in the entry", append(appendInt(nil, tagInteger, 3), tlv(tagSearchEntry, str("o=x"), tlv(tagSequence), str("z"))...), "", "bytes after the attributes"},
		{"value overruns its set", entryMsg(3, "o=x", tlv(tagSequence, str("a"), []byte{tagSet, 3, tagOctetString, 5, 'a'})), "", "where 1 remain"},
	}
	var e Entry // reused across cases, as a Conn does
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := parseMessage(tt.msg)
			if err != nil {
				t.Fatalf("parseMessage: %v", err)
			}
			err = parseEntry(m.body, &e)
			if tt.wantErr != "" {
				if err == nil || !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want ErrMalformed containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := describe(&e); got != tt.want {
				t.Errorf("entry = %q, want %q", got, tt.want)
			}
			capped := cap(e.DN) == len(e.DN)
			for _, a := range e.Attrs {
				capped = capped && cap(a.Name) == len(a.Name)
				for _, v := range a.Values {
					capped = capped && cap(v) == len(v)
				}
			}
			if !capped {
				t.Errorf("a DN, name or value has room beyond its length: an append would overwrite the buffer")
			}
		})
	}
}

// describe renders an entry as "DN|name=v1,v2|…".
func describe(e *Entry) string {
	var b strings.Builder
	b.Write(e.DN)
	for _, a := range e.Attrs {
		b.WriteString("|")
		b.Write(a.Name)
		b.WriteString("=")
		for i, v := range a.Values {
			if i > 0 {
				b.WriteString(",")
			}
			b.Write(v)
		}
	}
	return b.String()
}

// TestEntryReuse checks that decoding entry after entry allocates nothing
// once the Entry's slices have grown, and that Clone survives the buffer.
func TestEntryReuse(t *testing.T) {
	big := entryMsg(1, "cn=big", attr("a", "1", "2", "3"), attr("b", "4"), attr("c", "5", "6"))
	small := entryMsg(2, "cn=small", attr("x", "7"))
	var e Entry
	for _, msg := range [][]byte{big, small} {
		m, _ := parseMessage(msg)
		if err := parseEntry(m.body, &e); err != nil {
			t.Fatal(err)
		}
	}
	allocs := testing.AllocsPerRun(100, func() {
		for _, msg := range [][]byte{big, small} {
			m, _ := parseMessage(msg)
			if err := parseEntry(m.body, &e); err != nil {
				t.Fatal(err)
			}
		}
	})
	if allocs != 0 {
		t.Errorf("decoding reused entries allocates %v times, want 0", allocs)
	}
	m, _ := parseMessage(big)
	_ = parseEntry(m.body, &e)
	clone := e.Clone()
	m, _ = parseMessage(small)
	_ = parseEntry(m.body, &e)
	clear(big)
	if got, want := describe(&clone), "cn=big|a=1,2,3|b=4|c=5,6"; got != want {
		t.Errorf("clone after the buffer changed = %q, want %q", got, want)
	}
}

func TestParseResultAndCookie(t *testing.T) {
	paging := func(size int64, cookie string) []byte {
		value := tlv(tagSequence, appendInt(nil, tagInteger, size), str(cookie))
		return tlv(tagSequence, str(oidPaging), tlv(tagOctetString, value))
	}
	done := func(code int64, matched, msg string, controls ...[]byte) []byte {
		b := append(appendInt(nil, tagInteger, 9), tlv(tagSearchDone, appendInt(nil, tagEnumerated, code), str(matched), str(msg))...)
		if controls != nil {
			b = append(b, tlv(tagControls, controls...)...)
		}
		return b
	}
	tests := []struct {
		name       string
		msg        []byte
		wantCode   int32
		wantCookie string
		wantFound  bool
		wantErr    string
	}{
		{"success, no controls", done(0, "", "", nil...), 0, "", false, ""},
		{"no such object", done(32, "dc=org", "no such object"), 32, "", false, ""},
		{"paging cookie", done(0, "", "", paging(0, "\x01\x02")), 0, "\x01\x02", true, ""},
		{"last page", done(0, "", "", paging(0, "")), 0, "", true, ""},
		{"critical paging control after another", done(0, "", "", tlv(tagSequence, str("1.2.3")),
			tlv(tagSequence, str(oidPaging), appendBool(nil, true), tlv(tagOctetString, tlv(tagSequence, appendInt(nil, tagInteger, 5), str("c"))))), 0, "c", true, ""},
		{"paging without a value", done(0, "", "", tlv(tagSequence, str(oidPaging))), 0, "", true, "paged results value"},
		{"paging cookie not a string", done(0, "", "", tlv(tagSequence, str(oidPaging), tlv(tagOctetString, tlv(tagSequence, appendInt(nil, tagInteger, 5), appendInt(nil, tagInteger, 5))))), 0, "", true, "cookie has tag"},
		{"control not a sequence", done(0, "", "", str("x")), 0, "", false, "control has tag"},
		{"bad criticality", done(0, "", "", tlv(tagSequence, str("1.2"), tlv(tagBoolean))), 0, "", false, "criticality of 0 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := parseMessage(tt.msg)
			if err != nil {
				t.Fatal(err)
			}
			r, err := parseResult(m.body)
			if err != nil {
				t.Fatal(err)
			}
			if r.code != tt.wantCode {
				t.Errorf("code = %d, want %d", r.code, tt.wantCode)
			}
			cookie, found, err := pagingCookie(m.controls)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || string(cookie) != tt.wantCookie || found != tt.wantFound {
				t.Errorf("pagingCookie = %q, %v, %v; want %q, %v", cookie, found, err, tt.wantCookie, tt.wantFound)
			}
		})
	}
}

func TestParseMessageErrors(t *testing.T) {
	tests := []struct {
		name    string
		msg     []byte
		wantErr string
	}{
		{"empty", nil, "message id"},
		{"id not an integer", append(str("1"), tlv(tagSearchDone)...), "message id has tag 0x04"},
		{"negative id", append(appendInt(nil, tagInteger, -1), tlv(tagSearchDone)...), "negative message id"},
		{"id of five bytes", append(tlv(tagInteger, []byte{0, 0x80, 0, 0, 0}), tlv(tagSearchDone)...), "integer of 5 bytes"},
		{"empty id", append(tlv(tagInteger), tlv(tagSearchDone)...), "integer of 0 bytes"},
		{"no protocol op", appendInt(nil, tagInteger, 1), "protocol op of message 1"},
		{"not controls after the op", append(entryMsg(1, "o=x"), str("x")...), "controls has tag 0x04"},
		{"bytes after the controls", append(append(entryMsg(1, "o=x"), tlv(tagControls)...), 0x04, 0x00), "bytes after the controls"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseMessage(tt.msg)
			if err == nil || !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("parseMessage(% x) error %v, want ErrMalformed containing %q", tt.msg, err, tt.wantErr)
			}
		})
	}
}

func TestReadMessage(t *testing.T) {
	msg := tlv(tagSequence, entryMsg(1, "cn=x", attr("a", strings.Repeat("v", 300000))))
	tests := []struct {
		name    string
		in      []byte
		limit   int
		wantLen int
		wantErr string
	}{
		{"a big message grows the buffer", msg, 1 << 20, len(msg) - 5, ""},
		{"over the limit", msg, 1000, 0, "exceeds the limit of 1000 bytes"},
		{"not a sequence", []byte{0x04, 0x00}, 100, 0, "want a SEQUENCE"},
		{"indefinite length", []byte{0x30, 0x80, 0, 0}, 100, 0, "indefinite length"},
		{"truncated body", msg[:1000], 1 << 20, 0, "mid-message"},
		{"truncated length", []byte{0x30, 0x84, 0x00}, 100, 0, "mid-message"},
		{"bogus huge length", []byte{0x30, 0x84, 0x7f, 0xff, 0xff, 0xff, 1, 2, 3}, math.MaxInt32, 0, "mid-message"},
		{"end of stream", nil, 100, 0, io.EOF.Error()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, keep, err := readMessage(bufio.NewReaderSize(bytes.NewReader(tt.in), 16), make([]byte, 0, 64), tt.limit)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				if cap(keep) > 4<<20 {
					t.Errorf("kept a buffer of %d bytes after a failed read", cap(keep))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(body) != tt.wantLen || cap(keep) < len(body) || !bytes.Equal(body, msg[len(msg)-tt.wantLen:]) {
				t.Errorf("read %d bytes (buffer %d), want %d", len(body), cap(keep), tt.wantLen)
			}
		})
	}
}

// FuzzDecodeMessage feeds arbitrary bytes through the read path: framing,
// the envelope, then the protocol op as a search would decode it. Nothing
// may panic, and whatever is accepted must read the same with asn1-ber.
// Seeds: testdata/fuzz/FuzzDecodeMessage (real slapd traffic, made by
// testdata/mkcorpus) and the cases below.
func FuzzDecodeMessage(f *testing.F) {
	f.Add(tlv(tagSequence, entryMsg(2, "cn=a,o=x", attr("cn", "a"), attr("member;range=0-1", "x", "y"))))
	f.Add([]byte{0x30, 0x84, 0, 0, 0, 5, 0x02, 0x01, 0x01, 0x42, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bufio.NewReaderSize(bytes.NewReader(data), 16)
		var buf []byte
		var e Entry
		for {
			body, keep, err := readMessage(r, buf, 1<<20)
			buf = keep
			if err != nil {
				return
			}
			m, err := parseMessage(body)
			if err != nil {
				continue
			}
			switch m.op {
			case tagSearchEntry:
				if err := parseEntry(m.body, &e); err != nil {
					continue
				}
				oracle := asn1ber(t, m, m.body)
				if got, want := describeRaw(&e), oracleEntry(t, oracle); got != want {
					t.Fatalf("entry %s, asn1-ber reads %s", got, want)
				}
			case tagSearchDone, tagBindResponse, tagExtendedResponse:
				r, err := parseResult(m.body)
				if err != nil {
					continue
				}
				// The elements after the LDAPResult are only checked to be
				// well formed, so asn1-ber reads the result without them.
				op := asn1ber(t, m, m.body[:len(m.body)-len(r.rest)]).Children[1]
				if op.Children[0].Value != int64(r.code) || !bytes.Equal(op.Children[1].Data.Bytes(), r.matchedDN) ||
					!bytes.Equal(op.Children[2].Data.Bytes(), r.message) {
					t.Fatalf("result %d %q %q, asn1-ber reads %s", r.code, r.matchedDN, r.message, ber.DescribePacket(op))
				}
				_, _, _ = pagingCookie(m.controls)
				_ = unsolicited(m)
			}
		}
	})
}

// asn1ber decodes with asn1-ber a message of m's id and op whose contents
// are op, and checks the id.
func asn1ber(t *testing.T, m message, op []byte) *ber.Packet {
	t.Helper()
	p, err := ber.DecodePacketErr(tlv(tagSequence, appendInt(nil, tagInteger, int64(m.id)), tlv(m.op, op)))
	if err != nil {
		t.Fatalf("accepted a message that asn1-ber rejects: %v", err)
	}
	if len(p.Children) != 2 {
		t.Fatalf("asn1-ber reads %d elements", len(p.Children))
	}
	return p
}

// oracleEntry renders asn1-ber's reading of an entry as describeRaw does.
func oracleEntry(t *testing.T, p *ber.Packet) string {
	op := p.Children[1]
	if len(op.Children) != 2 {
		t.Fatalf("asn1-ber reads an entry of %d elements", len(op.Children))
	}
	var e Entry
	e.DN = op.Children[0].Data.Bytes()
	for _, a := range op.Children[1].Children {
		if len(a.Children) != 2 {
			t.Fatalf("asn1-ber reads an attribute of %d elements", len(a.Children))
		}
		at := e.addAttr(a.Children[0].Data.Bytes())
		for _, v := range a.Children[1].Children {
			at.Values = append(at.Values, v.Data.Bytes())
		}
	}
	return describeRaw(&e)
}

// describeRaw renders an entry unambiguously, whatever bytes it holds.
func describeRaw(e *Entry) string {
	var b strings.Builder
	b.WriteString(strconv.Quote(string(e.DN)))
	for _, a := range e.Attrs {
		b.WriteString(" " + strconv.Quote(string(a.Name)) + ":")
		for _, v := range a.Values {
			b.WriteString(" " + strconv.Quote(string(v)))
		}
	}
	return b.String()
}

// BenchmarkDecodeEntry measures framing and decoding alone, without the
// network: one generated user entry of the benchmark's shape per op.
func BenchmarkDecodeEntry(b *testing.B) {
	g, err := gendir.New(gendir.Options{BaseDN: "dc=example,dc=org", Seed: 1, Users: 100})
	if err != nil {
		b.Fatal(err)
	}
	u := g.User(42)
	var attrs [][]byte
	for _, a := range u.Attrs {
		attrs = append(attrs, attr(a.Name, a.Values...))
	}
	msg := tlv(tagSequence, entryMsg(2, u.DN, attrs...))
	r := bytes.NewReader(msg)
	br := bufio.NewReaderSize(r, minBuffer)
	var buf []byte
	var e Entry
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		r.Reset(msg)
		br.Reset(r)
		body, keep, err := readMessage(br, buf, 1<<20)
		buf = keep
		if err != nil {
			b.Fatal(err)
		}
		m, err := parseMessage(body)
		if err != nil {
			b.Fatal(err)
		}
		if err := parseEntry(m.body, &e); err != nil {
			b.Fatal(err)
		}
	}
}
