package ldapsync

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/go-ldap/ldap/v3"

	"github.com/idsync/idsync/internal/ldapattr"
	"github.com/idsync/idsync/internal/ldapwire"
)

// WriteAction is what Write does to an entry.
type WriteAction int

const (
	// WriteUnspecified is the zero WriteAction; Write rejects it.
	WriteUnspecified WriteAction = iota
	// WriteCreate adds a new entry under WriteOp.ParentDN.
	WriteCreate
	// WriteUpdate brings an existing entry to the state WriteOp describes.
	WriteUpdate
	// WriteDelete removes an entry.
	WriteDelete
	// WriteRead reads an entry, by id or by a lookup attribute.
	WriteRead
)

// String returns the action's name, e.g. "create".
func (a WriteAction) String() string {
	switch a {
	case WriteCreate:
		return "create"
	case WriteUpdate:
		return "update"
	case WriteDelete:
		return "delete"
	case WriteRead:
		return "read"
	}
	return fmt.Sprintf("WriteAction(%d)", int(a))
}

var (
	// ErrEntryNotFound is wrapped by Write's error when the ExternalID (or
	// the lookup) matches no entry under the spec's base DN.
	ErrEntryNotFound = errors.New("entry not found")
	// ErrEntryExists is wrapped by Write's error when a create finds the DN
	// or a unique value (AD sAMAccountName, userPrincipalName) taken.
	ErrEntryExists = errors.New("entry already exists")
	// ErrInvalidWrite is wrapped by Write's error when the WriteOp itself
	// is wrong (a DN not under the base DN, a password without TLS, a
	// forbidden attribute, …): nothing was sent, and the same op fails
	// again the same way.
	ErrInvalidWrite = errors.New("invalid write")
	// ErrPasswordRefused is wrapped by Write's error when the directory
	// refuses the password a create sets (a constraint of its password
	// policy: AD's complexity, length or history rules, OpenLDAP ppolicy's
	// quality checks): the same password fails again, and the half-made
	// entry was taken back.
	ErrPasswordRefused = errors.New("password refused by the directory's password policy")
)

// WritableAttribute reports, as an error naming it, whether Write refuses
// to write the attribute name into a user entry of a directory of kind:
// anything outside the kind's allowlist of profile attributes
// (internal/ldapattr, which the hub checks mappings against too) — so
// never objectClass, a password, userAccountControl, the id attribute,
// Kerberos delegation or key attributes, group membership, the security
// descriptor, a logon script and the like.
func WritableAttribute(kind Kind, name string) error {
	return ldapattr.Writable(attrKind(kind), name)
}

// attrKind is kind as internal/ldapattr names it.
func attrKind(kind Kind) string {
	switch kind {
	case KindAD:
		return ldapattr.KindAD
	case KindOpenLDAP:
		return ldapattr.KindOpenLDAP
	}
	return ""
}

// WriteOp is one write of a user entry, as the hub asks for it.
type WriteOp struct {
	Action WriteAction
	// ExternalID identifies the entry for update, delete, read: objectGUID
	// text form / entryUUID, as FullImport reports it.
	ExternalID string
	// LookupAttribute and LookupValue find the entry for WriteRead when
	// ExternalID is empty (e.g. sAMAccountName=jdoe; exactly one match,
	// else ErrEntryNotFound).
	LookupAttribute, LookupValue string
	// ParentDN is where an enabled entry lives (created there; moved back
	// there when enabled again). Empty on an update: the entry stays where
	// it is.
	ParentDN string
	// DisabledParentDN, when set, is where a disabled entry is moved.
	DisabledParentDN string
	// RDNAttribute names entries ("cn" when empty); its value comes from
	// Attributes (required on create; a changed value renames).
	RDNAttribute string
	// ObjectClasses of a created entry; defaults: AD top, person,
	// organizationalPerson, user; OpenLDAP top, person,
	// organizationalPerson, inetOrgPerson.
	ObjectClasses []string
	// Attributes to set; one with no values is removed when present.
	// Attributes not listed are left alone. Write compares them with the
	// current values and modifies only what differs (an update that
	// changes nothing sends no Modify). Each must be one that
	// WritableAttribute allows: Password, Enabled and MustChangePassword
	// set the password and account state.
	Attributes []Attribute
	// Enabled is the account's state after the write. AD:
	// userAccountControl bit 2 (ACCOUNTDISABLE) cleared or set, other bits
	// kept. OpenLDAP: DisableAttribute present when disabled, absent when
	// enabled; and/or the entry's DN in DisableGroupDN's members when
	// disabled. With neither set on OpenLDAP, Enabled=false is an error.
	Enabled bool
	// DisableAttribute is "attr=value", e.g. "employeeType=disabled".
	DisableAttribute string
	// DisableGroupDN is a groupOfNames (member) or groupOfUniqueNames
	// (uniqueMember) that holds the disabled entries. It must keep another
	// member: a groupOfNames cannot lose its last one.
	DisableGroupDN string
	// Password is an initial password, on create only. AD: unicodePwd,
	// only over TLS (else an error before anything is written). OpenLDAP:
	// the Password Modify extended operation (RFC 3062), so that the server
	// hashes it.
	Password string
	// MustChangePassword: AD pwdLastSet=0 after setting the password;
	// OpenLDAP: pwdReset TRUE when the server knows the attribute (the
	// ppolicy overlay), ignored otherwise.
	MustChangePassword bool
	// WritableOUs are the DNs under which (subtrees included) a create,
	// update or delete may touch entries: the entry as found, ParentDN and
	// DisabledParentDN must each lie under one. Empty refuses every write
	// but a read: a directory is written only where a super-admin said so.
	WritableOUs []string
	// WritableGroups are the groups a write may add the entry to:
	// DisableGroupDN must be one of them.
	WritableGroups []string
}

