package sqlstore

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialcommerce/sdk/groupbuy"
)

// moneyByFormat is money without its fast path: format at 4 decimals, cut
// the trailing zeros.
func moneyByFormat(d decimal.Decimal) string {
	x := strings.TrimSuffix(strings.TrimRight(d.StringFixed(4), "0"), ".")
	if x == "-0" || x == "" {
		x = "0"
	}
	return x
}

// TestMoneyFastPaths: money's and decScan's fast paths give exactly what
// formatting (and parsing the formatted text back) gives: the same text,
// the same coefficient and exponent.
func TestMoneyFastPaths(t *testing.T) {
	texts := []string{"0", "-0", "0.0000", "-0.0000", "19.9000", "19.9", "20", "20.0000", "-0.5000", "0.0001", "-12.3400",
		"1234567890123456.9999", "100", "00.5", "1e3", ".5", "5.", "1.23456", "-", "", "+1.5", "12a", "0.00000"}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		d := decimal.New(rng.Int64N(2_000_000)-1_000_000, -int32(rng.IntN(7)))
		texts = append(texts, d.String(), d.StringFixed(4), d.StringFixed(int32(rng.IntN(6))))
	}
	for _, x := range texts {
		var got decimal.Decimal
		gotErr := decScan{&got}.Scan(x)
		d, err := decimal.NewFromString(x)
		if err != nil {
			assert.Error(t, gotErr, x)
			continue
		}
		require.NoError(t, gotErr, x)
		assert.Equal(t, moneyByFormat(d), money(d), x)
		want := decimal.RequireFromString(moneyByFormat(d))
		assert.Equal(t, want.Exponent(), got.Exponent(), x)
		assert.Equal(t, want.Coefficient().String(), got.Coefficient().String(), x)
		var fromBytes decimal.Decimal
		require.NoError(t, decScan{&fromBytes}.Scan([]byte(x)), x)
		assert.Equal(t, got.String(), fromBytes.String(), x)
	}
}

// TestScanDests: teamDest and seatDest have one destination per column,
// and the integer and string scanners take what the drivers send.
func TestScanDests(t *testing.T) {
	s := &Store{d: Postgres}
	assert.Len(t, s.teamDest(nil, &groupbuy.Team{}), teamColN)
	assert.Len(t, strings.Split(teamCols, ","), teamColN)
	assert.Len(t, s.seatDest(nil, &groupbuy.Seat{}), seatColN)
	assert.Len(t, strings.Split(seatCols, ","), seatColN)

	var n intScan
	for _, src := range []any{int64(42), []byte("42"), "42"} {
		n = 0
		require.NoError(t, n.Scan(src))
		assert.Equal(t, intScan(42), n)
	}
	for _, src := range []any{nil, "x", 1.5, []byte(strconv.FormatUint(1<<63, 10))} {
		assert.Error(t, n.Scan(src), "%v", src)
	}
	var st strScan
	require.NoError(t, st.Scan("forming"))
	assert.Equal(t, strScan("forming"), st)
	b := []byte("paid")
	require.NoError(t, st.Scan(b))
	b[0] = 'x' // the driver may reuse its buffer
	assert.Equal(t, strScan("paid"), st)
	assert.Error(t, st.Scan(nil))
}
