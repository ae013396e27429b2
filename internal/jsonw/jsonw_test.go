package jsonw

import (
	"encoding/json"
	"testing"
)

func FuzzStringMatchesEncodingJSON(f *testing.F) {
	for _, s := range []string{"", "plain", `q"b\`, "<a&b>", "\x00\x1f\n\r\t", "中文", "\u2028\u2029", "\xff\xfe", "a\xc3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := String(nil, s); string(got) != string(want) {
			t.Fatalf("String(%q) = %s, encoding/json gives %s", s, got, want)
		}
	})
}

// TestStringEverySpecialAtEveryOffset puts each byte that String must not
// copy as is at each offset of a 20-byte string, so that the 8-byte skip
// is checked on both sides of every word boundary.
func TestStringEverySpecialAtEveryOffset(t *testing.T) {
	specials := []string{"\x00", "\x1f", "\x7f", "\"", "\\", "<", ">", "&", "é", "\xff", "\u2028", " ", "~", "!"}
	for _, sp := range specials {
		for at := range 20 {
			s := "abcdefghijklmnopqrst"[:at] + sp + "abcdefghijklmnopqrst"[at:]
			want, _ := json.Marshal(s)
			if got := String(nil, s); string(got) != string(want) {
				t.Fatalf("String(%q) = %s, encoding/json gives %s", s, got, want)
			}
		}
	}
}

func BenchmarkStringID(b *testing.B) {
	buf := make([]byte, 0, 64)
	for b.Loop() {
		buf = String(buf[:0], "0195f3a2-7c1e-7d3b-9a4f-2b8c6d1e0f3a")
	}
}

// TestPlainEveryLength checks Plain against a byte-by-byte definition for
// every length up to 40 with each special byte at each offset, so that the
// padded short form, whole words and the overlapping last word are all
// covered.
func TestPlainEveryLength(t *testing.T) {
	plainByte := func(c byte) bool {
		return c >= 0x20 && c < 0x80 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	const base = "0123456789abcdef-ABCDEF~!#$%'()*+,./:;=?@[]^_`{|}"
	for n := 0; n <= 40; n++ {
		if !Plain(base[:n]) {
			t.Fatalf("Plain(%q) = false", base[:n])
		}
		for at := 0; at < n; at++ {
			for c := 0; c < 256; c++ {
				s := []byte(base[:n])
				s[at] = byte(c)
				if got, want := Plain(string(s)), plainByte(byte(c)); got != want {
					t.Fatalf("Plain(%q) = %v, want %v", s, got, want)
				}
			}
		}
	}
}
