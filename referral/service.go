package referral

import (
	"context"
	crand "crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/socialcommerce/sdk/internal/check"
	"github.com/socialcommerce/sdk/internal/ids"
	"github.com/socialcommerce/sdk/internal/keyset"
	"github.com/socialcommerce/sdk/storage"
)

// Config configures a Service. The zero value is usable, except that share
// tokens need TokenKey.
type Config struct {
	// Now returns the current time; default time.Now in UTC.
	Now func() time.Time
	// NewID returns a fresh unique ID for events; default a UUIDv7.
	NewID func() string
	// TokenKey is the HMAC key of share tokens, at least 16 bytes (32
	// random bytes recommended). Without it SignToken and VerifyToken fail.
	TokenKey []byte
	// PreviousTokenKeys are retired keys that VerifyToken still accepts
	// and SignToken never uses, for rotating TokenKey without breaking the
	// links and posters already out: sign with the new key, keep the old
	// one here until the longest token it signed has expired, then drop it.
	PreviousTokenKeys [][]byte
	// Rand is the randomness of invite codes; nil for crypto/rand.Reader
	// (a nil pointer in it is refused).
	Rand io.Reader
	// CodeLength is the length of invite codes; default DefaultCodeLength.
	// CodeCheck appends a check character.
	CodeLength int
	CodeCheck  bool
	// IsNewUser is the host's predicate for programmes with NewUsersOnly.
	IsNewUser func(ctx context.Context, programmeID, userID string) (bool, error)
	// ApproveRule decides automatic approval in ApproveAuto programmes; nil
	// approves every application.
	ApproveRule func(ctx context.Context, programmeID, userID string) (bool, error)
	// MaxRereads bounds re-reads after a guarded write lost a race;
	// default 3, at most MaxConfigRereads.
	MaxRereads int
}

// Service runs referral commands against a Store. It is safe for
// concurrent use.
type Service struct {
	store Store
	cfg   Config

	mu    sync.RWMutex
	progs map[string]*Programme // programmes never change once created
}

// New returns a Service on store. A nil store, also a typed nil such as
// (*memory.Store)(nil), and a Config field out of its range are a
// *ValidationError naming it.
func New(store Store, cfg Config) (*Service, error) {
	if check.Nil(store) {
		return nil, invalid("store", "must not be nil")
	}
	if cfg.TokenKey != nil {
		if err := checkTokenKey("TokenKey", cfg.TokenKey); err != nil {
			return nil, err
		}
		cfg.TokenKey = slices.Clone(cfg.TokenKey)
	}
	if len(cfg.PreviousTokenKeys) > 0 {
		if cfg.TokenKey == nil {
			return nil, invalid("PreviousTokenKeys", "need a current TokenKey")
		}
		prev := make([][]byte, len(cfg.PreviousTokenKeys))
		for i, k := range cfg.PreviousTokenKeys {
			if err := checkTokenKey(fmt.Sprintf("PreviousTokenKeys[%d]", i), k); err != nil {
				return nil, err
			}
			prev[i] = slices.Clone(k)
		}
		cfg.PreviousTokenKeys = prev
	}
	if cfg.MaxRereads < 0 || cfg.MaxRereads > MaxConfigRereads {
		return nil, invalid("MaxRereads", fmt.Sprintf("must be in 0..%d", MaxConfigRereads))
	}
	if cfg.CodeLength < 0 {
		return nil, invalid("CodeLength", fmt.Sprintf("must be in %d..%d", MinCodeLength, MaxCodeLength))
	}
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return time.Now().UTC() }
	}
	if cfg.NewID == nil {
		cfg.NewID = ids.New(cfg.Now).NewID
	}
	if cfg.Rand == nil {
		cfg.Rand = crand.Reader
	} else if check.Nil(cfg.Rand) {
		return nil, invalid("Rand", "must not be a nil pointer (leave it nil for crypto/rand)")
	}
	if cfg.CodeLength == 0 {
		cfg.CodeLength = DefaultCodeLength
	}
	if cfg.CodeLength < MinCodeLength || cfg.CodeLength > MaxCodeLength {
		return nil, invalid("CodeLength", fmt.Sprintf("must be in %d..%d", MinCodeLength, MaxCodeLength))
	}
	if cfg.MaxRereads == 0 {
		cfg.MaxRereads = 3
	}
	return &Service{store: store, cfg: cfg, progs: map[string]*Programme{}}, nil
}

