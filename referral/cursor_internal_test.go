package referral

import (
	"errors"
	"testing"
	"time"
)

// FuzzCursors: decoding a hostile cursor never panics and fails only with
// a *ValidationError; a cursor that decodes is the one cursor of its
// position (encoding its position gives it back).
func FuzzCursors(f *testing.F) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 123456000, time.UTC)
	f.Add(encodeCodeCursor(CodePosition{CreatedAt: at, Code: "ABCD2345"}))
	f.Add(encodeHistoryCursor(7))
	f.Add("")
	f.Add("AQ")
	f.Add("Af__________8")
	f.Fuzz(func(t *testing.T, c string) {
		p, err := decodeCodeCursor(c)
		if err != nil {
			if _, ok := errors.AsType[*ValidationError](err); !ok {
				t.Fatalf("decodeCodeCursor(%q): %T %v", c, err, err)
			}
		} else if c != "" {
			if CheckCodePosition(p) != nil || encodeCodeCursor(p) != c {
				t.Fatalf("decodeCodeCursor(%q) = %+v, which encodes to %q", c, p, encodeCodeCursor(p))
			}
		}
		v, err := decodeHistoryCursor(c)
		if err != nil {
			if _, ok := errors.AsType[*ValidationError](err); !ok {
				t.Fatalf("decodeHistoryCursor(%q): %T %v", c, err, err)
			}
		} else if c != "" && (v <= 0 || encodeHistoryCursor(v) != c) {
			t.Fatalf("decodeHistoryCursor(%q) = %d, which encodes to %q", c, v, encodeHistoryCursor(v))
		}
	})
}
