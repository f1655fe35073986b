package console

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/idsync/idsync/internal/eventually"
	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
)

// receiver stands in for the hub's ImportFile in the handler's unit test
// (server/hub's TestConsoleUpload drives the real one): it drains the
// file and says how much came, and whether the call ended before the end
// of the file.
type receiver struct {
	idsyncv1.UnimplementedAdminServiceServer
	mu       sync.Mutex
	calls    int
	received int
	first    *idsyncv1.FileImport
	cut      bool
}

func (f *receiver) ImportFile(stream idsyncv1.AdminService_ImportFileServer) error {
	f.mu.Lock()
	f.calls++
	f.mu.Unlock()
	for {
		m, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return stream.SendAndClose(&idsyncv1.ImportFileResponse{Preview: &idsyncv1.ImportPreview{Rows: 1}})
		}
		f.mu.Lock()
		if err != nil {
			f.cut = true
			f.mu.Unlock()
			return err
		}
		if m.GetImport() != nil {
			f.first = m.GetImport()
			if d := m.GetImport().GetDirectory(); d != "hr" {
				// As the hub refuses it, before the file comes.
				f.mu.Unlock()
				return status.Errorf(codes.FailedPrecondition, "directory %s is a openldap directory: files are imported into csv directories", d)
			}
		}
		f.received += len(m.GetData())
		f.mu.Unlock()
	}
}

