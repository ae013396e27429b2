// Package storagetest is the conformance suite that every storage adapter of
// the SDK must pass. An adapter's test calls Run with a constructor of fresh,
// empty stores; Run then drives the real groupbuy.Service and the stores
// directly through every contract of groupbuy.Store and storage.Outbox:
// round trips, guarded writes whose preconditions fail cleanly and change
// nothing, the team MatchTeam picks and the IDs it fills in, idempotency
// records, late payments, deadlines and refunds, outbox claim/ack/lease, bad
// input, and races (many goroutines for the last seats, by JoinTeam and by
// MatchTeam, concurrent payments, concurrent ProcessDue and Claim).
//
// Besides the contract written on groupbuy.Store and storage.Outbox, the
// suite pins down what the reference adapter (storage/memory) does where the
// prose is silent:
//
//   - Times keep microsecond precision: the suite's clock starts at
//     2026-11-27T12:00:00.123456Z. Times are compared as instants (any
//     location), decimals by value (19.90 equals 19.9), payloads as JSON.
//   - IDs are arbitrary strings (Config.NewID may return anything), sorted
//     bytewise where an order uses them; the suite's own IDs are lower-case
//     ASCII so that every collation agrees.
//   - Every write that changes a team, a seat or a campaign bumps its
//     Version by exactly one (a payment that fills a team bumps the team
//     once and each confirmed seat once).
//   - Campaign prices come back in the order they were stored.
//   - Claim's "oldest first" is the order events were written, and the
//     events of one write keep their slice order.
//   - An empty ID, a nil write, a limit below 1 or an unknown enum value is a
//     *storage.ValidationError, never ErrNotFound, and changes nothing; so is
//     a MatchTeamWrite whose Seat.TeamID is set, whose Order is not
//     MatchFullest, MatchOldest or MatchRandom ("" included), or whose Open
//     disagrees with it.
//   - MatchTeam called with no other command running picks exactly the
//     first qualifying team, or for MatchRandom the candidate that
//     groupbuy.RandomPicks names first (skipping a locked team is for
//     contention only).
//
// An adapter runs the suite from its tests, naming the subtest after the
// store:
//
//	func TestConformance(t *testing.T) {
//		t.Run("memory", func(t *testing.T) {
//			storagetest.Run(t, func(t *testing.T, now func() time.Time) storagetest.Stores {
//				s := memory.New(memory.WithClock(now))
//				return storagetest.Stores{GroupBuy: s, Outbox: s, Referral: s}
//			})
//		})
//	}
//
// Stores.Referral may be nil for an adapter that does not implement
// referral.Store; the Referral, ReferralRace and ReferralContract groups
// then skip.
package storagetest

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/socialcommerce/sdk/groupbuy"
	"github.com/socialcommerce/sdk/referral"
	"github.com/socialcommerce/sdk/storage"
	"github.com/socialcommerce/sdk/storage/storagetest/internal/require"
)

// Stores is what an adapter under test provides.
type Stores struct {
	GroupBuy groupbuy.Store
	Outbox   storage.Outbox
	// Referral, when set, runs the referral groups (which skip otherwise).
	// Its events go to Outbox.
	Referral referral.Store
}

// Run runs every contract test against the adapter; newStores must return
// fresh, empty, isolated stores (own table prefix/schema) whose outbox lease
// math uses the clock now it is handed. Each subtest calls newStores once.
func Run(t *testing.T, newStores func(t *testing.T, now func() time.Time) Stores) {
	t.Helper()
	for _, g := range slices.Concat(groups, referralGroups) {
		t.Run(g.name, func(t *testing.T) {
			for _, c := range g.cases {
				t.Run(c.name, func(t *testing.T) {
					c.fn(newEnv(t, newStores))
				})
			}
		})
	}
}

type testCase struct {
	name string
	fn   func(e *env)
}

type group struct {
	name  string
	cases []testCase
}

