package storagetest

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/socialcommerce/sdk/referral"
	"github.com/socialcommerce/sdk/storage/storagetest/internal/assert"
	"github.com/socialcommerce/sdk/storage/storagetest/internal/require"
)

// codeNames returns the codes of list, in order.
func codeNames(list []referral.InviteCode) []string {
	return pluck(list, func(x *referral.InviteCode) string { return x.Code })
}

// historyVersions returns the versions of h, in order.
func historyVersions(h []referral.BindingChange) []int64 {
	return pluck(h, func(x *referral.BindingChange) int64 { return x.Version })
}

// pageThrough reads a list a page of size at a time, read(the last item
// of the page before, nil for the first page, size), and returns the pages
// concatenated; between the pages it calls between (nil for none) with the
// page's number.
func pageThrough[T any](r *refEnv, size int, read func(last *T, size int) ([]T, error), between func(page int)) []T {
	var got []T
	var last *T
	for page := 0; ; page++ {
		list, err := read(last, size)
		require.NoError(r.t, err)
		require.True(r.t, len(list) <= size, "a page of at most its limit")
		got = append(got, list...)
		if len(list) < size {
			return got
		}
		require.True(r.t, page < 1000, "paging ends")
		last = &list[len(list)-1]
		if between != nil {
			between(page)
		}
	}
}

// pageCodes pages through a user's codes (pageThrough).
func (r *refEnv) pageCodes(user string, size int, between func(page int)) []string {
	return codeNames(pageThrough(r, size, func(last *referral.InviteCode, n int) ([]referral.InviteCode, error) {
		return r.ref.UserCodes(r.ctx, r.prog.ID, user, referral.CodePositionOf(last), n)
	}, between))
}

// testRefCodesPaging: UserCodes is ordered by CreatedAt to the microsecond,
// then Code, and paged by position: pages of any size concatenate to the
// whole list with no code twice and none missing, also while codes are
// issued between the pages (they sort after the position, so they come on
// the later pages); a position between codes or within a microsecond
// compares as the order says; limits outside 1..MaxListLimit and bad
// positions are refused with a *ValidationError.
func testRefCodesPaging(e *env) {
	r := e.referral()
	other := e.referral()
	t0 := r.clock.Now().Truncate(time.Second)
	// The order: PG05 PG06 PG08 PG09 (the first microsecond), PG07, PG03
	// PG04, PG02, PG01. Ties in the microsecond (sub-microsecond differences too), ordered
	// by code within it; codes of another user and programme stay apart.
	at := []time.Duration{0, 0, time.Microsecond, 400, 999, time.Second, time.Second, 2 * time.Second, 3 * time.Second}
	var want []referral.InviteCode
	for i, d := range at {
		c := referral.InviteCode{Code: fmt.Sprintf("PG%02d", len(at)-i), ProgrammeID: r.prog.ID, UserID: "pager", CreatedAt: t0.Add(d)}
		require.NoError(r.t, r.ref.CreateCode(r.ctx, &c))
		want = append(want, c)
	}
	require.NoError(r.t, r.ref.CreateCode(r.ctx, &referral.InviteCode{Code: "PGX1", ProgrammeID: r.prog.ID, UserID: "other", CreatedAt: t0}))
	require.NoError(r.t, r.ref.CreateCode(r.ctx, &referral.InviteCode{Code: "PGX2", ProgrammeID: other.prog.ID, UserID: "pager", CreatedAt: t0}))
	slices.SortFunc(want, func(a, b referral.InviteCode) int {
		return cmp.Or(cmp.Compare(a.CreatedAt.UnixMicro(), b.CreatedAt.UnixMicro()), strings.Compare(a.Code, b.Code))
	})
	all, err := r.ref.UserCodes(r.ctx, r.prog.ID, "pager", referral.CodePosition{}, referral.MaxListLimit)
	require.NoError(r.t, err)
	assert.Equal(r.t, codeNames(want), codeNames(all), "by CreatedAt to the microsecond, then Code")
	for size := 1; size <= len(at)+1; size++ {
		assert.Equal(r.t, codeNames(all), r.pageCodes("pager", size, nil), "pages of %d", size)
	}

	// Codes issued between the pages: each page goes on from where the
	// one before ended, and the new codes come on the later pages.
	n := 0
	got := r.pageCodes("pager", 2, func(page int) {
		if page >= 3 {
			return
		}
		for _, code := range []string{fmt.Sprintf("PN%02dB", page), fmt.Sprintf("PN%02dA", page)} {
			n++
			c := referral.InviteCode{Code: code, ProgrammeID: r.prog.ID, UserID: "pager", CreatedAt: t0.Add(time.Hour + time.Duration(page)*time.Second)}
			require.NoError(r.t, r.ref.CreateCode(r.ctx, &c))
		}
	})
	all, err = r.ref.UserCodes(r.ctx, r.prog.ID, "pager", referral.CodePosition{}, referral.MaxListLimit)
	require.NoError(r.t, err)
	require.Len(r.t, all, len(at)+n)
	assert.Equal(r.t, codeNames(all), got, "pages while codes are issued: no code twice, none missing")

	// Positions that are no code's.
	mid := referral.CodePosition{CreatedAt: t0.Add(time.Second), Code: "PG03A"} // between PG03 and PG04
	list, err := r.ref.UserCodes(r.ctx, r.prog.ID, "pager", mid, 3)
	require.NoError(r.t, err)
	assert.Equal(r.t, []string{"PG04", "PG02", "PG01"}, codeNames(list), "after a position between codes")
	sub := referral.CodePosition{CreatedAt: t0.Add(time.Microsecond + 999), Code: "PG06"} // the same microsecond as PG07
	list, err = r.ref.UserCodes(r.ctx, r.prog.ID, "pager", sub, 2)
	require.NoError(r.t, err)
	assert.Equal(r.t, []string{"PG07", "PG03"}, codeNames(list), "positions compare to the microsecond")
	last := referral.CodePositionOf(&all[len(all)-1])
	list, err = r.ref.UserCodes(r.ctx, r.prog.ID, "pager", last, 10)
	require.NoError(r.t, err)
	assert.Empty(r.t, list, "past the last code")

	for _, bad := range []struct {
		what  string
		after referral.CodePosition
		limit int
	}{
		{"limit 0", referral.CodePosition{}, 0},
		{"limit -1", referral.CodePosition{}, -1},
		{"limit above MaxListLimit", referral.CodePosition{}, referral.MaxListLimit + 1},
		{"a position without a time", referral.CodePosition{Code: "PG01"}, 10},
		{"a position without a code", referral.CodePosition{CreatedAt: t0}, 10},
		{"a position with a bad code", referral.CodePosition{CreatedAt: t0, Code: "P G"}, 10},
		{"a position in year 10000", referral.CodePosition{CreatedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), Code: "PG01"}, 10},
	} {
		list, err := r.ref.UserCodes(r.ctx, r.prog.ID, "pager", bad.after, bad.limit)
		e.assertValidation(err, "UserCodes with "+bad.what)
		assert.Nil(r.t, list, bad.what)
	}
}

