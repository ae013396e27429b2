package groupbuy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/shopspring/decimal"

	"github.com/socialcommerce/sdk/internal/check"
	"github.com/socialcommerce/sdk/internal/decfmt"
	"github.com/socialcommerce/sdk/internal/fastcopy"
	"github.com/socialcommerce/sdk/internal/ids"
	"github.com/socialcommerce/sdk/internal/jsonw"
	"github.com/socialcommerce/sdk/internal/microtime"
	"github.com/socialcommerce/sdk/storage"
)

// Config configures a Service. The zero value is usable.
type Config struct {
	// Now returns the current time; default time.Now in UTC. Every deadline
	// is computed from it, so tests and simulations inject their own.
	Now func() time.Time
	// NewID returns a fresh unique ID for teams, seats and events; default
	// a UUIDv7 string stamped with Now. The IDs it returns must satisfy the
	// ID rules (1..MaxIDLength bytes of valid UTF-8 with no ASCII spaces
	// or control characters), or the stores refuse every Open, Join and
	// Match.
	NewID func() string
	// MaxRereads bounds how often a command re-reads and decides again after
	// a guarded write lost to a concurrent change; default 3, at most
	// MaxConfigRereads.
	MaxRereads int
	// Seed makes MatchRandom deterministic: the choice is a hash of (Seed,
	// user, idempotency key).
	Seed uint64
	// DueBatch is how many reservations and teams ProcessDue handles per
	// read; default 200.
	DueBatch int
}

// Service runs group-buy commands against a Store; make one with New (the
// zero Service has no store and must not be used). It is safe for
// concurrent use.
type Service struct {
	store Store
	now   func() time.Time
	newID func() string
	// ids is the default generator when Config.NewID is nil: the hot paths
	// then write IDs straight into the strings that hold them.
	ids *ids.Generator
	cfg Config

	mu        sync.RWMutex
	campaigns map[string]*cachedCampaign // definitions of non-draft campaigns, which never change
	// hot is the campaign the last command read from campaigns: commands
	// come in runs on one campaign, and it costs a fraction of the lock
	// and the map lookup.
	hot atomic.Pointer[cachedCampaign]

	// Scratch for the Join and ConfirmPayment writes, reused: the Store
	// contract forbids an adapter to keep a write or its slices, so one
	// command's write, events and payload buffer serve the next.
	joins, pays sync.Pool
}

// joinScratch holds a JoinTeam write, its event and room for the event's
// payload.
type joinScratch struct {
	w       JoinTeamWrite
	ev      [1]storage.Event
	payload [256]byte
}

// New returns a Service on store. A nil store, also a typed nil such as
// (*memory.Store)(nil), and a Config field out of its range are a
// *ValidationError naming it.
func New(store Store, cfg Config) (*Service, error) {
	if check.Nil(store) {
		return nil, invalid("store", "must not be nil")
	}
	if cfg.MaxRereads < 0 || cfg.MaxRereads > MaxConfigRereads {
		return nil, invalid("MaxRereads", fmt.Sprintf("must be in 0..%d", MaxConfigRereads))
	}
	if cfg.DueBatch < 0 || cfg.DueBatch > MaxProcessDue {
		return nil, invalid("DueBatch", fmt.Sprintf("must be in 0..%d", MaxProcessDue))
	}
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return time.Now().UTC() }
	}
	var gen *ids.Generator
	if cfg.NewID == nil {
		gen = ids.New(cfg.Now)
		cfg.NewID = gen.NewID
	}
	if cfg.MaxRereads == 0 {
		cfg.MaxRereads = 3
	}
	if cfg.DueBatch == 0 {
		cfg.DueBatch = 200
	}
	return &Service{store: store, now: cfg.Now, newID: cfg.NewID, ids: gen, cfg: cfg, campaigns: make(map[string]*cachedCampaign)}, nil
}

// Idempotency scopes of the commands.
const (
	scopeOpen  = "groupbuy.open"
	scopeJoin  = "groupbuy.join"
	scopeMatch = "groupbuy.match"
	scopePay   = "groupbuy.pay"
	// scopeLate keys the seat a late payment is placed in by the seat the
	// payment was for, apart from callers' Match keys, so that neither can
	// take the other's record. One lapsed seat gets one placement: a
	// second payment for it finds the first's placed seat, paid, and is
	// refunded, as a second payment for a seat paid on time is. Versions
	// before this keying recorded a placement under the payment reference;
	// a payment that finds no record under its seat's key pays the seat
	// recorded for it so, if any (legacyPlacement).
	scopeLate = "groupbuy.late"
)

