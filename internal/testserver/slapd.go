//go:build linux

package testserver

import (
	"bufio"
	"cmp"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"golang.org/x/sync/errgroup"

	"github.com/idsync/idsync/internal/gendir"
)

// The local slapd's fixed identity. Tests use Endpoint's fields rather than
// these, so that they also run against an outside server.
const (
	// SlapdSuffix is the naming context of a local slapd.
	SlapdSuffix = "dc=example,dc=org"
	// SlapdRootDN is the administrator of a local slapd.
	SlapdRootDN = "cn=admin," + SlapdSuffix
	// SlapdRootPassword is SlapdRootDN's password.
	SlapdRootPassword = "idsync-root-secret"
)

// SlapdOptions configure a slapd.
type SlapdOptions struct {
	// Dir holds the configuration, the database, the log and the pid file.
	// StartSlapd makes (and Stop removes) a temporary one when empty; Slapd
	// uses t.TempDir().
	Dir string
	// Preload, when set, is called once with the DN the test owns and an
	// emit function; the entries it emits are loaded with slapadd before the
	// server starts (100,000 users take seconds), or added over LDAP on an
	// outside server. Parents must come before children.
	Preload func(baseDN string, emit func(gendir.Entry) error) error
	// Access holds slapd.conf "access" directives placed before the final
	// "access to * by * read", e.g. to hide an attribute from a reader.
	// Setting it makes Slapd start a local server even when
	// IDSYNC_TEST_LDAP_URL names an outside one.
	Access []string
	// TLS adds an ldaps:// listener (LDAPSURL) and StartTLS, with a
	// certificate for 127.0.0.1 and localhost signed by a fresh CA (CAFile).
	// Like Access, it makes Slapd start a local server.
	TLS bool
	// SyncprovReloadHint sets "syncprov-reloadhint TRUE": a syncrepl
	// cookie older than the database's history is then refused with
	// e-syncRefreshRequired (4096) instead of served by a full reload.
	// Like Access, it makes Slapd start a local server.
	SyncprovReloadHint bool
	// PasswordPolicy loads the ppolicy overlay, whose schema defines
	// pwdAccountLockedTime. Like Access, it makes Slapd start a local server.
	PasswordPolicy bool
	// SessionLog is syncprov's session log, in changes (0: 10,000): a
	// consumer whose cookie is older than the log's oldest change gets a
	// refresh with a present phase, every unchanged entry named. Like
	// Access, it makes Slapd start a local server.
	SessionLog int
	// Refint loads the refint overlay on member and uniqueMember: a
	// renamed, moved or deleted entry is renamed in (or taken out of) the
	// groups that list it. Like Access, it makes Slapd start a local server.
	Refint bool
}

// SlapdServer is an OpenLDAP server with the back_mdb database and the
// syncprov overlay: a local child process, or an outside server named by
// IDSYNC_TEST_LDAP_URL.
type SlapdServer struct {
	Endpoint
	// LDAPSURL is the ldaps:// URL when SlapdOptions.TLS is set.
	LDAPSURL string
	// CAFile is the PEM file of the CA that signed the server's certificate
	// when SlapdOptions.TLS is set.
	CAFile string
	// Dir is the local server's directory (config, data, slapd.log).
	Dir string
	// Outside is true when the tests run against an outside server; Kill and
	// Restart then fail.
	Outside bool

	opts     SlapdOptions
	urls     string
	conf     string
	ownDir   bool
	mu       sync.Mutex
	cmd      *exec.Cmd
	exited   chan struct{}
	stopOnce sync.Once
}

// Slapd returns an OpenLDAP server for one test. Locally it starts a slapd
// in t.TempDir(), stopped when the test ends, whose BaseDN is the whole
// suffix. With IDSYNC_TEST_LDAP_URL (and IDSYNC_TEST_LDAP_BIND_DN,
// IDSYNC_TEST_LDAP_BIND_PASSWORD, IDSYNC_TEST_LDAP_BASE_DN) it uses that
// server instead, under a fresh OU removed at the end of the test. A missing
// slapd makes the test Unavailable; -short skips it.
func Slapd(t testing.TB, opts ...SlapdOptions) *SlapdServer {
	t.Helper()
	var o SlapdOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	slapdServer.skipShort(t)
	// Access rules and TLS are set in a local slapd's configuration, so a
	// test that needs them gets a local server even when an outside one is
	// named.
	if url := os.Getenv("IDSYNC_TEST_LDAP_URL"); url != "" && len(o.Access) == 0 && !o.TLS && !o.SyncprovReloadHint && !o.PasswordPolicy && !o.Refint && o.SessionLog == 0 {
		return outsideSlapd(t, url, o)
	}
	LocalSlapd(t)
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	s, err := StartSlapd(t.Context(), o)
	if err != nil {
		t.Fatalf("starting slapd: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("stopping slapd: %v", err)
		}
		if t.Failed() {
			s.logEnd(t)
		}
	})
	return s
}

