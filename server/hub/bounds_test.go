package hub_test

import (
	"fmt"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/idsync/idsync/internal/eventually"
	"github.com/idsync/idsync/internal/pki"
	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
)

// TestAgentStreamBounds: a connection with an agent certificate takes
// stream messages up to idsyncv1.MaxStreamMessageBytes, more than any
// request without one, and refuses a larger one; it serves Connect alone.
func TestAgentStreamBounds(t *testing.T) {
	h := startHub(t)
	ctx := t.Context()
	agent, _ := h.enroll(t)
	cfg, err := pki.ClientTLSConfig(agent.cert, agent.key, agent.caPE, "")
	if err != nil {
		t.Fatal(err)
	}
	conn := h.dial(t, cfg)
	stream, err := hello(ctx, conn, agent.id)
	if err != nil {
		t.Fatalf("enrolled agent refused: %v", err)
	}
	batch := func(bytes int) *idsyncv1.ConnectRequest {
		return &idsyncv1.ConnectRequest{Msg: &idsyncv1.ConnectRequest_ChangeBatch{ChangeBatch: &idsyncv1.ChangeBatch{
			RunId: fmt.Sprint(h.labRun), Sequence: 1, Changes: []*idsyncv1.Change{{
				Type: idsyncv1.ChangeType_CHANGE_TYPE_UPSERT, Kind: idsyncv1.ObjectKind_OBJECT_KIND_GROUP, ExternalId: "big",
				Dn: "cn=big,dc=lab,dc=org", Attributes: []*idsyncv1.Attribute{{Name: "description", Values: []string{strings.Repeat("x", bytes)}}}}}}}}
	}
	// Three times a request's bound: read, and refused for its run (of
	// another directory), which is recorded.
	if err := stream.Send(batch(3 * idsyncv1.MaxRequestBytes)); err != nil {
		t.Fatal(err)
	}
	target := fmt.Sprintf("run:%d", h.labRun)
	eventually.That(t, fmt.Sprintf("a batch of %d bytes read and refused", 3*idsyncv1.MaxRequestBytes), func() (bool, string) {
		return len(h.refused(t, target)) > 0, "no refusal of " + target
	})
	// Past the stream's bound: the stream ends.
	if err := stream.Send(batch(idsyncv1.MaxStreamMessageBytes)); err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := stream.Recv(); err != nil {
			if status.Code(err) != codes.ResourceExhausted {
				t.Errorf("a batch over %d bytes: the stream ended with %v, want ResourceExhausted", idsyncv1.MaxStreamMessageBytes, err)
			}
			break
		}
	}
	// Nothing but Connect on an agent's connection.
	_, err = idsyncv1.NewAdminServiceClient(conn).ListUsers(as(ctx, h.boot), &idsyncv1.ListUsersRequest{})
	if status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "only Connect") {
		t.Errorf("ListUsers over an agent's connection: %v, want PermissionDenied (only Connect)", err)
	}
}
