package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/socialcommerce/sdk/referral"
)

// ScenarioReferral: referral.Service.Attribute of fresh orders by random
// buyers in a seeded random tree (user i bound to a random j < i, every
// user an active distributor), with about 1% Freeze/Unfreeze of a random
// distributor.
const ScenarioReferral = "referral"

// Default and largest tree sizes of the referral scenario.
const (
	refDefaultUsers    = 1_000_000
	refDefaultMemUsers = 100_000 // the memory store seeds through the Service
	refMaxMemUsers     = 200_000
	refLevels          = 2 // PolicyChina, 2 levels: no snapshot may pay more
	refSample          = 100
)

// RefOptions describe one referral run.
type RefOptions struct {
	// Users is the size of the tree; 0 means 1,000,000 on SQL and 100,000
	// on the memory store (which refuses more than 200,000).
	Users    int
	Clients  int
	Duration time.Duration
}

// RefResult is what a referral run measured.
type RefResult struct {
	Store    string
	Users    int
	Clients  int
	Duration time.Duration // requested
	Elapsed  time.Duration
	Seed     time.Duration // seeding the tree and the distributors
	// ClientCPU is this process's CPU time during the run.
	ClientCPU time.Duration

	Attributes   int64 // successful Attribute calls
	Freezes      int64 // successful Freeze (the 1% operator operations)
	Unfreezes    int64
	Errors       int64
	ErrorSamples []string

	Attribute Latency

	HasRoundTrips bool
	// CalTrips is the round trips of one Attribute sent by a single client
	// before the run; RunTrips all round trips during the run (Attribute and
	// Freeze/Unfreeze).
	CalTrips float64
	RunTrips int64

	// Inline counts returned snapshots paying more than refLevels levels;
	// Sampled snapshots read back through the store afterwards, of which
	// DepthViolations pay more than refLevels levels; MaxPaid is the most
	// paid levels seen in a read-back snapshot.
	Inline          int64
	Sampled         int
	DepthViolations int
	MaxPaid         int
}

// OpsPerSec is successful Attribute calls per second of elapsed time.
func (r *RefResult) OpsPerSec() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Attributes) / r.Elapsed.Seconds()
}

// paidLevels counts a snapshot's paid levels and reports whether it breaks
// the 2-level limit (more than 2 paid, or a level number above 2).
func paidLevels(a *referral.Attribution) (int, bool) {
	n, bad := 0, false
	for _, l := range a.Result {
		if l.Level > 0 {
			n++
			bad = bad || l.Level > refLevels
		}
	}
	return n, bad || n > refLevels
}

func refUser(i int) string { return "u" + strconv.Itoa(i) }

// seedViaService builds the tree through the Service (memory store): every
// user applies (auto approval: active) and user i > 0 binds to a random
// j < i.
func seedViaService(ctx context.Context, svc *referral.Service, programmeID string, users int) error {
	rng := rand.New(rand.NewPCG(rand.Uint64(), 1))
	for i := range users {
		if _, err := svc.Apply(ctx, programmeID, refUser(i)); err != nil {
			return fmt.Errorf("apply %d: %w", i, err)
		}
		if i == 0 {
			continue
		}
		if _, err := svc.Bind(ctx, referral.BindRequest{
			ProgrammeID: programmeID, UserID: refUser(i), ReferrerID: refUser(rng.IntN(i)), Source: referral.SourceLink,
		}); err != nil {
			return fmt.Errorf("bind %d: %w", i, err)
		}
	}
	return nil
}

// refClient is one load generator of the referral scenario.
type refClient struct {
	svc         *referral.Service
	programmeID string
	users       int
	prefix      string
	rng         *rand.Rand
	n           int

	lat                                []time.Duration
	freezes, unfreezes, errors, inline int64
	errSamples                         []string
	seen                               int
	sample                             []string // reservoir of order refs
}

func (c *refClient) fail(err error) {
	c.errors++
	if msg := err.Error(); len(c.errSamples) < 5 && !slices.Contains(c.errSamples, msg) {
		c.errSamples = append(c.errSamples, msg)
	}
}

