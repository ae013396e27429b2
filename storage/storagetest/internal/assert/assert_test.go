package assert

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"
	"time"
)

// fakeT records what an assertion reports.
type fakeT struct {
	errors  []string
	helpers int
}

func (f *fakeT) Errorf(format string, args ...any) {
	f.errors = append(f.errors, fmt.Sprintf(format, args...))
}

func (f *fakeT) Helper() { f.helpers++ }

func (f *fakeT) Name() string { return "TestFake/case" }

// bareT implements only Errorf: no Helper, no Name.
type bareT struct{ errors []string }

func (b *bareT) Errorf(format string, args ...any) {
	b.errors = append(b.errors, fmt.Sprintf(format, args...))
}

type myErr struct{ code int }

func (e *myErr) Error() string { return fmt.Sprintf("my error %d", e.code) }

type point struct{ X, Y int }

type named string

type record struct {
	ID     string
	N      int
	Tags   []string
	hidden int
}

func TestAssertions(t *testing.T) {
	var (
		nilPtr   *point
		nilSlice []int
		nilMap   map[string]int
		nilChan  chan int
		nilFunc  func()
		nilErr   error
		typedNil error = (*myErr)(nil)
		wrapped        = fmt.Errorf("reading: %w", fs.ErrNotExist)
		joined         = errors.Join(errors.New("a"), fs.ErrPermission)
		ch             = make(chan int, 2)
		zeroTime time.Time
	)
	ch <- 1
	ch <- 2

	tests := []struct {
		name string
		fn   func(t TestingT) bool
		ok   bool
		msg  []string // substrings of the failure message
	}{
		// Equal
		{"Equal ints", func(t TestingT) bool { return Equal(t, 1, 1) }, true, nil},
		{"Equal strings differ", func(t TestingT) bool { return Equal(t, "a", "b") }, false,
			[]string{"Equal: values differ", `expected: "a"`, `actual  : "b"`}},
		{"Equal int vs int64", func(t TestingT) bool { return Equal(t, 1, int64(1)) }, false,
			[]string{"expected: int(1)", "actual  : int64(1)"}},
		{"Equal structs", func(t TestingT) bool { return Equal(t, point{1, 2}, point{1, 2}) }, true, nil},
		{"Equal pointers by value", func(t TestingT) bool { return Equal(t, &point{1, 2}, &point{1, 2}) }, true, nil},
		{"Equal structs differ", func(t TestingT) bool { return Equal(t, point{1, 2}, point{1, 3}) }, false,
			[]string{"assert.point{X:1, Y:2}", "assert.point{X:1, Y:3}"}},
		{"Equal structs list the fields that differ", func(t TestingT) bool {
			return Equal(t, &record{ID: "a", N: 1, Tags: []string{"x"}}, &record{ID: "a", N: 2, Tags: []string{"y"}})
		}, false, []string{"fields that differ (expected != actual):\n\t", "  N: 1 != 2\n\t", `  Tags: []string{"x"} != []string{"y"}`}},
		{"Equal struct differing in an unexported field", func(t TestingT) bool {
			return Equal(t, record{ID: "a", hidden: 1}, record{ID: "a", hidden: 2})
		}, false, []string{"hidden:1", "hidden:2"}},
		{"Equal bytes", func(t TestingT) bool { return Equal(t, []byte("ab"), []byte("ab")) }, true, nil},
		{"Equal empty bytes", func(t TestingT) bool { return Equal(t, []byte{}, []byte{}) }, true, nil},
		{"Equal bytes differ", func(t TestingT) bool { return Equal(t, []byte("ab"), []byte("ac")) }, false,
			[]string{"[]byte{0x61, 0x62}", "[]byte{0x61, 0x63}"}},
		{"Equal nil bytes vs empty bytes", func(t TestingT) bool { return Equal(t, []byte(nil), []byte{}) }, false, nil},
		{"Equal nil bytes", func(t TestingT) bool { return Equal(t, []byte(nil), []byte(nil)) }, true, nil},
		{"Equal bytes vs string", func(t TestingT) bool { return Equal(t, []byte("a"), "a") }, false, nil},
		{"Equal nil nil", func(t TestingT) bool { return Equal(t, nil, nil) }, true, nil},
		{"Equal nil vs typed nil", func(t TestingT) bool { return Equal(t, nil, nilPtr) }, false,
			[]string{"expected: nil", "actual  : (*assert.point)(nil)"}},
		{"Equal typed nil vs typed nil", func(t TestingT) bool { return Equal(t, nilPtr, (*point)(nil)) }, true, nil},
		{"Equal nil slice vs empty slice", func(t TestingT) bool { return Equal(t, nilSlice, []int{}) }, false, nil},
		{"Equal maps", func(t TestingT) bool { return Equal(t, map[string]int{"a": 1}, map[string]int{"a": 1}) }, true, nil},
		{"Equal times", func(t TestingT) bool {
			return Equal(t, time.Unix(5, 0).UTC(), time.Unix(5, 0).UTC())
		}, true, nil},
		{"Equal errors print their text", func(t TestingT) bool { return Equal(t, errors.New("x"), errors.New("y")) }, false,
			[]string{`&errors.errorString{s:"x"} (x)`, `&errors.errorString{s:"y"} (y)`}},
		{"Equal stringers print their text", func(t TestingT) bool { return Equal(t, time.Second, time.Minute) }, false,
			[]string{"1000000000 (1s)", "60000000000 (1m0s)"}},
		{"Equal functions", func(t TestingT) bool { return Equal(t, func() {}, func() {}) }, false,
			[]string{"cannot compare functions"}},
		{"Equal nil function", func(t TestingT) bool { return Equal(t, nilFunc, nilFunc) }, false,
			[]string{"cannot compare functions"}},

		// NotEqual
		{"NotEqual differ", func(t TestingT) bool { return NotEqual(t, 1, 2) }, true, nil},
		{"NotEqual int vs int64", func(t TestingT) bool { return NotEqual(t, 1, int64(1)) }, true, nil},
		{"NotEqual same", func(t TestingT) bool { return NotEqual(t, "a", "a") }, false,
			[]string{"NotEqual: values are equal", `both: "a"`}},
		{"NotEqual bytes", func(t TestingT) bool { return NotEqual(t, []byte("a"), []byte("a")) }, false, nil},
		{"NotEqual nil vs typed nil", func(t TestingT) bool { return NotEqual(t, nil, nilPtr) }, true, nil},
		{"NotEqual functions", func(t TestingT) bool { return NotEqual(t, func() {}, 1) }, false,
			[]string{"cannot compare functions"}},

		// ErrorIs
		{"ErrorIs same", func(t TestingT) bool { return ErrorIs(t, fs.ErrNotExist, fs.ErrNotExist) }, true, nil},
		{"ErrorIs wrapped", func(t TestingT) bool { return ErrorIs(t, wrapped, fs.ErrNotExist) }, true, nil},
		{"ErrorIs joined", func(t TestingT) bool { return ErrorIs(t, joined, fs.ErrPermission) }, true, nil},
		{"ErrorIs nil nil", func(t TestingT) bool { return ErrorIs(t, nil, nil) }, true, nil},
		{"ErrorIs not in chain", func(t TestingT) bool { return ErrorIs(t, wrapped, fs.ErrPermission) }, false,
			[]string{"ErrorIs: target error is not in err's chain", "(permission denied)",
				"(reading: file does not exist)", `"file does not exist" (*errors.errorString)`}},
		{"ErrorIs nil err", func(t TestingT) bool { return ErrorIs(t, nil, fs.ErrNotExist) }, false,
			[]string{"actual  : nil"}},

		// NoError
		{"NoError nil", func(t TestingT) bool { return NoError(t, nil) }, true, nil},
		{"NoError error", func(t TestingT) bool { return NoError(t, &myErr{7}) }, false,
			[]string{"NoError: unexpected error", "&assert.myErr{code:7} (my error 7)"}},
		{"NoError typed nil is an error", func(t TestingT) bool { return NoError(t, typedNil) }, false, nil},

		// Len
		{"Len slice", func(t TestingT) bool { return Len(t, []int{1, 2}, 2) }, true, nil},
		{"Len nil slice", func(t TestingT) bool { return Len(t, nilSlice, 0) }, true, nil},
		{"Len map", func(t TestingT) bool { return Len(t, map[int]int{1: 1}, 1) }, true, nil},
		{"Len string", func(t TestingT) bool { return Len(t, "héllo", 6) }, true, nil},
		{"Len array", func(t TestingT) bool { return Len(t, [3]int{}, 3) }, true, nil},
		{"Len chan", func(t TestingT) bool { return Len(t, ch, 2) }, true, nil},
		{"Len wrong", func(t TestingT) bool { return Len(t, []string{"a"}, 2) }, false,
			[]string{"Len: wrong length", "expected: 2", "actual  : 1", `value   : []string{"a"}`}},
		{"Len int", func(t TestingT) bool { return Len(t, 5, 1) }, false,
			[]string{"builtin len() cannot be applied to 5"}},
		{"Len nil", func(t TestingT) bool { return Len(t, nil, 0) }, false,
			[]string{"builtin len() cannot be applied to nil"}},

		// True, Truef, False
		{"True", func(t TestingT) bool { return True(t, true) }, true, nil},
		{"True false", func(t TestingT) bool { return True(t, false) }, false, []string{"True: should be true"}},
		{"Truef", func(t TestingT) bool { return Truef(t, true, "x %d", 1) }, true, nil},
		{"Truef false", func(t TestingT) bool { return Truef(t, false, "want %s, got %d", "a", 2) }, false,
			[]string{"True: should be true", "Messages:", "want a, got 2"}},
		{"False", func(t TestingT) bool { return False(t, false) }, true, nil},
		{"False true", func(t TestingT) bool { return False(t, true) }, false, []string{"False: should be false"}},

		// Empty, NotEmpty
		{"Empty nil", func(t TestingT) bool { return Empty(t, nil) }, true, nil},
		{"Empty zero int", func(t TestingT) bool { return Empty(t, 0) }, true, nil},
		{"Empty empty string", func(t TestingT) bool { return Empty(t, "") }, true, nil},
		{"Empty nil slice", func(t TestingT) bool { return Empty(t, nilSlice) }, true, nil},
		{"Empty empty slice", func(t TestingT) bool { return Empty(t, []int{}) }, true, nil},
		{"Empty empty map", func(t TestingT) bool { return Empty(t, map[string]int{}) }, true, nil},
		{"Empty nil map", func(t TestingT) bool { return Empty(t, nilMap) }, true, nil},
		{"Empty nil chan", func(t TestingT) bool { return Empty(t, nilChan) }, true, nil},
		{"Empty empty chan", func(t TestingT) bool { return Empty(t, make(chan int, 1)) }, true, nil},
		{"Empty nil pointer", func(t TestingT) bool { return Empty(t, nilPtr) }, true, nil},
		{"Empty pointer to zero", func(t TestingT) bool { return Empty(t, &point{}) }, true, nil},
		{"Empty pointer to empty slice", func(t TestingT) bool { return Empty(t, &[]int{}) }, true, nil},
		{"Empty zero struct", func(t TestingT) bool { return Empty(t, point{}) }, true, nil},
		{"Empty zero time", func(t TestingT) bool { return Empty(t, zeroTime) }, true, nil},
		{"Empty zero array", func(t TestingT) bool { return Empty(t, [2]int{}) }, true, nil},
		{"Empty false", func(t TestingT) bool { return Empty(t, false) }, true, nil},
		{"Empty non-zero array", func(t TestingT) bool { return Empty(t, [2]int{0, 1}) }, false, nil},
		{"Empty slice", func(t TestingT) bool { return Empty(t, []string{"x"}) }, false,
			[]string{"Empty: should be empty", `actual  : []string{"x"}`}},
		{"Empty chan", func(t TestingT) bool { return Empty(t, ch) }, false, nil},
		{"Empty string", func(t TestingT) bool { return Empty(t, "x") }, false, nil},
		{"Empty struct", func(t TestingT) bool { return Empty(t, point{X: 1}) }, false, nil},
		{"Empty pointer to struct", func(t TestingT) bool { return Empty(t, &point{X: 1}) }, false, nil},
		{"NotEmpty slice", func(t TestingT) bool { return NotEmpty(t, []int{1}) }, true, nil},
		{"NotEmpty string", func(t TestingT) bool { return NotEmpty(t, "x") }, true, nil},
		{"NotEmpty empty slice", func(t TestingT) bool { return NotEmpty(t, []int{}) }, false,
			[]string{"NotEmpty: should not be empty", "[]int{}"}},
		{"NotEmpty nil", func(t TestingT) bool { return NotEmpty(t, nil) }, false, nil},

		// Zero
		{"Zero int", func(t TestingT) bool { return Zero(t, 0) }, true, nil},
		{"Zero nil", func(t TestingT) bool { return Zero(t, nil) }, true, nil},
		{"Zero struct", func(t TestingT) bool { return Zero(t, point{}) }, true, nil},
		{"Zero time", func(t TestingT) bool { return Zero(t, zeroTime) }, true, nil},
		{"Zero nil slice", func(t TestingT) bool { return Zero(t, nilSlice) }, true, nil},
		{"Zero typed nil pointer", func(t TestingT) bool { return Zero(t, nilPtr) }, true, nil},
		{"Zero empty slice is not zero", func(t TestingT) bool { return Zero(t, []int{}) }, false, nil},
		{"Zero pointer to zero is not zero", func(t TestingT) bool { return Zero(t, &point{}) }, false, nil},
		{"Zero int", func(t TestingT) bool { return Zero(t, 3) }, false,
			[]string{"Zero: should be the zero value of its type", "actual  : 3"}},
		{"Zero named", func(t TestingT) bool { return Zero(t, named("a")) }, false, []string{`"a"`}},

		// Nil, NotNil
		{"Nil nil", func(t TestingT) bool { return Nil(t, nil) }, true, nil},
		{"Nil nil error", func(t TestingT) bool { return Nil(t, nilErr) }, true, nil},
		{"Nil typed nil error", func(t TestingT) bool { return Nil(t, typedNil) }, true, nil},
		{"Nil nil pointer", func(t TestingT) bool { return Nil(t, nilPtr) }, true, nil},
		{"Nil nil slice", func(t TestingT) bool { return Nil(t, nilSlice) }, true, nil},
		{"Nil nil map", func(t TestingT) bool { return Nil(t, nilMap) }, true, nil},
		{"Nil nil chan", func(t TestingT) bool { return Nil(t, nilChan) }, true, nil},
		{"Nil nil func", func(t TestingT) bool { return Nil(t, nilFunc) }, true, nil},
		{"Nil empty slice", func(t TestingT) bool { return Nil(t, []int{}) }, false, nil},
		{"Nil zero int", func(t TestingT) bool { return Nil(t, 0) }, false, []string{"Nil: should be nil", "actual  : 0"}},
		{"Nil pointer", func(t TestingT) bool { return Nil(t, &point{1, 2}) }, false,
			[]string{"&assert.point{X:1, Y:2}"}},
		{"NotNil pointer", func(t TestingT) bool { return NotNil(t, &point{}) }, true, nil},
		{"NotNil zero int", func(t TestingT) bool { return NotNil(t, 0) }, true, nil},
		{"NotNil nil", func(t TestingT) bool { return NotNil(t, nil) }, false, []string{"NotNil: should not be nil"}},
		{"NotNil typed nil", func(t TestingT) bool { return NotNil(t, nilPtr) }, false,
			[]string{"(*assert.point)(nil)"}},

		// ElementsMatch
		{"ElementsMatch same order", func(t TestingT) bool { return ElementsMatch(t, []int{1, 2, 3}, []int{1, 2, 3}) }, true, nil},
		{"ElementsMatch any order", func(t TestingT) bool { return ElementsMatch(t, []string{"a", "b", "c"}, []string{"c", "a", "b"}) }, true, nil},
		{"ElementsMatch duplicates", func(t TestingT) bool { return ElementsMatch(t, []int{1, 3, 2, 3}, []int{3, 1, 3, 2}) }, true, nil},
		{"ElementsMatch duplicate counts differ", func(t TestingT) bool { return ElementsMatch(t, []int{1, 1, 2}, []int{1, 2, 2}) }, false,
			[]string{"ElementsMatch: elements differ", "only in A (expected): []interface {}{1}",
				"only in B (actual)  : []interface {}{2}", "list A: []int{1, 1, 2}", "list B: []int{1, 2, 2}"}},
		{"ElementsMatch extra", func(t TestingT) bool { return ElementsMatch(t, []int{1}, []int{1, 1}) }, false,
			[]string{"only in B (actual)  : []interface {}{1}"}},
		{"ElementsMatch empty lists", func(t TestingT) bool { return ElementsMatch(t, []int{}, []string{}) }, true, nil},
		{"ElementsMatch nil and empty", func(t TestingT) bool { return ElementsMatch(t, nilSlice, []int{}) }, true, nil},
		{"ElementsMatch empty vs one", func(t TestingT) bool { return ElementsMatch(t, []int{}, []int{1}) }, false, nil},
		{"ElementsMatch array and slice", func(t TestingT) bool { return ElementsMatch(t, [2]int{2, 1}, []int{1, 2}) }, true, nil},
		{"ElementsMatch bytes elements", func(t TestingT) bool {
			return ElementsMatch(t, [][]byte{[]byte("a"), []byte("b")}, [][]byte{[]byte("b"), []byte("a")})
		}, true, nil},
		{"ElementsMatch structs", func(t TestingT) bool {
			return ElementsMatch(t, []point{{1, 2}, {3, 4}}, []point{{3, 4}, {1, 2}})
		}, true, nil},
		{"ElementsMatch not a list", func(t TestingT) bool { return ElementsMatch(t, 1, []int{1}) }, false,
			[]string{"not a slice or an array: 1"}},
		{"ElementsMatch map", func(t TestingT) bool { return ElementsMatch(t, []int{1}, map[int]int{1: 1}) }, false,
			[]string{"not a slice or an array"}},

		// JSONEq
		{"JSONEq same", func(t TestingT) bool { return JSONEq(t, `{"a":1}`, `{"a":1}`) }, true, nil},
		{"JSONEq key order and spaces", func(t TestingT) bool {
			return JSONEq(t, `{"a": 1, "b": [1, 2]}`, `{"b":[1,2],"a":1.0}`)
		}, true, nil},
		{"JSONEq differ", func(t TestingT) bool { return JSONEq(t, `{"a":1}`, `{"a":2}`) }, false,
			[]string{"JSONEq: JSON documents differ", `expected: {"a":1}`, `actual  : {"a":2}`}},
		{"JSONEq array order", func(t TestingT) bool { return JSONEq(t, `[1,2]`, `[2,1]`) }, false, nil},
		{"JSONEq bad expected", func(t TestingT) bool { return JSONEq(t, `{`, `{}`) }, false,
			[]string{"expected is not valid JSON"}},
		{"JSONEq bad actual", func(t TestingT) bool { return JSONEq(t, `{}`, `nope`) }, false,
			[]string{"actual is not valid JSON"}},
		{"JSONEq empty actual", func(t TestingT) bool { return JSONEq(t, `null`, ``) }, false, nil},

		// GreaterOrEqual
		{"GreaterOrEqual int greater", func(t TestingT) bool { return GreaterOrEqual(t, 2, 1) }, true, nil},
		{"GreaterOrEqual int equal", func(t TestingT) bool { return GreaterOrEqual(t, 1, 1) }, true, nil},
		{"GreaterOrEqual int less", func(t TestingT) bool { return GreaterOrEqual(t, 0, 1) }, false,
			[]string{"GreaterOrEqual: first value is less than the second", "first   : 0", "second  : 1"}},
		{"GreaterOrEqual int64", func(t TestingT) bool { return GreaterOrEqual(t, int64(-1), int64(-2)) }, true, nil},
		{"GreaterOrEqual uint", func(t TestingT) bool { return GreaterOrEqual(t, uint8(1), uint8(2)) }, false, nil},
		{"GreaterOrEqual float", func(t TestingT) bool { return GreaterOrEqual(t, 1.5, 1.25) }, true, nil},
		{"GreaterOrEqual float less", func(t TestingT) bool { return GreaterOrEqual(t, float32(1), float32(1.5)) }, false, nil},
		{"GreaterOrEqual string", func(t TestingT) bool { return GreaterOrEqual(t, "b", "a") }, true, nil},
		{"GreaterOrEqual string less", func(t TestingT) bool { return GreaterOrEqual(t, "a", "b") }, false, nil},
		{"GreaterOrEqual named kinds", func(t TestingT) bool { return GreaterOrEqual(t, named("b"), "b") }, true, nil},
		{"GreaterOrEqual mixed kinds", func(t TestingT) bool { return GreaterOrEqual(t, 1, int64(1)) }, false,
			[]string{"values of different kinds: int and int64"}},
		{"GreaterOrEqual structs", func(t TestingT) bool { return GreaterOrEqual(t, point{}, point{}) }, false,
			[]string{"cannot compare values of type assert.point"}},

		// Contains
		{"Contains substring", func(t TestingT) bool { return Contains(t, "hello world", "o w") }, true, nil},
		{"Contains substring missing", func(t TestingT) bool { return Contains(t, "hello", "x") }, false,
			[]string{"Contains: element not found", `container: "hello"`, `element  : "x"`}},
		{"Contains string vs int", func(t TestingT) bool { return Contains(t, "1", 1) }, false, nil},
		{"Contains slice", func(t TestingT) bool { return Contains(t, []string{"a", "b"}, "b") }, true, nil},
		{"Contains slice missing", func(t TestingT) bool { return Contains(t, []string{"a"}, "b") }, false, nil},
		{"Contains slice of bytes", func(t TestingT) bool { return Contains(t, [][]byte{[]byte("a")}, []byte("a")) }, true, nil},
		{"Contains array", func(t TestingT) bool { return Contains(t, [2]int{1, 2}, 2) }, true, nil},
		{"Contains slice typed", func(t TestingT) bool { return Contains(t, []int64{1}, 1) }, false, nil},
		{"Contains map key", func(t TestingT) bool { return Contains(t, map[string]int{"k": 1}, "k") }, true, nil},
		{"Contains map value is not a key", func(t TestingT) bool { return Contains(t, map[string]string{"k": "v"}, "v") }, false, nil},
		{"Contains int", func(t TestingT) bool { return Contains(t, 5, 5) }, false,
			[]string{"not a string, slice, array or map: 5"}},
		{"Contains nil", func(t TestingT) bool { return Contains(t, nil, 5) }, false, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ft := &fakeT{}
			got := tc.fn(ft)
			if got != tc.ok {
				t.Fatalf("returned %v, want %v; reported %q", got, tc.ok, ft.errors)
			}
			if tc.ok {
				if len(ft.errors) != 0 {
					t.Fatalf("passed but reported %q", ft.errors)
				}
				return
			}
			if len(ft.errors) != 1 {
				t.Fatalf("failed with %d reports, want 1: %q", len(ft.errors), ft.errors)
			}
			if ft.helpers == 0 {
				t.Error("failure reported without calling Helper")
			}
			msg := ft.errors[0]
			for _, want := range tc.msg {
				if !strings.Contains(msg, want) {
					t.Errorf("message lacks %q:\n%s", want, msg)
				}
			}
			if !strings.Contains(msg, "Test:") || !strings.Contains(msg, "TestFake/case") {
				t.Errorf("message lacks the test name:\n%s", msg)
			}
			if !strings.Contains(msg, "assert_test.go:") {
				t.Errorf("message lacks the caller in its Error Trace:\n%s", msg)
			}
			if strings.Contains(msg, "Messages:") != strings.Contains(tc.name, "Truef") {
				t.Errorf("unexpected Messages label:\n%s", msg)
			}
		})
	}
}

