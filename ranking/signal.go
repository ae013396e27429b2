package ranking

import (
	"fmt"
	"math"
	"time"
)

// Signal scores a batch of candidates. Every signal's value is added to
// the item's score as Weight × value (see Weighted), so a signal written
// for the log domain (as the built-in ones are) multiplies the item's
// linear relevance e^score by e^(Weight × value).
//
// Score must set out[i] for every i in in.Live (other entries are ignored)
// and must not keep in or out after it returns, nor modify in.Live or the
// batch. len(out) == in.Batch.Len(). A value that is NaN or ±Inf removes
// the item with FilterInvalidScore instead of failing the page; return an
// error to fail the whole Rank (it comes back as a *SignalError). A Signal
// in a Config is shared by every Rank call, so it must be safe for
// concurrent use; the built-in signals are immutable values.
//
// A host signal may also implement Validate() error (checked by New),
// TimeInvariant, and Fingerprint() string: a summary of its parameters,
// which the config fingerprint includes, so that cursors issued before a
// parameter changed are ErrCursorForeignConfig (without it only its name
// and Go type are included: bump Config.Version when they change). To
// keep per-item data of its own, a host can hold slices parallel to the
// batch (indexed like it) or pass them in Request.Params.
type Signal interface {
	// Name is the default name shown in Explain and hashed into the
	// config fingerprint.
	Name() string
	// Score writes one value per live candidate into out.
	Score(in *Input, out []float64) error
}

// TimeInvariant is implemented by signals that say whether their value
// depends on the as-of time. A signal that does not implement it is taken
// to depend on it. See Ranker.Stable.
type TimeInvariant interface {
	// TimeInvariant reports whether the signal's value for an item is the
	// same at every as-of time.
	TimeInvariant() bool
}

// Input is what a Signal sees: the batch, which items are still in play,
// and the request's context. A host may build one to call a signal
// itself: the built-in signals read Batch, Live, AsOf, Viewer and
// PriceRef.
type Input struct {
	// Batch holds the candidates.
	Batch *Batch
	// AsOf is the instant the page is ranked as of: the request's Now on
	// the first page of a session, the cursor's as-of time after that.
	AsOf time.Time
	// Viewer is Request.Viewer.
	Viewer string
	// Live lists, in increasing order, the batch indices that passed the
	// filters; only their values are used.
	Live []int32
	// PriceRef is Request.PriceRef.
	PriceRef int64
	// Params is Request.Params, for host signals.
	Params any

	// asOf is AsOf in Unix nanoseconds, for Rank's own steps. Signals
	// read AsOf and Viewer themselves, which a host that builds an Input
	// sets: values read from fields only Rank sets were those of 1970 and
	// of no viewer on a host's Input.
	asOf int64
	tmp  []float64 // scratch of len Batch.Len() for accumulators
	// ranked marks an Input Rank built, whose Live it made increasing and
	// within the batch: check need not walk it for every signal.
	ranked bool
}

// check returns a *ValidationError unless a built-in signal can score in
// into out: in and its Batch set, out as long as the batch, Live
// increasing and within it. Rank always passes such an Input, whose Live
// it does not walk again; a host calling a signal itself might not, and
// its Live is walked whole (its ends alone would let an index in the
// middle fall outside the batch).
func (in *Input) check(out []float64) error {
	switch {
	case in == nil:
		return invalid("in", "must not be nil")
	case in.Batch == nil:
		return invalid("in.Batch", "must not be nil")
	case len(out) < in.Batch.Len():
		return invalid("out", "shorter than the batch")
	case len(in.Live) > 0 && (in.Live[0] < 0 || int(in.Live[len(in.Live)-1]) >= in.Batch.Len()):
		return invalid("in.Live", "must be increasing batch indices")
	}
	if !in.ranked {
		for k := 1; k < len(in.Live); k++ {
			if in.Live[k] <= in.Live[k-1] {
				return invalid("in.Live", "must be increasing batch indices")
			}
		}
	}
	return nil
}

