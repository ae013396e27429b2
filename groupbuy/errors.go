package groupbuy

import (
	"errors"
	"fmt"

	"github.com/socialcommerce/sdk/internal/sentinel"
	"github.com/socialcommerce/sdk/storage"
)

// Sentinel errors, matched with errors.Is. A command that returns one of
// them changed nothing, but for a Join refused on its second try (say
// ErrLimitExceeded, or ErrTeamFull when another join took the place),
// which may have released its team's lapsed reservations first, as
// ProcessDue would (see Join). ErrNotFound and ErrConflict also match
// storage's ErrNotFound and ErrConflict.
var (
	ErrNotFound          = sentinel.New("groupbuy: not found", storage.ErrNotFound)
	ErrCampaignNotActive = errors.New("groupbuy: campaign not active or outside its window")
	ErrTeamFull          = errors.New("groupbuy: team full")
	// ErrTeamChurned refuses a join to a team that has had all the seat
	// rows it may ever have (MaxSeatRows): too many of its joins were
	// cancelled or lapsed. The team still runs to its end (payments,
	// close), but takes nobody new. It also matches ErrTeamFull, so a
	// caller that offers another team (or Match) when a team is full does
	// the same here.
	ErrTeamChurned          = sentinel.New("groupbuy: team took its most seat rows: join another", ErrTeamFull)
	ErrTeamClosed           = errors.New("groupbuy: team closed or expired")
	ErrAlreadyJoined        = errors.New("groupbuy: user already holds a seat in this team")
	ErrLimitExceeded        = errors.New("groupbuy: per-user limit exceeded")
	ErrSeatNotReserved      = errors.New("groupbuy: seat is not reserved")
	ErrAmountMismatch       = errors.New("groupbuy: payment amount or currency does not match the seat")
	ErrNotOwner             = errors.New("groupbuy: seat belongs to another user")
	ErrIdempotencyKeyReused = errors.New("groupbuy: idempotency key reused for a different request")
	// ErrStaleRefundAttempt is returned by MarkRefunded and
	// MarkRefundFailed for a report that names a refund attempt other
	// than the seat's current one (Seat.RefundAttempt): a late or
	// redelivered answer of an earlier attempt, after RetryRefund asked
	// again. Nothing changed and no event was written; the host drops the
	// report (the attempt in flight gets its own answer).
	ErrStaleRefundAttempt = errors.New("groupbuy: report of a refund attempt that is not the seat's current one")
	// ErrConflict reports a guarded write that kept losing to concurrent
	// changes after the bounded number of re-reads.
	ErrConflict = sentinel.New("groupbuy: conflict", storage.ErrConflict)
)

// ValidationError reports bad input: which field, and why. It is the type
// that every package of the SDK uses.
type ValidationError = storage.ValidationError

// TransitionError reports an illegal state change.
type TransitionError struct {
	Entity string // "team", "seat" or "campaign"
	From   string // the state it is in
	To     string // the state the move asked for
}

// Error names the entity and the two states.
func (e *TransitionError) Error() string {
	return fmt.Sprintf("groupbuy: illegal %s transition %s -> %s", e.Entity, e.From, e.To)
}

// ErrIllegalTransition matches every *TransitionError with errors.Is.
var ErrIllegalTransition = errors.New("groupbuy: illegal transition")

// Is makes errors.Is(err, ErrIllegalTransition) true for a *TransitionError.
func (e *TransitionError) Is(target error) bool { return target == ErrIllegalTransition }

func invalid(field, reason string) error { return &ValidationError{Field: field, Reason: reason} }
