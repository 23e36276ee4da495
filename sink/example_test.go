package sink_test

import (
	"fmt"

	"github.com/trail-audit/trail/sink"
)

// A receiver verifies a webhook delivery by recomputing the signature over
// the webhook-id and webhook-timestamp headers and the raw body with the
// key that the whsec_ secret encodes, and comparing it (in constant time)
// with the webhook-signature header after "v1,". The value below agrees with
//
//	printf %s 's1_0-9.1767225600.<body>' | openssl dgst -sha256 -hmac <key> -binary | base64
func ExampleSign() {
	key := []byte("0123456789abcdef0123456789abcdef") // base64-decoded part of whsec_…
	body := []byte(`{"type":"events","tenant":"acme","data":[]}`)
	fmt.Println("v1," + sink.Sign(key, "s1_0-9", "1767225600", body))
	// Output: v1,0+HkoORPFxGBRAKqgrquuXpvO5bOMJ4eSggJ070XHFQ=
}
