package main

import (
	"fmt"

	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
)

// sourceToken issues the bearer token of a SCIM source (a directory of
// kind scim) and prints it once.
func sourceToken(c *cli, args []string) error {
	fs := c.flags("source token")
	pos, err := c.parse(fs, args, "NAME")
	if err != nil {
		return err
	}
	ctx, cancel, h, err := c.call()
	if err != nil {
		return err
	}
	defer cancel()
	resp, err := h.admin.IssueSourceToken(ctx, &idsyncv1.IssueSourceTokenRequest{Directory: pos[0]})
	if err != nil {
		return err
	}
	// Alone on standard output, for scripts: TOKEN=$(idsyncctl source token hr).
	fmt.Fprintln(c.out, resp.GetToken())
	fmt.Fprintf(c.errOut, "bearer token of SCIM source %s, shown once; the previous one no longer works\n", pos[0])
	return nil
}
