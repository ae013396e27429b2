package ranking

import (
	"fmt"
	"math"
	"time"
)

// Action is a kind of engagement counted per candidate.
type Action uint8

// The engagement actions. Hide and Report are the negative ones: give them
// negative weights in Engagement.Weights.
const (
	ActionLike Action = iota
	ActionComment
	ActionShare
	ActionSave
	ActionClick
	ActionCart // added to cart
	ActionPurchase
	ActionHide   // "see less", "not interested"
	ActionReport // reported as spam or abuse
)

// NumActions is the number of Actions.
const NumActions = 9

var actionNames = [NumActions]string{"like", "comment", "share", "save", "click", "cart", "purchase", "hide", "report"}

// String returns the action's lower-case name.
func (a Action) String() string {
	if int(a) < NumActions {
		return actionNames[a]
	}
	return fmt.Sprintf("action(%d)", a)
}

// Tier is the credibility class of the accounts behind some engagement:
// the host decides which accounts are new or suspected automation, and
// Engagement.Credibility says how much each class counts, so that bot
// likes count less than people's.
type Tier uint8

// The credibility tiers.
const (
	TierRegular Tier = iota // established accounts
	TierNew                 // new or unverified accounts
	TierSuspect             // accounts suspected of automation or fraud
)

// NumTiers is the number of Tiers.
const NumTiers = 3

var tierNames = [NumTiers]string{"regular", "new", "suspect"}

// String returns the tier's lower-case name.
func (t Tier) String() string {
	if int(t) < NumTiers {
		return tierNames[t]
	}
	return fmt.Sprintf("tier(%d)", t)
}

// Counts holds one number per Action, indexed by the Action constants:
// Counts{ActionLike: 120, ActionComment: 4}.
type Counts [NumActions]float64

// Stock is a candidate's availability.
type Stock uint8

// The stock states. The zero value is StockUnknown, for candidates that are
// not products (a post without a product tag).
const (
	StockUnknown Stock = iota
	InStock
	OutOfStock
)

// Lane says where a candidate may be placed on a page.
type Lane uint8

// The lanes. Organic candidates compete on score for every position that is
// not a slot; candidates of another lane appear only in that lane's
// Config.Slots and are labelled with their lane.
const (
	LaneOrganic   Lane = iota
	LaneSponsored      // a paid placement; Explain marks it Sponsored
	LaneKOL            // a key opinion leader's (influencer's) placement
)

// NumLanes is the number of Lanes.
const NumLanes = 3

var laneNames = [NumLanes]string{"organic", "sponsored", "kol"}

// String returns the lane's lower-case name.
func (l Lane) String() string {
	if int(l) < NumLanes {
		return laneNames[l]
	}
	return fmt.Sprintf("lane(%d)", l)
}

// Axis is a candidate attribute along which a page is diversified.
type Axis uint8

// The diversity axes.
const (
	AxisAuthor   Axis = iota
	AxisSeller        // the seller or brand
	AxisProduct       // the product a post is about, or the product itself
	AxisCategory      // the product category
)

// AxisBrand is AxisSeller: a candidate's seller or brand.
const AxisBrand = AxisSeller

// NumAxes is the number of Axes.
const NumAxes = 4

var axisNames = [NumAxes]string{"author", "seller", "product", "category"}

// String returns the axis's lower-case name.
func (a Axis) String() string {
	if int(a) < NumAxes {
		return axisNames[a]
	}
	return fmt.Sprintf("axis(%d)", a)
}

// Limits on candidate fields, enforced by Batch.Add and Batch.Set.
const (
	MaxIDLength     = 256        // bytes, for ID, Author, Seller, Product, Category and Request.Viewer
	MaxCount        = 1e12       // largest engagement or rating count
	MaxAffinity     = 1e6        // largest viewer affinity
	MaxEmbeddingDim = 4096       // longest embedding
	MaxBatchSize    = 10_000_000 // most candidates in one Batch
)

