// Package signin signs admins in to the console and keeps their sessions:
// with an admin token, or as a directory user through an admin grant (the
// password checked by delegated authentication, server/authn, with its
// limits and its one answer for every refusal); sign-out; and the sweep
// that ends idle and old sessions, each with its audit event. Sessions live
// in the store, so that every hub replica knows them; what a session may
// do is decided per call by server/auth, never here.
//
// It may import `server/store`, `server/auth`, `server/authn` (its
// errors), `internal/pki` and the standard library; no gRPC, and never
// `server/api`, `agent` or `ldapsync`.
package signin
