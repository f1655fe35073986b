package passwords

import (
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Rule names, as the policy is written.
const (
	RuleMinLength   = "min-length"
	RuleClasses     = "classes"
	RuleNotUsername = "not-username"
	RuleNotReused   = "not-reused"
)

// Bounds of a policy.
const (
	// MaxMinLength bounds min-length: AD takes at most 256 characters in
	// unicodePwd, and no one types more.
	MaxMinLength = 256
	// DefaultRandomLength is how long random() makes a password when the
	// policy asks for less.
	DefaultRandomLength = 20
)

// Policy is a directory's password rules. The zero Policy allows every
// password that is not empty.
type Policy struct {
	// MinLength is the least number of characters.
	MinLength int
	// Classes is how many of the four classes (upper case, lower case,
	// digit, symbol) the password must mix, 0 to 4.
	Classes int
	// NotUsername refuses a password that holds the user's login name
	// (ignoring case; names shorter than 3 characters are not looked for,
	// as AD does).
	NotUsername bool
	// NotReused refuses a password the hub set for the same user before.
	NotReused bool
}

// Parse reads a policy as written: rules separated by commas,
// "min-length=N", "classes=N", "not-username", "not-reused"; "" is the
// zero policy. An error names the rule.
func Parse(s string) (Policy, error) {
	var p Policy
	seen := map[string]bool{}
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, value, hasValue := strings.Cut(part, "=")
		name = strings.ToLower(strings.TrimSpace(name))
		value = strings.TrimSpace(value)
		if seen[name] {
			return Policy{}, fmt.Errorf("password policy: rule %s given twice", name)
		}
		seen[name] = true
		number := func(lo, hi int) (int, error) {
			if !hasValue {
				return 0, fmt.Errorf("password policy: rule %s needs a value (%s=N)", name, name)
			}
			n, err := strconv.Atoi(value)
			if err != nil || n < lo || n > hi {
				return 0, fmt.Errorf("password policy: rule %s=%s: must be a whole number from %d to %d", name, value, lo, hi)
			}
			return n, nil
		}
		flag := func() error {
			if hasValue {
				return fmt.Errorf("password policy: rule %s takes no value", name)
			}
			return nil
		}
		var err error
		switch name {
		case RuleMinLength:
			p.MinLength, err = number(1, MaxMinLength)
		case RuleClasses:
			p.Classes, err = number(1, 4)
		case RuleNotUsername:
			p.NotUsername, err = true, flag()
		case RuleNotReused:
			p.NotReused, err = true, flag()
		default:
			err = fmt.Errorf("password policy: unknown rule %q: the rules are %s=N, %s=N (of upper, lower, digit, symbol), %s and %s",
				name, RuleMinLength, RuleClasses, RuleNotUsername, RuleNotReused)
		}
		if err != nil {
			return Policy{}, err
		}
	}
	return p, nil
}

// MustParse is Parse for policies known to be valid (stored ones).
func MustParse(s string) Policy {
	p, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return p
}

// String writes the policy as Parse reads it, its rules in a fixed order;
// the zero policy is "".
func (p Policy) String() string {
	var parts []string
	if p.MinLength > 0 {
		parts = append(parts, RuleMinLength+"="+strconv.Itoa(p.MinLength))
	}
	if p.Classes > 0 {
		parts = append(parts, RuleClasses+"="+strconv.Itoa(p.Classes))
	}
	if p.NotUsername {
		parts = append(parts, RuleNotUsername)
	}
	if p.NotReused {
		parts = append(parts, RuleNotReused)
	}
	return strings.Join(parts, ",")
}

// IsZero reports whether the policy has no rule.
func (p Policy) IsZero() bool { return p == Policy{} }

// Violation is a password that breaks a rule of the policy. It never holds
// the password.
type Violation struct {
	// Rule is the rule broken, as written ("min-length=14").
	Rule string
	// Why says how, without the password.
	Why string
}

func (v *Violation) Error() string {
	return fmt.Sprintf("password policy rule %s: %s", v.Rule, v.Why)
}

// Subject is whom a password is for.
type Subject struct {
	// Username is the user's login name.
	Username string
}

// Reused reports whether the hub set this password for the subject before.
type Reused func(password string) (bool, error)

