package referral

import (
	"errors"
	"fmt"
	"time"

	"github.com/socialcommerce/sdk/internal/keyset"
)

// CodePosition is a code's place in the order of Store.UserCodes: its
// CreatedAt, to the microsecond (the precision every store keeps), then its
// Code. The zero CodePosition is the start of the list.
type CodePosition struct {
	CreatedAt time.Time
	Code      string
}

// IsZero reports whether p is the start of the list.
func (p CodePosition) IsZero() bool { return p.Code == "" && p.CreatedAt.IsZero() }

// CodePositionOf returns c's position in the order of Store.UserCodes; a
// nil c has none: the zero position, the start of the list.
func CodePositionOf(c *InviteCode) CodePosition {
	if c == nil {
		return CodePosition{}
	}
	return CodePosition{CreatedAt: c.CreatedAt.Truncate(time.Microsecond), Code: c.Code}
}

// CheckCodePosition checks a position given to Store.UserCodes: the zero
// position, or a code (the ID rules, at most MaxStoredCodeLength bytes)
// with a CreatedAt in the years 1 to 9999. A *ValidationError otherwise.
func CheckCodePosition(p CodePosition) error {
	if p.IsZero() {
		return nil
	}
	if err := validateID("after.Code", p.Code); err != nil {
		return err
	}
	if len(p.Code) > MaxStoredCodeLength {
		return invalid("after.Code", fmt.Sprintf("longer than %d bytes", MaxStoredCodeLength))
	}
	if p.CreatedAt.IsZero() {
		return invalid("after.CreatedAt", "must be set with a code")
	}
	return checkTime("after.CreatedAt", p.CreatedAt)
}

// CheckListLimit checks the limit of a paged list (Store.UserCodes,
// Store.BindingHistory): 1..MaxListLimit.
func CheckListLimit(limit int) error {
	if limit <= 0 || limit > MaxListLimit {
		return invalid("limit", fmt.Sprintf("must be in 1..%d", MaxListLimit))
	}
	return nil
}

// CheckHistoryPosition checks the afterVersion given to
// Store.BindingHistory: 0 (the start of the list) or a binding version.
func CheckHistoryPosition(afterVersion int64) error {
	if afterVersion < 0 {
		return invalid("afterVersion", "must be ≥ 0")
	}
	return nil
}

// A cursor (internal/keyset) is of a kind per list: for codes with the
// CreatedAt in Unix microseconds and the code, for history with the
// version and nothing else. It is a position in a user's list, not a
// credential: a cursor of another user's list positions this user's list.
// The kinds differ so that one list's cursor is refused by the other.
const (
	codeCursorKind    = 1
	historyCursorKind = 2
)

func encodeCodeCursor(p CodePosition) string {
	return keyset.Encode(codeCursorKind, p.CreatedAt.UnixMicro(), p.Code)
}

func encodeHistoryCursor(version int64) string {
	return keyset.Encode(historyCursorKind, version, "")
}

// decodeCursor decodes a cursor of the kind given whose tail is at most
// max bytes long; ok is false for "" (the start). Anything else is a
// *ValidationError on field "cursor".
func decodeCursor(c string, kind byte, max int, list string) (n int64, tail string, ok bool, err error) {
	if c == "" {
		return 0, "", false, nil
	}
	n, tail, err = keyset.Decode(c, kind, max)
	switch {
	case errors.Is(err, keyset.ErrTooLong):
		return 0, "", false, invalid("cursor", "too long")
	case err != nil:
		return 0, "", false, invalid("cursor", "not a cursor of "+list)
	}
	return n, tail, true, nil
}

func decodeCodeCursor(c string) (CodePosition, error) {
	micros, code, ok, err := decodeCursor(c, codeCursorKind, MaxStoredCodeLength, "UserCodes")
	if !ok || err != nil {
		return CodePosition{}, err
	}
	p := CodePosition{CreatedAt: time.UnixMicro(micros).UTC(), Code: code}
	if p.IsZero() || CheckCodePosition(p) != nil {
		return CodePosition{}, invalid("cursor", "not a cursor of UserCodes")
	}
	return p, nil
}

func decodeHistoryCursor(c string) (int64, error) {
	v, tail, ok, err := decodeCursor(c, historyCursorKind, 0, "BindingHistory")
	if !ok || err != nil {
		return 0, err
	}
	if tail != "" || v <= 0 {
		return 0, invalid("cursor", "not a cursor of BindingHistory")
	}
	return v, nil
}
