package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/idsync/idsync/internal/days"
	"github.com/idsync/idsync/internal/logging"
	"github.com/idsync/idsync/internal/version"
	"github.com/idsync/idsync/server/hub"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	tuneGC()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Println("usage: idsync-hub serve --data-dir DIR [--grpc-listen ADDR] [--http-listen ADDR] [--tls-hosts NAMES] [--http-tls]\n" +
			"  [--store sqlite|postgres] [--store-dsn DSN] [--log-format text|json] [--log-level LEVEL] [...]\n\n" +
			"       idsync-hub backup --data-dir DIR [--store-dsn FILE] --to NEWDIR\n\n" +
			"`idsync-hub serve -h` lists every flag; docs/install.md says what each does.")
		return 0
	}
	if args[0] == "--version" || args[0] == "version" {
		fmt.Println("idsync-hub", version.String())
		return 0
	}
	if args[0] == "backup" {
		return backup(args[1:])
	}
	if args[0] != "serve" {
		fmt.Fprintf(os.Stderr, "idsync-hub: unknown command %q (want serve or backup)\n", args[0])
		return 2
	}
	fs := flag.NewFlagSet("idsync-hub serve", flag.ContinueOnError)
	var cfg hub.Config
	fs.StringVar(&cfg.DataDir, "data-dir", "", "data `DIR`: CA, certificates, admin.conf and the SQLite store")
	fs.StringVar(&cfg.GRPCListen, "grpc-listen", "127.0.0.1:7443", "gRPC `ADDR` for agents and idsyncctl")
	fs.StringVar(&cfg.HTTPListen, "http-listen", "127.0.0.1:7080", "HTTP `ADDR` for the admin console, /healthz, /readyz and /metrics")
	fs.StringVar(&cfg.Store, "store", "sqlite", "store backend: sqlite or postgres")
	fs.StringVar(&cfg.StoreDSN, "store-dsn", os.Getenv("IDSYNC_STORE_DSN"), "the store: for postgres its `DSN` (postgres://…); for sqlite the database FILE (default: hub.db in --data-dir) (default $IDSYNC_STORE_DSN)")
	fs.DurationVar(&cfg.Agents.Heartbeat, "agent-heartbeat", 3*time.Second, "heartbeat interval on agent streams; an agent silent for three is offline")
	fs.DurationVar(&cfg.Provision.PollInterval, "push-poll-interval", time.Second, "how often idle push workers look for jobs that came due (a change pushes at once regardless)")
	fs.IntVar(&cfg.Provision.MaxAttempts, "push-max-attempts", 8, "failed attempts before a push job is dead-lettered")
	fs.DurationVar(&cfg.Provision.MinBackoff, "push-min-backoff", 2*time.Second, "wait after a push's first failure; doubles per failure, with jitter")
	fs.DurationVar(&cfg.Provision.MaxBackoff, "push-max-backoff", 10*time.Minute, "longest wait between a push's attempts")
	fs.DurationVar(&cfg.Agents.CertTTL, "agent-cert-ttl", 365*24*time.Hour, "lifetime of the client certificates agents get; they renew when a third is left")
	fs.DurationVar(&cfg.RuleInterval, "rule-interval", time.Hour, "how often every group rule is evaluated in full besides on each change (negative: never on a schedule)")
	fs.DurationVar(&cfg.RuleSettle, "rule-settle", 30*time.Second, "how long after its last full evaluation a group rule that reads groups waits before a group change evaluates it in full again")
	fs.DurationVar(&cfg.Notify.AgentOfflineAfter, "agent-offline-after", 10*time.Minute, "how long an agent may be silent before the notification channels are told")
	fs.DurationVar(&cfg.Notify.PollInterval, "notify-poll-interval", time.Second, "how often notifications are filed into digests and the due ones sent")
	fs.DurationVar(&cfg.Notify.WatchInterval, "notify-watch-interval", 30*time.Second, "how often agents are checked for silence and expiring certificates")
	fs.IntVar(&cfg.Notify.MaxAttempts, "notify-max-attempts", 8, "failed attempts before a notification is dead-lettered")
	fs.DurationVar(&cfg.Notify.MinBackoff, "notify-min-backoff", 30*time.Second, "wait after a notification's first failure; doubles per failure, with jitter")
	fs.DurationVar(&cfg.Notify.MaxBackoff, "notify-max-backoff", 30*time.Minute, "longest wait between a notification's attempts")
	cfg.AuditRetention, cfg.UserRetention = 180*days.Day, 90*days.Day
	fs.Var(days.Value{D: &cfg.AuditRetention}, "audit-retention", "how long audit events are kept: 180d, 4320h")
	fs.Var(days.Value{D: &cfg.UserRetention}, "user-retention", "how long a deprovisioned user is kept, restorable, before it is purged (profile, groups, app accounts), where its directory does not say (directory update --retention)")
	fs.DurationVar(&cfg.PurgeEvery, "purge-interval", 10*time.Minute, "how often the hub purges the users whose retention ran out")
	fs.Float64Var(&cfg.Authn.UserPerMinute, "authn-user-limit", 5, "sign-ins (POST /v1/authn) one person of one directory may try a minute, whatever the spelling of the username")
	fs.Float64Var(&cfg.Authn.AddrPerMinute, "authn-addr-limit", 60, "sign-ins one client address may try a minute")
	fs.IntVar(&cfg.Bounds.Conns, "max-connections", 1024, "open connections each listener (gRPC, HTTP) takes; past them a new one is closed at once")
	fs.IntVar(&cfg.Bounds.ConnsPerAddr, "max-connections-per-address", 64, "open connections each listener takes from one client address")
	hosts := fs.String("tls-hosts", "", "extra comma-separated `NAMES` for the hub's server certificate")
	fs.BoolVar(&cfg.HTTPTLS, "http-tls", false, "serve the HTTP listener (the console) over TLS with the hub's own certificate (loopback, this machine's name and --tls-hosts); without TLS the console answers on loopback only")
	fs.StringVar(&cfg.HTTPCert, "http-cert", "", "serve the HTTP listener over TLS with this certificate `FILE` (PEM, chain included) instead, with --http-key")
	fs.StringVar(&cfg.HTTPKey, "http-key", "", "the private key `FILE` (PEM) of --http-cert")
	fs.DurationVar(&cfg.Console.Idle, "console-idle-timeout", 30*time.Minute, "a console session unused this long ends")
	fs.DurationVar(&cfg.Console.MaxAge, "console-max-age", 12*time.Hour, "a console session ends this long after its sign-in, used or not")
	logFormat := fs.String("log-format", "text", "log format: text or json")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	log, err := logging.New(os.Stderr, *logFormat, *logLevel)
	if err != nil {
		fmt.Fprintf(os.Stderr, "idsync-hub: %v\n", err)
		return 2
	}
	for _, h := range strings.Split(*hosts, ",") {
		if h = strings.TrimSpace(h); h != "" {
			cfg.TLSHosts = append(cfg.TLSHosts, h)
		}
	}
	cfg.Log, cfg.Version = log, version.Version
	stopProfiles, err := cpuProfiles()
	if err != nil {
		fmt.Fprintf(os.Stderr, "idsync-hub: %v\n", err)
		return 2
	}
	defer stopProfiles()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := hub.Run(ctx, cfg); err != nil {
		log.Error("hub failed", "err", err)
		return 1
	}
	return 0
}

// backup is `idsync-hub backup`: a copy of a hub's data directory and
// SQLite store, taken while the hub runs.
func backup(args []string) int {
	fs := flag.NewFlagSet("idsync-hub backup", flag.ContinueOnError)
	var cfg hub.Config
	fs.StringVar(&cfg.DataDir, "data-dir", "", "the hub's data `DIR`")
	fs.StringVar(&cfg.Store, "store", "sqlite", "the store: sqlite (copied) or postgres (back it up with pg_dump; the files are copied)")
	fs.StringVar(&cfg.StoreDSN, "store-dsn", "", "for sqlite, the database `FILE` when it is not hub.db in --data-dir")
	to := fs.String("to", "", "the new `DIR` to write the backup into")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if cfg.Store == "postgres" {
		cfg.StoreDSN = "" // the DSN is not the copy's business
	}
	wrote, err := hub.Backup(context.Background(), cfg, *to)
	if err != nil {
		fmt.Fprintf(os.Stderr, "idsync-hub backup: %v\n", err)
		return 1
	}
	for _, f := range wrote {
		fmt.Println(f)
	}
	return 0
}