// CreateCampaign validates c and stores it with CreatedAt and Version set.
// A campaign whose ID exists is an error matching storage.ErrConflict (the
// store's, not ErrConflict, which reports lost re-reads).
func (s *Service) CreateCampaign(ctx context.Context, c Campaign) (Campaign, error) {
	// The SQL stores keep microseconds and would truncate the window's
	// ends; rounded up first (and validated so), every store compares the
	// same instants.
	c.StartsAt, c.EndsAt = microtime.Ceil(c.StartsAt), microtime.Ceil(c.EndsAt)
	if err := ValidateCampaign(&c); err != nil {
		return Campaign{}, err
	}
	c.Prices = append([]SKUPrice(nil), c.Prices...)
	c.CreatedAt = s.now()
	c.Version = 1
	if err := s.store.CreateCampaign(ctx, &c); err != nil {
		return Campaign{}, fmt.Errorf("groupbuy: create campaign %s: %w", c.ID, err)
	}
	return c, nil
}

// SetCampaignStatus moves a campaign to status to, following the campaign
// transition table: draft → active or ended; active → paused or ended;
// paused → active or ended; ended is final.
func (s *Service) SetCampaignStatus(ctx context.Context, id string, to CampaignStatus) (Campaign, error) {
	if err := validateID("campaignID", id); err != nil {
		return Campaign{}, err
	}
	if !to.Valid() {
		return Campaign{}, invalid("status", fmt.Sprintf("unknown status %q", to))
	}
	for range s.cfg.MaxRereads + 1 {
		c, err := s.store.GetCampaign(ctx, id)
		if err != nil {
			return Campaign{}, fmt.Errorf("groupbuy: campaign %s: %w", id, err)
		}
		if err := CheckCampaignTransition(c.Status, to); err != nil {
			return Campaign{}, err
		}
		c, err = s.store.SetCampaignStatus(ctx, id, c.Status, to)
		if errors.Is(err, storage.ErrConflict) && !storage.IsRetryable(err) {
			continue
		}
		if err != nil {
			return Campaign{}, fmt.Errorf("groupbuy: campaign %s: %w", id, err)
		}
		return c, nil
	}
	return Campaign{}, ErrConflict
}

// Campaign returns a campaign.
func (s *Service) Campaign(ctx context.Context, id string) (Campaign, error) {
	if err := validateID("campaignID", id); err != nil {
		return Campaign{}, err
	}
	c, err := s.store.GetCampaign(ctx, id)
	if err != nil {
		return Campaign{}, fmt.Errorf("groupbuy: campaign %s: %w", id, err)
	}
	return c, nil
}

// cachedCampaign is a cached campaign definition and the ID it was read
// by.
type cachedCampaign struct {
	id string
	c  Campaign
	// amounts[i] is the text of c.Prices[i].Price (decfmt.Append), the
	// amount of a single-unit seat, formatted once for the payloads of
	// every join rather than once per join; trim and sci are the decimal
	// settings it was formatted under, for a host that changes them.
	amounts   [][]byte
	trim, sci bool
}

// newCachedCampaign returns the cache entry of c, read by id.
func newCachedCampaign(id string, c *Campaign) *cachedCampaign {
	e := &cachedCampaign{id: id, c: *c, trim: decimal.TrimTrailingZeros, sci: decimal.UseScientificNotation}
	e.amounts = make([][]byte, len(c.Prices))
	for i, p := range c.Prices {
		e.amounts[i] = decfmt.Append(nil, p.Price)
	}
	return e
}

// amount returns the text of the price of sku, or nil when sku has none or
// the decimal settings changed since it was formatted.
func (e *cachedCampaign) amount(sku string) []byte {
	if e.trim != decimal.TrimTrailingZeros || e.sci != decimal.UseScientificNotation {
		return nil
	}
	for i := range e.c.Prices {
		if e.c.Prices[i].SKU == sku {
			return e.amounts[i]
		}
	}
	return nil
}

// campaign returns the definition of a campaign for deciding a command. The
// definition of a non-draft campaign never changes, so it is cached; its
// status may, and every write re-checks it in the store.
func (s *Service) campaign(ctx context.Context, id string) (*Campaign, error) {
	e, err := s.campaignEntry(ctx, id)
	if err != nil {
		return nil, err
	}
	return &e.c, nil
}

// campaignEntry is campaign returning the cache entry.
func (s *Service) campaignEntry(ctx context.Context, id string) (*cachedCampaign, error) {
	if e := s.hot.Load(); e != nil && e.id == id {
		return e, nil
	}
	s.mu.RLock()
	e := s.campaigns[id]
	s.mu.RUnlock()
	if e != nil {
		s.hot.Store(e)
		return e, nil
	}
	got, err := s.store.GetCampaign(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("groupbuy: campaign %s: %w", id, err)
	}
	if got.Status == CampaignDraft {
		return nil, ErrCampaignNotActive
	}
	e = newCachedCampaign(id, &got)
	s.mu.Lock()
	if len(s.campaigns) > 10000 {
		clear(s.campaigns)
	}
	s.campaigns[id] = e
	s.mu.Unlock()
	s.hot.Store(e)
	return e, nil
}

