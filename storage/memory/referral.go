package memory

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/socialcommerce/sdk/internal/check"
	"github.com/socialcommerce/sdk/referral"
	"github.com/socialcommerce/sdk/storage"
)

var _ referral.Store = (*Store)(nil)

// ref returns the Store's referral state; the caller holds mu.
func (s *Store) ref() *referralState { return s.referral }

type pu struct{ prog, user string }

type referralState struct {
	progs     map[string]*referral.Programme
	codes     map[string]*referral.InviteCode
	userCodes map[pu][]*referral.InviteCode
	dists     map[pu]*referral.Distributor
	binds     map[pu]*referral.Binding
	children  map[pu]map[string]struct{}
	history   map[pu][]referral.BindingChange
	attrs     map[pu]*referral.Attribution // user field holds the order ref
}

func newReferralState() *referralState {
	return &referralState{
		progs: map[string]*referral.Programme{}, codes: map[string]*referral.InviteCode{},
		userCodes: map[pu][]*referral.InviteCode{}, dists: map[pu]*referral.Distributor{},
		binds: map[pu]*referral.Binding{}, children: map[pu]map[string]struct{}{},
		history: map[pu][]referral.BindingChange{}, attrs: map[pu]*referral.Attribution{},
	}
}

func refNotFound(what, id string) error {
	return fmt.Errorf("%s %s: %w", what, id, referral.ErrNotFound)
}

// CreateProgramme implements referral.Store.
func (s *Store) CreateProgramme(ctx context.Context, p *referral.Programme) error {
	if p == nil {
		return badArg("programme", "must not be nil")
	}
	if err := referral.CheckNewProgramme(p); err != nil {
		return err
	}
	r := s.ref()
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := r.progs[p.ID]; ok {
		return fmt.Errorf("programme %s exists: %w", p.ID, referral.ErrConflict)
	}
	c := *p
	c.LevelRates = slices.Clone(p.LevelRates)
	r.progs[p.ID] = &c
	return nil
}

// GetProgramme implements referral.Store.
func (s *Store) GetProgramme(ctx context.Context, id string) (referral.Programme, error) {
	if err := checkID("id", id); err != nil {
		return referral.Programme{}, err
	}
	r := s.ref()
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := r.progs[id]
	if !ok {
		return referral.Programme{}, refNotFound("programme", id)
	}
	c := *p
	c.LevelRates = slices.Clone(p.LevelRates)
	return c, nil
}

// CreateCode implements referral.Store.
func (s *Store) CreateCode(ctx context.Context, c *referral.InviteCode) error {
	if err := referral.CheckInviteCode(c); err != nil {
		return err
	}
	r := s.ref()
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := r.progs[c.ProgrammeID]
	if !ok {
		return refNotFound("programme", c.ProgrammeID)
	}
	// Codes are never deleted: the user's list counts revoked ones too.
	k := pu{c.ProgrammeID, c.UserID}
	list := r.userCodes[k]
	if len(list) >= p.CodeLimit() {
		return referral.ErrCodeLimit
	}
	if _, ok := r.codes[c.Code]; ok {
		return referral.ErrCodeTaken
	}
	cc := *c
	r.codes[c.Code] = &cc
	// Kept in UserCodes' order, so that a page is a binary search and a
	// copy of the page, whatever the number of the user's codes.
	i, _ := slices.BinarySearchFunc(list, referral.CodePositionOf(&cc), compareCodePosition)
	r.userCodes[k] = slices.Insert(list, i, &cc)
	return nil
}

// compareCodePosition orders a code against a position in UserCodes'
// order: CreatedAt to the microsecond, then Code.
func compareCodePosition(c *referral.InviteCode, p referral.CodePosition) int {
	return cmp.Or(compareMicro(c.CreatedAt, p.CreatedAt), cmp.Compare(c.Code, p.Code))
}

