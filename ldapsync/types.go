package ldapsync

import (
	"context"
	"fmt"
)

// Kind is the flavour of directory server; it decides the id attribute and
// the binary attributes converted to text.
type Kind int

const (
	// KindUnspecified is the zero Kind; FullImport rejects it.
	KindUnspecified Kind = iota
	// KindOpenLDAP is OpenLDAP or another RFC 4512 server: entryUUID
	// identifies entries.
	KindOpenLDAP
	// KindAD is Active Directory or Samba AD: objectGUID identifies entries.
	KindAD
)

// String returns the kind's name, e.g. "AD".
func (k Kind) String() string {
	switch k {
	case KindOpenLDAP:
		return "OpenLDAP"
	case KindAD:
		return "AD"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// ObjectKind says whether an entry is a user or a group.
type ObjectKind int

const (
	// ObjectUnspecified is the zero ObjectKind.
	ObjectUnspecified ObjectKind = iota
	// ObjectUser is a person, found by Spec.UserFilter.
	ObjectUser
	// ObjectGroup is a group, found by Spec.GroupFilter.
	ObjectGroup
)

// String returns "user" or "group".
func (k ObjectKind) String() string {
	switch k {
	case ObjectUser:
		return "user"
	case ObjectGroup:
		return "group"
	}
	return fmt.Sprintf("ObjectKind(%d)", int(k))
}

// ChangeType is what happened to an object.
type ChangeType int

const (
	// ChangeUnspecified is the zero ChangeType.
	ChangeUnspecified ChangeType = iota
	// ChangeUpsert says the object exists with these attributes.
	ChangeUpsert
	// ChangeDelete says the object is gone.
	ChangeDelete
)

// String returns "upsert" or "delete".
func (t ChangeType) String() string {
	switch t {
	case ChangeUpsert:
		return "upsert"
	case ChangeDelete:
		return "delete"
	}
	return fmt.Sprintf("ChangeType(%d)", int(t))
}

// Attribute is one attribute of an entry with its values as text.
type Attribute struct {
	// Name is the attribute description in lower case, without a range
	// option ("member", not "member;range=0-1499").
	Name string
	// Values in the server's order; binary ids (objectSid) converted to
	// their text form.
	Values []string
}

// Change is one object as read from the directory.
type Change struct {
	Type ChangeType
	Kind ObjectKind
	// ExternalID is the entry's immutable id in canonical text form: the
	// entryUUID, or the objectGUID as a lower-case GUID string.
	ExternalID string
	// DN is the entry's DN at the time of reading.
	DN string
	// Attributes are the requested attributes the entry has, sorted by
	// name; the id attribute is never among them. When MembersIncremental
	// is set, the member attribute is not among them either.
	Attributes []Attribute
	// MembersIncremental says the change carries a group's membership as
	// deltas (AD DirSync): member is left out of Attributes and the
	// consumer keeps the members it has, adding MemberAdds and removing
	// MemberRemoves. A group gaining one member of 5,000 sends one value.
	MembersIncremental bool
	// MemberAdds and MemberRemoves are the member values (DNs) added and
	// removed, as an Attribute named "member"; set only with
	// MembersIncremental.
	MemberAdds, MemberRemoves []Attribute
	// Departed, with ChangeDelete, says the object left the scope (moved
	// outside the base DN, or no longer matches the filter) but exists: a
	// directory that links members (AD) keeps it in its groups, and it may
	// come back. Set where the reader can tell (DirSync); a syncrepl
	// delete cannot say.
	Departed bool
}

// EntryError is an entry that could not be read or normalised. The import
// goes on without it.
type EntryError struct {
	DN string
	// ExternalID is set when the id could be read, so that the hub counts
	// the entry as seen and never deprovisions it for being unreadable.
	ExternalID string
	Kind       ObjectKind
	// Message says what is wrong, naming the attribute.
	Message string
}

// Error names the kind, the DN and the problem, for logs.
func (e EntryError) Error() string {
	return fmt.Sprintf("%s %s: %s", e.Kind, e.DN, e.Message)
}

// Sink receives what an import reads, in order. It may block to slow the
// import down; an error it returns stops the import and is returned.
type Sink interface {
	Change(ctx context.Context, c Change) error
	EntryError(ctx context.Context, e EntryError) error
}

// Stats counts what an import sent to its Sink.
type Stats struct {
	// Users and Groups count the Changes sent.
	Users, Groups int
	// Errors counts the EntryErrors sent.
	Errors int
	// RangeFetches counts the extra searches made for attributes the server
	// returned in ranges (AD groups of more than 1,500 members).
	RangeFetches int
}
