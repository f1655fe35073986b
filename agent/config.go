package agent

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/idsync/idsync/internal/pki"
)

// ConfigVersion is the only config file version this agent reads.
const ConfigVersion = 1

// maxConfigSize bounds the config file read: a wrong path must not make the
// agent swallow a huge file.
const maxConfigSize = 1 << 20

// Config is the agent's configuration file, for example:
//
//	version: 1
//	hub: hub.example.com:7443
//	directories:
//	  - name: corp
//	    url: ldaps://dc1.corp.example:636
//	    bind_dn: CN=svc-idsync,OU=Service,DC=corp,DC=example
//	    bind_password_file: bind.pw
//	metrics_listen: 127.0.0.1:9464   # optional; port 0: the kernel picks one, logged
//	files:                            # optional: watched folders of csv directories
//	  - directory: hr-csv
//	    path: /srv/sftp/hr/outgoing
//	    schedule: 15m
//	    full: true
//
// The agent's identity (key, certificate, hub CA) lives beside the file; see
// IdentityPaths. Log format and level are command-line flags.
type Config struct {
	// Version is the file format version; it must be ConfigVersion.
	Version int `yaml:"version"`
	// Hub is the hub's host:port; the agent always dials out.
	Hub string `yaml:"hub"`
	// Directories are the directories this agent can serve.
	Directories []DirectoryConfig `yaml:"directories"`
	// MetricsListen, when set, is the host:port where the agent serves
	// /healthz, /readyz and Prometheus /metrics; empty (the default) serves
	// nothing. Keep it on loopback (127.0.0.1:9464) unless a scraper on
	// another machine must reach it.
	MetricsListen string `yaml:"metrics_listen"`
	// Files are watched folders: the newest file in each is sent to the
	// hub on a schedule, to be imported into a csv directory.
	Files []FileConfig `yaml:"files"`

	path string // the file, as given to LoadConfig
	dir  string // its directory, absolute
}

// DirectoryConfig says how the agent reaches one directory. The hub refers to
// it by Name and decides what to read from it.
type DirectoryConfig struct {
	// Name identifies the directory to the hub: 1–63 of a-z, 0-9 and '-'.
	Name string `yaml:"name"`
	// URL is ldap://host[:port] or ldaps://host[:port].
	URL string `yaml:"url"`
	// StartTLS upgrades an ldap:// connection with StartTLS.
	StartTLS bool `yaml:"start_tls"`
	// BindDN and BindPasswordFile go together; with neither the agent binds
	// anonymously. The file holds the password alone (a trailing newline is
	// ignored) and must not be readable by group or others.
	BindDN           string `yaml:"bind_dn"`
	BindPasswordFile string `yaml:"bind_password_file"`
	// CAFile, optional, holds the PEM certificates that sign the directory's
	// TLS certificate, when the system's roots do not.
	CAFile string `yaml:"ca_file"`
}

// FileConfig is a watched folder: on every Schedule the agent sends the
// newest file in Path, when it has not sent it yet, for an import into the
// csv directory Directory (which the agent must be enrolled for). Files
// whose names start with a dot or end in .part, .tmp, .filepart or
// .partial are being written, and skipped, as are files modified less than
// Settle ago.
type FileConfig struct {
	Directory string `yaml:"directory"`
	Path      string `yaml:"path"`
	// Schedule is how often the folder is looked at (a duration, e.g. 15m).
	Schedule string `yaml:"schedule"`
	// Settle is how long a file must be unchanged before it is sent
	// (default 1m; 0s: at once, for folders files are renamed into).
	Settle string `yaml:"settle"`
	// Full: each file is the whole population; users absent from it are
	// deprovisioned, through the directory's safeguard.
	Full bool `yaml:"full"`
	// Encoding and Delimiter are the files' (default: UTF-8, detected).
	Encoding  string `yaml:"encoding"`
	Delimiter string `yaml:"delimiter"`

	every, settle time.Duration
}

// DefaultSettle is how long a file must be unchanged before it is sent.
const DefaultSettle = time.Minute

// Every is how often the folder is looked at.
func (f FileConfig) Every() time.Duration { return f.every }

// SettleFor is how long a file must be unchanged before it is sent.
func (f FileConfig) SettleFor() time.Duration { return f.settle }

// DirectoryNames are the directories the agent serves: those it reads and
// those it sends files of.
func (c *Config) DirectoryNames() []string {
	var names []string
	for _, d := range c.Directories {
		names = append(names, d.Name)
	}
	for _, f := range c.Files {
		if !slices.Contains(names, f.Directory) {
			names = append(names, f.Directory)
		}
	}
	return names
}