// GetCode implements referral.Store.
func (s *Store) GetCode(ctx context.Context, code string) (referral.InviteCode, error) {
	if err := checkID("code", code); err != nil {
		return referral.InviteCode{}, err
	}
	r := s.ref()
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := r.codes[code]
	if !ok {
		return referral.InviteCode{}, referral.ErrCodeNotFound
	}
	return *c, nil
}

// RevokeCode implements referral.Store.
func (s *Store) RevokeCode(ctx context.Context, code string, at time.Time) (referral.InviteCode, error) {
	if err := checkID("code", code); err != nil {
		return referral.InviteCode{}, err
	}
	if at.IsZero() {
		return referral.InviteCode{}, badArg("at", "must be set")
	}
	if p := check.TimeProblem(at); p != "" {
		return referral.InviteCode{}, badArg("at", p)
	}
	r := s.ref()
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := r.codes[code]
	if !ok {
		return referral.InviteCode{}, referral.ErrCodeNotFound
	}
	if c.Revoked() {
		return referral.InviteCode{}, referral.ErrCodeRevoked
	}
	c.RevokedAt = at
	return *c, nil
}

// UserCodes implements referral.Store.
func (s *Store) UserCodes(ctx context.Context, programmeID, userID string, after referral.CodePosition, limit int) ([]referral.InviteCode, error) {
	if err := errors.Join(referral.CheckKeys("programmeID", programmeID, "userID", userID),
		referral.CheckCodePosition(after), referral.CheckListLimit(limit)); err != nil {
		return nil, err
	}
	r := s.ref()
	s.mu.Lock()
	defer s.mu.Unlock()
	list := r.userCodes[pu{programmeID, userID}]
	i := 0
	if !after.IsZero() {
		var found bool
		if i, found = slices.BinarySearchFunc(list, after, compareCodePosition); found {
			i++
		}
	}
	list = list[i:]
	out := make([]referral.InviteCode, 0, min(len(list), limit))
	for _, c := range list[:min(len(list), limit)] {
		out = append(out, *c)
	}
	return out, nil
}

// SetDistributor implements referral.Store.
func (s *Store) SetDistributor(ctx context.Context, w *referral.DistributorWrite) (referral.Distributor, error) {
	if err := referral.CheckDistributorWrite(w); err != nil {
		return referral.Distributor{}, err
	}
	r := s.ref()
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := r.progs[w.Next.ProgrammeID]; !ok {
		return referral.Distributor{}, refNotFound("programme", w.Next.ProgrammeID)
	}
	k := pu{w.Next.ProgrammeID, w.Next.UserID}
	cur := r.dists[k]
	var state referral.DistributorState
	var version int64
	if cur != nil {
		state, version = cur.State, cur.Version
	}
	if state != w.From || (w.Version > 0 && version != w.Version) {
		return referral.Distributor{}, fmt.Errorf("distributor %s is %q v%d: %w", w.Next.UserID, state, version, referral.ErrConflict)
	}
	if err := s.eventsFree(w.Events, referral.ErrConflict); err != nil {
		return referral.Distributor{}, err
	}
	d := w.Next
	d.Version = version + 1
	r.dists[k] = &d
	s.addEvents(w.Events)
	return d, nil
}

// GetDistributor implements referral.Store.
func (s *Store) GetDistributor(ctx context.Context, programmeID, userID string) (referral.Distributor, error) {
	if err := referral.CheckKeys("programmeID", programmeID, "userID", userID); err != nil {
		return referral.Distributor{}, err
	}
	r := s.ref()
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := r.dists[pu{programmeID, userID}]
	if !ok {
		return referral.Distributor{}, refNotFound("distributor", userID)
	}
	return *d, nil
}

