package loginname

import (
	"strings"
	"unicode"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// Fold returns the key a directory's equality match would give s, or one
// that folds more: the mapping of LDAP string preparation (RFC 4518:
// controls, format characters and soft hyphens map to nothing, separators
// to a space), then Unicode's NFKC_Casefold (compatibility forms such as
// fullwidth letters and ligatures, full case folding — ß and ẞ as ss, the
// Kelvin sign as k —, default-ignorable code points removed; the result in
// NFC, so a precomposed letter and a letter with a combining mark are one),
// then insignificant spaces: none at either end, one between words.
//
// Two names a directory holds equal have equal keys. Two names with equal
// keys may still be different entries (a directory need not fold ß), which
// only makes them share a limit.
func Fold(s string) string {
	s = strings.Map(prepare, s)
	// NFKC_Casefold is NFKC, case folding and the removal of
	// default-ignorables, repeated until nothing changes (UAX #44,
	// DerivedNormalizationProps.txt); two rounds settle every string in
	// practice, the bound only stops a pathological one.
	for range 8 {
		t := norm.NFKC.String(strings.Map(dropIgnorable, cases.Fold().String(norm.NFKC.String(s))))
		if t == s {
			break
		}
		s = t
	}
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == ' ' }), " ")
}

// prepare is RFC 4518's mapping step: white space and separators become a
// space; controls, format characters and the few code points the RFC
// names map to nothing.
func prepare(r rune) rune {
	switch {
	case unicode.Is(unicode.White_Space, r) || unicode.In(r, unicode.Zs, unicode.Zl, unicode.Zp):
		return ' '
	case unicode.In(r, unicode.Cc, unicode.Cf), r == '\u00AD', r == '\u1806', r == '\u034F', r == '\uFFFC',
		unicode.Is(unicode.Variation_Selector, r):
		return -1
	}
	return r
}

// dropIgnorable removes Default_Ignorable_Code_Point, derived as Unicode's
// DerivedCoreProperties.txt says: Other_Default_Ignorable_Code_Point, Cf
// and Variation_Selector, less White_Space, the interlinear annotation
// characters, the Egyptian hieroglyph format controls and the prepended
// concatenation marks.
func dropIgnorable(r rune) rune {
	if !unicode.In(r, unicode.Other_Default_Ignorable_Code_Point, unicode.Cf, unicode.Variation_Selector) ||
		unicode.Is(unicode.White_Space, r) || (r >= 0xFFF9 && r <= 0xFFFB) || (r >= 0x13430 && r <= 0x1345F) ||
		unicode.Is(unicode.Prepended_Concatenation_Mark, r) {
		return r
	}
	return -1
}
