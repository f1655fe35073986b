package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/idsync/idsync/internal/days"
	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
)

// mappingFields are the --map field names, as in the Directory message.
var mappingFields = map[string]func(m *idsyncv1.AttributeMapping, v string){
	"username":          func(m *idsyncv1.AttributeMapping, v string) { m.Username = v },
	"email":             func(m *idsyncv1.AttributeMapping, v string) { m.Email = v },
	"given_name":        func(m *idsyncv1.AttributeMapping, v string) { m.GivenName = v },
	"family_name":       func(m *idsyncv1.AttributeMapping, v string) { m.FamilyName = v },
	"display_name":      func(m *idsyncv1.AttributeMapping, v string) { m.DisplayName = v },
	"employee_number":   func(m *idsyncv1.AttributeMapping, v string) { m.EmployeeNumber = v },
	"department":        func(m *idsyncv1.AttributeMapping, v string) { m.Department = v },
	"title":             func(m *idsyncv1.AttributeMapping, v string) { m.Title = v },
	"manager":           func(m *idsyncv1.AttributeMapping, v string) { m.Manager = v },
	"group_name":        func(m *idsyncv1.AttributeMapping, v string) { m.GroupName = v },
	"group_description": func(m *idsyncv1.AttributeMapping, v string) { m.GroupDescription = v },
}

// directoryFlags are the settings flags shared by add and update.
type directoryFlags struct {
	kind, baseDN, userFilter, groupFilter string
	maps                                  multiFlag
	extra, members                        string
	pct, maxN                             uint
	capture, fullInterval                 string
	pollInterval                          time.Duration
	mastered                              string
	// Write-back: what the hub may write into the directory.
	writableOUs, writableGroups multiFlag
	initialPasswordFile         string
	mustChange, noWriteBack     bool
	retention                   string
	passwordPolicy              string
	// A csv directory's file layout.
	idColumn, statusColumn, activeValues string
}

func (f *directoryFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.kind, "kind", "", "`KIND`: openldap, ad, scim (an upstream source such as HR), local (users and groups made in the hub) or csv (files of users, such as HR exports)")
	fs.StringVar(&f.idColumn, "id-column", "", "csv: the `COLUMN` that identifies a user across files, such as Employee ID (default: the username column)")
	fs.StringVar(&f.statusColumn, "status-column", "", "csv: a `COLUMN` telling active users from the others, who are suspended (with --active-values)")
	fs.StringVar(&f.activeValues, "active-values", "", "csv: the status column's `VALUES` of active users, comma-separated, ignoring case (e.g. Active,On Leave)")
	fs.StringVar(&f.mastered, "mastered", "", "profile `FIELDS` the directory owns, comma-separated: of a scim source's users (default: all); of the users the hub writes into an ad/openldap directory (default: none)")
	fs.StringVar(&f.baseDN, "base-dn", "", "search base `DN`")
	fs.StringVar(&f.userFilter, "user-filter", "", "LDAP `FILTER` for users (default: the kind's preset)")
	fs.StringVar(&f.groupFilter, "group-filter", "", "LDAP `FILTER` for groups (default: the kind's preset)")
	fs.Var(&f.maps, "map", "profile `FIELD=ATTR` (repeatable; ATTR may be a|b: first present wins; of a csv directory, a column name: username=Employee ID); fields: "+strings.Join(sortedKeys(mappingFields), ", "))
	fs.StringVar(&f.extra, "extra", "", "further user `ATTRS` kept in the profile, comma-separated")
	fs.StringVar(&f.members, "group-members", "", "group membership `ATTRS`, comma-separated (default: the kind's preset)")
	fs.UintVar(&f.pct, "safeguard-percent", 0, "pause a sweep that would deprovision more than `PCT`% of the active users, or of the groups (default 20)")
	fs.UintVar(&f.maxN, "safeguard-max", 0, "pause a sweep that would deprovision more than `N` users, or groups (default 500)")
	fs.StringVar(&f.capture, "capture", "", "change capture `STRATEGY`: auto, syncrepl, dirsync, psearch, poll or off (default auto)")
	fs.DurationVar(&f.pollInterval, "poll-interval", 0, "time between DirSync rounds or polls (default 5s)")
	fs.StringVar(&f.fullInterval, "full-import-interval", "", "time between scheduled full reconciliations, or off (default 24h)")
	fs.Var(&f.writableOUs, "writable-ou", "write-back: an OU `DN` where the hub may create users and change those it created (repeatable; the list replaces the one before)")
	fs.Var(&f.writableGroups, "writable-group", "write-back: a group `DN` the hub may add the users it created to, such as a disable group (repeatable; replaces the list)")
	fs.StringVar(&f.initialPasswordFile, "initial-password-file", "", "write-back: `FILE` holding the mapping expression of a created user's initial password (it may be a literal in quotes); sealed, never shown")
	fs.BoolVar(&f.mustChange, "must-change-password", true, "write-back: created users must change the initial password at the first sign-in (sign-in through the hub is refused until then)")
	fs.BoolVar(&f.noWriteBack, "no-write-back", false, "write-back off: the hub writes nothing into the directory")
	fs.StringVar(&f.passwordPolicy, "password-policy", "", "the `RULES` every password the hub sets in the directory follows, comma-separated: min-length=N, classes=N (of upper, lower, digit, symbol), not-username, not-reused; or none")
	fs.StringVar(&f.retention, "retention", "", "how long a deprovisioned user is kept, restorable, before it is purged: `DURATION` such as 30d, or default (the hub's --user-retention)")
}

