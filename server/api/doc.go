// Package api holds the hub's doors: the gRPC services AgentService
// (enrolment and the one Connect stream per agent, with its ack window),
// AdminService (what idsyncctl calls) and AppService (downstream apps,
// assignments, pushes and manual tasks), and the HTTP route POST /v1/authn.
// Each handler decodes, checks the role, calls a service and encodes;
// domain errors become gRPC status codes (or HTTP codes) here, at the
// boundary.
//
// It may import server/store, server/ingest, server/provision,
// server/authn, server/sessions, server/scim, server/secrets, server/auth,
// server/audit, internal/pki, internal/loginname, internal/version, proto
// and gRPC; never agent or ldapsync.
package api