// LocalSlapd skips t under -short, and makes it Unavailable when slapd or
// slapadd is not installed: for tests and benchmarks that start a slapd of
// their own with StartSlapd.
func LocalSlapd(t testing.TB) {
	t.Helper()
	slapdServer.skipShort(t)
	for _, prog := range []string{"slapd", "slapadd"} {
		if _, err := exec.LookPath(prog); err != nil {
			slapdServer.missing(t, err)
		}
	}
}

// logEnd tells a failed test how slapd ended when not by Stop's SIGTERM (a
// crash shows as "signal: segmentation fault") and the end of its log,
// empty unless IDSYNC_TEST_SLAPD_DEBUG set a debug level.
func (s *SlapdServer) logEnd(t testing.TB) {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	select {
	case <-exited:
		if !cmd.ProcessState.Success() {
			t.Logf("slapd on %s ended with %v", s.URL, cmd.ProcessState)
		}
	default:
	}
	if log, err := os.ReadFile(filepath.Join(s.Dir, "slapd.log")); err == nil && len(log) > 0 {
		t.Logf("end of slapd's log:\n%s", tail(string(log)))
	}
}

func outsideSlapd(t testing.TB, url string, o SlapdOptions) *SlapdServer {
	t.Helper()
	base := os.Getenv("IDSYNC_TEST_LDAP_BASE_DN")
	if base == "" {
		t.Fatalf("IDSYNC_TEST_LDAP_URL is set but IDSYNC_TEST_LDAP_BASE_DN is not")
	}
	s := &SlapdServer{Outside: true, Endpoint: Endpoint{
		URL:          url,
		BindDN:       os.Getenv("IDSYNC_TEST_LDAP_BIND_DN"),
		BindPassword: os.Getenv("IDSYNC_TEST_LDAP_BIND_PASSWORD"),
	}}
	s.BaseDN = s.freshOU(t, base, "ou", true)
	if o.Preload != nil {
		err := s.withConn(t.Context(), func(c *ldap.Conn) error {
			return o.Preload(s.BaseDN, func(e gendir.Entry) error { return addEntry(c, e) })
		})
		if err != nil {
			t.Fatalf("preloading %s: %v", url, err)
		}
	}
	return s
}

