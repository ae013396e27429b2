package keyset

import (
	"errors"
	"slices"
	"testing"
)

func TestCut(t *testing.T) {
	list := []int{1, 2, 3, 4, 5}
	for _, tc := range []struct {
		name       string
		list       []int
		limit, max int
		page       []int
		last       int // 0: none
	}{
		{"the item after the page read", list[:4], 3, 10, []int{1, 2, 3}, 3},
		{"a short last page", list[:2], 3, 10, []int{1, 2}, 0},
		{"an exact last page", list[:3], 3, 10, []int{1, 2, 3}, 0},
		{"cut at max with limit max", list, 5, 5, list, 5},
		{"cut at max with limit max-1", list, 4, 5, []int{1, 2, 3, 4}, 4},
		{"empty", nil, 3, 10, nil, 0},
	} {
		page, last := Cut(tc.list, tc.limit, tc.max)
		if !slices.Equal(page, tc.page) {
			t.Errorf("%s: page %v, want %v", tc.name, page, tc.page)
		}
		switch {
		case tc.last == 0 && last != nil:
			t.Errorf("%s: a next page after %d, want none", tc.name, *last)
		case tc.last != 0 && (last == nil || *last != tc.last):
			t.Errorf("%s: last %v, want %d", tc.name, last, tc.last)
		}
	}
}

func TestEncodeDecode(t *testing.T) {
	c := Encode(3, -42, "id-1")
	n, tail, err := Decode(c, 3, 10)
	if err != nil || n != -42 || tail != "id-1" {
		t.Fatalf("Decode(Encode(3, -42, id-1)) = %d, %q, %v", n, tail, err)
	}
	for name, tc := range map[string]struct {
		c    string
		kind byte
		max  int
		want error
	}{
		"another kind":  {c, 4, 10, ErrMalformed},
		"tail too long": {c, 3, 2, ErrTooLong},
		"empty":         {"", 3, 10, ErrMalformed},
		"padded":        {c + "=", 3, 10, ErrMalformed},
		"a line break":  {c[:4] + "\n" + c[4:], 3, 10, ErrMalformed},
		"too short":     {Encode(3, 1, "")[:8], 3, 10, ErrMalformed},
	} {
		if _, _, err := Decode(tc.c, tc.kind, tc.max); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
}
