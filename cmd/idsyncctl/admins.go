package main

import (
	"context"
	"fmt"
	"io"
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
	ctx, cancel, h, err := c.call()
	if err != nil {
		return err
	}
	defer cancel()
	resp, err := h.admin.CreateAdminToken(ctx, &idsyncv1.CreateAdminTokenRequest{
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
	return query(c, c.flags("admin token list"), args, "",
		func(ctx context.Context, h hub, _ string) ([]*idsyncv1.AdminToken, error) {
			r, err := h.admin.ListAdminTokens(ctx, &idsyncv1.ListAdminTokensRequest{})
			return r.GetTokens(), err
		},
		listView(toAdminTokenJSON, []string{"ID", "NAME", "ROLE", "SCOPE", "STATE", "CREATED", "LAST USED"},
			func(t *idsyncv1.AdminToken) []string {
				state := "live"
				if t.GetRevokedAt() != nil {
					state = "revoked " + timeStr(t.GetRevokedAt())
				}
				scope := strings.Join(append(t.GetGroups(), t.GetApps()...), ",")
				return []string{t.GetId(), t.GetName(), t.GetRole(), dash(scope), state,
					timeStr(t.GetCreatedAt()), timeStr(t.GetLastUsedAt())}
			}))
}

func adminTokenRevoke(c *cli, args []string) error {
	return query(c, c.flags("admin token revoke"), args, "ID|NAME",
		func(ctx context.Context, h hub, token string) (*idsyncv1.AdminToken, error) {
			r, err := h.admin.RevokeAdminToken(ctx, &idsyncv1.RevokeAdminTokenRequest{Token: token})
			return r.GetToken(), err
		},
		itemView(toAdminTokenJSON, func(w io.Writer, t *idsyncv1.AdminToken) error {
			_, err := fmt.Fprintf(w, "admin token %s (%s) revoked at %s\n", t.GetName(), t.GetId(), timeStr(t.GetRevokedAt()))
			return err
		}))
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

func toAuditJSON(e *idsyncv1.AuditEvent) auditJSON {
	return auditJSON{ID: e.GetId(), At: timeJSON(e.GetAt()), Actor: e.GetActor(), Action: e.GetAction(),
		Target: e.GetTarget(), Outcome: e.GetOutcome(), Detail: e.GetDetail()}
}

var auditHeader = []string{"ID", "AT", "ACTOR", "ACTION", "TARGET", "OUTCOME", "DETAIL"}

// auditRow is an event as CSV writes it; a table shows "-" for an empty
// target or detail.
func auditRow(e *idsyncv1.AuditEvent) []string {
	return []string{fmt.Sprint(e.GetId()), e.GetAt().AsTime().UTC().Format(time.RFC3339), e.GetActor(),
		e.GetAction(), e.GetTarget(), e.GetOutcome(), e.GetDetail()}
}

// auditView shows audit events as JSON, CSV or a table.
var auditView = view[[]*idsyncv1.AuditEvent]{
	json: func(events []*idsyncv1.AuditEvent) any { return mapSlice(events, toAuditJSON) },
	text: func(w io.Writer, events []*idsyncv1.AuditEvent) error {
		return table(w, auditHeader, mapSlice(events, func(e *idsyncv1.AuditEvent) []string {
			r := auditRow(e)
			r[4], r[6] = dash(r[4]), dash(r[6])
			return r
		}))
	},
	csv: func(events []*idsyncv1.AuditEvent) ([]string, [][]string) {
		return auditHeader, mapSlice(events, auditRow)
	},
}

func auditList(c *cli, args []string) error {
	fs := c.flags("audit list")
	since := fs.String("since", "", "events at or after `WHEN`: a duration back (24h, 7d) or a time (2026-11-01, RFC 3339)")
	actor := fs.String("actor", "", "the `ACTOR` whole (admin:alice) or a prefix ending in ':' (admin:)")
	target := fs.String("target", "", "a prefix of the `TARGET` (app:crm)")
	action := fs.String("action", "", "a prefix of the `ACTION` (app., user.deprovisioned)")
	outcome := fs.String("outcome", "", "`OUTCOME`: ok, refused or failed")
	limit := fs.Uint("limit", 1000, "at most `N` events")
	return query(c, fs, args, "",
		func(ctx context.Context, h hub, _ string) ([]*idsyncv1.AuditEvent, error) {
			req := &idsyncv1.ListAuditEventsRequest{Actor: *actor, Target: *target, Action: *action, Outcome: *outcome, Limit: uint32(*limit)}
			if *since != "" {
				t, err := parseSince(*since, time.Now())
				if err != nil {
					return nil, &exitError{code: exitUsage, err: fmt.Errorf("--since: %v", err)}
				}
				req.Since = timestamppb.New(t)
			}
			r, err := h.admin.ListAuditEvents(ctx, req)
			return r.GetEvents(), err
		}, auditView)
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
		return query(c, c.flags("report "+name), args, "",
			func(ctx context.Context, h hub, _ string) (*idsyncv1.GetReportResponse, error) {
				return h.admin.GetReport(ctx, &idsyncv1.GetReportRequest{Name: name})
			}, reportView)
	}
}

// reportView shows a report: its rows as JSON objects keyed by column, as
// CSV, or as a table.
var reportView = view[*idsyncv1.GetReportResponse]{
	json: func(r *idsyncv1.GetReportResponse) any {
		return mapSlice(reportRows(r), func(row []string) map[string]string {
			m := map[string]string{}
			for i, col := range r.GetColumns() {
				if i < len(row) {
					m[col] = row[i]
				}
			}
			return m
		})
	},
	text: func(w io.Writer, r *idsyncv1.GetReportResponse) error {
		header := mapSlice(r.GetColumns(), strings.ToUpper)
		rows := mapSlice(reportRows(r), func(row []string) []string { return mapSlice(row, dash) })
		return table(w, header, rows)
	},
	csv: func(r *idsyncv1.GetReportResponse) ([]string, [][]string) { return r.GetColumns(), reportRows(r) },
}

func reportRows(r *idsyncv1.GetReportResponse) [][]string {
	return mapSlice(r.GetRows(), (*idsyncv1.ReportRow).GetCells)
}

type adminGrantJSON struct {
	ID        string     `json:"id"`
	Role      string     `json:"role"`
	Group     string     `json:"group"`
	GroupID   string     `json:"group_id"`
	Groups    []string   `json:"groups,omitempty"`
	Apps      []string   `json:"apps,omitempty"`
	CreatedBy string     `json:"created_by,omitempty"`
	CreatedAt *time.Time `json:"created_at,omitempty"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

func toAdminGrantJSON(g *idsyncv1.AdminGrant) adminGrantJSON {
	return adminGrantJSON{ID: g.GetId(), Role: g.GetRole(), Group: g.GetGroup(), GroupID: g.GetGroupId(), Groups: g.GetGroups(),
		Apps: g.GetApps(), CreatedBy: g.GetCreatedBy(), CreatedAt: timeJSON(g.GetCreatedAt()), RevokedAt: timeJSON(g.GetRevokedAt())}
}

func adminGrantCreate(c *cli, args []string) error {
	fs := c.flags("admin grant")
	role := fs.String("role", "", "`ROLE`: super-admin, app-admin, group-admin or read-only")
	group := fs.String("group", "", "the directory `GROUP` whose members hold the role, DIRECTORY/GROUP (e.g. corp/idsync-admins) or a group id")
	groups := fs.String("groups", "", "for group-admin: the comma-separated `GROUPS` it acts for, each DIRECTORY/GROUP or a group id")
	apps := fs.String("apps", "", "for app-admin: the comma-separated `APPS` it manages (default all)")
	return query(c, fs, args, "",
		func(ctx context.Context, h hub, _ string) (*idsyncv1.AdminGrant, error) {
			if *role == "" || *group == "" {
				return nil, &exitError{code: exitUsage, err: fmt.Errorf("--role and --group: required")}
			}
			r, err := h.admin.CreateAdminGrant(ctx, &idsyncv1.CreateAdminGrantRequest{
				Role: *role, Group: *group, Groups: splitList(*groups), Apps: splitList(*apps)})
			return r.GetGrant(), err
		},
		itemView(toAdminGrantJSON, func(w io.Writer, g *idsyncv1.AdminGrant) error {
			_, err := fmt.Fprintf(w, "admin grant %s: the members of %s sign in to the console as %s\n", g.GetId(), g.GetGroup(), g.GetRole())
			return err
		}))
}

func adminGrantList(c *cli, args []string) error {
	return query(c, c.flags("admin grant list"), args, "",
		func(ctx context.Context, h hub, _ string) ([]*idsyncv1.AdminGrant, error) {
			r, err := h.admin.ListAdminGrants(ctx, &idsyncv1.ListAdminGrantsRequest{})
			return r.GetGrants(), err
		},
		listView(toAdminGrantJSON, []string{"ID", "GROUP", "ROLE", "SCOPE", "STATE", "CREATED", "BY"},
			func(g *idsyncv1.AdminGrant) []string {
				state := "live"
				if g.GetRevokedAt() != nil {
					state = "revoked " + timeStr(g.GetRevokedAt())
				}
				scope := strings.Join(append(g.GetGroups(), g.GetApps()...), ",")
				return []string{g.GetId(), g.GetGroup(), g.GetRole(), dash(scope), state, timeStr(g.GetCreatedAt()), dash(g.GetCreatedBy())}
			}))
}

func adminGrantRevoke(c *cli, args []string) error {
	return query(c, c.flags("admin grant revoke"), args, "ID",
		func(ctx context.Context, h hub, id string) (*idsyncv1.AdminGrant, error) {
			r, err := h.admin.RevokeAdminGrant(ctx, &idsyncv1.RevokeAdminGrantRequest{Id: id})
			return r.GetGrant(), err
		},
		itemView(toAdminGrantJSON, func(w io.Writer, g *idsyncv1.AdminGrant) error {
			_, err := fmt.Fprintf(w, "admin grant %s (%s of %s) revoked at %s\n", g.GetId(), g.GetRole(), g.GetGroup(), timeStr(g.GetRevokedAt()))
			return err
		}))
}