// StartSlapd starts a local slapd and returns once it answers LDAP; ctx
// bounds the start only. Stop it with Stop. It is usable outside tests (the
// demo and benchmarks).
func StartSlapd(ctx context.Context, opts SlapdOptions) (_ *SlapdServer, err error) {
	s := &SlapdServer{opts: opts, Dir: opts.Dir, Endpoint: Endpoint{
		BindDN: SlapdRootDN, BindPassword: SlapdRootPassword, BaseDN: SlapdSuffix,
	}}
	if s.Dir == "" {
		if s.Dir, err = os.MkdirTemp("", "idsync-slapd-"); err != nil {
			return nil, err
		}
		s.ownDir = true
	}
	defer func() {
		if err != nil && s.ownDir {
			os.RemoveAll(s.Dir)
		}
	}()
	if err := os.MkdirAll(filepath.Join(s.Dir, "data"), 0o700); err != nil {
		return nil, err
	}
	port, err := freePort("127.0.0.1")
	if err != nil {
		return nil, err
	}
	s.URL = fmt.Sprintf("ldap://127.0.0.1:%d", port)
	s.urls = s.URL + "/"
	if opts.TLS {
		tlsPort, err := freePort("127.0.0.1")
		if err != nil {
			return nil, err
		}
		s.LDAPSURL = fmt.Sprintf("ldaps://127.0.0.1:%d", tlsPort)
		s.urls += " " + s.LDAPSURL + "/"
		if err := writeTestCerts(s.Dir); err != nil {
			return nil, fmt.Errorf("making TLS certificates: %w", err)
		}
		s.CAFile = filepath.Join(s.Dir, "ca.pem")
	}
	if s.conf, err = writeSlapdConf(s.Dir, opts); err != nil {
		return nil, err
	}
	if err := s.slapadd(ctx); err != nil {
		return nil, err
	}
	if err := s.start(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// slapdPaths finds the schema and module directories of the installed
// OpenLDAP (Debian's first).
func slapdPaths() (schemaDir, moduleDir string, err error) {
	for _, d := range []string{"/etc/ldap/schema", "/etc/openldap/schema", "/usr/local/etc/openldap/schema"} {
		if _, err := os.Stat(filepath.Join(d, "core.schema")); err == nil {
			schemaDir = d
			break
		}
	}
	if schemaDir == "" {
		return "", "", errors.New("no OpenLDAP schema directory with core.schema found")
	}
	for _, d := range []string{"/usr/lib/ldap", "/usr/lib/openldap", "/usr/lib64/openldap", "/usr/libexec/openldap", "/usr/local/libexec/openldap"} {
		if _, err := os.Stat(filepath.Join(d, "back_mdb.so")); err == nil {
			return schemaDir, d, nil
		}
	}
	// No module directory: assume back_mdb and syncprov are built in.
	return schemaDir, "", nil
}

// writeSlapdConf writes a slapd.conf-style configuration (Debian's packaged
// cn=config service does not run here) and returns its path.
func writeSlapdConf(dir string, opts SlapdOptions) (string, error) {
	schemaDir, moduleDir, err := slapdPaths()
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, s := range []string{"core", "cosine", "inetorgperson", "nis"} {
		fmt.Fprintf(&b, "include %s/%s.schema\n", schemaDir, s)
	}
	fmt.Fprintf(&b, "pidfile %s/slapd.pid\nargsfile %s/slapd.args\n", dir, dir)
	if moduleDir != "" {
		fmt.Fprintf(&b, "modulepath %s\nmoduleload back_mdb\nmoduleload syncprov\n", moduleDir)
		if opts.PasswordPolicy {
			b.WriteString("moduleload ppolicy\n")
		}
		if opts.Refint {
			b.WriteString("moduleload refint\n")
		}
	}
	if opts.TLS {
		fmt.Fprintf(&b, "TLSCACertificateFile %s/ca.pem\nTLSCertificateFile %s/server.pem\nTLSCertificateKeyFile %s/server-key.pem\n", dir, dir, dir)
	}
	// Imports read everything; tests write values of several megabytes.
	b.WriteString("sizelimit unlimited\nsockbuf_max_incoming_auth 67108864\n")
	fmt.Fprintf(&b, "database mdb\nmaxsize 8589934592\ndbnosync\nsuffix %q\nrootdn %q\nrootpw %s\ndirectory %s/data\n",
		SlapdSuffix, SlapdRootDN, SlapdRootPassword, dir)
	b.WriteString("index objectClass eq\nindex entryUUID,entryCSN eq\n")
	fmt.Fprintf(&b, "overlay syncprov\nsyncprov-checkpoint 100 10\nsyncprov-sessionlog %d\n", cmp.Or(opts.SessionLog, 10000))
	if opts.SyncprovReloadHint {
		b.WriteString("syncprov-reloadhint TRUE\n")
	}
	if opts.PasswordPolicy {
		b.WriteString("overlay ppolicy\n")
	}
	if opts.Refint {
		b.WriteString("overlay refint\nrefint_attributes member uniqueMember\n")
	}
	for _, a := range opts.Access {
		b.WriteString(a + "\n")
	}
	b.WriteString("access to * by * read\n")
	conf := filepath.Join(dir, "slapd.conf")
	if err := os.WriteFile(conf, []byte(b.String()), 0o600); err != nil {
		return "", err
	}
	return conf, nil
}

// slapadd loads the suffix entry and the preload into the empty database.
func (s *SlapdServer) slapadd(ctx context.Context) error {
	cmd := exec.CommandContext(ctx, "slapadd", "-q", "-f", s.conf, "-b", SlapdSuffix)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting slapadd: %w", err)
	}
	w := bufio.NewWriterSize(stdin, 256<<10)
	emit := func(e gendir.Entry) error { return gendir.WriteEntry(w, e) }
	werr := emit(gendir.Entry{DN: SlapdSuffix, Attrs: []gendir.Attr{
		{Name: "objectClass", Values: []string{"top", "dcObject", "organization"}},
		{Name: "dc", Values: []string{"example"}},
		{Name: "o", Values: []string{"Example"}},
	}})
	if werr == nil && s.opts.Preload != nil {
		werr = s.opts.Preload(SlapdSuffix, emit)
	}
	if werr == nil {
		werr = w.Flush()
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("slapadd: %w: %s", err, tail(out.String()))
	}
	if werr != nil {
		return fmt.Errorf("writing the preload to slapadd: %w", werr)
	}
	return nil
}

// start runs slapd in the foreground as a child, logging at the debug
// level IDSYNC_TEST_SLAPD_DEBUG (none by default), and waits until the
// administrator can bind.
func (s *SlapdServer) start(ctx context.Context) error {
	logPath := filepath.Join(s.Dir, "slapd.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logFile.Close()
	level := os.Getenv("IDSYNC_TEST_SLAPD_DEBUG")
	if level == "" {
		level = "0"
	}
	cmd := Command("slapd", "-d", level, "-f", s.conf, "-h", s.urls)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting slapd: %w", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()
	if err := waitLDAP(ctx, &s.Endpoint, exited, 30*time.Second); err != nil {
		s.Kill()
		log, _ := os.ReadFile(logPath)
		return fmt.Errorf("slapd on %s: %w; log: %s", s.URL, err, tail(string(log)))
	}
	return nil
}

// waitLDAP polls until the administrator can bind, the process exits or the
// time is up.
func waitLDAP(ctx context.Context, e *Endpoint, exited <-chan struct{}, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for {
		attempt, stop := context.WithTimeout(ctx, 2*time.Second)
		c, err := e.Conn(attempt)
		stop()
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-exited:
			return errors.New("the server exited")
		case <-ctx.Done():
			return fmt.Errorf("not answering: %w (last error: %v)", ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Stop stops a local server (SIGTERM, then SIGKILL after 10 s) and removes
// its directory if StartSlapd made it. It does nothing for an outside one.
func (s *SlapdServer) Stop() error {
	if s.Outside {
		return nil
	}
	var err error
	s.stopOnce.Do(func() {
		err = s.signal(syscall.SIGTERM, 10*time.Second)
		if s.ownDir {
			err = errors.Join(err, os.RemoveAll(s.Dir))
		}
	})
	return err
}

// Kill kills the local server with SIGKILL and waits for it to exit, keeping
// its data for Restart.
func (s *SlapdServer) Kill() error {
	if s.Outside {
		return errors.New("cannot kill an outside LDAP server")
	}
	return s.signal(syscall.SIGKILL, 0)
}

// Restart stops the server if it runs (SIGTERM) and starts it again on the
// same port with the same data.
func (s *SlapdServer) Restart(ctx context.Context) error {
	if s.Outside {
		return errors.New("cannot restart an outside LDAP server")
	}
	if err := s.signal(syscall.SIGTERM, 10*time.Second); err != nil {
		return err
	}
	return s.start(ctx)
}

// signal sends sig to the server and waits for it to exit, escalating to
// SIGKILL after grace (at once when grace is zero).
func (s *SlapdServer) signal(sig syscall.Signal, grace time.Duration) error {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.mu.Unlock()
	if cmd == nil {
		return nil
	}
	KillGroup(cmd, sig)
	select {
	case <-exited:
		return nil
	case <-time.After(grace):
	}
	KillGroup(cmd, syscall.SIGKILL)
	select {
	case <-exited:
		if grace > 0 {
			return fmt.Errorf("slapd on %s did not stop within %v and was killed", s.URL, grace)
		}
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("slapd on %s did not exit after SIGKILL", s.URL)
	}
}

// freePort returns a TCP port on host that was free a moment ago.
func freePort(host string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, fmt.Errorf("finding a free port on %s: %w", host, err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tail returns the end of a log for an error message.
func tail(s string) string {
	const n = 2000
	s = strings.TrimSpace(s)
	if len(s) > n {
		s = "…" + s[len(s)-n:]
	}
	return s
}

// writeTestCerts writes ca.pem, server.pem and server-key.pem into dir: a
// throwaway CA and a server certificate for localhost, 127.0.0.1 and the
// extra addresses ips.
func writeTestCerts(dir string, ips ...string) error {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	ca := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "idsync test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "localhost"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		DNSNames:     []string{"localhost"},
		IPAddresses:  ipList(append([]string{"127.0.0.1"}, ips...)),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	for name, block := range map[string]*pem.Block{
		"ca.pem":         {Type: "CERTIFICATE", Bytes: caDER},
		"server.pem":     {Type: "CERTIFICATE", Bytes: leafDER},
		"server-key.pem": {Type: "PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(block), 0o600); err != nil {
			return err
		}
	}
	return nil
}

func ipList(ips []string) []net.IP {
	out := make([]net.IP, 0, len(ips))
	for _, ip := range ips {
		out = append(out, net.ParseIP(ip))
	}
	return out
}

// Endpoint is an LDAP server as a test sees it: where to connect, whom to
// bind as, and the subtree the test may use. SlapdServer and SambaServer
// embed it and so share its live-operation helpers.
type Endpoint struct {
	// URL is the ldap:// URL of the server.
	URL string
	// BindDN and BindPassword are an administrator's credentials.
	BindDN, BindPassword string
	// BaseDN is the subtree the test owns: the whole suffix of a per-test
	// slapd, or a fresh OU on a shared or outside server.
	BaseDN string

	// treeDelete says the server honours the subtree-delete control (AD);
	// elsewhere DeleteTree deletes leaves first.
	treeDelete bool
}

// Conn dials the server and binds as the administrator. ctx bounds the dial
// and the bind. The caller closes the connection.
func (e *Endpoint) Conn(ctx context.Context) (*ldap.Conn, error) {
	d := net.Dialer{Timeout: 10 * time.Second}
	conn, err := ldap.DialURL(e.URL, ldap.DialWithDialer(&d))
	if err != nil {
		return nil, fmt.Errorf("dialling %s: %w", e.URL, err)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if err := conn.Bind(e.BindDN, e.BindPassword); err != nil {
		conn.Close()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("binding to %s as %s: %w", e.URL, e.BindDN, ctx.Err())
		}
		return nil, fmt.Errorf("binding to %s as %s: %w", e.URL, e.BindDN, err)
	}
	return conn, nil
}

// withConn runs fn on a fresh bound connection that ctx cancellation closes.
func (e *Endpoint) withConn(ctx context.Context, fn func(*ldap.Conn) error) error {
	conn, err := e.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if err := fn(conn); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	}
	return nil
}

// Add adds one entry.
func (e *Endpoint) Add(ctx context.Context, entry gendir.Entry) error {
	return e.withConn(ctx, func(c *ldap.Conn) error { return addEntry(c, entry) })
}

// Modify applies a modification built by the caller, e.g.
//
//	req := ldap.NewModifyRequest(dn, nil)
//	req.Replace("title", []string{"Boss"})
func (e *Endpoint) Modify(ctx context.Context, req *ldap.ModifyRequest) error {
	return e.withConn(ctx, func(c *ldap.Conn) error {
		if err := c.Modify(req); err != nil {
			return fmt.Errorf("modifying %s: %w", req.DN, err)
		}
		return nil
	})
}

// ModifyDN renames or moves one entry, e.g.
//
//	ldap.NewModifyDNRequest(dn, "uid=new", true, "ou=other,"+base)
func (e *Endpoint) ModifyDN(ctx context.Context, req *ldap.ModifyDNRequest) error {
	return e.withConn(ctx, func(c *ldap.Conn) error {
		if err := c.ModifyDN(req); err != nil {
			return fmt.Errorf("renaming %s to %s (under %q): %w", req.DN, req.NewRDN, req.NewSuperior, err)
		}
		return nil
	})
}

// Delete deletes one entry.
func (e *Endpoint) Delete(ctx context.Context, dn string) error {
	return e.withConn(ctx, func(c *ldap.Conn) error {
		if err := c.Del(ldap.NewDelRequest(dn, nil)); err != nil {
			return fmt.Errorf("deleting %s: %w", dn, err)
		}
		return nil
	})
}

func addEntry(c *ldap.Conn, entry gendir.Entry) error {
	req := ldap.NewAddRequest(entry.DN, nil)
	for _, a := range entry.Attrs {
		req.Attribute(a.Name, a.Values)
	}
	if err := c.Add(req); err != nil {
		return fmt.Errorf("adding %s: %w", entry.DN, err)
	}
	return nil
}

// AddGenerated adds everything g generates over LDAP with several
// connections, in an order that satisfies servers checking references (AD
// checks manager and member DNs): containers, then users level by level of
// the management tree (user i reports to i/8), then groups.
func (e *Endpoint) AddGenerated(ctx context.Context, g *gendir.Generator, workers int) error {
	workers = max(workers, 1)
	conns := make([]*ldap.Conn, workers)
	for k := range conns {
		c, err := e.Conn(ctx)
		if err != nil {
			return err
		}
		defer c.Close()
		conns[k] = c
	}
	stop := context.AfterFunc(ctx, func() {
		for _, c := range conns {
			c.Close()
		}
	})
	defer stop()

	// parallel adds entries from..to-1 of one phase; entries within a phase
	// do not refer to each other.
	parallel := func(from, to int, entry func(int) gendir.Entry) error {
		eg := errgroup.Group{}
		for k, c := range conns {
			eg.Go(func() error {
				for i := from + k; i < to; i += workers {
					if err := addEntry(c, entry(i)); err != nil {
						return err
					}
				}
				return nil
			})
		}
		if err := eg.Wait(); err != nil {
			return errors.Join(ctx.Err(), err)
		}
		return nil
	}
	for _, c := range g.Containers() {
		if err := addEntry(conns[0], c); err != nil {
			return errors.Join(ctx.Err(), err)
		}
	}
	users := g.Options().Users
	for from, to := 0, 1; from < users; from, to = to, to*8 {
		if err := parallel(from, min(to, users), g.User); err != nil {
			return err
		}
	}
	return parallel(0, g.Options().Groups, g.Group)
}

// DeleteTree deletes dn and everything below it.
func (e *Endpoint) DeleteTree(ctx context.Context, dn string) error {
	return e.withConn(ctx, func(c *ldap.Conn) error {
		if e.treeDelete {
			if err := c.Del(ldap.NewDelRequest(dn, []ldap.Control{ldap.NewControlSubtreeDelete()})); err != nil {
				return fmt.Errorf("deleting subtree %s: %w", dn, err)
			}
			return nil
		}
		res, err := c.SearchWithPaging(ldap.NewSearchRequest(dn, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
			0, 0, false, "(objectClass=*)", []string{"1.1"}, nil), 1000)
		if err != nil {
			return fmt.Errorf("listing subtree %s: %w", dn, err)
		}
		// Deepest first: a parent can only go once its children have.
		depth := func(dn string) int { return strings.Count(dn, ",") - strings.Count(dn, `\,`) }
		slices.SortFunc(res.Entries, func(a, b *ldap.Entry) int { return depth(b.DN) - depth(a.DN) })
		for _, entry := range res.Entries {
			if err := c.Del(ldap.NewDelRequest(entry.DN, nil)); err != nil {
				return fmt.Errorf("deleting %s: %w", entry.DN, err)
			}
		}
		return nil
	})
}

// freshOU creates an organizational unit for one test under parent and
// returns its DN; with cleanup, the OU and its contents are removed at the
// end of the test. attr is "ou" or "OU".
func (e *Endpoint) freshOU(t testing.TB, parent, attr string, cleanup bool) string {
	t.Helper()
	var suffix [4]byte
	_, _ = rand.Read(suffix[:])
	name := regexp.MustCompile(`[^A-Za-z0-9]+`).ReplaceAllString(t.Name(), "-")
	if len(name) > 40 {
		name = name[:40]
	}
	name += "-" + hex.EncodeToString(suffix[:])
	dn := attr + "=" + name + "," + parent
	ou := gendir.Entry{DN: dn, Attrs: []gendir.Attr{
		{Name: "objectClass", Values: []string{"top", "organizationalUnit"}},
		{Name: "ou", Values: []string{name}},
	}}
	if err := e.Add(t.Context(), ou); err != nil {
		t.Fatalf("creating the test's OU: %v", err)
	}
	if !cleanup {
		return dn
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := e.DeleteTree(ctx, dn); err != nil {
			t.Errorf("removing the test's OU: %v", err)
		}
	})
	return dn
}