// AsOfUnixNano returns AsOf as Unix nanoseconds (0 for a nil Input).
func (in *Input) AsOfUnixNano() int64 {
	if in == nil {
		return 0
	}
	return in.AsOf.UnixNano()
}

// Weighted is a signal with its weight in a Config.
type Weighted struct {
	// Signal computes the values.
	Signal Signal
	// Weight multiplies the signal's values; finite, |Weight| <= 1e6.
	// Negative weights are allowed.
	Weight float64
	// Name overrides Signal.Name() in Explain (to use one signal type
	// twice); names must be unique within a Config.
	Name string
}

func (w *Weighted) name() string {
	if w.Name != "" {
		return w.Name
	}
	return w.Signal.Name()
}

// accumulator is implemented by the built-in signals: it adds w × value to
// score for every live item without an intermediate slice. Rank uses it
// when it does not explain.
type accumulator interface {
	accumulate(in *Input, w float64, score []float64)
}

const maxParam = 1e6

// builtinValue returns the value a pointer to a built-in signal points to
// (nil for a nil pointer), and any other signal unchanged. The built-in
// signals have value receivers, so a pointer to one is a Signal too; New
// keeps the value, so that the config fingerprint and the score bounds see
// its parameters, and a host changing its struct after New does not change
// the Ranker.
func builtinValue(s Signal) Signal {
	switch p := s.(type) {
	case *Engagement:
		return deref(p)
	case *ExponentialDecay:
		return deref(p)
	case *LinearDecay:
		return deref(p)
	case *GaussianDecay:
		return deref(p)
	case *PowerDecay:
		return deref(p)
	case *Freshness:
		return deref(p)
	case *WilsonRating:
		return deref(p)
	case *BayesianRating:
		return deref(p)
	case *Affinity:
		return deref(p)
	case *PriceFit:
		return deref(p)
	case *Explore:
		return deref(p)
	}
	return s
}

func deref[T Signal](p *T) Signal {
	if p == nil {
		return nil
	}
	return *p
}

func checkParam(field string, v, lo, hi float64) error {
	if !finite(v) || v < lo || v > hi {
		return invalid(field, fmt.Sprintf("must be finite, in [%g, %g]", lo, hi))
	}
	return nil
}

func checkDuration(field string, d time.Duration, allowZero bool) error {
	if d < 0 || (!allowZero && d == 0) {
		return invalid(field, "must be positive")
	}
	if d > 100*365*24*time.Hour {
		return invalid(field, "longer than 100 years")
	}
	return nil
}

// ---------------------------------------------------------------------------
// Engagement

// Engagement is weighted engagement with per-action weights and per-tier
// credibility:
//
//	E     = Σ_tier Credibility[tier] · Σ_action Weights[action] · count[tier][action]
//	value = sign(E) · ln(1 + |E|)
//
// Negative weights (Hide, Report) pull E down and can make it negative; the
// signed logarithm keeps the value finite and monotone in E. Credibility
// makes likes from suspected bots count less than likes from regular
// accounts. It is time-invariant.
type Engagement struct {
	// Weights per action; the zero value means DefaultActionWeights.
	Weights Counts
	// Credibility per tier, each in [0, 100]; the zero value means
	// DefaultCredibility.
	Credibility [NumTiers]float64
}

// DefaultActionWeights returns the default engagement weights: like 1,
// comment 4, share 6, save 3, click 0.1, cart 4, purchase 10, hide −20,
// report −100. The proportions follow the published 2023 X weights
// (reply ≫ like, report ≈ −700 likes) softened for commerce, where carts
// and purchases are strong positive signals.
func DefaultActionWeights() Counts {
	return Counts{
		ActionLike: 1, ActionComment: 4, ActionShare: 6, ActionSave: 3, ActionClick: 0.1,
		ActionCart: 4, ActionPurchase: 10, ActionHide: -20, ActionReport: -100,
	}
}

