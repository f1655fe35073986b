package installer

import (
	"errors"
	"fmt"

	"github.com/kardianos/service"
)

// Actions are the actions Control performs, in the order a user meets them.
var Actions = []string{"install", "uninstall", "start", "stop", "status"}

// ErrNotInstalled is returned (wrapped) by Control when the service is not
// installed.
var ErrNotInstalled = service.ErrNotInstalled

// Status reports, as Control's "status" action prints them.
const (
	StatusRunning      = "running"
	StatusStopped      = "stopped"
	StatusNotInstalled = "not installed"
)

// controller is the part of service.Service that Control uses.
type controller interface {
	Install() error
	Uninstall() error
	Start() error
	Stop() error
	Status() (service.Status, error)
	Platform() string
}

var _ controller = service.Service(nil)

// Control performs action on the service cfg describes and returns a line
// for the user: for "status", StatusRunning, StatusStopped or
// StatusNotInstalled. Installing and controlling services needs root (or an
// administrator on Windows). Errors name the action and the service.
func Control(cfg *service.Config, action string) (string, error) {
	s, err := service.New(NewProgram(nil), cfg)
	if err != nil {
		return "", fmt.Errorf("%s service %s: %w", action, cfg.Name, err)
	}
	return control(s, cfg.Name, action)
}

func control(s controller, name, action string) (string, error) {
	fail := func(err error) (string, error) {
		return "", fmt.Errorf("%s service %s: %w", action, name, err)
	}
	switch action {
	case "install":
		if err := s.Install(); err != nil {
			return fail(err)
		}
		return fmt.Sprintf("installed service %s (%s)", name, s.Platform()), nil
	case "status":
		st, err := status(s)
		if err != nil {
			return fail(err)
		}
		return st, nil
	case "start", "stop", "uninstall":
	default:
		return "", fmt.Errorf("service %s: unknown action %q; want install, uninstall, start, stop or status", name, action)
	}
	// Only "not installed" stops the action here: other status errors (a
	// unit in the failed state, say) leave it to the service manager.
	st, err := s.Status()
	if errors.Is(err, service.ErrNotInstalled) {
		return fail(err)
	}
	switch action {
	case "start":
		err = s.Start()
	case "stop":
		err = s.Stop()
	case "uninstall":
		// Removing a running unit would leave the agent running, unmanaged.
		if st == service.StatusRunning {
			if err := s.Stop(); err != nil {
				return fail(fmt.Errorf("stopping it first: %w", err))
			}
		}
		err = s.Uninstall()
	}
	if err != nil {
		return fail(err)
	}
	return fmt.Sprintf("%s service %s", pastTense[action], name), nil
}

var pastTense = map[string]string{"start": "started", "stop": "stopped", "uninstall": "uninstalled"}

// status maps the service manager's answer to one of the Status words.
func status(s controller) (string, error) {
	st, err := s.Status()
	switch {
	case errors.Is(err, service.ErrNotInstalled):
		return StatusNotInstalled, nil
	case err != nil:
		return "", err
	case st == service.StatusRunning:
		return StatusRunning, nil
	case st == service.StatusStopped:
		return StatusStopped, nil
	}
	return "", errors.New("the service manager reports an unknown state")
}
