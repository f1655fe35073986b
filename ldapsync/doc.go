// Package ldapsync is everything in idsync that speaks LDAP to a customer's
// directory (OpenLDAP or Active Directory): connecting and binding, the paged
// full import, AD range retrieval, and normalising entries into changes keyed
// by the directory's immutable id (entryUUID, objectGUID).
//
// It streams: FullImport hands entries to a Sink as they arrive, one page at
// a time, so memory is bounded by a page however large the directory, and a
// Sink that blocks slows the reading down (backpressure).
//
// It has its own plain types (Change, EntryError, Spec); the agent converts
// them to and from the wire protocol. It may import the standard library and
// go-ldap only: never gRPC, proto or the hub's server packages.
package ldapsync
