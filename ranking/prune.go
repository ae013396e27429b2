package ranking

import "math"

// Bound-based pruning, after WAND and the threshold algorithm: most
// candidates cannot reach the organic pool, and a cheap upper bound of
// their score proves it without the expensive parts of scoring (the
// engagement and affinity logarithms, the exploration hash, the full
// engagement sums).
//
// rankPruned computes, for every candidate, a bound ub ≥ the score that
// full scoring gives it. It then fully scores the seeds, the candidates
// with the largest bounds (1.5 × pool of them), which brings the organic
// heap's threshold (its root: the pool-th best eligible score so far)
// close to its final value; every other candidate whose bound is below
// the threshold scores below it, so it could never enter the pool, and is
// only counted as eligible, as the heap's own threshold test would have
// done. The rest are scored. The pool, and so the page, its scores, the
// cursor and Page.Filtered and FilterOf, are the same as with full
// scoring; TestPruneMatchesFullScoring checks it.
//
// Soundness in floating point rests on the monotonicity of rounding:
// fl(a + b) ≤ fl(a' + b') when a ≤ a' and b ≤ b', and fl(w·v) ≤ fl(w·v')
// when w ≥ 0 and v ≤ v'. The bound adds, in the order scoring adds them
// (signals in Config order, then the fatigue term), one term per signal
// at least as large as the float64 term scoring adds:
//
//   - ExponentialDecay, the other decays, Freshness, BayesianRating,
//     PriceFit, and Engagement with a negative weight add their exact term,
//     computed the same way;
//   - Engagement adds w·lnUp(1 + E⁺). E⁺ sums the products of the columns
//     with a positive matrix entry, in any order, so it is at least
//     Σ positive products × (1 − 27u) (u = 2^-53), while E computed is at
//     most that sum × (1 + 27u) (its other products are ≤ 0, and columns
//     nobody uses hold only zeros); lnUp allows the relative 1e-13;
//   - Affinity adds w·lnUp(1 + a), Explore adds w (its value is below 1),
//     WilsonRating adds w·(p̂ + 2^-30) (the Wilson lower bound is at most
//     the observed share p̂); with a weight of at most 0 their term is at
//     most 0, and the bound adds nothing;
//   - the fatigue term ln(factor) is added exactly.
//
// Built-in signals give finite values only, so a pruned candidate is never
// one that FilterInvalidScore would remove; and every eligible item scores
// at most its lane's cursor key, so a candidate below the threshold is
// after the key. A Config with a host signal (no known bound) is scored
// fully, and so are Explain, the benchmark baseline, lanes other than
// organic, the served set of a StaticSignals session (checked after
// scoring), and batches smaller than twice the pool.

const (
	// pruneMinFactor: pruning runs when the batch holds at least this many
	// times the pool; below that, most candidates would be scored anyway.
	pruneMinFactor = 2
	// boundBlock is how many candidates the bound handles at a time: their
	// bounds stay in the first-level cache while each signal adds its term.
	boundBlock = 256
	// pruneChunk is how many candidates are scored together: enough to
	// amortise a signal's per-call set-up, few enough that the threshold
	// keeps up with the scan.
	pruneChunk = 64
	// wilsonSlack covers the rounding of WilsonLowerBound (below 1e-12 for
	// valid inputs) in WilsonRating's bound.
	wilsonSlack = 1.0 / (1 << 30)
)

// opKind is how the bound treats one signal.
type opKind uint8

const (
	opExact      opKind = iota // a column pass adds the exact term
	opSkip                     // the term is never positive: nothing to add
	opEngagement               // w·lnUp(1 + E⁺)
	opDecay                    // ExponentialDecay's exact term
	opAffinity                 // w·lnUp(1 + affinity)
	opConst                    // the constant w (Explore's value is below 1)
	opWilson                   // w·(p̂ + wilsonSlack)
)

// boundOp is a signal's part of the bound, set up by New.
type boundOp struct {
	kind     opKind
	k        int     // index in Ranker.signals
	w        float64 // the weight
	m        [NumTiers][NumActions]float64
	epoch    int64   // opDecay
	lambda   float64 // opDecay
	lo, span float64 // opWilson: the rating scale
}

