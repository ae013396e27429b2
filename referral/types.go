package referral

import (
	"time"

	"github.com/socialcommerce/sdk/internal/check"
)

// Limits of the inputs. They bound storage rows and the work of one command.
const (
	MaxIDLength     = check.MaxIDLength
	MaxReasonLength = 512
	// MaxLevels is the deepest any Policy may reach; the presets stay at 2
	// or 3.
	MaxLevels = 10
	// MaxChainWalk bounds the ancestor walk of the cycle check. A tree
	// deeper than this refuses new bindings under it (ErrCycle is never
	// claimed falsely: the walk reports ErrConflict).
	MaxChainWalk = 10000
	// MaxListLimit bounds one page of a list (UserCodes, BindingHistory).
	MaxListLimit = 500
	// MaxConfigRereads bounds Config.MaxRereads: each re-read is a read
	// and a write more for one command, and a command that lost this often
	// to concurrent changes had better report ErrConflict than keep going.
	MaxConfigRereads = 100
	// DefaultMaxCodesPerUser is a programme's limit of invite codes per
	// user when Programme.MaxCodesPerUser is 0 (also a programme stored
	// before the field existed): enough for a code per channel or
	// campaign, few enough that a user cannot grow the store without bound.
	DefaultMaxCodesPerUser = 50
	// MaxCodesPerUserCeiling bounds Programme.MaxCodesPerUser: twenty full
	// pages of UserCodes for one user.
	MaxCodesPerUserCeiling = 20 * MaxListLimit
)

// Sizes of the text fields every store keeps (the SQL columns'; an
// adapter never truncates), beside MaxIDLength and MaxReasonLength.
const (
	// MaxStoredCodeLength bounds InviteCode.Code (a generated code is at
	// most MaxCodeLength plus its check character).
	MaxStoredCodeLength = 32
	// MaxChannelLength bounds InviteCode.Channel.
	MaxChannelLength = 128
	// MaxActorLength bounds the Actor of a Binding, a BindingChange and a
	// Distributor.
	MaxActorLength = 128
	// MaxBindingCodeLength bounds Binding.Code, the code or share
	// reference a binding came from.
	MaxBindingCodeLength = 128
)

// BindMode says how a programme binds a user to a referrer.
type BindMode string

// Binding modes.
const (
	// BindFirstTouch: the first referrer wins, permanently. Only an admin
	// override rebinds.
	BindFirstTouch BindMode = "first_touch"
	// BindFirstTouchLocked: the first referrer wins for Programme.LockPeriod;
	// after that a new touch rebinds (and locks again).
	BindFirstTouchLocked BindMode = "first_touch_locked"
	// BindLastTouch: every touch rebinds; a binding attributes orders only
	// within Programme.AttributionWindow after it was made.
	BindLastTouch BindMode = "last_touch"
)

// Source is how a binding came about.
type Source string

// Binding sources.
const (
	SourceCode     Source = "code"
	SourceLink     Source = "link"
	SourcePoster   Source = "poster"
	SourceGroupBuy Source = "groupbuy_invite"
	SourceAdmin    Source = "admin"
)

// Valid reports whether s is a known source.
func (s Source) Valid() bool {
	switch s {
	case SourceCode, SourceLink, SourcePoster, SourceGroupBuy, SourceAdmin:
		return true
	}
	return false
}

// Approval says how a distributor application is approved.
type Approval string

// Approval modes.
const (
	// ApproveManual: an operator approves or rejects every application.
	ApproveManual Approval = "manual"
	// ApproveAuto: an application is approved at once when the host's rule
	// (Config.ApproveRule, all when nil) accepts it, else it waits for an
	// operator.
	ApproveAuto Approval = "auto"
)

// FrozenRule says what a frozen (or otherwise inactive) ancestor does to an
// attribution.
type FrozenRule string

// Frozen rules. Neither ever pays an ancestor deeper than the programme's
// levels: a skipped level is lost, not compressed upwards.
const (
	// FrozenSkipLevel: the frozen ancestor's level pays nobody; the levels
	// above it still pay.
	FrozenSkipLevel FrozenRule = "skip_level"
	// FrozenStopChain: nothing above a frozen ancestor pays.
	FrozenStopChain FrozenRule = "stop_chain"
)

// Programme is one referral (分销) programme of a shop.
type Programme struct {
	// ID follows the ID rules and, for a programme created now, holds no
	// ':', which separates the parts of the programme's event keys
	// (CheckNewProgramme).
	ID     string
	Policy Policy
	// Levels is how many levels pay, 1..Policy.MaxLevels. With
	// SelfPurchaseSelfLevel1 the buyer's own purchase takes level 1.
	Levels int
	// LevelRates[i] is the commission rate of level i+1 as a fraction of the
	// line's net price; len(LevelRates) == Levels.
	LevelRates []float64
	BindMode   BindMode
	// LockPeriod is how long a BindFirstTouchLocked binding holds.
	LockPeriod time.Duration
	// AttributionWindow is how long a BindLastTouch binding attributes.
	AttributionWindow time.Duration
	SelfPurchase      SelfPurchaseRule
	Frozen            FrozenRule
	Approval          Approval
	// NewUsersOnly binds only users that the host's Config.IsNewUser
	// predicate calls new.
	NewUsersOnly bool
	// ReferrerMustBeDistributor binds only to active distributors.
	ReferrerMustBeDistributor bool
	// SignupReward pays for a sign-up alone (a recruitment reward). Only a
	// policy with RecruitmentRewards allows it; no preset does.
	SignupReward bool
	// EntryFee makes becoming a distributor cost money (or a qualifying
	// purchase). Only a policy with EntryFeeAllowed allows it; no preset
	// does.
	EntryFee bool
	// MaxCodesPerUser is how many invite codes a user may be issued in the
	// programme, revoked ones included (a revoked code stays stored and
	// listed, so issuing and revoking in turn would grow the store as
	// surely as issuing alone); 0 means DefaultMaxCodesPerUser; at most
	// MaxCodesPerUserCeiling. IssueCode beyond it is ErrCodeLimit.
	MaxCodesPerUser int
	CreatedAt       time.Time
}