// OpenRequest opens a new team with the user as its leader.
type OpenRequest struct {
	CampaignID string
	UserID     string
	SKU        string
	// Quantity is 1 when zero, at most MaxQuantity; the seat's amount,
	// the SKU's price × Quantity, must not exceed 10^12 major units, the
	// largest amount ConfirmPayment takes (a *ValidationError on
	// Quantity otherwise), so that every seat reserved can be paid.
	Quantity int
	// IdempotencyKey, when set, makes a repeat change nothing and return the
	// first call's team and seat (as they are now). The key names one
	// request: another request under it (another campaign, user, SKU or
	// Quantity; for Join another team, for Match another Strategy) is
	// refused with ErrIdempotencyKeyReused and changes nothing.
	IdempotencyKey string
}

// JoinRequest takes a seat in a given team. The campaign ID comes with the
// team in every share link, and lets the join be one write.
type JoinRequest struct {
	CampaignID string
	TeamID     string
	UserID     string
	SKU        string
	Quantity   int // as OpenRequest's
	// IdempotencyKey, as OpenRequest's.
	IdempotencyKey string
}

// MatchRequest takes a seat in an open team of the campaign chosen by
// Strategy, or opens a new team when none has room.
type MatchRequest struct {
	CampaignID string
	UserID     string
	SKU        string
	Quantity   int // as OpenRequest's
	Strategy   MatchStrategy
	// IdempotencyKey, as OpenRequest's.
	IdempotencyKey string
}

// SeatResult is the outcome of Open, Join and Match: the seat reserved and
// its team as the command left it.
type SeatResult struct {
	Team Team
	Seat Seat
	// Opened is true when the command opened the team.
	Opened bool
}

type seatOrder struct {
	campaignID, userID, sku string
	quantity                int
	plain                   plainFields // of campaignID and userID, set by validateOrder
}

// priceOrder checks an order against its campaign at Now and prices it.
func (s *Service) priceOrder(ctx context.Context, o *seatOrder) (*cachedCampaign, decimal.Decimal, time.Time, error) {
	e, err := s.campaignEntry(ctx, o.campaignID)
	if err != nil {
		return nil, decimal.Decimal{}, time.Time{}, err
	}
	c := &e.c
	if c.ID != o.campaignID {
		o.plain &^= plainCampaign // seats carry c.ID, which was not checked
	}
	if currencyCode(c.Currency) {
		o.plain |= plainCurrency // seats carry c.Currency
	}
	now := s.now()
	price, err := s.checkOrder(c, o, now)
	return e, price, now, err
}

func (s *Service) checkOrder(c *Campaign, o *seatOrder, now time.Time) (decimal.Decimal, error) {
	price, ok := c.Price(o.sku)
	if !ok {
		return decimal.Decimal{}, invalid("SKU", fmt.Sprintf("%q is not in campaign %s", o.sku, c.ID))
	}
	// ConfirmPayment takes no amount above maxAmount: a seat worth more
	// could be reserved but never paid.
	if lineAmountTooLarge(price, o.quantity) {
		return decimal.Decimal{}, invalid("Quantity", fmt.Sprintf("%d × %s %s is above the largest amount, 10^%d", o.quantity, price, c.Currency, maxAmountDigits))
	}
	if c.Limits.MaxUnitsPerOrder > 0 && o.quantity > c.Limits.MaxUnitsPerOrder {
		return decimal.Decimal{}, fmt.Errorf("%w: %d units, at most %d per order", ErrLimitExceeded, o.quantity, c.Limits.MaxUnitsPerOrder)
	}
	// The status may have changed since the definition was cached; the
	// store checks it in the write. The window never changes.
	if now.Before(c.StartsAt) || !now.Before(c.EndsAt) {
		return decimal.Decimal{}, ErrCampaignNotActive
	}
	return price, nil
}

func validateOrder(o *seatOrder) error {
	plain, err := check.IDPlain("CampaignID", o.campaignID)
	if err != nil {
		return err
	}
	if plain {
		o.plain |= plainCampaign
	}
	if plain, err = check.IDPlain("UserID", o.userID); err != nil {
		return err
	}
	if plain {
		o.plain |= plainUser
	}
	if err := validateID("SKU", o.sku); err != nil {
		return err
	}
	if o.quantity == 0 {
		o.quantity = 1
	}
	if o.quantity < 0 || o.quantity > MaxQuantity {
		return invalid("Quantity", fmt.Sprintf("must be in 1..%d", MaxQuantity))
	}
	return nil
}

func validateKey(key string) error {
	if key == "" {
		return nil
	}
	return validateID("IdempotencyKey", key)
}

