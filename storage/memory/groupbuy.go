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

// userEntry is what the store keeps per user: their seats, and per campaign
// the counts of live seats that the per-user limits check (see
// groupbuy.Store). Users take part in few campaigns, so a slice is enough.
type userEntry struct {
	seats  []*groupbuy.Seat
	counts []userCount
	// Most users hold one seat in one campaign: the first of each lives
	// here, so a new user costs no allocation beyond its slab row.
	seat0  [1]*groupbuy.Seat
	count0 [1]userCount
}

type userCount struct {
	campaign       string
	opened, joined int
}

type groupbuyState struct {
	campaigns map[string]*groupbuy.Campaign
	teams     map[string]*groupbuy.Team
	seats     map[string]*groupbuy.Seat
	teamSeats map[string][]*groupbuy.Seat // at most MaxTeamSize real seats, plus bots
	users     map[string]*userEntry
	idem      map[scopeKey]groupbuy.IdempotencyRecord
	forming   map[string]*groupbuy.Team // teams in state forming; reserved seats live only in them

	seatRows slab[groupbuy.Seat]
	userRows slab[userEntry]
}

func (g *groupbuyState) init() {
	g.campaigns = make(map[string]*groupbuy.Campaign)
	g.teams = make(map[string]*groupbuy.Team)
	g.seats = make(map[string]*groupbuy.Seat)
	g.teamSeats = make(map[string][]*groupbuy.Seat)
	g.users = make(map[string]*userEntry)
	g.idem = make(map[scopeKey]groupbuy.IdempotencyRecord)
	g.forming = make(map[string]*groupbuy.Team)
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
	if old, ok := g.idem[scopeKey{rec.Scope, rec.Key}]; ok {
		old.Result = slices.Clone(old.Result)
		return &groupbuy.ReplayError{Record: old}
	}
	return nil
}

func (g *groupbuyState) remember(rec *groupbuy.IdempotencyRecord) {
	if rec != nil {
		g.idem[scopeKey{rec.Scope, rec.Key}] = *rec
	}
}

// count returns the user's live-seat counts in a campaign; create adds the
// entry when missing (otherwise a zero value that is not stored comes back).
func (g *groupbuyState) count(campaign, user string, create bool) *userCount {
	u := g.users[user]
	if u == nil {
		if !create {
			return &userCount{}
		}
		u = g.userRows.add(&userEntry{})
		u.seats, u.counts = u.seat0[:0], u.count0[:0]
		g.users[user] = u
	}
	for i := range u.counts {
		if u.counts[i].campaign == campaign {
			return &u.counts[i]
		}
	}
	if !create {
		return &userCount{}
	}
	u.counts = append(u.counts, userCount{campaign: campaign})
	return &u.counts[len(u.counts)-1]
}

// holdsSeat reports whether user holds a live seat in team.
func (g *groupbuyState) holdsSeat(team, user string) bool {
	for _, s := range g.teamSeats[team] {
		if s.UserID == user && !s.Virtual && s.Active() {
			return true
		}
	}
	return false
}

// uncount stops counting a seat that left the live states.
func (g *groupbuyState) uncount(s *groupbuy.Seat) {
	if s.Virtual {
		return
	}
	c := g.count(s.CampaignID, s.UserID, true)
	if s.Leader {
		c.opened--
	} else {
		c.joined--
	}
}

// addSeat stores a copy of v.
func (g *groupbuyState) addSeat(v *groupbuy.Seat) {
	s := g.seatRows.add(v)
	g.seats[s.ID] = s
	g.teamSeats[s.TeamID] = append(g.teamSeats[s.TeamID], s)
	if s.Virtual {
		return
	}
	c := g.count(s.CampaignID, s.UserID, true)
	if s.Leader {
		c.opened++
	} else {
		c.joined++
	}
	u := g.users[s.UserID]
	u.seats = append(u.seats, s)
}

func (g *groupbuyState) setSeatState(s *groupbuy.Seat, to groupbuy.SeatState) {
	s.State = to
	s.Version++
}

