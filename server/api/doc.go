// Package api serves the hub's gRPC services: AgentService (enrolment and the
// one Connect stream per agent, with its ack window and command dispatch),
// AdminService (what idsyncctl calls) and AppService (downstream apps,
// assignments, pushes and manual tasks). Domain errors become gRPC status
// codes here, at the boundary.
//
// It may import server/store, server/ingest, server/provision, server/scim,
// server/secrets, server/auth, internal/pki, internal/loginname, proto and
// gRPC; never agent or ldapsync.
package api
