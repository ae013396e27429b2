-- The refund attempt of a seat, SQLite (groupbuy.Seat.RefundAttempt): 0
-- until the refund of the seat's own payment is requested, 1 when its
-- team's failure or cancellation requests it, one more on each
-- RetryRefund. MarkRefunded and MarkRefundFailed refuse a report of
-- another attempt than the seat's current one.
-- A seat whose refund was requested before this migration is at attempt 1
-- (the requests written before carry no attempt: a host reports them with
-- attempt 0, unchecked, or 1, which matches until the next RetryRefund).
ALTER TABLE {{prefix}}seats ADD COLUMN refund_attempt INTEGER NOT NULL DEFAULT 0;
UPDATE {{prefix}}seats SET refund_attempt = 1 WHERE state IN ('refund_requested', 'refund_failed', 'refunded') AND refund_attempt = 0;