func (g *groupbuyState) setTeamState(t *groupbuy.Team, to groupbuy.TeamState, now time.Time) {
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
	if w.MaxOpened > 0 && g.count(c.ID, w.Leader.UserID, false).opened >= w.MaxOpened {
		return groupbuy.ErrLimitExceeded
	}
	if _, dup := g.teams[w.Team.ID]; dup {
		return fmt.Errorf("team %s exists: %w", w.Team.ID, storage.ErrConflict)
	}
	if _, dup := g.seats[w.Leader.ID]; dup {
		return fmt.Errorf("seat %s exists: %w", w.Leader.ID, storage.ErrConflict)
	}
	t := w.Team
	seat := w.Leader
	g.teams[t.ID] = &t
	g.forming[t.ID] = &t
	g.addSeat(&seat)
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
	if c := g.campaigns[t.CampaignID]; c == nil || c.Status != groupbuy.CampaignActive {
		return groupbuy.Team{}, groupbuy.Seat{}, groupbuy.ErrCampaignNotActive
	}
	if t.State != groupbuy.TeamForming || !t.ExpiresAt.After(w.Now) {
		return groupbuy.Team{}, groupbuy.Seat{}, groupbuy.ErrTeamClosed
	}
	if g.holdsSeat(t.ID, w.Seat.UserID) {
		return groupbuy.Team{}, groupbuy.Seat{}, groupbuy.ErrAlreadyJoined
	}
	if t.SeatsTaken >= t.Capacity {
		return groupbuy.Team{}, groupbuy.Seat{}, groupbuy.ErrTeamFull
	}
	if w.MaxJoined > 0 && g.count(t.CampaignID, w.Seat.UserID, false).joined >= w.MaxJoined {
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
	g.addSeat(&seat)
	g.remember(w.Idem)
	s.addEvents(w.Events)
	return *t, seat, nil
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
	t := g.teams[w.TeamID]
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
		seats := g.teamSeats[t.ID]
		for _, st := range seats {
			if st.State == groupbuy.SeatPaid {
				g.setSeatState(st, groupbuy.SeatConfirmed)
			}
		}
		if w.OnFill != nil {
			tc := *t
			ordered := copySeats(seats)
			slices.SortStableFunc(ordered, seatOrder)
			s.addEvents(w.OnFill(&tc, ordered))
		}
	}
	return groupbuy.PaySeatResult{Team: *t, Seat: *seat, Filled: filled}, nil
}

func copySeats(in []*groupbuy.Seat) []groupbuy.Seat {
	out := make([]groupbuy.Seat, len(in))
	for i, s := range in {
		out[i] = *s
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
	t := g.teams[seat.TeamID]
	g.setSeatState(seat, groupbuy.SeatReleased)
	g.uncount(seat)
	t.SeatsTaken--
	t.Version++
	s.addEvents(w.Events)
	return *seat, nil
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
			if !ok || st.TeamID != t.ID || st.State != m.From {
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
		g.addSeat(&w.BotSeats[i])
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
	return *seat, nil
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
	return *t, nil
}

// TeamSeats implements groupbuy.Store.
func (s *Store) TeamSeats(ctx context.Context, teamID string) ([]groupbuy.Seat, error) {
	if err := checkID("teamID", teamID); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.gb.teams[teamID]; !ok {
		return nil, notFound("team", teamID)
	}
	out := copySeats(s.gb.teamSeats[teamID])
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
	return *st, nil
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
			out = append(out, *t)
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
		for _, st := range s.gb.teamSeats[t.ID] {
			if st.State == groupbuy.SeatReserved && !st.ReservedUntil.After(now) {
				out = append(out, *st)
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
			out = append(out, *t)
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
	r, ok := s.gb.idem[scopeKey{scope, key}]
	if !ok {
		return groupbuy.IdempotencyRecord{}, notFound("idempotency record", scope+"/"+key)
	}
	r.Result = slices.Clone(r.Result)
	return r, nil
}
