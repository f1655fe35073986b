package provision

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/go-ldap/ldap/v3"

	"github.com/idsync/idsync/internal/ldapattr"
	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
	"github.com/idsync/idsync/server/ingest"
	"github.com/idsync/idsync/server/provision/expr"
	"github.com/idsync/idsync/server/store"
)

// WriteBackSecretContext is what a directory's initial password expression
// is sealed for: it opens for that directory's write-back only, never as
// an app's secret.
func WriteBackSecretContext(directory string) string {
	return "directory-initial-password:" + directory
}

// ValidateWriteBack checks a directory's write-back settings, a
// super-admin's: only AD and OpenLDAP are written; at least one OU; every
// OU and group a DN under the base DN. Errors name the field.
func ValidateWriteBack(d *store.Directory) error {
	wb := d.WriteBack
	if wb == nil {
		return nil
	}
	if d.Kind != store.KindAD && d.Kind != store.KindOpenLDAP {
		return fmt.Errorf("write_back: directory %s is of kind %s; only ad and openldap directories can be written", d.Name, d.Kind)
	}
	if len(wb.OUs) == 0 {
		return errors.New("write_back.ous: name at least one OU the hub may write in")
	}
	base, err := ldap.ParseDN(d.BaseDN)
	if err != nil {
		return fmt.Errorf("base DN %q: %v", d.BaseDN, err)
	}
	for _, f := range []struct {
		name string
		dns  []string
	}{{"write_back.ous", wb.OUs}, {"write_back.groups", wb.Groups}} {
		for _, v := range f.dns {
			dn, err := ldap.ParseDN(v)
			if err != nil || v == "" {
				return fmt.Errorf("%s %q: not a DN", f.name, v)
			}
			if !base.EqualFold(dn) && !base.AncestorOfFold(dn) {
				return fmt.Errorf("%s %q: not under the base DN %q", f.name, v, d.BaseDN)
			}
		}
	}
	return nil
}

// CheckPasswordExpression checks an initial password expression before it
// is sealed.
func CheckPasswordExpression(src string) error {
	if _, err := expr.Compile(src); err != nil {
		return fmt.Errorf("write_back.initial_password: %w", err)
	}
	return nil
}

// CheckTarget checks that an app writing into d (a directory target)
// stays within what the directory's write-back allows: write-back is on;
// the parent and disabled parent lie in a writable OU; the disable group
// is one of its groups; the naming, disable and mapped attributes are ones
// the kind lets a target write; an AD target that creates accounts has an
// initial password to enable them with. Errors name the app's field.
func CheckTarget(d *store.Directory, a *store.App) error {
	t := a.Target
	if d.Kind != store.KindAD && d.Kind != store.KindOpenLDAP {
		return fmt.Errorf("directory %s is of kind %s; only ad and openldap directories can be written", d.Name, d.Kind)
	}
	wb := d.WriteBack
	if wb == nil || len(wb.OUs) == 0 {
		return fmt.Errorf("directory %s is not writable: a super-admin makes it a provisioning target with "+
			"`idsyncctl directory update %s --writable-ou DN`", d.Name, d.Name)
	}
	for _, f := range []struct{ name, dn string }{{"parent_dn", t.ParentDN}, {"disabled_parent_dn", t.DisabledParentDN}} {
		if f.dn == "" && f.name != "parent_dn" {
			continue
		}
		if !within(f.dn, wb.OUs) {
			return fmt.Errorf("directory_target.%s %q: not within the OUs directory %s lets the hub write in (%s)",
				f.name, f.dn, d.Name, strings.Join(wb.OUs, "; "))
		}
	}
	if t.DisableGroupDN != "" && !slices.ContainsFunc(wb.Groups, func(g string) bool { return sameDN(g, t.DisableGroupDN) }) {
		return fmt.Errorf("directory_target.disable_group_dn %q: not one of the groups directory %s lets the hub add entries to (%s)",
			t.DisableGroupDN, d.Name, cmpList(wb.Groups))
	}
	kind := string(d.Kind)
	if err := ldapattr.Writable(kind, cmp.Or(t.RDNAttribute, "cn")); err != nil {
		return fmt.Errorf("directory_target.rdn_attribute: %w", err)
	}
	if t.DisableAttribute != "" {
		name, _, _ := strings.Cut(t.DisableAttribute, "=")
		if err := ldapattr.DisableAttribute(kind, name); err != nil {
			return fmt.Errorf("directory_target.disable_attribute: %w", err)
		}
	}
	for i, r := range a.Mapping {
		name, ok := strings.CutPrefix(strings.TrimSpace(r.Target), LDAPSchema+":")
		if !ok {
			continue
		}
		if err := ldapattr.Writable(kind, name); err != nil {
			return fmt.Errorf("mapping rule %d (%s): %w", i+1, r.Target, err)
		}
	}
	if d.Kind == store.KindAD && a.AllowCreate && len(wb.InitialPassword) == 0 {
		return fmt.Errorf("directory %s has no initial password, and AD enables no account without one: a super-admin sets it with "+
			"`idsyncctl directory update %s --initial-password-file FILE`", d.Name, d.Name)
	}
	return nil
}

