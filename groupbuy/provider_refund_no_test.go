package groupbuy_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/socialcommerce/sdk/groupbuy"
)

// TestProviderRefundNo: the refund number of a key fits WeChat Pay's
// out_refund_no and Alipay's out_request_no (at most 64 characters of
// letters, digits and _-|*@), is the same for the same key, and differs
// between a seat's own refund, its attempts and a late payment's refund.
func TestProviderRefundNo(t *testing.T) {
	own := groupbuy.RefundKey("01a22965-ac47-751b-b13a-cb804bba5f73", "01a22965-ac4d-7d29-bde0-21b111cc1208")
	keys := []string{own, own + ":1", own + ":2", groupbuy.LateRefundKey("01a22965-ac47-751b-b13a-cb804bba5f73", "01a22965-ac4d-7d29-bde0-21b111cc1208", "2")}
	seen := map[string]string{}
	for _, k := range keys {
		no, err := groupbuy.ProviderRefundNo(k)
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		if len(no) != 32 || strings.Trim(no, "0123456789abcdef") != "" {
			t.Errorf("%s: refund number %q is not 32 hex digits", k, no)
		}
		if again, _ := groupbuy.ProviderRefundNo(k); again != no {
			t.Errorf("%s: %q then %q", k, no, again)
		}
		if other, ok := seen[no]; ok {
			t.Errorf("%s and %s share the refund number %s", k, other, no)
		}
		seen[no] = k
	}
	if len(own) <= 64 || !strings.Contains(own, ":") {
		t.Fatalf("a refund key no longer needs mapping: %q", own)
	}
	for _, bad := range []string{"", strings.Repeat("k", groupbuy.MaxEventKeyLength+1)} {
		var ve *groupbuy.ValidationError
		if _, err := groupbuy.ProviderRefundNo(bad); !errors.As(err, &ve) || ve.Field != "key" {
			t.Errorf("key of %d bytes: %v, want a validation error", len(bad), err)
		}
	}
	if _, err := groupbuy.ProviderRefundNo(strings.Repeat("k", groupbuy.MaxEventKeyLength)); err != nil {
		t.Errorf("a key of MaxEventKeyLength bytes: %v", err)
	}
	// Many more attempts, no shared number.
	for i := 3; i < 10000; i++ {
		k := own + ":" + strconv.Itoa(i)
		no, _ := groupbuy.ProviderRefundNo(k)
		if other, ok := seen[no]; ok {
			t.Fatalf("%s and %s share the refund number %s", k, other, no)
		}
		seen[no] = k
	}
}