// LoadConfig reads and validates the agent's config file. Relative file names
// in it are resolved against the file's directory, and the Config holds them
// absolute. Every error names the file and the field (or the line, for YAML
// syntax and unknown fields); all validation errors are reported at once.
func LoadConfig(path string) (*Config, error) {
	data, err := readConfig(path)
	if err != nil {
		return nil, err
	}
	c, err := parseConfig(path, data)
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	c.path, c.dir = path, filepath.Dir(abs)
	for i := range c.Directories {
		d := &c.Directories[i]
		d.BindPasswordFile = c.resolve(d.BindPasswordFile)
		d.CAFile = c.resolve(d.CAFile)
	}
	for i := range c.Files {
		c.Files[i].Path = c.resolve(c.Files[i].Path)
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	return c, nil
}

func readConfig(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading agent config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading agent config %s: %w", path, err)
	}
	if len(data) > maxConfigSize {
		return nil, fmt.Errorf("%s: larger than %d bytes; is it the agent config?", path, maxConfigSize)
	}
	return data, nil
}

// parseConfig checks the version first, so that a file written for another
// version is reported as such rather than as a list of unknown fields, then
// decodes strictly.
func parseConfig(path string, data []byte) (*Config, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: empty; want a YAML mapping starting with \"version: %d\"", path, ConfigVersion)
	} else if err != nil {
		return nil, yamlError(path, err)
	}
	var next yaml.Node
	if err := dec.Decode(&next); err == nil {
		return nil, fmt.Errorf("%s: line %d: a second YAML document; the config is one document", path, next.Line)
	} else if !errors.Is(err, io.EOF) {
		return nil, yamlError(path, err)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s: line %d: want a mapping of settings (version: %d, hub: …)", path, root.Line, ConfigVersion)
	}
	if err := checkVersion(root); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}

	strict := yaml.NewDecoder(bytes.NewReader(data))
	strict.KnownFields(true)
	var c Config
	if err := strict.Decode(&c); err != nil {
		return nil, yamlError(path, err)
	}
	return &c, nil
}

func checkVersion(root *yaml.Node) error {
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value != "version" {
			continue
		}
		n := root.Content[i+1]
		var v int
		if n.Kind != yaml.ScalarNode || n.Decode(&v) != nil {
			return fmt.Errorf("line %d: version: want the number %d", n.Line, ConfigVersion)
		}
		if v != ConfigVersion {
			return fmt.Errorf("line %d: version: unsupported version %d; this agent reads version %d", n.Line, v, ConfigVersion)
		}
		return nil
	}
	return fmt.Errorf("version: required; add \"version: %d\"", ConfigVersion)
}

// yamlTypeNames replaces Go type names in yaml's messages with words an
// administrator knows.
var yamlTypeNames = strings.NewReplacer(
	"[]agent.DirectoryConfig", "a list of directories",
	"agent.DirectoryConfig", "a directory (a mapping)",
	"agent.Config", "the settings (a mapping)",
)

var (
	unknownField   = regexp.MustCompile(`^line (\d+): field (.*) not found in type agent\.(\w+)$`)
	knownFieldsFor = map[string]string{
		"Config":          yamlFields(reflect.TypeFor[Config]()),
		"DirectoryConfig": yamlFields(reflect.TypeFor[DirectoryConfig]()),
	}
)

// yamlError turns a yaml error into one line per problem, each naming the
// file and the line.
func yamlError(path string, err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return fmt.Errorf("%s: %s", path, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	errs := make([]error, 0, len(te.Errors))
	for _, msg := range te.Errors {
		if m := unknownField.FindStringSubmatch(msg); m != nil {
			msg = fmt.Sprintf("line %s: unknown field %q (known: %s)", m[1], m[2], knownFieldsFor[m[3]])
		}
		errs = append(errs, fmt.Errorf("%s: %s", path, yamlTypeNames.Replace(msg)))
	}
	return errors.Join(errs...)
}

// yamlFields lists the yaml names of a struct's fields.
func yamlFields(t reflect.Type) string {
	var names []string
	for f := range t.Fields() {
		if tag := f.Tag.Get("yaml"); tag != "" {
			names = append(names, tag)
		}
	}
	return strings.Join(names, ", ")
}

func (c *Config) resolve(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.dir, p)
}