// groups lists the group-buy and outbox tests of the suite, in the order
// Run runs them; referralGroups follow.
var groups = []group{
	{"Campaign", []testCase{
		{"RoundTrip", testCampaignRoundTrip},
		{"CreatedByService", testCampaignCreatedByService},
		{"DuplicateID", testCampaignDuplicateID},
		{"StatusGuardedOnFrom", testCampaignStatusGuarded},
		{"NotFound", testCampaignNotFound},
	}},
	{"Team", []testCase{
		{"OpenJoinPayHappyPath", testHappyPath},
		{"FourDecimalCurrency", testFourDecimalCurrency},
		{"ReservationClampedToTeamDeadline", testReservationClamped},
		{"TeamSeatsOrder", testTeamSeatsOrder},
		{"FillLeavesOtherTeams", testFillLeavesOtherTeams},
		{"OpenTeamsOrder", testOpenTeamsOrder},
		{"UserSeatsNewestFirst", testUserSeatsOrder},
		{"UserSeatsPaging", testUserSeatsPaging},
		{"NotFound", testTeamNotFound},
	}},
	{"Guard", []testCase{
		{"JoinFullTeam", testJoinFullTeam},
		{"SeatRowsBound", testSeatRowsBound},
		{"JoinClosedTeam", testJoinClosedTeam},
		{"JoinExpiredTeam", testJoinExpiredTeam},
		{"AlreadyJoined", testAlreadyJoined},
		{"LimitOpenedPerUser", testLimitOpened},
		{"LimitJoinedPerUser", testLimitJoined},
		{"LimitUnitsPerOrder", testLimitUnits},
		{"CampaignNotActive", testCampaignNotActive},
		{"AmountMismatch", testAmountMismatch},
		{"PreconditionOrder", testPreconditionOrder},
		{"StoreOpenTeam", testStoreOpenTeamGuards},
		{"StoreJoinTeam", testStoreJoinTeamGuards},
		{"StorePaySeat", testStorePaySeatGuards},
		{"StorePaySeatTeamDeadline", testStorePayTeamDeadline},
		{"StoreReleaseSeat", testStoreReleaseSeatGuards},
		{"StoreCloseTeam", testStoreCloseTeamGuards},
		{"StoreUpdateRefund", testStoreUpdateRefundGuards},
	}},
	{"LatePayment", []testCase{
		{"Refund", testLateRefund},
		{"RefundLapsedUnprocessedSeat", testLateRefundLapsed},
		{"JoinOther", testLateJoinOther},
		{"JoinOtherOpensWhenNoneOpen", testLateJoinOtherOpens},
		{"OpenNew", testLateOpenNew},
		{"SecondPaymentForPaidSeat", testLateDoublePayment},
		{"PlacementRefusedCampaignStopped", testLateCampaignStopped},
		{"LegacyPlacementUnderPaymentRef", testLateLegacyPlacement},
	}},
	{"Idempotency", []testCase{
		{"OpenReplay", testIdemOpen},
		{"JoinReplay", testIdemJoin},
		{"KeyReusedForOtherRequest", testIdemKeyReused},
		{"PaymentReplayedSequentially", testIdemPaySequential},
		{"FillingPaymentReplayed", testIdemPayFilledReplay},
		{"PaymentReplayedConcurrently", testIdemPayConcurrent},
		{"FirstRequestsConcurrently", testIdemConcurrentFirst},
		{"StoreRecords", testIdemStoreRecords},
		{"WritesNotRetained", testWritesNotRetained},
		{"StoreReplayBeforePreconditions", testIdemReplayFirst},
	}},
	{"Match", []testCase{
		{"PicksFirstInOrder", testMatchPicksFirstInOrder},
		{"SkipsTeamsThatDoNotQualify", testMatchSkipsTeamsThatDoNotQualify},
		{"HoleFilled", testMatchHoleFilled},
		{"Guards", testMatchGuards},
		{"OrOpen", testMatchOrOpen},
		{"Random", testMatchRandom},
		{"BadInput", testMatchBadInput},
		{"RaceOneTeam", testMatchRaceOneTeam},
		{"RaceManyTeams", testMatchRaceManyTeams},
	}},
	{"Race", []testCase{
		{"JoinLastSeats", testRaceJoin},
		{"PayLastTwoSeats", testRacePay},
		{"ConcurrentProcessDue", testRaceProcessDue},
	}},
	{"Due", []testCase{
		{"ReservationsLapse", testDueReservations},
		{"StoreDueQueries", testDueQueries},
		{"TeamFailsAtDeadline", testDueTeamFails},
		{"VirtualFillMinPaid", testVirtualMinPaid},
		{"VirtualFillMinPercent", testVirtualMinPercent},
	}},
	{"Refund", []testCase{
		{"CancelTeam", testCancelTeam},
		{"FailRetrySettle", testRefundPath},
		{"StaleAttempt", testStaleRefundAttempt},
		{"AttemptsOnClose", testRefundAttemptsOnClose},
		{"IllegalTransitions", testIllegalTransitions},
	}},
	{"Outbox", []testCase{
		{"RoundTripOldestFirstLimit", testOutboxOrder},
		{"Lease", testOutboxLease},
		{"LeaseEndsAtItsInstant", testOutboxLeaseInstant},
		{"Ack", testOutboxAck},
		{"AckRetriedAfterOthers", testOutboxAckRetried},
		{"BadArguments", testOutboxBadArgs},
		{"ConcurrentClaim", testOutboxConcurrentClaim},
		{"DuplicateIDsInOneWrite", testOutboxDuplicateIDs},
		{"EventIDInUse", testOutboxEventIDInUse},
	}},
	{"Input", []testCase{
		{"NilWrites", testInputNil},
		{"EmptyIDs", testInputEmptyIDs},
		{"Text", testInputText},
		{"BadLimits", testInputLimits},
		{"UnknownEnums", testInputEnums},
		{"WriteFields", testInputWrites},
		{"RowsAsDocumented", testInputRowsAsDocumented},
		{"CampaignFields", testInputCampaignFields},
	}},
	{"Contract", []testCase{
		{"ReadsNotShared", testContractReadsNotShared},
		{"WritesNotRetainedByAnyWrite", testContractWritesNotRetained},
		{"LimitsPerCampaign", testContractLimitsPerCampaign},
		{"StoreJoinTeamPreconditionOrder", testContractJoinTeamOrder},
		{"StorePaySeatPreconditionOrder", testContractPaySeatOrder},
		{"DueLimits", testContractDueLimits},
		{"ConfirmGuardAndRefundLeavesTeam", testContractRefundAndConfirmGuards},
		{"DuplicateIDs", testContractDuplicateIDs},
		{"InputSizes", testContractInputSizes},
		{"PayOnFillWithoutFillEventID", testContractPayOnFill},
		{"CampaignStatesAtTheStore", testContractCampaignStates},
	}},
	// These skip, as the Referral groups do, without a referral store.
	{"ReferralContract", []testCase{
		{"ReadsNotShared", testContractRefReadsNotShared},
		{"Codes", testContractRefCodes},
		{"DistributorGuards", testContractRefDistributorGuards},
		{"BindPreconditionOrder", testContractRefBindOrder},
	}},
}