// DefaultCredibility returns the default tier weights: regular 1, new 0.5,
// suspect 0.05.
func DefaultCredibility() [NumTiers]float64 { return [NumTiers]float64{1, 0.5, 0.05} }

// Name returns "engagement".
func (Engagement) Name() string { return "engagement" }

// TimeInvariant returns true.
func (Engagement) TimeInvariant() bool { return true }

// Validate checks the weights.
func (e Engagement) Validate() error {
	for a, w := range e.Weights {
		if err := checkParam(fmt.Sprintf("Weights[%s]", Action(a)), w, -maxParam, maxParam); err != nil {
			return err
		}
	}
	for t, c := range e.Credibility {
		if err := checkParam(fmt.Sprintf("Credibility[%s]", Tier(t)), c, 0, 100); err != nil {
			return err
		}
	}
	return nil
}

// matrix returns Credibility[t] × Weights[a] with the defaults applied.
func (e Engagement) matrix() (m [NumTiers][NumActions]float64) {
	w, c := e.Weights, e.Credibility
	if w == (Counts{}) {
		w = DefaultActionWeights()
	}
	if c == ([NumTiers]float64{}) {
		c = DefaultCredibility()
	}
	for t := range m {
		for a := range m[t] {
			m[t][a] = c[t] * w[a]
		}
	}
	return m
}

// engagementCols are the count columns of a batch that E reads: per tier,
// the actions some candidate has a count for, with their matrix entries,
// in action order.
type engagementCols struct {
	n [NumTiers]int
	c [NumTiers][NumActions][]float32
	m [NumTiers][NumActions]float64
}

func (e Engagement) cols(b *Batch) (ec engagementCols) {
	m := e.matrix()
	for t := range NumTiers {
		for a, col := range b.counts[t] {
			if len(col) > 0 {
				ec.c[t][ec.n[t]], ec.m[t][ec.n[t]] = col, m[t][a]
				ec.n[t]++
			}
		}
	}
	return ec
}

// sum computes E for candidate i. A column nobody uses holds only zeros,
// whose products (±0) would change the sum at most in the sign of a zero,
// which signedLog maps to +0 either way.
func (ec *engagementCols) sum(b *Batch, i int) float64 {
	mask := b.tiers[i]
	if mask == 1<<TierRegular { // the common case: regular accounts only
		return ec.dot(int(TierRegular), i)
	}
	var e float64
	for t := 0; t < NumTiers; t++ {
		if mask&(1<<t) != 0 {
			e += ec.dot(t, i)
		}
	}
	return e
}

// dot is Σ m·count over tier t's columns for candidate i, which has a
// count in the tier (so the tier has a column), in action order. Each
// product is rounded explicitly (float64(...)) so that no platform fuses
// it into a multiply-add: scores must be bit-identical on every
// architecture, since cursors carry them.
func (ec *engagementCols) dot(t, i int) float64 {
	c, m := ec.c[t][:ec.n[t]], &ec.m[t]
	s := float64(m[0] * float64(c[0][i]))
	for k := 1; k < len(c); k++ {
		s += float64(m[k] * float64(c[k][i]))
	}
	return s
}

// signedLog is sign(x)·ln(1+|x|).
func signedLog(x float64) float64 {
	if x >= 0 {
		return ln(1 + x)
	}
	return -ln(1 - x)
}

// Score implements Signal. It runs in two passes, the sums and then the
// logarithms, so that the processor overlaps the independent logarithms.
func (e Engagement) Score(in *Input, out []float64) error {
	if err := in.check(out); err != nil {
		return err
	}
	ec := e.cols(in.Batch)
	for _, i := range in.Live {
		out[i] = ec.sum(in.Batch, int(i))
	}
	for _, i := range in.Live {
		out[i] = signedLog(out[i])
	}
	return nil
}

