// Package fastcopy appends the 36-byte strings that dominate the SDK's hot
// paths (UUIDs: team, seat and event IDs) with a fixed-size copy that the
// compiler inlines as a few vector moves, instead of a call to
// runtime.memmove, which costs several times as many instructions for a
// string that short. Other lengths are appended as usual.
package fastcopy

import (
	"unsafe"

	"github.com/socialcommerce/sdk/internal/ids"
)

// Append returns append(b, s...).
func Append(b []byte, s string) []byte {
	n := len(b)
	if len(s) == ids.Len && cap(b)-n >= ids.Len {
		b = b[:n+ids.Len]
		*(*[ids.Len]byte)(b[n:]) = *(*[ids.Len]byte)(unsafe.Pointer(unsafe.StringData(s)))
		return b
	}
	return append(b, s...)
}

// Copy is copy(dst, s) for a dst at least len(s) long.
func Copy(dst []byte, s string) int {
	if len(s) == ids.Len && len(dst) >= ids.Len {
		*(*[ids.Len]byte)(dst) = *(*[ids.Len]byte)(unsafe.Pointer(unsafe.StringData(s)))
		return ids.Len
	}
	return copy(dst, s)
}
