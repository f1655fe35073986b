package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
	"github.com/idsync/idsync/server/auth"
	"github.com/idsync/idsync/server/csvimport"
	"github.com/idsync/idsync/server/store"
)

// ImportFile imports a file an admin streams into a csv directory: the
// first message says what, the rest is the file.
func (s *AdminServer) ImportFile(stream idsyncv1.AdminService_ImportFileServer) error {
	ctx := stream.Context()
	if s.files == nil {
		return status.Error(codes.Unimplemented, "file imports are not served by this hub")
	}
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	in, err := s.fileImport(ctx, first.GetImport())
	if err != nil {
		return err
	}
	sp, err := s.files.NewSpool()
	if err != nil {
		return statusErr(err, "receiving the file")
	}
	for m := first; ; {
		if _, err := sp.Write(m.GetData()); err != nil {
			sp.Discard()
			return statusErr(err, "receiving the file")
		}
		if m, err = stream.Recv(); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			sp.Discard()
			return err
		}
		if m.GetImport() != nil {
			sp.Discard()
			return status.Error(codes.InvalidArgument, "import: only the first message says what the file is")
		}
	}
	res, err := s.files.Start(ctx, sp, in, auth.Actor(ctx))
	if err != nil {
		return statusErr(err, "importing the file")
	}
	resp := &idsyncv1.ImportFileResponse{}
	if res.Run != nil {
		resp.Run = runToProto(res.Run)
	}
	if p := res.Preview; p != nil {
		resp.Preview = &idsyncv1.ImportPreview{Rows: uint64(p.Rows), Created: uint64(p.Created), Updated: uint64(p.Updated),
			Deprovisioned: uint64(p.Deprovisioned), Unchanged: uint64(p.Unchanged), CreatedUsers: p.CreatedUsers,
			UpdatedUsers: p.UpdatedUsers, DeprovisionedUsers: p.DeprovisionedUsers, ErrorCount: uint64(p.ErrorCount),
			Safeguard: p.Safeguard}
		for _, e := range p.Errors {
			resp.Preview.Errors = append(resp.Preview.Errors, entryErrorToProto(e))
		}
	}
	return stream.SendAndClose(resp)
}

// fileImport decodes what a file is and checks it before the file comes.
func (s *AdminServer) fileImport(ctx context.Context, fi *idsyncv1.FileImport) (csvimport.Import, error) {
	if fi == nil {
		return csvimport.Import{}, status.Error(codes.InvalidArgument, "import: the first message must say what the file is")
	}
	d, err := s.directory(ctx, fi.GetDirectory())
	if err != nil {
		return csvimport.Import{}, err
	}
	in := fileImportFromProto(fi, d)
	if err := csvimport.Check(in); err != nil {
		return in, statusErr(err, "")
	}
	return in, nil
}

func fileImportFromProto(fi *idsyncv1.FileImport, d *store.Directory) csvimport.Import {
	return csvimport.Import{Directory: d, FileName: fi.GetFileName(), Full: fi.GetFull(), DryRun: fi.GetDryRun(),
		Encoding: fi.GetEncoding(), Delimiter: fi.GetDelimiter()}
}

// fileUpload is a file an agent is sending over its stream.
type fileUpload struct {
	id    string
	in    csvimport.Import
	spool *csvimport.Spool
}

// onFileChunk receives a piece of a file an agent sends from a watched
// folder. The agent may send files only of the directories it is
// enrolled for and serves; the file is imported as an admin's would be,
// by the agent (no dry run: an agent only imports).
func (ss *session) onFileChunk(ctx context.Context, c *idsyncv1.FileChunk) error {
	answerAs := func(final bool) func(runID, why string) error {
		return func(runID, why string) error {
			return ss.send(ctx, &idsyncv1.ConnectResponse{Msg: &idsyncv1.ConnectResponse_FileImported{
				FileImported: &idsyncv1.FileImported{UploadId: c.GetUploadId(), RunId: runID, Error: why, Final: final}}})
		}
	}
	// answer is a refusal worth another try; refuse one that is not.
	answer, refuse := answerAs(false), answerAs(true)
	up := ss.upload
	if up != nil && up.id != c.GetUploadId() {
		// A new upload while one was open: the agent gave the first up.
		up.spool.Discard()
		ss.upload, up = nil, nil
	}
	if up == nil {
		fi := c.GetImport()
		if fi == nil {
			return nil // the rest of an upload refused at its start
		}
		name := fi.GetDirectory()
		if !slices.Contains(ss.dirs, name) {
			// A watched folder set up for the wrong directory: refused,
			// audited, and told; the stream goes on.
			why := fmt.Sprintf("this agent is not enrolled for directory %q: enrol it with a token of that directory", clip(name))
			ss.log.Warn("refused a file for a directory the agent does not serve", "directory", clip(name))
			ss.s.audit.Record(ctx, store.AuditEvent{Action: "request.refused", Target: "directory:" + clip(name),
				Outcome: store.AuditRefused, Detail: fmt.Sprintf("agent %s, session %s: a file for a directory the agent does not serve", ss.agent.ID, ss.id)})
			return refuse("", why)
		}
		if ss.s.files == nil {
			return refuse("", "file imports are not served by this hub")
		}
		d, err := ss.s.store.GetDirectory(ctx, name)
		if err != nil {
			return answer("", fmt.Sprintf("directory %s: %v", name, err))
		}
		in := fileImportFromProto(fi, d)
		in.DryRun = false
		if err := csvimport.Check(in); err != nil {
			return refuse("", err.Error())
		}
		sp, err := ss.s.files.NewSpool()
		if err != nil {
			ss.log.Error("spooling an agent's file", "err", err)
			return answer("", "the hub could not receive the file")
		}
		up = &fileUpload{id: c.GetUploadId(), in: in, spool: sp}
		ss.upload = up
	}
	if _, err := up.spool.Write(c.GetData()); err != nil {
		up.spool.Discard()
		ss.upload = nil
		if errors.Is(err, csvimport.ErrTooLarge) {
			return refuse("", err.Error())
		}
		return answer("", err.Error())
	}
	if !c.GetLast() {
		return nil
	}
	ss.upload = nil
	res, err := ss.s.files.Start(ctx, up.spool, up.in, "agent:"+ss.agent.ID)
	if err != nil {
		ss.log.Warn("an agent's file was refused", "directory", up.in.Directory.Name, "file", up.in.FileName, "err", err)
		return answer("", err.Error())
	}
	r := res.Run
	ss.log.Info("an agent's file is imported", "directory", up.in.Directory.Name, "file", up.in.FileName, "run", r.ID, "state", r.State)
	why := ""
	if r.State == store.RunFailed {
		why = r.Message
	}
	return answer(fmt.Sprint(r.ID), why)
}
