package api

import (
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/idsync/idsync/internal/version"
)

// The hub serves agents of its own minor version and of the one before, so
// that hub and agents can be upgraded one after the other: the hub first,
// then the agents at the customer sites.
const supportedMinorsBehind = 1

// checkAgentVersion applies the compatibility rule: an agent is served when
// its major version equals the hub's and its minor version is at most one
// behind (a newer agent is served too: the hub sends it only what the hub
// knows). A development build on either side ("dev", or anything that is not
// a semantic version) is always served. A refusal is FailedPrecondition and
// names both versions.
func checkAgentVersion(hub, agent string) error {
	hMajor, hMinor, hok := version.Parse(hub)
	aMajor, aMinor, aok := version.Parse(agent)
	if !hok || !aok {
		return nil
	}
	if aMajor == hMajor && aMinor >= hMinor-supportedMinorsBehind {
		return nil
	}
	oldest := fmt.Sprintf("v%d.%d", hMajor, max(0, hMinor-supportedMinorsBehind))
	return status.Errorf(codes.FailedPrecondition,
		"agent version %s is not served by hub version %s: install an agent of %s or later (within major version %d)",
		agent, hub, oldest, hMajor)
}

// capabilities is the set an agent announced in Hello.
type capabilities map[string]bool

func newCapabilities(list []string) capabilities {
	c := capabilities{}
	for _, s := range list {
		c[s] = true
	}
	return c
}