// newBoundOp returns the bound of signal k; ok is false for a host signal,
// which has no known bound and disables pruning.
func newBoundOp(k int, w *Weighted) (op boundOp, ok bool) {
	op = boundOp{k: k, w: w.Weight}
	switch sig := w.Signal.(type) {
	case Engagement:
		if w.Weight >= 0 { // E⁺ bounds only a non-negative weight's term
			op.kind, op.m = opEngagement, sig.matrix()
		}
	case ExponentialDecay:
		op.kind = opDecay
		op.epoch, op.lambda = sig.consts()
	case Affinity:
		op.kind = opAffinity
	case Explore:
		op.kind = opConst
	case WilsonRating:
		op.kind = opWilson
		lo, hi := scale(sig.Min, sig.Max)
		op.lo, op.span = lo, hi-lo
	case LinearDecay, GaussianDecay, PowerDecay, Freshness, BayesianRating, PriceFit:
	default:
		return op, false
	}
	// Affinity, Explore and WilsonRating are never negative: with a weight
	// of at most 0 their term is at most 0. Every built-in value is finite,
	// so a zero weight's term is ±0.
	if w.Weight == 0 || (w.Weight < 0 && (op.kind == opAffinity || op.kind == opConst || op.kind == opWilson)) {
		op.kind = opSkip
	}
	return op, true
}

// kop is a bound op prepared for one batch. For opEngagement, E⁺ is the
// sum of terms: the positive products of the actions used in the batch,
// padded with zero products to a multiple of four.
type kop struct {
	kind     opKind
	k        int
	w        float64
	terms    []engTerm
	epoch    int64
	lambda   float64
	lo, span float64
}

// prepareOps returns the bound's ops for batch b (in s.kops, with the
// Engagement terms in s.terms).
func (r *Ranker) prepareOps(s *scratch, b *Batch) []kop {
	ops, terms := s.kops[:0], s.terms[:0]
	for j := range r.ops {
		op := &r.ops[j]
		if op.kind == opSkip {
			continue
		}
		ops = append(ops, kop{kind: op.kind, k: op.k, w: op.w, epoch: op.epoch, lambda: op.lambda, lo: op.lo, span: op.span})
		if ko := &ops[len(ops)-1]; op.kind == opEngagement {
			n := len(terms)
			terms = engagementTerms(terms, b, &op.m)
			ko.terms = terms[n:len(terms):len(terms)]
			if len(ko.terms) == 0 { // E⁺ = 0
				ko.kind, ko.w = opConst, float64(op.w*lnUp(1))
			}
		}
	}
	s.kops, s.terms = ops, terms
	return ops
}

// engagementTerms appends to terms the positive products of E⁺ for the
// batch, padded with zero products to a multiple of four: per tier in order,
// the actions some candidate has a count for and whose matrix entry is
// positive.
func engagementTerms(terms []engTerm, b *Batch, m *[NumTiers][NumActions]float64) []engTerm {
	n := len(terms)
	for t := range NumTiers {
		for a, col := range b.counts[t] {
			if len(col) > 0 && m[t][a] > 0 {
				terms = append(terms, engTerm{col, m[t][a]})
			}
		}
	}
	for len(terms) > n && (len(terms)-n)%4 != 0 {
		terms = append(terms, engTerm{terms[n].c, 0})
	}
	return terms
}

// engTerm is one product of E⁺: w × the count in column c.
type engTerm struct {
	c []float32
	w float64
}

