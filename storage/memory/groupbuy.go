package memory

import (
	"cmp"
	"context"
	"fmt"
	"hash/maphash"
	"slices"
	"time"

	"github.com/shopspring/decimal"

	"github.com/socialcommerce/sdk/groupbuy"
	"github.com/socialcommerce/sdk/internal/check"
	"github.com/socialcommerce/sdk/storage"
)

// campaignRow is a stored campaign with the number its ID has in
// groupbuyState.names.
type campaignRow struct {
	groupbuy.Campaign
	name    uint32
	forming map[string]*teamRow // its teams in state forming, for MatchTeam and OpenTeams
}

// teamRow is a stored team with what the commands on it need, so that they
// need no further lookup: its campaign (whose status they check), its
// seats, and the few combinations of campaign, SKU, currency and prices its
// seats have, which seat rows refer to by position. Teams are few next to
// seats, so they keep ordinary fields.
type teamRow struct {
	groupbuy.Team
	campaign *campaignRow
	num      uint32   // its position in groupbuyState.teamList
	seats    []uint32 // seat rows in insertion order: real seats (live and released, SeatRows of them), then bots
	variants []seatVariant
}

// seatVariant is what the seats of a team usually share.
type seatVariant struct {
	campaignID   string
	name         uint32 // campaignID's number in groupbuyState.names
	sku          string
	currency     string
	unit, amount decimal.Decimal
}

// seatRow is a stored seat, without pointers (see arena.go).
type seatRow struct {
	id, paymentRef ref
	user           uint32 // the user row plus one; 0 for a virtual seat without a user ID
	prev           uint32 // the user's previous seat row plus one; 0 ends the list
	team           uint32 // in groupbuyState.teamList
	variant        uint32 // in the team's variants
	quantity       int
	version        int64
	reservedAt     stamp
	reservedUntil  stamp
	paidAt         stamp
	state          uint8 // in groupbuyState.states
	leader         bool
	virtual        bool
	refundAttempt  int32 // groupbuy.Seat.RefundAttempt (CheckRefundWrite keeps it below 2^31-1)
}

// userRow is what the store keeps per user: the newest of their seats (the
// rest are listed through seatRow.prev), and per campaign the counts of
// live seats that the per-user limits check (see groupbuy.Store). Most
// users take part in one campaign, whose counts live in the row.
type userRow struct {
	id    ref
	last  uint32 // the newest seat row plus one
	seats int    // how many seats are listed
	count userCount
}

// userCount counts a user's live seats in one campaign; further campaigns
// of the user are chained through next (a row of groupbuyState.counts, plus
// one).
type userCount struct {
	name           uint32 // the campaign's number in groupbuyState.names, plus one; 0 when unused
	opened, joined int32
	next           uint32
}

// idemRow is a stored idempotency record.
type idemRow struct {
	scope, key, fingerprint, result ref
	createdAt                       stamp
}

// Seat rows number their states by groupbuyState.states, which starts
// with the live ones, so that a seat is live when its number is below
// liveStates.
const (
	stateReserved = 0
	statePaid     = 1
	liveStates    = 3
)

type groupbuyState struct {
	seed  maphash.Seed
	strs  arena // seat and user IDs, payment references, idempotency records
	times times

	campaigns map[string]*campaignRow
	names     interned // campaign IDs that seats count under
	teams     map[string]*teamRow
	teamList  []*teamRow
	forming   map[string]*teamRow // teams in state forming; reserved seats live only in them
	states    []groupbuy.SeatState

	seats  rows[seatRow]
	seatIx index // by seat ID
	users  rows[userRow]
	userIx index // by user ID
	counts rows[userCount]
	idem   rows[idemRow]
	idemIx index // by scope and key
	scopes []scopeEntry
}

func (g *groupbuyState) init() {
	g.seed = maphash.MakeSeed()
	g.campaigns = make(map[string]*campaignRow)
	g.teams = make(map[string]*teamRow)
	g.forming = make(map[string]*teamRow)
	// States the SDK does not know yet are added after these.
	g.states = []groupbuy.SeatState{
		groupbuy.SeatReserved, groupbuy.SeatPaid, groupbuy.SeatConfirmed,
		groupbuy.SeatReleased, groupbuy.SeatRefundRequested, groupbuy.SeatRefunded, groupbuy.SeatRefundFailed,
	}
}

var _ groupbuy.Store = (*Store)(nil)

func notFound(what, id string) error { return fmt.Errorf("%s %s: %w", what, id, groupbuy.ErrNotFound) }

func badArg(field, reason string) error {
	return &storage.ValidationError{Field: field, Reason: reason}
}

// checkID holds an ID to the rules the Service and the SQL stores apply
// (check.Problem), so that every adapter accepts the same IDs.
func checkID(field, id string) error {
	return checkText(field, id, groupbuy.MaxIDLength)
}

// checkText is checkID for a value of at most max bytes.
func checkText(field, s string, max int) error {
	if p := check.Problem(s, max); p != "" {
		return badArg(field, p)
	}
	return nil
}

func checkLimit(limit int) error {
	if limit <= 0 || limit > groupbuy.MaxListLimit {
		return badArg("limit", fmt.Sprintf("must be in 1..%d", groupbuy.MaxListLimit))
	}
	return nil
}

// seatNum returns the row of seat id; h is hashOf(g.seed, id).
func (g *groupbuyState) seatNum(id string, h uint32) (uint32, bool) {
	for p := h; ; {
		r, ok := g.seatIx.next(h, &p)
		if !ok || sameID(g.strs.str(g.seats.at(r).id), id) {
			return r, ok
		}
	}
}

// seat returns the row of seat id, or nil.
func (g *groupbuyState) seat(id string) (uint32, *seatRow) {
	i, ok := g.seatNum(id, hashOf(g.seed, id))
	if !ok {
		return 0, nil
	}
	return i, g.seats.at(i)
}

