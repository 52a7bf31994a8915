package search

import (
	"encoding/base64"
	"math"
	"testing"
)

func TestPageTokenRoundTrip(t *testing.T) {
	for _, off := range []int{0, 1, 1000, 50000, math.MaxInt} {
		tok := EncodePageToken(off)
		got, err := DecodePageToken(tok)
		if err != nil || got != off {
			t.Errorf("DecodePageToken(EncodePageToken(%d) = %q) = %d, %v", off, tok, got, err)
		}
	}
	// Byte for byte what MLflow's file store issues:
	// base64.b64encode(json.dumps({"offset": 1000}).encode()).
	if got := EncodePageToken(1000); got != "eyJvZmZzZXQiOiAxMDAwfQ==" {
		t.Errorf("EncodePageToken(1000) = %q, want MLflow's eyJvZmZzZXQiOiAxMDAwfQ==", got)
	}
	if got, err := DecodePageToken(""); got != 0 || err != nil {
		t.Errorf(`DecodePageToken("") = %d, %v; want 0, nil`, got, err)
	}
	// A compact JSON encoding from another client is the same token.
	if got, err := DecodePageToken(b64(`{"offset":7}`)); got != 7 || err != nil {
		t.Errorf("compact token: %d, %v", got, err)
	}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestDecodePageTokenRejects(t *testing.T) {
	tests := []struct{ name, tok, want string }{
		{"not base64", "!!!", "Invalid page token, could not base64-decode"},
		{"unpadded", "eyJvZmZzZXQiOiAxMDAwfQ", "Invalid page token, could not base64-decode"},
		{"not JSON", b64("offset=5"), "Invalid page token, decoded value is not a JSON object"},
		{"JSON array", b64("[5]"), "Invalid page token, decoded value is not a JSON object"},
		{"null", b64("null"), "Invalid page token, no offset"},
		{"no offset", b64(`{"page": 2}`), "Invalid page token, no offset"},
		{"negative", b64(`{"offset": -1}`), "Invalid page token, offset -1 is not a non-negative integer"},
		{"fraction", b64(`{"offset": 1.5}`), "Invalid page token, offset 1.5 is not a non-negative integer"},
		{"string", b64(`{"offset": "5"}`), `Invalid page token, offset "5" is not a non-negative integer`},
		{"overflow", b64(`{"offset": 99999999999999999999999}`), "Invalid page token, offset 99999999999999999999999 is not a non-negative integer"},
		{"injection", b64(`{"offset": "0; DROP TABLE runs"}`), `Invalid page token, offset "0; DROP TABLE runs" is not a non-negative integer`},
		{"too long", b64(`{"offset": 1, "pad": "` + string(make([]byte, 300)) + `"}`), "Invalid page token, too long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodePageToken(tt.tok)
			if err == nil {
				t.Fatalf("DecodePageToken(%q) = %d, want error", tt.tok, got)
			}
			checkErr(t, err, tt.want)
		})
	}
}
