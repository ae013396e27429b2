package ranking

import (
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"hash"
	"math"
	"slices"
	"time"
)

// Filter says why a candidate was removed before selection.
type Filter uint8

// The filters, in the order they are checked (an item removed by several
// reports the first): the first seven before scoring, the last two after.
// FilterNone marks an item that was not removed. In a cursor's session
// with CursorConfig.StaticSignals, served items are recognised after
// scoring, so an item both served and paged past reports
// FilterBeforeCursor.
const (
	FilterNone          Filter = iota
	FilterNoSlot               // a sponsored or KOL item with no slot for its lane on this page
	FilterOutOfStock           // Stock is OutOfStock and Config.KeepOutOfStock is false
	FilterFatigue              // within Fatigue.MuteFor of the viewer's negative feedback
	FilterSeen                 // in Request.Seen
	FilterServed               // in the cursor's served set: already on an earlier page of this session
	FilterBlockedAuthor        // its Author is in Request.BlockedAuthors
	FilterHost                 // Request.Allow returned false
	FilterInvalidScore         // a signal gave NaN or ±Inf
	FilterBeforeCursor         // not after the cursor's last (score, ID) key: paged past already
)

// NumFilters is the number of Filter values, FilterNone included.
const NumFilters = 10

var filterNames = [NumFilters]string{"none", "no-slot", "out-of-stock", "fatigue", "seen", "served", "blocked-author", "host", "invalid-score", "before-cursor"}

// String returns the filter's name, e.g. "seen".
func (f Filter) String() string {
	if int(f) < NumFilters {
		return filterNames[f]
	}
	return fmt.Sprintf("filter(%d)", f)
}

// Request is one ranking request.
type Request struct {
	// Now is the request time; required. The first page of a session is
	// ranked as of Now; later pages as of the cursor's time, and Now only
	// decides whether the cursor has expired.
	Now time.Time
	// Viewer identifies who is looking (may be empty for anonymous
	// viewers); it seeds Explore and binds cursors. At most MaxIDLength
	// bytes.
	Viewer string
	// Scope names the list being paged ("home", "category:42", ...); it
	// binds cursors so that one list's cursor is not used on another. At
	// most MaxScopeLength bytes.
	Scope string
	// Limit is the page size; 0 means Config.PageSize. At most
	// MaxPageSize.
	Limit int
	// Cursor is Page.Cursor from the previous page of the session, or ""
	// for the first page.
	Cursor string
	// Seen holds item IDs the viewer has already seen (FilterSeen).
	Seen *IDSet
	// BlockedAuthors holds authors the viewer blocked or muted
	// (FilterBlockedAuthor).
	BlockedAuthors *IDSet
	// Allow is an optional host predicate: returning false removes
	// candidate i (FilterHost). It runs before scoring, only for items no
	// other filter removed.
	Allow func(b *Batch, i int) bool
	// PriceRef is the reference price in minor units for PriceFit; 0
	// means none. It binds cursors like Viewer and Scope, since the
	// order of a session's pages depends on it.
	PriceRef int64
	// Params is passed to host signals as Input.Params. A cursor does not
	// bind it (it may hold anything, so it cannot be hashed): a host
	// signal whose values depend on it must get the same Params on every
	// page of a session, or pages may repeat or skip items.
	Params any
}

// Item is one entry of a page.
type Item struct {
	// Index is the candidate's position in the batch.
	Index int
	// ID is the candidate's ID.
	ID string
	// Score is the final score: Base plus the logarithms of the diversity
	// factors. Scores live in the log domain (see the package doc).
	Score float64
	// Base is the score before diversity, the sum of the weighted signals
	// and the fatigue adjustment; cursors page in (Base, ID) order.
	Base float64
	// Lane is the candidate's lane; a LaneSponsored item must be shown
	// labelled as sponsored.
	Lane Lane
}

// Page is the result of Rank, and the reusable memory Rank works in: keep
// one Page per goroutine and pass it to every Rank call, so that steady
// state ranking allocates a constant number of objects whatever the number
// of candidates. A Page is not safe for concurrent use.
type Page struct {
	// Items are the page's items in display order: Items[j] is slot j+1.
	Items []Item
	// Cursor continues the session: pass it as Request.Cursor for the next
	// page. It is always set after a successful Rank.
	Cursor string
	// More reports whether organic candidates remained after this page.
	More bool
	// AsOf is the instant the page was ranked as of.
	AsOf time.Time
	// Filtered counts the candidates removed per Filter.
	Filtered [NumFilters]int

	s scratch
}

