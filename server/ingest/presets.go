package ingest

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/idsync/idsync/server/store"
)

// Defaults for the safeguard against mass deprovisioning.
const (
	DefaultSafeguardPercent = 20
	DefaultSafeguardMax     = 500
)

// Preset is what a directory kind starts with.
type Preset struct {
	UserFilter  string
	GroupFilter string
	Mapping     store.Mapping
	// StatusAttributes are read for users to tell active from suspended.
	StatusAttributes []string
	// Capture describes how changes are found, for `directory show`.
	Capture string
}

// Presets per directory kind. OpenLDAP: inetOrgPerson users in
// groupOfNames, groupOfUniqueNames or posixGroup groups. AD: person users and
// groups, with AD's attribute names.
var presets = map[store.DirectoryKind]Preset{
	// A SCIM source writes to the hub; nothing is read or swept.
	store.KindSCIM: {
		Mapping: store.Mapping{Username: "userName", Email: "emails", GivenName: "name.givenName",
			FamilyName: "name.familyName", DisplayName: "displayName", EmployeeNumber: "employeeNumber",
			Department: "department", Title: "title", Manager: "manager", GroupName: "displayName"},
		Capture: "an upstream source: it writes users and groups to the hub's /scim/v2/ endpoint",
	},
	// A local directory is the hub's own: admins make its users and
	// groups (server/people); nothing is read or swept.
	store.KindLocal: {
		Capture: "mastered by the hub: admins create, change and delete its users and groups",
	},
	// A csv directory is a file of users that the hub is sent (an HR
	// export); its mapping names columns, and nothing is read by agents.
	store.KindCSV: {
		Capture: "a file of users (a CSV export): imported when it is sent (idsyncctl import start --file, or an agent's watched folder)",
	},
	store.KindOpenLDAP: {
		UserFilter:  "(objectClass=inetOrgPerson)",
		GroupFilter: "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames)(objectClass=posixGroup))",
		Mapping: store.Mapping{
			Username:         "uid",
			Email:            "mail",
			GivenName:        "givenName",
			FamilyName:       "sn",
			DisplayName:      "displayName|cn",
			EmployeeNumber:   "employeeNumber",
			Department:       "departmentNumber|ou",
			Title:            "title",
			Manager:          "manager",
			GroupName:        "cn",
			GroupDescription: "description",
			GroupMembers:     []string{"member", "uniqueMember", "memberUid"},
		},
		// ppolicy's lock: any value means the account is locked.
		StatusAttributes: []string{"pwdAccountLockedTime"},
		Capture:          "syncrepl where the server offers it, else persistent search, else polling by modifyTimestamp",
	},
	store.KindAD: {
		UserFilter:  "(&(objectCategory=person)(objectClass=user))",
		GroupFilter: "(objectClass=group)",
		Mapping: store.Mapping{
			Username:         "sAMAccountName",
			Email:            "mail|userPrincipalName",
			GivenName:        "givenName",
			FamilyName:       "sn",
			DisplayName:      "displayName|cn",
			EmployeeNumber:   "employeeID|employeeNumber",
			Department:       "department|departmentNumber",
			Title:            "title",
			Manager:          "manager",
			GroupName:        "cn",
			GroupDescription: "description",
			GroupMembers:     []string{"member"},
			Extra:            []string{"userPrincipalName"},
		},
		// userAccountControl bit 2 (ACCOUNTDISABLE) means suspended.
		StatusAttributes: []string{"userAccountControl"},
		Capture:          "DirSync woken by change notification",
	},
}

// PresetFor returns the preset of a kind.
func PresetFor(kind store.DirectoryKind) (Preset, bool) {
	p, ok := presets[kind]
	return p, ok
}

// ReadByAgents says whether directories of a kind are read by agents (AD,
// OpenLDAP), rather than written by a source or by the hub itself.
func ReadByAgents(kind store.DirectoryKind) bool {
	return kind == store.KindAD || kind == store.KindOpenLDAP
}