func TestMsgAndArgs(t *testing.T) {
	tests := []struct {
		name       string
		msgAndArgs []any
		want       string // "" means no Messages line
	}{
		{"none", nil, ""},
		{"string", []any{"plain message"}, "plain message"},
		{"single string is not a format", []any{"100%d done"}, "100%d done"},
		{"format and args", []any{"seat %s of team %d", "s1", 7}, "seat s1 of team 7"},
		{"non-string single value", []any{point{1, 2}}, "{X:1 Y:2}"},
		{"non-string first of several", []any{1, "a"}, "1 a"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ft := &fakeT{}
			if Equal(ft, 1, 2, tc.msgAndArgs...) {
				t.Fatal("Equal(1, 2) passed")
			}
			if len(ft.errors) != 1 {
				t.Fatalf("got %d reports, want 1", len(ft.errors))
			}
			msg := ft.errors[0]
			if tc.want == "" {
				if strings.Contains(msg, "Messages:") {
					t.Errorf("unexpected Messages line:\n%s", msg)
				}
				return
			}
			if !strings.Contains(msg, "Messages:   \t"+tc.want+"\n") {
				t.Errorf("message lacks Messages line %q:\n%s", tc.want, msg)
			}
		})
	}
}

func TestMessageLayout(t *testing.T) {
	ft := &fakeT{}
	Equal(ft, "a", "b", "checking %s", "x")
	if len(ft.errors) != 1 {
		t.Fatalf("got %d reports, want 1", len(ft.errors))
	}
	msg := ft.errors[0]
	lines := strings.Split(strings.TrimSuffix(msg, "\n"), "\n")
	want := []string{
		"",
		"", // Error Trace, checked below
		"\tError:      \tEqual: values differ",
		"\t            \texpected: \"a\"",
		"\t            \tactual  : \"b\"",
		"\tTest:       \tTestFake/case",
		"\tMessages:   \tchecking x",
	}
	if len(lines) != len(want) {
		t.Fatalf("got %d lines, want %d:\n%s", len(lines), len(want), msg)
	}
	if !strings.HasPrefix(lines[1], "\tError Trace:\t") || !strings.Contains(lines[1], "assert_test.go:") {
		t.Errorf("trace line = %q", lines[1])
	}
	for i, w := range want {
		if i == 1 {
			continue
		}
		if lines[i] != w {
			t.Errorf("line %d = %q, want %q", i, lines[i], w)
		}
	}
}

