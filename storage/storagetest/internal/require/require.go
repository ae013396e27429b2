// Package require is the small subset of github.com/stretchr/testify/require
// that the conformance suite uses: each function runs the assertion of the
// same name in package assert and, when it fails, stops the test with
// t.FailNow.
package require

import (
	"github.com/socialcommerce/sdk/storage/storagetest/internal/assert"
)

// TestingT is what the assertions need of a *testing.T.
type TestingT interface {
	// Errorf reports a failure and lets the test go on.
	Errorf(format string, args ...any)
	// FailNow marks the test failed and stops it.
	FailNow()
}

type tHelper interface {
	Helper()
}

// NoError requires that err is nil.
func NoError(t TestingT, err error, msgAndArgs ...any) {
	if h, ok := t.(tHelper); ok {
		h.Helper()
	}
	if !assert.NoError(t, err, msgAndArgs...) {
		t.FailNow()
	}
}

// NotNil requires that object is not nil.
func NotNil(t TestingT, object any, msgAndArgs ...any) {
	if h, ok := t.(tHelper); ok {
		h.Helper()
	}
	if !assert.NotNil(t, object, msgAndArgs...) {
		t.FailNow()
	}
}

// Nil requires that object is nil.
func Nil(t TestingT, object any, msgAndArgs ...any) {
	if h, ok := t.(tHelper); ok {
		h.Helper()
	}
	if !assert.Nil(t, object, msgAndArgs...) {
		t.FailNow()
	}
}

// Len requires that object has length length.
func Len(t TestingT, object any, length int, msgAndArgs ...any) {
	if h, ok := t.(tHelper); ok {
		h.Helper()
	}
	if !assert.Len(t, object, length, msgAndArgs...) {
		t.FailNow()
	}
}

// Equal requires that expected and actual are equal.
func Equal(t TestingT, expected, actual any, msgAndArgs ...any) {
	if h, ok := t.(tHelper); ok {
		h.Helper()
	}
	if !assert.Equal(t, expected, actual, msgAndArgs...) {
		t.FailNow()
	}
}

// True requires that value is true.
func True(t TestingT, value bool, msgAndArgs ...any) {
	if h, ok := t.(tHelper); ok {
		h.Helper()
	}
	if !assert.True(t, value, msgAndArgs...) {
		t.FailNow()
	}
}

// False requires that value is false.
func False(t TestingT, value bool, msgAndArgs ...any) {
	if h, ok := t.(tHelper); ok {
		h.Helper()
	}
	if !assert.False(t, value, msgAndArgs...) {
		t.FailNow()
	}
}

// ErrorIs requires that errors.Is(err, target).
func ErrorIs(t TestingT, err, target error, msgAndArgs ...any) {
	if h, ok := t.(tHelper); ok {
		h.Helper()
	}
	if !assert.ErrorIs(t, err, target, msgAndArgs...) {
		t.FailNow()
	}
}

// Empty requires that object is empty.
func Empty(t TestingT, object any, msgAndArgs ...any) {
	if h, ok := t.(tHelper); ok {
		h.Helper()
	}
	if !assert.Empty(t, object, msgAndArgs...) {
		t.FailNow()
	}
}

// NotEmpty requires that object is not empty.
func NotEmpty(t TestingT, object any, msgAndArgs ...any) {
	if h, ok := t.(tHelper); ok {
		h.Helper()
	}
	if !assert.NotEmpty(t, object, msgAndArgs...) {
		t.FailNow()
	}
}
