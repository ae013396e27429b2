package referral

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/socialcommerce/sdk/internal/check"
	"github.com/socialcommerce/sdk/storage"
)

// Store is the storage the referral Service consumes. Adapters live in
// storage/memory and storage/sqlstore; storage/storagetest is the
// conformance suite every adapter must pass.
//
// Every write applies a guarded delta decided by the Service: the adapter
// checks the preconditions listed on each write in the same atomic step as
// the write and, when one fails, changes nothing and returns the sentinel
// named there. Reads return plain values the caller may keep.
type Store interface {
	// CreateProgramme stores a programme; ErrConflict if the ID exists, a
	// *ValidationError (CheckNewProgramme) if it breaks its own policy or
	// its ID holds ':'.
	CreateProgramme(ctx context.Context, p *Programme) error
	// GetProgramme returns a programme or ErrNotFound.
	GetProgramme(ctx context.Context, id string) (Programme, error)

	// CreateCode stores an invite code; ErrNotFound if the programme does
	// not exist; ErrCodeLimit if the user holds the programme's CodeLimit
	// of codes in it already (revoked ones count), checked in the same
	// atomic step as the insert, so that concurrent issuers never exceed
	// it; else ErrCodeTaken if the code exists (in any programme).
	CreateCode(ctx context.Context, c *InviteCode) error
	// GetCode returns a code (revoked ones too) or ErrCodeNotFound.
	GetCode(ctx context.Context, code string) (InviteCode, error)
	// RevokeCode sets a code's RevokedAt; ErrCodeNotFound, or
	// ErrCodeRevoked when it was revoked already.
	RevokeCode(ctx context.Context, code string, at time.Time) (InviteCode, error)
	// UserCodes lists up to limit (CheckListLimit: 1..MaxListLimit) of a
	// user's codes in a programme, by CreatedAt to the microsecond, then
	// Code. A non-zero after (CheckCodePosition) starts the list after that
	// position (keyset paging: codes issued meanwhile, which come last, do
	// not shift the later pages).
	UserCodes(ctx context.Context, programmeID, userID string, after CodePosition, limit int) ([]InviteCode, error)

	// SetDistributor applies a distributor state change; see
	// DistributorWrite.
	SetDistributor(ctx context.Context, w *DistributorWrite) (Distributor, error)
	// GetDistributor returns a user's distributor record or ErrNotFound.
	GetDistributor(ctx context.Context, programmeID, userID string) (Distributor, error)

	// Bind applies a binding; see BindWrite.
	Bind(ctx context.Context, w *BindWrite) (Binding, error)
	// GetBinding returns a user's current binding or ErrNotFound.
	GetBinding(ctx context.Context, programmeID, userID string) (Binding, error)
	// BindingHistory lists up to limit (CheckListLimit: 1..MaxListLimit)
	// of a user's binding changes, oldest first (by Version), those with a
	// Version above afterVersion (CheckHistoryPosition: 0 for the start).
	BindingHistory(ctx context.Context, programmeID, userID string, afterVersion int64, limit int) ([]BindingChange, error)

	// Chain returns the user (its distributor state, zero when it never
	// applied) followed by up to depth ancestors, nearest first, each with
	// its distributor state and the expiry of the binding that leads to it.
	// On SQL it is one round trip.
	Chain(ctx context.Context, programmeID, userID string, depth int) ([]Link, error)
	// Downline counts the users bound to userID (Direct) and, when depth
	// is 2, bound to those (Second; -1 when depth is 1).
	Downline(ctx context.Context, programmeID, userID string, depth int) (DownlineStats, error)

	// SaveAttribution stores a snapshot unless one exists for
	// (ProgrammeID, OrderRef): it returns the stored snapshot and whether
	// this call created it. Events are stored only when it did.
	SaveAttribution(ctx context.Context, a *Attribution, events []storage.Event) (Attribution, bool, error)
	// GetAttribution returns a snapshot or ErrNotFound.
	GetAttribution(ctx context.Context, programmeID, orderRef string) (Attribution, error)
}

