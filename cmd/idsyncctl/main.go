package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/idsync/idsync/internal/adminconf"
	"github.com/idsync/idsync/internal/version"
	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
)

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1 // the command, or the run it waited for, failed
	exitUsage  = 2
	exitPaused = 3 // the run waited for is paused by the safeguard
)

// exitError carries a specific exit code.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

type command struct {
	name    string
	summary string
	run     func(c *cli, args []string) error
}

var commands = []command{
	{"directory add", "add a directory: NAME --kind openldap|ad|scim|csv|local [--base-dn DN] [--user-filter F] [--group-filter F] [--map field=attr]…", directoryAdd},
	{"directory update", "change a directory's settings: NAME [the flags of add]", directoryUpdate},
	{"directory list", "list directories", directoryList},
	{"directory show", "show a directory: NAME", directoryShow},
	{"source token", "issue a SCIM source's bearer token, printed once (replaces the previous one): NAME", sourceToken},
	{"agent token", "print a single-use enrolment token: --directory NAME [--ttl 24h]", agentToken},
	{"agent list", "list agents", agentList},
	{"agent revoke", "revoke an agent: ID", agentRevoke},
	{"import start", "start an import: --directory NAME [--full] [--wait]; of a csv directory: --file FILE [--dry-run]", importStart},
	{"import list", "list import runs: [--directory NAME] [--limit N]", importList},
	{"import show", "show a run with its errors: RUN", importShow},
	{"import confirm", "let a run paused by the safeguard deprovision: RUN", importConfirm},
	{"import cancel", "cancel a running or paused run: RUN", importCancel},
	{"user list", "list users: [--directory NAME] [--status active|suspended|deprovisioned] [--limit N]", userList},
	{"user show", "show a user: USERNAME|ID [--directory NAME]", userShow},
	{"user authenticate", "sign a user in with the directory password, as an app would (delegated authentication; the user is created just in time): USERNAME --directory NAME --password-file FILE", userAuthenticate},
	{"user deactivate", "hold a user deprovisioned in the hub and every app, whatever its directory says: USERNAME|ID [--reason TEXT] [--in-directory] [--directory NAME]", userDeactivate},
	{"user reactivate", "lift a deactivation: USERNAME|ID [--in-directory] [--directory NAME]", userReactivate},
	{"user suspend", "hold a user suspended (app accounts deactivated): USERNAME|ID [--reason TEXT] [--directory NAME]", userSuspend},
	{"user unsuspend", "lift a suspension: USERNAME|ID [--directory NAME]", userUnsuspend},
	{"user restore", "bring a deprovisioned user back within its retention, app accounts too: USERNAME|ID [--directory NAME]", userRestore},
	{"user create", "make a user in a local directory: --directory NAME --username U [--email E] [--given-name G] [--family-name F] [--field NAME=VALUE]…", userCreate},
	{"user update", "change a local user's fields: USERNAME|ID [--email E] [--username U] [--field NAME=VALUE]… [--directory NAME]", userUpdate},
	{"user delete", "delete a local user (deprovisioned; restorable until purged): USERNAME|ID [--directory NAME]", userDelete},
	{"group list", "list groups: [--directory NAME]", groupList},
	{"group show", "show a group and its members: NAME|ID [--directory NAME]", groupShow},
	{"group create", "make an empty group in a local directory: NAME --directory NAME", groupCreate},
	{"group add-member", "add a user of any directory to a local group: GROUP --user USERNAME|ID [--directory D] [--user-directory D]", groupMember(true)},
	{"group remove-member", "take a user out of a local group: GROUP --user USERNAME|ID [--directory D] [--user-directory D]", groupMember(false)},
	{"app add", "add a SCIM 2.0 app: NAME --scim-url URL --auth bearer|basic|oauth2, a secret file, [settings] (app add -h)", appAdd},
	{"app update", "change an app's settings, resume it: NAME [the flags of add] [--resume]", appUpdate},
	{"app list", "list apps", appList},
	{"app show", "show an app: settings, status, assignments, accounts, queue, mapping: NAME", appShow},
	{"app remove", "remove an app (its accounts in the app stay as they are): NAME", appRemove},
	{"app test", "read what an app supports and say what stands in the way: NAME", appTest},
	{"app preview", "show the SCIM request a user's next push would send: NAME --user USERNAME|ID", appPreview},
	{"app assign", "put a user, or a group's members, in scope: NAME (--user U | --group G) [--directory D]", appAssign},
	{"app unassign", "take a user or group out of scope: NAME (--user U | --group G) [--directory D]", appUnassign},
	{"app import", "link the accounts (and with --groups the groups) an app already holds: NAME [--groups]", appImport},
	{"app pause", "stop the pushes to an app until it is resumed (they wait in its queue): NAME [--reason TEXT]", appPause},
	{"app resume", "set a paused app active again: NAME", appResume},
	{"app accounts", "list an app's accounts and their state: NAME [--state creating|active|deactivated|deleted]", appAccounts},
	{"push list", "list push jobs: [--app NAME] [--failed] [--limit N]", pushList},
	{"push retry", "requeue dead-lettered pushes: ID | --app NAME", pushRetry},
	{"task list", "list manual tasks: [--app NAME] [--all]", taskList},
	{"task resolve", "mark a manual task done: ID [--note TEXT]", taskResolve},
	{"admin token create", "issue an admin token, printed once: --name N --role super-admin|app-admin|group-admin|read-only|authn [--groups DIR/GROUP,…] [--apps A1]", adminTokenCreate},
	{"admin token list", "list admin tokens (never their secrets)", adminTokenList},
	{"admin token revoke", "revoke an admin token: ID|NAME", adminTokenRevoke},
	{"admin grant", "let a directory group's members sign in to the console with a role: --role super-admin|app-admin|group-admin|read-only --group DIR/GROUP [--groups DIR/GROUP,…] [--apps A1,…]", adminGrantCreate},
	{"admin grant list", "list admin grants", adminGrantList},
	{"admin grant revoke", "revoke an admin grant (its console sessions end at once): ID", adminGrantRevoke},
	{"audit list", "read the audit trail: [--since 24h|7d|DATE] [--actor A] [--target T] [--action A] [--outcome ok|refused|failed] [-o table|json|csv]", auditList},
	{"report users", "users per status per directory", report("users")},
	{"report app-usage", "accounts and pushes per app", report("app-usage")},
	{"report pending-deprovisions", "manual deprovision tasks still open", report("pending-deprovisions")},
	{"report failed-pushes", "pushes dead-lettered or retrying after an error", report("failed-pushes")},
	{"report imports", "import history, newest first", report("imports")},
	{"report agents", "agent health: state, version, last seen, lag, certificate expiry", report("agents")},
	{"report upcoming-purges", "deprovisioned users purged in the next 30 days, soonest first", report("upcoming-purges")},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "usage: idsyncctl COMMAND [ARGS] [--config FILE] [--admin-token-file FILE|-] [-o table|json|csv]\n\ncommands:\n")
	listCommands(w, "")
	fmt.Fprintf(w, "\nThe config (admin.conf, written by the hub on its first start) comes from --config or IDSYNC_CONFIG;\n--admin-token-file (a file, or - for standard input) or IDSYNC_TOKEN override its token.\n")
}

