package groupbuy

import (
	"bytes"
	"context"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/socialcommerce/sdk/internal/jsonw"
	"github.com/socialcommerce/sdk/storage"
)

// Store is the storage the groupbuy Service consumes. Adapters live in
// storage/memory and storage/sqlstore; storage/storagetest is the
// conformance suite every adapter must pass.
//
// Every write applies a guarded delta decided by the Service: the adapter
// checks the preconditions listed on each write type in the same atomic step
// as the write, and when one fails it changes nothing and returns the sentinel
// named there. A write carrying an idempotency record whose (Scope, Key)
// already exists changes nothing and returns a *ReplayError holding the
// stored record; that check comes before every other precondition.
//
// Before anything else an adapter refuses, as a *storage.ValidationError
// that changes nothing, a write whose fields no store could keep as given:
// IDs, payment references, currencies and record keys outside the ID
// rules (see Config.NewID) or longer than their Max...Length; other text
// (event topics and keys, fingerprints, SKUs) longer than its
// Max...Length, not valid UTF-8 or holding NUL; money with more than 4
// decimal places or not below 10^16 in absolute value (but a payment's
// Amount: one no seat can have is ErrAmountMismatch); counts out of
// range; an open, join, match, payment or close without Now; a seat listed
// twice in a CloseTeamWrite; more than MaxWriteBatch events in one write
// (a MatchTeamWrite's and its Open's together), seat IDs in one list or
// bot seats. Each write type has its Check function (CheckOpenTeamWrite,
// CheckJoinTeamWrite, ...) that applies exactly these rules, and the
// SDK's adapters call them; the conformance suite's Input groups list the
// cases.
//
// A write is lent for the call only, as io.Writer's p is: an adapter must
// not modify the write, nor keep it or its byte slices (event payloads,
// idempotency results) once the method returns, and copies what it stores.
// The Service reuses a write and its buffers for its next command. Strings
// are immutable and may be kept.
//
// Per-user limits count, per campaign and user, the user's seats that are
// reserved, paid or confirmed: leader seats against Limits.MaxTeamsOpenedPerUser,
// other seats against Limits.MaxTeamsJoinedPerUser. A seat that is released or
// whose refund is requested stops counting.
type Store interface {
	// CreateCampaign stores a new campaign; storage.ErrConflict if the ID
	// exists.
	CreateCampaign(ctx context.Context, c *Campaign) error
	// SetCampaignStatus moves a campaign from status from to status to and
	// bumps its version; ErrNotFound, or storage.ErrConflict when the
	// status is not from.
	SetCampaignStatus(ctx context.Context, id string, from, to CampaignStatus) (Campaign, error)
	// GetCampaign returns a campaign or ErrNotFound.
	GetCampaign(ctx context.Context, id string) (Campaign, error)

	// OpenTeam inserts a team and its leader seat.
	OpenTeam(ctx context.Context, w *OpenTeamWrite) error
	// JoinTeam adds a reserved seat to a forming team and returns the team
	// as the join left it and the seat as stored.
	JoinTeam(ctx context.Context, w *JoinTeamWrite) (Team, Seat, error)
	// MatchTeam adds a reserved seat to a forming team of the campaign
	// that the adapter picks, and returns the team as the join left it and
	// the seat as stored.
	MatchTeam(ctx context.Context, w *MatchTeamWrite) (Team, Seat, error)
	// PaySeat marks a reserved seat paid and, when it is the team's last
	// unpaid seat, completes the team.
	PaySeat(ctx context.Context, w *PaySeatWrite) (PaySeatResult, error)
	// ReleaseSeat releases a reserved seat.
	ReleaseSeat(ctx context.Context, w *ReleaseSeatWrite) (Seat, error)
	// CloseTeam moves a forming team to a final state.
	CloseTeam(ctx context.Context, w *CloseTeamWrite) error
	// UpdateRefund moves a seat along the refund path.
	UpdateRefund(ctx context.Context, w *RefundWrite) (Seat, error)
	// RecordOutcome stores an idempotency record and events, nothing else
	// (a late payment that is refunded).
	RecordOutcome(ctx context.Context, idem *IdempotencyRecord, events []storage.Event) error

	// GetTeam returns a team or ErrNotFound.
	GetTeam(ctx context.Context, id string) (Team, error)
	// TeamSeats returns a team's seats ordered by ReservedAt, then ID
	// (virtual seats last); ErrNotFound if the team does not exist.
	TeamSeats(ctx context.Context, teamID string) ([]Seat, error)
	// GetSeat returns a seat or ErrNotFound.
	GetSeat(ctx context.Context, id string) (Seat, error)
	// OpenTeams lists up to limit (1..MaxListLimit) forming teams of a
	// campaign with a free seat, SeatRows below MaxSeatRows(Capacity) (a
	// join would be ErrTeamChurned) and ExpiresAt after now, in the given
	// order: MatchOldest by OpenedAt then ID; MatchFullest (and
	// MatchRandom) by SeatsTaken descending, then ExpiresAt, then ID.
	OpenTeams(ctx context.Context, campaignID string, now time.Time, order MatchStrategy, limit int) ([]Team, error)
	// UserSeats lists up to limit (1..MaxListLimit) of a user's seats, newest first (ReservedAt
	// descending to the microsecond, then ID descending). A non-zero after
	// (CheckSeatPosition) starts the list after that position, so that a
	// list is paged by the last seat of the page before: seats reserved
	// meanwhile, which come first, do not shift the later pages.
	UserSeats(ctx context.Context, userID string, after SeatPosition, limit int) ([]Seat, error)
	// DueReservations lists up to limit (1..MaxProcessDue) reserved seats whose ReservedUntil is
	// not after now, oldest deadline first.
	DueReservations(ctx context.Context, now time.Time, limit int) ([]Seat, error)
	// DueTeams lists up to limit (1..MaxProcessDue) forming teams whose ExpiresAt is not after
	// now, or whose SeatsPaid reached Capacity (a completion that an adapter
	// finishing PaySeat in two steps did not finish), oldest deadline first.
	DueTeams(ctx context.Context, now time.Time, limit int) ([]Team, error)
	// GetIdempotency returns a stored idempotency record or ErrNotFound.
	GetIdempotency(ctx context.Context, scope, key string) (IdempotencyRecord, error)
}

