package sqlstore_test

import (
	"context"
	"time"

	"github.com/socialcommerce/sdk/referral"
	"github.com/socialcommerce/sdk/storage"
	"github.com/socialcommerce/sdk/storage/sqlstore"
)

// The referral tables are dropped with the others at cleanup.
func init() {
	tables = append(tables, "ref_programmes", "ref_codes", "ref_distributors", "ref_nodes", "ref_history", "ref_attributions")
}

// txRef is txPerCall for the referral.Store: every call in a host
// transaction of its own, through Store.WithTx.
type txRef struct{ *txPerCall }

var _ referral.Store = txRef{}

func (w txRef) CreateProgramme(ctx context.Context, p *referral.Programme) error {
	return inTx0(ctx, w.txPerCall, func(s *sqlstore.Store) error { return s.CreateProgramme(ctx, p) })
}

func (w txRef) GetProgramme(ctx context.Context, id string) (referral.Programme, error) {
	return inTx(ctx, w.txPerCall, func(s *sqlstore.Store) (referral.Programme, error) { return s.GetProgramme(ctx, id) })
}

func (w txRef) CreateCode(ctx context.Context, c *referral.InviteCode) error {
	return inTx0(ctx, w.txPerCall, func(s *sqlstore.Store) error { return s.CreateCode(ctx, c) })
}

func (w txRef) GetCode(ctx context.Context, code string) (referral.InviteCode, error) {
	return inTx(ctx, w.txPerCall, func(s *sqlstore.Store) (referral.InviteCode, error) { return s.GetCode(ctx, code) })
}

func (w txRef) RevokeCode(ctx context.Context, code string, at time.Time) (referral.InviteCode, error) {
	return inTx(ctx, w.txPerCall, func(s *sqlstore.Store) (referral.InviteCode, error) { return s.RevokeCode(ctx, code, at) })
}

func (w txRef) UserCodes(ctx context.Context, p, u string) ([]referral.InviteCode, error) {
	return inTx(ctx, w.txPerCall, func(s *sqlstore.Store) ([]referral.InviteCode, error) { return s.UserCodes(ctx, p, u) })
}

func (w txRef) SetDistributor(ctx context.Context, d *referral.DistributorWrite) (referral.Distributor, error) {
	return inTx(ctx, w.txPerCall, func(s *sqlstore.Store) (referral.Distributor, error) { return s.SetDistributor(ctx, d) })
}

func (w txRef) GetDistributor(ctx context.Context, p, u string) (referral.Distributor, error) {
	return inTx(ctx, w.txPerCall, func(s *sqlstore.Store) (referral.Distributor, error) { return s.GetDistributor(ctx, p, u) })
}

func (w txRef) Bind(ctx context.Context, b *referral.BindWrite) (referral.Binding, error) {
	return inTx(ctx, w.txPerCall, func(s *sqlstore.Store) (referral.Binding, error) { return s.Bind(ctx, b) })
}

func (w txRef) GetBinding(ctx context.Context, p, u string) (referral.Binding, error) {
	return inTx(ctx, w.txPerCall, func(s *sqlstore.Store) (referral.Binding, error) { return s.GetBinding(ctx, p, u) })
}

func (w txRef) BindingHistory(ctx context.Context, p, u string) ([]referral.BindingChange, error) {
	return inTx(ctx, w.txPerCall, func(s *sqlstore.Store) ([]referral.BindingChange, error) { return s.BindingHistory(ctx, p, u) })
}

func (w txRef) Chain(ctx context.Context, p, u string, depth int) ([]referral.Link, error) {
	return inTx(ctx, w.txPerCall, func(s *sqlstore.Store) ([]referral.Link, error) { return s.Chain(ctx, p, u, depth) })
}

func (w txRef) Downline(ctx context.Context, p, u string, depth int) (referral.DownlineStats, error) {
	return inTx(ctx, w.txPerCall, func(s *sqlstore.Store) (referral.DownlineStats, error) { return s.Downline(ctx, p, u, depth) })
}

type saved struct {
	a       referral.Attribution
	created bool
}

func (w txRef) SaveAttribution(ctx context.Context, a *referral.Attribution, evs []storage.Event) (referral.Attribution, bool, error) {
	r, err := inTx(ctx, w.txPerCall, func(s *sqlstore.Store) (saved, error) {
		got, created, err := s.SaveAttribution(ctx, a, evs)
		return saved{got, created}, err
	})
	return r.a, r.created, err
}

func (w txRef) GetAttribution(ctx context.Context, p, o string) (referral.Attribution, error) {
	return inTx(ctx, w.txPerCall, func(s *sqlstore.Store) (referral.Attribution, error) { return s.GetAttribution(ctx, p, o) })
}
