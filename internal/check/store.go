package check

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/shopspring/decimal"

	"github.com/socialcommerce/sdk/internal/swar"
	"github.com/socialcommerce/sdk/storage"
)

// Sizes that every store accepts, so that an adapter never truncates and
// the memory store refuses what the SQL stores would.
const (
	MaxTopic       = 128     // storage.Event.Topic
	MaxEventKey    = 1024    // storage.Event.Key
	MaxFingerprint = 1 << 16 // an idempotency record's fingerprint
	MaxBatch       = 10000   // events, seat lists and bot seats per write
	MaxCurrency    = 8       // a stored currency code
)

// MoneyOK reports whether d fits the money columns, NUMERIC(20,4), exactly:
// at most 4 decimal places and fewer than 17 integer digits. It allocates
// only for an amount with more than 4 decimal places.
func MoneyOK(d decimal.Decimal) bool {
	if !ExactTo(d, 4) {
		return false
	}
	if d.IsZero() {
		return true
	}
	return d.NumDigits()+int(d.Exponent()) <= 16
}

// ExactTo reports whether d has no non-zero digit beyond places decimal
// places. Truncating to compare costs a power of ten as large as the
// exponent's distance from -places, which for an exponent chosen by a
// hostile sender (7E-2000000000 parses in an instant) is hours of work and
// gigabytes; a coefficient of n digits ends in at most n-1 zeros, so such
// an exponent settles it by the digit count, and the truncation left costs
// no more than the coefficient's own size.
func ExactTo(d decimal.Decimal, places int32) bool {
	exp := int(d.Exponent())
	if exp >= -int(places) || d.IsZero() {
		return true
	}
	if -exp-int(places) >= d.NumDigits() {
		return false
	}
	return d.Equal(d.Truncate(places))
}

// TextProblem says why s is not acceptable text of at most max bytes (an
// event's topic or key, a fingerprint, a SKU), or returns "". Unlike an ID
// it may be empty and hold spaces and control characters, but not NUL, and
// it must be valid UTF-8: PostgreSQL refuses to store either, MySQL invalid
// UTF-8.
func TextProblem(s string, max int) string {
	switch {
	case len(s) <= max && plainText(s):
		return "" // the common case: ASCII without NUL
	case len(s) > max:
		return fmt.Sprintf("longer than %d bytes", max)
	case strings.IndexByte(s, 0) >= 0:
		return "must not contain NUL"
	case !utf8.ValidString(s):
		return "must be valid UTF-8"
	}
	return ""
}

// plainText reports whether s is ASCII without NUL, 8 bytes per step (see
// scan); a false answer sends TextProblem to its exact tests.
func plainText(s string) bool {
	n := len(s)
	if n < 8 {
		x := swar.Short(s, 'a')
		return (swar.HasZero(x)|x)&swar.Msb == 0
	}
	var acc uint64
	for i := 0; i+8 <= n; i += 8 {
		x := swar.Load8(s[i : i+8])
		acc |= swar.HasZero(x) | x
	}
	x := swar.Load8(s[n-8:])
	return (acc|swar.HasZero(x)|x)&swar.Msb == 0
}

// Bounds of a stored time: the years every store keeps. MySQL's DATETIME
// stops at 9999; beyond it PostgreSQL refuses a time or (past 294276)
// wraps it, and SQLite's Unix microseconds overflow.
var (
	minTime = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC)
)

// TimeProblem says why t is not a time every store keeps, or returns "".
// The zero time is in range; callers that need a time set say so first.
func TimeProblem(t time.Time) string {
	if t.Before(minTime) || t.After(maxTime) {
		return "must be in the years 1 to 9999"
	}
	return ""
}

// Events checks the events of a write: at most MaxBatch, each with an ID
// (Problem) that no other event of the write has, a non-empty topic and a
// key (TextProblem). A MatchTeam
// write's keys hold groupbuy.TeamIDHole, a control character that
// TextProblem allows.
func Events(evs []storage.Event) error {
	if len(evs) > MaxBatch {
		return &storage.ValidationError{Field: "Events", Reason: fmt.Sprintf("at most %d", MaxBatch)}
	}
	for i := range evs {
		ev := &evs[i]
		field, p := "ID", Problem(ev.ID, MaxIDLength)
		if p == "" {
			field, p = "Topic", TextProblem(ev.Topic, MaxTopic)
			if ev.Topic == "" {
				p = "must not be empty"
			}
		}
		if p == "" {
			field, p = "Key", TextProblem(ev.Key, MaxEventKey)
		}
		if p != "" {
			return &storage.ValidationError{Field: fmt.Sprintf("Events[%d].%s", i, field), Reason: p}
		}
	}
	return duplicateEventIDs(evs)
}

// duplicateEventIDs refuses a write whose events share an ID: Ack takes
// IDs, and the SQL stores keep them unique. A write holds a few events, so
// they are compared pairwise; a large batch uses a set.
func duplicateEventIDs(evs []storage.Event) error {
	dup := func(i, j int) error {
		return &storage.ValidationError{Field: fmt.Sprintf("Events[%d].ID", j), Reason: fmt.Sprintf("duplicates Events[%d].ID", i)}
	}
	if len(evs) <= 16 {
		for j := 1; j < len(evs); j++ {
			for i := range j {
				if evs[i].ID == evs[j].ID {
					return dup(i, j)
				}
			}
		}
		return nil
	}
	seen := make(map[string]int, len(evs))
	for j := range evs {
		if i, ok := seen[evs[j].ID]; ok {
			return dup(i, j)
		}
		seen[evs[j].ID] = j
	}
	return nil
}

// Record checks an idempotency record's scope and key (at most maxScope
// and maxKey bytes) by the ID rules (Problem): MySQL's PAD SPACE
// collations would take "k" and "k " for one key. Its fingerprint is
// text (TextProblem). prefix starts the field names ("Idem." or "").
func Record(prefix, scope, key, fingerprint string, maxScope, maxKey int) error {
	if p := Problem(scope, maxScope); p != "" {
		return &storage.ValidationError{Field: prefix + "Scope", Reason: p}
	}
	if p := Problem(key, maxKey); p != "" {
		return &storage.ValidationError{Field: prefix + "Key", Reason: p}
	}
	if p := TextProblem(fingerprint, MaxFingerprint); p != "" {
		return &storage.ValidationError{Field: prefix + "Fingerprint", Reason: p}
	}
	return nil
}
