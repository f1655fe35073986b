package main

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestHelp: help asked for is printed on standard output and is no error —
// a group's commands (`user --help`), a command's synopsis and flags
// (`user show --help`); a group named alone is a usage error listing its
// commands, and a bad flag one naming the command's synopsis.
func TestHelp(t *testing.T) {
	for _, tt := range []struct {
		args     []string
		code     int
		out, err string
	}{
		{[]string{"user", "--help"}, exitOK, "  user show                   show a user: USERNAME|ID", ""},
		{[]string{"user", "-h"}, exitOK, "usage: idsyncctl user COMMAND [ARGS]; COMMAND --help for its flags", ""},
		{[]string{"user"}, exitUsage, "", "  user suspend "},
		{[]string{"user", "show", "--help"}, exitOK, "usage: idsyncctl user show — show a user: USERNAME|ID [--directory NAME]\n\nflags:\n", ""},
		{[]string{"user", "show", "--bogus"}, exitUsage, "", "usage: idsyncctl user show — show a user"},
		{[]string{"bogus", "--help"}, exitUsage, "", `unknown command "bogus --help"`},
	} {
		var out, errOut bytes.Buffer
		code := run(t.Context(), tt.args, &out, &errOut)
		if code != tt.code || !strings.Contains(out.String(), tt.out) || !strings.Contains(errOut.String(), tt.err) ||
			(tt.out == "" && out.Len() > 0) {
			t.Errorf("idsyncctl %s: exit %d, stdout %q, stderr %q; want exit %d, %q on stdout, %q on stderr",
				strings.Join(tt.args, " "), code, out.String(), errOut.String(), tt.code, tt.out, tt.err)
		}
	}
}

// TestCredentialHints: a refused token says where it came from, a hub
// certificate from another CA asks whether admin.conf is another hub's,
// and an admin.conf others may read is warned of.
func TestCredentialHints(t *testing.T) {
	c := &cli{config: "/etc/idsync/admin.conf", tokenFrom: "IDSYNC_TOKEN, which overrides the config's"}
	if h := c.hint(status.New(codes.Unauthenticated, "admin token not recognised")); !strings.Contains(h, "the token came from IDSYNC_TOKEN") {
		t.Errorf("hint of a refused token: %q", h)
	}
	unknown := status.New(codes.Unavailable, `connection error: desc = "transport: authentication handshake failed: tls: failed to verify certificate: x509: certificate signed by unknown authority"`)
	if h := c.hint(unknown); !strings.Contains(h, "is that admin.conf another hub's") {
		t.Errorf("hint of a hub certificate from another CA: %q", h)
	}
	if h := c.hint(status.New(codes.NotFound, "no such user")); h != "" {
		t.Errorf("hint of NotFound: %q, want none", h)
	}

	_, conf := startFakeHub(t)
	if err := os.Chmod(conf, 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := run(t.Context(), []string{"directory", "list", "--config", conf}, &out, &errOut); code != exitOK ||
		!strings.Contains(errOut.String(), "holds an admin token and is readable by others (mode 0644): chmod 600 "+conf) {
		t.Errorf("an admin.conf of mode 0644: exit %d, stderr %q; want a warning", code, errOut.String())
	}
}
