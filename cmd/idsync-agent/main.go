package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/idsync/idsync/agent"
	"github.com/idsync/idsync/internal/logging"
	"github.com/idsync/idsync/internal/version"
)

const usage = `usage:
  idsync-agent enroll --hub ADDR --token-file FILE|- --config FILE [--name NAME]   (or IDSYNC_ENROLL_TOKEN)
  idsync-agent run --config FILE [--log-format text|json] [--log-level info]
  idsync-agent install --config FILE [--log-format text|json] [--log-level info]
  idsync-agent uninstall|start|stop|status --config FILE
  idsync-agent --version`

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	tuneGC()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Println(usage)
		return 0
	}
	if args[0] == "--version" || args[0] == "version" {
		fmt.Println("idsync-agent", version.String())
		return 0
	}
	if isServiceCommand(args[0]) {
		return serviceCommand(args, os.Stdout, os.Stderr)
	}
	fs := flag.NewFlagSet("idsync-agent "+args[0], flag.ContinueOnError)
	configPath := fs.String("config", "", "agent config `FILE` (YAML)")
	logFormat := fs.String("log-format", "text", "log format: text or json")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	var hubAddr, tokenFile, name string
	var tokenFlag bool
	switch args[0] {
	case "enroll":
		fs.StringVar(&hubAddr, "hub", "", "hub `ADDR` (default: the config's hub)")
		fs.StringVar(&tokenFile, "token-file", "", "`FILE` holding the enrolment token from `idsyncctl agent token`, or - for standard input (default $IDSYNC_ENROLL_TOKEN)")
		// A value given is dropped unread (flag's own error would echo it).
		fs.Func("token", "(refused: use --token-file or IDSYNC_ENROLL_TOKEN)", func(string) error { tokenFlag = true; return nil })
		fs.StringVar(&name, "name", "", "agent `NAME` (default: host name)")
	case "run":
	default:
		fmt.Fprintf(os.Stderr, "idsync-agent: unknown command %q\n%s\n", args[0], usage)
		return 2
	}
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if tokenFlag {
		fmt.Fprintln(os.Stderr, "idsync-agent enroll: --token: a token on the command line shows in the process list and the shell's history: "+
			"use --token-file FILE (or - for standard input) or IDSYNC_ENROLL_TOKEN")
		return 2
	}
	if *configPath == "" {
		fmt.Fprintln(os.Stderr, "idsync-agent: --config: required")
		return 2
	}
	log, err := logging.New(os.Stderr, *logFormat, *logLevel)
	if err != nil {
		fmt.Fprintf(os.Stderr, "idsync-agent: %v\n", err)
		return 2
	}
	cfg, err := agent.LoadConfig(*configPath)
	if err != nil {
		fmt.Fprintf(os.Stderr, "idsync-agent: %v\n", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch args[0] {
	case "enroll":
		token, err := enrollToken(tokenFile, os.Stdin)
		if err != nil {
			fmt.Fprintf(os.Stderr, "idsync-agent enroll: %v\n", err)
			return 2
		}
		id, err := agent.Enroll(ctx, cfg, agent.EnrollOptions{Hub: hubAddr, Token: token, Name: name, Version: version.Version})
		if err != nil {
			fmt.Fprintf(os.Stderr, "idsync-agent enroll: %v\n", err)
			return 1
		}
		fmt.Printf("enrolled as agent %s; start it with: idsync-agent run --config %s\n", id, *configPath)
		return 0
	default:
		return runAgent(ctx, cfg, log, *logLevel)
	}
}

// enrollToken reads the enrolment token from path ("-": stdin), else from
// IDSYNC_ENROLL_TOKEN, without a trailing newline. It never appears in an
// error.
func enrollToken(path string, stdin io.Reader) (string, error) {
	var b []byte
	var err error
	switch path {
	case "":
		b = []byte(os.Getenv("IDSYNC_ENROLL_TOKEN"))
		if len(b) == 0 {
			return "", errors.New("--token-file: required (or set IDSYNC_ENROLL_TOKEN)")
		}
	case "-":
		if b, err = io.ReadAll(io.LimitReader(stdin, 64<<10)); err != nil {
			return "", fmt.Errorf("--token-file -: reading standard input: %w", err)
		}
	default:
		if b, err = os.ReadFile(path); err != nil {
			return "", fmt.Errorf("--token-file: %w", err)
		}
	}
	token := strings.TrimSpace(string(b))
	if token == "" {
		return "", fmt.Errorf("--token-file %s: empty", path)
	}
	return token, nil
}