// build fills d from the flags set on the command line and returns the
// paths of Directory they set (an update's update_mask).
func (f *directoryFlags) build(fs *flag.FlagSet, d *idsyncv1.Directory) ([]string, error) {
	d.Mapping = &idsyncv1.AttributeMapping{}
	var set []string
	var err error
	fs.Visit(func(fl *flag.Flag) {
		switch fl.Name {
		case "kind":
			switch f.kind {
			case "openldap":
				d.Kind = idsyncv1.DirectoryKind_DIRECTORY_KIND_OPENLDAP
			case "ad":
				d.Kind = idsyncv1.DirectoryKind_DIRECTORY_KIND_AD
			case "scim":
				d.Kind = idsyncv1.DirectoryKind_DIRECTORY_KIND_SCIM
			case "local":
				d.Kind = idsyncv1.DirectoryKind_DIRECTORY_KIND_LOCAL
			case "csv":
				d.Kind = idsyncv1.DirectoryKind_DIRECTORY_KIND_CSV
			default:
				err = fmt.Errorf("--kind %q: must be openldap, ad, scim, local or csv", f.kind)
			}
		case "id-column":
			csvLayout(d).IdColumn = f.idColumn
			set = append(set, "csv.id_column")
		case "status-column":
			csvLayout(d).StatusColumn = f.statusColumn
			set = append(set, "csv.status_column")
		case "active-values":
			csvLayout(d).ActiveValues = splitList(f.activeValues)
			set = append(set, "csv.active_values")
		case "retention":
			if f.retention != "default" {
				r, perr := days.Parse(f.retention)
				if perr != nil || r == 0 {
					err = fmt.Errorf("--retention %q: want a duration such as 30d or 12h, or default", f.retention)
				}
				d.RetentionSeconds = uint64(r / time.Second)
			}
			set = append(set, "retention_seconds")
		case "password-policy":
			if f.passwordPolicy != "none" {
				d.PasswordPolicy = f.passwordPolicy
			}
			set = append(set, "password_policy")
		case "mastered":
			d.Mastered = splitList(f.mastered)
			set = append(set, "mastered")
		case "base-dn":
			d.BaseDn = f.baseDN
			set = append(set, "base_dn")
		case "user-filter":
			d.UserFilter = f.userFilter
			set = append(set, "user_filter")
		case "group-filter":
			d.GroupFilter = f.groupFilter
			set = append(set, "group_filter")
		case "extra":
			d.Mapping.Extra = splitList(f.extra)
			set = append(set, "mapping.extra")
		case "group-members":
			d.Mapping.GroupMembers = splitList(f.members)
			set = append(set, "mapping.group_members")
		case "safeguard-percent":
			d.SafeguardPercent = uint32(f.pct)
			set = append(set, "safeguard_percent")
		case "safeguard-max":
			d.SafeguardMax = uint32(f.maxN)
			set = append(set, "safeguard_max")
		case "capture":
			d.CaptureStrategy = f.capture
			if f.capture == "auto" {
				d.CaptureStrategy = ""
			}
			set = append(set, "capture_strategy")
		case "poll-interval":
			d.PollIntervalSeconds = uint32(f.pollInterval / time.Second)
			set = append(set, "poll_interval_seconds")
		case "full-import-interval":
			if f.fullInterval == "off" {
				d.FullImportIntervalSeconds = ^uint32(0)
			} else if iv, perr := time.ParseDuration(f.fullInterval); perr != nil || iv <= 0 {
				err = fmt.Errorf("--full-import-interval %q: want a duration such as 24h, or off", f.fullInterval)
			} else {
				d.FullImportIntervalSeconds = uint32(iv / time.Second)
			}
			set = append(set, "full_import_interval_seconds")
		}
	})
	wbSet, wbErr := f.buildWriteBack(fs, d)
	set = append(set, wbSet...)
	err = errors.Join(err, wbErr)
	for _, m := range f.maps {
		field, attr, ok := strings.Cut(m, "=")
		setter := mappingFields[field]
		if !ok || setter == nil {
			return nil, fmt.Errorf("--map %q: want FIELD=ATTR with FIELD one of %s", m, strings.Join(sortedKeys(mappingFields), ", "))
		}
		setter(d.Mapping, attr)
		set = append(set, "mapping."+field)
	}
	return set, err
}

