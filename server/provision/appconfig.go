package provision

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/idsync/idsync/server/scim"
	"github.com/idsync/idsync/server/store"
)

// An app's settings: defaults and validation, the same for every door
// (idsyncctl, gRPC, the console).

// Settings limits and defaults.
const (
	defaultConcurrency = 4
	maxConcurrency     = 64
)

// appName is the form of an app's name, as a directory's.
var appName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// ApplyAppDefaults fills the settings left empty.
func ApplyAppDefaults(a *store.App) {
	if a.Concurrency == 0 {
		a.Concurrency = defaultConcurrency
	}
	switch strings.ToLower(a.MatchBy) {
	case "", "username":
		a.MatchBy = "userName"
	case "email":
		a.MatchBy = "email"
	}
	if a.UpdateMode == "auto" {
		a.UpdateMode = ""
	}
	if a.Target != nil {
		// A directory takes whole updates; the agent writes what differs.
		a.UpdateMode = "put"
	}
	if len(a.Mapping) == 0 {
		a.Mapping = DefaultMapping()
		if a.Target != nil {
			a.Mapping = DirectoryDefaultMapping()
		}
	}
}

// ValidateApp checks an app's settings after ApplyAppDefaults; hasSecret
// says whether it has (or is given) a secret. Errors name the field.
func ValidateApp(a *store.App, hasSecret bool) error {
	if !appName.MatchString(a.Name) {
		return fmt.Errorf("name %q: use 1-63 lower-case letters, digits and dashes, starting with a letter or digit", a.Name)
	}
	if a.Target != nil {
		if err := validateTarget(a); err != nil {
			return err
		}
	} else if err := ValidateSCIM(a, hasSecret); err != nil {
		return err
	}
	switch a.UpdateMode {
	case "", "patch", "put":
	default:
		return fmt.Errorf("update_mode %q: must be patch, put, or empty to follow the app", a.UpdateMode)
	}
	if math.IsNaN(a.RateLimit) || math.IsInf(a.RateLimit, 0) || a.RateLimit < 0 {
		return fmt.Errorf("rate_limit %v: must be 0 (unlimited) or more", a.RateLimit)
	}
	if a.Concurrency < 1 || a.Concurrency > maxConcurrency {
		return fmt.Errorf("concurrency %d: must be between 1 and %d", a.Concurrency, maxConcurrency)
	}
	if a.MatchBy != "userName" && a.MatchBy != "email" {
		return fmt.Errorf("match_by %q: must be userName or email", a.MatchBy)
	}
	if a.ReconcileInterval > 0 && a.ReconcileInterval < time.Minute {
		return fmt.Errorf("reconcile_interval_seconds %d: must be at least 60 (or never)", a.ReconcileInterval/time.Second)
	}
	if _, err := CompileMapping(a.Mapping); err != nil {
		return err // it names the rule
	}
	return nil
}

// validateTarget checks the settings of an app that is a directory.
func validateTarget(a *store.App) error {
	t := a.Target
	if t.Directory == "" {
		return errors.New("directory_target.directory: required")
	}
	for _, f := range []struct{ name, dn string }{{"parent_dn", t.ParentDN}, {"disabled_parent_dn", t.DisabledParentDN},
		{"disable_group_dn", t.DisableGroupDN}} {
		if f.dn == "" && f.name != "parent_dn" {
			continue
		}
		if _, err := ldap.ParseDN(f.dn); err != nil || f.dn == "" {
			return fmt.Errorf("directory_target.%s %q: not a DN", f.name, f.dn)
		}
	}
	if t.DisableAttribute != "" {
		if name, value, ok := strings.Cut(t.DisableAttribute, "="); !ok || name == "" || value == "" {
			return fmt.Errorf("directory_target.disable_attribute %q: want attribute=value", t.DisableAttribute)
		}
	}
	if a.PushGroups {
		return errors.New("push_groups: a directory target takes users only")
	}
	return nil
}

// ValidateSCIM checks the SCIM URL and the credentials of an app.
func ValidateSCIM(a *store.App, hasSecret bool) error {
	if err := httpURL("scim_url", a.SCIMURL); err != nil {
		return err
	}
	switch a.AuthKind {
	case string(scim.AuthBearer):
		if !hasSecret {
			return errors.New("secret: bearer auth needs the token")
		}
	case string(scim.AuthBasic):
		if a.Username == "" {
			return errors.New("username: required by basic auth")
		}
		if !hasSecret {
			return errors.New("secret: basic auth needs the password")
		}
	case string(scim.AuthOAuth2):
		if a.Username == "" {
			return errors.New("username: OAuth2 needs the client id")
		}
		if err := httpURL("token_url", a.TokenURL); err != nil {
			return err
		}
		if !hasSecret {
			return errors.New("secret: OAuth2 needs the client secret")
		}
	default:
		return errors.New("auth: required (bearer, basic or oauth2)")
	}
	return nil
}

// httpURL checks that v is an absolute http(s) URL without credentials.
func httpURL(field, v string) error {
	if v == "" {
		return fmt.Errorf("%s: required", field)
	}
	u, err := url.Parse(v)
	switch {
	case err != nil:
		return fmt.Errorf("%s %q: %v", field, v, err)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("%s %q: must be an http:// or https:// URL", field, v)
	case u.Host == "":
		return fmt.Errorf("%s %q: no host", field, v)
	case u.User != nil:
		// A URL is shown and logged; credentials go in the secret.
		return fmt.Errorf("%s: must not carry credentials (give them as the secret)", field)
	}
	return nil
}

// SecretBoundTo says why an app's stored secret may not serve it after an
// update ("" when it may): it was given for one endpoint and one kind of
// authentication, and goes nowhere else.
func SecretBoundTo(before, after *store.App) string {
	switch {
	case before.Target != nil && after.Target == nil:
		return "a directory target became a SCIM app"
	case before.AuthKind != after.AuthKind:
		return fmt.Sprintf("auth changed from %s to %s", before.AuthKind, after.AuthKind)
	case origin(before.SCIMURL) != origin(after.SCIMURL):
		return fmt.Sprintf("scim_url moved from %s to %s", origin(before.SCIMURL), origin(after.SCIMURL))
	case before.TokenURL != after.TokenURL:
		return "token_url changed"
	}
	return ""
}

// origin is a URL's scheme and host (with the port): where a secret goes.
func origin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	return strings.ToLower(u.Scheme + "://" + u.Host)
}
