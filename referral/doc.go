// Package referral keeps who brought whom (分销 bindings), issues invite
// codes and signed share tokens, runs the distributor lifecycle, and
// attributes each order to the chain of ancestors that a compliance Policy
// allows, as an immutable snapshot.
//
// # Pure rules
//
// Policy (with the presets PolicyChina, PolicyWeChat, PolicyFTC, PolicyEU)
// bounds a Programme: ValidateProgramme refuses one beyond its policy with a
// *ValidationError naming the rule. DecideBind applies the programme's
// binding mode (first touch, first touch locked for a period, last touch
// within a window; under last touch a repeat to the current referrer is a
// Refresh of the window, not a binding change); CheckNoCycle refuses
// self-referral and cycles; Decide
// walks a given chain under the programme's levels, self-purchase rule and
// frozen rule, and says for each member whether it is paid and at which
// level, or why it was dropped. A frozen or inactive ancestor either loses
// its level or ends the chain; levels are never compressed upwards, so
// nobody deeper than the programme's levels is ever paid. GenerateCode and
// ParseCode handle invite codes (alphabet without 0 O 1 I L,
// case-insensitive, optional Luhn mod 30 check character); SignToken and
// VerifyToken handle share tokens (compact binary, base64url, HMAC-SHA256
// truncated to 128 bits, expiry; ErrTokenTampered, ErrTokenExpired).
//
// # Store and Service
//
// Store is declared here and implemented by storage/memory and
// storage/sqlstore; its Bind is a guarded write that keeps the forest
// acyclic under concurrent binds (see BindWrite). The binding history
// holds binding changes only: a last-touch repeat to the current referrer
// extends the window (ExpiresAt) in place, with no history entry, no new
// version and no TopicBound event, so a user clicking the same link over
// and over grows nothing. Invite codes are bounded per user too: a
// programme's MaxCodesPerUser (0: DefaultMaxCodesPerUser, 50; at most
// MaxCodesPerUserCeiling) caps the codes a user is issued in it, revoked
// ones included, since a revoked code stays stored and listed; the store
// checks it in the same atomic step as the insert (ErrCodeLimit), so
// concurrent issuers cannot pass it. Service runs the
// commands: CreateProgramme, IssueCode/ResolveCode/RevokeCode,
// SignToken/VerifyToken, Apply/Approve/Reject/Freeze/Unfreeze/Revoke, Bind
// (BindCode, BindToken), Attribute, Downline, and the paged lists
// UserCodes and BindingHistory (keyset cursors, at most MaxListLimit a
// page). Service.VerifyToken also
// accepts tokens signed with Config.PreviousTokenKeys, so a host rotates its
// token key without breaking the links and posters already shared.
//
// Rates are float64 fractions of the line's net price, validated in
// [0, 1] (NaN refused); they are limits and labels here. Turning them
// into exact amounts is left to a planned commission package (it does not
// exist yet); until then the host computes the amounts.
package referral
