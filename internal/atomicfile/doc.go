// Package atomicfile writes local files so that a reader, or the same program
// after a crash or power loss, sees either the old content or the new, never a
// torn mix: the agent's key and certificate, the hub's CA and server
// certificate.
//
// It may import the standard library only.
package atomicfile
