// Command vulndb builds the Go vulnerability database that `make lint` hands
// to govulncheck, offline: from the OSV files (data/osv) of the
// golang.org/x/vulndb module at the version go.mod requires (pin.go keeps
// that requirement), fetched like any module through the module proxy and
// checked against go.sum. It writes the v1 layout that govulncheck's
// `-db file:///DIR` reads, the one vuln.go.dev serves, uncompressed:
//
//	index/db.json          {"modified": the newest entry's time}
//	index/modules.json     per module: its vulns' id, modified, latest fix
//	index/vulns.json       per vuln: id, modified, aliases
//	ID/GO-YYYY-NNNN.json   the OSV entries
//
// It prints the database's absolute directory, <-cache>/<version>, and
// builds it only when that directory is missing: a new pinned version
// builds anew and removes the old ones.
//
//	go run ./scripts/vulndb [-cache .cache/vulndb]
//
// The repository's OSV files carry no dates (vuln.go.dev stamps them from
// the repository's git history when it deploys); an undated entry gets the
// time of the pinned vulndb commit, so db.json says how recent the data are.
//
// It may import the standard library and `golang.org/x/mod/semver` only.
package main
