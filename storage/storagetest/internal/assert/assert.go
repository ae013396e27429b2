// Package assert is the small subset of github.com/stretchr/testify/assert
// that the conformance suite uses, with the same signatures and semantics, so
// that package storagetest (a library imported by adapters' tests) depends on
// the standard library only.
//
// Every function reports a failure through t.Errorf and returns false; it
// returns true when the assertion holds. The trailing msgAndArgs is a message
// for the failure: a single value is printed as is, and when there are more,
// the first (a string) is a format for the rest.
package assert

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"strings"
)

// TestingT is what the assertions need of a *testing.T.
type TestingT interface {
	// Errorf reports a failure and lets the test go on.
	Errorf(format string, args ...any)
}

type tHelper interface {
	Helper()
}

// ObjectsAreEqual reports whether expected and actual are equal: two []byte
// are compared with bytes.Equal (a nil slice equals only a nil slice), every
// other pair with reflect.DeepEqual.
func ObjectsAreEqual(expected, actual any) bool {
	if expected == nil || actual == nil {
		return expected == actual
	}
	exp, ok := expected.([]byte)
	if !ok {
		return reflect.DeepEqual(expected, actual)
	}
	act, ok := actual.([]byte)
	if !ok {
		return false
	}
	if exp == nil || act == nil {
		return exp == nil && act == nil
	}
	return bytes.Equal(exp, act)
}

// Equal asserts that expected and actual are equal (ObjectsAreEqual).
// Functions cannot be compared and always fail.
func Equal(t TestingT, expected, actual any, msgAndArgs ...any) bool {
	if h, ok := t.(tHelper); ok {
		h.Helper()
	}
	if isFunction(expected) || isFunction(actual) {
		return fail(t, "Equal", "cannot compare functions\n"+
			"expected: "+format(expected)+"\n"+
			"actual  : "+format(actual), msgAndArgs...)
	}
	if ObjectsAreEqual(expected, actual) {
		return true
	}
	exp, act := formatPair(expected, actual)
	hint := ""
	if exp == act {
		hint = "\n(the values print alike: they differ behind a pointer or in a detail %#v hides)"
	}
	return fail(t, "Equal", "values differ\n"+
		"expected: "+exp+"\n"+
		"actual  : "+act+hint+fieldDiff(expected, actual), msgAndArgs...)
}

// NotEqual asserts that expected and actual are not equal (ObjectsAreEqual).
// Functions cannot be compared and always fail.
func NotEqual(t TestingT, expected, actual any, msgAndArgs ...any) bool {
	if h, ok := t.(tHelper); ok {
		h.Helper()
	}
	if isFunction(expected) || isFunction(actual) {
		return fail(t, "NotEqual", "cannot compare functions\n"+
			"expected: "+format(expected)+"\n"+
			"actual  : "+format(actual), msgAndArgs...)
	}
	if !ObjectsAreEqual(expected, actual) {
		return true
	}
	return fail(t, "NotEqual", "values are equal, want them different\n"+
		"both: "+format(actual), msgAndArgs...)
}

// ErrorIs asserts that errors.Is(err, target).
func ErrorIs(t TestingT, err, target error, msgAndArgs ...any) bool {
	if h, ok := t.(tHelper); ok {
		h.Helper()
	}
	if errors.Is(err, target) {
		return true
	}
	return fail(t, "ErrorIs", "target error is not in err's chain\n"+
		"expected: "+format(target)+"\n"+
		"actual  : "+format(err)+errorChain(err), msgAndArgs...)
}

// NoError asserts that err is nil.
func NoError(t TestingT, err error, msgAndArgs ...any) bool {
	if err == nil {
		return true
	}
	if h, ok := t.(tHelper); ok {
		h.Helper()
	}
	return fail(t, "NoError", "unexpected error\n"+
		"actual  : "+format(err), msgAndArgs...)
}

// Len asserts that object (a slice, map, string, channel, array or pointer
// to an array) has length length; it fails for every other kind.
func Len(t TestingT, object any, length int, msgAndArgs ...any) bool {
	if h, ok := t.(tHelper); ok {
		h.Helper()
	}
	l, ok := getLen(object)
	if !ok {
		return fail(t, "Len", "builtin len() cannot be applied to "+format(object), msgAndArgs...)
	}
	if l != length {
		return fail(t, "Len", fmt.Sprintf("wrong length\n"+
			"expected: %d\n"+
			"actual  : %d\n"+
			"value   : %s", length, l, format(object)), msgAndArgs...)
	}
	return true
}

