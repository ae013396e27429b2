package check

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/socialcommerce/sdk/storage"
)

// textOK is TextProblem's rule, written plainly.
func textOK(s string, max int) bool {
	return len(s) <= max && strings.IndexByte(s, 0) < 0 && utf8.ValidString(s)
}

// TestTextEveryByteAtEveryOffset: every byte at every offset of strings of
// 0..40 bytes, against textOK: the word-at-a-time path must agree with the
// plain rule whatever the length and wherever the byte falls.
func TestTextEveryByteAtEveryOffset(t *testing.T) {
	const base = "gb:0190a6e2-7c3b-7d4e-8f00-112233445566:seat reserved"
	for n := 1; n <= 40; n++ {
		for at := 0; at < n; at++ {
			for c := 0; c < 256; c++ {
				s := []byte(base[:n])
				s[at] = byte(c)
				if got, want := TextProblem(string(s), 64) == "", textOK(string(s), 64); got != want {
					t.Fatalf("TextProblem(%q) ok = %v, want %v", s, got, want)
				}
			}
		}
	}
	for _, c := range []struct {
		s  string
		ok bool
	}{
		{"", true}, {"a b\tc\x01", true}, {"订单 1", true}, {"\x00", false}, {"订单\x00", false},
		{"a\xff", false}, {strings.Repeat("x", 64), true}, {strings.Repeat("x", 65), false},
	} {
		if got := TextProblem(c.s, 64) == ""; got != c.ok {
			t.Errorf("TextProblem(%q) ok = %v, want %v", c.s, got, c.ok)
		}
	}
}

func FuzzTextProblem(f *testing.F) {
	for _, s := range []string{"", "a", "a\x00", "订单-1", "a\xff", "12345678\xc0\xaf", "0123456789abcdef\x00", "gb:\x01:s1:reserved"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := TextProblem(s, 64) == "", textOK(s, 64); got != want {
			t.Fatalf("TextProblem(%q) ok = %v, want %v", s, got, want)
		}
	})
}

func TestEvents(t *testing.T) {
	ok := storage.Event{ID: "ev-1", Topic: "groupbuy.seat_paid", Key: "gb:t1:s1:paid"}
	for _, c := range []struct {
		name  string
		mod   func(ev *storage.Event)
		field string
	}{
		{"ok", func(*storage.Event) {}, ""},
		{"match template key", func(ev *storage.Event) { ev.Key = "gb:\x01:s1:reserved" }, ""},
		{"empty ID", func(ev *storage.Event) { ev.ID = "" }, "Events[1].ID"},
		{"ID with a space", func(ev *storage.Event) { ev.ID = "ev 1" }, "Events[1].ID"},
		{"empty topic", func(ev *storage.Event) { ev.Topic = "" }, "Events[1].Topic"},
		{"long topic", func(ev *storage.Event) { ev.Topic = strings.Repeat("t", MaxTopic+1) }, "Events[1].Topic"},
		{"NUL in key", func(ev *storage.Event) { ev.Key = "k\x00" }, "Events[1].Key"},
		{"invalid UTF-8 in key", func(ev *storage.Event) { ev.Key = "k\xff" }, "Events[1].Key"},
		{"long key", func(ev *storage.Event) { ev.Key = strings.Repeat("k", MaxEventKey+1) }, "Events[1].Key"},
	} {
		bad := ok
		bad.ID = "ev-2"
		c.mod(&bad)
		err := Events([]storage.Event{ok, bad})
		if c.field == "" {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		if ve, isVE := errors.AsType[*storage.ValidationError](err); !isVE || ve.Field != c.field {
			t.Errorf("%s: got %v, want a ValidationError of %s", c.name, err, c.field)
		}
	}
	for _, n := range []int{3, 40} {
		evs := make([]storage.Event, n)
		for i := range evs {
			evs[i] = ok
			evs[i].ID = fmt.Sprintf("ev-%d", i)
		}
		if err := Events(evs); err != nil {
			t.Errorf("%d distinct IDs: %v", n, err)
		}
		evs[n-1].ID = evs[1].ID
		if ve, isVE := errors.AsType[*storage.ValidationError](Events(evs)); !isVE || ve.Field != fmt.Sprintf("Events[%d].ID", n-1) {
			t.Errorf("%d events, two of one ID: got %v, want a ValidationError of Events[%d].ID", n, Events(evs), n-1)
		}
	}
	if err := Events(make([]storage.Event, MaxBatch+1)); err == nil {
		t.Error("more than MaxBatch events accepted")
	}
}

func TestRecord(t *testing.T) {
	for _, c := range []struct {
		scope, key, fp, field string
	}{
		{"groupbuy.join", "k-1", "a\x1fb", ""},
		{"", "k-1", "", "Idem.Scope"},
		{"groupbuy.join", "k-1 ", "", "Idem.Key"},
		{"groupbuy.join", "k-1", "a\x00b", "Idem.Fingerprint"},
		{"groupbuy.join", "k-1", "a\xffb", "Idem.Fingerprint"},
	} {
		err := Record("Idem.", c.scope, c.key, c.fp, 64, 512)
		if c.field == "" {
			if err != nil {
				t.Errorf("%q/%q/%q: %v", c.scope, c.key, c.fp, err)
			}
			continue
		}
		if ve, isVE := errors.AsType[*storage.ValidationError](err); !isVE || ve.Field != c.field {
			t.Errorf("%q/%q/%q: got %v, want a ValidationError of %s", c.scope, c.key, c.fp, err, c.field)
		}
	}
}
