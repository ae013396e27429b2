package check

import (
	"errors"
	"strings"
	"testing"

	"github.com/socialcommerce/sdk/storage"
)

func TestID(t *testing.T) {
	for _, tc := range []struct {
		id string
		ok bool
	}{
		{"a", true}, {"team-01a2", true}, {strings.Repeat("x", MaxIDLength), true},
		{"", false}, {strings.Repeat("x", MaxIDLength+1), false}, {"a b", false}, {"a\x00", false}, {"a\x7f", false}, {"\t", false},
	} {
		err := ID("f", tc.id)
		var ve *storage.ValidationError
		if tc.ok != (err == nil) || (err != nil && (!errors.As(err, &ve) || ve.Field != "f")) {
			t.Errorf("ID(%q) = %v", tc.id, err)
		}
	}
}
