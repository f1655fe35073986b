// Package logging builds the *slog.Logger the commands inject into every
// component.
//
// It may import the standard library only.
package logging