func (c *refClient) run(ctx context.Context, stop func() bool) {
	for !stop() {
		if c.rng.IntN(100) == 0 {
			c.toggle(ctx)
			continue
		}
		c.n++
		ref := c.prefix + strconv.Itoa(c.n)
		t0 := time.Now()
		a, err := c.svc.Attribute(ctx, c.programmeID, ref, refUser(c.rng.IntN(c.users)), t0.UTC())
		d := time.Since(t0)
		if err != nil {
			c.fail(err)
			continue
		}
		c.lat = append(c.lat, d)
		if _, bad := paidLevels(&a); bad {
			c.inline++
		}
		c.seen++
		if len(c.sample) < refSample {
			c.sample = append(c.sample, ref)
		} else if j := c.rng.IntN(c.seen); j < refSample {
			c.sample[j] = ref
		}
	}
}

// toggle freezes a random distributor, or unfreezes it when it is frozen.
func (c *refClient) toggle(ctx context.Context) {
	u := refUser(c.rng.IntN(c.users))
	_, err := c.svc.Freeze(ctx, c.programmeID, u, "bench", "load test")
	var te *referral.TransitionError
	switch {
	case err == nil:
		c.freezes++
	case errors.As(err, &te):
		if _, err = c.svc.Unfreeze(ctx, c.programmeID, u, "bench", "load test"); err == nil {
			c.unfreezes++
		} else if !errors.As(err, &te) { // lost a race with another client: harmless
			c.fail(err)
		}
	default:
		c.fail(err)
	}
}

// RunReferral seeds a tree on the target, runs the referral scenario and
// reads a sample of the snapshots back.
func RunReferral(ctx context.Context, t Target, o RefOptions) (*RefResult, error) {
	if o.Clients <= 0 {
		return nil, fmt.Errorf("clients must be positive")
	}
	rs, ok := t.Store.(referral.Store)
	if !ok {
		return nil, fmt.Errorf("store %s does not implement referral.Store", t.Name)
	}
	memory := t.SeedReferral == nil
	if memory && t.Name != "memory" {
		return nil, fmt.Errorf("-scenario referral supports PostgreSQL and the memory store only, not %s (no bulk seeding)", t.Name)
	}
	if o.Users == 0 {
		o.Users = refDefaultUsers
		if memory {
			o.Users = refDefaultMemUsers
		}
	}
	if o.Users < 2 {
		return nil, fmt.Errorf("users must be at least 2")
	}
	if memory && o.Users > refMaxMemUsers {
		return nil, fmt.Errorf("-users %d: the memory store seeds through the Service; at most %d", o.Users, refMaxMemUsers)
	}
	svc, err := referral.New(rs, referral.Config{})
	if err != nil {
		return nil, err
	}
	bg := context.WithoutCancel(ctx)
	run := token()
	pid := "bench-ref-" + run
	res := &RefResult{Store: t.Name, Users: o.Users, Clients: o.Clients, Duration: o.Duration}

	t0 := time.Now()
	if _, err := svc.CreateProgramme(bg, referral.Programme{
		ID: pid, Policy: referral.PolicyChina, Levels: refLevels, LevelRates: []float64{0.1, 0.05}, BindMode: referral.BindFirstTouch,
		SelfPurchase: referral.SelfPurchaseReferrer, Frozen: referral.FrozenSkipLevel, Approval: referral.ApproveAuto,
	}); err != nil {
		return nil, fmt.Errorf("create programme: %w", err)
	}
	if memory {
		err = seedViaService(bg, svc, pid, o.Users)
	} else {
		err = t.SeedReferral(bg, pid, o.Users)
	}
	if err != nil {
		return nil, fmt.Errorf("seed: %w", err)
	}
	res.Seed = time.Since(t0)

	if t.RoundTrips != nil {
		// Warm up (the Service caches the programme), then measure.
		const n = 20
		if _, err := svc.Attribute(bg, pid, run+"-cal-0", refUser(1), time.Now().UTC()); err != nil {
			return nil, fmt.Errorf("calibration: %w", err)
		}
		before := t.RoundTrips()
		for i := 1; i <= n; i++ {
			if _, err := svc.Attribute(bg, pid, run+"-cal-"+strconv.Itoa(i), refUser(rand.IntN(o.Users)), time.Now().UTC()); err != nil {
				return nil, fmt.Errorf("calibration: %w", err)
			}
		}
		res.HasRoundTrips = true
		res.CalTrips = float64(t.RoundTrips()-before) / n
	}

	clients := make([]*refClient, o.Clients)
	for i := range clients {
		clients[i] = &refClient{
			svc: svc, programmeID: pid, users: o.Users, prefix: run + "-" + strconv.Itoa(i) + "-",
			rng: rand.New(rand.NewPCG(rand.Uint64(), uint64(i))), lat: make([]time.Duration, 0, 4096),
		}
	}
	var rt0 int64
	if t.RoundTrips != nil {
		rt0 = t.RoundTrips()
	}
	cpu0 := cpuTime()
	start := time.Now()
	stop := stopper(ctx, start.Add(o.Duration))
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Go(func() { c.run(bg, stop) })
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	res.ClientCPU = cpuTime() - cpu0
	if t.RoundTrips != nil {
		res.RunTrips = t.RoundTrips() - rt0
	}

	var lat []time.Duration
	var sample []string
	for _, c := range clients {
		lat = append(lat, c.lat...)
		sample = append(sample, c.sample...)
		res.Freezes += c.freezes
		res.Unfreezes += c.unfreezes
		res.Errors += c.errors
		res.Inline += c.inline
		for _, m := range c.errSamples {
			if len(res.ErrorSamples) < 8 && !slices.Contains(res.ErrorSamples, m) {
				res.ErrorSamples = append(res.ErrorSamples, m)
			}
		}
	}
	res.Attributes = int64(len(lat))
	res.Attribute = summarize(lat)

	rand.Shuffle(len(sample), func(i, j int) { sample[i], sample[j] = sample[j], sample[i] })
	for _, ref := range sample[:min(refSample, len(sample))] {
		a, err := rs.GetAttribution(bg, pid, ref)
		if err != nil {
			return res, fmt.Errorf("final check: read attribution %s: %w", ref, err)
		}
		n, bad := paidLevels(&a)
		res.Sampled++
		res.MaxPaid = max(res.MaxPaid, n)
		if bad {
			res.DepthViolations++
		}
	}
	return res, nil
}

