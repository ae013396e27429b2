package ranking

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"math"
)

// Cursor format, version 3 (all integers big-endian):
//
//	byte     format (3)
//	int64    as-of time, Unix nanoseconds
//	uint64   config fingerprint (Version and every parameter)
//	uint64   binding: SipHash-2-4 of (Request.Viewer, Request.Scope,
//	         Request.PriceRef) under a key derived from the signing key
//	uvarint  page number in the session, starting at 1
//	byte     lane mask: bit l set when lane l has a key
//	per lane in the mask: float64 bits of the last score, uvarint ID
//	         length, ID bytes
//	16 bytes session key: two uint64, the SipHash-2-4 key of the tags
//	uvarint  served count n, then n × (uint32 low half of the ID hash,
//	         uint32 tag), oldest first
//	16 bytes HMAC-SHA256 of everything above, truncated to 128 bits
//
// encoded as unpadded base64url. An ID hash (hashString) is not keyed:
// anyone can find two IDs with the same hash, so half of it only finds the
// candidates that may be served, at the cost of one probe; the tag, 32
// bits of SipHash-2-4 of the ID under the session key, decides. Two
// given IDs pass for each other with probability 2^-64, and chosen IDs
// with 2^-32 per session, as the session key is secret. The session key is derived from CursorConfig.Key,
// the first page's as-of time and the binding, and carried in the cursor
// so that a key rotation keeps the session's tags. The binding is keyed
// for the same reason (see binding): version 2 bound a cursor with an
// unkeyed hash of viewer and scope, which chosen names collide on.
// Version 1 carried the ID hashes alone. A version 1 or 2 cursor is
// ErrCursorForeignConfig.
const (
	cursorFormat  = 3
	macLen        = 16
	servedEntry   = 4 + 4
	minCursorLen  = 1 + 8 + 8 + 8 + 1 + 1 + 16 + 1 + macLen
	sessionKeyTag = "ranking/served-tag-key"
	bindingKeyTag = "ranking/cursor-binding-key"
)

// CursorInfo describes a verified cursor.
type CursorInfo struct {
	// AsOf is the instant every page of the session is ranked as of.
	AsOf int64
	// Page is the number of pages served in the session so far.
	Page int
	// Served is the number of item hashes in the served set.
	Served int
}

// CheckCursor verifies req.Cursor as Rank would (signature, config,
// viewer, scope and reference price, expiry at req.Now) and describes it. It returns
// ErrCursorTampered, ErrCursorForeignConfig, ErrCursorMismatch or
// ErrCursorExpired (wrapped, for errors.Is), or a *ValidationError for a
// bad request.
func (r *Ranker) CheckCursor(req Request) (CursorInfo, error) {
	if !r.built() {
		return CursorInfo{}, errNotBuilt()
	}
	if err := checkRequest(&req); err != nil {
		return CursorInfo{}, err
	}
	if req.Cursor == "" {
		return CursorInfo{}, invalid("Cursor", "must not be empty")
	}
	var s scratch
	s.mac = hmac.New(sha256.New, r.key)
	if err := r.decodeCursor(req.Cursor, &s, &req, s.binding(&r.bindKeys[0], &req), req.Now.UnixNano()); err != nil {
		return CursorInfo{}, err
	}
	return CursorInfo{AsOf: s.cur.asOf, Page: int(s.cur.page), Served: len(s.cur.served)}, nil
}

func (r *Ranker) encodeCursor(s *scratch, c *cursorState, bind uint64) string {
	buf := s.enc[:0]
	buf = append(buf, cursorFormat)
	buf = binary.BigEndian.AppendUint64(buf, uint64(c.asOf))
	buf = binary.BigEndian.AppendUint64(buf, r.fp)
	buf = binary.BigEndian.AppendUint64(buf, bind)
	buf = binary.AppendUvarint(buf, uint64(c.page))
	var mask byte
	for l := range c.keys {
		if c.keys[l].ok {
			mask |= 1 << l
		}
	}
	buf = append(buf, mask)
	for l := range c.keys {
		if k := &c.keys[l]; k.ok {
			buf = binary.BigEndian.AppendUint64(buf, math.Float64bits(k.score))
			buf = binary.AppendUvarint(buf, uint64(len(k.id)))
			buf = append(buf, k.id...)
		}
	}
	buf = binary.BigEndian.AppendUint64(buf, c.sk[0])
	buf = binary.BigEndian.AppendUint64(buf, c.sk[1])
	buf = binary.AppendUvarint(buf, uint64(len(c.served)))
	for _, e := range c.served {
		buf = binary.BigEndian.AppendUint32(buf, e.h)
		buf = binary.BigEndian.AppendUint32(buf, e.tag)
	}
	s.mac.Reset()
	s.mac.Write(buf)
	s.sum = s.mac.Sum(s.sum[:0])
	buf = append(buf, s.sum[:macLen]...)
	s.enc = buf
	s.b64 = base64.RawURLEncoding.AppendEncode(s.b64[:0], buf)
	return string(s.b64)
}

