//go:build linux

package ldapwire

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/idsync/idsync/internal/gendir"
	"github.com/idsync/idsync/internal/testserver"
)

var updateCorpus = flag.Bool("update-corpus", false, "record FuzzDecodeMessage's seed corpus from a local slapd and Samba AD")

const corpusDir = "testdata/fuzz/FuzzDecodeMessage"

// TestSeedCorpus checks that the committed seed corpus holds real server
// traffic of every kind the package decodes, and that all of it decodes.
// With -update-corpus it records the corpus again first.
func TestSeedCorpus(t *testing.T) {
	if *updateCorpus {
		recordCorpus(t)
	}
	files, err := filepath.Glob(filepath.Join(corpusDir, "seed-*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no seed-* files in %s (%v): run go test -run TestSeedCorpus -update-corpus", corpusDir, err)
	}
	seen := map[string]bool{}
	for _, f := range files {
		data := readSeed(t, f)
		r := bufio.NewReader(bytes.NewReader(data))
		for {
			body, _, err := readMessage(r, nil, 1<<30)
			if err != nil {
				if err.Error() != "EOF" {
					t.Errorf("%s: %v", f, err)
				}
				break
			}
			if data[1] == 0x84 {
				seen["long-form lengths"] = true
			}
			for _, kind := range decodeSeed(t, f, body) {
				seen[kind] = true
			}
		}
	}
	for _, kind := range []string{"entry", "entry with binary values", "search done", "paging cookie", "result error",
		"bind response", "notice of disconnection", "StartTLS response", "reference", "long-form lengths"} {
		if !seen[kind] {
			t.Errorf("no seed holds a %s", kind)
		}
	}
}

// decodeSeed decodes one message of a seed file and says what it holds.
func decodeSeed(t *testing.T, file string, body []byte) []string {
	m, err := parseMessage(body)
	if err != nil {
		t.Errorf("%s: %v", file, err)
		return nil
	}
	var kinds []string
	switch m.op {
	case tagSearchEntry:
		var e Entry
		if err := parseEntry(m.body, &e); err != nil {
			t.Errorf("%s: %v", file, err)
		}
		kinds = append(kinds, "entry")
		for _, a := range e.Attrs {
			if strings.EqualFold(string(a.Name), "objectGUID") {
				kinds = append(kinds, "entry with binary values")
			}
		}
	case tagSearchReference:
		kinds = append(kinds, "reference")
	case tagSearchDone, tagBindResponse, tagExtendedResponse:
		r, err := parseResult(m.body)
		if err != nil {
			t.Errorf("%s: %v", file, err)
			return nil
		}
		kinds = append(kinds, map[byte]string{tagSearchDone: "search done", tagBindResponse: "bind response"}[m.op])
		if r.code != 0 {
			kinds = append(kinds, "result error")
		}
		if cookie, _, err := pagingCookie(m.controls); err != nil {
			t.Errorf("%s: %v", file, err)
		} else if len(cookie) > 0 {
			kinds = append(kinds, "paging cookie")
		}
		if name, _ := find(r.rest, tagResponseName); string(name) == oidNoticeOfDisconnection {
			kinds = append(kinds, "notice of disconnection")
		} else if m.op == tagExtendedResponse {
			kinds = append(kinds, "StartTLS response")
		}
	}
	return kinds
}

// readSeed reads a corpus file: "go test fuzz v1" and one []byte literal.
func readSeed(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitN(string(b), "\n", 2)
	if len(lines) != 2 || lines[0] != "go test fuzz v1" || !strings.HasPrefix(lines[1], "[]byte(") {
		t.Fatalf("%s is not a fuzz corpus file of one []byte", path)
	}
	s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimSpace(strings.TrimPrefix(lines[1], "[]byte(")), ")"))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return []byte(s)
}

// recorder keeps every byte the server sends.
type recorder struct {
	net.Conn
	got bytes.Buffer
}

func (r *recorder) Read(p []byte) (int, error) {
	n, err := r.Conn.Read(p)
	r.got.Write(p[:n])
	return n, err
}

