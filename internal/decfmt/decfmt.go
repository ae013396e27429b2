// Package decfmt appends a decimal.Decimal's String form to a byte slice
// without the big.Int conversions that String makes: amounts are formatted
// on the join and pay paths, into event payloads and fingerprints.
package decfmt

import (
	"strconv"

	"github.com/shopspring/decimal"
)

// maxFastScale bounds the zeros the fast path writes; longer forms are
// rare enough to leave to String.
const maxFastScale = 40

// Append appends d.String() to b. Coefficients of up to 18 digits take a
// path that allocates nothing; others, and hosts that changed decimal's
// TrimTrailingZeros or UseScientificNotation, fall back to String.
func Append(b []byte, d decimal.Decimal) []byte {
	exp := int(d.Exponent())
	if !decimal.TrimTrailingZeros || decimal.UseScientificNotation ||
		exp > maxFastScale || exp < -maxFastScale || d.NumDigits() > 18 {
		return append(b, d.String()...)
	}
	c := d.CoefficientInt64()
	if exp >= 0 {
		b = strconv.AppendInt(b, c, 10)
		if c != 0 {
			for range exp {
				b = append(b, '0')
			}
		}
		return b
	}
	if c < 0 {
		b = append(b, '-')
		c = -c // at most 18 digits: no overflow
	}
	var buf [20]byte
	digits := strconv.AppendUint(buf[:0], uint64(c), 10)
	scale := -exp
	var intPart, frac []byte
	leadingZeros := 0
	if len(digits) > scale {
		intPart, frac = digits[:len(digits)-scale], digits[len(digits)-scale:]
	} else {
		intPart, frac = []byte{'0'}, digits
		leadingZeros = scale - len(digits)
	}
	for len(frac) > 0 && frac[len(frac)-1] == '0' {
		frac = frac[:len(frac)-1]
	}
	b = append(b, intPart...)
	if len(frac) == 0 {
		return b
	}
	b = append(b, '.')
	for range leadingZeros {
		b = append(b, '0')
	}
	return append(b, frac...)
}
