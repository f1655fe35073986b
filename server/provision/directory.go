package provision

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/go-ldap/ldap/v3"

	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
	"github.com/idsync/idsync/server/ingest"
	"github.com/idsync/idsync/server/provision/expr"
	"github.com/idsync/idsync/server/scim"
	"github.com/idsync/idsync/server/store"
)

// DirectoryWriter reaches the agents of a directory: the hub's agent
// sessions. Call sends one command to an agent of directory with
// capability and returns its result; Serves says whether one is
// connected to this hub.
type DirectoryWriter interface {
	Call(ctx context.Context, directory, capability string, cmd *idsyncv1.Command) (*idsyncv1.CommandResult, error)
	Serves(directory, capability string) bool
}

// LDAPSchema is the mapping target prefix of attributes written into a
// directory as they are named: "urn:idsync:params:ldap:physicalDeliveryOfficeName".
const LDAPSchema = "urn:idsync:params:ldap"

// dirTarget is an app that is a directory (AD or OpenLDAP) the hub writes
// users into through an agent of that directory: the SCIM User the mapping
// renders becomes the entry's attributes (see ldapAttributes), active its
// enabled state. The agent's answer is the outcome (agentOutcome): no
// agent online, a lost answer or a directory out of reach is Unavailable
// (retried; a create is looked up first), a taken name a Conflict, a
// missing entry NotFound, a constraint or an access right Refused.
//
// It writes only within the directory's write-back settings (a
// super-admin's), read again for every write, and only the entries it
// created: before an entry is created, the DN it will have is recorded in
// the store for (app, user), and its id once the directory gave it. That
// record is its licence to change, disable or delete the entry, and it is
// how the hub knows the entry as its own when the change stream brings it
// back (no loop). A create that fails forgets it.
type dirTarget struct {
	e   *Engine
	app *store.App
	t   store.DirectoryTarget
	dir *store.Directory
}

func (e *Engine) dirTarget(ctx context.Context, a *store.App) (*dirTarget, error) {
	if e.opts.Directories == nil {
		return nil, fmt.Errorf("app %s writes into directory %s, but this hub reaches no agents", a.Name, a.Target.Directory)
	}
	c := &dirTarget{e: e, app: a, t: *a.Target}
	d, err := c.directory(ctx)
	if err != nil {
		return nil, err
	}
	// The directory's id, kind and name do not change; its settings are
	// read again for every write.
	c.dir = d
	return c, nil
}

// directory reads the target directory afresh and checks the app against
// its write-back settings, which a super-admin may have changed since.
func (c *dirTarget) directory(ctx context.Context) (*store.Directory, error) {
	d, err := c.e.st.GetDirectory(ctx, c.t.Directory)
	if err != nil {
		return nil, fmt.Errorf("app %s: its target directory %s: %w", c.app.Name, c.t.Directory, err)
	}
	if err := CheckTarget(d, c.app); err != nil {
		return nil, &permanent{fmt.Errorf("app %s: %w", c.app.Name, err)}
	}
	return d, nil
}

// call sends one write to an agent of the directory, with the OUs and
// groups the directory lets the hub write, which the agent checks again;
// what names the write in an error ("deleting entry X").
func (c *dirTarget) call(ctx context.Context, what string, w *idsyncv1.WriteEntry) (*idsyncv1.Change, error) {
	d, err := c.directory(ctx)
	if err != nil {
		return nil, err
	}
	w.Source = ingest.Source(d, nil)
	w.ParentDn, w.DisabledParentDn, w.RdnAttribute = c.t.ParentDN, c.t.DisabledParentDN, c.rdn()
	w.DisableAttribute, w.DisableGroupDn = c.t.DisableAttribute, c.t.DisableGroupDN
	w.WritableOus, w.WritableGroups = d.WriteBack.OUs, d.WriteBack.Groups
	res, err := c.e.opts.Directories.Call(ctx, d.Name, idsyncv1.CapabilityWrite,
		&idsyncv1.Command{Cmd: &idsyncv1.Command_WriteEntry{WriteEntry: w}})
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		// No agent to ask, or its answer was lost.
		return nil, &Unavailable{Err: fmt.Errorf("directory %s: %s: %w", d.Name, what, err), Unsure: true}
	}
	if res.GetError() != "" {
		return nil, agentOutcome(fmt.Sprintf("directory %s: %s", d.Name, what), res)
	}
	return res.GetEntry(), nil
}