// verify checks tag against body under the current key, then the old
// keys, and returns the index in r.bindKeys of the key that signed it (0
// for the current key), or -1.
func (r *Ranker) verify(s *scratch, body, tag []byte) int {
	s.mac.Reset()
	s.mac.Write(body)
	s.sum = s.mac.Sum(s.sum[:0])
	if hmac.Equal(s.sum[:macLen], tag) {
		return 0
	}
	for j, k := range r.oldKeys {
		m := hmac.New(sha256.New, k)
		m.Write(body)
		if hmac.Equal(m.Sum(nil)[:macLen], tag) {
			return j + 1
		}
	}
	return -1
}

// decodeCursor verifies and parses a cursor into s.cur and s.served. bind
// is req's binding under the current key.
func (r *Ranker) decodeCursor(c string, s *scratch, req *Request, bind uint64, now int64) error {
	if len(c) > r.maxCursor {
		return tampered("too long")
	}
	s.raw = append(s.raw[:0], c...)
	dec, err := base64.RawURLEncoding.AppendDecode(s.dec[:0], s.raw)
	if err != nil {
		return tampered("not base64url")
	}
	s.dec = dec
	if len(dec) < minCursorLen {
		return tampered("too short")
	}
	body, tag := dec[:len(dec)-macLen], dec[len(dec)-macLen:]
	signer := r.verify(s, body, tag)
	if signer < 0 {
		return tampered("bad signature")
	}
	if signer > 0 { // an old key signed it, and bound it under its own binding key
		bind = s.binding(&r.bindKeys[signer], req)
	}
	// The body was signed with our key: what follows can only fail for a
	// cursor from another version of this package or configuration.
	if body[0] != cursorFormat {
		return foreign("unknown cursor format")
	}
	p := body[1:]
	asOf := int64(binary.BigEndian.Uint64(p))
	fp := binary.BigEndian.Uint64(p[8:])
	bd := binary.BigEndian.Uint64(p[16:])
	p = p[24:]
	if fp != r.fp {
		return foreign("config fingerprint differs")
	}
	if bd != bind {
		return ErrCursorMismatch
	}
	if now-asOf > r.maxAge || asOf-now > r.maxAge { // too old, or from a clock far ahead
		return ErrCursorExpired
	}
	page, k := binary.Uvarint(p)
	if k <= 0 || page == 0 || page > math.MaxUint32 {
		return tampered("bad page number")
	}
	p = p[k:]
	if len(p) < 1 || p[0]>>NumLanes != 0 {
		return tampered("bad lane mask")
	}
	mask := p[0]
	p = p[1:]
	cur := &s.cur
	cur.reset()
	cur.asOf, cur.page = asOf, uint32(page)
	for l := range cur.keys {
		if mask&(1<<l) == 0 {
			continue
		}
		if len(p) < 8 {
			return tampered("truncated key")
		}
		sc := math.Float64frombits(binary.BigEndian.Uint64(p))
		if sc-sc != 0 {
			return tampered("key score not finite")
		}
		n, k := binary.Uvarint(p[8:])
		if k <= 0 || n == 0 || n > MaxIDLength || uint64(len(p)-8-k) < n {
			return tampered("bad key id")
		}
		p = p[8+k:]
		cur.keys[l] = key{ok: true, score: sc, id: string(p[:n])}
		p = p[n:]
	}
	if len(p) < 16 {
		return tampered("truncated session key")
	}
	cur.sk = [2]uint64{binary.BigEndian.Uint64(p), binary.BigEndian.Uint64(p[8:])}
	p = p[16:]
	n, k := binary.Uvarint(p)
	if k <= 0 || n > uint64(r.maxServed) || uint64(len(p)-k) != servedEntry*n {
		return tampered("bad served set")
	}
	p = p[k:]
	s.served.Reset()
	s.served.reserve(int(n))
	s.pairs.Reset()
	s.pairs.reserve(int(n))
	for j := 0; j < int(n); j++ {
		e := servedID{h: binary.BigEndian.Uint32(p[servedEntry*j:]), tag: binary.BigEndian.Uint32(p[servedEntry*j+4:])}
		cur.served = append(cur.served, e)
		s.served.addHash(servedProbe(uint64(e.h)))
		s.pairs.addHash(pairKey(servedProbe(uint64(e.h)), e.tag))
	}
	return nil
}

