package referral

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strings"
	"time"
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

// A cursor is the unpadded URL-safe base64 of a kind byte and the
// position: for codes the CreatedAt in Unix microseconds (8 bytes,
// big-endian) then the code; for history the version (8 bytes). It is a
// position in a user's list, not a credential: a cursor of another user's
// list positions this user's list. The kinds differ so that one list's
// cursor is refused by the other.
const (
	codeCursorKind    = 1
	historyCursorKind = 2
)

var cursorEncoding = base64.RawURLEncoding.Strict()

func encodeCodeCursor(p CodePosition) string {
	b := make([]byte, 9, 9+len(p.Code))
	b[0] = codeCursorKind
	binary.BigEndian.PutUint64(b[1:], uint64(p.CreatedAt.UnixMicro()))
	return cursorEncoding.EncodeToString(append(b, p.Code...))
}

func encodeHistoryCursor(version int64) string {
	b := make([]byte, 9)
	b[0] = historyCursorKind
	binary.BigEndian.PutUint64(b[1:], uint64(version))
	return cursorEncoding.EncodeToString(b)
}

// decodeCursor decodes a cursor of the kind given, at most 9+max bytes
// long; nil for "" (the start). Anything else is a *ValidationError on
// field "cursor".
func decodeCursor(c string, kind byte, max int, list string) ([]byte, error) {
	if c == "" {
		return nil, nil
	}
	if len(c) > cursorEncoding.EncodedLen(9+max) {
		return nil, invalid("cursor", "too long")
	}
	// The decoder skips line breaks; a cursor has none, so that one
	// position has one cursor.
	b, err := cursorEncoding.DecodeString(c)
	if err != nil || strings.ContainsAny(c, "\r\n") || len(b) < 9 || b[0] != kind {
		return nil, invalid("cursor", "not a cursor of "+list)
	}
	return b, nil
}

func decodeCodeCursor(c string) (CodePosition, error) {
	b, err := decodeCursor(c, codeCursorKind, MaxStoredCodeLength, "UserCodes")
	if b == nil || err != nil {
		return CodePosition{}, err
	}
	p := CodePosition{CreatedAt: time.UnixMicro(int64(binary.BigEndian.Uint64(b[1:9]))).UTC(), Code: string(b[9:])}
	if p.IsZero() || CheckCodePosition(p) != nil {
		return CodePosition{}, invalid("cursor", "not a cursor of UserCodes")
	}
	return p, nil
}

func decodeHistoryCursor(c string) (int64, error) {
	b, err := decodeCursor(c, historyCursorKind, 0, "BindingHistory")
	if b == nil || err != nil {
		return 0, err
	}
	v := int64(binary.BigEndian.Uint64(b[1:9]))
	if len(b) != 9 || v <= 0 {
		return 0, invalid("cursor", "not a cursor of BindingHistory")
	}
	return v, nil
}
