package main

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// The docs (README.md and docs/*.md) show commands a newcomer will paste.
// These tests hold them to the code: every idsyncctl command shown exists
// with the flags it is shown with and is one a test, the demo or the
// benchmark runs; idsync-hub and idsync-agent are shown with flags they
// declare; every make target exists; every relative link reaches a file
// and heading.

// repoRoot is the module root, seen from this package's directory.
const repoRoot = "../.."

// notRunByTests are commands the docs show that no test, demo or benchmark
// runs yet. A test that runs one should take it off this list.
var notRunByTests = map[string]bool{
	"directory list":     true,
	"app list":           true,
	"admin token revoke": true,
}

// docCommand is one command line of the docs.
type docCommand struct {
	where string   // file:line
	words []string // the tokens after the binary: subcommand words, flags, values
	extra []string // flags named in the line's comment, for the same command
}

// docFile is one markdown file, read.
type docFile struct {
	path string // relative to the repo root
	text string
}

func readDocs(t *testing.T) []docFile {
	t.Helper()
	paths := []string{"README.md"}
	more, err := filepath.Glob(filepath.Join(repoRoot, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range more {
		rel, _ := filepath.Rel(repoRoot, p)
		paths = append(paths, filepath.ToSlash(rel))
	}
	if len(paths) < 5 {
		t.Fatalf("found %d doc files (%v): the checks would prove little", len(paths), paths)
	}
	var docs []docFile
	for _, p := range paths {
		b, err := os.ReadFile(filepath.Join(repoRoot, p))
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, docFile{path: p, text: string(b)})
	}
	return docs
}

// commandsOf returns the command lines of doc that run binary (its base
// name: bin/idsyncctl counts): in fenced code blocks, with continuation
// lines joined and comment lines that follow a command read as flags of it,
// and in inline code spans of the prose.
func commandsOf(doc docFile, binary string) []docCommand {
	var out []docCommand
	lines := strings.Split(doc.text, "\n")
	inFence := false
	var prose strings.Builder
	var last *docCommand // the command a comment line may add flags to
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			inFence = !inFence
			last = nil
			prose.WriteString("\n\n")
			continue
		}
		if !inFence {
			prose.WriteString(line + "\n")
			continue
		}
		where := doc.path + ":" + strconv.Itoa(i+1)
		for strings.HasSuffix(line, `\`) && i+1 < len(lines) {
			i++
			line = strings.TrimSuffix(line, `\`) + " " + strings.TrimSpace(lines[i])
		}
		if c, ok := strings.CutPrefix(strings.TrimSpace(line), "#"); ok {
			if last != nil {
				last.extra = append(last.extra, flagsIn(tokens(c))...)
			}
			continue
		}
		code, comment := splitComment(line)
		last = nil
		for _, cmd := range splitCommands(code) {
			words := tokens(cmd)
			if len(words) == 0 || path.Base(words[0]) != binary {
				continue
			}
			out = append(out, docCommand{where: where, words: words[1:], extra: flagsIn(tokens(comment))})
			last = &out[len(out)-1]
		}
	}
	for _, m := range inlineCode.FindAllStringSubmatch(prose.String(), -1) {
		words := tokens(m[1])
		if len(words) > 0 && words[0] == binary {
			out = append(out, docCommand{where: doc.path + " (prose)", words: words[1:]})
		}
	}
	return out
}

// inlineCode is a code span of the prose; it may wrap, but not across a
// blank line.
var inlineCode = regexp.MustCompile("`([^`\n]+(?:\n[^`\n]+)*)`")

// splitComment cuts a shell line at its comment: a # outside quotes that
// starts the line or follows a blank.
func splitComment(line string) (code, comment string) {
	var quote rune
	prev := ' '
	for i, r := range line {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			}
		case r == '\'' || r == '"':
			quote = r
		case r == '#' && unicode.IsSpace(prev):
			return line[:i], line[i+1:]
		}
		prev = r
	}
	return line, ""
}

// splitCommands splits a shell line into its commands at &&, ; and
// redirections (what follows > is a file, not a command).
func splitCommands(line string) []string {
	var out []string
	var quote rune
	start := 0
	for i := 0; i < len(line); i++ {
		c := rune(line[i])
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case strings.HasPrefix(line[i:], "&&"), c == ';':
			out = append(out, line[start:i])
			start = i + 1
			if c == '&' {
				start++
			}
		case c == '>':
			out = append(out, line[start:i])
			// Skip the file name: the next command starts after && or ;.
			j := strings.IndexAny(line[i:], ";&")
			if j < 0 {
				return out
			}
			i += j - 1
			start = i + 1
		}
	}
	return append(out, line[start:])
}

// tokens splits a command the way a shell would, roughly: at blanks outside
// quotes and $( ), with quotes removed, and without leading VAR=value
// assignments.
func tokens(s string) []string {
	var out []string
	var cur strings.Builder
	var quote rune
	depth := 0 // inside $( … )
	in := false
	flush := func() {
		if in {
			out = append(out, cur.String())
		}
		cur.Reset()
		in = false
	}
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case depth > 0:
			cur.WriteRune(r)
			if r == ')' {
				depth--
			}
		case r == '\'' || r == '"':
			quote, in = r, true
		case r == '$' && i+1 < len(rs) && rs[i+1] == '(':
			depth, in = depth+1, true
			cur.WriteRune(r)
		case unicode.IsSpace(r):
			flush()
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	flush()
	for len(out) > 0 && envAssignment.MatchString(out[0]) {
		out = out[1:]
	}
	return out
}

var envAssignment = regexp.MustCompile(`^[A-Z_][A-Z0-9_]*=`)

// flagsIn returns the names of the flags among words: -o, --config,
// [--capture …], --must-change-password=false. A lone - (standard input)
// is no flag.
func flagsIn(words []string) []string {
	var out []string
	for _, w := range words {
		w = strings.TrimLeft(w, "[(")
		if !strings.HasPrefix(w, "-") {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimLeft(w, "-"), "=")
		name = strings.TrimRight(name, "]),;:.")
		if flagName.MatchString(name) {
			out = append(out, name)
		}
	}
	return out
}

var flagName = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9-]*$`)

