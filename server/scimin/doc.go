// Package scimin is the hub's inbound SCIM 2.0 endpoint (RFC 7643/7644) for
// upstream sources such as an HR system: /scim/v2/Users, /Groups,
// /ServiceProviderConfig, /Schemas and /ResourceTypes, with filters,
// sorting, pagination, PATCH, .search, attributes and excludedAttributes,
// and ETags.
//
// One description of the attributes (schema.go) is what /Schemas shows,
// what requests are checked against (invalidPath, mutability,
// invalidValue, naming the attribute) and what resources are read and
// written through: every attribute it calls writable is kept, in the
// hub's profile fields or as extra profile fields.
//
// Each source is a hub directory of kind scim with its own bearer token.
// What a source writes becomes hub objects of its directory through the sync
// engine (ingest.Engine.OpenWrite): a write run per request, held from its
// first read to its write (so that what it checked still holds, on every
// hub replica), so the change feed, provisioning and the lifecycle audit
// events work as for an LDAP directory. The SCIM id of a resource is the hub's object id; the
// source's externalId is the object's external id.
//
// A small handler rather than github.com/elimity-com/scim: the hub's
// objects are not a generic attribute store, the source is known only after
// its token is checked, and the requests real IdPs send (Entra's "Replace"
// and "False", Okta's path-less PATCH) must be accepted as they come.
//
// It may import `server/store`, `server/ingest` (the sync engine),
// `internal/pki` (to hash a source's token), the SCIM filter parser
// (`github.com/scim2/filter-parser/v2`) and go-ldap's DN escaping
// (`github.com/go-ldap/ldap/v3`, for the DN it gives a source's objects);
// no gRPC of its own, and never `agent` or `ldapsync`.
package scimin
