package storage_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/socialcommerce/sdk/storage"
)

// FuzzValidateOutboxArgs: ValidateClaim and ValidateAck, the argument
// checks every adapter's outbox runs first and which had no fuzz target,
// accept exactly the documented arguments and refuse the rest with a
// *ValidationError naming the argument.
func FuzzValidateOutboxArgs(f *testing.F) {
	f.Add(1, int64(time.Second), "e1,e2", 0)
	f.Add(storage.MaxClaim, int64(1), "", 0)
	f.Add(0, int64(0), ",", 0)
	f.Add(storage.MaxClaim+1, int64(-1), "e", storage.MaxClaim)
	f.Add(-1<<62, int64(1)<<62, "a,,b", 3)
	f.Fuzz(func(t *testing.T, limit int, lease int64, ids string, extra int) {
		want := limit >= 1 && limit <= storage.MaxClaim && lease > 0
		checkValidation(t, "ValidateClaim", storage.ValidateClaim(limit, time.Duration(lease)), want, "limit", "lease")

		list := strings.Split(ids, ",")
		if ids == "" {
			list = nil
		}
		if extra > 0 && extra <= storage.MaxClaim+1 {
			for range extra {
				list = append(list, "x")
			}
		}
		want = len(list) <= storage.MaxClaim
		for _, id := range list {
			want = want && id != ""
		}
		checkValidation(t, "ValidateAck", storage.ValidateAck(list), want, "ids")
	})
}

func checkValidation(t *testing.T, name string, err error, ok bool, fields ...string) {
	t.Helper()
	if ok {
		if err != nil {
			t.Fatalf("%s refused valid arguments: %v", name, err)
		}
		return
	}
	var ve *storage.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("%s: want a *ValidationError, got %T %v", name, err, err)
	}
	for _, f := range fields {
		if ve.Field == f && ve.Reason != "" {
			return
		}
	}
	t.Fatalf("%s: field %q, want one of %v", name, ve.Field, fields)
}