// AD userAccountControl flags Write and Authenticate use.
const (
	uacAccountDisable = 0x2
	uacNormalAccount  = 0x200
)

// Write performs op through c (the agent's service account) and returns the
// entry as it is after the write, re-read and normalised as FullImport reads
// it with spec.UserAttributes (ExternalID set); for WriteDelete a Change of
// Type ChangeDelete with the ExternalID.
//
// It is idempotent: an update or delete run twice changes nothing the
// second time; a delete of a missing entry is ErrEntryNotFound. A create
// that fails after its Add (AD refuses the password, say) deletes the
// entry it added, so that a retry creates it afresh. An op that is wrong
// in itself fails with ErrInvalidWrite before anything is sent; its
// attributes must be ones WritableAttribute allows, its object classes the
// kind's own (ldapattr.ObjectClasses), and every entry and parent it
// touches must lie in op.WritableOUs. Errors name
// the DN and the LDAP result, never the password. go-ldap's writes take no ctx: Write checks ctx between them,
// and a write under way completes.
//
// Entries, ParentDN and DisabledParentDN must lie under spec.BaseDN. The
// bind account needs, there: create and delete user objects, write the
// listed attributes and rename and move entries; on AD Reset Password and
// write userAccountControl and pwdLastSet; on OpenLDAP the right to set
// others' passwords (Password Modify) and to write DisableGroupDN's
// members.
func Write(ctx context.Context, c *Conn, spec Spec, op WriteOp) (Change, error) {
	ch, err := write(ctx, c, spec, op)
	if err != nil {
		return Change{}, redact(err, op.Password)
	}
	return ch, nil
}

func write(ctx context.Context, c *Conn, spec Spec, op WriteOp) (Change, error) {
	spec, err := spec.withDefaults()
	if err != nil {
		return Change{}, err
	}
	w := &writer{conn: c, spec: spec, op: op}
	if err := w.validate(); err != nil {
		return Change{}, fmt.Errorf("%s: %w: %w", op.Action, ErrInvalidWrite, err)
	}
	switch op.Action {
	case WriteCreate:
		return w.create(ctx)
	case WriteUpdate:
		cur, err := w.findWritable(ctx)
		if err != nil {
			return Change{}, err
		}
		dn, err := w.reconcile(ctx, cur)
		if err != nil {
			return Change{}, err
		}
		return w.reread(ctx, dn)
	case WriteDelete:
		return w.delete(ctx)
	case WriteRead:
		var cur *entryState
		if op.ExternalID != "" {
			cur, err = w.findByID(ctx)
		} else {
			cur, err = w.findByLookup(ctx)
		}
		if err != nil {
			return Change{}, err
		}
		return w.reread(ctx, cur.dn)
	}
	return Change{}, fmt.Errorf("write: unknown action %v", op.Action)
}

// writer is the state of one Write.
type writer struct {
	conn *Conn
	spec Spec
	op   WriteOp
	// rdnAttr is op.RDNAttribute or "cn".
	rdnAttr string
	// disableAttr and disableValue split op.DisableAttribute.
	disableAttr, disableValue string
}

