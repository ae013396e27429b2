package sentinel_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/socialcommerce/sdk/internal/sentinel"
)

func TestSentinel(t *testing.T) {
	kind := errors.New("storage: not found")
	other := errors.New("storage: conflict")
	a := sentinel.New("pkg: not found", kind)
	b := sentinel.New("pkg: not found", kind)
	wrapped := fmt.Errorf("pkg: team t1: %w", a)
	if got := wrapped.Error(); got != "pkg: team t1: pkg: not found" {
		t.Errorf("message %q", got)
	}
	for _, tc := range []struct {
		target error
		want   bool
	}{{a, true}, {kind, true}, {b, false}, {other, false}} {
		if got := errors.Is(wrapped, tc.target); got != tc.want {
			t.Errorf("errors.Is(wrapped, %v) = %v, want %v", tc.target, got, tc.want)
		}
	}
}

func TestNewNilKindPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("New with a nil kind did not panic")
		}
	}()
	sentinel.New("pkg: x", nil)
}
