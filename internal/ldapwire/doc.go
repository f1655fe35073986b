// Package ldapwire is a small LDAPv3 client for one job: reading a large
// directory through paged searches with as little CPU and allocation as the
// wire allows. It dials (ldap://, ldaps://, StartTLS), binds with a simple
// bind and runs searches whose entries are handed to a callback as they
// arrive, decoded in place: an Entry's DN, names and values are slices of one
// reusable message buffer, so a steady stream of entries allocates (almost)
// nothing.
//
// It decodes responses with its own BER reader (definite lengths only, as
// RFC 4511 requires) and rejects malformed input with an error. Requests are
// encoded by hand, except the filter, which go-ldap compiles.
//
// A Conn runs one operation at a time; there is no reader goroutine. It is
// not a general LDAP client: no modify, no SASL, no referral chasing. The
// rest of idsync's LDAP work stays in ldapsync on go-ldap.
//
// A paged search:
//
//	c, err := ldapwire.Dial(ctx, "ldaps://dc1.example.org", ldapwire.Options{TLSConfig: tc})
//	…
//	defer c.Close()
//	if err := c.Bind(ctx, bindDN, password); err != nil { … } // *ResultError, Code 49: bad credentials
//	req := &ldapwire.SearchRequest{BaseDN: base, Scope: ldapwire.ScopeWholeSubtree,
//		Filter: "(objectClass=user)", Attributes: attrs, PageSize: 500}
//	for {
//		cookie, err := c.Search(ctx, req, func(e *ldapwire.Entry) error {
//			… // e and its slices are valid until this returns; e.Clone() keeps one
//		})
//		if err != nil { … } // *ResultError, Code 32: no such base DN
//		if len(cookie) == 0 {
//			break
//		}
//		req.Cookie = cookie
//	}
//
// It may import the standard library and go-ldap
// (`github.com/go-ldap/ldap/v3`: the filter compiler and the names of result
// codes) only.
package ldapwire
