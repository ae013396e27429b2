package ranking_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialcommerce/sdk/ranking"
)

// hostSignal is a host's signal with pointer methods that read its fields.
type hostSignal struct{ name string }

func (h *hostSignal) Name() string { return h.name }

func (h *hostSignal) Score(in *ranking.Input, out []float64) error {
	for i := range out {
		out[i] = float64(len(h.name))
	}
	return nil
}

// TestNewRefusesTypedNilHostSignal: a nil pointer to a host's signal type
// is not == nil; New refuses it, as it refuses a nil pointer to a built-in,
// rather than panic in its Name.
func TestNewRefusesTypedNilHostSignal(t *testing.T) {
	cfg := ranking.DefaultConfig("v1", make([]byte, 32))
	cfg.Signals = append(cfg.Signals, ranking.Weighted{Signal: (*hostSignal)(nil), Weight: 1, Name: "host"})
	var r *ranking.Ranker
	var err error
	require.NotPanics(t, func() { r, err = ranking.New(cfg) })
	var ve *ranking.ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, fmt.Sprintf("Signals[%d].Signal", len(cfg.Signals)-1), ve.Field)
	assert.Nil(t, r)

	cfg.Signals[len(cfg.Signals)-1].Signal = &hostSignal{name: "host"}
	_, err = ranking.New(cfg)
	require.NoError(t, err, "a host signal that is not nil")
}