// DistributorWrite moves a user's distributor record from state From
// (DistributorNone: no record yet, which the write creates) to Next.State
// and stores Next with Version bumped to the stored version + 1.
//
// Preconditions: the programme exists (ErrNotFound); the record's current
// state is From, and when Version > 0 its version is Version (ErrConflict
// otherwise).
type DistributorWrite struct {
	From    DistributorState
	Version int64
	Next    Distributor
	Events  []storage.Event
}

// BindWrite binds Binding.UserID to Binding.ReferrerID (or rebinds it) and
// appends Change to the history. The stored Version is 1 for a first
// binding, else the expected version + 1. The history row takes its
// programme, user, new referrer, source and version from the binding and
// its previous referrer from the binding it replaces, read in the same
// atomic step; only At, Actor and Reason come from Change.
//
// Preconditions, checked in this order, in one atomic step with the write:
//
//   - the programme exists (ErrNotFound);
//   - user ≠ referrer (ErrSelfReferral);
//   - ExpectVersion == 0: the user has no binding (ErrAlreadyBound);
//     ExpectVersion > 0: the user's binding has that version (ErrConflict);
//   - RequireActiveReferrer: the referrer is an active distributor
//     (ErrNotDistributor);
//   - the user is not among the referrer's ancestors (ErrCycle), walked to
//     the root (at most MaxChainWalk steps, else ErrConflict).
//
// Refresh (a last-touch repeat to the current referrer, see
// BindDecision.Refresh) is not a binding change: it moves the user's
// binding's ExpiresAt to Binding.ExpiresAt in place, unless it ends later
// already (a zero ExpiresAt never ends, so it stays zero), and changes
// nothing else: no history row (Change is ignored), the version stays
// ExpectVersion. Its preconditions: the programme exists
// (ErrNotFound); user ≠ referrer (ErrSelfReferral); the user's binding has
// version ExpectVersion (> 0) and referrer Binding.ReferrerID
// (ErrConflict); RequireActiveReferrer as above. The referrer stays, so no
// cycle walk. It returns the binding as stored.
//
// Atomicity must hold against concurrent binds: two binds of the same new
// user (one wins, the other gets ErrAlreadyBound) and binds that would
// close a cycle together (A→B racing B→A, or longer rings: at least one
// gets ErrCycle), without making binds under the same referrer wait for
// each other. The SQL adapter locks the user's node exclusively and every
// node of the referrer's chain with a shared lock before it checks; the
// memory adapter holds its mutex.
type BindWrite struct {
	Binding               Binding
	ExpectVersion         int64
	RequireActiveReferrer bool
	// Refresh extends the current binding's window in place (see above).
	Refresh bool
	Change  BindingChange
	Events  []storage.Event
}

// Argument checks that every adapter runs first (as storage.ValidateClaim
// for the outbox); each returns a *ValidationError.

// CheckKeys checks (field, value) pairs of IDs; an odd number of
// arguments (a field without its value) is a *ValidationError too.
func CheckKeys(kv ...string) error {
	if len(kv)%2 != 0 {
		return invalid("kv", "must be (field, value) pairs: a field has no value")
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if err := validateID(kv[i], kv[i+1]); err != nil {
			return err
		}
	}
	return nil
}

// CheckChainDepth checks the depth argument of Store.Chain.
func CheckChainDepth(depth int) error {
	if depth < 1 || depth > MaxLevels+1 {
		return invalid("depth", fmt.Sprintf("must be in 1..%d", MaxLevels+1))
	}
	return nil
}

// CheckDownlineDepth checks the depth argument of Store.Downline.
func CheckDownlineDepth(depth int) error {
	if depth < 1 || depth > 2 {
		return invalid("depth", "must be 1 or 2")
	}
	return nil
}

