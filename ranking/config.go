package ranking

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/socialcommerce/sdk/internal/check"
)

// Limits and defaults of a Config.
const (
	MaxPageSize         = 1000                // largest PageSize and Request.Limit
	MaxPool             = 10000               // largest Pool
	MaxSignals          = 32                  // most signals in a Config
	MaxNameLength       = 64                  // longest signal name
	MaxVersionLength    = 128                 // longest Config.Version
	MaxScopeLength      = 256                 // longest Request.Scope
	MaxServedLimit      = 10000               // largest CursorConfig.MaxServed
	DefaultMaxServed    = 500                 // CursorConfig.MaxServed when 0
	DefaultCursorMaxAge = time.Hour           // CursorConfig.MaxAge when 0
	MaxCursorAge        = 30 * 24 * time.Hour // largest CursorConfig.MaxAge
	MinKeyLength        = 16                  // shortest cursor key, in bytes
	MaxKeyLength        = 1024                // longest cursor key, in bytes
	MaxOldKeys          = 4                   // most CursorConfig.OldKeys
	DefaultMMRLambda    = 0.7                 // MMR.Lambda when 0
)

// Config is a ranking configuration. Build a Ranker from it with New;
// DefaultConfig returns a sensible starting point. A Config is plain data:
// hosts may load it from their own configuration and change it per
// experiment, bumping Version.
type Config struct {
	// Version names this configuration, e.g. "home-2026-11"; required,
	// at most MaxVersionLength bytes. Cursors carry a hash of Version and
	// of every parameter below, so a cursor issued under another
	// configuration is rejected with ErrCursorForeignConfig.
	Version string
	// PageSize is the default number of items per page (k), in
	// 1..MaxPageSize. Request.Limit overrides it per request.
	PageSize int
	// Pool is how many of the best organic candidates (by score) the
	// diversity step chooses the page from; 0 means 3 × the page size.
	// In PageSize..MaxPool; the pool is never smaller than the page.
	Pool int
	// Signals are added, each times its weight, into an item's score;
	// 1..MaxSignals entries with unique names.
	Signals []Weighted
	// Fatigue demotes and, for a while, hides items after the viewer's
	// negative feedback. The zero value disables it.
	Fatigue Fatigue
	// Diversity re-ranks the pool so that one author, brand, product or
	// category does not take the whole page.
	Diversity Diversity
	// Slots are the fixed positions for sponsored and KOL items.
	Slots []Slot
	// KeepOutOfStock keeps OutOfStock candidates; by default they are
	// filtered (FilterOutOfStock).
	KeepOutOfStock bool
	// Cursor configures paging cursors.
	Cursor CursorConfig
}

// Fatigue is the feedback-fatigue rule (after X's FeedbackFatigueScorer):
// for an item whose Candidate.NegativeFeedbackAt is set, with t the time
// since that feedback,
//
//	t < MuteFor:  the item is removed (FilterFatigue)
//	otherwise:    factor = min(1, Floor + (1 − Floor)·(t − MuteFor)/RecoverOver)
//
// and the factor multiplies linear relevance (it adds ln(factor) to the
// score, shown in Explain as the multiplier "fatigue"). X uses MuteFor 14
// days, Floor 0.2 and RecoverOver 140 days. The zero value (MuteFor and
// RecoverOver both 0) disables fatigue.
type Fatigue struct {
	// MuteFor is how long an item stays hidden after negative feedback.
	MuteFor time.Duration
	// RecoverOver is how long the factor takes to climb from Floor to 1;
	// 0 means it is 1 as soon as MuteFor has passed.
	RecoverOver time.Duration
	// Floor is the factor right after MuteFor, in (0, 1]; the zero value
	// means 0.2.
	Floor float64
}

func (f Fatigue) enabled() bool { return f.MuteFor != 0 || f.RecoverOver != 0 }

// Diversity configures the diversity step.
type Diversity struct {
	// Penalties are soft per-axis penalties, at most one per axis.
	Penalties []AxisPenalty
	// MMR re-orders the head of the page by maximal marginal relevance
	// over the candidates' embeddings. The zero value disables it.
	MMR MMR
}

