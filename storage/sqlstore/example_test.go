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

// A host keeps its own order row and the seat it reserves in one
// transaction: a Service built on store.WithTx(tx) writes inside tx, so a
// rollback takes the seat back with the order.
func ExampleStore_WithTx() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "scsdk-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "shop.db")+"?_pragma=busy_timeout(10000)&_txlock=immediate")
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
	if err := store.Migrate(ctx); err != nil { // once at deploy
		fmt.Println(err)
		return
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE orders (id TEXT PRIMARY KEY, seat_id TEXT NOT NULL)`); err != nil {
		fmt.Println(err)
		return
	}

	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	n := 0
	cfg := groupbuy.Config{
		Now:   func() time.Time { return now },
		NewID: func() string { n++; return "id" + strconv.Itoa(n) },
	}
	admin, _ := groupbuy.New(store, cfg)
	_, err = admin.CreateCampaign(ctx, groupbuy.Campaign{
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

	// placeOrder opens a team for user and records the host's order in the
	// same transaction; commit decides whether both stay.
	placeOrder := func(orderID, user string, commit bool) (groupbuy.SeatResult, error) {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return groupbuy.SeatResult{}, err
		}
		defer func() { _ = tx.Rollback() }() // a no-op once committed
		svc, err := groupbuy.New(store.WithTx(tx), cfg)
		if err != nil {
			return groupbuy.SeatResult{}, err
		}
		r, err := svc.Open(ctx, groupbuy.OpenRequest{CampaignID: "tea", UserID: user, SKU: "500g"})
		if err != nil {
			return groupbuy.SeatResult{}, err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO orders (id, seat_id) VALUES (?, ?)`, orderID, r.Seat.ID); err != nil {
			return groupbuy.SeatResult{}, err
		}
		if !commit {
			return r, nil // the deferred rollback undoes the seat and the order
		}
		return r, tx.Commit()
	}

	kept, err := placeOrder("order-1", "alice", true)
	if err != nil {
		fmt.Println(err)
		return
	}
	dropped, err := placeOrder("order-2", "bob", false)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range []groupbuy.SeatResult{kept, dropped} {
		_, err := admin.Team(ctx, r.Team.ID)
		fmt.Printf("%s's team: found=%v\n", r.Seat.UserID, err == nil)
	}
	var orders int
	_ = db.QueryRowContext(ctx, `SELECT COUNT(*) FROM orders`).Scan(&orders)
	fmt.Println("orders:", orders)
	// Output:
	// alice's team: found=true
	// bob's team: found=false
	// orders: 1
}
