package expr

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits that bound compilation and evaluation.
const (
	MaxSource = 4096     // bytes of an expression
	MaxDepth  = 32       // nesting of calls, parentheses, ! and operators
	MaxString = 64 << 10 // bytes of a string or list a function may build
	MaxList   = 1024     // elements of a list split may build
)

// Error is a compile or evaluation error at a position of the expression.
type Error struct {
	Pos       int // byte offset in the source
	Line, Col int // 1-based; Col counts characters
	Msg       string
}

func (e *Error) Error() string { return fmt.Sprintf("%d:%d: %s", e.Line, e.Col, e.Msg) }

func newError(src string, pos int, format string, args ...any) *Error {
	pos = min(max(pos, 0), len(src))
	line, col := 1, 1
	for _, r := range src[:pos] {
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return &Error{Pos: pos, Line: line, Col: col, Msg: fmt.Sprintf(format, args...)}
}

// Expr is a compiled expression. It is immutable and safe for concurrent use.
type Expr struct {
	src    string
	root   node
	fields []string
}

// Compile parses src and checks its functions and their arguments.
func Compile(src string) (*Expr, error) {
	if len(src) > MaxSource {
		return nil, newError(src, MaxSource, "expression longer than %d bytes", MaxSource)
	}
	if !utf8.ValidString(src) {
		return nil, newError(src, 0, "expression is not valid UTF-8")
	}
	p := &parser{src: src}
	if err := p.lex(); err != nil {
		return nil, err
	}
	root, err := p.parseExpr(0)
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, p.errorf(t, "expected an operator or the end, found %s", t)
	}
	e := &Expr{src: src, root: root}
	e.fields = collectFields(root)
	return e, nil
}

// Calls reports whether the expression calls the function name.
func (e *Expr) Calls(name string) bool {
	found := false
	walk(e.root, func(n node) {
		if c, ok := n.(*call); ok && c.fn.name == name {
			found = true
		}
	})
	return found
}

// walk calls fn for n and every node beneath it, parents first.
func walk(n node, fn func(node)) {
	fn(n)
	switch n := n.(type) {
	case *call:
		for _, a := range n.args {
			walk(a, fn)
		}
	case *index:
		walk(n.x, fn)
		walk(n.i, fn)
	case *not:
		walk(n.x, fn)
	case *binary:
		walk(n.l, fn)
		walk(n.r, fn)
	}
}

// MustCompile is Compile for expressions known to be valid; it panics on an
// error.
func MustCompile(src string) *Expr {
	e, err := Compile(src)
	if err != nil {
		panic("expr: " + err.Error())
	}
	return e
}

// String returns the source of e.
func (e *Expr) String() string { return e.src }

// Fields returns the field names e reads (attr("x") as extra.x when its
// argument is a literal), sorted: a change to any other field cannot change
// e's value.
func (e *Expr) Fields() []string { return slices.Clone(e.fields) }

// The AST.
type (
	node interface{ pos() int }

	literal struct {
		p int
		v Value
	}
	field struct {
		p    int
		name string
	}
	call struct {
		p    int
		fn   *function
		args []node
	}
	index struct {
		p    int
		x, i node
	}
	not struct {
		p int
		x node
	}
	binary struct {
		p    int
		op   tokenKind
		l, r node
	}
)

func (n *literal) pos() int { return n.p }
func (n *field) pos() int   { return n.p }
func (n *call) pos() int    { return n.p }
func (n *index) pos() int   { return n.p }
func (n *not) pos() int     { return n.p }
func (n *binary) pos() int  { return n.p }

func collectFields(n node) []string {
	var out []string
	walk(n, func(n node) {
		switch n := n.(type) {
		case *field:
			out = append(out, n.name)
		case *call:
			if n.fn.name == "attr" {
				if l, ok := n.args[0].(*literal); ok && l.v.kind == KindString {
					out = append(out, extraPrefix+l.v.s)
				}
			}
		}
	})
	slices.Sort(out)
	return slices.Compact(out)
}

// Tokens.
type tokenKind uint8

const (
	tEOF tokenKind = iota
	tIdent
	tString
	tInt
	tLParen
	tRParen
	tLBrack
	tRBrack
	tComma
	tPlus
	tMinus
	tNot
	tEq
	tNe
	tAnd
	tOr
	tIn
)

var tokenNames = [...]string{
	tEOF: "the end", tIdent: "name", tString: "string", tInt: "integer",
	tLParen: `"("`, tRParen: `")"`, tLBrack: `"["`, tRBrack: `"]"`, tComma: `","`,
	tPlus: `"+"`, tMinus: `"-"`, tNot: `"!"`, tEq: `"=="`, tNe: `"!="`, tAnd: `"&&"`, tOr: `"||"`, tIn: `"in"`,
}