func (s *Service) event(topic, key string, payload any, now time.Time) storage.Event {
	b, _ := json.Marshal(payload)
	return storage.Event{ID: s.cfg.NewID(), Topic: topic, Key: key, Payload: b, CreatedAt: now}
}

// CreateProgramme validates p against its policy (CheckNewProgramme) and
// stores it. A programme beyond its policy is a *ValidationError naming
// the rule.
func (s *Service) CreateProgramme(ctx context.Context, p Programme) (Programme, error) {
	if err := CheckNewProgramme(&p); err != nil {
		return Programme{}, err
	}
	p.LevelRates = slices.Clone(p.LevelRates)
	p.CreatedAt = s.cfg.Now()
	if err := s.store.CreateProgramme(ctx, &p); err != nil {
		return Programme{}, fmt.Errorf("referral: create programme %s: %w", p.ID, err)
	}
	return p, nil
}

// Programme returns a programme (cached: programmes never change). The
// result is a copy, the caller's to keep and change.
func (s *Service) Programme(ctx context.Context, id string) (*Programme, error) {
	p, err := s.programme(ctx, id)
	if err != nil {
		return nil, err
	}
	c := *p
	c.LevelRates = slices.Clone(p.LevelRates)
	return &c, nil
}

// programme returns the cached programme itself: the commands only read it.
func (s *Service) programme(ctx context.Context, id string) (*Programme, error) {
	if err := validateID("ProgrammeID", id); err != nil {
		return nil, err
	}
	s.mu.RLock()
	p := s.progs[id]
	s.mu.RUnlock()
	if p != nil {
		return p, nil
	}
	got, err := s.store.GetProgramme(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("referral: programme %s: %w", id, err)
	}
	// The stores refuse such a programme, but a row written otherwise (by
	// hand, or by another adapter) must not make Attribute pay a level
	// that the programme's own policy forbids.
	if err := ValidateProgramme(&got); err != nil {
		return nil, fmt.Errorf("referral: stored programme %s: %w", id, err)
	}
	s.mu.Lock()
	if len(s.progs) > 10000 {
		clear(s.progs)
	}
	s.progs[id] = &got
	s.mu.Unlock()
	return &got, nil
}

// IssueCode creates a new invite code for a user in a programme, for a
// channel or campaign (may be empty). A user may be issued at most the
// programme's CodeLimit of codes, revoked ones included: beyond it
// ErrCodeLimit, and nothing is stored.
func (s *Service) IssueCode(ctx context.Context, programmeID, userID, channel string) (InviteCode, error) {
	if _, err := s.programme(ctx, programmeID); err != nil {
		return InviteCode{}, err
	}
	if err := validateID("UserID", userID); err != nil {
		return InviteCode{}, err
	}
	if channel != "" {
		if err := validateID("Channel", channel); err != nil {
			return InviteCode{}, err
		}
	}
	for range 8 {
		code, err := GenerateCode(s.cfg.Rand, s.cfg.CodeLength, s.cfg.CodeCheck)
		if err != nil {
			return InviteCode{}, err
		}
		c := InviteCode{Code: code, ProgrammeID: programmeID, UserID: userID, Channel: channel, CreatedAt: s.cfg.Now()}
		err = s.store.CreateCode(ctx, &c)
		if errors.Is(err, ErrCodeTaken) {
			continue
		}
		if err != nil {
			return InviteCode{}, fmt.Errorf("referral: issue code: %w", err)
		}
		return c, nil
	}
	return InviteCode{}, fmt.Errorf("referral: issue code: %w (8 collisions: lengthen CodeLength)", ErrCodeTaken)
}

