package referral_test

import (
	"testing"
	"time"

	"github.com/socialcommerce/sdk/referral"
)

// TestCheckAttributionAllocs: every SaveAttribution runs CheckAttribution,
// so checking a valid snapshot allocates nothing, however long its chain
// (it formatted a field name per link and grew a slice of nil errors).
func TestCheckAttributionAllocs(t *testing.T) {
	at := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	a := &referral.Attribution{ProgrammeID: "p", OrderRef: "o", BuyerID: "b", At: at, CreatedAt: at, PolicyName: "china"}
	for _, u := range []string{"b", "u1", "u2", "u3"} {
		a.Chain = append(a.Chain, referral.Link{UserID: u, BindingExpiresAt: at.Add(time.Hour)})
	}
	if err := referral.CheckAttribution(a); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { _ = referral.CheckAttribution(a) }); n != 0 {
		t.Fatalf("CheckAttribution of a valid snapshot: %v allocations", n)
	}
}