// FilterOf returns why candidate i of the batch was removed in the last
// Rank, or FilterNone if it was not (whether or not it made the page); a
// nil Page has FilterNone for every i.
func (p *Page) FilterOf(i int) Filter {
	if p == nil || i < 0 || i >= p.s.n {
		return FilterNone
	}
	return p.s.reason[i]
}

func (p *Page) clear() {
	clear(p.Items) // drop string references
	p.Items = p.Items[:0]
	p.Cursor = ""
	p.More = false
	p.AsOf = time.Time{}
	p.Filtered = [NumFilters]int{}
	p.s.n = 0
}

// key is a position in the total order (score descending, ID ascending).
type key struct {
	ok    bool
	score float64
	id    string
}

// cursorState is the content of a cursor.
type cursorState struct {
	asOf   int64
	page   uint32
	keys   [NumLanes]key
	sk     [2]uint64  // the session's tag key (see cursor.go)
	served []servedID // oldest first
}

// servedID is an entry of the served set: the low 32 bits of
// hashString(ID), and the ID's tag under the session key.
type servedID struct {
	h   uint32
	tag uint32
}

func (c *cursorState) reset() {
	c.asOf, c.page, c.keys, c.sk = 0, 0, [NumLanes]key{}, [2]uint64{}
	c.served = c.served[:0]
}

// scratch is the memory a Page lends to Rank.
type scratch struct {
	owner *Ranker
	mac   hash.Hash
	sum   []byte

	n      int // batch size of the last Rank
	score  []float64
	tmp    []float64
	fat    []float64
	reason []Filter
	mark   []Filter // FilterSeen or FilterServed marked from a small set
	live   []int32
	ub     []float64   // upper bounds of the scores, when pruning
	chunk  []int32     // candidates to score together, when pruning
	seeds  []seed      // the seed candidates, when pruning
	sa, sb []float64   // the seeds' selection scratch
	kops   []kop       // the bound's ops, when pruning
	terms  []engTerm   // their Engagement products
	all    []int32     // 0, 1, 2, ...: a block's candidates, when pruning
	sig    [][]float64 // per-signal values, when explaining
	in     Input

	heaps    [NumLanes]topk
	picks    [NumLanes][]int32 // lane picks, best first
	pool     []int32           // organic pool, best base first
	final    []float64         // per pool position
	order    []int32           // pool positions in page order
	picked   []bool            // per pool position
	reps     [NumAxes][]int32  // per penalty, per pool position: repeat index
	tab      counter
	rel      []float64
	msim     []float64
	chosen   []bool
	mmrSim   []float64 // per pool position; NaN unless placed by MMR
	mmrPicks []int32
	itemPos  []int32 // per page item: pool position, -1 for lanes

	cur, next cursorState
	served    IDSet   // the served set's servedProbe values
	pairs     IDSet   // the served set's pairKey(probe, tag)
	drop      IDSet   // static mode: the pairKey of served entries to forget
	back      IDSet   // static mode: the pairKey of served entries at or before their own lane's key
	still     []int32 // static mode: served items still after the key
	raw, dec  []byte
	enc, b64  []byte
}

// release drops the references to the batch's strings that selection and
// diversity kept (the heaps' ID column, the counts' axis values): a Page
// outlives its request, often in a pool, and must not keep the batch's
// strings reachable (the page's own items and keys aside).
func (s *scratch) release() {
	for l := range s.heaps {
		s.heaps[l].ids = nil
	}
	clear(s.tab.strs)
}

// markFor returns s.mark cleared for a batch of n.
func (s *scratch) markFor(n int) []Filter {
	if cap(s.mark) < n {
		s.mark = make([]Filter, n)
	}
	s.mark = s.mark[:n]
	clear(s.mark)
	return s.mark
}

func growF(s []float64, n int) []float64 {
	if cap(s) < n {
		return make([]float64, n)
	}
	return s[:n]
}

func growI(s []int32, n int) []int32 {
	if cap(s) < n {
		return make([]int32, n)
	}
	return s[:n]
}

func growB(s []bool, n int) []bool {
	if cap(s) < n {
		return make([]bool, n)
	}
	return s[:n]
}

