package ranking

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

func ulpDiff(a, b float64) float64 {
	if a == b {
		return 0
	}
	return math.Abs(a-b) / math.Abs(math.Nextafter(b, math.Inf(1))-b)
}

func TestLn(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	worst, worstX := 0.0, 0.0
	check := func(x float64) {
		if u := ulpDiff(ln(x), math.Log(x)); u > worst {
			worst, worstX = u, x
		}
	}
	n := 500_000
	if testing.Short() {
		n = 50_000
	}
	for range n {
		check(1 + math.Exp(rng.Float64()*45-10)) // 1 + 4.5e-5 .. 3.5e15: engagement, affinity
		check(math.Exp(rng.Float64()*80 - 40))   // 4e-18 .. 2e17: ratios, factors
		check(1 + rng.Float64())                 // [1, 2)
		check(1 - rng.Float64()*1e-3)            // just below 1
	}
	for _, x := range []float64{1, 2, 0.5, 1 + 1.0/256, 1 - 1.0/512, math.MaxFloat64, 0x1p-1022, 1e300} {
		check(x)
	}
	t.Logf("worst difference from math.Log: %.2f ulp at %v", worst, worstX)
	if worst > 2 {
		t.Fatalf("ln is %.2f ulp from math.Log at %v", worst, worstX)
	}
	if ln(1) != 0 {
		t.Fatal("ln(1) must be exactly 0")
	}
	for _, x := range []float64{0, -1, math.Inf(1), math.Inf(-1), math.NaN(), 1e-310} {
		a, b := ln(x), math.Log(x)
		if !(a == b || (math.IsNaN(a) && math.IsNaN(b))) {
			t.Fatalf("ln(%v) = %v, want %v", x, a, b)
		}
	}
	// Monotone around every table boundary.
	for j := 1; j <= 128; j++ {
		x := math.Float64frombits(math.Float64bits(1+(float64(j)-0.5)/128) - 8)
		for range 16 {
			y := math.Nextafter(x, 2)
			if ln(y) < ln(x) {
				t.Fatalf("ln not monotone at %v", x)
			}
			x = y
		}
	}
}

func TestLnTables(t *testing.T) {
	for j := range 129 {
		c := new(big.Float).SetPrec(200).SetFloat64(1 + float64(j)/128)
		inv, _ := new(big.Float).SetPrec(200).Quo(big.NewFloat(1).SetPrec(200), c).Float64()
		if inv != lnInvC[j] {
			t.Fatalf("lnInvC[%d] = %v, want %v", j, lnInvC[j], inv)
		}
		if d := ulpDiff(lnLogCHi[j], -math.Log(lnInvC[j])); d > 1 {
			t.Fatalf("lnLogCHi[%d] is %.1f ulp from -log(invc)", j, d)
		}
		if h := lnLogCHi[j]; h != 0 && math.Abs(lnLogCLo[j]) > math.Abs(math.Nextafter(h, 2*h)-h) {
			t.Fatalf("lnLogCLo[%d] too large", j)
		}
	}
}

func BenchmarkLn(b *testing.B) {
	xs := make([]float64, 1024)
	for i := range xs {
		xs[i] = 1 + float64(i*37%5000)
	}
	var s float64
	for b.Loop() {
		for _, x := range xs {
			s += ln(x)
		}
	}
	_ = s
}

func BenchmarkMathLog(b *testing.B) {
	xs := make([]float64, 1024)
	for i := range xs {
		xs[i] = 1 + float64(i*37%5000)
	}
	var s float64
	for b.Loop() {
		for _, x := range xs {
			s += math.Log(x)
		}
	}
	_ = s
}
