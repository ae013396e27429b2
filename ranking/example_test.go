package ranking_test

import (
	"fmt"
	"time"

	"github.com/socialcommerce/sdk/ranking"
)

// Rank a small feed, page through it with the cursor, and explain the
// first item.
func Example() {
	now := time.Date(2026, 11, 27, 20, 0, 0, 0, time.UTC)
	cfg := ranking.DefaultConfig("home-v1", []byte("a-secret-key-of-at-least-16-bytes"))
	cfg.PageSize = 3
	cfg.Slots = []ranking.Slot{{Position: 2, Lane: ranking.LaneSponsored}}
	r, err := ranking.New(cfg)
	if err != nil {
		panic(err)
	}

	type post struct {
		id, author string
		age        time.Duration
		likes      float64
		sponsored  bool
	}
	posts := []post{
		{"p1", "ann", 1 * time.Hour, 300, false},
		{"p2", "ann", 2 * time.Hour, 400, false},
		{"p3", "bob", 30 * time.Minute, 50, false},
		{"p4", "cat", 5 * time.Hour, 500, false},
		{"p5", "ann", 20 * time.Minute, 200, false},
		{"ad1", "brand", 0, 0, true},
	}
	b := ranking.NewBatch(len(posts))
	for _, p := range posts {
		c := ranking.Candidate{ID: p.id, Author: p.author, Created: now.Add(-p.age)}
		c.Engagement[ranking.TierRegular][ranking.ActionLike] = p.likes
		if p.sponsored {
			c.Lane = ranking.LaneSponsored
		}
		if err := b.Add(&c); err != nil {
			panic(err)
		}
	}

	var page ranking.Page
	req := ranking.Request{Now: now, Viewer: "u42", Scope: "home"}
	for n := 1; ; n++ {
		if err := r.Rank(req, b, &page); err != nil {
			panic(err)
		}
		fmt.Printf("page %d:", n)
		for _, it := range page.Items {
			label := ""
			if it.Lane == ranking.LaneSponsored {
				label = " (sponsored)"
			}
			fmt.Printf(" %s%s", it.ID, label)
		}
		fmt.Println()
		if !page.More {
			break
		}
		req.Cursor = page.Cursor
		req.Now = req.Now.Add(time.Minute) // later pages are ranked as of the first
	}

	// Explain a longer first page: ann's second and third posts are
	// demoted by the author diversity penalty.
	ex, err := r.Explain(ranking.Request{Now: now, Viewer: "u42", Scope: "home", Limit: 5}, b)
	if err != nil {
		panic(err)
	}
	for _, it := range ex.Items {
		fmt.Printf("%d %s score %.3f:", it.Slot, it.ID, it.Score)
		for _, s := range it.Signals {
			if s.Name == "engagement" {
				fmt.Printf(" engagement %+.3f", s.Contribution)
			}
		}
		for _, m := range it.Multipliers {
			fmt.Printf(" ×%.4g %s", m.Factor, m.Name)
		}
		if it.Sponsored {
			fmt.Print(" sponsored")
		}
		fmt.Println()
	}
	// Output:
	// page 1: p4 ad1 (sponsored) p2
	// page 2: p1 p5 p3
	// 1 p4 score 970.558: engagement +6.217
	// 2 ad1 score 964.630: engagement +0.000 sponsored
	// 3 p2 score 970.508: engagement +5.994
	// 4 p1 score 969.809: engagement +5.707 ×0.625 diversity:author
	// 5 p5 score 969.087: engagement +5.303 ×0.4375 diversity:author
}