// validate checks op for its action before anything is sent.
func (w *writer) validate() error {
	op := w.op
	w.rdnAttr = cmp.Or(op.RDNAttribute, "cn")
	if op.DisableAttribute != "" {
		a, v, ok := strings.Cut(op.DisableAttribute, "=")
		if !ok || a == "" || v == "" {
			return fmt.Errorf("DisableAttribute %q is not attr=value", op.DisableAttribute)
		}
		if !validAttrName(a) {
			return fmt.Errorf("DisableAttribute %q: %q is not an attribute name", op.DisableAttribute, a)
		}
		if err := ldapattr.DisableAttribute(attrKind(w.spec.Kind), a); err != nil {
			return fmt.Errorf("DisableAttribute %q: %w", op.DisableAttribute, err)
		}
		w.disableAttr, w.disableValue = a, v
	}
	switch op.Action {
	case WriteCreate, WriteUpdate, WriteDelete, WriteRead:
	default:
		return fmt.Errorf("unknown action %v", op.Action)
	}
	if op.Action != WriteCreate && op.ExternalID == "" && !(op.Action == WriteRead && op.LookupAttribute != "") {
		return errors.New("no ExternalID to find the entry by")
	}
	if op.ExternalID != "" && !isUUID([]byte(op.ExternalID)) {
		return fmt.Errorf("ExternalID %q is not a GUID/UUID", op.ExternalID)
	}
	if op.Action == WriteRead && op.ExternalID == "" && (op.LookupValue == "" || !validAttrName(op.LookupAttribute)) {
		return fmt.Errorf("lookup attribute %q with value %q: both are needed", op.LookupAttribute, op.LookupValue)
	}
	if op.Action == WriteRead || op.Action == WriteDelete {
		return nil
	}
	if op.Action == WriteCreate && op.ParentDN == "" {
		return errors.New("ParentDN is empty: a created entry needs a place")
	}
	if len(op.WritableOUs) == 0 {
		return errors.New("no writable OU: the directory is not one the hub may write into")
	}
	for _, ou := range op.WritableOUs {
		if err := w.underBase(ou); err != nil {
			return fmt.Errorf("writable OU: %w", err)
		}
	}
	if op.Password != "" && op.Action != WriteCreate {
		return errors.New("a password is set on create only")
	}
	for _, f := range [][2]string{{"ParentDN", op.ParentDN}, {"DisabledParentDN", op.DisabledParentDN}} {
		if f[1] == "" {
			continue
		}
		if err := w.underBase(f[1]); err != nil {
			return fmt.Errorf("%s: %w", f[0], err)
		}
		if err := w.writable(f[1]); err != nil {
			return fmt.Errorf("%s: %w", f[0], err)
		}
	}
	if op.DisableGroupDN != "" {
		group, err := ldap.ParseDN(op.DisableGroupDN)
		if err != nil {
			return fmt.Errorf("DisableGroupDN %q: %w", op.DisableGroupDN, err)
		}
		if !slices.ContainsFunc(op.WritableGroups, func(g string) bool {
			dn, err := ldap.ParseDN(g)
			return err == nil && dn.EqualFold(group)
		}) {
			return fmt.Errorf("DisableGroupDN %q is not one of the groups the hub may add entries to", op.DisableGroupDN)
		}
	}
	for _, c := range op.ObjectClasses {
		if !slices.ContainsFunc(ldapattr.ObjectClasses[attrKind(w.spec.Kind)], func(k string) bool { return strings.EqualFold(k, c) }) {
			return fmt.Errorf("object class %q: a created entry has only the object classes of a %v user", c, w.spec.Kind)
		}
	}
	if !validAttrName(w.rdnAttr) {
		return fmt.Errorf("RDNAttribute %q is not an attribute name", w.rdnAttr)
	}
	for _, a := range op.Attributes {
		if !validAttrName(a.Name) {
			return fmt.Errorf("attribute %q is not an attribute name", a.Name)
		}
		if err := WritableAttribute(w.spec.Kind, a.Name); err != nil {
			return fmt.Errorf("attribute %w", err)
		}
	}
	if op.Action == WriteCreate {
		if v := w.attrValues(w.rdnAttr); len(v) == 0 || v[0] == "" {
			return fmt.Errorf("the RDN attribute %s has no value in Attributes", w.rdnAttr)
		}
	}
	if w.spec.Kind == KindOpenLDAP && !op.Enabled && op.DisableAttribute == "" && op.DisableGroupDN == "" {
		return errors.New("Enabled=false on OpenLDAP needs DisableAttribute or DisableGroupDN, and neither is set")
	}
	if w.spec.Kind == KindAD && op.Password != "" && !w.conn.TLS() {
		return fmt.Errorf("AD takes a password over TLS only, and %s is neither ldaps:// nor StartTLS", w.conn.url)
	}
	return nil
}

// underBase checks that dn parses and lies under the spec's base DN: the
// agent writes where it reads, nowhere else.
func (w *writer) underBase(dn string) error {
	parsed, err := ldap.ParseDN(dn)
	if err != nil {
		return fmt.Errorf("%q: %w", dn, err)
	}
	base, err := ldap.ParseDN(w.spec.BaseDN)
	if err != nil {
		return err
	}
	if !base.EqualFold(parsed) && !base.AncestorOfFold(parsed) {
		return fmt.Errorf("%q is not under the base DN %q", dn, w.spec.BaseDN)
	}
	return nil
}

// writable checks that dn lies in one of the op's writable OUs (or is one).
func (w *writer) writable(dn string) error {
	parsed, err := ldap.ParseDN(dn)
	if err != nil {
		return fmt.Errorf("%q: %w", dn, err)
	}
	for _, ou := range w.op.WritableOUs {
		if o, err := ldap.ParseDN(ou); err == nil && (o.EqualFold(parsed) || o.AncestorOfFold(parsed)) {
			return nil
		}
	}
	return fmt.Errorf("%q is outside the OUs the hub may write in (%s)", dn, strings.Join(w.op.WritableOUs, "; "))
}

