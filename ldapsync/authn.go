package ldapsync

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/go-ldap/ldap/v3"

	"github.com/idsync/idsync/internal/ldapwire"
)

// AuthReason says why a sign-in failed — for the audit trail only; callers
// answer every failure alike.
type AuthReason string

// The reasons a sign-in fails.
const (
	AuthUnknownUser   AuthReason = "unknown user"
	AuthAmbiguous     AuthReason = "more than one entry matches"
	AuthWrongPassword AuthReason = "wrong password"
	AuthDisabled      AuthReason = "account disabled"
	AuthLocked        AuthReason = "account locked"
	AuthExpired       AuthReason = "account or password expired"
	AuthEmptyPassword AuthReason = "empty username or password"
	AuthRefused       AuthReason = "the server refused the bind" // other invalid-credentials answers
)

// AuthError is a refused sign-in (errors.As). It never holds the password.
type AuthError struct {
	Reason AuthReason
	// DN is the user's entry, when one was found.
	DN string
	// ExternalID is that entry's objectGUID or entryUUID, when one was
	// found: the hub limits sign-ins per entry as well as per spelling.
	ExternalID string
}

// Error says the sign-in was refused, why, and as whom when known.
func (e *AuthError) Error() string {
	if e.DN == "" {
		return "sign-in refused: " + string(e.Reason)
	}
	return fmt.Sprintf("sign-in as %q refused: %s", e.DN, e.Reason)
}

// DefaultLoginAttributes returns the attributes a username is looked up in
// when Authenticate is given none: sAMAccountName and userPrincipalName on
// AD, uid and mail on OpenLDAP.
func DefaultLoginAttributes(k Kind) []string {
	switch k {
	case KindAD:
		return []string{"sAMAccountName", "userPrincipalName"}
	case KindOpenLDAP:
		return []string{"uid", "mail"}
	}
	return nil
}

// The attributes Authenticate reads to refuse accounts the server itself
// may let bind: AD's userAccountControl (uacAccountDisable) and the
// password policy overlay's lock and must-change flag (operational, so
// asked for by name).
const (
	adAccountControl = "useraccountcontrol"
	pwdLockedTime    = "pwdaccountlockedtime"
	pwdReset         = "pwdreset"
)

// stateAttributes are the account-state attributes Authenticate reads for
// each kind of directory.
var stateAttributes = map[Kind][]string{
	KindAD:       {adAccountControl},
	KindOpenLDAP: {pwdLockedTime, pwdReset},
}

// noSuchUserRDN names the entry an unknown user's password is tried
// against, so that an unknown user costs about what a wrong password does.
const noSuchUserRDN = "cn=idsync-no-such-user"

// adDataCode finds AD's reason code in a bind diagnostic
// ("80090308: LdapErr: …, comment: AcceptSecurityContext error, data 52e, v…").
var adDataCode = regexp.MustCompile(`\bdata ([0-9a-fA-F]+)\b`)

// adBindReasons maps AD's bind reason codes to reasons.
var adBindReasons = map[string]AuthReason{
	"52e": AuthWrongPassword,
	"525": AuthUnknownUser,
	"530": AuthRefused, // not permitted to log on at this time
	"531": AuthRefused, // not permitted to log on at this workstation
	"532": AuthExpired, // password expired
	"701": AuthExpired, // account expired
	"773": AuthExpired, // the password must be reset
	"533": AuthDisabled,
	"775": AuthLocked,
}

// Authenticate finds the one user entry (spec.UserFilter under spec.BaseDN,
// subtree) whose login attribute (any of login, or
// DefaultLoginAttributes(spec.Kind) when empty) equals username, binds as
// that entry's DN with password on a new connection dialled with cfg's URL
// and TLS settings (cfg.BindDN and BindPassword, the service account's, are
// not used for it), and returns the entry as read through c, normalised as
// FullImport reads it. A refused sign-in is an *AuthError; anything else
// (server down, TLS, bad spec, an unreadable entry) is another error, which
// names the server and never the password.
func Authenticate(ctx context.Context, c *Conn, cfg Config, spec Spec, login []string, username, password string) (Change, error) {
	spec, err := spec.withDefaults()
	if err != nil {
		return Change{}, err
	}
	if len(login) == 0 {
		login = DefaultLoginAttributes(spec.Kind)
	}
	for _, a := range login {
		if !validAttrName(a) {
			return Change{}, fmt.Errorf("login attribute %q is not an attribute name", a)
		}
	}
	// An empty password would be an unauthenticated bind, which servers
	// accept for any DN.
	if username == "" || password == "" {
		return Change{}, &AuthError{Reason: AuthEmptyPassword}
	}

	found, err := findUser(ctx, c, spec, login, username)
	if err != nil {
		return Change{}, redact(err, password)
	}
	if len(found) != 1 {
		// Spend a bind on a DN that does not exist, as a wrong password
		// would, so that timing does not tell unknown or ambiguous users
		// from known ones.
		if _, _, err := bind(ctx, cfg, noSuchUserRDN+","+spec.BaseDN, password); err != nil {
			return Change{}, redact(err, password)
		}
		if len(found) == 0 {
			return Change{}, &AuthError{Reason: AuthUnknownUser}
		}
		return Change{}, &AuthError{Reason: AuthAmbiguous}
	}
	u := found[0]

	refused, diag, err := bind(ctx, cfg, u.DN, password)
	if err != nil {
		return Change{}, redact(err, password)
	}
	if reason := refusal(spec.Kind, u, refused, diag); reason != "" {
		return Change{}, &AuthError{Reason: reason, DN: u.DN, ExternalID: u.externalID()}
	}
	ch, err := u.complete(ctx)
	if err != nil {
		return Change{}, redact(err, password)
	}
	return ch, nil
}

