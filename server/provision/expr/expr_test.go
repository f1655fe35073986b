package expr_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/idsync/idsync/server/provision/expr"
)

// profile is a hub profile as the provisioning engine exposes it.
var profile = expr.MapEnv{
	"email":              "Ada.Lovelace@Example.com",
	"given_name":         "Ada",
	"family_name":        "Lovelace",
	"display_name":       "",
	"status":             "active",
	"department":         nil,
	"title":              "  Countess of Lovelace  ",
	"enabled":            true,
	"extra.employeeType": "contractor",
	"extra.proxyAddresses": []string{
		"SMTP:ada@example.com", "smtp:ada@old.example.com",
	},
	"extra.msDS-cloudExtensionAttribute1": "cloud-1",
	"extra.agency":                        "",
	"extra.groups":                        []any{"Eng", "Staff"},
	"extra.none":                          []string{},
}

var (
	null = expr.Null()
	str  = expr.String
	yes  = expr.Bool(true)
	no   = expr.Bool(false)
	list = func(s ...string) expr.Value { return expr.List(s) }
)

func TestEval(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want expr.Value
	}{
		// Fields and literals.
		{"field", `email`, str("Ada.Lovelace@Example.com")},
		{"missing field is null", `middle_name`, null},
		{"nil field is null", `department`, null},
		{"extra field", `extra.employeeType`, str("contractor")},
		{"list field", `extra.proxyAddresses`, list("SMTP:ada@example.com", "smtp:ada@old.example.com")},
		{"[]any list field", `extra.groups`, list("Eng", "Staff")},
		{"bool field", `enabled`, yes},
		{"string literal", `"a \"b\" \\ \u00e9"`, str(`a "b" \ é`)},
		{"single quotes", `'it\'s'`, str("it's")},
		{"escapes", `"tab\there\nnext"`, str("tab\there\nnext")},
		{"true", `true`, yes},
		{"false", `false`, no},
		{"null", `null`, null},
		{"integer", `42`, expr.Int(42)},
		{"negative integer", `-3`, expr.Int(-3)},
		{"white space", " \n lower( email )\t", str("ada.lovelace@example.com")},

		// The examples of the issue.
		{"lower", `lower(email)`, str("ada.lovelace@example.com")},
		{"concatenation", `"a" + given_name + " " + family_name`, str("aAda Lovelace")},
		{"full name", `given_name + " " + family_name`, str("Ada Lovelace")},
		{"coalesce skips empty", `coalesce(display_name, given_name + " " + family_name)`, str("Ada Lovelace")},
		{"default on null", `default(department, "Unknown")`, str("Unknown")},
		{"if", `if(status == "active", true, false)`, yes},
		{"comparison", `status == "active"`, yes},
		{"upper", `upper(given_name)`, str("ADA")},
		{"trim", `trim(title)`, str("Countess of Lovelace")},
		{"substr", `substr(family_name, 0, 3)`, str("Lov")},
		{"split index", `split(email, "@")[0]`, str("Ada.Lovelace")},
		{"before", `before(email, "@")`, str("Ada.Lovelace")},
		{"replace", `replace(given_name, "a", "4")`, str("Ad4")},
		{"attr", `attr("msDS-cloudExtensionAttribute1")`, str("cloud-1")},
		{"attr missing", `attr("nope")`, null},

		// Operators.
		{"+ with null is null", `given_name + middle_name`, null},
		{"+ null left", `middle_name + "x"`, null},
		{"== different kinds", `enabled == "true"`, no},
		{"== null null", `middle_name == null`, yes},
		{"== string null", `email == null`, no},
		{"== is case-sensitive", `status == "Active"`, no},
		{"!=", `status != "active"`, no},
		{"== lists", `split("a,b", ",") == split("a;b", ";")`, yes},
		{"== ints", `1 == 1`, yes},
		{"&&", `enabled && status == "active"`, yes},
		{"&& false", `enabled && status == "gone"`, no},
		{"&& null is false", `middle_name && true`, no},
		{"||", `false || enabled`, yes},
		{"|| short circuit", `true || lower(enabled)`, yes},
		{"&& short circuit", `false && lower(enabled)`, no},
		{"!", `!enabled`, no},
		{"! null", `!middle_name`, yes},
		{"!!", `!!enabled`, yes},
		{"precedence && over ||", `true || false && false`, yes},
		{"precedence == over &&", `status == "active" && given_name == "Ada"`, yes},
		{"precedence + over ==", `given_name + "!" == "Ada!"`, yes},
		{"precedence ! over ==", `!enabled == false`, yes},
		{"parentheses", `(true || false) && false`, no},
		{"index last", `extra.proxyAddresses[-1]`, str("smtp:ada@old.example.com")},
		{"index out of range", `extra.proxyAddresses[5]`, null},
		{"index far negative", `extra.proxyAddresses[-5]`, null},
		{"index null", `nothing[0]`, null},
		{"null index", `split("a b c", " ")[missing]`, null},
		{"index computed", `split("a b c", " ")[-1]`, str("c")},
		{"in list", `"Staff" in extra.groups`, yes},
		{"in list needs whole element", `"Sta" in extra.groups`, no},
		{"in is case-sensitive", `"staff" in extra.groups`, no},
		{"in lowered list", `"staff" in lower(extra.groups)`, yes},
		{"in string is equality", `"contractor" in extra.employeeType`, yes},
		{"in string not a substring", `"contract" in extra.employeeType`, no},
		{"in null list", `"x" in middle_name`, no},
		{"in empty list", `"x" in extra.none`, no},
		{"null in list", `middle_name in extra.groups`, no},
		{"in computed list", `lower(extra.employeeType) in split("contractor,vendor", ",")`, yes},
		{"not in", `!("Eng" in extra.groups)`, no},
		{"precedence + over in", `"St" + "aff" in extra.groups`, yes},
		{"precedence in over &&", `"Eng" in extra.groups && status == "active"`, yes},
		{"in chains left to right", `"Eng" in extra.groups == true`, yes},
		{"a name starting with in is a name", `inbox == null && "x" in inbox == false`, yes},

		// Every function.
		{"lower list", `lower(extra.proxyAddresses)`, list("smtp:ada@example.com", "smtp:ada@old.example.com")},
		{"lower null", `lower(middle_name)`, null},
		{"upper unicode", `upper("éa")`, str("ÉA")},
		{"trim list", `trim(split(" a , b ", ","))`, list("a", "b")},
		{"substr to end", `substr(family_name, 3)`, str("elace")},
		{"substr negative", `substr(family_name, -3)`, str("ace")},
		{"substr past end", `substr(family_name, 20, 2)`, str("")},
		{"substr runes", `substr("héllo", 1, 3)`, str("éll")},
		{"substr zero length", `substr(family_name, 1, 0)`, str("")},
		{"replace all", `replace("a-b-c", "-", ".")`, str("a.b.c")},
		{"replace list", `replace(extra.proxyAddresses, "smtp:", "")`, list("SMTP:ada@example.com", "ada@old.example.com")},
		{"before missing sep", `before(given_name, "@")`, null},
		{"after", `after(email, "@")`, str("Example.com")},
		{"after missing sep", `after(given_name, "@")`, null},
		{"after list drops misses", `after(split("a:1 b c:3", " "), ":")`, list("1", "3")},
		{"split", `split("a,b,,c", ",")`, list("a", "b", "", "c")},
		{"split null", `split(middle_name, ",")`, null},
		{"join", `join(extra.groups, ";")`, str("Eng;Staff")},
		{"join string", `join(email, ";")`, str("Ada.Lovelace@Example.com")},
		{"join null", `join(middle_name, ";")`, null},
		{"str bool", `str(enabled)`, str("true")},
		{"str int", `str(-7)`, str("-7")},
		{"str null", `str(middle_name)`, null},
		{"str string", `str(email) == email`, yes},
		{"contains", `contains(email, "@")`, yes},
		{"contains list", `contains(extra.groups, "Staff")`, yes},
		{"contains list needs whole element", `contains(extra.groups, "Sta")`, no},
		{"contains null", `contains(middle_name, "x")`, no},
		{"starts_with", `starts_with(email, "Ada")`, yes},
		{"starts_with null", `starts_with(middle_name, "Ada")`, no},
		{"ends_with", `ends_with(lower(email), "@example.com")`, yes},
		{"empty null", `empty(middle_name)`, yes},
		{"empty string", `empty(display_name)`, yes},
		{"empty list", `empty(extra.none)`, yes},
		{"empty false", `empty(email)`, no},
		{"empty bool false is a value", `empty(false)`, no},
		{"coalesce first", `coalesce(given_name, family_name)`, str("Ada")},
		{"coalesce all empty", `coalesce(display_name, middle_name, extra.none)`, null},
		{"coalesce lazy", `coalesce(email, lower(enabled))`, str("Ada.Lovelace@Example.com")},
		{"coalesce one", `coalesce(email)`, str("Ada.Lovelace@Example.com")},
		{"default keeps value", `default(given_name, "x")`, str("Ada")},
		{"default empty string", `default(display_name, "n/a")`, str("n/a")},
		{"default to empty", `default(middle_name, "")`, str("")},
		{"if false branch", `if(extra.employeeType == "employee", "E", "C")`, str("C")},
		{"if null condition", `if(middle_name, "yes", "no")`, str("no")},
		{"if lazy", `if(true, "ok", lower(enabled))`, str("ok")},
		{"nested", `lower(coalesce(display_name, substr(given_name, 0, 1) + "." + family_name))`, str("a.lovelace")},
		{"practical", `extra.employeeType == "contractor" || !empty(extra.agency)`, yes},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := expr.Compile(tt.src)
			if err != nil {
				t.Fatalf("Compile(%s): %v", tt.src, err)
			}
			got, err := e.Eval(profile)
			if err != nil {
				t.Fatalf("Eval(%s): %v", tt.src, err)
			}
			if !got.Equal(tt.want) {
				t.Errorf("%s = %v (%v), want %v (%v)", tt.src, got, got.Kind(), tt.want, tt.want.Kind())
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		src       string
		line, col int
		msg       string
	}{
		{``, 1, 1, `expected a value (a name, string, number, call or "("), found the end`},
		{`lower(email`, 1, 12, `expected "," or ")" in the call to lower, found the end`},
		{`lowr(email)`, 1, 1, `unknown function lowr (did you mean lower?)`},
		{`frobnicate(x)`, 1, 1, `unknown function frobnicate (functions: after, attr, before, coalesce,`},
		{`lower(a, b)`, 1, 1, `lower takes 1 argument, got 2`},
		{`substr(a)`, 1, 1, `substr takes 2 or 3 arguments, got 1`},
		{`coalesce()`, 1, 1, `coalesce takes at least 1 argument, got 0`},
		{`if(a, b)`, 1, 1, `if takes 3 arguments, got 2`},
		{`"abc`, 1, 1, `string not closed`},
		{"\"ab\nc\"", 1, 1, `string not closed on its line`},
		{`"\q"`, 1, 2, `unknown escape \q`},
		{`"\u12"`, 1, 2, `\u needs four hex digits`},
		{`a + `, 1, 5, `expected a value (a name, string, number, call or "("), found the end`},
		{`a b`, 1, 3, `expected an operator or the end, found name b`},
		{`a = "x"`, 1, 3, `unexpected '=' (did you mean "=="?)`},
		{`a & b`, 1, 3, `unexpected '&' (did you mean "&&"?)`},
		{`a | b`, 1, 3, `unexpected '|' (did you mean "||"?)`},
		{`a - b`, 1, 3, `expected an operator or the end, found "-"`},
		{`-x`, 1, 2, `expected a number after "-", found name x`},
		{`(a`, 1, 3, `expected ")" to close the "(" at column 1, found the end`},
		{`x[0`, 1, 4, `expected "]" to close the index opened at column 2, found the end`},
		{`a)`, 1, 2, `expected an operator or the end, found ")"`},
		{"lower(\n  email,\n  x)", 1, 1, `lower takes 1 argument, got 2`},
		{"email +\n  # comment", 2, 3, `unexpected '#'`},
		{`a..b`, 1, 1, `malformed name "a..b"`},
		{`in groups`, 1, 1, `expected a value (a name, string, number, call or "("), found "in"`},
		{`"x" in`, 1, 7, `expected a value (a name, string, number, call or "("), found the end`},
		{`"x" groups`, 1, 5, `expected an operator or the end, found name groups`},
		{`extra.`, 1, 1, `malformed name "extra."`},
		{`é`, 1, 1, `unexpected 'é'`},
		{"a\x01", 1, 2, `unexpected character U+0001`},
		{`99999999999999999999`, 1, 1, `number 99999999999999999999 too large`},
		{strings.Repeat("(", 40) + "a" + strings.Repeat(")", 40), 1, 33, `expression nested deeper than 32`},
		{strings.Repeat("!", 40) + "a", 1, 33, `expression nested deeper than 32`},
		{strings.Repeat("x", 5000), 1, 4097, `expression longer than 4096 bytes`},
		{"\xff", 1, 1, `expression is not valid UTF-8`},
	}
	for _, tt := range tests {
		t.Run(tt.msg, func(t *testing.T) {
			_, err := expr.Compile(tt.src)
			var e *expr.Error
			if !errors.As(err, &e) {
				t.Fatalf("Compile(%q) = %v, want an *expr.Error", tt.src, err)
			}
			if e.Line != tt.line || e.Col != tt.col || !strings.HasPrefix(e.Msg, tt.msg) {
				t.Errorf("Compile(%q) error = %q at %d:%d, want %q at %d:%d", tt.src, e.Msg, e.Line, e.Col, tt.msg, tt.line, tt.col)
			}
			if want := fmt.Sprintf("%d:%d: ", e.Line, e.Col); !strings.HasPrefix(err.Error(), want) {
				t.Errorf("Error() = %q, want it to start with %q", err, want)
			}
		})
	}
}

