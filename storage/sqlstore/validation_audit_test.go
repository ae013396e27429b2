package sqlstore_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialcommerce/sdk/groupbuy"
	"github.com/socialcommerce/sdk/referral"
	"github.com/socialcommerce/sdk/storage"
	"github.com/socialcommerce/sdk/storage/sqlstore"
)

// TestNilContext gives every method of the Store a nil context: each must
// return a *ValidationError for "ctx" and leave the database usable.
// database/sql panics on a nil context while it holds the pool's lock, so
// a call that reached it left the host's *sql.DB deadlocked for good.
func TestNilContext(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sql.DB, d sqlstore.Dialect) {
		s := newStore(t, db, d)
		var nilCtx context.Context
		now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
		calls := []struct {
			name string
			call func(s *sqlstore.Store) error
		}{
			{"Migrate", func(s *sqlstore.Store) error { return s.Migrate(nilCtx) }},
			{"CreateCampaign", func(s *sqlstore.Store) error { return s.CreateCampaign(nilCtx, &groupbuy.Campaign{ID: "c"}) }},
			{"SetCampaignStatus", func(s *sqlstore.Store) error {
				_, err := s.SetCampaignStatus(nilCtx, "c", groupbuy.CampaignActive, groupbuy.CampaignPaused)
				return err
			}},
			{"GetCampaign", func(s *sqlstore.Store) error { _, err := s.GetCampaign(nilCtx, "c"); return err }},
			{"GetTeam", func(s *sqlstore.Store) error { _, err := s.GetTeam(nilCtx, "t"); return err }},
			{"GetSeat", func(s *sqlstore.Store) error { _, err := s.GetSeat(nilCtx, "s"); return err }},
			{"TeamSeats", func(s *sqlstore.Store) error { _, err := s.TeamSeats(nilCtx, "t"); return err }},
			{"OpenTeams", func(s *sqlstore.Store) error {
				_, err := s.OpenTeams(nilCtx, "c", now, groupbuy.MatchOldest, 10)
				return err
			}},
			{"UserSeats", func(s *sqlstore.Store) error {
				_, err := s.UserSeats(nilCtx, "u", groupbuy.SeatPosition{}, 10)
				return err
			}},
			{"DueReservations", func(s *sqlstore.Store) error { _, err := s.DueReservations(nilCtx, now, 10); return err }},
			{"DueTeams", func(s *sqlstore.Store) error { _, err := s.DueTeams(nilCtx, now, 10); return err }},
			{"GetIdempotency", func(s *sqlstore.Store) error { _, err := s.GetIdempotency(nilCtx, "scope", "key"); return err }},
			{"OpenTeam", func(s *sqlstore.Store) error { return s.OpenTeam(nilCtx, &groupbuy.OpenTeamWrite{}) }},
			{"JoinTeam", func(s *sqlstore.Store) error { _, _, err := s.JoinTeam(nilCtx, &groupbuy.JoinTeamWrite{}); return err }},
			{"MatchTeam", func(s *sqlstore.Store) error {
				_, _, err := s.MatchTeam(nilCtx, &groupbuy.MatchTeamWrite{})
				return err
			}},
			{"PaySeat", func(s *sqlstore.Store) error { _, err := s.PaySeat(nilCtx, &groupbuy.PaySeatWrite{}); return err }},
			{"ReleaseSeat", func(s *sqlstore.Store) error {
				_, err := s.ReleaseSeat(nilCtx, &groupbuy.ReleaseSeatWrite{})
				return err
			}},
			{"CloseTeam", func(s *sqlstore.Store) error { return s.CloseTeam(nilCtx, &groupbuy.CloseTeamWrite{}) }},
			{"UpdateRefund", func(s *sqlstore.Store) error { _, err := s.UpdateRefund(nilCtx, &groupbuy.RefundWrite{}); return err }},
			{"RecordOutcome", func(s *sqlstore.Store) error {
				return s.RecordOutcome(nilCtx, &groupbuy.IdempotencyRecord{Scope: "s", Key: "k"}, nil)
			}},
			{"Claim", func(s *sqlstore.Store) error { _, err := s.Claim(nilCtx, 1, time.Second); return err }},
			{"Ack", func(s *sqlstore.Store) error { return s.Ack(nilCtx, []string{"e"}) }},
			{"CreateProgramme", func(s *sqlstore.Store) error { return s.CreateProgramme(nilCtx, &referral.Programme{}) }},
			{"GetProgramme", func(s *sqlstore.Store) error { _, err := s.GetProgramme(nilCtx, "p"); return err }},
			{"CreateCode", func(s *sqlstore.Store) error { return s.CreateCode(nilCtx, &referral.InviteCode{}) }},
			{"GetCode", func(s *sqlstore.Store) error { _, err := s.GetCode(nilCtx, "ABCD"); return err }},
			{"RevokeCode", func(s *sqlstore.Store) error { _, err := s.RevokeCode(nilCtx, "ABCD", now); return err }},
			{"UserCodes", func(s *sqlstore.Store) error {
				_, err := s.UserCodes(nilCtx, "p", "u", referral.CodePosition{}, 1)
				return err
			}},
			{"SetDistributor", func(s *sqlstore.Store) error {
				_, err := s.SetDistributor(nilCtx, &referral.DistributorWrite{})
				return err
			}},
			{"GetDistributor", func(s *sqlstore.Store) error { _, err := s.GetDistributor(nilCtx, "p", "u"); return err }},
			{"Bind", func(s *sqlstore.Store) error { _, err := s.Bind(nilCtx, &referral.BindWrite{}); return err }},
			{"GetBinding", func(s *sqlstore.Store) error { _, err := s.GetBinding(nilCtx, "p", "u"); return err }},
			{"BindingHistory", func(s *sqlstore.Store) error { _, err := s.BindingHistory(nilCtx, "p", "u", 0, 1); return err }},
			{"Chain", func(s *sqlstore.Store) error { _, err := s.Chain(nilCtx, "p", "u", 2); return err }},
			{"Downline", func(s *sqlstore.Store) error { _, err := s.Downline(nilCtx, "p", "u", 1); return err }},
			{"SaveAttribution", func(s *sqlstore.Store) error {
				_, _, err := s.SaveAttribution(nilCtx, &referral.Attribution{}, nil)
				return err
			}},
			{"GetAttribution", func(s *sqlstore.Store) error { _, err := s.GetAttribution(nilCtx, "p", "o"); return err }},
		}
		for _, c := range calls {
			t.Run(c.name, func(t *testing.T) {
				var err error
				require.NotPanics(t, func() { err = c.call(s) })
				var ve *storage.ValidationError
				require.True(t, errors.As(err, &ve), "want a *ValidationError, got %T %v", err, err)
				assert.Equal(t, "ctx", ve.Field)
				assert.NotEmpty(t, ve.Reason)
			})
		}
		// The pool still answers.
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		_, err := s.GetCampaign(ctx, "c")
		assert.ErrorIs(t, err, storage.ErrNotFound)
	})
}
