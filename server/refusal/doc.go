// Package refusal names why a hub service refuses a request — an invalid
// argument, something that does not exist or already does, a state that
// does not allow it, a caller who may not — as one error type with a
// kind, so that the services stay free of any transport and every door
// (gRPC, HTTP) maps the kind to its own status code, at its boundary.
//
// It may import the standard library only; never `agent` or `ldapsync`.
package refusal