// agentOutcome is the outcome of a write the agent answered with an error,
// by the error's class.
func agentOutcome(what string, res *idsyncv1.CommandResult) error {
	err := fmt.Errorf("%s: %s", what, res.GetError())
	switch res.GetErrorCode() {
	case idsyncv1.WriteErrorCode_WRITE_ERROR_CODE_NOT_FOUND:
		return &NotFound{Err: err}
	case idsyncv1.WriteErrorCode_WRITE_ERROR_CODE_EXISTS:
		return &Conflict{Err: err}
	case idsyncv1.WriteErrorCode_WRITE_ERROR_CODE_REFUSED:
		// A constraint, an access right: a write the same way fails again.
		return &Refused{Err: err}
	case idsyncv1.WriteErrorCode_WRITE_ERROR_CODE_PASSWORD_REFUSED:
		return &Refused{Err: &passwordRefused{err}}
	}
	// The directory could not be reached or answered busy (or the agent
	// did not say): later. The write may have been made.
	return &Unavailable{Err: err, Unsure: true}
}

func (c *dirTarget) rdn() string {
	if c.t.RDNAttribute != "" {
		return c.t.RDNAttribute
	}
	return "cn"
}

// PatchSupported says a directory takes whole replacements: each update
// sends every mapped attribute and the agent writes what differs.
func (c *dirTarget) PatchSupported(context.Context) (bool, error) { return false, nil }

// CreateUser adds the entry, recording its DN first. A create the agent
// answered with an error made nothing (the agent takes back an entry it
// added when a later step fails), so the record goes; one whose answer
// was lost keeps it, for the next attempt's lookup to find the entry.
func (c *dirTarget) CreateUser(ctx context.Context, r scim.Resource, _ []byte) (string, error) {
	d, err := c.directory(ctx)
	if err != nil {
		return "", err
	}
	attrs := c.ldapAttributes(r)
	rdnValue := attrValue(attrs, c.rdn())
	if rdnValue == "" {
		return "", &Refused{Err: fmt.Errorf("directory %s: creating an entry for %s: the entry has no %s to name it", d.Name, r.UserName(), c.rdn())}
	}
	dn := ldap.EscapeDN(c.rdn()) + "=" + ldap.EscapeDN(rdnValue) + "," + c.t.ParentDN
	w := &idsyncv1.WriteEntry{Action: idsyncv1.WriteAction_WRITE_ACTION_CREATE, Attributes: attrs,
		MustChangePassword: d.WriteBack.MustChangePassword}
	w.Enabled, _ = r.Active()
	var rules *passwordRules
	if len(d.WriteBack.InitialPassword) > 0 {
		pw, pr, err := c.initialPassword(ctx, d, r.ExternalID())
		if err != nil {
			return "", err
		}
		w.Password, rules = pw, pr
	}
	rec := &store.DirectoryWrite{AppID: c.app.ID, UserID: r.ExternalID(), DirectoryID: d.ID, DNKey: ingest.DNKey(dn)}
	if err := c.e.st.PutDirectoryWrite(ctx, rec); err != nil {
		return "", err
	}
	entry, err := c.call(ctx, "creating "+dn, w)
	if err != nil && !is[*Unavailable](err) && ctx.Err() == nil {
		// Refused, taken, or not sent at all: nothing was made, and the DN
		// must not name an entry someone else makes there as the hub's.
		if derr := c.e.st.DeleteDirectoryWrite(context.WithoutCancel(ctx), c.app.ID, r.ExternalID()); derr != nil {
			return "", errors.Join(err, derr)
		}
	}
	if pr := (*passwordRefused)(nil); errors.As(err, &pr) {
		policy := "none"
		if d.PasswordPolicy != "" {
			policy = d.PasswordPolicy
		}
		return "", &Refused{Err: fmt.Errorf("directory %s refused the initial password for %s: its own password policy "+
			"(AD: complexity, length, history) is stricter than the hub's (password policy %s), so the same password fails again; "+
			"nothing was made: a super-admin makes the hub's policy match the directory's with "+
			"`idsyncctl directory update %s --password-policy RULES` (random() then draws passwords that pass): %w",
			d.Name, r.UserName(), policy, d.Name, err)}
	}
	if err != nil {
		return "", err
	}
	if rules != nil {
		if err := rules.remember(ctx, w.Password); err != nil {
			c.e.log.Warn("recording the digest of an initial password", "directory", d.Name, "user", r.ExternalID(), "err", err)
		}
	}
	res, err := c.recorded(ctx, r, entry)
	if err != nil {
		return "", err
	}
	return res.ID(), nil
}

