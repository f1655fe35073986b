// Package ldapsync is everything in idsync that speaks LDAP to a customer's
// directory (OpenLDAP or Active Directory): connecting and binding, the paged
// full import, change capture, AD range retrieval, and normalising entries
// into changes keyed by the directory's immutable id (entryUUID, objectGUID).
//
// It streams: FullImport hands entries to a Sink as they arrive, one page at
// a time, so memory is bounded by a page however large the directory, and a
// Sink that blocks slows the reading down (backpressure).
//
// Capture follows a directory's changes as they happen and hands them, in
// order, to an emit function: syncrepl (RFC 4533) on OpenLDAP, DirSync with
// change notification on AD, a persistent search or modifyTimestamp polling
// elsewhere (Detect picks from the root DSE). It keeps no state: it starts
// from an opaque checkpoint the caller stored and emits new checkpoints only
// where every earlier event is covered, so any agent can resume where
// another stopped. ErrReconcile says a checkpoint cannot be resumed and a
// full import must come first (CheckpointNow, taken before it, is where
// capture then resumes).
//
// Rights the bind account needs, beyond reading the users and groups and
// their attributes under the base DN:
//
//   - syncrepl: read access to entryUUID and entryCSN; the database needs
//     the syncprov overlay (with a session log, so that a resumed capture is
//     served deletions instead of a present phase) and no size or time
//     limit for the account.
//   - DirSync: none special. ldapsync asks for LDAP_DIRSYNC_OBJECT_SECURITY,
//     so the DC returns what the account may read and needs no "Replicating
//     Directory Changes" right; it reads the whole naming context, so the
//     account must be able to list it. To see deletions it must read
//     tombstones: grant it List Contents and Read Property on
//     CN=Deleted Objects (dsacls /takeownership, then /G), or use an account
//     of the domain's administrators. It also reads the root DSE, the DC's
//     NTDS Settings invocationId and tombstoneLifetime in the configuration.
//   - Change notification: read on the naming context's root (any
//     authenticated user by default); at most five per connection on AD.
//   - Persistent search and polling: read access to modifyTimestamp; they
//     see no deletions (persistent search only those made while it runs):
//     the scheduled full imports find them.
//
// It has its own plain types (Change, EntryError, Spec, Event); the agent
// converts them to and from the wire protocol.
//
// It may import go-ldap (`github.com/go-ldap/ldap/v3`) and its BER package
// (`github.com/go-asn1-ber/asn1-ber`), `internal/ldapwire` (its lean paged
// searches) and `internal/ldapattr` (what a write may set); never gRPC or
// protobuf (`google.golang.org/grpc/...`, `google.golang.org/protobuf/...`),
// the wire protocol (`proto/...`) or the hub (`server/...`).
package ldapsync
