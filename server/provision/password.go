package provision

import (
	"context"
	"fmt"

	"github.com/idsync/idsync/server/passwords"
	"github.com/idsync/idsync/server/provision/expr"
	"github.com/idsync/idsync/server/store"
)

// NormalizePasswordPolicy checks a directory's password policy and writes
// it in its canonical form: only directories the hub sets passwords in
// (ad, openldap) have one. Errors name the field and the rule.
func NormalizePasswordPolicy(d *store.Directory) error {
	if d.PasswordPolicy == "" {
		return nil
	}
	if d.Kind != store.KindAD && d.Kind != store.KindOpenLDAP {
		return fmt.Errorf("password_policy: directory %s is of kind %s; the hub sets passwords only in ad and openldap directories",
			d.Name, d.Kind)
	}
	p, err := passwords.Parse(d.PasswordPolicy)
	if err != nil {
		return fmt.Errorf("password_policy: %w", err)
	}
	d.PasswordPolicy = p.String()
	return nil
}

// passwordRules are a directory's password policy applied to one user:
// what every password the hub sets for the user there passes, and what
// random() in the directory's initial password expression draws from.
type passwordRules struct {
	st      Store
	dir     *store.Directory
	policy  passwords.Policy
	subject passwords.Subject
	userID  string
}

func (e *Engine) passwordRules(d *store.Directory, u *store.User) (*passwordRules, error) {
	p, err := passwords.Parse(d.PasswordPolicy)
	if err != nil {
		return nil, &permanent{fmt.Errorf("directory %s: its password policy: %w", d.Name, err)}
	}
	return &passwordRules{st: e.st, dir: d, policy: p, subject: passwords.Subject{Username: u.Username}, userID: u.ID}, nil
}

// reused reports whether the hub set password for the user before.
func (r *passwordRules) reused(ctx context.Context) passwords.Reused {
	return func(password string) (bool, error) {
		ds, err := r.st.PasswordDigests(ctx, r.dir.ID, r.userID)
		if err != nil {
			return false, err
		}
		for _, d := range ds {
			if (passwords.Digest{Salt: d.Salt, Sum: d.Sum}).Matches(password) {
				return true, nil
			}
		}
		return false, nil
	}
}

// check refuses a password that breaks the policy, for good: the same
// expression gives the same password again. The error names the rule and
// the policy, never the password.
func (r *passwordRules) check(ctx context.Context, password string) error {
	err := r.policy.Check(password, r.subject, r.reused(ctx))
	if err == nil {
		return nil
	}
	if _, ok := err.(*passwords.Violation); ok {
		return &permanent{fmt.Errorf("directory %s: the initial password for %s breaks the directory's password policy (%s): %w; "+
			"nothing was sent: a super-admin changes the expression (random() draws one that passes) with "+
			"`idsyncctl directory update %s --initial-password-file FILE`", r.dir.Name, r.subject.Username, r.policy, err, r.dir.Name)}
	}
	return err
}

// remember records the digest of a password the hub set, for not-reused.
func (r *passwordRules) remember(ctx context.Context, password string) error {
	if !r.policy.NotReused {
		return nil
	}
	d, err := passwords.NewDigest(password)
	if err != nil {
		return err
	}
	return r.st.AddPasswordDigest(ctx, r.dir.ID, r.userID, store.PasswordDigest{Salt: d.Salt, Sum: d.Sum})
}

// passwordEnv is the environment of a directory's initial password
// expression: the user's fields, and random() drawing from the policy.
type passwordEnv struct {
	UserEnv
	ctx   context.Context
	rules *passwordRules
}

var _ expr.Randomizer = passwordEnv{}

func (e passwordEnv) Random(length int) (string, error) {
	return e.rules.policy.Generate(length, e.rules.subject, e.rules.reused(e.ctx))
}
