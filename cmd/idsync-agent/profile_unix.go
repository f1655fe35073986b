//go:build unix

package main

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/metrics"
	"runtime/pprof"
	"syscall"
	"time"
)

// heapProfileEnv names a directory for heap profiles of the agent, a hidden
// debugging aid of `make bench` (scripts/bench -agent-heapprofile): with it
// set, each SIGUSR1 writes DIR/heap-N.pprof (N from 1), and DIR/heap-peak.pprof
// is rewritten whenever the live heap after a collection is a new peak (by
// a tenth or more), so that what held the memory at the agent's highest can
// be read after the run. Unset, the agent listens for no signal and opens
// nothing: there is no profiling endpoint.
const heapProfileEnv = "IDSYNC_AGENT_HEAPPROFILE"

// heapProfiles serves heapProfileEnv until the returned stop is called.
func heapProfiles() (stop func(), err error) {
	dir := os.Getenv(heapProfileEnv)
	if dir == "" {
		return func() {}, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("%s: %w", heapProfileEnv, err)
	}
	write := func(name string) {
		tmp := filepath.Join(dir, name+".tmp")
		f, err := os.Create(tmp)
		if err == nil {
			err = pprof.Lookup("heap").WriteTo(f, 0)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err == nil {
			err = os.Rename(tmp, filepath.Join(dir, name))
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "idsync-agent: %s: %v\n", heapProfileEnv, err)
		}
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGUSR1)
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		live := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		var peak uint64
		n := 0
		for {
			select {
			case <-quit:
				return
			case <-sig:
				n++
				write(fmt.Sprintf("heap-%d.pprof", n))
			case <-tick.C:
				metrics.Read(live)
				if v := live[0].Value.Uint64(); v > peak+peak/10 {
					peak = v
					write("heap-peak.pprof")
				}
			}
		}
	}()
	return func() {
		signal.Stop(sig)
		close(quit)
		<-done
	}, nil
}
