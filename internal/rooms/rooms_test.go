package rooms

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// listing is what `go list -e -deps -json ./...` says of a tiny module
// example.com/m: agent imports server and a third-party package, server
// imports store, store imports database/sql.
const listing = `
{"ImportPath": "fmt", "Standard": true, "DepOnly": true}
{"ImportPath": "database/sql", "Standard": true, "DepOnly": true, "Imports": ["fmt"], "Deps": ["fmt"]}
{"ImportPath": "github.com/x/y", "DepOnly": true, "Imports": ["fmt"], "Deps": ["fmt"]}
{"ImportPath": "github.com/x/y/z", "DepOnly": true}
{"ImportPath": "example.com/m/store", "Imports": ["database/sql"], "Deps": ["database/sql", "fmt"]}
{"ImportPath": "example.com/m/server", "Imports": ["example.com/m/store", "fmt"],
 "Deps": ["database/sql", "example.com/m/store", "fmt"]}
{"ImportPath": "example.com/m/agent", "Imports": ["example.com/m/server", "github.com/x/y"],
 "Deps": ["database/sql", "example.com/m/server", "example.com/m/store", "fmt", "github.com/x/y"]}
`

// docs are the fixture's doc.go files, by package; each case changes some.
var docs = map[string]string{
	"store":  "// Package store keeps things.\n//\n// It may import the standard library only.\npackage store\n",
	"server": "// Package server serves.\n//\n// It may import `store`; never `agent`.\npackage server\n",
	"agent": "// Package agent reads.\n//\n// It may import `server` and `github.com/x/y/...`\n" +
		"// (the y of x); never `database/sql`.\npackage agent\n",
}

func TestCheck(t *testing.T) {
	okAgent := "// Package agent reads.\n//\n// It may import `server` and `github.com/x/y`.\npackage agent\n"
	tests := []struct {
		name    string
		listing string
		docs    map[string]string // replacing those of docs
		want    []string          // what the errors say, one substring each
	}{
		{name: "clean", docs: map[string]string{"agent": okAgent}},
		{
			name: "a package of the module not allowed",
			docs: map[string]string{"agent": okAgent,
				"server": "// Package server serves.\n//\n// It may import the standard library only.\npackage server\n"},
			want: []string{"server imports store, which server/doc.go:3 does not allow:\n\tIt may import the standard library only."},
		},
		{
			name: "a third-party package not allowed",
			docs: map[string]string{"agent": "// Package agent reads.\n//\n// It may import `server`.\npackage agent\n"},
			want: []string{"agent imports github.com/x/y, which agent/doc.go:3 does not allow"},
		},
		{
			name: "a standard package forbidden three imports down",
			want: []string{"agent links database/sql (agent → server → store → database/sql), which agent/doc.go:3 forbids:\n" +
				"\tIt may import `server` and `github.com/x/y/...` (the y of x); never `database/sql`."},
		},
		{
			name: "a package of the module forbidden two imports down",
			docs: map[string]string{"agent": "// Package agent reads.\n//\n// It may import `server` and `github.com/x/y`; never `store/...`.\npackage agent\n"},
			want: []string{"agent links store (agent → server → store), which agent/doc.go:3 forbids"},
		},
		{
			name: "a path that names nothing",
			docs: map[string]string{"agent": okAgent,
				"server": "// Package server serves.\n//\n// It may import `stor/...`; never `github.com/x/y/z/...`.\npackage server\n"},
			want: []string{"server/doc.go:3: `stor/...` names no package of the build", "server imports store"},
		},
		{
			name: "no imports paragraph",
			docs: map[string]string{"agent": okAgent, "store": "// Package store keeps things.\npackage store\n"},
			want: []string{`store: store/doc.go: no paragraph of the package comment begins "It may import"`},
		},
		{
			name:    "a package go list could not load",
			listing: `{"ImportPath": "example.com/m/broken", "Error": {"Err": "no Go files"}}`,
			want:    []string{"broken: go list: no Go files"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := listing
			if tt.listing != "" {
				l = tt.listing
			}
			pkgs, err := Decode(strings.NewReader(l))
			if err != nil {
				t.Fatal(err)
			}
			rule := func(p Package) (*Rule, error) {
				name := strings.TrimPrefix(p.ImportPath, "example.com/m/")
				src, ok := tt.docs[name]
				if !ok {
					src = docs[name]
				}
				return ParseDoc(name+"/doc.go", []byte(src))
			}
			var got []string
			for _, err := range Check("example.com/m", pkgs, rule) {
				got = append(got, err.Error())
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d errors, want %d:\n%s", len(got), len(tt.want), strings.Join(got, "\n"))
			}
			for i, w := range tt.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("error %d:\ngot  %s\nwant it to contain %s", i, got[i], w)
				}
			}
		})
	}
}