// placeholder reports whether a word of a command stands for a value the
// reader fills in: NAME, USERNAME|ID, COMMAND.
func placeholder(w string) bool {
	return w != "" && strings.ToUpper(w) == w && strings.IndexFunc(w, unicode.IsLetter) >= 0
}

// ctlFlags returns the flags idsyncctl's command declares, as its -h lists
// them.
func ctlFlags(t *testing.T, name string) map[string]bool {
	t.Helper()
	var out, errOut bytes.Buffer
	run(t.Context(), append(strings.Fields(name), "-h"), &out, &errOut)
	flags := map[string]bool{"h": true, "help": true}
	for _, line := range strings.Split(out.String(), "\n") {
		if m := usageFlag.FindStringSubmatch(line); m != nil {
			flags[m[1]] = true
		}
	}
	// Every command takes the global flags: without them, -h printed no
	// usage and the flags cannot be known.
	if !flags["config"] || !flags["o"] {
		t.Fatalf("idsyncctl %s -h listed no -config and -o: %q", name, out.String())
	}
	return flags
}

// usageFlag is a flag's line in flag.PrintDefaults' output.
var usageFlag = regexp.MustCompile(`^  -([a-zA-Z0-9-]+)`)

// resolve finds the idsyncctl commands a doc line names: the command whose
// name its leading words spell, or, when a placeholder follows a shared
// prefix (`report NAME`, `COMMAND -h`), every command of that prefix. The
// alternatives of `import list | show RUN | cancel RUN` and `push retry ID
// | --app crm` are commands of their own (the last word replaced) or more
// flags of the same command.
func resolve(words []string) (names []string, rest []string, family, ok bool) {
	n := 0
	for n < len(words) && !strings.HasPrefix(words[n], "-") && !placeholder(words[n]) && words[n] != "|" {
		n++
	}
	name := strings.Join(words[:n], " ")
	if isCommand(name) {
		return []string{name}, words[n:], false, true
	}
	// The longest prefix of words that names a command.
	for k := n - 1; k > 0; k-- {
		if name := strings.Join(words[:k], " "); isCommand(name) {
			return []string{name}, words[k:], false, true
		}
	}
	if n < len(words) && placeholder(words[n]) {
		for _, c := range commands {
			if strings.HasPrefix(c.name+" ", name+" ") || name == "" {
				names = append(names, c.name)
			}
		}
		return names, words[n:], true, len(names) > 0
	}
	return nil, nil, false, false
}

