package check

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/socialcommerce/sdk/internal/jsonw"
	"github.com/socialcommerce/sdk/storage"
)

func TestID(t *testing.T) {
	for _, tc := range []struct {
		id string
		ok bool
	}{
		{"a", true}, {"team-01a2", true}, {strings.Repeat("x", MaxIDLength), true},
		{"", false}, {strings.Repeat("x", MaxIDLength+1), false}, {"a b", false}, {"a\x00", false}, {"a\x7f", false}, {"\t", false},
		{"订单-1", true}, {"a ", false}, {" a", false}, {"a\xff", false}, {"订\xe5\x8d", false}, {"12345678\xc0\xaf", false},
	} {
		err := ID("f", tc.id)
		var ve *storage.ValidationError
		if tc.ok != (err == nil) || (err != nil && (!errors.As(err, &ve) || ve.Field != "f")) {
			t.Errorf("ID(%q) = %v", tc.id, err)
		}
	}
}

func TestText(t *testing.T) {
	for _, tc := range []struct {
		s  string
		ok bool
	}{
		{"4200001234202611270000000001", true}, {"pi_3Nf-x_Y", true}, {strings.Repeat("r", 256), true},
		{"", false}, {strings.Repeat("r", 257), false}, {"ref-1 ", false}, {"ref 1", false}, {"ref\x001", false}, {"ref\xff", false},
	} {
		err := Text("PaymentRef", tc.s, 256)
		var ve *storage.ValidationError
		if tc.ok != (err == nil) || (err != nil && (!errors.As(err, &ve) || ve.Field != "PaymentRef")) {
			t.Errorf("Text(%q) = %v", tc.s, err)
		}
		if p := Problem(tc.s, 256); (p == "") != tc.ok {
			t.Errorf("Problem(%q) = %q", tc.s, p)
		}
	}
}

// TestIDEveryByteAtEveryOffset checks the 8-byte-step test against the
// byte-by-byte rule for every length up to 40 with every byte at every
// offset.
func TestIDEveryByteAtEveryOffset(t *testing.T) {
	const base = "0123456789abcdef-ABCDEF~!#$%'()*+,./:;=?@[]^_`{|}\"<>&\\"
	for n := 1; n <= 40; n++ {
		for at := 0; at < n; at++ {
			for c := 0; c < 256; c++ {
				s := []byte(base[:n])
				s[at] = byte(c)
				want := c >= 0x21 && c != 0x7f && c < 0x80 // a lone byte ≥ 0x80 is not UTF-8
				if got := ID("f", string(s)) == nil; got != want {
					t.Fatalf("ID(%q) ok = %v, want %v", s, got, want)
				}
			}
		}
	}
}

// TestUUIDEveryByteAtEveryOffset is TestIDEveryByteAtEveryOffset on a
// canonical UUID, which Problem takes through its unrolled test.
func TestUUIDEveryByteAtEveryOffset(t *testing.T) {
	const base = "0190a6e2-7c3b-7d4e-8f00-112233445566"
	for at := 0; at < len(base); at++ {
		for c := 0; c < 256; c++ {
			s := []byte(base)
			s[at] = byte(c)
			want := c >= 0x21 && c != 0x7f && c < 0x80
			if got := Problem(string(s), MaxIDLength) == ""; got != want {
				t.Fatalf("Problem(%q) ok = %v, want %v", s, got, want)
			}
		}
	}
}

// TestIDPlain checks IDPlain against ID and jsonw.Plain for every length up
// to 40 with every byte at every offset, and for the length limits.
func TestIDPlain(t *testing.T) {
	const base = "0123456789abcdef-ABCDEF~!#$%'()*+,./:;=?@[]^_`{|}"
	for n := 1; n <= 40; n++ {
		for at := 0; at < n; at++ {
			for c := 0; c < 256; c++ {
				s := []byte(base[:n])
				s[at] = byte(c)
				plain, err := IDPlain("f", string(s))
				wantErr := ID("f", string(s))
				if (err == nil) != (wantErr == nil) || (err == nil && plain != jsonw.Plain(string(s))) {
					t.Fatalf("IDPlain(%q) = %v, %v; ID: %v, Plain: %v", s, plain, err, wantErr, jsonw.Plain(string(s)))
				}
			}
		}
	}
	for _, id := range []string{"", strings.Repeat("x", MaxIDLength+1)} {
		if _, err := IDPlain("f", id); err == nil || err.Error() != ID("f", id).Error() {
			t.Errorf("IDPlain(%q) = %v, want %v", id, err, ID("f", id))
		}
	}
	if plain, err := IDPlain("f", strings.Repeat("x", MaxIDLength)); !plain || err != nil {
		t.Errorf("IDPlain of the longest ID = %v, %v", plain, err)
	}
}

// FuzzIDPlain checks IDPlain against ID and jsonw.Plain on any input, so
// that bytes of several kinds in one ID, which the exhaustive tests above
// do not combine, are covered too.
func FuzzIDPlain(f *testing.F) {
	for _, s := range []string{"", "a", "0190a6e2-7c3b-7d4e-8f00-112233445566", "a\"b<c>d&e\\f\x7fg h", strings.Repeat("é", 20)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		plain, err := IDPlain("f", s)
		wantErr := ID("f", s)
		if (err == nil) != (wantErr == nil) || (err == nil && plain != jsonw.Plain(s)) {
			t.Fatalf("IDPlain(%q) = %v, %v; ID: %v, Plain: %v", s, plain, err, wantErr, jsonw.Plain(s))
		}
	})
}

// FuzzProblem checks Problem against the rule written byte by byte.
func FuzzProblem(f *testing.F) {
	for _, s := range []string{"", "a", "ref-1 ", "订单-1", "a\xff", "12345678\xc0\xaf", "0123456789abcdef\x7f",
		"0190a6e2-7c3b-7d4e-8f00-112233445566", "0190a6e2-7c3b-7d4e-8f00-11223344556 ", "0190a6e2-7c3b-7d4e-8f00-1122334455\xc3\xa9"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want := s != "" && len(s) <= 64 && utf8.ValidString(s)
		for i := 0; i < len(s); i++ {
			if s[i] < 0x21 || s[i] == 0x7f {
				want = false
			}
		}
		if got := Problem(s, 64); (got == "") != want {
			t.Fatalf("Problem(%q) = %q, want ok = %v", s, got, want)
		}
	})
}
