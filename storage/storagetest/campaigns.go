package storagetest

import (
	"errors"
	"time"

	"github.com/shopspring/decimal"

	"github.com/socialcommerce/sdk/groupbuy"
	"github.com/socialcommerce/sdk/storage"
	"github.com/socialcommerce/sdk/storage/storagetest/internal/assert"
	"github.com/socialcommerce/sdk/storage/storagetest/internal/require"
)

// fullCampaign sets every field of a campaign to a non-default value.
func fullCampaign(id string) groupbuy.Campaign {
	return groupbuy.Campaign{
		ID: id, ProductRef: "spu-42", Currency: "CNY",
		// Not in SKU order: a round trip keeps the order given.
		Prices: []groupbuy.SKUPrice{
			{SKU: "sku-z", Price: decimal.RequireFromString("19.90")},
			{SKU: "sku-a", Price: decimal.RequireFromString("0.01")},
			{SKU: "sku-m", Price: decimal.RequireFromString("123456789.99")},
		},
		TeamSize: 7, TeamLifetime: 90*time.Minute + 7*time.Second, ReservationTTL: 17*time.Minute + 3*time.Second,
		StartsAt: start.Add(-36*time.Hour + 654321*time.Microsecond), EndsAt: start.Add(45*24*time.Hour + 1234*time.Microsecond),
		Status:             groupbuy.CampaignPaused,
		Limits:             groupbuy.Limits{MaxTeamsOpenedPerUser: 2, MaxTeamsJoinedPerUser: 3, MaxUnitsPerOrder: 4},
		VirtualFill:        groupbuy.VirtualFill{Mode: groupbuy.VirtualFillMinPercent, MinPercent: 60},
		RecordVirtualSeats: true,
		LatePayment:        groupbuy.LateJoinOther,
		CreatedAt:          start.Add(-48*time.Hour + 999999*time.Microsecond),
		Version:            7,
	}
}

func testCampaignRoundTrip(e *env) {
	c := fullCampaign("camp-full")
	require.NoError(e.t, groupbuy.ValidateCampaign(&c), "fixture")
	require.NoError(e.t, e.gb.CreateCampaign(e.ctx, &c))
	got, err := e.gb.GetCampaign(e.ctx, c.ID)
	require.NoError(e.t, err)
	assert.Equal(e.t, cv(c), cv(got), "every field of the campaign survives the round trip (prices in the order given)")
	for _, p := range c.Prices {
		gp, ok := got.Price(p.SKU)
		if assert.True(e.t, ok, "price of %s", p.SKU) {
			assert.True(e.t, p.Price.Equal(gp), "price of %s: want %s, got %s", p.SKU, p.Price, gp)
		}
	}

	// A second campaign with the other enum values and a JPY price.
	c2 := groupbuy.Campaign{
		ID: "camp-jpy", ProductRef: "spu-43", Currency: "JPY",
		Prices:   []groupbuy.SKUPrice{{SKU: "only", Price: decimal.RequireFromString("1200")}},
		TeamSize: 2, TeamLifetime: time.Minute, ReservationTTL: time.Second,
		StartsAt: start, EndsAt: start.Add(time.Hour), Status: groupbuy.CampaignDraft,
		VirtualFill: groupbuy.VirtualFill{Mode: groupbuy.VirtualFillMinPaid, MinPaidSeats: 1},
		LatePayment: groupbuy.LateOpenNew, CreatedAt: start, Version: 1,
	}
	require.NoError(e.t, e.gb.CreateCampaign(e.ctx, &c2))
	got2, err := e.gb.GetCampaign(e.ctx, c2.ID)
	require.NoError(e.t, err)
	assert.Equal(e.t, cv(c2), cv(got2))
}

func testCampaignCreatedByService(e *env) {
	c := e.campaign(func(c *groupbuy.Campaign) { c.Status = groupbuy.CampaignDraft })
	got, err := e.svc.Campaign(e.ctx, c.ID)
	require.NoError(e.t, err)
	assert.Equal(e.t, cv(c), cv(got))
	assert.True(e.t, got.CreatedAt.Equal(start), "CreatedAt is the Service's now")
	assert.Equal(e.t, int64(1), got.Version)

	e.clock.Advance(time.Second)
	act, err := e.svc.SetCampaignStatus(e.ctx, c.ID, groupbuy.CampaignActive)
	require.NoError(e.t, err)
	assert.Equal(e.t, groupbuy.CampaignActive, act.Status)
	assert.Equal(e.t, int64(2), act.Version)
	got, err = e.gb.GetCampaign(e.ctx, c.ID)
	require.NoError(e.t, err)
	assert.Equal(e.t, cv(act), cv(got), "SetCampaignStatus returns the stored campaign")
}

