package hub_test

import (
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/idsync/idsync/internal/adminconf"
	"github.com/idsync/idsync/internal/pki"
	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
	"github.com/idsync/idsync/server/hub"
)

// TestWildcardListen: a hub listening on every address (for agents at
// other sites) writes an admin.conf that idsyncctl can use — the loopback
// address, which its certificate names — and one an older hub wrote with
// the wildcard itself is mended at the next start, its token kept.
func TestWildcardListen(t *testing.T) {
	wantLoopback := func(t *testing.T, h *testHub) {
		t.Helper()
		conf, err := adminconf.Read(filepath.Join(h.dir, "admin.conf"))
		if err != nil {
			t.Fatal(err)
		}
		if host, _, err := net.SplitHostPort(conf.Hub); err != nil || host != "127.0.0.1" {
			t.Errorf("admin.conf names hub %q, want 127.0.0.1 and the port", conf.Hub)
		}
		// startHub's client dials admin.conf's address and checks the
		// certificate's names against it.
		if _, err := idsyncv1.NewAdminServiceClient(h.conn).ListDirectories(as(t.Context(), h.boot), &idsyncv1.ListDirectoriesRequest{}); err != nil {
			t.Errorf("a call at admin.conf's address: %v", err)
		}
	}
	t.Run("first start", func(t *testing.T) {
		wantLoopback(t, startHubWith(t, func(c *hub.Config) { c.GRPCListen = "0.0.0.0:0" }))
	})
	t.Run("an older admin.conf", func(t *testing.T) {
		token, _ := pki.NewSecret(pki.AdminTokenPrefix)
		h := startHubWith(t, func(c *hub.Config) {
			c.GRPCListen = "0.0.0.0:0"
			ca, err := pki.LoadOrCreateCA(c.DataDir)
			if err != nil {
				t.Fatal(err)
			}
			if err := adminconf.Write(filepath.Join(c.DataDir, "admin.conf"),
				adminconf.Conf{Version: 1, Hub: "[::]:17443", CA: string(ca.CertPEM()), Token: token}); err != nil {
				t.Fatal(err)
			}
		})
		if h.boot != token {
			t.Errorf("admin.conf's token changed when its address was mended")
		}
		wantLoopback(t, h)
		if fi, err := os.Stat(filepath.Join(h.dir, "admin.conf")); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("admin.conf after the mend: %v (%v), want mode 0600", fi.Mode(), err)
		}
	})
}
