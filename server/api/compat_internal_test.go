package api

import (
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestCheckAgentVersion(t *testing.T) {
	tests := []struct {
		name, hub, agent string
		want             codes.Code
	}{
		{"same version", "v1.4.0", "v1.4.0", codes.OK},
		{"older patch", "v1.4.3", "v1.4.0", codes.OK},
		{"one minor older", "v1.4.0", "v1.3.9", codes.OK},
		{"git describe form", "v1.4.0-3-gabcdef1", "v1.3.2-1-g0123456-dirty", codes.OK},
		{"two minors older", "v1.4.0", "v1.2.5", codes.FailedPrecondition},
		{"newer minor", "v1.4.0", "v1.5.0", codes.OK},
		{"older major", "v2.0.0", "v1.9.0", codes.FailedPrecondition},
		{"newer major", "v1.4.0", "v2.0.0", codes.FailedPrecondition},
		{"minor zero hub", "v1.0.0", "v1.0.0", codes.OK},
		{"dev agent", "v1.4.0", "dev", codes.OK},
		{"dev hub", "dev", "v0.1.0", codes.OK},
		{"untagged agent build", "v1.4.0", "6c913c2-dirty", codes.OK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkAgentVersion(tt.hub, tt.agent)
			if got := status.Code(err); got != tt.want {
				t.Fatalf("checkAgentVersion(%q, %q) = %v, want %v", tt.hub, tt.agent, err, tt.want)
			}
		})
	}
}