// initialPassword evaluates the directory's initial password expression
// (sealed, a super-admin's) over the hub user, random() drawing from the
// directory's password policy, and checks the password against the
// policy before anything is sent; the value goes to the agent only.
func (c *dirTarget) initialPassword(ctx context.Context, d *store.Directory, userID string) (string, *passwordRules, error) {
	src, err := c.e.box.Open(d.WriteBack.InitialPassword, WriteBackSecretContext(d.Name))
	if err != nil {
		return "", nil, &permanent{fmt.Errorf("directory %s: its initial password expression: %w", d.Name, err)}
	}
	password, err := expr.Compile(string(src))
	if err != nil {
		return "", nil, &permanent{fmt.Errorf("directory %s: initial password expression: %w", d.Name, err)}
	}
	u, err := c.e.st.GetUser(ctx, userID)
	if err != nil {
		return "", nil, fmt.Errorf("reading user %s for the initial password: %w", userID, err)
	}
	rules, err := c.e.passwordRules(d, u)
	if err != nil {
		return "", nil, err
	}
	v, err := password.Eval(passwordEnv{UserEnv: UserEnv{User: u}, ctx: ctx, rules: rules})
	if err != nil {
		return "", nil, &permanent{fmt.Errorf("the initial password expression of directory %s for user %s: %w", d.Name, userID, err)}
	}
	s, _ := v.AsString()
	if s == "" {
		return "", nil, &permanent{fmt.Errorf("the initial password expression of directory %s gives nothing for user %s", d.Name, userID)}
	}
	if err := rules.check(ctx, s); err != nil {
		return "", nil, err
	}
	return s, rules, nil
}

// recorded notes the entry's id and DN as the hub's own and returns it as
// a SCIM resource.
func (c *dirTarget) recorded(ctx context.Context, r scim.Resource, entry *idsyncv1.Change) (scim.Resource, error) {
	if entry.GetExternalId() == "" {
		return nil, fmt.Errorf("the agent wrote %s but gave no id for it", entry.GetDn())
	}
	if r.ExternalID() != "" {
		rec := &store.DirectoryWrite{AppID: c.app.ID, UserID: r.ExternalID(), DirectoryID: c.dir.ID,
			DNKey: ingest.DNKey(entry.GetDn()), ExternalID: entry.GetExternalId()}
		if err := c.e.st.PutDirectoryWrite(ctx, rec); err != nil {
			return nil, err
		}
	}
	out := scim.Resource{"id": entry.GetExternalId(), "userName": r.UserName(), "externalId": r.ExternalID()}
	if active, ok := r.Active(); ok {
		out["active"] = active
	}
	return out, nil
}

// written returns the app's record of the entry with id, refusing an
// entry the app did not create (or created for another user than userID,
// when given): the hub never changes, disables or deletes an entry the
// directory had.
func (c *dirTarget) written(ctx context.Context, method, id, userID string) (*store.DirectoryWrite, error) {
	rec, err := c.e.st.FindDirectoryWrite(ctx, c.app.ID, id, "")
	if errors.Is(err, store.ErrNotFound) || err == nil && rec.ExternalID != id {
		return nil, &permanent{fmt.Errorf("%s entry %s of directory %s: app %s did not create it, and changes only the entries it created",
			method, id, c.dir.Name, c.app.Name)}
	}
	if err != nil {
		return nil, err
	}
	if userID != "" && rec.UserID != userID {
		return nil, &permanent{fmt.Errorf("%s entry %s of directory %s: app %s created it for user %s, not %s",
			method, id, c.dir.Name, c.app.Name, rec.UserID, userID)}
	}
	return rec, nil
}

