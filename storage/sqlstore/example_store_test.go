package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/shopspring/decimal"
	_ "modernc.org/sqlite"

	"github.com/socialcommerce/sdk/groupbuy"
	"github.com/socialcommerce/sdk/storage/sqlstore"
)

// The host opens the database with the driver of its choice (here
// modernc.org/sqlite, on a file, with the immediate transactions and the
// busy timeout that SQLite needs), makes the Store, creates its tables
// once and runs a Service on it.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "scsdk-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	dsn := "file:" + filepath.Join(dir, "shop.db") + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()
	store, err := sqlstore.New(db, sqlstore.SQLite)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer store.Close()
	if err := store.Migrate(ctx); err != nil { // once at deploy
		fmt.Println(err)
		return
	}

	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	n := 0
	svc, err := groupbuy.New(store, groupbuy.Config{
		Now:   func() time.Time { return now },
		NewID: func() string { n++; return "id" + strconv.Itoa(n) },
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	_, err = svc.CreateCampaign(ctx, groupbuy.Campaign{
		ID: "tea", ProductRef: "spu-1", Currency: "CNY",
		Prices:   []groupbuy.SKUPrice{{SKU: "500g", Price: decimal.RequireFromString("9.90")}},
		TeamSize: 3, TeamLifetime: 24 * time.Hour, ReservationTTL: 15 * time.Minute,
		StartsAt: now, EndsAt: now.Add(7 * 24 * time.Hour), Status: groupbuy.CampaignActive,
		VirtualFill: groupbuy.VirtualFill{Mode: groupbuy.VirtualFillNone}, LatePayment: groupbuy.LateRefund,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	r, err := svc.Open(ctx, groupbuy.OpenRequest{CampaignID: "tea", UserID: "alice", SKU: "500g"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("team %s %s, %d of %d seats, expires %s\n", r.Team.ID, r.Team.State, r.Team.SeatsTaken, r.Team.Capacity, r.Team.ExpiresAt.Format(time.RFC3339))
	fmt.Printf("seat %s of %s: %s %s %s, until %s\n", r.Seat.ID, r.Seat.UserID, r.Seat.State, r.Seat.Amount, r.Seat.Currency, r.Seat.ReservedUntil.Format(time.RFC3339))

	// Read back from the database; the outbox holds the events to relay.
	stored, err := store.GetTeam(ctx, r.Team.ID)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("stored:", stored.ID, stored.LeaderID, stored.State)
	events, err := store.Claim(ctx, 100, time.Minute)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, e := range events {
		fmt.Println(e.Topic, e.Key)
	}
	// Output:
	// team id1 forming, 1 of 3 seats, expires 2026-11-28T12:00:00Z
	// seat id2 of alice: reserved 9.9 CNY, until 2026-11-27T12:15:00Z
	// stored: id1 alice forming
	// groupbuy.team_opened gb:id1:opened
	// groupbuy.seat_reserved gb:id1:id2:reserved
}
