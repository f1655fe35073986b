package expr

import (
	"slices"
	"strings"
	"unicode/utf8"
)

// extraPrefix is where attr("x") looks: the field extra.x.
const extraPrefix = "extra."

// Eval evaluates e with the fields of env (nil: every field is null).
func (e *Expr) Eval(env Env) (Value, error) {
	ev := &evaluator{src: e.src, env: env}
	return ev.eval(e.root)
}

type evaluator struct {
	src string
	env Env
}

func (ev *evaluator) errorf(n node, format string, args ...any) error {
	return newError(ev.src, n.pos(), format, args...)
}

func (ev *evaluator) lookup(name string) Value {
	if ev.env == nil {
		return Null()
	}
	v, ok := ev.env.Lookup(name)
	if !ok {
		return Null()
	}
	return v
}

func (ev *evaluator) eval(n node) (Value, error) {
	switch n := n.(type) {
	case *literal:
		return n.v, nil
	case *field:
		return ev.lookup(n.name), nil
	case *not:
		x, err := ev.truth(n.x, `"!"`)
		return Bool(!x), err
	case *index:
		return ev.index(n)
	case *binary:
		return ev.binary(n)
	case *call:
		if n.fn.lazy != nil {
			return n.fn.lazy(ev, n)
		}
		args := make([]Value, len(n.args))
		for i, a := range n.args {
			v, err := ev.eval(a)
			if err != nil {
				return Null(), err
			}
			args[i] = v
		}
		return n.fn.call(ev, n, args)
	}
	panic("expr: unknown node")
}

// truth evaluates n as a condition: a bool, or null meaning false.
func (ev *evaluator) truth(n node, what string) (bool, error) {
	v, err := ev.eval(n)
	if err != nil {
		return false, err
	}
	switch v.kind {
	case KindBool:
		return v.b, nil
	case KindNull:
		return false, nil
	}
	return false, ev.errorf(n, "%s needs a bool, got %s %s", what, v.describe(), v)
}

func (ev *evaluator) binary(n *binary) (Value, error) {
	switch n.op {
	case tAnd, tOr:
		l, err := ev.truth(n.l, tokenNames[n.op])
		if err != nil {
			return Null(), err
		}
		if l == (n.op == tOr) {
			return Bool(l), nil // short circuit
		}
		r, err := ev.truth(n.r, tokenNames[n.op])
		return Bool(r), err
	}
	l, err := ev.eval(n.l)
	if err != nil {
		return Null(), err
	}
	r, err := ev.eval(n.r)
	if err != nil {
		return Null(), err
	}
	switch n.op {
	case tEq:
		return Bool(l.Equal(r)), nil
	case tNe:
		return Bool(!l.Equal(r)), nil
	case tIn:
		return ev.in(n, l, r)
	}
	// tPlus: string concatenation, null absorbing like SQL's ||.
	if l.kind == KindNull || r.kind == KindNull {
		return Null(), nil
	}
	if l.kind != KindString || r.kind != KindString {
		bad := l
		if l.kind == KindString {
			bad = r
		}
		return Null(), ev.errorf(n, `"+" joins strings, got %s %s (use str() or join())`, bad.describe(), bad)
	}
	if len(l.s)+len(r.s) > MaxString {
		return Null(), ev.errorf(n, "string longer than %d bytes", MaxString)
	}
	return String(l.s + r.s), nil
}

// in is x in list: whether the string x is an element of the list (a
// string counts as a list of one, null as an empty list); null is in
// nothing.
func (ev *evaluator) in(n *binary, x, list Value) (Value, error) {
	switch x.kind {
	case KindNull:
		return Bool(false), nil
	case KindString:
	default:
		return Null(), ev.errorf(n.l, `"in" looks for a string, got %s %s`, x.describe(), x)
	}
	switch list.kind {
	case KindNull:
		return Bool(false), nil
	case KindString:
		return Bool(list.s == x.s), nil
	case KindList:
		return Bool(slices.Contains(list.l, x.s)), nil
	}
	return Null(), ev.errorf(n.r, `"in" looks in a list, got %s %s`, list.describe(), list)
}