func TestEvalErrors(t *testing.T) {
	tests := []struct {
		src string
		col int
		msg string
	}{
		{`lower(enabled)`, 7, `lower: argument 1 must be a string or a list, got a bool true`},
		{`email + enabled`, 7, `"+" joins strings, got a bool true (use str() or join())`},
		{`enabled + "x"`, 9, `"+" joins strings, got a bool true`},
		{`email && true`, 1, `"&&" needs a bool, got a string "Ada.Lovelace@Example.com"`},
		{`false || false || email`, 19, `"||" needs a bool, got a string`},
		{`!email`, 2, `"!" needs a bool, got a string`},
		{`if(email, 1, 2)`, 4, `if needs a bool, got a string`},
		{`email[0]`, 6, `only a list can be indexed, got a string`},
		{`extra.groups["0"]`, 14, `an index must be an integer, got a string "0"`},
		{`substr(email, "1")`, 15, `substr: argument 2 must be an integer, got a string "1"`},
		{`substr(email, 0, -1)`, 18, `substr: length -1 is negative`},
		{`replace(email, "", "x")`, 16, `replace: the text to replace is empty`},
		{`replace(email, null, "x")`, 16, `replace: argument 2 must be a string, got null`},
		{`split(email, "")`, 14, `split: the separator is empty`},
		{`split(enabled, ",")`, 7, `split: argument 1 must be a string, got a bool`},
		{`join(enabled, ",")`, 6, `join: argument 1 must be a list, got a bool`},
		{`str(extra.groups)`, 5, `str: cannot turn a list into a string (use join)`},
		{`contains(enabled, "x")`, 10, `contains: argument 1 must be a string or a list`},
		{`attr(enabled)`, 6, `attr: argument 1 must be a string, got a bool`},
		{`before(email, 1)`, 15, `before: argument 2 must be a string, got a integer 1`},
		{`enabled in extra.groups`, 1, `"in" looks for a string, got a bool true`},
		{`extra.groups in extra.groups`, 1, `"in" looks for a string, got a list`},
		{`"x" in enabled`, 8, `"in" looks in a list, got a bool true`},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			e := expr.MustCompile(tt.src)
			_, err := e.Eval(profile)
			var ee *expr.Error
			if !errors.As(err, &ee) {
				t.Fatalf("Eval(%s) = %v, want an *expr.Error", tt.src, err)
			}
			if ee.Col != tt.col || !strings.HasPrefix(ee.Msg, tt.msg) {
				t.Errorf("Eval(%s) error = %q at column %d, want %q at column %d", tt.src, ee.Msg, ee.Col, tt.msg, tt.col)
			}
		})
	}
}