// testRefHistoryPaging: BindingHistory is ordered by version and paged
// after a version: pages of any size concatenate to the whole history,
// also while the user is rebound between the pages; limits outside
// 1..MaxListLimit and a negative version are refused with a
// *ValidationError.
func testRefHistoryPaging(e *env) {
	r := e.referral()
	var v int64
	rebind := func(to string) {
		b, err := r.ref.Bind(r.ctx, r.bindWrite("hist", to, v, false))
		require.NoError(r.t, err)
		v = b.Version
		r.clock.Advance(time.Millisecond)
	}
	for i := range 7 {
		rebind(fmt.Sprintf("ref%d", i))
	}
	page := func(size int, between func(page int)) []int64 {
		return historyVersions(pageThrough(r, size, func(last *referral.BindingChange, n int) ([]referral.BindingChange, error) {
			after := int64(0)
			if last != nil {
				after = last.Version
			}
			return r.ref.BindingHistory(r.ctx, r.prog.ID, "hist", after, n)
		}, between))
	}
	all, err := r.ref.BindingHistory(r.ctx, r.prog.ID, "hist", 0, referral.MaxListLimit)
	require.NoError(r.t, err)
	assert.Equal(r.t, []int64{1, 2, 3, 4, 5, 6, 7}, historyVersions(all), "oldest first")
	assert.Equal(r.t, "ref6", all[6].ToReferrer)
	for size := 1; size <= len(all)+1; size++ {
		assert.Equal(r.t, historyVersions(all), page(size, nil), "pages of %d", size)
	}
	i := 0
	got := page(3, func(int) {
		if i >= 3 {
			return
		}
		i++
		rebind(fmt.Sprintf("new%d", i))
	})
	all, err = r.ref.BindingHistory(r.ctx, r.prog.ID, "hist", 0, referral.MaxListLimit)
	require.NoError(r.t, err)
	assert.Equal(r.t, historyVersions(all), got, "pages while the user is rebound: no change twice, none missing")
	assert.Equal(r.t, int64(7+i), all[len(all)-1].Version)

	for _, bad := range []struct {
		what  string
		after int64
		limit int
	}{
		{"limit 0", 0, 0}, {"limit -1", 0, -1}, {"limit above MaxListLimit", 0, referral.MaxListLimit + 1}, {"a negative version", -1, 10},
	} {
		h, err := r.ref.BindingHistory(r.ctx, r.prog.ID, "hist", bad.after, bad.limit)
		e.assertValidation(err, "BindingHistory with "+bad.what)
		assert.Nil(r.t, h, bad.what)
	}
}