// newSeat sets *st to a reserved seat without an ID (seatEvent gives it
// one). It fills st in place because st is usually part of a write on the
// heap, where copying a whole seat in costs a write barrier per field.
func newSeat(st *Seat, c *Campaign, o *seatOrder, price decimal.Decimal, teamID string, teamExpires, now time.Time) {
	// Every field is set, so that a reused write needs no clearing first;
	// the ID stays empty for setSeatEvent to fill.
	st.ID, st.Leader, st.Virtual, st.PaidAt, st.PaymentRef = "", false, false, time.Time{}, ""
	st.TeamID, st.CampaignID, st.UserID, st.SKU = teamID, c.ID, o.userID, o.sku
	st.Quantity, st.UnitPrice, st.Amount = o.quantity, price, lineAmount(price, o.quantity)
	st.Currency, st.State, st.ReservedAt = c.Currency, SeatReserved, now
	st.ReservedUntil, st.Version = reservationDeadline(c, teamExpires, now), 1
}

// lineAmount is price × quantity; a single unit skips decimal's big.Int
// multiplication.
func lineAmount(price decimal.Decimal, quantity int) decimal.Decimal {
	if quantity == 1 {
		return price
	}
	return price.Mul(decimal.NewFromInt(int64(quantity)))
}

// seatEvent returns the event of topic about seat st. A new seat (st.ID
// empty) gets its ID here; plain marks the fields of st known to be plain.
func (s *Service) seatEvent(topic string, st *Seat, reason string, now time.Time, plain plainFields) storage.Event {
	var ev storage.Event
	s.setSeatEvent(&ev, topic, st, reason, now, plain, nil, nil)
	return ev
}

// setSeatEvent is seatEvent setting *ev in place, for an event that is part
// of a write on the heap (see newSeat). The payload goes to buf when it
// fits, so that a write can hold its event's payload; nil buf allocates.
// amount is st.Amount's text when the caller has it, nil otherwise.
func (s *Service) setSeatEvent(ev *storage.Event, topic string, st *Seat, reason string, now time.Time, plain plainFields, buf, amount []byte) {
	key, id, seatID, _ := s.eventStrings(st.TeamID, st.ID, topicSuffix(topic), now, nil)
	if st.ID == "" {
		st.ID = seatID
		if s.ids != nil {
			plain |= plainSeat // a UUID
		}
	}
	p := SeatPayload{
		TeamID: st.TeamID, SeatID: st.ID, CampaignID: st.CampaignID, UserID: st.UserID,
		Amount: st.Amount, Currency: st.Currency, PaymentRef: st.PaymentRef, Reason: reason,
	}
	ev.ID, ev.Topic, ev.Key, ev.CreatedAt = id, topic, key, now
	if buf == nil {
		buf = make([]byte, 0, p.sizeHint())
	}
	b := p.appendRestAmount(p.appendHead(buf[:0], plain), plain, amount)
	ev.Payload = b[:len(b):len(b)]
}

// eventStrings returns the key "gb:<team>:<seat>:<what>" of a seat event,
// the event's new ID, the seat's ID (a new one when seatID is empty) and
// extra as a string. The four are substrings of one string: they are stored
// and dropped together, so one allocation, and one object for the garbage
// collector to mark, serves them all. The string is written in place in
// its own allocation, sized up front, rather than built elsewhere and
// copied.
func (s *Service) eventStrings(teamID, seatID, what string, now time.Time, extra []byte) (key, eventID, seat, rest string) {
	seatLen := len(seatID)
	if seatID == "" {
		seatLen = ids.Len // a custom NewID's length is a guess; append grows past it
	}
	b := make([]byte, 0, len("gb:")+len(teamID)+1+seatLen+1+len(what)+ids.Len+len(extra))
	b = append(b, "gb:"...)
	b = fastcopy.Append(b, teamID) // IDs are copied inline, see fastcopy
	b = append(b, ':')
	seatAt := len(b)
	paired := false // set when the seat's and the event's IDs are drawn together
	switch {
	case seatID != "":
		b = fastcopy.Append(b, seatID)
	case s.ids != nil:
		// A new seat and its event: both IDs under one lock of the
		// generator, written in place; b's capacity holds both.
		idAt := seatAt + ids.Len + 1 + len(what)
		s.ids.Pair(now, (*[ids.Len]byte)(b[seatAt:seatAt+ids.Len]), (*[ids.Len]byte)(b[idAt:idAt+ids.Len]))
		b, paired = b[:seatAt+ids.Len], true
	default:
		b = s.appendID(b, now)
	}
	seatEnd := len(b)
	b = append(b, ':')
	b = append(b, what...)
	keyEnd := len(b)
	if paired {
		b = b[:keyEnd+ids.Len]
	} else {
		b = s.appendID(b, now)
	}
	idEnd := len(b)
	b = append(b, extra...)
	// b is never written again, and nothing else refers to it.
	// The four are cut without bounds checks: 0 < seatAt ≤ seatEnd < keyEnd
	// ≤ idEnd ≤ len(b) by construction.
	p := unsafe.SliceData(b)
	return unsafe.String(p, keyEnd), cut(p, keyEnd, idEnd), cut(p, seatAt, seatEnd), cut(p, idEnd, len(b))
}

