package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/shopspring/decimal"

	"github.com/socialcommerce/sdk/groupbuy"
	"github.com/socialcommerce/sdk/storage"
)

const campaignCols = `id, product_ref, currency, prices, team_size, team_lifetime, starts_at, ends_at, status,
	max_opened, max_joined, max_units, reservation_ttl, vf_mode, vf_min_paid, vf_min_percent, record_virtual,
	late_payment, created_at, version`

// priceJSON is one price in the campaigns.prices column.
type priceJSON struct {
	SKU   string `json:"sku"`
	Price string `json:"price"`
}

func notFound(what, id string) error { return fmt.Errorf("%s %s: %w", what, id, groupbuy.ErrNotFound) }

func conflict(format string, args ...any) error {
	return fmt.Errorf(format+": %w", append(args, storage.ErrConflict)...)
}

// CreateCampaign implements groupbuy.Store: it stores c as given (times
// truncated to microseconds); storage.ErrConflict if the ID exists.
func (s *Store) CreateCampaign(ctx context.Context, c *groupbuy.Campaign) error {
	if err := checkCtx(ctx); err != nil {
		return err
	}
	if err := groupbuy.CheckStoredCampaign(c); err != nil {
		return err
	}
	prices := make([]priceJSON, len(c.Prices))
	for i, p := range c.Prices {
		prices[i] = priceJSON{SKU: p.SKU, Price: money(p.Price)}
	}
	pj, err := json.Marshal(prices)
	if err != nil {
		return fmt.Errorf("sqlstore: prices of campaign %s: %w", c.ID, err)
	}
	l, vf := c.Limits, c.VirtualFill
	err = s.inStmt(ctx, func(r run) error {
		_, err := r.exec(ctx, `INSERT INTO {p}campaigns (`+campaignCols+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			c.ID, c.ProductRef, c.Currency, string(pj), c.TeamSize, int64(c.TeamLifetime), s.t(c.StartsAt), s.t(c.EndsAt),
			string(c.Status), l.MaxTeamsOpenedPerUser, l.MaxTeamsJoinedPerUser, l.MaxUnitsPerOrder, int64(c.ReservationTTL),
			string(vf.Mode), vf.MinPaidSeats, vf.MinPercent, c.RecordVirtualSeats, string(c.LatePayment), s.t(c.CreatedAt), c.Version)
		if s.isUnique(err) {
			return conflict("campaign %s exists", c.ID)
		}
		return err
	})
	return s.wrap(err, "create campaign "+c.ID)
}

// SetCampaignStatus implements groupbuy.Store.
func (s *Store) SetCampaignStatus(ctx context.Context, id string, from, to groupbuy.CampaignStatus) (groupbuy.Campaign, error) {
	if err := checkCtx(ctx); err != nil {
		return groupbuy.Campaign{}, err
	}
	if err := checkID("id", id); err != nil {
		return groupbuy.Campaign{}, err
	}
	if !from.Valid() || !to.Valid() {
		return groupbuy.Campaign{}, bad("status", "unknown status")
	}
	var out groupbuy.Campaign
	err := s.inTx(ctx, func(r run) error {
		n, err := r.affected(ctx, `UPDATE {p}campaigns SET status = ?, version = version + 1 WHERE id = ? AND status = ?`,
			string(to), id, string(from))
		if err != nil {
			return err
		}
		c, err := s.getCampaign(ctx, r, id)
		if errors.Is(err, groupbuy.ErrNotFound) {
			// On PostgreSQL the UPDATE is in the host's snapshot too.
			return s.notFoundOrNewer(ctx, r, "campaign", id)
		}
		if err != nil {
			return err
		}
		if n == 0 {
			// Under WithTx c is read in the host's snapshot: when it still
			// shows from, the status changed after the snapshot, and only a
			// rerun of the host's transaction sees the change.
			err := conflict("campaign %s is %s, not %s", id, c.Status, from)
			return s.retryableIfStale(ctx, r, err, func(run) (bool, error) { return c.Status == from, nil })
		}
		out = c
		return nil
	})
	return out, s.wrap(err, "set status of campaign "+id)
}

// GetCampaign implements groupbuy.Store.
func (s *Store) GetCampaign(ctx context.Context, id string) (groupbuy.Campaign, error) {
	if err := checkCtx(ctx); err != nil {
		return groupbuy.Campaign{}, err
	}
	if err := checkID("id", id); err != nil {
		return groupbuy.Campaign{}, err
	}
	c, err := s.getCampaign(ctx, s.reader(), id)
	return c, s.wrap(s.orNewer(ctx, err, "campaign", id), "get campaign "+id)
}

func (s *Store) getCampaign(ctx context.Context, r run, id string) (groupbuy.Campaign, error) {
	var (
		c                    groupbuy.Campaign
		pj                   string
		lifetime, ttl        int64
		status, mode, late   string
		maxO, maxJ, maxU     int
		minPaid, minPercent  int
		startsAt, endsAt, at time.Time
	)
	err := r.row(ctx, `SELECT `+campaignCols+` FROM {p}campaigns WHERE id = ?`, id).Scan(
		&c.ID, &c.ProductRef, &c.Currency, &pj, &c.TeamSize, &lifetime, s.ts(&startsAt), s.ts(&endsAt), &status,
		&maxO, &maxJ, &maxU, &ttl, &mode, &minPaid, &minPercent, &c.RecordVirtualSeats, &late, s.ts(&at), &c.Version)
	if errors.Is(err, sql.ErrNoRows) {
		return c, notFound("campaign", id)
	}
	if err != nil {
		return c, err
	}
	var prices []priceJSON
	if err := json.Unmarshal([]byte(pj), &prices); err != nil {
		return c, fmt.Errorf("sqlstore: prices of campaign %s: %w", id, err)
	}
	c.Prices = make([]groupbuy.SKUPrice, len(prices))
	for i, p := range prices {
		d, err := decimal.NewFromString(p.Price)
		if err != nil {
			return c, fmt.Errorf("sqlstore: price of %s in campaign %s: %w", p.SKU, id, err)
		}
		c.Prices[i] = groupbuy.SKUPrice{SKU: p.SKU, Price: d}
	}
	c.TeamLifetime, c.ReservationTTL = time.Duration(lifetime), time.Duration(ttl)
	c.StartsAt, c.EndsAt, c.CreatedAt = startsAt, endsAt, at
	c.Status, c.LatePayment = groupbuy.CampaignStatus(status), groupbuy.LatePaymentPolicy(late)
	c.Limits = groupbuy.Limits{MaxTeamsOpenedPerUser: maxO, MaxTeamsJoinedPerUser: maxJ, MaxUnitsPerOrder: maxU}
	c.VirtualFill = groupbuy.VirtualFill{Mode: groupbuy.VirtualFillMode(mode), MinPaidSeats: minPaid, MinPercent: minPercent}
	return c, nil
}

// wrap prefixes a database error with what the Store was doing and marks it
// retryable when a rerun may cure it. Sentinels, replays and validation
// errors pass through unchanged in meaning (errors.Is and errors.As still
// see them).
func (s *Store) wrap(err error, what string) error {
	if err == nil {
		return nil
	}
	if _, ok := errors.AsType[*groupbuy.ReplayError](err); ok {
		return err
	}
	if _, ok := errors.AsType[*storage.ValidationError](err); ok {
		return err
	}
	return fmt.Errorf("sqlstore: %s: %w", what, s.markRetryable(err))
}