func isCommand(name string) bool {
	return slices.ContainsFunc(commands, func(c command) bool { return c.name == name })
}

// alternatives splits the words of a doc line at | into what each
// alternative runs: the first is the line's command; an alternative that
// starts with a word replaces the command's last word; one that starts with
// a flag adds to the command before it.
func alternatives(words []string) [][]string {
	var groups [][]string
	cur := []string{}
	for _, w := range words {
		if w == "|" {
			groups = append(groups, cur)
			cur = []string{}
			continue
		}
		cur = append(cur, w)
	}
	return append(groups, cur)
}

// TestDocsIdsyncctlCommands: every idsyncctl command of the docs exists, with
// the flags it is shown with, and a test, the demo or the benchmark runs it.
func TestDocsIdsyncctlCommands(t *testing.T) {
	t.Setenv("IDSYNC_CONFIG", "")
	t.Setenv("IDSYNC_TOKEN", "")
	flagsOf := map[string]map[string]bool{}
	for _, c := range commands {
		flagsOf[c.name] = ctlFlags(t, c.name)
	}
	sources := goSources(t, "cmd/idsyncctl/")
	shown := map[string]string{} // command → where it is first shown
	checked := 0
	for _, doc := range readDocs(t) {
		for _, dc := range commandsOf(doc, "idsyncctl") {
			if len(dc.words) == 0 || slices.Contains([]string{"help", "version", "--version", "-h", "--help"}, dc.words[0]) {
				continue // the name alone, or answered by run itself
			}
			var prev []string
			for i, alt := range alternatives(dc.words) {
				if i > 0 && len(alt) > 0 && strings.HasPrefix(alt[0], "-") {
					// More flags of the command before: `push retry ID | --app crm`.
					alt = append(slices.Clone(prev), alt...)
				} else if i > 0 && len(prev) > 0 {
					alt = append(slices.Clone(prev[:len(prev)-1]), alt...)
				}
				names, rest, family, ok := resolve(alt)
				if !ok {
					t.Errorf("%s: idsyncctl %s: no such command", dc.where, strings.Join(alt, " "))
					continue
				}
				if !family {
					prev = strings.Fields(names[0])
					if _, seen := shown[names[0]]; !seen {
						shown[names[0]] = dc.where
					}
				}
				flags := flagsIn(rest)
				if i == 0 {
					flags = append(flags, dc.extra...)
				}
				for _, f := range flags {
					for _, name := range names {
						if !flagsOf[name][f] {
							t.Errorf("%s: idsyncctl %s has no flag -%s", dc.where, name, f)
						}
					}
				}
				checked++
			}
		}
	}
	if checked < 40 {
		t.Fatalf("checked %d idsyncctl commands of the docs: the docs or their parsing changed", checked)
	}
	for name, where := range shown {
		needle := `"` + strings.Join(strings.Fields(name), `", "`) + `"`
		run := slices.ContainsFunc(sources, func(s string) bool { return strings.Contains(s, needle) })
		switch {
		case !run && !notRunByTests[name]:
			t.Errorf("%s: idsyncctl %s is shown, but no test, demo or benchmark runs it (none holds %s)", where, name, needle)
		case run && notRunByTests[name]:
			t.Errorf("idsyncctl %s is run by a test now: take it off notRunByTests", name)
		}
	}
}

