package runs

import (
	"testing"
	"time"

	"github.com/idsync/idsync/server/store"
)

func TestFullImportDue(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	run := func(ago time.Duration) *store.Run { return &store.Run{ID: 7, StartedAt: now.Add(-ago)} }
	tests := []struct {
		name     string
		interval time.Duration
		last     *store.Run
		want     bool
	}{
		{"never imported", 0, nil, true},
		{"off", -1, nil, false},
		{"default 24h, 23h ago", 0, run(23 * time.Hour), false},
		{"default 24h, 27h ago (past any jitter)", 0, run(27 * time.Hour), true},
		{"1h, 30m ago", time.Hour, run(30 * time.Minute), false},
		{"1h, 2h ago", time.Hour, run(2 * time.Hour), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &store.Directory{ID: 3, FullImportInterval: tt.interval}
			if got := fullImportDue(d, tt.last, now); got != tt.want {
				t.Fatalf("fullImportDue = %v, want %v", got, tt.want)
			}
		})
	}
	// The jitter is stable for one (directory, run) and within 10%.
	d := &store.Directory{ID: 3, FullImportInterval: time.Hour}
	first := -1
	for m := 60; m <= 66; m++ {
		if fullImportDue(d, run(time.Duration(m)*time.Minute), now) {
			first = m
			break
		}
	}
	if first < 60 || first > 66 {
		t.Fatalf("a 1h schedule first fell due after %d minutes, want between 60 and 66", first)
	}
}