// cut returns the bytes i..j of the string at p, a substring that the
// caller knows to be in range, without bounds checks. An empty one is "",
// so that no string points past the end of p's allocation (which may be
// the start of another).
func cut(p *byte, i, j int) string {
	if i == j {
		return ""
	}
	return unsafe.String((*byte)(unsafe.Add(unsafe.Pointer(p), i)), j-i)
}

// appendID appends a new ID to b: the default generator writes it in place,
// stamped with the command's time (its Now); a custom Config.NewID is
// called.
func (s *Service) appendID(b []byte, now time.Time) []byte {
	if s.ids != nil {
		return s.ids.AppendID(b, now)
	}
	return append(b, s.newID()...)
}

// idsPlain returns f when IDs come from the default generator, whose UUIDs
// are plain, and nothing otherwise.
func (s *Service) idsPlain(f plainFields) plainFields {
	if s.ids != nil {
		return f
	}
	return 0
}

func topicSuffix(topic string) string {
	switch topic {
	case TopicSeatReserved:
		return "reserved"
	case TopicSeatPaid:
		return "paid"
	case TopicSeatReleased:
		return "released"
	}
	return topic
}

// seatResultJSON is what an idempotency record keeps of a SeatResult.
type seatResultJSON struct {
	TeamID string `json:"team_id"`
	SeatID string `json:"seat_id"`
	Opened bool   `json:"opened,omitempty"`
}

func (s *Service) idem(scope, key, fp string, r seatResultJSON, now time.Time) *IdempotencyRecord {
	if key == "" {
		return nil
	}
	b, _ := json.Marshal(r)
	return &IdempotencyRecord{Scope: scope, Key: key, Fingerprint: fp, Result: b, CreatedAt: now}
}

// replayed turns a ReplayError into the first call's result: its team and
// seat as they are now.
func (s *Service) replayed(ctx context.Context, re *ReplayError, fp string) (SeatResult, error) {
	rec := &re.Record
	if rec.Fingerprint != fp {
		return SeatResult{}, ErrIdempotencyKeyReused
	}
	var r seatResultJSON
	if err := json.Unmarshal(rec.Result, &r); err != nil {
		return SeatResult{}, fmt.Errorf("groupbuy: stored result of %s %s: %w", rec.Scope, rec.Key, err)
	}
	team, seat, err := s.replayRows(ctx, re, r.TeamID, r.SeatID)
	if err != nil {
		return SeatResult{}, err
	}
	return SeatResult{Team: team, Seat: seat, Opened: r.Opened}, nil
}

// replayRows returns team teamID and seat seatID, named by a replayed
// result: re's own when the store read them with the record (see
// ReplayError), else read now.
func (s *Service) replayRows(ctx context.Context, re *ReplayError, teamID, seatID string) (Team, Seat, error) {
	if t, st := re.Team, re.Seat; t != nil && st != nil && t.ID == teamID && st.ID == seatID && st.TeamID == teamID {
		return *t, *st, nil
	}
	team, err := s.store.GetTeam(ctx, teamID)
	if err != nil {
		return Team{}, Seat{}, fmt.Errorf("groupbuy: replay team %s: %w", teamID, err)
	}
	seat, err := s.store.GetSeat(ctx, seatID)
	if err != nil {
		return Team{}, Seat{}, fmt.Errorf("groupbuy: replay seat %s: %w", seatID, err)
	}
	return team, seat, nil
}

// replayOr is the result of a keyed command whose order failed the
// Service's own checks, err: the first result when a record of the key
// exists (the campaign's window may have closed since the first call, and
// a repeat returns the first result all the same), else err.
func (s *Service) replayOr(ctx context.Context, err error, scope, key, fp string) (SeatResult, error) {
	if key == "" {
		return SeatResult{}, err
	}
	rec, gerr := s.store.GetIdempotency(ctx, scope, key)
	switch {
	case gerr == nil:
		return s.replayed(ctx, &ReplayError{Record: rec}, fp)
	case !errors.Is(gerr, storage.ErrNotFound):
		return SeatResult{}, errors.Join(err, fmt.Errorf("groupbuy: read the record of %s %s: %w", scope, key, gerr))
	}
	return SeatResult{}, err
}

// Open opens a new team with the user as leader, holding a reserved seat.
func (s *Service) Open(ctx context.Context, req OpenRequest) (SeatResult, error) {
	o := seatOrder{campaignID: req.CampaignID, userID: req.UserID, sku: req.SKU, quantity: req.Quantity}
	if err := validateOrder(&o); err != nil {
		return SeatResult{}, err
	}
	if err := validateKey(req.IdempotencyKey); err != nil {
		return SeatResult{}, err
	}
	fp := keyedFingerprint(req.IdempotencyKey, o.campaignID, o.userID, o.sku, strconv.Itoa(o.quantity))
	return s.open(ctx, &o, scopeOpen, req.IdempotencyKey, fp)
}