// userNum returns the row of user id plus one, 0 when the store has none;
// h is hashOf(g.seed, id).
func (g *groupbuyState) userNum(id string, h uint32) uint32 {
	for p := h; ; {
		r, ok := g.userIx.next(h, &p)
		if !ok {
			return 0
		}
		if g.strs.str(g.users.at(r).id) == id {
			return r + 1
		}
	}
}

// user returns the row of user id plus one, adding the user when missing.
func (g *groupbuyState) user(id string) uint32 {
	h := hashOf(g.seed, id)
	if u := g.userNum(id, h); u != 0 {
		return u
	}
	return g.addUser(id, h)
}

// addUser adds a row for a user the store has none for and returns it plus
// one.
func (g *groupbuyState) addUser(id string, h uint32) uint32 {
	i, u := g.users.add()
	u.id = g.strs.add(id)
	g.userIx.add(h, i)
	return i + 1
}

// count returns user u's (a row plus one) live-seat counts in campaign
// name, adding them when missing.
func (g *groupbuyState) count(u, name uint32) *userCount {
	c := &g.users.at(u - 1).count
	for {
		if c.name == name+1 {
			return c
		}
		if c.name == 0 {
			c.name = name + 1
			return c
		}
		if c.next == 0 {
			i, n := g.counts.add()
			c.next = i + 1
			n.name = name + 1
			return n
		}
		c = g.counts.at(c.next - 1)
	}
}

// counted returns user u's (a row plus one, or 0) live-seat counts in
// campaign name, zero when there are none.
func (g *groupbuyState) counted(u, name uint32) userCount {
	if u == 0 {
		return userCount{}
	}
	for c := &g.users.at(u - 1).count; c.name != 0; c = g.counts.at(c.next - 1) {
		if c.name == name+1 {
			return *c
		}
		if c.next == 0 {
			break
		}
	}
	return userCount{}
}

// state returns the number of a seat state, adding it when new.
func (g *groupbuyState) state(st groupbuy.SeatState) uint8 {
	for i, x := range g.states {
		if x == st {
			return uint8(i)
		}
	}
	g.states = append(g.states, st)
	return uint8(len(g.states) - 1)
}

// sameDecimal reports whether a and b are the same decimal, representation
// included: the same coefficient and exponent.
//
// It is split so that the common case, the very same value (one price
// shared by a team's seats), is inlined into variant's scan.
func sameDecimal(a, b decimal.Decimal) bool {
	return a == b || sameDecimalValue(a, b)
}

// sameDecimalValue is sameDecimal for two values not identical as structs.
func sameDecimalValue(a, b decimal.Decimal) bool {
	return !a.IsZero() && a.Exponent() == b.Exponent() && a.Cmp(b) == 0
}

// variant returns the position of v's campaign, SKU, currency and prices in
// t.variants, adding them when new.
func (g *groupbuyState) variant(t *teamRow, v *groupbuy.Seat) uint32 {
	for i := range t.variants {
		x := &t.variants[i]
		if x.campaignID == v.CampaignID && x.sku == v.SKU && x.currency == v.Currency &&
			sameDecimal(x.unit, v.UnitPrice) && sameDecimal(x.amount, v.Amount) {
			return uint32(i)
		}
	}
	name := t.campaign.name
	if v.CampaignID != t.CampaignID {
		name = g.names.num(v.CampaignID)
	}
	t.variants = append(t.variants, seatVariant{
		campaignID: v.CampaignID, name: name, sku: v.SKU, currency: v.Currency, unit: v.UnitPrice, amount: v.Amount,
	})
	return uint32(len(t.variants) - 1)
}

// seatValue returns seat row i as a groupbuy.Seat.
func (g *groupbuyState) seatValue(i uint32) groupbuy.Seat {
	var out groupbuy.Seat
	g.setSeatValue(&out, i)
	return out
}

// setSeatValue sets *out, a zero Seat, to seat row i field by field, for a
// result built in place.
func (g *groupbuyState) setSeatValue(out *groupbuy.Seat, i uint32) {
	s := g.seats.at(i)
	g.setSeat(out, s, g.strs.str(s.id), g.strs.str(s.paymentRef), g.times.get(s.paidAt))
}

// setSeat is setSeatValue for row s, given its ID, payment reference and
// PaidAt, which a payment has at hand as it wrote them (a stored time reads
// back exactly as written).
func (g *groupbuyState) setSeat(out *groupbuy.Seat, s *seatRow, id, paymentRef string, paidAt time.Time) {
	t := g.teamList[s.team]
	v := &t.variants[s.variant]
	out.ID, out.TeamID, out.CampaignID, out.SKU, out.Quantity = id, t.ID, v.campaignID, v.sku, s.quantity
	out.UnitPrice, out.Amount, out.Currency, out.State = v.unit, v.amount, v.currency, g.states[s.state]
	out.Leader, out.Virtual, out.ReservedAt = s.leader, s.virtual, g.times.get(s.reservedAt)
	out.ReservedUntil, out.PaidAt = g.times.get(s.reservedUntil), paidAt
	out.PaymentRef, out.Version, out.RefundAttempt = paymentRef, s.version, int(s.refundAttempt)
	if s.user != 0 {
		out.UserID = g.strs.str(g.users.at(s.user - 1).id)
	}
}

// seatValues returns the seat rows nums as groupbuy.Seats.
func (g *groupbuyState) seatValues(nums []uint32) []groupbuy.Seat {
	out := make([]groupbuy.Seat, len(nums))
	for i, n := range nums {
		out[i] = g.seatValue(n)
	}
	return out
}

// scopeEntry is a known idempotency scope: its hash and, once a record
// under it is stored, where the strs arena holds its name.
type scopeEntry struct {
	name   string
	hash   uint32
	stored ref
}

// maxScopes bounds groupbuyState.scopes; further scopes are hashed and
// stored per record.
const maxScopes = 16