// CodeLimit is the programme's effective limit of invite codes per user:
// MaxCodesPerUser, or DefaultMaxCodesPerUser when it is 0. Stores enforce
// it in CreateCode.
func (p *Programme) CodeLimit() int {
	if p.MaxCodesPerUser == 0 {
		return DefaultMaxCodesPerUser
	}
	return p.MaxCodesPerUser
}

// DistributorState is the lifecycle state of a distributor in a programme.
type DistributorState string

// Distributor states. Only active distributors earn. Rejected and revoked are
// final.
const (
	DistributorNone     DistributorState = "" // never applied
	DistributorPending  DistributorState = "pending"
	DistributorActive   DistributorState = "active"
	DistributorFrozen   DistributorState = "frozen"
	DistributorRejected DistributorState = "rejected"
	DistributorRevoked  DistributorState = "revoked"
)

// Distributor is a user's distributor status in a programme.
type Distributor struct {
	ProgrammeID string
	UserID      string
	State       DistributorState
	AppliedAt   time.Time
	UpdatedAt   time.Time
	// Actor and Reason of the last change ("system" for automatic ones).
	Actor   string
	Reason  string
	Version int64
}

// Binding is a user's current referrer in a programme.
type Binding struct {
	ProgrammeID string
	UserID      string
	ReferrerID  string
	Source      Source
	// Code is the invite code or share reference the binding came from.
	Code    string
	BoundAt time.Time
	// LockedUntil: before it, a non-admin rebind is refused (first touch).
	// Zero: locked forever for BindFirstTouch; none for BindLastTouch.
	LockedUntil time.Time
	// ExpiresAt: from it on, the binding attributes nothing (last touch).
	// Zero: never. A last-touch repeat to the same referrer moves it
	// later in place (BindDecision.Refresh).
	ExpiresAt time.Time
	Actor     string
	Reason    string
	// Version counts the binding's changes: it is the Version of its last
	// BindingChange. A refresh of the window does not change it.
	Version int64
}

// BindingChange is one entry of a user's append-only binding history.
type BindingChange struct {
	ProgrammeID  string
	UserID       string
	FromReferrer string // empty for the first binding
	ToReferrer   string
	Source       Source
	At           time.Time
	Actor        string
	Reason       string
	Version      int64 // the binding's version after the change
}

// InviteCode is a short code that binds its user's invitees.
type InviteCode struct {
	Code        string // normalised (upper case, check character included)
	ProgrammeID string
	UserID      string
	Channel     string // channel or campaign, free text; may be empty
	CreatedAt   time.Time
	RevokedAt   time.Time // zero while valid
}

// Revoked reports whether the code was revoked; a nil c was not.
func (c *InviteCode) Revoked() bool { return c != nil && !c.RevokedAt.IsZero() }

// Link is one step of an ancestor chain as the store reads it: a user, its
// distributor state, and the binding that leads from the step before to it.
type Link struct {
	UserID string
	State  DistributorState
	// BindingExpiresAt is the expiry of the previous step's binding to this
	// user (zero: none); for the buyer (step 0) it is zero.
	BindingExpiresAt time.Time
}

// DropReason says why a chain member was not paid.
type DropReason string

// Drop reasons.
const (
	DropNone           DropReason = ""
	DropFrozen         DropReason = "frozen"
	DropNotDistributor DropReason = "not_distributor"
	DropOverCap        DropReason = "over_cap"
	DropSelfPurchase   DropReason = "self_purchase"
	DropChainStopped   DropReason = "chain_stopped"
	DropExpired        DropReason = "binding_expired"
)

// Level is one member of an attributed chain.
type Level struct {
	// Depth is the distance from the buyer: 0 the buyer, 1 the referrer.
	Depth  int
	UserID string
	// Level is the paid level (1..Levels); 0 when dropped.
	Level int
	Rate  float64 // the programme's rate of Level; 0 when dropped
	Drop  DropReason
}

// Attribution is the snapshot of the chain used for one order: taken at
// order time and never recomputed from the live tree.
type Attribution struct {
	ProgrammeID   string
	OrderRef      string
	BuyerID       string
	At            time.Time
	PolicyName    string
	PolicyVersion int
	// Rules the snapshot was computed under.
	Levels       int
	LevelRates   []float64
	SelfPurchase SelfPurchaseRule
	Frozen       FrozenRule
	// Rules is the version of Decide's rules the snapshot was computed
	// under: CurrentRules for a new one; 0 for one made before versions
	// were kept, which Replay decides as it was decided then.
	Rules int
	// Chain is the input: the buyer then its ancestors, as read.
	Chain []Link
	// Result is the output of Decide on the input.
	Result    []Level
	CreatedAt time.Time
}

// Beneficiaries returns the paid members, by level; a nil a has none.
func (a *Attribution) Beneficiaries() []Level {
	if a == nil {
		return nil
	}
	var out []Level
	for _, l := range a.Result {
		if l.Level > 0 {
			out = append(out, l)
		}
	}
	return out
}

// DownlineStats counts a user's downline for dashboards; Second is -1 when
// the policy allows only one level.
type DownlineStats struct {
	Direct int
	Second int
}

// Event topics written to the outbox.
const (
	TopicBound               = "referral.bound"
	TopicDistributorChanged  = "referral.distributor_changed"
	TopicAttributionRecorded = "referral.attributed"
)
