package sqlstore_test

import (
	"database/sql"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/socialcommerce/sdk/groupbuy"
	"github.com/socialcommerce/sdk/storage"
)

// TestWithTxStaleCampaignStatusIsRetryable: a Service on a Store bound to
// a REPEATABLE READ host transaction reads the campaign in the
// transaction's snapshot; when another command changed its status after
// that snapshot, the Store's guarded UPDATE (WHERE status = from) matches
// no row. PostgreSQL reports a serialization failure (retryable); MySQL
// reported a plain ErrConflict, the Service re-read the same snapshot and
// lost again until its rereads ran out: only a rerun of the host's
// transaction can see the change, as for the close and refund steps of
// TestWithTxStaleSnapshotConflictIsRetryable.
func TestWithTxStaleCampaignStatusIsRetryable(t *testing.T) {
	for _, c := range dbs[:2] {
		t.Run(c.name, func(t *testing.T) {
			db := c.open(t)
			w := newRaceWorld(t, db, c.d, raceDirect, nil)

			tx, err := db.BeginTx(w.ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead})
			require.NoError(t, err)
			defer func() { _ = tx.Rollback() }()
			svc, err := groupbuy.New(w.s.WithTx(tx), w.cfg(w.clk.Now))
			require.NoError(t, err)
			_, err = svc.Campaign(w.ctx, w.camp.ID) // the snapshot: active
			require.NoError(t, err)

			_, err = w.setup.SetCampaignStatus(w.ctx, w.camp.ID, groupbuy.CampaignPaused)
			require.NoError(t, err)

			_, err = svc.SetCampaignStatus(w.ctx, w.camp.ID, groupbuy.CampaignEnded)
			require.Error(t, err)
			require.True(t, storage.IsRetryable(err), "a status change on a stale snapshot: %v", err)
			require.NoError(t, tx.Rollback())

			// The host's rerun sees the pause and ends the campaign.
			tx2, err := db.BeginTx(w.ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead})
			require.NoError(t, err)
			defer func() { _ = tx2.Rollback() }()
			svc2, err := groupbuy.New(w.s.WithTx(tx2), w.cfg(w.clk.Now))
			require.NoError(t, err)
			got, err := svc2.SetCampaignStatus(w.ctx, w.camp.ID, groupbuy.CampaignEnded)
			require.NoError(t, err, "the rerun")
			require.Equal(t, groupbuy.CampaignEnded, got.Status)
			require.NoError(t, tx2.Commit())
		})
	}
}
