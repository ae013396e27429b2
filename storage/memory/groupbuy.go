package memory

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/socialcommerce/sdk/groupbuy"
	"github.com/socialcommerce/sdk/storage"
)

type scopeKey struct{ scope, key string }

// idemRow is a stored idempotency record without its scope and key, which
// are its map key. The map holds a pointer to it, not the record: a map
// slot is copied each time the map grows, and small slots keep that cheap.
type idemRow struct {
	fingerprint string
	result      []byte
	createdAt   time.Time
}

// record returns the stored record of (scope, key), its result copied so
// that the caller may keep it.
func (r *idemRow) record(k scopeKey) groupbuy.IdempotencyRecord {
	return groupbuy.IdempotencyRecord{
		Scope: k.scope, Key: k.key, Fingerprint: r.fingerprint,
		Result: slices.Clone(r.result), CreatedAt: r.createdAt,
	}
}

// teamRow is a stored team with what the commands on it need, so that they
// need no further lookup: its campaign (whose status they check) and its
// seats.
type teamRow struct {
	groupbuy.Team
	campaign *groupbuy.Campaign
	seats    []*seatRow // in insertion order: at most MaxTeamSize real seats, plus released ones and bots
}

// seatRow is a stored seat with its team.
type seatRow struct {
	groupbuy.Seat
	team *teamRow
}

// userEntry is what the store keeps per user: their seats, and per campaign
// the counts of live seats that the per-user limits check (see
// groupbuy.Store). Users take part in few campaigns, so a slice is enough.
type userEntry struct {
	seats  []*seatRow
	counts []userCount
	// Most users hold one seat in one campaign: the first of each lives
	// here, so a new user costs no allocation beyond its slab row.
	seat0  [1]*seatRow
	count0 [1]userCount
}

type userCount struct {
	campaign       string
	opened, joined int
}

type groupbuyState struct {
	campaigns map[string]*groupbuy.Campaign
	teams     map[string]*teamRow
	seats     map[string]*seatRow
	users     map[string]*userEntry
	idem      map[scopeKey]*idemRow
	forming   map[string]*teamRow // teams in state forming; reserved seats live only in them

	teamRows slab[teamRow]
	seatRows slab[seatRow]
	userRows slab[userEntry]
	idemRows slab[idemRow]
}

func (g *groupbuyState) init() {
	g.campaigns = make(map[string]*groupbuy.Campaign)
	g.teams = make(map[string]*teamRow)
	g.seats = make(map[string]*seatRow)
	g.users = make(map[string]*userEntry)
	g.idem = make(map[scopeKey]*idemRow)
	g.forming = make(map[string]*teamRow)
}

var _ groupbuy.Store = (*Store)(nil)

func notFound(what, id string) error { return fmt.Errorf("%s %s: %w", what, id, groupbuy.ErrNotFound) }

func badArg(field, reason string) error {
	return &storage.ValidationError{Field: field, Reason: reason}
}

func checkID(field, id string) error {
	if id == "" {
		return badArg(field, "must not be empty")
	}
	return nil
}

func checkLimit(limit int) error {
	if limit <= 0 || limit > groupbuy.MaxListLimit {
		return badArg("limit", fmt.Sprintf("must be in 1..%d", groupbuy.MaxListLimit))
	}
	return nil
}

// replay returns a *ReplayError when rec's key is already stored; the caller
// holds mu.
func (g *groupbuyState) replay(rec *groupbuy.IdempotencyRecord) error {
	if rec == nil {
		return nil
	}
	k := scopeKey{rec.Scope, rec.Key}
	if old := g.idem[k]; old != nil {
		return &groupbuy.ReplayError{Record: old.record(k)}
	}
	return nil
}

func (g *groupbuyState) remember(rec *groupbuy.IdempotencyRecord) {
	if rec != nil {
		r := g.idemRows.next()
		r.fingerprint, r.result, r.createdAt = rec.Fingerprint, rec.Result, rec.CreatedAt
		g.idem[scopeKey{rec.Scope, rec.Key}] = r
	}
}

// user returns the entry of a user, adding it when missing.
func (g *groupbuyState) user(id string) *userEntry {
	if u := g.users[id]; u != nil {
		return u
	}
	return g.addUser(id)
}

