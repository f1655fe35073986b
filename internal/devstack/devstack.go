//go:build linux

package devstack

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Binaries locates the three commands.
type Binaries struct{ Dir string }

// Hub, Agent and Ctl are the paths of the commands.
func (b Binaries) Hub() string   { return filepath.Join(b.Dir, "idsync-hub") }
func (b Binaries) Agent() string { return filepath.Join(b.Dir, "idsync-agent") }
func (b Binaries) Ctl() string   { return filepath.Join(b.Dir, "idsyncctl") }

// RepoRoot finds the module root from the working directory.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// Build compiles the three commands into outDir.
func Build(ctx context.Context, outDir string) (Binaries, error) {
	root, err := RepoRoot()
	if err != nil {
		return Binaries{}, err
	}
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goBin); err != nil {
		goBin = "go"
	}
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", outDir+string(filepath.Separator),
		"./cmd/idsync-agent", "./cmd/idsync-hub", "./cmd/idsyncctl")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return Binaries{}, fmt.Errorf("building the commands: %v\n%s", err, out)
	}
	return Binaries{Dir: outDir}, nil
}

// child starts a command that dies with this process.
func child(ctx context.Context, name string, args []string, out io.Writer) (*exec.Cmd, error) {
	cmd := exec.Command(name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", filepath.Base(name), err)
	}
	return cmd, nil
}

// Proc is a running child with its combined output.
type Proc struct {
	Cmd  *exec.Cmd
	Out  *SyncBuffer
	done chan struct{}
	err  error
}

func startProc(ctx context.Context, name string, args []string, tee io.Writer) (*Proc, error) {
	p := &Proc{Out: &SyncBuffer{}, done: make(chan struct{})}
	var w io.Writer = p.Out
	if tee != nil {
		w = io.MultiWriter(p.Out, tee)
	}
	cmd, err := child(ctx, name, args, w)
	if err != nil {
		return nil, err
	}
	p.Cmd = cmd
	go func() { p.err = cmd.Wait(); close(p.done) }()
	return p, nil
}

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Err is the process's exit error, once Done.
func (p *Proc) Err() error { <-p.done; return p.err }

// Stop sends SIGTERM and waits up to grace, then SIGKILL.
func (p *Proc) Stop(grace time.Duration) error {
	select {
	case <-p.done:
		return p.err
	default:
	}
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.Cmd.Process.Kill()
		<-p.done
	}
	return p.err
}

// Kill sends SIGKILL and waits.
func (p *Proc) Kill() {
	_ = p.Cmd.Process.Kill()
	<-p.done
}

// SyncBuffer is a bytes.Buffer safe for concurrent writers and readers.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// HubOptions start a hub.
type HubOptions struct {
	DataDir string
	// Store and DSN select PostgreSQL; empty means SQLite in DataDir.
	Store, DSN string
	// Args are extra flags for `idsync-hub serve`.
	Args []string
	// Tee, when set, also receives the hub's log.
	Tee io.Writer
	// GRPCAddr and HTTPAddr fix the listen addresses; free loopback ports
	// when empty.
	GRPCAddr, HTTPAddr string
}

// Hub is a running idsync-hub.
type Hub struct {
	*Proc
	bins      Binaries
	DataDir   string
	GRPCAddr  string
	HTTPAddr  string
	AdminConf string
	opts      HubOptions
}

// StartHub starts idsync-hub serve and waits until /healthz answers.
//
// Without fixed addresses the hub listens on ports the kernel picks (a
// port picked here and bound there may be taken in between by another
// test's server); they are read from its "hub serving" log line, and kept
// for Restart.
func StartHub(ctx context.Context, bins Binaries, o HubOptions) (*Hub, error) {
	h := &Hub{bins: bins, DataDir: o.DataDir, GRPCAddr: o.GRPCAddr, HTTPAddr: o.HTTPAddr,
		AdminConf: filepath.Join(o.DataDir, "admin.conf"), opts: o}
	return h, h.start(ctx)
}

// servingLine is the hub's log line naming the addresses it listens on.
var servingLine = regexp.MustCompile(`msg="hub serving" grpc=(\S+) http=(\S+)`)