// ResolveCode returns the valid code that s (as typed by a user) names:
// ErrCodeMalformed, ErrCodeNotFound or ErrCodeRevoked otherwise.
func (s *Service) ResolveCode(ctx context.Context, code string) (InviteCode, error) {
	c, err := ParseCode(code, s.cfg.CodeCheck)
	if err != nil {
		return InviteCode{}, err
	}
	got, err := s.store.GetCode(ctx, c)
	if err != nil {
		return InviteCode{}, err
	}
	if got.Revoked() {
		return InviteCode{}, ErrCodeRevoked
	}
	return got, nil
}

// RevokeCode revokes a code; bindings made through it stay.
func (s *Service) RevokeCode(ctx context.Context, code string) (InviteCode, error) {
	c, err := ParseCode(code, s.cfg.CodeCheck)
	if err != nil {
		return InviteCode{}, err
	}
	return s.store.RevokeCode(ctx, c, s.cfg.Now())
}

// SignToken signs a share token valid for ttl from now, rounded up to a
// whole second (a token's precision), so that even a ttl below a second
// gives a token that verifies until then.
func (s *Service) SignToken(t ShareToken, ttl time.Duration) (string, error) {
	if s.cfg.TokenKey == nil {
		return "", invalid("TokenKey", "not configured")
	}
	if ttl <= 0 {
		return "", invalid("ttl", "must be positive")
	}
	exp := s.cfg.Now().Add(ttl)
	if u := exp.Truncate(time.Second); u.Before(exp) {
		exp = u.Add(time.Second)
	}
	t.ExpiresAt = exp
	return SignToken(s.cfg.TokenKey, t)
}

// VerifyToken checks a share token against TokenKey, then against each of
// PreviousTokenKeys: ErrTokenTampered when none signed it, ErrTokenExpired
// when the key that signed it finds it expired.
func (s *Service) VerifyToken(token string) (ShareToken, error) {
	if s.cfg.TokenKey == nil {
		return ShareToken{}, invalid("TokenKey", "not configured")
	}
	now := s.cfg.Now()
	t, err := VerifyToken(s.cfg.TokenKey, token, now)
	for _, k := range s.cfg.PreviousTokenKeys {
		if !errors.Is(err, ErrTokenTampered) {
			break
		}
		t, err = VerifyToken(k, token, now)
	}
	return t, err
}

// distributorPayload is the payload of TopicDistributorChanged.
type distributorPayload struct {
	ProgrammeID string           `json:"programme_id"`
	UserID      string           `json:"user_id"`
	From        DistributorState `json:"from"`
	To          DistributorState `json:"to"`
	Actor       string           `json:"actor,omitempty"`
	Reason      string           `json:"reason,omitempty"`
}

// Apply makes a user apply as a distributor. In an ApproveAuto programme
// whose rule accepts the user it is approved at once (actor "system").
//
// Apply is safe to retry: a user whose record is pending or active has
// applied already, and gets the record back as it stands, with nothing
// written and no event (the approval rule is not asked again). A user
// whose application was rejected, or who is frozen or revoked, cannot
// apply again: a *TransitionError.
func (s *Service) Apply(ctx context.Context, programmeID, userID string) (Distributor, error) {
	p, err := s.programme(ctx, programmeID)
	if err != nil {
		return Distributor{}, err
	}
	if err := validateID("UserID", userID); err != nil {
		return Distributor{}, err
	}
	target := func() (DistributorState, error) {
		if p.Approval != ApproveAuto {
			return DistributorPending, nil
		}
		if s.cfg.ApproveRule != nil {
			ok, err := s.cfg.ApproveRule(ctx, programmeID, userID)
			if err != nil {
				return "", fmt.Errorf("referral: approve rule: %w", err)
			}
			if !ok {
				return DistributorPending, nil
			}
		}
		return DistributorActive, nil
	}
	return s.move(ctx, programmeID, userID, []DistributorState{DistributorNone},
		[]DistributorState{DistributorPending, DistributorActive}, target, "system", "application")
}

