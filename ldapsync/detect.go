package ldapsync

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// Control OIDs that decide the capture strategy.
const (
	oidSyncRequest      = ldap.ControlTypeSyncRequest // RFC 4533
	oidDirSync          = ldap.ControlTypeDirSync
	oidPersistentSearch = "2.16.840.1.113730.3.4.3"
	oidEntryChange      = "2.16.840.1.113730.3.4.7"
)

// DefaultClockSkew is how far behind the local clock a checkpoint of
// persistent search or polling starts when the server does not publish its
// time: far enough for clocks kept by NTP, and repeating a few minutes of
// changes costs nothing but their transfer.
const DefaultClockSkew = 5 * time.Minute

// rootDSE is what ldapsync reads from the server's root entry.
type rootDSE struct {
	supportedControl []string
	namingContexts   []string
	// dsServiceName is AD's NTDS Settings object of the DC, which holds
	// its invocationId.
	dsServiceName string
	// configurationNC is AD's configuration naming context.
	configurationNC string
	// currentTime is the server's clock (AD), zero when not published.
	currentTime time.Time
}

// readRootDSE reads the root entry.
func readRootDSE(ctx context.Context, c *Conn) (rootDSE, error) {
	req := ldap.NewSearchRequest("", ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false, "(objectClass=*)",
		[]string{"supportedControl", "namingContexts", "dsServiceName", "configurationNamingContext", "currentTime"}, nil)
	var dse rootDSE
	found := false
	_, err := c.search(ctx, req, func(e *ldap.Entry) error {
		found = true
		dse.supportedControl = e.GetAttributeValues("supportedControl")
		dse.namingContexts = e.GetAttributeValues("namingContexts")
		dse.dsServiceName = e.GetAttributeValue("dsServiceName")
		dse.configurationNC = e.GetAttributeValue("configurationNamingContext")
		if t, err := parseGeneralizedTime(e.GetAttributeValue("currentTime")); err == nil {
			dse.currentTime = t
		}
		return nil
	})
	if err != nil {
		return dse, fmt.Errorf("reading the root DSE: %w", err)
	}
	if !found {
		return dse, fmt.Errorf("reading the root DSE of %s: the server returned no entry", c.url)
	}
	return dse, nil
}

// Detect reads the server's root DSE and returns the best capture strategy
// for a directory of kind: DirSync on AD when offered, syncrepl where the
// RFC 4533 sync request control (1.3.6.1.4.1.4203.1.9.1.1) is offered,
// persistent search where 2.16.840.1.113730.3.4.3 is, polling by
// modifyTimestamp otherwise.
func Detect(ctx context.Context, c *Conn, kind Kind) (Strategy, error) {
	dse, err := readRootDSE(ctx, c)
	if err != nil {
		return StrategyAuto, err
	}
	return chooseStrategy(kind, dse.supportedControl), nil
}

// chooseStrategy picks the strategy for kind among the supported controls.
func chooseStrategy(kind Kind, supported []string) Strategy {
	offers := func(oid string) bool { return slices.Contains(supported, oid) }
	switch {
	case kind == KindAD && offers(oidDirSync):
		return StrategyDirSync
	case offers(oidSyncRequest):
		return StrategySyncrepl
	case offers(oidPersistentSearch):
		return StrategyPersistentSearch
	}
	return StrategyPoll
}

// serverTime returns the server's clock when its root DSE publishes it,
// else the local clock less DefaultClockSkew.
func serverTime(ctx context.Context, c *Conn) (time.Time, error) {
	dse, err := readRootDSE(ctx, c)
	if err != nil {
		return time.Time{}, err
	}
	if !dse.currentTime.IsZero() {
		return dse.currentTime, nil
	}
	return time.Now().UTC().Add(-DefaultClockSkew).Truncate(time.Second), nil
}

// parseGeneralizedTime reads an LDAP GeneralizedTime as directories write
// it: 20261128200133Z, 20261128200133.0Z, 20261128200133.123456Z.
func parseGeneralizedTime(s string) (time.Time, error) {
	body, ok := strings.CutSuffix(s, "Z")
	if !ok {
		return time.Time{}, fmt.Errorf("generalized time %q: only UTC (Z) is supported", s)
	}
	whole, frac, _ := strings.Cut(body, ".")
	t, err := time.Parse("20060102150405", whole)
	if err != nil {
		return time.Time{}, fmt.Errorf("generalized time %q: %w", s, err)
	}
	if frac != "" {
		f, err := time.ParseDuration("0." + frac + "s")
		if err != nil {
			return time.Time{}, fmt.Errorf("generalized time %q: fraction: %w", s, err)
		}
		t = t.Add(f)
	}
	return t.UTC(), nil
}

// formatGeneralizedTime writes t (to the second, rounded down) as a
// GeneralizedTime filter value for kind: AD documents the form with a
// fraction.
func formatGeneralizedTime(t time.Time, kind Kind) string {
	if kind == KindAD {
		return t.UTC().Format("20060102150405") + ".0Z"
	}
	return t.UTC().Format("20060102150405") + "Z"
}
