package installertest

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/kardianos/service"
)

// Choose makes sys the system kardianos/service uses until the test ends.
// The choice is process-wide: tests that call it must not run in parallel.
func Choose(t testing.TB, sys service.System) {
	t.Helper()
	prev := service.AvailableSystems()
	service.ChooseSystem(sys)
	if service.ChosenSystem() == nil {
		t.Fatalf("installertest: system %s does not detect itself", sys)
	}
	t.Cleanup(func() { service.ChooseSystem(prev...) })
}

// Use chooses a new Fake for the length of the test and returns it.
func Use(t testing.TB) *Fake {
	t.Helper()
	f := &Fake{}
	Choose(t, f)
	return f
}

// Fake is a service manager in memory. Its services follow the Unix
// backends' Run: Start, wait in the RunWait option, Stop.
type Fake struct {
	// Fail makes an action ("install", "start", "stop", "uninstall",
	// "status") fail with the error.
	Fail map[string]error

	mu        sync.Mutex
	calls     []string
	installed bool
	running   bool
	config    *service.Config
}

var _ service.System = (*Fake)(nil)

// String names the fake system.
func (f *Fake) String() string { return "fake" }

// Detect is always true.
func (f *Fake) Detect() bool { return true }

// Interactive is false: the process runs "under" the fake.
func (f *Fake) Interactive() bool { return false }

// New returns a service of the fake system.
func (f *Fake) New(i service.Interface, c *service.Config) (service.Service, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.config = c
	return &fakeService{f: f, i: i, c: c}, nil
}

// Calls returns the actions asked of the fake so far, in order.
func (f *Fake) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// Config returns the configuration of the last service created.
func (f *Fake) Config() *service.Config {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.config
}

// Set puts the fake in a state: installed or not, running or not.
func (f *Fake) Set(installed, running bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.installed, f.running = installed, running
}

// State returns whether the service is installed and running.
func (f *Fake) State() (installed, running bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.installed, f.running
}

// act records action and applies change unless the action is set to fail or
// the service is not installed.
func (f *Fake) act(action string, needInstalled bool, change func() error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, action)
	if err := f.Fail[action]; err != nil {
		return err
	}
	if needInstalled && !f.installed {
		return service.ErrNotInstalled
	}
	return change()
}

type fakeService struct {
	f *Fake
	i service.Interface
	c *service.Config
}

func (s *fakeService) Run() error {
	if err := s.i.Start(s); err != nil {
		return err
	}
	if wait, ok := s.c.Option["RunWait"].(func()); ok {
		wait()
	}
	return s.i.Stop(s)
}

func (s *fakeService) Install() error {
	return s.f.act("install", false, func() error {
		if s.f.installed {
			return fmt.Errorf("service %s already exists", s.c.Name)
		}
		s.f.installed = true
		return nil
	})
}

func (s *fakeService) Uninstall() error {
	return s.f.act("uninstall", true, func() error {
		s.f.installed, s.f.running = false, false
		return nil
	})
}

func (s *fakeService) Start() error {
	return s.f.act("start", true, func() error { s.f.running = true; return nil })
}

func (s *fakeService) Stop() error {
	return s.f.act("stop", true, func() error { s.f.running = false; return nil })
}

func (s *fakeService) Restart() error {
	return s.f.act("restart", true, func() error { s.f.running = true; return nil })
}

func (s *fakeService) Status() (service.Status, error) {
	var st service.Status
	err := s.f.act("status", true, func() error {
		st = service.StatusStopped
		if s.f.running {
			st = service.StatusRunning
		}
		return nil
	})
	return st, err
}

func (s *fakeService) Logger(chan<- error) (service.Logger, error) { return s.SystemLogger(nil) }

func (s *fakeService) SystemLogger(chan<- error) (service.Logger, error) {
	return nil, errors.New("the fake system has no log")
}

func (s *fakeService) String() string   { return s.c.Name }
func (s *fakeService) Platform() string { return s.f.String() }
