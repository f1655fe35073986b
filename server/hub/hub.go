package hub

import (
	"context"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"

	"github.com/idsync/idsync/internal/adminconf"
	"github.com/idsync/idsync/internal/obs"
	"github.com/idsync/idsync/internal/pki"
	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
	"github.com/idsync/idsync/server/admins"
	"github.com/idsync/idsync/server/agents"
	"github.com/idsync/idsync/server/api"
	"github.com/idsync/idsync/server/audit"
	"github.com/idsync/idsync/server/auth"
	authnsvc "github.com/idsync/idsync/server/authn"
	"github.com/idsync/idsync/server/console"
	"github.com/idsync/idsync/server/csvimport"
	"github.com/idsync/idsync/server/directories"
	"github.com/idsync/idsync/server/ingest"
	"github.com/idsync/idsync/server/notify"
	"github.com/idsync/idsync/server/people"
	"github.com/idsync/idsync/server/provision"
	"github.com/idsync/idsync/server/reports"
	"github.com/idsync/idsync/server/rules"
	"github.com/idsync/idsync/server/runs"
	"github.com/idsync/idsync/server/scimin"
	"github.com/idsync/idsync/server/secrets"
	"github.com/idsync/idsync/server/sessions"
	"github.com/idsync/idsync/server/signin"
	"github.com/idsync/idsync/server/store"
	"github.com/idsync/idsync/server/store/postgres"
	"github.com/idsync/idsync/server/store/sqlite"
)

// Config is how the hub is started.
type Config struct {
	DataDir    string
	GRPCListen string // default 127.0.0.1:7443
	HTTPListen string // default 127.0.0.1:7080
	Store      string // sqlite (default) or postgres
	StoreDSN   string // postgres DSN; for sqlite an optional file path
	// TLSHosts are extra names and addresses for the server certificate.
	TLSHosts []string
	Log      *slog.Logger
	Version  string
	// Agents tunes the agent streams (tests shorten the intervals).
	Agents api.AgentOptions
	// Provision tunes downstream provisioning (tests: a short poll).
	Provision provision.Options
	// Notify tunes notifications: the agent offline threshold, the
	// delivery queue's poll and backoff (tests: short ones).
	Notify notify.Options
	// Limits bound what one agent or address may ask (zero: defaults).
	Limits auth.Limits
	// AuditRetention is how long audit events are kept (default 180 days).
	AuditRetention time.Duration
	// Audit tunes how refusals are summarised (tests: a clock).
	Audit audit.Options
	// Authn tunes delegated authentication (POST /v1/authn).
	Authn authnsvc.Options
	// Ready, when not nil, receives the bound addresses once serving.
	Ready func(grpcAddr, httpAddr string)
	// Metrics is the registry /metrics serves; nil: a new one with the Go
	// and process collectors (obs.NewRegistry).
	Metrics *prometheus.Registry
	// HTTPTimeouts bound the HTTP listener's connections (zero: defaults).
	HTTPTimeouts obs.Timeouts
	// Bounds bound what clients may hold before they are authenticated
	// (zero: defaults).
	Bounds Bounds
	// UserRetention is how long a deprovisioned user is kept, restorable,
	// before it is purged, where its directory does not say (default 90
	// days).
	UserRetention time.Duration
	// PurgeEvery is how often the hub looks for users to purge (default
	// 10 minutes).
	PurgeEvery time.Duration
	// Now is the hub's clock for retention and console sessions (tests;
	// nil: time.Now).
	Now func() time.Time
	// HTTPTLS serves the HTTP listener (the console) over TLS with the
	// hub's own certificate; HTTPCert and HTTPKey with another one (a
	// corporate certificate). Without TLS the console answers on loopback
	// only.
	HTTPTLS           bool
	HTTPCert, HTTPKey string
	// Console bounds console sessions (zero: idle 30 minutes, 12 hours at
	// most).
	Console auth.SessionPolicy
	// RuleInterval schedules a full evaluation of every group rule (0:
	// hourly; negative: none on a schedule); RuleSettle is how long after
	// its last one a rule that reads groups waits before a group change
	// evaluates it in full again (0: 30 s).
	RuleInterval, RuleSettle time.Duration
	// ImportMaxBytes caps a file imported into a csv directory (0:
	// csvimport.DefaultMaxBytes, 64 MiB).
	ImportMaxBytes int64
}