// Candidate is one item offered for ranking: a post, a product, a team.
// Only ID and Created are required; every other field has a neutral zero
// value.
type Candidate struct {
	// ID identifies the item; unique within a Batch, 1..MaxIDLength bytes.
	// It is the final tie-break of the total order (ascending byte order).
	ID string
	// Author is who posted it (the creator, the KOL, the team leader).
	Author string
	// Seller is the seller or brand.
	Seller string
	// Product is the product the item is about, or the product itself.
	Product string
	// Category is the product category.
	Category string
	// Created is when the item was published; the time decays use it.
	Created time.Time
	// Engagement counts actions per credibility tier:
	// Engagement[TierRegular][ActionLike] is the number of likes from
	// regular accounts. Counts are finite and in [0, MaxCount].
	Engagement [NumTiers]Counts
	// RatingSum and RatingCount describe the item's ratings: the sum of
	// the scores given (on the scale of the rating signal, 1..5 stars by
	// default; for thumbs up/down use a 0..1 scale and the number of ups)
	// and how many were given. RatingSum must be 0 when RatingCount is 0.
	RatingSum float64
	// RatingCount is the number of ratings, in [0, MaxCount].
	RatingCount float64
	// PriceMinor is the price in minor currency units (exact, never a
	// float); 0 means none. PriceFit compares it with Request.PriceRef.
	PriceMinor int64
	// Stock is the availability; OutOfStock items are filtered unless
	// Config.KeepOutOfStock.
	Stock Stock
	// Affinity is the viewer's affinity to the item or its author, >= 0
	// (for example interactions with the author in the last 30 days).
	Affinity float64
	// Lane places the item: organic, sponsored (the sponsored flag) or
	// KOL.
	Lane Lane
	// NegativeFeedbackAt is when the viewer last said "see less" about the
	// item or its author; zero means never. Config.Fatigue uses it.
	NegativeFeedbackAt time.Time
	// Embedding is an optional vector for MMR diversity. All embeddings in
	// a Batch have the same length; the Batch stores them normalised to
	// unit length, and an all-zero vector counts as none.
	Embedding []float32
}

// Per-candidate flags, so that the filter pass reads one byte for the
// common case.
const (
	flagLane uint8 = 1 << iota // Lane != LaneOrganic
	flagOOS                    // Stock == OutOfStock
	flagNeg                    // NegativeFeedbackAt is set
)

// Batch holds candidates as a struct of arrays: one slice per field, so
// that a signal streams through the one or two columns it reads. Build it
// with Add, change an item in place with Set, and Reset it to reuse its
// memory for the next request. A nil *Batch is an empty batch: Len is 0,
// Index -1, Reset does nothing, and Add and Set return a
// *ValidationError. The accessors that take a candidate's index i (ID,
// Attr, Created, ...) need 0 <= i < Len() and panic otherwise, as a slice
// index does. A Batch is not safe for concurrent writes;
// several goroutines may Rank the same Batch at once if none writes to it.
type Batch struct {
	ids      []string
	idh      []uint64
	axis     [NumAxes][]string
	axish    [NumAxes][]uint64
	created  []int64                         // Unix nanoseconds
	counts   [NumTiers][NumActions][]float32 // a column per tier and action; empty until a candidate has a non-zero count
	tiers    []uint8                         // bit t set when tier t has a non-zero count
	rsum     []float64
	rcount   []float64
	price    []int64
	stock    []Stock
	affinity []float64
	lane     []Lane
	negAt    []int64 // Unix nanoseconds, when flagNeg is set (0 is then the Unix epoch, a valid time)
	flags    []uint8 // flagLane | flagOOS | flagNeg: the rare cases filters look at
	dim      int
	emb      []float32 // len(ids)*dim, unit rows
	hasEmb   []bool
	index    []int32 // open addressing on idh: batch index + 1, 0 = free
	seed     uint64  // keys the index's slot positions (see slotOf)
}

