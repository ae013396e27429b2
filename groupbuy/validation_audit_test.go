package groupbuy_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialcommerce/sdk/groupbuy"
	"github.com/socialcommerce/sdk/storage"
	"github.com/socialcommerce/sdk/storage/memory"
)

// auditCampaign is a valid campaign, changed by mod.
func auditCampaign(now time.Time, mod func(*groupbuy.Campaign)) groupbuy.Campaign {
	c := groupbuy.Campaign{
		ID: "c", ProductRef: "p", Currency: "CNY", Prices: []groupbuy.SKUPrice{{SKU: "s", Price: decimal.NewFromInt(10)}},
		TeamSize: 3, TeamLifetime: time.Hour, ReservationTTL: time.Minute, StartsAt: now, EndsAt: now.Add(time.Hour),
		Status: groupbuy.CampaignActive, VirtualFill: groupbuy.VirtualFill{Mode: groupbuy.VirtualFillNone}, LatePayment: groupbuy.LateRefund,
	}
	if mod != nil {
		mod(&c)
	}
	return c
}

// TestValidationAudit holds exported functions to their contract on bad
// input: a *ValidationError naming the field, nothing stored, no panic.
func TestValidationAudit(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	y10000 := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	y300000 := time.Date(300000, 1, 1, 0, 0, 0, 0, time.UTC)
	yMinus5 := time.Date(-5, 1, 1, 0, 0, 0, 0, time.UTC)
	ctx := context.Background()
	// Times every store keeps are in the years 1 to 9999: MySQL refused
	// later ones, PostgreSQL refused or wrapped them, SQLite wrapped them,
	// and the memory store took them all.
	cases := []struct {
		name  string
		field string
		call  func(s *groupbuy.Service, m *memory.Store) error
	}{
		{"CreateCampaign ending in year 10000", "campaign.EndsAt", func(s *groupbuy.Service, _ *memory.Store) error {
			_, err := s.CreateCampaign(ctx, auditCampaign(now, func(c *groupbuy.Campaign) { c.EndsAt = y10000 }))
			return err
		}},
		{"CreateCampaign starting in year -5", "campaign.StartsAt", func(s *groupbuy.Service, _ *memory.Store) error {
			_, err := s.CreateCampaign(ctx, auditCampaign(now, func(c *groupbuy.Campaign) { c.StartsAt = yMinus5 }))
			return err
		}},
		{"ValidateCampaign ending in year 300000", "campaign.EndsAt", func(*groupbuy.Service, *memory.Store) error {
			c := auditCampaign(now, func(c *groupbuy.Campaign) { c.EndsAt = y300000 })
			return groupbuy.ValidateCampaign(&c)
		}},
		{"CheckStoredCampaign ending in year 300000", "campaign.EndsAt", func(*groupbuy.Service, *memory.Store) error {
			c := auditCampaign(now, func(c *groupbuy.Campaign) { c.EndsAt = y300000 })
			return groupbuy.CheckStoredCampaign(&c)
		}},
		{"Store.CreateCampaign ending in year 10000", "campaign.EndsAt", func(_ *groupbuy.Service, m *memory.Store) error {
			c := auditCampaign(now, func(c *groupbuy.Campaign) { c.EndsAt = y10000; c.CreatedAt = now; c.Version = 1 })
			return m.CreateCampaign(ctx, &c)
		}},
		{"Store.CreateCampaign created in year 10000", "campaign.CreatedAt", func(_ *groupbuy.Service, m *memory.Store) error {
			c := auditCampaign(now, func(c *groupbuy.Campaign) { c.CreatedAt = y10000; c.Version = 1 })
			return m.CreateCampaign(ctx, &c)
		}},
		{"CheckPaySeatWrite at year 10000", "Now", func(*groupbuy.Service, *memory.Store) error {
			return groupbuy.CheckPaySeatWrite(&groupbuy.PaySeatWrite{TeamID: "t", SeatID: "s", PaymentRef: "pay", Currency: "CNY", Now: y10000})
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := memory.New(memory.WithClock(func() time.Time { return now }))
			s, err := groupbuy.New(m, groupbuy.Config{Now: func() time.Time { return now }})
			require.NoError(t, err)
			require.NotPanics(t, func() { err = c.call(s, m) })
			var ve *groupbuy.ValidationError
			require.True(t, errors.As(err, &ve), "want a *ValidationError, got %T %v", err, err)
			assert.Equal(t, c.field, ve.Field)
			assert.NotEmpty(t, ve.Reason)
			_, err = m.GetCampaign(ctx, "c")
			assert.ErrorIs(t, err, storage.ErrNotFound, "nothing stored")
		})
	}
	// The last instant every store keeps is still taken.
	c := auditCampaign(now, func(c *groupbuy.Campaign) { c.EndsAt = time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC) })
	require.NoError(t, groupbuy.ValidateCampaign(&c))
}

// TestPositionOfNil: a nil seat has no position; PositionOf returns the
// start of the list, as MayShip answers false, rather than panicking.
func TestPositionOfNil(t *testing.T) {
	var p groupbuy.SeatPosition
	require.NotPanics(t, func() { p = groupbuy.PositionOf(nil) })
	assert.True(t, p.IsZero())
}
