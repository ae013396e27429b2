// Package memory is the in-memory adapter of every domain Store of the SDK.
// It is the reference that the conformance suite in storage/storagetest is
// checked against and the default for examples and tests. One mutex guards
// all state, so every write is atomic and its preconditions are evaluated
// under the same lock as its effects.
//
// Times read back exactly as written, to the nanosecond and in their
// location, where the SQL stores keep microseconds in UTC. Lists order
// times by the microsecond, as the SQL stores do; a deadline compared with
// Now is compared exactly, so two times less than a microsecond apart (a
// deadline and the clock reading of a command in the same microsecond) may
// be judged differently here than on a SQL store.
package memory

import (
	"context"
	"fmt"
	"hash/maphash"
	"slices"
	"sync"
	"time"

	"github.com/socialcommerce/sdk/internal/fastcopy"
	"github.com/socialcommerce/sdk/storage"
)

// Store keeps everything in memory. It is safe for concurrent use. Its zero
// value is not usable; call New.
type Store struct {
	now func() time.Time

	mu       sync.Mutex
	gb       groupbuyState
	referral *referralState
	out      outbox
}

// outbox keeps events in write order in pointer-free rows (see arena.go).
// pending lists the rows not yet dropped, oldest first; Claim compacts it.
// A row's ID, key and payload are contiguous in one arena chunk, and a
// chunk of bytes or of rows is let go once every event in it is acked.
// ids finds the rows not acked yet by ID, for Ack and for the writes, which
// refuse an event whose ID one of them has, as the SQL stores' unique key
// on the outbox's ID does; an acked ID is free again there and here.
type outbox struct {
	log     rows[outRow]
	bytes   arena
	exact   map[uint32]time.Time // CreatedAt of rows whose time is no stamp, until acked
	topics  interned             // which rows refer to by number
	live    []int32              // per chunk of bytes, the events in it not acked yet
	done    []uint16             // per chunk of rows, the events in it acked
	pending []uint32             // row numbers, with ackedBit set once acked
	acked   int                  // entries of pending with ackedBit set
	seed    maphash.Seed
	ids     index // rows not acked yet, by ID
}

// ackedBit marks an acked row in outbox.pending, so that neither Claim nor
// Ack reads the row again (its chunk may be gone).
const ackedBit = 1 << 31

// outRow is an outbox event, without pointers.
type outRow struct {
	id, key, payload ref
	created          stamp // when exact is false
	leaseUntil       stamp // the instant a lease ends, when leased
	attempts         int
	chunk            uint32 // the chunk of bytes its ID, key and payload are in
	hash             uint32 // of its ID, under which ids holds it until acked
	pos              uint32 // its entry in pending
	topic            uint32
	exact            bool // CreatedAt is in outbox.exact
	leased           bool
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
	s := &Store{now: func() time.Time { return time.Now().UTC() }}
	s.out.seed = maphash.MakeSeed()
	s.out.exact = make(map[uint32]time.Time)
	s.gb.init()
	s.referral = newReferralState()
	for _, o := range opts {
		if o != nil { // as sqlstore.New: a nil option is no option
			o(s)
		}
	}
	return s
}

// eventsFree returns an error matching conflict (storage.ErrConflict or a
// sentinel that matches it) when an event of evs has the ID of an event not
// acked yet, as the SQL stores refuse it; the caller holds mu. Every write
// calls it before its first change, so that a refused write changes
// nothing. IDs within evs are distinct: the writes' checks refuse a write
// whose events share one.
func (s *Store) eventsFree(evs []storage.Event, conflict error) error {
	for i := range evs {
		if _, ok := s.out.find(evs[i].ID, hashOf(s.out.seed, evs[i].ID)); ok {
			return fmt.Errorf("event ID %q is in use: %w", evs[i].ID, conflict)
		}
	}
	return nil
}

// find returns the row of the event not acked yet whose ID is id, of hash
// h.
func (o *outbox) find(id string, h uint32) (uint32, bool) {
	for p := h; ; {
		i, ok := o.ids.next(h, &p)
		if !ok {
			return 0, false
		}
		if sameID(o.bytes.str(o.log.at(i).id), id) {
			return i, true
		}
	}
}

