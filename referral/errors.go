package referral

import (
	"errors"
	"fmt"

	"github.com/socialcommerce/sdk/internal/sentinel"
	"github.com/socialcommerce/sdk/storage"
)

// Sentinel errors, matched with errors.Is. A command that returns one of
// them changed nothing. The not-found and conflict errors also match
// storage's ErrNotFound and ErrConflict.
var (
	ErrNotFound = sentinel.New("referral: not found", storage.ErrNotFound)
	// ErrConflict reports a guarded write that lost to a concurrent change
	// (a version no longer current, a key that exists already).
	ErrConflict = sentinel.New("referral: conflict", storage.ErrConflict)

	ErrSelfReferral   = errors.New("referral: a user cannot refer themselves")
	ErrCycle          = errors.New("referral: binding would create a cycle")
	ErrAlreadyBound   = errors.New("referral: user already bound to a referrer")
	ErrBindingLocked  = errors.New("referral: binding is locked and cannot be rebound yet")
	ErrNotEligible    = errors.New("referral: user not eligible for binding (not a new user)")
	ErrNotDistributor = errors.New("referral: referrer is not an active distributor")

	ErrCodeNotFound  = sentinel.New("referral: unknown invite code", storage.ErrNotFound)
	ErrCodeRevoked   = errors.New("referral: invite code revoked")
	ErrCodeMalformed = errors.New("referral: malformed invite code")
	ErrCodeTaken     = sentinel.New("referral: invite code exists", storage.ErrConflict)
	// ErrCodeLimit: the user holds the programme's CodeLimit of invite
	// codes already (revoked ones count).
	ErrCodeLimit = errors.New("referral: user holds the programme's maximum of invite codes")

	ErrTokenTampered = errors.New("referral: share token malformed or tampered")
	ErrTokenExpired  = errors.New("referral: share token expired")
)

// ValidationError reports bad input: which field, and why. It is the type
// that every package of the SDK uses.
type ValidationError = storage.ValidationError

// TransitionError reports an illegal distributor state change.
type TransitionError struct {
	From, To DistributorState
}

// Error names the two states.
func (e *TransitionError) Error() string {
	return fmt.Sprintf("referral: illegal distributor transition %s -> %s", e.From, e.To)
}

// ErrIllegalTransition matches every *TransitionError with errors.Is.
var ErrIllegalTransition = errors.New("referral: illegal transition")

// Is makes errors.Is(err, ErrIllegalTransition) true for a *TransitionError.
func (e *TransitionError) Is(target error) bool { return target == ErrIllegalTransition }

func invalid(field, reason string) error { return &ValidationError{Field: field, Reason: reason} }