// foundUser is a user entry found by Authenticate's search.
type foundUser struct {
	DN     string
	imp    *importer
	change Change
	ranges []pendingRange
	// problem is why the entry cannot be normalised, reported only once
	// the password has been checked.
	problem *EntryError
	// state holds the values of the account-state attributes (lower-case
	// names), which are removed from change unless requested.
	state map[string][]string
}

// findUser reads the entries whose login attributes equal username: at
// most two, enough to tell one from several.
func findUser(ctx context.Context, c *Conn, spec Spec, login []string, username string) ([]foundUser, error) {
	var f strings.Builder
	f.WriteString("(&" + spec.UserFilter + "(|")
	for _, a := range login {
		f.WriteString("(" + a + "=" + ldap.EscapeFilter(username) + ")")
	}
	f.WriteString("))")

	// The state attributes are read whether or not requested, and
	// reported only when requested.
	var unrequested []string
	attrs := slices.Clip(spec.UserAttributes)
	for _, sa := range stateAttributes[spec.Kind] {
		if !slices.ContainsFunc(spec.UserAttributes, func(a string) bool { return strings.EqualFold(a, sa) }) {
			unrequested = append(unrequested, sa)
			attrs = append(attrs, sa)
		}
	}

	imp := newImporter(c, spec, nil)
	var found []foundUser
	_, err := c.searchUpToTwo(ctx, spec.BaseDN, ldapwire.ScopeWholeSubtree, f.String(), spec.requestAttributes(attrs), func(e *ldapwire.Entry) error {
		ch, ranges, problem := imp.normalize(ObjectUser, e)
		u := foundUser{DN: string(e.DN), imp: imp, change: ch, ranges: ranges, problem: problem, state: map[string][]string{}}
		if problem == nil {
			u.change.Attributes = slices.DeleteFunc(u.change.Attributes, func(a Attribute) bool {
				if !slices.Contains(stateAttributes[spec.Kind], a.Name) {
					return false
				}
				u.state[a.Name] = a.Values
				return slices.Contains(unrequested, a.Name)
			})
		}
		found = append(found, u)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("looking up the user: %w", err)
	}
	return found, nil
}

// externalID is the entry's objectGUID or entryUUID, read even when the
// entry cannot be normalised.
func (u foundUser) externalID() string {
	if u.problem != nil {
		return u.problem.ExternalID
	}
	return u.change.ExternalID
}

// refusal returns why user u, whose bind passed or was refused with the
// server's diagnostic diag, may not sign in, or "" when the sign-in stands.
func refusal(k Kind, u foundUser, refused bool, diag string) AuthReason {
	if k == KindAD {
		if refused {
			m := adDataCode.FindStringSubmatch(diag)
			if m == nil {
				return AuthRefused
			}
			if r, ok := adBindReasons[strings.ToLower(m[1])]; ok {
				return r
			}
			return AuthRefused
		}
		// Some servers (Samba among them, for some paths) let a disabled
		// account bind; AD's own answer is data 533.
		for _, v := range u.state[adAccountControl] {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil && n&uacAccountDisable != 0 {
				return AuthDisabled
			}
		}
		return ""
	}
	// A lock is a lock whether or not a password policy overlay enforced
	// it on the bind.
	if len(u.state[pwdLockedTime]) > 0 {
		return AuthLocked
	}
	if refused {
		return AuthWrongPassword
	}
	// ppolicy lets an account that must change its password bind (to
	// change it), and nothing else: no sign-in until it is changed.
	if slices.ContainsFunc(u.state[pwdReset], func(v string) bool { return strings.EqualFold(v, "TRUE") }) {
		return AuthExpired
	}
	return ""
}

// complete returns the user's Change, reading the rest of any ranged
// attribute, or an error when the entry cannot be normalised.
func (u foundUser) complete(ctx context.Context) (Change, error) {
	if u.problem != nil {
		return Change{}, fmt.Errorf("reading the user: %w", *u.problem)
	}
	ch := u.change
	if len(u.ranges) > 0 {
		eerr, err := u.imp.completeRanges(ctx, &ch, u.ranges)
		if err != nil {
			return Change{}, err
		}
		if eerr != nil {
			return Change{}, fmt.Errorf("reading the user: %w", *eerr)
		}
	}
	sortAttributes(ch.Attributes)
	return ch, nil
}

// bind binds as dn with password on a new connection made with cfg's URL
// and TLS settings, and closes it. An invalid-credentials answer is not an
// error: bind reports it as refused, with the server's diagnostic.
func bind(ctx context.Context, cfg Config, dn, password string) (refused bool, diag string, err error) {
	cfg.BindDN, cfg.BindPassword = "", ""
	conn, err := Dial(ctx, cfg)
	if err != nil {
		return false, "", err
	}
	defer conn.Close()
	l, ok := conn.ldap.(*ldap.Conn)
	if !ok {
		return false, "", fmt.Errorf("binding to %s: the connection cannot bind", cfg.URL)
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// go-ldap's Bind takes no ctx: closing the connection interrupts it.
	stop := context.AfterFunc(ctx, func() { l.Close() })
	defer stop()
	err = l.Bind(dn, password)
	var lerr *ldap.Error
	switch {
	case err == nil:
		return false, "", nil
	case ctx.Err() != nil:
		err = ctx.Err()
	case errors.As(err, &lerr) && lerr.ResultCode == ldap.LDAPResultInvalidCredentials:
		if lerr.Err != nil {
			diag = lerr.Err.Error()
		}
		return true, diag, nil
	}
	return false, "", fmt.Errorf("binding to %s as %q: %w", cfg.URL, dn, err)
}
