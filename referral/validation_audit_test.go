package referral_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialcommerce/sdk/referral"
)

// TestValidationAudit holds the exported functions that return an error to
// their contract on bad input: a *ValidationError naming the argument, never
// a panic.
func TestValidationAudit(t *testing.T) {
	cases := []struct {
		name  string
		field string
		call  func() error
	}{
		{"ValidatePolicy(nil)", "Policy", func() error { return referral.ValidatePolicy(nil) }},
		{"ValidateProgramme(nil)", "programme", func() error { return referral.ValidateProgramme(nil) }},
		{"GenerateCode(nil reader)", "reader", func() error { _, err := referral.GenerateCode(nil, referral.DefaultCodeLength, false); return err }},
		{"CheckKeys with a field and no value", "kv", func() error { return referral.CheckKeys("ProgrammeID", "p", "UserID") }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var err error
			require.NotPanics(t, func() { err = c.call() })
			var ve *referral.ValidationError
			require.True(t, errors.As(err, &ve), "want a *ValidationError, got %T %v", err, err)
			assert.Equal(t, c.field, ve.Field)
			assert.NotEmpty(t, ve.Reason)
		})
	}
}
