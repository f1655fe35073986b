package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/term"

	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
)

func importStart(c *cli, args []string) error {
	fs := c.flags("import start")
	dir := fs.String("directory", "", "directory `NAME`")
	full := fs.Bool("full", false, "a full import (read everything, then sweep what was not seen); a directory an agent reads is always imported in full, so this matters with --file: the file is the whole population")
	wait := fs.Bool("wait", false, "wait for the run to end, with a live progress line on a terminal")
	file := fs.String("file", "", "csv directories: import `FILE` (a CSV export with a header row); with --full it is the whole population")
	encoding := fs.String("encoding", "", "with --file: the file's `ENCODING`: utf-8 (default; a BOM is tolerated), windows-1252, iso-8859-1 or iso-8859-15")
	delimiter := fs.String("delimiter", "", "with --file: the field delimiter `CHAR`, such as ; or tab (default: detected from the header)")
	dryRun := fs.Bool("dry-run", false, "with --file: print what would be created, updated and deprovisioned, and change nothing")
	if _, err := c.parse(fs, args); err != nil {
		return err
	}
	if *dir == "" {
		return &exitError{code: exitUsage, err: fmt.Errorf("--directory: required")}
	}
	if *file == "" && (*encoding != "" || *delimiter != "" || *dryRun) {
		return &exitError{code: exitUsage, err: fmt.Errorf("--encoding, --delimiter and --dry-run go with --file")}
	}
	ctx, client, err := c.admin()
	if err != nil {
		return err
	}
	if *file != "" {
		return c.importFile(ctx, client, &idsyncv1.FileImport{Directory: *dir, FileName: filepath.Base(*file), Full: *full,
			DryRun: *dryRun, Encoding: *encoding, Delimiter: *delimiter}, *file, *wait)
	}
	req := &idsyncv1.StartImportRequest{Directory: *dir}
	if *full {
		req.Kind = idsyncv1.ImportKind_IMPORT_KIND_FULL
	}
	cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	resp, err := client.StartImport(cctx, req)
	cancel()
	if err != nil {
		return err
	}
	r := resp.GetRun()
	if resp.GetAlreadyRunning() {
		fmt.Fprintf(c.errOut, "run %s of %s was already running (started by %s); no new run started\n",
			r.GetId(), r.GetDirectory(), r.GetTrigger())
	}
	if !*wait {
		if c.output == "json" {
			return printJSON(c.out, toRunJSON(r))
		}
		fmt.Fprintf(c.out, "run %s started (%s import of %s); follow it with `idsyncctl import show %s`\n",
			r.GetId(), importKindName(r.GetKind()), r.GetDirectory(), r.GetId())
		return nil
	}
	return c.waitRun(ctx, client, r.GetId())
}

// fileChunk is how much of a file one message carries: well under the
// hub's bound of a request.
const fileChunk = 256 << 10

// importFile streams a file to the hub, then shows the run it started (or
// waits for it), or a dry run's preview.
func (c *cli) importFile(ctx context.Context, client idsyncv1.AdminServiceClient, fi *idsyncv1.FileImport, path string, wait bool) error {
	f, err := os.Open(path)
	if err != nil {
		return &exitError{code: exitUsage, err: fmt.Errorf("--file: %w", err)}
	}
	defer f.Close()
	stream, err := client.ImportFile(ctx)
	if err != nil {
		return err
	}
	buf := make([]byte, fileChunk)
	first := true
	for {
		n, rerr := io.ReadFull(f, buf)
		if n > 0 || first {
			m := &idsyncv1.ImportFileRequest{Data: buf[:n]}
			if first {
				m.Import, first = fi, false
			}
			if err := stream.Send(m); errors.Is(err, io.EOF) {
				break // the hub answered early (a refusal): CloseAndRecv tells
			} else if err != nil {
				return err
			}
		}
		if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
			break
		}
		if rerr != nil {
			return fmt.Errorf("reading %s: %w", path, rerr)
		}
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		return err
	}
	if p := resp.GetPreview(); p != nil {
		return show(c, p, previewView)
	}
	r := resp.GetRun()
	if wait && r.GetState() == idsyncv1.RunState_RUN_STATE_RUNNING {
		return c.waitRun(ctx, client, r.GetId())
	}
	if r.GetState() == idsyncv1.RunState_RUN_STATE_FAILED {
		if err := show(c, r, runView); err != nil {
			return err
		}
		return &exitError{code: exitFailed, err: fmt.Errorf("run %s failed", r.GetId())}
	}
	if c.output == "json" {
		return printJSON(c.out, toRunJSON(r))
	}
	fmt.Fprintf(c.out, "run %s started (%s import of %s from %s); follow it with `idsyncctl import show %s`\n",
		r.GetId(), importKindName(r.GetKind()), r.GetDirectory(), fi.GetFileName(), r.GetId())
	return nil
}