// ApplyPreset fills the empty settings of d from its kind's preset.
func ApplyPreset(d *store.Directory) {
	p, ok := presets[d.Kind]
	if !ok {
		return
	}
	if d.UserFilter == "" {
		d.UserFilter = p.UserFilter
	}
	if d.GroupFilter == "" {
		d.GroupFilter = p.GroupFilter
	}
	m, pm := &d.Mapping, p.Mapping
	for _, f := range []struct {
		dst *string
		src string
	}{
		{&m.Username, pm.Username}, {&m.Email, pm.Email}, {&m.GivenName, pm.GivenName},
		{&m.FamilyName, pm.FamilyName}, {&m.DisplayName, pm.DisplayName},
		{&m.EmployeeNumber, pm.EmployeeNumber}, {&m.Department, pm.Department},
		{&m.Title, pm.Title}, {&m.Manager, pm.Manager}, {&m.GroupName, pm.GroupName},
		{&m.GroupDescription, pm.GroupDescription},
	} {
		if *f.dst == "" {
			*f.dst = f.src
		}
	}
	if len(m.GroupMembers) == 0 {
		m.GroupMembers = append([]string(nil), pm.GroupMembers...)
	}
	if m.Extra == nil {
		m.Extra = append([]string(nil), pm.Extra...)
	}
	if d.SafeguardPercent == 0 {
		d.SafeguardPercent = DefaultSafeguardPercent
	}
	if d.SafeguardMax == 0 {
		d.SafeguardMax = DefaultSafeguardMax
	}
	if d.Kind == store.KindCSV && d.CSV == nil {
		d.CSV = &store.CSVLayout{}
	}
	if !ReadByAgents(d.Kind) {
		// No agent reads a SCIM source or a local directory: no capture,
		// no full imports.
		d.CaptureStrategy, d.FullImportInterval = CaptureOff, -1
	}
}

