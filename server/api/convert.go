package api

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
	"github.com/idsync/idsync/server/directories"
	"github.com/idsync/idsync/server/ingest"
	"github.com/idsync/idsync/server/refusal"
	"github.com/idsync/idsync/server/store"
)

// refusalCodes are the status codes of the services' refusals.
var refusalCodes = map[refusal.Kind]codes.Code{
	refusal.Invalid:  codes.InvalidArgument,
	refusal.NotFound: codes.NotFound,
	refusal.Exists:   codes.AlreadyExists,
	refusal.Unmet:    codes.FailedPrecondition,
	refusal.Denied:   codes.PermissionDenied,

	refusal.Unauthenticated: codes.Unauthenticated,
}

// statusErr maps a domain error to a gRPC status at the boundary. A status
// a door's own check made (a role the caller lacks) passes through a
// service as it is.
func statusErr(err error, format string, args ...any) error {
	if _, ok := err.(interface{ GRPCStatus() *status.Status }); ok {
		return err
	}
	msg := fmt.Sprintf(format, args...)
	if msg != "" {
		msg += ": "
	}
	msg += err.Error()
	if r, ok := refusal.As(err); ok {
		return status.Error(refusalCodes[r.Kind], msg)
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		return status.Error(codes.NotFound, msg)
	case errors.Is(err, store.ErrConflict):
		return status.Error(codes.AlreadyExists, msg)
	case errors.Is(err, ingest.ErrRunEnded), errors.Is(err, ingest.ErrNoSweep):
		return status.Error(codes.FailedPrecondition, msg)
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, msg)
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, msg)
	}
	return status.Error(codes.Internal, msg)
}

func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func kindToProto(k store.DirectoryKind) idsyncv1.DirectoryKind {
	switch k {
	case store.KindOpenLDAP:
		return idsyncv1.DirectoryKind_DIRECTORY_KIND_OPENLDAP
	case store.KindAD:
		return idsyncv1.DirectoryKind_DIRECTORY_KIND_AD
	case store.KindSCIM:
		return idsyncv1.DirectoryKind_DIRECTORY_KIND_SCIM
	case store.KindLocal:
		return idsyncv1.DirectoryKind_DIRECTORY_KIND_LOCAL
	case store.KindCSV:
		return idsyncv1.DirectoryKind_DIRECTORY_KIND_CSV
	}
	return idsyncv1.DirectoryKind_DIRECTORY_KIND_UNSPECIFIED
}

func kindFromProto(k idsyncv1.DirectoryKind) store.DirectoryKind {
	switch k {
	case idsyncv1.DirectoryKind_DIRECTORY_KIND_OPENLDAP:
		return store.KindOpenLDAP
	case idsyncv1.DirectoryKind_DIRECTORY_KIND_AD:
		return store.KindAD
	case idsyncv1.DirectoryKind_DIRECTORY_KIND_SCIM:
		return store.KindSCIM
	case idsyncv1.DirectoryKind_DIRECTORY_KIND_LOCAL:
		return store.KindLocal
	case idsyncv1.DirectoryKind_DIRECTORY_KIND_CSV:
		return store.KindCSV
	}
	return ""
}

func mappingToProto(m store.Mapping) *idsyncv1.AttributeMapping {
	return &idsyncv1.AttributeMapping{
		Username: m.Username, Email: m.Email, GivenName: m.GivenName, FamilyName: m.FamilyName,
		DisplayName: m.DisplayName, EmployeeNumber: m.EmployeeNumber, Department: m.Department,
		Title: m.Title, Manager: m.Manager, GroupName: m.GroupName, GroupDescription: m.GroupDescription,
		GroupMembers: m.GroupMembers, Extra: m.Extra,
	}
}

func mappingFromProto(m *idsyncv1.AttributeMapping) store.Mapping {
	return store.Mapping{
		Username: m.GetUsername(), Email: m.GetEmail(), GivenName: m.GetGivenName(),
		FamilyName: m.GetFamilyName(), DisplayName: m.GetDisplayName(),
		EmployeeNumber: m.GetEmployeeNumber(), Department: m.GetDepartment(), Title: m.GetTitle(),
		Manager: m.GetManager(), GroupName: m.GetGroupName(), GroupDescription: m.GetGroupDescription(),
		GroupMembers: m.GetGroupMembers(), Extra: m.GetExtra(),
	}
}

