package referral

import (
	"errors"
	"strings"
	"testing"
)

// TestValidateText: checkText on a reason: a reason is free text, but one the SQL stores can keep:
// no NUL, valid UTF-8, at most MaxReasonLength bytes.
func TestValidateText(t *testing.T) {
	for _, tc := range []struct {
		s  string
		ok bool
	}{
		{"", true}, {"fraud review 风控", true}, {"line one\nline two", true}, {strings.Repeat("x", MaxReasonLength), true},
		{strings.Repeat("x", MaxReasonLength+1), false}, {"a\x00b", false}, {"bad\xffreason", false}, {"\xe9\xa3", false},
	} {
		err := checkText("reason", tc.s, MaxReasonLength)
		var ve *ValidationError
		if tc.ok != (err == nil) || (err != nil && !errors.As(err, &ve)) {
			t.Errorf("checkText(%q) = %v", tc.s, err)
		}
	}
}