// addEvents appends copies of events to the outbox; the caller holds mu
// and checked them with eventsFree.
func (s *Store) addEvents(evs []storage.Event) {
	for i := range evs {
		s.out.add(&evs[i])
	}
}

func (o *outbox) add(ev *storage.Event) {
	last := len(o.bytes.chunks) - 1
	c := o.bytes.reserve(len(ev.ID) + len(ev.Key) + len(ev.Payload))
	if int(c) != last {
		if last >= 0 && o.live[last] == 0 {
			o.bytes.chunks[last] = nil
		}
		o.live = append(o.live, 0)
	}
	o.live[c]++
	i, r := o.log.add()
	if i&(1<<rowShift-1) == 0 {
		o.done = append(o.done, 0)
	}
	// reserve made room for all three in chunk c, so they are copied one
	// after the other without arena.add's per-value checks. A ref of length
	// 0 reads back as empty whatever its chunk and offset.
	b := o.bytes.cur[o.bytes.used:]
	off := uint32(o.bytes.used)
	nid := uint32(fastcopy.Copy(b, ev.ID))
	nkey := uint32(fastcopy.Copy(b[nid:], ev.Key))
	npay := uint32(copy(b[nid+nkey:], ev.Payload))
	o.bytes.used += int(nid + nkey + npay)
	r.id, r.key, r.payload, r.chunk = ref{c, off, nid}, ref{c, off + nid, nkey}, ref{c, off + nid + nkey, npay}, c
	if npay == 0 && ev.Payload != nil {
		r.payload = ref{chunk: emptyBytes}
	}
	if st, ok := utcStamp(ev.CreatedAt); ok {
		r.created = st
	} else {
		r.exact = true
		o.exact[i] = ev.CreatedAt
	}
	r.topic = o.topics.num(ev.Topic)
	r.pos = uint32(len(o.pending))
	o.pending = append(o.pending, i)
	r.hash = hashOf(o.seed, ev.ID)
	o.ids.add(r.hash, i)
}

// ack marks row i acked and lets go of the chunks that no longer hold an
// unacked event.
func (o *outbox) ack(i uint32) {
	r := o.log.at(i)
	o.pending[r.pos] |= ackedBit
	o.acked++
	o.ids.del(r.hash, i)
	if r.exact {
		delete(o.exact, i)
	}
	// The last chunk of bytes is still being filled; add lets it go later.
	c := r.chunk
	if o.live[c]--; o.live[c] == 0 && int(c) != len(o.bytes.chunks)-1 {
		o.bytes.chunks[c] = nil
	}
	if o.done[i>>rowShift]++; o.done[i>>rowShift] == 1<<rowShift {
		o.log.chunks[i>>rowShift] = nil
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
	o := &s.out
	if o.acked > len(o.pending)/2 {
		live := o.pending[:0]
		for _, p := range o.pending {
			if p&ackedBit == 0 {
				o.log.at(p).pos = uint32(len(live))
				live = append(live, p)
			}
		}
		o.pending, o.acked = live, 0
	}
	var out []storage.Event
	for _, p := range o.pending {
		if len(out) == limit {
			break
		}
		if p&ackedBit != 0 {
			continue
		}
		r := o.log.at(p)
		if r.leased && r.leaseUntil.time().After(now) {
			continue
		}
		// Only the instant matters, so a UTC stamp always serves.
		until := now.Add(lease)
		r.leaseUntil, r.leased = stamp{until.Unix(), int32(until.Nanosecond())}, true
		r.attempts++
		var created time.Time
		if r.exact {
			created = o.exact[p]
		} else {
			created = r.created.time()
		}
		out = append(out, storage.Event{
			ID: o.bytes.str(r.id), Topic: o.topics.at(r.topic), Key: o.bytes.str(r.key),
			Payload: slices.Clone(o.bytes.bytes(r.payload)), CreatedAt: created, Attempts: r.attempts,
		})
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
	o := &s.out
	// Every event not acked yet is in ids, claimed or not (a relay may ack
	// an event it never claimed); an ID acked already finds none.
	for _, id := range ids {
		if p, ok := o.find(id, hashOf(o.seed, id)); ok {
			o.ack(p)
		}
	}
	return nil
}

// Pending returns how many events are not acked yet.
func (s *Store) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.out.pending) - s.out.acked
}
