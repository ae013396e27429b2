package ranking

import (
	"math"
	"slices"
)

// orderOrganic applies the axis penalties and MMR to the organic pool
// (s.pool, best base first) and returns the pool positions of the organic
// items in page order, at most want of them. It leaves the final scores in
// s.final and clears s.picked.
func (r *Ranker) orderOrganic(s *scratch, b *Batch, want int, explain bool) []int32 {
	pool := s.pool
	n := len(pool)
	s.final = growF(s.final, n)
	s.order = growI(s.order, n)
	s.picked = growB(s.picked, n)
	clear(s.picked)
	final, order := s.final, s.order
	for p, i := range pool {
		final[p] = s.score[i]
		order[p] = int32(p)
	}
	for k := range r.penalties {
		pe := &r.penalties[k]
		hs, vs := b.axish[pe.p.Axis], b.axis[pe.p.Axis]
		s.reps[k] = growI(s.reps[k], n)
		reps := s.reps[k]
		s.tab.reset(n)
		for p, i := range pool {
			h := hs[i]
			if h == 0 {
				reps[p] = 0
				continue
			}
			c := s.tab.incr(h, vs[i])
			reps[p] = c
			if c > 0 {
				final[p] += pe.ln[min(int(c), len(pe.ln)-1)]
			}
		}
	}
	if len(r.penalties) > 0 {
		o := finalOrder{final: final, pool: pool, ids: b.ids}
		o.sort(order)
	}
	if explain || r.mmrHead > 0 {
		s.mmrSim = growF(s.mmrSim, n)
		for p := range s.mmrSim {
			s.mmrSim[p] = math.NaN()
		}
	}
	if r.mmrHead > 0 && b.dim > 0 {
		r.mmr(s, b, min(r.mmrHead, want))
	}
	if want < n {
		order = order[:want]
	}
	return order
}

// finalOrder orders pool positions by final score descending, then ID
// ascending: a total order, since IDs are unique.
type finalOrder struct {
	final []float64 // per pool position
	pool  []int32   // pool position → batch index
	ids   []string  // per batch index
}

// before reports whether position x comes before position y.
func (o *finalOrder) before(x, y int32) bool {
	if fx, fy := o.final[x], o.final[y]; fx != fy {
		return fx > fy
	}
	return o.ids[o.pool[x]] < o.ids[o.pool[y]]
}

func (o *finalOrder) cmp(x, y int32) int {
	switch {
	case o.before(x, y):
		return -1
	case o.before(y, x):
		return 1
	}
	return 0
}

// sort sorts positions by insertion sort while they are nearly sorted (the
// usual case after soft penalties), and by pattern-defeating quicksort
// once that costs too many moves. Both are deterministic and allocation
// free, and as the order is total they give the same result.
func (o *finalOrder) sort(x []int32) {
	inversions := 0
	for j := 1; j < len(x); j++ {
		v := x[j]
		k := j
		for k > 0 && o.before(v, x[k-1]) {
			k--
		}
		copy(x[k+1:j+1], x[k:j])
		x[k] = v
		if inversions += j - k; inversions > 8*len(x) {
			slices.SortFunc(x, o.cmp)
			return
		}
	}
}

// mmr rewrites s.order so that its first head entries are the greedy MMR
// picks, followed by the other pool positions in their previous order.
func (r *Ranker) mmr(s *scratch, b *Batch, head int) {
	order, pool, final := s.order, s.pool, s.final
	n := len(order)
	head = min(head, n)
	if head <= 0 {
		return
	}
	s.rel = growF(s.rel, n)
	s.msim = growF(s.msim, n)
	s.chosen = growB(s.chosen, n)
	rel, msim, chosen := s.rel, s.msim, s.chosen
	clear(chosen)
	clear(msim)
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, p := range order {
		lo, hi = min(lo, final[p]), max(hi, final[p])
	}
	for j, p := range order {
		rel[j] = relevance(final[p], lo, hi)
	}
	lambda := r.mmrLambda
	dim := b.dim
	picks := s.mmrPicks[:0]
	for step := 0; step < head; step++ {
		best, bv := -1, 0.0
		for j := 0; j < n; j++ {
			if chosen[j] {
				continue
			}
			v := float64(lambda * rel[j])
			if step > 0 {
				v -= float64((1 - lambda) * msim[j])
			}
			if best < 0 || v > bv {
				best, bv = j, v
			}
		}
		chosen[best] = true
		p := order[best]
		picks = append(picks, p)
		if step > 0 {
			s.mmrSim[p] = msim[best]
		} else {
			s.mmrSim[p] = 0
		}
		bi := int(pool[p])
		var e []float32
		if b.hasEmb[bi] {
			e = b.emb[bi*dim : (bi+1)*dim]
		}
		for j := 0; j < n; j++ {
			if chosen[j] {
				continue
			}
			var sim float64
			if ci := int(pool[order[j]]); e != nil && b.hasEmb[ci] {
				sim = float64(dot(e, b.emb[ci*dim:(ci+1)*dim]))
			}
			if step == 0 || sim > msim[j] {
				msim[j] = sim
			}
		}
	}
	for j := 0; j < n; j++ {
		if !chosen[j] {
			picks = append(picks, order[j])
		}
	}
	copy(order, picks)
	s.mmrPicks = picks[:0]
}

// relevance rescales a score x in [lo, hi] to [0, 1] (1 when hi == lo).
// Scores are finite, but a host signal's may be so large that hi − lo
// overflows to +Inf, which made (x − lo)/(hi − lo) NaN at the top:
// halved first, the differences stay finite, and the quotient is the same
// wherever hi − lo does not overflow.
func relevance(x, lo, hi float64) float64 {
	if !(hi > lo) {
		return 1
	}
	if d := hi - lo; !math.IsInf(d, 1) {
		return (x - lo) / d
	}
	return (x/2 - lo/2) / (hi/2 - lo/2)
}

// dot is the inner product of two equal-length vectors, summed in a fixed
// order (four interleaved partial sums) with each product rounded, so
// that it is the same on every architecture.
func dot(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += float32(a[i] * b[i])
		s1 += float32(a[i+1] * b[i+1])
		s2 += float32(a[i+2] * b[i+2])
		s3 += float32(a[i+3] * b[i+3])
	}
	for ; i < len(a); i++ {
		s0 += float32(a[i] * b[i])
	}
	return (s0 + s1) + (s2 + s3)
}
