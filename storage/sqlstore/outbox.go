package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"slices"
	"time"

	"github.com/socialcommerce/sdk/internal/microtime"
	"github.com/socialcommerce/sdk/storage"
)

const outboxCols = `seq, id, topic, event_key, payload, created_at, attempts`

// Claim implements storage.Outbox: it leases up to limit events that are not
// leased (or whose lease ran out by the Store's clock), oldest first, and
// counts the attempt. Concurrent claimers never get the same event:
// PostgreSQL and MySQL skip rows that another claimer has locked (FOR
// UPDATE SKIP LOCKED), SQLite claims under its write lock. The lease ends
// at now + lease rounded up to a whole microsecond, the precision of the
// column: truncated, it would end up to 999 ns early (a lease shorter than
// a microsecond at once), and a second claimer would get the event while
// the first one's lease holds.
func (s *Store) Claim(ctx context.Context, limit int, lease time.Duration) ([]storage.Event, error) {
	if err := checkCtx(ctx); err != nil {
		return nil, err
	}
	if err := storage.ValidateClaim(limit, lease); err != nil {
		return nil, err
	}
	now := s.now()
	until := microtime.Ceil(now.Add(lease))
	var out []claimed
	var err error
	switch s.d {
	case Postgres:
		q := `UPDATE {p}outbox SET lease_until = ?, attempts = attempts + 1
			WHERE seq IN (SELECT seq FROM {p}outbox WHERE lease_until IS NULL OR lease_until <= ?
				ORDER BY seq LIMIT ? FOR UPDATE SKIP LOCKED)
			RETURNING ` + outboxCols
		err = s.inStmt(ctx, func(r run) error {
			out, err = s.scanClaimed(r.query(ctx, q, s.t(until), s.t(now), limit))
			return err
		})
	case SQLite:
		err = s.inTx(ctx, func(r run) error {
			out, err = s.scanClaimed(r.query(ctx, `UPDATE {p}outbox SET lease_until = ?, attempts = attempts + 1
				WHERE seq IN (SELECT seq FROM {p}outbox WHERE lease_until IS NULL OR lease_until <= ? ORDER BY seq LIMIT ?)
				RETURNING `+outboxCols, s.t(until), s.t(now), limit))
			return err
		})
	case MySQL:
		err = s.claimMySQL(ctx, now, until, limit, &out)
	}
	if err != nil {
		return nil, s.wrap(err, "claim events")
	}
	slices.SortFunc(out, func(a, b claimed) int { return cmp.Compare(a.seq, b.seq) })
	evs := make([]storage.Event, len(out))
	for i := range out {
		evs[i] = out[i].ev
	}
	return evs, nil
}

