// Package scim is the hub's SCIM 2.0 client (RFC 7643, RFC 7644): it creates,
// reads, updates and deletes the Users and Groups of a downstream application
// and reads what the application supports (ServiceProviderConfig, Schemas,
// ResourceTypes).
//
// Resources are JSON objects (Resource, a map) so that any attribute an
// application defines, the enterprise extension included, passes through;
// Diff turns two versions of a resource into PATCH operations, and
// PatchGroupMembers sends membership changes in chunks.
//
// HTTP goes through go-retryablehttp with this package's policy, so that the
// provisioning queue sees one typed outcome per call:
//   - 5xx (but 501) and network errors are retried in the call, with jittered
//     exponential backoff, a bounded number of attempts;
//   - 429 and 503 with a Retry-After up to Options.MaxRetryAfter are retried
//     after that wait; a longer wait is not slept: the call returns a
//     *RetryAfterError so the job is re-queued instead of holding a worker;
//   - 401 and 403 return an *AuthError (the caller pauses the application);
//   - other 4xx return an *HTTPError at once (never retried), carrying the
//     SCIM error's scimType and detail.
//
// Credentials (bearer token, Basic user and password, OAuth2 client
// credentials with a cached token) are never written to an error or a log.
//
// It may import the standard library, `github.com/hashicorp/go-retryablehttp`,
// `golang.org/x/oauth2/...` `internal/backoff` (the retries' waits) and `internal/version`, nothing of the hub; never
// `agent` or `ldapsync`.
package scim
