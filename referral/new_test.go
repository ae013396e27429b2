package referral_test

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialcommerce/sdk/referral"
	"github.com/socialcommerce/sdk/storage/memory"
)

// TestNewRefusesTypedNilStore: a nil *memory.Store passed as the Store is
// not == nil, and a Service on it panicked at its first command; New
// refuses it as it refuses a nil Store.
func TestNewRefusesTypedNilStore(t *testing.T) {
	for name, store := range map[string]referral.Store{
		"nil":                nil,
		"(*memory.Store)nil": (*memory.Store)(nil),
	} {
		svc, err := referral.New(store, referral.Config{})
		var ve *referral.ValidationError
		require.ErrorAs(t, err, &ve, name)
		assert.Equal(t, "store", ve.Field, name)
		assert.Nil(t, svc, name)
	}
	// The same hole in Config.Rand: a nil *bytes.Reader panicked at the
	// first invite code.
	svc, err := referral.New(memory.New(), referral.Config{Rand: (*bytes.Reader)(nil)})
	var ve *referral.ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "Rand", ve.Field)
	assert.Nil(t, svc)
}

// TestNewBoundsMaxRereads: MaxRereads is 0 (the default) up to
// MaxConfigRereads; beyond it, or negative, is a *ValidationError naming it.
func TestNewBoundsMaxRereads(t *testing.T) {
	store := memory.New()
	for _, n := range []int{0, 1, referral.MaxConfigRereads} {
		_, err := referral.New(store, referral.Config{MaxRereads: n})
		require.NoError(t, err, "MaxRereads %d", n)
	}
	for _, n := range []int{-1, referral.MaxConfigRereads + 1, 1 << 40} {
		_, err := referral.New(store, referral.Config{MaxRereads: n})
		var ve *referral.ValidationError
		require.ErrorAs(t, err, &ve, "MaxRereads %d", n)
		assert.Equal(t, "MaxRereads", ve.Field, "MaxRereads %d", n)
	}
}
