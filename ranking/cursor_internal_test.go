package ranking

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"testing"
	"time"
)

func signed(key, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write(body)
	return base64.RawURLEncoding.EncodeToString(append(append([]byte(nil), body...), m.Sum(nil)[:macLen]...))
}

// FuzzCursorBody fuzzes the parser behind the signature: arbitrary bodies
// signed with the right key must never panic and must either parse or fail
// with a cursor error.
func FuzzCursorBody(f *testing.F) {
	key := []byte("internal-fuzz-key-0123456789")
	cfg := DefaultConfig("fuzz", key)
	r, err := New(cfg)
	if err != nil {
		f.Fatal(err)
	}
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	b := NewBatch(0)
	for _, id := range []string{"a", "b", "c", "d"} {
		if err := b.Add(&Candidate{ID: id, Author: id, Created: now}); err != nil {
			f.Fatal(err)
		}
	}
	var p Page
	if err := r.Rank(Request{Now: now, Limit: 2}, b, &p); err != nil {
		f.Fatal(err)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(p.Cursor)
	f.Add(raw[:len(raw)-macLen])
	f.Add([]byte{cursorFormat})
	f.Fuzz(func(t *testing.T, body []byte) {
		var p Page
		err := r.Rank(Request{Now: now, Cursor: signed(key, body)}, b, &p)
		if err == nil {
			if len(p.Items) > 4 {
				t.Fatalf("%d items", len(p.Items))
			}
			return
		}
		for _, e := range []error{ErrCursorTampered, ErrCursorExpired, ErrCursorForeignConfig, ErrCursorMismatch} {
			if errors.Is(err, e) {
				return
			}
		}
		t.Fatalf("unexpected %T %v", err, err)
	})
}

func TestCursorBodyParseErrors(t *testing.T) {
	hk := []byte("internal-fuzz-key-0123456789")
	r, err := New(DefaultConfig("v", hk))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	s := &scratch{}
	var c cursorState
	c.asOf, c.page = now.UnixNano(), 1
	c.keys[0] = key{ok: true, score: 1.5, id: "x"}
	s.mac = hmac.New(sha256.New, hk)
	req := &Request{}
	bind := s.binding(&r.bindKeys[0], req)
	good := r.encodeCursor(s, &c, bind)
	if err := r.decodeCursor(good, s, req, bind, now.UnixNano()); err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(good)
	body := raw[:len(raw)-macLen]
	cases := map[string]struct {
		mut  func([]byte) []byte
		want error
	}{
		"format":       {func(b []byte) []byte { b[0] = 9; return b }, ErrCursorForeignConfig},
		"format 1":     {func(b []byte) []byte { b[0] = 1; return b }, ErrCursorForeignConfig},
		"format 2":     {func(b []byte) []byte { b[0] = 2; return b }, ErrCursorForeignConfig},
		"fingerprint":  {func(b []byte) []byte { b[10] ^= 1; return b }, ErrCursorForeignConfig},
		"binding":      {func(b []byte) []byte { b[20] ^= 1; return b }, ErrCursorMismatch},
		"expired":      {func(b []byte) []byte { clear(b[1:9]); return b }, ErrCursorExpired},
		"future":       {func(b []byte) []byte { b[1] ^= 0x01; return b }, ErrCursorExpired},
		"trailing":     {func(b []byte) []byte { return append(b, 0) }, ErrCursorTampered},
		"short":        {func(b []byte) []byte { return b[:len(b)-1] }, ErrCursorTampered},
		"lane mask":    {func(b []byte) []byte { b[26] = 0xff; return b }, ErrCursorTampered},
		"page zero":    {func(b []byte) []byte { b[25] = 0; return b }, ErrCursorTampered},
		"nan score":    {func(b []byte) []byte { copy(b[27:], []byte{0x7f, 0xf8, 0, 0, 0, 0, 0, 1}); return b }, ErrCursorTampered},
		"empty key id": {func(b []byte) []byte { b[35] = 0; return b }, ErrCursorTampered},
	}
	for name, tc := range cases {
		mut := tc.mut(append([]byte(nil), body...))
		err := r.decodeCursor(signed(hk, mut), s, req, bind, now.UnixNano())
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", name, err, tc.want)
		}
	}
}
