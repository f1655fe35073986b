package hub

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/idsync/idsync/internal/obs"
)

// closedByPeer reports whether err is what reading a connection the other
// end closed returns.
func closedByPeer(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)
}

// TestHTTPTimeouts: a client that sends its headers slowly, one that sends
// its body slowly, and one that keeps a connection idle are each cut off by
// the HTTP listener, after timeouts shortened here to a fraction of a second.
func TestHTTPTimeouts(t *testing.T) {
	a, _ := serve(t, Config{DataDir: t.TempDir(), HTTPTimeouts: obs.Timeouts{
		ReadHeader: 300 * time.Millisecond, Read: 600 * time.Millisecond, Idle: 300 * time.Millisecond, Write: 5 * time.Second}})
	// Far longer than the timeouts, shorter than the defaults: a connection
	// still open then was not cut off.
	const patience = 5 * time.Second
	tests := []struct {
		name    string
		start   string
		trickle bool // then one byte every 20 ms
		status  int  // the answer before the cut, 0 for none
	}{
		{"headers sent slowly", "GET /healthz HTTP/1.1\r\nHost: hub\r\nX-Slow: ", true, 0},
		{"body sent slowly", "GET /healthz HTTP/1.1\r\nHost: hub\r\nContent-Length: 100000\r\n\r\n", true, http.StatusOK},
		{"idle connection", "GET /healthz HTTP/1.1\r\nHost: hub\r\n\r\n", false, http.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", a.http)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if err := conn.SetDeadline(time.Now().Add(patience)); err != nil {
				t.Fatal(err)
			}
			if _, err := io.WriteString(conn, tc.start); err != nil {
				t.Fatal(err)
			}
			if tc.trickle {
				stop := make(chan struct{})
				defer close(stop)
				go func() {
					tick := time.NewTicker(20 * time.Millisecond)
					defer tick.Stop()
					for {
						select {
						case <-stop:
							return
						case <-tick.C:
						}
						if _, err := conn.Write([]byte("x")); err != nil {
							return
						}
					}
				}()
			}
			br := bufio.NewReader(conn)
			if tc.status != 0 {
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatalf("reading the answer: %v", err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != tc.status {
					t.Fatalf("answer %d, want %d", resp.StatusCode, tc.status)
				}
			}
			_, err = br.ReadByte()
			switch {
			case errors.Is(err, os.ErrDeadlineExceeded):
				t.Errorf("the connection is still open after %v", patience)
			case !closedByPeer(err):
				t.Errorf("reading after the cut: %v, want the connection closed by the hub", err)
			}
		})
	}
}

// TestHTTPBounds: a request declaring a body over 1 MiB is answered 413 on
// every route before it is read, with or without credentials; headers over
// 64 KiB are answered 431.
func TestHTTPBounds(t *testing.T) {
	a, _ := serve(t, Config{DataDir: t.TempDir()})
	ask := func(t *testing.T, request string) (int, string) {
		t.Helper()
		conn, err := net.Dial("tcp", a.http)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(30 * time.Second))
		if _, err := io.WriteString(conn, request); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("reading the answer: %v", err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	for _, route := range []string{"POST /scim/v2/Users", "PUT /scim/v2/Users/1", "POST /v1/authn", "GET /metrics", "GET /healthz", "POST /nowhere"} {
		t.Run(route, func(t *testing.T) {
			// Only the headers are sent: an answer proves the body unread.
			code, body := ask(t, route+" HTTP/1.1\r\nHost: hub\r\nAuthorization: Bearer idss_guess\r\nContent-Length: 67108864\r\n\r\n")
			if code != http.StatusRequestEntityTooLarge || !strings.Contains(body, "limit of 1048576 bytes") {
				t.Errorf("= %d %.200q, want 413 naming the limit of 1048576 bytes", code, body)
			}
		})
	}
	t.Run("headers over 64 KiB", func(t *testing.T) {
		code, _ := ask(t, fmt.Sprintf("GET /healthz HTTP/1.1\r\nHost: hub\r\nX-Big: %s\r\n\r\n", strings.Repeat("a", 100<<10)))
		if code != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("= %d, want 431", code)
		}
	})
}