// Ranker ranks batches of candidates under one validated Config. It is
// immutable and safe for concurrent use; each goroutine passes its own
// Page.
type Ranker struct {
	cfg       Config
	signals   []Weighted
	names     []string
	acc       []accumulator
	fp        uint64
	key       []byte
	oldKeys   [][]byte
	bindKeys  [][2]uint64 // per key, current first: the binding's SipHash key (see binding)
	pageSize  int
	pool      int
	maxServed int
	maxAge    int64
	static    bool
	lanes     uint8  // bit l set when lane l can be served: organic, and each lane with a slot
	slotLane  []Lane // per position - 1
	penalties []penalty
	mmrHead   int
	mmrLambda float64
	fatigue   fatigueRule
	stable    bool
	maxCursor int
	fullSort  bool // benchmarks only: score every item in full and select by sorting them all

	builtin []bool    // per signal: built-in, so Score sets every live entry
	ops     []boundOp // per signal: its part of the score's upper bound
	prune   bool      // every signal is built-in: bound-based pruning (prune.go)
}

type penalty struct {
	p       AxisPenalty
	name    string    // "diversity:<axis>"
	factors []float64 // factor(i) for i in 0..len-1
	ln      []float64 // ln(factors[i])
}

type fatigueRule struct {
	on             bool
	mute, recovery int64
	floor          float64
}

// muted reports whether an item with feedback at `at` is hidden at asOf.
func (f *fatigueRule) muted(at, asOf int64) bool { return f.mute > 0 && asOf-at < f.mute }

// factor returns the fatigue factor for an item with feedback at `at`, not
// muted.
func (f *fatigueRule) factor(at, asOf int64) float64 {
	if f.recovery == 0 {
		return 1
	}
	t := float64(max(0, asOf-at-f.mute)) / float64(f.recovery)
	return min(1, f.floor+float64((1-f.floor)*t))
}

// New validates cfg and returns a Ranker for it. The Ranker keeps its own
// copy of cfg's slices, and the values of built-in signals that cfg gives
// by pointer.
func New(cfg Config) (*Ranker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := cfg
	c.Signals = slices.Clone(cfg.Signals)
	for i := range c.Signals {
		c.Signals[i].Signal = builtinValue(c.Signals[i].Signal)
	}
	c.Slots = slices.Clone(cfg.Slots)
	c.Diversity.Penalties = slices.Clone(cfg.Diversity.Penalties)
	c.Cursor.Key = slices.Clone(cfg.Cursor.Key)
	c.Cursor.OldKeys = make([][]byte, len(cfg.Cursor.OldKeys))
	for i, k := range cfg.Cursor.OldKeys {
		c.Cursor.OldKeys[i] = slices.Clone(k)
	}
	r := &Ranker{
		cfg:       c,
		signals:   c.Signals,
		fp:        c.fingerprint(),
		key:       c.Cursor.Key,
		oldKeys:   c.Cursor.OldKeys,
		pageSize:  c.PageSize,
		pool:      c.Pool,
		maxServed: c.Cursor.MaxServed,
		maxAge:    int64(c.Cursor.MaxAge),
		static:    c.Cursor.StaticSignals,
		mmrHead:   c.Diversity.MMR.Head,
		mmrLambda: c.Diversity.MMR.Lambda,
		stable:    true,
		prune:     true,
	}
	if r.pool == 0 {
		r.pool = min(3*c.PageSize, MaxPool)
	}
	if r.maxServed == 0 {
		r.maxServed = DefaultMaxServed
	}
	if r.maxAge == 0 {
		r.maxAge = int64(DefaultCursorMaxAge)
	}
	if r.mmrLambda == 0 {
		r.mmrLambda = DefaultMMRLambda
	}
	for i := range r.signals {
		w := &r.signals[i]
		r.names = append(r.names, w.name())
		a, _ := w.Signal.(accumulator)
		r.acc = append(r.acc, a)
		if ti, ok := w.Signal.(TimeInvariant); !ok || !ti.TimeInvariant() {
			r.stable = false
		}
		op, builtin := newBoundOp(i, w)
		r.builtin = append(r.builtin, builtin)
		r.ops = append(r.ops, op)
		r.prune = r.prune && builtin
	}
	r.bindKeys = append(r.bindKeys, bindingKey(r.key))
	for _, k := range r.oldKeys {
		r.bindKeys = append(r.bindKeys, bindingKey(k))
	}
	r.lanes = 1 << LaneOrganic
	if len(c.Slots) > 0 {
		r.slotLane = make([]Lane, c.PageSize)
		for _, s := range c.Slots {
			r.slotLane[s.Position-1] = s.Lane
			r.lanes |= 1 << s.Lane
		}
	}
	maxPool := max(r.pool, MaxPageSize)
	for _, p := range c.Diversity.Penalties {
		pe := penalty{p: p, name: "diversity:" + p.Axis.String(), factors: p.factors(maxPool + 1), ln: make([]float64, maxPool+1)}
		for i, f := range pe.factors {
			pe.ln[i] = ln(f)
		}
		r.penalties = append(r.penalties, pe)
	}
	if f := c.Fatigue; f.enabled() {
		r.fatigue = fatigueRule{on: true, mute: int64(f.MuteFor), recovery: int64(f.RecoverOver), floor: f.Floor}
		if r.fatigue.floor == 0 {
			r.fatigue.floor = 0.2
		}
	}
	body := 1 + 8 + 8 + 8 + 5 + 1 + NumLanes*(8+2+MaxIDLength) + 16 + 3 + servedEntry*r.maxServed + macLen
	r.maxCursor = (body*4 + 2) / 3
	return r, nil
}

