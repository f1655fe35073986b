//go:build linux

package testserver

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/idsync/idsync/internal/ldapattr"
)

// The local Samba domain's fixed identity. Tests use SambaServer's fields
// rather than these, so that they also run against an outside AD.
const (
	// SambaRealm is the Kerberos realm (DNS domain) of the local DC.
	SambaRealm = "IDSYNC.TEST"
	// SambaDomain is the NetBIOS domain name of the local DC.
	SambaDomain = "IDSYNC"
	// SambaDomainDN is the domain naming context of the local DC.
	SambaDomainDN = "DC=idsync,DC=test"
	// SambaAdminDN is the local DC's Administrator.
	SambaAdminDN = "CN=Administrator,CN=Users," + SambaDomainDN
	// SambaAdminPassword is SambaAdminDN's password (it meets AD's
	// complexity rules).
	SambaAdminPassword = "Idsync-Adm1n-Secret"
)

// SambaServer is an Active Directory domain controller as one test sees it:
// the shared local Samba AD DC of the test process, or an outside AD named by
// IDSYNC_TEST_AD_URL. BaseDN is an OU of the test's own.
type SambaServer struct {
	Endpoint
	// LDAPSURL is the DC's ldaps:// URL, and CAFile the PEM file of the CA
	// that signed its certificate: AD sets passwords over TLS only. Empty
	// on an outside AD unless IDSYNC_TEST_AD_LDAPS_URL (and
	// IDSYNC_TEST_AD_CA_FILE) name them.
	LDAPSURL, CAFile string
	// DomainDN is the domain naming context (DC=…).
	DomainDN string
	// Outside is true when the tests run against an outside AD.
	Outside bool
}

// SambaAD returns the process's Samba AD DC, provisioned and started on the
// first call (about ten seconds) and stopped by Main, with a fresh OU for
// the calling test. Packages that use it must call Main from TestMain. With
// IDSYNC_TEST_AD_URL (and IDSYNC_TEST_AD_BIND_DN, IDSYNC_TEST_AD_BIND_PASSWORD,
// IDSYNC_TEST_AD_BASE_DN) it uses that AD instead, and removes the OU at the
// end of the test. A missing samba makes the test Unavailable; -short skips
// it.
func SambaAD(t testing.TB) *SambaServer {
	t.Helper()
	sambaServer.skipShort(t)
	if url := os.Getenv("IDSYNC_TEST_AD_URL"); url != "" {
		base := os.Getenv("IDSYNC_TEST_AD_BASE_DN")
		if base == "" {
			t.Fatalf("IDSYNC_TEST_AD_URL is set but IDSYNC_TEST_AD_BASE_DN is not")
		}
		s := &SambaServer{DomainDN: base, Outside: true,
			LDAPSURL: os.Getenv("IDSYNC_TEST_AD_LDAPS_URL"), CAFile: os.Getenv("IDSYNC_TEST_AD_CA_FILE"), Endpoint: Endpoint{
				URL:          url,
				BindDN:       os.Getenv("IDSYNC_TEST_AD_BIND_DN"),
				BindPassword: os.Getenv("IDSYNC_TEST_AD_BIND_PASSWORD"),
				treeDelete:   true,
			}}
		s.BaseDN = s.freshOU(t, base, "OU", true)
		return s
	}
	dc, err := sharedDC()
	var missing *missingError
	if errors.As(err, &missing) {
		sambaServer.missing(t, err)
	}
	if err != nil {
		t.Fatalf("starting Samba AD: %v", err)
	}
	s := &SambaServer{DomainDN: SambaDomainDN, Endpoint: dc.endpoint, LDAPSURL: dc.ldapsURL(), CAFile: dc.caFile()}
	// The DC and everything in it go away when the process ends: no need
	// to spend time deleting the test's OU.
	s.BaseDN = s.freshOU(t, SambaDomainDN, "OU", false)
	return s
}