// scope returns the position of scope's entry in g.scopes, adding it when
// new and there is room; -1 otherwise. A store sees a handful of scopes
// (one per command), and hashing and storing the scope for every record
// cost about as much as the key.
func (g *groupbuyState) scope(scope string) int {
	for i := range g.scopes {
		if g.scopes[i].name == scope {
			return i
		}
	}
	if len(g.scopes) == maxScopes {
		return -1
	}
	g.scopes = append(g.scopes, scopeEntry{name: scope, hash: hashOf(g.seed, scope)})
	return len(g.scopes) - 1
}

// idemAt is what replay learns about a new record and remember takes, so
// that remember neither hashes nor looks up its scope again: the hash of
// its scope and key, and its scope's position in g.scopes (-1 for none).
type idemAt struct {
	h     uint32
	scope int
}

// idemHash returns the hash of an idempotency record's scope and key, and
// the scope's position (see scope).
func (g *groupbuyState) idemHash(scope, key string) idemAt {
	e := g.scope(scope)
	sh := uint32(0)
	if e >= 0 {
		sh = g.scopes[e].hash
	} else {
		sh = hashOf(g.seed, scope)
	}
	return idemAt{hashOf(g.seed, key) ^ sh*0x9e3779b1, e}
}

// replay returns a *ReplayError when rec's key is already stored, and
// otherwise what remember takes; the caller holds mu.
func (g *groupbuyState) replay(rec *groupbuy.IdempotencyRecord) (idemAt, error) {
	if rec == nil {
		return idemAt{}, nil
	}
	at := g.idemHash(rec.Scope, rec.Key)
	if i, ok := g.idemNumAt(at.h, rec.Scope, rec.Key); ok {
		return idemAt{}, &groupbuy.ReplayError{Record: g.record(i)}
	}
	return at, nil
}

func (g *groupbuyState) idemNum(scope, key string) (uint32, bool) {
	return g.idemNumAt(g.idemHash(scope, key).h, scope, key)
}

// idemNumAt is idemNum for h, the idemHash of scope and key.
func (g *groupbuyState) idemNumAt(h uint32, scope, key string) (uint32, bool) {
	for p := h; ; {
		i, ok := g.idemIx.next(h, &p)
		if !ok {
			return 0, false
		}
		if r := g.idem.at(i); g.strs.str(r.key) == key && g.strs.str(r.scope) == scope {
			return i, true
		}
	}
}

// record returns stored record i, its result copied so that the caller may
// keep it.
func (g *groupbuyState) record(i uint32) groupbuy.IdempotencyRecord {
	r := g.idem.at(i)
	return groupbuy.IdempotencyRecord{
		Scope: g.strs.str(r.scope), Key: g.strs.str(r.key), Fingerprint: g.strs.str(r.fingerprint),
		Result: slices.Clone(g.strs.bytes(r.result)), CreatedAt: g.times.get(r.createdAt),
	}
}

// remember stores rec, with result as its result; at is what replay
// returned for it.
func (g *groupbuyState) remember(rec *groupbuy.IdempotencyRecord, result []byte, at idemAt) {
	g.rememberAs(rec, result, at, ref{}, "")
}

// rememberAs is remember for a record whose key may be a string already
// stored at known, which it then refers to: a payment's record is keyed by
// its reference, which the seat row holds too.
func (g *groupbuyState) rememberAs(rec *groupbuy.IdempotencyRecord, result []byte, at idemAt, known ref, knownStr string) {
	if rec == nil {
		return
	}
	i, r := g.idem.add()
	r.key = known
	if known.n == 0 || rec.Key != knownStr {
		r.key = g.strs.add(rec.Key)
	}
	if at.scope >= 0 {
		e := &g.scopes[at.scope]
		if e.stored.n == 0 {
			e.stored = g.strs.add(rec.Scope) // strs never lets a chunk go, so the ref stays valid
		}
		r.scope = e.stored
	} else {
		r.scope = g.strs.add(rec.Scope)
	}
	r.fingerprint, r.result = g.strs.addPair(rec.Fingerprint, result)
	r.createdAt = g.times.put(rec.CreatedAt)
	g.idemIx.add(at.h, i)
}

// holdsSeat reports whether user u (a row plus one, 0 when the store has
// none) holds a live seat in team t. It scans the shorter of the user's
// seats and the team's: both list every real seat they have.
func (g *groupbuyState) holdsSeat(t *teamRow, u uint32) bool {
	if u == 0 {
		return false
	}
	if ur := g.users.at(u - 1); ur.seats <= len(t.seats) {
		for p := ur.last; p != 0; {
			s := g.seats.at(p - 1)
			if s.team == t.num && s.state < liveStates {
				return true
			}
			p = s.prev
		}
		return false
	}
	for _, i := range t.seats {
		if s := g.seats.at(i); s.user == u && !s.virtual && s.state < liveStates {
			return true
		}
	}
	return false
}

// uncount stops counting a seat that left the live states.
func (g *groupbuyState) uncount(s *seatRow) {
	if s.virtual {
		return
	}
	c := g.count(s.user, g.teamList[s.team].variants[s.variant].name)
	if s.leader {
		c.opened--
	} else {
		c.joined--
	}
}

// addSeat stores v in team t under seat hash h; u is the row of v's user
// plus one, 0 when the store has none yet (the caller looked it up) or v is
// virtual.
func (g *groupbuyState) addSeat(t *teamRow, v *groupbuy.Seat, h, u uint32) {
	variant := g.variant(t, v)
	if u == 0 && (!v.Virtual || v.UserID != "") {
		u = g.user(v.UserID)
	}
	i, s := g.seats.add()
	s.id, s.paymentRef, s.user, s.team, s.variant = g.strs.add(v.ID), g.strs.add(v.PaymentRef), u, t.num, variant
	s.quantity, s.version, s.state, s.leader, s.virtual = v.Quantity, v.Version, g.state(v.State), v.Leader, v.Virtual
	s.reservedAt, s.reservedUntil, s.paidAt = g.times.put(v.ReservedAt), g.times.put(v.ReservedUntil), g.times.put(v.PaidAt)
	g.seatIx.add(h, i)
	t.seats = append(t.seats, i)
	if v.Virtual {
		return
	}
	ur := g.users.at(u - 1)
	s.prev, ur.last = ur.last, i+1
	ur.seats++
	c := g.count(u, t.variants[variant].name)
	if v.Leader {
		c.opened++
	} else {
		c.joined++
	}
}