// csvLayout returns d's csv layout, made when it has none.
func csvLayout(d *idsyncv1.Directory) *idsyncv1.CsvLayout {
	if d.Csv == nil {
		d.Csv = &idsyncv1.CsvLayout{}
	}
	return d.Csv
}

// buildWriteBack fills d's write-back from its flags and returns the
// paths of Directory they set.
func (f *directoryFlags) buildWriteBack(fs *flag.FlagSet, d *idsyncv1.Directory) ([]string, error) {
	var set []string
	var errs []error
	wb := &idsyncv1.WriteBack{}
	fs.Visit(func(fl *flag.Flag) {
		switch fl.Name {
		case "writable-ou":
			wb.Ous = f.writableOUs
			set = append(set, "write_back.ous")
		case "writable-group":
			wb.Groups = f.writableGroups
			set = append(set, "write_back.groups")
		case "initial-password-file":
			pw, err := readSecretFile("initial-password-file", f.initialPasswordFile)
			errs = append(errs, err)
			wb.InitialPassword = pw
			set = append(set, "write_back.initial_password")
		case "must-change-password":
			wb.MustChangePassword = &f.mustChange
			set = append(set, "write_back.must_change_password")
		}
	})
	if f.noWriteBack {
		if len(set) > 0 {
			return nil, errors.New("--no-write-back: give it alone, without the other write-back flags")
		}
		return []string{"write_back"}, nil
	}
	if len(set) > 0 {
		d.WriteBack = wb
	}
	return set, errors.Join(errs...)
}

func directoryAdd(c *cli, args []string) error {
	fs := c.flags("directory add")
	var f directoryFlags
	f.register(fs)
	pos, err := c.parse(fs, args, "NAME")
	if err != nil {
		return err
	}
	d := &idsyncv1.Directory{Name: pos[0]}
	if _, err := f.build(fs, d); err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	if d.Kind == idsyncv1.DirectoryKind_DIRECTORY_KIND_UNSPECIFIED {
		return &exitError{code: exitUsage, err: fmt.Errorf("--kind: required (openldap, ad, scim, local or csv)")}
	}
	if d.BaseDn == "" && d.Kind != idsyncv1.DirectoryKind_DIRECTORY_KIND_SCIM && d.Kind != idsyncv1.DirectoryKind_DIRECTORY_KIND_LOCAL &&
		d.Kind != idsyncv1.DirectoryKind_DIRECTORY_KIND_CSV {
		return &exitError{code: exitUsage, err: fmt.Errorf("--base-dn: required")}
	}
	ctx, cancel, h, err := c.call()
	if err != nil {
		return err
	}
	defer cancel()
	resp, err := h.admin.CreateDirectory(ctx, &idsyncv1.CreateDirectoryRequest{Directory: d})
	if err != nil {
		return err
	}
	return show(c, resp.GetDirectory(), directoryView)
}