// rankPruned scores and selects the candidates of in.Batch, filtering them
// too when decided is false (the filters are then only the flags and
// mark: see filter); when it is true, filter has set s.reason already. It
// fully scores only the candidates whose upper bound reaches the organic
// heap's threshold. The threshold is seeded first: the candidates with
// the largest bounds (1.5 × pool of them) are scored before the
// others, so that the heap's root is close to its final value when the
// rest are tested (see the file comment).
func (r *Ranker) rankPruned(s *scratch, in *Input, st *selState, out *Page, mark []Filter, want *[NumLanes]int, decided bool) error {
	b, n := in.Batch, s.n
	s.ub = growF(s.ub, n)
	if len(s.all) < n { // the identity, for exact signals over a block
		for i := len(s.all); i < n; i++ {
			s.all = append(s.all, int32(i))
		}
	}
	ops := r.prepareOps(s, b)
	pool := s.heaps[LaneOrganic].k
	k := max(pool+pool/2, 1) // seeds beyond the pool absorb the bounds' slack
	// The buffer keeps at least k after a selection, and takes a block at a
	// time.
	if c := 3*k + boundBlock; cap(s.seeds) < c {
		s.seeds = make([]seed, 0, c)
	}
	s.sa, s.sb = growF(s.sa, cap(s.seeds)), growF(s.sb, cap(s.seeds))
	sd := seeder{k: k, tau: -math.MaxFloat64, buf: s.seeds[:0], sa: s.sa, sb: s.sb, kept: growI(s.chunk, pruneChunk)[:0]}
	// A block of candidates at a time, with their bounds in u (u[j] for
	// candidate start+j) so that they stay in the first-level cache: every
	// signal's term in Config order (for filtered candidates too, which is
	// cheaper than skipping them), then the filters, the fatigue term and
	// the seeds.
	var ubuf [boundBlock]float64
	for start := 0; start < n; start += boundBlock {
		u := ubuf[:min(boundBlock, n-start)]
		clear(u)
		for j := range ops {
			if err := r.boundTerm(s, in, start, u, &ops[j]); err != nil {
				return err
			}
		}
		r.filterBlock(s, b, out, &sd, start, u, mark, want, st.staticServed, decided)
		copy(s.ub[start:], u)
	}
	tau, floor, prunable := sd.finish()
	s.seeds, s.chunk = sd.buf, sd.kept
	s.live = s.live[:0] // not listed: the rest pass reads s.reason

	// The kept candidates (queued in s.chunk), then the seeds.
	if err := r.flushChunk(s, in, st, out); err != nil {
		return err
	}
	for _, e := range s.seeds {
		if e.u >= tau {
			if err := r.addToChunk(s, in, e.i, st, out); err != nil {
				return err
			}
		}
	}
	if err := r.flushChunk(s, in, st, out); err != nil {
		return err
	}

	// The others, against the heap's threshold. Those outside the buffer
	// have a bound below floor: when the threshold is at least floor, they
	// are all pruned, and only the rest of the buffer is tested.
	thr := st.thr
	pruned := 0
	if thr >= floor {
		pruned = prunable - len(s.seeds)
		for _, e := range s.seeds {
			if e.u >= tau {
				continue
			}
			if e.u < thr {
				pruned++
				continue
			}
			if err := r.addToChunk(s, in, e.i, st, out); err != nil {
				return err
			}
			thr = st.thr
		}
		st.eligible[LaneOrganic] += pruned
		return r.flushChunk(s, in, st, out)
	}
	ub, reason := s.ub, s.reason
	for i, f := range reason {
		u := ub[i]
		if f != FilterNone || u >= tau || u == math.Inf(-1) {
			continue // filtered, a seed, or kept
		}
		if u < thr {
			pruned++
			continue
		}
		if err := r.addToChunk(s, in, int32(i), st, out); err != nil {
			return err
		}
		thr = st.thr
	}
	st.eligible[LaneOrganic] += pruned
	return r.flushChunk(s, in, st, out)
}

// boundTerm adds op's term to u[j] for the candidates start+j.
func (r *Ranker) boundTerm(s *scratch, in *Input, start int, u []float64, op *kop) error {
	b, w, end := in.Batch, op.w, start+len(u)
	switch op.kind {
	case opEngagement:
		engagementBound(start, u, s.tmp[start:end], w, op.terms)
	case opDecay: // as ExponentialDecay.accumulate
		created, epoch, lambda := b.created[start:end], op.epoch, op.lambda
		for j := range u {
			v := lambda * float64(created[j]-epoch)
			u[j] += float64(w * v)
		}
	case opAffinity:
		aff := b.affinity[start:end]
		for j := range u {
			u[j] += float64(w * lnUp(1+aff[j]))
		}
	case opConst:
		for j := range u {
			u[j] += w
		}
	case opWilson:
		rsum, rcount, lo, span := b.rsum[start:end], b.rcount[start:end], op.lo, op.span
		for j := range u {
			var v float64
			if n := rcount[j]; n != 0 {
				v = min(max((rsum[j]/n-lo)/span, 0), 1) + wilsonSlack
			}
			u[j] += float64(w * v)
		}
	case opExact: // as score does it
		in.Live = s.all[start:end]
		err := r.signals[op.k].Signal.Score(in, s.tmp)
		in.Live = nil
		if err != nil {
			return &SignalError{Signal: r.names[op.k], Err: err}
		}
		tmp := s.tmp[start:end]
		for j := range u {
			u[j] += float64(w * tmp[j])
		}
	}
	return nil
}