func TestLimits(t *testing.T) {
	big := strings.Repeat("x", expr.MaxString/2+1)
	env := expr.MapEnv{"big": big, "many": strings.Repeat("a,", 5000)}
	tests := []struct {
		name    string
		src     string
		wantErr string
		check   func(expr.Value) string
	}{
		{"concatenation", `big + big`, "string longer than 65536 bytes", nil},
		{"replace growth", `replace(big, "x", "xy")`, "replace: result larger than 65536 bytes", nil},
		{"join growth", `join(split(big + "," + "a", ","), big)`, "join: result larger than 65536 bytes", nil},
		{"split count", `split(many, ",")`, "", func(v expr.Value) string {
			l, _ := v.AsList()
			if len(l) != expr.MaxList {
				return fmt.Sprintf("split built %d elements, want %d", len(l), expr.MaxList)
			}
			return ""
		}},
		{"list growth", `replace(split(many, ","), "a", big)`, "replace: result larger than 65536 bytes", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := expr.MustCompile(tt.src).Eval(env)
			switch {
			case tt.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("err %v, want %q", err, tt.wantErr)
				}
			case err != nil:
				t.Errorf("err %v", err)
			default:
				if msg := tt.check(v); msg != "" {
					t.Error(msg)
				}
			}
		})
	}
	long := strings.Repeat("a + ", 1000) + "a"
	if _, err := expr.Compile(long); err != nil {
		t.Errorf("a chain of 1000 + is not nesting: %v", err)
	}
}