// IdempotencyRecord remembers the first result of an idempotent command.
type IdempotencyRecord struct {
	Scope string // the command, e.g. "groupbuy.join"
	Key   string // the caller's key
	// Fingerprint identifies the request, so a key reused for another
	// request is detected.
	Fingerprint string
	Result      []byte // the command's result as JSON
	CreatedAt   time.Time
}

// ReplayError is returned by a write whose idempotency record exists.
//
// Team and Seat are optional. An adapter that reads the write's team and
// seat (a PaySeatWrite's TeamID and SeatID) in the same step as the record
// may return them, as stored then, and so spare the Service the two reads
// with which it otherwise builds the replayed result; the Service uses them
// only when they are the team and seat the record's result names. Nil
// leaves the reads to the Service.
type ReplayError struct {
	Record IdempotencyRecord
	Team   *Team
	Seat   *Seat
}

// Error names the command and key.
func (e *ReplayError) Error() string {
	return "groupbuy: idempotent replay of " + e.Record.Scope + " " + e.Record.Key
}

// OpenTeamWrite inserts Team (state forming) with Leader as its first seat
// (reserved; Team.SeatsTaken is 1). The leader seat belongs to the team:
// its TeamID, CampaignID and UserID are Team's ID, CampaignID and LeaderID
// (Problem checks it; adapters refuse a write that disagrees).
//
// Preconditions, checked in this order: the campaign exists (ErrNotFound);
// it is active and Now is inside its window (ErrCampaignNotActive); the
// leader's counted leader seats in the campaign are below MaxOpened when
// MaxOpened > 0 (ErrLimitExceeded).
//
// MaxOpened is the campaign's limit (Limits.MaxTeamsOpenedPerUser), the
// same on every write of a campaign, since a campaign's limits never
// change; while it is 0 an adapter may keep no count at all.
type OpenTeamWrite struct {
	Team      Team
	Leader    Seat
	Now       time.Time
	MaxOpened int
	Events    []storage.Event
	Idem      *IdempotencyRecord
}