// directoryFromProto returns base (nil: a new directory) with the settings
// of d; what the hub keeps beside them (id, write-back, creation time)
// stays base's.
func directoryFromProto(d *idsyncv1.Directory, base *store.Directory) *store.Directory {
	out := &store.Directory{}
	if base != nil {
		*out = *base
	}
	out.Name, out.Kind, out.BaseDN = d.GetName(), kindFromProto(d.GetKind()), d.GetBaseDn()
	out.UserFilter, out.GroupFilter, out.Mapping = d.GetUserFilter(), d.GetGroupFilter(), mappingFromProto(d.GetMapping())
	out.SafeguardPercent, out.SafeguardMax = int(d.GetSafeguardPercent()), int(d.GetSafeguardMax())
	out.CaptureStrategy = d.GetCaptureStrategy()
	out.PollInterval = time.Duration(d.GetPollIntervalSeconds()) * time.Second
	// The wire cannot carry "off" as a negative number: the largest value
	// stands for it.
	out.FullImportInterval = intervalFromProto(d.GetFullImportIntervalSeconds())
	out.Mastered = d.GetMastered()
	out.Retention = -1 // more than a Duration holds: ValidateDirectory refuses it
	if secs := d.GetRetentionSeconds(); secs <= uint64(ingest.MaxRetention/time.Second) {
		out.Retention = time.Duration(secs) * time.Second
	}
	out.PasswordPolicy = d.GetPasswordPolicy()
	out.CSV = nil
	if c := d.GetCsv(); c != nil {
		out.CSV = &store.CSVLayout{IDColumn: c.GetIdColumn(), StatusColumn: c.GetStatusColumn(), ActiveValues: c.GetActiveValues()}
	}
	return out
}

func csvLayoutToProto(c *store.CSVLayout) *idsyncv1.CsvLayout {
	if c == nil {
		return nil
	}
	return &idsyncv1.CsvLayout{IdColumn: c.IDColumn, StatusColumn: c.StatusColumn, ActiveValues: c.ActiveValues}
}

// IntervalOff is how the wire says "no scheduled full imports".
const IntervalOff = ^uint32(0)

func intervalFromProto(s uint32) time.Duration {
	if s == IntervalOff {
		return -1
	}
	return time.Duration(s) * time.Second
}

func intervalToProto(d time.Duration) uint32 {
	if d < 0 {
		return IntervalOff
	}
	return uint32(d / time.Second)
}

func directoryToProto(d *store.Directory) *idsyncv1.Directory {
	p, _ := ingest.PresetFor(d.Kind)
	return &idsyncv1.Directory{
		Name: d.Name, Kind: kindToProto(d.Kind), BaseDn: d.BaseDN,
		UserFilter: d.UserFilter, GroupFilter: d.GroupFilter, Mapping: mappingToProto(d.Mapping),
		SafeguardPercent: uint32(d.SafeguardPercent), SafeguardMax: uint32(d.SafeguardMax),
		CreatedAt: ts(d.CreatedAt), Capture: captureDescription(d, p),
		CaptureStrategy: d.CaptureStrategy, PollIntervalSeconds: uint32(d.PollInterval / time.Second),
		FullImportIntervalSeconds: intervalToProto(d.FullImportInterval),
		Mastered:                  d.Mastered,
		WriteBack:                 writeBackToProto(d.WriteBack),
		RetentionSeconds:          uint64(d.Retention / time.Second),
		PasswordPolicy:            d.PasswordPolicy,
		Csv:                       csvLayoutToProto(d.CSV),
	}
}

// writeBackToProto describes write-back settings; the initial password is
// directories.PasswordSet when there is one, never the expression.
func writeBackToProto(wb *store.WriteBack) *idsyncv1.WriteBack {
	if wb == nil {
		return nil
	}
	p := &idsyncv1.WriteBack{Ous: wb.OUs, Groups: wb.Groups, MustChangePassword: &wb.MustChangePassword}
	if len(wb.InitialPassword) > 0 {
		p.InitialPassword = directories.PasswordSet
	}
	return p
}

// writeBackFromProto is the write-back an admin gave (nil: none).
func writeBackFromProto(p *idsyncv1.WriteBack) *directories.WriteBack {
	if p == nil {
		return nil
	}
	return &directories.WriteBack{OUs: p.GetOus(), Groups: p.GetGroups(), InitialPassword: p.GetInitialPassword(),
		MustChangePassword: p.MustChangePassword}
}

var runStates = map[store.RunState]idsyncv1.RunState{
	store.RunRunning:           idsyncv1.RunState_RUN_STATE_RUNNING,
	store.RunCompleted:         idsyncv1.RunState_RUN_STATE_COMPLETED,
	store.RunFailed:            idsyncv1.RunState_RUN_STATE_FAILED,
	store.RunCancelled:         idsyncv1.RunState_RUN_STATE_CANCELLED,
	store.RunPausedBySafeguard: idsyncv1.RunState_RUN_STATE_PAUSED_BY_SAFEGUARD,
}