// findWritable finds the entry op.ExternalID names, and refuses it when it
// lies outside the writable OUs: an entry there is none the hub made.
func (w *writer) findWritable(ctx context.Context) (*entryState, error) {
	cur, err := w.findByID(ctx)
	if err != nil {
		return nil, err
	}
	if err := w.writable(cur.dn); err != nil {
		return nil, fmt.Errorf("%s: entry %s: %w: %w", w.op.Action, w.op.ExternalID, ErrInvalidWrite, err)
	}
	return cur, nil
}

// attrValues returns the values op.Attributes gives name, nil when it is
// not listed.
func (w *writer) attrValues(name string) []string {
	for _, a := range w.op.Attributes {
		if strings.EqualFold(a.Name, name) {
			return a.Values
		}
	}
	return nil
}

// entryState is an entry as Write found it: its DN and the current values of
// the attributes the op touches, by lower-case name.
type entryState struct {
	dn    string
	attrs map[string][]string
}

func (e *entryState) get(name string) []string { return e.attrs[strings.ToLower(name)] }

// stateAttributes are the attributes an entryState reads.
func (w *writer) stateAttributes() []string {
	attrs := []string{"objectClass", w.rdnAttr}
	for _, a := range w.op.Attributes {
		attrs = append(attrs, a.Name)
	}
	if w.spec.Kind == KindAD {
		attrs = append(attrs, "userAccountControl")
	}
	if w.disableAttr != "" {
		attrs = append(attrs, w.disableAttr)
	}
	return attrs
}

// fetch reads the entry base and scope find with filter, with the
// attributes Write needs. No entry is ErrEntryNotFound; more than one is
// ErrEntryNotFound too, as the lookup is ambiguous.
func (w *writer) fetch(ctx context.Context, base string, scope int, filter, what string) (*entryState, error) {
	var found *entryState
	n, err := w.conn.searchUpToTwo(ctx, base, scope, filter, w.stateAttributes(), func(e *ldapwire.Entry) error {
		st := &entryState{dn: string(e.DN), attrs: map[string][]string{}}
		for _, a := range e.Attrs {
			values := make([]string, len(a.Values))
			for i, v := range a.Values {
				values[i] = string(v)
			}
			st.attrs[strings.ToLower(string(a.Name))] = values
		}
		found = st
		return nil
	})
	switch {
	case ldapwire.IsResultCode(err, ldap.LDAPResultNoSuchObject):
		return nil, fmt.Errorf("%s on %s: %w", what, w.conn.url, ErrEntryNotFound)
	case err != nil:
		return nil, err
	case n > 1:
		return nil, fmt.Errorf("%s on %s: more than one entry matches: %w", what, w.conn.url, ErrEntryNotFound)
	case n == 0:
		return nil, fmt.Errorf("%s on %s: %w", what, w.conn.url, ErrEntryNotFound)
	}
	if err := w.underBase(found.dn); err != nil {
		return nil, fmt.Errorf("%s on %s: %v: %w", what, w.conn.url, err, ErrEntryNotFound)
	}
	return found, nil
}

// findByID reads the entry op.ExternalID names: on AD by its <GUID=…> DN,
// elsewhere by entryUUID under the base DN.
func (w *writer) findByID(ctx context.Context) (*entryState, error) {
	what := "entry " + w.op.ExternalID
	if w.spec.Kind == KindAD {
		return w.fetch(ctx, "<GUID="+w.op.ExternalID+">", ldapwire.ScopeBaseObject, "(objectClass=*)", what)
	}
	return w.fetch(ctx, w.spec.BaseDN, ldapwire.ScopeWholeSubtree, "(entryUUID="+ldap.EscapeFilter(w.op.ExternalID)+")", what)
}

// findByLookup finds the one user under the base DN whose LookupAttribute
// holds LookupValue.
func (w *writer) findByLookup(ctx context.Context) (*entryState, error) {
	filter := fmt.Sprintf("(&%s(%s=%s))", w.spec.UserFilter, w.op.LookupAttribute, ldap.EscapeFilter(w.op.LookupValue))
	return w.fetch(ctx, w.spec.BaseDN, ldapwire.ScopeWholeSubtree, filter,
		fmt.Sprintf("user with %s=%s under %q", w.op.LookupAttribute, w.op.LookupValue, w.spec.BaseDN))
}

// fetchDN re-reads the state of the entry at dn.
func (w *writer) fetchDN(ctx context.Context, dn string) (*entryState, error) {
	return w.fetch(ctx, dn, ldapwire.ScopeBaseObject, "(objectClass=*)", "entry "+dn)
}

// targetParent is where the entry belongs after the write: the disabled
// parent when disabled and set, else the parent; "" means where it is.
func (w *writer) targetParent() string {
	if !w.op.Enabled && w.op.DisabledParentDN != "" {
		return w.op.DisabledParentDN
	}
	return w.op.ParentDN
}