// TestWorstCase evaluates the heaviest expressions a 4 KiB source allows on
// large inputs: they must end (in error or not) in a bounded time.
func TestWorstCase(t *testing.T) {
	big := strings.Repeat("ab", 30<<10)
	var many []string
	for i := range 1000 {
		many = append(many, fmt.Sprintf("a%060d", i))
	}
	env := expr.MapEnv{"x": big, "l": many}
	chain := func(term string) string {
		var b strings.Builder
		b.WriteString(term)
		for b.Len()+len(term)+3 < expr.MaxSource {
			b.WriteString(" + " + term)
		}
		return b.String()
	}
	tests := []struct{ name, src string }{
		{"deep nesting on a big string", strings.Repeat("lower(", 31) + "x" + strings.Repeat(")", 31)},
		{"chain of replaces", chain(`replace(x, "a", "b")`)},
		{"chain of substrings", chain(`substr(x, 1, 10)`)},
		{"growth over a list", `join(replace(replace(l, "0", "00"), "0", "00"), ",")`},
		{"many coalesce arguments", "coalesce(" + strings.Repeat("null, ", 600) + "x)"},
		{"many conditions", chain(`str(contains(x, "ba") && starts_with(x, "ab"))`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := expr.Compile(tt.src)
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			start := time.Now()
			_, err = e.Eval(env)
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("Eval took %v (err %v)", d, err)
			}
		})
	}
}

