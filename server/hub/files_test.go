package hub_test

import (
	"errors"
	"io"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/idsync/idsync/internal/eventually"
	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
	"github.com/idsync/idsync/server/hub"
	"github.com/idsync/idsync/server/store"
)

// importFile streams data to ImportFile in chunks of chunk bytes, as
// idsyncctl does, and returns the answer.
func importFile(t *testing.T, h *testHub, token string, fi *idsyncv1.FileImport, data []byte, chunk int) (*idsyncv1.ImportFileResponse, error) {
	t.Helper()
	stream, err := idsyncv1.NewAdminServiceClient(h.conn).ImportFile(as(t.Context(), token))
	if err != nil {
		return nil, err
	}
	first := true
	for len(data) > 0 || first {
		n := min(chunk, len(data))
		m := &idsyncv1.ImportFileRequest{Data: data[:n]}
		if first {
			m.Import, first = fi, false
		}
		data = data[n:]
		if err := stream.Send(m); errors.Is(err, io.EOF) {
			break // the hub answered already: CloseAndRecv says what
		} else if err != nil {
			return nil, err
		}
	}
	return stream.CloseAndRecv()
}

// TestImportFileDoor: the gRPC door of a file import — a dry run's
// preview, a file over the hub's cap refused as it comes, a directory of
// another kind refused before the file, the permission of import start.
func TestImportFileDoor(t *testing.T) {
	h := startHubWith(t, func(c *hub.Config) { c.ImportMaxBytes = 4 << 10 }, func(st store.Store) {
		d := &store.Directory{Name: "hr-csv", Kind: store.KindCSV, SafeguardPercent: 20, SafeguardMax: 500,
			FullImportInterval: -1, CaptureStrategy: "off", Mapping: store.Mapping{Username: "Login"},
			CSV: &store.CSVLayout{IDColumn: "Employee ID"}}
		if err := st.CreateDirectory(t.Context(), d); err != nil {
			t.Fatal(err)
		}
	})
	file := []byte("Employee ID,Login\n1,ann\n2,bob\n")
	resp, err := importFile(t, h, h.boot, &idsyncv1.FileImport{Directory: "hr-csv", FileName: "x.csv", Full: true, DryRun: true}, file, 8)
	if err != nil {
		t.Fatalf("dry run: %v", err)
	}
	if p := resp.GetPreview(); p.GetRows() != 2 || p.GetCreated() != 2 || strings.Join(p.GetCreatedUsers(), ",") != "ann,bob" || resp.GetRun() != nil {
		t.Errorf("dry run answered %v, want a preview of 2 created (ann, bob) and no run", resp)
	}
	_, err = importFile(t, h, h.boot, &idsyncv1.FileImport{Directory: "hr-csv", FileName: "dup.csv", DryRun: true},
		[]byte("Employee ID,Login,login\n1,ann,ann\n"), 8)
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), `dup.csv: the header names column "login" twice`) {
		t.Errorf("a header that names a column twice: %v, want InvalidArgument naming the file and the column", err)
	}
	big := []byte("Employee ID,Login\n" + strings.Repeat("3,carol\n", 1000))
	_, err = importFile(t, h, h.boot, &idsyncv1.FileImport{Directory: "hr-csv", FileName: "big.csv"}, big, 1024)
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "larger than the hub takes") {
		t.Errorf("a file over the cap: %v, want InvalidArgument: larger than the hub takes", err)
	}
	_, err = importFile(t, h, h.boot, &idsyncv1.FileImport{Directory: "corp", FileName: "x.csv"}, file, 1024)
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "files are imported into csv directories") {
		t.Errorf("a file for an LDAP directory: %v, want FailedPrecondition naming csv directories", err)
	}
	readOnly := h.token("ro", "read-only", nil, nil)
	_, err = importFile(t, h, readOnly, &idsyncv1.FileImport{Directory: "hr-csv", FileName: "x.csv"}, file, 1024)
	if status.Code(err) != codes.PermissionDenied {
		t.Errorf("a read-only token: %v, want PermissionDenied", err)
	}
	resp, err = importFile(t, h, h.boot, &idsyncv1.FileImport{Directory: "hr-csv", FileName: "x.csv", Full: true}, file, 1024)
	if err != nil || resp.GetRun().GetId() == "" {
		t.Fatalf("import: %v, %v; want a run", resp, err)
	}
	eventually.That(t, "the import completes", func() (bool, string) {
		r, err := idsyncv1.NewAdminServiceClient(h.conn).GetImport(as(t.Context(), h.boot), &idsyncv1.GetImportRequest{Id: resp.GetRun().GetId()})
		if err != nil {
			return false, err.Error()
		}
		return r.GetRun().GetState() == idsyncv1.RunState_RUN_STATE_COMPLETED && r.GetRun().GetCreated() == 2, r.GetRun().String()
	})
}