func (g *groupbuyState) setSeatState(s *seatRow, to uint8) {
	s.state = to
	s.version++
}

func (g *groupbuyState) setTeamState(t *teamRow, to groupbuy.TeamState, now time.Time) {
	if t.State == groupbuy.TeamForming && to != groupbuy.TeamForming {
		delete(g.forming, t.ID)
		delete(t.campaign.forming, t.ID)
	}
	t.State = to
	t.ClosedAt = now
}

func cloneCampaign(c *groupbuy.Campaign) groupbuy.Campaign {
	out := *c
	out.Prices = slices.Clone(c.Prices)
	return out
}

// CreateCampaign implements groupbuy.Store.
func (s *Store) CreateCampaign(ctx context.Context, c *groupbuy.Campaign) error {
	if err := groupbuy.CheckStoredCampaign(c); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.gb.campaigns[c.ID]; ok {
		return fmt.Errorf("campaign %s exists: %w", c.ID, storage.ErrConflict)
	}
	s.gb.campaigns[c.ID] = &campaignRow{Campaign: cloneCampaign(c), name: s.gb.names.num(c.ID)}
	return nil
}

// SetCampaignStatus implements groupbuy.Store.
func (s *Store) SetCampaignStatus(ctx context.Context, id string, from, to groupbuy.CampaignStatus) (groupbuy.Campaign, error) {
	if err := checkID("id", id); err != nil {
		return groupbuy.Campaign{}, err
	}
	if !from.Valid() || !to.Valid() {
		return groupbuy.Campaign{}, badArg("status", "unknown status")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.gb.campaigns[id]
	if !ok {
		return groupbuy.Campaign{}, notFound("campaign", id)
	}
	if c.Status != from {
		return groupbuy.Campaign{}, fmt.Errorf("campaign %s is %s, not %s: %w", id, c.Status, from, storage.ErrConflict)
	}
	c.Status = to
	c.Version++
	return cloneCampaign(&c.Campaign), nil
}

// GetCampaign implements groupbuy.Store.
func (s *Store) GetCampaign(ctx context.Context, id string) (groupbuy.Campaign, error) {
	if err := checkID("id", id); err != nil {
		return groupbuy.Campaign{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.gb.campaigns[id]
	if !ok {
		return groupbuy.Campaign{}, notFound("campaign", id)
	}
	return cloneCampaign(&c.Campaign), nil
}

// OpenTeam implements groupbuy.Store.
func (s *Store) OpenTeam(ctx context.Context, w *groupbuy.OpenTeamWrite) error {
	if err := groupbuy.CheckOpenTeamWrite(w); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g := &s.gb
	ih, err := g.replay(w.Idem)
	if err != nil {
		return err
	}
	c, ok := g.campaigns[w.Team.CampaignID]
	if !ok {
		return notFound("campaign", w.Team.CampaignID)
	}
	return s.openLocked(c, w, ih)
}

// openLocked is OpenTeam once the record and the campaign c are checked,
// with s.mu held; ih is where the record goes.
func (s *Store) openLocked(c *campaignRow, w *groupbuy.OpenTeamWrite, ih idemAt) error {
	g := &s.gb
	if !c.AcceptsSeats(w.Now) {
		return groupbuy.ErrCampaignNotActive
	}
	u := g.userNum(w.Leader.UserID, hashOf(g.seed, w.Leader.UserID))
	if w.MaxOpened > 0 && g.counted(u, c.name).opened >= int32(w.MaxOpened) {
		return groupbuy.ErrLimitExceeded
	}
	if _, dup := g.teams[w.Team.ID]; dup {
		return fmt.Errorf("team %s exists: %w", w.Team.ID, storage.ErrConflict)
	}
	h := hashOf(g.seed, w.Leader.ID)
	if _, dup := g.seatNum(w.Leader.ID, h); dup {
		return fmt.Errorf("seat %s exists: %w", w.Leader.ID, storage.ErrConflict)
	}
	if err := s.eventsFree(w.Events, storage.ErrConflict); err != nil {
		return err
	}
	team, leader := w.Rows()
	t := &teamRow{Team: team, campaign: c, num: uint32(len(g.teamList))}
	// Room for a full team's seats, so that joins grow the slice only
	// when cancelled or lapsed seats have left released rows in it.
	t.seats = make([]uint32, 0, min(max(t.Capacity, 1), groupbuy.MaxTeamSize))
	g.teamList = append(g.teamList, t)
	g.teams[t.ID] = t
	g.forming[t.ID] = t
	if c.forming == nil {
		c.forming = make(map[string]*teamRow)
	}
	c.forming[t.ID] = t
	g.addSeat(t, &leader, h, u)
	if w.Idem != nil {
		g.remember(w.Idem, w.Idem.Result, ih)
	}
	s.addEvents(w.Events)
	return nil
}

// JoinTeam implements groupbuy.Store.
//
// The seat is built in its named result, which sits in the caller's frame,
// so that it is not copied again on return.
func (s *Store) JoinTeam(ctx context.Context, w *groupbuy.JoinTeamWrite) (_ groupbuy.Team, seat groupbuy.Seat, _ error) {
	// Bad input first, before a replay is reported, as on the SQL stores.
	if err := groupbuy.CheckJoinTeamWrite(w); err != nil {
		return groupbuy.Team{}, groupbuy.Seat{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g := &s.gb
	ih, err := g.replay(w.Idem)
	if err != nil {
		return groupbuy.Team{}, groupbuy.Seat{}, err
	}
	t, ok := g.teams[w.Seat.TeamID]
	if !ok || t.CampaignID != w.Seat.CampaignID {
		return groupbuy.Team{}, groupbuy.Seat{}, notFound("team", w.Seat.TeamID)
	}
	if t.campaign.Status != groupbuy.CampaignActive {
		return groupbuy.Team{}, groupbuy.Seat{}, groupbuy.ErrCampaignNotActive
	}
	if t.State != groupbuy.TeamForming || !t.ExpiresAt.After(w.Now) {
		return groupbuy.Team{}, groupbuy.Seat{}, groupbuy.ErrTeamClosed
	}
	hu := hashOf(g.seed, w.Seat.UserID)
	u := g.userNum(w.Seat.UserID, hu)
	if g.holdsSeat(t, u) {
		return groupbuy.Team{}, groupbuy.Seat{}, groupbuy.ErrAlreadyJoined
	}
	if t.SeatsTaken >= t.Capacity {
		return groupbuy.Team{}, groupbuy.Seat{}, groupbuy.ErrTeamFull
	}
	if t.SeatRows >= groupbuy.MaxSeatRows(t.Capacity) {
		return groupbuy.Team{}, groupbuy.Seat{}, groupbuy.ErrTeamChurned
	}
	if err := s.addJoin(t, w, &seat, hu, u, w.Events, w.Idem, ih); err != nil {
		return groupbuy.Team{}, groupbuy.Seat{}, err
	}
	return t.Team, seat, nil
}

// addJoin is the end of JoinTeam and MatchTeam once the team is known and
// checked: the per-user limit, then the seat (built in *seat), the
// counters, events and record. hu is the user's hash, u their row plus one
// (0 when none yet).
func (s *Store) addJoin(t *teamRow, w *groupbuy.JoinTeamWrite, seat *groupbuy.Seat, hu, u uint32, events []storage.Event, idem *groupbuy.IdempotencyRecord, ih idemAt) error {
	g := &s.gb
	if w.MaxJoined > 0 && g.counted(u, t.campaign.name).joined >= int32(w.MaxJoined) {
		return groupbuy.ErrLimitExceeded
	}
	h := hashOf(g.seed, w.Seat.ID)
	if _, dup := g.seatNum(w.Seat.ID, h); dup {
		return fmt.Errorf("seat %s exists: %w", w.Seat.ID, storage.ErrConflict)
	}
	if err := s.eventsFree(events, storage.ErrConflict); err != nil {
		return err
	}
	*seat = w.Row()
	seat.TeamID = t.ID
	if seat.ReservedUntil.After(t.ExpiresAt) {
		seat.ReservedUntil = t.ExpiresAt
	}
	t.SeatsTaken++
	t.SeatRows++
	t.Version++
	if u == 0 {
		u = g.addUser(seat.UserID, hu)
	}
	g.addSeat(t, seat, h, u)
	if idem != nil {
		g.remember(idem, idem.Result, ih)
	}
	s.addEvents(events)
	return nil
}

// MatchTeam implements groupbuy.Store. The store holds no row locks, so it
// always picks the first qualifying team in the write's order, and opens
// w.Open's team only when no team qualifies.
func (s *Store) MatchTeam(ctx context.Context, w *groupbuy.MatchTeamWrite) (groupbuy.Team, groupbuy.Seat, error) {
	if err := groupbuy.CheckMatchTeamWrite(w); err != nil {
		return groupbuy.Team{}, groupbuy.Seat{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g := &s.gb
	ih, err := g.replay(w.Idem)
	if err != nil {
		return groupbuy.Team{}, groupbuy.Seat{}, err
	}
	c, ok := g.campaigns[w.Seat.CampaignID]
	if !ok {
		return groupbuy.Team{}, groupbuy.Seat{}, notFound("campaign", w.Seat.CampaignID)
	}
	if c.Status != groupbuy.CampaignActive {
		return groupbuy.Team{}, groupbuy.Seat{}, groupbuy.ErrCampaignNotActive
	}
	hu := hashOf(g.seed, w.Seat.UserID)
	u := g.userNum(w.Seat.UserID, hu)
	qualifies := func(t *teamRow) bool {
		return t.ID != w.Exclude && joinable(t, w.Now) && !g.holdsSeat(t, u)
	}
	var best *teamRow
	if w.Order == groupbuy.MatchRandom {
		// The store holds no row locks: the first pick is always taken.
		var cands []*teamRow
		for _, t := range c.forming {
			if qualifies(t) {
				cands = append(cands, t)
			}
		}
		slices.SortFunc(cands, func(a, b *teamRow) int { return matchCompare(&a.Team, &b.Team, groupbuy.MatchFullest) })
		cands = cands[:min(len(cands), groupbuy.MatchRandomCandidates)]
		if first, _ := groupbuy.RandomPicks(w.Pick, len(cands)); first >= 0 {
			best = cands[first]
		}
	} else {
		for _, t := range c.forming {
			if qualifies(t) && (best == nil || matchCompare(&t.Team, &best.Team, w.Order) < 0) {
				best = t
			}
		}
	}
	if best == nil {
		if w.Open == nil {
			return groupbuy.Team{}, groupbuy.Seat{}, groupbuy.ErrTeamFull
		}
		if err := s.openLocked(c, w.Open, ih); err != nil {
			return groupbuy.Team{}, groupbuy.Seat{}, err
		}
		i, _ := g.seat(w.Open.Leader.ID)
		return g.teams[w.Open.Team.ID].Team, g.seatValue(i), nil
	}
	events, idem := w.Filled(best.ID)
	var seat groupbuy.Seat
	if err := s.addJoin(best, &w.JoinTeamWrite, &seat, hu, u, events, idem, ih); err != nil {
		return groupbuy.Team{}, groupbuy.Seat{}, err
	}
	return best.Team, seat, nil
}

// joinable reports whether forming team t takes a join at now, as Match
// and OpenTeams ask: a free seat, a seat row left (groupbuy.MaxSeatRows)
// and its deadline ahead.
func joinable(t *teamRow, now time.Time) bool {
	return t.SeatsTaken < t.Capacity && t.SeatRows < groupbuy.MaxSeatRows(t.Capacity) && t.ExpiresAt.After(now)
}

// compareMicro compares a and b by the microsecond, as the SQL stores keep
// times: teams and seats whose times are less than a microsecond apart tie
// in lists on every adapter, and their IDs decide.
func compareMicro(a, b time.Time) int { return cmp.Compare(a.UnixMicro(), b.UnixMicro()) }

// matchCompare orders teams a and b in a match order: MatchOldest by
// OpenedAt, then ID; MatchFullest by SeatsTaken descending, then
// ExpiresAt, then ID.
func matchCompare(a, b *groupbuy.Team, order groupbuy.MatchStrategy) int {
	if order == groupbuy.MatchOldest {
		return cmp.Or(compareMicro(a.OpenedAt, b.OpenedAt), cmp.Compare(a.ID, b.ID))
	}
	return cmp.Or(cmp.Compare(b.SeatsTaken, a.SeatsTaken), compareMicro(a.ExpiresAt, b.ExpiresAt), cmp.Compare(a.ID, b.ID))
}

// PaySeat implements groupbuy.Store.
//
// The result is built in place (see JoinTeam).
func (s *Store) PaySeat(ctx context.Context, w *groupbuy.PaySeatWrite) (res groupbuy.PaySeatResult, _ error) {
	if err := groupbuy.CheckPaySeatWrite(w); err != nil {
		return groupbuy.PaySeatResult{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g := &s.gb
	ih, err := g.replay(w.Idem)
	if err != nil {
		return groupbuy.PaySeatResult{}, err
	}
	si, seat := g.seat(w.SeatID)
	if seat == nil || seat.virtual {
		return groupbuy.PaySeatResult{}, notFound("seat", w.SeatID)
	}
	t := g.teamList[seat.team]
	if t.ID != w.TeamID {
		return groupbuy.PaySeatResult{}, notFound("seat", w.SeatID)
	}
	// An amount beyond the money columns equals no seat's; comparing one
	// with a hostile exponent would rescale it by a power of ten as large
	// (see check.ExactTo), so it is settled first.
	if v := &t.variants[seat.variant]; !check.MoneyOK(w.Amount) || !v.amount.Equal(w.Amount) || v.currency != w.Currency {
		return groupbuy.PaySeatResult{}, groupbuy.ErrAmountMismatch
	}
	// A UTC w.Now is compared as a stamp, without rebuilding a time.Time
	// from the seat's.
	now, nowUTC := utcStamp(w.Now)
	if seat.state != stateReserved {
		return groupbuy.PaySeatResult{}, groupbuy.ErrSeatNotReserved
	}
	if nowUTC && seat.reservedUntil.nsec >= 0 {
		if !seat.reservedUntil.after(now) {
			return groupbuy.PaySeatResult{}, groupbuy.ErrSeatNotReserved
		}
	} else if !g.times.get(seat.reservedUntil).After(w.Now) {
		return groupbuy.PaySeatResult{}, groupbuy.ErrSeatNotReserved
	}
	if t.State != groupbuy.TeamForming || !t.ExpiresAt.After(w.Now) {
		return groupbuy.PaySeatResult{}, groupbuy.ErrTeamClosed
	}
	if err := s.eventsFree(w.Events, storage.ErrConflict); err != nil {
		return groupbuy.PaySeatResult{}, err
	}
	var fill []storage.Event
	if t.SeatsPaid+1 >= t.Capacity && w.OnFill != nil {
		fill = g.fillEvents(t, si, w)
		// Checked as a write's own events, as the SQL stores check them.
		if err := check.Events(fill); err != nil {
			return groupbuy.PaySeatResult{}, err
		}
		if err := s.fillEventsFree(w.Events, fill); err != nil {
			return groupbuy.PaySeatResult{}, err
		}
	}
	g.setSeatState(seat, statePaid)
	if seat.paidAt = now; !nowUTC {
		seat.paidAt = g.times.putExact(w.Now)
	}
	seat.paymentRef = g.strs.add(w.PaymentRef)
	t.SeatsPaid++
	t.Version++
	filled := t.SeatsPaid >= t.Capacity
	if w.Idem != nil {
		result := w.Idem.Result
		if filled && w.FilledResult != nil {
			result = w.FilledResult
		}
		g.rememberAs(w.Idem, result, ih, seat.paymentRef, w.PaymentRef)
	}
	s.addEvents(w.Events)
	if filled {
		g.setTeamState(t, groupbuy.TeamSucceeded, w.Now)
		confirmed := g.state(groupbuy.SeatConfirmed)
		for _, j := range t.seats {
			if st := g.seats.at(j); st.state == statePaid {
				g.setSeatState(st, confirmed)
			}
		}
		s.addEvents(fill)
	}
	res.Team, res.Filled = t.Team, filled
	g.setSeat(&res.Seat, seat, w.SeatID, w.PaymentRef, w.Now)
	return res, nil
}

// fillEvents returns OnFill's events for team t, which payment w of seat
// row si fills. They are built, before anything changes, from the team and
// seats as the payment will leave them (succeeded; every paid seat, si
// included, confirmed), so that a payment whose events have an ID in use is
// refused whole.
func (g *groupbuyState) fillEvents(t *teamRow, si uint32, w *groupbuy.PaySeatWrite) []storage.Event {
	tc := t.Team
	tc.SeatsPaid++
	tc.Version++
	tc.State, tc.ClosedAt = groupbuy.TeamSucceeded, w.Now
	seats := make([]groupbuy.Seat, len(t.seats))
	for k, j := range t.seats {
		st := &seats[k]
		g.setSeatValue(st, j)
		if j == si {
			st.State, st.PaidAt, st.PaymentRef = groupbuy.SeatPaid, w.Now, w.PaymentRef
			st.Version++
		}
		if st.State == groupbuy.SeatPaid {
			st.State = groupbuy.SeatConfirmed
			st.Version++
		}
	}
	slices.SortStableFunc(seats, seatOrder)
	return w.OnFill(&tc, seats)
}

// fillEventsFree is eventsFree for OnFill's events, which check.Events
// found distinct, and which must not share an ID with the payment's
// events either.
func (s *Store) fillEventsFree(events, fill []storage.Event) error {
	for i := range fill {
		if slices.ContainsFunc(events, func(ev storage.Event) bool { return ev.ID == fill[i].ID }) {
			return fmt.Errorf("OnFill's event ID %q is in use: %w", fill[i].ID, storage.ErrConflict)
		}
	}
	return s.eventsFree(fill, storage.ErrConflict)
}

// ReleaseSeat implements groupbuy.Store.
func (s *Store) ReleaseSeat(ctx context.Context, w *groupbuy.ReleaseSeatWrite) (groupbuy.Seat, error) {
	if err := groupbuy.CheckReleaseSeatWrite(w); err != nil {
		return groupbuy.Seat{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g := &s.gb
	i, seat := g.seat(w.SeatID)
	if seat == nil {
		return groupbuy.Seat{}, notFound("seat", w.SeatID)
	}
	if seat.state != stateReserved {
		return groupbuy.Seat{}, groupbuy.ErrSeatNotReserved
	}
	if w.UserID != "" && (seat.user == 0 || g.strs.str(g.users.at(seat.user-1).id) != w.UserID) {
		return groupbuy.Seat{}, groupbuy.ErrNotOwner
	}
	if w.OnlyExpired && g.times.get(seat.reservedUntil).After(w.Now) {
		return groupbuy.Seat{}, fmt.Errorf("seat %s not expired: %w", w.SeatID, storage.ErrConflict)
	}
	if err := s.eventsFree(w.Events, storage.ErrConflict); err != nil {
		return groupbuy.Seat{}, err
	}
	t := g.teamList[seat.team]
	g.setSeatState(seat, g.state(groupbuy.SeatReleased))
	g.uncount(seat)
	t.SeatsTaken--
	t.Version++
	s.addEvents(w.Events)
	return g.seatValue(i), nil
}

// CloseTeam implements groupbuy.Store.
func (s *Store) CloseTeam(ctx context.Context, w *groupbuy.CloseTeamWrite) error {
	if err := groupbuy.CheckCloseTeamWrite(w); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g := &s.gb
	t, ok := g.teams[w.TeamID]
	if !ok {
		return notFound("team", w.TeamID)
	}
	if t.State != groupbuy.TeamForming || t.Version != w.Version {
		return fmt.Errorf("team %s changed: %w", t.ID, storage.ErrConflict)
	}
	// Check every precondition before the first change.
	moves := w.Moves()
	for _, m := range moves {
		from := g.state(m.From)
		for _, id := range m.SeatIDs {
			_, st := g.seat(id)
			if st == nil || st.team != t.num || st.state != from {
				return fmt.Errorf("seat %s of team %s changed: %w", id, t.ID, storage.ErrConflict)
			}
		}
	}
	for _, b := range w.BotSeats {
		if _, dup := g.seat(b.ID); dup != nil || b.TeamID != t.ID || b.CampaignID != t.CampaignID || !b.Virtual {
			return fmt.Errorf("bot seat %s: %w", b.ID, storage.ErrConflict)
		}
	}
	if err := s.eventsFree(w.Events, storage.ErrConflict); err != nil {
		return err
	}
	for _, m := range moves {
		to := g.state(m.To)
		for _, id := range m.SeatIDs {
			_, st := g.seat(id)
			g.setSeatState(st, to)
			if m.To == groupbuy.SeatRefundRequested {
				st.refundAttempt = 1
			}
			if m.To != groupbuy.SeatConfirmed {
				g.uncount(st)
				t.SeatsTaken--
				if m.From == groupbuy.SeatPaid {
					t.SeatsPaid--
				}
			}
		}
	}
	for i := range w.BotSeats {
		b := &w.BotSeats[i]
		g.addSeat(t, b, hashOf(g.seed, b.ID), 0)
	}
	t.VirtualSeats += w.VirtualSeats
	t.Version++
	g.setTeamState(t, w.State, w.Now)
	s.addEvents(w.Events)
	return nil
}

// UpdateRefund implements groupbuy.Store.
func (s *Store) UpdateRefund(ctx context.Context, w *groupbuy.RefundWrite) (groupbuy.Seat, error) {
	if err := groupbuy.CheckRefundWrite(w); err != nil {
		return groupbuy.Seat{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g := &s.gb
	i, seat := g.seat(w.SeatID)
	if seat == nil {
		return groupbuy.Seat{}, notFound("seat", w.SeatID)
	}
	if st := g.states[seat.state]; st != w.From || int(seat.refundAttempt) != w.Attempt {
		return groupbuy.Seat{}, fmt.Errorf("seat %s is %s at refund attempt %d: %w", w.SeatID, st, seat.refundAttempt, storage.ErrConflict)
	}
	if err := s.eventsFree(w.Events, storage.ErrConflict); err != nil {
		return groupbuy.Seat{}, err
	}
	g.setSeatState(seat, g.state(w.To))
	seat.refundAttempt = int32(w.NewAttempt())
	s.addEvents(w.Events)
	return g.seatValue(i), nil
}

// RecordOutcome implements groupbuy.Store.
func (s *Store) RecordOutcome(ctx context.Context, idem *groupbuy.IdempotencyRecord, events []storage.Event) error {
	if err := groupbuy.CheckOutcome(idem, events); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ih, err := s.gb.replay(idem)
	if err != nil {
		return err
	}
	if err := s.eventsFree(events, storage.ErrConflict); err != nil {
		return err
	}
	s.gb.remember(idem, idem.Result, ih)
	s.addEvents(events)
	return nil
}

// GetTeam implements groupbuy.Store.
func (s *Store) GetTeam(ctx context.Context, id string) (groupbuy.Team, error) {
	if err := checkID("id", id); err != nil {
		return groupbuy.Team{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.gb.teams[id]
	if !ok {
		return groupbuy.Team{}, notFound("team", id)
	}
	return t.Team, nil
}

// TeamSeats implements groupbuy.Store.
func (s *Store) TeamSeats(ctx context.Context, teamID string) ([]groupbuy.Seat, error) {
	if err := checkID("teamID", teamID); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.gb.teams[teamID]
	if !ok {
		return nil, notFound("team", teamID)
	}
	out := s.gb.seatValues(t.seats)
	slices.SortStableFunc(out, seatOrder)
	return out, nil
}

// seatOrder is TeamSeats' order: real seats by ReservedAt then ID, virtual
// seats last.
func seatOrder(a, b groupbuy.Seat) int {
	if a.Virtual != b.Virtual {
		if a.Virtual {
			return 1
		}
		return -1
	}
	if c := compareMicro(a.ReservedAt, b.ReservedAt); c != 0 {
		return c
	}
	return cmp.Compare(a.ID, b.ID)
}

// GetSeat implements groupbuy.Store.
func (s *Store) GetSeat(ctx context.Context, id string) (groupbuy.Seat, error) {
	if err := checkID("id", id); err != nil {
		return groupbuy.Seat{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	i, st := s.gb.seat(id)
	if st == nil {
		return groupbuy.Seat{}, notFound("seat", id)
	}
	return s.gb.seatValue(i), nil
}

// OpenTeams implements groupbuy.Store.
func (s *Store) OpenTeams(ctx context.Context, campaignID string, now time.Time, order groupbuy.MatchStrategy, limit int) ([]groupbuy.Team, error) {
	if err := checkID("campaignID", campaignID); err != nil {
		return nil, err
	}
	if err := checkLimit(limit); err != nil {
		return nil, err
	}
	switch order {
	case groupbuy.MatchOldest, groupbuy.MatchFullest, groupbuy.MatchRandom:
	default:
		return nil, badArg("order", fmt.Sprintf("unknown order %q", order))
	}
	s.mu.Lock()
	var out []groupbuy.Team
	var forming map[string]*teamRow
	if c := s.gb.campaigns[campaignID]; c != nil {
		forming = c.forming
	}
	for _, t := range forming {
		if joinable(t, now) {
			out = append(out, t.Team)
		}
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b groupbuy.Team) int { return matchCompare(&a, &b, order) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// UserSeats implements groupbuy.Store.
func (s *Store) UserSeats(ctx context.Context, userID string, after groupbuy.SeatPosition, limit int) ([]groupbuy.Seat, error) {
	if err := checkID("userID", userID); err != nil {
		return nil, err
	}
	if err := groupbuy.CheckSeatPosition(after); err != nil {
		return nil, err
	}
	if err := checkLimit(limit); err != nil {
		return nil, err
	}
	s.mu.Lock()
	g := &s.gb
	var out []groupbuy.Seat
	if u := g.userNum(userID, hashOf(g.seed, userID)); u != 0 && g.users.at(u-1).seats > 0 {
		ur := g.users.at(u - 1)
		out = make([]groupbuy.Seat, 0, ur.seats)
		for p := ur.last; p != 0; p = g.seats.at(p - 1).prev {
			out = append(out, g.seatValue(p-1))
		}
	}
	s.mu.Unlock()
	newestFirst := func(a, b groupbuy.Seat) int {
		return cmp.Or(compareMicro(b.ReservedAt, a.ReservedAt), cmp.Compare(b.ID, a.ID))
	}
	if !after.IsZero() {
		at := groupbuy.Seat{ID: after.ID, ReservedAt: after.ReservedAt}
		out = slices.DeleteFunc(out, func(st groupbuy.Seat) bool { return newestFirst(st, at) <= 0 })
	}
	slices.SortFunc(out, newestFirst)
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func checkDueLimit(limit int) error {
	if limit <= 0 || limit > groupbuy.MaxProcessDue {
		return badArg("limit", fmt.Sprintf("must be in 1..%d", groupbuy.MaxProcessDue))
	}
	return nil
}

// DueReservations implements groupbuy.Store.
func (s *Store) DueReservations(ctx context.Context, now time.Time, limit int) ([]groupbuy.Seat, error) {
	if err := checkDueLimit(limit); err != nil {
		return nil, err
	}
	s.mu.Lock()
	g := &s.gb
	var out []groupbuy.Seat
	for _, t := range g.forming {
		for _, i := range t.seats {
			if st := g.seats.at(i); st.state == stateReserved && !g.times.get(st.reservedUntil).After(now) {
				out = append(out, g.seatValue(i))
			}
		}
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b groupbuy.Seat) int {
		return cmp.Or(compareMicro(a.ReservedUntil, b.ReservedUntil), cmp.Compare(a.ID, b.ID))
	})
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// DueTeams implements groupbuy.Store.
func (s *Store) DueTeams(ctx context.Context, now time.Time, limit int) ([]groupbuy.Team, error) {
	if err := checkDueLimit(limit); err != nil {
		return nil, err
	}
	s.mu.Lock()
	var out []groupbuy.Team
	for _, t := range s.gb.forming {
		if !t.ExpiresAt.After(now) || t.SeatsPaid >= t.Capacity {
			out = append(out, t.Team)
		}
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b groupbuy.Team) int {
		return cmp.Or(compareMicro(a.ExpiresAt, b.ExpiresAt), cmp.Compare(a.ID, b.ID))
	})
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// GetIdempotency implements groupbuy.Store.
func (s *Store) GetIdempotency(ctx context.Context, scope, key string) (groupbuy.IdempotencyRecord, error) {
	if err := cmp.Or(checkText("scope", scope, groupbuy.MaxRecordScopeLength), checkText("key", key, groupbuy.MaxRecordKeyLength)); err != nil {
		return groupbuy.IdempotencyRecord{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	i, ok := s.gb.idemNum(scope, key)
	if !ok {
		return groupbuy.IdempotencyRecord{}, notFound("idempotency record", scope+"/"+key)
	}
	return s.gb.record(i), nil
}