// start is the suite's epoch: microsecond precision on purpose, so that an
// adapter that truncates to milliseconds or seconds fails the round trips.
var start = time.Date(2026, 11, 27, 12, 0, 0, 123456000, time.UTC)

// clock is a hand-driven clock shared by the Service and the stores.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

// Now returns the clock's time.
func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d).Truncate(time.Microsecond)
}

// Set moves the clock to t.
func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t.Truncate(time.Microsecond)
}

// env is one test's world: a clock, fresh stores and a Service on them.
type env struct {
	t     *testing.T
	ctx   context.Context
	clock *clock
	gb    groupbuy.Store
	ob    storage.Outbox
	svc   *groupbuy.Service
	n     int
	ref   referral.Store
}

func newEnv(t *testing.T, newStores func(t *testing.T, now func() time.Time) Stores) *env {
	c := &clock{t: start}
	st := newStores(t, c.Now)
	require.NotNil(t, st.GroupBuy, "Stores.GroupBuy")
	require.NotNil(t, st.Outbox, "Stores.Outbox")
	svc, err := groupbuy.New(st.GroupBuy, groupbuy.Config{Now: c.Now})
	require.NoError(t, err)
	return &env{t: t, ctx: t.Context(), clock: c, gb: st.GroupBuy, ob: st.Outbox, svc: svc, ref: st.Referral}
}