// getLen returns object's length, or false when len() does not apply.
func getLen(object any) (length int, ok bool) {
	v := reflect.ValueOf(object)
	defer func() {
		if recover() != nil {
			length, ok = 0, false
		}
	}()
	return v.Len(), true
}

// True asserts that value is true.
func True(t TestingT, value bool, msgAndArgs ...any) bool {
	if value {
		return true
	}
	if h, ok := t.(tHelper); ok {
		h.Helper()
	}
	return fail(t, "True", "should be true", msgAndArgs...)
}

// Truef asserts that value is true; msg is a format for args.
func Truef(t TestingT, value bool, msg string, args ...any) bool {
	if h, ok := t.(tHelper); ok {
		h.Helper()
	}
	return True(t, value, append([]any{msg}, args...)...)
}

// False asserts that value is false.
func False(t TestingT, value bool, msgAndArgs ...any) bool {
	if !value {
		return true
	}
	if h, ok := t.(tHelper); ok {
		h.Helper()
	}
	return fail(t, "False", "should be false", msgAndArgs...)
}

// Empty asserts that object is empty: nil, the zero value of its type, a
// slice, map or channel of length 0, or a pointer to an empty value.
func Empty(t TestingT, object any, msgAndArgs ...any) bool {
	if isEmpty(object) {
		return true
	}
	if h, ok := t.(tHelper); ok {
		h.Helper()
	}
	return fail(t, "Empty", "should be empty\n"+
		"actual  : "+format(object), msgAndArgs...)
}

// NotEmpty asserts that object is not Empty.
func NotEmpty(t TestingT, object any, msgAndArgs ...any) bool {
	if !isEmpty(object) {
		return true
	}
	if h, ok := t.(tHelper); ok {
		h.Helper()
	}
	return fail(t, "NotEmpty", "should not be empty\n"+
		"actual  : "+format(object), msgAndArgs...)
}

func isEmpty(object any) bool {
	if object == nil {
		return true
	}
	return isEmptyValue(reflect.ValueOf(object))
}

func isEmptyValue(v reflect.Value) bool {
	if v.IsZero() {
		return true
	}
	switch v.Kind() {
	case reflect.Chan, reflect.Map, reflect.Slice:
		return v.Len() == 0
	case reflect.Pointer:
		return isEmptyValue(v.Elem())
	}
	return false
}

// Zero asserts that i is the zero value of its type (nil counts as zero).
func Zero(t TestingT, i any, msgAndArgs ...any) bool {
	if h, ok := t.(tHelper); ok {
		h.Helper()
	}
	if i == nil || reflect.DeepEqual(i, reflect.Zero(reflect.TypeOf(i)).Interface()) {
		return true
	}
	return fail(t, "Zero", "should be the zero value of its type\n"+
		"actual  : "+format(i), msgAndArgs...)
}

// Nil asserts that object is nil: a nil interface, or a nil pointer, map,
// slice, channel, function or interface held in one.
func Nil(t TestingT, object any, msgAndArgs ...any) bool {
	if isNil(object) {
		return true
	}
	if h, ok := t.(tHelper); ok {
		h.Helper()
	}
	return fail(t, "Nil", "should be nil\n"+
		"actual  : "+format(object), msgAndArgs...)
}

// NotNil asserts that object is not Nil.
func NotNil(t TestingT, object any, msgAndArgs ...any) bool {
	if !isNil(object) {
		return true
	}
	if h, ok := t.(tHelper); ok {
		h.Helper()
	}
	return fail(t, "NotNil", "should not be nil\n"+
		"actual  : "+format(object), msgAndArgs...)
}

func isNil(object any) bool {
	if object == nil {
		return true
	}
	v := reflect.ValueOf(object)
	switch v.Kind() {
	case reflect.Chan, reflect.Func, reflect.Interface, reflect.Map,
		reflect.Pointer, reflect.Slice, reflect.UnsafePointer:
		return v.IsNil()
	}
	return false
}

