package sqlstore

import "testing"

func TestGrewPast(t *testing.T) {
	tests := []struct {
		name          string
		before, after int64
		want          bool
	}{
		{"small", 0, 500, false},
		{"reaches 1024", 600, 1024, true},
		{"within a power", 1100, 1600, false},
		{"passes 2048", 2000, 2500, true},
		{"passes several", 0, 10000, true},
		{"nothing new", 4096, 4096, false},
	}
	for _, tc := range tests {
		if got := grewPast(tc.before, tc.after); got != tc.want {
			t.Errorf("%s: grewPast(%d, %d) = %v, want %v", tc.name, tc.before, tc.after, got, tc.want)
		}
	}
}

func TestRebind(t *testing.T) {
	tests := []struct {
		name     string
		numbered bool
		in, want string
	}{
		{"question marks kept", false, "a = ? AND b IN (?, ?)", "a = ? AND b IN (?, ?)"},
		{"numbered", true, "a = ? AND b IN (?, ?)", "a = $1 AND b IN ($2, $3)"},
		{"no parameters", true, "SELECT 1", "SELECT 1"},
	}
	for _, tc := range tests {
		d := Dialect{NumberedParams: tc.numbered}
		if got := d.rebind(tc.in); got != tc.want {
			t.Errorf("%s: rebind(%q) = %q, want %q", tc.name, tc.in, got, tc.want)
		}
	}
}