func TestFields(t *testing.T) {
	tests := []struct {
		src  string
		want string
	}{
		{`email`, "[email]"},
		{`coalesce(display_name, given_name + " " + family_name)`, "[display_name family_name given_name]"},
		{`lower(email) == lower(email)`, "[email]"},
		{`attr("msDS-x") + extra.y`, "[extra.msDS-x extra.y]"},
		{`attr(email)`, "[email]"},
		{`"constant"`, "[]"},
		{`split(email, "@")[n]`, "[email n]"},
	}
	for _, tt := range tests {
		e := expr.MustCompile(tt.src)
		if got := fmt.Sprint(e.Fields()); got != tt.want {
			t.Errorf("Fields(%s) = %s, want %s", tt.src, got, tt.want)
		}
		if e.String() != tt.src {
			t.Errorf("String() = %q, want the source %q", e.String(), tt.src)
		}
	}
}

func TestValues(t *testing.T) {
	tests := []struct {
		in      any
		ok      bool
		kind    expr.Kind
		display string
		any     any
	}{
		{nil, true, expr.KindNull, "null", nil},
		{"a\"b", true, expr.KindString, `"a\"b"`, "a\"b"},
		{true, true, expr.KindBool, "true", true},
		{7, true, expr.KindInt, "7", 7},
		{[]string{"a", "b"}, true, expr.KindList, `["a", "b"]`, []string{"a", "b"}},
		{[]any{"a"}, true, expr.KindList, `["a"]`, []string{"a"}},
		{[]any{"a", 1}, false, expr.KindNull, "null", nil},
		{3.5, false, expr.KindNull, "null", nil},
		{expr.Bool(false), true, expr.KindBool, "false", false},
	}
	for _, tt := range tests {
		v, ok := expr.FromAny(tt.in)
		if ok != tt.ok || v.Kind() != tt.kind || v.String() != tt.display || fmt.Sprint(v.Any()) != fmt.Sprint(tt.any) {
			t.Errorf("FromAny(%#v) = %v (%v, %v), ok %v; want %s (%v, %v), ok %v", tt.in, v, v.Kind(), v.Any(), ok, tt.display, tt.kind, tt.any, tt.ok)
		}
	}
	items := []string{"x"}
	l := expr.List(items)
	items[0] = "changed"
	if got, _ := l.AsList(); got[0] != "x" {
		t.Errorf("List shares the caller's slice")
	}
	if _, ok := (expr.MapEnv{"f": 2.5}).Lookup("f"); ok {
		t.Errorf("MapEnv.Lookup of a float reported present")
	}
	if v, err := expr.MustCompile(`email`).Eval(nil); err != nil || !v.IsNull() {
		t.Errorf("Eval(nil env) = %v, %v; want null", v, err)
	}
}