// rdn returns the entry's RDN from the op's attributes ("" when the RDN
// attribute is not listed).
func (w *writer) rdn() string {
	v := w.attrValues(w.rdnAttr)
	if len(v) == 0 || v[0] == "" {
		return ""
	}
	return w.rdnAttr + "=" + ldap.EscapeDN(v[0])
}

// create adds the entry where it belongs (disabled on AD until its password
// is set), sets the password, then brings the rest of its state in line
// through reconcile. When a step after the Add fails, it deletes the entry
// again: a retry then creates it afresh, with its password, rather than
// finding a half-made entry it cannot finish.
func (w *writer) create(ctx context.Context) (Change, error) {
	dn := w.rdn() + "," + w.targetParent()
	classes := w.op.ObjectClasses
	if len(classes) == 0 {
		classes = []string{"top", "person", "organizationalPerson", "inetOrgPerson"}
		if w.spec.Kind == KindAD {
			classes = []string{"top", "person", "organizationalPerson", "user"}
		}
	}
	add := ldap.NewAddRequest(dn, nil)
	add.Attribute("objectClass", classes)
	for _, a := range w.op.Attributes {
		values := a.Values
		if w.disableAttr != "" && strings.EqualFold(a.Name, w.disableAttr) {
			values = w.withDisableValue(values)
		}
		if len(values) > 0 {
			add.Attribute(a.Name, values)
		}
	}
	if w.disableAttr != "" && w.attrValues(w.disableAttr) == nil && !w.op.Enabled {
		add.Attribute(w.disableAttr, []string{w.disableValue})
	}
	if w.spec.Kind == KindAD {
		// Disabled until it has a password: AD refuses an enabled account
		// without one.
		add.Attribute("userAccountControl", []string{strconv.Itoa(uacNormalAccount | uacAccountDisable)})
	}
	if err := ctx.Err(); err != nil {
		return Change{}, err
	}
	if err := w.conn.ldap.Add(add); err != nil {
		return Change{}, w.addError(dn, err)
	}
	ch, err := w.finishCreate(ctx, &dn)
	if err != nil {
		return Change{}, w.undoCreate(ctx, dn, err)
	}
	return ch, nil
}

// finishCreate sets the password of the entry just added at *dn and
// reconciles it; *dn follows the entry should reconcile move it.
func (w *writer) finishCreate(ctx context.Context, dn *string) (Change, error) {
	if w.op.Password != "" {
		if err := w.setPassword(ctx, *dn); err != nil {
			return Change{}, err
		}
	}
	cur, err := w.fetchDN(ctx, *dn)
	if err != nil {
		return Change{}, err
	}
	next, err := w.reconcile(ctx, cur)
	*dn = next
	if err != nil {
		return Change{}, err
	}
	return w.reread(ctx, *dn)
}

// undoCreate deletes the entry a failed create added at dn, taking it out
// of the disable group first, and returns cause — joined with the delete's
// error when that fails too. It runs when ctx has ended as well, within
// the default timeout.
func (w *writer) undoCreate(ctx context.Context, dn string, cause error) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), DefaultTimeout)
	defer cancel()
	errs := []error{cause}
	// A disable group that cannot be found holds no one to take out.
	if err := w.leaveDisableGroup(ctx, dn); err != nil && !errors.Is(err, ErrEntryNotFound) &&
		!ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
		errs = append(errs, err)
	}
	if err := w.conn.ldap.Del(ldap.NewDelRequest(dn, nil)); err != nil {
		errs = append(errs, fmt.Errorf("deleting %s, half made by the failed create: %w", dn, err))
	}
	if len(errs) == 1 {
		return cause
	}
	return errors.Join(errs...)
}

// addError turns a refused Add into ErrEntryExists when the DN or a unique
// value is taken.
func (w *writer) addError(dn string, err error) error {
	exists := ldap.IsErrorWithCode(err, ldap.LDAPResultEntryAlreadyExists)
	if !exists && w.spec.Kind == KindAD && ldap.IsErrorAnyOf(err, ldap.LDAPResultConstraintViolation, ldap.LDAPResultAttributeOrValueExists) {
		msg := strings.ToLower(err.Error())
		exists = strings.Contains(msg, "samaccountname") || strings.Contains(msg, "userprincipalname") ||
			strings.Contains(msg, "upn") || strings.Contains(msg, "already in use")
	}
	if exists {
		return fmt.Errorf("adding %s: %w: %w", dn, ErrEntryExists, err)
	}
	return fmt.Errorf("adding %s: %w", dn, err)
}