func (s *Service) open(ctx context.Context, o *seatOrder, scope, key, fp string) (SeatResult, error) {
	e, price, now, err := s.priceOrder(ctx, o)
	if err != nil {
		return s.replayOr(ctx, err, scope, key, fp)
	}
	c := &e.c
	w := s.openWrite(c, o, price, now, scope, key, fp)
	if err := s.store.OpenTeam(ctx, w); err != nil {
		if re, ok := errors.AsType[*ReplayError](err); ok {
			return s.replayed(ctx, re, fp)
		}
		return SeatResult{}, fmt.Errorf("groupbuy: open team in %s: %w", c.ID, err)
	}
	return SeatResult{Team: w.Team, Seat: w.Leader, Opened: true}, nil
}

// openWrite builds the write that opens a new team of campaign c with the
// order's user as leader, recorded under scope and key.
func (s *Service) openWrite(c *Campaign, o *seatOrder, price decimal.Decimal, now time.Time, scope, key, fp string) *OpenTeamWrite {
	team := Team{
		ID: s.newID(), CampaignID: c.ID, LeaderID: o.userID, Capacity: c.TeamSize, SeatsTaken: 1, SeatRows: 1,
		State: TeamForming, OpenedAt: now, ExpiresAt: teamDeadline(c, now), Version: 1,
	}
	var seat Seat
	newSeat(&seat, c, o, price, team.ID, team.ExpiresAt, now)
	seat.ID = s.newID()
	seat.Leader = true
	w := &OpenTeamWrite{
		Team: team, Leader: seat, Now: now, MaxOpened: c.Limits.MaxTeamsOpenedPerUser,
		Events: []storage.Event{
			newEvent(s.newID(), TopicTeamOpened, "gb:"+team.ID+":opened", now, TeamOpenedPayload{
				TeamID: team.ID, CampaignID: c.ID, LeaderID: o.userID, Capacity: team.Capacity, ExpiresAt: team.ExpiresAt,
			}),
			s.seatEvent(TopicSeatReserved, &seat, "", now, o.plain|s.idsPlain(plainTeam|plainSeat)),
		},
		Idem: s.idem(scope, key, fp, seatResultJSON{TeamID: team.ID, SeatID: seat.ID, Opened: true}, now),
	}
	return w
}

// Join reserves a seat for the user in a given forming team. A team whose
// free places are held by reservations that lapsed, which ProcessDue has
// yet to release, is not full: when the store refuses the join as
// ErrTeamFull (not ErrTeamChurned) or ErrAlreadyJoined, Join releases the
// team's lapsed reservations as ProcessDue would (a TopicSeatReleased
// event each) and, if the team then has room for the user, tries once
// more; a user whose seat in the team has not lapsed, or a team that has
// had its most seat rows (MaxSeatRows), is refused without any release.
// So a user whose own reservation lapsed can join the team again at once.
func (s *Service) Join(ctx context.Context, req JoinRequest) (res SeatResult, err error) {
	o := seatOrder{campaignID: req.CampaignID, userID: req.UserID, sku: req.SKU, quantity: req.Quantity}
	if err := validateOrder(&o); err != nil {
		return SeatResult{}, err
	}
	plain, err := check.IDPlain("TeamID", req.TeamID)
	if err != nil {
		return SeatResult{}, err
	}
	if plain {
		o.plain |= plainTeam
	}
	if err := validateKey(req.IdempotencyKey); err != nil {
		return SeatResult{}, err
	}
	var fp string // keyedFingerprint, without building its arguments when there is no key
	if req.IdempotencyKey != "" {
		fp = fingerprint(o.campaignID, req.TeamID, o.userID, o.sku, strconv.Itoa(o.quantity))
	}
	// join fills the named result in place: a SeatResult is two large
	// structs, and each layer returning it by value would copy them.
	err = s.join(ctx, &o, req.TeamID, scopeJoin, req.IdempotencyKey, fp, &res)
	return res, err
}