// ReplaceUser brings the entry to r: every mapped attribute (an empty one
// removed), the enabled state, the OU that goes with it.
func (c *dirTarget) ReplaceUser(ctx context.Context, id string, r scim.Resource) error {
	if _, err := c.written(ctx, "updating", id, r.ExternalID()); err != nil {
		return err
	}
	active, _ := r.Active()
	attrs := c.ldapAttributes(r)
	// Mapped attributes without a value are cleared in the directory.
	for _, name := range c.managed() {
		if attrValue(attrs, name) == "" && !strings.EqualFold(name, c.rdn()) {
			attrs = append(attrs, &idsyncv1.Attribute{Name: name})
		}
	}
	entry, err := c.call(ctx, "updating entry "+id, &idsyncv1.WriteEntry{
		Action: idsyncv1.WriteAction_WRITE_ACTION_UPDATE, ExternalId: id, Attributes: attrs, Enabled: active})
	if err != nil {
		return err
	}
	_, err = c.recorded(ctx, r, entry)
	return err
}

// PatchUser takes the one partial update a directory takes: active.
func (c *dirTarget) PatchUser(ctx context.Context, id string, ops []scim.PatchOp) error {
	if len(ops) != 1 || !strings.EqualFold(ops[0].Path, "active") {
		return &Refused{Err: fmt.Errorf("directory %s: updating entry %s: a directory takes whole updates, not PATCH", c.dir.Name, id)}
	}
	active, _ := ops[0].Value.(bool)
	return c.setEnabled(ctx, id, active)
}

// DeactivateUser disables the entry.
func (c *dirTarget) DeactivateUser(ctx context.Context, id string) error {
	return c.setEnabled(ctx, id, false)
}

// setEnabled enables or disables the entry (and moves it to the OU that
// goes with it), its attributes as they are.
func (c *dirTarget) setEnabled(ctx context.Context, id string, enabled bool) error {
	if _, err := c.written(ctx, "enabling or disabling", id, ""); err != nil {
		return err
	}
	_, err := c.call(ctx, "enabling or disabling entry "+id, &idsyncv1.WriteEntry{
		Action: idsyncv1.WriteAction_WRITE_ACTION_UPDATE, ExternalId: id, Enabled: enabled})
	return err
}

// DeleteUser deletes the entry, and with it the record that it was the
// app's.
func (c *dirTarget) DeleteUser(ctx context.Context, id string) error {
	rec, err := c.written(ctx, "deleting", id, "")
	if err != nil {
		return err
	}
	_, err = c.call(ctx, "deleting entry "+id, &idsyncv1.WriteEntry{
		Action: idsyncv1.WriteAction_WRITE_ACTION_DELETE, ExternalId: id})
	if err != nil && !is[*NotFound](err) {
		return err
	}
	if derr := c.e.st.DeleteDirectoryWrite(ctx, c.app.ID, rec.UserID); derr != nil {
		return errors.Join(err, derr)
	}
	return err
}

// FindUsers answers the two lookups the queue makes: by userName (the
// entry's login attribute) and by externalId (which a directory does not
// hold: nothing).
func (c *dirTarget) FindUsers(ctx context.Context, attribute, value string) ([]scim.Resource, error) {
	if !strings.EqualFold(attribute, "userName") {
		return nil, nil
	}
	attr, v := c.loginOf(value)
	entry, err := c.call(ctx, "looking up "+attr+"="+v, &idsyncv1.WriteEntry{
		Action: idsyncv1.WriteAction_WRITE_ACTION_READ, LookupAttribute: attr, LookupValue: v})
	if is[*NotFound](err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	// Whose entry it is: the hub user this app wrote it for, by its id or
	// the DN of this app's create in flight (when the hub does not hold
	// the entry as one of the directory's own users). An entry the
	// directory had, or another app wrote, is nobody's here, and is never
	// adopted (findByUserName refuses another externalId).
	owner := notWritten
	rec, err := c.e.st.FindDirectoryWrite(ctx, c.app.ID, entry.GetExternalId(), ingest.DNKey(entry.GetDn()))
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return nil, err
	case rec.ExternalID == entry.GetExternalId():
		owner = rec.UserID
	default:
		known, err := c.directoryUser(ctx, entry)
		if err != nil {
			return nil, err
		}
		if !known {
			owner = rec.UserID
		}
	}
	o, ee := ingest.NewMapper(c.dir).Map(entry)
	active := ee == nil && o.Status == store.StatusActive
	return []scim.Resource{{"id": entry.GetExternalId(), "userName": value, "externalId": owner, "active": active}}, nil
}

