package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"slices"

	"github.com/idsync/idsync/agent"
	"github.com/idsync/idsync/installer"
	"github.com/idsync/idsync/internal/logging"
	"github.com/idsync/idsync/internal/version"
)

// isServiceCommand reports whether name is one of the subcommands that
// control the installed service.
func isServiceCommand(name string) bool { return slices.Contains(installer.Actions, name) }

// serviceCommand runs `idsync-agent install|uninstall|start|stop|status
// --config FILE` and returns the exit status.
func serviceCommand(args []string, stdout, stderr io.Writer) int {
	action := args[0]
	flags := flag.NewFlagSet("idsync-agent "+action, flag.ContinueOnError)
	flags.SetOutput(stderr)
	configPath := flags.String("config", "", "agent config `FILE` (YAML)")
	var logFormat, logLevel string
	if action == "install" {
		flags.StringVar(&logFormat, "log-format", "", "the service's log format: text or json (default text)")
		flags.StringVar(&logLevel, "log-level", "", "the service's log level: debug, info, warn, error (default info)")
	}
	if err := flags.Parse(args[1:]); err != nil {
		return 2
	}
	if flags.NArg() > 0 {
		fmt.Fprintf(stderr, "idsync-agent %s: unexpected argument %q\n", action, flags.Arg(0))
		return 2
	}
	if *configPath == "" {
		fmt.Fprintf(stderr, "idsync-agent %s: --config: required\n", action)
		return 2
	}
	var extra []string
	if action == "install" {
		var err error
		if extra, err = logArgs(logFormat, logLevel); err != nil {
			fmt.Fprintf(stderr, "idsync-agent install: %v\n", err)
			return 2
		}
		if err := checkInstallable(*configPath); err != nil {
			fmt.Fprintf(stderr, "idsync-agent install: %v\n", err)
			return 1
		}
	}
	svc, err := installer.Config(installer.Options{ConfigPath: *configPath, Args: extra})
	if err != nil {
		fmt.Fprintf(stderr, "idsync-agent %s: %v\n", action, err)
		return 1
	}
	msg, err := installer.Control(svc, action)
	if err != nil {
		fmt.Fprintf(stderr, "idsync-agent %s: %v\n", action, err)
		if errors.Is(err, installer.ErrNotInstalled) {
			fmt.Fprintf(stderr, "install it with: idsync-agent install --config %s\n", *configPath)
		}
		return 1
	}
	fmt.Fprintln(stdout, msg)
	if action == "install" {
		fmt.Fprintf(stdout, "start it with: idsync-agent start --config %s\n", *configPath)
	}
	return 0
}

// logArgs checks the log flags given to install and returns them as the
// service's arguments; flags not given are left to run's defaults.
func logArgs(format, level string) ([]string, error) {
	var args []string
	if format != "" {
		args = append(args, "--log-format", format)
	} else {
		format = "text"
	}
	if level != "" {
		args = append(args, "--log-level", level)
	} else {
		level = "info"
	}
	if _, err := logging.New(io.Discard, format, level); err != nil {
		return nil, err
	}
	return args, nil
}

// checkInstallable refuses to install a service that could not run: its
// config must validate and the agent must be enrolled.
func checkInstallable(path string) error {
	cfg, err := agent.LoadConfig(path)
	if err != nil {
		return err
	}
	key, cert, ca := cfg.IdentityPaths()
	for _, p := range []string{key, cert, ca} {
		_, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("this agent is not enrolled yet (%s is missing): enrol it first with `idsync-agent enroll --config %s --token-file FILE`, then install it", p, path)
		}
		if err != nil {
			return fmt.Errorf("agent identity: %w", err)
		}
	}
	return nil
}

// runAgent runs the agent for `idsync-agent run` until ctx ends or the
// service manager stops it, and returns the exit status. Under the Windows
// service control manager it logs to the event log instead of log.
func runAgent(ctx context.Context, cfg *agent.Config, log *slog.Logger, level string) int {
	svc, err := installer.Config(installer.Options{ConfigPath: cfg.Path()})
	if err != nil {
		log.Error("agent not started", "err", err)
		return 1
	}
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level)) // checked when log was built
	log = installer.Logger(svc, log, lv)
	stopProfiles, err := heapProfiles()
	if err != nil {
		log.Error("agent not started", "err", err)
		return 1
	}
	defer stopProfiles()
	if err := installer.Run(ctx, svc, log, agent.New(cfg, version.Version, log).Run); err != nil {
		log.Error("agent stopped", "err", err)
		return 1
	}
	return 0
}