// listCommands lists the commands whose name starts with the words of
// prefix ("": all), with their summaries, and says how many it listed.
func listCommands(w io.Writer, prefix string) int {
	n := 0
	for _, c := range commands {
		if prefix == "" || strings.HasPrefix(c.name, prefix+" ") {
			fmt.Fprintf(w, "  %-27s %s\n", c.name, c.summary)
			n++
		}
	}
	return n
}

// isHelp says whether arg asks for help.
func isHelp(arg string) bool { return arg == "help" || arg == "-h" || arg == "--help" }

// groupHelp answers `idsyncctl user --help` (and `idsyncctl user`): the
// commands of the group, on standard output when asked for, else on
// standard error as a usage error. ok is false for a word that names no
// group.
func groupHelp(args []string, stdout, stderr io.Writer) (code int, ok bool) {
	asked := len(args) > 1 && isHelp(args[1])
	if len(args) > 1 && !asked {
		return 0, false
	}
	w, code := stderr, exitUsage
	if asked {
		w, code = stdout, exitOK
	}
	var b strings.Builder
	if listCommands(&b, args[0]) == 0 {
		return 0, false
	}
	fmt.Fprintf(w, "usage: idsyncctl %s COMMAND [ARGS]; COMMAND --help for its flags\n\ncommands:\n%s", args[0], b.String())
	return code, true
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || isHelp(args[0]) {
		usage(stdout)
		return exitOK
	}
	if args[0] == "--version" || args[0] == "version" {
		fmt.Fprintln(stdout, "idsyncctl", version.String())
		return exitOK
	}
	var cmd *command
	words := 0
	for i := range commands {
		n := len(strings.Fields(commands[i].name))
		if n <= len(args) && commands[i].name == strings.Join(args[:n], " ") {
			cmd, words = &commands[i], n
		}
	}
	if cmd == nil {
		if code, ok := groupHelp(args, stdout, stderr); ok {
			return code
		}
		fmt.Fprintf(stderr, "idsyncctl: unknown command %q\n\n", strings.Join(args[:min(2, len(args))], " "))
		usage(stderr)
		return exitUsage
	}
	c := &cli{ctx: ctx, out: stdout, errOut: stderr, summary: cmd.summary}
	err := cmd.run(c, args[words:])
	if c.conn != nil {
		c.conn.Close()
	}
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintf(stderr, "idsyncctl %s: %v\n", cmd.name, ee.err)
		}
		return ee.code
	}
	if s, ok := status.FromError(err); ok {
		fmt.Fprintf(stderr, "idsyncctl %s: %s (%s)%s\n", cmd.name, s.Message(), s.Code(), c.hint(s))
		return exitFailed
	}
	fmt.Fprintf(stderr, "idsyncctl %s: %v\n", cmd.name, err)
	return exitFailed
}

