//go:build unix

package main

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"syscall"
)

// profileEnv names a directory for CPU profiles of the hub, a hidden
// debugging aid of `make bench` (scripts/bench -hub-cpuprofile): with it
// set, each SIGUSR1 starts a CPU profile into DIR/cpu-N.pprof (N from 1)
// or stops the one running. Unset, the hub listens for no signal and
// opens nothing: there is no profiling endpoint.
const profileEnv = "IDSYNC_HUB_CPUPROFILE"

// cpuProfiles serves profileEnv until the returned stop is called; stop
// ends a profile still running.
func cpuProfiles() (stop func(), err error) {
	dir := os.Getenv(profileEnv)
	if dir == "" {
		return func() {}, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("%s: %w", profileEnv, err)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGUSR1)
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		var f *os.File
		n := 0
		end := func() {
			if f != nil {
				pprof.StopCPUProfile()
				f.Close()
				f = nil
			}
		}
		defer end()
		for {
			select {
			case <-quit:
				return
			case <-sig:
			}
			if f != nil {
				end()
				continue
			}
			n++
			var err error
			if f, err = os.Create(filepath.Join(dir, fmt.Sprintf("cpu-%d.pprof", n))); err != nil {
				fmt.Fprintf(os.Stderr, "idsync-hub: %s: %v\n", profileEnv, err)
				continue
			}
			if err := pprof.StartCPUProfile(f); err != nil {
				fmt.Fprintf(os.Stderr, "idsync-hub: %s: %v\n", profileEnv, err)
				f.Close()
				f = nil
			}
		}
	}()
	return func() {
		signal.Stop(sig)
		close(quit)
		<-done
	}, nil
}
