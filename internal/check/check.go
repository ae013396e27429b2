// Package check holds the input checks that several packages of the SDK
// share, so that an ID means the same everywhere.
package check

import (
	"fmt"

	"github.com/socialcommerce/sdk/storage"
)

// MaxIDLength is the longest ID any package accepts.
const MaxIDLength = 128

// ID requires a non-empty ID of at most MaxIDLength bytes with no spaces or
// control characters.
func ID(field, id string) error {
	if id == "" {
		return &storage.ValidationError{Field: field, Reason: "must not be empty"}
	}
	if len(id) > MaxIDLength {
		return &storage.ValidationError{Field: field, Reason: fmt.Sprintf("longer than %d bytes", MaxIDLength)}
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c < 0x21 || c == 0x7f {
			return &storage.ValidationError{Field: field, Reason: "must not contain spaces or control characters"}
		}
	}
	return nil
}
