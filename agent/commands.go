package agent

import (
	"cmp"
	"context"
	"errors"
	"fmt"

	"github.com/idsync/idsync/ldapsync"
	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
)

// directory returns the local settings of a directory the hub names.
func (a *Agent) directory(name string) (DirectoryConfig, error) {
	dc, ok := a.cfg.Directory(name)
	if !ok {
		return dc, fmt.Errorf("directory %q is not configured on this agent", name)
	}
	return dc, nil
}

// dial connects to a directory with the agent's service account.
func dial(ctx context.Context, dc DirectoryConfig) (*ldapsync.Conn, ldapsync.Config, error) {
	password, err := dc.BindPassword()
	if err != nil {
		return nil, ldapsync.Config{}, err
	}
	cfg := ldapsync.Config{URL: dc.URL, StartTLS: dc.StartTLS, BindDN: dc.BindDN, BindPassword: password, CAFile: dc.CAFile}
	conn, err := ldapsync.Dial(ctx, cfg)
	return conn, cfg, err
}

// call runs a sign-in or a write the hub asked for and says how it ended.
// The password a command carries is passed on, never logged.
func (a *Agent) call(ctx context.Context, c *idsyncv1.Command) *idsyncv1.CommandResult {
	var src *idsyncv1.Source
	switch cmd := c.Cmd.(type) {
	case *idsyncv1.Command_Authenticate:
		src = cmd.Authenticate.GetSource()
	case *idsyncv1.Command_WriteEntry:
		src = cmd.WriteEntry.GetSource()
	}
	res := &idsyncv1.CommandResult{}
	dc, err := a.directory(src.GetDirectory())
	if err != nil {
		res.Error = err.Error()
		return res
	}
	conn, cfg, err := dial(ctx, dc)
	if err != nil {
		// The hub retries a write later; a sign-in answers 503.
		res.Error, res.ErrorCode = err.Error(), idsyncv1.WriteErrorCode_WRITE_ERROR_CODE_UNAVAILABLE
		a.log.Warn("command failed", "directory", dc.Name, "err", err)
		return res
	}
	defer conn.Close()
	switch cmd := c.Cmd.(type) {
	case *idsyncv1.Command_Authenticate:
		au := cmd.Authenticate
		entry, err := ldapsync.Authenticate(ctx, conn, cfg, specFor(src), au.GetLoginAttributes(), au.GetUsername(), au.GetPassword())
		var ae *ldapsync.AuthError
		switch {
		case errors.As(err, &ae):
			res.AuthFailure, res.EntryId = string(ae.Reason), ae.ExternalID
			a.log.Info("sign-in refused", "directory", dc.Name, "username", au.GetUsername(), "reason", ae.Reason)
		case err != nil:
			res.Error = err.Error()
			a.log.Warn("sign-in not checked", "directory", dc.Name, "username", au.GetUsername(), "err", err)
		default:
			res.Entry, _ = wireChange(entry)
			res.EntryId = entry.ExternalID
			a.log.Info("sign-in accepted", "directory", dc.Name, "username", au.GetUsername(), "dn", entry.DN)
		}
	case *idsyncv1.Command_WriteEntry:
		a.write(ctx, conn, src, cmd.WriteEntry, res)
	}
	return res
}

// write performs a WriteEntry and fills res: the entry after the write, or
// the error with its class.
func (a *Agent) write(ctx context.Context, conn *ldapsync.Conn, src *idsyncv1.Source, w *idsyncv1.WriteEntry, res *idsyncv1.CommandResult) {
	op := ldapsync.WriteOp{
		Action:     ldapsync.WriteAction(w.GetAction()),
		ExternalID: w.GetExternalId(), LookupAttribute: w.GetLookupAttribute(), LookupValue: w.GetLookupValue(),
		ParentDN: w.GetParentDn(), DisabledParentDN: w.GetDisabledParentDn(), RDNAttribute: w.GetRdnAttribute(),
		ObjectClasses: w.GetObjectClasses(), Enabled: w.GetEnabled(),
		DisableAttribute: w.GetDisableAttribute(), DisableGroupDN: w.GetDisableGroupDn(),
		Password: w.GetPassword(), MustChangePassword: w.GetMustChangePassword(),
		WritableOUs: w.GetWritableOus(), WritableGroups: w.GetWritableGroups(),
	}
	for _, at := range w.GetAttributes() {
		op.Attributes = append(op.Attributes, ldapsync.Attribute{Name: at.GetName(), Values: at.GetValues()})
	}
	entry, err := ldapsync.Write(ctx, conn, specFor(src), op)
	switch {
	case errors.Is(err, ldapsync.ErrEntryNotFound):
		res.Error, res.ErrorCode = err.Error(), idsyncv1.WriteErrorCode_WRITE_ERROR_CODE_NOT_FOUND
	case errors.Is(err, ldapsync.ErrEntryExists):
		res.Error, res.ErrorCode = err.Error(), idsyncv1.WriteErrorCode_WRITE_ERROR_CODE_EXISTS
	case errors.Is(err, ldapsync.ErrPasswordRefused):
		res.Error, res.ErrorCode = err.Error(), idsyncv1.WriteErrorCode_WRITE_ERROR_CODE_PASSWORD_REFUSED
	case ldapsync.Refused(err):
		res.Error, res.ErrorCode = err.Error(), idsyncv1.WriteErrorCode_WRITE_ERROR_CODE_REFUSED
	case err != nil:
		res.Error, res.ErrorCode = err.Error(), idsyncv1.WriteErrorCode_WRITE_ERROR_CODE_UNAVAILABLE
	default:
		res.Entry, _ = wireChange(entry)
	}
	a.log.Info("directory write", "directory", src.GetDirectory(), "action", w.GetAction().String(),
		"external_id", cmp.Or(entry.ExternalID, w.GetExternalId()), "dn", entry.DN, "err", res.Error)
}
