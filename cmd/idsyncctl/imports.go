package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/term"

	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
)

func importStart(c *cli, args []string) error {
	fs := c.flags("import start")
	dir := fs.String("directory", "", "directory `NAME`")
	full := fs.Bool("full", false, "a full import (read everything, then sweep what was not seen)")
	wait := fs.Bool("wait", false, "wait for the run to end, with a live progress line on a terminal")
	if _, err := c.parse(fs, args); err != nil {
		return err
	}
	if *dir == "" {
		return &exitError{code: exitUsage, err: fmt.Errorf("--directory: required")}
	}
	ctx, client, err := c.admin()
	if err != nil {
		return err
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