func directoryUpdate(c *cli, args []string) error {
	fs := c.flags("directory update")
	var f directoryFlags
	f.register(fs)
	pos, err := c.parse(fs, args, "NAME")
	if err != nil {
		return err
	}
	d := &idsyncv1.Directory{Name: pos[0]}
	set, err := f.build(fs, d)
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	if len(set) == 0 {
		return &exitError{code: exitUsage, err: fmt.Errorf("nothing to change: name a setting flag")}
	}
	ctx, cancel, h, err := c.call()
	if err != nil {
		return err
	}
	defer cancel()
	resp, err := h.admin.UpdateDirectory(ctx, &idsyncv1.UpdateDirectoryRequest{Directory: d, UpdateMask: &fieldmaskpb.FieldMask{Paths: set}})
	if err != nil {
		return err
	}
	return show(c, resp.GetDirectory(), directoryView)
}

func directoryList(c *cli, args []string) error {
	return query(c, c.flags("directory list"), args, "",
		func(ctx context.Context, h hub, _ string) ([]*idsyncv1.Directory, error) {
			r, err := h.admin.ListDirectories(ctx, &idsyncv1.ListDirectoriesRequest{})
			return r.GetDirectories(), err
		},
		listView(toDirectoryJSON, []string{"NAME", "KIND", "BASE DN", "USERS", "GROUPS", "AGENTS", "LAST RUN"},
			func(d *idsyncv1.Directory) []string {
				last := "-"
				if r := d.GetLastRun(); r != nil {
					last = fmt.Sprintf("%s %s %s", r.GetId(), runStateName(r.GetState()), timeStr(r.GetStartedAt()))
				}
				return []string{d.GetName(), kindName(d.GetKind()), d.GetBaseDn(),
					count(d.GetActiveUsers()), count(d.GetGroups()), fmt.Sprint(len(d.GetAgents())), last}
			}))
}

func directoryShow(c *cli, args []string) error {
	return query(c, c.flags("directory show"), args, "NAME",
		func(ctx context.Context, h hub, name string) (*idsyncv1.Directory, error) {
			r, err := h.admin.GetDirectory(ctx, &idsyncv1.GetDirectoryRequest{Name: name})
			return r.GetDirectory(), err
		}, directoryView)
}

type directoryJSON struct {
	Name             string            `json:"name"`
	Kind             string            `json:"kind"`
	BaseDN           string            `json:"base_dn"`
	UserFilter       string            `json:"user_filter"`
	GroupFilter      string            `json:"group_filter"`
	Mapping          map[string]string `json:"mapping"`
	GroupMembers     []string          `json:"group_members"`
	Extra            []string          `json:"extra"`
	SafeguardPercent uint32            `json:"safeguard_percent"`
	SafeguardMax     uint32            `json:"safeguard_max"`
	Capture          string            `json:"capture"`
	CaptureStrategy  string            `json:"capture_strategy"`
	CaptureStatus    *captureJSON      `json:"capture_status,omitempty"`
	CaptureError     string            `json:"capture_error,omitempty"`
	ActiveUsers      uint64            `json:"active_users"`
	Groups           uint64            `json:"groups"`
	Agents           []string          `json:"agents"`
	LastRun          *runJSON          `json:"last_run,omitempty"`
	Mastered         []string          `json:"mastered,omitempty"`
	WriteBack        *writeBackJSON    `json:"write_back,omitempty"`
	// RetentionSeconds: 0 is the hub's default.
	RetentionSeconds uint64   `json:"retention_seconds"`
	PasswordPolicy   string   `json:"password_policy,omitempty"`
	CSV              *csvJSON `json:"csv,omitempty"`
}

// csvJSON is a csv directory's file layout.
type csvJSON struct {
	IDColumn     string   `json:"id_column"`
	StatusColumn string   `json:"status_column,omitempty"`
	ActiveValues []string `json:"active_values,omitempty"`
}

// writeBackJSON is a directory's write-back settings; the initial password
// is "(set)" or absent, never the expression.
type writeBackJSON struct {
	OUs                []string `json:"ous"`
	Groups             []string `json:"groups"`
	InitialPassword    string   `json:"initial_password,omitempty"`
	MustChangePassword bool     `json:"must_change_password"`
}

