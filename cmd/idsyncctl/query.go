package main

import (
	"cmp"
	"context"
	"flag"
	"io"
	"time"

	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
)

// Call bounds: reading a whole app (import) takes longer than a setting.
const (
	shortCall = 60 * time.Second
	longCall  = 30 * time.Minute
)

// hub is the hub's services, over the connection of one command.
type hub struct {
	admin idsyncv1.AdminServiceClient
	apps  idsyncv1.AppServiceClient
}

// call connects to the hub and returns a context that carries the token,
// bounded by the command's timeout (shortCall unless c.timeout is set).
func (c *cli) call() (context.Context, context.CancelFunc, hub, error) {
	ctx, admin, err := c.admin()
	if err != nil {
		return nil, nil, hub{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, cmp.Or(c.timeout, shortCall))
	return ctx, cancel, hub{admin: admin, apps: idsyncv1.NewAppServiceClient(c.conn)}, nil
}

// A view prints what a call returned: as JSON (json's value, encoded), as
// text, or, when csv is set, as CSV.
type view[R any] struct {
	json func(R) any
	text func(w io.Writer, r R) error
	csv  func(R) (header []string, rows [][]string)
}

// itemView prints one item: as JSON through toJSON, or as text.
func itemView[T, J any](toJSON func(T) J, text func(io.Writer, T) error) view[T] {
	return view[T]{json: func(it T) any { return toJSON(it) }, text: text}
}

// listView prints a list: as a JSON list through toJSON ([] when empty), or
// as a table under header with a row each.
func listView[T, J any](toJSON func(T) J, header []string, row func(T) []string) view[[]T] {
	return view[[]T]{
		json: func(items []T) any { return mapSlice(items, toJSON) },
		text: func(w io.Writer, items []T) error { return table(w, header, mapSlice(items, row)) },
	}
}

// query runs a command that reads: it parses the command line (arg names
// its one positional argument, "" when it takes none), makes one call on
// the hub and prints what the call returns through v.
func query[R any](c *cli, fs *flag.FlagSet, args []string, arg string,
	call func(ctx context.Context, h hub, arg string) (R, error), v view[R]) error {
	c.allowCSV = v.csv != nil
	var names []string
	if arg != "" {
		names = append(names, arg)
	}
	pos, err := c.parse(fs, args, names...)
	if err != nil {
		return err
	}
	ctx, cancel, h, err := c.call()
	if err != nil {
		return err
	}
	defer cancel()
	r, err := call(ctx, h, append(pos, "")[0])
	if err != nil {
		return err
	}
	return show(c, r, v)
}

// show prints r through v in the output format the command line asked for.
func show[R any](c *cli, r R, v view[R]) error {
	switch {
	case c.output == "json":
		return printJSON(c.out, v.json(r))
	case c.output == "csv" && v.csv != nil:
		header, rows := v.csv(r)
		return writeCSV(c.out, header, rows)
	}
	return v.text(c.out, r)
}