func TestParseDoc(t *testing.T) {
	tests := []struct {
		name    string
		src     string
		want    *Rule
		wantErr string
	}{
		{
			name: "allowed and forbidden over several lines, prose between",
			src: "//go:build linux\n\n// Package p does one thing.\n//\n" +
				"// It may import `server/store`, the wire types of\n//   `proto/idsync/v1` and `google.golang.org/grpc/...`;\n" +
				"// never `agent` or `database/sql`.\n//\n// A last word with `code` in it.\npackage p\n",
			want: &Rule{
				Pos:   "p/doc.go:5",
				Text:  "It may import `server/store`, the wire types of `proto/idsync/v1` and `google.golang.org/grpc/...`; never `agent` or `database/sql`.",
				Allow: []string{"server/store", "proto/idsync/v1", "google.golang.org/grpc/..."},
				Never: []string{"agent", "database/sql"},
			},
		},
		{
			name: "the standard library only",
			src:  "// Package p.\n//\n// It may import the standard library only.\npackage p\n",
			want: &Rule{Pos: "p/doc.go:3", Text: "It may import the standard library only."},
		},
		{
			name:    "an example in a code block is no paragraph",
			src:     "// Package p.\n//\n//\t// It may import `x`.\npackage p\n",
			wantErr: `no paragraph of the package comment begins "It may import"`,
		},
		{
			name:    "the words inside a paragraph begin none",
			src:     "// Package p.\n//\n// It imports little.\n// It may import `a`.\npackage p\n",
			wantErr: `no paragraph of the package comment begins "It may import"`,
		},
		{
			name:    "backquotes around something else",
			src:     "// Package p.\n//\n// It may import `server/store` (`go run ./x`).\npackage p\n",
			wantErr: "p/doc.go:3: `go run ./x` is not an import path",
		},
		{
			name:    "a backquote not closed",
			src:     "// Package p.\n//\n// It may import `a and `b`.\npackage p\n",
			wantErr: "p/doc.go:3: a backquote is not closed",
		},
		{
			name:    "never and no path",
			src:     "// Package p.\n//\n// It may import `server/store`; never anything of the hub.\npackage p\n",
			wantErr: "says never but names no path in backquotes",
		},
		{
			name:    "two paragraphs",
			src:     "// Package p.\n//\n// It may import `a`.\n//\n// It may import `b`.\npackage p\n",
			wantErr: `p/doc.go:5: a second paragraph begins "It may import" (the first at p/doc.go:3)`,
		},
		{
			name:    "no package comment",
			src:     "// It may import `a`.\n\npackage p\n",
			wantErr: "p/doc.go: no package comment",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseDoc("p/doc.go", []byte(tt.src))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

func TestReadRuleWantsTheCommentInDocGo(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ReadRule(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("without doc.go: got %v, want a missing file", err)
	}
	write("doc.go", "// Package p.\n//\n// It may import the standard library only.\npackage p\n")
	write("p.go", "// Package p does more.\npackage p\n")
	if _, err := ReadRule(dir); err == nil || !strings.Contains(err.Error(), "p.go has a package comment: it belongs in doc.go") {
		t.Errorf("with a second package comment: got %v", err)
	}
	write("p.go", "package p\n")
	write("p_test.go", "// Package p is tested.\npackage p\n")
	if _, err := ReadRule(dir); err != nil {
		t.Errorf("with the comment in doc.go alone: %v", err)
	}
}