// Bind implements referral.Store.
func (s *Store) Bind(ctx context.Context, w *referral.BindWrite) (referral.Binding, error) {
	if err := referral.CheckBindWrite(w); err != nil {
		return referral.Binding{}, err
	}
	b := w.Binding
	r := s.ref()
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := r.progs[b.ProgrammeID]; !ok {
		return referral.Binding{}, refNotFound("programme", b.ProgrammeID)
	}
	if b.UserID == b.ReferrerID {
		return referral.Binding{}, referral.ErrSelfReferral
	}
	k := pu{b.ProgrammeID, b.UserID}
	cur := r.binds[k]
	switch {
	case w.ExpectVersion == 0 && cur != nil:
		return referral.Binding{}, referral.ErrAlreadyBound
	case w.ExpectVersion > 0 && (cur == nil || cur.Version != w.ExpectVersion):
		return referral.Binding{}, fmt.Errorf("binding of %s changed: %w", b.UserID, referral.ErrConflict)
	}
	if w.Refresh && cur.ReferrerID != b.ReferrerID {
		return referral.Binding{}, fmt.Errorf("binding of %s is to %s: %w", b.UserID, cur.ReferrerID, referral.ErrConflict)
	}
	if w.RequireActiveReferrer {
		d := r.dists[pu{b.ProgrammeID, b.ReferrerID}]
		if d == nil || d.State != referral.DistributorActive {
			return referral.Binding{}, referral.ErrNotDistributor
		}
	}
	if w.Refresh {
		// The window alone moves, never earlier; the edge stays, so no
		// cycle walk, and no history row.
		if err := s.eventsFree(w.Events, referral.ErrConflict); err != nil {
			return referral.Binding{}, err
		}
		// A zero ExpiresAt never expires: it ends after any window.
		if !cur.ExpiresAt.IsZero() && b.ExpiresAt.After(cur.ExpiresAt) {
			cur.ExpiresAt = b.ExpiresAt
		}
		s.addEvents(w.Events)
		return *cur, nil
	}
	steps := 0
	for a := b.ReferrerID; ; {
		if a == b.UserID {
			return referral.Binding{}, referral.ErrCycle
		}
		p := r.binds[pu{b.ProgrammeID, a}]
		if p == nil {
			break
		}
		if steps++; steps > referral.MaxChainWalk {
			return referral.Binding{}, fmt.Errorf("chain above %s deeper than %d: %w", b.ReferrerID, referral.MaxChainWalk, referral.ErrConflict)
		}
		a = p.ReferrerID
	}
	if err := s.eventsFree(w.Events, referral.ErrConflict); err != nil {
		return referral.Binding{}, err
	}
	b.Version = w.ExpectVersion + 1
	from := ""
	if cur != nil {
		from = cur.ReferrerID
		delete(r.children[pu{b.ProgrammeID, cur.ReferrerID}], b.UserID)
	}
	r.binds[k] = &b
	ck := pu{b.ProgrammeID, b.ReferrerID}
	if r.children[ck] == nil {
		r.children[ck] = map[string]struct{}{}
	}
	r.children[ck][b.UserID] = struct{}{}
	// As BindWrite says: the binding's fields, and the referrer replaced
	// as read here; the time, actor and reason of the Change.
	ch := w.Change
	ch.ProgrammeID, ch.UserID, ch.FromReferrer, ch.ToReferrer, ch.Source, ch.Version = b.ProgrammeID, b.UserID, from, b.ReferrerID, b.Source, b.Version
	r.history[k] = append(r.history[k], ch)
	s.addEvents(w.Events)
	return b, nil
}

// GetBinding implements referral.Store.
func (s *Store) GetBinding(ctx context.Context, programmeID, userID string) (referral.Binding, error) {
	if err := referral.CheckKeys("programmeID", programmeID, "userID", userID); err != nil {
		return referral.Binding{}, err
	}
	r := s.ref()
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := r.binds[pu{programmeID, userID}]
	if !ok {
		return referral.Binding{}, refNotFound("binding", userID)
	}
	return *b, nil
}

