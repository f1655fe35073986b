package console

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"time"

	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
)

// uploadRoute takes a file into a csv directory: a multipart form whose
// first field is the CSRF token and whose last is the file, streamed to
// ImportFile as it arrives (the same gRPC method `idsyncctl import start
// --file` calls: its role check, audit event and refusals).
const uploadRoute = "POST /directories/{name}/upload"

const (
	// uploadSlack is room for the form's other fields beside the file.
	uploadSlack = 64 << 10
	// uploadChunk is how much of the file one message carries, as
	// idsyncctl sends it: well under the hub's bound of a request.
	uploadChunk = 256 << 10
	// uploadTime bounds receiving and checking a file: the HTTP server's
	// read and write timeouts are set for small requests.
	uploadTime = 10 * time.Minute
	// maxField bounds a field of the form other than the file.
	maxField = 1 << 10
)

// BoundsBody reports whether the console bounds r's body itself: the file
// upload, whose cap is the hub's cap of a file (and whose refusal is a page
// that says so). The HTTP server bounds the others.
func (c *Console) BoundsBody(r *http.Request) bool {
	_, pattern := c.mux.Handler(r)
	return pattern == uploadRoute
}

// uploadForm is the upload's fields but the file.
type uploadForm struct {
	full, dryRun        bool
	encoding, delimiter string
}

// upload streams a file of the form to ImportFile, never holding it whole:
// the hub spools it to disk. Its CSRF token is read from the form's first
// field, before anything else of the body.
func (c *Console) upload(w http.ResponseWriter, r *http.Request) {
	s := c.session(w, r)
	if s == nil {
		return
	}
	name := r.PathValue("name")
	max := c.cfg.MaxUpload + uploadSlack
	if r.ContentLength > max {
		// Refused unread: closing spares reading the rest.
		w.Header().Set("Connection", "close")
		c.uploadRefused(w, r, s, http.StatusRequestEntityTooLarge, c.tooLarge())
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, max)
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(uploadTime))
	_ = rc.SetWriteDeadline(time.Now().Add(uploadTime))

	mr, err := r.MultipartReader()
	if err != nil {
		refuseCSRF(w) // no form, so no token: nothing else is read
		return
	}
	p, err := mr.NextPart()
	if err != nil || p.FormName() != "_csrf" {
		refuseCSRF(w)
		return
	}
	if v, err := field(p); err != nil || !sameToken(v, csrf(s.secret)) {
		refuseCSRF(w)
		return
	}
	var f uploadForm
	for {
		p, err = mr.NextPart()
		if errors.Is(err, io.EOF) {
			c.uploadRefused(w, r, s, http.StatusBadRequest, "The form holds no file: choose the CSV export to import.")
			return
		}
		if err != nil {
			c.uploadReadFailed(w, r, s, err)
			return
		}
		if p.FormName() == "file" {
			break
		}
		v, err := field(p)
		if err != nil {
			c.uploadReadFailed(w, r, s, err)
			return
		}
		switch p.FormName() {
		case "full":
			f.full = v == "on"
		case "dry_run":
			f.dryRun = v == "on"
		case "encoding":
			f.encoding = strings.TrimSpace(v)
		case "delimiter":
			f.delimiter = v
		}
	}
	if p.FileName() == "" {
		c.uploadRefused(w, r, s, http.StatusBadRequest, "The form holds no file: choose the CSV export to import.")
		return
	}
	fi := &idsyncv1.FileImport{Directory: name, FileName: p.FileName(), Full: f.full, DryRun: f.dryRun,
		Encoding: f.encoding, Delimiter: f.delimiter}
	resp, err := c.sendFile(c.ctx(r, s), fi, p)
	var re readError
	if errors.As(err, &re) {
		c.uploadReadFailed(w, r, s, re.error)
		return
	}
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	if pv := resp.GetPreview(); pv != nil {
		c.render(w, r, s, http.StatusOK, "preview", "Dry run of "+fi.GetFileName(), "directories",
			previewData{Directory: name, File: fi.GetFileName(), Full: fi.GetFull(), Preview: pv})
		return
	}
	run := resp.GetRun()
	msg := fmt.Sprintf("Run %s started: %s import of %s from %s.", run.GetId(), enumName(run.GetKind()), name, fi.GetFileName())
	if run.GetState() == idsyncv1.RunState_RUN_STATE_FAILED {
		msg = fmt.Sprintf("Run %s failed: %s", run.GetId(), run.GetMessage())
	}
	c.done(w, r, "/imports/"+run.GetId(), msg)
}

