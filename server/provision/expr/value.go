package expr

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Kind is the type of a Value.
type Kind uint8

// The kinds of values.
const (
	KindNull Kind = iota
	KindString
	KindBool
	KindInt
	KindList
)

func (k Kind) String() string {
	switch k {
	case KindString:
		return "string"
	case KindBool:
		return "bool"
	case KindInt:
		return "integer"
	case KindList:
		return "list"
	}
	return "null"
}

// Value is the result of an expression, or a field of its environment. The
// zero Value is null.
type Value struct {
	kind Kind
	s    string
	b    bool
	n    int
	l    []string
}

// Null returns the null value.
func Null() Value { return Value{} }

// String returns a string value.
func String(s string) Value { return Value{kind: KindString, s: s} }

// Bool returns a bool value.
func Bool(b bool) Value { return Value{kind: KindBool, b: b} }

// Int returns an integer value.
func Int(n int) Value { return Value{kind: KindInt, n: n} }

// List returns a list value; the value keeps its own copy of items.
func List(items []string) Value { return Value{kind: KindList, l: slices.Clone(items)} }

// Kind returns the kind of v.
func (v Value) Kind() Kind { return v.kind }

// IsNull reports whether v is null.
func (v Value) IsNull() bool { return v.kind == KindNull }

// AsString returns the text of a string value.
func (v Value) AsString() (string, bool) { return v.s, v.kind == KindString }

// AsBool returns a bool value.
func (v Value) AsBool() (bool, bool) { return v.b, v.kind == KindBool }

// AsInt returns an integer value.
func (v Value) AsInt() (int, bool) { return v.n, v.kind == KindInt }

// AsList returns a copy of the elements of a list value.
func (v Value) AsList() ([]string, bool) { return slices.Clone(v.l), v.kind == KindList }

// Any returns v as a Go value for a JSON body: nil, string, bool, int or
// []string.
func (v Value) Any() any {
	switch v.kind {
	case KindString:
		return v.s
	case KindBool:
		return v.b
	case KindInt:
		return v.n
	case KindList:
		return slices.Clone(v.l)
	}
	return nil
}

// Equal reports whether v and o are of the same kind and hold the same value.
func (v Value) Equal(o Value) bool {
	return v.kind == o.kind && v.s == o.s && v.b == o.b && v.n == o.n && slices.Equal(v.l, o.l)
}

// String formats v as it would be written in an expression: "text", true,
// null, 3, ["a", "b"].
func (v Value) String() string {
	switch v.kind {
	case KindString:
		return strconv.Quote(v.s)
	case KindBool:
		return strconv.FormatBool(v.b)
	case KindInt:
		return strconv.Itoa(v.n)
	case KindList:
		q := make([]string, len(v.l))
		for i, s := range v.l {
			q[i] = strconv.Quote(s)
		}
		return "[" + strings.Join(q, ", ") + "]"
	}
	return "null"
}

// empty reports whether v is null, "" or an empty list.
func (v Value) empty() bool {
	switch v.kind {
	case KindNull:
		return true
	case KindString:
		return v.s == ""
	case KindList:
		return len(v.l) == 0
	}
	return false
}

// size is the number of bytes v holds, for the limits.
func (v Value) size() int {
	n := len(v.s)
	for _, s := range v.l {
		n += len(s)
	}
	return n
}

// Env supplies the fields an expression reads. Lookup reports false for a
// missing field, which the expression sees as null.
type Env interface {
	Lookup(name string) (Value, bool)
}

// MapEnv is an Env over a map whose values are nil, string, bool, int,
// []string, []any of strings, or Value.
type MapEnv map[string]any

var _ Env = MapEnv(nil)

// Lookup returns the field name converted to a Value; a value of another
// type is reported missing.
func (m MapEnv) Lookup(name string) (Value, bool) {
	v, ok := FromAny(m[name])
	return v, ok && m[name] != nil
}

// FromAny converts a Go value to a Value: nil, string, bool, int, []string,
// []any of strings, or a Value. It reports false for anything else.
func FromAny(x any) (Value, bool) {
	switch x := x.(type) {
	case nil:
		return Null(), true
	case Value:
		return x, true
	case string:
		return String(x), true
	case bool:
		return Bool(x), true
	case int:
		return Int(x), true
	case []string:
		return List(x), true
	case []any:
		l := make([]string, len(x))
		for i, e := range x {
			s, ok := e.(string)
			if !ok {
				return Null(), false
			}
			l[i] = s
		}
		return Value{kind: KindList, l: l}, true
	}
	return Null(), false
}

func (v Value) describe() string {
	if v.kind == KindNull {
		return "null"
	}
	return fmt.Sprintf("a %s", v.kind)
}
