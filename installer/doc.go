// Package installer runs idsync-agent as a Windows or Linux service and
// installs, removes, starts, stops and queries it: a thin adapter over
// github.com/kardianos/service.
//
// Program adapts a run function (func(ctx) error, in practice agent.Run) to
// the service manager: Start launches it and returns at once, Stop cancels it
// and waits with a bound. Config describes the service (`idsync-agent run
// --config ABSOLUTE_PATH`, restarted on failure), with per-OS options in
// options_linux.go (a systemd unit) and options_windows.go (delayed
// auto-start, restart on failure). Control performs install, uninstall,
// start, stop and status; Run runs the function under the service manager
// or in the foreground; Logger picks the system log when one is needed.
//
// It may import `github.com/kardianos/service` and the standard library
// only; never `agent`: it takes the function to run, and the agent does not
// import it in turn.
package installer