func ExampleCompile() {
	e, err := expr.Compile(`coalesce(display_name, given_name + " " + family_name)`)
	if err != nil {
		panic(err)
	}
	v, _ := e.Eval(expr.MapEnv{"given_name": "Ada", "family_name": "Lovelace"})
	fmt.Println(v)
	fmt.Println(e.Fields())

	_, err = expr.Compile(`lower(email`)
	fmt.Println(err)
	// Output:
	// "Ada Lovelace"
	// [display_name family_name given_name]
	// 1:12: expected "," or ")" in the call to lower, found the end
}

// randomEnv is an Env with password rules: random() asks it.
type randomEnv struct {
	expr.MapEnv
	asked []int
}

func (r *randomEnv) Random(n int) (string, error) {
	r.asked = append(r.asked, n)
	return fmt.Sprintf("pw%d", n), nil
}

// TestRandom: random() asks the password rules of its environment, with
// the length given (0: the rules' own); elsewhere it is an error, and
// Calls finds it so that a mapping can refuse it.
func TestRandom(t *testing.T) {
	env := &randomEnv{MapEnv: expr.MapEnv{"username": "ann"}}
	for _, tt := range []struct{ src, want string }{
		{"random()", "pw0"}, {"random(32)", "pw32"}, {`"x-" + random(8)`, "x-pw8"},
	} {
		v, err := expr.MustCompile(tt.src).Eval(env)
		if s, _ := v.AsString(); err != nil || s != tt.want {
			t.Errorf("%s = %v, %v; want %q", tt.src, v, err, tt.want)
		}
	}
	if _, err := expr.MustCompile("random()").Eval(expr.MapEnv{}); err == nil || !strings.Contains(err.Error(), "only available in a directory's initial password") {
		t.Errorf("random() without password rules: %v", err)
	}
	if _, err := expr.MustCompile("random(0)").Eval(env); err == nil || !strings.Contains(err.Error(), "length 0") {
		t.Errorf("random(0): %v", err)
	}
	if _, err := expr.Compile(`random("a")`); err != nil {
		t.Errorf("compile random(\"a\"): %v (the type is checked when it runs)", err)
	}
	for src, want := range map[string]bool{"random()": true, `lower(username) + random(4)`: true, "random": false, `"random()"`: false} {
		if got := expr.MustCompile(src).Calls("random"); got != want {
			t.Errorf("Calls(random) of %s = %v, want %v", src, got, want)
		}
	}
}