// addUser adds an entry for a user the store has none for.
func (g *groupbuyState) addUser(id string) *userEntry {
	u := g.userRows.next()
	u.seats, u.counts = u.seat0[:0], u.count0[:0]
	g.users[id] = u
	return u
}

// count returns u's live-seat counts in a campaign, adding them when
// missing.
func (u *userEntry) count(campaign string) *userCount {
	for i := range u.counts {
		if u.counts[i].campaign == campaign {
			return &u.counts[i]
		}
	}
	u.counts = append(u.counts, userCount{campaign: campaign})
	return &u.counts[len(u.counts)-1]
}

// counted returns u's live-seat counts in a campaign, zero when u (which may
// be nil) has none.
func (u *userEntry) counted(campaign string) userCount {
	if u != nil {
		for _, c := range u.counts {
			if c.campaign == campaign {
				return c
			}
		}
	}
	return userCount{}
}

// holdsSeat reports whether user, whose entry is u (nil when the store has
// none), holds a live seat in team t. It scans the shorter of the user's
// seats and the team's: both list every real seat they have.
func holdsSeat(t *teamRow, u *userEntry, user string) bool {
	if u == nil {
		return false
	}
	if len(u.seats) <= len(t.seats) {
		for _, s := range u.seats {
			if s.team == t && s.Active() {
				return true
			}
		}
		return false
	}
	for _, s := range t.seats {
		if s.UserID == user && !s.Virtual && s.Active() {
			return true
		}
	}
	return false
}

// uncount stops counting a seat that left the live states.
func (g *groupbuyState) uncount(s *seatRow) {
	if s.Virtual {
		return
	}
	c := g.user(s.UserID).count(s.CampaignID)
	if s.Leader {
		c.opened--
	} else {
		c.joined--
	}
}

// addSeat stores a copy of v in team t; u is the entry of v's user, nil
// when the store has none yet (the caller looked it up) or v is virtual.
func (g *groupbuyState) addSeat(t *teamRow, v *groupbuy.Seat, u *userEntry) {
	s := g.seatRows.next()
	s.Seat, s.team = *v, t
	g.seats[s.ID] = s
	t.seats = append(t.seats, s)
	if s.Virtual {
		return
	}
	if u == nil {
		u = g.addUser(s.UserID)
	}
	c := u.count(s.CampaignID)
	if s.Leader {
		c.opened++
	} else {
		c.joined++
	}
	u.seats = append(u.seats, s)
}

func (g *groupbuyState) setSeatState(s *seatRow, to groupbuy.SeatState) {
	s.State = to
	s.Version++
}

