package version

import "testing"

func TestParse(t *testing.T) {
	tests := []struct {
		in           string
		major, minor int
		ok           bool
	}{
		{"v1.4.2", 1, 4, true},
		{"1.4", 1, 4, true},
		{"v0.3.0-12-gabcdef1-dirty", 0, 3, true},
		{"v2.10.0-rc.1", 2, 10, true},
		{"v1.4-beta", 1, 4, true},
		{"dev", 0, 0, false},
		{"6c913c2-dirty", 0, 0, false},
		{"v1", 0, 0, false},
		{"", 0, 0, false},
		{"v1.x.0", 0, 0, false},
		{"v-1.2.0", 0, 0, false},
	}
	for _, tt := range tests {
		major, minor, ok := Parse(tt.in)
		if major != tt.major || minor != tt.minor || ok != tt.ok {
			t.Errorf("Parse(%q) = %d, %d, %v; want %d, %d, %v", tt.in, major, minor, ok, tt.major, tt.minor, tt.ok)
		}
	}
}
