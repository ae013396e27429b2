package sqlstore_test

import (
	"context"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/socialcommerce/sdk/referral"
	"github.com/socialcommerce/sdk/storage/sqlstore"
)

// BenchmarkAttributePostgres: Attribute of a fresh order by a random buyer
// in a random recursive tree (user i bound to a random j < i) of
// SCSDK_REF_BENCH_USERS users (default 100,000), seeded with
// generate_series, vacuumed and checkpointed. Reports p50/p99/p99.9 and the
// slowest latency and round trips per Attribute.
func BenchmarkAttributePostgres(b *testing.B) {
	db := openPostgres(b)
	users := 100_000
	if v := os.Getenv("SCSDK_REF_BENCH_USERS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			b.Fatal(err)
		}
		users = n
	}
	ctx := context.Background()
	p := randomPrefix()
	s, err := sqlstore.New(db, sqlstore.Postgres, sqlstore.WithTablePrefix(p))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { dropTables(b, db, sqlstore.Postgres, p) })
	if err := s.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	svc, err := referral.New(s, referral.Config{Now: func() time.Time { return now }})
	if err != nil {
		b.Fatal(err)
	}
	_, err = svc.CreateProgramme(ctx, referral.Programme{
		ID: "p", Policy: referral.PolicyChina, Levels: 2, LevelRates: []float64{0.1, 0.05}, BindMode: referral.BindFirstTouch,
		SelfPurchase: referral.SelfPurchaseReferrer, Frozen: referral.FrozenSkipLevel, Approval: referral.ApproveAuto,
	})
	if err != nil {
		b.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO ` + p + `ref_nodes (programme_id, user_id, referrer_id, source, code, bound_at, actor, reason, version)
			SELECT 'p', 'u' || i, CASE WHEN i = 0 THEN NULL ELSE 'u' || floor(random() * i)::int END, 'link', '', now(), '', '', 1
			FROM generate_series(0, $1 - 1) AS i`,
		`INSERT INTO ` + p + `ref_distributors (programme_id, user_id, state, applied_at, updated_at, actor, reason, version)
			SELECT 'p', 'u' || i, 'active', now(), now(), 'system', '', 1 FROM generate_series(0, $1 - 1) AS i`,
	} {
		if _, err := db.ExecContext(ctx, q, users); err != nil {
			b.Fatal(err)
		}
	}
	// What autovacuum would have done to a tree that has been in place a
	// while (hint bits, visibility map for index-only probes, statistics),
	// and the bulk load's dirty pages written out, so that its checkpoint
	// does not land in the measurement. Not every role may CHECKPOINT.
	if _, err := db.ExecContext(ctx, `VACUUM (ANALYZE) `+p+`ref_nodes, `+p+`ref_distributors`); err != nil {
		b.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `CHECKPOINT`); err != nil {
		b.Logf("checkpoint after seeding: %v", err)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	var lat []time.Duration
	trips := s.RoundTrips()
	i := 0
	for b.Loop() {
		i++
		t0 := time.Now()
		if _, err := svc.Attribute(ctx, "p", "o"+strconv.Itoa(i)+"-"+strconv.Itoa(b.N), "u"+strconv.Itoa(rng.IntN(users)), now); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(lat[len(lat)*999/1000].Microseconds()), "p999-µs")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds()), "max-µs")
	b.ReportMetric(float64(s.RoundTrips()-trips)/float64(i), "trips/op")
}