// goSources returns the text of the module's Go files, outside skip (a
// directory, relative to the root).
func goSources(t *testing.T, skip string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(repoRoot, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(repoRoot, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if strings.HasPrefix(d.Name(), ".") && rel != "." || rel+"/" == skip {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(p, ".go") {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			out = append(out, string(b))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// mainFlags reads the flags and subcommands a command of this module
// declares, from its source: the names given to the flag package (String,
// BoolVar, Var, Func…), and the words that follow the command's name in its
// string literals (its usage) or that are literals of their own.
func mainFlags(t *testing.T, dir, binary string) (flags, words map[string]bool) {
	t.Helper()
	fset := token.NewFileSet()
	flags, words = map[string]bool{"h": true, "help": true}, map[string]bool{}
	matches, err := filepath.Glob(filepath.Join(repoRoot, dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	usage := regexp.MustCompile(regexp.QuoteMeta(binary) + ` ([a-z][a-z|-]*)`)
	for _, p := range matches {
		if strings.HasSuffix(p, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, p, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.BasicLit:
				if s, err := strconv.Unquote(n.Value); err == nil && n.Kind == token.STRING {
					words[s] = true
					for _, m := range usage.FindAllStringSubmatch(s, -1) {
						for _, w := range strings.Split(m[1], "|") {
							words[w] = true
						}
					}
				}
			case *ast.CallExpr:
				sel, ok := n.Fun.(*ast.SelectorExpr)
				if !ok || !flagFuncs[sel.Sel.Name] {
					return true
				}
				for _, a := range n.Args[:min(2, len(n.Args))] {
					if lit, ok := a.(*ast.BasicLit); ok && lit.Kind == token.STRING {
						name, _ := strconv.Unquote(lit.Value)
						flags[name] = true
						break
					}
				}
			}
			return true
		})
	}
	if len(flags) < 5 {
		t.Fatalf("%s: found the flags %v only: the source or its parsing changed", dir, flags)
	}
	return flags, words
}

// flagFuncs are the flag.FlagSet methods that declare a flag.
var flagFuncs = map[string]bool{
	"String": true, "StringVar": true, "Bool": true, "BoolVar": true, "Int": true, "IntVar": true,
	"Int64": true, "Int64Var": true, "Uint": true, "UintVar": true, "Float64": true, "Float64Var": true,
	"Duration": true, "DurationVar": true, "Var": true, "Func": true, "TextVar": true,
}

// TestDocsHubAndAgentCommands: idsync-hub and idsync-agent are shown with
// subcommands and flags they have.
func TestDocsHubAndAgentCommands(t *testing.T) {
	docs := readDocs(t)
	for _, tc := range []struct{ binary, dir string }{
		{"idsync-hub", "cmd/idsync-hub"},
		{"idsync-agent", "cmd/idsync-agent"},
	} {
		t.Run(tc.binary, func(t *testing.T) {
			flags, words := mainFlags(t, tc.dir, tc.binary)
			checked := 0
			for _, doc := range docs {
				for _, dc := range commandsOf(doc, tc.binary) {
					if len(dc.words) == 0 {
						continue
					}
					if sub := dc.words[0]; !strings.HasPrefix(sub, "-") {
						for _, s := range strings.Split(sub, "|") {
							if !words[s] {
								t.Errorf("%s: %s %s: no such subcommand", dc.where, tc.binary, s)
							}
						}
					} else if !words[sub] {
						t.Errorf("%s: %s %s: not an option of the command", dc.where, tc.binary, sub)
					}
					for _, f := range append(flagsIn(dc.words[1:]), dc.extra...) {
						if !flags[f] {
							t.Errorf("%s: %s has no flag -%s", dc.where, tc.binary, f)
						}
					}
					checked++
				}
			}
			if checked < 3 {
				t.Errorf("checked %d %s commands of the docs: the docs or their parsing changed", checked, tc.binary)
			}
		})
	}
}

// TestDocsMakeTargets: every `make TARGET` of the docs is a target of the
// Makefile.
func TestDocsMakeTargets(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	targets := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^([a-z][a-z0-9-]*):`).FindAllStringSubmatch(string(b), -1) {
		targets[m[1]] = true
	}
	checked := 0
	for _, doc := range readDocs(t) {
		for _, dc := range commandsOf(doc, "make") {
			for _, w := range dc.words {
				if strings.Contains(w, "=") || strings.HasPrefix(w, "-") {
					continue
				}
				if !targets[w] {
					t.Errorf("%s: make %s: no such target in the Makefile", dc.where, w)
				}
				checked++
			}
		}
	}
	if checked < 10 {
		t.Errorf("checked %d make targets of the docs: the docs or their parsing changed", checked)
	}
}

// mdLink is a markdown link or image outside code: [text](target).
var mdLink = regexp.MustCompile(`\]\(([^)\s]+)\)`)

// TestDocsLinks: every relative link of the docs reaches a file, and its
// #anchor a heading there; the links to the README in the Go code
// (documentationUri) reach a heading too.
func TestDocsLinks(t *testing.T) {
	docs := readDocs(t)
	anchors := map[string]map[string]bool{} // by path from the root
	for _, doc := range docs {
		anchors[doc.path] = headingAnchors(doc.text)
	}
	checked := 0
	for _, doc := range docs {
		for _, m := range mdLink.FindAllStringSubmatch(withoutCode(doc.text), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			file, anchor, _ := strings.Cut(target, "#")
			rel := doc.path
			if file != "" {
				rel = path.Clean(path.Join(path.Dir(doc.path), file))
				if _, err := os.Stat(filepath.Join(repoRoot, filepath.FromSlash(rel))); err != nil {
					t.Errorf("%s: link %s: %v", doc.path, target, err)
					continue
				}
			}
			if anchor != "" {
				a, ok := anchors[rel]
				if !ok {
					t.Errorf("%s: link %s: an anchor into %s, which is not a doc page", doc.path, target, rel)
				} else if !a[anchor] {
					t.Errorf("%s: link %s: %s has no heading #%s", doc.path, target, rel, anchor)
				}
			}
			checked++
		}
	}
	if checked < 50 {
		t.Errorf("checked %d links of the docs: the docs or their parsing changed", checked)
	}
	readme := regexp.MustCompile(`https://github\.com/idsync/idsync#([a-z0-9-]+)`)
	for _, src := range goSources(t, "") {
		for _, m := range readme.FindAllStringSubmatch(src, -1) {
			if !anchors["README.md"][m[1]] {
				t.Errorf("the Go code links to README.md#%s, which has no such heading", m[1])
			}
		}
	}
}

// withoutCode returns text with its fenced code blocks and code spans
// blanked, so that a [x](y) in an example is not taken for a link.
func withoutCode(text string) string {
	var b strings.Builder
	inFence := false
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			inFence = !inFence
			b.WriteString("\n")
			continue
		}
		if !inFence {
			b.WriteString(line + "\n")
		}
	}
	return inlineCode.ReplaceAllString(b.String(), "``")
}

// headingAnchors returns the anchors GitHub gives the headings of text:
// lower case, punctuation dropped, blanks as hyphens, -1, -2… for repeats.
func headingAnchors(text string) map[string]bool {
	out := map[string]bool{}
	seen := map[string]int{}
	for _, line := range strings.Split(withoutFences(text), "\n") {
		title, ok := strings.CutPrefix(line, "#")
		if !ok {
			continue
		}
		title = strings.TrimSpace(strings.TrimLeft(title, "#"))
		var slug strings.Builder
		for _, r := range strings.ToLower(title) {
			switch {
			case unicode.IsLetter(r), unicode.IsDigit(r), r == '-', r == '_':
				slug.WriteRune(r)
			case r == ' ':
				slug.WriteRune('-')
			}
		}
		s := slug.String()
		if n := seen[s]; n > 0 {
			out[s+"-"+strconv.Itoa(n)] = true
		} else {
			out[s] = true
		}
		seen[s]++
	}
	return out
}

// withoutFences returns text without its fenced code blocks (a # there is
// a comment, not a heading).
func withoutFences(text string) string {
	var b strings.Builder
	inFence := false
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			inFence = !inFence
			continue
		}
		if !inFence {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}