// Approve, Reject, Freeze, Unfreeze and Revoke move a distributor along its
// lifecycle, recording who did it and why.
//
// Each is safe to retry: when the record is in the move's target state
// already (the first request succeeded, or another one did the same), it
// returns the record as it stands, with nothing written and no event; its
// Actor, Reason and UpdatedAt are those of the change that reached the
// state, so a caller tells its own change from an earlier one by them. A
// move from any other state that the lifecycle does not allow is a
// *TransitionError (ErrIllegalTransition), as before.
func (s *Service) Approve(ctx context.Context, programmeID, userID, actor, reason string) (Distributor, error) {
	return s.operator(ctx, programmeID, userID, DistributorPending, DistributorActive, actor, reason)
}

// Reject refuses a pending application.
func (s *Service) Reject(ctx context.Context, programmeID, userID, actor, reason string) (Distributor, error) {
	return s.operator(ctx, programmeID, userID, DistributorPending, DistributorRejected, actor, reason)
}

// Freeze suspends an active distributor.
func (s *Service) Freeze(ctx context.Context, programmeID, userID, actor, reason string) (Distributor, error) {
	return s.operator(ctx, programmeID, userID, DistributorActive, DistributorFrozen, actor, reason)
}

// Unfreeze reactivates a frozen distributor.
func (s *Service) Unfreeze(ctx context.Context, programmeID, userID, actor, reason string) (Distributor, error) {
	return s.operator(ctx, programmeID, userID, DistributorFrozen, DistributorActive, actor, reason)
}

// Revoke ends an active or frozen distributorship for good.
func (s *Service) Revoke(ctx context.Context, programmeID, userID, actor, reason string) (Distributor, error) {
	return s.operator(ctx, programmeID, userID, "", DistributorRevoked, actor, reason)
}

func (s *Service) operator(ctx context.Context, programmeID, userID string, from, to DistributorState, actor, reason string) (Distributor, error) {
	if _, err := s.programme(ctx, programmeID); err != nil {
		return Distributor{}, err
	}
	if err := validateID("UserID", userID); err != nil {
		return Distributor{}, err
	}
	if err := validateID("actor", actor); err != nil {
		return Distributor{}, err
	}
	if err := checkText("reason", reason, MaxReasonLength); err != nil {
		return Distributor{}, err
	}
	var froms []DistributorState
	if from != "" {
		froms = []DistributorState{from}
	}
	target := func() (DistributorState, error) { return to, nil }
	return s.move(ctx, programmeID, userID, froms, []DistributorState{to}, target, actor, reason)
}

// move reads the record, checks the transition and applies it guarded on
// the state and version read, re-reading after a lost race. A conflict the
// store marked retryable is returned at once: the record was read in a host
// transaction's snapshot older than the row the write saw (see
// storage.IsRetryable), so a re-read would read the same, and only the
// host's rerun can see the change.
//
// A record in one of the states done is the move done already (a retry,
// or a concurrent twin that won): it is returned as it stands. target
// names the state to move to; it is asked once, and only when a move is
// to be written.
func (s *Service) move(ctx context.Context, programmeID, userID string, froms, done []DistributorState,
	target func() (DistributorState, error), actor, reason string) (Distributor, error) {
	var to DistributorState
	for range s.cfg.MaxRereads + 1 {
		cur, err := s.store.GetDistributor(ctx, programmeID, userID)
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return Distributor{}, err
		}
		if err == nil && slices.Contains(done, cur.State) {
			return cur, nil
		}
		if to == "" {
			if to, err = target(); err != nil {
				return Distributor{}, err
			}
		}
		if froms != nil && !slices.Contains(froms, cur.State) {
			return Distributor{}, &TransitionError{From: cur.State, To: to}
		}
		if err := CheckDistributorTransition(cur.State, to); err != nil {
			return Distributor{}, err
		}
		now := s.cfg.Now()
		next := cur
		next.ProgrammeID, next.UserID, next.State = programmeID, userID, to
		next.UpdatedAt, next.Actor, next.Reason = now, actor, reason
		if cur.State == DistributorNone {
			next.AppliedAt = now
		}
		ev := s.event(TopicDistributorChanged, fmt.Sprintf("ref:%s:%s:dist:%d", programmeID, userID, cur.Version+1),
			distributorPayload{programmeID, userID, cur.State, to, actor, reason}, now)
		d, err := s.store.SetDistributor(ctx, &DistributorWrite{From: cur.State, Version: cur.Version, Next: next, Events: []storage.Event{ev}})
		if errors.Is(err, storage.ErrConflict) && !storage.IsRetryable(err) {
			continue
		}
		return d, err
	}
	return Distributor{}, ErrConflict
}

