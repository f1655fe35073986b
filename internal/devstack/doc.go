//go:build linux

// Package devstack runs a whole idsync stack from its real binaries — hub,
// agents, idsyncctl — as child processes on loopback. The end-to-end tests,
// `make demo` and `make bench` use it; nothing that ships does.
//
// It may import the standard library only: it runs the binaries, it does
// not link them.
package devstack
