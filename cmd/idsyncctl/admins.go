package main

import (
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
)

type adminTokenJSON struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Role       string     `json:"role"`
	Groups     []string   `json:"groups,omitempty"`
	GroupIDs   []string   `json:"group_ids,omitempty"`
	Apps       []string   `json:"apps,omitempty"`
	CreatedAt  *time.Time `json:"created_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
}

func toAdminTokenJSON(t *idsyncv1.AdminToken) adminTokenJSON {
	return adminTokenJSON{ID: t.GetId(), Name: t.GetName(), Role: t.GetRole(), Groups: t.GetGroups(), GroupIDs: t.GetGroupIds(),
		Apps: t.GetApps(), CreatedAt: timeJSON(t.GetCreatedAt()), RevokedAt: timeJSON(t.GetRevokedAt()),
		LastUsedAt: timeJSON(t.GetLastUsedAt())}
}

func adminTokenCreate(c *cli, args []string) error {
	fs := c.flags("admin token create")
	name := fs.String("name", "", "a `NAME` unique among live tokens: the person or job using it")
	role := fs.String("role", "", "`ROLE`: super-admin, app-admin, group-admin, read-only or authn")
	groups := fs.String("groups", "", "for group-admin: the comma-separated `GROUPS` it acts for, each DIRECTORY/GROUP "+
		"(e.g. corp/sales) or a group id; each must name exactly one group, and only that group grants rights")
	apps := fs.String("apps", "", "for app-admin: the comma-separated `APPS` it manages (default all)")
	if _, err := c.parse(fs, args); err != nil {
		return err
	}
	if *name == "" || *role == "" {
		return &exitError{code: exitUsage, err: fmt.Errorf("--name and --role: required")}
	}
	ctx, cancel, client, err := c.call()
	if err != nil {
		return err
	}
	defer cancel()
	resp, err := client.CreateAdminToken(ctx, &idsyncv1.CreateAdminTokenRequest{
		Name: *name, Role: *role, Groups: splitList(*groups), Apps: splitList(*apps)})
	if err != nil {
		return err
	}
	// The secret alone on standard output, shown this once: the hub keeps
	// only its hash.
	fmt.Fprintln(c.out, resp.GetSecret())
	fmt.Fprintf(c.errOut, "admin token %s (%s, id %s): shown once, store it now\n", *name, *role, resp.GetToken().GetId())
	return nil
}

func adminTokenList(c *cli, args []string) error {
	fs := c.flags("admin token list")
	if _, err := c.parse(fs, args); err != nil {
		return err
	}
	ctx, cancel, client, err := c.call()
	if err != nil {
		return err
	}
	defer cancel()
	resp, err := client.ListAdminTokens(ctx, &idsyncv1.ListAdminTokensRequest{})
	if err != nil {
		return err
	}
	if c.output == "json" {
		out := make([]adminTokenJSON, 0, len(resp.GetTokens()))
		for _, t := range resp.GetTokens() {
			out = append(out, toAdminTokenJSON(t))
		}
		return printJSON(c.out, out)
	}
	var rows [][]string
	for _, t := range resp.GetTokens() {
		state := "live"
		if t.GetRevokedAt() != nil {
			state = "revoked " + timeStr(t.GetRevokedAt())
		}
		scope := strings.Join(append(t.GetGroups(), t.GetApps()...), ",")
		rows = append(rows, []string{t.GetId(), t.GetName(), t.GetRole(), dash(scope), state,
			timeStr(t.GetCreatedAt()), timeStr(t.GetLastUsedAt())})
	}
	return table(c.out, []string{"ID", "NAME", "ROLE", "SCOPE", "STATE", "CREATED", "LAST USED"}, rows)
}

func adminTokenRevoke(c *cli, args []string) error {
	fs := c.flags("admin token revoke")
	pos, err := c.parse(fs, args, "ID|NAME")
	if err != nil {
		return err
	}
	ctx, cancel, client, err := c.call()
	if err != nil {
		return err
	}
	defer cancel()
	resp, err := client.RevokeAdminToken(ctx, &idsyncv1.RevokeAdminTokenRequest{Token: pos[0]})
	if err != nil {
		return err
	}
	if c.output == "json" {
		return printJSON(c.out, toAdminTokenJSON(resp.GetToken()))
	}
	t := resp.GetToken()
	fmt.Fprintf(c.out, "admin token %s (%s) revoked at %s\n", t.GetName(), t.GetId(), timeStr(t.GetRevokedAt()))
	return nil
}

type auditJSON struct {
	ID      int64      `json:"id"`
	At      *time.Time `json:"at"`
	Actor   string     `json:"actor"`
	Action  string     `json:"action"`
	Target  string     `json:"target"`
	Outcome string     `json:"outcome"`
	Detail  string     `json:"detail,omitempty"`
}

func auditList(c *cli, args []string) error {
	fs := c.flags("audit list")
	c.allowCSV = true
	since := fs.String("since", "", "events at or after `WHEN`: a duration back (24h, 7d) or a time (2026-11-01, RFC 3339)")
	actor := fs.String("actor", "", "the `ACTOR` whole (admin:alice) or a prefix ending in ':' (admin:)")
	target := fs.String("target", "", "a prefix of the `TARGET` (app:crm)")
	action := fs.String("action", "", "a prefix of the `ACTION` (app., user.deprovisioned)")
	outcome := fs.String("outcome", "", "`OUTCOME`: ok, refused or failed")
	limit := fs.Uint("limit", 1000, "at most `N` events")
	if _, err := c.parse(fs, args); err != nil {
		return err
	}
	req := &idsyncv1.ListAuditEventsRequest{Actor: *actor, Target: *target, Action: *action, Outcome: *outcome, Limit: uint32(*limit)}
	if *since != "" {
		t, err := parseSince(*since, time.Now())
		if err != nil {
			return &exitError{code: exitUsage, err: fmt.Errorf("--since: %v", err)}
		}
		req.Since = timestamppb.New(t)
	}
	ctx, cancel, client, err := c.call()
	if err != nil {
		return err
	}
	defer cancel()
	resp, err := client.ListAuditEvents(ctx, req)
	if err != nil {
		return err
	}
	header := []string{"ID", "AT", "ACTOR", "ACTION", "TARGET", "OUTCOME", "DETAIL"}
	var rows [][]string
	out := make([]auditJSON, 0, len(resp.GetEvents()))
	for _, e := range resp.GetEvents() {
		out = append(out, auditJSON{ID: e.GetId(), At: timeJSON(e.GetAt()), Actor: e.GetActor(), Action: e.GetAction(),
			Target: e.GetTarget(), Outcome: e.GetOutcome(), Detail: e.GetDetail()})
		rows = append(rows, []string{fmt.Sprint(e.GetId()), e.GetAt().AsTime().UTC().Format(time.RFC3339), e.GetActor(),
			e.GetAction(), e.GetTarget(), e.GetOutcome(), e.GetDetail()})
	}
	switch c.output {
	case "json":
		return printJSON(c.out, out)
	case "csv":
		return writeCSV(c.out, header, rows)
	}
	for _, r := range rows {
		r[4], r[6] = dash(r[4]), dash(r[6])
	}
	return table(c.out, header, rows)
}

// parseSince reads a duration back from now ("24h", "7d") or a time
// ("2026-11-01", RFC 3339).
func parseSince(s string, now time.Time) (time.Time, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		var n int
		if _, err := fmt.Sscanf(days, "%d", &n); err == nil && n >= 0 && fmt.Sprint(n) == days {
			return now.Add(-time.Duration(n) * 24 * time.Hour), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339, time.DateTime, time.DateOnly} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is neither a duration (24h, 7d) nor a time (2026-11-01, 2026-11-01T10:00:00Z)", s)
}

// report returns the command that prints the hub's report name.
func report(name string) func(c *cli, args []string) error {
	return func(c *cli, args []string) error {
		fs := c.flags("report " + name)
		c.allowCSV = true
		if _, err := c.parse(fs, args); err != nil {
			return err
		}
		ctx, cancel, client, err := c.call()
		if err != nil {
			return err
		}
		defer cancel()
		resp, err := client.GetReport(ctx, &idsyncv1.GetReportRequest{Name: name})
		if err != nil {
			return err
		}
		var rows [][]string
		for _, r := range resp.GetRows() {
			rows = append(rows, r.GetCells())
		}
		switch c.output {
		case "json":
			out := make([]map[string]string, 0, len(rows))
			for _, r := range rows {
				m := map[string]string{}
				for i, col := range resp.GetColumns() {
					if i < len(r) {
						m[col] = r[i]
					}
				}
				out = append(out, m)
			}
			return printJSON(c.out, out)
		case "csv":
			return writeCSV(c.out, resp.GetColumns(), rows)
		}
		header := make([]string, len(resp.GetColumns()))
		for i, col := range resp.GetColumns() {
			header[i] = strings.ToUpper(col)
		}
		for _, r := range rows {
			for i := range r {
				r[i] = dash(r[i])
			}
		}
		return table(c.out, header, rows)
	}
}
