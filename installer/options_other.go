//go:build !linux && !windows

package installer

import "github.com/kardianos/service"

// platformOptions keeps the library's defaults elsewhere (launchd's KeepAlive
// restarts the agent on macOS).
func platformOptions(*service.Config) {}

// endsByExit is false: the Unix backends wait in the RunWait option.
const endsByExit = false

// useSystemLog is false: stderr is kept by the service manager or a log file.
const useSystemLog = false