func (e Engagement) accumulate(in *Input, w float64, score []float64) {
	ec := e.cols(in.Batch)
	tmp := in.tmp
	for _, i := range in.Live {
		tmp[i] = ec.sum(in.Batch, int(i))
	}
	for _, i := range in.Live {
		score[i] += float64(w * signedLog(tmp[i]))
	}
}

// ---------------------------------------------------------------------------
// Time decay

// DefaultEpoch returns the default ExponentialDecay.Epoch,
// 2025-01-01T00:00:00Z.
func DefaultEpoch() time.Time { return time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC) }

// ExponentialDecay is exponential time decay with a half-life, expressed in
// the log domain so that it is stable under paging:
//
//	value = ln2 · (created − Epoch) / HalfLife
//
// This equals −λ·age (λ = ln2/HalfLife, age = asOf − created) plus the
// constant λ·(asOf − Epoch), which is the same for every item. So the
// linear relevance E·2^(−age/HalfLife) ranks exactly as ln(E) + λ·created,
// the value does not depend on the as-of time at all, and the order of two
// items changes only when their engagement changes, never because time
// passes (the Reddit "hot" construction). Differences are what matter: an
// item one half-life newer gets ln2 ≈ 0.693 more, the same as doubling its
// linear relevance. It is time-invariant.
type ExponentialDecay struct {
	// HalfLife is the age difference that halves relevance; > 0.
	HalfLife time.Duration
	// Epoch is the reference instant; the zero value means DefaultEpoch.
	// Changing it shifts every score by the same constant.
	Epoch time.Time
}

// Name returns "decay".
func (ExponentialDecay) Name() string { return "decay" }

// TimeInvariant returns true.
func (ExponentialDecay) TimeInvariant() bool { return true }

// Validate checks HalfLife and Epoch.
func (d ExponentialDecay) Validate() error {
	if err := checkDuration("HalfLife", d.HalfLife, false); err != nil {
		return err
	}
	if d.HalfLife < time.Second {
		return invalid("HalfLife", "shorter than a second")
	}
	if !d.Epoch.IsZero() && !validTime(d.Epoch) {
		return invalid("Epoch", "must be zero or between years 1970 and 2200")
	}
	return nil
}

func (d ExponentialDecay) consts() (epoch int64, lambda float64) {
	e := d.Epoch
	if e.IsZero() {
		e = DefaultEpoch()
	}
	return e.UnixNano(), math.Ln2 / float64(d.HalfLife)
}

// Score implements Signal.
func (d ExponentialDecay) Score(in *Input, out []float64) error {
	if err := in.check(out); err != nil {
		return err
	}
	epoch, lambda := d.consts()
	created := in.Batch.created
	for _, i := range in.Live {
		out[i] = lambda * float64(created[i]-epoch)
	}
	return nil
}

func (d ExponentialDecay) accumulate(in *Input, w float64, score []float64) {
	epoch, lambda := d.consts()
	created := in.Batch.created
	for _, i := range in.Live {
		v := lambda * float64(created[i]-epoch)
		score[i] += float64(w * v)
	}
}

// age returns max(0, asOf − created) in nanoseconds as a float.
func age(asOf, created int64) float64 {
	if created >= asOf {
		return 0
	}
	return float64(asOf - created)
}

// LinearDecay is linear time decay, in the log domain:
//
//	value = ln(max(Floor, 1 − age / (2·HalfLife)))
//
// so the factor is 1 for a new item, 1/2 at HalfLife and Floor from
// 2·HalfLife·(1 − Floor) on (age = max(0, asOf − created)).
//
// Unstable under paging: unlike ExponentialDecay, the ratio between two
// items' factors changes as time passes, so two rankings taken at
// different as-of times can order the same items differently. Cursors keep
// one session consistent by ranking every page as of the first page's time;
// a new session may reorder.
type LinearDecay struct {
	// HalfLife is the age at which the factor is 1/2; > 0.
	HalfLife time.Duration
	// Floor is the smallest factor, in (0, 1); the zero value means 0.01.
	Floor float64
}