// AxisPenalty is a soft diversity penalty along one axis (X's author
// diversity discount generalised): walking the pool in score order, the
// i-th repeat (i = 0 for the first item with a given value, 1 for the
// second, ...) is multiplied by
//
//	factor(i) = (1 − Floor)·Decay^i + Floor
//
// (×1, ×0.625, ×0.4375, ... → Floor for Decay 0.5, Floor 0.25), shown in
// Explain as the multiplier "diversity:<axis>". Candidates with no value on
// the axis are not penalised. Penalties are per page.
type AxisPenalty struct {
	// Axis is the attribute compared.
	Axis Axis
	// Decay is the per-repeat decay, in [0, 1].
	Decay float64
	// Floor is the smallest factor, in (0, 1]: the penalty is soft and
	// never removes an item.
	Floor float64
}

// factors returns factor(0..n-1), with Decay^i by repeated multiplication
// so that the values are the same on every architecture.
func (p AxisPenalty) factors(n int) []float64 {
	f := make([]float64, n)
	pow := 1.0
	for i := range f {
		f[i] = float64((1-p.Floor)*pow) + p.Floor
		pow *= p.Decay
	}
	return f
}

// MMR is greedy maximal marginal relevance (Carbonell & Goldstein 1998)
// over the pool: each of the first Head positions of the organic list goes
// to
//
//	argmax_d  Lambda·rel(d) − (1 − Lambda)·max_{s placed} cos(d, s)
//
// where rel is the item's score after the axis penalties, rescaled to
// [0, 1] over the pool, and cos is the cosine of the candidates'
// embeddings (0 when either has none). The rest of the page follows in
// score order. It costs O(Head × Pool × dim); use it for the head of the
// list only.
type MMR struct {
	// Head is how many positions MMR chooses; 0 disables MMR.
	Head int
	// Lambda weighs relevance against novelty, in (0, 1]; the zero value
	// means DefaultMMRLambda.
	Lambda float64
}

// Slot reserves a page position for a lane.
type Slot struct {
	// Position is the 1-based position on every page, in 1..PageSize.
	Position int
	// Lane is LaneSponsored or LaneKOL.
	Lane Lane
}

// CursorConfig configures paging cursors.
type CursorConfig struct {
	// Key signs cursors with HMAC-SHA256; MinKeyLength..MaxKeyLength
	// bytes, secret, and the same on every instance of the host.
	Key []byte
	// OldKeys are accepted when verifying (for key rotation) but never used
	// to sign; at most MaxOldKeys.
	OldKeys [][]byte
	// MaxAge is how long after its as-of time a cursor is accepted; 0
	// means DefaultCursorMaxAge, at most MaxCursorAge.
	MaxAge time.Duration
	// MaxServed bounds the served set a cursor carries (8 bytes per item);
	// 0 means DefaultMaxServed, at most MaxServedLimit. Every entry is an
	// item served in the session, so nothing is dropped while a session
	// has served at most MaxServed items: no item repeats. When a page
	// would take the set beyond MaxServed, entries are dropped, and their
	// items may be served again; the no-repeat guarantee then covers only
	// the most recent MaxServed items. Without StaticSignals the oldest
	// entries go. With StaticSignals, first (oldest first) the entries of
	// items that the page found at or before their own lane's key, which
	// come back only if their lane changes; then the oldest of the others
	// (items served out of key order by diversity and still after their
	// lane's key, or not ranked on that page), which may come back as they
	// are. A StaticSignals session whose items keep their lanes thus
	// repeats nothing while at most MaxServed of its served items are at
	// once after their lane's key or unranked, however long it is.
	MaxServed int
	// StaticSignals declares that candidates' signals never change during
	// a session (a product list sorted by a fixed score). The served set
	// then holds only the served items that the key of some lane (organic,
	// and each lane with a slot) has not passed yet: without Slots, the
	// items served out of key order by the diversity step, which keeps
	// cursors a few dozen bytes long. With Slots an item may change lanes
	// within a session (a campaign starts or ends), so a served item stays
	// in the set until every slotted lane's key has passed it too, and
	// cursors are longer. Leave it false for feeds whose engagement changes
	// between pages.
	StaticSignals bool
}

// DefaultConfig returns a feed configuration: engagement with the default
// weights and credibility, exponential decay with a 12-hour half-life,
// viewer affinity, X's fatigue rule, soft author and seller diversity
// (decay 0.5, floor 0.25), 20 items a page, and cursors signed with key.
// It is Stable.
func DefaultConfig(version string, key []byte) Config {
	return Config{
		Version:  version,
		PageSize: 20,
		Signals: []Weighted{
			{Signal: Engagement{}, Weight: 1},
			{Signal: ExponentialDecay{HalfLife: 12 * time.Hour}, Weight: 1},
			{Signal: Affinity{}, Weight: 1},
		},
		Fatigue: Fatigue{MuteFor: 14 * 24 * time.Hour, RecoverOver: 140 * 24 * time.Hour, Floor: 0.2},
		Diversity: Diversity{Penalties: []AxisPenalty{
			{Axis: AxisAuthor, Decay: 0.5, Floor: 0.25},
			{Axis: AxisSeller, Decay: 0.5, Floor: 0.25},
		}},
		Cursor: CursorConfig{Key: key},
	}
}

