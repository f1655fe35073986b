package installer_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/kardianos/service"

	"github.com/idsync/idsync/installer"
	"github.com/idsync/idsync/installer/installertest"
)

func TestRun(t *testing.T) {
	tests := []struct {
		name string
		// run is the function; cancel ends Run's context.
		run     func(ctx context.Context, cancel context.CancelFunc) error
		wantErr error
	}{
		{
			name: "context cancelled: the function is stopped",
			run: func(ctx context.Context, cancel context.CancelFunc) error {
				cancel()
				<-ctx.Done()
				return ctx.Err()
			},
		},
		{
			name:    "function error ends Run with that error",
			run:     func(context.Context, context.CancelFunc) error { return errBoom },
			wantErr: errBoom,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			installertest.Use(t)
			c, err := installer.Config(installer.Options{ConfigPath: "/etc/idsync/agent.yaml"})
			if err != nil {
				t.Fatalf("Config: %v", err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			got := runWithin(t, 5*time.Second, func() error {
				return installer.Run(ctx, c, slog.New(slog.DiscardHandler), func(ctx context.Context) error { return tt.run(ctx, cancel) })
			})
			if !errors.Is(got, tt.wantErr) || (tt.wantErr == nil && got != nil) {
				t.Errorf("Run() = %v, want %v", got, tt.wantErr)
			}
			if _, ok := c.Option["RunWait"]; ok {
				t.Error("Run added RunWait to the caller's options; it must work on a copy")
			}
		})
	}
}

// undetected is a system that is never available, as on an OS the library
// does not support.
type undetected struct{ installertest.Fake }

func (*undetected) Detect() bool { return false }

func TestRunWithoutServiceSystem(t *testing.T) {
	prev := service.AvailableSystems()
	service.ChooseSystem(&undetected{})
	t.Cleanup(func() { service.ChooseSystem(prev...) })

	c, err := installer.Config(installer.Options{ConfigPath: "/etc/idsync/agent.yaml"})
	if err != nil {
		t.Fatalf("Config: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	ran := false
	got := runWithin(t, 5*time.Second, func() error {
		return installer.Run(ctx, c, slog.New(slog.DiscardHandler), func(ctx context.Context) error {
			ran = true
			cancel()
			<-ctx.Done()
			return nil
		})
	})
	if got != nil || !ran {
		t.Errorf("Run() = %v, ran %v; want nil, true", got, ran)
	}
}

// runWithin calls f and fails the test if it does not return within d.
func runWithin(t *testing.T, d time.Duration, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		t.Fatalf("did not return within %v", d)
		return nil
	}
}