// Distributor returns a user's distributor record (ErrNotFound if none).
func (s *Service) Distributor(ctx context.Context, programmeID, userID string) (Distributor, error) {
	if err := validateID("ProgrammeID", programmeID); err != nil {
		return Distributor{}, err
	}
	if err := validateID("UserID", userID); err != nil {
		return Distributor{}, err
	}
	return s.store.GetDistributor(ctx, programmeID, userID)
}

// BindRequest binds a user to a referrer.
type BindRequest struct {
	ProgrammeID string
	UserID      string
	ReferrerID  string
	Source      Source
	Code        string // the code or share reference, for the record
	// Override is an admin override: it rebinds whatever the mode says
	// (but never into a cycle). It needs Actor and Reason.
	Override bool
	Actor    string
	Reason   string
}

// boundPayload is the payload of TopicBound.
type boundPayload struct {
	ProgrammeID string `json:"programme_id"`
	UserID      string `json:"user_id"`
	From        string `json:"from,omitempty"`
	To          string `json:"to"`
	Source      Source `json:"source"`
	Actor       string `json:"actor,omitempty"`
	Reason      string `json:"reason,omitempty"`
}

// Bind binds a user to a referrer under the programme's mode and
// eligibility rules. Binding again to the current referrer returns the
// binding unchanged, so a retried request is harmless; in last-touch mode
// it extends the binding's window (ExpiresAt) in place, and nothing else:
// the referrer did not change, so there is no history entry, no new
// version and no TopicBound event (BoundAt, Source and Code stay those of
// the change that bound the user to the referrer). An admin Override to
// the current referrer is a change: it is recorded, with its actor and
// reason.
func (s *Service) Bind(ctx context.Context, req BindRequest) (Binding, error) {
	p, err := s.programme(ctx, req.ProgrammeID)
	if err != nil {
		return Binding{}, err
	}
	if err := validateID("UserID", req.UserID); err != nil {
		return Binding{}, err
	}
	if err := validateID("ReferrerID", req.ReferrerID); err != nil {
		return Binding{}, err
	}
	if !req.Source.Valid() {
		return Binding{}, invalid("Source", fmt.Sprintf("unknown source %q", req.Source))
	}
	if req.Code != "" {
		if err := validateID("Code", req.Code); err != nil {
			return Binding{}, err
		}
	}
	if err := checkText("Reason", req.Reason, MaxReasonLength); err != nil {
		return Binding{}, err
	}
	if req.Override || req.Source == SourceAdmin {
		if err := validateID("Actor", req.Actor); err != nil {
			return Binding{}, err
		}
		if req.Reason == "" {
			return Binding{}, invalid("Reason", "an admin binding needs a reason")
		}
	} else if req.Actor != "" {
		if err := validateID("Actor", req.Actor); err != nil {
			return Binding{}, err
		}
	}
	if req.UserID == req.ReferrerID {
		return Binding{}, ErrSelfReferral
	}
	for range s.cfg.MaxRereads + 1 {
		b, err := s.bindOnce(ctx, p, &req)
		if (errors.Is(err, storage.ErrConflict) || errors.Is(err, errBindRaced)) && !storage.IsRetryable(err) {
			continue // decide again on the binding that won
		}
		return b, err
	}
	return Binding{}, ErrConflict
}

