// Package expr is the small language in which admins map hub profile fields
// to an application's SCIM attributes, and in which group rules
// (server/rules) say which users their group holds. A mapping:
//
//	userName                 ← lower(email)
//	displayName              ← coalesce(display_name, given_name + " " + family_name)
//	name.givenName           ← trim(given_name)
//	active                   ← status == "active"
//	title                    ← default(title, "Staff")
//	urn:…:enterprise:2.0:User:department ← default(department, "Unknown")
//	nickName                 ← before(email, "@")
//	urn:…:enterprise:2.0:User:employeeNumber ← extra.employeeID
//
// The language is safe to run on any input: no loops, no variables, no I/O;
// an expression is at most MaxSource bytes and MaxDepth levels deep, every
// node is evaluated at most once, and no value grows beyond MaxString bytes
// or MaxList items, so evaluation time is bounded by the size of the
// expression and its input. Compile checks the syntax, the functions and
// their number of arguments; errors name the line and column and say what
// was expected.
//
// # Values
//
// A value is a string, a bool, null, an integer (written as a literal, for
// indexes and substr), or a list of strings (a multi-valued field such as
// extra.proxyAddresses, or the result of split).
//
// # Syntax
//
//	"text" 'text'            string literals; escapes \" \' \\ \n \t \uXXXX
//	true false null          literals
//	0 3 -1                   integer literals
//	email extra.employeeType field names: letters, digits, _ and dots; a
//	                         field the user lacks is null (a name that
//	                         is no field at all is refused where an
//	                         admin writes a mapping or a rule)
//	f(a, b)                  function call
//	x[0] x[-1]               list element (from the end when negative);
//	                         null when out of range
//	a + b                    string concatenation; null if either side is null
//	a == b  a != b           equality: same kind and same value (strings
//	                         compare case-sensitively; use lower)
//	x in list                whether the string x is an element of list,
//	                         case-sensitively ("contractors" in groups;
//	                         "eng" in lower(groups)); a string on the
//	                         right counts as a list of one, null as an
//	                         empty list; null is in nothing. Negate with
//	                         !("x" in list)
//	a && b  a || b  !a       logic on bools, null counting as false
//	( … )                    grouping
//
// Precedence from low to high: ||, &&, ==, != and in, +, !, then [index].
// && and || only evaluate their right side when needed.
//
// # Functions
//
// Functions on strings apply to each element of a list (leaving out the
// elements whose result is null) and return null for null; "empty" below
// means null, "" or an empty list.
//
//	lower(s) upper(s) trim(s)  case and surrounding white space
//	substr(s, start[, len])    characters from start (negative: from the
//	                           end), len at most; clamped to the string
//	replace(s, old, new)       every old (not empty) replaced by new
//	before(s, sep)             the part before the first sep; null without sep
//	after(s, sep)              the part after the first sep; null without sep
//	split(s, sep)              the list of parts between each sep
//	join(list, sep)            the elements joined by sep
//	str(x)                     a bool or integer as text
//	contains(s, sub)           whether s holds sub (a list: holds the element)
//	starts_with(s, prefix)     bool
//	ends_with(s, suffix)       bool
//	empty(x)                   whether x is empty
//	coalesce(a, b, …)          the first value that is not empty, else null;
//	                           later arguments are not evaluated
//	default(x, d)              x unless it is empty, else d
//	if(cond, a, b)             a when cond is true, else b; only the chosen
//	                           one is evaluated
//	attr("name")               the field extra.name, for extra attributes whose
//	                           names are not plain identifiers
//	                           (attr("msDS-cloudExtensionAttribute1"))
//	random([len])              a random password that the target directory's
//	                           password rules accept (every class, at least
//	                           len characters, 20 by default); only in a
//	                           directory's initial password expression
//
// # Examples
//
//	email                                         → "Ada.Lovelace@Example.com"
//	lower(email)                                  → "ada.lovelace@example.com"
//	"a" + given_name + " " + family_name          → "aAda Lovelace"
//	coalesce(display_name, given_name + " " + family_name)
//	default(department, "Unknown")
//	if(status == "active", true, false)           → true (same as status == "active")
//	upper(substr(family_name, 0, 3))              → "LOV"
//	split(email, "@")[0]                          → "Ada.Lovelace"
//	replace(lower(given_name), " ", ".")
//	extra.employeeType == "contractor" || !empty(extra.agency)
//	"contractors" in groups && !("interns" in groups)
//	lower(extra.employeeType) in split("contractor,vendor", ",")
//
// It may import the standard library only; never `agent` or `ldapsync`.
package expr
