package referral

import (
	"slices"
	"time"

	"github.com/socialcommerce/sdk/internal/microtime"
)

// distributorTransitions is the distributor lifecycle. A move not listed is
// illegal; rejected and revoked are final.
var distributorTransitions = map[DistributorState][]DistributorState{
	DistributorNone:     {DistributorPending, DistributorActive}, // apply (auto-approved: active)
	DistributorPending:  {DistributorActive, DistributorRejected},
	DistributorActive:   {DistributorFrozen, DistributorRevoked},
	DistributorFrozen:   {DistributorActive, DistributorRevoked},
	DistributorRejected: nil,
	DistributorRevoked:  nil,
}

// CheckDistributorTransition returns a *TransitionError unless from → to is
// legal.
func CheckDistributorTransition(from, to DistributorState) error {
	if !slices.Contains(distributorTransitions[from], to) {
		return &TransitionError{From: from, To: to}
	}
	return nil
}

// Valid reports whether s is a known distributor state (DistributorNone
// included).
func (s DistributorState) Valid() bool {
	_, ok := distributorTransitions[s]
	return ok
}

// Final reports whether no transition leaves s.
func (s DistributorState) Final() bool {
	return s != DistributorNone && len(distributorTransitions[s]) == 0
}

// CheckNoCycle decides whether binding user to referrer keeps the forest
// acyclic: ancestors is the referrer's chain upwards (its referrer first),
// complete up to a root. Self-referral is ErrSelfReferral; user among the
// ancestors is ErrCycle.
func CheckNoCycle(user, referrer string, ancestors []string) error {
	if user == referrer {
		return ErrSelfReferral
	}
	if slices.Contains(ancestors, user) {
		return ErrCycle
	}
	return nil
}

// BindDecision is what DecideBind allows. At most one of Noop, Refresh
// and Rebind is set; none is a first binding.
type BindDecision struct {
	// Noop: the user is already bound to this referrer, and a repeat
	// changes nothing (first touch, with or without a lock).
	Noop bool
	// Refresh: the user is already bound to this referrer under last
	// touch; the repeat extends the binding's window to ExpiresAt in
	// place. It is not a binding change: no history entry, no new
	// version, no event (BindWrite.Refresh).
	Refresh bool
	// Rebind: the binding replaces current; the write expects its version.
	Rebind bool
	// LockedUntil and ExpiresAt of the new binding (of a refresh, the new
	// end of the window).
	LockedUntil time.Time
	ExpiresAt   time.Time
}

// DecideBind decides whether a bind of a user (whose current binding is
// current, nil when none) to referrer at now is allowed under the
// programme's mode. override is an admin override: it always rebinds, to
// the current referrer too (recording who and why). A repeat to the
// current referrer is a Noop, or under last touch a Refresh of the window.
//
// The new binding's LockedUntil and ExpiresAt are now plus the period,
// rounded up to a whole microsecond: every store keeps that precision, so
// a lock or a window never ends before its full period on any of them
// (a SQL column would otherwise drop the nanoseconds and end it early).
// A nil p or a zero now is a *ValidationError.
func DecideBind(p *Programme, current *Binding, referrer string, override bool, now time.Time) (BindDecision, error) {
	if p == nil {
		return BindDecision{}, invalid("programme", "must not be nil")
	}
	if now.IsZero() {
		return BindDecision{}, invalid("now", "must be set")
	}
	var d BindDecision
	switch p.BindMode {
	case BindFirstTouchLocked:
		d.LockedUntil = microtime.Ceil(now.Add(p.LockPeriod))
	case BindLastTouch:
		d.ExpiresAt = microtime.Ceil(now.Add(p.AttributionWindow))
	}
	if current == nil {
		return d, nil
	}
	if current.ReferrerID == referrer && !override {
		if p.BindMode != BindLastTouch {
			return BindDecision{Noop: true}, nil
		}
		// The referrer stays: only the window moves. A history entry per
		// click on the same link would grow without bound, and list
		// non-changes.
		return BindDecision{Refresh: true, ExpiresAt: d.ExpiresAt}, nil
	}
	d.Rebind = true
	if override {
		return d, nil
	}
	switch p.BindMode {
	case BindFirstTouch:
		return BindDecision{}, ErrAlreadyBound
	case BindFirstTouchLocked:
		if now.Before(current.LockedUntil) {
			return BindDecision{}, ErrBindingLocked
		}
	}
	return d, nil
}

