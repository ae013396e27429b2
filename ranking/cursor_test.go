package ranking_test

import (
	"encoding/base64"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialcommerce/sdk/ranking"
)

// firstCursor ranks a first page and returns its cursor.
func firstCursor(t *testing.T, r *ranking.Ranker, b *ranking.Batch, viewer, scope string) string {
	t.Helper()
	var p ranking.Page
	require.NoError(t, r.Rank(ranking.Request{Now: t0, Viewer: viewer, Scope: scope}, b, &p))
	require.NotEmpty(t, p.Cursor)
	return p.Cursor
}

func TestCursorErrors(t *testing.T) {
	b, _ := newGen(2).batch(t, 100)
	r := newRanker(t, nil)
	cur := firstCursor(t, r, b, "alice", "home")
	var p ranking.Page
	rank := func(r *ranking.Ranker, req ranking.Request) error { return r.Rank(req, b, &p) }
	ok := ranking.Request{Now: t0.Add(time.Minute), Viewer: "alice", Scope: "home", Cursor: cur}
	require.NoError(t, rank(r, ok))
	info, err := r.CheckCursor(ok)
	require.NoError(t, err)
	assert.Equal(t, ranking.CursorInfo{AsOf: t0.UnixNano(), Page: 1, Served: 20}, info)

	t.Run("every flipped bit is tampering", func(t *testing.T) {
		raw, err := base64.RawURLEncoding.DecodeString(cur)
		require.NoError(t, err)
		for i := range raw {
			for bit := range 8 {
				mut := append([]byte(nil), raw...)
				mut[i] ^= 1 << bit
				req := ok
				req.Cursor = base64.RawURLEncoding.EncodeToString(mut)
				require.ErrorIs(t, rank(r, req), ranking.ErrCursorTampered, "byte %d bit %d", i, bit)
			}
		}
	})
	t.Run("garbage and truncation are tampering", func(t *testing.T) {
		for _, c := range []string{"x", "!!!!", cur[:len(cur)-1], cur[:10], cur + "AA", string(make([]byte, 100000))} {
			req := ok
			req.Cursor = c
			err := rank(r, req)
			require.ErrorIs(t, err, ranking.ErrCursorTampered, "%q", c[:min(len(c), 20)])
			assert.Empty(t, p.Items)
		}
	})
	t.Run("expired", func(t *testing.T) {
		req := ok
		req.Now = t0.Add(ranking.DefaultCursorMaxAge)
		require.NoError(t, rank(r, req), "exactly MaxAge is still accepted")
		req.Now = req.Now.Add(time.Nanosecond)
		require.ErrorIs(t, rank(r, req), ranking.ErrCursorExpired)
		req.Now = t0.Add(-ranking.DefaultCursorMaxAge)
		require.NoError(t, rank(r, req), "a host clock behind by MaxAge is tolerated")
		req.Now = req.Now.Add(-time.Nanosecond)
		require.ErrorIs(t, rank(r, req), ranking.ErrCursorExpired, "but not more")
		short := newRanker(t, func(c *ranking.Config) { c.Cursor.MaxAge = time.Minute })
		req = ok
		req.Cursor = firstCursor(t, short, b, "alice", "home")
		req.Now = t0.Add(2 * time.Minute)
		require.ErrorIs(t, rank(short, req), ranking.ErrCursorExpired)
	})
	t.Run("foreign config", func(t *testing.T) {
		for name, mod := range map[string]func(*ranking.Config){
			"version":  func(c *ranking.Config) { c.Version = "test-v2" },
			"weight":   func(c *ranking.Config) { c.Signals[0].Weight = 1.5 },
			"halflife": func(c *ranking.Config) { c.Signals[1].Signal = ranking.ExponentialDecay{HalfLife: 11 * time.Hour} },
			"page":     func(c *ranking.Config) { c.PageSize = 21 },
			"slots":    func(c *ranking.Config) { c.Slots = []ranking.Slot{{Position: 1, Lane: ranking.LaneKOL}} },
			"penalty":  func(c *ranking.Config) { c.Diversity.Penalties[0].Floor = 0.3 },
		} {
			other := newRanker(t, mod)
			require.ErrorIs(t, rank(other, ok), ranking.ErrCursorForeignConfig, name)
		}
	})
	t.Run("other viewer or scope", func(t *testing.T) {
		req := ok
		req.Viewer = "mallory"
		require.ErrorIs(t, rank(r, req), ranking.ErrCursorMismatch)
		req = ok
		req.Scope = "category:1"
		require.ErrorIs(t, rank(r, req), ranking.ErrCursorMismatch)
	})
	t.Run("other key", func(t *testing.T) {
		other := newRanker(t, func(c *ranking.Config) { c.Cursor.Key = []byte("another-key-0123456789abcdef!!") })
		require.ErrorIs(t, rank(other, ok), ranking.ErrCursorTampered)
	})
	t.Run("key rotation", func(t *testing.T) {
		newKey := []byte("the-next-key-0123456789abcdef!!")
		rotated := newRanker(t, func(c *ranking.Config) { c.Cursor.Key = newKey; c.Cursor.OldKeys = [][]byte{testKey} })
		require.NoError(t, rank(rotated, ok), "old cursors stay valid during rotation")
		newer := p.Cursor
		req := ok
		req.Cursor = newer
		require.ErrorIs(t, rank(r, req), ranking.ErrCursorTampered, "the old key cannot verify new cursors")
		require.NoError(t, rank(rotated, req))
	})
	t.Run("CheckCursor", func(t *testing.T) {
		_, err := r.CheckCursor(ranking.Request{Now: t0, Viewer: "alice", Scope: "home"})
		var ve *ranking.ValidationError
		require.ErrorAs(t, err, &ve)
		_, err = r.CheckCursor(ranking.Request{Now: t0, Viewer: "bob", Scope: "home", Cursor: cur})
		require.ErrorIs(t, err, ranking.ErrCursorMismatch)
		for _, e := range []error{ranking.ErrCursorTampered, ranking.ErrCursorExpired, ranking.ErrCursorForeignConfig, ranking.ErrCursorMismatch} {
			assert.False(t, errors.Is(err, e) && e != ranking.ErrCursorMismatch)
		}
	})
}

func TestCursorIsOpaqueAndURLSafe(t *testing.T) {
	b, _ := newGen(8).batch(t, 50)
	cur := firstCursor(t, newRanker(t, nil), b, "v", "")
	for _, c := range cur {
		require.True(t, c == '-' || c == '_' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'), "%q", c)
	}
	assert.NotContains(t, cur, "item-", "IDs are not readable in the cursor")
}