func (h *Hub) start(ctx context.Context) error {
	grpcAddr, httpAddr := cmp.Or(h.GRPCAddr, "127.0.0.1:0"), cmp.Or(h.HTTPAddr, "127.0.0.1:0")
	args := []string{"serve", "--data-dir", h.DataDir, "--grpc-listen", grpcAddr, "--http-listen", httpAddr, "--log-format", "text"}
	if h.opts.Store != "" {
		args = append(args, "--store", h.opts.Store, "--store-dsn", h.opts.DSN)
	}
	args = append(args, h.opts.Args...)
	p, err := startProc(ctx, h.bins.Hub(), args, h.opts.Tee)
	if err != nil {
		return err
	}
	h.Proc = p
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			return fmt.Errorf("idsync-hub exited at start: %v\n%s", p.err, p.Out.String())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if h.HTTPAddr == "" {
			m := servingLine.FindStringSubmatch(p.Out.String())
			if m == nil {
				continue
			}
			h.GRPCAddr, h.HTTPAddr = m[1], m[2]
		}
		resp, err := http.Get("http://" + h.HTTPAddr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
	}
	return fmt.Errorf("idsync-hub did not become healthy within 60s\n%s", p.Out.String())
}

// Restart starts the hub again on the same addresses and data dir, after
// Stop or Kill.
func (h *Hub) Restart(ctx context.Context) error { return h.start(ctx) }

// CtlResult is what one idsyncctl invocation did.
type CtlResult struct {
	Stdout, Stderr string
	Code           int
}

// Ctl runs idsyncctl with the hub's admin.conf.
func (h *Hub) Ctl(ctx context.Context, args ...string) CtlResult {
	return RunCtl(ctx, h.bins, h.AdminConf, args...)
}

// RunCtl runs idsyncctl with an admin config.
func RunCtl(ctx context.Context, bins Binaries, adminConf string, args ...string) CtlResult {
	cmd := exec.CommandContext(ctx, bins.Ctl(), args...)
	cmd.Env = append(os.Environ(), "IDSYNC_CONFIG="+adminConf)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		code = -1
		stderr.WriteString(err.Error())
	}
	return CtlResult{Stdout: stdout.String(), Stderr: stderr.String(), Code: code}
}

// AgentDirectory is one directory in an agent's config.
type AgentDirectory struct {
	Name, URL, BindDN, BindPassword, CAFile string
	StartTLS                                bool
}

// WriteAgentConfig writes an agent config (and its bind password files,
// 0600) into dir and returns its path.
func WriteAgentConfig(dir, hub string, dirs []AgentDirectory) (string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "version: 1\nhub: %s\ndirectories:\n", hub)
	for _, d := range dirs {
		fmt.Fprintf(&b, "  - name: %s\n    url: %s\n", d.Name, d.URL)
		if d.StartTLS {
			b.WriteString("    start_tls: true\n")
		}
		if d.BindDN != "" {
			pw := filepath.Join(dir, d.Name+".pw")
			if err := os.WriteFile(pw, []byte(d.BindPassword+"\n"), 0o600); err != nil {
				return "", err
			}
			fmt.Fprintf(&b, "    bind_dn: %q\n    bind_password_file: %s\n", d.BindDN, pw)
		}
		if d.CAFile != "" {
			fmt.Fprintf(&b, "    ca_file: %s\n", d.CAFile)
		}
	}
	path := filepath.Join(dir, "agent.yaml")
	return path, os.WriteFile(path, []byte(b.String()), 0o600)
}

// Enroll runs `idsync-agent enroll`, the token on its standard input.
func Enroll(ctx context.Context, bins Binaries, config, hub, token string) (string, error) {
	cmd := exec.CommandContext(ctx, bins.Agent(), "enroll", "--config", config, "--hub", hub, "--token-file", "-")
	cmd.Stdin = strings.NewReader(token + "\n")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("idsync-agent enroll: %v: %s", err, out)
	}
	return string(out), nil
}

// StartAgent starts `idsync-agent run`.
func StartAgent(ctx context.Context, bins Binaries, config string, tee io.Writer, args ...string) (*Proc, error) {
	return startProc(ctx, bins.Agent(), append([]string{"run", "--config", config}, args...), tee)
}