var (
	directoryName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	// An attribute description, optionally "a|b" for "a, else b".
	attrList = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]*(\|[A-Za-z][A-Za-z0-9-]*)*$`)
)

// MaxRetention bounds how long a directory keeps deprovisioned users.
const MaxRetention = 3650 * 24 * time.Hour

// ValidateDirectory checks a directory's settings after ApplyPreset. Errors
// name the setting.
func ValidateDirectory(d *store.Directory) error {
	if !directoryName.MatchString(d.Name) {
		return fmt.Errorf("name %q: use 1-63 lower-case letters, digits and dashes, starting with a letter or digit", d.Name)
	}
	if _, ok := presets[d.Kind]; !ok {
		return fmt.Errorf("kind %q: must be openldap, ad, scim, local or csv", d.Kind)
	}
	if d.Retention < 0 || d.Retention > MaxRetention {
		return fmt.Errorf("retention: at most %d days", MaxRetention/(24*time.Hour))
	}
	if d.Kind == store.KindLocal && len(d.Mastered) > 0 {
		return fmt.Errorf("mastered fields %s: a local directory's users are the hub's, every field of them", strings.Join(d.Mastered, ", "))
	}
	for _, f := range d.Mastered {
		if !slices.Contains(store.ProfileFields, f) {
			return fmt.Errorf("mastered field %q: must be one of %s", f, strings.Join(store.ProfileFields, ", "))
		}
	}
	if d.CSV != nil && d.Kind != store.KindCSV {
		return fmt.Errorf("csv layout: only a csv directory has one, not a %s directory", d.Kind)
	}
	if !ReadByAgents(d.Kind) {
		if d.BaseDN != "" || d.UserFilter != "" || d.GroupFilter != "" {
			what := "a scim source"
			switch d.Kind {
			case store.KindLocal:
				what = "a local directory"
			case store.KindCSV:
				what = "a csv directory"
			}
			return fmt.Errorf("base DN and filters: %s has none", what)
		}
		if d.Kind == store.KindCSV {
			return validateCSV(d)
		}
		return nil
	}
	if strings.TrimSpace(d.BaseDN) == "" {
		return fmt.Errorf("base DN: required")
	}
	if _, err := ldap.ParseDN(d.BaseDN); err != nil {
		return fmt.Errorf("base DN %q: %v", d.BaseDN, err)
	}
	for _, f := range []struct{ name, value string }{{"user filter", d.UserFilter}, {"group filter", d.GroupFilter}} {
		if _, err := ldap.CompileFilter(f.value); err != nil {
			return fmt.Errorf("%s %q: %v", f.name, f.value, err)
		}
	}
	if d.SafeguardPercent < 1 || d.SafeguardPercent > 100 {
		return fmt.Errorf("safeguard percent %d: must be between 1 and 100", d.SafeguardPercent)
	}
	if d.SafeguardMax < 1 {
		return fmt.Errorf("safeguard max %d: must be at least 1", d.SafeguardMax)
	}
	switch d.CaptureStrategy {
	case "", CaptureOff, "syncrepl", "dirsync", "psearch", "poll":
	default:
		return fmt.Errorf("capture %q: must be auto, syncrepl, dirsync, psearch, poll or off", d.CaptureStrategy)
	}
	if d.PollInterval < 0 || (d.PollInterval > 0 && d.PollInterval < time.Second) {
		return fmt.Errorf("poll interval %v: must be at least 1s", d.PollInterval)
	}
	if d.FullImportInterval > 0 && d.FullImportInterval < time.Minute {
		return fmt.Errorf("full import interval %v: must be at least 1m (or off)", d.FullImportInterval)
	}
	m := d.Mapping
	required := []struct{ field, value string }{
		{"mapping.username", m.Username}, {"mapping.group_name", m.GroupName},
	}
	for _, r := range required {
		if r.value == "" {
			return fmt.Errorf("%s: required", r.field)
		}
	}
	optional := []struct{ field, value string }{
		{"mapping.username", m.Username}, {"mapping.email", m.Email}, {"mapping.given_name", m.GivenName},
		{"mapping.family_name", m.FamilyName}, {"mapping.display_name", m.DisplayName},
		{"mapping.employee_number", m.EmployeeNumber}, {"mapping.department", m.Department},
		{"mapping.title", m.Title}, {"mapping.manager", m.Manager}, {"mapping.group_name", m.GroupName},
		{"mapping.group_description", m.GroupDescription},
	}
	for _, o := range optional {
		if o.value != "" && !attrList.MatchString(o.value) {
			return fmt.Errorf("%s %q: must be an attribute name, or names joined by | (first present wins)", o.field, o.value)
		}
	}
	for _, list := range []struct {
		field  string
		values []string
	}{{"mapping.group_members", m.GroupMembers}, {"mapping.extra", m.Extra}} {
		for _, v := range list.values {
			if !attrList.MatchString(v) || strings.Contains(v, "|") {
				return fmt.Errorf("%s: %q is not an attribute name", list.field, v)
			}
		}
	}
	return nil
}

// maxColumnName bounds a column name in a csv directory's mapping.
const maxColumnName = 256

// validateCSV checks a csv directory: its mapping names columns (any
// text, spaces included), one per field; users only, no groups.
func validateCSV(d *store.Directory) error {
	if len(d.Mastered) > 0 {
		return fmt.Errorf("mastered fields %s: a csv directory's file carries every field it maps", strings.Join(d.Mastered, ", "))
	}
	m := d.Mapping
	if strings.TrimSpace(m.Username) == "" {
		return fmt.Errorf("mapping.username: required: the column of the login name (--map username=COLUMN)")
	}
	if m.GroupName != "" || m.GroupDescription != "" || len(m.GroupMembers) > 0 {
		return fmt.Errorf("mapping.group_name, group_description, group_members: a csv directory holds users only")
	}
	cols := []struct{ field, value string }{
		{"mapping.username", m.Username}, {"mapping.email", m.Email}, {"mapping.given_name", m.GivenName},
		{"mapping.family_name", m.FamilyName}, {"mapping.display_name", m.DisplayName},
		{"mapping.employee_number", m.EmployeeNumber}, {"mapping.department", m.Department},
		{"mapping.title", m.Title}, {"mapping.manager", m.Manager},
		{"csv.id_column", d.CSV.IDColumn}, {"csv.status_column", d.CSV.StatusColumn},
	}
	for _, e := range m.Extra {
		cols = append(cols, struct{ field, value string }{"mapping.extra", e})
	}
	for _, c := range cols {
		if c.value == "" {
			continue
		}
		if strings.TrimSpace(c.value) != c.value || len(c.value) > maxColumnName ||
			strings.ContainsFunc(c.value, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return fmt.Errorf("%s %q: a column name: at most %d characters, no control characters, no leading or trailing spaces",
				c.field, c.value, maxColumnName)
		}
	}
	switch {
	case d.CSV.StatusColumn != "" && len(d.CSV.ActiveValues) == 0:
		return fmt.Errorf("csv.active_values: required with a status column (the values of active users, such as Active)")
	case d.CSV.StatusColumn == "" && len(d.CSV.ActiveValues) > 0:
		return fmt.Errorf("csv.status_column: required with active values")
	}
	for _, v := range d.CSV.ActiveValues {
		if strings.TrimSpace(v) == "" {
			return fmt.Errorf("csv.active_values: an empty value")
		}
	}
	return nil
}
