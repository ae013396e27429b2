package check

import "reflect"

// Nil reports whether v is nil or holds a nil pointer, map, func, channel,
// slice or unsafe pointer: an interface such as a Store that was given a
// typed nil, e.g. (*memory.Store)(nil), is not == nil but panics on its
// first call. Constructors refuse it at once.
func Nil(v any) bool {
	if v == nil {
		return true
	}
	switch rv := reflect.ValueOf(v); rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Func, reflect.Chan, reflect.Slice, reflect.Interface, reflect.UnsafePointer:
		return rv.IsNil()
	}
	return false
}
