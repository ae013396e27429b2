package referral_test

import (
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialcommerce/sdk/referral"
	"github.com/socialcommerce/sdk/storage/memory"
)

func TestCodeAlphabet(t *testing.T) {
	assert.Len(t, referral.CodeAlphabet, 30)
	for _, c := range "01OIL" {
		assert.NotContains(t, referral.CodeAlphabet, string(c))
	}
}

func TestGenerateAndParseCode(t *testing.T) {
	for _, check := range []bool{false, true} {
		for range 200 {
			c, err := referral.GenerateCode(rand.Reader, referral.DefaultCodeLength, check)
			require.NoError(t, err)
			want := referral.DefaultCodeLength
			if check {
				want++
			}
			require.Len(t, c, want)
			got, err := referral.ParseCode(strings.ToLower(c[:3])+"-"+c[3:], check)
			require.NoError(t, err)
			assert.Equal(t, c, got, "case-insensitive, hyphens ignored")
		}
	}
	_, err := referral.GenerateCode(rand.Reader, 3, false)
	assert.Error(t, err)
}

func TestParseCodeErrors(t *testing.T) {
	c, err := referral.GenerateCode(rand.Reader, 8, true)
	require.NoError(t, err)
	for _, bad := range []string{"", "ABC", "ABCD0EFG", "ABCDOEFG", "ABCD1EFG", "ABCDIEFG", "ABCDLEFG", strings.Repeat("A", 80), "ABCD\x00EFG"} {
		_, err := referral.ParseCode(bad, false)
		assert.ErrorIs(t, err, referral.ErrCodeMalformed, "%q", bad)
	}
	// Every single substitution is caught (adjacent transpositions nearly
	// always: Luhn mod N misses a few pairs).
	for i := range c {
		for _, r := range referral.CodeAlphabet {
			if byte(r) == c[i] {
				continue
			}
			typo := c[:i] + string(r) + c[i+1:]
			_, err := referral.ParseCode(typo, true)
			assert.ErrorIs(t, err, referral.ErrCodeMalformed, "substitution %q", typo)
		}
	}
}

var tokenKey = []byte("0123456789abcdef0123456789abcdef")

func TestTokens(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tok := referral.ShareToken{ProgrammeID: "p", SharerID: "alice", TeamID: "team-9", ExpiresAt: now.Add(time.Hour)}
	s, err := referral.SignToken(tokenKey, tok)
	require.NoError(t, err)
	assert.Less(t, len(s), 64, "compact")
	got, err := referral.VerifyToken(tokenKey, s, now)
	require.NoError(t, err)
	assert.Equal(t, tok, got)

	_, err = referral.VerifyToken(tokenKey, s, now.Add(time.Hour))
	assert.ErrorIs(t, err, referral.ErrTokenExpired)
	_, err = referral.VerifyToken([]byte("another key of sixteen+"), s, now)
	assert.ErrorIs(t, err, referral.ErrTokenTampered)
	b := []byte(s)
	for i := range b {
		t2 := append([]byte(nil), b...)
		t2[i] ^= 0x01
		_, err := referral.VerifyToken(tokenKey, string(t2), now)
		assert.ErrorIs(t, err, referral.ErrTokenTampered, "flip at %d", i)
	}
	_, err = referral.SignToken([]byte("short"), tok)
	assert.Error(t, err)
	_, err = referral.SignToken(tokenKey, referral.ShareToken{ProgrammeID: "p", ExpiresAt: now})
	assert.Error(t, err)
}

// TestTokenKeyRotation: a Service signs with TokenKey only and verifies with
// TokenKey and every key of PreviousTokenKeys, so tokens signed before a
// rotation keep working until they expire.
func TestTokenKeyRotation(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	oldKey, newKey := tokenKey, []byte("fedcba9876543210fedcba9876543210")
	before, err := referral.New(memory.New(), referral.Config{Now: clock, TokenKey: oldKey})
	require.NoError(t, err)
	after, err := referral.New(memory.New(), referral.Config{Now: clock, TokenKey: newKey, PreviousTokenKeys: [][]byte{oldKey}})
	require.NoError(t, err)
	retired, err := referral.New(memory.New(), referral.Config{Now: clock, TokenKey: newKey})
	require.NoError(t, err)

	tok := referral.ShareToken{ProgrammeID: "p", SharerID: "alice"}
	old, err := before.SignToken(tok, time.Hour)
	require.NoError(t, err)
	got, err := after.VerifyToken(old)
	require.NoError(t, err, "a token signed before the rotation still verifies")
	assert.Equal(t, "alice", got.SharerID)
	_, err = retired.VerifyToken(old)
	assert.ErrorIs(t, err, referral.ErrTokenTampered, "once the old key is dropped")

	fresh, err := after.SignToken(tok, time.Hour)
	require.NoError(t, err)
	_, err = before.VerifyToken(fresh)
	assert.ErrorIs(t, err, referral.ErrTokenTampered, "new tokens are signed with the new key")
	_, err = retired.VerifyToken(fresh)
	assert.NoError(t, err)

	stale, err := referral.SignToken(oldKey, referral.ShareToken{ProgrammeID: "p", SharerID: "bob", ExpiresAt: now})
	require.NoError(t, err)
	_, err = after.VerifyToken(stale)
	assert.ErrorIs(t, err, referral.ErrTokenExpired, "an old key's token expires as it would have")
	forged, err := referral.SignToken([]byte("a third key, never configured"),
		referral.ShareToken{ProgrammeID: "p", SharerID: "mallory", ExpiresAt: now.Add(time.Hour)})
	require.NoError(t, err)
	_, err = after.VerifyToken(forged)
	assert.ErrorIs(t, err, referral.ErrTokenTampered)

	var verr *referral.ValidationError
	_, err = referral.New(memory.New(), referral.Config{TokenKey: newKey, PreviousTokenKeys: [][]byte{[]byte("short")}})
	require.ErrorAs(t, err, &verr)
	assert.Equal(t, "PreviousTokenKeys[0]", verr.Field)
	_, err = referral.New(memory.New(), referral.Config{PreviousTokenKeys: [][]byte{oldKey}})
	require.ErrorAs(t, err, &verr)
	assert.Equal(t, "PreviousTokenKeys", verr.Field)
}
