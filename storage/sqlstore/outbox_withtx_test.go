package sqlstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialcommerce/sdk/groupbuy"
	"github.com/socialcommerce/sdk/storage"
	"github.com/socialcommerce/sdk/storage/sqlstore"
)

// TestClaimWithTxLetsWritersAppend: a Claim under WithTx, in a host
// transaction at MySQL's default isolation (REPEATABLE READ), that reaches
// the end of the outbox leaves writers free to append events while the
// host's transaction stays open. Its locking read took next-key locks up
// to the index's end (the Store's own Claim runs READ COMMITTED to avoid
// them), so every write with an event on another connection waited for
// the host to end, or for innodb_lock_wait_timeout.
func TestClaimWithTxLetsWritersAppend(t *testing.T) {
	db, d := openMySQL(t), sqlstore.MySQL
	s := newStore(t, db, d)
	f := newFixture(t, s)
	f.open("alice")
	f.open("bob")
	tx, err := db.BeginTx(t.Context(), nil)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback() }()
	got, err := s.WithTx(tx).Claim(t.Context(), 10, time.Minute)
	require.NoError(t, err)
	require.Len(t, got, 2, "the host's Claim leased every event")

	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	rec := &groupbuy.IdempotencyRecord{Scope: "review.claimtx", Key: "k1", Fingerprint: "fp", Result: []byte(`{}`), CreatedAt: t0}
	start := time.Now()
	err = s.RecordOutcome(ctx, rec, []storage.Event{f.event("review.claimtx", "k1")})
	assert.NoError(t, err, "a write appending an event while the host's Claim is open (waited %v)", time.Since(start).Round(time.Millisecond))

	// The host's claim holds: another claimer gets only the new event.
	other, err := s.Claim(t.Context(), 10, time.Minute)
	require.NoError(t, err)
	assert.Len(t, other, 1, "the events the host leased are skipped")
	require.NoError(t, tx.Commit())
	evs, err := s.Claim(t.Context(), 10, time.Minute)
	require.NoError(t, err)
	assert.Empty(t, evs, "every event is leased")
}

// TestAckWithTxLetsWritersAppend: an Ack under WithTx, in a host
// transaction at REPEATABLE READ on MySQL, of an ID that is gone (a
// retried Ack, as the Outbox contract allows) leaves writers free to
// append events. Its DELETE found no row and locked the gap of the ID
// index where the ID would be, here its end, so every write appending an
// event with a later ID (UUIDv7 IDs are) waited for the host.
func TestAckWithTxLetsWritersAppend(t *testing.T) {
	db, d := openMySQL(t), sqlstore.MySQL
	s := newStore(t, db, d)
	f := newFixture(t, s)
	f.open("alice")
	f.open("bob")
	evs, err := s.Claim(t.Context(), 10, time.Minute)
	require.NoError(t, err)
	require.Len(t, evs, 2)
	require.NoError(t, s.Ack(t.Context(), []string{evs[1].ID}))

	tx, err := db.BeginTx(t.Context(), nil)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback() }()
	// evs[1] is acked already: the retried Ack; evs[0] is acked now.
	require.NoError(t, s.WithTx(tx).Ack(t.Context(), []string{evs[1].ID, evs[0].ID, "ev-9999"}))

	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	rec := &groupbuy.IdempotencyRecord{Scope: "review.acktx", Key: "k1", Fingerprint: "fp", Result: []byte(`{}`), CreatedAt: t0}
	start := time.Now()
	err = s.RecordOutcome(ctx, rec, []storage.Event{f.event("review.acktx", "k1")})
	assert.NoError(t, err, "a write appending an event while the host's Ack is open (waited %v)", time.Since(start).Round(time.Millisecond))
	require.NoError(t, tx.Commit())
	got, err := s.Claim(t.Context(), 10, time.Minute)
	require.NoError(t, err)
	if assert.Len(t, got, 1, "the host's Ack deleted evs[0]; only the new event is left") {
		assert.NotEqual(t, evs[0].ID, got[0].ID)
	}
}