// setPassword sets the initial password and, when asked, the must-change
// flag.
func (w *writer) setPassword(ctx context.Context, dn string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if w.spec.Kind == KindAD {
		m := ldap.NewModifyRequest(dn, nil)
		m.Replace("unicodePwd", []string{ldapattr.UnicodePwd(w.op.Password)})
		if err := w.conn.ldap.Modify(m); err != nil {
			return fmt.Errorf("setting the password of %s (unicodePwd): %w", dn, passwordError(err))
		}
		if w.op.MustChangePassword {
			m := ldap.NewModifyRequest(dn, nil)
			m.Replace("pwdLastSet", []string{"0"})
			if err := w.conn.ldap.Modify(m); err != nil {
				return fmt.Errorf("setting pwdLastSet of %s to 0: %w", dn, err)
			}
		}
		return nil
	}
	if _, err := w.conn.ldap.PasswordModify(ldap.NewPasswordModifyRequest(dn, "", w.op.Password)); err != nil {
		return fmt.Errorf("setting the password of %s (Password Modify): %w", dn, passwordError(err))
	}
	if w.op.MustChangePassword {
		m := ldap.NewModifyRequest(dn, nil)
		m.Replace("pwdReset", []string{"TRUE"})
		// Without the ppolicy overlay the server does not know pwdReset,
		// and nothing would read it anyway.
		if err := w.conn.ldap.Modify(m); err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultUndefinedAttributeType) {
			return fmt.Errorf("setting pwdReset of %s: %w", dn, err)
		}
	}
	return nil
}

// passwordError marks a refusal of the password itself (a constraint
// violation, or AD's unwillingness to take it) as ErrPasswordRefused.
func passwordError(err error) error {
	if ldap.IsErrorAnyOf(err, ldap.LDAPResultConstraintViolation, ldap.LDAPResultUnwillingToPerform) {
		return fmt.Errorf("%w: %w", ErrPasswordRefused, err)
	}
	return err
}

// withDisableValue returns values with the disable value present when the
// op disables the entry and absent when it enables it.
func (w *writer) withDisableValue(values []string) []string {
	out := slices.DeleteFunc(slices.Clone(values), func(v string) bool { return strings.EqualFold(v, w.disableValue) })
	if !w.op.Enabled {
		out = append(out, w.disableValue)
	}
	return out
}

// reconcile brings the entry cur to the op's state, sending only what
// differs: its name and place, its attributes, and its enabled state. An AD
// account is disabled before it moves and enabled after, so that no
// enabled account sits in the disabled parent. The rename comes before the
// attributes: AD refuses a Modify of the RDN attribute. It returns the
// entry's DN afterwards, and on an error the DN it had when the error
// came.
func (w *writer) reconcile(ctx context.Context, cur *entryState) (string, error) {
	steps := []func(context.Context, *entryState) (*entryState, error){w.move, w.modifyAttributes, w.setAccountControl, w.setDisableGroup}
	if !w.op.Enabled {
		steps = []func(context.Context, *entryState) (*entryState, error){w.setAccountControl, w.move, w.modifyAttributes, w.setDisableGroup}
	}
	for _, step := range steps {
		if err := ctx.Err(); err != nil {
			return cur.dn, err
		}
		next, err := step(ctx, cur)
		if err != nil {
			return cur.dn, err
		}
		cur = next
	}
	return cur.dn, nil
}

// move renames the entry when its RDN value changed and moves it when it is
// not under the parent it belongs in, in one ModifyDN. Its old DN leaves
// the disable group.
func (w *writer) move(ctx context.Context, cur *entryState) (*entryState, error) {
	dn, err := ldap.ParseDN(cur.dn)
	if err != nil || len(dn.RDNs) == 0 {
		return nil, fmt.Errorf("entry DN %q: %v", cur.dn, err)
	}
	newRDN := w.rdn()
	first := dn.RDNs[0]
	if newRDN == "" || len(first.Attributes) == 1 && strings.EqualFold(first.Attributes[0].Type, w.rdnAttr) &&
		first.Attributes[0].Value == w.attrValues(w.rdnAttr)[0] {
		newRDN = ""
	}
	newSuperior := ""
	if target := w.targetParent(); target != "" {
		want, err := ldap.ParseDN(target)
		if err != nil {
			return nil, fmt.Errorf("parent %q: %w", target, err)
		}
		if !want.EqualFold(&ldap.DN{RDNs: dn.RDNs[1:]}) {
			newSuperior = target
		}
	}
	if newRDN == "" && newSuperior == "" {
		return cur, nil
	}
	if newRDN == "" {
		newRDN = first.String()
	}
	if err := w.leaveDisableGroup(ctx, cur.dn); err != nil {
		return nil, err
	}
	parent := newSuperior
	if parent == "" {
		parent = (&ldap.DN{RDNs: dn.RDNs[1:]}).String()
	}
	if err := w.conn.ldap.ModifyDN(ldap.NewModifyDNRequest(cur.dn, newRDN, true, newSuperior)); err != nil {
		if ldap.IsErrorWithCode(err, ldap.LDAPResultEntryAlreadyExists) {
			return nil, fmt.Errorf("renaming %s to %s,%s: %w: %w", cur.dn, newRDN, parent, ErrEntryExists, err)
		}
		return nil, fmt.Errorf("renaming %s to %s,%s: %w", cur.dn, newRDN, parent, err)
	}
	// The server's DN (its spelling) and the RDN attribute's values after
	// the rename.
	return w.fetchDN(ctx, newRDN+","+parent)
}

