package rooms

import (
	"encoding/json"
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// Package is what `go list -json` says of a package: the fields Check reads.
type Package struct {
	ImportPath string
	Dir        string
	Standard   bool
	DepOnly    bool
	Imports    []string // its own non-test files' imports
	Deps       []string // every package it links, however far down
	Module     *struct{ Path, Dir string }
	Error      *struct{ Err string }
}

// Decode reads the stream of JSON objects `go list -json` writes.
func Decode(r io.Reader) ([]Package, error) {
	var pkgs []Package
	dec := json.NewDecoder(r)
	for {
		var p Package
		err := dec.Decode(&p)
		if errors.Is(err, io.EOF) {
			return pkgs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("decoding go list output: %w", err)
		}
		pkgs = append(pkgs, p)
	}
}

// Rule is a package's imports paragraph.
type Rule struct {
	Pos   string   // file:line where the paragraph begins
	Text  string   // the paragraph, on one line
	Allow []string // paths before "never"
	Never []string // paths after it
}

// DocFile is the file that holds a package's doc comment.
const DocFile = "doc.go"

const lead = "It may import"

var (
	quoted = regexp.MustCompile("`[^`]*`")
	never  = regexp.MustCompile(`(?i)\bnever\b`)
	isPath = regexp.MustCompile(`^[A-Za-z0-9_.~+-]+(/[A-Za-z0-9_.~+-]+)*(/\.\.\.)?$`)
)

// ParseDoc finds the imports paragraph in the package comment of a doc.go
// (filename is for the messages; src is its content).
func ParseDoc(filename string, src []byte) (*Rule, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, filename, src, parser.PackageClauseOnly|parser.ParseComments)
	if err != nil {
		return nil, err
	}
	if f.Doc == nil {
		return nil, fmt.Errorf("%s: no package comment", filename)
	}
	var rule *Rule
	var para []string
	inPara, first := false, true // in the imports paragraph; at a paragraph's first line
	for _, c := range f.Doc.List {
		line, ok := strings.CutPrefix(c.Text, "//")
		if !ok {
			continue // a /* */ comment holds no imports paragraph
		}
		line = strings.TrimPrefix(line, " ")
		switch {
		case strings.TrimSpace(line) == "":
			inPara, first = false, true
			continue
		case first && strings.HasPrefix(line, lead):
			pos := fmt.Sprintf("%s:%d", filename, fset.Position(c.Pos()).Line)
			if rule != nil {
				return nil, fmt.Errorf("%s: a second paragraph begins %q (the first at %s)", pos, lead, rule.Pos)
			}
			rule = &Rule{Pos: pos}
			para, inPara = []string{line}, true
		case inPara:
			para = append(para, strings.TrimSpace(line))
		}
		first = false
	}
	if rule == nil {
		return nil, fmt.Errorf("%s: no paragraph of the package comment begins %q", filename, lead)
	}
	rule.Text = strings.Join(para, " ")
	if strings.Count(rule.Text, "`")%2 != 0 {
		return nil, fmt.Errorf("%s: a backquote is not closed", rule.Pos)
	}
	allowed, forbidden := rule.Text, ""
	if loc := never.FindStringIndex(rule.Text); loc != nil {
		allowed, forbidden = rule.Text[:loc[0]], rule.Text[loc[1]:]
		if len(quoted.FindAllString(forbidden, -1)) == 0 {
			return nil, fmt.Errorf("%s: %q says never but names no path in backquotes", rule.Pos, rule.Text)
		}
	}
	for _, side := range []struct {
		text  string
		paths *[]string
	}{{allowed, &rule.Allow}, {forbidden, &rule.Never}} {
		for _, q := range quoted.FindAllString(side.text, -1) {
			p := strings.Trim(q, "`")
			if !isPath.MatchString(p) {
				return nil, fmt.Errorf("%s: %s is not an import path (backquotes in %q hold paths only)", rule.Pos, q, lead)
			}
			*side.paths = append(*side.paths, p)
		}
	}
	return rule, nil
}

// ReadRule reads the imports paragraph of the package in dir from its
// doc.go, and checks that no other file of the package has a package
// comment (go doc would run the two together).
func ReadRule(dir string) (*Rule, error) {
	name := filepath.Join(dir, DocFile)
	src, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("every package has a doc.go: %w", err)
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, err
	}
	for _, file := range files {
		if file == name || strings.HasSuffix(file, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.PackageClauseOnly|parser.ParseComments)
		if err != nil {
			return nil, err
		}
		if f.Doc != nil {
			return nil, fmt.Errorf("%s has a package comment: it belongs in %s", file, DocFile)
		}
	}
	return ParseDoc(name, src)
}

