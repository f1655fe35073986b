package ldapsync

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// checkpointVersion is the version of the checkpoint encoding; a
// checkpoint of another version asks for a reconciliation.
const checkpointVersion = 1

// checkpointState is a checkpoint decoded. The bytes are JSON, so that an
// operator can read what the hub stores:
//
//	{"v":1,"strategy":"syncrepl","spec":"9f2c…","taken":"2026-…Z","cookie":"cmlkPTAwMCxjc249…"}
//	{"v":1,"strategy":"dirsync","spec":"…","taken":"…","cookie":"TVNEUwMA…","invocationId":"a475cd9e-…"}
//	{"v":1,"strategy":"poll","spec":"…","taken":"…","since":"2026-11-28T20:01:33Z"}
type checkpointState struct {
	Version  int    `json:"v"`
	Strategy string `json:"strategy"`
	// Spec is a fingerprint of what the capture reads (kind, base DN,
	// filters, attributes): a checkpoint of another spec cannot be resumed,
	// since the objects it covers were read with other attributes.
	Spec string `json:"spec"`
	// Taken is when the checkpoint was made (the agent's clock), to tell
	// a DirSync cookie older than the tombstones it relies on.
	Taken time.Time `json:"taken"`
	// Cookie is the syncrepl or DirSync cookie.
	Cookie []byte `json:"cookie,omitempty"`
	// InvocationID is the DirSync DC's invocationId: a cookie is only
	// resumed on the DC database that issued it.
	InvocationID string `json:"invocationId,omitempty"`
	// Since is the newest modifyTimestamp seen (persistent search,
	// polling).
	Since time.Time `json:"since,omitzero"`
}

func newCheckpoint(s Strategy, spec CaptureSpec) checkpointState {
	return checkpointState{Version: checkpointVersion, Strategy: s.String(), Spec: specFingerprint(spec.Spec)}
}

// encode returns the checkpoint's bytes, stamped now.
func (cp checkpointState) encode() []byte {
	cp.Taken = time.Now().UTC()
	b, err := json.Marshal(cp)
	if err != nil {
		panic(fmt.Sprintf("ldapsync: encoding a checkpoint: %v", err)) // plain fields cannot fail
	}
	return b
}

// decodeCheckpoint reads b for a capture of spec with strategy s. Every
// reason not to resume it wraps ErrReconcile.
func decodeCheckpoint(b []byte, s Strategy, spec CaptureSpec) (checkpointState, error) {
	var cp checkpointState
	if err := json.Unmarshal(b, &cp); err != nil {
		return cp, fmt.Errorf("checkpoint of %d bytes is not one ldapsync wrote (%v): %w", len(b), err, ErrReconcile)
	}
	switch {
	case cp.Version != checkpointVersion:
		return cp, fmt.Errorf("checkpoint version %d, this agent reads version %d: %w", cp.Version, checkpointVersion, ErrReconcile)
	case cp.Strategy != s.String():
		return cp, fmt.Errorf("the checkpoint was taken by %s capture, this capture uses %s: %w", cp.Strategy, s, ErrReconcile)
	case cp.Spec != specFingerprint(spec.Spec):
		return cp, fmt.Errorf("the checkpoint was taken for another base DN, filter or attribute list: %w", ErrReconcile)
	case (s == StrategySyncrepl || s == StrategyDirSync) && len(cp.Cookie) == 0:
		return cp, fmt.Errorf("the %s checkpoint holds no cookie: %w", s, ErrReconcile)
	case s == StrategySyncrepl && statelessCookie(cp.Cookie):
		// Stored by an agent that kept such cookies: resumed, it would
		// lose the deletes since the cookie before it.
		return cp, fmt.Errorf("the syncrepl checkpoint's cookie %q names no state: %w", cp.Cookie, ErrReconcile)
	case s == StrategyDirSync && cp.InvocationID == "":
		return cp, fmt.Errorf("the DirSync checkpoint names no invocationID: %w", ErrReconcile)
	case (s == StrategyPoll || s == StrategyPersistentSearch) && cp.Since.IsZero():
		return cp, fmt.Errorf("the %s checkpoint holds no time: %w", s, ErrReconcile)
	}
	return cp, nil
}

// specFingerprint identifies what a capture reads: kind, base DN, filters
// and attribute lists (case and order of attributes do not count).
func specFingerprint(s Spec) string {
	norm := func(attrs []string) string {
		out := make([]string, len(attrs))
		for i, a := range attrs {
			out[i] = strings.ToLower(a)
		}
		slices.Sort(out)
		return strings.Join(slices.Compact(out), ",")
	}
	h := sha256.New()
	for _, part := range []string{s.Kind.String(), strings.ToLower(s.BaseDN), s.UserFilter, s.GroupFilter,
		norm(s.UserAttributes), norm(s.GroupAttributes)} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:12])
}
