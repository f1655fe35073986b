package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/idsync/idsync/internal/atomicfile"
	"github.com/idsync/idsync/internal/pki"
	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
)

// EnrollOptions are the inputs of `idsync-agent enroll`.
type EnrollOptions struct {
	Hub     string // host:port of the hub
	Token   string // from `idsyncctl agent token`
	Name    string // defaults to the host name
	Version string
}

// Enroll trades a single-use token for a client certificate and writes the
// agent's key, certificate and the hub's CA beside the config (0600). The
// first contact trusts the hub only if its CA matches the fingerprint the
// token carries, so it cannot be intercepted.
func Enroll(ctx context.Context, cfg *Config, o EnrollOptions) (agentID string, err error) {
	if o.Hub == "" {
		o.Hub = cfg.Hub
	}
	if o.Token == "" {
		return "", errors.New("--token: required (create one with `idsyncctl agent token --directory NAME`)")
	}
	_, fingerprint, err := pki.ParseEnrollToken(o.Token)
	if err != nil {
		return "", fmt.Errorf("--token: %w", err)
	}
	if o.Name == "" {
		o.Name, _ = os.Hostname()
	}
	key, err := pki.NewKey()
	if err != nil {
		return "", err
	}
	csr, err := pki.CreateCSR(key, o.Name)
	if err != nil {
		return "", err
	}
	host, _, err := net.SplitHostPort(o.Hub)
	if err != nil {
		return "", fmt.Errorf("--hub %q: want HOST:PORT: %w", o.Hub, err)
	}
	conn, err := grpc.NewClient(o.Hub, grpc.WithTransportCredentials(credentials.NewTLS(pki.PinnedTLSConfig(fingerprint, host))))
	if err != nil {
		return "", fmt.Errorf("hub %s: %w", o.Hub, err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	resp, err := idsyncv1.NewAgentServiceClient(conn).Enroll(ctx, &idsyncv1.EnrollRequest{
		Token: o.Token, CsrPem: csr, Name: o.Name, Version: o.Version,
	})
	if err != nil {
		return "", fmt.Errorf("enrolling with hub %s: %w", o.Hub, describe(err))
	}
	keyPEM, err := pki.MarshalKey(key)
	if err != nil {
		return "", err
	}
	keyPath, certPath, caPath := cfg.IdentityPaths()
	for _, f := range []struct {
		path string
		data []byte
	}{{keyPath, keyPEM}, {certPath, resp.GetCertificatePem()}, {caPath, resp.GetCaPem()}} {
		if err := atomicfile.WriteFile(f.path, f.data, 0o600); err != nil {
			return "", fmt.Errorf("writing %s: %w", f.path, err)
		}
	}
	return resp.GetAgentId(), nil
}