// previewJSON is a dry run's preview as `-o json` prints it.
type previewJSON struct {
	Rows               uint64      `json:"rows"`
	Created            uint64      `json:"created"`
	Updated            uint64      `json:"updated"`
	Unchanged          uint64      `json:"unchanged"`
	Deprovisioned      uint64      `json:"deprovisioned"`
	Errors             uint64      `json:"errors"`
	CreatedUsers       []string    `json:"created_users"`
	UpdatedUsers       []string    `json:"updated_users"`
	DeprovisionedUsers []string    `json:"deprovisioned_users"`
	RowErrors          []errorJSON `json:"row_errors"`
	Safeguard          string      `json:"safeguard,omitempty"`
}

type errorJSON struct {
	Line    string `json:"line"`
	Message string `json:"message"`
}

func toPreviewJSON(p *idsyncv1.ImportPreview) previewJSON {
	j := previewJSON{Rows: p.GetRows(), Created: p.GetCreated(), Updated: p.GetUpdated(), Unchanged: p.GetUnchanged(),
		Deprovisioned: p.GetDeprovisioned(), Errors: p.GetErrorCount(), CreatedUsers: nonNil(p.GetCreatedUsers()),
		UpdatedUsers: nonNil(p.GetUpdatedUsers()), DeprovisionedUsers: nonNil(p.GetDeprovisionedUsers()),
		RowErrors: []errorJSON{}, Safeguard: p.GetSafeguard()}
	for _, e := range p.GetErrors() {
		j.RowErrors = append(j.RowErrors, errorJSON{Line: e.GetDn(), Message: e.GetMessage()})
	}
	return j
}

// previewView shows what a dry run would do; nothing was changed.
var previewView = itemView(toPreviewJSON, previewText)

func previewText(w io.Writer, p *idsyncv1.ImportPreview) error {
	fmt.Fprintf(w, "dry run: nothing was changed\n\n")
	kv := [][2]string{{"rows", count(p.GetRows())}, {"would create", count(p.GetCreated())},
		{"would update", count(p.GetUpdated())}, {"unchanged", count(p.GetUnchanged())},
		{"would deprovision", count(p.GetDeprovisioned())}, {"bad rows", count(p.GetErrorCount())}}
	if p.GetSafeguard() != "" {
		kv = append(kv, [2]string{"safeguard", p.GetSafeguard()})
	}
	if err := fields(w, kv); err != nil {
		return err
	}
	for _, l := range []struct {
		what  string
		n     uint64
		names []string
	}{{"created", p.GetCreated(), p.GetCreatedUsers()}, {"updated", p.GetUpdated(), p.GetUpdatedUsers()},
		{"deprovisioned", p.GetDeprovisioned(), p.GetDeprovisionedUsers()}} {
		if len(l.names) == 0 {
			continue
		}
		fmt.Fprintf(w, "\nwould be %s:\n", l.what)
		for _, n := range l.names {
			fmt.Fprintf(w, "  %s\n", terminalSafe(n))
		}
		if more := l.n - uint64(len(l.names)); more > 0 {
			fmt.Fprintf(w, "  … and %s more\n", count(more))
		}
	}
	if len(p.GetErrors()) > 0 {
		fmt.Fprintln(w, "\nbad rows (first 100):")
		for _, e := range p.GetErrors() {
			fmt.Fprintf(w, "  %s: %s\n", terminalSafe(e.GetDn()), terminalSafe(e.GetMessage()))
		}
	}
	return nil
}

// waitRun polls a run until it ends, drawing a progress line on a terminal.
func (c *cli) waitRun(ctx context.Context, client idsyncv1.AdminServiceClient, id string) error {
	live := false
	if f, ok := c.errOut.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		live = true
	}
	start := time.Now()
	tick := time.NewTicker(300 * time.Millisecond)
	defer tick.Stop()
	var r *idsyncv1.ImportRun
	for {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		resp, err := client.GetImport(cctx, &idsyncv1.GetImportRequest{Id: id})
		cancel()
		if err != nil {
			return err
		}
		r = resp.GetRun()
		if live {
			fmt.Fprintf(c.errOut, "\r\033[K%s", progressLine(r, time.Since(start)))
		}
		if r.GetState() != idsyncv1.RunState_RUN_STATE_RUNNING {
			break
		}
		select {
		case <-ctx.Done():
			if live {
				fmt.Fprintln(c.errOut)
			}
			return &exitError{code: exitFailed, err: fmt.Errorf("stopped waiting; run %s goes on (idsyncctl import show %s)", id, id)}
		case <-tick.C:
		}
	}
	if live {
		fmt.Fprintln(c.errOut)
	}
	if err := show(c, r, runView); err != nil {
		return err
	}
	switch r.GetState() {
	case idsyncv1.RunState_RUN_STATE_COMPLETED:
		return nil
	case idsyncv1.RunState_RUN_STATE_PAUSED_BY_SAFEGUARD:
		return &exitError{code: exitPaused, err: fmt.Errorf("run %s paused by the safeguard", id)}
	}
	return &exitError{code: exitFailed, err: fmt.Errorf("run %s %s", id, runStateName(r.GetState()))}
}

