package days

import (
	"flag"
	"io"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"90d", 90 * Day, true},
		{"0d", 0, true},
		{"12h", 12 * time.Hour, true},
		{"2s", 2 * time.Second, true},
		{"0", 0, true},
		{"1.5d", 0, false},
		{"-1d", 0, false},
		{"-2h", 0, false},
		{"d", 0, false},
		{"99999d", 0, false},
		{"ninety days", 0, false},
	} {
		got, err := Parse(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("Parse(%q) = %v, %v; want %v, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestFormatRoundTrips(t *testing.T) {
	for _, d := range []time.Duration{90 * Day, Day, 36 * time.Hour, 2 * time.Second, 0} {
		back, err := Parse(Format(d))
		if err != nil || back != d {
			t.Errorf("Parse(Format(%v) = %q) = %v, %v", d, Format(d), back, err)
		}
	}
	if got := Format(30 * Day); got != "30d" {
		t.Errorf("Format(30 days) = %q, want 30d", got)
	}
}

func TestFlag(t *testing.T) {
	d := 90 * Day
	fs := flag.NewFlagSet("hub", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Var(Value{&d}, "user-retention", "")
	if err := fs.Parse([]string{"--user-retention", "30d"}); err != nil || d != 30*Day {
		t.Fatalf("--user-retention 30d: %v, %v", d, err)
	}
	if err := fs.Parse([]string{"--user-retention", "soon"}); err == nil {
		t.Fatal("--user-retention soon: no error")
	}
}