// maxMessageBytes bounds one answer from the hub, as the hub bounds its own.
const maxMessageBytes = 64 << 20

// cli holds what every command shares.
type cli struct {
	ctx    context.Context
	out    io.Writer
	errOut io.Writer
	// summary is the command's, for its --help.
	summary string

	config    string
	token     string
	tokenFile string
	// tokenFrom says where the token came from, for a refusal of it.
	tokenFrom string
	output    string
	// allowCSV: the command also writes -o csv.
	allowCSV bool
	// timeout bounds the command's call (0: shortCall).
	timeout time.Duration
	// refused are the flags that must not be given (a secret as a flag's
	// value), by name.
	refused map[string]*refusedFlag

	conn   *grpc.ClientConn
	client idsyncv1.AdminServiceClient
}

// flags returns a flag set with the global flags.
func (c *cli) flags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(c.errOut)
	fs.Usage = func() {
		if c.summary != "" {
			fmt.Fprintf(fs.Output(), "usage: idsyncctl %s — %s\n\nflags:\n", name, c.summary)
		}
		fs.PrintDefaults()
	}
	fs.StringVar(&c.config, "config", os.Getenv("IDSYNC_CONFIG"), "admin config `FILE` (default $IDSYNC_CONFIG)")
	c.token = os.Getenv("IDSYNC_TOKEN")
	fs.StringVar(&c.tokenFile, "admin-token-file", "", "`FILE` holding the admin token, or - for standard input (default $IDSYNC_TOKEN, else the config's)")
	c.refused = map[string]*refusedFlag{}
	c.refuse(fs, "token", "(refused: a token on the command line shows in the process list; use --admin-token-file or IDSYNC_TOKEN)",
		"a token on the command line shows in the process list and the shell's history: "+
			"use --admin-token-file FILE (or - for standard input) or IDSYNC_TOKEN")
	fs.StringVar(&c.output, "o", "table", "output `FORMAT`: table or json")
	return fs
}