func (ev *evaluator) index(n *index) (Value, error) {
	x, err := ev.eval(n.x)
	if err != nil {
		return Null(), err
	}
	i, err := ev.eval(n.i)
	if err != nil {
		return Null(), err
	}
	if i.kind == KindNull {
		return Null(), nil
	}
	if i.kind != KindInt {
		return Null(), ev.errorf(n.i, "an index must be an integer, got %s %s", i.describe(), i)
	}
	switch x.kind {
	case KindNull:
		return Null(), nil
	case KindList:
		k := i.n
		if k < 0 {
			k += len(x.l)
		}
		if k < 0 || k >= len(x.l) {
			return Null(), nil
		}
		return String(x.l[k]), nil
	}
	return Null(), ev.errorf(n, "only a list can be indexed, got %s %s", x.describe(), x)
}

// function is a built-in function.
type function struct {
	name     string
	min, max int // arity; max < 0: any number from min
	// call gets the evaluated arguments; lazy, when set, evaluates them
	// itself (if, coalesce, default).
	call func(ev *evaluator, c *call, args []Value) (Value, error)
	lazy func(ev *evaluator, c *call) (Value, error)
}

func (f *function) arity() string {
	plural := func(n int) string {
		if n == 1 {
			return "1 argument"
		}
		return itoa(n) + " arguments"
	}
	switch {
	case f.max < 0:
		return "at least " + plural(f.min)
	case f.min == f.max:
		return plural(f.min)
	}
	return itoa(f.min) + " or " + plural(f.max)
}

func itoa(n int) string { return Int(n).String() }

var functions map[string]*function

func init() {
	fs := []*function{
		strFn("lower", 1, func(s string, _ []Value) (Value, error) { return String(strings.ToLower(s)), nil }),
		strFn("upper", 1, func(s string, _ []Value) (Value, error) { return String(strings.ToUpper(s)), nil }),
		strFn("trim", 1, func(s string, _ []Value) (Value, error) { return String(strings.TrimSpace(s)), nil }),
		{name: "substr", min: 2, max: 3, call: substr},
		{name: "replace", min: 3, max: 3, call: replace},
		{name: "before", min: 2, max: 2, call: cut(true)},
		{name: "after", min: 2, max: 2, call: cut(false)},
		{name: "split", min: 2, max: 2, call: split},
		{name: "join", min: 2, max: 2, call: join},
		{name: "str", min: 1, max: 1, call: str},
		{name: "contains", min: 2, max: 2, call: contains},
		{name: "starts_with", min: 2, max: 2, call: affix(strings.HasPrefix)},
		{name: "ends_with", min: 2, max: 2, call: affix(strings.HasSuffix)},
		{name: "empty", min: 1, max: 1, call: func(_ *evaluator, _ *call, a []Value) (Value, error) { return Bool(a[0].empty()), nil }},
		{name: "coalesce", min: 1, max: -1, lazy: coalesce},
		{name: "default", min: 2, max: 2, lazy: defaultFn},
		{name: "if", min: 3, max: 3, lazy: ifFn},
		{name: "attr", min: 1, max: 1, call: attr},
		{name: "random", min: 0, max: 1, call: random},
	}
	functions = make(map[string]*function, len(fs))
	for _, f := range fs {
		functions[f.name] = f
	}
}

