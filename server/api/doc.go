// Package api holds the hub's doors: the gRPC services AgentService
// (enrolment and the one Connect stream per agent, with its ack window: it
// applies and acknowledges batches, and server/runs decides the life of
// their runs), AdminService (what idsyncctl calls) and AppService
// (downstream apps, assignments, pushes and manual tasks), and the HTTP
// route POST /v1/authn. Each handler decodes, checks the role, calls a
// service and encodes; domain errors become gRPC status codes (or HTTP
// codes) here, at the boundary.
//
// It may import `server/store`, `server/ingest`, `server/runs`,
// `server/provision`, `server/people`, `server/rules`, `server/authn`, `server/sessions`, `server/scim`,
// `server/secrets`, `server/auth`, `server/audit`, `internal/pki`,
// `internal/version`, the wire types of `proto/idsync/v1`, gRPC's
// `google.golang.org/grpc/codes` and `google.golang.org/grpc/status` (the
// servers themselves run in server/hub), protobuf's types
// (`google.golang.org/protobuf/...`) and `github.com/google/uuid`; never
// `agent` or `ldapsync`.
package api
