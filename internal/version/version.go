package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
)

// Version is the release version; "dev" for a plain go build.
var Version = "dev"

// Commit is the source revision, set by `make dist`; empty otherwise.
var Commit = ""

// String describes the build: version, commit when known, Go version and
// platform, e.g. "v1.2.3 (commit 0123456789ab) go1.26.0 linux/amd64".
func String() string {
	rev := ""
	if c := revision(); c != "" {
		rev = " (commit " + c + ")"
	}
	return fmt.Sprintf("%s%s %s %s/%s", Version, rev, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// revision returns Commit, or else the first 12 digits of the VCS revision
// embedded by the go command, marked "+dirty" for a modified tree.
func revision() string {
	if Commit != "" {
		return Commit
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	rev, dirty := "", false
	for _, s := range bi.Settings {
		switch {
		case s.Key == "vcs.revision" && len(s.Value) >= 12:
			rev = s.Value[:12]
		case s.Key == "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev != "" && dirty {
		rev += "+dirty"
	}
	return rev
}

// Parse reads the major and minor numbers of a semantic version such as
// "v1.4.2", "1.4" or the `git describe` form "v1.4.2-3-gabcdef1-dirty". ok
// is false for anything else, "dev" included.
func Parse(v string) (major, minor int, ok bool) {
	v = strings.TrimPrefix(strings.TrimSpace(v), "v")
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return 0, 0, false
	}
	if i := strings.IndexAny(parts[1], "-+"); i >= 0 {
		parts[1] = parts[1][:i]
	}
	major, err1 := strconv.Atoi(parts[0])
	minor, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil || major < 0 || minor < 0 {
		return 0, 0, false
	}
	return major, minor, true
}
