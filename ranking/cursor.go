package ranking

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"math"
)

// Cursor format, version 1 (all integers big-endian):
//
//	byte     format (1)
//	int64    as-of time, Unix nanoseconds
//	uint64   config fingerprint (Version and every parameter)
//	uint64   binding: hash of (Request.Viewer, Request.Scope, Request.PriceRef)
//	uvarint  page number in the session, starting at 1
//	byte     lane mask: bit l set when lane l has a key
//	per lane in the mask: float64 bits of the last score, uvarint ID
//	         length, ID bytes
//	uvarint  served count n, then n × uint64 ID hashes, oldest first
//	16 bytes HMAC-SHA256 of everything above, truncated to 128 bits
//
// encoded as unpadded base64url.
const (
	cursorFormat = 1
	macLen       = 16
	minCursorLen = 1 + 8 + 8 + 8 + 1 + 1 + 1 + macLen
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
	if err := checkRequest(&req); err != nil {
		return CursorInfo{}, err
	}
	if req.Cursor == "" {
		return CursorInfo{}, invalid("Cursor", "must not be empty")
	}
	var s scratch
	s.mac = hmac.New(sha256.New, r.key)
	if err := r.decodeCursor(req.Cursor, &s, requestBind(&req), req.Now.UnixNano()); err != nil {
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
	buf = binary.AppendUvarint(buf, uint64(len(c.served)))
	for _, h := range c.served {
		buf = binary.BigEndian.AppendUint64(buf, h)
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
// keys.
func (r *Ranker) verify(s *scratch, body, tag []byte) bool {
	s.mac.Reset()
	s.mac.Write(body)
	s.sum = s.mac.Sum(s.sum[:0])
	if hmac.Equal(s.sum[:macLen], tag) {
		return true
	}
	for _, k := range r.oldKeys {
		m := hmac.New(sha256.New, k)
		m.Write(body)
		if hmac.Equal(m.Sum(nil)[:macLen], tag) {
			return true
		}
	}
	return false
}

// decodeCursor verifies and parses a cursor into s.cur and s.served.
func (r *Ranker) decodeCursor(c string, s *scratch, bind uint64, now int64) error {
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
	if !r.verify(s, body, tag) {
		return tampered("bad signature")
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
	n, k := binary.Uvarint(p)
	if k <= 0 || n > uint64(r.maxServed) || uint64(len(p)-k) != 8*n {
		return tampered("bad served set")
	}
	p = p[k:]
	s.served.Reset()
	s.served.reserve(int(n))
	for j := 0; j < int(n); j++ {
		h := binary.BigEndian.Uint64(p[8*j:])
		if h == 0 {
			return tampered("bad served hash")
		}
		cur.served = append(cur.served, h)
		s.served.addHash(h)
	}
	return nil
}

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
