// Package console is the hub's admin web console: server-rendered pages
// (html/template, embedded with their stylesheet and one small script) for
// what admins do day to day, each action the same gRPC method idsyncctl
// calls. It holds no privileges and no store of its own: every page calls
// AdminService and AppService over the hub's in-process connection,
// carrying the signed-in admin's console session, and the hub's
// authenticator checks the role, the scope and the session on every call
// and audits refusals. A page shows only what the role may do; the server
// refuses regardless. A file uploaded into a csv directory is streamed to
// ImportFile as it arrives (its CSRF token first), never held whole. Sign-in, sign-out and who a session is are
// server/signin's.
//
// It may import `server/auth` (roles and permissions, to show what a role
// may do), `server/signin` (its session type and errors), the wire types
// and clients of `proto/idsync/v1`, gRPC (`google.golang.org/grpc/...`),
// protobuf's types (`google.golang.org/protobuf/...`) and the standard
// library; never `server/api`, `agent` or `ldapsync`. It reads nothing of
// the store itself (server/auth links it, for its types).
package console