// directoryUser reports whether the hub holds entry as a user of the
// directory (read from it, not written by the hub).
func (c *dirTarget) directoryUser(ctx context.Context, entry *idsyncv1.Change) (bool, error) {
	users, err := c.e.st.FindUsers(ctx, c.dir.ID, usernameOf(c.dir, entry))
	if err != nil {
		return false, err
	}
	return slices.ContainsFunc(users, func(u *store.User) bool { return u.ExternalID == entry.GetExternalId() }), nil
}

// usernameOf is the username the directory's mapping gives entry.
func usernameOf(d *store.Directory, entry *idsyncv1.Change) string {
	o, ee := ingest.NewMapper(d).Map(entry)
	if ee != nil {
		return ""
	}
	return o.Profile.Username
}

// notWritten is the externalId of an entry the hub did not write.
const notWritten = "(not written by idsync)"

// errNotForDirectories refuses what a directory target does not do.
func errNotForDirectories(what string) error {
	return &permanent{fmt.Errorf("%s: not done for a directory target", what)}
}

// ListUsers is not offered: a directory target is reconciled by its
// accounts, one by one (see reconcile).
func (c *dirTarget) ListUsers(context.Context, func(scim.Resource) error) error {
	return errNotForDirectories("listing every account")
}

func (c *dirTarget) CreateGroup(context.Context, scim.Resource) (scim.Resource, error) {
	return nil, errNotForDirectories("pushing groups")
}

func (c *dirTarget) FindGroups(context.Context, string) ([]scim.Resource, error) {
	return nil, errNotForDirectories("pushing groups")
}

func (c *dirTarget) GetGroup(context.Context, string) (scim.Resource, error) {
	return nil, errNotForDirectories("pushing groups")
}

func (c *dirTarget) RenameGroup(context.Context, string, string) error {
	return errNotForDirectories("pushing groups")
}

func (c *dirTarget) ReplaceGroup(context.Context, string, scim.Resource) error {
	return errNotForDirectories("pushing groups")
}

func (c *dirTarget) DeleteGroup(context.Context, string) error {
	return errNotForDirectories("pushing groups")
}

func (c *dirTarget) PatchGroupMembers(context.Context, string, []string, []string) error {
	return errNotForDirectories("pushing groups")
}

// loginOf is the attribute and value a userName is found by.
func (c *dirTarget) loginOf(userName string) (string, string) {
	if c.dir.Kind == store.KindAD {
		return "sAMAccountName", samAccountName(userName)
	}
	return "uid", localPart(userName)
}

func localPart(s string) string {
	if i := strings.LastIndexByte(s, '@'); i > 0 {
		return s[:i]
	}
	return s
}

// samAccountName is the pre-Windows 2000 logon name of a userName: the
// part before @, at most 20 characters (AD's limit).
func samAccountName(userName string) string {
	s := localPart(userName)
	if len(s) > 20 {
		s = s[:20]
	}
	return s
}

// adDomain is the DNS domain of a DN's DC= parts: DC=corp,DC=example →
// corp.example.
func adDomain(dn string) string {
	parsed, err := ldap.ParseDN(dn)
	if err != nil {
		return ""
	}
	var parts []string
	for _, rdn := range parsed.RDNs {
		for _, at := range rdn.Attributes {
			if strings.EqualFold(at.Type, "dc") {
				parts = append(parts, at.Value)
			}
		}
	}
	return strings.Join(parts, ".")
}

