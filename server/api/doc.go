// Package api holds the hub's doors: the gRPC services AgentService
// (enrolment, and the one Connect stream per agent with its ack window: the
// session applies and acknowledges batches, and server/runs decides the
// life of their runs), AdminService (what idsyncctl calls) and AppService
// (downstream apps, assignments, pushes and manual tasks), and the HTTP
// route POST /v1/authn.
//
// Each handler decodes, checks the caller's scope (a group-admin's groups,
// an app-admin's apps; the role of each method is checked before, by
// server/auth's interceptor), calls one service and encodes: server/agents
// (enrolment tokens, enrolment, revocation), server/runs (imports),
// server/directories, server/admins (admin tokens and grants), server/rules, server/reports,
// server/people, server/authn and provision.Apps. What a service refuses —
// a server/refusal, or an error of the service's own — becomes a gRPC
// status code (or an HTTP code) here, at the boundary. Each server reads
// the store through the few methods it declares (AdminStore, AppStore,
// AgentStore); only the agent stream writes, and only its own state
// (connected, seen, lag, certificate).
//
// It may import `server/store`, `server/ingest`, `server/runs`,
// `server/provision`, `server/people`, `server/rules`, `server/authn`, `server/sessions`,
// `server/scim`, `server/agents`, `server/admins`, `server/reports`,
// `server/directories`, `server/csvimport`, `server/notify`, `server/refusal`, `server/auth`, `server/audit`,
// `internal/pki`, `internal/version`, the wire types of `proto/idsync/v1`,
// gRPC's `google.golang.org/grpc/codes` and `google.golang.org/grpc/status`
// (the servers themselves run in server/hub), protobuf's types
// (`google.golang.org/protobuf/...`) and `github.com/google/uuid`; never
// `agent` or `ldapsync`.
package api
