//go:build tools

package main

// The database's version is golang.org/x/vulndb's in go.mod, and this
// import is what keeps it there (`go mod tidy` drops a module nothing
// imports): so go.sum holds its hash and `go get golang.org/x/vulndb@V`
// moves it. The package is a few constants, built into nothing (the tag).
import _ "golang.org/x/vulndb/cmd/vulnreport/color"