// Check checks password against the policy: empty is always refused; the
// first rule it breaks is the error, a *Violation. reused is asked only
// when the policy has not-reused (nil: nothing was set before).
func (p Policy) Check(password string, s Subject, reused Reused) error {
	if password == "" {
		return &Violation{Rule: "not-empty", Why: "the password is empty"}
	}
	if n := utf8.RuneCountInString(password); n < p.MinLength {
		return &Violation{Rule: RuleMinLength + "=" + strconv.Itoa(p.MinLength),
			Why: fmt.Sprintf("the password has %d characters", n)}
	}
	if n := classes(password); n < p.Classes {
		return &Violation{Rule: RuleClasses + "=" + strconv.Itoa(p.Classes),
			Why: fmt.Sprintf("the password mixes %d of upper case, lower case, digits and symbols", n)}
	}
	if p.NotUsername && holdsName(password, s.Username) {
		return &Violation{Rule: RuleNotUsername, Why: fmt.Sprintf("the password holds the login name %q", s.Username)}
	}
	if p.NotReused && reused != nil {
		again, err := reused(password)
		if err != nil {
			return fmt.Errorf("password policy rule %s: reading the passwords set before: %w", RuleNotReused, err)
		}
		if again {
			return &Violation{Rule: RuleNotReused, Why: "the hub set this password for the user before"}
		}
	}
	return nil
}

// holdsName reports whether password holds name, ignoring case; names
// shorter than 3 characters are not looked for.
func holdsName(password, name string) bool {
	name = strings.TrimSpace(name)
	if utf8.RuneCountInString(name) < 3 {
		return false
	}
	return strings.Contains(strings.ToLower(password), strings.ToLower(name))
}

// classes counts the classes a password mixes: upper case, lower case,
// digits, and anything else (symbols, other letters count as their case).
func classes(s string) int {
	var upper, lower, digit, symbol bool
	for _, r := range s {
		switch {
		case unicode.IsUpper(r):
			upper = true
		case unicode.IsLower(r):
			lower = true
		case unicode.IsDigit(r):
			digit = true
		default:
			symbol = true
		}
	}
	n := 0
	for _, b := range []bool{upper, lower, digit, symbol} {
		if b {
			n++
		}
	}
	return n
}

// The alphabets random passwords are drawn from: no look-alikes (0/O,
// 1/l/I), and symbols that need no quoting in a shell, a URL's query or
// an LDIF file.
const (
	upperSet  = "ABCDEFGHJKLMNPQRSTUVWXYZ"
	lowerSet  = "abcdefghijkmnopqrstuvwxyz"
	digitSet  = "23456789"
	symbolSet = "-_.!#%+:="
)

// Generate returns a random password of length characters (at least the
// policy's minimum and DefaultRandomLength when length is 0) with every
// class, drawn from crypto/rand, that passes Check for s (reused is asked
// as Check does).
func (p Policy) Generate(length int, s Subject, reused Reused) (string, error) {
	if length <= 0 {
		length = DefaultRandomLength
	}
	length = max(length, p.MinLength, 4)
	if length > MaxMinLength {
		return "", fmt.Errorf("random password of %d characters: at most %d", length, MaxMinLength)
	}
	for range 10 {
		pw, err := random(length)
		if err != nil {
			return "", err
		}
		err = p.Check(pw, s, reused)
		var v *Violation
		if errors.As(err, &v) {
			continue // the login name came up by chance, or a repeat: draw again
		}
		return pw, err
	}
	return "", errors.New("no random password passed the policy in 10 draws")
}

// random draws a password of n ≥ 4 characters holding each class.
func random(n int) (string, error) {
	sets := []string{upperSet, lowerSet, digitSet, symbolSet}
	all := upperSet + lowerSet + digitSet + symbolSet
	out := make([]byte, n)
	for i := range out {
		set := all
		if i < len(sets) {
			set = sets[i]
		}
		c, err := pick(set)
		if err != nil {
			return "", err
		}
		out[i] = c
	}
	// Shuffle, so the classes are not always in front.
	for i := len(out) - 1; i > 0; i-- {
		j, err := rand.Int(rand.Reader, big.NewInt(int64(i+1)))
		if err != nil {
			return "", err
		}
		out[i], out[j.Int64()] = out[j.Int64()], out[i]
	}
	return string(out), nil
}

func pick(set string) (byte, error) {
	i, err := rand.Int(rand.Reader, big.NewInt(int64(len(set))))
	if err != nil {
		return 0, fmt.Errorf("drawing a random password: %w", err)
	}
	return set[i.Int64()], nil
}
