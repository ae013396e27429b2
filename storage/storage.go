// Package storage holds what every storage adapter of the SDK shares: the
// transactional-outbox Event, the errors that adapters report, and, in this
// comment, the contract an adapter must honour.
//
// # Adapter contract
//
// Domain packages (groupbuy, ...) declare the narrow Store interface they
// consume. An adapter implements it for one kind of storage. Every write
// method applies a change that the domain's pure rules decided, as a guarded
// delta: the preconditions handed to the method (team still forming, seats
// taken below capacity, seat still reserved, version unchanged, ...) are
// evaluated in the same atomic step as the write, together with the new rows,
// the outbox events and the idempotency record. When a precondition fails the
// adapter changes nothing and returns the domain's sentinel error (for example
// groupbuy.ErrTeamFull), never a partial write.
//
// Adapters hold no business rules beyond evaluating the preconditions they
// are handed. Reads return plain values that the caller may keep.
//
// Every adapter also implements Outbox. Events are written in the same atomic
// step as the state change that produced them; a host drains them with Claim
// and Ack. An event that was claimed but not acked before its lease ran out is
// handed out again by a later Claim, with the same ID and Key and an
// incremented Attempts, so delivery is at least once: consumers dedupe
// deliveries on ID, and pass Key to whatever applies the effect (a payment
// provider's idempotency key), since a retried effect comes as a new event
// with the same Key.
//
// The conformance suite in package storagetest proves these properties for
// any adapter; run it against your own adapter before relying on it.
package storage

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Event is one message in the transactional outbox.
type Event struct {
	// ID identifies this event row; Ack takes it.
	ID string
	// Topic names the event kind, e.g. "groupbuy.team_succeeded".
	Topic string
	// Key is the stable idempotency key of the effect the event asks for,
	// e.g. "gb:<team>:<seat>:refund". A consumer that moves money passes it
	// to the payment provider so that a redelivery never pays twice. Several
	// events may share a key when they ask for the same effect again (a
	// refund retried after it failed).
	Key string
	// Payload is the event body as JSON.
	Payload []byte
	// CreatedAt is when the state change that produced the event happened.
	CreatedAt time.Time
	// Attempts counts how many times Claim has handed the event out,
	// including the Claim that returned it.
	Attempts int
}

// Outbox is the host-facing side of the transactional outbox.
type Outbox interface {
	// Claim leases up to limit events that are not acked and not currently
	// leased, oldest first, for the given lease duration.
	Claim(ctx context.Context, limit int, lease time.Duration) ([]Event, error)
	// Ack removes delivered events. Unknown IDs are ignored so that an Ack
	// can be retried.
	Ack(ctx context.Context, ids []string) error
}

// MaxClaim is the largest limit Claim accepts.
const MaxClaim = 10000

// ValidateClaim checks the arguments of Outbox.Claim; adapters call it first.
func ValidateClaim(limit int, lease time.Duration) error {
	if limit <= 0 || limit > MaxClaim {
		return &ValidationError{Field: "limit", Reason: fmt.Sprintf("must be in 1..%d", MaxClaim)}
	}
	if lease <= 0 {
		return &ValidationError{Field: "lease", Reason: "must be positive"}
	}
	return nil
}

// ValidateAck checks the arguments of Outbox.Ack; adapters call it first.
func ValidateAck(ids []string) error {
	if len(ids) > MaxClaim {
		return &ValidationError{Field: "ids", Reason: fmt.Sprintf("at most %d per call", MaxClaim)}
	}
	for _, id := range ids {
		if id == "" {
			return &ValidationError{Field: "ids", Reason: "empty id"}
		}
	}
	return nil
}

var (
	// ErrNotFound reports that a requested record does not exist.
	ErrNotFound = errors.New("storage: not found")
	// ErrConflict reports that a guarded write lost to a concurrent change
	// (a version or state precondition no longer held, or a unique key
	// already existed).
	ErrConflict = errors.New("storage: conflict")
	// ErrRetryable marks an error that a transaction retry may cure
	// (serialization failure, deadlock, database busy). Test with
	// IsRetryable.
	ErrRetryable = errors.New("storage: retryable")
)

// ValidationError reports bad input: which field, and why.
type ValidationError struct {
	Field  string // the argument or field, e.g. "CampaignID" or "Leader.TeamID"
	Reason string // what it must be, e.g. "must not be empty"
}

// Error names the field and the reason.
func (e *ValidationError) Error() string {
	return "invalid " + e.Field + ": " + e.Reason
}

// IsRetryable reports whether err was marked retryable by an adapter: the
// transaction it belonged to was rolled back by the database (serialization
// failure, deadlock, busy) and may succeed if the caller runs it again. An
// adapter bound to a host's transaction returns such errors instead of
// retrying, because only the host can rerun its own work.
func IsRetryable(err error) bool { return errors.Is(err, ErrRetryable) }

// MarkRetryable wraps err so that IsRetryable reports true while errors.Is
// and errors.As still see err.
func MarkRetryable(err error) error {
	if err == nil {
		return nil
	}
	return retryableError{err}
}

type retryableError struct{ err error }

func (e retryableError) Error() string { return e.err.Error() }
func (e retryableError) Unwrap() []error {
	return []error{ErrRetryable, e.err}
}
