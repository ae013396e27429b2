package referral_test

import (
	"errors"
	"testing"
	"time"

	"github.com/socialcommerce/sdk/referral"
)

// FuzzParseCode: parsing never panics, only returns a normalised code or
// ErrCodeMalformed, and is idempotent on its output.
func FuzzParseCode(f *testing.F) {
	for _, s := range []string{"ABCD2345", "abcd-2345", "0OIL", "", "ZZZZZZZZZZZZZZZZZ", "a b c d e"} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, s string, check bool) {
		c, err := referral.ParseCode(s, check)
		if err != nil {
			if !errors.Is(err, referral.ErrCodeMalformed) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		again, err := referral.ParseCode(c, check)
		if err != nil || again != c {
			t.Fatalf("not idempotent: %q -> %q -> %q, %v", s, c, again, err)
		}
	})
}

// FuzzVerifyToken: any string is either a valid token (one that signs back
// to itself) or a typed error; a tampered token never verifies.
func FuzzVerifyToken(f *testing.F) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	good, _ := referral.SignToken(tokenKey, referral.ShareToken{ProgrammeID: "p", SharerID: "u", ExpiresAt: now.Add(time.Hour)})
	old, _ := referral.SignToken(tokenKey, referral.ShareToken{ProgrammeID: "p", SharerID: "u", PostID: "x", ExpiresAt: now.Add(-time.Hour)})
	for _, s := range []string{good, old, "", "AQ", good[:len(good)-2], good + "A"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := referral.VerifyToken(tokenKey, s, now)
		if err != nil {
			if !errors.Is(err, referral.ErrTokenTampered) && !errors.Is(err, referral.ErrTokenExpired) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		back, err := referral.SignToken(tokenKey, tok)
		if err != nil || back != s {
			t.Fatalf("verified token does not sign back: %q vs %q (%v)", s, back, err)
		}
	})
}
