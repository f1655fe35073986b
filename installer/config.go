package installer

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unicode"

	"github.com/kardianos/service"
)

// The service's identity, the same on every OS.
const (
	// Name is the service's name: the systemd unit idsync-agent.service, the
	// Windows service idsync-agent.
	Name = "idsync-agent"
	// DisplayName is the name service managers show.
	DisplayName = "idsync agent"
	// Description says what the service does.
	Description = "Streams changes from Active Directory or OpenLDAP to the idsync hub."
)

// Options say what the installed service runs.
type Options struct {
	// ConfigPath is the agent's config file. It is made absolute: the service
	// manager starts the agent in another working directory.
	ConfigPath string
	// Executable is the agent binary; empty means this program.
	Executable string
	// Args follow `run --config PATH`, e.g. --log-level debug.
	Args []string
}

// Config returns the service configuration that runs
// `EXECUTABLE run --config ABSOLUTE_PATH ARGS...` with this OS's options:
// see platformOptions.
func Config(o Options) (*service.Config, error) {
	if o.ConfigPath == "" {
		return nil, errors.New("service config: the agent config path is required")
	}
	cfgPath, err := filepath.Abs(o.ConfigPath)
	if err != nil {
		return nil, fmt.Errorf("service config: agent config %s: %w", o.ConfigPath, err)
	}
	exe := o.Executable
	if exe == "" {
		if exe, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("service config: finding this program's path: %w", err)
		}
	}
	if exe, err = filepath.Abs(exe); err != nil {
		return nil, fmt.Errorf("service config: executable %s: %w", o.Executable, err)
	}
	// A control character would end a line of the systemd unit or the
	// service's command line early and start another.
	for _, v := range append([]string{o.ConfigPath, o.Executable, cfgPath, exe}, o.Args...) {
		if i := strings.IndexFunc(v, unicode.IsControl); i >= 0 {
			return nil, fmt.Errorf("service config: %q holds a control character (%U): refused", v, []rune(v[i:])[0])
		}
	}
	c := &service.Config{
		Name:        Name,
		DisplayName: DisplayName,
		Description: Description,
		Executable:  exe,
		Arguments:   append([]string{"run", "--config", cfgPath}, o.Args...),
		Option:      service.KeyValue{},
	}
	platformOptions(c)
	return c, nil
}
