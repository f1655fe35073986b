// Command idsyncctl is the hub's admin CLI: directories, agents, imports,
// users and groups. It reads the hub address, CA and admin token from
// admin.conf (--config or IDSYNC_CONFIG); --admin-token-file or
// IDSYNC_TOKEN override the token (never a flag's value: it would show in
// the process list and the shell's history).
//
// It may import the wire types of `proto/idsync/v1`, `internal/adminconf`,
// `internal/days`, `internal/version`, gRPC and protobuf (`google.golang.org/grpc/...`,
// `google.golang.org/protobuf/...`), the YAML decoder of mapping files
// (`go.yaml.in/yaml/v3`) and `golang.org/x/term`; never the hub
// (`server/...`), `agent` or `ldapsync`: it reaches the hub through its API.
package main
