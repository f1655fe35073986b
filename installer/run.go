package installer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"

	"github.com/kardianos/service"
)

// exit ends the process; see endsByExit.
var exit = os.Exit

// Interactive reports whether this process was started from a terminal or
// script rather than by the service manager.
func Interactive() bool { return service.Interactive() }

// Run runs the function under the service manager when it started this
// process, in the foreground otherwise, and returns when it has stopped. On
// Linux and other Unix systems that is when ctx ends (cancel it on SIGTERM
// and interrupt, as systemd stops a service with SIGTERM). On Windows it is
// when the service control manager stops the service, or on Ctrl-C in a
// console; ctx is not watched there. When the function returns by itself,
// Run returns its error, so that the process exits non-zero and the service
// manager restarts it; on Windows the process exits with status 1 at once
// (see endsByExit), after logging the error to log.
func Run(ctx context.Context, cfg *service.Config, log *slog.Logger, run func(ctx context.Context) error) error {
	p := NewProgram(run)
	wait := func() {
		select {
		case <-ctx.Done():
		case <-p.Done():
		}
	}
	c := *cfg
	c.Option = maps.Clone(cfg.Option)
	if c.Option == nil {
		c.Option = service.KeyValue{}
	}
	// Replaces the Unix backends' own wait for SIGTERM and interrupt.
	c.Option["RunWait"] = wait
	s, err := service.New(p, &c)
	if errors.Is(err, service.ErrNoServiceSystemDetected) {
		// An OS the library does not know: run in the foreground.
		if err := p.Start(nil); err != nil {
			return err
		}
		wait()
		return p.Stop(nil)
	}
	if err != nil {
		return fmt.Errorf("running service %s: %w", c.Name, err)
	}
	if endsByExit {
		go exitWhenEnded(p, log)
	}
	return s.Run()
}

// exitWhenEnded ends the process with status 1 when the run function
// returns by itself.
func exitWhenEnded(p *Program, log *slog.Logger) {
	<-p.Done()
	if !p.endedByItself() {
		return
	}
	log.Error("stopped by itself; exiting so that the service manager restarts it", "err", p.Err())
	exit(1)
}