// modifyAttributes sends one Modify with the listed attributes (and the
// disable attribute) whose values differ from the entry's, none when all
// agree.
func (w *writer) modifyAttributes(_ context.Context, cur *entryState) (*entryState, error) {
	m := ldap.NewModifyRequest(cur.dn, nil)
	listedDisable := false
	for _, a := range w.op.Attributes {
		want := a.Values
		if w.disableAttr != "" && strings.EqualFold(a.Name, w.disableAttr) {
			want, listedDisable = w.withDisableValue(want), true
		}
		w.replace(m, cur, a.Name, want)
	}
	if w.disableAttr != "" && !listedDisable {
		w.replace(m, cur, w.disableAttr, w.withDisableValue(cur.get(w.disableAttr)))
	}
	if len(m.Changes) == 0 {
		return cur, nil
	}
	if err := w.conn.ldap.Modify(m); err != nil {
		return nil, fmt.Errorf("modifying %s (%s): %w", cur.dn, changedNames(m), err)
	}
	for _, c := range m.Changes {
		cur.attrs[strings.ToLower(c.Modification.Type)] = c.Modification.Vals
	}
	return cur, nil
}

// replace adds to m the replacement of name by want when the entry's values
// differ (as sets); an empty want removes the attribute when present.
func (w *writer) replace(m *ldap.ModifyRequest, cur *entryState, name string, want []string) {
	have := cur.get(name)
	if sameValues(have, want) {
		return
	}
	if len(want) == 0 {
		m.Delete(name, nil)
		return
	}
	m.Replace(name, want)
}

// sameValues reports whether a and b hold the same values in any order.
func sameValues(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// changedNames lists the attributes m changes, for errors.
func changedNames(m *ldap.ModifyRequest) string {
	names := make([]string, len(m.Changes))
	for i, c := range m.Changes {
		names[i] = c.Modification.Type
	}
	return strings.Join(names, ", ")
}

// setAccountControl sets or clears AD's ACCOUNTDISABLE bit, keeping the
// others. AD refuses to enable an account without a password (under its
// password policy): the error says so.
func (w *writer) setAccountControl(_ context.Context, cur *entryState) (*entryState, error) {
	if w.spec.Kind != KindAD {
		return cur, nil
	}
	v := cur.get("userAccountControl")
	uac := uacNormalAccount
	if len(v) == 1 {
		n, err := strconv.ParseInt(v[0], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("entry %s: userAccountControl %q is not a number", cur.dn, v[0])
		}
		uac = int(n)
	}
	want := uac | uacAccountDisable
	if w.op.Enabled {
		want = uac &^ uacAccountDisable
	}
	if want == uac && len(v) == 1 {
		return cur, nil
	}
	m := ldap.NewModifyRequest(cur.dn, nil)
	m.Replace("userAccountControl", []string{strconv.Itoa(want)})
	if err := w.conn.ldap.Modify(m); err != nil {
		if w.op.Enabled {
			return nil, fmt.Errorf("enabling %s (userAccountControl %d; AD refuses an account without a password that meets its policy): %w", cur.dn, want, err)
		}
		return nil, fmt.Errorf("disabling %s (userAccountControl %d): %w", cur.dn, want, err)
	}
	cur.attrs["useraccountcontrol"] = []string{strconv.Itoa(want)}
	return cur, nil
}

// disableGroup reads the disable group's membership attribute (member, or
// uniqueMember for groupOfUniqueNames) and whether dn is among its values.
func (w *writer) disableGroup(ctx context.Context, dn string) (attr string, member bool, err error) {
	attr = "member"
	req := ldap.NewSearchRequest(w.op.DisableGroupDN, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, 0, false,
		"(objectClass=*)", []string{"objectClass"}, nil)
	found := false
	_, err = w.conn.search(ctx, req, func(e *ldap.Entry) error {
		found = true
		if slices.ContainsFunc(e.GetAttributeValues("objectClass"), func(c string) bool { return strings.EqualFold(c, "groupOfUniqueNames") }) {
			attr = "uniqueMember"
		}
		return nil
	})
	if err == nil && !found {
		err = ErrEntryNotFound
	}
	if err != nil {
		return "", false, fmt.Errorf("reading the disable group %s: %w", w.op.DisableGroupDN, err)
	}
	// The server compares DNs by their syntax's rules.
	req = ldap.NewSearchRequest(w.op.DisableGroupDN, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, 0, false,
		"("+attr+"="+ldap.EscapeFilter(dn)+")", []string{"1.1"}, nil)
	_, err = w.conn.search(ctx, req, func(*ldap.Entry) error { member = true; return nil })
	if err != nil {
		return "", false, fmt.Errorf("reading the members of the disable group %s: %w", w.op.DisableGroupDN, err)
	}
	return attr, member, nil
}

// setDisableGroup puts the entry in the disable group when disabled and
// takes it out when enabled.
func (w *writer) setDisableGroup(ctx context.Context, cur *entryState) (*entryState, error) {
	if w.op.DisableGroupDN == "" {
		return cur, nil
	}
	attr, member, err := w.disableGroup(ctx, cur.dn)
	if err != nil || member == !w.op.Enabled {
		return cur, err
	}
	m := ldap.NewModifyRequest(w.op.DisableGroupDN, nil)
	verb := "adding"
	if w.op.Enabled {
		verb = "removing"
		m.Delete(attr, []string{cur.dn})
	} else {
		m.Add(attr, []string{cur.dn})
	}
	if err := w.conn.ldap.Modify(m); err != nil {
		return nil, fmt.Errorf("%s %s as %s of the disable group %s: %w", verb, cur.dn, attr, w.op.DisableGroupDN, err)
	}
	return cur, nil
}

// leaveDisableGroup takes dn out of the disable group, if set and a member:
// before a rename, a move or a delete, so that no stale DN lingers there
// (OpenLDAP without refint does not follow them) to disable a later entry
// of the same name.
func (w *writer) leaveDisableGroup(ctx context.Context, dn string) error {
	if w.op.DisableGroupDN == "" {
		return nil
	}
	attr, member, err := w.disableGroup(ctx, dn)
	if err != nil || !member {
		return err
	}
	m := ldap.NewModifyRequest(w.op.DisableGroupDN, nil)
	m.Delete(attr, []string{dn})
	if err := w.conn.ldap.Modify(m); err != nil {
		return fmt.Errorf("removing %s as %s of the disable group %s: %w", dn, attr, w.op.DisableGroupDN, err)
	}
	return nil
}

// delete removes the entry op.ExternalID names.
func (w *writer) delete(ctx context.Context) (Change, error) {
	cur, err := w.findWritable(ctx)
	if err != nil {
		return Change{}, err
	}
	if err := w.leaveDisableGroup(ctx, cur.dn); err != nil {
		return Change{}, err
	}
	if err := ctx.Err(); err != nil {
		return Change{}, err
	}
	if err := w.conn.ldap.Del(ldap.NewDelRequest(cur.dn, nil)); err != nil {
		if ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
			return Change{}, fmt.Errorf("deleting %s: %w: %w", cur.dn, ErrEntryNotFound, err)
		}
		return Change{}, fmt.Errorf("deleting %s: %w", cur.dn, err)
	}
	return Change{Type: ChangeDelete, Kind: ObjectUser, ExternalID: w.op.ExternalID, DN: cur.dn}, nil
}

