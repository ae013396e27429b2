// Package ranking is the pure ranking engine of the SDK: scoring, time
// decay, rating confidence, diversity, top-k selection, fixed slots,
// explanations and stable paging cursors, for a host's product and team
// lists and for the feed package that is planned (it does not exist yet).
// It does no I/O, reads no clock and starts no goroutine: a ranking is a
// pure function of (candidates, config, request, as-of time, seed).
//
// # Flow
//
// Build a Ranker once from a validated Config, fill a Batch with the
// candidates, and Rank into a Page that you reuse:
//
//	r, err := ranking.New(ranking.DefaultConfig("home-v1", key))
//	b := ranking.NewBatch(len(posts))
//	for _, p := range posts { b.Add(&ranking.Candidate{ID: p.ID, Author: p.Author, Created: p.At, ...}) }
//	var page ranking.Page
//	err = r.Rank(ranking.Request{Now: now, Viewer: uid, Scope: "home"}, b, &page)
//	// page.Items, then page.Cursor as Request.Cursor for the next page
//
// Rank runs five steps:
//
//  1. Filters before scoring: lanes without a slot, out of stock,
//     feedback fatigue, the viewer's seen set, the session's served set,
//     blocked authors, and the host's predicate. Page.Filtered counts the
//     removals per Filter, Page.FilterOf says why each item went.
//  2. Scoring: an item's score is Σ weight × value plus ln of its fatigue
//     factor. When every signal is built in, a cheap upper bound of each
//     score comes first, and only the items whose bound can reach the pool
//     are scored in full (bound-based pruning); the pages are the same as
//     with every item scored. A host signal has no known bound: then
//     every Signal scores the whole batch.
//  3. Selection: a bounded heap keeps the best Pool organic items (and the
//     best items of each slotted lane) in the total order score
//     descending, ID ascending; nothing else is sorted. NaN and ±Inf
//     scores (possible only from host signals) are removed with
//     FilterInvalidScore; items at or before the cursor's key with
//     FilterBeforeCursor.
//  4. Diversity: soft per-axis penalties multiply the i-th repeat of an
//     author, brand, product or category by (1 − floor)·decay^i + floor;
//     optionally MMR over embeddings orders the head of the page.
//  5. Blending: sponsored and KOL items take their fixed slots; organic
//     items fill the rest.
//
// Explain runs the same steps and reports every signal's contribution,
// every multiplier, each item's slot and each removed item's filter.
//
// # Scores live in the log domain
//
// A score S stands for the linear relevance e^S. Signals are built for
// this: Engagement is ln(1 + E), Affinity ln(1 + a), the decays ln of
// their factor. Adding weight × value multiplies the linear relevance by
// e^(weight × value), and a multiplier f (fatigue, diversity) is applied as
// S + ln f, which is right whatever the sign of S. Scores are comparable
// within one Config only.
//
// # Stability under paging
//
// ExponentialDecay is written as ln2·(created − epoch)/halfLife, which
// differs from −ln2·age/halfLife by a constant shared by every item. With
// only time-invariant signals (Ranker.Stable), an item's score does not
// depend on the as-of time at all, so the order of two items changes only
// when their engagement (or other inputs) changes, never because time
// passes. LinearDecay, GaussianDecay, PowerDecay and Freshness change the
// ratio between items as time passes and are documented as unstable under
// paging.
//
// Whatever the signals, a session is consistent: the first page is ranked
// as of Request.Now, and the cursor carries that as-of time so every later
// page is ranked as of the same instant.
//
// # Cursors
//
// Page.Cursor is opaque: base64url of a binary record (format byte, as-of
// time, config fingerprint, a hash of the viewer, scope and reference
// price keyed by CursorConfig.Key (names chosen to collide cannot share a
// cursor), the last (score, ID) key of each lane, a session key, and the
// served set as 32 bits of each ID's hash, to find candidates, and 32 bits
// of SipHash-2-4 of the ID under the session key, to decide; the key is
// secret, so IDs chosen to collide cannot pass for served ones) signed
// with HMAC-SHA256 truncated to 128 bits under CursorConfig.Key. A cursor that fails verification is
// ErrCursorTampered; one issued under another Config (Version or any
// parameter) is ErrCursorForeignConfig; one issued for another viewer,
// scope or PriceRef is ErrCursorMismatch; one older than
// CursorConfig.MaxAge away from Request.Now is ErrCursorExpired. On any
// of them, start again from the first page.
//
// The next page takes the items strictly after the key in the total order,
// minus the served set. The key is the last item of the longest prefix of
// the pool (in score order) that was entirely placed; items that diversity
// placed beyond that prefix, and by default every served item, go into
// the served set (with StaticSignals, every served item that the key of
// some servable lane has not passed, since an item may change lanes). This gives the session guarantee, checked by a property
// test that changes engagement between pages:
//
//   - no item appears twice in a session (while the session has served at
//     most CursorConfig.MaxServed items; beyond that, see MaxServed for
//     which items may come back), and
//   - no item whose inputs did not change is skipped: it stays after the
//     key and out of the served set until it is served.
//
// An item whose score rose above the key between pages may be skipped for
// the rest of the session; a new session sees it.
//
// A session is a chain of cursors, each passed once. Cursors are
// stateless: passing one again (a retry) gives that page again, and two
// pages ranked from one cursor fork the session into two chains, each
// without repeats of its own. A host that must refuse such replays keeps
// the last cursor it issued per viewer and scope.
//
// # Determinism
//
// The same Config, Batch content, Request and as-of time give the same
// page and the same cursor, whatever the order of the candidates in the
// batch: the order is total (ID breaks ties), exploration noise comes from
// a hash of (seed, viewer, item, epoch), and no map iteration is involved.
// Scores are bit-identical across architectures, so a cursor issued by an
// amd64 instance pages correctly on an arm64 one: every product that feeds
// an addition is rounded explicitly (Go may otherwise fuse it into a
// multiply-add on arm64 and other platforms), logarithms come from a
// pure-Go table method instead of the platform's math.Log, and powers are
// computed by repeated multiplication. TestGoldenDigest pins every score
// bit and cursor of a session; it passes on amd64 (also with GOAMD64=v3)
// and on arm64 under qemu-user. A host Signal is responsible for its own
// values.
//
// # Performance
//
// Hot paths allocate nothing per candidate: a Page holds all per-request
// memory, and steady-state Rank allocates a constant handful of objects
// (the cursor string, and the decoded key IDs) whatever the batch size.
// With built-in signals, most candidates are settled by an upper bound of
// their score, a few column passes over the batch in cache-sized blocks;
// when the bounds are tight, little more than 1.5 × Pool are scored in
// full. BENCHMARKS.md has the measured figures.
//
// # Concurrency
//
// A Ranker is immutable and safe for concurrent use. A Page and a Batch
// being written belong to one goroutine; a Batch nobody writes may be
// ranked from several goroutines, each with its own Page.
package ranking
