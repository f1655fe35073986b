package pki_test

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/idsync/idsync/internal/pki"
)

// handshake runs a real TLS handshake over loopback TCP and returns each
// side's error and the server's view of the connection.
func handshake(t *testing.T, serverCfg, clientCfg *tls.Config) (clientErr, serverErr error, server tls.ConnectionState) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type result struct {
		err   error
		state tls.ConnectionState
	}
	done := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- result{err: err}
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		tc := tls.Server(c, serverCfg)
		err = tc.HandshakeContext(t.Context())
		if err == nil {
			// A TLS 1.3 server finishes before the client has checked its
			// certificate (and vice versa); a read sees the peer's verdict.
			_, err = tc.Read(make([]byte, 1))
			if errors.Is(err, io.EOF) {
				err = nil
			}
		}
		done <- result{err: err, state: tc.ConnectionState()}
	}()
	d := tls.Dialer{Config: clientCfg}
	conn, clientErr := d.DialContext(t.Context(), "tcp", ln.Addr().String())
	if clientErr == nil {
		conn.Close()
	}
	r := <-done
	return clientErr, r.err, r.state
}

func TestPinnedTLSConfig(t *testing.T) {
	hubCA, otherCA := newCA(t), newCA(t)
	serverCert, err := hubCA.ServerCertificate(t.TempDir(), []string{"hub.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	// An agent's client certificate, from the right CA: a compromised agent
	// must not be able to pose as the hub with it.
	agentCertPEM, agentKeyPEM := issueLeaf(t, hubCA)
	agentCert, err := tls.X509KeyPair(agentCertPEM, agentKeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	agentCert.Certificate = append(agentCert.Certificate, parseCert(t, hubCA.CertPEM()).Raw)
	leafOnly := serverCert
	leafOnly.Certificate = serverCert.Certificate[:1]

	tests := []struct {
		name        string
		presented   tls.Certificate
		fingerprint string
		host        string // the name enrolled at ("": not checked)
		wantErr     string // "" for success
	}{
		{name: "right CA, at a name the certificate holds", presented: serverCert, fingerprint: hubCA.Fingerprint(), host: "hub.example.com"},
		{name: "right CA, at a name the certificate lacks", presented: serverCert, fingerprint: hubCA.Fingerprint(), host: "192.0.2.2",
			wantErr: "the hub's certificate names hub.example.com, not 192.0.2.2: an agent enrolled at 192.0.2.2 could not connect; start the hub with --tls-hosts 192.0.2.2"},
		{name: "right CA", presented: serverCert, fingerprint: hubCA.Fingerprint()},
		{name: "right CA, fingerprint in upper case with colons", presented: serverCert, fingerprint: colons(strings.ToUpper(hubCA.Fingerprint()))},
		{name: "another CA", presented: serverCert, fingerprint: otherCA.Fingerprint(), wantErr: "hub CA fingerprint mismatch: want " + otherCA.Fingerprint()},
		{name: "chain without the CA", presented: leafOnly, fingerprint: hubCA.Fingerprint(), wantErr: "fingerprint mismatch"},
		{name: "client certificate posing as the hub", presented: agentCert, fingerprint: hubCA.Fingerprint(), wantErr: "does not verify against the pinned CA"},
		{name: "malformed pin", presented: serverCert, fingerprint: "abc", wantErr: "pinned hub CA fingerprint is malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			serverCfg := &tls.Config{Certificates: []tls.Certificate{tt.presented}}
			clientErr, _, _ := handshake(t, serverCfg, pki.PinnedTLSConfig(tt.fingerprint, tt.host))
			switch {
			case tt.wantErr == "" && clientErr != nil:
				t.Fatalf("handshake failed: %v", clientErr)
			case tt.wantErr != "" && (clientErr == nil || !strings.Contains(clientErr.Error(), tt.wantErr)):
				t.Fatalf("handshake error = %v, want one containing %q", clientErr, tt.wantErr)
			}
		})
	}
}

func TestMutualTLS(t *testing.T) {
	hubCA, otherCA := newCA(t), newCA(t)
	serverCert, err := hubCA.ServerCertificate(t.TempDir(), []string{"127.0.0.1", "hub.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	serverCfg := pki.ServerTLSConfig(serverCert, hubCA)
	agentCertPEM, agentKeyPEM := issueLeaf(t, hubCA)
	strangerCertPEM, strangerKeyPEM := issueLeaf(t, otherCA)

	tests := []struct {
		name          string
		client        func(t *testing.T) *tls.Config
		wantClientErr string
		wantServerErr string // checked when the client succeeds
		wantPeer      string // CN of the verified client certificate
	}{
		{
			name:     "enrolled agent",
			client:   clientConfig(agentCertPEM, agentKeyPEM, hubCA.CertPEM(), ""),
			wantPeer: "agent-1",
		},
		{
			name:     "enrolled agent naming the host",
			client:   clientConfig(agentCertPEM, agentKeyPEM, hubCA.CertPEM(), "hub.example.com"),
			wantPeer: "agent-1",
		},
		{
			name:          "wrong host name",
			client:        clientConfig(agentCertPEM, agentKeyPEM, hubCA.CertPEM(), "other.example.com"),
			wantClientErr: "certificate is valid for",
		},
		{
			name:          "agent trusting another CA",
			client:        clientConfig(agentCertPEM, agentKeyPEM, otherCA.CertPEM(), ""),
			wantClientErr: "certificate signed by unknown authority",
		},
		{
			// The server names its CA in the certificate request, so the
			// client does not even offer a certificate from another one.
			name:     "client certificate from another CA, offered",
			client:   clientConfig(strangerCertPEM, strangerKeyPEM, hubCA.CertPEM(), ""),
			wantPeer: "",
		},
		{
			name: "client certificate from another CA, forced",
			client: func(t *testing.T) *tls.Config {
				c := clientConfig(strangerCertPEM, strangerKeyPEM, hubCA.CertPEM(), "")(t)
				stranger := c.Certificates[0]
				c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &stranger, nil }
				return c
			},
			wantServerErr: "certificate signed by unknown authority",
		},
		{
			name:   "no client certificate (enrolment, admin calls)",
			client: func(t *testing.T) *tls.Config { return pki.PinnedTLSConfig(hubCA.Fingerprint(), "") },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clientErr, serverErr, state := handshake(t, serverCfg, tt.client(t))
			if !errMatches(clientErr, tt.wantClientErr) {
				t.Fatalf("client error = %v, want %q", clientErr, tt.wantClientErr)
			}
			if tt.wantClientErr == "" && !errMatches(serverErr, tt.wantServerErr) {
				t.Fatalf("server error = %v, want %q", serverErr, tt.wantServerErr)
			}
			if tt.wantClientErr != "" || tt.wantServerErr != "" {
				return
			}
			var peer string
			if len(state.VerifiedChains) > 0 {
				peer = state.VerifiedChains[0][0].Subject.CommonName
			}
			if peer != tt.wantPeer {
				t.Errorf("server saw verified client %q, want %q", peer, tt.wantPeer)
			}
		})
	}
}

func TestClientTLSConfigErrors(t *testing.T) {
	ca := newCA(t)
	certPEM, keyPEM := issueLeaf(t, ca)
	_, otherKeyPEM := issueLeaf(t, ca)
	tests := []struct {
		name             string
		cert, key, caPEM []byte
		wantErr          string
	}{
		{name: "key does not match", cert: certPEM, key: otherKeyPEM, caPEM: ca.CertPEM(), wantErr: "agent certificate"},
		{name: "no CA", cert: certPEM, key: keyPEM, caPEM: []byte("nothing"), wantErr: "hub CA: no PEM certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := pki.ClientTLSConfig(tt.cert, tt.key, tt.caPEM, "")
			if !errMatches(err, tt.wantErr) {
				t.Fatalf("ClientTLSConfig error = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func clientConfig(certPEM, keyPEM, caPEM []byte, serverName string) func(t *testing.T) *tls.Config {
	return func(t *testing.T) *tls.Config {
		c, err := pki.ClientTLSConfig(certPEM, keyPEM, caPEM, serverName)
		if err != nil {
			t.Fatal(err)
		}
		if c.ServerName == "" {
			c.ServerName = "127.0.0.1" // what gRPC fills in from the target
		}
		return c
	}
}

// errMatches reports whether err is nil when want is empty, or else contains
// want.
func errMatches(err error, want string) bool {
	if want == "" {
		return err == nil
	}
	return err != nil && strings.Contains(err.Error(), want)
}

func colons(hex string) string {
	var parts []string
	for i := 0; i < len(hex); i += 2 {
		parts = append(parts, hex[i:i+2])
	}
	return strings.Join(parts, ":")
}