// ElementsMatch asserts that listA and listB (slices or arrays) hold the same
// elements in any order, each as many times in both (ObjectsAreEqual). Two
// empty lists match.
func ElementsMatch(t TestingT, listA, listB any, msgAndArgs ...any) bool {
	if h, ok := t.(tHelper); ok {
		h.Helper()
	}
	if isEmpty(listA) && isEmpty(listB) {
		return true
	}
	if !isList(t, listA, msgAndArgs...) || !isList(t, listB, msgAndArgs...) {
		return false
	}
	extraA, extraB := diffLists(listA, listB)
	if len(extraA) == 0 && len(extraB) == 0 {
		return true
	}
	var b strings.Builder
	b.WriteString("elements differ")
	if len(extraA) > 0 {
		b.WriteString("\nonly in A (expected): " + format(extraA))
	}
	if len(extraB) > 0 {
		b.WriteString("\nonly in B (actual)  : " + format(extraB))
	}
	b.WriteString("\nlist A: " + format(listA))
	b.WriteString("\nlist B: " + format(listB))
	return fail(t, "ElementsMatch", b.String(), msgAndArgs...)
}

func isList(t TestingT, list any, msgAndArgs ...any) bool {
	if h, ok := t.(tHelper); ok {
		h.Helper()
	}
	if list != nil {
		if k := reflect.TypeOf(list).Kind(); k == reflect.Array || k == reflect.Slice {
			return true
		}
	}
	return fail(t, "ElementsMatch", "not a slice or an array: "+format(list), msgAndArgs...)
}

// diffLists returns the elements of a not matched in b and those of b not
// matched in a, counting duplicates separately.
func diffLists(a, b any) (extraA, extraB []any) {
	av, bv := reflect.ValueOf(a), reflect.ValueOf(b)
	used := make([]bool, bv.Len())
	for i := 0; i < av.Len(); i++ {
		el := av.Index(i).Interface()
		found := false
		for j := 0; j < bv.Len(); j++ {
			if !used[j] && ObjectsAreEqual(bv.Index(j).Interface(), el) {
				used[j], found = true, true
				break
			}
		}
		if !found {
			extraA = append(extraA, el)
		}
	}
	for j := 0; j < bv.Len(); j++ {
		if !used[j] {
			extraB = append(extraB, bv.Index(j).Interface())
		}
	}
	return extraA, extraB
}

// JSONEq asserts that expected and actual are equivalent JSON documents
// (both unmarshalled into any and compared with Equal).
func JSONEq(t TestingT, expected, actual string, msgAndArgs ...any) bool {
	if h, ok := t.(tHelper); ok {
		h.Helper()
	}
	var exp, act any
	if err := json.Unmarshal([]byte(expected), &exp); err != nil {
		return fail(t, "JSONEq", fmt.Sprintf("expected is not valid JSON: %v\nexpected: %s", err, expected), msgAndArgs...)
	}
	if expected == actual {
		return true
	}
	if err := json.Unmarshal([]byte(actual), &act); err != nil {
		return fail(t, "JSONEq", fmt.Sprintf("actual is not valid JSON: %v\nactual  : %s", err, actual), msgAndArgs...)
	}
	if ObjectsAreEqual(exp, act) {
		return true
	}
	return fail(t, "JSONEq", "JSON documents differ\n"+
		"expected: "+expected+"\n"+
		"actual  : "+actual, msgAndArgs...)
}

