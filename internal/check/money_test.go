package check

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

// moneyOKPlain is MoneyOK's rule written plainly: |d| < 10^16 and d has at
// most 4 decimal places.
func moneyOKPlain(d decimal.Decimal) bool {
	return d.Abs().LessThan(decimal.New(1, 16)) && d.Equal(d.Truncate(4))
}

func TestMoneyOK(t *testing.T) {
	for _, c := range []struct {
		s  string
		ok bool
	}{
		{"0", true}, {"0.0000", true}, {"0.00000", true}, {"1.2345", true}, {"1.23456", false}, {"1.23450", true},
		{"9999999999999999.9999", true}, {"10000000000000000", false}, {"-9999999999999999", true}, {"-10000000000000000", false},
		{"1E+15", true}, {"1E+16", false}, {"100000000000000000E-1", false}, {"99999999999999999E-1", true},
	} {
		d := decimal.RequireFromString(c.s)
		if got := MoneyOK(d); got != c.ok || got != moneyOKPlain(d) {
			t.Errorf("MoneyOK(%s) = %v, want %v (plain rule %v)", c.s, got, c.ok, moneyOKPlain(d))
		}
	}
}

// TestMoneyOKProperty compares MoneyOK with the plain rule over random
// coefficients and exponents around the bounds (the seed is printed).
func TestMoneyOKProperty(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	r := rand.New(rand.NewPCG(seed, 0))
	for i := 0; i < 200000; i++ {
		coef := r.Int64N(1<<62) >> r.IntN(62)
		if r.IntN(2) == 0 {
			coef = -coef
		}
		d := decimal.New(coef, int32(r.IntN(30))-12)
		if MoneyOK(d) != moneyOKPlain(d) {
			t.Fatalf("seed %d: MoneyOK(%s) = %v, the plain rule %v", seed, d, MoneyOK(d), moneyOKPlain(d))
		}
	}
}

func FuzzMoneyOK(f *testing.F) {
	for _, c := range []struct {
		coef int64
		exp  int32
	}{{0, 0}, {12345, -4}, {123456, -5}, {1, 16}, {99999999999999999, -1}, {-1, 15}} {
		f.Add(c.coef, c.exp)
	}
	f.Fuzz(func(t *testing.T, coef int64, exp int32) {
		if exp < -40 || exp > 40 {
			return
		}
		d := decimal.New(coef, exp)
		if MoneyOK(d) != moneyOKPlain(d) {
			t.Fatalf("MoneyOK(%s) = %v, the plain rule %v", d, MoneyOK(d), moneyOKPlain(d))
		}
	})
}

// TestMoneyOKHostileExponent: an exponent far below -4 is settled by the
// digit count, not by truncating (a rescale by 10^2147483644, hours of
// work); zero with such an exponent is zero.
func TestMoneyOKHostileExponent(t *testing.T) {
	done := make(chan [3]bool, 1)
	go func() {
		done <- [3]bool{MoneyOK(decimal.New(7, -1<<31)), MoneyOK(decimal.New(0, -1<<31)), ExactTo(decimal.New(1000, -100_000_000), 2)}
	}()
	select {
	case got := <-done:
		if got != [3]bool{false, true, false} {
			t.Errorf("MoneyOK(7E-2147483648), MoneyOK(0E-2147483648), ExactTo(1000E-100000000, 2) = %v, want [false true false]", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("MoneyOK did not return within 5s")
	}
}