func testCampaignDuplicateID(e *env) {
	c := fullCampaign("camp-dup")
	require.NoError(e.t, e.gb.CreateCampaign(e.ctx, &c))
	dup := fullCampaign("camp-dup")
	dup.ProductRef = "other"
	dup.Status = groupbuy.CampaignActive
	dup.TeamSize = 3
	err := e.gb.CreateCampaign(e.ctx, &dup)
	assert.ErrorIs(e.t, err, storage.ErrConflict, "duplicate campaign ID")
	got, err := e.gb.GetCampaign(e.ctx, c.ID)
	require.NoError(e.t, err)
	assert.Equal(e.t, cv(c), cv(got), "the first campaign is untouched")

	// Through the Service too.
	_, err = e.svc.CreateCampaign(e.ctx, dup)
	assert.ErrorIs(e.t, err, storage.ErrConflict)
}

func testCampaignStatusGuarded(e *env) {
	c := fullCampaign("camp-status")
	c.Status = groupbuy.CampaignDraft
	c.Version = 1
	require.NoError(e.t, e.gb.CreateCampaign(e.ctx, &c))

	_, err := e.gb.SetCampaignStatus(e.ctx, c.ID, groupbuy.CampaignPaused, groupbuy.CampaignEnded)
	assert.ErrorIs(e.t, err, storage.ErrConflict, "from does not match")
	got, err := e.gb.GetCampaign(e.ctx, c.ID)
	require.NoError(e.t, err)
	assert.Equal(e.t, cv(c), cv(got), "a failed status change changes nothing")

	out, err := e.gb.SetCampaignStatus(e.ctx, c.ID, groupbuy.CampaignDraft, groupbuy.CampaignActive)
	require.NoError(e.t, err)
	assert.Equal(e.t, groupbuy.CampaignActive, out.Status)
	assert.Equal(e.t, int64(2), out.Version, "the version is bumped")
	got, err = e.gb.GetCampaign(e.ctx, c.ID)
	require.NoError(e.t, err)
	assert.Equal(e.t, cv(out), cv(got))
	want := cv(c)
	want.Status, want.Version = groupbuy.CampaignActive, 2
	assert.Equal(e.t, want, cv(got), "only status and version change")

	// The old from no longer matches.
	_, err = e.gb.SetCampaignStatus(e.ctx, c.ID, groupbuy.CampaignDraft, groupbuy.CampaignEnded)
	assert.ErrorIs(e.t, err, storage.ErrConflict)
	got, err = e.gb.GetCampaign(e.ctx, c.ID)
	require.NoError(e.t, err)
	assert.Equal(e.t, want, cv(got))

	// Illegal transitions never reach the store.
	_, err = e.svc.SetCampaignStatus(e.ctx, c.ID, groupbuy.CampaignDraft)
	assert.ErrorIs(e.t, err, groupbuy.ErrIllegalTransition)
}

func testCampaignNotFound(e *env) {
	_, err := e.gb.GetCampaign(e.ctx, "camp-missing")
	assertNotFound(e, err, "GetCampaign")
	_, err = e.gb.SetCampaignStatus(e.ctx, "camp-missing", groupbuy.CampaignDraft, groupbuy.CampaignActive)
	assertNotFound(e, err, "SetCampaignStatus")
	_, err = e.gb.GetCampaign(e.ctx, "camp-missing")
	assertNotFound(e, err, "SetCampaignStatus must not create the campaign")
}

// assertNotFound asserts that err matches storage.ErrNotFound and
// groupbuy.ErrNotFound.
func assertNotFound(e *env, err error, what string) {
	e.t.Helper()
	assert.Truef(e.t, errors.Is(err, storage.ErrNotFound), "%s: want storage.ErrNotFound, got %v", what, err)
	assert.Truef(e.t, errors.Is(err, groupbuy.ErrNotFound), "%s: want groupbuy.ErrNotFound, got %v", what, err)
}