type token struct {
	kind tokenKind
	pos  int
	text string // identifier, decoded string, or digits
}

func (t token) String() string {
	switch t.kind {
	case tIdent:
		return "name " + t.text
	case tString:
		return "string " + strconv.Quote(t.text)
	case tInt:
		return "integer " + t.text
	}
	return tokenNames[t.kind]
}

type parser struct {
	src  string
	toks []token
	i    int
}

func (p *parser) errorf(t token, format string, args ...any) *Error {
	return newError(p.src, t.pos, format, args...)
}

func (p *parser) peek() token { return p.toks[p.i] }

func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

func (p *parser) lex() error {
	src := p.src
	for i := 0; ; {
		for i < len(src) && strings.IndexByte(" \t\r\n", src[i]) >= 0 {
			i++
		}
		if i == len(src) {
			p.toks = append(p.toks, token{kind: tEOF, pos: i})
			return nil
		}
		start := i
		c := src[i]
		two := ""
		if i+1 < len(src) {
			two = src[i : i+2]
		}
		switch {
		case two == "==" || two == "!=" || two == "&&" || two == "||":
			p.toks = append(p.toks, token{kind: map[string]tokenKind{"==": tEq, "!=": tNe, "&&": tAnd, "||": tOr}[two], pos: i})
			i += 2
		case strings.IndexByte("()[],+-!", c) >= 0:
			kinds := map[byte]tokenKind{'(': tLParen, ')': tRParen, '[': tLBrack, ']': tRBrack, ',': tComma, '+': tPlus, '-': tMinus, '!': tNot}
			p.toks = append(p.toks, token{kind: kinds[c], pos: i})
			i++
		case c == '"' || c == '\'':
			s, n, err := p.lexString(i)
			if err != nil {
				return err
			}
			p.toks = append(p.toks, token{kind: tString, pos: start, text: s})
			i = n
		case c >= '0' && c <= '9':
			for i < len(src) && src[i] >= '0' && src[i] <= '9' {
				i++
			}
			p.toks = append(p.toks, token{kind: tInt, pos: start, text: src[start:i]})
		case isIdentStart(c):
			for i < len(src) && (isIdentStart(src[i]) || (src[i] >= '0' && src[i] <= '9') || src[i] == '.') {
				i++
			}
			name := src[start:i]
			if strings.HasSuffix(name, ".") || strings.Contains(name, "..") {
				return newError(src, start, "malformed name %q: dots must separate parts", name)
			}
			if name == "in" {
				p.toks = append(p.toks, token{kind: tIn, pos: start})
				break
			}
			p.toks = append(p.toks, token{kind: tIdent, pos: start, text: name})
		default:
			r, _ := utf8.DecodeRuneInString(src[i:])
			hint := ""
			switch c {
			case '=':
				hint = ` (did you mean "=="?)`
			case '&':
				hint = ` (did you mean "&&"?)`
			case '|':
				hint = ` (did you mean "||"?)`
			}
			if !unicode.IsPrint(r) {
				return newError(src, i, "unexpected character %U", r)
			}
			return newError(src, i, "unexpected %q%s", r, hint)
		}
	}
}

func isIdentStart(c byte) bool { return c == '_' || (c|0x20 >= 'a' && c|0x20 <= 'z') }

// lexString decodes the string literal at i; it returns the text and the
// offset after the closing quote.
func (p *parser) lexString(i int) (string, int, error) {
	src := p.src
	quote := src[i]
	var b strings.Builder
	for j := i + 1; j < len(src); {
		c := src[j]
		switch {
		case c == quote:
			return b.String(), j + 1, nil
		case c == '\n':
			return "", 0, newError(src, i, "string not closed on its line")
		case c != '\\':
			b.WriteByte(c)
			j++
			continue
		}
		if j+1 >= len(src) {
			break
		}
		esc := src[j+1]
		switch esc {
		case '"', '\'', '\\':
			b.WriteByte(esc)
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'u':
			if j+6 > len(src) {
				return "", 0, newError(src, j, `\u needs four hex digits`)
			}
			n, err := strconv.ParseUint(src[j+2:j+6], 16, 32)
			if err != nil {
				return "", 0, newError(src, j, `\u needs four hex digits`)
			}
			b.WriteRune(rune(n))
			j += 6
			continue
		default:
			return "", 0, newError(src, j, `unknown escape \%c (use \", \', \\, \n, \t or \uXXXX)`, esc)
		}
		j += 2
	}
	return "", 0, newError(src, i, "string not closed")
}

// Precedence climbing: level 0 is ||, 1 &&, 2 ==, != and in, 3 +.
var levels = [][]tokenKind{{tOr}, {tAnd}, {tEq, tNe, tIn}, {tPlus}}

func (p *parser) parseExpr(depth int) (node, error) { return p.parseLevel(0, depth) }