// NewBatch returns an empty Batch with room for capacity candidates, at
// most MaxBatchSize (a Batch holds no more); a capacity <= 0 makes room
// as candidates come.
func NewBatch(capacity int) *Batch {
	b := &Batch{}
	if capacity > 0 {
		b.grow(min(capacity, MaxBatchSize))
	}
	return b
}

func (b *Batch) grow(capacity int) {
	b.ids = make([]string, 0, capacity)
	b.idh = make([]uint64, 0, capacity)
	for a := range b.axis {
		b.axis[a] = make([]string, 0, capacity)
		b.axish[a] = make([]uint64, 0, capacity)
	}
	b.created = make([]int64, 0, capacity)
	b.tiers = make([]uint8, 0, capacity)
	b.rsum = make([]float64, 0, capacity)
	b.rcount = make([]float64, 0, capacity)
	b.price = make([]int64, 0, capacity)
	b.stock = make([]Stock, 0, capacity)
	b.affinity = make([]float64, 0, capacity)
	b.lane = make([]Lane, 0, capacity)
	b.negAt = make([]int64, 0, capacity)
	b.flags = make([]uint8, 0, capacity)
	b.hasEmb = make([]bool, 0, capacity)
}

// Len returns the number of candidates; 0 for a nil *Batch.
func (b *Batch) Len() int {
	if b == nil {
		return 0
	}
	return len(b.ids)
}

// Reset empties the batch and keeps its memory. A nil *Batch is empty
// already: Reset does nothing.
func (b *Batch) Reset() {
	if b == nil {
		return
	}
	clear(b.ids) // the IDs are the caller's, as are the axis values: let them go
	b.ids = b.ids[:0]
	b.idh = b.idh[:0]
	for a := range b.axis {
		clear(b.axis[a]) // drop string references
		b.axis[a] = b.axis[a][:0]
		b.axish[a] = b.axish[a][:0]
	}
	b.created = b.created[:0]
	for t := range b.counts {
		for a := range b.counts[t] {
			b.counts[t][a] = b.counts[t][a][:0]
		}
	}
	b.tiers = b.tiers[:0]
	b.rsum = b.rsum[:0]
	b.rcount = b.rcount[:0]
	b.price = b.price[:0]
	b.stock = b.stock[:0]
	b.affinity = b.affinity[:0]
	b.lane = b.lane[:0]
	b.negAt = b.negAt[:0]
	b.flags = b.flags[:0]
	b.dim = 0
	b.emb = b.emb[:0]
	b.hasEmb = b.hasEmb[:0]
	clear(b.index)
}

// Add validates c and appends it. It returns a *ValidationError, and
// changes nothing, when a field is out of range or the ID is already in the
// batch.
func (b *Batch) Add(c *Candidate) error {
	if b == nil {
		return errNilBatch()
	}
	n := len(b.ids)
	if c == nil {
		return invalid(fmt.Sprintf("candidates[%d]", n), "must not be nil")
	}
	if n >= MaxBatchSize {
		return invalid("candidates", fmt.Sprintf("at most %d per batch", MaxBatchSize))
	}
	if err := b.check(c, n); err != nil {
		return err
	}
	h := hashString(c.ID)
	if j := b.lookup(c.ID, h); j >= 0 {
		return invalid(fmt.Sprintf("candidates[%d].ID", n), fmt.Sprintf("duplicate of candidates[%d]", j))
	}
	if len(c.Embedding) > 0 && b.dim == 0 {
		b.dim = len(c.Embedding)
		b.emb = append(b.emb[:0], make([]float32, n*b.dim)...)
	}
	b.ids = append(b.ids, c.ID)
	b.idh = append(b.idh, h)
	for a := range b.axis {
		b.axis[a] = append(b.axis[a], "")
		b.axish[a] = append(b.axish[a], 0)
	}
	b.created = append(b.created, 0)
	for t := range b.counts {
		for a, col := range b.counts[t] {
			if len(col) > 0 {
				b.counts[t][a] = append(col, 0)
			}
		}
	}
	b.tiers = append(b.tiers, 0)
	b.rsum = append(b.rsum, 0)
	b.rcount = append(b.rcount, 0)
	b.price = append(b.price, 0)
	b.stock = append(b.stock, 0)
	b.affinity = append(b.affinity, 0)
	b.lane = append(b.lane, 0)
	b.negAt = append(b.negAt, 0)
	b.flags = append(b.flags, 0)
	b.hasEmb = append(b.hasEmb, false)
	b.emb = append(b.emb, make([]float32, b.dim)...)
	b.store(n, c)
	b.insertIndex(n)
	return nil
}