func reportReferral(w io.Writer, r *RefResult) {
	fmt.Fprintf(w, "scenario=referral store=%s users=%d clients=%d duration=%s elapsed=%.2fs\n",
		r.Store, r.Users, r.Clients, r.Duration, r.Elapsed.Seconds())
	fmt.Fprintf(w, "seed: programme + %d users (tree + active distributors; on PostgreSQL then VACUUM ANALYZE, CHECKPOINT) in %.2fs\n",
		r.Users, r.Seed.Seconds())
	fmt.Fprintf(w, "attributes=%d freezes=%d unfreezes=%d errors=%d attributes/s=%.0f\n",
		r.Attributes, r.Freezes, r.Unfreezes, r.Errors, r.OpsPerSec())
	for _, m := range r.ErrorSamples {
		fmt.Fprintf(w, "  error: %s\n", m)
	}
	fmt.Fprintf(w, "latency ms: attribute p50=%s p99=%s max=%s mean=%s\n",
		ms(r.Attribute.P50), ms(r.Attribute.P99), ms(r.Attribute.Max), ms(r.Attribute.Mean))
	if r.Attributes > 0 {
		fmt.Fprintf(w, "client CPU=%.2fs (%.2f cores, %.0f µs per attribute)\n", r.ClientCPU.Seconds(),
			r.ClientCPU.Seconds()/r.Elapsed.Seconds(), float64(r.ClientCPU.Microseconds())/float64(r.Attributes))
	}
	if r.HasRoundTrips {
		ops := r.Attributes + r.Freezes + r.Unfreezes
		per := 0.0
		if ops > 0 {
			per = float64(r.RunTrips) / float64(ops)
		}
		fmt.Fprintf(w, "round trips per attribute, 1 client: %.2f; during the run: %d (%.2f per operation)\n", r.CalTrips, r.RunTrips, per)
	} else {
		fmt.Fprintln(w, "round trips=n/a (the store does not count them)")
	}
	fmt.Fprintf(w, "check: returned snapshots over %d paid levels=%d; read back %d: max paid levels=%d violations=%d\n",
		refLevels, r.Inline, r.Sampled, r.MaxPaid, r.DepthViolations)
	fmt.Fprintf(w, "referral ops/s=%.0f p99_ms=%s depth_violations=%d\n", r.OpsPerSec(), ms(r.Attribute.P99), r.DepthViolations)
}