// errBindRaced reports that the store found the user bound although none
// was read: another bind won in between, and the decision is taken again
// on its binding (a repeat to the same referrer is then a no-op, another
// referrer under first touch ErrAlreadyBound).
var errBindRaced = errors.New("referral: bound concurrently")

func (s *Service) bindOnce(ctx context.Context, p *Programme, req *BindRequest) (Binding, error) {
	var cur *Binding
	got, err := s.store.GetBinding(ctx, p.ID, req.UserID)
	switch {
	case err == nil:
		cur = &got
	case !errors.Is(err, storage.ErrNotFound):
		return Binding{}, err
	}
	now := s.cfg.Now()
	d, err := DecideBind(p, cur, req.ReferrerID, req.Override, now)
	if err != nil {
		return Binding{}, err
	}
	if d.Noop {
		return got, nil
	}
	if d.Refresh {
		// A later window is there already, or none that ends (a zero
		// ExpiresAt never expires): giving it an end would move it earlier.
		if got.ExpiresAt.IsZero() || !d.ExpiresAt.After(got.ExpiresAt) {
			return got, nil
		}
		w := &BindWrite{Binding: got, ExpectVersion: got.Version, Refresh: true,
			RequireActiveReferrer: p.ReferrerMustBeDistributor}
		w.Binding.ExpiresAt = d.ExpiresAt
		return s.store.Bind(ctx, w)
	}
	if cur == nil && p.NewUsersOnly && !req.Override {
		if s.cfg.IsNewUser == nil {
			return Binding{}, invalid("IsNewUser", "programme binds new users only: Config.IsNewUser is required")
		}
		ok, err := s.cfg.IsNewUser(ctx, p.ID, req.UserID)
		if err != nil {
			return Binding{}, fmt.Errorf("referral: new-user predicate: %w", err)
		}
		if !ok {
			return Binding{}, ErrNotEligible
		}
	}
	b := Binding{
		ProgrammeID: p.ID, UserID: req.UserID, ReferrerID: req.ReferrerID, Source: req.Source, Code: req.Code,
		BoundAt: now, LockedUntil: d.LockedUntil, ExpiresAt: d.ExpiresAt, Actor: req.Actor, Reason: req.Reason, Version: 1,
	}
	var expect int64
	from := ""
	if cur != nil {
		expect, from = cur.Version, cur.ReferrerID
		b.Version = cur.Version + 1
	}
	w := &BindWrite{
		Binding: b, ExpectVersion: expect,
		RequireActiveReferrer: p.ReferrerMustBeDistributor && !req.Override,
		Change: BindingChange{ProgrammeID: p.ID, UserID: req.UserID, FromReferrer: from, ToReferrer: req.ReferrerID,
			Source: req.Source, At: now, Actor: req.Actor, Reason: req.Reason, Version: b.Version},
		Events: []storage.Event{s.event(TopicBound, fmt.Sprintf("ref:%s:%s:bind:%d", p.ID, req.UserID, b.Version),
			boundPayload{p.ID, req.UserID, from, req.ReferrerID, req.Source, req.Actor, req.Reason}, now)},
	}
	got, err = s.store.Bind(ctx, w)
	if cur == nil && errors.Is(err, ErrAlreadyBound) && !storage.IsRetryable(err) {
		return Binding{}, errBindRaced
	}
	return got, err
}

// BindCode binds a user through an invite code of the programme.
func (s *Service) BindCode(ctx context.Context, programmeID, userID, code string) (Binding, error) {
	c, err := s.ResolveCode(ctx, code)
	if err != nil {
		return Binding{}, err
	}
	if c.ProgrammeID != programmeID {
		return Binding{}, ErrCodeNotFound
	}
	return s.Bind(ctx, BindRequest{ProgrammeID: programmeID, UserID: userID, ReferrerID: c.UserID, Source: SourceCode, Code: c.Code})
}

