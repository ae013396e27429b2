package require

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"
)

// fakeT records what a requirement reports; FailNow only counts, so that the
// test goes on.
type fakeT struct {
	errors  []string
	failNow int
	helpers int
}

func (f *fakeT) Errorf(format string, args ...any) {
	f.errors = append(f.errors, fmt.Sprintf(format, args...))
}

func (f *fakeT) FailNow() { f.failNow++ }

func (f *fakeT) Helper() { f.helpers++ }

func TestRequire(t *testing.T) {
	var nilPtr *int
	tests := []struct {
		name string
		fn   func(t TestingT)
		ok   bool
		msg  string // a substring of the failure message
	}{
		{"NoError", func(t TestingT) { NoError(t, nil) }, true, ""},
		{"NoError fails", func(t TestingT) { NoError(t, errors.New("boom"), "step %d", 3) }, false, "boom"},
		{"NotNil", func(t TestingT) { NotNil(t, 1) }, true, ""},
		{"NotNil fails on typed nil", func(t TestingT) { NotNil(t, nilPtr) }, false, "NotNil: should not be nil"},
		{"Nil", func(t TestingT) { Nil(t, nilPtr) }, true, ""},
		{"Nil fails", func(t TestingT) { Nil(t, 1) }, false, "Nil: should be nil"},
		{"Len", func(t TestingT) { Len(t, []int{1}, 1) }, true, ""},
		{"Len fails", func(t TestingT) { Len(t, []int{1}, 2) }, false, "Len: wrong length"},
		{"Equal", func(t TestingT) { Equal(t, []byte("a"), []byte("a")) }, true, ""},
		{"Equal fails", func(t TestingT) { Equal(t, 1, 2) }, false, "Equal: values differ"},
		{"True", func(t TestingT) { True(t, true) }, true, ""},
		{"True fails", func(t TestingT) { True(t, false) }, false, "True: should be true"},
		{"False", func(t TestingT) { False(t, false) }, true, ""},
		{"False fails", func(t TestingT) { False(t, true) }, false, "False: should be false"},
		{"ErrorIs", func(t TestingT) { ErrorIs(t, fmt.Errorf("x: %w", fs.ErrExist), fs.ErrExist) }, true, ""},
		{"ErrorIs fails", func(t TestingT) { ErrorIs(t, nil, fs.ErrExist) }, false, "ErrorIs:"},
		{"Empty", func(t TestingT) { Empty(t, "") }, true, ""},
		{"Empty fails", func(t TestingT) { Empty(t, "x") }, false, "Empty: should be empty"},
		{"NotEmpty", func(t TestingT) { NotEmpty(t, []int{1}) }, true, ""},
		{"NotEmpty fails", func(t TestingT) { NotEmpty(t, []int{}) }, false, "NotEmpty: should not be empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ft := &fakeT{}
			tc.fn(ft)
			if tc.ok {
				if len(ft.errors) != 0 || ft.failNow != 0 {
					t.Fatalf("passed but reported %q and called FailNow %d times", ft.errors, ft.failNow)
				}
				return
			}
			if len(ft.errors) != 1 || ft.failNow != 1 {
				t.Fatalf("got %d reports and %d FailNow calls, want 1 and 1: %q", len(ft.errors), ft.failNow, ft.errors)
			}
			if ft.helpers == 0 {
				t.Error("failure reported without calling Helper")
			}
			if !strings.Contains(ft.errors[0], tc.msg) {
				t.Errorf("message lacks %q:\n%s", tc.msg, ft.errors[0])
			}
			if !strings.Contains(ft.errors[0], "require_test.go:") {
				t.Errorf("Error Trace lacks the caller:\n%s", ft.errors[0])
			}
		})
	}
}

func TestRequireMessage(t *testing.T) {
	ft := &fakeT{}
	NoError(ft, errors.New("boom"), "step %d of %s", 3, "setup")
	if len(ft.errors) != 1 || !strings.Contains(ft.errors[0], "Messages:") ||
		!strings.Contains(ft.errors[0], "step 3 of setup") {
		t.Errorf("reports = %q, want one with the formatted message", ft.errors)
	}
}