func progressLine(r *idsyncv1.ImportRun, elapsed time.Duration) string {
	rate := float64(r.GetSeen()) / max(elapsed.Seconds(), 0.001)
	return fmt.Sprintf("run %s %s %s: %s seen · %s created · %s updated · %s unchanged · %s errors · %s/s · %s",
		r.GetId(), r.GetDirectory(), runStateName(r.GetState()), count(r.GetSeen()), count(r.GetCreated()),
		count(r.GetUpdated()), count(r.GetUnchanged()), count(r.GetErrors()), count(uint64(rate)),
		elapsed.Round(100*time.Millisecond))
}

// runView shows a run: its figures and the first entry errors.
var runView = itemView(toRunJSON, summary)

func summary(w io.Writer, r *idsyncv1.ImportRun) error {
	kv := [][2]string{
		{"run", r.GetId()}, {"directory", r.GetDirectory()}, {"kind", importKindName(r.GetKind())},
		{"state", runStateName(r.GetState())}, {"trigger", dash(r.GetTrigger())}, {"agent", dash(r.GetAgentId())},
		{"strategy", dash(r.GetStrategy())},
		{"started", timeStr(r.GetStartedAt())}, {"finished", timeStr(r.GetFinishedAt())},
	}
	if r.GetStartedAt() != nil && r.GetFinishedAt() != nil {
		d := r.GetFinishedAt().AsTime().Sub(r.GetStartedAt().AsTime())
		kv = append(kv, [2]string{"duration", d.Round(time.Millisecond).String()})
		if d > 0 {
			kv = append(kv, [2]string{"rate", count(uint64(float64(r.GetSeen())/d.Seconds())) + " objects/s"})
		}
	}
	kv = append(kv, [2]string{"seen", count(r.GetSeen())}, [2]string{"created", count(r.GetCreated())},
		[2]string{"updated", count(r.GetUpdated())}, [2]string{"unchanged", count(r.GetUnchanged())},
		[2]string{"deprovisioned", count(r.GetDeprovisioned())}, [2]string{"errors", count(r.GetErrors())})
	if r.GetPendingDeprovision() > 0 {
		kv = append(kv, [2]string{"pending deprovision", count(r.GetPendingDeprovision())})
	}
	if r.GetMessage() != "" {
		kv = append(kv, [2]string{"message", r.GetMessage()})
	}
	if err := fields(w, kv); err != nil {
		return err
	}
	if len(r.GetErrorSamples()) > 0 {
		fmt.Fprintln(w, "\nentry errors (first 100):")
		for _, e := range r.GetErrorSamples() {
			fmt.Fprintf(w, "  %s: %s\n", terminalSafe(e.GetDn()), terminalSafe(e.GetMessage()))
		}
	}
	return nil
}

func importList(c *cli, args []string) error {
	fs := c.flags("import list")
	dir := fs.String("directory", "", "only this directory `NAME`")
	limit := fs.Uint("limit", 50, "at most `N` runs")
	return query(c, fs, args, "",
		func(ctx context.Context, h hub, _ string) ([]*idsyncv1.ImportRun, error) {
			r, err := h.admin.ListImports(ctx, &idsyncv1.ListImportsRequest{Directory: *dir, Limit: uint32(*limit)})
			return r.GetRuns(), err
		},
		listView(toRunJSON, []string{"RUN", "DIRECTORY", "KIND", "STATE", "STARTED", "SEEN", "CREATED", "UPDATED", "DEPROVISIONED", "ERRORS"},
			func(r *idsyncv1.ImportRun) []string {
				return []string{r.GetId(), r.GetDirectory(), importKindName(r.GetKind()), runStateName(r.GetState()),
					timeStr(r.GetStartedAt()), count(r.GetSeen()), count(r.GetCreated()), count(r.GetUpdated()),
					count(r.GetDeprovisioned()), count(r.GetErrors())}
			}))
}

func importShow(c *cli, args []string) error {
	return query(c, c.flags("import show"), args, "RUN",
		func(ctx context.Context, h hub, id string) (*idsyncv1.ImportRun, error) {
			r, err := h.admin.GetImport(ctx, &idsyncv1.GetImportRequest{Id: id})
			return r.GetRun(), err
		}, runView)
}

func importConfirm(c *cli, args []string) error {
	return query(c, c.flags("import confirm"), args, "RUN",
		func(ctx context.Context, h hub, id string) (*idsyncv1.ImportRun, error) {
			r, err := h.admin.ConfirmImport(ctx, &idsyncv1.ConfirmImportRequest{Id: id})
			return r.GetRun(), err
		}, runView)
}

func importCancel(c *cli, args []string) error {
	return query(c, c.flags("import cancel"), args, "RUN",
		func(ctx context.Context, h hub, id string) (*idsyncv1.ImportRun, error) {
			r, err := h.admin.CancelImport(ctx, &idsyncv1.CancelImportRequest{Id: id})
			return r.GetRun(), err
		}, runView)
}
