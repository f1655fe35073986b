package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"google.golang.org/protobuf/types/known/timestamppb"

	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
)

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table writes rows under a header, aligned, each cell made safe for a
// terminal (terminalSafe).
func table(w io.Writer, header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(mapSlice(header, terminalSafe), "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(mapSlice(r, terminalSafe), "\t"))
	}
	return tw.Flush()
}

// fields writes "key: value" lines, aligned, made safe for a terminal.
func fields(w io.Writer, kv [][2]string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	for _, f := range kv {
		fmt.Fprintf(tw, "%s:\t%s\n", terminalSafe(f[0]), terminalSafe(f[1]))
	}
	return tw.Flush()
}

// writeCSV writes rows under a header as CSV, each cell that a spreadsheet
// would take for a formula neutralised (csvSafe).
func writeCSV(w io.Writer, header []string, rows [][]string) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(mapSlice(header, csvSafe)); err != nil {
		return err
	}
	for _, r := range rows {
		if err := cw.Write(mapSlice(r, csvSafe)); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// mapSlice returns f of every item, in a new slice (empty, not nil, when
// there are none).
func mapSlice[T, U any](items []T, f func(T) U) []U {
	out := make([]U, 0, len(items))
	for _, it := range items {
		out = append(out, f(it))
	}
	return out
}

// terminalSafe returns s with whatever could forge a line or drive the
// terminal made visible, escaped as Go writes it: C0 and C1 control
// characters and DEL (\n, \r, \t, \x1b, \u009b), the bidirectional
// controls that reorder what follows (\u202e) and the line and paragraph
// separators; bytes that are not UTF-8 as \xff. What comes from the hub —
// a name, an error, an audit event's detail — is shown on one line, in its
// order, in the terminal's colours. JSON output stays exact.
func terminalSafe(s string) string {
	i := strings.IndexFunc(s, func(r rune) bool { return r == utf8.RuneError || unsafeRune(r) })
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.WriteString(s[:i])
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x80 && unsafeRune(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		case unsafeRune(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// unsafeRune reports whether r, printed as it is, could change what a
// terminal shows of other text: a control character (C0, DEL, C1), a
// bidirectional control, or a line or paragraph separator.
func unsafeRune(r rune) bool {
	switch {
	case unicode.IsControl(r):
		return true
	case r == '\u061c', r == '\u200e', r == '\u200f', // ALM, LRM, RLM
		'\u202a' <= r && r <= '\u202e', // LRE, RLE, PDF, LRO, RLO
		'\u2066' <= r && r <= '\u2069', // LRI, RLI, FSI, PDI
		r == '\u2028', r == '\u2029':
		return true
	}
	return false
}

// csvSafe returns s with a leading ' when a spreadsheet would read it as a
// formula: it starts with =, +, -, @, a tab or a carriage return (OWASP's
// CSV injection advice).
func csvSafe(s string) string {
	if s != "" && strings.IndexByte("=+-@\t\r", s[0]) >= 0 {
		return "'" + s
	}
	return s
}

func timeStr(t *timestamppb.Timestamp) string {
	if t == nil {
		return "-"
	}
	return t.AsTime().Local().Format(time.DateTime)
}

func timeJSON(t *timestamppb.Timestamp) *time.Time {
	if t == nil {
		return nil
	}
	v := t.AsTime().UTC()
	return &v
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// Enum names as admins read them.
func enumName(full string, prefix string) string {
	return strings.ToLower(strings.TrimPrefix(full, prefix))
}

func kindName(k idsyncv1.DirectoryKind) string {
	return enumName(k.String(), "DIRECTORY_KIND_")
}

func statusName(s idsyncv1.UserStatus) string { return enumName(s.String(), "USER_STATUS_") }
func runStateName(s idsyncv1.RunState) string { return enumName(s.String(), "RUN_STATE_") }
func importKindName(k idsyncv1.ImportKind) string {
	return enumName(k.String(), "IMPORT_KIND_")
}
func agentStateName(s idsyncv1.AgentState) string { return enumName(s.String(), "AGENT_STATE_") }
func objectKindName(k idsyncv1.ObjectKind) string { return enumName(k.String(), "OBJECT_KIND_") }

// userJSON is a user as `-o json` prints it.
type userJSON struct {
	ID             string              `json:"id"`
	Directory      string              `json:"directory"`
	ExternalID     string              `json:"external_id"`
	DN             string              `json:"dn"`
	Username       string              `json:"username"`
	Email          string              `json:"email"`
	GivenName      string              `json:"given_name"`
	FamilyName     string              `json:"family_name"`
	DisplayName    string              `json:"display_name"`
	Status         string              `json:"status"`
	Groups         []string            `json:"groups"`
	EmployeeNumber string              `json:"employee_number,omitempty"`
	Department     string              `json:"department,omitempty"`
	Title          string              `json:"title,omitempty"`
	Manager        string              `json:"manager,omitempty"`
	Extra          map[string][]string `json:"extra,omitempty"`
	CreatedAt      *time.Time          `json:"created_at,omitempty"`
	UpdatedAt      *time.Time          `json:"updated_at,omitempty"`
	Revision       uint64              `json:"revision"`
	NestedGroups   []nestedGroupJSON   `json:"nested_groups,omitempty"`
	// SourceStatus is what the directory or source says; Status is the
	// stronger of it and Hold.
	SourceStatus    string     `json:"source_status,omitempty"`
	Hold            *holdJSON  `json:"hold,omitempty"`
	DeprovisionedAt *time.Time `json:"deprovisioned_at,omitempty"`
	PurgeAt         *time.Time `json:"purge_at,omitempty"`
}

// holdJSON is an admin's hold on a user.
type holdJSON struct {
	Status string     `json:"status"`
	By     string     `json:"by"`
	Role   string     `json:"role,omitempty"`
	Reason string     `json:"reason,omitempty"`
	At     *time.Time `json:"at,omitempty"`
}

// nestedGroupJSON is a group a user is in, directly or through nesting.
type nestedGroupJSON struct {
	Name  string `json:"name"`
	Depth uint32 `json:"depth"`
	Via   string `json:"via,omitempty"`
}

func toUserJSON(u *idsyncv1.User) userJSON {
	j := userJSON{
		ID: u.GetId(), Directory: u.GetDirectory(), ExternalID: u.GetExternalId(), DN: u.GetDn(),
		Username: u.GetUsername(), Email: u.GetEmail(), GivenName: u.GetGivenName(),
		FamilyName: u.GetFamilyName(), DisplayName: u.GetDisplayName(), Status: statusName(u.GetStatus()),
		Groups: u.GetGroups(), EmployeeNumber: u.GetEmployeeNumber(), Department: u.GetDepartment(),
		Title: u.GetTitle(), Manager: u.GetManager(),
		CreatedAt: timeJSON(u.GetCreatedAt()), UpdatedAt: timeJSON(u.GetUpdatedAt()), Revision: u.GetRevision(),
		DeprovisionedAt: timeJSON(u.GetDeprovisionedAt()), PurgeAt: timeJSON(u.GetPurgeAt()),
	}
	if u.GetSourceStatus() != idsyncv1.UserStatus_USER_STATUS_UNSPECIFIED {
		j.SourceStatus = statusName(u.GetSourceStatus())
	}
	if h := u.GetHold(); h != nil {
		j.Hold = &holdJSON{Status: statusName(h.GetStatus()), By: h.GetBy(), Role: h.GetRole(), Reason: h.GetReason(), At: timeJSON(h.GetAt())}
	}
	for _, g := range u.GetTransitiveGroups() {
		j.NestedGroups = append(j.NestedGroups, nestedGroupJSON{Name: g.GetName(), Depth: g.GetDepth(), Via: g.GetVia()})
	}
	if j.Groups == nil {
		j.Groups = []string{}
	}
	for _, a := range u.GetExtra() {
		if j.Extra == nil {
			j.Extra = map[string][]string{}
		}
		j.Extra[a.GetName()] = a.GetValues()
	}
	return j
}

// runJSON is an import run as `-o json` prints it.
type runJSON struct {
	ID                 string       `json:"id"`
	Directory          string       `json:"directory"`
	Kind               string       `json:"kind"`
	State              string       `json:"state"`
	Trigger            string       `json:"trigger"`
	AgentID            string       `json:"agent_id,omitempty"`
	Seen               uint64       `json:"seen"`
	Created            uint64       `json:"created"`
	Updated            uint64       `json:"updated"`
	Unchanged          uint64       `json:"unchanged"`
	Deprovisioned      uint64       `json:"deprovisioned"`
	Errors             uint64       `json:"errors"`
	Strategy           string       `json:"strategy,omitempty"`
	PendingDeprovision uint64       `json:"pending_deprovision,omitempty"`
	Message            string       `json:"message,omitempty"`
	StartedAt          *time.Time   `json:"started_at,omitempty"`
	FinishedAt         *time.Time   `json:"finished_at,omitempty"`
	ErrorSamples       []entryError `json:"error_samples,omitempty"`
}

type entryError struct {
	DN         string `json:"dn"`
	ExternalID string `json:"external_id,omitempty"`
	Kind       string `json:"kind,omitempty"`
	Message    string `json:"message"`
}

func toRunJSON(r *idsyncv1.ImportRun) runJSON {
	j := runJSON{
		ID: r.GetId(), Directory: r.GetDirectory(), Kind: importKindName(r.GetKind()),
		State: runStateName(r.GetState()), Trigger: r.GetTrigger(), AgentID: r.GetAgentId(),
		Seen: r.GetSeen(), Created: r.GetCreated(), Updated: r.GetUpdated(), Unchanged: r.GetUnchanged(),
		Deprovisioned: r.GetDeprovisioned(), Errors: r.GetErrors(), PendingDeprovision: r.GetPendingDeprovision(),
		Message: r.GetMessage(), StartedAt: timeJSON(r.GetStartedAt()), FinishedAt: timeJSON(r.GetFinishedAt()),
		Strategy: r.GetStrategy(),
	}
	for _, e := range r.GetErrorSamples() {
		j.ErrorSamples = append(j.ErrorSamples, entryError{DN: e.GetDn(), ExternalID: e.GetExternalId(),
			Kind: objectKindName(e.GetKind()), Message: e.GetMessage()})
	}
	return j
}

// count formats n with thousands separators.
func count(n uint64) string {
	s := fmt.Sprint(n)
	if len(s) <= 3 {
		return s
	}
	var b strings.Builder
	pre := len(s) % 3
	if pre > 0 {
		b.WriteString(s[:pre])
	}
	for i := pre; i < len(s); i += 3 {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(s[i : i+3])
	}
	return b.String()
}
