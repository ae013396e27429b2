package groupbuy_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/socialcommerce/sdk/groupbuy"
	"github.com/socialcommerce/sdk/storage/memory"
)

// BenchmarkJoinPayMemory measures one Join plus one ConfirmPayment per op on
// the memory store, with default IDs (UUIDv7) and JSON event payloads. A new
// team of 100 is opened whenever one fills. The store keeps everything, so
// the heap grows for the whole run. Each op's user ID and payment reference
// are built as one fresh string ("pay" + user ID, the user ID its suffix),
// so that the harness adds one allocation per op, not three.
func BenchmarkJoinPayMemory(b *testing.B) { benchJoinPay(b, 0) }

// BenchmarkJoinPayMemorySteady is the same with a fresh store every 10,000
// ops (swapped with the timer stopped), so the heap stays bounded and the
// figure is the cost of the code path rather than of the VM handing the
// process fresh pages; BENCHMARKS.md says why both are reported.
func BenchmarkJoinPayMemorySteady(b *testing.B) { benchJoinPay(b, 10000) }

func benchJoinPay(b *testing.B, resetEvery int) {
	ctx := context.Background()
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	price := decimal.NewFromInt(10)
	var svc *groupbuy.Service
	fresh := func() {
		store := memory.New(memory.WithClock(func() time.Time { return now }))
		var err error
		svc, err = groupbuy.New(store, groupbuy.Config{Now: func() time.Time { return now }})
		if err != nil {
			b.Fatal(err)
		}
		_, err = svc.CreateCampaign(ctx, groupbuy.Campaign{
			ID: "bench", ProductRef: "p", Currency: "CNY", Prices: []groupbuy.SKUPrice{{SKU: "s", Price: price}},
			TeamSize: groupbuy.MaxTeamSize, TeamLifetime: time.Hour, ReservationTTL: time.Minute,
			StartsAt: now, EndsAt: now.Add(time.Hour), Status: groupbuy.CampaignActive,
			VirtualFill: groupbuy.VirtualFill{Mode: groupbuy.VirtualFillNone}, LatePayment: groupbuy.LateRefund,
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	fresh()
	team := ""
	taken := groupbuy.MaxTeamSize
	i := 0
	var ref []byte
	b.ReportAllocs()
	for b.Loop() {
		if resetEvery > 0 && i > 0 && i%resetEvery == 0 {
			b.StopTimer()
			fresh()
			taken = groupbuy.MaxTeamSize
			b.StartTimer()
		}
		if taken == groupbuy.MaxTeamSize {
			r, err := svc.Open(ctx, groupbuy.OpenRequest{CampaignID: "bench", UserID: "leader" + strconv.Itoa(i), SKU: "s"})
			if err != nil {
				b.Fatal(err)
			}
			team, taken = r.Team.ID, 1
		}
		i++
		ref = strconv.AppendInt(append(ref[:0], "payu"...), int64(i), 10)
		payRef := string(ref) // a new string per op, as a host's would be
		user := payRef[len("pay"):]
		r, err := svc.Join(ctx, groupbuy.JoinRequest{CampaignID: "bench", TeamID: team, UserID: user, SKU: "s"})
		if err != nil {
			b.Fatal(err)
		}
		taken++
		if _, err := svc.ConfirmPayment(ctx, groupbuy.PaymentRequest{
			TeamID: team, SeatID: r.Seat.ID, PaymentRef: payRef, Amount: price, Currency: "CNY",
		}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRetainedBytesFloor runs no SDK code: each op allocates n bytes,
// touches them and keeps them, as a store that keeps what it is given
// must. It is the machine's floor under BenchmarkJoinPayMemory, whose store
// keeps about 1.5 KB per op (its B/op, less what the collector reuses):
// where a fresh page costs the kernel much (a virtual machine), keeping
// the bytes costs more than the code path. Run one size per process (for
// example -bench 'RetainedBytesFloor/1800$'): a later size reuses the
// pages an earlier one freed.
func BenchmarkRetainedBytesFloor(b *testing.B) {
	for _, n := range []int{500, 1000, 1800} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			var kept [][]byte
			b.ReportAllocs()
			for b.Loop() {
				p := make([]byte, n)
				p[0], p[n-1] = 1, 1
				kept = append(kept, p)
			}
			if len(kept) != b.N {
				b.Fatal("kept", len(kept), "of", b.N)
			}
		})
	}
}