// CheckBindWrite checks a BindWrite's arguments.
func CheckBindWrite(w *BindWrite) error {
	if w == nil {
		return invalid("write", "must not be nil")
	}
	b := &w.Binding
	if err := CheckKeys("ProgrammeID", b.ProgrammeID, "UserID", b.UserID, "ReferrerID", b.ReferrerID); err != nil {
		return err
	}
	if !b.Source.Valid() {
		return invalid("Source", fmt.Sprintf("unknown source %q", b.Source))
	}
	if w.ExpectVersion < 0 {
		return invalid("ExpectVersion", "must be ≥ 0")
	}
	if b.BoundAt.IsZero() {
		return invalid("BoundAt", "must be set")
	}
	if w.Refresh && w.ExpectVersion == 0 {
		return invalid("ExpectVersion", "a refresh needs the current binding's version")
	}
	if w.Refresh && b.ExpiresAt.IsZero() {
		return invalid("ExpiresAt", "a refresh needs the window's new end")
	}
	return errors.Join(checkTime("BoundAt", b.BoundAt), checkTime("LockedUntil", b.LockedUntil), checkTime("ExpiresAt", b.ExpiresAt),
		checkTime("Change.At", w.Change.At),
		checkText("Reason", b.Reason, MaxReasonLength), checkText("Change.Reason", w.Change.Reason, MaxReasonLength),
		checkText("Code", b.Code, MaxBindingCodeLength), checkText("Actor", b.Actor, MaxActorLength),
		checkText("Change.Actor", w.Change.Actor, MaxActorLength), check.Events(w.Events))
}

// CheckInviteCode checks CreateCode's code: its keys, the code and channel
// within their columns, CreatedAt set and its times in the years 1 to
// 9999 (checkTime).
func CheckInviteCode(c *InviteCode) error {
	if c == nil {
		return invalid("code", "must not be nil")
	}
	if err := CheckKeys("Code", c.Code, "ProgrammeID", c.ProgrammeID, "UserID", c.UserID); err != nil {
		return err
	}
	if c.CreatedAt.IsZero() {
		return invalid("CreatedAt", "must be set")
	}
	return errors.Join(checkTime("CreatedAt", c.CreatedAt), checkTime("RevokedAt", c.RevokedAt),
		checkText("Code", c.Code, MaxStoredCodeLength), checkText("Channel", c.Channel, MaxChannelLength))
}

// checkTime holds a time to the years every store keeps, 1 to 9999
// (check.TimeProblem): MySQL refuses later ones. The zero time passes;
// callers that need a time set say so first.
func checkTime(field string, t time.Time) error {
	if p := check.TimeProblem(t); p != "" {
		return invalid(field, p)
	}
	return nil
}

// checkText holds free text to what every store keeps: at most max
// bytes, valid UTF-8, no NUL (check.TextProblem).
func checkText(field, s string, max int) error {
	if p := check.TextProblem(s, max); p != "" {
		return invalid(field, p)
	}
	return nil
}

// CheckDistributorWrite checks a DistributorWrite's arguments.
func CheckDistributorWrite(w *DistributorWrite) error {
	if w == nil {
		return invalid("write", "must not be nil")
	}
	if err := CheckKeys("ProgrammeID", w.Next.ProgrammeID, "UserID", w.Next.UserID); err != nil {
		return err
	}
	if !w.From.Valid() || !w.Next.State.Valid() || w.Next.State == DistributorNone {
		return invalid("state", "unknown distributor state")
	}
	return errors.Join(checkTime("AppliedAt", w.Next.AppliedAt), checkTime("UpdatedAt", w.Next.UpdatedAt),
		checkText("Reason", w.Next.Reason, MaxReasonLength), checkText("Actor", w.Next.Actor, MaxActorLength), check.Events(w.Events))
}

// CheckAttribution checks SaveAttribution's snapshot.
func CheckAttribution(a *Attribution) error {
	if a == nil {
		return invalid("attribution", "must not be nil")
	}
	if err := CheckKeys("ProgrammeID", a.ProgrammeID, "OrderRef", a.OrderRef, "BuyerID", a.BuyerID); err != nil {
		return err
	}
	if a.At.IsZero() {
		return invalid("At", "must be set")
	}
	if a.Rules < 0 || a.Rules > CurrentRules {
		return invalid("Rules", fmt.Sprintf("must be in 0..%d", CurrentRules))
	}
	// Every SaveAttribution runs this: a link's field name is formatted
	// only for a link refused.
	var chain []error
	for i := range a.Chain {
		if p := check.TimeProblem(a.Chain[i].BindingExpiresAt); p != "" {
			chain = append(chain, invalid(fmt.Sprintf("Chain[%d].BindingExpiresAt", i), p))
		}
	}
	return errors.Join(checkTime("At", a.At), checkTime("CreatedAt", a.CreatedAt), errors.Join(chain...),
		checkText("PolicyName", a.PolicyName, MaxIDLength))
}