// Check returns every way the module's packages break their rules: an
// import outside the standard library that the package's rule does not
// allow, a package in its closure that the rule forbids, a path in a rule
// that names no package, a package without a rule, and what go list could
// not load. pkgs is the output of `go list -e -deps -json` for the module's
// packages; rule gives a module package's rule.
func Check(module string, pkgs []Package, rule func(Package) (*Rule, error)) []error {
	byPath := make(map[string]*Package, len(pkgs))
	for i := range pkgs {
		byPath[pkgs[i].ImportPath] = &pkgs[i]
	}
	c := checker{module: module, pkgs: byPath}
	var errs []error
	for _, p := range pkgs {
		if !c.inModule(p.ImportPath) {
			continue
		}
		name := c.rel(p.ImportPath)
		if p.Error != nil {
			errs = append(errs, fmt.Errorf("%s: go list: %s", name, p.Error.Err))
			continue
		}
		if p.DepOnly {
			continue // only reached from outside what was listed: its own listing checks it
		}
		r, err := rule(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			continue
		}
		for _, side := range []struct {
			paths []string
			std   bool
		}{{r.Allow, false}, {r.Never, true}} {
			for _, pat := range side.paths {
				if !c.names(pat, side.std) {
					errs = append(errs, fmt.Errorf("%s: `%s` names no package of the build", r.Pos, pat))
				}
			}
		}
		for _, imp := range p.Imports {
			if c.standard(imp) || c.any(r.Allow, imp, false) {
				continue
			}
			errs = append(errs, fmt.Errorf("%s imports %s, which %s does not allow:\n\t%s", name, c.rel(imp), r.Pos, r.Text))
		}
		for _, dep := range p.Deps {
			if c.any(r.Never, dep, true) {
				errs = append(errs, fmt.Errorf("%s links %s (%s), which %s forbids:\n\t%s",
					name, c.rel(dep), strings.Join(c.chain(p.ImportPath, dep), " → "), r.Pos, r.Text))
			}
		}
	}
	return errs
}

type checker struct {
	module string
	pkgs   map[string]*Package
}

func (c checker) inModule(p string) bool {
	return p == c.module || strings.HasPrefix(p, c.module+"/")
}

// rel names a package of the module the way the docs do.
func (c checker) rel(p string) string {
	if r, ok := strings.CutPrefix(p, c.module+"/"); ok {
		return r
	}
	return p
}

func (c checker) standard(p string) bool {
	if q, ok := c.pkgs[p]; ok {
		return q.Standard
	}
	first, _, _ := strings.Cut(p, "/")
	return !strings.Contains(first, ".")
}

// match says whether pattern (as written in a doc) covers package p. A
// pattern without a dot in its first element is a path in the module, or,
// when std is true, in the standard library.
func (c checker) match(pattern, p string, std bool) bool {
	base, tree := strings.CutSuffix(pattern, "/...")
	first, _, _ := strings.Cut(base, "/")
	var full []string
	if strings.Contains(first, ".") {
		full = []string{base}
	} else {
		full = []string{c.module + "/" + base}
		if std && c.standard(p) {
			full = append(full, base)
		}
	}
	for _, f := range full {
		if p == f || tree && strings.HasPrefix(p, f+"/") {
			return true
		}
	}
	return false
}

func (c checker) any(patterns []string, p string, std bool) bool {
	return slices.ContainsFunc(patterns, func(pat string) bool { return c.match(pat, p, std) })
}

// names says whether pattern covers a package go list reported.
func (c checker) names(pattern string, std bool) bool {
	for p := range c.pkgs {
		if c.match(pattern, p, std) {
			return true
		}
	}
	return false
}

// chain is a shortest path of imports from one package to another, for
// the messages.
func (c checker) chain(from, to string) []string {
	prev := map[string]string{from: ""}
	queue := []string{from}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if p == to {
			var path []string
			for ; p != ""; p = prev[p] {
				path = append(path, c.rel(p))
			}
			slices.Reverse(path)
			return path
		}
		if q, ok := c.pkgs[p]; ok {
			for _, imp := range q.Imports {
				if _, seen := prev[imp]; !seen {
					prev[imp] = p
					queue = append(queue, imp)
				}
			}
		}
	}
	return []string{c.rel(from), "…", c.rel(to)}
}