func functionNames() []string {
	names := make([]string, 0, len(functions))
	for n := range functions {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// wantString checks that argument i is a string (or null, reported as ok
// false without an error).
func (ev *evaluator) wantString(c *call, args []Value, i int) (string, bool, error) {
	switch args[i].kind {
	case KindString:
		return args[i].s, true, nil
	case KindNull:
		return "", false, nil
	}
	return "", false, ev.errorf(c.args[i], "%s: argument %d must be a string, got %s %s", c.fn.name, i+1, args[i].describe(), args[i])
}

func (ev *evaluator) wantInt(c *call, args []Value, i int) (int, error) {
	if args[i].kind != KindInt {
		return 0, ev.errorf(c.args[i], "%s: argument %d must be an integer, got %s %s", c.fn.name, i+1, args[i].describe(), args[i])
	}
	return args[i].n, nil
}

// strFn makes a function of a string (its first argument) that maps over a
// list and passes null through.
func strFn(name string, arity int, f func(s string, args []Value) (Value, error)) *function {
	return &function{name: name, min: arity, max: arity, call: mapStrings(f)}
}

func mapStrings(f func(s string, args []Value) (Value, error)) func(*evaluator, *call, []Value) (Value, error) {
	return func(ev *evaluator, c *call, args []Value) (Value, error) {
		x := args[0]
		switch x.kind {
		case KindNull:
			return Null(), nil
		case KindString:
			v, err := f(x.s, args)
			if err != nil {
				return Null(), ev.errorf(c, "%s: %v", c.fn.name, err)
			}
			return v, nil
		case KindList:
			out := make([]string, 0, len(x.l))
			size, limit := 0, max(MaxString, x.size())
			for _, s := range x.l {
				v, err := f(s, args)
				if err != nil {
					return Null(), ev.errorf(c, "%s: %v", c.fn.name, err)
				}
				if v.kind == KindString { // null results drop out of the list
					// Stop as soon as the list passes the limit, not after
					// building all of it.
					if size += len(v.s); size > limit {
						return Null(), ev.errorf(c, "%s: %v", c.fn.name, limitError{})
					}
					out = append(out, v.s)
				}
			}
			return Value{kind: KindList, l: out}, nil
		}
		return Null(), ev.errorf(c.args[0], "%s: argument 1 must be a string or a list, got %s %s", c.fn.name, x.describe(), x)
	}
}

// limitError is returned by the string functions when a result would pass
// MaxString.
type limitError struct{}

func (limitError) Error() string { return "result larger than " + itoa(MaxString) + " bytes" }

// stringArgs checks that the arguments after the first are strings (not
// null); they are the same for every element of a list.
func (ev *evaluator) stringArgs(c *call, args []Value) ([]string, error) {
	out := make([]string, len(args))
	for i := 1; i < len(args); i++ {
		if args[i].kind != KindString {
			return nil, ev.errorf(c.args[i], "%s: argument %d must be a string, got %s %s", c.fn.name, i+1, args[i].describe(), args[i])
		}
		out[i] = args[i].s
	}
	return out, nil
}

func substr(ev *evaluator, c *call, args []Value) (Value, error) {
	start, err := ev.wantInt(c, args, 1)
	if err != nil {
		return Null(), err
	}
	length := -1
	if len(args) == 3 {
		if length, err = ev.wantInt(c, args, 2); err != nil {
			return Null(), err
		}
		if length < 0 {
			return Null(), ev.errorf(c.args[2], "substr: length %d is negative", length)
		}
	}
	return mapStrings(func(s string, _ []Value) (Value, error) {
		from := start
		if from < 0 {
			from = max(utf8.RuneCountInString(s)+from, 0)
		}
		b := runeOffset(s, from)
		e := len(s)
		if length >= 0 {
			e = b + runeOffset(s[b:], length)
		}
		return String(s[b:e]), nil
	})(ev, c, args)
}

// runeOffset returns the byte offset of the n-th character of s, or len(s).
func runeOffset(s string, n int) int {
	for i := range s {
		if n == 0 {
			return i
		}
		n--
	}
	return len(s)
}

func replace(ev *evaluator, c *call, args []Value) (Value, error) {
	sa, err := ev.stringArgs(c, args)
	if err != nil {
		return Null(), err
	}
	old, repl := sa[1], sa[2]
	if old == "" {
		return Null(), ev.errorf(c.args[1], "replace: the text to replace is empty")
	}
	return mapStrings(func(s string, _ []Value) (Value, error) {
		if n := strings.Count(s, old); len(s)+n*(len(repl)-len(old)) > MaxString {
			return Null(), limitError{}
		}
		return String(strings.ReplaceAll(s, old, repl)), nil
	})(ev, c, args)
}

// cut makes before (true) and after (false).
func cut(before bool) func(*evaluator, *call, []Value) (Value, error) {
	return func(ev *evaluator, c *call, args []Value) (Value, error) {
		sa, err := ev.stringArgs(c, args)
		if err != nil {
			return Null(), err
		}
		return mapStrings(func(s string, _ []Value) (Value, error) {
			b, a, found := strings.Cut(s, sa[1])
			switch {
			case !found:
				return Null(), nil
			case before:
				return String(b), nil
			}
			return String(a), nil
		})(ev, c, args)
	}
}

func split(ev *evaluator, c *call, args []Value) (Value, error) {
	s, ok, err := ev.wantString(c, args, 0)
	if err != nil || !ok {
		return Null(), err
	}
	sa, err := ev.stringArgs(c, args)
	if err != nil {
		return Null(), err
	}
	if sa[1] == "" {
		return Null(), ev.errorf(c.args[1], "split: the separator is empty")
	}
	return Value{kind: KindList, l: strings.SplitN(s, sa[1], MaxList)}, nil
}

func join(ev *evaluator, c *call, args []Value) (Value, error) {
	sa, err := ev.stringArgs(c, args)
	if err != nil {
		return Null(), err
	}
	switch x := args[0]; x.kind {
	case KindNull, KindString:
		return x, nil
	case KindList:
		v := String(strings.Join(x.l, sa[1]))
		if len(v.s) > MaxString {
			return Null(), ev.errorf(c, "join: %v", limitError{})
		}
		return v, nil
	default:
		return Null(), ev.errorf(c.args[0], "join: argument 1 must be a list, got %s %s", x.describe(), x)
	}
}

func str(ev *evaluator, c *call, args []Value) (Value, error) {
	switch x := args[0]; x.kind {
	case KindNull, KindString:
		return x, nil
	case KindBool:
		return String(x.String()), nil
	case KindInt:
		return String(x.String()), nil
	default:
		return Null(), ev.errorf(c.args[0], "str: cannot turn a list into a string (use join)")
	}
}

func contains(ev *evaluator, c *call, args []Value) (Value, error) {
	sub, ok, err := ev.wantString(c, args, 1)
	if err != nil {
		return Null(), err
	}
	if !ok {
		return Bool(false), nil
	}
	switch x := args[0]; x.kind {
	case KindNull:
		return Bool(false), nil
	case KindString:
		return Bool(strings.Contains(x.s, sub)), nil
	case KindList:
		return Bool(slices.Contains(x.l, sub)), nil
	default:
		return Null(), ev.errorf(c.args[0], "contains: argument 1 must be a string or a list, got %s %s", x.describe(), x)
	}
}

func affix(test func(s, affix string) bool) func(*evaluator, *call, []Value) (Value, error) {
	return func(ev *evaluator, c *call, args []Value) (Value, error) {
		s, ok, err := ev.wantString(c, args, 0)
		if err != nil {
			return Null(), err
		}
		a, aok, err := ev.wantString(c, args, 1)
		if err != nil || !ok || !aok {
			return Bool(false), err
		}
		return Bool(test(s, a)), nil
	}
}

func attr(ev *evaluator, c *call, args []Value) (Value, error) {
	name, ok, err := ev.wantString(c, args, 0)
	if err != nil || !ok {
		return Null(), err
	}
	return ev.lookup(extraPrefix + name), nil
}

func coalesce(ev *evaluator, c *call) (Value, error) {
	for _, a := range c.args {
		v, err := ev.eval(a)
		if err != nil {
			return Null(), err
		}
		if !v.empty() {
			return v, nil
		}
	}
	return Null(), nil
}

func defaultFn(ev *evaluator, c *call) (Value, error) {
	v, err := ev.eval(c.args[0])
	if err != nil || !v.empty() {
		return v, err
	}
	return ev.eval(c.args[1])
}

func ifFn(ev *evaluator, c *call) (Value, error) {
	cond, err := ev.truth(c.args[0], "if")
	if err != nil {
		return Null(), err
	}
	if cond {
		return ev.eval(c.args[1])
	}
	return ev.eval(c.args[2])
}

// Randomizer is an Env that makes the values of random(): the password
// rules of the directory a password is for. Elsewhere random() is an
// error: a mapping that changed at every evaluation would push forever.
type Randomizer interface {
	// Random returns a random password of at least length characters (0:
	// the rules' own length) that the rules accept.
	Random(length int) (string, error)
}

func random(ev *evaluator, c *call, args []Value) (Value, error) {
	n := 0
	if len(args) == 1 {
		var err error
		if n, err = ev.wantInt(c, args, 0); err != nil {
			return Null(), err
		}
		if n < 1 || n > 256 {
			return Null(), ev.errorf(c.args[0], "random: length %d: must be from 1 to 256", n)
		}
	}
	r, ok := ev.env.(Randomizer)
	if !ok {
		return Null(), ev.errorf(c, "random: makes passwords, and is only available in a directory's initial password expression")
	}
	s, err := r.Random(n)
	if err != nil {
		return Null(), ev.errorf(c, "random: %v", err)
	}
	return String(s), nil
}
