// Package groupbuy runs group buying (拼团): a campaign sells a product at a
// team price, a leader opens a team of TeamSize seats, friends join it (or
// Match puts a buyer in an open team, or opens one), and the team succeeds
// when every seat is paid before its deadline (or, by the campaign's
// virtual fill policy, enough of them); otherwise it fails and every paid
// seat is refunded.
//
// A Service decides each command under pure rules (transition tables,
// deadlines, virtual fill, late-payment policy; no clock or randomness of
// its own: Config.Now and Config.NewID) and applies it as one guarded write
// to a Store: the adapter changes the rows only if the write's
// preconditions still hold, in the same atomic step as the outbox events
// and the idempotency record, so no team is ever overfilled, no payment is
// applied twice and no seat is refunded twice, however commands interleave
// across processes. Stores: storage/memory, storage/sqlstore (PostgreSQL,
// MySQL/MariaDB, SQLite; also inside the host's transaction with WithTx),
// or the host's own adapter, checked by storage/storagetest.
//
// A host wires it in four places:
//
//   - Its order flow calls Open, Join or Match (with an idempotency key
//     when the request may be retried) and takes the payment for the
//     returned seat's Amount. A join that finds the team full is
//     ErrTeamFull; so is, by errors.Is, ErrTeamChurned, for a team whose
//     joins were cancelled or lapsed until it had its most seat rows
//     (MaxSeatRows, which keeps what a close reads bounded): offer
//     another team, or Match, which passes such teams over. Before it
//     answers ErrTeamFull or ErrAlreadyJoined, Join releases the team's
//     reservations that lapsed, as ProcessDue would, and tries once more
//     when that gives the user room (not in a team at its MaxSeatRows,
//     nor past the user's own seat that holds).
//   - Its payment callback calls ConfirmPayment, idempotent on the payment
//     reference; a payment that arrives too late is handled by the
//     campaign's LatePaymentPolicy and reported in PaymentResult.Late.
//   - A ticker calls ProcessDue, from any number of instances: it releases
//     lapsed reservations and closes teams whose deadline passed.
//   - An outbox relay drains the Store's events (storage.Outbox) and acts
//     on them. A refund_requested event carries the Key to pass to the
//     payment provider; when the refund is a seat's own
//     (RefundRequestedPayload.ForSeat), MarkRefunded or MarkRefundFailed
//     (then RetryRefund) report the provider's answer, naming the event's
//     Attempt (an earlier attempt's answer is ErrStaleRefundAttempt);
//     MarkRefundFailed writes a refund_failed event with the reason it was
//     given. The refund of a late payment is settled by its Key alone.
//
// Shipping and after-sale are gated by MayShip and MayOpenAfterSale: only
// seats of succeeded teams qualify.
package groupbuy