// GreaterOrEqual asserts that e1 >= e2. Both must have the same kind, one of
// the integer, unsigned integer, float or string kinds.
func GreaterOrEqual(t TestingT, e1, e2 any, msgAndArgs ...any) bool {
	if h, ok := t.(tHelper); ok {
		h.Helper()
	}
	v1, v2 := reflect.ValueOf(e1), reflect.ValueOf(e2)
	if v1.Kind() != v2.Kind() {
		return fail(t, "GreaterOrEqual", fmt.Sprintf("values of different kinds: %T and %T", e1, e2), msgAndArgs...)
	}
	var c int
	switch v1.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		c = cmp.Compare(v1.Int(), v2.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		c = cmp.Compare(v1.Uint(), v2.Uint())
	case reflect.Float32, reflect.Float64:
		f1, f2 := v1.Float(), v2.Float()
		if f1 != f1 || f2 != f2 { // NaN
			return fail(t, "GreaterOrEqual", fmt.Sprintf("cannot order NaN: %v, %v", e1, e2), msgAndArgs...)
		}
		c = cmp.Compare(f1, f2)
	case reflect.String:
		c = cmp.Compare(v1.String(), v2.String())
	default:
		return fail(t, "GreaterOrEqual", fmt.Sprintf("cannot compare values of type %T", e1), msgAndArgs...)
	}
	if c >= 0 {
		return true
	}
	return fail(t, "GreaterOrEqual", "first value is less than the second\n"+
		"first   : "+format(e1)+"\n"+
		"second  : "+format(e2), msgAndArgs...)
}

// Contains asserts that s contains contains: a substring of a string, an
// element of a slice or an array (ObjectsAreEqual), or a key of a map.
func Contains(t TestingT, s, contains any, msgAndArgs ...any) bool {
	if h, ok := t.(tHelper); ok {
		h.Helper()
	}
	ok, found := containsElement(s, contains)
	if !ok {
		return fail(t, "Contains", "not a string, slice, array or map: "+format(s), msgAndArgs...)
	}
	if !found {
		return fail(t, "Contains", "element not found\n"+
			"container: "+format(s)+"\n"+
			"element  : "+format(contains), msgAndArgs...)
	}
	return true
}

func containsElement(list, element any) (ok, found bool) {
	if list == nil {
		return false, false
	}
	lv := reflect.ValueOf(list)
	defer func() {
		if recover() != nil {
			ok, found = false, false
		}
	}()
	switch lv.Kind() {
	case reflect.String:
		ev := reflect.ValueOf(element)
		return true, ev.Kind() == reflect.String && strings.Contains(lv.String(), ev.String())
	case reflect.Map:
		for _, k := range lv.MapKeys() {
			if ObjectsAreEqual(k.Interface(), element) {
				return true, true
			}
		}
		return true, false
	case reflect.Slice, reflect.Array:
		for i := 0; i < lv.Len(); i++ {
			if ObjectsAreEqual(lv.Index(i).Interface(), element) {
				return true, true
			}
		}
		return true, false
	}
	return false, false
}

func isFunction(v any) bool {
	return v != nil && reflect.TypeOf(v).Kind() == reflect.Func
}

// format prints v with %#v, followed by its Error() or String() text when it
// has one; nil prints as nil.
func format(v any) string {
	if v == nil {
		return "nil"
	}
	s := fmt.Sprintf("%#v", v)
	switch v.(type) {
	case error, fmt.Stringer:
		if text := fmt.Sprintf("%v", v); text != s {
			s += " (" + text + ")"
		}
	}
	return s
}

// formatPair formats two unequal values, prefixing each with its type when
// the types differ (so that int(1) and int64(1) do not read alike).
func formatPair(expected, actual any) (string, string) {
	exp, act := format(expected), format(actual)
	if expected != nil && actual != nil && reflect.TypeOf(expected) != reflect.TypeOf(actual) {
		exp = fmt.Sprintf("%T(%s)", expected, exp)
		act = fmt.Sprintf("%T(%s)", actual, act)
	}
	return exp, act
}

// fieldDiff lists the exported fields in which two structs of one type (or
// two pointers to such structs) differ, so that a difference in a long
// struct need not be looked for in the one-line values.
func fieldDiff(expected, actual any) string {
	ev, av := reflect.ValueOf(expected), reflect.ValueOf(actual)
	if !ev.IsValid() || !av.IsValid() || ev.Type() != av.Type() {
		return ""
	}
	if ev.Kind() == reflect.Pointer {
		if ev.IsNil() || av.IsNil() {
			return ""
		}
		ev, av = ev.Elem(), av.Elem()
	}
	if ev.Kind() != reflect.Struct {
		return ""
	}
	var b strings.Builder
	for i := range ev.NumField() {
		f := ev.Type().Field(i)
		if !f.IsExported() {
			continue
		}
		e, a := ev.Field(i).Interface(), av.Field(i).Interface()
		if !ObjectsAreEqual(e, a) {
			fmt.Fprintf(&b, "\n  %s: %s != %s", f.Name, format(e), format(a))
		}
	}
	if b.Len() == 0 {
		return ""
	}
	return "\nfields that differ (expected != actual):" + b.String()
}

