package ranking_test

import (
	"runtime"
	"strings"
	"testing"
	"unsafe"
	"weak"

	"github.com/socialcommerce/sdk/ranking"
)

// addTracked adds a candidate whose ID and author are fresh heap strings
// and returns weak pointers to them.
func addTracked(t *testing.T, b *ranking.Batch) (id, author weak.Pointer[byte]) {
	t.Helper()
	c := &ranking.Candidate{ID: strings.Repeat("i", 100) + "1", Author: strings.Repeat("a", 100) + "1", Created: t0}
	id, author = weak.Make(unsafe.StringData(c.ID)), weak.Make(unsafe.StringData(c.Author))
	if err := b.Add(c); err != nil {
		t.Fatal(err)
	}
	return id, author
}

// TestBatchResetDropsIDs: Reset keeps the batch's memory but not the
// caller's strings. It cleared the axis columns (authors, sellers, ...)
// but only truncated the ID column, so a reused Batch kept every ID of
// its largest past request reachable.
func TestBatchResetDropsIDs(t *testing.T) {
	b := ranking.NewBatch(4)
	id, author := addTracked(t, b)
	b.Reset()
	runtime.GC()
	runtime.GC()
	if author.Value() != nil {
		t.Fatal("the author outlived Reset (the test cannot observe collection)")
	}
	if id.Value() != nil {
		t.Fatal("the ID outlived Reset: the batch still references it")
	}
	runtime.KeepAlive(b)
}

// TestPageDropsBatch: a Page holds Rank's per-request memory, but not the
// batch once Rank returns (apart from the page's own items). The heaps
// kept the batch's ID column, and the diversity counts its authors, so a
// pooled Page kept the last batch's strings reachable until its next Rank.
func TestPageDropsBatch(t *testing.T) {
	r := newRanker(t, func(c *ranking.Config) {
		c.PageSize = 1
		c.Diversity.Penalties = c.Diversity.Penalties[:1] // authors: the counts' last axis
	})
	b := ranking.NewBatch(2)
	top := &ranking.Candidate{ID: "top", Created: t0}
	top.Engagement[ranking.TierRegular][ranking.ActionLike] = 1000
	if err := b.Add(top); err != nil {
		t.Fatal(err)
	}
	id, author := addTracked(t, b)
	var p ranking.Page
	if err := r.Rank(ranking.Request{Now: t0}, b, &p); err != nil {
		t.Fatal(err)
	}
	if len(p.Items) != 1 || p.Items[0].ID != "top" {
		t.Fatalf("page %v", ids(p.Items))
	}
	b = nil
	runtime.GC()
	runtime.GC()
	if id.Value() != nil || author.Value() != nil {
		t.Fatalf("the Page keeps the batch's strings: ID kept %t, author kept %t", id.Value() != nil, author.Value() != nil)
	}
	runtime.KeepAlive(&p)
}
