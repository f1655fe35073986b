package main

import (
	"bytes"
	"strings"
	"testing"
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