// recordCorpus runs a bind and a few searches against a local slapd and
// Samba AD, and writes what the servers sent, one seed per message (AD's
// with its four-octet lengths) and one per whole search, plus the two
// responses no test server sends on demand.
func recordCorpus(t *testing.T) {
	if err := os.RemoveAll(corpusDir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(corpusDir, 0o755); err != nil {
		t.Fatal(err)
	}
	slapd := testserver.Slapd(t, testserver.SlapdOptions{Preload: func(base string, emit func(gendir.Entry) error) error {
		g, err := gendir.New(gendir.Options{BaseDN: base, Seed: 9, Users: 6, Groups: 3})
		if err != nil {
			return err
		}
		return g.Each(emit)
	}})
	ad := testserver.SambaAD(t)
	for name, e := range map[string]testserver.Endpoint{"slapd": slapd.Endpoint, "ad": ad.Endpoint} {
		session := func(tag string, fn func(c *Conn)) {
			u, err := url.Parse(e.URL)
			if err != nil {
				t.Fatal(err)
			}
			port := u.Port()
			if port == "" {
				port = "389"
			}
			raw, err := net.Dial("tcp", net.JoinHostPort(u.Hostname(), port))
			if err != nil {
				t.Fatal(err)
			}
			rec := &recorder{Conn: raw}
			c := newConn(e.URL, rec, Options{})
			defer c.Close()
			fn(c)
			writeSeeds(t, name+"-"+tag, rec.got.Bytes())
			if name == "ad" {
				// Samba's lengths are minimal; Windows's have four octets.
				writeSeeds(t, "ad-long-"+tag, longForm(t, rec.got.Bytes()))
			}
		}
		session("bind", func(c *Conn) {
			_ = c.Bind(t.Context(), e.BindDN, "wrong password")
			_ = c.Bind(t.Context(), e.BindDN, e.BindPassword)
		})
		session("search", func(c *Conn) {
			_ = c.Bind(t.Context(), e.BindDN, e.BindPassword)
			nothing := func(*Entry) error { return nil }
			base := e.BaseDN
			if name == "ad" {
				base = ad.DomainDN // with references to the other naming contexts
			}
			// A first page, with a cookie, then a whole search with the
			// references AD sends last.
			_, _ = c.Search(t.Context(), &SearchRequest{BaseDN: base, Scope: ScopeWholeSubtree,
				Attributes: []string{"*", "+", "objectGUID"}, PageSize: 2}, nothing)
			_, _ = c.Search(t.Context(), &SearchRequest{BaseDN: base, Scope: ScopeWholeSubtree,
				Filter: "(|(objectClass=domain)(objectClass=organization))"}, nothing)
			_, _ = c.Search(t.Context(), &SearchRequest{BaseDN: "ou=missing," + e.BaseDN}, nothing)
		})
	}
	// A notice of disconnection and a StartTLS response, as RFC 4511 has
	// them.
	result := func(code int64, msg string) [][]byte {
		return [][]byte{appendInt(nil, tagEnumerated, code), str(""), str(msg)}
	}
	writeSeeds(t, "notice", tlv(tagSequence, appendInt(nil, tagInteger, 0),
		tlv(tagExtendedResponse, append(result(52, "shutting down"), tlv(tagResponseName, []byte(oidNoticeOfDisconnection)))...)))
	writeSeeds(t, "starttls", tlv(tagSequence, appendInt(nil, tagInteger, 1), tlv(tagExtendedResponse, result(0, "")...)))
}

// longForm re-encodes a sequence of BER elements with four-octet lengths
// everywhere, as Windows domain controllers send them.
func longForm(t *testing.T, b []byte) []byte {
	var out []byte
	for len(b) > 0 {
		tag, content, rest, err := element(b)
		if err != nil {
			t.Fatalf("re-encoding: %v", err)
		}
		if tag&0x20 != 0 { // constructed
			content = longForm(t, content)
		}
		n := len(content)
		out = append(out, tag, 0x84, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
		out = append(out, content...)
		b = rest
	}
	return out
}

// writeSeeds writes a stream as one seed, and each of its messages as one.
func writeSeeds(t *testing.T, name string, stream []byte) {
	write := func(file string, data []byte) {
		b := fmt.Appendf(nil, "go test fuzz v1\n[]byte(%s)\n", strconv.Quote(string(data)))
		if err := os.WriteFile(filepath.Join(corpusDir, file), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("seed-"+name, stream)
	// A buffer larger than the stream holds all of it, so that Buffered
	// tells where each message starts.
	r := bufio.NewReaderSize(bytes.NewReader(stream), len(stream)+16)
	for i := 0; ; i++ {
		if _, err := r.Peek(1); err != nil {
			return
		}
		start := len(stream) - r.Buffered()
		if _, _, err := readMessage(r, nil, 1<<30); err != nil {
			t.Fatalf("recorded %s: %v", name, err)
		}
		end := len(stream) - r.Buffered()
		write(fmt.Sprintf("seed-%s-%02d", name, i), stream[start:end])
	}
}
