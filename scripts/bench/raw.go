//go:build linux

package main

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/idsync/idsync/internal/testserver"
	"github.com/idsync/idsync/server/ingest"
	"github.com/idsync/idsync/server/store"
)

// pageSize is the page size the hub asks agents for (ingest.DefaultPageSize),
// used by the raw reads too.
const pageSize = ingest.DefaultPageSize

// search is one of the two searches of a full import.
type search struct {
	filter string
	attrs  []string
}

// hubSearches returns what an agent reads for an OpenLDAP directory under
// base with the hub's defaults: the users, then the groups, each with the
// id attribute and the attributes the mapping needs.
func hubSearches(base string) []search {
	d := &store.Directory{Name: "corp", Kind: store.KindOpenLDAP, BaseDN: base}
	ingest.ApplyPreset(d)
	user, group := ingest.Attributes(d)
	return []search{
		{d.UserFilter, append([]string{"entryUUID"}, user...)},
		{d.GroupFilter, append([]string{"entryUUID"}, group...)},
	}
}

// sample is one timed read.
type sample struct {
	wall    time.Duration
	entries int
	// cpu is the CPU time per process during the read: "client" (ldapsearch
	// or this process), "slapd", "agent", "hub".
	cpu map[string]time.Duration
}

// ldapsearchRead reads every search with OpenLDAP's ldapsearch, one process
// per search as an admin would, counting the records it prints.
func ldapsearchRead(ctx context.Context, srv *testserver.SlapdServer, slapd int, searches []search) (sample, error) {
	meter := newCPUMeter(map[string]int{"slapd": slapd})
	var s sample
	var client time.Duration
	start := time.Now()
	for _, q := range searches {
		args := append([]string{"-x", "-LLL", "-o", "ldif-wrap=no", "-H", srv.URL, "-D", srv.BindDN, "-w", srv.BindPassword,
			"-b", srv.BaseDN, "-E", "pr=" + strconv.Itoa(pageSize) + "/noprompt", q.filter}, q.attrs...)
		cmd := exec.CommandContext(ctx, "ldapsearch", args...)
		var out dnCounter
		var stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &stderr
		if err := cmd.Run(); err != nil {
			return s, fmt.Errorf("ldapsearch %s: %w: %s", q.filter, err, strings.TrimSpace(stderr.String()))
		}
		client += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
		s.entries += out.n
	}
	s.wall = time.Since(start)
	s.cpu = meter.since()
	s.cpu["client"] = client
	return s, nil
}

// dnCounter counts the LDIF records ldapsearch writes by their "dn:" lines
// (continuation lines start with a space, so only a record starts so).
type dnCounter struct {
	n int
	// pos is how much of "dn:" the current line has matched so far, or -1
	// once it cannot match.
	pos int
}

func (c *dnCounter) Write(p []byte) (int, error) {
	const prefix = "dn:"
	for _, b := range p {
		switch {
		case b == '\n':
			c.pos = 0
		case c.pos < 0 || c.pos >= len(prefix):
		case b == prefix[c.pos]:
			c.pos++
			if c.pos == len(prefix) {
				c.n++
			}
		default:
			c.pos = -1
		}
	}
	return len(p), nil
}

// goLDAPRead reads every search with a bare go-ldap paged SearchAsync loop
// on one connection, discarding the entries: what any Go reader pays at
// least. The dial and bind are timed too, as they are for ldapsearch and
// the agent.
func goLDAPRead(ctx context.Context, srv *testserver.SlapdServer, slapd int, searches []search) (sample, error) {
	meter := newCPUMeter(map[string]int{"slapd": slapd})
	self := selfCPU()
	var s sample
	start := time.Now()
	conn, err := ldap.DialURL(srv.URL, ldap.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}))
	if err != nil {
		return s, fmt.Errorf("dialling %s: %w", srv.URL, err)
	}
	defer conn.Close()
	if err := conn.Bind(srv.BindDN, srv.BindPassword); err != nil {
		return s, fmt.Errorf("binding to %s as %s: %w", srv.URL, srv.BindDN, err)
	}
	for _, q := range searches {
		paging := ldap.NewControlPaging(pageSize)
		req := ldap.NewSearchRequest(srv.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
			q.filter, q.attrs, []ldap.Control{paging})
		for {
			resp := conn.SearchAsync(ctx, req, 64)
			var cookie []byte
			for resp.Next() {
				if resp.Entry() != nil {
					s.entries++
				} else if p, ok := ldap.FindControl(resp.Controls(), ldap.ControlTypePaging).(*ldap.ControlPaging); ok {
					cookie = p.Cookie
				}
			}
			if err := resp.Err(); err != nil {
				return s, fmt.Errorf("searching %s for %s: %w", srv.URL, q.filter, err)
			}
			// go-ldap reports a cancelled search as a completed one.
			if err := ctx.Err(); err != nil {
				return s, err
			}
			if len(cookie) == 0 {
				break
			}
			paging.SetCookie(cookie)
		}
	}
	s.wall = time.Since(start)
	s.cpu = meter.since()
	s.cpu["client"] = selfCPU() - self
	return s, nil
}