// Run starts the hub and serves until ctx is cancelled, then stops
// gracefully within a bound.
func Run(ctx context.Context, cfg Config) error {
	if cfg.DataDir == "" {
		return errors.New("--data-dir: required")
	}
	if cfg.GRPCListen == "" {
		cfg.GRPCListen = "127.0.0.1:7443"
	}
	if cfg.HTTPListen == "" {
		cfg.HTTPListen = "127.0.0.1:7080"
	}
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("creating data dir: %w", err)
	}
	release, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return err
	}
	defer release()
	if err := secureDataDir(cfg.DataDir, privateFiles(cfg.DataDir, sqlitePath(cfg)), log); err != nil {
		return err
	}
	ca, err := pki.LoadOrCreateCA(cfg.DataDir)
	if err != nil {
		return fmt.Errorf("hub CA in %s: %w", cfg.DataDir, err)
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()

	gl, err := net.Listen("tcp", cfg.GRPCListen)
	if err != nil {
		return fmt.Errorf("--grpc-listen %s: %w", cfg.GRPCListen, err)
	}
	defer gl.Close()
	hl, err := net.Listen("tcp", cfg.HTTPListen)
	if err != nil {
		return fmt.Errorf("--http-listen %s: %w", cfg.HTTPListen, err)
	}
	defer hl.Close()

	hosts := append(defaultHosts(gl.Addr().String()), cfg.TLSHosts...)
	if h, _, wild := wildcard(hl.Addr().String()); !wild && h != "" {
		hosts = append(hosts, h)
	}
	cert, err := ca.ServerCertificate(cfg.DataDir, hosts)
	if err != nil {
		return fmt.Errorf("hub server certificate: %w", err)
	}
	webTLS, err := httpTLS(cfg, func() (tls.Certificate, error) { return cert, nil })
	if err != nil {
		return err
	}
	if err := bootstrapAdmin(ctx, st, ca, cfg.DataDir, localAddr(gl.Addr()), log); err != nil {
		return err
	}

	box, err := secrets.LoadOrCreate(filepath.Join(cfg.DataDir, "secrets.key"))
	if err != nil {
		return fmt.Errorf("the key of downstream secrets in %s: %w", cfg.DataDir, err)
	}
	trail := audit.NewWithOptions(st, log, cfg.Audit)
	authn := auth.New(st, trail, cfg.Limits)
	if cfg.Metrics == nil {
		cfg.Metrics = obs.NewRegistry()
	}
	sessions := sessions.New()
	m := newMetrics(cfg.Metrics, st, sessions.Count, log.With("component", "metrics"))
	cfg.Provision.Metrics = m
	cfg.Provision.Audit = trail
	if cfg.Provision.Owner == "" {
		// Stable across restarts: a hub that comes back takes back the
		// push jobs it held at once. One hub runs per data directory.
		host, _ := os.Hostname()
		dir, _ := filepath.Abs(cfg.DataDir)
		cfg.Provision.Owner = host + ":" + dir
	}
	// Apps that are directories are written through the agents' streams.
	cfg.Provision.Directories = sessions
	// No app pushes to the hub itself, unless a super-admin allows it.
	cfg.Provision.Listeners = append(cfg.Provision.Listeners, gl.Addr().String(), hl.Addr().String())
	prov := provision.New(st, box, log, cfg.Provision)
	// A committed change wakes provisioning and the group rules: each
	// reads the change feed at once. (Whatever commits a change outside
	// the ingest engine — an admin's hold — calls changed too.)
	ruleWake := make(chan struct{}, 1)
	changed := func() {
		prov.Notify()
		select {
		case ruleWake <- struct{}{}:
		default:
		}
	}
	engine := ingest.New(ingest.Config{Store: st, Log: log, Audit: trail, Metrics: m, OnChange: changed})
	groupRules := rules.New(rules.Config{Store: st, Apply: engine, Audit: trail, Log: log, Wake: ruleWake,
		Owner: cfg.Provision.Owner, Interval: cfg.RuleInterval, Settle: cfg.RuleSettle})
	cfg.Agents = cfg.Agents.WithDefaults()
	coordinator := runs.New(runs.Config{Store: st, Engine: engine, Wake: sessions, Cancel: sessions, Audit: trail, Log: log,
		Heartbeat: cfg.Agents.Heartbeat})
	fleet := agents.New(agents.Config{Store: st, CA: ca, Sessions: sessions, Audit: trail, Log: log.With("component", "agents"),
		Heartbeat: cfg.Agents.Heartbeat, CertTTL: cfg.Agents.CertTTL})
	files := csvimport.New(csvimport.Config{Store: st, Engine: engine, Audit: trail, Log: log, TempDir: cfg.DataDir,
		MaxBytes: cfg.ImportMaxBytes})
	agentSrv := api.NewAgentServer(api.AgentConfig{Store: st, Engine: engine, Runs: coordinator, Agents: fleet, CA: ca,
		Sessions: sessions, Log: log, Audit: trail, Options: cfg.Agents, Files: files})
	delegated := authnsvc.New(authnsvc.Config{Store: st, Ingest: engine, Agents: sessions, Audit: trail,
		Log: log.With("component", "authn"), Options: cfg.Authn})
	folk := people.New(people.Config{Store: st, Apply: engine, Notify: changed, Log: log.With("component", "people"),
		Now: cfg.Now, Entries: prov, Audit: trail, Retention: cfg.UserRetention})
	// Notifications take back the deliveries they held, as pushes do, and
	// send to no listener of the hub's own.
	cfg.Notify.Owner = cfg.Provision.Owner
	cfg.Notify.Listeners = append(cfg.Notify.Listeners, gl.Addr().String(), hl.Addr().String())
	notices := notify.New(notify.Config{Store: st, Box: box, Audit: trail, Log: log, Options: cfg.Notify})
	// What admins do is one service per room; the API's doors decode,
	// call one and encode. Directories and admin tokens log as the admin
	// component, as their doors did.
	adminLog := log.With("component", "admin")
	adminSrv := api.NewAdminServer(api.AdminConfig{Store: st, Runs: coordinator, Agents: fleet,
		Reports:     reports.New(reports.Config{Store: st, Agents: fleet, Retention: cfg.UserRetention}),
		Directories: directories.New(directories.Config{Store: st, Box: box, Audit: trail, Log: adminLog}),
		Admins:      admins.New(admins.Config{Store: st, Audit: trail, Log: adminLog}),
		Authn:       delegated, People: folk, Rules: groupRules, Files: files,
		Notify: notices})

	appSrv := api.NewAppServer(api.AppConfig{Store: st, Apps: provision.NewApps(provision.AppsConfig{Store: st, Engine: prov, Box: box,
		Audit: trail, Log: log.With("component", "apps")})})

	bounds := cfg.Bounds.withDefaults()
	router := newTLSRouter(limit(gl, bounds, m.refused.WithLabelValues("grpc_connection").Inc),
		authn.Guard(pki.ServerTLSConfig(cert, ca)), bounds.HandshakeTimeout)
	gs, as := grpcServers(authn, bounds, m.refused.WithLabelValues("call").Inc, func(s grpc.ServiceRegistrar) {
		idsyncv1.RegisterAgentServiceServer(s, agentSrv)
		idsyncv1.RegisterAdminServiceServer(s, adminSrv)
		idsyncv1.RegisterAppServiceServer(s, appSrv)
	})
	// The console calls the same services, in process, as the admin whose
	// session it carries.
	policy := cfg.Console
	if policy.Now == nil {
		policy.Now = cfg.Now
	}
	consoleAuth := authn.Console(st, policy)
	cs, err := newConsoleServer(consoleAuth, func(s grpc.ServiceRegistrar) {
		idsyncv1.RegisterAdminServiceServer(s, adminSrv)
		idsyncv1.RegisterAppServiceServer(s, appSrv)
	})
	if err != nil {
		return err
	}
	defer cs.stop()
	signins := signin.New(signin.Config{Store: st, Authn: delegated, Audit: trail,
		Log: log.With("component", "signin"), Policy: policy}, consoleAuth)

	var serving atomic.Bool
	mux := obs.Mux(cfg.Metrics, readiness(st, &serving))
	// Upstream sources (HR) write users and groups here, each with its
	// own bearer token.
	mux.Handle(scimin.Prefix, loopbackUnlessTLS(webTLS == nil, scimin.New(st, engine, trail, log), scimin.WriteError))
	// Applications sign users in with their directory password here.
	mux.Handle("/v1/authn", loopbackUnlessTLS(webTLS == nil, auth.HTTPPeer(api.AuthnHandler{Service: delegated, Auth: authn}), api.HTTPError))
	// The admin console, at every path the others leave.
	con := console.New(console.Config{Conn: cs.conn, SignIn: signins, TLS: webTLS != nil,
		Log: log.With("component", "console"), Version: cfg.Version, GRPCAddr: agentAddr(gl.Addr(), cfg.TLSHosts), MaxUpload: files.MaxBytes()})
	mux.Handle("/", con)
	// The largest body any route takes is a SCIM resource, but for the
	// console's file upload, which bounds its own (the file cap of the
	// gRPC ImportFile, and a page that says so).
	hs := obs.NewServerBy(mux, cfg.HTTPTimeouts, func(r *http.Request) int64 {
		if con.BoundsBody(r) {
			return -1
		}
		return scimin.MaxBody
	})
	hs.TLSConfig = webTLS

	log.Info("hub serving", "grpc", gl.Addr().String(), "http", hl.Addr().String(),
		"store", storeKind(cfg), "data_dir", cfg.DataDir, "version", cfg.Version)
	if cfg.Ready != nil {
		cfg.Ready(gl.Addr().String(), hl.Addr().String())
	}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		serving.Store(true)
		defer serving.Store(false)
		return gs.Serve(router.others)
	})
	g.Go(func() error { return as.Serve(router.agents) })
	g.Go(router.run)
	g.Go(func() error {
		l := limit(hl, bounds, m.refused.WithLabelValues("http_connection").Inc)
		if webTLS != nil {
			l = tls.NewListener(l, webTLS)
		}
		if err := hs.Serve(l); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	g.Go(cs.serve)
	// Ends idle and old console sessions.
	g.Go(func() error { return signins.Run(gctx) })
	// Reaps the runs of silent agents and schedules full imports.
	g.Go(func() error { return coordinator.Run(gctx) })
	g.Go(func() error { return prov.Run(gctx) })
	g.Go(func() error { return groupRules.Run(gctx) })
	// Files notices into digests and sends them.
	g.Go(func() error { return notices.Run(gctx) })
	g.Go(func() error { return audit.Prune(gctx, st, cfg.AuditRetention, time.Hour, log) })
	// Purges the deprovisioned users whose retention ran out.
	g.Go(func() error {
		return people.RunPurge(gctx, people.PurgeConfig{Store: st, Apps: prov, Retention: cfg.UserRetention,
			Every: cfg.PurgeEvery, Now: cfg.Now, Log: log})
	})
	// Writes the counts of refusals as their windows end, and the rest
	// when the hub stops.
	g.Go(func() error { return trail.Run(gctx) })
	g.Go(func() error {
		<-gctx.Done()
		serving.Store(false)
		// Agents' streams last as long as their agents: they end at once
		// (an agent reconnects and resumes from its checkpoint), their
		// handlers done — the disconnect recorded — before the store
		// closes. Admins' calls get their bounded graceful stop.
		deadline := time.Now().Add(5 * time.Second)
		agentsDone := make(chan struct{})
		go func() { as.Stop(); close(agentsDone) }()
		stopGRPC(time.Until(deadline), gs)
		select {
		case <-agentsDone:
		case <-time.After(time.Until(deadline)):
			log.Warn("agents' streams did not end within 5 s of the stop")
		}
		cs.stop()
		gl.Close() // ends router.run
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		return hs.Shutdown(sctx)
	})
	err = g.Wait()
	log.Info("hub stopped")
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// cleartextRefusal answers a call from elsewhere than loopback to the HTTP
// listener without TLS, on the routes that take credentials and people's
// data (SCIM sources, sign-ins), before anything of the request is read —
// as the console refuses it.
const cleartextRefusal = "the hub's HTTP listener has no TLS, so it takes credentials and people's data from loopback " +
	"only: start the hub with --http-tls (its own certificate) or --http-cert and --http-key, or put a TLS proxy on its machine"

// loopbackUnlessTLS serves next from loopback only when cleartext (the
// listener has no TLS); refuse writes the 403 in the route's own format.
func loopbackUnlessTLS(cleartext bool, next http.Handler, refuse func(w http.ResponseWriter, status int, msg string)) http.Handler {
	if !cleartext {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !console.Loopback(r.RemoteAddr) {
			w.Header().Set("Connection", "close")
			refuse(w, http.StatusForbidden, cleartextRefusal)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// readiness is the hub's /readyz: ready while the store answers and the
// gRPC server serves (not yet started, or stopping, is not ready).
func readiness(st store.Store, serving *atomic.Bool) obs.ReadyFunc {
	return func(ctx context.Context) error {
		if !serving.Load() {
			return errors.New("the gRPC server is not serving")
		}
		if err := st.Ping(ctx); err != nil {
			return fmt.Errorf("the store does not answer: %w", err)
		}
		return nil
	}
}

func storeKind(cfg Config) string {
	if cfg.Store == "" {
		return "sqlite"
	}
	return cfg.Store
}

// sqlitePath is the SQLite database's file, "" with another store.
func sqlitePath(cfg Config) string {
	switch {
	case storeKind(cfg) != "sqlite":
		return ""
	case cfg.StoreDSN != "":
		return cfg.StoreDSN
	}
	return filepath.Join(cfg.DataDir, "hub.db")
}

func openStore(ctx context.Context, cfg Config) (store.Store, error) {
	switch storeKind(cfg) {
	case "sqlite":
		path := sqlitePath(cfg)
		if err := createPrivate(path); err != nil {
			return nil, fmt.Errorf("sqlite store: %w", err)
		}
		st, err := sqlite.Open(ctx, path)
		if err != nil {
			return nil, fmt.Errorf("opening sqlite store %s: %w", path, err)
		}
		return st, nil
	case "postgres":
		if cfg.StoreDSN == "" {
			return nil, errors.New("--store-dsn: required with --store postgres")
		}
		st, err := postgres.Open(ctx, cfg.StoreDSN)
		if err != nil {
			// The DSN may hold a password: do not repeat it.
			return nil, fmt.Errorf("opening postgres store: %w", err)
		}
		return st, nil
	}
	return nil, fmt.Errorf("--store %q: must be sqlite or postgres", cfg.Store)
}

// wildcard splits addr (host:port) and says whether its host is a
// wildcard (0.0.0.0, ::), which no client can dial and no certificate
// names.
func wildcard(addr string) (host, port string, wild bool) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", "", false
	}
	ip := net.ParseIP(host)
	return host, port, ip != nil && ip.IsUnspecified()
}

// localAddr is the address at which idsyncctl on this machine reaches the
// listener at addr: its own, but loopback for a wildcard.
func localAddr(addr net.Addr) string {
	if _, port, wild := wildcard(addr.String()); wild {
		return net.JoinHostPort("127.0.0.1", port)
	}
	return addr.String()
}

// agentAddr is the address an agent elsewhere enrols at, for the console's
// enrolment command: the listener's own, but for a wildcard the first of
// --tls-hosts, else this machine's name (both in the certificate).
func agentAddr(addr net.Addr, tlsHosts []string) string {
	_, port, wild := wildcard(addr.String())
	if !wild {
		return addr.String()
	}
	if len(tlsHosts) > 0 {
		return net.JoinHostPort(tlsHosts[0], port)
	}
	if hn, err := os.Hostname(); err == nil && hn != "" {
		return net.JoinHostPort(hn, port)
	}
	return net.JoinHostPort("127.0.0.1", port)
}

// defaultHosts are the names the server certificate covers: the listen
// address, loopback, and this machine's name.
func defaultHosts(listen string) []string {
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	if h, _, wild := wildcard(listen); !wild && h != "" {
		hosts = append(hosts, h)
	}
	if hn, err := os.Hostname(); err == nil && hn != "" {
		hosts = append(hosts, hn)
	}
	return hosts
}

// bootstrapAdmin makes sure admin.conf exists and its token is known to the
// store: on the first start it creates both; when the store is new but the
// data dir is not (a switch to PostgreSQL, a replica joining a shared store)
// it registers the existing token's hash.
func bootstrapAdmin(ctx context.Context, st store.Store, ca *pki.CA, dir, addr string, log *slog.Logger) error {
	path := filepath.Join(dir, "admin.conf")
	register := func(token string) error {
		t := &store.AdminToken{ID: "bootstrap-" + hex.EncodeToString(pki.HashSecret(token)[:6]), Name: "bootstrap",
			Role: auth.RoleSuperAdmin, Hash: pki.HashSecret(token), CreatedAt: time.Now()}
		if err := st.CreateAdminToken(ctx, t); err != nil && !errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("registering the admin token of %s: %w", path, err)
		}
		return nil
	}
	if conf, err := adminconf.Read(path); err == nil {
		if _, _, wild := wildcard(conf.Hub); wild {
			// Written by an older hub listening on a wildcard: no client
			// can dial it. The token and CA stay.
			conf.Hub = addr
			if err := adminconf.Write(path, *conf); err != nil {
				return err
			}
			log.Info("admin.conf named a wildcard address: it names the loopback one now", "path", path, "hub", addr)
		}
		if conf.Token == "" {
			return nil
		}
		_, err := st.AdminTokenByHash(ctx, pki.HashSecret(conf.Token))
		if errors.Is(err, store.ErrNotFound) {
			log.Info("registering the admin token of admin.conf with a new store", "path", path)
			return register(conf.Token)
		}
		return err
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	token, _ := pki.NewSecret(pki.AdminTokenPrefix)
	if err := register(token); err != nil {
		return err
	}
	if err := adminconf.Write(path, adminconf.Conf{Version: 1, Hub: addr, CA: string(ca.CertPEM()), Token: token}); err != nil {
		return err
	}
	log.Info("first start: wrote admin config for idsyncctl", "path", path)
	return nil
}