func mappingPairs(m *idsyncv1.AttributeMapping) map[string]string {
	return map[string]string{
		"username": m.GetUsername(), "email": m.GetEmail(), "given_name": m.GetGivenName(),
		"family_name": m.GetFamilyName(), "display_name": m.GetDisplayName(),
		"employee_number": m.GetEmployeeNumber(), "department": m.GetDepartment(), "title": m.GetTitle(),
		"manager": m.GetManager(), "group_name": m.GetGroupName(), "group_description": m.GetGroupDescription(),
	}
}

func toDirectoryJSON(d *idsyncv1.Directory) directoryJSON {
	j := directoryJSON{
		Name: d.GetName(), Kind: kindName(d.GetKind()), BaseDN: d.GetBaseDn(), UserFilter: d.GetUserFilter(),
		GroupFilter: d.GetGroupFilter(), Mapping: mappingPairs(d.GetMapping()),
		GroupMembers: d.GetMapping().GetGroupMembers(), Extra: d.GetMapping().GetExtra(),
		SafeguardPercent: d.GetSafeguardPercent(), SafeguardMax: d.GetSafeguardMax(), Capture: d.GetCapture(),
		CaptureStrategy: dash(d.GetCaptureStrategy()),
		ActiveUsers:     d.GetActiveUsers(), Groups: d.GetGroups(), Agents: d.GetAgents(),
		Mastered: d.GetMastered(), RetentionSeconds: d.GetRetentionSeconds(), PasswordPolicy: d.GetPasswordPolicy(),
	}
	if r := d.GetLastRun(); r != nil {
		rj := toRunJSON(r)
		j.LastRun = &rj
	}
	if c := d.GetCsv(); c != nil {
		j.CSV = &csvJSON{IDColumn: c.GetIdColumn(), StatusColumn: c.GetStatusColumn(), ActiveValues: c.GetActiveValues()}
		if j.CSV.IDColumn == "" {
			j.CSV.IDColumn = d.GetMapping().GetUsername()
		}
	}
	if wb := d.GetWriteBack(); wb != nil {
		j.WriteBack = &writeBackJSON{OUs: nonNil(wb.GetOus()), Groups: nonNil(wb.GetGroups()),
			InitialPassword: wb.GetInitialPassword(), MustChangePassword: wb.GetMustChangePassword()}
	}
	if c := d.GetCaptureStatus(); c != nil {
		j.CaptureStatus = &captureJSON{RunID: c.GetRunId(), Strategy: c.GetStrategy(), AgentID: c.GetAgentId(),
			StartedAt: timeJSON(c.GetStartedAt()), Changes: c.GetChanges(), LagMs: c.GetLagMs()}
	}
	j.CaptureError = d.GetCaptureError()
	return j
}

type captureJSON struct {
	RunID     string     `json:"run_id"`
	Strategy  string     `json:"strategy"`
	AgentID   string     `json:"agent_id"`
	StartedAt *time.Time `json:"started_at,omitempty"`
	Changes   uint64     `json:"changes"`
	LagMs     uint64     `json:"lag_ms"`
}

// directoryView shows a directory: its settings, figures and write-back.
var directoryView = itemView(toDirectoryJSON, directoryText)