// parse parses flags that may come before, between or after positional
// arguments, and checks the count of positionals.
func (c *cli) parse(fs *flag.FlagSet, args []string, positional ...string) ([]string, error) {
	var pos []string
	// Help that was asked for goes to standard output, and is no error.
	if slices.ContainsFunc(args, func(a string) bool { return a == "-h" || a == "--help" || a == "-help" }) {
		fs.SetOutput(c.out)
	}
	for {
		if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
			return nil, &exitError{code: exitOK}
		} else if err != nil {
			return nil, &exitError{code: exitUsage}
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	for _, name := range sortedKeys(c.refused) {
		if r := c.refused[name]; r.given {
			return nil, &exitError{code: exitUsage, err: fmt.Errorf("--%s: %s", name, r.why)}
		}
	}
	if len(pos) != len(positional) {
		want := "no arguments"
		if len(positional) > 0 {
			want = strings.Join(positional, " ")
		}
		return nil, &exitError{code: exitUsage, err: fmt.Errorf("want %s, got %d argument(s)", want, len(pos))}
	}
	switch {
	case c.output == "table", c.output == "json":
	case c.output == "csv" && c.allowCSV:
	case c.allowCSV:
		return nil, &exitError{code: exitUsage, err: fmt.Errorf("-o %q: must be table, json or csv", c.output)}
	default:
		return nil, &exitError{code: exitUsage, err: fmt.Errorf("-o %q: must be table or json", c.output)}
	}
	return pos, nil
}

// admin connects to the hub and returns a context carrying the token.
func (c *cli) admin() (context.Context, idsyncv1.AdminServiceClient, error) {
	if c.config == "" {
		return nil, nil, &exitError{code: exitUsage, err: errors.New("no admin config: pass --config FILE or set IDSYNC_CONFIG (the hub writes DATA_DIR/admin.conf on its first start)")}
	}
	conf, err := adminconf.Read(c.config)
	if err != nil {
		return nil, nil, err
	}
	token := conf.Token
	c.tokenFrom = c.config
	if c.token != "" {
		token, c.tokenFrom = c.token, "IDSYNC_TOKEN, which overrides the config's"
	}
	if c.tokenFile != "" {
		if token, err = readTokenFile(c.tokenFile); err != nil {
			return nil, nil, &exitError{code: exitUsage, err: err}
		}
		c.tokenFrom = "--admin-token-file " + c.tokenFile
	}
	if fi, err := os.Stat(c.config); err == nil && fi.Mode().Perm()&0o077 != 0 && conf.Token != "" && runtime.GOOS != "windows" {
		fmt.Fprintf(c.errOut, "idsyncctl: warning: %s holds an admin token and is readable by others (mode %04o): chmod 600 %s\n",
			c.config, fi.Mode().Perm(), c.config)
	}
	if token == "" {
		return nil, nil, fmt.Errorf("%s: token: required (or pass --admin-token-file / IDSYNC_TOKEN)", c.config)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(conf.CA)) {
		return nil, nil, fmt.Errorf("%s: ca: no PEM certificate", c.config)
	}
	host, _, err := net.SplitHostPort(conf.Hub)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: hub %q: %v", c.config, conf.Hub, err)
	}
	creds := credentials.NewTLS(&tls.Config{RootCAs: pool, ServerName: host, MinVersion: tls.VersionTLS12})
	conn, err := grpc.NewClient(conf.Hub, grpc.WithTransportCredentials(creds),
		// A group show of a very large group is one message.
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMessageBytes)))
	if err != nil {
		return nil, nil, fmt.Errorf("hub %s: %w", conf.Hub, err)
	}
	c.conn = conn
	c.client = idsyncv1.NewAdminServiceClient(conn)
	ctx := metadata.AppendToOutgoingContext(c.ctx, "authorization", "Bearer "+token)
	return ctx, c.client, nil
}

// hint says what likely went wrong with the hub's answer s, when it is
// about the token or the hub's certificate: where the token came from; a
// CA that is not the hub's.
func (c *cli) hint(s *status.Status) string {
	switch {
	case s.Code() == codes.Unauthenticated && c.tokenFrom != "":
		return "; the token came from " + c.tokenFrom
	case s.Code() == codes.Unavailable && strings.Contains(s.Message(), "certificate signed by unknown authority"):
		return "; the hub's certificate is not from the CA in " + c.config +
			": is that admin.conf another hub's, or was the hub's data directory made anew?"
	}
	return ""
}

// refusedFlag is a flag that is refused when given: its value (a secret)
// is dropped, never echoed as flag's own errors would.
type refusedFlag struct {
	given bool
	why   string
}

func (r *refusedFlag) String() string     { return "" }
func (r *refusedFlag) Set(v string) error { r.given = true; return nil }

// refuse registers a flag that parse refuses with why.
func (c *cli) refuse(fs *flag.FlagSet, name, usage, why string) {
	r := &refusedFlag{why: why}
	c.refused[name] = r
	fs.Var(r, name, usage)
}

// readTokenFile reads an admin token from path, or from standard input
// when path is "-", without its trailing newline.
func readTokenFile(path string) (string, error) {
	if path != "-" {
		return readSecretFile("admin-token-file", path)
	}
	b, err := io.ReadAll(io.LimitReader(os.Stdin, 64<<10))
	if err != nil {
		return "", fmt.Errorf("--admin-token-file -: reading standard input: %w", err)
	}
	s := strings.TrimRight(string(b), "\r\n")
	if s == "" {
		return "", errors.New("--admin-token-file -: standard input is empty")
	}
	return s, nil
}

// multiFlag collects a repeated flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