// Validate checks every field and returns a *ValidationError for the first
// bad one: an empty Version, PageSize <= 0, a NaN or infinite weight, a
// non-positive half-life, an unknown axis or lane, a short key, ...; a
// nil c is a *ValidationError too.
func (c *Config) Validate() error {
	if c == nil {
		return invalid("config", "must not be nil")
	}
	if c.Version == "" || len(c.Version) > MaxVersionLength {
		return invalid("Version", fmt.Sprintf("must be 1..%d bytes", MaxVersionLength))
	}
	if c.PageSize < 1 || c.PageSize > MaxPageSize {
		return invalid("PageSize", fmt.Sprintf("must be in 1..%d", MaxPageSize))
	}
	if c.Pool != 0 && (c.Pool < c.PageSize || c.Pool > MaxPool) {
		return invalid("Pool", fmt.Sprintf("must be 0 or in PageSize..%d", MaxPool))
	}
	if len(c.Signals) == 0 || len(c.Signals) > MaxSignals {
		return invalid("Signals", fmt.Sprintf("must list 1..%d signals", MaxSignals))
	}
	for i := range c.Signals {
		w := &c.Signals[i]
		field := fmt.Sprintf("Signals[%d]", i)
		if check.Nil(w.Signal) || builtinValue(w.Signal) == nil { // a nil pointer (a built-in's, or a host's) would panic in Name or Score
			return invalid(field+".Signal", "must not be nil")
		}
		name := w.name()
		if name == "" || len(name) > MaxNameLength {
			return invalid(field+".Name", fmt.Sprintf("must be 1..%d bytes", MaxNameLength))
		}
		for j := range i {
			if c.Signals[j].name() == name {
				return invalid(field+".Name", fmt.Sprintf("duplicate signal name %q (set Weighted.Name)", name))
			}
		}
		if err := checkParam(field+".Weight", w.Weight, -maxParam, maxParam); err != nil {
			return err
		}
		if v, ok := w.Signal.(interface{ Validate() error }); ok {
			if err := v.Validate(); err != nil {
				var ve *ValidationError
				if errors.As(err, &ve) {
					return invalid(field+"."+ve.Field, ve.Reason)
				}
				return invalid(field, err.Error())
			}
		}
	}
	if err := c.Fatigue.validate(); err != nil {
		return err
	}
	var seen [NumAxes]bool
	for i, p := range c.Diversity.Penalties {
		field := fmt.Sprintf("Diversity.Penalties[%d]", i)
		if int(p.Axis) >= NumAxes {
			return invalid(field+".Axis", fmt.Sprintf("unknown axis %d", p.Axis))
		}
		if seen[p.Axis] {
			return invalid(field+".Axis", "duplicate axis "+p.Axis.String())
		}
		seen[p.Axis] = true
		if err := checkParam(field+".Decay", p.Decay, 0, 1); err != nil {
			return err
		}
		if err := checkParam(field+".Floor", p.Floor, 1e-9, 1); err != nil {
			return err
		}
	}
	if m := c.Diversity.MMR; m.Head != 0 || m.Lambda != 0 {
		if m.Head < 0 || m.Head > MaxPageSize {
			return invalid("Diversity.MMR.Head", fmt.Sprintf("must be in 0..%d", MaxPageSize))
		}
		if m.Lambda != 0 {
			if err := checkParam("Diversity.MMR.Lambda", m.Lambda, 1e-9, 1); err != nil {
				return err
			}
		}
	}
	if len(c.Slots) > c.PageSize {
		return invalid("Slots", "more slots than positions on a page")
	}
	for i, s := range c.Slots {
		field := fmt.Sprintf("Slots[%d]", i)
		if s.Position < 1 || s.Position > c.PageSize {
			return invalid(field+".Position", "must be in 1..PageSize")
		}
		if s.Lane != LaneSponsored && s.Lane != LaneKOL {
			return invalid(field+".Lane", "must be LaneSponsored or LaneKOL")
		}
		for j := range i {
			if c.Slots[j].Position == s.Position {
				return invalid(field+".Position", fmt.Sprintf("duplicate position %d", s.Position))
			}
		}
	}
	return c.Cursor.validate()
}

