// Package obs serves what operators watch a process through: /healthz,
// /readyz and Prometheus /metrics, over a registry the caller owns, and the
// HTTP server they are served by, with its timeouts and bounds (NewServer).
// Both the hub and the agent use it; it imports no idsync package.
package obs