// claimMySQL claims in one READ COMMITTED transaction (so that the locking
// read takes no gap locks that would hold up writers appending events):
// select and lock the ids, skipping rows another claimer holds, then lease
// and read them.
//
// Under WithTx the host's transaction may be REPEATABLE READ (MySQL's
// default), where that locking read, scanning to the end of the outbox,
// would lock the gap after its last row, and every write appending an event
// would wait for the host's transaction to end. There the candidates are
// read without locks first, and then locked by their keys: an equality on
// the primary key locks the rows only.
func (s *Store) claimMySQL(ctx context.Context, now, until time.Time, limit int, out *[]claimed) error {
	readSeqs := func(rows *sql.Rows, err error) ([]any, error) {
		if err != nil {
			return nil, err
		}
		var seqs []any
		for rows.Next() {
			var seq int64
			if err := rows.Scan(&seq); err != nil {
				rows.Close()
				return nil, err
			}
			seqs = append(seqs, seq)
		}
		rows.Close()
		return seqs, rows.Err()
	}
	body := func(r run) error {
		*out = (*out)[:0]
		var seqs []any
		var err error
		if s.tx == nil {
			seqs, err = readSeqs(r.query(ctx, `SELECT seq FROM {p}outbox WHERE lease_until IS NULL OR lease_until <= ?
			ORDER BY seq LIMIT ? FOR UPDATE SKIP LOCKED`, s.t(now), limit))
		} else {
			seqs, err = readSeqs(r.query(ctx, `SELECT seq FROM {p}outbox WHERE lease_until IS NULL OR lease_until <= ?
			ORDER BY seq LIMIT ?`, s.t(now), limit))
			if err == nil && len(seqs) > 0 {
				seqs, err = readSeqs(r.query(ctx, `SELECT seq FROM {p}outbox WHERE seq IN (`+placeholders(len(seqs))+`)
				AND (lease_until IS NULL OR lease_until <= ?) ORDER BY seq FOR UPDATE SKIP LOCKED`, append(seqs, s.t(now))...))
			}
		}
		if err != nil {
			return err
		}
		if len(seqs) == 0 {
			return nil
		}
		in := placeholders(len(seqs))
		if _, err := r.exec(ctx, `UPDATE {p}outbox SET lease_until = ?, attempts = attempts + 1 WHERE seq IN (`+in+`)`,
			append([]any{s.t(until)}, seqs...)...); err != nil {
			return err
		}
		*out, err = s.scanClaimed(r.query(ctx, `SELECT `+outboxCols+` FROM {p}outbox WHERE seq IN (`+in+`)`, seqs...))
		return err
	}
	if s.tx != nil {
		return s.inHostTx(ctx, body)
	}
	return s.retry(ctx, func() error {
		s.stmts.prepareWanted(ctx)
		s.trips.Add(2) // SET TRANSACTION ISOLATION LEVEL, START TRANSACTION
		tx, err := s.db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
		if err != nil {
			return err
		}
		if err := body(s.ownTx(tx)); err != nil {
			s.trips.Add(1)
			_ = tx.Rollback()
			return err
		}
		s.trips.Add(1)
		return tx.Commit()
	})
}

type claimed struct {
	seq int64
	ev  storage.Event
}

func (s *Store) scanClaimed(rows *sql.Rows, err error) ([]claimed, error) {
	return collect(rows, err, func(sc scanner) (c claimed, err error) {
		err = sc.Scan(&c.seq, &c.ev.ID, &c.ev.Topic, &c.ev.Key, &c.ev.Payload, s.ts(&c.ev.CreatedAt), &c.ev.Attempts)
		return c, err
	})
}

// Ack implements storage.Outbox: it deletes the events; unknown IDs are
// ignored.
func (s *Store) Ack(ctx context.Context, ids []string) error {
	if err := checkCtx(ctx); err != nil {
		return err
	}
	if err := storage.ValidateAck(ids); err != nil {
		return err
	}
	// An ID no stored event can have is unknown, and ignored: sent as it
	// is, "ev-1 " would delete ev-1 under MySQL's PAD SPACE collations.
	if slices.ContainsFunc(ids, func(id string) bool { return idProblem(id) != "" }) {
		ids = slices.DeleteFunc(slices.Clone(ids), func(id string) bool { return idProblem(id) != "" })
	}
	for chunk := range slices.Chunk(ids, 1000) {
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		err := s.inStmt(ctx, func(r run) error {
			if s.d == MySQL && s.tx != nil {
				// The host's transaction may be REPEATABLE READ, where a
				// DELETE of an ID that is gone (a retried Ack) locks the
				// gap of the ID index it would be in, at its end for
				// UUIDv7 IDs, and every write appending an event waits for
				// the host. Delete the IDs that a read without locks finds.
				var err error
				if args, err = s.existingEventIDs(ctx, r, args); err != nil || len(args) == 0 {
					return err
				}
			}
			_, err := r.exec(ctx, `DELETE FROM {p}outbox WHERE id IN (`+placeholders(len(args))+`)`, args...)
			return err
		})
		if err != nil {
			return s.wrap(err, "ack events")
		}
	}
	return nil
}

// existingEventIDs returns those of ids that the outbox holds, read
// without locks.
func (s *Store) existingEventIDs(ctx context.Context, r run, ids []any) ([]any, error) {
	rows, err := r.query(ctx, `SELECT id FROM {p}outbox WHERE id IN (`+placeholders(len(ids))+`)`, ids...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []any
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}