// ldapAttributes turns the SCIM User the mapping rendered into the entry's
// attributes, by the kind's table:
//
//	SCIM                      AD                   OpenLDAP
//	userName                  sAMAccountName (before @, ≤ 20),
//	                          userPrincipalName    uid (before @)
//	displayName, else the     cn                   cn
//	  given and family name
//	name.givenName            givenName            givenName
//	name.familyName           sn                   sn (else userName)
//	displayName               displayName          displayName
//	emails (primary)          mail                 mail
//	title                     title                title
//	enterprise department     department           departmentNumber
//	enterprise employeeNumber employeeID           employeeNumber
//
// and every attribute mapped under LDAPSchema by its own name.
func (c *dirTarget) ldapAttributes(r scim.Resource) []*idsyncv1.Attribute {
	str := func(path string) string {
		s, _ := r.Get(path).(string)
		return strings.TrimSpace(s)
	}
	given, family, display := str("name.givenName"), str("name.familyName"), str("displayName")
	cn := display
	if cn == "" {
		cn = strings.TrimSpace(given + " " + family)
	}
	if cn == "" {
		cn = r.UserName()
	}
	ad := c.dir.Kind == store.KindAD
	var set []*idsyncv1.Attribute
	add := func(name, v string) {
		if v != "" {
			set = append(set, &idsyncv1.Attribute{Name: name, Values: []string{v}})
		}
	}
	if ad {
		add("sAMAccountName", samAccountName(r.UserName()))
		upn := r.UserName()
		if !strings.Contains(upn, "@") {
			if dom := adDomain(c.dir.BaseDN); dom != "" {
				upn += "@" + dom
			}
		}
		add("userPrincipalName", upn)
		add("department", str(scim.EnterpriseUserSchema+":department"))
		add("employeeID", str(scim.EnterpriseUserSchema+":employeeNumber"))
	} else {
		add("uid", localPart(r.UserName()))
		add("departmentNumber", str(scim.EnterpriseUserSchema+":department"))
		add("employeeNumber", str(scim.EnterpriseUserSchema+":employeeNumber"))
		if family == "" {
			family = r.UserName() // sn is required by person
		}
	}
	add("cn", cn)
	add("givenName", given)
	add("sn", family)
	add("displayName", display)
	add("mail", primaryEmail(r))
	add("title", str("title"))
	if ext, ok := r[LDAPSchema].(map[string]any); ok {
		for name, v := range ext {
			if s, ok := v.(string); ok {
				add(name, s)
			}
		}
	}
	return set
}

// managed names the attributes ldapAttributes may set: the ones an
// update clears when the mapping gives them no value.
func (c *dirTarget) managed() []string {
	common := []string{"givenName", "sn", "displayName", "mail", "title"}
	if c.dir.Kind == store.KindAD {
		return append(common, "department", "employeeID")
	}
	return append(common, "departmentNumber", "employeeNumber")
}

func attrValue(attrs []*idsyncv1.Attribute, name string) string {
	for _, a := range attrs {
		if strings.EqualFold(a.GetName(), name) && len(a.GetValues()) > 0 {
			return a.GetValues()[0]
		}
	}
	return ""
}

// testDirectory checks a directory target: the directory exists and is
// writable in kind, and an agent that writes is online here; it reads
// one entry by the login attribute, as the pushes look accounts up.
func (e *Engine) testDirectory(ctx context.Context, a *store.App) (*TestReport, error) {
	c, err := e.dirTarget(ctx, a)
	if err != nil {
		return nil, err
	}
	rep := &TestReport{Config: &scim.ServiceProviderConfig{}}
	if !e.opts.Directories.Serves(c.dir.Name, idsyncv1.CapabilityWrite) {
		rep.Problems = append(rep.Problems, fmt.Sprintf("no agent of directory %s that writes is connected to this hub: pushes wait for one", c.dir.Name))
		return rep, nil
	}
	attr, _ := c.loginOf("")
	rep.FilterUsed = attr + "=idsync-test-lookup"
	found, err := c.FindUsers(ctx, "userName", "idsync-test-lookup")
	if err != nil {
		return nil, fmt.Errorf("reading directory %s through its agent: %w", c.dir.Name, err)
	}
	rep.UsersFound = len(found)
	return rep, nil
}

// passwordRefused is the directory refusing the password a write set (its
// own password policy); the create that carried it names the policies.
type passwordRefused struct{ err error }

func (p *passwordRefused) Error() string { return p.err.Error() }
func (p *passwordRefused) Unwrap() error { return p.err }
