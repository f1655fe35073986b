package expr_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/idsync/idsync/server/provision/expr"
)

// FuzzCompileEval checks that no source and no input make Compile or Eval
// panic, hang or build values beyond the limits, that every error is an
// *expr.Error pointing into the source, and that evaluation is
// deterministic. The seed corpus is in testdata/fuzz/FuzzCompileEval.
func FuzzCompileEval(f *testing.F) {
	for _, src := range []string{
		`lower(email)`,
		`"a" + given_name + " " + family_name`,
		`coalesce(display_name, given_name + " " + family_name)`,
		`default(department, "Unknown")`,
		`if(status == "active", true, false) || !enabled`,
		`upper(trim(substr(x, -3, 2)))`,
		`split(email, "@")[0] == before(email, "@")`,
		`replace(join(extra.list, ";"), ";", "\u00e9")`,
		`contains(extra.list, "a") && starts_with(x, 'b') && ends_with(x, "c")`,
		`attr("list")[-1] != str(empty(after(email, "@")))`,
		`"b" in extra.list && !(email in split(x, ",")) || "a" in upper(extra.list)`,
	} {
		f.Add(src, "Ada.Lovelace@Example.com", "a,b,c")
	}
	f.Fuzz(func(t *testing.T, src, email, extra string) {
		e, err := expr.Compile(src)
		if err != nil {
			checkError(t, src, err)
			return
		}
		list := strings.Split(extra, ",")
		env := expr.MapEnv{
			"email": email, "given_name": email, "family_name": extra, "x": extra,
			"status": "active", "enabled": len(email)%2 == 0, "extra.list": list,
		}
		v, err := e.Eval(env)
		v2, err2 := e.Eval(env)
		if (err == nil) != (err2 == nil) || !v.Equal(v2) {
			t.Fatalf("Eval(%q) is not deterministic: %v, %v then %v, %v", src, v, err, v2, err2)
		}
		if err != nil {
			checkError(t, src, err)
			return
		}
		maxLen := max(expr.MaxString, len(email), len(extra))
		if s, ok := v.AsString(); ok && len(s) > maxLen {
			t.Fatalf("Eval(%q) built a string of %d bytes", src, len(s))
		}
		if l, ok := v.AsList(); ok {
			n := 0
			for _, s := range l {
				n += len(s)
			}
			if len(l) > max(expr.MaxList, len(list)) || n > maxLen {
				t.Fatalf("Eval(%q) built a list of %d elements, %d bytes", src, len(l), n)
			}
		}
	})
}

func checkError(t *testing.T, src string, err error) {
	t.Helper()
	var ee *expr.Error
	if !errors.As(err, &ee) {
		t.Fatalf("%q: error %v (%T) is not an *expr.Error", src, err, err)
	}
	if ee.Pos < 0 || ee.Pos > len(src) || ee.Line < 1 || ee.Col < 1 || ee.Msg == "" {
		t.Fatalf("%q: error %+v does not point into the source", src, ee)
	}
}