func directoryText(w io.Writer, d *idsyncv1.Directory) error {
	kv := [][2]string{
		{"name", d.GetName()}, {"kind", kindName(d.GetKind())}, {"base dn", d.GetBaseDn()},
		{"user filter", d.GetUserFilter()}, {"group filter", d.GetGroupFilter()},
		{"change capture", strings.TrimPrefix(d.GetCapture(), "change capture: ")},
		{"capturing now", captureLine(d.GetCaptureStatus())},
	}
	if e := d.GetCaptureError(); e != "" {
		kv = append(kv, [2]string{"last capture failed", e})
	}
	kv = append(kv, [][2]string{
		{"safeguard", fmt.Sprintf("pause a sweep of more than %d%% or %d users or groups", d.GetSafeguardPercent(), d.GetSafeguardMax())},
		{"users (not deprovisioned)", count(d.GetActiveUsers())}, {"groups", count(d.GetGroups())},
		{"agents", dash(strings.Join(d.GetAgents(), ", "))},
		{"retention", retentionText(d.GetRetentionSeconds())},
	}...)
	if d.GetKind() == idsyncv1.DirectoryKind_DIRECTORY_KIND_LOCAL {
		return fields(w, kv)
	}
	if d.GetKind() == idsyncv1.DirectoryKind_DIRECTORY_KIND_SCIM {
		mastered := strings.Join(d.GetMastered(), ", ")
		if mastered == "" {
			mastered = "all profile fields"
		}
		kv = append(kv, [2]string{"mastered fields", mastered})
		// A source writes SCIM attributes: no LDAP mapping to show.
		return fields(w, kv)
	}
	m := mappingPairs(d.GetMapping())
	if d.GetKind() == idsyncv1.DirectoryKind_DIRECTORY_KIND_CSV {
		// A file has no base DN or filters.
		kv = slices.DeleteFunc(kv, func(f [2]string) bool {
			return f[0] == "base dn" || f[0] == "user filter" || f[0] == "group filter"
		})
		return fields(w, append(kv, csvLines(d, m)...))
	}
	for _, k := range sortedKeys(m) {
		kv = append(kv, [2]string{"map " + k, dash(m[k])})
	}
	kv = append(kv, [2]string{"group members", dash(strings.Join(d.GetMapping().GetGroupMembers(), ", "))},
		[2]string{"extra attributes", dash(strings.Join(d.GetMapping().GetExtra(), ", "))})
	if r := d.GetLastRun(); r != nil {
		kv = append(kv, [2]string{"last run", fmt.Sprintf("%s (%s, %s, started %s)", r.GetId(),
			importKindName(r.GetKind()), runStateName(r.GetState()), timeStr(r.GetStartedAt()))})
	}
	kv = append(kv, writeBackLines(d.GetWriteBack())...)
	if p := d.GetPasswordPolicy(); p != "" {
		kv = append(kv, [2]string{"password policy", p})
	}
	return fields(w, kv)
}

// csvLines describe a csv directory: its columns and its last run.
func csvLines(d *idsyncv1.Directory, m map[string]string) [][2]string {
	var kv [][2]string
	c := d.GetCsv()
	id := c.GetIdColumn()
	if id == "" {
		id = m["username"] + " (the username column)"
	}
	kv = append(kv, [2]string{"id column", id})
	if c.GetStatusColumn() != "" {
		kv = append(kv, [2]string{"status column", fmt.Sprintf("%s (active: %s; other values suspend)",
			c.GetStatusColumn(), strings.Join(c.GetActiveValues(), ", "))})
	}
	for _, k := range sortedKeys(m) {
		if m[k] != "" {
			kv = append(kv, [2]string{"column " + k, m[k]})
		}
	}
	if x := d.GetMapping().GetExtra(); len(x) > 0 {
		kv = append(kv, [2]string{"extra columns", strings.Join(x, ", ")})
	}
	if r := d.GetLastRun(); r != nil {
		kv = append(kv, [2]string{"last run", fmt.Sprintf("%s (%s, %s, started %s)", r.GetId(),
			importKindName(r.GetKind()), runStateName(r.GetState()), timeStr(r.GetStartedAt()))})
	}
	return kv
}

// retentionText says how long the directory keeps deprovisioned users.
func retentionText(seconds uint64) string {
	if seconds == 0 {
		return "the hub's default (idsync-hub serve --user-retention)"
	}
	return "deprovisioned users are purged " + days.Format(time.Duration(seconds)*time.Second) + " after"
}

func captureLine(c *idsyncv1.CaptureStatus) string {
	if c == nil {
		return "-"
	}
	strategy := c.GetStrategy()
	if strategy == "" {
		strategy = "starting"
	}
	return fmt.Sprintf("%s by agent %s since %s (run %s, %s changes, lag %d ms)", strategy, c.GetAgentId(),
		timeStr(c.GetStartedAt()), c.GetRunId(), count(c.GetChanges()), c.GetLagMs())
}

// writeBackLines describe a directory's write-back settings.
func writeBackLines(wb *idsyncv1.WriteBack) [][2]string {
	if wb == nil {
		return [][2]string{{"write-back", "off (a super-admin turns it on with --writable-ou)"}}
	}
	pw := "none"
	if wb.GetInitialPassword() != "" {
		pw = wb.GetInitialPassword()
	}
	if wb.GetMustChangePassword() {
		pw += " (must change at first sign-in)"
	}
	return [][2]string{
		{"write-back OUs", strings.Join(wb.GetOus(), "; ")},
		{"write-back groups", dash(strings.Join(wb.GetGroups(), "; "))},
		{"initial password", pw},
	}
}
