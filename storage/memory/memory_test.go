package memory_test

import (
	"testing"
	"time"

	"github.com/socialcommerce/sdk/storage/memory"
	"github.com/socialcommerce/sdk/storage/storagetest"
)

// TestConformance runs the shared storage conformance suite against the
// in-memory store.
func TestConformance(t *testing.T) {
	t.Run("memory", func(t *testing.T) {
		storagetest.Run(t, func(t *testing.T, now func() time.Time) storagetest.Stores {
			s := memory.New(memory.WithClock(now))
			return storagetest.Stores{GroupBuy: s, Outbox: s, Referral: s}
		})
	})
}