// configRules are the top-level rules; directoryRules apply to each
// directory. Each names the field it checks and returns nil when the rule
// holds.
var configRules = []struct {
	field string
	check func(c *Config) error
}{
	{"hub", func(c *Config) error { return checkHostPort(c.Hub) }},
	{"directories", func(c *Config) error {
		if len(c.Directories) == 0 && len(c.Files) == 0 {
			return errors.New("at least one directory (or watched folder in files) is required")
		}
		return nil
	}},
	{"metrics_listen", func(c *Config) error {
		if c.MetricsListen == "" {
			return nil
		}
		// Port 0: one the kernel picks, named in the agent's log
		// ("serving metrics addr=…").
		if host, port, err := net.SplitHostPort(c.MetricsListen); err == nil && host != "" && port == "0" {
			return nil
		}
		return checkAddr(c.MetricsListen, "127.0.0.1:9464")
	}},
}

var directoryRules = []struct {
	field string
	check func(c *Config, i int) error
}{
	{"name", func(c *Config, i int) error {
		name := c.Directories[i].Name
		if name == "" {
			return errRequired
		}
		if !directoryName.MatchString(name) {
			return fmt.Errorf("must be 1-63 characters of a-z, 0-9 and '-', starting with a letter or digit, got %q", name)
		}
		for j := range i {
			if c.Directories[j].Name == name {
				return fmt.Errorf("%q is already the name of directories[%d]", name, j)
			}
		}
		return nil
	}},
	{"url", func(c *Config, i int) error { return checkLDAPURL(c.Directories[i].URL) }},
	{"start_tls", func(c *Config, i int) error {
		if d := c.Directories[i]; d.StartTLS && urlScheme(d.URL) == "ldaps" {
			return errors.New("only with ldap:// URLs (ldaps:// is TLS from the start)")
		}
		return nil
	}},
	{"bind_dn", func(c *Config, i int) error {
		if d := c.Directories[i]; d.BindDN == "" && d.BindPasswordFile != "" {
			return errors.New("required when bind_password_file is set")
		}
		return nil
	}},
	{"bind_password_file", func(c *Config, i int) error {
		d := c.Directories[i]
		if d.BindPasswordFile == "" {
			if d.BindDN != "" {
				return errors.New("required when bind_dn is set")
			}
			return nil
		}
		return checkPasswordFile(d.BindPasswordFile)
	}},
	{"ca_file", func(c *Config, i int) error {
		if f := c.Directories[i].CAFile; f != "" {
			return checkCAFile(f)
		}
		return nil
	}},
}

var fileRules = []struct {
	field string
	check func(f *FileConfig) error
}{
	{"directory", func(f *FileConfig) error {
		if f.Directory == "" {
			return errRequired
		}
		if !directoryName.MatchString(f.Directory) {
			return fmt.Errorf("must be 1-63 characters of a-z, 0-9 and '-', starting with a letter or digit, got %q", f.Directory)
		}
		return nil
	}},
	{"path", func(f *FileConfig) error {
		if f.Path == "" {
			return errRequired
		}
		st, err := os.Stat(f.Path)
		if err != nil {
			return err
		}
		if !st.IsDir() {
			return fmt.Errorf("%s is not a folder", f.Path)
		}
		return nil
	}},
	{"schedule", func(f *FileConfig) error {
		d, err := time.ParseDuration(f.Schedule)
		if err != nil || d < time.Second {
			return fmt.Errorf("want a duration of at least 1s such as 15m or 1h, got %q", f.Schedule)
		}
		f.every = d
		return nil
	}},
	{"settle", func(f *FileConfig) error {
		f.settle = DefaultSettle
		if f.Settle == "" {
			return nil
		}
		d, err := time.ParseDuration(f.Settle)
		if err != nil || d < 0 {
			return fmt.Errorf("want a duration such as 1m or 0s, got %q", f.Settle)
		}
		f.settle = d
		return nil
	}},
	{"encoding", func(f *FileConfig) error {
		switch strings.ToLower(f.Encoding) {
		case "", "utf-8", "utf8", "windows-1252", "cp1252", "iso-8859-1", "latin1", "latin-1", "iso-8859-15":
			return nil
		}
		return fmt.Errorf("must be utf-8, windows-1252, iso-8859-1 or iso-8859-15, got %q", f.Encoding)
	}},
}

var (
	errRequired   = errors.New("required")
	directoryName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
)