// Name returns "decay".
func (LinearDecay) Name() string { return "decay" }

// TimeInvariant returns false.
func (LinearDecay) TimeInvariant() bool { return false }

// Validate checks HalfLife and Floor.
func (d LinearDecay) Validate() error {
	if err := checkDuration("HalfLife", d.HalfLife, false); err != nil {
		return err
	}
	if d.Floor != 0 {
		if err := checkParam("Floor", d.Floor, 1e-9, 0.999999); err != nil {
			return err
		}
	}
	return nil
}

// Score implements Signal.
func (d LinearDecay) Score(in *Input, out []float64) error {
	if err := in.check(out); err != nil {
		return err
	}
	floor := d.Floor
	if floor == 0 {
		floor = 0.01
	}
	scale := 2 * float64(d.HalfLife)
	created, asOf := in.Batch.created, in.AsOf.UnixNano()
	for _, i := range in.Live {
		out[i] = ln(max(floor, 1-age(asOf, created[i])/scale))
	}
	return nil
}

// GaussianDecay is Gaussian time decay, in the log domain:
//
//	value = −ln2 · (age / HalfLife)²
//
// so the factor exp(value) is 1 for a new item and 1/2 at HalfLife, then
// falls faster than exponentially (age = max(0, asOf − created)).
//
// Unstable under paging, like LinearDecay.
type GaussianDecay struct {
	// HalfLife is the age at which the factor is 1/2; > 0.
	HalfLife time.Duration
}

// Name returns "decay".
func (GaussianDecay) Name() string { return "decay" }

// TimeInvariant returns false.
func (GaussianDecay) TimeInvariant() bool { return false }

// Validate checks HalfLife.
func (d GaussianDecay) Validate() error { return checkDuration("HalfLife", d.HalfLife, false) }

// Score implements Signal.
func (d GaussianDecay) Score(in *Input, out []float64) error {
	if err := in.check(out); err != nil {
		return err
	}
	h := float64(d.HalfLife)
	created, asOf := in.Batch.created, in.AsOf.UnixNano()
	for _, i := range in.Live {
		x := age(asOf, created[i]) / h
		out[i] = -math.Ln2 * x * x
	}
	return nil
}

// PowerDecay is power-law ("gravity") time decay as in Hacker News and
// Bluesky's early What's Hot, in the log domain:
//
//	value = −Gravity · ln(1 + age / Base)
//
// which is the factor (1 + age/Base)^(−Gravity); HN's
// score/(hours + 2)^1.8 is Base = 2h, Gravity = 1.8 up to a constant
// (age = max(0, asOf − created)).
//
// Unstable under paging, like LinearDecay: Bluesky's feed paged on such
// scores recomputed at request time and served duplicates (atproto #3039).
type PowerDecay struct {
	// Base is the age offset; the zero value means 2 hours.
	Base time.Duration
	// Gravity is the exponent, in (0, 10]; the zero value means 1.8.
	Gravity float64
}

// Name returns "decay".
func (PowerDecay) Name() string { return "decay" }

// TimeInvariant returns false.
func (PowerDecay) TimeInvariant() bool { return false }

// Validate checks Base and Gravity.
func (d PowerDecay) Validate() error {
	if err := checkDuration("Base", d.Base, true); err != nil {
		return err
	}
	if d.Gravity != 0 {
		return checkParam("Gravity", d.Gravity, 1e-9, 10)
	}
	return nil
}

// Score implements Signal.
func (d PowerDecay) Score(in *Input, out []float64) error {
	if err := in.check(out); err != nil {
		return err
	}
	base, g := float64(d.Base), d.Gravity
	if base == 0 {
		base = float64(2 * time.Hour)
	}
	if g == 0 {
		g = 1.8
	}
	created, asOf := in.Batch.created, in.AsOf.UnixNano()
	for _, i := range in.Live {
		out[i] = -g * ln(1+age(asOf, created[i])/base)
	}
	return nil
}