// newUploadConsole is a console whose gRPC calls reach rec, with a file
// cap of max bytes.
func newUploadConsole(t *testing.T, rec *receiver, max int64) (*Console, *signIns) {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer()
	idsyncv1.RegisterAdminServiceServer(srv, rec)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient("passthrough:///console",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	f := &signIns{}
	return New(Config{Conn: conn, SignIn: f, MaxUpload: max, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}), f
}

// part is a field of a multipart form: a file when file is set.
type part struct{ name, file, value string }

// form encodes parts in their order.
func form(t *testing.T, parts ...part) (body []byte, contentType string) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for _, p := range parts {
		var w io.Writer
		var err error
		if p.file != "" {
			w, err = mw.CreateFormFile(p.name, p.file)
		} else {
			w, err = mw.CreateFormField(p.name)
		}
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.WriteString(w, p.value)
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes(), mw.FormDataContentType()
}

// postUpload posts body to the upload route; chunked sends it without a
// length, as a client may.
func postUpload(c *Console, cookies []*http.Cookie, directory string, body []byte, contentType string, chunked bool) (int, string) {
	r := httptest.NewRequest("POST", "/directories/"+directory+"/upload", bytes.NewReader(body))
	if chunked {
		r.ContentLength = -1
	}
	r.RemoteAddr = "127.0.0.1:40000"
	r.Header.Set("Content-Type", contentType)
	for _, ck := range cookies {
		r.AddCookie(ck)
	}
	w := httptest.NewRecorder()
	c.ServeHTTP(w, r)
	return w.Code, w.Body.String()
}

// TestUpload: the upload route refuses a form without the session's CSRF
// token first (before any call), a body that is not a well-formed form or
// a file cut short (the call cancelled: never imported as if whole), a
// form without a file, and a file over the cap, declared or not, with a
// page that says so; the hub's refusal of a directory of another kind is
// a page that says it; a good form reaches ImportFile with its options
// and the whole file.
func TestUpload(t *testing.T) {
	const max = 4 << 10
	rec := &receiver{}
	c, _ := newUploadConsole(t, rec, max)
	cookies := signIn(t, c)
	token := csrf(secret)
	file := "Login,Email\nann,ann@example.org\n"
	good, goodType := form(t, part{name: "_csrf", value: token}, part{name: "full", value: "on"}, part{name: "encoding", value: "windows-1252"},
		part{name: "delimiter", value: ";"}, part{name: "file", file: "hr.csv", value: file})
	big := strings.Repeat("x", max+uploadSlack)
	for _, tc := range []struct {
		name        string
		directory   string
		body        []byte
		contentType string
		chunked     bool
		want        int
		wantText    string
		wantCall    bool
	}{
		{"no CSRF token", "", func() []byte {
			b, _ := form(t, part{name: "file", file: "hr.csv", value: file})
			return b
		}(), "", false, http.StatusForbidden, "CSRF", false},
		{"the token after the file", "", func() []byte {
			b, _ := form(t, part{name: "file", file: "hr.csv", value: file}, part{name: "_csrf", value: token})
			return b
		}(), "", false, http.StatusForbidden, "CSRF", false},
		{"another session's token", "", func() []byte {
			b, _ := form(t, part{name: "_csrf", value: csrf("idsync_cs_other")}, part{name: "file", file: "hr.csv", value: file})
			return b
		}(), "", false, http.StatusForbidden, "CSRF", false},
		{"not a multipart form", "", []byte("_csrf=" + token), "application/x-www-form-urlencoded", false, http.StatusForbidden, "CSRF", false},
		{"a form cut short", "", good[:len(good)/2], goodType, false, http.StatusBadRequest, "could not be read as a form with a file", false},
		{"a file cut short", "", func() []byte {
			b, _ := form(t, part{name: "_csrf", value: token}, part{name: "file", file: "hr.csv", value: strings.Repeat("ann,ann@example.org\n", 150)})
			return b[:len(b)-100]
		}(), "", false, http.StatusBadRequest, "could not be read as a form with a file", true},
		{"no file", "", func() []byte {
			b, _ := form(t, part{name: "_csrf", value: token}, part{name: "full", value: "on"})
			return b
		}(), "", false, http.StatusBadRequest, "The form holds no file", false},
		{"a declared length over the cap", "", func() []byte {
			b, _ := form(t, part{name: "_csrf", value: token}, part{name: "file", file: "hr.csv", value: big})
			return b
		}(), "", false, http.StatusRequestEntityTooLarge, "larger than the hub takes (4096 bytes)", false},
		{"over the cap without a length", "", func() []byte {
			b, _ := form(t, part{name: "_csrf", value: token}, part{name: "file", file: "hr.csv", value: big})
			return b
		}(), "", true, http.StatusRequestEntityTooLarge, "larger than the hub takes", true},
		{"a directory of another kind", "corp", good, goodType, false, http.StatusBadRequest, "files are imported into csv directories", true},
		{"a good form", "", good, goodType, false, http.StatusOK, "Dry run of hr.csv", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec.mu.Lock()
			rec.calls, rec.received, rec.first, rec.cut = 0, 0, nil, false
			rec.mu.Unlock()
			ct := tc.contentType
			if ct == "" {
				// Each form of this test has its own boundary: read it back.
				ct = "multipart/form-data; boundary=" + boundaryOf(t, tc.body)
			}
			dir := tc.directory
			if dir == "" {
				dir = "hr"
			}
			code, body := postUpload(c, cookies, dir, tc.body, ct, tc.chunked)
			if code != tc.want || !strings.Contains(body, tc.wantText) {
				t.Errorf("= %d, want %d saying %q:\n%s", code, tc.want, tc.wantText, body)
			}
			if tc.name == "over the cap without a length" || tc.name == "a file cut short" {
				eventually.That(t, "the call for a file not whole cancelled, so that the hub discards it", func() (bool, string) {
					rec.mu.Lock()
					defer rec.mu.Unlock()
					return rec.cut, fmt.Sprintf("received %d bytes, cut %v", rec.received, rec.cut)
				})
			}
			rec.mu.Lock()
			defer rec.mu.Unlock()
			if called := rec.calls > 0; called != tc.wantCall {
				t.Errorf("ImportFile called %d times, want called %v", rec.calls, tc.wantCall)
			}
		})
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	fi := rec.first
	if fi.GetDirectory() != "hr" || fi.GetFileName() != "hr.csv" || !fi.GetFull() || fi.GetDryRun() ||
		fi.GetEncoding() != "windows-1252" || fi.GetDelimiter() != ";" || rec.received != len(file) {
		t.Errorf("ImportFile got %v and %d bytes, want directory hr, the file's name, full, windows-1252, ; and %d bytes", fi, rec.received, len(file))
	}
}

// boundaryOf reads the boundary a form written by multipart.Writer starts
// with.
func boundaryOf(t *testing.T, body []byte) string {
	t.Helper()
	line, _, _ := bytes.Cut(body, []byte("\r\n"))
	if !bytes.HasPrefix(line, []byte("--")) {
		t.Fatalf("no boundary in %q", line)
	}
	return string(line[2:])
}

// TestBoundsBody: the console bounds the body of its upload route alone.
func TestBoundsBody(t *testing.T) {
	c, _ := newConsole(false)
	for _, tc := range []struct {
		method, path string
		want         bool
	}{
		{"POST", "/directories/hr/upload", true},
		{"POST", "/directories/hr%2Fx/upload", true},
		{"GET", "/directories/hr/upload", false},
		{"POST", "/directories/hr/import", false},
		{"POST", "/apps", false},
	} {
		if got := c.BoundsBody(httptest.NewRequest(tc.method, tc.path, nil)); got != tc.want {
			t.Errorf("BoundsBody(%s %s) = %v, want %v", tc.method, tc.path, got, tc.want)
		}
	}
}
