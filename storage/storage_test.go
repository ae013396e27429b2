package storage_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/socialcommerce/sdk/storage"
)

func TestMarkRetryable(t *testing.T) {
	base := errors.New("deadlock")
	err := fmt.Errorf("join: %w", storage.MarkRetryable(base))
	if !storage.IsRetryable(err) {
		t.Fatal("a marked error is retryable")
	}
	if !errors.Is(err, base) {
		t.Fatal("the cause stays visible to errors.Is")
	}
	if err.Error() != "join: deadlock" {
		t.Fatalf("message %q", err)
	}
	if storage.IsRetryable(base) || storage.IsRetryable(nil) {
		t.Fatal("unmarked errors are not retryable")
	}
	if storage.MarkRetryable(nil) != nil {
		t.Fatal("marking nil is nil")
	}
}

func TestValidateClaimAndAck(t *testing.T) {
	for _, tc := range []struct {
		limit int
		lease time.Duration
		ok    bool
	}{
		{1, time.Second, true}, {storage.MaxClaim, time.Minute, true},
		{0, time.Second, false}, {-1, time.Second, false}, {storage.MaxClaim + 1, time.Second, false},
		{1, 0, false}, {1, -time.Second, false},
	} {
		err := storage.ValidateClaim(tc.limit, tc.lease)
		var ve *storage.ValidationError
		if tc.ok != (err == nil) || (err != nil && !errors.As(err, &ve)) {
			t.Errorf("ValidateClaim(%d, %s) = %v", tc.limit, tc.lease, err)
		}
	}
	if err := storage.ValidateAck(nil); err != nil {
		t.Errorf("empty ack: %v", err)
	}
	if err := storage.ValidateAck([]string{"a", ""}); err == nil {
		t.Error("an empty ID is refused")
	}
	if err := storage.ValidateAck(make([]string, storage.MaxClaim+1)); err == nil {
		t.Error("too many IDs are refused")
	}
}