// missingError says a program the DC needs is not installed.
type missingError struct{ err error }

func (e *missingError) Error() string { return e.err.Error() }

var shared struct {
	once sync.Once
	dc   *sambaDC
	err  error
}

func sharedDC() (*sambaDC, error) {
	shared.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		shared.dc, shared.err = startSambaDC(ctx)
		if shared.err == nil {
			AtExit(shared.dc.stop)
		}
	})
	return shared.dc, shared.err
}

// sambaDC is a running Samba AD DC bound to one loopback address.
type sambaDC struct {
	endpoint   Endpoint // plain LDAP
	dir, addr  string
	lock       *os.File
	aliasAdded bool
	cmd        *exec.Cmd
	stdin      io.WriteCloser // held open: samba -i exits when it closes
	exited     chan struct{}
}

// startSambaDC provisions a domain in a temporary directory and runs samba
// on a loopback address of its own: the DC binds port 389 (and 88), so
// every test process that runs one needs a different address.
func startSambaDC(ctx context.Context) (_ *sambaDC, err error) {
	for _, prog := range []string{"samba", "samba-tool", "ip"} {
		if _, err := exec.LookPath(prog); err != nil {
			return nil, &missingError{fmt.Errorf("%s not found: %w", prog, err)}
		}
	}
	dc := &sambaDC{}
	defer func() {
		if err != nil {
			dc.stop()
		}
	}()
	if dc.dir, err = os.MkdirTemp("", "idsync-samba-"); err != nil {
		return nil, err
	}
	if err := dc.pickAddress(); err != nil {
		return nil, err
	}
	start := time.Now()
	template, err := provisionedTemplate(ctx)
	if err != nil {
		return nil, err
	}
	if out, err := exec.CommandContext(ctx, "cp", "-a", template+"/.", dc.dir).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("copying the provisioned domain: %w: %s", err, out)
	}
	provisioned := time.Since(start)
	conf := filepath.Join(dc.dir, "etc", "smb.conf")
	if err := dc.adjustConf(conf); err != nil {
		return nil, err
	}
	if out, err := exec.CommandContext(ctx, "ip", "addr", "add", dc.addr+"/8", "dev", "lo").CombinedOutput(); err != nil {
		// Already there (left by a process that died, or added by hand):
		// use it, and leave it be. iproute2 says either, by version.
		if !strings.Contains(string(out), "File exists") && !strings.Contains(string(out), "already assigned") {
			return nil, fmt.Errorf("adding loopback address %s: %w: %s", dc.addr, err, out)
		}
	} else {
		dc.aliasAdded = true
	}

	logPath := filepath.Join(dc.dir, "samba.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	// -i: foreground, log to stdout, and exit when stdin closes — one more
	// way for the DC to die with the test process.
	dc.cmd = Command("samba", "-i", "--no-process-group", "-s", conf)
	dc.cmd.Stdout, dc.cmd.Stderr = logFile, logFile
	if dc.stdin, err = dc.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	if err := dc.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting samba: %w", err)
	}
	dc.exited = make(chan struct{})
	go func() { dc.cmd.Wait(); close(dc.exited) }()
	dc.endpoint = Endpoint{
		URL:          "ldap://" + dc.addr,
		BindDN:       SambaAdminDN,
		BindPassword: SambaAdminPassword,
		BaseDN:       SambaDomainDN,
		treeDelete:   true,
	}
	if err := waitLDAP(ctx, &dc.endpoint, dc.exited, 90*time.Second); err != nil {
		log, _ := os.ReadFile(logPath)
		return nil, fmt.Errorf("samba on %s: %w; log: %s", dc.addr, err, tail(string(log)))
	}
	// testing.Verbose panics outside a test binary (StartSambaAD).
	if testing.Testing() && testing.Verbose() {
		fmt.Fprintf(os.Stderr, "testserver: Samba AD DC on %s (domain ready in %v, up after %v)\n",
			dc.addr, provisioned.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	}
	return dc, nil
}