// problem names what in w disagrees with itself, as OpenTeamWrite
// documents it: a field and the reason, or "" when nothing does
// (CheckOpenTeamWrite returns it as its validation error). A nil w is a
// problem too.
func (w *OpenTeamWrite) problem() (field, reason string) {
	switch {
	case w == nil:
		return "write", "must not be nil"
	case w.Leader.TeamID != w.Team.ID:
		return "Leader.TeamID", "must be Team.ID"
	case w.Leader.CampaignID != w.Team.CampaignID:
		return "Leader.CampaignID", "must be Team.CampaignID"
	case w.Leader.UserID != w.Team.LeaderID:
		return "Leader.UserID", "must be Team.LeaderID"
	}
	return "", ""
}

// Rows returns the team and the leader seat as OpenTeam stores them,
// whatever w says of their states: the team forming with one seat taken,
// none paid, no virtual seats, one seat row and no ClosedAt; the leader
// seat reserved, the leader's, real and unpaid. Adapters store these, not w's fields.
// w must not be nil (Problem refuses a nil write).
func (w *OpenTeamWrite) Rows() (Team, Seat) {
	team, leader := w.Team, w.Leader
	team.State, team.SeatsTaken, team.SeatsPaid, team.VirtualSeats, team.SeatRows, team.ClosedAt = TeamForming, 1, 0, 0, 1, time.Time{}
	leader.State, leader.Leader, leader.Virtual, leader.PaidAt, leader.RefundAttempt = SeatReserved, true, false, time.Time{}, 0
	return team, leader
}

// JoinTeamWrite inserts Seat (reserved, not leader) into team Seat.TeamID,
// adds one to the team's SeatsTaken and to its SeatRows and bumps its
// Version. The stored Seat.ReservedUntil is the earlier of the given one
// and the team's ExpiresAt; JoinTeam returns the team after the join and
// the seat as stored.
//
// Preconditions, in this order: the team exists and belongs to
// Seat.CampaignID (ErrNotFound); the campaign is active (ErrCampaignNotActive);
// the team is forming and its ExpiresAt is after Now (ErrTeamClosed); the user
// holds no reserved, paid or confirmed seat in the team (ErrAlreadyJoined);
// SeatsTaken < Capacity (ErrTeamFull); SeatRows < MaxSeatRows(Capacity)
// (ErrTeamChurned); the user's counted non-leader seats in the campaign are
// below MaxJoined when MaxJoined > 0 (ErrLimitExceeded).
//
// The seat-row bound is the adapter's to compute, from the team's own
// Capacity (the write does not carry it): like SeatsTaken < Capacity, it
// is a guard on the team row, and Match's adapter picks among teams.
//
// MaxJoined is the campaign's limit (Limits.MaxTeamsJoinedPerUser), the
// same on every write of a campaign; while it is 0 an adapter may keep no
// count at all.
type JoinTeamWrite struct {
	Seat      Seat
	Now       time.Time
	MaxJoined int
	Events    []storage.Event
	Idem      *IdempotencyRecord
}

// Row returns the seat as JoinTeam and MatchTeam store it, whatever w
// says of its state: reserved, not a leader, real and unpaid. The adapter
// then clamps its ReservedUntil to the team's ExpiresAt (and MatchTeam
// sets its TeamID). w must not be nil.
func (w *JoinTeamWrite) Row() Seat {
	st := w.Seat
	st.State, st.Leader, st.Virtual, st.PaidAt, st.RefundAttempt = SeatReserved, false, false, time.Time{}, 0
	return st
}