// BindToken binds a user through a share token (link, poster or group-buy
// invite, as source says).
func (s *Service) BindToken(ctx context.Context, userID, token string, source Source) (Binding, error) {
	t, err := s.VerifyToken(token)
	if err != nil {
		return Binding{}, err
	}
	ref := t.TeamID
	if ref == "" {
		ref = t.PostID
	}
	if ref == "" {
		ref = t.CampaignID
	}
	return s.Bind(ctx, BindRequest{ProgrammeID: t.ProgrammeID, UserID: userID, ReferrerID: t.SharerID, Source: source, Code: ref})
}

// Binding returns a user's current binding (ErrNotFound if none).
func (s *Service) Binding(ctx context.Context, programmeID, userID string) (Binding, error) {
	if err := validateID("ProgrammeID", programmeID); err != nil {
		return Binding{}, err
	}
	if err := validateID("UserID", userID); err != nil {
		return Binding{}, err
	}
	return s.store.GetBinding(ctx, programmeID, userID)
}

// attributedPayload is the payload of TopicAttributionRecorded.
type attributedPayload struct {
	ProgrammeID string  `json:"programme_id"`
	OrderRef    string  `json:"order_ref"`
	BuyerID     string  `json:"buyer_id"`
	Levels      []Level `json:"levels"`
}

// Attribute takes the snapshot of an order's chain at time at: the buyer's
// ancestors up to the programme's levels, who is paid at which level and
// why any member was dropped, with the policy name and version. It is
// idempotent on (programme, orderRef): a repeat returns the first snapshot;
// the same orderRef for another buyer is ErrConflict. The chain is the
// referral tree and the distributors' states as they stand when Attribute
// runs; at only decides which last-touch bindings have expired. Bindings
// made or changed between at and the call are not undone, so call
// Attribute when the order is placed, not later.
func (s *Service) Attribute(ctx context.Context, programmeID, orderRef, buyerID string, at time.Time) (Attribution, error) {
	p, err := s.programme(ctx, programmeID)
	if err != nil {
		return Attribution{}, err
	}
	if err := validateID("OrderRef", orderRef); err != nil {
		return Attribution{}, err
	}
	if err := validateID("BuyerID", buyerID); err != nil {
		return Attribution{}, err
	}
	if at.IsZero() {
		return Attribution{}, invalid("at", "must be set")
	}
	if err := checkTime("at", at); err != nil {
		return Attribution{}, err
	}
	chain, err := s.store.Chain(ctx, programmeID, buyerID, ChainDepth(p))
	if err != nil {
		return Attribution{}, fmt.Errorf("referral: chain of %s: %w", buyerID, err)
	}
	now := s.cfg.Now()
	a := Attribution{
		ProgrammeID: programmeID, OrderRef: orderRef, BuyerID: buyerID, At: at,
		PolicyName: p.Policy.Name, PolicyVersion: p.Policy.Version,
		Levels: p.Levels, LevelRates: slices.Clone(p.LevelRates), SelfPurchase: p.SelfPurchase, Frozen: p.Frozen,
		Rules: CurrentRules, Chain: chain, CreatedAt: now,
	}
	a.Result = Replay(&a)
	ev := s.event(TopicAttributionRecorded, "ref:"+programmeID+":"+orderRef+":attributed",
		attributedPayload{programmeID, orderRef, buyerID, a.Beneficiaries()}, now)
	got, _, err := s.store.SaveAttribution(ctx, &a, []storage.Event{ev})
	if err != nil {
		return Attribution{}, fmt.Errorf("referral: attribute %s: %w", orderRef, err)
	}
	if got.BuyerID != buyerID {
		return Attribution{}, fmt.Errorf("referral: attribute %s: attributed to buyer %s already: %w", orderRef, got.BuyerID, ErrConflict)
	}
	return got, nil
}