// engagementBound adds w·lnUp(1 + E⁺) to u[j] for the candidates start+j,
// E⁺ being the sum of terms (a multiple of four of them), four at a time:
// with every column cut to the block, the loops keep everything in
// registers. e is scratch of len(u).
//
// Any order of the additions will do: all the products are ≥ 0, so the
// sum is within a relative 27·2^-53 of the exact one (see the file
// comment).
func engagementBound(start int, u, e []float64, w float64, terms []engTerm) {
	end := start + len(u)
	e = e[:len(u)]
	g := 0
	for ; g+4 < len(terms); g += 4 {
		t := terms[g : g+4 : g+4]
		c0, c1, c2, c3 := t[0].c[start:end][:len(e)], t[1].c[start:end][:len(e)], t[2].c[start:end][:len(e)], t[3].c[start:end][:len(e)]
		w0, w1, w2, w3 := t[0].w, t[1].w, t[2].w, t[3].w
		for j := range e {
			x := (float64(w0*float64(c0[j])) + float64(w1*float64(c1[j]))) +
				(float64(w2*float64(c2[j])) + float64(w3*float64(c3[j])))
			if g > 0 {
				x += e[j]
			}
			e[j] = x
		}
	}
	t := terms[g : g+4 : g+4]
	c0, c1, c2, c3 := t[0].c[start:end][:len(u)], t[1].c[start:end][:len(u)], t[2].c[start:end][:len(u)], t[3].c[start:end][:len(u)]
	w0, w1, w2, w3 := t[0].w, t[1].w, t[2].w, t[3].w
	for j := range u {
		x := (float64(w0*float64(c0[j])) + float64(w1*float64(c1[j]))) +
			(float64(w2*float64(c2[j])) + float64(w3*float64(c3[j])))
		if g > 0 {
			x += e[j]
		}
		u[j] += float64(w * lnUp(1+x))
	}
}

// filterBlock filters the candidates start+j of a block as filter does
// (or, when decided, reads the filters filter has set), completes the
// bounds u[j] of those that remain with the exact fatigue term (as
// selectItems adds it to the score), and offers the prunable ones to sd
// as seeds. The bounds of the filtered candidates, and of those that are
// kept (never pruned: lanes other than organic, the static served set,
// non-finite bounds; queued in sd.kept), become -Inf.
func (r *Ranker) filterBlock(s *scratch, b *Batch, out *Page, sd *seeder, start int, u []float64, mark []Filter, want *[NumLanes]int, staticServed, decided bool) {
	end := start + len(u)
	flags, reason := b.flags[start:end], s.reason[start:end]
	if decided {
		mark = reason
	} else {
		mark = mark[start:end]
	}
	mark, u = mark[:len(flags)], u[:len(flags)]
	sd.reserve(len(u))
	buf, nb, tau := sd.buf[:cap(sd.buf)], len(sd.buf), sd.tau
	// The common case in a loop without calls, which would make the
	// compiler keep its variables on the stack; the rest after it.
	var rare [boundBlock]uint16
	nr, live := 0, 0
	for j, fl := range flags {
		x := u[j]
		if fl != 0 || x-x != 0 || staticServed {
			rare[nr] = uint16(j)
			nr++
			continue
		}
		f := mark[j]
		reason[j] = f
		if f != FilterNone {
			if !decided {
				out.Filtered[f]++
			}
			u[j] = math.Inf(-1)
			continue
		}
		live++
		// Written always, kept when at least tau: no branch to mispredict.
		buf[nb] = seed{x, int32(start + j)}
		nb += less(x, tau) ^ 1
	}
	for _, j := range rare[:nr] {
		f := r.filterRare(s, b, sd, start+int(j), flags[j], mark[j], &u[j], want, staticServed, decided)
		reason[j] = f
		if f != FilterNone {
			if !decided {
				out.Filtered[f]++
			}
			u[j] = math.Inf(-1)
			continue
		}
		live++
		if x := u[j]; x != math.Inf(-1) && x >= tau { // not kept
			buf[nb] = seed{x, int32(start) + int32(j)}
			nb++
		}
	}
	sd.buf, sd.live = buf[:nb], sd.live+live
}

