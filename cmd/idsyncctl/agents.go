package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
)

func agentToken(c *cli, args []string) error {
	fs := c.flags("agent token")
	dir := fs.String("directory", "", "the `NAME` of the directory the agent will serve")
	ttl := fs.Duration("ttl", 24*time.Hour, "how long the token stays valid")
	if _, err := c.parse(fs, args); err != nil {
		return err
	}
	if *dir == "" {
		return &exitError{code: exitUsage, err: fmt.Errorf("--directory: required")}
	}
	if *ttl < time.Second || *ttl > 30*24*time.Hour {
		return &exitError{code: exitUsage, err: fmt.Errorf("--ttl %v: must be between 1s and 720h", *ttl)}
	}
	ctx, cancel, h, err := c.call()
	if err != nil {
		return err
	}
	defer cancel()
	resp, err := h.admin.CreateEnrollmentToken(ctx, &idsyncv1.CreateEnrollmentTokenRequest{
		Directory: *dir, TtlSeconds: uint32(ttl.Seconds())})
	if err != nil {
		return err
	}
	// Alone on standard output, for scripts: TOKEN=$(idsyncctl agent token …).
	fmt.Fprintln(c.out, resp.GetToken())
	fmt.Fprintf(c.errOut, "single-use enrolment token for %s, valid until %s\n", *dir, timeStr(resp.GetExpiresAt()))
	return nil
}

type agentJSON struct {
	ID            string     `json:"id"`
	Name          string     `json:"name"`
	Directories   []string   `json:"directories"`
	State         string     `json:"state"`
	Version       string     `json:"version"`
	EnrolledAt    *time.Time `json:"enrolled_at,omitempty"`
	LastSeen      *time.Time `json:"last_seen,omitempty"`
	CertExpiresAt *time.Time `json:"cert_expires_at,omitempty"`
	LagMs         uint64     `json:"lag_ms"`
	Capturing     []string   `json:"capturing"`
	Capabilities  []string   `json:"capabilities"`
}

func toAgentJSON(a *idsyncv1.Agent) agentJSON {
	return agentJSON{ID: a.GetId(), Name: a.GetName(), Directories: a.GetDirectories(),
		State: agentStateName(a.GetState()), Version: a.GetVersion(), EnrolledAt: timeJSON(a.GetEnrolledAt()),
		LastSeen: timeJSON(a.GetLastSeen()), CertExpiresAt: timeJSON(a.GetCertExpiresAt()),
		LagMs: a.GetLagMs(), Capturing: append([]string{}, a.GetCapturing()...),
		Capabilities: append([]string{}, a.GetCapabilities()...)}
}

func agentList(c *cli, args []string) error {
	return query(c, c.flags("agent list"), args, "",
		func(ctx context.Context, h hub, _ string) ([]*idsyncv1.Agent, error) {
			r, err := h.admin.ListAgents(ctx, &idsyncv1.ListAgentsRequest{})
			return r.GetAgents(), err
		},
		listView(toAgentJSON, []string{"ID", "NAME", "DIRECTORIES", "STATE", "CAPTURING", "LAG", "VERSION", "LAST HEARTBEAT"},
			func(a *idsyncv1.Agent) []string {
				lag := "-"
				if len(a.GetCapturing()) > 0 {
					lag = fmt.Sprintf("%d ms", a.GetLagMs())
				}
				return []string{a.GetId(), a.GetName(), strings.Join(a.GetDirectories(), ","),
					agentStateName(a.GetState()), dash(strings.Join(a.GetCapturing(), ",")), lag,
					dash(a.GetVersion()), timeStr(a.GetLastSeen())}
			}))
}

func agentRevoke(c *cli, args []string) error {
	return query(c, c.flags("agent revoke"), args, "ID",
		func(ctx context.Context, h hub, id string) (*idsyncv1.Agent, error) {
			r, err := h.admin.RevokeAgent(ctx, &idsyncv1.RevokeAgentRequest{Id: id})
			return r.GetAgent(), err
		},
		itemView(toAgentJSON, func(w io.Writer, a *idsyncv1.Agent) error {
			_, err := fmt.Fprintf(w, "agent %s (%s) revoked: its stream is closed and it must enrol again\n", a.GetId(), a.GetName())
			return err
		}))
}
