//go:build linux

package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// userHZ is the unit of utime and stime in /proc/PID/stat. Linux fixes
// USER_HZ at 100 on every architecture Go supports, and reading sysconf
// would need cgo.
const userHZ = 100

// cpuTime returns the user plus system CPU time process pid has used.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces and parentheses; the
	// fields after its closing parenthesis start with field 3, the state.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no closing parenthesis", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields after the name, want at least 13", pid, len(f))
	}
	var ticks int64
	for _, v := range f[11:13] { // fields 14 (utime) and 15 (stime)
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}

// selfCPU returns the CPU time this process has used, at microsecond
// resolution (the in-process go-ldap search).
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// peakRSS returns the peak resident set size (VmHWM) of process pid in
// bytes.
func peakRSS(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:")
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/status VmHWM %q: %w", pid, rest, err)
		}
		return kb << 10, nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("/proc/%d/status: no VmHWM line", pid)
}

// loadAverage returns the one-minute load average, or -1: other work on
// the machine skews every figure, and the report says how much there was.
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return -1
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return -1
	}
	return v
}

// pidFile reads a pid file such as slapd's.
func pidFile(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("pid file %s: %w", path, err)
	}
	return pid, nil
}

// cpuMeter measures the CPU time a set of processes use between two
// points. A process that cannot be read counts as zero: the figure is
// information, not a check.
type cpuMeter struct {
	pids  map[string]int
	start map[string]time.Duration
}

func newCPUMeter(pids map[string]int) *cpuMeter {
	m := &cpuMeter{pids: pids, start: map[string]time.Duration{}}
	for name, pid := range pids {
		m.start[name], _ = cpuTime(pid)
	}
	return m
}

// since returns each process's CPU time since newCPUMeter.
func (m *cpuMeter) since() map[string]time.Duration {
	out := map[string]time.Duration{}
	for name, pid := range m.pids {
		now, _ := cpuTime(pid)
		out[name] = now - m.start[name]
	}
	return out
}

// timeline samples the CPU use of processes at an interval, to show which
// one is busy when (and whether they overlap).
type timeline struct {
	names []string
	every time.Duration
	done  chan struct{}
	rows  chan [][]float64 // per interval, each process's share of one core
}

func startTimeline(pids map[string]int, every time.Duration) *timeline {
	t := &timeline{every: every, done: make(chan struct{}), rows: make(chan [][]float64, 1)}
	for name := range pids {
		t.names = append(t.names, name)
	}
	slices.Sort(t.names)
	go func() {
		var rows [][]float64
		defer func() { t.rows <- rows }()
		meter := newCPUMeter(pids)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-t.done:
				return
			case <-tick.C:
			}
			used := meter.since()
			row := make([]float64, len(t.names))
			for k, name := range t.names {
				row[k] = used[name].Seconds() / every.Seconds()
			}
			rows = append(rows, row)
			meter = newCPUMeter(pids)
		}
	}()
	return t
}

// stop ends the sampling and prints one line per interval.
func (t *timeline) stop(w io.Writer, title string) {
	close(t.done)
	rows := <-t.rows
	fmt.Fprintf(w, "%s: CPU use per %v (1.00 = one core busy)\n  %6s", title, t.every, "t")
	for _, name := range t.names {
		fmt.Fprintf(w, " %6s", name)
	}
	fmt.Fprintln(w)
	for i, row := range rows {
		fmt.Fprintf(w, "  %6.1f", float64(i+1)*t.every.Seconds())
		for _, v := range row {
			fmt.Fprintf(w, " %6.2f", v)
		}
		fmt.Fprintln(w)
	}
}

// connCounter counts the TCP connections to a local port from the sockets
// in /proc/net/tcp: each one stays listed, in TIME_WAIT on the side that
// closed it, for a minute after it ends, so samples a second or so apart
// see every connection of a shorter run. Connections are told apart by
// their client port.
type connCounter struct {
	port    string // upper-case hex, as /proc/net/tcp writes it
	clients map[string]bool
}

func newConnCounter(port string) *connCounter {
	p, _ := strconv.Atoi(port)
	return &connCounter{port: fmt.Sprintf("%04X", p), clients: map[string]bool{}}
}

// sample adds the connections listed now. An unreadable table adds none:
// the count is information.
func (c *connCounter) sample() {
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(table)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) < 4 || f[3] == "0A" { // 0A: listening
				continue
			}
			_, local, _ := strings.Cut(f[1], ":")
			_, remote, _ := strings.Cut(f[2], ":")
			switch c.port {
			case local:
				c.clients[remote] = true
			case remote:
				c.clients[local] = true
			}
		}
	}
}

func (c *connCounter) count() int { return len(c.clients) }
