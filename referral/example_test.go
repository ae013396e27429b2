package referral_test

import (
	"context"
	"fmt"
	"time"

	"github.com/socialcommerce/sdk/referral"
)

// A two-level programme under the China preset: a user binds through an
// invite code, buys, and the order's chain is attributed.
func Example() {
	ctx := context.Background()
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	svc := newService(now) // a Service on an in-memory store
	p, err := svc.CreateProgramme(ctx, referral.Programme{
		ID: "shop", Policy: referral.PolicyChina, Levels: 2, LevelRates: []float64{0.10, 0.05},
		BindMode: referral.BindFirstTouch, SelfPurchase: referral.SelfPurchaseReferrer,
		Frozen: referral.FrozenSkipLevel, Approval: referral.ApproveAuto, ReferrerMustBeDistributor: true,
	})
	if err != nil {
		panic(err)
	}
	for _, u := range []string{"alice", "bob"} {
		if _, err := svc.Apply(ctx, p.ID, u); err != nil {
			panic(err)
		}
	}
	code, _ := svc.IssueCode(ctx, p.ID, "alice", "wechat")
	if _, err := svc.BindCode(ctx, p.ID, "bob", code.Code); err != nil {
		panic(err)
	}
	if _, err := svc.Bind(ctx, referral.BindRequest{ProgrammeID: p.ID, UserID: "carol", ReferrerID: "bob", Source: referral.SourceLink}); err != nil {
		panic(err)
	}
	a, _ := svc.Attribute(ctx, p.ID, "order-1", "carol", now)
	fmt.Println(a.PolicyName, a.PolicyVersion)
	for _, l := range a.Result {
		fmt.Println(l.Level, l.UserID, l.Rate)
	}
	_, err = svc.CreateProgramme(ctx, referral.Programme{
		ID: "mlm", Policy: referral.PolicyWeChat, Levels: 3, LevelRates: []float64{0.1, 0.05, 0.02},
		BindMode: referral.BindFirstTouch, SelfPurchase: referral.SelfPurchaseReferrer,
		Frozen: referral.FrozenSkipLevel, Approval: referral.ApproveManual,
	})
	fmt.Println(err)
	// Output:
	// china 1
	// 1 bob 0.1
	// 2 alice 0.05
	// invalid Levels: policy wechat v1: at most 2 levels (max levels)
}