// built reports whether r was built by New: a nil Ranker (New's result
// when its error is ignored) or a zero one has no signing key, and Rank,
// Explain and CheckCursor refuse it with errNotBuilt instead of panicking.
func (r *Ranker) built() bool { return r != nil && len(r.bindKeys) > 0 }

func errNotBuilt() error { return invalid("Ranker", "must be built by New") }

// Config returns a copy of the Ranker's configuration; the zero Config
// for a nil Ranker.
func (r *Ranker) Config() Config {
	if r == nil {
		return Config{}
	}
	c := r.cfg
	c.Signals = slices.Clone(c.Signals)
	c.Slots = slices.Clone(c.Slots)
	c.Diversity.Penalties = slices.Clone(c.Diversity.Penalties)
	c.Cursor.Key = slices.Clone(c.Cursor.Key)
	c.Cursor.OldKeys = make([][]byte, len(r.cfg.Cursor.OldKeys))
	for i, k := range r.cfg.Cursor.OldKeys {
		c.Cursor.OldKeys[i] = slices.Clone(k)
	}
	return c
}

// Stable reports whether every signal is time-invariant (ExponentialDecay,
// Engagement, the rating signals, Affinity, PriceFit, Explore with Period
// 0, and host signals that implement TimeInvariant and return true). Then
// an item's base score does not depend on the as-of time at all: the order
// of two items changes only when their own inputs (engagement, ratings,
// affinity, negative feedback and its fatigue recovery) change, never
// because time passed, so rankings taken at different times agree and
// scores may be cached. Every Ranker keeps the pages of one session
// consistent (they are ranked as of the cursor's time); Stable is the
// stronger, cross-session property. A nil Ranker is not Stable.
func (r *Ranker) Stable() bool { return r != nil && r.stable }

// Rank ranks batch for req into out: filters, scores the remaining
// candidates, selects the best without sorting them all, diversifies the
// page, blends the lanes into their slots and returns the next cursor.
// With built-in signals only and a batch of at least twice the pool, a
// cheap upper bound of each candidate's score comes first, and only the
// candidates whose bound can reach the organic pool, and those of slotted
// lanes, are scored in full (bound-based pruning; the others are counted
// as eligible, unscored): the page, its scores and the cursor are those
// of full scoring. With a host signal, or a smaller batch, every remaining
// candidate is scored in full. On error out holds no items. See the
// package doc for the guarantees.
func (r *Ranker) Rank(req Request, batch *Batch, out *Page) error {
	if out == nil {
		return invalid("out", "must not be nil")
	}
	return r.run(&req, batch, out, nil)
}

func checkRequest(req *Request) error {
	if !validTime(req.Now) {
		return invalid("Now", "must be set, between years 1970 and 2200")
	}
	if len(req.Viewer) > MaxIDLength {
		return invalid("Viewer", fmt.Sprintf("longer than %d bytes", MaxIDLength))
	}
	if len(req.Scope) > MaxScopeLength {
		return invalid("Scope", fmt.Sprintf("longer than %d bytes", MaxScopeLength))
	}
	if req.Limit < 0 || req.Limit > MaxPageSize {
		return invalid("Limit", fmt.Sprintf("must be in 0..%d", MaxPageSize))
	}
	if req.PriceRef < 0 {
		return invalid("PriceRef", "must not be negative")
	}
	return nil
}

