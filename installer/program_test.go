package installer_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idsync/idsync/installer"
)

var errBoom = errors.New("boom")

func TestProgram(t *testing.T) {
	tests := []struct {
		name string
		// run is the program's function; release ends a run that ignores
		// its context, at the end of the test.
		run         func(ctx context.Context, release <-chan struct{}) error
		stopTimeout time.Duration
		// endsByItself: run returns without being stopped.
		endsByItself bool
		wantErr      error // from Stop, matched with errors.Is
		wantCleanRun bool  // run finished its work before Stop returned
	}{
		{
			name: "stop cancels and waits for the function",
			run: func(ctx context.Context, _ <-chan struct{}) error {
				<-ctx.Done()
				time.Sleep(50 * time.Millisecond) // a graceful shutdown
				return ctx.Err()
			},
			wantCleanRun: true,
		},
		{
			name: "an error returned while stopping is reported",
			run: func(ctx context.Context, _ <-chan struct{}) error {
				<-ctx.Done()
				return errBoom
			},
			wantErr: errBoom,
		},
		{
			name: "stop bound exceeded",
			run: func(_ context.Context, release <-chan struct{}) error {
				<-release
				return nil
			},
			stopTimeout: 50 * time.Millisecond,
			wantErr:     installer.ErrStopTimeout,
		},
		{
			name:         "run error ends the service with that error",
			run:          func(context.Context, <-chan struct{}) error { return errBoom },
			endsByItself: true,
			wantErr:      errBoom,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			release := make(chan struct{})
			t.Cleanup(func() { close(release) })
			started := make(chan struct{})
			var finished atomic.Bool
			p := installer.NewProgram(func(ctx context.Context) error {
				close(started)
				err := tt.run(ctx, release)
				finished.Store(true)
				return err
			})
			p.StopTimeout = tt.stopTimeout

			if err := p.Start(nil); err != nil {
				t.Fatalf("Start: %v", err)
			}
			select {
			case <-started:
			case <-time.After(5 * time.Second):
				t.Fatal("Start returned but the function did not start within 5s")
			}
			if tt.endsByItself {
				select {
				case <-p.Done():
				case <-time.After(5 * time.Second):
					t.Fatal("Done not closed 5s after the function returned")
				}
				if got := p.Err(); !errors.Is(got, tt.wantErr) {
					t.Errorf("Err() = %v, want %v", got, tt.wantErr)
				}
			} else {
				select {
				case <-p.Done():
					t.Fatal("the function returned before Stop: Start did not run it with a live context")
				default:
				}
			}

			begin := time.Now()
			err := p.Stop(nil)
			elapsed := time.Since(begin)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Errorf("Stop() = %v, want %v", err, tt.wantErr)
			}
			if tt.wantCleanRun && !finished.Load() {
				t.Error("Stop returned before the function did")
			}
			if tt.stopTimeout > 0 && (elapsed < tt.stopTimeout || elapsed > tt.stopTimeout+2*time.Second) {
				t.Errorf("Stop took %v, want about the stop timeout %v", elapsed, tt.stopTimeout)
			}
		})
	}
}

func TestProgramStartsOnce(t *testing.T) {
	p := installer.NewProgram(func(ctx context.Context) error { <-ctx.Done(); return nil })
	if err := p.Start(nil); err != nil {
		t.Fatalf("first Start: %v", err)
	}
	defer p.Stop(nil)
	if err := p.Start(nil); err == nil {
		t.Error("second Start = nil, want an error")
	}
}

func TestProgramStopBeforeStart(t *testing.T) {
	p := installer.NewProgram(func(context.Context) error { return errBoom })
	if err := p.Stop(nil); err != nil {
		t.Errorf("Stop before Start = %v, want nil", err)
	}
}
