package sqlstore_test

import (
	"database/sql"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/socialcommerce/sdk/groupbuy"
	"github.com/socialcommerce/sdk/storage/sqlstore"
)

// BenchmarkTeamCycle measures one team's life through the store, serially:
// open a team of 3, two joins, three payments (the last completes the
// team), joins and payments with idempotency keys as the Service sends
// them. It reports statements sent per command (open, join and pay each
// count as one command) and time per command.
func BenchmarkTeamCycle(b *testing.B) {
	for _, c := range dbs {
		b.Run(c.name, func(b *testing.B) { teamCycle(b, c.open(b), c.d, false) })
	}
}

// BenchmarkTeamCycleWithTx is BenchmarkTeamCycle with every command in a
// transaction of the host's own (BEGIN, the command through WithTx,
// COMMIT), as a host that keeps its order row and the seat together.
func BenchmarkTeamCycleWithTx(b *testing.B) {
	for _, c := range dbs {
		b.Run(c.name, func(b *testing.B) { teamCycle(b, c.open(b), c.d, true) })
	}
}

func teamCycle(b *testing.B, db *sql.DB, d sqlstore.Dialect, hostTx bool) {
	s := newStore(b, db, d)
	f := newFixture(b, s, func(c *groupbuy.Campaign) { c.TeamSize = 3 })
	ctx := b.Context()
	// do runs one command on f.s: the Store itself, or the Store bound to
	// a host transaction committed after the command.
	do := func(cmd func()) {
		if !hostTx {
			cmd()
			return
		}
		tx, err := db.BeginTx(ctx, nil)
		require.NoError(b, err)
		f.s = s.WithTx(tx)
		cmd()
		f.s = s
		require.NoError(b, tx.Commit())
	}
	start, cmds, i := s.RoundTrips(), 0, 0
	for b.Loop() {
		i++
		var (
			team  groupbuy.Team
			seats = make([]groupbuy.Seat, 1, 3)
		)
		do(func() { team, seats[0] = f.open(fmt.Sprintf("lead-%d", i)) })
		for j := range 2 {
			do(func() {
				w := f.joinWrite(team.ID, fmt.Sprintf("u-%d-%d", i, j))
				w.Idem = &groupbuy.IdempotencyRecord{Scope: "groupbuy.join", Key: w.Seat.ID, Fingerprint: "fp", Result: []byte(`{}`), CreatedAt: t0}
				_, st, err := f.s.JoinTeam(ctx, w)
				require.NoError(b, err)
				seats = append(seats, st)
			})
		}
		for _, st := range seats {
			do(func() {
				_, err := f.s.PaySeat(ctx, f.payWrite(st, "pay-"+st.ID))
				require.NoError(b, err)
			})
		}
		cmds += 6
	}
	b.ReportMetric(float64(s.RoundTrips()-start)/float64(cmds), "stmts/cmd")
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(cmds), "µs/cmd")
}