// reread reads the entry at dn as FullImport does, with the spec's user
// attributes.
func (w *writer) reread(ctx context.Context, dn string) (Change, error) {
	sink := &oneSink{}
	imp := newImporter(w.conn, w.spec, sink)
	if err := imp.searchUnder(ctx, dn, ldap.ScopeBaseObject, ObjectUser, "(objectClass=*)", w.spec.UserAttributes); err != nil {
		return Change{}, fmt.Errorf("reading %s back: %w", dn, err)
	}
	switch {
	case sink.err != nil:
		return Change{}, fmt.Errorf("reading %s back: %w", dn, sink.err)
	case sink.change == nil:
		return Change{}, fmt.Errorf("reading %s back: %w", dn, ErrEntryNotFound)
	}
	return *sink.change, nil
}

// oneSink keeps the one entry a re-read finds.
type oneSink struct {
	change *Change
	err    error
}

var _ Sink = (*oneSink)(nil)

func (s *oneSink) Change(_ context.Context, c Change) error {
	s.change = &c
	return nil
}

func (s *oneSink) EntryError(_ context.Context, e EntryError) error {
	s.err = e
	return nil
}

// Refused reports whether err is the server refusing an operation (an LDAP
// result such as a constraint or an access right) or an op that is wrong
// in itself (ErrInvalidWrite): the same write fails again. Anything else —
// a connection that failed or broke, a server busy or unavailable, a
// timeout — may pass on a later attempt.
func Refused(err error) bool {
	if errors.Is(err, ErrInvalidWrite) {
		return true
	}
	var code uint16
	var le *ldap.Error
	var re *ldapwire.ResultError
	switch {
	case errors.As(err, &le):
		code = le.ResultCode
	case errors.As(err, &re):
		code = uint16(re.Code)
	default:
		return false
	}
	switch code {
	case ldap.ErrorNetwork, ldap.LDAPResultBusy, ldap.LDAPResultUnavailable, ldap.LDAPResultServerDown,
		ldap.LDAPResultTimeout, ldap.LDAPResultTimeLimitExceeded, ldap.LDAPResultAdminLimitExceeded, ldap.LDAPResultOther:
		return false
	}
	return true
}