// join reserves a seat in team teamID and sets *out to the result; on an
// error it leaves *out zero.
func (s *Service) join(ctx context.Context, o *seatOrder, teamID, scope, key, fp string, out *SeatResult) error {
	e, price, now, err := s.priceOrder(ctx, o)
	if err != nil {
		*out, err = s.replayOr(ctx, err, scope, key, fp)
		return err
	}
	c := &e.c
	var amount []byte // the seat's amount's text, when the cache has it
	if o.quantity == 1 {
		amount = e.amount(o.sku)
	}
	sc, _ := s.joins.Get().(*joinScratch)
	if sc == nil {
		sc = new(joinScratch)
	}
	defer s.putJoin(sc)
	w := &sc.w
	// The store clamps the reservation to the team's deadline.
	newSeat(&w.Seat, c, o, price, teamID, c.EndsAt, now)
	w.Now, w.MaxJoined = now, c.Limits.MaxTeamsJoinedPerUser
	s.setSeatEvent(&sc.ev[0], TopicSeatReserved, &w.Seat, "", now, o.plain, sc.payload[:], amount) // sets w.Seat.ID
	w.Events, w.Idem = sc.ev[:], nil
	if key != "" { // idem's nil, without passing it a result to encode
		w.Idem = s.idem(scope, key, fp, seatResultJSON{TeamID: teamID, SeatID: w.Seat.ID}, now)
	}
	out.Team, out.Seat, err = s.store.JoinTeam(ctx, w)
	if err != nil && (errors.Is(err, ErrTeamFull) && !errors.Is(err, ErrTeamChurned) || errors.Is(err, ErrAlreadyJoined)) {
		// The team may be full of reservations that lapsed and that
		// ProcessDue has yet to release, or the user's own may have
		// lapsed: release them as ProcessDue would, and try once more if
		// the team now has room for the user (another instance may have
		// released them since the refusal). The refused join changed
		// nothing, so the same write serves.
		room, rerr := s.releaseTeamLapsed(ctx, teamID, o.userID, c.TeamSize, now)
		switch {
		case rerr != nil:
			// Not the refusal: the team may have room once the release
			// goes through, so a caller must not offer another team
			// (ErrTeamFull) but retry, as the release error says.
			err = fmt.Errorf("releasing its lapsed reservations after a refusal: %w", rerr)
		case room:
			out.Team, out.Seat, err = s.store.JoinTeam(ctx, w)
		}
	}
	if err != nil {
		*out = SeatResult{}
		if re, ok := errors.AsType[*ReplayError](err); ok {
			*out, err = s.replayed(ctx, re, fp)
			return err
		}
		return fmt.Errorf("groupbuy: join team %s: %w", teamID, err)
	}
	return nil
}

// releaseTeamLapsed releases, as ProcessDue would, the reservations of
// team teamID that lapsed at now, and reports whether the team then has
// room for user: fewer than capacity seats that hold a place, none of
// them user's. A join refused for a full team, or for the user's seat in
// it, calls it: until ProcessDue runs, a lapsed reservation still holds
// its place, though it can no longer be paid. The team's seat rows are
// bounded (MaxSeatRows), and so is the read. When the user holds a seat
// in the team that has not lapsed, or the team has had its most seat rows
// (a join would be ErrTeamChurned), no release could give the user a
// place: it releases nothing, so that the refused join changes nothing.
func (s *Service) releaseTeamLapsed(ctx context.Context, teamID, user string, capacity int, now time.Time) (room bool, err error) {
	seats, err := s.store.TeamSeats(ctx, teamID)
	if err != nil {
		return false, fmt.Errorf("groupbuy: seats of team %s: %w", teamID, err)
	}
	rows := 0 // the team's SeatRows: its real seats, released ones too
	for i := range seats {
		st := &seats[i]
		if !st.Virtual {
			rows++
		}
		if st.UserID == user && (st.State == SeatReserved && st.ReservedUntil.After(now) || st.State == SeatPaid || st.State == SeatConfirmed) {
			return false, nil
		}
	}
	if rows >= MaxSeatRows(capacity) {
		return false, nil
	}
	held := 0 // seats that hold a place; none is the user's (see above)
	for i := range seats {
		st := &seats[i]
		switch {
		case st.State == SeatReserved && !st.Virtual && !st.ReservedUntil.After(now):
			if _, err := s.releaseLapsed(ctx, st, now); err != nil {
				return false, err
			}
			continue // released, by this call or another
		case st.State == SeatReserved, st.State == SeatPaid, st.State == SeatConfirmed:
		default:
			continue
		}
		held++
	}
	return held < capacity, nil
}

// putJoin returns sc to the pool. It is not cleared: the next join sets
// every field, and clearing a struct of pointers costs a write barrier per
// slot while the collector marks. Until it is reused it keeps the last
// command's few strings alive; the pool drops an idle scratch within two
// collections.
func (s *Service) putJoin(sc *joinScratch) { s.joins.Put(sc) }

