package store

import (
	"strings"
	"unicode/utf8"
)

// The bounds of an audit event's fields, in bytes. Every event a store
// writes, on its own or with the change it records, is cut to them
// (Bounded), so that no input — a 1 MB username, a hostile certificate's
// name — can bloat the trail.
const (
	AuditFieldMax  = 256  // Actor, Action, Target
	AuditDetailMax = 2048 // Detail
)

// TruncatedMarker ends a field that was cut to its bound.
const TruncatedMarker = "…(truncated)"

// Bounded returns e with Actor, Action and Target cut to AuditFieldMax
// bytes and Detail to AuditDetailMax (see Truncate).
func (e AuditEvent) Bounded() AuditEvent {
	e.Actor = Truncate(e.Actor, AuditFieldMax)
	e.Action = Truncate(e.Action, AuditFieldMax)
	e.Target = Truncate(e.Target, AuditFieldMax)
	e.Detail = Truncate(e.Detail, AuditDetailMax)
	return e
}

// Truncate returns s as valid UTF-8 of at most n bytes: each run of bytes
// that are not UTF-8, and each NUL (which PostgreSQL refuses in text),
// becomes U+FFFD, and a longer s is cut at a character boundary and ends
// with TruncatedMarker. n must exceed the marker's length.
func Truncate(s string, n int) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "\uFFFD")
	}
	if len(s) <= n {
		return s
	}
	cut := n - len(TruncatedMarker)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + TruncatedMarker
}
