package agent

import (
	"fmt"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/idsync/idsync/ldapsync"
	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
)

// group is a group entry with n member DNs of about 70 bytes.
func group(n int) ldapsync.Change {
	members := make([]string, n)
	for i := range members {
		members[i] = fmt.Sprintf("uid=member%08d,ou=people,ou=headquarters,dc=corp,dc=example,dc=org", i)
	}
	return ldapsync.Change{Type: ldapsync.ChangeUpsert, Kind: ldapsync.ObjectGroup, ExternalID: fmt.Sprintf("group-%d", n),
		DN:         fmt.Sprintf("cn=all%d,dc=corp,dc=example,dc=org", n),
		Attributes: []ldapsync.Attribute{{Name: "cn", Values: []string{"all"}}, {Name: "member", Values: members}}}
}

// TestEntryBound: an entry over idsyncv1.MaxEntryBytes on the wire becomes
// an error of its entry instead of a change; one within it is sent, and the
// largest batch the batcher closes (2 MiB of changes and such an entry)
// stays within the stream's message bound.
func TestEntryBound(t *testing.T) {
	b := &batcher{max: 1000}
	b.add(group(130_000)) // about 9 MiB
	if len(b.changes) != 0 || len(b.errs) != 1 || !strings.Contains(b.errs[0].GetMessage(), fmt.Sprintf("over the limit of %d bytes", idsyncv1.MaxEntryBytes)) ||
		b.errs[0].GetExternalId() != "group-130000" {
		t.Fatalf("a group of 9 MiB: %d changes, errors %v; want one error of its entry naming the limit", len(b.changes), b.errs)
	}

	b = &batcher{max: 1000}
	for i := 0; b.bytes < maxBatchBytes-4<<10; i++ {
		b.add(ldapsync.Change{Type: ldapsync.ChangeUpsert, Kind: ldapsync.ObjectUser, ExternalID: fmt.Sprint(i),
			DN: fmt.Sprintf("uid=user%d,dc=corp,dc=example,dc=org", i), Attributes: []ldapsync.Attribute{
				{Name: "uid", Values: []string{fmt.Sprint("user", i)}}, {Name: "description", Values: []string{strings.Repeat("d", 3000)}}}})
	}
	if b.full() {
		t.Fatalf("full at %d bytes, before %d", b.bytes, maxBatchBytes)
	}
	big := group(110_000) // just under 8 MiB
	b.add(big)
	if len(b.errs) != 0 || !b.full() {
		t.Fatalf("a group of %d bytes: errors %v, full %v; want a change that closes the batch", b.bytes, b.errs, b.full())
	}
	msg := &idsyncv1.ConnectRequest{Msg: &idsyncv1.ConnectRequest_ChangeBatch{ChangeBatch: &idsyncv1.ChangeBatch{
		RunId: "1", Sequence: 1, Changes: b.changes}}}
	if n := proto.Size(msg); n > idsyncv1.MaxStreamMessageBytes {
		t.Errorf("the largest batch is %d bytes, over the stream's bound of %d", n, idsyncv1.MaxStreamMessageBytes)
	}
}

// TestObjectKindOnTheWire: ldapsync's kinds reach the wire by their names.
func TestObjectKindOnTheWire(t *testing.T) {
	for k, want := range map[ldapsync.ObjectKind]idsyncv1.ObjectKind{
		ldapsync.ObjectUser:        idsyncv1.ObjectKind_OBJECT_KIND_USER,
		ldapsync.ObjectGroup:       idsyncv1.ObjectKind_OBJECT_KIND_GROUP,
		ldapsync.ObjectUnspecified: idsyncv1.ObjectKind_OBJECT_KIND_UNSPECIFIED,
	} {
		if got := idsyncv1.ObjectKindNamed(k.String()); got != want {
			t.Errorf("ldapsync kind %v on the wire = %v, want %v", k, got, want)
		}
	}
}