// testRefServicePaging: the Service's UserCodes and BindingHistory hand out
// opaque cursors; following Next from "" reads every code and change once,
// and the last page has no Next. A limit outside 1..MaxListLimit, a cursor
// of the other list and a forged cursor are refused with a
// *ValidationError.
func testRefServicePaging(e *env) {
	r := e.referral(func(p *referral.Programme) { p.BindMode = referral.BindLastTouch; p.AttributionWindow = 24 * time.Hour })
	r.distributor("a", "b")
	var want []string
	for range 5 {
		c, err := r.svc.IssueCode(r.ctx, r.prog.ID, "a", "")
		require.NoError(r.t, err)
		want = append(want, c.Code)
		r.clock.Advance(time.Millisecond)
	}
	var got []string
	cursor, pages := "", 0
	for {
		p, err := r.svc.UserCodes(r.ctx, r.prog.ID, "a", cursor, 2)
		require.NoError(r.t, err)
		got = append(got, codeNames(p.Codes)...)
		if pages++; p.Next == "" {
			break
		}
		require.True(r.t, pages < 10, "paging ends")
		cursor = p.Next
	}
	assert.Equal(r.t, want, got, "every code once, in issue order")
	assert.Equal(r.t, 3, pages)
	codeCursor := cursor

	for _, to := range []string{"a", "b", "a"} {
		_, err := r.svc.Bind(r.ctx, referral.BindRequest{ProgrammeID: r.prog.ID, UserID: "u", ReferrerID: to, Source: referral.SourceLink})
		require.NoError(r.t, err)
		r.clock.Advance(time.Minute)
	}
	h1, err := r.svc.BindingHistory(r.ctx, r.prog.ID, "u", "", 2)
	require.NoError(r.t, err)
	require.NotEmpty(r.t, h1.Next)
	h2, err := r.svc.BindingHistory(r.ctx, r.prog.ID, "u", h1.Next, 2)
	require.NoError(r.t, err)
	assert.Empty(r.t, h2.Next, "the last page")
	assert.Equal(r.t, []int64{1, 2, 3}, append(historyVersions(h1.Changes), historyVersions(h2.Changes)...))

	for _, limit := range []int{0, -1, referral.MaxListLimit + 1} {
		_, err := r.svc.UserCodes(r.ctx, r.prog.ID, "a", "", limit)
		e.assertValidation(err, fmt.Sprintf("Service.UserCodes limit %d", limit))
		_, err = r.svc.BindingHistory(r.ctx, r.prog.ID, "u", "", limit)
		e.assertValidation(err, fmt.Sprintf("Service.BindingHistory limit %d", limit))
	}
	_, err = r.svc.UserCodes(r.ctx, r.prog.ID, "a", h1.Next, 2)
	e.assertValidation(err, "UserCodes with a cursor of BindingHistory")
	_, err = r.svc.BindingHistory(r.ctx, r.prog.ID, "u", codeCursor, 2)
	e.assertValidation(err, "BindingHistory with a cursor of UserCodes")
	for _, c := range []string{"x", "AQ", "!!!!", h1.Next + "\n", strings.Repeat("A", 200)} {
		_, err = r.svc.UserCodes(r.ctx, r.prog.ID, "a", c, 2)
		e.assertValidation(err, fmt.Sprintf("UserCodes with cursor %q", c))
		_, err = r.svc.BindingHistory(r.ctx, r.prog.ID, "u", c, 2)
		e.assertValidation(err, fmt.Sprintf("BindingHistory with cursor %q", c))
	}
}

// testRefHistoryFromBinding: a history row's programme, user, referrers,
// source and version are the binding's as the adapter writes it (the
// referrer it replaced read in the same atomic step), whatever the write's
// Change holds for them; its time, actor and reason are the Change's.
func testRefHistoryFromBinding(e *env) {
	r := e.referral()
	at := r.clock.Now()
	for i, to := range []string{"r1", "r2"} {
		w := r.bindWrite("h", to, int64(i), false)
		w.Change = referral.BindingChange{At: at, Actor: "ops", Reason: "moved", FromReferrer: "bogus", ToReferrer: "bogus", Version: 99}
		_, err := r.ref.Bind(r.ctx, w)
		require.NoError(r.t, err)
	}
	h, err := r.ref.BindingHistory(r.ctx, r.prog.ID, "h", 0, 10)
	require.NoError(r.t, err)
	require.Len(r.t, h, 2)
	for i, want := range []referral.BindingChange{
		{ProgrammeID: r.prog.ID, UserID: "h", FromReferrer: "", ToReferrer: "r1", Source: referral.SourceCode, Actor: "ops", Reason: "moved", Version: 1},
		{ProgrammeID: r.prog.ID, UserID: "h", FromReferrer: "r1", ToReferrer: "r2", Source: referral.SourceCode, Actor: "ops", Reason: "moved", Version: 2},
	} {
		assert.True(r.t, at.Truncate(time.Microsecond).Equal(h[i].At), "change %d at", i)
		h[i].At = time.Time{}
		assert.Equal(r.t, want, h[i], "change %d", i)
	}
}
