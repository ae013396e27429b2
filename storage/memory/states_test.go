package memory

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/socialcommerce/sdk/groupbuy"
	"github.com/socialcommerce/sdk/storage"
)

// TestUnknownSeatStateRefused: seat states are numbered as they first come,
// so a write may bring only the known ones; an unknown one is a validation
// error that stores nothing.
func TestUnknownSeatStateRefused(t *testing.T) {
	s := New()
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	w := &groupbuy.OpenTeamWrite{
		Team:   groupbuy.Team{ID: "t1", CampaignID: "c1", LeaderID: "u1", Capacity: 3, State: groupbuy.TeamForming, OpenedAt: now, ExpiresAt: now.Add(time.Hour)},
		Leader: groupbuy.Seat{ID: "s1", TeamID: "t1", CampaignID: "c1", UserID: "u1", State: "bogus"},
		Now:    now,
	}
	var ve *storage.ValidationError
	if err := s.OpenTeam(context.Background(), w); !errors.As(err, &ve) || ve.Field != "leader.State" {
		t.Fatalf("OpenTeam with an unknown leader state: %v", err)
	}
	if _, err := s.GetTeam(context.Background(), "t1"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("the team was stored: %v", err)
	}
}
