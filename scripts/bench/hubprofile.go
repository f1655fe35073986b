//go:build linux

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// hubProfileEnv is the hub's hidden switch for CPU profiles
// (cmd/idsync-hub/profile_unix.go): with it set to a directory, each
// SIGUSR1 starts a profile into DIR/cpu-N.pprof or stops the running one.
const hubProfileEnv = "IDSYNC_HUB_CPUPROFILE"

// hubProfiler takes CPU profiles of one hub, one per measured phase, when
// the bench runs with -hub-cpuprofile; a nil one does nothing.
type hubProfiler struct {
	pid  int
	dir  string // the hub's IDSYNC_HUB_CPUPROFILE
	out  string // where the profiles go, named by phase
	n    int    // profiles started
	logf func(string, ...any)
}

// profile starts a profile of the phase named label and returns its
// stop, which waits until the hub has written it and moves it to
// out/label.pprof.
func (p *hubProfiler) profile(label string) (stop func()) {
	if p == nil {
		return func() {}
	}
	if err := syscall.Kill(p.pid, syscall.SIGUSR1); err != nil {
		p.logf("hub profile %s: %v", label, err)
		return func() {}
	}
	p.n++
	src := filepath.Join(p.dir, fmt.Sprintf("cpu-%d.pprof", p.n))
	return func() {
		if err := syscall.Kill(p.pid, syscall.SIGUSR1); err != nil {
			p.logf("hub profile %s: %v", label, err)
			return
		}
		// The profile is written whole when it stops: wait for a size
		// that holds still.
		var last int64 = -1
		for range 100 {
			time.Sleep(50 * time.Millisecond)
			fi, err := os.Stat(src)
			if err == nil && fi.Size() > 0 && fi.Size() == last {
				break
			}
			if err == nil {
				last = fi.Size()
			}
		}
		dst := filepath.Join(p.out, label+".pprof")
		if err := os.Rename(src, dst); err != nil {
			p.logf("hub profile %s: %v", label, err)
			return
		}
		p.logf("hub profile: %s", dst)
	}
}

// agentHeapProfileEnv is the agent's hidden switch for heap profiles
// (cmd/idsync-agent/profile_unix.go).
const agentHeapProfileEnv = "IDSYNC_AGENT_HEAPPROFILE"

// agentHeapProfiles has the agents started from now on write their heap
// profiles into -agent-heapprofile's folder name; nothing without the flag.
func (b *bench) agentHeapProfiles(name string) {
	if d := b.opts.agentHeapProfiles; d != "" {
		dir, err := filepath.Abs(filepath.Join(d, name))
		if err == nil {
			os.Setenv(agentHeapProfileEnv, dir)
		}
	}
}
