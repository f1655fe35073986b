//go:build linux

package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/idsync/idsync/internal/adminconf"
	"github.com/idsync/idsync/internal/devstack"
	"github.com/idsync/idsync/internal/gendir"
	"github.com/idsync/idsync/internal/scimtest"
	"github.com/idsync/idsync/internal/testserver"
)

func main() {
	users := flag.Int("users", 3000, "users to generate")
	groups := flag.Int("groups", 150, "groups to generate")
	grpcAddr := flag.String("grpc-listen", "127.0.0.1:7443", "hub gRPC address")
	httpAddr := flag.String("http-listen", "127.0.0.1:7080", "hub HTTP address")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *users, *groups, *grpcAddr, *httpAddr); err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		os.Exit(1)
	}
}

func step(format string, args ...any) {
	fmt.Printf("\033[1m==> "+format+"\033[0m\n", args...)
}

func run(ctx context.Context, nUsers, nGroups int, grpcAddr, httpAddr string) error {
	root, err := devstack.RepoRoot()
	if err != nil {
		return err
	}
	dir := filepath.Join(root, ".demo")
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}

	step("building idsync-hub, idsync-agent and idsyncctl into bin/")
	bins, err := devstack.Build(ctx, filepath.Join(root, "bin"))
	if err != nil {
		return err
	}

	step("starting slapd with %d generated users in %d groups (non-ASCII names included)", nUsers, nGroups)
	var gen *gendir.Generator
	slapd, err := testserver.StartSlapd(ctx, testserver.SlapdOptions{
		Dir: filepath.Join(dir, "slapd"),
		Preload: func(base string, emit func(gendir.Entry) error) error {
			g, err := gendir.New(gendir.Options{Flavor: gendir.OpenLDAP, BaseDN: base, Seed: 1, Users: nUsers, Groups: nGroups})
			if err != nil {
				return err
			}
			gen = g
			return g.Each(emit)
		},
	})
	if err != nil {
		return fmt.Errorf("starting slapd (is the slapd package installed? `make demo` installs it): %w", err)
	}
	defer slapd.Stop()
	fmt.Printf("    slapd on %s, base %s\n", slapd.URL, slapd.BaseDN)

	step("starting the hub (SQLite store in .demo/hub; log in .demo/hub.log)")
	hubLog, err := os.Create(filepath.Join(dir, "hub.log"))
	if err != nil {
		return err
	}
	defer hubLog.Close()
	hub, err := devstack.StartHub(ctx, bins, devstack.HubOptions{DataDir: filepath.Join(dir, "hub"),
		GRPCAddr: grpcAddr, HTTPAddr: httpAddr, Tee: hubLog})
	if err != nil {
		return fmt.Errorf("%w (is another hub using %s? pass -grpc-listen/-http-listen)", err, grpcAddr)
	}
	defer hub.Stop(10 * time.Second)
	fmt.Printf("    gRPC %s, HTTP http://%s/healthz, admin config %s\n", hub.GRPCAddr, hub.HTTPAddr, hub.AdminConf)

	ctl := func(args ...string) (string, error) {
		r := hub.Ctl(ctx, args...)
		if r.Code != 0 {
			return "", fmt.Errorf("idsyncctl %s: %s", strings.Join(args, " "), r.Stderr)
		}
		return r.Stdout, nil
	}
	step("idsyncctl directory add corp --kind openldap --base-dn %s", slapd.BaseDN)
	if _, err := ctl("directory", "add", "corp", "--kind", "openldap", "--base-dn", slapd.BaseDN); err != nil {
		return err
	}

	step("enrolling an agent (idsyncctl agent token → idsync-agent enroll) and starting it (log in .demo/agent.log)")
	token, err := ctl("agent", "token", "--directory", "corp")
	if err != nil {
		return err
	}
	config, err := devstack.WriteAgentConfig(filepath.Join(dir, "agent"), hub.GRPCAddr, []devstack.AgentDirectory{{
		Name: "corp", URL: slapd.URL, BindDN: slapd.BindDN, BindPassword: slapd.BindPassword}})
	if err != nil {
		return err
	}
	out, err := devstack.Enroll(ctx, bins, config, hub.GRPCAddr, strings.TrimSpace(token))
	if err != nil {
		return err
	}
	fmt.Print("    " + out)
	agentLog, err := os.Create(filepath.Join(dir, "agent.log"))
	if err != nil {
		return err
	}
	defer agentLog.Close()
	agent, err := devstack.StartAgent(ctx, bins, config, agentLog)
	if err != nil {
		return err
	}
	defer agent.Stop(10 * time.Second)
	for deadline := time.Now().Add(30 * time.Second); ; {
		if out, _ := ctl("agent", "list"); strings.Contains(out, "standby") || strings.Contains(out, "active") {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the agent did not come online; see .demo/agent.log")
		}
		time.Sleep(200 * time.Millisecond)
	}

	step("idsyncctl import start --directory corp --full --wait")
	cmd := exec.CommandContext(ctx, bins.Ctl(), "import", "start", "--directory", "corp", "--full", "--wait")
	cmd.Env = append(os.Environ(), "IDSYNC_CONFIG="+hub.AdminConf)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("the import failed: %w (see .demo/hub.log and .demo/agent.log)", err)
	}

	step("starting the SCIM test app and assigning it group %s (pushes, accounts, a dead letter or two)", gen.GroupCN(0))
	appToken := "demo-scim-token"
	app, err := scimtest.Listen(scimtest.Options{Token: appToken})
	if err != nil {
		return fmt.Errorf("starting the SCIM test app: %w", err)
	}
	defer app.Close()
	// Two creates refused: dead letters to look at and retry in the console.
	app.Inject(scimtest.Fault{Method: "POST", PathPrefix: "/Users", Status: 400, Times: 2})
	tokenFile := filepath.Join(dir, "crm.token")
	if err := os.WriteFile(tokenFile, []byte(appToken+"\n"), 0o600); err != nil {
		return err
	}
	if _, err := ctl("app", "add", "crm", "--scim-url", app.URL, "--auth", "bearer", "--token-file", tokenFile,
		"--allow-insecure-http", "--allow-local-addresses"); err != nil {
		return err
	}
	if _, err := ctl("app", "assign", "crm", "--group", gen.GroupCN(0)); err != nil {
		return err
	}
	conf, err := adminconf.Read(hub.AdminConf)
	if err != nil {
		return err
	}

	rel := func(p string) string {
		if r, err := filepath.Rel(root, p); err == nil {
			return r
		}
		return p
	}
	fmt.Printf(`
Everything is running. First, open the admin console:

  %s
  sign in with the admin token: %s

Then try, in another terminal (from %s):

  export IDSYNC_CONFIG=%s
  bin/idsyncctl directory show corp
  bin/idsyncctl user list --directory corp --limit 10
  bin/idsyncctl user show %s
  bin/idsyncctl group show '%s'
  bin/idsyncctl import list

  # change capture streams every change (syncrepl): change a title in slapd…
  printf 'dn: %s\nchangetype: modify\nreplace: title\ntitle: Head of Real Time\n' | \
    ldapmodify -x -H %s -D '%s' -w '%s'
  # …and the hub has it within a second
  bin/idsyncctl user show %s
  # a user leaves: deleted in slapd, deprovisioned in the hub at once
  ldapdelete -x -H %s -D '%s' -w '%s' '%s'
  bin/idsyncctl user list --status deprovisioned
  bin/idsyncctl agent list

Press Ctrl-C to stop slapd, the hub, the agent and the SCIM app.
`, "http://"+hub.HTTPAddr+"/", conf.Token, root, rel(hub.AdminConf), gen.UserUID(42), gen.GroupCN(0),
		gen.UserDN(7), slapd.URL, slapd.BindDN, slapd.BindPassword, gen.UserUID(7),
		slapd.URL, slapd.BindDN, slapd.BindPassword, gen.UserDN(42))
	<-ctx.Done()
	fmt.Println("\nstopping the agent, the hub and slapd")
	return nil
}