func (f Fatigue) validate() error {
	if err := checkDuration("Fatigue.MuteFor", f.MuteFor, true); err != nil {
		return err
	}
	if err := checkDuration("Fatigue.RecoverOver", f.RecoverOver, true); err != nil {
		return err
	}
	if f.Floor != 0 {
		if err := checkParam("Fatigue.Floor", f.Floor, 1e-9, 1); err != nil {
			return err
		}
	}
	return nil
}

func (c *CursorConfig) validate() error {
	if len(c.Key) < MinKeyLength || len(c.Key) > MaxKeyLength {
		return invalid("Cursor.Key", fmt.Sprintf("must be %d..%d bytes", MinKeyLength, MaxKeyLength))
	}
	if len(c.OldKeys) > MaxOldKeys {
		return invalid("Cursor.OldKeys", fmt.Sprintf("at most %d", MaxOldKeys))
	}
	for i, k := range c.OldKeys {
		if len(k) < MinKeyLength || len(k) > MaxKeyLength {
			return invalid(fmt.Sprintf("Cursor.OldKeys[%d]", i), fmt.Sprintf("must be %d..%d bytes", MinKeyLength, MaxKeyLength))
		}
	}
	if c.MaxAge < 0 || c.MaxAge > MaxCursorAge {
		return invalid("Cursor.MaxAge", "must be in 0..30 days")
	}
	if c.MaxServed < 0 || c.MaxServed > MaxServedLimit {
		return invalid("Cursor.MaxServed", fmt.Sprintf("must be in 0..%d", MaxServedLimit))
	}
	return nil
}

// fingerprinter is implemented by host signals that want their parameters
// (not only their name and type) to invalidate cursors when they change.
type fingerprinter interface{ Fingerprint() string }

// fingerprint hashes everything that affects scores or cursors. Built-in
// signals are hashed with all their parameters; host signals with their
// name, Go type and, if they have one, Fingerprint() with its length, so
// that the encoding is injective: two configs hash alike only if they are
// the same configuration (bar a 2^-64 accident).
func (c *Config) fingerprint() uint64 {
	h := sha256.New()
	g := func(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }
	fmt.Fprintf(h, "ranking/%d|%q|%d|%d|%t|", cursorFormat, c.Version, c.PageSize, c.Pool, c.KeepOutOfStock)
	for i := range c.Signals {
		w := &c.Signals[i]
		fmt.Fprintf(h, "sig|%q|%T|%s|", w.name(), w.Signal, g(w.Weight))
		switch s := w.Signal.(type) {
		case ExponentialDecay:
			// Only the epoch's instant affects scores: printed in UTC, without
			// a monotonic reading, one instant in any zone is one config (a
			// time.Unix epoch is local time, which differs between hosts).
			s.Epoch = s.Epoch.UTC()
			fmt.Fprintf(h, "%v|", s)
		case Engagement, LinearDecay, GaussianDecay, PowerDecay, Freshness,
			WilsonRating, BayesianRating, Affinity, PriceFit, Explore:
			fmt.Fprintf(h, "%v|", s)
		case fingerprinter:
			// Length-prefixed: a host's string may hold anything, even
			// what follows it in the hash (the next signal's fields), and
			// written bare it could make two configs hash alike.
			fp := s.Fingerprint()
			fmt.Fprintf(h, "fp|%d|", len(fp))
			io.WriteString(h, fp)
		}
	}
	f := c.Fatigue
	fmt.Fprintf(h, "fat|%d|%d|%s|", f.MuteFor, f.RecoverOver, g(f.Floor))
	for _, p := range c.Diversity.Penalties {
		fmt.Fprintf(h, "pen|%d|%s|%s|", p.Axis, g(p.Decay), g(p.Floor))
	}
	fmt.Fprintf(h, "mmr|%d|%s|", c.Diversity.MMR.Head, g(c.Diversity.MMR.Lambda))
	for _, s := range c.Slots {
		fmt.Fprintf(h, "slot|%d|%d|", s.Position, s.Lane)
	}
	fmt.Fprintf(h, "cur|%d|%d|%t|", c.Cursor.MaxAge, c.Cursor.MaxServed, c.Cursor.StaticSignals)
	return binary.BigEndian.Uint64(h.Sum(nil))
}
