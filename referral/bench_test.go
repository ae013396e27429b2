package referral_test

import (
	"context"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/socialcommerce/sdk/referral"
	"github.com/socialcommerce/sdk/storage/memory"
)

// seedTree builds a random recursive tree of n users in programme "p"
// (user i bound to a uniformly random j < i, so depth grows like ln n),
// every user an active distributor.
func seedTree(b *testing.B, svc *referral.Service, n int) {
	ctx := context.Background()
	_, err := svc.CreateProgramme(ctx, referral.Programme{
		ID: "p", Policy: referral.PolicyChina, Levels: 2, LevelRates: []float64{0.1, 0.05}, BindMode: referral.BindFirstTouch,
		SelfPurchase: referral.SelfPurchaseReferrer, Frozen: referral.FrozenSkipLevel, Approval: referral.ApproveAuto,
	})
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range n {
		u := "u" + strconv.Itoa(i)
		if _, err := svc.Apply(ctx, "p", u); err != nil {
			b.Fatal(err)
		}
		if i > 0 {
			r := "u" + strconv.Itoa(rng.IntN(i))
			if _, err := svc.Bind(ctx, referral.BindRequest{ProgrammeID: "p", UserID: u, ReferrerID: r, Source: referral.SourceLink}); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkAttributeMemory: Attribute of a fresh order by a random buyer
// in a 100,000-user tree on the memory store (chain read, decision,
// snapshot insert and its event).
func BenchmarkAttributeMemory(b *testing.B) {
	const users = 100_000
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	store := memory.New(memory.WithClock(func() time.Time { return now }))
	n := 0
	svc, err := referral.New(store, referral.Config{Now: func() time.Time { return now }, NewID: func() string { n++; return strconv.Itoa(n) }})
	if err != nil {
		b.Fatal(err)
	}
	seedTree(b, svc, users)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(3, 4))
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		i++
		if _, err := svc.Attribute(ctx, "p", "o"+strconv.Itoa(i), "u"+strconv.Itoa(rng.IntN(users)), now); err != nil {
			b.Fatal(err)
		}
		if i%4096 == 0 {
			b.StopTimer()
			evs, _ := store.Claim(ctx, 10000, time.Hour) // keep the outbox small
			ids := make([]string, len(evs))
			for j := range evs {
				ids[j] = evs[j].ID
			}
			_ = store.Ack(ctx, ids)
			b.StartTimer()
		}
	}
}