// filterRare completes filterBlock for candidate i with flags fl, in a
// StaticSignals session, or with a non-finite bound: the flag filters,
// which take precedence over the mark f (unless decided), the fatigue
// term, and the kept candidates. It returns the filter.
func (r *Ranker) filterRare(s *scratch, b *Batch, sd *seeder, i int, fl uint8, f Filter, u *float64, want *[NumLanes]int, staticServed, decided bool) Filter {
	asOf := s.in.asOf
	if fl != 0 && !decided {
		if g := r.flagFilter(b, i, fl, want, asOf); g != FilterNone {
			return g
		}
	}
	if f != FilterNone {
		return f
	}
	if fl&flagNeg != 0 && r.fatigue.on {
		*u += ln(r.fatigue.factor(b.negAt[i], asOf))
	}
	if fl&flagLane != 0 || *u-*u != 0 || (staticServed && s.isServed(b, int32(i))) {
		sd.kept = append(sd.kept, int32(i))
		*u = math.Inf(-1)
	}
	return FilterNone
}

// seeder selects the seeds: the prunable candidates with the k largest
// bounds. Its buffer holds every bound at least the running estimate tau
// of the k-th largest; when it is full, a selection raises tau to the
// k-th largest bound seen and drops the rest (see reserve).
type seeder struct {
	k      int
	tau    float64
	buf    []seed
	sa, sb []float64 // kthLargest's scratch, as long as buf's capacity
	kept   []int32   // candidates never pruned, to score
	live   int       // candidates no filter removed
}

// reserve makes room in buf for n more candidates: when there is not, a
// selection raises tau to the k-th largest bound in buf and drops the
// bounds below it (all of them, with -Inf as tau, when ties defeat it).
func (sd *seeder) reserve(n int) {
	if len(sd.buf)+n <= cap(sd.buf) {
		return
	}
	sd.tau = kthLargest(sd.buf, sd.k, sd.sa, sd.sb)
	sd.buf = compactAtLeast(sd.buf, sd.tau)
	if len(sd.buf)+n > cap(sd.buf) { // ties: no seeds
		sd.tau, sd.buf = math.Inf(1), sd.buf[:0]
	}
}

// finish returns tau, the k-th largest bound among the prunable
// candidates (-Inf when there are fewer than k, +Inf when ties defeated
// the selection); floor, the running estimate of tau, below which are the
// bounds of every prunable candidate not in buf; and the number of
// prunable candidates. The seeds are the entries of buf at least tau.
func (sd *seeder) finish() (tau, floor float64, prunable int) {
	floor, prunable = sd.tau, sd.live-len(sd.kept)
	switch {
	case len(sd.buf) >= sd.k:
		tau = kthLargest(sd.buf, sd.k, sd.sa, sd.sb)
	case floor == math.Inf(1):
		tau = floor
	default: // fewer than k: all are seeds
		tau, floor = math.Inf(-1), math.Inf(-1)
	}
	return tau, floor, prunable
}

// seed is a candidate and its bound.
type seed struct {
	u float64
	i int32
}

// compactAtLeast keeps the entries of x whose bound is at least t.
func compactAtLeast(x []seed, t float64) []seed {
	n := 0
	for _, e := range x {
		if e.u >= t {
			x[n] = e
			n++
		}
	}
	return x[:n]
}

