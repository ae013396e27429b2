package referral

import (
	"fmt"
	"io"

	"github.com/socialcommerce/sdk/internal/check"
)

// CodeAlphabet is the alphabet of invite codes: Crockford's base-32
// alphabet without the digits 0 and 1 (so without the look-alike pairs
// 0/O and 1/I/L, whose letters Crockford already drops, as it drops U).
// Codes are case-insensitive: lower case is read as upper case.
const CodeAlphabet = "23456789ABCDEFGHJKMNPQRSTVWXYZ"

// Code lengths, without the optional check character.
const (
	MinCodeLength     = 4
	MaxCodeLength     = 16
	DefaultCodeLength = 8
)

var codeValue = func() (v [256]int8) {
	for i := range v {
		v[i] = -1
	}
	for i := 0; i < len(CodeAlphabet); i++ {
		c := CodeAlphabet[i]
		v[c] = int8(i)
		if c >= 'A' && c <= 'Z' {
			v[c+'a'-'A'] = int8(i)
		}
	}
	return v
}()

// maxCodeReads bounds the 32-byte reads of one code. A uniform source
// keeps 15 bytes in 16, so one read almost always suffices and 16 reads
// that keep fewer than MaxCodeLength bytes never happen; a broken reader
// (one that repeats a byte of 240 or more) would otherwise make
// GenerateCode, and IssueCode with it, loop forever.
const maxCodeReads = 16

// GenerateCode returns a random code of n characters (n in
// MinCodeLength..MaxCodeLength) read from r (crypto/rand.Reader in
// production), plus a check character when check is set. Characters are
// chosen without modulo bias. A nil r (also a typed nil such as
// (*bytes.Reader)(nil)) is a *ValidationError, and so is an
// r that yields too few usable bytes (see maxCodeReads).
func GenerateCode(r io.Reader, n int, check bool) (string, error) {
	if nilReader(r) {
		return "", invalid("reader", "must not be nil (crypto/rand.Reader in production)")
	}
	if n < MinCodeLength || n > MaxCodeLength {
		return "", invalid("length", fmt.Sprintf("must be in %d..%d", MinCodeLength, MaxCodeLength))
	}
	out := make([]byte, 0, n+1)
	var buf [32]byte
	for reads := 0; len(out) < n; reads++ {
		if reads == maxCodeReads {
			return "", invalid("reader", fmt.Sprintf("%d bytes gave fewer than %d usable ones (bytes below 240): not a random source", reads*len(buf), n))
		}
		if _, err := io.ReadFull(r, buf[:]); err != nil {
			return "", fmt.Errorf("referral: generate code: %w", err)
		}
		for _, b := range buf {
			if b >= 240 { // 240 = 8·30: keep the distribution uniform
				continue
			}
			out = append(out, CodeAlphabet[b%30])
			if len(out) == n {
				break
			}
		}
	}
	if check {
		out = append(out, CodeAlphabet[checkChar(out)])
	}
	return string(out), nil
}

// nilReader reports a nil r, also a typed nil such as
// (*bytes.Reader)(nil): a non-nil interface whose Read dereferences nil
// and panics, so r == nil is not enough. (GenerateCode's parameter check
// shadows the package.)
func nilReader(r io.Reader) bool { return check.Nil(r) }

// checkChar is the Luhn mod N check character of a normalised code body:
// it detects every single substitution and most transpositions of adjacent
// characters.
func checkChar(body []byte) int {
	const n = len(CodeAlphabet)
	factor, sum := 2, 0
	for i := len(body) - 1; i >= 0; i-- {
		add := factor * int(codeValue[body[i]])
		factor = 3 - factor
		sum += add/n + add%n
	}
	return (n - sum%n) % n
}

// ParseCode normalises an invite code as a user typed it: upper case,
// spaces and hyphens removed. With check set, the last character must be
// the check character of the rest. Anything else is ErrCodeMalformed.
func ParseCode(s string, check bool) (string, error) {
	if len(s) > 4*MaxCodeLength {
		return "", fmt.Errorf("%w: too long", ErrCodeMalformed)
	}
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == ' ' || c == '-' {
			continue
		}
		v := codeValue[c]
		if v < 0 {
			return "", fmt.Errorf("%w: character %q not in the alphabet", ErrCodeMalformed, c)
		}
		out = append(out, CodeAlphabet[v])
	}
	n := len(out)
	if check {
		n--
	}
	if n < MinCodeLength || n > MaxCodeLength {
		return "", fmt.Errorf("%w: length", ErrCodeMalformed)
	}
	if check && CodeAlphabet[checkChar(out[:n])] != out[n] {
		return "", fmt.Errorf("%w: check character", ErrCodeMalformed)
	}
	return string(out), nil
}
