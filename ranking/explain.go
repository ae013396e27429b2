package ranking

import (
	"math"
	"time"
)

// Explanation says how a page was made: for each item the additive
// contribution of every signal, each multiplicative adjustment with its
// factor, and its slot; for each removed candidate, the filter.
type Explanation struct {
	// AsOf is the instant the page was ranked as of.
	AsOf time.Time
	// Items explains the page's items, in page order.
	Items []ItemExplanation
	// Filtered lists every removed candidate, in batch order.
	Filtered []Removal
	// Cursor is the page's Cursor.
	Cursor string
	// More is the page's More.
	More bool
}

// ItemExplanation explains one item of a page. For every item
//
//	Base  = Σ Signals[j].Contribution + ln(factor of "fatigue")
//	Score = Base + Σ ln(factor of each "diversity:<axis>")
//
// up to floating-point rounding.
type ItemExplanation struct {
	// Slot is the 1-based position on the page.
	Slot int
	// ID is the candidate's ID.
	ID string
	// Index is the candidate's position in the batch.
	Index int
	// Lane is the candidate's lane.
	Lane Lane
	// Sponsored is Lane == LaneSponsored: show the item labelled as an ad.
	Sponsored bool
	// Score and Base are as in Item.
	Score, Base float64
	// Signals lists every signal of the Config, in Config order.
	Signals []Contribution
	// Multipliers lists the factors that applied, in order: fatigue (for
	// an item with negative feedback, even once recovered to 1), then the
	// diversity penalties in Config order (for a repeat: factor(i) with
	// i > 0, which is 1 when Decay or Floor is 1).
	Multipliers []Multiplier
	// MMR is set when MMR chose the item's position.
	MMR *MMRChoice
}

// Contribution is one signal's part of an item's score.
type Contribution struct {
	Name         string  // the signal's name
	Value        float64 // what the signal computed
	Weight       float64 // the signal's weight
	Contribution float64 // Weight × Value, added to the score
}

// Multiplier is a multiplicative adjustment of an item's linear relevance,
// applied as ln(Factor) added to its score.
type Multiplier struct {
	Name   string  // "fatigue" or "diversity:<axis>"
	Factor float64 // in (0, 1]
}

// MMRChoice records how MMR chose an item.
type MMRChoice struct {
	// Relevance is the item's score rescaled to [0, 1] over the pool.
	Relevance float64
	// MaxSimilarity is the item's largest cosine similarity to the items
	// MMR had placed before it (0 for the first).
	MaxSimilarity float64
}

// Removal names a removed candidate and the filter that removed it.
type Removal struct {
	ID     string // the candidate's ID
	Index  int    // its position in the batch
	Filter Filter // the first filter that removed it
}

// Explain ranks like Rank and explains the result. It allocates in
// proportion to the batch; use it for debugging and sampled requests, not
// on every request.
func (r *Ranker) Explain(req Request, batch *Batch) (*Explanation, error) {
	var p Page
	ex := &Explanation{}
	if err := r.run(&req, batch, &p, ex); err != nil {
		return nil, err
	}
	return ex, nil
}

func (r *Ranker) explain(s *scratch, b *Batch, out *Page, ex *Explanation) {
	ex.AsOf, ex.Cursor, ex.More = out.AsOf, out.Cursor, out.More
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, p := range s.order {
		lo, hi = min(lo, s.final[p]), max(hi, s.final[p])
	}
	for j, it := range out.Items {
		i := it.Index
		e := ItemExplanation{
			Slot: j + 1, ID: it.ID, Index: i, Lane: it.Lane, Sponsored: it.Lane == LaneSponsored,
			Score: it.Score, Base: it.Base,
		}
		for k := range r.signals {
			v, w := s.sig[k][i], r.signals[k].Weight
			e.Signals = append(e.Signals, Contribution{Name: r.names[k], Value: v, Weight: w, Contribution: w * v})
		}
		if r.fatigue.on && b.flags[i]&flagNeg != 0 { // as scoring decides: feedback at the Unix epoch counts
			e.Multipliers = append(e.Multipliers, Multiplier{Name: "fatigue", Factor: s.fat[i]})
		}
		if p := s.itemPos[j]; p >= 0 {
			for k := range r.penalties {
				if c := s.reps[k][p]; c > 0 {
					pe := &r.penalties[k]
					e.Multipliers = append(e.Multipliers, Multiplier{Name: pe.name, Factor: pe.factors[c]})
				}
			}
			if ms := s.mmrSim[p]; !math.IsNaN(ms) {
				e.MMR = &MMRChoice{Relevance: relevance(s.final[p], lo, hi), MaxSimilarity: ms}
			}
		}
		ex.Items = append(ex.Items, e)
	}
	for i, f := range s.reason[:s.n] {
		if f != FilterNone {
			ex.Filtered = append(ex.Filtered, Removal{ID: b.ids[i], Index: i, Filter: f})
		}
	}
}