func TestBareTestingT(t *testing.T) {
	bt := &bareT{}
	if Equal(bt, 1, 1) != true || len(bt.errors) != 0 {
		t.Fatalf("Equal(1, 1) with a bare TestingT: %q", bt.errors)
	}
	if Len(bt, []int{1}, 2) {
		t.Fatal("Len passed")
	}
	if len(bt.errors) != 1 || strings.Contains(bt.errors[0], "Test:") {
		t.Errorf("reports = %q, want one without a Test line", bt.errors)
	}
}

func TestObjectsAreEqual(t *testing.T) {
	tests := []struct {
		a, b any
		want bool
	}{
		{nil, nil, true},
		{nil, (*point)(nil), false},
		{[]byte(nil), []byte(nil), true},
		{[]byte(nil), []byte{}, false},
		{[]byte{}, []byte(nil), false},
		{[]byte{}, []byte{}, true},
		{[]byte("x"), []byte("x"), true},
		{[]byte("x"), "x", false},
		{"x", []byte("x"), false},
		{1, 1, true},
		{1, int32(1), false},
		{map[string][]int{"a": {1}}, map[string][]int{"a": {1}}, true},
	}
	for i, tc := range tests {
		if got := ObjectsAreEqual(tc.a, tc.b); got != tc.want {
			t.Errorf("%d: ObjectsAreEqual(%#v, %#v) = %v, want %v", i, tc.a, tc.b, got, tc.want)
		}
	}
}