func (r *Ranker) run(req *Request, b *Batch, out *Page, ex *Explanation) error {
	out.clear()
	if !r.built() {
		return errNotBuilt()
	}
	if b == nil {
		return invalid("batch", "must not be nil")
	}
	if err := checkRequest(req); err != nil {
		return err
	}
	s := &out.s
	if s.owner != r {
		s.owner = r
		s.mac = hmac.New(sha256.New, r.key)
	}
	limit := req.Limit
	if limit == 0 {
		limit = r.pageSize
	}
	bind := s.binding(&r.bindKeys[0], req)
	now := req.Now.UnixNano()
	asOf := now
	if req.Cursor != "" {
		if err := r.decodeCursor(req.Cursor, s, req, bind, now); err != nil {
			return err
		}
		asOf = s.cur.asOf
	} else {
		s.cur.reset()
		s.served.Reset()
		s.pairs.Reset()
		s.cur.sk = r.sessionKey(s, asOf, bind)
	}
	out.AsOf = time.Unix(0, asOf).UTC()

	var want [NumLanes]int // slots per lane on this page
	for p := 0; p < limit && p < len(r.slotLane); p++ {
		want[r.slotLane[p]]++
	}

	// 1.–3. Filters, scoring and selection.
	n := b.Len()
	s.n = n
	s.score = growF(s.score, n)
	s.tmp = growF(s.tmp, n)
	s.fat = growF(s.fat, n)
	if cap(s.reason) < n {
		s.reason = make([]Filter, n)
	}
	s.reason = s.reason[:n]
	if cap(s.live) < n {
		s.live = make([]int32, n)
	}
	fs := filterSets{seen: req.Seen, blocked: req.BlockedAuthors, allow: req.Allow}
	if fs.seen.Len() == 0 {
		fs.seen = nil
	}
	if fs.blocked.Len() == 0 {
		fs.blocked = nil
	}
	hasServed := s.served.Len() > 0
	if hasServed && !r.static {
		fs.served = &s.served
	}
	// A set much smaller than the batch is looked up the other way round:
	// its hashes mark the candidates through the batch's ID index, which
	// spares a probe per candidate. The seen set takes precedence.
	if fs.seen != nil && 4*len(fs.seen.slots) <= n {
		fs.mark = s.markFor(n)
		b.markIDs(fs.seen, fs.mark, FilterSeen, nil)
		fs.seen = nil
	}
	if fs.served != nil && 4*len(fs.served.slots) <= n {
		if fs.mark == nil {
			fs.mark = s.markFor(n)
		}
		b.markIDs(fs.served, fs.mark, FilterServed, s)
		fs.served = nil
	}
	// Without a probe or a call left per candidate, the filters reduce to
	// the marks and the flags.
	simple := fs.seen == nil && fs.served == nil && fs.blocked == nil && fs.allow == nil
	if simple && fs.mark == nil {
		fs.mark = s.markFor(n)
	}

	in := &s.in
	*in = Input{Batch: b, AsOf: out.AsOf, Viewer: req.Viewer, PriceRef: req.PriceRef,
		Params: req.Params, asOf: asOf, tmp: s.tmp, ranked: true}
	pool := max(r.pool, limit)
	for l := range s.heaps {
		k := want[l]
		if l == int(LaneOrganic) {
			k = pool
		}
		s.heaps[l].reset(k, b.ids)
	}
	// With StaticSignals the served set holds only the served items that
	// some lane's key has not passed yet; an item of the set that every
	// lane's key has passed will never be eligible again, so its hash is
	// dropped from the next cursor.
	st := selState{thr: math.Inf(-1), staticServed: r.static && hasServed}
	// Only a served set that this page may take beyond MaxServed needs to
	// know which of its items are at or before their lane's key (evict).
	st.trackBack = r.static && len(s.cur.served)+limit > r.maxServed
	st.fastPath = !st.staticServed && !r.fullSort
	s.drop.Reset()
	s.back.Reset()
	s.still = s.still[:0]
	var err error
	if r.prune && ex == nil && !r.fullSort && n >= pruneMinFactor*pool {
		if !simple {
			r.filter(s, b, out, &fs, &want)
		}
		err = r.rankPruned(s, in, &st, out, fs.mark, &want, !simple)
	} else {
		in.Live = r.filter(s, b, out, &fs, &want)
		clear(s.score)
		if err = r.score(s, in, ex); err == nil {
			r.selectItems(s, b, in.Live, &st, out)
		}
	}
	*in = Input{} // drop references to the batch and Params
	if err != nil {
		s.release()
		out.clear()
		return err
	}
	score, eligible, staticServed := s.score, &st.eligible, st.staticServed
	ids := b.ids
	org := &s.heaps[LaneOrganic]
	lanePicked := 0
	for l := 1; l < NumLanes; l++ {
		s.picks[l] = s.heaps[l].sortedIdx()
		lanePicked += len(s.picks[l])
	}
	if r.fullSort {
		org.sortAll(pool, score)
	}
	s.pool = org.sortedIdx()
	order := r.orderOrganic(s, b, max(0, limit-lanePicked), ex != nil)
	s.release()

	// 4. Blending: lanes take their slots while the page lasts; organic
	// items fill every other position.
	items := out.Items[:0]
	s.itemPos = s.itemPos[:0]
	oi := 0
	var li [NumLanes]int
	for pos := 0; pos < limit; pos++ {
		if pos < len(r.slotLane) {
			if l := r.slotLane[pos]; l != LaneOrganic && li[l] < len(s.picks[l]) {
				i := s.picks[l][li[l]]
				li[l]++
				items = append(items, Item{Index: int(i), ID: ids[i], Score: score[i], Base: score[i], Lane: l})
				s.itemPos = append(s.itemPos, -1)
				continue
			}
		}
		if oi == len(order) {
			break
		}
		p := order[oi]
		oi++
		i := s.pool[p]
		s.picked[p] = true
		items = append(items, Item{Index: int(i), ID: ids[i], Score: s.final[p], Base: score[i], Lane: LaneOrganic})
		s.itemPos = append(s.itemPos, p)
	}
	out.Items = items
	out.More = eligible[LaneOrganic] > oi

	// 5. Next cursor: the organic key is the last item of the longest
	// prefix of the pool (in base order) that was entirely placed, so
	// that every item after it is still unserved; items placed beyond it
	// go into the served set.
	next := &s.next
	next.asOf = asOf
	next.page = s.cur.page + 1
	next.keys = s.cur.keys
	prefix := 0
	for prefix < len(s.pool) && s.picked[prefix] {
		prefix++
	}
	if prefix > 0 {
		i := s.pool[prefix-1]
		next.keys[LaneOrganic] = key{ok: true, score: score[i], id: ids[i]}
	}
	for l := 1; l < NumLanes; l++ {
		if li[l] > 0 {
			i := s.picks[l][li[l]-1]
			next.keys[l] = key{ok: true, score: score[i], id: ids[i]}
		}
	}
	next.sk = s.cur.sk
	if staticServed {
		for _, i := range s.still {
			pk := pairKey(servedProbe(b.idh[i]), servedTag(&s.cur.sk, ids[i]))
			if r.passed(&next.keys, score[i], ids[i]) {
				s.drop.addHash(pk)
			} else if st.trackBack && atOrBefore(&next.keys[b.lane[i]], score[i], ids[i]) {
				s.back.addHash(pk)
			}
		}
	}
	next.served = next.served[:0]
	for _, e := range s.cur.served {
		if s.drop.Len() == 0 || !s.drop.has(pairKey(servedProbe(uint64(e.h)), e.tag)) {
			next.served = append(next.served, e)
		}
	}
	// With StaticSignals an item that every lane's key has passed stays
	// out of the session whatever lane it is in later; any other served
	// item goes into the served set, since its lane may change (a
	// campaign starts or ends) and take it after another lane's key.
	for j := range items {
		i := items[j].Index
		if r.static && r.passed(&next.keys, score[i], ids[i]) {
			continue
		}
		e := servedID{h: uint32(b.idh[i]), tag: servedTag(&next.sk, ids[i])}
		next.served = append(next.served, e)
		if st.trackBack && atOrBefore(&next.keys[items[j].Lane], score[i], ids[i]) {
			s.back.addHash(pairKey(servedProbe(uint64(e.h)), e.tag))
		}
	}
	if over := len(next.served) - r.maxServed; over > 0 {
		next.served = evict(next.served, over, &s.back)
	}
	out.Cursor = r.encodeCursor(s, next, bind)
	if ex != nil {
		r.explain(s, b, out, ex)
	}
	return nil
}

