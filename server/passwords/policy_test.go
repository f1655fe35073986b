package passwords_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/idsync/idsync/server/passwords"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name, in, want, err string
	}{
		{name: "empty", in: "", want: ""},
		{name: "all rules", in: "min-length=14,classes=3,not-username,not-reused", want: "min-length=14,classes=3,not-username,not-reused"},
		{name: "order and spaces", in: " not-reused , classes=2,MIN-LENGTH=8", want: "min-length=8,classes=2,not-reused"},
		{name: "unknown rule", in: "min-length=8,history=5", err: `unknown rule "history"`},
		{name: "classes too high", in: "classes=5", err: "rule classes=5: must be a whole number from 1 to 4"},
		{name: "length not a number", in: "min-length=ten", err: "rule min-length=ten"},
		{name: "length without value", in: "min-length", err: "rule min-length needs a value"},
		{name: "flag with value", in: "not-username=yes", err: "rule not-username takes no value"},
		{name: "twice", in: "classes=2,classes=3", err: "rule classes given twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := passwords.Parse(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Parse(%q) = %v, want an error with %q", tt.in, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if got := p.String(); got != tt.want {
				t.Errorf("Parse(%q).String() = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	p := passwords.MustParse("min-length=14,classes=3,not-username,not-reused")
	old, err := passwords.NewDigest("Old-Password-2024")
	if err != nil {
		t.Fatal(err)
	}
	reused := func(pw string) (bool, error) { return passwords.AnyMatches([]passwords.Digest{old}, pw), nil }
	tests := []struct {
		name, password, rule string
	}{
		{name: "passes", password: "Correct-Horse-77"},
		{name: "empty", password: "", rule: "not-empty"},
		{name: "short", password: "Sh0rt-pass", rule: "min-length=14"},
		{name: "two classes", password: "onlylowercase123", rule: "classes=3"},
		{name: "holds the username", password: "Welcome-Alice-2024", rule: "not-username"},
		{name: "username in another case", password: "Welcome-ALICE-2024", rule: "not-username"},
		{name: "set before", password: "Old-Password-2024", rule: "not-reused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := p.Check(tt.password, passwords.Subject{Username: "alice"}, reused)
			var v *passwords.Violation
			switch {
			case tt.rule == "" && err != nil:
				t.Fatalf("Check: %v, want it to pass", err)
			case tt.rule == "":
			case !errors.As(err, &v):
				t.Fatalf("Check = %v, want a violation of %s", err, tt.rule)
			case v.Rule != tt.rule:
				t.Errorf("violated rule %s, want %s (%v)", v.Rule, tt.rule, err)
			case tt.password != "" && strings.Contains(err.Error(), tt.password):
				t.Errorf("the error %q holds the password", err)
			}
		})
	}
	// A short login name is not looked for (AD's rule).
	if err := p.Check("Xy-and-more-chars-1", passwords.Subject{Username: "xy"}, nil); err != nil {
		t.Errorf("a 2-character login name: %v", err)
	}
}

func TestGenerate(t *testing.T) {
	for _, policy := range []string{"", "min-length=14,classes=4,not-username,not-reused", "min-length=40,classes=3"} {
		t.Run(policy, func(t *testing.T) {
			p := passwords.MustParse(policy)
			seen := map[string]bool{}
			for range 200 {
				pw, err := p.Generate(0, passwords.Subject{Username: "abc"}, func(string) (bool, error) { return false, nil })
				if err != nil {
					t.Fatal(err)
				}
				if err := passwords.MustParse("classes=4").Check(pw, passwords.Subject{}, nil); err != nil {
					t.Errorf("generated %q: %v", pw, err)
				}
				if err := p.Check(pw, passwords.Subject{Username: "abc"}, nil); err != nil {
					t.Errorf("generated %q: %v", pw, err)
				}
				if len(pw) < max(p.MinLength, passwords.DefaultRandomLength) {
					t.Errorf("generated %q: %d characters", pw, len(pw))
				}
				if seen[pw] {
					t.Errorf("generated %q twice", pw)
				}
				seen[pw] = true
			}
		})
	}
	// A policy no draw can pass is an error, not a loop.
	if _, err := passwords.MustParse("not-reused").Generate(0, passwords.Subject{}, func(string) (bool, error) { return true, nil }); err == nil {
		t.Error("Generate with every password reused: no error")
	}
}

func TestDigest(t *testing.T) {
	d, err := passwords.NewDigest("s3cret-Value")
	if err != nil {
		t.Fatal(err)
	}
	if !d.Matches("s3cret-Value") || d.Matches("s3cret-value") {
		t.Errorf("Matches: the same password must match, another not")
	}
	e, _ := passwords.NewDigest("s3cret-Value")
	if string(e.Sum) == string(d.Sum) {
		t.Error("two digests of one password are equal: no salt")
	}
}