// validate applies every rule and reports all failures, each as
// "FILE: FIELD: problem".
func (c *Config) validate() error {
	var errs []error
	fail := func(field string, err error) {
		errs = append(errs, fmt.Errorf("%s: %s: %w", c.path, field, err))
	}
	for _, r := range configRules {
		if err := r.check(c); err != nil {
			fail(r.field, err)
		}
	}
	for i := range c.Directories {
		for _, r := range directoryRules {
			if err := r.check(c, i); err != nil {
				fail(fmt.Sprintf("directories[%d].%s", i, r.field), err)
			}
		}
	}
	for i := range c.Files {
		for _, r := range fileRules {
			if err := r.check(&c.Files[i]); err != nil {
				fail(fmt.Sprintf("files[%d].%s", i, r.field), err)
			}
		}
	}
	return errors.Join(errs...)
}

func checkHostPort(hostport string) error {
	if hostport == "" {
		return errRequired
	}
	if strings.Contains(hostport, "://") {
		return fmt.Errorf("want host:port without a scheme, got %q", hostport)
	}
	return checkAddr(hostport, "hub.example.com:7443")
}

// checkAddr checks a host (an address or a name) and a port; example is
// what the error shows.
func checkAddr(hostport, example string) error {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil || host == "" {
		return fmt.Errorf("want host:port (e.g. %s), got %q", example, hostport)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("port must be a number from 1 to 65535, got %q", port)
	}
	return nil
}

// checkLDAPURL never repeats the URL whole: it might carry a password.
func checkLDAPURL(s string) error {
	if s == "" {
		return errRequired
	}
	u, err := url.Parse(s)
	if err != nil {
		return errors.New("not a valid URL; want ldap://host[:port] or ldaps://host[:port]")
	}
	switch {
	case u.Scheme != "ldap" && u.Scheme != "ldaps":
		return fmt.Errorf("scheme must be ldap or ldaps, got %q", u.Scheme)
	case u.User != nil:
		return errors.New("must not carry credentials; use bind_dn and bind_password_file")
	case u.Hostname() == "":
		return errors.New("host required, e.g. ldaps://dc1.corp.example:636")
	case u.Opaque != "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "":
		return errors.New("want scheme://host[:port] only (the hub says what to read)")
	}
	return nil
}

func urlScheme(s string) string {
	if u, err := url.Parse(s); err == nil {
		return u.Scheme
	}
	return ""
}

// checkPasswordFile applies BindPassword's checks at start-up, so that a
// mistake shows when the agent starts rather than at its first bind.
func checkPasswordFile(path string) error {
	b, err := pki.ReadPrivateFile(path)
	if err != nil {
		return err
	}
	defer clear(b)
	if password(b) == "" {
		return fmt.Errorf("%s is empty", path)
	}
	return nil
}

func checkCAFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if !x509.NewCertPool().AppendCertsFromPEM(data) {
		return fmt.Errorf("no PEM certificate found in %s", path)
	}
	return nil
}

// BindPassword reads the directory's bind password from BindPasswordFile,
// without a trailing newline. It returns "" when the directory binds
// anonymously. It refuses a file that group or others may read (except on
// Windows) and an empty one (an empty password would bind anonymously), and
// never puts the file's content in an error.
func (d DirectoryConfig) BindPassword() (string, error) {
	if d.BindPasswordFile == "" {
		return "", nil
	}
	b, err := pki.ReadPrivateFile(d.BindPasswordFile)
	if err != nil {
		return "", fmt.Errorf("directory %s: bind password: %w", d.Name, err)
	}
	defer clear(b)
	pw := password(b)
	if pw == "" {
		return "", fmt.Errorf("directory %s: bind password file %s is empty", d.Name, d.BindPasswordFile)
	}
	return pw, nil
}

// password is a password file's content without its line ending: editors
// add one.
func password(b []byte) string {
	return strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
}

// Directory returns the configured directory with the given name.
func (c *Config) Directory(name string) (DirectoryConfig, bool) {
	for _, d := range c.Directories {
		if d.Name == name {
			return d, true
		}
	}
	return DirectoryConfig{}, false
}

// Path returns the config file's path as given to LoadConfig.
func (c *Config) Path() string { return c.path }

// IdentityPaths returns where the agent keeps its identity, beside the config
// file: its private key, its client certificate and the hub's CA certificate.
func (c *Config) IdentityPaths() (key, cert, ca string) {
	return filepath.Join(c.dir, "agent.key"), filepath.Join(c.dir, "agent.crt"), filepath.Join(c.dir, "hub-ca.crt")
}