// BindingHistory implements referral.Store.
func (s *Store) BindingHistory(ctx context.Context, programmeID, userID string, afterVersion int64, limit int) ([]referral.BindingChange, error) {
	if err := errors.Join(referral.CheckKeys("programmeID", programmeID, "userID", userID),
		referral.CheckHistoryPosition(afterVersion), referral.CheckListLimit(limit)); err != nil {
		return nil, err
	}
	r := s.ref()
	s.mu.Lock()
	defer s.mu.Unlock()
	// Bind appends the changes in version order.
	h := r.history[pu{programmeID, userID}]
	i, found := slices.BinarySearchFunc(h, afterVersion, func(c referral.BindingChange, v int64) int { return cmp.Compare(c.Version, v) })
	if found {
		i++
	}
	h = h[i:]
	return slices.Clone(h[:min(len(h), limit)]), nil
}

// Chain implements referral.Store.
func (s *Store) Chain(ctx context.Context, programmeID, userID string, depth int) ([]referral.Link, error) {
	if err := referral.CheckKeys("programmeID", programmeID, "userID", userID); err != nil {
		return nil, err
	}
	if err := referral.CheckChainDepth(depth); err != nil {
		return nil, err
	}
	r := s.ref()
	s.mu.Lock()
	defer s.mu.Unlock()
	state := func(u string) referral.DistributorState {
		if d := r.dists[pu{programmeID, u}]; d != nil {
			return d.State
		}
		return referral.DistributorNone
	}
	out := make([]referral.Link, 1, depth+1)
	out[0] = referral.Link{UserID: userID, State: state(userID)}
	for u := userID; len(out) <= depth; {
		b := r.binds[pu{programmeID, u}]
		if b == nil {
			break
		}
		out = append(out, referral.Link{UserID: b.ReferrerID, State: state(b.ReferrerID), BindingExpiresAt: b.ExpiresAt})
		u = b.ReferrerID
	}
	return out, nil
}

// Downline implements referral.Store.
func (s *Store) Downline(ctx context.Context, programmeID, userID string, depth int) (referral.DownlineStats, error) {
	if err := referral.CheckKeys("programmeID", programmeID, "userID", userID); err != nil {
		return referral.DownlineStats{}, err
	}
	if err := referral.CheckDownlineDepth(depth); err != nil {
		return referral.DownlineStats{}, err
	}
	r := s.ref()
	s.mu.Lock()
	defer s.mu.Unlock()
	kids := r.children[pu{programmeID, userID}]
	st := referral.DownlineStats{Direct: len(kids), Second: -1}
	if depth == 2 {
		st.Second = 0
		for k := range kids {
			st.Second += len(r.children[pu{programmeID, k}])
		}
	}
	return st, nil
}

func cloneAttribution(a *referral.Attribution) referral.Attribution {
	c := *a
	c.LevelRates = slices.Clone(a.LevelRates)
	c.Chain = slices.Clone(a.Chain)
	c.Result = slices.Clone(a.Result)
	return c
}

// SaveAttribution implements referral.Store.
func (s *Store) SaveAttribution(ctx context.Context, a *referral.Attribution, events []storage.Event) (referral.Attribution, bool, error) {
	if err := errors.Join(referral.CheckAttribution(a), check.Events(events)); err != nil {
		return referral.Attribution{}, false, err
	}
	r := s.ref()
	s.mu.Lock()
	defer s.mu.Unlock()
	k := pu{a.ProgrammeID, a.OrderRef}
	if old, ok := r.attrs[k]; ok {
		return cloneAttribution(old), false, nil
	}
	if err := s.eventsFree(events, referral.ErrConflict); err != nil {
		return referral.Attribution{}, false, err
	}
	c := cloneAttribution(a)
	r.attrs[k] = &c
	s.addEvents(events)
	return cloneAttribution(&c), true, nil
}

// GetAttribution implements referral.Store.
func (s *Store) GetAttribution(ctx context.Context, programmeID, orderRef string) (referral.Attribution, error) {
	if err := referral.CheckKeys("programmeID", programmeID, "orderRef", orderRef); err != nil {
		return referral.Attribution{}, err
	}
	r := s.ref()
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := r.attrs[pu{programmeID, orderRef}]
	if !ok {
		return referral.Attribution{}, refNotFound("attribution", orderRef)
	}
	return cloneAttribution(a), nil
}
