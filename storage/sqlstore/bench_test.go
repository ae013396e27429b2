package sqlstore_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/socialcommerce/sdk/groupbuy"
)

// BenchmarkTeamCycle measures one team's life through the store, serially:
// open a team of 3, two joins, three payments (the last completes the
// team), joins and payments with idempotency keys as the Service sends
// them. It reports statements sent per command (open, join and pay each
// count as one command) and time per command.
func BenchmarkTeamCycle(b *testing.B) {
	for _, c := range dbs {
		b.Run(c.name, func(b *testing.B) {
			s := newStore(b, c.open(b), c.d)
			f := newFixture(b, s, func(c *groupbuy.Campaign) { c.TeamSize = 3 })
			ctx := b.Context()
			start, cmds, i := s.RoundTrips(), 0, 0
			for b.Loop() {
				i++
				team, leader := f.open(fmt.Sprintf("lead-%d", i))
				seats := []groupbuy.Seat{leader}
				for j := range 2 {
					w := f.joinWrite(team.ID, fmt.Sprintf("u-%d-%d", i, j))
					w.Idem = &groupbuy.IdempotencyRecord{Scope: "groupbuy.join", Key: w.Seat.ID, Fingerprint: "fp", Result: []byte(`{}`), CreatedAt: t0}
					_, st, err := s.JoinTeam(ctx, w)
					require.NoError(b, err)
					seats = append(seats, st)
				}
				for _, st := range seats {
					_, err := s.PaySeat(ctx, f.payWrite(st, "pay-"+st.ID))
					require.NoError(b, err)
				}
				cmds += 6
			}
			b.ReportMetric(float64(s.RoundTrips()-start)/float64(cmds), "stmts/cmd")
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(cmds), "µs/cmd")
		})
	}
}
