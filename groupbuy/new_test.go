package groupbuy_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialcommerce/sdk/groupbuy"
	"github.com/socialcommerce/sdk/storage/memory"
)

// TestNewRefusesTypedNilStore: a nil *memory.Store passed as the Store is
// not == nil, and a Service on it panicked at its first command; New
// refuses it as it refuses a nil Store.
func TestNewRefusesTypedNilStore(t *testing.T) {
	for name, store := range map[string]groupbuy.Store{
		"nil":                nil,
		"(*memory.Store)nil": (*memory.Store)(nil),
	} {
		svc, err := groupbuy.New(store, groupbuy.Config{})
		var ve *groupbuy.ValidationError
		require.ErrorAs(t, err, &ve, name)
		assert.Equal(t, "store", ve.Field, name)
		assert.Nil(t, svc, name)
	}
}

// TestNewBoundsMaxRereads: MaxRereads is 0 (the default) up to
// MaxConfigRereads; beyond it, or negative, is a *ValidationError naming it.
func TestNewBoundsMaxRereads(t *testing.T) {
	store := memory.New()
	for _, n := range []int{0, 1, groupbuy.MaxConfigRereads} {
		_, err := groupbuy.New(store, groupbuy.Config{MaxRereads: n})
		require.NoError(t, err, "MaxRereads %d", n)
	}
	for _, n := range []int{-1, groupbuy.MaxConfigRereads + 1, 1 << 40} {
		_, err := groupbuy.New(store, groupbuy.Config{MaxRereads: n})
		var ve *groupbuy.ValidationError
		require.ErrorAs(t, err, &ve, "MaxRereads %d", n)
		assert.Equal(t, "MaxRereads", ve.Field, "MaxRereads %d", n)
	}
}
