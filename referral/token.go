package referral

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"time"
)

// ShareToken is what a host puts into share links and posters: who shared,
// in which programme, optionally for which campaign, post or team, and
// until when it binds.
type ShareToken struct {
	ProgrammeID string
	SharerID    string
	CampaignID  string
	PostID      string
	TeamID      string
	ExpiresAt   time.Time // second precision
}

// Token format: base64url (no padding) of
//
//	version byte (1) | expiry, Unix seconds, uvarint |
//	5 × (uvarint length | bytes): programme, sharer, campaign, post, team |
//	HMAC-SHA256(key, everything before), first 16 bytes (128 bits)
const (
	tokenVersion = 1
	tokenMACLen  = 16
	// MaxTokenLength bounds an encoded token.
	MaxTokenLength = 1024
	// MinTokenKeyLength is the shortest HMAC key accepted.
	MinTokenKeyLength = 16
	// maxTokenExpiry is the latest expiry, in Unix seconds, that a token
	// holds (the year 36812): VerifyToken refuses any later one, so
	// SignToken does too.
	maxTokenExpiry = 1 << 40
)

func checkTokenKey(field string, key []byte) error {
	if len(key) < MinTokenKeyLength {
		return invalid(field, fmt.Sprintf("must be at least %d bytes", MinTokenKeyLength))
	}
	return nil
}

// SignToken encodes and signs t with key.
func SignToken(key []byte, t ShareToken) (string, error) {
	if err := checkTokenKey("key", key); err != nil {
		return "", err
	}
	if err := validateID("ProgrammeID", t.ProgrammeID); err != nil {
		return "", err
	}
	if err := validateID("SharerID", t.SharerID); err != nil {
		return "", err
	}
	for _, f := range [][2]string{{"CampaignID", t.CampaignID}, {"PostID", t.PostID}, {"TeamID", t.TeamID}} {
		if f[1] != "" {
			if err := validateID(f[0], f[1]); err != nil {
				return "", err
			}
		}
	}
	if t.ExpiresAt.Unix() <= 0 {
		return "", invalid("ExpiresAt", "must be set")
	}
	if t.ExpiresAt.Unix() > maxTokenExpiry {
		return "", invalid("ExpiresAt", "beyond what a token holds (Unix second 2^40)")
	}
	b := make([]byte, 0, 64)
	b = append(b, tokenVersion)
	b = binary.AppendUvarint(b, uint64(t.ExpiresAt.Unix()))
	for _, f := range []string{t.ProgrammeID, t.SharerID, t.CampaignID, t.PostID, t.TeamID} {
		b = binary.AppendUvarint(b, uint64(len(f)))
		b = append(b, f...)
	}
	b = append(b, mac(key, b)...)
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func mac(key, msg []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write(msg)
	return h.Sum(nil)[:tokenMACLen]
}

// VerifyToken checks s's signature with key and its expiry at now. A token
// that does not decode or whose MAC does not match is ErrTokenTampered; one
// whose expiry is not after now is ErrTokenExpired (checked only once the
// MAC matched). A zero now is a *ValidationError: every token would be
// unexpired at it.
func VerifyToken(key []byte, s string, now time.Time) (ShareToken, error) {
	if err := checkTokenKey("key", key); err != nil {
		return ShareToken{}, err
	}
	if now.IsZero() {
		return ShareToken{}, invalid("now", "must be set")
	}
	if len(s) > MaxTokenLength {
		return ShareToken{}, fmt.Errorf("%w: too long", ErrTokenTampered)
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil || len(b) < 1+tokenMACLen {
		return ShareToken{}, fmt.Errorf("%w: encoding", ErrTokenTampered)
	}
	body, sum := b[:len(b)-tokenMACLen], b[len(b)-tokenMACLen:]
	if !hmac.Equal(mac(key, body), sum) {
		return ShareToken{}, fmt.Errorf("%w: signature", ErrTokenTampered)
	}
	// Signed by the key holder: the body is well formed unless the key
	// leaked; parse defensively anyway.
	if body[0] != tokenVersion {
		return ShareToken{}, fmt.Errorf("%w: version", ErrTokenTampered)
	}
	rest := body[1:]
	exp, n := binary.Uvarint(rest)
	if n <= 0 || exp > maxTokenExpiry {
		return ShareToken{}, fmt.Errorf("%w: expiry", ErrTokenTampered)
	}
	rest = rest[n:]
	var f [5]string
	for i := range f {
		l, n := binary.Uvarint(rest)
		if n <= 0 || l > uint64(len(rest)-n) {
			return ShareToken{}, fmt.Errorf("%w: field", ErrTokenTampered)
		}
		f[i] = string(rest[n : n+int(l)])
		rest = rest[n+int(l):]
	}
	if len(rest) != 0 || f[0] == "" || f[1] == "" {
		return ShareToken{}, fmt.Errorf("%w: fields", ErrTokenTampered)
	}
	t := ShareToken{ProgrammeID: f[0], SharerID: f[1], CampaignID: f[2], PostID: f[3], TeamID: f[4],
		ExpiresAt: time.Unix(int64(exp), 0).UTC()}
	if !now.Before(t.ExpiresAt) {
		return ShareToken{}, ErrTokenExpired
	}
	return t, nil
}