// errorChain lists the errors wrapped by err, when there are any.
func errorChain(err error) string {
	errs := unwrapAll(err)
	if len(errs) < 2 {
		return ""
	}
	var b strings.Builder
	b.WriteString("\nchain   :")
	for _, e := range errs {
		fmt.Fprintf(&b, "\n  %q (%T)", e.Error(), e)
	}
	return b.String()
}

func unwrapAll(err error) []error {
	if err == nil {
		return nil
	}
	errs := []error{err}
	switch x := err.(type) {
	case interface{ Unwrap() error }:
		errs = append(errs, unwrapAll(x.Unwrap())...)
	case interface{ Unwrap() []error }:
		for _, e := range x.Unwrap() {
			errs = append(errs, unwrapAll(e)...)
		}
	}
	return errs
}

// messageFromMsgAndArgs formats the caller's message: a single value as is,
// several as a format (the first, a string) and its arguments.
func messageFromMsgAndArgs(msgAndArgs ...any) string {
	switch len(msgAndArgs) {
	case 0:
		return ""
	case 1:
		if s, ok := msgAndArgs[0].(string); ok {
			return s
		}
		return fmt.Sprintf("%+v", msgAndArgs[0])
	}
	if format, ok := msgAndArgs[0].(string); ok {
		return fmt.Sprintf(format, msgAndArgs[1:]...)
	}
	// Not a format (testify panics here): print every value. The values are
	// printed one by one, not passed on as args..., so that vet does not take
	// the assertions for Print wrappers and flag the format in their messages.
	parts := make([]string, len(msgAndArgs))
	for i, v := range msgAndArgs {
		parts[i] = fmt.Sprintf("%+v", v)
	}
	return strings.Join(parts, " ")
}

// fail reports a failure of the assertion name and returns false.
func fail(t TestingT, name, failure string, msgAndArgs ...any) bool {
	if h, ok := t.(tHelper); ok {
		h.Helper()
	}
	content := []labeled{
		{"Error Trace", strings.Join(callerInfo(), "\n")},
		{"Error", name + ": " + failure},
	}
	if n, ok := t.(interface{ Name() string }); ok {
		content = append(content, labeled{"Test", n.Name()})
	}
	if msg := messageFromMsgAndArgs(msgAndArgs...); msg != "" {
		content = append(content, labeled{"Messages", msg})
	}
	t.Errorf("\n%s", labeledOutput(content))
	return false
}

type labeled struct {
	label, content string
}

// labeledOutput prints each label and its content on its own lines, the
// contents aligned.
func labeledOutput(content []labeled) string {
	width := 0
	for _, c := range content {
		width = max(width, len(c.label))
	}
	var b strings.Builder
	for _, c := range content {
		if c.content == "" {
			continue
		}
		pad := strings.Repeat(" ", width-len(c.label))
		indent := "\n\t" + strings.Repeat(" ", width+1) + "\t"
		b.WriteString("\t" + c.label + ":" + pad + "\t" + strings.ReplaceAll(c.content, "\n", indent) + "\n")
	}
	return b.String()
}

// internalPrefix is the import path prefix of this package and its sibling
// require ("…/storagetest/internal/"), whose frames callerInfo skips.
var internalPrefix = strings.TrimSuffix(reflect.TypeFor[labeled]().PkgPath(), "assert")

// callerInfo returns file:line of the callers outside this package and
// require, innermost first, up to the test function.
func callerInfo() []string {
	pcs := make([]uintptr, 64)
	n := runtime.Callers(2, pcs)
	frames := runtime.CallersFrames(pcs[:n])
	var callers []string
	for {
		f, more := frames.Next()
		if f.Function == "testing.tRunner" {
			break
		}
		if !strings.HasPrefix(f.Function, internalPrefix) || strings.HasSuffix(f.File, "_test.go") {
			callers = append(callers, fmt.Sprintf("%s:%d", f.File, f.Line))
		}
		if !more {
			break
		}
	}
	return callers
}
