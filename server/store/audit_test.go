package store_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/idsync/idsync/server/store"
)

func TestTruncate(t *testing.T) {
	const m = store.TruncatedMarker // 14 bytes
	tests := []struct {
		name string
		in   string
		n    int
		want string
	}{
		{"empty", "", 20, ""},
		{"short kept", "admin:alice", 20, "admin:alice"},
		{"exactly n kept", strings.Repeat("a", 20), 20, strings.Repeat("a", 20)},
		{"one byte over", strings.Repeat("a", 21), 20, "aaaaaa" + m},
		{"cut before a two-byte character", "aaaaa" + strings.Repeat("é", 8), 20, "aaaaa" + m},
		{"cut after a two-byte character", "aaaa" + strings.Repeat("é", 10), 20, "aaaaé" + m},
		{"a four-byte character is not split", "aaa" + strings.Repeat("😀", 5), 20, "aaa" + m},
		{"invalid bytes replaced", "a\xff\xfeb", 20, "a\uFFFDb"},
		{"NUL replaced", "a\x00b", 20, "a\uFFFDb"},
		{"replaced, then cut", "\xff" + strings.Repeat("a", 30), 20, "\uFFFDaaa" + m},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := store.Truncate(tt.in, tt.n)
			if got != tt.want {
				t.Errorf("Truncate(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
			}
			if len(got) > tt.n || !utf8.ValidString(got) {
				t.Errorf("Truncate(%q, %d) = %q: %d bytes, valid UTF-8 %t; want at most %d, valid",
					tt.in, tt.n, got, len(got), utf8.ValidString(got), tt.n)
			}
		})
	}
}

func TestAuditEventBounded(t *testing.T) {
	long := strings.Repeat("x", 5000)
	e := store.AuditEvent{ID: 7, Actor: long, Action: long, Target: long, Outcome: store.AuditRefused, Detail: long}.Bounded()
	for _, f := range []struct {
		name  string
		value string
		max   int
	}{
		{"actor", e.Actor, store.AuditFieldMax},
		{"action", e.Action, store.AuditFieldMax},
		{"target", e.Target, store.AuditFieldMax},
		{"detail", e.Detail, store.AuditDetailMax},
	} {
		if len(f.value) != f.max || !strings.HasSuffix(f.value, store.TruncatedMarker) {
			t.Errorf("%s: %d bytes ending %q, want %d ending with the marker", f.name, len(f.value), f.value[max(0, len(f.value)-14):], f.max)
		}
	}
	if e.ID != 7 || e.Outcome != store.AuditRefused {
		t.Errorf("Bounded changed id %d or outcome %q", e.ID, e.Outcome)
	}
}
