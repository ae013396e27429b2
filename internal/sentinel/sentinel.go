// Package sentinel makes a package's sentinel errors that are also a
// broader error (one of storage's shared errors, or another sentinel of
// the package, as groupbuy's ErrTeamChurned is an ErrTeamFull), with a
// message of their own: errors.Is matches both, and the message does not
// repeat the broader one ("groupbuy: not found", not "groupbuy: not
// found: storage: not found").
package sentinel

// Error is a sentinel error of one package that wraps a broader kind.
type Error struct {
	msg  string
	kind error
}

// New returns a sentinel whose message is msg and which errors.Is matches
// to kind as well as to itself. kind must not be nil.
func New(msg string, kind error) error {
	if kind == nil {
		panic("sentinel: New with a nil kind")
	}
	return &Error{msg: msg, kind: kind}
}

// Error returns the sentinel's own message.
func (e *Error) Error() string { return e.msg }

// Unwrap returns the broader kind, for errors.Is and errors.As.
func (e *Error) Unwrap() error { return e.kind }
