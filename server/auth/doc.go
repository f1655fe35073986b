// Package auth decides who is calling the hub: admins by bearer token
// (stored hashed), agents by their client certificate (issued by the hub's
// CA, refused once revoked). It provides the gRPC interceptors and the
// helpers that read the caller from a context.
//
// It may import `server/store`, `internal/pki`, gRPC
// (`google.golang.org/grpc/...`), `github.com/google/uuid` (to tell a group
// id from a name) and `golang.org/x/time/rate` (the limiters); never `agent`
// or `ldapsync`.
package auth
