package idsyncv1

// Message bounds, part of the wire contract: the hub refuses a larger
// message with ResourceExhausted, and the agent sends none.
const (
	// MaxRequestBytes bounds the request of every call but Connect. The
	// largest a client sends, an app with its mapping, is tens of
	// kilobytes; enrolment requests are a few.
	MaxRequestBytes = 1 << 20
	// MaxStreamMessageBytes bounds a message of an agent's Connect stream,
	// either way. A batch closes once it passes 2 MiB, so it is 2 MiB and
	// one entry at the most; an agent reports an entry over
	// MaxEntryBytes as an entry error of its run rather than send it.
	MaxStreamMessageBytes = 16 << 20
	// MaxEntryBytes bounds one entry on the wire (a group of about 100,000
	// members).
	MaxEntryBytes = 8 << 20
)
