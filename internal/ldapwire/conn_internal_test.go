package ldapwire

import (
	"bufio"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
)

// scripted returns a Conn whose peer, on loopback TCP, answers the first
// request with the messages script builds from its id, then hangs up or,
// with stay, reads and drops whatever else comes (an Abandon, an Unbind).
// This tests how the response stream is handled, for streams no real
// server sends on demand.
func scripted(t *testing.T, stay bool, script func(id int64) [][]byte) *Conn {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	client, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	go func() {
		defer server.Close()
		r := bufio.NewReader(server)
		body, _, err := readMessage(r, nil, 1<<20)
		if err != nil {
			return
		}
		m, err := parseMessage(body)
		if err != nil {
			return
		}
		for _, msg := range script(int64(m.id)) {
			if _, err := server.Write(msg); err != nil {
				return
			}
		}
		if stay {
			_, _ = io.Copy(io.Discard, r)
		}
	}()
	return newConn("ldap://scripted", client, Options{})
}

func TestSearchResponseStream(t *testing.T) {
	message := func(id int64, op []byte, controls ...[]byte) []byte {
		b := append(appendInt(nil, tagInteger, id), op...)
		if controls != nil {
			b = append(b, tlv(tagControls, controls...)...)
		}
		return tlv(tagSequence, b)
	}
	entry := func(id int64, dn string) []byte {
		return message(id, tlv(tagSearchEntry, str(dn), tlv(tagSequence, attr("cn", dn))))
	}
	ldapResult := func(tag byte, code int64, msg string, more ...[]byte) []byte {
		return tlv(tag, append([][]byte{appendInt(nil, tagEnumerated, code), str(""), str(msg)}, more...)...)
	}
	done := func(id int64, cookie string) []byte {
		paging := tlv(tagSequence, str(oidPaging), tlv(tagOctetString, tlv(tagSequence, appendInt(nil, tagInteger, 0), str(cookie))))
		return message(id, ldapResult(tagSearchDone, 0, ""), paging)
	}
	notice := message(0, ldapResult(tagExtendedResponse, 52, "server is shutting down", tlv(tagResponseName, []byte(oidNoticeOfDisconnection))))
	tests := []struct {
		name        string
		script      func(id int64) [][]byte
		wantDNs     string
		wantCookie  string
		wantErr     string // "" for success
		wantUsable  bool   // after an error
		wantResult  int    // the code of a *ResultError, 0 for none
		wantMalform bool
	}{
		{"late replies and other notifications are skipped", func(id int64) [][]byte {
			return [][]byte{entry(id+7, "cn=stale"), message(0, ldapResult(tagExtendedResponse, 0, "", tlv(tagResponseName, []byte("1.2.3")))),
				entry(id, "cn=a"), message(id, tlv(tagSearchReference, str("ldap://elsewhere/"))), entry(id, "cn=b"), done(id, "next")}
		}, "cn=a cn=b", "next", "", true, 0, false},
		{"last page", func(id int64) [][]byte { return [][]byte{entry(id, "cn=a"), done(id, "")} }, "cn=a", "", "", true, 0, false},
		{"notice of disconnection", func(id int64) [][]byte { return [][]byte{entry(id, "cn=a"), notice} },
			"cn=a", "", "notice of disconnection", false, 52, false},
		{"closed mid-search", func(id int64) [][]byte { return [][]byte{entry(id, "cn=a")} },
			"cn=a", "", "the server closed the connection", false, 0, false},
		{"closed mid-message", func(id int64) [][]byte { return [][]byte{entry(id, "cn=a")[:5]} },
			"", "", "mid-message", false, 0, false},
		{"unexpected response", func(id int64) [][]byte { return [][]byte{message(id, ldapResult(tagBindResponse, 0, ""))} },
			"", "", "response 0x61 to a search", false, 0, true},
		{"malformed entry", func(id int64) [][]byte {
			return [][]byte{message(id, tlv(tagSearchEntry, str("cn=a"))), done(id, "")}
		}, "", "", "attribute list", true, 0, true},
		{"malformed envelope", func(id int64) [][]byte { return [][]byte{tlv(tagSequence, str("x"))} },
			"", "", "message id has tag 0x04", false, 0, true},
		{"failed search", func(id int64) [][]byte {
			return [][]byte{message(id, ldapResult(tagSearchDone, 50, "no access"))}
		}, "", "", "Insufficient Access Rights", true, 50, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := scripted(t, tt.wantUsable, tt.script)
			var dns []string
			cookie, err := c.Search(t.Context(), &SearchRequest{BaseDN: "o=x", PageSize: 10}, func(e *Entry) error {
				dns = append(dns, string(e.DN))
				return nil
			})
			if got := strings.Join(dns, " "); got != tt.wantDNs {
				t.Errorf("entries %q, want %q", got, tt.wantDNs)
			}
			if tt.wantErr == "" {
				if err != nil || string(cookie) != tt.wantCookie {
					t.Fatalf("Search = %q, %v; want %q", cookie, err, tt.wantCookie)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Search error %v, want one containing %q", err, tt.wantErr)
			}
			code := 0
			if re := (*ResultError)(nil); errors.As(err, &re) {
				code = re.Code
			}
			if code != tt.wantResult {
				t.Errorf("error %v: result code %d, want %d", err, code, tt.wantResult)
			}
			if errors.Is(err, ErrMalformed) != tt.wantMalform {
				t.Errorf("errors.Is(%v, ErrMalformed) = %v, want %v", err, !tt.wantMalform, tt.wantMalform)
			}
			if usable := c.err == nil; usable != tt.wantUsable {
				t.Errorf("connection usable after the error: %v, want %v", usable, tt.wantUsable)
			}
		})
	}
}
