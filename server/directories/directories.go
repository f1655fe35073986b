package directories

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/idsync/idsync/internal/pki"
	"github.com/idsync/idsync/server/ingest"
	"github.com/idsync/idsync/server/provision"
	"github.com/idsync/idsync/server/refusal"
	"github.com/idsync/idsync/server/secrets"
	"github.com/idsync/idsync/server/store"
)

// Store is what the service writes of the hub's store.
type Store interface {
	CreateDirectory(ctx context.Context, d *store.Directory) error
	UpdateDirectory(ctx context.Context, d *store.Directory) error
	SetSourceToken(ctx context.Context, directoryID int64, hash []byte) error
}

// Auditor writes audit events (server/audit.Log).
type Auditor interface {
	Event(ctx context.Context, action, target, detail string, args ...any)
}

// Config is what the service is built from.
type Config struct {
	Store Store
	// Box seals a directory's initial password expression.
	Box   *secrets.Box
	Audit Auditor
	Log   *slog.Logger
}

// Service changes directories.
type Service struct {
	st    Store
	box   *secrets.Box
	audit Auditor
	log   *slog.Logger
}

// New returns the service.
func New(c Config) *Service {
	if c.Audit == nil {
		c.Audit = noAuditor{}
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return &Service{st: c.Store, box: c.Box, audit: c.Audit, log: c.Log}
}

type noAuditor struct{}

func (noAuditor) Event(context.Context, string, string, string, ...any) {}

// WriteBack is what an admin gives of a directory's write-back settings.
type WriteBack struct {
	OUs, Groups []string
	// InitialPassword is the expression of a created account's first
	// password; PasswordSet keeps the one sealed.
	InitialPassword string
	// MustChangePassword, when set, says whether created accounts must
	// change their password.
	MustChangePassword *bool
}

// PasswordSet stands for a sealed initial password expression in what the
// hub shows, and keeps it when given back.
const PasswordSet = "(set)"

// The write-back fields of a directory, by name.
const (
	// WriteBackWhole names the write-back as a whole: given alone, it
	// replaces the whole (none given: off).
	WriteBackWhole              = "write_back"
	WriteBackOUs                = "write_back.ous"
	WriteBackGroups             = "write_back.groups"
	WriteBackInitialPassword    = "write_back.initial_password"
	WriteBackMustChangePassword = "write_back.must_change_password"
)

// writeBackFields are the write-back fields of a Directory, by name.
var writeBackFields = []string{WriteBackOUs, WriteBackGroups, WriteBackInitialPassword, WriteBackMustChangePassword}

// Create adds directory d, filling its empty settings from its kind's
// preset, with write-back wb (nil: none).
func (s *Service) Create(ctx context.Context, d *store.Directory, wb *WriteBack, by string) error {
	ingest.ApplyPreset(d)
	if wb != nil {
		if err := s.applyWriteBack(d, wb, writeBackFields); err != nil {
			return err
		}
	}
	if err := validate(d); err != nil {
		return err
	}
	if err := s.st.CreateDirectory(ctx, d); errors.Is(err, store.ErrConflict) {
		return refusal.Existsf("directory %q already exists", d.Name)
	} else if err != nil {
		return fmt.Errorf("creating directory %q: %w", d.Name, err)
	}
	s.log.Info("directory created", "directory", d.Name, "kind", d.Kind, "by", by)
	s.audit.Event(ctx, "directory.create", "directory:"+d.Name, "kind %s, base %s", d.Kind, d.BaseDN)
	return nil
}

// Update stores directory d, whose settings the caller changed, with the
// write-back fields that wbFields names set from wb; fields names every
// field changed, for the log and the audit trail.
func (s *Service) Update(ctx context.Context, d *store.Directory, wb *WriteBack, wbFields, fields []string, by string) error {
	if len(wbFields) > 0 {
		if err := s.applyWriteBack(d, wb, wbFields); err != nil {
			return err
		}
	}
	if err := validate(d); err != nil {
		return err
	}
	if err := s.st.UpdateDirectory(ctx, d); err != nil {
		return fmt.Errorf("updating directory %q: %w", d.Name, err)
	}
	s.log.Info("directory updated", "directory", d.Name, "fields", fields, "by", by)
	s.audit.Event(ctx, "directory.update", "directory:"+d.Name, "fields %s", strings.Join(fields, ","))
	return nil
}

// IsWriteBack reports whether field is one of the write-back's.
func IsWriteBack(field string) bool {
	return field == WriteBackWhole || strings.HasPrefix(field, WriteBackWhole+".")
}

func validate(d *store.Directory) error {
	if err := ingest.ValidateDirectory(d); err != nil {
		return refusal.Invalidf("directory: %v", err)
	}
	if err := provision.ValidateWriteBack(d); err != nil {
		return refusal.Invalidf("directory %s: %v", d.Name, err)
	}
	if err := provision.NormalizePasswordPolicy(d); err != nil {
		return refusal.Invalidf("directory %s: %v", d.Name, err)
	}
	return nil
}

// applyWriteBack sets the write-back fields of d that fields names from in:
// WriteBackWhole alone replaces the whole (in nil: off); the initial
// password expression is checked and sealed for the directory. Write-back
// that is turned on makes created accounts change their password unless
// in says otherwise.
func (s *Service) applyWriteBack(d *store.Directory, in *WriteBack, fields []string) error {
	if slices.Contains(fields, WriteBackWhole) {
		if len(fields) > 1 {
			return refusal.Invalidf("update_mask: write_back replaces the whole; name it alone")
		}
		d.WriteBack = nil
		if in == nil {
			return nil
		}
		fields = writeBackFields
	}
	if in == nil {
		in = &WriteBack{}
	}
	if d.WriteBack == nil {
		d.WriteBack = &store.WriteBack{MustChangePassword: true}
	}
	wb := d.WriteBack
	for _, f := range fields {
		switch f {
		case WriteBackOUs:
			wb.OUs = trimAll(in.OUs)
		case WriteBackGroups:
			wb.Groups = trimAll(in.Groups)
		case WriteBackInitialPassword:
			src := in.InitialPassword
			if src == PasswordSet {
				continue // shown back as it was: kept
			}
			wb.InitialPassword = nil
			if src != "" {
				if err := provision.CheckPasswordExpression(src); err != nil {
					return refusal.Invalidf("directory %s: %v", d.Name, err)
				}
				wb.InitialPassword = s.box.Seal([]byte(src), provision.WriteBackSecretContext(d.Name))
			}
		case WriteBackMustChangePassword:
			if in.MustChangePassword != nil {
				wb.MustChangePassword = *in.MustChangePassword
			}
		default:
			return refusal.Invalidf("update_mask: %q cannot be changed", f)
		}
	}
	return nil
}

// trimAll returns l with each value trimmed and empty ones left out.
func trimAll(l []string) []string {
	var out []string
	for _, v := range l {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// SourceTokenPrefix starts the bearer tokens of SCIM sources.
const SourceTokenPrefix = "idss_"

// IssueSourceToken issues a new bearer token for SCIM source d, replacing
// the one it had (which stops working at once). Only its hash is stored:
// the token is returned this once.
func (s *Service) IssueSourceToken(ctx context.Context, d *store.Directory, by string) (string, error) {
	if d.Kind != store.KindSCIM {
		return "", refusal.Unmetf("directory %q is a %s directory, not a scim source", d.Name, d.Kind)
	}
	secret, hash := pki.NewSecret(SourceTokenPrefix)
	if err := s.st.SetSourceToken(ctx, d.ID, hash); err != nil {
		return "", fmt.Errorf("storing the token of source %q: %w", d.Name, err)
	}
	s.log.Info("source token issued", "directory", d.Name, "by", by)
	s.audit.Event(ctx, "source.token.issue", "directory:"+d.Name, "the previous token, if any, is revoked")
	return secret, nil
}
