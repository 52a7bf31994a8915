package search

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strconv"
)

// EncodePageToken returns the opaque token for the page starting at
// offset: base64 of the JSON {"offset": N}, byte for byte what MLflow's
// file store issues, so tokens from either server look alike.
func EncodePageToken(offset int) string {
	return base64.StdEncoding.EncodeToString([]byte(`{"offset": ` + strconv.Itoa(offset) + `}`))
}

// DecodePageToken returns the offset of a token EncodePageToken made; ""
// is offset 0. Anything else is InvalidParameterValue "Invalid page
// token...".
func DecodePageToken(tok string) (int, error) {
	if tok == "" {
		return 0, nil
	}
	if len(tok) > 256 {
		return 0, invalid("Invalid page token, too long")
	}
	raw, err := base64.StdEncoding.DecodeString(tok)
	if err != nil {
		return 0, invalid("Invalid page token, could not base64-decode")
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return 0, invalid("Invalid page token, decoded value is not a JSON object")
	}
	num, ok := fields["offset"]
	if !ok {
		return 0, invalid("Invalid page token, no offset")
	}
	num = bytes.TrimSpace(num)
	n, err := strconv.Atoi(string(num))
	if err != nil || n < 0 {
		return 0, invalid("Invalid page token, offset %s is not a non-negative integer", echo(string(num)))
	}
	return n, nil
}