// Freshness is a bonus for new items, independent of engagement:
//
//	value = 1 / (1 + age / Window)
//
// 1 for a brand-new item, 1/2 at age Window, tending to 0 (age =
// max(0, asOf − created)). It depends on the as-of time, so it is unstable
// under paging like LinearDecay.
type Freshness struct {
	// Window is the age at which the bonus is halved; > 0.
	Window time.Duration
}

// Name returns "freshness".
func (Freshness) Name() string { return "freshness" }

// TimeInvariant returns false.
func (Freshness) TimeInvariant() bool { return false }

// Validate checks Window.
func (f Freshness) Validate() error { return checkDuration("Window", f.Window, false) }

// Score implements Signal.
func (f Freshness) Score(in *Input, out []float64) error {
	if err := in.check(out); err != nil {
		return err
	}
	w := float64(f.Window)
	created, asOf := in.Batch.created, in.AsOf.UnixNano()
	for _, i := range in.Live {
		out[i] = 1 / (1 + age(asOf, created[i])/w)
	}
	return nil
}

// ---------------------------------------------------------------------------
// Ratings

// WilsonLowerBound returns the lower bound of the Wilson score interval for
// a positive share observed as positive out of n, at normal quantile z
// (1.96 for 95 %, 1.281551565545 for Reddit's 80 %):
//
//	(p̂ + z²/2n − z·√(p̂(1 − p̂)/n + z²/4n²)) / (1 + z²/n),  p̂ = positive/n
//
// It is 0 when n <= 0. Example: 5 of 10 at z = 1.96 gives 0.2366; 209 of
// 259 gives 0.7545.
func WilsonLowerBound(positive, n, z float64) float64 {
	if !(n > 0) {
		return 0
	}
	p := min(max(positive/n, 0), 1)
	z2 := z * z
	if n < 1e-100 {
		// z²/2n and z²/4n² overflow for n below about 1e-308, and centre −
		// margin would be ∞ − ∞ = NaN: the same bound multiplied through
		// by n, which tends to 0 with n. (Not used above 1e-100, so that
		// other counts keep their bits.)
		return max(0, (float64(p*n)+z2/2-float64(z*math.Sqrt(float64(float64(p*(1-p))*n)+z2/4)))/(n+z2))
	}
	centre := p + z2/float64(2*n)
	margin := float64(z * math.Sqrt(float64(p*(1-p))/n+z2/float64(4*n*n)))
	return max(0, (centre-margin)/(1+z2/n))
}

// BayesianAverage returns the Bayesian (IMDb-style) average of a rating
// with sum and count, shrunk toward priorMean with the weight of
// priorCount pseudo-ratings:
//
//	(priorMean·priorCount + sum) / (priorCount + count)
//
// It is priorMean when count + priorCount <= 0.
func BayesianAverage(sum, count, priorMean, priorCount float64) float64 {
	if !(count+priorCount > 0) {
		return priorMean
	}
	return (float64(priorMean*priorCount) + sum) / (priorCount + count)
}

// scale returns the rating scale with the 1..5 default.
func scale(lo, hi float64) (float64, float64) {
	if lo == 0 && hi == 0 {
		return 1, 5
	}
	return lo, hi
}

func checkScale(lo, hi float64) error {
	if err := checkParam("Min", lo, -maxParam, maxParam); err != nil {
		return err
	}
	if err := checkParam("Max", hi, -maxParam, maxParam); err != nil {
		return err
	}
	if lo != 0 || hi != 0 {
		if !(hi > lo) {
			return invalid("Max", "must be greater than Min")
		}
	}
	return nil
}

