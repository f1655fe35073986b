package ldapsync

import (
	"strconv"
	"strings"
)

// AD returns at most MaxValRange (1,500 by default) values of a
// multi-valued attribute per search; the first window comes as
// "member;range=0-1499" and the client asks for the rest window by window,
// until the server answers with a high bound of "*".

// openEnded is the high bound "*" of the last window.
const openEnded = -1

// maxRangeIndex bounds a window's bounds, far above any attribute a server
// holds: the next window (high+1 on, as wide as this one) is then computed
// without overflow, even where int has 32 bits.
const maxRangeIndex = 1<<30 - 1

// attrRange is an attribute description split around its range option.
type attrRange struct {
	// base is the description without the range option, e.g. "member" or
	// "member;binary".
	base string
	// low and high are the window's bounds; high is openEnded for "*".
	low, high int
}

// parseRange splits an attribute description such as "member;range=0-1499"
// into its base and window. ok is false when the description has no
// well-formed range option.
func parseRange(desc string) (r attrRange, ok bool) {
	// Lower-case ASCII only: strings.ToLower can change the length of a
	// description that is not ASCII, and i must index desc itself.
	i := strings.Index(asciiLower(desc), ";range=")
	if i < 0 {
		return attrRange{}, false
	}
	spec, rest, _ := strings.Cut(desc[i+len(";range="):], ";")
	lowText, highText, found := strings.Cut(spec, "-")
	if !found {
		return attrRange{}, false
	}
	low, err := strconv.Atoi(lowText)
	if err != nil || low < 0 || low > maxRangeIndex {
		return attrRange{}, false
	}
	high := openEnded
	if highText != "*" {
		if high, err = strconv.Atoi(highText); err != nil || high < low || high > maxRangeIndex {
			return attrRange{}, false
		}
	}
	base := desc[:i]
	if rest != "" {
		base += ";" + rest
	}
	return attrRange{base: base, low: low, high: high}, true
}

// rangeDesc returns the description requesting values low to high
// (openEnded for all the rest) of attribute base.
func rangeDesc(base string, low, high int) string {
	h := "*"
	if high != openEnded {
		h = strconv.Itoa(high)
	}
	return base + ";range=" + strconv.Itoa(low) + "-" + h
}

// asciiLower returns s with its ASCII letters in lower case and every other
// byte as it is, so that indexes into it are indexes into s.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
