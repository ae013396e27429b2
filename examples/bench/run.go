package main

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/shopspring/decimal"

	"github.com/socialcommerce/sdk/groupbuy"
	"github.com/socialcommerce/sdk/storage"
)

// Scenarios.
const (
	ScenarioGroupbuy = "groupbuy"
	ScenarioHot      = "hot"
)

// Options describe one load run.
type Options struct {
	// Scenario is ScenarioGroupbuy or ScenarioHot.
	Scenario string
	// Clients is the number of concurrent clients (goroutines).
	Clients int
	// Duration is how long the clients start new commands.
	Duration time.Duration
	// TeamSize is the campaign's team size; 0 means 5 (3 for ScenarioHot).
	TeamSize int
	// Match is the strategy of the hot scenario; default MatchFullest.
	Match groupbuy.MatchStrategy
	// Forming is how many forming teams the groupbuy scenario's clients
	// share, each picking one at random per command; 0 means 2 per client.
	// Fewer teams per client means more commands waiting on another
	// client's lock of the same team row.
	Forming int
	// Calibrate measures, with one client before the run, how many round
	// trips each kind of command costs (only when Target.RoundTrips is set).
	Calibrate bool
}

// Target is the store under test and what it exposes besides groupbuy.Store.
type Target struct {
	// Name says which store it is ("memory", "postgres", ...).
	Name  string
	Store groupbuy.Store
	// RoundTrips returns the statements sent so far, or is nil.
	RoundTrips func() int64
	// Retries returns the transaction retries so far, or is nil.
	Retries func() int64
	// Check checks every team in the database, or is nil: then the teams
	// the run touched are checked through the Store API.
	Check func(ctx context.Context) (Check, error)
	// Counters returns server-wide counters (deadlocks, rollbacks, ...),
	// or is nil; the run reports how much each grew.
	Counters func(ctx context.Context) ([]KindCount, error)
	// SeedReferral bulk-loads the referral scenario's tree (user i bound to
	// a random j < i, all active distributors) into a programme, or is nil:
	// then the memory store seeds through the Service.
	SeedReferral func(ctx context.Context, programmeID string, users int) error
}

// Check is the outcome of the final consistency check.
type Check struct {
	Teams int
	// Overfilled counts teams with more active (reserved, paid, confirmed)
	// seats than their capacity.
	Overfilled int
	// Mismatched counts teams whose SeatsTaken differs from their active
	// seats.
	Mismatched int
	// PaidMismatched counts teams whose SeatsPaid differs from their paid or
	// confirmed seats.
	PaidMismatched int
	// FilledForming counts teams still forming although every seat is paid
	// (a completion that was missed).
	FilledForming int
	// MaxActive is the largest number of active seats in one team.
	MaxActive int
	// RowsMismatched counts teams whose SeatRows differs from their real
	// (not virtual) seat rows.
	RowsMismatched int
	// OverRowBound counts teams with more real seat rows than
	// groupbuy.MaxSeatRows allows their capacity.
	OverRowBound int
}

// Latency summarises a set of latency samples (exact percentiles from the
// sorted samples, nearest rank).
type Latency struct {
	N             int
	P50, P99, Max time.Duration
	Mean          time.Duration
}

// Result is what a run measured.
type Result struct {
	Scenario string
	Match    groupbuy.MatchStrategy // of the hot scenario
	Store    string
	Clients  int
	TeamSize int
	Forming  int           // of the groupbuy scenario
	Duration time.Duration // requested
	Elapsed  time.Duration // from the start until the last client stopped
	// ClientCPU is the CPU time (user+system) this process used during the
	// run: the load generator, the Service and the driver.
	ClientCPU time.Duration

	// Transactions counts successful Open, Join, Match and ConfirmPayment
	// commands.
	Transactions int64
	Opens        int64 // successful Open, and Match that opened a team
	Joins        int64 // successful Join, and Match that joined a team
	Pays         int64 // successful ConfirmPayment
	Filled       int64 // payments that completed their team
	Late         int64 // payments handled as late (should be 0)
	// Commands counts every Service command issued, successful or not.
	Commands int64
	// RejectedJoins counts JoinTeam writes refused as full or closed,
	// including those Match tried internally.
	RejectedJoins int64
	// MatchesWithoutTeam counts MatchTeam writes that found no team with
	// room for the user (the Match then opened one).
	MatchesWithoutTeam int64
	Errors             int64
	ErrorSamples       []string // a few distinct error messages

	All, Open, Join, Pay Latency
	Fill                 Latency // the payments of Pay that filled their team

	HasRetries    bool
	Retries       int64
	HasRoundTrips bool
	RoundTrips    int64
	// Calibration holds, per command kind, the round trips of one command
	// sent by a single client (see Options.Calibrate).
	Calibration []KindCount
	// Server holds how much the target's server counters grew during the
	// run.
	Server []KindCount

	Check Check
}

