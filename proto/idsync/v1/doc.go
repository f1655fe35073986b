// Package idsyncv1 is idsync's wire contract, package idsync.v1 of the
// .proto files beside it: AgentService (enrolment and the one bidirectional
// Connect stream of an agent), AdminService (what idsyncctl calls) and
// AppService (downstream apps). The *.pb.go files are generated from them
// (make generate; make checkgenerate fails when they are stale); by hand
// are only the constants the contract names: the capabilities an agent
// announces (capabilities.go) and the bounds of a message (limits.go).
//
// It may import gRPC and protobuf (`google.golang.org/grpc/...`,
// `google.golang.org/protobuf/...`) only; nothing of idsync, since the
// agent, the hub and idsyncctl all import it.
package idsyncv1