// CurrentRules is the version of the rules Decide applies, recorded in
// each new Attribution (Attribution.Rules). Version 1: a frozen buyer's
// own purchase follows the self-purchase rule, as an active buyer's does.
// Before it (version 0), only an active buyer's did, so freezing a
// distributor made its own purchases pay its upline, from level 1 under
// SelfPurchaseNone and one level higher under SelfPurchaseSelfLevel1: a
// sanction that raised others' pay.
const CurrentRules = 1

// Decide computes the attribution of a purchase by the buyer (chain[0],
// with its distributor state) from its ancestors (chain[1:], nearest first)
// at time at, under the programme's rules (CurrentRules). It is pure: an
// Attribution's Result is Replay of its own inputs.
//
// Only active distributors are paid. A frozen ancestor (and any other
// inactive one) loses its level (FrozenSkipLevel) or ends the chain
// (FrozenStopChain); levels are never compressed, so no one deeper than
// Levels is ever paid. The first ancestor beyond Levels is listed as
// DropOverCap. A binding expired at at ends the chain (DropExpired). The
// buyer's own purchase follows the self-purchase rule when the buyer is an
// active or a frozen distributor; a frozen buyer's level-1 slot under
// SelfPurchaseSelfLevel1 is dropped as a frozen ancestor's is, so a freeze
// never raises anyone's pay.
func Decide(levels int, rates []float64, self SelfPurchaseRule, frozen FrozenRule, chain []Link, at time.Time) []Level {
	return decide(CurrentRules, levels, rates, self, frozen, chain, at)
}

// decide is Decide under rules version rules (see CurrentRules).
func decide(rules, levels int, rates []float64, self SelfPurchaseRule, frozen FrozenRule, chain []Link, at time.Time) []Level {
	if len(chain) == 0 {
		return nil
	}
	// The capacity is only a hint, and levels is the caller's (or, through
	// Replay, a stored snapshot's): clamped, so that a negative or huge
	// levels (levels+2 overflowing) cannot make make panic.
	out := make([]Level, 0, min(len(chain), max(0, min(levels, MaxLevels))+2))
	buyer := chain[0]
	ancestors := chain[1:]
	level := 1
	stopped := DropNone
	if buyer.State == DistributorActive || rules >= 1 && buyer.State == DistributorFrozen {
		switch self {
		case SelfPurchaseSelfLevel1:
			l := Level{Depth: 0, UserID: buyer.UserID, Level: 1, Rate: rateOf(rates, 1)}
			if buyer.State == DistributorFrozen {
				// The frozen buyer's level is lost as a frozen ancestor's.
				l = Level{Depth: 0, UserID: buyer.UserID, Drop: DropFrozen}
				if frozen == FrozenStopChain {
					stopped = DropChainStopped
				}
			}
			out = append(out, l)
			level = 2
		case SelfPurchaseNone:
			out = append(out, Level{Depth: 0, UserID: buyer.UserID, Drop: DropSelfPurchase})
			stopped = DropSelfPurchase
		default:
			out = append(out, Level{Depth: 0, UserID: buyer.UserID, Drop: DropSelfPurchase})
		}
	}
	seen := map[string]bool{buyer.UserID: true}
	for i, a := range ancestors {
		if seen[a.UserID] {
			break // a cycle: never written, but never followed either
		}
		seen[a.UserID] = true
		l := Level{Depth: i + 1, UserID: a.UserID}
		switch {
		case level > levels:
			l.Drop = DropOverCap
			out = append(out, l)
			return out
		case !a.BindingExpiresAt.IsZero() && !at.Before(a.BindingExpiresAt):
			l.Drop = DropExpired
			out = append(out, l)
			return out
		case stopped != DropNone:
			l.Drop = stopped
		case a.State == DistributorActive:
			l.Level, l.Rate = level, rateOf(rates, level)
		case a.State == DistributorFrozen:
			l.Drop = DropFrozen
			if frozen == FrozenStopChain {
				stopped = DropChainStopped
			}
		default:
			l.Drop = DropNotDistributor
			if frozen == FrozenStopChain {
				stopped = DropChainStopped
			}
		}
		out = append(out, l)
		level++
	}
	return out
}

func rateOf(rates []float64, level int) float64 {
	if level-1 < len(rates) {
		return rates[level-1]
	}
	return 0
}

// ChainDepth is how many ancestors Attribute reads for a programme: its
// levels plus one, to name the first ancestor over the cap. A nil p reads
// none: 0, a depth that CheckChainDepth refuses.
func ChainDepth(p *Programme) int {
	if p == nil {
		return 0
	}
	return p.Levels + 1
}