// KindCount is a command kind and a count.
type KindCount struct {
	Kind  string
	Count int64
}

// TPS is transactions per second of elapsed time.
func (r *Result) TPS() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Transactions) / r.Elapsed.Seconds()
}

// countingStore counts the JoinTeam writes refused as full or closed and
// the MatchTeam writes that found no team.
type countingStore struct {
	groupbuy.Store
	rejected, noTeam atomic.Int64
}

func (c *countingStore) MatchTeam(ctx context.Context, w *groupbuy.MatchTeamWrite) (groupbuy.Team, groupbuy.Seat, error) {
	t, s, err := c.Store.MatchTeam(ctx, w)
	if errors.Is(err, groupbuy.ErrTeamFull) {
		c.noTeam.Add(1)
	}
	return t, s, err
}

func (c *countingStore) JoinTeam(ctx context.Context, w *groupbuy.JoinTeamWrite) (groupbuy.Team, groupbuy.Seat, error) {
	t, s, err := c.Store.JoinTeam(ctx, w)
	if err != nil && (errors.Is(err, groupbuy.ErrTeamFull) || errors.Is(err, groupbuy.ErrTeamClosed)) {
		c.rejected.Add(1)
	}
	return t, s, err
}

const (
	currency = "CNY"
	sku      = "std"
)

var price = decimal.RequireFromString("19.90")

