package sqlstore_test

import (
	"database/sql"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialcommerce/sdk/groupbuy"
	"github.com/socialcommerce/sdk/storage/sqlstore"
)

// TestMatchInOneStatement: through the Service, a keyed Match costs one
// round trip on PostgreSQL whether it joins a team or, when none has room,
// opens one; a replay of either returns the first result. On every
// database the outcomes are the same.
func TestMatchInOneStatement(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sql.DB, d sqlstore.Dialect) {
		s := newStore(t, db, d)
		f := newFixture(t, s, func(c *groupbuy.Campaign) { c.TeamSize = 2 })
		svc, err := groupbuy.New(s, groupbuy.Config{})
		require.NoError(t, err)
		ctx := t.Context()
		match := func(user, key string) (groupbuy.SeatResult, int64) {
			t.Helper()
			n := s.RoundTrips()
			r, err := svc.Match(ctx, groupbuy.MatchRequest{CampaignID: f.c.ID, UserID: user, SKU: "sku", IdempotencyKey: key})
			require.NoError(t, err, "%s's match", user)
			return r, s.RoundTrips() - n
		}
		// The first match reads the campaign into the Service's cache.
		first, _ := match("alice", "")
		require.True(t, first.Opened, "no team: alice opens one")

		joined, joinTrips := match("bob", "k-bob")
		assert.False(t, joined.Opened)
		assert.Equal(t, first.Team.ID, joined.Team.ID, "bob joins alice's team")
		assert.Equal(t, 2, joined.Team.SeatsTaken)

		opened, openTrips := match("carol", "k-carol")
		require.True(t, opened.Opened, "alice's team is full: carol opens one")
		assert.NotEqual(t, first.Team.ID, opened.Team.ID)
		assert.True(t, opened.Seat.Leader)
		assert.Equal(t, "carol", opened.Team.LeaderID)
		assert.Equal(t, groupbuy.SeatReserved, opened.Seat.State)
		stored, err := s.GetTeam(ctx, opened.Team.ID)
		require.NoError(t, err)
		assert.Equal(t, opened.Team.LeaderID, stored.LeaderID)
		assert.Equal(t, 1, stored.SeatsTaken)
		assert.WithinDuration(t, opened.Team.ExpiresAt, stored.ExpiresAt, time.Microsecond, "stored to the microsecond")
		if d == sqlstore.Postgres {
			assert.Equal(t, int64(1), joinTrips, "a match that joins")
			assert.Equal(t, int64(1), openTrips, "a match that opens")
		}
		t.Logf("%s round trips: match that joins %d, match that opens %d", d, joinTrips, openTrips)

		// Replays return the first results, also once the teams changed.
		again, _ := match("carol", "k-carol")
		assert.True(t, again.Opened, "the replay of an open says it opened")
		assert.Equal(t, opened.Team.ID, again.Team.ID)
		assert.Equal(t, opened.Seat.ID, again.Seat.ID)
		again, _ = match("bob", "k-bob")
		assert.False(t, again.Opened)
		assert.Equal(t, joined.Seat.ID, again.Seat.ID)
		_, err = svc.Match(ctx, groupbuy.MatchRequest{CampaignID: f.c.ID, UserID: "dave", SKU: "sku", IdempotencyKey: "k-carol"})
		assert.ErrorIs(t, err, groupbuy.ErrIdempotencyKeyReused, "the key with another request")
		seats, err := s.TeamSeats(ctx, opened.Team.ID)
		require.NoError(t, err)
		assert.Len(t, seats, 1, "no seat was added by the replays")
	})
}