func runKindToProto(k store.RunKind) idsyncv1.ImportKind {
	switch k {
	case store.RunIncremental:
		return idsyncv1.ImportKind_IMPORT_KIND_INCREMENTAL
	case store.RunWrite:
		return idsyncv1.ImportKind_IMPORT_KIND_WRITE
	case store.RunRule:
		return idsyncv1.ImportKind_IMPORT_KIND_RULE
	case store.RunAdmin:
		return idsyncv1.ImportKind_IMPORT_KIND_ADMIN
	}
	return idsyncv1.ImportKind_IMPORT_KIND_FULL
}

// captureDescription says how a directory's changes are found, as
// configured.
func captureDescription(d *store.Directory, p ingest.Preset) string {
	if d.Kind == store.KindLocal {
		return "mastered by the hub: admins create and change its users and groups"
	}
	if d.Kind == store.KindSCIM {
		return p.Capture
	}
	full := "scheduled full imports every " + cmpOr(d.FullImportInterval, ingest.DefaultFullImportInterval).String()
	if d.FullImportInterval < 0 {
		full = "manual full imports only"
	}
	switch d.CaptureStrategy {
	case ingest.CaptureOff:
		return "change capture off; " + full
	case "":
		return "change capture: " + p.Capture + "; " + full
	}
	return "change capture: " + d.CaptureStrategy + " (set by an admin); " + full
}

func cmpOr(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

func runToProto(r *store.Run) *idsyncv1.ImportRun {
	return &idsyncv1.ImportRun{
		Id: strconv.FormatInt(r.ID, 10), Directory: r.Directory, Kind: runKindToProto(r.Kind),
		State: runStates[r.State], Seen: uint64(r.Seen), Created: uint64(r.Created),
		Updated: uint64(r.Updated), Unchanged: uint64(r.Unchanged),
		Deprovisioned: uint64(r.Deprovisioned), Errors: uint64(r.Errors),
		PendingDeprovision: uint64(r.PendingDeprovision), Message: store.NamedRun(r.ID, r.Message), AgentId: r.AgentID,
		StartedAt: ts(r.StartedAt), FinishedAt: ts(r.FinishedAt), Trigger: r.Trigger, Strategy: r.Strategy,
	}
}

func entryErrorToProto(e store.EntryError) *idsyncv1.EntryError {
	return &idsyncv1.EntryError{Dn: e.DN, ExternalId: e.ExternalID, Kind: idsyncv1.ObjectKindNamed(string(e.Kind)), Message: e.Message}
}

var userStatuses = map[store.Status]idsyncv1.UserStatus{
	store.StatusActive:        idsyncv1.UserStatus_USER_STATUS_ACTIVE,
	store.StatusSuspended:     idsyncv1.UserStatus_USER_STATUS_SUSPENDED,
	store.StatusDeprovisioned: idsyncv1.UserStatus_USER_STATUS_DEPROVISIONED,
}

func statusFromProto(s idsyncv1.UserStatus) store.Status {
	for k, v := range userStatuses {
		if v == s {
			return k
		}
	}
	return ""
}

func userToProto(u *store.User) *idsyncv1.User {
	p := &idsyncv1.User{
		Id: u.ID, Directory: u.Directory, ExternalId: u.ExternalID, Dn: u.DN,
		Username: u.Username, Email: u.Email, GivenName: u.GivenName, FamilyName: u.FamilyName,
		DisplayName: u.DisplayName, Status: userStatuses[u.Status], Groups: u.Groups,
		EmployeeNumber: u.EmployeeNumber, Department: u.Department, Title: u.Title, Manager: u.Manager,
		CreatedAt: ts(u.CreatedAt), UpdatedAt: ts(u.UpdatedAt), Revision: uint64(u.Revision),
		SourceStatus: userStatuses[u.SourceStatus], DeprovisionedAt: ts(u.DeprovisionedAt),
	}
	if u.Hold.Status != "" {
		p.Hold = &idsyncv1.Hold{Status: userStatuses[u.Hold.Status], By: u.Hold.By, Reason: u.Hold.Reason, At: ts(u.Hold.At),
			Role: u.Hold.Role}
	}
	keys := make([]string, 0, len(u.Extra))
	for k := range u.Extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		p.Extra = append(p.Extra, &idsyncv1.Attribute{Name: k, Values: u.Extra[k]})
	}
	return p
}

func groupToProto(g *store.Group) *idsyncv1.Group {
	return &idsyncv1.Group{
		Id: g.ID, Directory: g.Directory, ExternalId: g.ExternalID, Dn: g.DN, Name: g.Name,
		Description: g.Description, Status: userStatuses[g.Status],
		MemberCount: uint64(g.MemberCount), UnresolvedMembers: uint64(g.UnresolvedMembers),
		Revision: uint64(g.Revision),
	}
}