// Match reserves a seat in an open team of the campaign chosen by the
// strategy (default MatchFullest), and opens a new team when no team has
// room. The store picks the team as it joins it, or opens the new team,
// in one atomic step (Store.MatchTeam; one statement on PostgreSQL); an
// adapter with row locks may pass over a team another command holds at
// that instant, so under contention a match may take the second-best team
// (MatchRandom: its second pick), or open one, rather than wait.
func (s *Service) Match(ctx context.Context, req MatchRequest) (SeatResult, error) {
	o := seatOrder{campaignID: req.CampaignID, userID: req.UserID, sku: req.SKU, quantity: req.Quantity}
	if err := validateOrder(&o); err != nil {
		return SeatResult{}, err
	}
	if err := validateKey(req.IdempotencyKey); err != nil {
		return SeatResult{}, err
	}
	strategy := req.Strategy
	switch strategy {
	case "":
		strategy = MatchFullest
	case MatchOldest, MatchFullest, MatchRandom:
	default:
		return SeatResult{}, invalid("Strategy", fmt.Sprintf("unknown strategy %q", strategy))
	}
	// No read of the record first: every write of a match (MatchTeam,
	// JoinTeam, OpenTeam) checks it after validating its input and before
	// every precondition, under the same scope and key, and a replay
	// returns the first result.
	fp := keyedFingerprint(req.IdempotencyKey, o.campaignID, o.userID, o.sku, strconv.Itoa(o.quantity), string(strategy))
	return s.match(ctx, &o, strategy, "", scopeMatch, req.IdempotencyKey, fp)
}

// match is Match for an order already validated, its joins and its open
// recorded under scope and key. The store chooses the team in strategy's
// order (MatchTeam) in the same atomic step as the join, and opens the
// write's new team when none can be taken.
func (s *Service) match(ctx context.Context, o *seatOrder, strategy MatchStrategy, excludeTeam, scope, key, fp string) (SeatResult, error) {
	var r SeatResult
	err := s.matchTeam(ctx, o, strategy, excludeTeam, scope, key, fp, &r)
	switch {
	case err == nil:
		return r, nil
	case errors.Is(err, ErrTeamFull):
		// No team has room for the user, and the store did not open the
		// team the write offered (an adapter may ignore Open).
		return s.open(ctx, o, scope, key, fp)
	}
	return SeatResult{}, err
}

// matchTeam reserves a seat in the team the store picks in strategy's
// order (see MatchTeamWrite), or has the store open a team in the same
// step when none has room (MatchTeamWrite.Open), and sets *out to the
// result; on an error it leaves *out zero. The seat event and the
// idempotency record hold TeamIDHole where the team's ID goes.
func (s *Service) matchTeam(ctx context.Context, o *seatOrder, strategy MatchStrategy, excludeTeam, scope, key, fp string, out *SeatResult) error {
	e, price, now, err := s.priceOrder(ctx, o)
	if err != nil {
		*out, err = s.replayOr(ctx, err, scope, key, fp)
		return err
	}
	c := &e.c
	var amount []byte
	if o.quantity == 1 {
		amount = e.amount(o.sku)
	}
	w := &MatchTeamWrite{Order: strategy, Exclude: excludeTeam}
	if strategy == MatchRandom {
		w.Pick = matchPick(s.cfg.Seed, o.userID, key)
	}
	j := &w.JoinTeamWrite
	newSeat(&j.Seat, c, o, price, TeamIDHole, c.EndsAt, now)
	j.Now, j.MaxJoined = now, c.Limits.MaxTeamsJoinedPerUser
	var ev storage.Event // the hole is written as it is, hence plainTeam
	s.setSeatEvent(&ev, TopicSeatReserved, &j.Seat, "", now, o.plain|plainTeam, nil, amount)
	j.Events = []storage.Event{ev}
	if key != "" {
		// As idem would encode seatResultJSON, with the hole unescaped.
		b := jsonw.String([]byte(`{"team_id":"`+TeamIDHole+`","seat_id":`), j.Seat.ID)
		b = append(b, '}')
		j.Idem = &IdempotencyRecord{Scope: scope, Key: key, Fingerprint: fp, Result: b, CreatedAt: now}
	}
	j.Seat.TeamID = "" // the hole served the event; the store sets the team
	// The team to open when none has room, in the same step.
	w.Open = s.openWrite(c, o, price, now, scope, key, fp)
	out.Team, out.Seat, err = s.store.MatchTeam(ctx, w)
	if err != nil {
		*out = SeatResult{}
		if re, ok := errors.AsType[*ReplayError](err); ok {
			*out, err = s.replayed(ctx, re, fp)
			return err
		}
		return fmt.Errorf("groupbuy: match in %s: %w", o.campaignID, err)
	}
	out.Opened = w.Opened(&out.Seat)
	return nil
}

// matchPick is a MatchRandom write's Pick: a hash of (seed, user, key),
// so that the same request makes the same choice and concurrent matchers
// spread over the candidates.
func matchPick(seed uint64, user, key string) uint64 {
	h := seed ^ 0xcbf29ce484222325
	for _, part := range [2]string{user, key} {
		for i := 0; i < len(part); i++ {
			h = (h ^ uint64(part[i])) * 0x100000001b3
		}
		h = (h ^ 0x1f) * 0x100000001b3
	}
	// FNV's low bits depend only on the inputs' low bits; mix them in
	// (murmur3's finalizer) before the store takes a remainder.
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}
