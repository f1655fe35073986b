// Package version holds the build's version and commit, set by the linker:
//
//	go build -ldflags "-X github.com/idsync/idsync/internal/version.Version=v1.2.3 \
//		-X github.com/idsync/idsync/internal/version.Commit=0123456789ab"
//
// Without -X Commit, the VCS revision the go command embeds is used.
//
// It may import the standard library only.
package version
