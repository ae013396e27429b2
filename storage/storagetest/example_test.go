package storagetest_test

import (
	"testing"
	"time"

	"github.com/socialcommerce/sdk/storage/memory"
	"github.com/socialcommerce/sdk/storage/storagetest"
)

// An adapter's test hands Run a function that makes fresh, isolated
// stores (a new table prefix or schema per call, for a SQL adapter) whose
// outbox leases follow the clock it is given. Run then runs every contract
// test as a subtest. This is the memory store's own conformance test.
func ExampleRun() {
	_ = func(t *testing.T) { // the body of a func TestConformance(t *testing.T)
		storagetest.Run(t, func(t *testing.T, now func() time.Time) storagetest.Stores {
			s := memory.New(memory.WithClock(now))
			return storagetest.Stores{GroupBuy: s, Outbox: s, Referral: s}
		})
	}
}