func token() string {
	var b [4]byte
	_, _ = crand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// createCampaign creates an active campaign as the brief describes: window
// from now-1m to now+2h, team lifetime 1h, reservation TTL 10m, no per-user
// limits, no virtual fill, late payments refunded.
func createCampaign(ctx context.Context, svc *groupbuy.Service, id string, teamSize int) error {
	now := time.Now().UTC()
	_, err := svc.CreateCampaign(ctx, groupbuy.Campaign{
		ID: id, ProductRef: "bench-spu", Currency: currency,
		Prices:   []groupbuy.SKUPrice{{SKU: sku, Price: price}},
		TeamSize: teamSize, TeamLifetime: time.Hour, ReservationTTL: 10 * time.Minute,
		StartsAt: now.Add(-time.Minute), EndsAt: now.Add(2 * time.Hour), Status: groupbuy.CampaignActive,
		VirtualFill: groupbuy.VirtualFill{Mode: groupbuy.VirtualFillNone}, LatePayment: groupbuy.LateRefund,
	})
	return err
}

// slots is the shared table of forming teams of the groupbuy scenario.
type slots struct {
	mu  sync.Mutex
	ids []string
}

// claimed marks a slot whose team a client is opening.
const claimed = "\x00"

// take returns the team in slot i; when the slot is empty it claims it for
// the caller, who must then fill or clear it.
func (s *slots) take(i int) string {
	s.mu.Lock()
	id := s.ids[i]
	if id == "" {
		s.ids[i] = claimed
	}
	s.mu.Unlock()
	return id
}

// replace sets slot i to next if it still holds old.
func (s *slots) replace(i int, old, next string) {
	s.mu.Lock()
	if s.ids[i] == old {
		s.ids[i] = next
	}
	s.mu.Unlock()
}

// client is one load generator's state; only its goroutine touches it.
type client struct {
	svc        *groupbuy.Service
	campaignID string
	match      groupbuy.MatchStrategy
	prefix     string // of user IDs and payment refs
	rng        *rand.Rand
	n          int

	open, join, pay  []time.Duration
	fill             []time.Duration // of pay, the payments that filled their team
	commands, filled int64
	late             int64
	errors           int64
	errSamples       []string
	teams            []string // teams this client opened
}

func (c *client) fresh(kind string) string {
	c.n++
	return c.prefix + kind + strconv.Itoa(c.n)
}

func (c *client) fail(err error) {
	c.errors++
	if len(c.errSamples) < 5 {
		msg := err.Error()
		if !slices.Contains(c.errSamples, msg) {
			c.errSamples = append(c.errSamples, msg)
		}
	}
}

// payFor confirms the payment of a seat the client just reserved.
func (c *client) payFor(ctx context.Context, seat *groupbuy.Seat) {
	c.commands++
	t0 := time.Now()
	r, err := c.svc.ConfirmPayment(ctx, groupbuy.PaymentRequest{
		TeamID: seat.TeamID, SeatID: seat.ID, PaymentRef: c.fresh("pay-"),
		Amount: seat.Amount, Currency: seat.Currency,
	})
	d := time.Since(t0)
	switch {
	case err != nil:
		c.fail(err)
	case r.Late != nil:
		c.late++
		c.fail(fmt.Errorf("late payment of seat %s: %s (%s)", seat.ID, r.Late.Action, r.Late.Reason))
	default:
		c.pay = append(c.pay, d)
		if r.Filled {
			c.filled++
			c.fill = append(c.fill, d)
		}
	}
}

// runGroupbuy is one client of the groupbuy scenario.
func (c *client) runGroupbuy(ctx context.Context, stop func() bool, sl *slots) {
	for !stop() {
		i := c.rng.IntN(len(sl.ids))
		id := sl.take(i)
		switch id {
		case claimed:
			continue // another client is opening this slot's team
		case "":
			c.commands++
			t0 := time.Now()
			r, err := c.svc.Open(ctx, groupbuy.OpenRequest{CampaignID: c.campaignID, UserID: c.fresh("u"), SKU: sku})
			d := time.Since(t0)
			if err != nil {
				sl.replace(i, claimed, "")
				c.fail(err)
				continue
			}
			c.open = append(c.open, d)
			c.teams = append(c.teams, r.Team.ID)
			sl.replace(i, claimed, r.Team.ID)
			if stop() {
				return
			}
			c.payFor(ctx, &r.Seat)
		default:
			c.commands++
			t0 := time.Now()
			r, err := c.svc.Join(ctx, groupbuy.JoinRequest{CampaignID: c.campaignID, TeamID: id, UserID: c.fresh("u"), SKU: sku})
			d := time.Since(t0)
			if err != nil {
				if errors.Is(err, groupbuy.ErrTeamFull) || errors.Is(err, groupbuy.ErrTeamClosed) {
					// Rejected: the next client to pick the slot opens
					// a replacement.
					sl.replace(i, id, "")
					continue
				}
				c.fail(err)
				continue
			}
			c.join = append(c.join, d)
			if r.Team.SeatsTaken >= r.Team.Capacity {
				sl.replace(i, id, "") // this join filled the team
			}
			if stop() {
				return
			}
			c.payFor(ctx, &r.Seat)
		}
	}
}

// runHot is one client of the hot scenario: Match (fullest first unless
// Options.Match says otherwise) and pay.
func (c *client) runHot(ctx context.Context, stop func() bool) {
	for !stop() {
		c.commands++
		t0 := time.Now()
		r, err := c.svc.Match(ctx, groupbuy.MatchRequest{
			CampaignID: c.campaignID, UserID: c.fresh("u"), SKU: sku, Strategy: c.match,
		})
		d := time.Since(t0)
		if err != nil {
			c.fail(err)
			continue
		}
		if r.Opened {
			c.open = append(c.open, d)
			c.teams = append(c.teams, r.Team.ID)
		} else {
			c.join = append(c.join, d)
		}
		if stop() {
			return
		}
		c.payFor(ctx, &r.Seat)
	}
}

// Run sets up a campaign on the target, runs the scenario and checks the
// result. ctx cancels the run early (the commands in flight complete).
func Run(ctx context.Context, t Target, o Options) (*Result, error) {
	switch o.Scenario {
	case ScenarioGroupbuy, ScenarioHot:
	default:
		return nil, fmt.Errorf("unknown scenario %q (groupbuy or hot; RunReferral runs referral)", o.Scenario)
	}
	if o.Clients <= 0 {
		return nil, fmt.Errorf("clients must be positive")
	}
	if o.Duration <= 0 {
		return nil, fmt.Errorf("duration must be positive")
	}
	switch o.Match {
	case "":
		o.Match = groupbuy.MatchFullest
	case groupbuy.MatchFullest, groupbuy.MatchOldest, groupbuy.MatchRandom:
	default:
		return nil, fmt.Errorf("unknown match strategy %q (fullest, oldest or random)", o.Match)
	}
	if o.TeamSize == 0 {
		o.TeamSize = 5
		if o.Scenario == ScenarioHot {
			o.TeamSize = 3
		}
	}
	switch {
	case o.Forming < 0:
		return nil, fmt.Errorf("forming teams %d: must not be negative", o.Forming)
	case o.Forming == 0:
		o.Forming = 2 * o.Clients
	}
	cs := &countingStore{Store: t.Store}
	svc, err := groupbuy.New(cs, groupbuy.Config{})
	if err != nil {
		return nil, err
	}
	run := token()
	res := &Result{Scenario: o.Scenario, Match: o.Match, Store: t.Name, Clients: o.Clients, TeamSize: o.TeamSize, Forming: o.Forming, Duration: o.Duration}
	bg := context.WithoutCancel(ctx) // commands in flight are never cut off

	if o.Calibrate && t.RoundTrips != nil {
		cal, err := calibrate(bg, svc, "bench-cal-"+run, o.TeamSize, t.RoundTrips)
		if err != nil {
			return nil, fmt.Errorf("calibration: %w", err)
		}
		res.Calibration = cal
	}

	campaignID := "bench-" + run
	if err := createCampaign(bg, svc, campaignID, o.TeamSize); err != nil {
		return nil, fmt.Errorf("create campaign: %w", err)
	}

	sl := &slots{ids: make([]string, o.Forming)}
	clients := make([]*client, o.Clients)
	expect := 4096
	for i := range clients {
		clients[i] = &client{
			svc: svc, campaignID: campaignID, match: o.Match, prefix: run + "-" + strconv.Itoa(i) + "-",
			rng:  rand.New(rand.NewPCG(rand.Uint64(), uint64(i))),
			open: make([]time.Duration, 0, expect), join: make([]time.Duration, 0, expect), pay: make([]time.Duration, 0, expect),
		}
	}
	rej0, none0 := cs.rejected.Load(), cs.noTeam.Load()
	var rt0, retries0 int64
	if t.RoundTrips != nil {
		rt0 = t.RoundTrips()
	}
	if t.Retries != nil {
		retries0 = t.Retries()
	}
	var counters0 []KindCount
	if t.Counters != nil {
		counters0, _ = t.Counters(bg)
	}
	cpu0 := cpuTime()
	start := time.Now()
	stop := stopper(ctx, start.Add(o.Duration))
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Go(func() {
			if o.Scenario == ScenarioHot {
				c.runHot(bg, stop)
			} else {
				c.runGroupbuy(bg, stop, sl)
			}
		})
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	res.ClientCPU = cpuTime() - cpu0
	if t.RoundTrips != nil {
		res.HasRoundTrips = true
		res.RoundTrips = t.RoundTrips() - rt0
	}
	if t.Retries != nil {
		res.HasRetries = true
		res.Retries = t.Retries() - retries0
	}
	res.RejectedJoins = cs.rejected.Load() - rej0
	res.MatchesWithoutTeam = cs.noTeam.Load() - none0
	if t.Counters != nil && counters0 != nil {
		if after, err := t.Counters(bg); err == nil && len(after) == len(counters0) {
			for i := range after {
				res.Server = append(res.Server, KindCount{after[i].Kind, after[i].Count - counters0[i].Count})
			}
		}
	}

	var open, join, pay, fill []time.Duration
	var teams []string
	for _, c := range clients {
		open = append(open, c.open...)
		join = append(join, c.join...)
		pay = append(pay, c.pay...)
		fill = append(fill, c.fill...)
		teams = append(teams, c.teams...)
		res.Commands += c.commands
		res.Filled += c.filled
		res.Late += c.late
		res.Errors += c.errors
		for _, m := range c.errSamples {
			if len(res.ErrorSamples) < 8 && !slices.Contains(res.ErrorSamples, m) {
				res.ErrorSamples = append(res.ErrorSamples, m)
			}
		}
	}
	res.Opens, res.Joins, res.Pays = int64(len(open)), int64(len(join)), int64(len(pay))
	res.Transactions = res.Opens + res.Joins + res.Pays
	res.Open, res.Join, res.Pay, res.Fill = summarize(open), summarize(join), summarize(pay), summarize(fill)
	all := make([]time.Duration, 0, len(open)+len(join)+len(pay))
	all = append(append(append(all, open...), join...), pay...)
	res.All = summarize(all)

	if t.Check != nil {
		res.Check, err = t.Check(bg)
	} else {
		res.Check, err = checkViaStore(bg, t.Store, teams)
	}
	if err != nil {
		return res, fmt.Errorf("final check: %w", err)
	}
	return res, nil
}

// cpuTime is the user and system CPU time of this process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// summarize sorts d and returns its exact nearest-rank percentiles.
func summarize(d []time.Duration) Latency {
	if len(d) == 0 {
		return Latency{}
	}
	slices.Sort(d)
	var sum time.Duration
	for _, x := range d {
		sum += x
	}
	return Latency{N: len(d), P50: rank(d, 0.50), P99: rank(d, 0.99), Max: d[len(d)-1], Mean: sum / time.Duration(len(d))}
}

// rank is the nearest-rank percentile p of sorted d.
func rank(d []time.Duration, p float64) time.Duration {
	i := int(float64(len(d))*p+0.999999999) - 1
	return d[max(0, min(i, len(d)-1))]
}

// checkViaStore checks the given teams through the Store API.
func checkViaStore(ctx context.Context, st groupbuy.Store, teams []string) (Check, error) {
	var ck Check
	for _, id := range teams {
		team, err := st.GetTeam(ctx, id)
		if err != nil {
			return ck, err
		}
		seats, err := st.TeamSeats(ctx, id)
		if err != nil {
			return ck, err
		}
		active, paid, rows := 0, 0, 0
		for i := range seats {
			if !seats[i].Virtual {
				rows++
			}
			if seats[i].Active() {
				active++
			}
			if seats[i].State == groupbuy.SeatPaid || seats[i].State == groupbuy.SeatConfirmed {
				paid++
			}
		}
		ck.Teams++
		ck.MaxActive = max(ck.MaxActive, active)
		if active > team.Capacity {
			ck.Overfilled++
		}
		if team.SeatsTaken != active {
			ck.Mismatched++
		}
		if team.SeatsPaid != paid {
			ck.PaidMismatched++
		}
		if team.State == groupbuy.TeamForming && paid >= team.Capacity {
			ck.FilledForming++
		}
		if team.SeatRows != rows {
			ck.RowsMismatched++
		}
		if rows > groupbuy.MaxSeatRows(team.Capacity) {
			ck.OverRowBound++
		}
	}
	return ck, nil
}

// calibrate runs each kind of command once with one client on a campaign of
// its own and returns the round trips each took.
func calibrate(ctx context.Context, svc *groupbuy.Service, campaignID string, teamSize int, rt func() int64) ([]KindCount, error) {
	if err := createCampaign(ctx, svc, campaignID, teamSize); err != nil {
		return nil, err
	}
	var out []KindCount
	measure := func(kind string, f func() error) error {
		before := rt()
		if err := f(); err != nil {
			return fmt.Errorf("%s: %w", kind, err)
		}
		out = append(out, KindCount{kind, rt() - before})
		return nil
	}
	user := 0
	u := func() string { user++; return "cal-u" + strconv.Itoa(user) }
	// Warm up: the Service caches the campaign on its first command.
	if _, err := svc.Open(ctx, groupbuy.OpenRequest{CampaignID: campaignID, UserID: u(), SKU: sku}); err != nil {
		return nil, err
	}
	var team groupbuy.Team
	var seats []groupbuy.Seat
	err := measure("open", func() error {
		r, err := svc.Open(ctx, groupbuy.OpenRequest{CampaignID: campaignID, UserID: u(), SKU: sku})
		team, seats = r.Team, []groupbuy.Seat{r.Seat}
		return err
	})
	if err != nil {
		return nil, err
	}
	for i := 1; i < teamSize; i++ {
		kind := "join"
		if i == teamSize-1 {
			kind = "join(fills)"
		} else if i > 1 {
			kind = ""
		}
		before := rt()
		r, err := svc.Join(ctx, groupbuy.JoinRequest{CampaignID: campaignID, TeamID: team.ID, UserID: u(), SKU: sku})
		if err != nil {
			return nil, fmt.Errorf("join: %w", err)
		}
		if kind != "" {
			out = append(out, KindCount{kind, rt() - before})
		}
		seats = append(seats, r.Seat)
	}
	before := rt()
	_, err = svc.Join(ctx, groupbuy.JoinRequest{CampaignID: campaignID, TeamID: team.ID, UserID: u(), SKU: sku})
	if !errors.Is(err, groupbuy.ErrTeamFull) {
		return nil, fmt.Errorf("join of a full team: want ErrTeamFull, got %v", err)
	}
	out = append(out, KindCount{"join(rejected)", rt() - before})
	for i := range seats {
		kind := "pay"
		if i == len(seats)-1 {
			kind = "pay(fills)"
		} else if i > 0 {
			kind = ""
		}
		before := rt()
		req := groupbuy.PaymentRequest{TeamID: team.ID, SeatID: seats[i].ID, PaymentRef: campaignID + "-pay-" + strconv.Itoa(i), Amount: seats[i].Amount, Currency: seats[i].Currency}
		r, err := svc.ConfirmPayment(ctx, req)
		if err != nil {
			return nil, fmt.Errorf("pay: %w", err)
		}
		if r.Late != nil || r.Filled != (i == len(seats)-1) {
			return nil, fmt.Errorf("pay %d: late=%v filled=%v", i, r.Late, r.Filled)
		}
		if kind != "" {
			out = append(out, KindCount{kind, rt() - before})
		}
		if i == 0 {
			// A repeated payment callback returns the first result.
			if err := measure("pay(replay)", func() error { _, err := svc.ConfirmPayment(ctx, req); return err }); err != nil {
				return nil, err
			}
		}
	}
	// The warm-up team has room: Match joins it; then, with every team
	// full, Match opens one.
	if err := measure("match(joins)", func() error {
		r, err := svc.Match(ctx, groupbuy.MatchRequest{CampaignID: campaignID, UserID: u(), SKU: sku})
		if err == nil && r.Opened {
			err = errors.New("opened a team instead of joining")
		}
		return err
	}); err != nil {
		return nil, err
	}
	cal2 := campaignID + "-b"
	if err := createCampaign(ctx, svc, cal2, teamSize); err != nil {
		return nil, err
	}
	if _, err := svc.Join(ctx, groupbuy.JoinRequest{CampaignID: cal2, TeamID: "no-such-team", UserID: u(), SKU: sku}); !errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("warm-up join: want not found, got %v", err)
	}
	if err := measure("match(opens)", func() error {
		r, err := svc.Match(ctx, groupbuy.MatchRequest{CampaignID: cal2, UserID: u(), SKU: sku})
		if err == nil && !r.Opened {
			err = errors.New("joined instead of opening")
		}
		return err
	}); err != nil {
		return nil, err
	}
	return out, nil
}

// stopper returns a check, safe from any goroutine, that reports whether a
// run should stop: its deadline passed or ctx ended. Once true it stays true.
func stopper(ctx context.Context, deadline time.Time) func() bool {
	var stopped atomic.Bool
	return func() bool {
		if stopped.Load() {
			return true
		}
		if ctx.Err() != nil || !time.Now().Before(deadline) {
			stopped.Store(true)
			return true
		}
		return false
	}
}
