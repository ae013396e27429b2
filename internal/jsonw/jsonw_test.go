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