// within reports whether dn is one of ous or lies under one.
func within(dn string, ous []string) bool {
	parsed, err := ldap.ParseDN(dn)
	if err != nil || dn == "" {
		return false
	}
	return slices.ContainsFunc(ous, func(ou string) bool {
		o, err := ldap.ParseDN(ou)
		return err == nil && (o.EqualFold(parsed) || o.AncestorOfFold(parsed))
	})
}

// sameDN reports whether a and b are the same DN.
func sameDN(a, b string) bool {
	x, err1 := ldap.ParseDN(a)
	y, err2 := ldap.ParseDN(b)
	return err1 == nil && err2 == nil && x.EqualFold(y)
}

func cmpList(l []string) string {
	if len(l) == 0 {
		return "none"
	}
	return strings.Join(l, "; ")
}

// OpenLDAPLock is how the hub disables a user's own OpenLDAP entry for an
// admin (deactivate --in-directory): ppolicy's permanent lock, which the
// directory's status attribute (pwdAccountLockedTime) reads back as
// disabled. The server needs the ppolicy overlay.
const OpenLDAPLock = "pwdAccountLockedTime=000001010000Z"

// SetEntryEnabled enables or disables a user's own entry in its directory
// d, by its external id, through an agent of d: an admin's deactivate or
// reactivate --in-directory. d must allow write-back and the entry lie in
// its writable OUs (the agent checks again); only the account's state
// changes (AD userAccountControl's ACCOUNTDISABLE bit, OpenLDAP
// OpenLDAPLock), nothing else of the entry.
func (e *Engine) SetEntryEnabled(ctx context.Context, d *store.Directory, externalID, dn string, enabled bool) error {
	if d.Kind != store.KindAD && d.Kind != store.KindOpenLDAP {
		return &Refused{Err: fmt.Errorf("directory %s is of kind %s: the hub writes only into ad and openldap directories", d.Name, d.Kind)}
	}
	wb := d.WriteBack
	if wb == nil || len(wb.OUs) == 0 {
		return &Refused{Err: fmt.Errorf("directory %s is not writable: a super-admin lets the hub write in it with "+
			"`idsyncctl directory update %s --writable-ou DN`", d.Name, d.Name)}
	}
	if !within(dn, wb.OUs) {
		return &Refused{Err: fmt.Errorf("entry %s is not within the OUs directory %s lets the hub write in (%s)",
			dn, d.Name, strings.Join(wb.OUs, "; "))}
	}
	if e.opts.Directories == nil {
		return &Unavailable{Err: fmt.Errorf("directory %s: this hub reaches no agents", d.Name)}
	}
	w := &idsyncv1.WriteEntry{Source: ingest.Source(d, nil), Action: idsyncv1.WriteAction_WRITE_ACTION_UPDATE,
		ExternalId: externalID, Enabled: enabled, WritableOus: wb.OUs, WritableGroups: wb.Groups}
	if d.Kind == store.KindOpenLDAP {
		w.DisableAttribute = OpenLDAPLock
	}
	what := "enabling entry " + dn
	if !enabled {
		what = "disabling entry " + dn
	}
	res, err := e.opts.Directories.Call(ctx, d.Name, idsyncv1.CapabilityWrite,
		&idsyncv1.Command{Cmd: &idsyncv1.Command_WriteEntry{WriteEntry: w}})
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &Unavailable{Err: fmt.Errorf("directory %s: %s: %w", d.Name, what, err), Unsure: true}
	}
	if res.GetError() != "" {
		return agentOutcome(fmt.Sprintf("directory %s: %s", d.Name, what), res)
	}
	return nil
}
