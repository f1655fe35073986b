package loginname_test

import (
	"testing"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/idsync/idsync/internal/loginname"
)

func TestFold(t *testing.T) {
	for _, c := range []struct {
		name string
		in   []string // every spelling folds to want
		want string
	}{
		{"case", []string{"alice", "Alice", "ALICE", "aLiCe"}, "alice"},
		{"fullwidth letters", []string{"ａlice", "ａｌｉｃｅ", "ＡＬＩＣＥ"}, "alice"},
		{"sharp s, small and capital", []string{"straße", "STRASSE", "Strasse", "STRAẞE"}, "strasse"},
		{"Kelvin sign", []string{"\u212Aelvin", "KELVIN", "kelvin"}, "kelvin"},
		{"Ohm and Angstrom signs", []string{"\u2126\u212B", "ωå", "ΩÅ"}, "ωå"},
		{"combining marks compose", []string{"Ame\u0301lie", "Am\u00E9lie", "AM\u00C9LIE", "AME\u0301LIE"}, "am\u00E9lie"},
		{"marks in canonical order", []string{"a\u0323\u0307", "a\u0307\u0323", "\u1EA1\u0307"}, "\u1EA1\u0307"},
		{"ligature", []string{"\uFB01ona", "fiona", "FIONA"}, "fiona"},
		{"dotted capital I", []string{"\u0130stanbul"}, "i\u0307stanbul"},
		{"Greek final sigma", []string{"ΟΔΟΣ", "οδος", "οδοσ"}, "οδοσ"},
		{"ypogegrammeni", []string{"\u0345", "\u0399", "ι"}, "ι"},
		{"leading and trailing spaces", []string{" alice", "alice ", "\talice\n", "\u00A0alice\u3000"}, "alice"},
		{"inner spaces are one", []string{"ann lee", "ann  lee", "ann\u00A0lee", "ann \u2003 lee", "ANN\u3000LEE"}, "ann lee"},
		{"soft hyphen, zero-width and joiner characters", []string{"al\u00ADice", "al\u200Bice", "a\u200Dlice", "alice\uFE0F", "\uFEFFalice", "al\u034Fice"}, "alice"},
		{"controls", []string{"ali\u0000ce", "alice\u007F"}, "alice"},
		{"superscript and circled digits", []string{"user²", "user2", "user\u2461"}, "user2"},
		{"UPN stays itself", []string{"jdoe@corp.example", "JDoe@Corp.Example", "ｊｄｏｅ＠ｃｏｒｐ．ｅｘａｍｐｌｅ"}, "jdoe@corp.example"},
		{"empty", []string{"", "   ", "\u00AD"}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, in := range c.in {
				if got := loginname.Fold(in); got != c.want {
					t.Errorf("Fold(%+q) = %+q, want %+q", in, got, c.want)
				}
			}
		})
	}
}

// TestFoldKeepsDifferentNames: folding joins spellings, not people.
func TestFoldKeepsDifferentNames(t *testing.T) {
	for _, pair := range [][2]string{{"alice", "alicia"}, {"ann lee", "annlee"}, {"jdoe", "jdoe@corp.example"},
		{"amelie", "am\u00E9lie"}, {"i", "\u0131"}} {
		if a, b := loginname.Fold(pair[0]), loginname.Fold(pair[1]); a == b {
			t.Errorf("Fold(%+q) = Fold(%+q) = %+q, want them apart", pair[0], pair[1], a)
		}
	}
}

// FuzzFold: a key is stable (folding it again changes nothing), in NFC,
// valid UTF-8, and without spaces at either end.
func FuzzFold(f *testing.F) {
	for _, s := range []string{"alice", "ａlice", "STRAẞE", "\u212Aelvin", "Ame\u0301lie", " ann  lee ", "al\u00ADice",
		"\u0345", "\u1E9B\u0323", "¨a", "\uFDFA", "\u0130", "ǅ", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k := loginname.Fold(s)
		if again := loginname.Fold(k); again != k {
			t.Errorf("Fold(%+q) = %+q, and folding that gives %+q", s, k, again)
		}
		if utf8.ValidString(s) && !norm.NFC.IsNormalString(k) {
			t.Errorf("Fold(%+q) = %+q is not in NFC", s, k)
		}
		if k != "" && (k[0] == ' ' || k[len(k)-1] == ' ') {
			t.Errorf("Fold(%+q) = %+q has a space at an end", s, k)
		}
	})
}