// errNilBatch is the error of Add and Set on a nil *Batch (they panicked).
func errNilBatch() error { return invalid("batch", "must not be nil") }

// Set validates c and replaces candidate i with it, for example with new
// engagement counts between two pages. The ID must stay the same.
func (b *Batch) Set(i int, c *Candidate) error {
	if b == nil {
		return errNilBatch()
	}
	if i < 0 || i >= len(b.ids) {
		return invalid("index", fmt.Sprintf("must be in 0..%d", len(b.ids)-1))
	}
	if c == nil {
		return invalid(fmt.Sprintf("candidates[%d]", i), "must not be nil")
	}
	if err := b.check(c, i); err != nil {
		return err
	}
	if c.ID != b.ids[i] {
		return invalid(fmt.Sprintf("candidates[%d].ID", i), "Set must keep the ID; Reset and Add to change it")
	}
	if len(c.Embedding) > 0 && b.dim == 0 {
		b.dim = len(c.Embedding)
		b.emb = append(b.emb[:0], make([]float32, len(b.ids)*b.dim)...)
	}
	b.store(i, c)
	return nil
}

func validTime(t time.Time) bool {
	y := t.Year()
	return y >= 1970 && y <= 2200
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

func (b *Batch) check(c *Candidate, n int) error {
	f := func(name string) string { return fmt.Sprintf("candidates[%d].%s", n, name) }
	if c.ID == "" {
		return invalid(f("ID"), "must not be empty")
	}
	if len(c.ID) > MaxIDLength {
		return invalid(f("ID"), fmt.Sprintf("longer than %d bytes", MaxIDLength))
	}
	for a, v := range [NumAxes]string{c.Author, c.Seller, c.Product, c.Category} {
		if len(v) > MaxIDLength {
			return invalid(f(axisField[a]), fmt.Sprintf("longer than %d bytes", MaxIDLength))
		}
	}
	if !validTime(c.Created) {
		return invalid(f("Created"), "must be set, between years 1970 and 2200")
	}
	for t := range c.Engagement {
		for a, v := range c.Engagement[t] {
			if !finite(v) || v < 0 || v > MaxCount {
				return invalid(f(fmt.Sprintf("Engagement[%s][%s]", Tier(t), Action(a))), "must be a finite count in [0, 1e12]")
			}
		}
	}
	if !finite(c.RatingCount) || c.RatingCount < 0 || c.RatingCount > MaxCount {
		return invalid(f("RatingCount"), "must be a finite count in [0, 1e12]")
	}
	if !finite(c.RatingSum) || math.Abs(c.RatingSum) > 1e6*MaxCount {
		return invalid(f("RatingSum"), "must be finite")
	}
	if c.RatingCount == 0 && c.RatingSum != 0 {
		return invalid(f("RatingSum"), "must be 0 when RatingCount is 0")
	}
	if c.PriceMinor < 0 {
		return invalid(f("PriceMinor"), "must not be negative")
	}
	if c.Stock > OutOfStock {
		return invalid(f("Stock"), fmt.Sprintf("unknown stock state %d", c.Stock))
	}
	if int(c.Lane) >= NumLanes {
		return invalid(f("Lane"), fmt.Sprintf("unknown lane %d", c.Lane))
	}
	if !finite(c.Affinity) || c.Affinity < 0 || c.Affinity > MaxAffinity {
		return invalid(f("Affinity"), "must be finite, in [0, 1e6]")
	}
	if !c.NegativeFeedbackAt.IsZero() && !validTime(c.NegativeFeedbackAt) {
		return invalid(f("NegativeFeedbackAt"), "must be zero or between years 1970 and 2200")
	}
	if len(c.Embedding) > 0 {
		if len(c.Embedding) > MaxEmbeddingDim {
			return invalid(f("Embedding"), fmt.Sprintf("longer than %d", MaxEmbeddingDim))
		}
		if b.dim != 0 && len(c.Embedding) != b.dim {
			return invalid(f("Embedding"), fmt.Sprintf("has length %d, the batch's embeddings have %d", len(c.Embedding), b.dim))
		}
		for _, v := range c.Embedding {
			if !finite(float64(v)) {
				return invalid(f("Embedding"), "must be finite")
			}
		}
	}
	return nil
}

var axisField = [NumAxes]string{"Author", "Seller", "Product", "Category"}

// store writes a checked candidate into row i.
func (b *Batch) store(i int, c *Candidate) {
	for a, v := range [NumAxes]string{c.Author, c.Seller, c.Product, c.Category} {
		b.axis[a][i] = v
		b.axish[a][i] = hashString(v)
	}
	b.created[i] = c.Created.UnixNano()
	var mask uint8
	for t := range c.Engagement {
		for a, v := range c.Engagement[t] {
			col := b.counts[t][a]
			if v != 0 {
				mask |= 1 << t
				if n := len(b.ids); len(col) < n { // the column's first use
					col = append(col, make([]float32, n-len(col))...)
					b.counts[t][a] = col
				}
			}
			if len(col) > 0 {
				col[i] = float32(v)
			}
		}
	}
	b.tiers[i] = mask
	b.rsum[i] = c.RatingSum
	b.rcount[i] = c.RatingCount
	b.price[i] = c.PriceMinor
	b.stock[i] = c.Stock
	b.affinity[i] = c.Affinity
	b.lane[i] = c.Lane
	b.negAt[i] = 0
	var fl uint8
	if !c.NegativeFeedbackAt.IsZero() {
		b.negAt[i] = c.NegativeFeedbackAt.UnixNano()
		fl |= flagNeg
	}
	if c.Lane != LaneOrganic {
		fl |= flagLane
	}
	if c.Stock == OutOfStock {
		fl |= flagOOS
	}
	b.flags[i] = fl
	b.hasEmb[i] = false
	if b.dim > 0 {
		e := b.emb[i*b.dim : (i+1)*b.dim]
		clear(e)
		if len(c.Embedding) > 0 {
			var norm float64
			for _, v := range c.Embedding {
				norm += float64(float64(v) * float64(v)) // rounded: no fused multiply-add
			}
			if norm > 0 && !math.IsInf(norm, 0) {
				inv := 1 / math.Sqrt(norm)
				for k, v := range c.Embedding {
					e[k] = float32(float64(v) * inv)
				}
				b.hasEmb[i] = true
			}
		}
	}
}

// lookup returns the index of id, or -1.
func (b *Batch) lookup(id string, h uint64) int {
	if b == nil || len(b.index) == 0 {
		return -1
	}
	mask := uint64(len(b.index) - 1)
	for k := slotOf(h, b.seed, mask); ; k = (k + 1) & mask {
		j := b.index[k]
		if j == 0 {
			return -1
		}
		if b.idh[j-1] == h && b.ids[j-1] == id {
			return int(j - 1)
		}
	}
}

func (b *Batch) insertIndex(i int) {
	if 2*len(b.ids) > len(b.index) {
		size := 64
		for size < 4*len(b.ids) {
			size *= 2
		}
		b.index = make([]int32, size)
		b.seed = newSeed()
		for j := 0; j < len(b.ids)-1; j++ {
			b.place(j)
		}
	}
	b.place(i)
}

func (b *Batch) place(i int) {
	mask := uint64(len(b.index) - 1)
	for k := slotOf(b.idh[i], b.seed, mask); ; k = (k + 1) & mask {
		if b.index[k] == 0 {
			b.index[k] = int32(i + 1)
			return
		}
	}
}

// markIDs sets mark[j] = f for every candidate j whose ID is in set and
// whose mark is still FilterNone: the same candidates as testing
// set.hasID(hash of j, ID of j) for each, at the cost of one index probe
// per member. With served set, set holds servedProbe values, and a
// candidate is marked only if served.isServed(j) too.
func (b *Batch) markIDs(set *IDSet, mark []Filter, f Filter, served *scratch) {
	if len(b.index) == 0 {
		return
	}
	mask := uint64(len(b.index) - 1)
	for k0, h := range set.slots {
		if h == 0 {
			continue
		}
		var id string // the member's ID, which a candidate with hash h must have too
		if set.ids != nil {
			id = set.ids[k0]
		}
		// Every candidate with hash h is on the probe sequence before the
		// first free slot (IDs are unique, hashes need not be).
		for k := slotOf(h, b.seed, mask); ; k = (k + 1) & mask {
			j := b.index[k]
			if j == 0 {
				break
			}
			if hj := b.idh[j-1]; mark[j-1] == FilterNone && ((served == nil && hj == h && (set.ids == nil || b.ids[j-1] == id)) || (served != nil && servedProbe(hj) == h && served.isServed(b, j-1))) {
				mark[j-1] = f
			}
		}
	}
}

// Index returns the position of the candidate with the given ID, or -1
// (always -1 for a nil *Batch).
func (b *Batch) Index(id string) int { return b.lookup(id, hashString(id)) }

// ID returns candidate i's ID.
func (b *Batch) ID(i int) string { return b.ids[i] }

// Attr returns candidate i's value on an axis (author, seller, product or
// category); "" when it has none.
func (b *Batch) Attr(i int, a Axis) string { return b.axis[a][i] }

// Created returns when candidate i was published, in UTC.
func (b *Batch) Created(i int) time.Time { return time.Unix(0, b.created[i]).UTC() }

// CreatedUnixNano returns Created as Unix nanoseconds.
func (b *Batch) CreatedUnixNano(i int) int64 { return b.created[i] }

// Count returns candidate i's count of action a from accounts of tier t.
// The batch stores counts as float32, exact up to 2^24.
func (b *Batch) Count(i int, t Tier, a Action) float64 {
	if b == nil {
		return 0 // as for a batch where no candidate has a count of a
	}
	col := b.counts[t][a]
	if len(col) == 0 {
		return 0
	}
	return float64(col[i])
}

// Rating returns candidate i's rating sum and count.
func (b *Batch) Rating(i int) (sum, count float64) { return b.rsum[i], b.rcount[i] }

// PriceMinor returns candidate i's price in minor units (0 = none).
func (b *Batch) PriceMinor(i int) int64 { return b.price[i] }

// Stock returns candidate i's stock state.
func (b *Batch) Stock(i int) Stock { return b.stock[i] }

// Affinity returns the viewer's affinity to candidate i.
func (b *Batch) Affinity(i int) float64 { return b.affinity[i] }

// Lane returns candidate i's lane.
func (b *Batch) Lane(i int) Lane { return b.lane[i] }

// NegativeFeedbackAt returns when the viewer last gave negative feedback on
// candidate i, or the zero time.
func (b *Batch) NegativeFeedbackAt(i int) time.Time {
	if b.flags[i]&flagNeg == 0 { // not b.negAt[i] == 0: the Unix epoch is a valid time
		return time.Time{}
	}
	return time.Unix(0, b.negAt[i]).UTC()
}

// Embedding returns candidate i's unit-length embedding, or nil. The slice
// belongs to the batch: do not modify it.
func (b *Batch) Embedding(i int) []float32 {
	if !b.hasEmb[i] {
		return nil
	}
	return b.emb[i*b.dim : (i+1)*b.dim : (i+1)*b.dim]
}
