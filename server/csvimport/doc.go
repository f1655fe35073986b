// Package csvimport imports files of users — the CSV exports HR systems
// hand over (BambooHR, UltiPro, SuccessFactors, Workday reports) — into
// csv directories: the file is spooled (size-capped), decoded (UTF-8 with
// or without a BOM, Windows-1252, ISO-8859-1), parsed as RFC 4180 with a
// header row and a detected or given delimiter, checked whole (a file with
// no header, a mapped column missing, or more than 20% bad rows fails the
// run before anything is applied), then applied through server/ingest as a
// run like any import: full (the file is the whole population: the rest is
// swept, through the safeguard) or not. A dry run says what would change
// and writes nothing.
//
// Bad rows (no id, a duplicate id, a wrong number of fields, text that is
// not valid after decoding) are the run's errors, by file and line; a bad
// row whose id could be read counts as seen, so a read that failed never
// deprovisions its user.
//
// It may import `server/store`, `server/ingest`, `server/refusal`,
// `golang.org/x/text/encoding/charmap` and `golang.org/x/text/transform`
// (the single-byte encodings); no gRPC, and never `server/api`, `agent`
// or `ldapsync`.
package csvimport