// provisionedTemplate returns a directory holding a freshly provisioned
// domain, made once per machine and Samba version and copied by every test
// process: provisioning takes seconds, a copy a fraction of one. Processes
// starting together wait on a lock for the one that provisions.
func provisionedTemplate(ctx context.Context) (string, error) {
	version, err := exec.CommandContext(ctx, "samba", "--version").Output()
	if err != nil {
		return "", fmt.Errorf("samba --version: %w", err)
	}
	key := regexp.MustCompile(`[^A-Za-z0-9.]+`).ReplaceAllString(strings.TrimSpace(string(version)), "-")
	dir := filepath.Join(os.TempDir(), "idsync-samba-template-v1-"+key)
	done := filepath.Join(dir, ".provisioned")
	if _, err := os.Stat(done); err == nil {
		return dir, nil
	}
	lock, err := os.OpenFile(dir+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", fmt.Errorf("locking %s: %w", lock.Name(), err)
	}
	if _, err := os.Stat(done); err == nil {
		return dir, nil // another process provisioned it meanwhile
	}
	os.RemoveAll(dir)
	provision := exec.CommandContext(ctx, "samba-tool", "domain", "provision",
		"--targetdir="+dir, "--realm="+SambaRealm, "--domain="+SambaDomain,
		"--server-role=dc", "--dns-backend=NONE", "--use-rfc2307",
		"--adminpass="+SambaAdminPassword)
	if out, err := provision.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("samba-tool domain provision: %w: %s", err, tail(string(out)))
	}
	// The target directory appears in smb.conf only; adjustConf rewrites it.
	if err := os.WriteFile(done, []byte(dir), 0o600); err != nil {
		return "", err
	}
	return dir, nil
}

// pickAddress chooses 127.0.0.N with N from 100 up whose port 389 is free,
// holding a lock file so that concurrent test processes pick different ones.
func (dc *sambaDC) pickAddress() error {
	first := 100 + os.Getpid()%100
	for k := range 150 {
		n := 100 + (first-100+k)%150
		addr := fmt.Sprintf("127.0.0.%d", n)
		lock, err := os.OpenFile(filepath.Join(os.TempDir(), "idsync-samba-"+addr+".lock"), os.O_CREATE|os.O_RDWR, 0o600)
		if err != nil {
			return err
		}
		if syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
			lock.Close()
			continue
		}
		if l, err := net.Listen("tcp", addr+":389"); err == nil {
			l.Close()
			dc.addr, dc.lock = addr, lock
			return nil
		}
		lock.Close()
	}
	return errors.New("no free loopback address 127.0.0.100-249 with port 389 free")
}

// adjustConf rewrites the provisioned smb.conf's [global] section: only the
// services the tests use, on our address only, every path inside the DC's
// directory, and simple binds over plain LDAP allowed.
func (dc *sambaDC) adjustConf(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	template, err := os.ReadFile(filepath.Join(dc.dir, ".provisioned"))
	if err != nil {
		return err
	}
	data = []byte(strings.ReplaceAll(string(data), string(template), dc.dir))
	settings := map[string]string{
		"server services":                 "ldap, cldap, kdc",
		"ldap server require strong auth": "no",
		"interfaces":                      dc.addr,
		"bind interfaces only":            "yes",
		"pid directory":                   filepath.Join(dc.dir, "run"),
		"ncalrpc dir":                     filepath.Join(dc.dir, "run", "ncalrpc"),
		"winbindd socket directory":       filepath.Join(dc.dir, "run", "winbindd"),
		"ntp signd socket directory":      filepath.Join(dc.dir, "run", "ntp_signd"),
		"log file":                        filepath.Join(dc.dir, "log.%m"),
		// Test data is thrown away: no fsync per LDAP write.
		"ldb:nosync": "true",
		// LDAPS (port 636) with a certificate for the DC's address, so
		// that clients verify it: AD sets passwords over TLS only.
		"tls enabled":  "yes",
		"tls certfile": filepath.Join(dc.dir, "tls", "server.pem"),
		"tls keyfile":  filepath.Join(dc.dir, "tls", "server-key.pem"),
		"tls cafile":   dc.caFile(),
	}
	if err := os.MkdirAll(filepath.Join(dc.dir, "tls"), 0o700); err != nil {
		return err
	}
	if err := writeTestCerts(filepath.Join(dc.dir, "tls"), dc.addr); err != nil {
		return err
	}
	var out strings.Builder
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	for sc.Scan() {
		line := sc.Text()
		key, _, _ := strings.Cut(strings.TrimSpace(line), "=")
		if _, ours := settings[strings.ToLower(strings.TrimSpace(key))]; ours {
			continue
		}
		out.WriteString(line + "\n")
		if strings.TrimSpace(line) == "[global]" {
			for k, v := range settings {
				fmt.Fprintf(&out, "\t%s = %s\n", k, v)
			}
		}
	}
	if err := os.MkdirAll(filepath.Join(dc.dir, "run"), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(out.String()), 0o600)
}

