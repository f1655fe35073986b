package idsyncv1

// The hub's store and the agent's ldapsync each have their own object kind
// (neither may import this package); both name theirs "user" and "group",
// and these two functions are the one conversion to and from the wire.

// ObjectKindNamed returns the kind named "user" or "group";
// OBJECT_KIND_UNSPECIFIED for any other name.
func ObjectKindNamed(name string) ObjectKind {
	switch name {
	case "user":
		return ObjectKind_OBJECT_KIND_USER
	case "group":
		return ObjectKind_OBJECT_KIND_GROUP
	}
	return ObjectKind_OBJECT_KIND_UNSPECIFIED
}

// ObjectKindName returns "user" or "group"; "" for an unspecified or
// unknown kind.
func ObjectKindName(k ObjectKind) string {
	switch k {
	case ObjectKind_OBJECT_KIND_USER:
		return "user"
	case ObjectKind_OBJECT_KIND_GROUP:
		return "group"
	}
	return ""
}