// readError is a failure to read the browser's upload, not the hub's.
type readError struct{ error }

// sendFile streams the file part p to ImportFile, as idsyncctl does. A
// failure to read p cancels the call, so that the hub discards what it
// received, and is a readError.
func (c *Console) sendFile(ctx context.Context, fi *idsyncv1.FileImport, p io.Reader) (*idsyncv1.ImportFileResponse, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.admin.ImportFile(ctx)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, uploadChunk)
	for first := true; ; {
		n, rerr := fill(p, buf)
		if n > 0 || first {
			m := &idsyncv1.ImportFileRequest{Data: buf[:n]}
			if first {
				m.Import, first = fi, false
			}
			if err := stream.Send(m); errors.Is(err, io.EOF) {
				break // the hub answered early (a refusal): CloseAndRecv tells
			} else if err != nil {
				return nil, err
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			// A form cut short ends in io.ErrUnexpectedEOF: the file is
			// not whole, and is never imported as if it were.
			return nil, readError{rerr}
		}
	}
	return stream.CloseAndRecv()
}

// fill reads into buf until it is full or r fails; io.EOF is the end of
// r only (unlike io.ReadFull, which turns a short last read into
// io.ErrUnexpectedEOF, the error of a form cut short).
func fill(r io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// field reads a small field of the form.
func field(p *multipart.Part) (string, error) {
	b, err := io.ReadAll(io.LimitReader(p, maxField+1))
	if err != nil {
		return "", err
	}
	if len(b) > maxField {
		return "", fmt.Errorf("the field %s is longer than %d bytes", p.FormName(), maxField)
	}
	return string(b), nil
}

func (c *Console) tooLarge() string {
	size := fmt.Sprintf("%d MiB", c.cfg.MaxUpload>>20)
	if c.cfg.MaxUpload < 1<<20 {
		size = fmt.Sprintf("%d bytes", c.cfg.MaxUpload)
	}
	return "The file is larger than the hub takes (" + size + "): nothing was imported. Split the export, or raise the hub's cap."
}

// uploadReadFailed answers an upload that could not be read: too large,
// or not a well-formed form.
func (c *Console) uploadReadFailed(w http.ResponseWriter, r *http.Request, s *session, err error) {
	if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
		w.Header().Set("Connection", "close")
		c.uploadRefused(w, r, s, http.StatusRequestEntityTooLarge, c.tooLarge())
		return
	}
	c.uploadRefused(w, r, s, http.StatusBadRequest, "The upload could not be read as a form with a file (multipart/form-data): "+err.Error()+
		". Nothing was imported; send it again.")
}

func (c *Console) uploadRefused(w http.ResponseWriter, r *http.Request, s *session, code int, msg string) {
	c.render(w, r, s, code, "error", "Refused", "directories", failure{Message: msg, Back: "/directories/" + pathEscape(r.PathValue("name"))})
}

// previewData is a dry run's page.
type previewData struct {
	Directory, File string
	Full            bool
	Preview         *idsyncv1.ImportPreview
}

// previewList is the users a dry run would change one way.
type previewList struct {
	What  string
	Names []string
	More  uint64
}

// Lists are the users the dry run would create, update and deprovision,
// those it names (the first 1,000 of each) and how many more.
func (d previewData) Lists() []previewList {
	v := d.Preview
	var out []previewList
	for _, l := range []previewList{{"created", v.GetCreatedUsers(), v.GetCreated()}, {"updated", v.GetUpdatedUsers(), v.GetUpdated()},
		{"deprovisioned", v.GetDeprovisionedUsers(), v.GetDeprovisioned()}} {
		if len(l.Names) > 0 {
			l.More -= min(l.More, uint64(len(l.Names)))
			out = append(out, l)
		}
	}
	return out
}