// ldapsURL is the DC's LDAPS listener.
func (dc *sambaDC) ldapsURL() string { return "ldaps://" + dc.addr }

// caFile is the CA of the DC's TLS certificate (made by adjustConf).
func (dc *sambaDC) caFile() string { return filepath.Join(dc.dir, "tls", "ca.pem") }

// stop stops samba (SIGTERM to its process group, SIGKILL after 10 s),
// removes the loopback address if it added it, and deletes the directory.
func (dc *sambaDC) stop() {
	if dc.cmd != nil && dc.cmd.Process != nil {
		KillGroup(dc.cmd, syscall.SIGTERM)
		select {
		case <-dc.exited:
		case <-time.After(10 * time.Second):
			KillGroup(dc.cmd, syscall.SIGKILL)
			<-dc.exited
		}
	}
	if dc.aliasAdded {
		_ = exec.Command("ip", "addr", "del", dc.addr+"/8", "dev", "lo").Run()
	}
	if dc.lock != nil {
		dc.lock.Close()
	}
	if dc.dir != "" {
		os.RemoveAll(dc.dir)
	}
}

// SetPassword sets the password of the account at dn over LDAPS (AD takes
// unicodePwd over TLS only), as the administrator.
func (s *SambaServer) SetPassword(ctx context.Context, dn, password string) error {
	if s.LDAPSURL == "" {
		return errors.New("setting a password: this AD has no LDAPS URL (IDSYNC_TEST_AD_LDAPS_URL)")
	}
	u, err := url.Parse(s.LDAPSURL)
	if err != nil {
		return fmt.Errorf("LDAPS URL %q: %w", s.LDAPSURL, err)
	}
	cfg := &tls.Config{ServerName: u.Hostname()}
	if s.CAFile != "" {
		pemBytes, err := os.ReadFile(s.CAFile)
		if err != nil {
			return err
		}
		cfg.RootCAs = x509.NewCertPool()
		cfg.RootCAs.AppendCertsFromPEM(pemBytes)
	}
	d := net.Dialer{Timeout: 10 * time.Second}
	c, err := ldap.DialURL(s.LDAPSURL, ldap.DialWithDialer(&d), ldap.DialWithTLSConfig(cfg))
	if err != nil {
		return fmt.Errorf("dialling %s: %w", s.LDAPSURL, err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	if err := c.Bind(s.BindDN, s.BindPassword); err != nil {
		return fmt.Errorf("binding to %s: %w", s.LDAPSURL, err)
	}
	m := ldap.NewModifyRequest(dn, nil)
	m.Replace("unicodePwd", []string{ldapattr.UnicodePwd(password)})
	if err := c.Modify(m); err != nil {
		return fmt.Errorf("setting the password of %s: %w", dn, err)
	}
	return nil
}