// WilsonRating is rating confidence by the Wilson lower bound. The mean
// rating is mapped onto a positive share p̂ = (mean − Min)/(Max − Min),
// clamped to [0, 1], and
//
//	value = WilsonLowerBound(p̂·count, count, Z)   (0 with no ratings)
//
// so few ratings give a low, cautious value and many good ratings a value
// near p̂. For thumbs up/down use Min 0, Max 1 and RatingSum = ups. It is
// time-invariant.
type WilsonRating struct {
	// Z is the normal quantile, in (0, 10]; the zero value means 1.96.
	Z float64
	// Min and Max bound the rating scale; both zero means 1..5 stars.
	Min, Max float64
}

// Name returns "rating".
func (WilsonRating) Name() string { return "rating" }

// TimeInvariant returns true.
func (WilsonRating) TimeInvariant() bool { return true }

// Validate checks Z and the scale.
func (w WilsonRating) Validate() error {
	if w.Z != 0 {
		if err := checkParam("Z", w.Z, 1e-9, 10); err != nil {
			return err
		}
	}
	return checkScale(w.Min, w.Max)
}

// Score implements Signal.
func (w WilsonRating) Score(in *Input, out []float64) error {
	if err := in.check(out); err != nil {
		return err
	}
	z := w.Z
	if z == 0 {
		z = 1.96
	}
	lo, hi := scale(w.Min, w.Max)
	b := in.Batch
	for _, i := range in.Live {
		n := b.rcount[i]
		if n == 0 {
			out[i] = 0
			continue
		}
		p := (b.rsum[i]/n - lo) / (hi - lo)
		out[i] = WilsonLowerBound(min(max(p, 0), 1)*n, n, z)
	}
	return nil
}

// BayesianRating is rating confidence by a Bayesian average, natural for
// 5-star ratings:
//
//	value = (BayesianAverage(sum, count, PriorMean, PriorCount) − Min) / (Max − Min)
//
// clamped to [0, 1]; an unrated item gets the prior. It is time-invariant.
type BayesianRating struct {
	// PriorMean is the catalogue's mean rating; the zero value means the
	// middle of the scale.
	PriorMean float64
	// PriorCount is the prior's weight in ratings, in (0, 1e6]; the zero
	// value means 10.
	PriorCount float64
	// Min and Max bound the rating scale; both zero means 1..5 stars.
	Min, Max float64
}

// Name returns "rating".
func (BayesianRating) Name() string { return "rating" }

// TimeInvariant returns true.
func (BayesianRating) TimeInvariant() bool { return true }

// Validate checks the prior and the scale.
func (r BayesianRating) Validate() error {
	if err := checkScale(r.Min, r.Max); err != nil {
		return err
	}
	if r.PriorCount != 0 {
		if err := checkParam("PriorCount", r.PriorCount, 1e-9, maxParam); err != nil {
			return err
		}
	}
	if r.PriorMean != 0 {
		lo, hi := scale(r.Min, r.Max)
		if err := checkParam("PriorMean", r.PriorMean, lo, hi); err != nil {
			return err
		}
	}
	return nil
}

// Score implements Signal.
func (r BayesianRating) Score(in *Input, out []float64) error {
	if err := in.check(out); err != nil {
		return err
	}
	lo, hi := scale(r.Min, r.Max)
	m, c := r.PriorMean, r.PriorCount
	if m == 0 {
		m = (lo + hi) / 2
	}
	if c == 0 {
		c = 10
	}
	b := in.Batch
	for _, i := range in.Live {
		v := (BayesianAverage(b.rsum[i], b.rcount[i], m, c) - lo) / (hi - lo)
		out[i] = min(max(v, 0), 1)
	}
	return nil
}

// ---------------------------------------------------------------------------
// Viewer and commerce signals

// Affinity is the viewer's affinity to the item or its author (EdgeRank's
// u), in the log domain:
//
//	value = ln(1 + affinity)
//
// so with weight 1 it multiplies linear relevance by (1 + affinity). It is
// time-invariant.
type Affinity struct{}

