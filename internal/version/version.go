// Package version holds the build's version, set by the linker:
//
//	go build -ldflags "-X github.com/idsync/idsync/internal/version.Version=v1.2.3"
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Version is the release version; "dev" for a plain go build.
var Version = "dev"

// String describes the build: version, VCS revision when known, Go version
// and platform.
func String() string {
	rev := ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				rev = " (" + s.Value[:12] + ")"
			}
		}
	}
	return fmt.Sprintf("%s%s %s %s/%s", Version, rev, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
