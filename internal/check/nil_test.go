package check

import (
	"testing"
	"unsafe"
)

type nilTestStore struct{}

func (*nilTestStore) Do() {}

type nilTestMap map[string]int

func (nilTestMap) Do() {}

type nilTestFunc func()

func (nilTestFunc) Do() {}

type doer interface{ Do() }

func TestNil(t *testing.T) {
	for _, c := range []struct {
		name string
		v    any
		want bool
	}{
		{"nil", nil, true},
		{"nil pointer", (*nilTestStore)(nil), true},
		{"nil map", nilTestMap(nil), true},
		{"nil func", nilTestFunc(nil), true},
		{"nil chan", (chan int)(nil), true},
		{"nil slice", []int(nil), true},
		{"nil unsafe pointer", unsafe.Pointer(nil), true},
		{"pointer", &nilTestStore{}, false},
		{"map", nilTestMap{}, false},
		{"func", nilTestFunc(func() {}), false},
		{"empty slice", []int{}, false},
		{"struct", struct{}{}, false},
		{"int zero", 0, false},
	} {
		if got := Nil(c.v); got != c.want {
			t.Errorf("%s: Nil = %v, want %v", c.name, got, c.want)
		}
	}
	var d doer = (*nilTestStore)(nil)
	if !Nil(d) {
		t.Error("a typed nil in an interface: Nil = false")
	}
}
