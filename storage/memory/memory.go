// Package memory is the in-memory adapter of every domain Store of the SDK.
// It is the reference that the conformance suite in storage/storagetest is
// checked against and the default for examples and tests. One mutex guards
// all state, so every write is atomic and its preconditions are evaluated
// under the same lock as its effects.
package memory

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/socialcommerce/sdk/storage"
)

// Store keeps everything in memory. It is safe for concurrent use. Its zero
// value is not usable; call New.
type Store struct {
	now func() time.Time

	mu       sync.Mutex
	gb       groupbuyState
	referral *referralState

	// pending holds un-acked events in write order; claimed indexes the
	// leased ones by ID for Ack, so writing an event costs one append.
	pending []*outboxEntry
	claimed map[string]*outboxEntry
	acked   int // acked entries still in pending, compacted by Claim
	entries slab[outboxEntry]
}

// slab hands out pointers to rows allocated in chunks, so that a write
// costs one allocation per chunk rather than one per row. A chunk stays
// alive while any of its rows is referenced, which costs little: the store
// drops rows only from the outbox, and in write order.
type slab[T any] struct{ chunk []T }

const slabChunk = 64

// next returns a new zero row, which the caller fills in place (rather
// than copying a filled one in: rows hold pointers, and every pointer copied
// into the heap while the collector marks costs a write barrier).
func (s *slab[T]) next() *T {
	if len(s.chunk) == cap(s.chunk) {
		s.chunk = make([]T, 0, slabChunk)
	}
	s.chunk = s.chunk[:len(s.chunk)+1]
	return &s.chunk[len(s.chunk)-1]
}

type outboxEntry struct {
	ev         storage.Event
	leaseUntil time.Time
	acked      bool
}

// Option configures a Store.
type Option func(*Store)

// WithClock sets the clock that outbox leases are measured with; default
// time.Now in UTC.
func WithClock(now func() time.Time) Option {
	return func(s *Store) {
		if now != nil {
			s.now = now
		}
	}
}

// New returns an empty Store.
func New(opts ...Option) *Store {
	s := &Store{now: func() time.Time { return time.Now().UTC() }, claimed: make(map[string]*outboxEntry)}
	s.gb.init()
	s.referral = newReferralState()
	for _, o := range opts {
		o(s)
	}
	return s
}

// addEvents appends events to the outbox; the caller holds mu. Like every
// write, it keeps the payload slices it is handed (the Store contract lets an
// adapter retain them), and Claim hands out copies.
func (s *Store) addEvents(evs []storage.Event) {
	for i := range evs {
		e := s.entries.next()
		e.ev = evs[i]
		e.ev.Attempts = 0
		s.pending = append(s.pending, e)
	}
}

// Claim implements storage.Outbox.
func (s *Store) Claim(ctx context.Context, limit int, lease time.Duration) ([]storage.Event, error) {
	if err := storage.ValidateClaim(limit, lease); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.acked > len(s.pending)/2 {
		live := s.pending[:0]
		for _, e := range s.pending {
			if !e.acked {
				live = append(live, e)
			}
		}
		clear(s.pending[len(live):])
		s.pending, s.acked = live, 0
	}
	var out []storage.Event
	for _, e := range s.pending {
		if len(out) == limit {
			break
		}
		if e.acked || e.leaseUntil.After(now) {
			continue
		}
		e.leaseUntil = now.Add(lease)
		e.ev.Attempts++
		s.claimed[e.ev.ID] = e
		ev := e.ev
		ev.Payload = slices.Clone(ev.Payload)
		out = append(out, ev)
	}
	return out, nil
}

// Ack implements storage.Outbox.
func (s *Store) Ack(ctx context.Context, ids []string) error {
	if err := storage.ValidateAck(ids); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		if e, ok := s.claimed[id]; ok {
			e.acked = true
			s.acked++
			delete(s.claimed, id)
			continue
		}
		// Never claimed, or acked already: rare, so a scan is fine.
		for _, e := range s.pending {
			if !e.acked && e.ev.ID == id {
				e.acked = true
				s.acked++
				break
			}
		}
	}
	return nil
}

// Pending returns how many events are not acked yet.
func (s *Store) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pending) - s.acked
}