func (p *parser) parseLevel(level, depth int) (node, error) {
	if level == len(levels) {
		return p.parseUnary(depth)
	}
	l, err := p.parseLevel(level+1, depth)
	if err != nil {
		return nil, err
	}
	// A chain (a + b + c) loops rather than recursing: only real nesting
	// counts against MaxDepth.
	for slices.Contains(levels[level], p.peek().kind) {
		op := p.next()
		r, err := p.parseLevel(level+1, depth)
		if err != nil {
			return nil, err
		}
		l = &binary{p: op.pos, op: op.kind, l: l, r: r}
	}
	return l, nil
}

func (p *parser) parseUnary(depth int) (node, error) {
	if depth >= MaxDepth {
		return nil, p.errorf(p.peek(), "expression nested deeper than %d", MaxDepth)
	}
	if t := p.peek(); t.kind == tNot {
		p.next()
		x, err := p.parseUnary(depth + 1)
		if err != nil {
			return nil, err
		}
		return &not{p: t.pos, x: x}, nil
	}
	x, err := p.parsePrimary(depth)
	if err != nil {
		return nil, err
	}
	for p.peek().kind == tLBrack {
		open := p.next()
		i, err := p.parseExpr(depth + 1)
		if err != nil {
			return nil, err
		}
		if t := p.next(); t.kind != tRBrack {
			return nil, p.errorf(t, `expected "]" to close the index opened at column %d, found %s`, newError(p.src, open.pos, "").Col, t)
		}
		x = &index{p: open.pos, x: x, i: i}
	}
	return x, nil
}

func (p *parser) parsePrimary(depth int) (node, error) {
	t := p.next()
	switch t.kind {
	case tString:
		return &literal{p: t.pos, v: String(t.text)}, nil
	case tInt, tMinus:
		return p.parseInt(t)
	case tLParen:
		x, err := p.parseExpr(depth + 1)
		if err != nil {
			return nil, err
		}
		if c := p.next(); c.kind != tRParen {
			return nil, p.errorf(c, `expected ")" to close the "(" at column %d, found %s`, newError(p.src, t.pos, "").Col, c)
		}
		return x, nil
	case tIdent:
		switch t.text {
		case "true", "false":
			return &literal{p: t.pos, v: Bool(t.text == "true")}, nil
		case "null":
			return &literal{p: t.pos, v: Null()}, nil
		}
		if p.peek().kind == tLParen {
			return p.parseCall(t, depth)
		}
		return &field{p: t.pos, name: t.text}, nil
	}
	return nil, p.errorf(t, "expected a value (a name, string, number, call or \"(\"), found %s", t)
}

func (p *parser) parseInt(t token) (node, error) {
	at := t.pos
	neg := t.kind == tMinus
	if neg {
		if t = p.next(); t.kind != tInt {
			return nil, p.errorf(t, `expected a number after "-", found %s`, t)
		}
	}
	n, err := strconv.Atoi(t.text)
	if err != nil || n > MaxString {
		return nil, p.errorf(t, "number %s too large", t.text)
	}
	if neg {
		n = -n
	}
	return &literal{p: at, v: Int(n)}, nil
}

func (p *parser) parseCall(name token, depth int) (node, error) {
	fn, ok := functions[name.text]
	if !ok {
		return nil, p.errorf(name, "unknown function %s%s", name.text, suggest(name.text))
	}
	p.next() // (
	c := &call{p: name.pos, fn: fn}
	if p.peek().kind == tRParen {
		p.next()
	} else {
		for {
			a, err := p.parseExpr(depth + 1)
			if err != nil {
				return nil, err
			}
			c.args = append(c.args, a)
			t := p.next()
			if t.kind == tRParen {
				break
			}
			if t.kind != tComma {
				return nil, p.errorf(t, `expected "," or ")" in the call to %s, found %s`, fn.name, t)
			}
		}
	}
	if n := len(c.args); n < fn.min || (fn.max >= 0 && n > fn.max) {
		return nil, p.errorf(name, "%s takes %s, got %d", fn.name, fn.arity(), n)
	}
	return c, nil
}

// suggest names the known function closest to an unknown name.
func suggest(name string) string {
	best := Nearest(strings.ToLower(name), slices.Collect(maps.Keys(functions)))
	if best == "" {
		return " (functions: " + strings.Join(functionNames(), ", ") + ")"
	}
	return " (did you mean " + best + "?)"
}

// Nearest is the name of known closest to name, within two edits (the
// first by order of two as close); "" when none is.
func Nearest(name string, known []string) string {
	best, dist := "", 3
	for _, k := range known {
		if d := editDistance(name, k); d < dist || (d == dist && k < best) {
			best, dist = k, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	if len(a) > 32 || len(b) > 32 {
		return 99
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