// kthLargest returns the k-th largest bound in x (1 <= k <= len(x); all
// finite, none −0), using sa and sb (each at least len(x) long) as
// scratch: quickselect with a median-of-three pivot and out-of-place
// partitions that write every value to both ends of the other buffer and
// advance one end, so that no branch depends on the data and no load waits
// for a store.
func kthLargest(x []seed, k int, sa, sb []float64) float64 {
	a, b := sa[:len(x)], sb
	for i, e := range x {
		a[i] = e.u
	}
	want := k - 1
	for len(a) > 1 {
		n := len(a)
		p := max(min(a[0], a[n/2]), min(max(a[0], a[n/2]), a[n-1])) // median
		b = b[:n]
		lo, hi := 0, n-1
		for _, v := range a { // b[:lo] > p >= b[hi+1:]
			gt := less(p, v)
			b[lo] = v
			b[hi] = v
			lo += gt
			hi -= gt ^ 1
		}
		switch {
		case want < lo:
			a, b = b[:lo], a
		case lo > 0:
			a, b, want = b[lo:], a, want-lo
		default: // p is the largest: set aside the values equal to it
			a = a[:n]
			eq, hi := 0, n-1
			for _, v := range b { // a[:eq] == p > a[hi+1:]
				lt := less(v, p)
				a[eq] = v
				a[hi] = v
				eq += lt ^ 1
				hi -= lt
			}
			if want < eq {
				return p
			}
			a, want = a[eq:], want-eq
		}
	}
	return a[0]
}

// less is 1 if x < y, else 0, computed from the sign of x − y so that the
// compiler emits no branch (it does for a float comparison). Neither may
// be NaN or −0, nor both infinite: then x − y is negative exactly when
// x < y. Bounds are never −0: they are sums started at +0, and a rounded
// sum is −0 only when both addends are.
func less(x, y float64) int { return int(math.Float64bits(x-y) >> 63) }

// addToChunk queues candidate i for full scoring, scoring the queue when
// it is full.
func (r *Ranker) addToChunk(s *scratch, in *Input, i int32, st *selState, out *Page) error {
	s.chunk = append(s.chunk, i)
	if len(s.chunk) < pruneChunk {
		return nil
	}
	return r.flushChunk(s, in, st, out)
}

// flushChunk fully scores the queued candidates and offers them to
// selection.
func (r *Ranker) flushChunk(s *scratch, in *Input, st *selState, out *Page) error {
	chunk := s.chunk
	if len(chunk) == 0 {
		return nil
	}
	s.chunk = chunk[:0]
	for _, i := range chunk {
		s.score[i] = 0
	}
	live := in.Live
	in.Live = chunk
	err := r.score(s, in, nil)
	in.Live = live
	if err != nil {
		return err
	}
	r.selectItems(s, in.Batch, chunk, st, out)
	return nil
}

// lnUpFrac[j] is ln(1 + (j+1)/256) plus 1e-12, and lnUpExp[e] is
// (e − 1023)·ln2 enlarged by a relative 2^-40 for a biased exponent e of
// at least 1023 (x ≥ 1), 0 below (ln x < 0 there), +Inf for infinities
// and NaN.
var lnUpFrac, lnUpExp = func() (f [256]float64, e [2048]float64) {
	for j := range f {
		f[j] = math.Log1p(float64(j+1)/256) + 1e-12
	}
	for k := 1023; k < 2047; k++ {
		e[k] = float64(k-1023) * (math.Ln2 * (1 + 1.0/(1<<40)))
	}
	e[2047] = math.Inf(1)
	return f, e
}()

// lnUp returns an upper bound of ln(y), as computed by ln, for every y in
// [1, x·(1 + 1e-13)], for finite x ≥ 1. With x = 2^k·m, m in [1, 2), and j
// the first 8 bits of m's fraction, ln x < k·ln2 + ln(1 + (j+1)/256); the
// margins (2^-40 relative on k·ln2, 1e-12 absolute) exceed by far both
// the 2 ulp by which ln may differ from the true logarithm and the
// relative 1e-13 allowed on x. It is at most ln(1 + 1/256) ≈ 0.0039 above
// ln x, and costs two table look-ups.
func lnUp(x float64) float64 {
	b := math.Float64bits(x)
	return lnUpExp[b>>52&2047] + lnUpFrac[b>>44&255]
}
