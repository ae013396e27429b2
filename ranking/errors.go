package ranking

import (
	"errors"
	"fmt"

	"github.com/socialcommerce/sdk/storage"
)

// Sentinel errors, matched with errors.Is. A cursor error means the host
// should start the session again from the first page (an empty Cursor).
var (
	// ErrCursorTampered reports a cursor that is not one this package
	// produced under the configured keys: bad base64, wrong length,
	// signature mismatch, or a signed body that does not parse.
	ErrCursorTampered = errors.New("ranking: cursor tampered or malformed")
	// ErrCursorExpired reports a cursor whose as-of time is more than
	// CursorConfig.MaxAge before the request's Now (or, from a host
	// instance whose clock ran ahead, more than MaxAge after it).
	ErrCursorExpired = errors.New("ranking: cursor expired")
	// ErrCursorForeignConfig reports a validly signed cursor issued under
	// another Config (another Version, other parameters, or another cursor
	// format).
	ErrCursorForeignConfig = errors.New("ranking: cursor issued under another ranking config")
	// ErrCursorMismatch reports a validly signed cursor issued for another
	// Request.Viewer, Request.Scope or Request.PriceRef.
	ErrCursorMismatch = errors.New("ranking: cursor issued for another viewer, scope or reference price")
	// ErrSignal matches every *SignalError.
	ErrSignal = errors.New("ranking: signal failed")
)

// ValidationError reports bad input: which field, and why. It is the type
// that every package of the SDK uses.
type ValidationError = storage.ValidationError

// SignalError reports that a host Signal returned an error; Rank returns
// it unchanged otherwise (no partial page).
type SignalError struct {
	Signal string // the signal's name in the Config
	Err    error  // what the signal returned
}

// Error describes the failure.
func (e *SignalError) Error() string {
	if e == nil {
		return ErrSignal.Error()
	}
	return fmt.Sprintf("ranking: signal %q: %v", e.Signal, e.Err)
}

// Unwrap returns the signal's own error (nil for a nil *SignalError).
func (e *SignalError) Unwrap() error {
	if e == nil {
		return nil
	}
	return e.Err
}

// Is makes errors.Is(err, ErrSignal) true for a *SignalError.
func (e *SignalError) Is(target error) bool { return target == ErrSignal }

func invalid(field, reason string) error { return &ValidationError{Field: field, Reason: reason} }

func tampered(reason string) error { return fmt.Errorf("%w: %s", ErrCursorTampered, reason) }
