package decfmt

import (
	"math"
	"testing"

	"github.com/shopspring/decimal"
)

func TestAppendMatchesString(t *testing.T) {
	cases := []decimal.Decimal{
		decimal.Zero, decimal.New(0, -3), decimal.New(0, 4), decimal.New(5, 2), decimal.New(-5, 2),
		decimal.New(1000, -2), decimal.New(1050, -2), decimal.New(-1050, -2), decimal.New(5, -1),
		decimal.New(-5, -1), decimal.New(5, -7), decimal.New(-10, -1), decimal.New(123456789012345678, -9),
		decimal.New(math.MaxInt64, -3), decimal.New(math.MinInt64, -3), decimal.New(1, 41), decimal.New(1, -41),
		decimal.RequireFromString("12345678901234567890.123"), decimal.RequireFromString("-0.000000000000000000001"),
	}
	for _, d := range cases {
		if got, want := string(Append([]byte("x"), d)), "x"+d.String(); got != want {
			t.Errorf("Append(%s) = %q, want %q", d, got, want)
		}
	}
}

func TestAppendAllocatesNothing(t *testing.T) {
	d := decimal.New(129900, -2)
	buf := make([]byte, 0, 64)
	if n := testing.AllocsPerRun(100, func() { buf = Append(buf[:0], d) }); n != 0 {
		t.Fatalf("%v allocations per Append, want 0", n)
	}
}

func FuzzAppend(f *testing.F) {
	f.Add(int64(129900), int32(-2))
	f.Add(int64(-1), int32(-30))
	f.Add(int64(0), int32(5))
	f.Add(int64(math.MinInt64), int32(0))
	f.Fuzz(func(t *testing.T, coef int64, exp int32) {
		d := decimal.New(coef, exp%60)
		if got, want := string(Append(nil, d)), d.String(); got != want {
			t.Fatalf("Append(%d e%d) = %q, want %q", coef, exp%60, got, want)
		}
	})
}