// sessionKey derives a new session's tag key from CursorConfig.Key, the
// as-of time and the binding: secret, and different for every session.
func (r *Ranker) sessionKey(s *scratch, asOf int64, bind uint64) [2]uint64 {
	buf := append(s.enc[:0], sessionKeyTag...)
	buf = binary.BigEndian.AppendUint64(buf, uint64(asOf))
	buf = binary.BigEndian.AppendUint64(buf, bind)
	s.enc = buf
	s.mac.Reset()
	s.mac.Write(buf)
	s.sum = s.mac.Sum(s.sum[:0])
	return [2]uint64{binary.BigEndian.Uint64(s.sum), binary.BigEndian.Uint64(s.sum[8:])}
}

// binding is the value that binds a cursor to its request: SipHash-2-4,
// under bk (see bindingKey), of the viewer and the scope, each with its
// length, and the reference price. A different viewer, scope or PriceRef
// gives another value, bar a 2^-64 accident: the key is secret, so names
// cannot be chosen to collide as they can for hashString (format 2 bound
// a cursor with the unkeyed hashString of viewer and scope, so a viewer
// named to collide with another was accepted with the other's cursors).
// PriceRef decides PriceFit's values (and host signals see it), so a page
// ranked under another PriceRef than the cursor's key would order the
// items differently from that key: items of earlier pages would come
// back (with StaticSignals) or be skipped.
func (s *scratch) binding(bk *[2]uint64, req *Request) uint64 {
	buf := binary.AppendUvarint(s.enc[:0], uint64(len(req.Viewer)))
	buf = append(buf, req.Viewer...)
	buf = binary.AppendUvarint(buf, uint64(len(req.Scope)))
	buf = append(buf, req.Scope...)
	buf = binary.BigEndian.AppendUint64(buf, uint64(req.PriceRef))
	s.enc = buf
	return sipHash24(bk[0], bk[1], buf)
}

// bindingKey derives the SipHash key of cursor bindings from a cursor
// signing key. Every key (current and old) has its own, so a cursor
// signed under an old key is checked under that key's binding key.
func bindingKey(key []byte) [2]uint64 {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(bindingKeyTag))
	sum := m.Sum(nil)
	return [2]uint64{binary.BigEndian.Uint64(sum), binary.BigEndian.Uint64(sum[8:])}
}

// isServed reports whether candidate i is in the cursor's served set: its
// ID hash is (a cheap probe, which chosen IDs can collide with), and so is
// the pair of that hash and its tag under the session key (which they
// cannot, without the key).
func (s *scratch) isServed(b *Batch, i int32) bool {
	p := servedProbe(b.idh[i])
	return s.served.has(p) && s.pairs.has(pairKey(p, servedTag(&s.cur.sk, b.ids[i])))
}

// servedProbe is the value a served set's IDSet holds for an ID hash h:
// its low 32 bits, which the cursor carries, made non-zero by bit 32.
// Its low bits are h's, so a batch's index finds the candidates of a
// probe where it finds those of h.
func servedProbe(h uint64) uint64 { return h&0xffffffff | 1<<32 }

func foreign(reason string) error {
	return &wrapped{ErrCursorForeignConfig, reason}
}

// wrapped adds detail to a sentinel without fmt.
type wrapped struct {
	err    error
	detail string
}

func (w *wrapped) Error() string { return w.err.Error() + ": " + w.detail }
func (w *wrapped) Unwrap() error { return w.err }
