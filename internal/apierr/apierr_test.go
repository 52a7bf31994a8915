package apierr

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestStatusFor(t *testing.T) {
	tests := map[string]int{
		BadRequest: 400, InvalidParameterValue: 400, ResourceDoesNotExist: 404,
		EndpointNotFound: 404, TemporarilyUnavailable: 503, DeadlineExceeded: 504,
		Cancelled: 499, RequestLimitExceeded: 429, NotImplemented: 501,
		"MALFORMED_REQUEST": 500, InternalError: 500, Aborted: 409, PermissionDenied: 403,
	}
	for code, want := range tests {
		if got := StatusFor(code); got != want {
			t.Errorf("StatusFor(%s) = %d, want %d", code, got, want)
		}
	}
}

func TestJSON(t *testing.T) {
	e := &Error{Code: BadRequest, Message: "bad \"x\"\nline é", StackTrace: "tb"}
	var got map[string]string
	if err := json.Unmarshal(e.JSON(), &got); err != nil {
		t.Fatalf("envelope is not JSON: %v: %s", err, e.JSON())
	}
	if got["error_code"] != BadRequest || got["message"] != "bad \"x\"\nline é" || got["stack_trace"] != "tb" {
		t.Fatalf("envelope = %v", got)
	}
	if want := `{"error_code": "BAD_REQUEST", "message": "m"}`; string(New(BadRequest, "m").JSON()) != want {
		t.Fatalf("envelope = %s, want %s", New(BadRequest, "m").JSON(), want)
	}
}

func TestWrapUnwrap(t *testing.T) {
	cause := errors.New("cause")
	e := Wrap(InternalError, cause)
	if !errors.Is(e, cause) {
		t.Fatal("Wrap lost the cause")
	}
	if got, ok := As(errors.Join(errors.New("x"), e)); !ok || got != e {
		t.Fatal("As did not find the error")
	}
	if (&Error{Code: BadRequest, Status: 413}).HTTPStatus() != 413 {
		t.Fatal("Status override ignored")
	}
}