// evict removes over entries from served, which is oldest first, and
// returns it. With StaticSignals, the entries in back go first, oldest
// first: their items were found at or before their own lane's key on this
// page, so they come back only if their lane changes. Then the oldest of
// the others: those may come back as soon as they are dropped. Without
// StaticSignals back is empty: the oldest entries go.
func evict(served []servedID, over int, back *IDSet) []servedID {
	if back.Len() > 0 {
		n := 0
		for _, e := range served {
			if over > 0 && back.has(pairKey(servedProbe(uint64(e.h)), e.tag)) {
				over--
				continue
			}
			served[n] = e
			n++
		}
		served = served[:n]
	}
	if over > 0 {
		n := copy(served, served[over:])
		served = served[:n]
	}
	return served
}

// atOrBefore reports whether the item (score, id) is at or before k in
// the total order: paged past by k's lane.
func atOrBefore(k *key, score float64, id string) bool {
	return k.ok && (score > k.score || (score == k.score && id <= k.id))
}

// passed reports whether the item (score, id) is at or before the key of
// every lane that can be served (organic, and each lane with a slot): then
// it is FilterBeforeCursor in whatever lane it is, on every later page of
// the session, since keys only move forward and, with StaticSignals,
// scores do not change.
func (r *Ranker) passed(keys *[NumLanes]key, score float64, id string) bool {
	for l := range keys {
		if r.lanes&(1<<l) == 0 {
			continue
		}
		k := &keys[l]
		if !k.ok || score < k.score || (score == k.score && id > k.id) {
			return false
		}
	}
	return true
}