// MatchTeamWrite is a JoinTeamWrite whose team the adapter picks in the same
// atomic step as the join: among the forming teams of campaign
// Seat.CampaignID whose ExpiresAt is after Now, that have a free seat and
// SeatRows below MaxSeatRows(Capacity), in which the user holds no
// reserved, paid or confirmed seat, and whose ID is not Exclude (the
// qualifying teams), the first in Order: MatchFullest by
// SeatsTaken descending, then ExpiresAt, then ID; MatchOldest by OpenedAt,
// then ID. MatchRandom takes, among the first MatchRandomCandidates
// qualifying teams in MatchFullest's order, the one RandomPicks(Pick, n)
// names first, else the one it names second, and no other. An adapter
// whose database locks rows may skip a team that another command holds
// locked at that instant instead of waiting for it (PostgreSQL and MySQL
// do, with SKIP LOCKED): under contention the matchers then spread over the
// teams with room rather than queue on the first. Seat.TeamID is empty; the
// returned seat carries the picked team's ID.
//
// The picked team's ID is not known before the write, so the events and
// the idempotency record are templates: every TeamIDHole in an event's Key
// stands for the ID, and every TeamIDHole in an event's Payload and in
// Idem.Result for the ID as the content of a JSON string (escaped; see
// Filled, which adapters written in Go may use).
//
// Preconditions, in this order: no idempotency record (Scope, Key) exists
// (*ReplayError); the campaign exists (ErrNotFound) and is active
// (ErrCampaignNotActive); a team qualifies (ErrTeamFull: none does); the
// user's counted non-leader seats in the campaign are below MaxJoined when
// MaxJoined > 0 (ErrLimitExceeded).
//
// When Open is set and no team qualifies, the adapter opens Open's team in
// the same atomic step instead of failing with ErrTeamFull, as OpenTeam
// would: OpenTeam's preconditions then follow the campaign's (its window,
// MaxOpened, in that order), and MatchTeam returns the new team and its
// leader seat (Leader true), stored as OpenTeam stores them. Open's events
// and record are stored as they are (they hold no hole) and the match's
// are not. Open's team and leader seat are in campaign Seat.CampaignID,
// the leader seat is in Open's team, Seat.UserID leads it, Open.Now is
// Now, and Open.Idem has the match's Scope and Key (nil when Idem is), so
// that a replay finds the record of either outcome.
// An adapter that ignores Open returns ErrTeamFull, and the Service then
// opens the team in a second step.
type MatchTeamWrite struct {
	JoinTeamWrite
	Order   MatchStrategy // MatchFullest, MatchOldest or MatchRandom
	Exclude string        // a team not to pick, or ""
	// Pick chooses MatchRandom's team (RandomPicks); the Service hashes
	// the request into it, so that the same request makes the same
	// choice and concurrent matchers spread. Other orders ignore it.
	Pick uint64
	// Open is the team to open when no team qualifies, or nil (see above).
	Open *OpenTeamWrite
}

// MatchRandomCandidates is how many qualifying teams, in MatchFullest's
// order, a MatchRandom write chooses among.
const MatchRandomCandidates = 32

// RandomPicks returns the indexes, among n candidates (at most
// MatchRandomCandidates), of the team a MatchRandom write with pick takes
// first and of the one it takes when the first cannot be taken: first is
// pick mod n; second is never first, and is -1 when n < 2. Both are -1
// when n is 0.
func RandomPicks(pick uint64, n int) (first, second int) {
	if n <= 0 {
		return -1, -1
	}
	first = int(pick % uint64(n))
	if n == 1 {
		return first, -1
	}
	// As if the candidates were swapped to put first at 0, then the
	// second chosen among the others by the high half of pick.
	second = 1 + int((pick>>32)%uint64(n-1))
	if second == first {
		second = 0
	}
	return first, second
}

// openProblem names what in w.Open disagrees with the match, as
// MatchTeamWrite documents it: a field and the reason, or "" when nothing
// does (or Open is nil); CheckMatchTeamWrite returns it as its validation
// error. A nil w is a problem too.
func (w *MatchTeamWrite) openProblem() (field, reason string) {
	if w == nil {
		return "write", "must not be nil"
	}
	o := w.Open
	switch {
	case o == nil:
		return "", ""
	case o.Team.CampaignID != w.Seat.CampaignID:
		return "Open.Team.CampaignID", "must be Seat.CampaignID"
	case o.Team.LeaderID != w.Seat.UserID:
		return "Open.Team.LeaderID", "must be Seat.UserID"
	case !o.Now.Equal(w.Now):
		return "Open.Now", "must be Now"
	case (o.Idem == nil) != (w.Idem == nil):
		return "Open.Idem", "must be set exactly when Idem is"
	case o.Idem != nil && (o.Idem.Scope != w.Idem.Scope || o.Idem.Key != w.Idem.Key):
		return "Open.Idem", "must have Idem's Scope and Key"
	}
	if field, reason := o.problem(); field != "" {
		return "Open." + field, reason
	}
	return "", ""
}