func (g *groupbuyState) setTeamState(t *teamRow, to groupbuy.TeamState, now time.Time) {
	if t.State == groupbuy.TeamForming && to != groupbuy.TeamForming {
		delete(g.forming, t.ID)
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
	if c == nil {
		return badArg("campaign", "must not be nil")
	}
	if err := checkID("campaign.ID", c.ID); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.gb.campaigns[c.ID]; ok {
		return fmt.Errorf("campaign %s exists: %w", c.ID, storage.ErrConflict)
	}
	cc := cloneCampaign(c)
	s.gb.campaigns[c.ID] = &cc
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
	return cloneCampaign(c), nil
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
	return cloneCampaign(c), nil
}

// OpenTeam implements groupbuy.Store.
func (s *Store) OpenTeam(ctx context.Context, w *groupbuy.OpenTeamWrite) error {
	if w == nil {
		return badArg("write", "must not be nil")
	}
	if err := checkID("team.ID", w.Team.ID); err != nil {
		return err
	}
	if err := checkID("leader.ID", w.Leader.ID); err != nil {
		return err
	}
	if w.Leader.TeamID != w.Team.ID {
		return badArg("leader.TeamID", "must be team.ID")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g := &s.gb
	if err := g.replay(w.Idem); err != nil {
		return err
	}
	c, ok := g.campaigns[w.Team.CampaignID]
	if !ok {
		return notFound("campaign", w.Team.CampaignID)
	}
	if !c.AcceptsSeats(w.Now) {
		return groupbuy.ErrCampaignNotActive
	}
	u := g.users[w.Leader.UserID]
	if w.MaxOpened > 0 && u.counted(c.ID).opened >= w.MaxOpened {
		return groupbuy.ErrLimitExceeded
	}
	if _, dup := g.teams[w.Team.ID]; dup {
		return fmt.Errorf("team %s exists: %w", w.Team.ID, storage.ErrConflict)
	}
	if _, dup := g.seats[w.Leader.ID]; dup {
		return fmt.Errorf("seat %s exists: %w", w.Leader.ID, storage.ErrConflict)
	}
	t := g.teamRows.next()
	t.Team, t.campaign = w.Team, c
	// Room for every real seat, so that joins never grow the slice.
	t.seats = make([]*seatRow, 0, min(max(t.Capacity, 1), groupbuy.MaxTeamSize))
	g.teams[t.ID] = t
	g.forming[t.ID] = t
	g.addSeat(t, &w.Leader, u)
	g.remember(w.Idem)
	s.addEvents(w.Events)
	return nil
}

// JoinTeam implements groupbuy.Store.
func (s *Store) JoinTeam(ctx context.Context, w *groupbuy.JoinTeamWrite) (groupbuy.Team, groupbuy.Seat, error) {
	if w == nil {
		return groupbuy.Team{}, groupbuy.Seat{}, badArg("write", "must not be nil")
	}
	for _, f := range [][2]string{{"seat.ID", w.Seat.ID}, {"seat.TeamID", w.Seat.TeamID}, {"seat.UserID", w.Seat.UserID}} {
		if err := checkID(f[0], f[1]); err != nil {
			return groupbuy.Team{}, groupbuy.Seat{}, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g := &s.gb
	if err := g.replay(w.Idem); err != nil {
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
	u := g.users[w.Seat.UserID]
	if holdsSeat(t, u, w.Seat.UserID) {
		return groupbuy.Team{}, groupbuy.Seat{}, groupbuy.ErrAlreadyJoined
	}
	if t.SeatsTaken >= t.Capacity {
		return groupbuy.Team{}, groupbuy.Seat{}, groupbuy.ErrTeamFull
	}
	if w.MaxJoined > 0 && u.counted(t.CampaignID).joined >= w.MaxJoined {
		return groupbuy.Team{}, groupbuy.Seat{}, groupbuy.ErrLimitExceeded
	}
	if _, dup := g.seats[w.Seat.ID]; dup {
		return groupbuy.Team{}, groupbuy.Seat{}, fmt.Errorf("seat %s exists: %w", w.Seat.ID, storage.ErrConflict)
	}
	seat := w.Seat
	seat.Leader = false
	if seat.ReservedUntil.After(t.ExpiresAt) {
		seat.ReservedUntil = t.ExpiresAt
	}
	t.SeatsTaken++
	t.Version++
	g.addSeat(t, &seat, u)
	g.remember(w.Idem)
	s.addEvents(w.Events)
	return t.Team, seat, nil
}

// PaySeat implements groupbuy.Store.
func (s *Store) PaySeat(ctx context.Context, w *groupbuy.PaySeatWrite) (groupbuy.PaySeatResult, error) {
	if w == nil {
		return groupbuy.PaySeatResult{}, badArg("write", "must not be nil")
	}
	for _, f := range [][2]string{{"TeamID", w.TeamID}, {"SeatID", w.SeatID}, {"PaymentRef", w.PaymentRef}} {
		if err := checkID(f[0], f[1]); err != nil {
			return groupbuy.PaySeatResult{}, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g := &s.gb
	if err := g.replay(w.Idem); err != nil {
		return groupbuy.PaySeatResult{}, err
	}
	seat, ok := g.seats[w.SeatID]
	if !ok || seat.TeamID != w.TeamID || seat.Virtual {
		return groupbuy.PaySeatResult{}, notFound("seat", w.SeatID)
	}
	if !seat.Amount.Equal(w.Amount) || seat.Currency != w.Currency {
		return groupbuy.PaySeatResult{}, groupbuy.ErrAmountMismatch
	}
	if seat.State != groupbuy.SeatReserved || !seat.ReservedUntil.After(w.Now) {
		return groupbuy.PaySeatResult{}, groupbuy.ErrSeatNotReserved
	}
	t := seat.team
	if t.State != groupbuy.TeamForming || !t.ExpiresAt.After(w.Now) {
		return groupbuy.PaySeatResult{}, groupbuy.ErrTeamClosed
	}
	g.setSeatState(seat, groupbuy.SeatPaid)
	seat.PaidAt = w.Now
	seat.PaymentRef = w.PaymentRef
	t.SeatsPaid++
	t.Version++
	filled := t.SeatsPaid >= t.Capacity
	if filled && w.Idem != nil && w.FilledResult != nil {
		rec := *w.Idem
		rec.Result = w.FilledResult
		g.remember(&rec)
	} else {
		g.remember(w.Idem)
	}
	s.addEvents(w.Events)
	if filled {
		g.setTeamState(t, groupbuy.TeamSucceeded, w.Now)
		for _, st := range t.seats {
			if st.State == groupbuy.SeatPaid {
				g.setSeatState(st, groupbuy.SeatConfirmed)
			}
		}
		if w.OnFill != nil {
			tc := t.Team
			ordered := copySeats(t.seats)
			slices.SortStableFunc(ordered, seatOrder)
			s.addEvents(w.OnFill(&tc, ordered))
		}
	}
	return groupbuy.PaySeatResult{Team: t.Team, Seat: seat.Seat, Filled: filled}, nil
}

func copySeats(in []*seatRow) []groupbuy.Seat {
	out := make([]groupbuy.Seat, len(in))
	for i, s := range in {
		out[i] = s.Seat
	}
	return out
}

// ReleaseSeat implements groupbuy.Store.
func (s *Store) ReleaseSeat(ctx context.Context, w *groupbuy.ReleaseSeatWrite) (groupbuy.Seat, error) {
	if w == nil {
		return groupbuy.Seat{}, badArg("write", "must not be nil")
	}
	if err := checkID("SeatID", w.SeatID); err != nil {
		return groupbuy.Seat{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g := &s.gb
	seat, ok := g.seats[w.SeatID]
	if !ok {
		return groupbuy.Seat{}, notFound("seat", w.SeatID)
	}
	if seat.State != groupbuy.SeatReserved {
		return groupbuy.Seat{}, groupbuy.ErrSeatNotReserved
	}
	if w.UserID != "" && seat.UserID != w.UserID {
		return groupbuy.Seat{}, groupbuy.ErrNotOwner
	}
	if w.OnlyExpired && seat.ReservedUntil.After(w.Now) {
		return groupbuy.Seat{}, fmt.Errorf("seat %s not expired: %w", seat.ID, storage.ErrConflict)
	}
	t := seat.team
	g.setSeatState(seat, groupbuy.SeatReleased)
	g.uncount(seat)
	t.SeatsTaken--
	t.Version++
	s.addEvents(w.Events)
	return seat.Seat, nil
}

// CloseTeam implements groupbuy.Store.
func (s *Store) CloseTeam(ctx context.Context, w *groupbuy.CloseTeamWrite) error {
	if w == nil {
		return badArg("write", "must not be nil")
	}
	if err := checkID("TeamID", w.TeamID); err != nil {
		return err
	}
	if !w.State.Valid() || w.State == groupbuy.TeamForming {
		return badArg("State", "must be a final team state")
	}
	if w.VirtualSeats < 0 {
		return badArg("VirtualSeats", "must not be negative")
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
		for _, id := range m.SeatIDs {
			st, ok := g.seats[id]
			if !ok || st.team != t || st.State != m.From {
				return fmt.Errorf("seat %s of team %s changed: %w", id, t.ID, storage.ErrConflict)
			}
		}
	}
	for _, b := range w.BotSeats {
		if _, dup := g.seats[b.ID]; dup || b.TeamID != t.ID || !b.Virtual {
			return fmt.Errorf("bot seat %s: %w", b.ID, storage.ErrConflict)
		}
	}
	for _, m := range moves {
		for _, id := range m.SeatIDs {
			st := g.seats[id]
			g.setSeatState(st, m.To)
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
		g.addSeat(t, &w.BotSeats[i], nil)
	}
	t.VirtualSeats += w.VirtualSeats
	t.Version++
	g.setTeamState(t, w.State, w.Now)
	s.addEvents(w.Events)
	return nil
}

// UpdateRefund implements groupbuy.Store.
func (s *Store) UpdateRefund(ctx context.Context, w *groupbuy.RefundWrite) (groupbuy.Seat, error) {
	if err := w.Validate(); err != nil {
		return groupbuy.Seat{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	seat, ok := s.gb.seats[w.SeatID]
	if !ok {
		return groupbuy.Seat{}, notFound("seat", w.SeatID)
	}
	if seat.State != w.From {
		return groupbuy.Seat{}, fmt.Errorf("seat %s is %s: %w", seat.ID, seat.State, storage.ErrConflict)
	}
	s.gb.setSeatState(seat, w.To)
	s.addEvents(w.Events)
	return seat.Seat, nil
}

// RecordOutcome implements groupbuy.Store.
func (s *Store) RecordOutcome(ctx context.Context, idem *groupbuy.IdempotencyRecord, events []storage.Event) error {
	if idem == nil {
		return badArg("idem", "must not be nil")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.gb.replay(idem); err != nil {
		return err
	}
	s.gb.remember(idem)
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
	out := copySeats(t.seats)
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
	if c := a.ReservedAt.Compare(b.ReservedAt); c != 0 {
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
	st, ok := s.gb.seats[id]
	if !ok {
		return groupbuy.Seat{}, notFound("seat", id)
	}
	return st.Seat, nil
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
	for _, t := range s.gb.forming {
		if t.CampaignID == campaignID && t.SeatsTaken < t.Capacity && t.ExpiresAt.After(now) {
			out = append(out, t.Team)
		}
	}
	s.mu.Unlock()
	if order == groupbuy.MatchOldest {
		slices.SortFunc(out, func(a, b groupbuy.Team) int {
			return cmp.Or(a.OpenedAt.Compare(b.OpenedAt), cmp.Compare(a.ID, b.ID))
		})
	} else {
		slices.SortFunc(out, func(a, b groupbuy.Team) int {
			return cmp.Or(cmp.Compare(b.SeatsTaken, a.SeatsTaken), a.ExpiresAt.Compare(b.ExpiresAt), cmp.Compare(a.ID, b.ID))
		})
	}
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// UserSeats implements groupbuy.Store.
func (s *Store) UserSeats(ctx context.Context, userID string, limit int) ([]groupbuy.Seat, error) {
	if err := checkID("userID", userID); err != nil {
		return nil, err
	}
	if err := checkLimit(limit); err != nil {
		return nil, err
	}
	s.mu.Lock()
	var out []groupbuy.Seat
	if u := s.gb.users[userID]; u != nil {
		out = copySeats(u.seats)
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b groupbuy.Seat) int {
		return cmp.Or(b.ReservedAt.Compare(a.ReservedAt), cmp.Compare(b.ID, a.ID))
	})
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
	var out []groupbuy.Seat
	for _, t := range s.gb.forming {
		for _, st := range t.seats {
			if st.State == groupbuy.SeatReserved && !st.ReservedUntil.After(now) {
				out = append(out, st.Seat)
			}
		}
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b groupbuy.Seat) int {
		return cmp.Or(a.ReservedUntil.Compare(b.ReservedUntil), cmp.Compare(a.ID, b.ID))
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
		return cmp.Or(a.ExpiresAt.Compare(b.ExpiresAt), cmp.Compare(a.ID, b.ID))
	})
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// GetIdempotency implements groupbuy.Store.
func (s *Store) GetIdempotency(ctx context.Context, scope, key string) (groupbuy.IdempotencyRecord, error) {
	if err := checkID("scope", scope); err != nil {
		return groupbuy.IdempotencyRecord{}, err
	}
	if err := checkID("key", key); err != nil {
		return groupbuy.IdempotencyRecord{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := scopeKey{scope, key}
	r := s.gb.idem[k]
	if r == nil {
		return groupbuy.IdempotencyRecord{}, notFound("idempotency record", scope+"/"+key)
	}
	return r.record(k), nil
}
