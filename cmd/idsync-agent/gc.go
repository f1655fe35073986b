package main

import (
	"os"
	"runtime/debug"
)

// Memory tuning for the agent. go-ldap's BER decoding allocates about 40 KB
// per entry that becomes garbage at once, so the default GOGC=100 spends a
// large share of a full import collecting. A high GC percentage bounded by a
// soft memory limit spends far less CPU and keeps the agent small (measured
// in make bench: peak RSS stays under the 64 MB budget). GOGC and GOMEMLIMIT
// in the environment take precedence.
const (
	agentGCPercent   = 400
	agentMemoryLimit = 40 << 20
)

func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(agentGCPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(agentMemoryLimit)
	}
}