// filterSets are the per-candidate filters of a request beyond the flags.
type filterSets struct {
	seen, served, blocked *IDSet
	mark                  []Filter // FilterSeen or FilterServed, marked from small sets
	allow                 func(b *Batch, i int) bool
}

// filter sets s.reason for every candidate and returns, in s.live, those
// that no filter removes.
func (r *Ranker) filter(s *scratch, b *Batch, out *Page, fs *filterSets, want *[NumLanes]int) []int32 {
	n, asOf := s.n, s.in.asOf
	reason, live := s.reason[:n], s.live[:n]
	flags, idh, authors, authorIDs := b.flags[:n], b.idh[:n], b.axish[AxisAuthor][:n], b.axis[AxisAuthor]
	seen, served, blocked, mark, allow := fs.seen, fs.served, fs.blocked, fs.mark, fs.allow
	nl := 0
	if seen == nil && served == nil && blocked == nil && allow == nil {
		// The marks, unless a flag filter, which takes precedence, applies.
		mark = mark[:n]
		for i := range n {
			f := mark[i]
			if fl := flags[i]; fl != 0 {
				if g := r.flagFilter(b, i, fl, want, asOf); g != FilterNone {
					f = g
				}
			}
			reason[i] = f
			live[nl] = int32(i)
			if f == FilterNone {
				nl++
			} else {
				out.Filtered[f]++
			}
		}
	} else {
		for i := range n {
			f := FilterNone
			if fl := flags[i]; fl != 0 {
				f = r.flagFilter(b, i, fl, want, asOf)
			}
			if f == FilterNone {
				switch h := idh[i]; {
				case seen != nil && seen.hasID(h, b.ids[i]):
					f = FilterSeen
				case mark != nil && mark[i] != FilterNone:
					f = mark[i]
				case served != nil && s.isServed(b, int32(i)):
					f = FilterServed
				case blocked != nil && blocked.hasID(authors[i], authorIDs[i]):
					f = FilterBlockedAuthor
				}
			}
			if allow != nil && f == FilterNone && !allow(b, i) {
				f = FilterHost
			}
			reason[i] = f
			if f == FilterNone {
				live[nl] = int32(i)
				nl++
			} else {
				out.Filtered[f]++
			}
		}
	}
	s.live = live[:nl]
	return s.live
}