// Opened reports whether seat, as MatchTeam returned it, is the leader
// seat of the team w.Open opened rather than a seat in a team it joined
// (which is never a leader seat). With w or seat nil it reports false.
func (w *MatchTeamWrite) Opened(seat *Seat) bool {
	return w != nil && seat != nil && w.Open != nil && seat.Leader && seat.TeamID == w.Open.Team.ID
}

// TeamIDHole stands for the picked team's ID in a MatchTeamWrite's events
// and idempotency record. It is a control character, which no ID holds and
// which a JSON encoder always escapes, so it never occurs by chance.
const TeamIDHole = "\x01"

// Filled returns the write's events and idempotency record with every
// TeamIDHole filled for team teamID, in new memory: the write itself is
// left as it is. A nil w has neither: nil, nil.
func (w *MatchTeamWrite) Filled(teamID string) ([]storage.Event, *IdempotencyRecord) {
	if w == nil {
		return nil, nil
	}
	inJSON := string(jsonw.String(nil, teamID))
	inJSON = inJSON[1 : len(inJSON)-1] // without its quotes
	var events []storage.Event
	if len(w.Events) > 0 {
		events = make([]storage.Event, len(w.Events))
	}
	for i, ev := range w.Events {
		ev.Key = strings.ReplaceAll(ev.Key, TeamIDHole, teamID)
		ev.Payload = bytes.ReplaceAll(ev.Payload, []byte(TeamIDHole), []byte(inJSON))
		events[i] = ev
	}
	var rec *IdempotencyRecord
	if w.Idem != nil {
		r := *w.Idem
		r.Result = bytes.ReplaceAll(r.Result, []byte(TeamIDHole), []byte(inJSON))
		rec = &r
	}
	return events, rec
}

// PaySeatWrite marks seat SeatID of team TeamID paid at Now with PaymentRef,
// adds one to the team's SeatsPaid and bumps the team's and the seat's
// Version. When SeatsPaid reaches Capacity the team becomes succeeded
// (ClosedAt Now), every paid seat of it confirmed, and the events returned by
// OnFill(team, seats) (called with the team and all its seats in their final
// states, in TeamSeats order) are stored too.
//
// The team's Version is bumped once per payment, also when it fills the
// team. An adapter may complete the team in a second atomic step (see
// DueTeams); if that step fails, PaySeat returns its error, a retry of the
// payment is a replay, and ProcessDue completes the team.
//
// Preconditions, in this order: the seat exists and belongs to TeamID
// (ErrNotFound); its Amount equals Amount and its Currency equals Currency
// (ErrAmountMismatch); it is reserved and its ReservedUntil is after Now
// (ErrSeatNotReserved); the team is forming and its ExpiresAt is after Now
// (ErrTeamClosed).
type PaySeatWrite struct {
	TeamID     string
	SeatID     string
	PaymentRef string
	Amount     decimal.Decimal
	Currency   string
	Now        time.Time
	Events     []storage.Event
	Idem       *IdempotencyRecord
	// FilledResult, when set, replaces Idem.Result in the stored record if
	// this payment fills the team, so that a replay reports the fill too.
	FilledResult []byte
	OnFill       func(team *Team, seats []Seat) []storage.Event
	// FillEventID, when set, says that OnFill returns exactly one event,
	// TeamFilledEvent(FillEventID(), team, seats, Currency, Now), so that
	// an adapter may build that event itself and complete a team this
	// payment fills within the payment's own atomic step, without reading
	// the seats back for OnFill. An adapter that calls OnFill ignores it.
	// An adapter may call it for a payment that then fills nothing, so an
	// ID it returns may go unused.
	FillEventID func() string
}

