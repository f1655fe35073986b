// Package pki holds idsync's certificates and secrets.
//
// The hub runs a small certificate authority (LoadOrCreateCA): it issues its
// own TLS server certificate (ServerCertificate) and signs the client
// certificates agents obtain at enrolment (SignClientCSR). An agent creates
// its key and CSR (NewKey, CreateCSR), reaches the hub for the first time with
// only the CA fingerprint carried in its enrolment token (PinnedTLSConfig),
// and from then on uses mutual TLS (ClientTLSConfig, ServerTLSConfig).
//
// Tokens: admin tokens and enrolment secrets are random, shown once, and
// stored only as hashes (NewSecret, HashSecret, NewEnrollToken,
// ParseEnrollToken).
//
// It may import `internal/atomicfile` and the standard library only, since
// both the hub and the agent use it; never `server/...` or `agent`.
package pki
