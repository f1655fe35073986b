package installer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/kardianos/service"
)

// DefaultStopTimeout bounds how long Stop waits for the run function to
// return: well under systemd's stop timeout (90 s by default), so a stuck
// stop is reported by the agent rather than ended by SIGKILL.
const DefaultStopTimeout = 20 * time.Second

// ErrStopTimeout is returned by Program.Stop when the run function did not
// return within the stop timeout.
var ErrStopTimeout = errors.New("did not stop in time")

// Program adapts a run function to service.Interface: Start launches it in a
// goroutine with a context that only Stop cancels, and returns at once; Stop
// cancels that context and waits, at most StopTimeout, for the function to
// return. A Program runs once.
type Program struct {
	// StopTimeout bounds Stop; zero means DefaultStopTimeout.
	StopTimeout time.Duration

	run  func(context.Context) error
	done chan struct{} // closed when run has returned

	mu       sync.Mutex
	cancel   context.CancelFunc // nil until Start
	stopping bool               // Stop was called
	ended    bool               // run returned before Stop was called
	err      error              // run's result, set before done is closed
}

var _ service.Interface = (*Program)(nil)

// NewProgram returns a Program that runs run.
func NewProgram(run func(ctx context.Context) error) *Program {
	return &Program{run: run, done: make(chan struct{})}
}

// Start launches the run function and returns without waiting for it.
func (p *Program) Start(service.Service) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cancel != nil {
		return errors.New("program already started")
	}
	// Not derived from any caller's context: only Stop ends the run, so that
	// the service manager sees one orderly stop.
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	go func() {
		err := p.run(ctx)
		p.mu.Lock()
		p.err, p.ended = err, !p.stopping
		p.mu.Unlock()
		close(p.done)
	}()
	return nil
}

// Stop cancels the run function's context and waits for it to return, at
// most StopTimeout. It returns the function's error: the one it ended with by
// itself, or one it returned while stopping other than a context
// cancellation; or an error wrapping ErrStopTimeout.
func (p *Program) Stop(service.Service) error {
	p.mu.Lock()
	cancel := p.cancel
	p.stopping = true
	p.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	timeout := p.StopTimeout
	if timeout <= 0 {
		timeout = DefaultStopTimeout
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.done:
	case <-t.C:
		return fmt.Errorf("stopping: %w within %v", ErrStopTimeout, timeout)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.ended && errors.Is(p.err, context.Canceled) {
		return nil
	}
	return p.err
}

// Done is closed when the run function has returned, whether by itself or
// because Stop asked it to.
func (p *Program) Done() <-chan struct{} { return p.done }

// Err returns the run function's result once Done is closed, nil before.
func (p *Program) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// endedByItself reports whether the run function returned before Stop was
// called: the service failed rather than being stopped.
func (p *Program) endedByItself() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ended
}