// PaySeatResult is the state after a successful PaySeat.
type PaySeatResult struct {
	Team Team
	Seat Seat
	// Filled is true when this payment completed the team.
	Filled bool
}

// ReleaseSeatWrite releases reserved seat SeatID: the seat becomes released,
// its team's SeatsTaken drops by one and the team's Version is bumped.
//
// Preconditions: the seat exists (ErrNotFound); it is reserved
// (ErrSeatNotReserved); when UserID is set, it is that user's seat
// (ErrNotOwner); when OnlyExpired is set, its ReservedUntil is not after Now
// (storage.ErrConflict).
type ReleaseSeatWrite struct {
	SeatID      string
	UserID      string
	OnlyExpired bool
	Now         time.Time
	Events      []storage.Event
}

// CloseTeamWrite moves forming team TeamID to State at Now (ClosedAt) and
// moves its seats: Release (reserved → released), Refund (paid →
// refund_requested, with RefundAttempt 1), Confirm (paid → confirmed).
// VirtualSeats is added to the team's VirtualSeats; BotSeats, when
// recorded, are inserted as they are (with RefundAttempt 0).
// SeatsTaken and SeatsPaid drop by the seats released and refunded.
//
// Preconditions: the team exists (ErrNotFound); it is forming and its
// Version equals Version, and every listed seat belongs to it and is in the
// from-state above (storage.ErrConflict otherwise, changing nothing).
type CloseTeamWrite struct {
	TeamID       string
	Version      int64
	State        TeamState
	Now          time.Time
	Release      []string
	Refund       []string
	Confirm      []string
	VirtualSeats int
	BotSeats     []Seat
	Events       []storage.Event
}

// SeatMove is one of a CloseTeamWrite's lists of seats with the state each
// must be in and the state it moves to.
type SeatMove struct {
	SeatIDs  []string
	From, To SeatState
}

// Moves returns the write's seat lists as moves, in the order an adapter
// checks and applies them: Release (reserved → released), Refund (paid →
// refund_requested, setting RefundAttempt to 1), Confirm (paid →
// confirmed). A nil w moves no seat: the three moves with no seat IDs.
func (w *CloseTeamWrite) Moves() [3]SeatMove {
	if w == nil {
		w = &CloseTeamWrite{}
	}
	return [3]SeatMove{
		{w.Release, SeatReserved, SeatReleased},
		{w.Refund, SeatPaid, SeatRefundRequested},
		{w.Confirm, SeatPaid, SeatConfirmed},
	}
}

// RefundWrite moves seat SeatID from state From to state To and bumps its
// Version. Only moves along the refund path are allowed (From is
// refund_requested or refund_failed, and From → To is legal: see
// CheckRefundMove), so no counter changes. A retry (refund_failed →
// refund_requested) sets the seat's RefundAttempt to NewAttempt (Attempt +
// 1, or 2 from 0); the other moves leave it at Attempt. Preconditions: the seat exists
// (ErrNotFound), is in From and its RefundAttempt is Attempt
// (storage.ErrConflict otherwise, changing nothing): the Service wrote the
// events for the attempt it read, and a seat that failed, was retried and
// failed again since would be in From with another attempt.
type RefundWrite struct {
	SeatID string
	From   SeatState
	To     SeatState
	// Attempt is the seat's RefundAttempt the write expects, 0 to
	// 2147483646 (CheckRefundWrite).
	Attempt int
	Now     time.Time
	Events  []storage.Event
}

// NewAttempt returns the seat's RefundAttempt after the write: Attempt + 1
// for a retry (refund_failed → refund_requested), else Attempt. A seat
// that failed at Attempt 0 (its refund asked for by a release before the
// stores kept the number) failed attempt 1, so its retry is attempt 2: as
// attempt 1, the host's per-attempt provider key would repeat the failed
// one's, and a provider answers a repeated key with its first answer. A
// nil w has none: 0.
func (w *RefundWrite) NewAttempt() int {
	switch {
	case w == nil:
		return 0
	case w.From == SeatRefundFailed && w.To == SeatRefundRequested:
		return max(w.Attempt, 1) + 1
	}
	return w.Attempt
}