// Replay recomputes an attribution's result from its own snapshot, under
// the rules it was made with (a.Rules); it equals a.Result for every stored
// snapshot. A nil a has no result: nil.
func Replay(a *Attribution) []Level {
	if a == nil {
		return nil
	}
	return decide(a.Rules, a.Levels, a.LevelRates, a.SelfPurchase, a.Frozen, a.Chain, a.At)
}

// CodePage is one page of a user's invite codes.
type CodePage struct {
	Codes []InviteCode
	// Next is the cursor of the next page, "" on the last page (but a
	// last page of MaxListLimit codes, which is followed by an empty one).
	Next string
}

// UserCodes lists a user's invite codes in a programme, oldest first
// (Store.UserCodes' order; revoked codes too), a page of at most limit
// (1..MaxListLimit) codes at a time: cursor "" for the first page, then the
// Next of the page before. Pages are cut by position (keyset), so codes
// issued while a client pages do not shift or repeat the pages; they come
// on the last ones. A cursor that is not one of UserCodes' is a
// *ValidationError.
func (s *Service) UserCodes(ctx context.Context, programmeID, userID, cursor string, limit int) (CodePage, error) {
	if err := CheckKeys("ProgrammeID", programmeID, "UserID", userID); err != nil {
		return CodePage{}, err
	}
	if err := CheckListLimit(limit); err != nil {
		return CodePage{}, err
	}
	after, err := decodeCodeCursor(cursor)
	if err != nil {
		return CodePage{}, err
	}
	// One code more than the page tells whether a next page exists.
	codes, err := s.store.UserCodes(ctx, programmeID, userID, after, min(limit+1, MaxListLimit))
	if err != nil {
		return CodePage{}, fmt.Errorf("referral: codes of user %s: %w", userID, err)
	}
	page := CodePage{}
	var last *InviteCode
	if page.Codes, last = keyset.Cut(codes, limit, MaxListLimit); last != nil {
		page.Next = encodeCodeCursor(CodePositionOf(last))
	}
	return page, nil
}

// HistoryPage is one page of a user's binding history.
type HistoryPage struct {
	Changes []BindingChange
	// Next is the cursor of the next page, "" on the last page (but a
	// last page of MaxListLimit changes, which is followed by an empty
	// one).
	Next string
}

// BindingHistory lists a user's binding changes, oldest first, a page of
// at most limit (1..MaxListLimit) changes at a time: cursor "" for the
// first page, then the Next of the page before. Pages are cut by version
// (keyset), so rebinds while a client pages come on the last pages. A
// cursor that is not one of BindingHistory's is a *ValidationError.
func (s *Service) BindingHistory(ctx context.Context, programmeID, userID, cursor string, limit int) (HistoryPage, error) {
	if err := CheckKeys("ProgrammeID", programmeID, "UserID", userID); err != nil {
		return HistoryPage{}, err
	}
	if err := CheckListLimit(limit); err != nil {
		return HistoryPage{}, err
	}
	after, err := decodeHistoryCursor(cursor)
	if err != nil {
		return HistoryPage{}, err
	}
	h, err := s.store.BindingHistory(ctx, programmeID, userID, after, min(limit+1, MaxListLimit))
	if err != nil {
		return HistoryPage{}, fmt.Errorf("referral: binding history of user %s: %w", userID, err)
	}
	page := HistoryPage{}
	var last *BindingChange
	if page.Changes, last = keyset.Cut(h, limit, MaxListLimit); last != nil {
		page.Next = encodeHistoryCursor(last.Version)
	}
	return page, nil
}

// Downline counts a user's direct and second-level downline, never deeper
// than the programme's levels (Second is -1 under a one-level programme).
func (s *Service) Downline(ctx context.Context, programmeID, userID string) (DownlineStats, error) {
	p, err := s.programme(ctx, programmeID)
	if err != nil {
		return DownlineStats{}, err
	}
	if err := validateID("UserID", userID); err != nil {
		return DownlineStats{}, err
	}
	return s.store.Downline(ctx, programmeID, userID, min(2, p.Levels))
}
