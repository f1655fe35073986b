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
			if got := fullImportDue(d, tt.last, 0, now); got != tt.want {
				t.Fatalf("fullImportDue = %v, want %v", got, tt.want)
			}
		})
	}
	// The jitter is stable for one (directory, run) and within 10%.
	d := &store.Directory{ID: 3, FullImportInterval: time.Hour}
	first := -1
	for m := 60; m <= 66; m++ {
		if fullImportDue(d, run(time.Duration(m)*time.Minute), 0, now) {
			first = m
			break
		}
	}
	if first < 60 || first > 66 {
		t.Fatalf("a 1h schedule first fell due after %d minutes, want between 60 and 66", first)
	}
	// After failures in a row: 1 minute, then 2, 4, … up to the interval.
	failedAgo := func(ago time.Duration) *store.Run {
		return &store.Run{ID: 8, State: store.RunFailed, StartedAt: now.Add(-ago - time.Minute), FinishedAt: now.Add(-ago)}
	}
	for _, tt := range []struct {
		interval time.Duration
		failed   int
		ago      time.Duration
		want     bool
	}{
		{0, 1, 59 * time.Second, false}, {0, 1, time.Minute, true},
		{0, 2, 119 * time.Second, false}, {0, 2, 2 * time.Minute, true},
		{0, 5, 15 * time.Minute, false}, {0, 5, 16 * time.Minute, true},
		{time.Hour, 8, 59 * time.Minute, false}, {time.Hour, 8, time.Hour, true}, // capped at the interval
		{time.Hour, 64, 59 * time.Minute, false}, {time.Hour, 64, time.Hour, true},
		{-1, 1, time.Hour, false},
	} {
		d := &store.Directory{ID: 3, FullImportInterval: tt.interval}
		if got := fullImportDue(d, failedAgo(tt.ago), tt.failed, now); got != tt.want {
			t.Errorf("interval %v, %d failed, the last %v ago: due %v, want %v", tt.interval, tt.failed, tt.ago, got, tt.want)
		}
	}
}
