package hub

import (
	"net"
	"os"
	"testing"
)

// TestAgentAddr: the console's enrolment command names an address an
// agent elsewhere can dial and the certificate names.
func TestAgentAddr(t *testing.T) {
	hn, _ := os.Hostname()
	tcp := func(s string) net.Addr {
		a, err := net.ResolveTCPAddr("tcp", s)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	for _, tt := range []struct {
		listen string
		hosts  []string
		want   string
	}{
		{"0.0.0.0:7443", []string{"hub.corp.example", "hub2"}, "hub.corp.example:7443"},
		{"[::]:7443", nil, net.JoinHostPort(hn, "7443")},
		{"10.1.2.3:7443", []string{"hub.corp.example"}, "10.1.2.3:7443"},
		{"127.0.0.1:7443", nil, "127.0.0.1:7443"},
	} {
		if got := agentAddr(tcp(tt.listen), tt.hosts); got != tt.want {
			t.Errorf("agentAddr(%s, %v) = %s, want %s", tt.listen, tt.hosts, got, tt.want)
		}
		if got, want := localAddr(tcp(tt.listen)), map[bool]string{true: "127.0.0.1:7443", false: tt.listen}[tt.listen[0] == '0' || tt.listen[0] == '[']; got != want {
			t.Errorf("localAddr(%s) = %s, want %s", tt.listen, got, want)
		}
	}
}