// Name returns "affinity".
func (Affinity) Name() string { return "affinity" }

// TimeInvariant returns true.
func (Affinity) TimeInvariant() bool { return true }

// Score implements Signal.
func (Affinity) Score(in *Input, out []float64) error {
	if err := in.check(out); err != nil {
		return err
	}
	aff := in.Batch.affinity
	for _, i := range in.Live {
		out[i] = ln(1 + aff[i])
	}
	return nil
}

func (Affinity) accumulate(in *Input, w float64, score []float64) {
	aff := in.Batch.affinity
	for _, i := range in.Live {
		if a := aff[i]; a != 0 {
			v := ln(1 + a)
			score[i] += float64(w * v)
		}
	}
}

// PriceFit prefers prices near the request's reference price (the
// viewer's usual basket, or the price of the product being viewed):
//
//	value = −|ln(price / Request.PriceRef)|
//
// 0 at the reference, −ln2 at half or double it; 0 when either price is 0.
// It is time-invariant.
type PriceFit struct{}

// Name returns "price".
func (PriceFit) Name() string { return "price" }

// TimeInvariant returns true.
func (PriceFit) TimeInvariant() bool { return true }

// Score implements Signal.
func (PriceFit) Score(in *Input, out []float64) error {
	if err := in.check(out); err != nil {
		return err
	}
	price := in.Batch.price
	ref := float64(in.PriceRef)
	for _, i := range in.Live {
		if p := price[i]; p > 0 && ref > 0 {
			out[i] = -math.Abs(ln(float64(p) / ref))
		} else {
			out[i] = 0
		}
	}
	return nil
}

// Explore is deterministic exploration noise: a value uniform in [0, 1)
// drawn from a hash of (Seed, viewer, item ID, epoch), where epoch =
// floor(asOf / Period). The same request therefore always gives the same
// page, a viewer sees a stable order within an epoch, and different
// viewers see different items lifted. Its weight sets the amplitude (a
// weight of 0.5 multiplies linear relevance by up to e^0.5 ≈ 1.65). It is
// time-invariant only when Period is 0 (one draw per viewer and item).
type Explore struct {
	// Period is the length of an epoch; 0 means a single epoch.
	Period time.Duration
	// Seed varies the draw between deployments or experiments. Keep it
	// secret and random: the draw is a hash anyone can compute from the
	// seed, the viewer and the item ID, so with a known seed an author can
	// choose item IDs whose draw is high for a given viewer.
	Seed uint64
}

// Name returns "explore".
func (Explore) Name() string { return "explore" }

// TimeInvariant reports whether Period is 0.
func (e Explore) TimeInvariant() bool { return e.Period == 0 }

// Validate checks Period.
func (e Explore) Validate() error { return checkDuration("Period", e.Period, true) }

func (e Explore) salt(in *Input) uint64 {
	var epoch uint64
	if e.Period > 0 {
		epoch = uint64(in.AsOf.UnixNano() / int64(e.Period))
	}
	return mix64(hashString(in.Viewer) ^ mix64(e.Seed+golden*(epoch+1)))
}

// noise maps a mixed hash to [0, 1) with 53 bits.
func noise(itemHash, salt uint64) float64 {
	return float64(mix64(itemHash^salt)>>11) * (1.0 / (1 << 53))
}

// Score implements Signal.
func (e Explore) Score(in *Input, out []float64) error {
	if err := in.check(out); err != nil {
		return err
	}
	salt := e.salt(in)
	idh := in.Batch.idh
	for _, i := range in.Live {
		out[i] = noise(idh[i], salt)
	}
	return nil
}

func (e Explore) accumulate(in *Input, w float64, score []float64) {
	salt := e.salt(in)
	idh := in.Batch.idh
	for _, i := range in.Live {
		score[i] += float64(w * noise(idh[i], salt))
	}
}