// flagFilter returns the filter that removes candidate i, whose flags fl
// are not 0, for its lane, stock or negative feedback; FilterNone if none
// does.
func (r *Ranker) flagFilter(b *Batch, i int, fl uint8, want *[NumLanes]int, asOf int64) Filter {
	switch {
	case fl&flagLane != 0 && want[b.lane[i]] == 0:
		return FilterNoSlot
	case fl&flagOOS != 0 && !r.cfg.KeepOutOfStock:
		return FilterOutOfStock
	case fl&flagNeg != 0 && r.fatigue.on && r.fatigue.muted(b.negAt[i], asOf):
		return FilterFatigue
	}
	return FilterNone
}

// score adds Σ weight × value into s.score for the items of in.Live (the
// caller zeroes those entries first). With ex set it keeps every signal's
// values in s.sig for Explain.
func (r *Ranker) score(s *scratch, in *Input, ex *Explanation) error {
	score, n := s.score, s.n
	if ex != nil {
		s.sig = make([][]float64, len(r.signals))
	}
	for k := range r.signals {
		w := r.signals[k].Weight
		if ex == nil && r.acc[k] != nil {
			r.acc[k].accumulate(in, w, score)
			continue
		}
		buf := s.tmp
		if ex != nil {
			buf = make([]float64, n)
			s.sig[k] = buf
		} else if !r.builtin[k] {
			clear(buf) // a host signal may leave entries unset
		}
		if err := r.signals[k].Signal.Score(in, buf); err != nil {
			return &SignalError{Signal: r.names[k], Err: err}
		}
		for _, i := range in.Live {
			score[i] += float64(w * buf[i])
		}
	}
	return nil
}

// selState is the selection's state across the lists of items offered to
// selectItems.
type selState struct {
	// thr is the root of the full organic heap: an item scoring below it
	// cannot enter, which settles most items without a call.
	thr          float64
	fastPath     bool // thr may settle items: no static served set, no full sort
	staticServed bool // StaticSignals with a served set: checked after scoring
	trackBack    bool // StaticSignals, and the served set may exceed MaxServed: fill scratch.back
	eligible     [NumLanes]int
}

// selectItems adds ln(fatigue factor) to the scores of items, removes
// invalid scores and items at or before their lane's cursor key, and
// offers the rest to their lane's heap.
func (r *Ranker) selectItems(s *scratch, b *Batch, items []int32, st *selState, out *Page) {
	score, reason := s.score, s.reason
	flags, negAt, ids := b.flags, b.negAt, b.ids
	fat := r.fatigue
	asOf := s.in.asOf
	keys := &s.cur.keys
	org := &s.heaps[LaneOrganic]
	thr, fastPath, staticServed := st.thr, st.fastPath, st.staticServed
	eligible := &st.eligible
	for _, i := range items {
		fl := flags[i]
		if fl&flagNeg != 0 && fat.on { // fatigue: score += ln(factor)
			f := fat.factor(negAt[i], asOf)
			s.fat[i] = f
			score[i] += ln(f)
		}
		sc := score[i]
		if sc < thr && fastPath && fl&flagLane == 0 && sc-sc == 0 {
			eligible[LaneOrganic]++
			continue
		}
		if sc-sc != 0 { // NaN or ±Inf
			reason[i] = FilterInvalidScore
			out.Filtered[FilterInvalidScore]++
			continue
		}
		l := b.lane[i]
		if k := &keys[l]; k.ok && (sc > k.score || (sc == k.score && ids[i] <= k.id)) {
			reason[i] = FilterBeforeCursor
			out.Filtered[FilterBeforeCursor]++
			if staticServed && s.isServed(b, i) {
				pk := pairKey(servedProbe(b.idh[i]), servedTag(&s.cur.sk, ids[i]))
				if r.passed(keys, sc, ids[i]) {
					s.drop.addHash(pk)
				} else if st.trackBack {
					s.back.addHash(pk)
				}
			}
			continue
		}
		if staticServed && s.isServed(b, i) {
			reason[i] = FilterServed
			out.Filtered[FilterServed]++
			s.still = append(s.still, i)
			continue
		}
		eligible[l]++
		if l == LaneOrganic {
			if !r.fullSort {
				thr = org.offer(i, sc)
			} else {
				org.idx = append(org.idx, i)
			}
		} else {
			s.heaps[l].offer(i, sc)
		}
	}
	st.thr = thr
}
