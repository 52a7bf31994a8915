// Package apierr is MLflow's error model: an error code, a message, and the
// HTTP status MLflow maps the code to. Handlers return *Error values and one
// HTTP error handler writes the {"error_code", "message"} envelope.
package apierr

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/mlship/mlship/internal/pyjson"
)

// MLflow error codes used by mlship.
const (
	BadRequest             = "BAD_REQUEST"
	InvalidParameterValue  = "INVALID_PARAMETER_VALUE"
	ResourceAlreadyExists  = "RESOURCE_ALREADY_EXISTS"
	ResourceDoesNotExist   = "RESOURCE_DOES_NOT_EXIST"
	EndpointNotFound       = "ENDPOINT_NOT_FOUND"
	NotFound               = "NOT_FOUND"
	PermissionDenied       = "PERMISSION_DENIED"
	Unauthenticated        = "UNAUTHENTICATED"
	Aborted                = "ABORTED"
	RequestLimitExceeded   = "REQUEST_LIMIT_EXCEEDED"
	ResourceExhausted      = "RESOURCE_EXHAUSTED"
	Cancelled              = "CANCELLED"
	InternalError          = "INTERNAL_ERROR"
	InvalidState           = "INVALID_STATE"
	NotImplemented         = "NOT_IMPLEMENTED"
	TemporarilyUnavailable = "TEMPORARILY_UNAVAILABLE"
	DeadlineExceeded       = "DEADLINE_EXCEEDED"
)

// StatusFor returns the HTTP status MLflow answers an error code with
// (mlflow/protos/databricks ErrorCode → HTTP, MLFLOW_COMPAT.md §3.4).
func StatusFor(code string) int {
	switch code {
	case BadRequest, InvalidParameterValue, ResourceAlreadyExists:
		return http.StatusBadRequest
	case Unauthenticated, "CUSTOMER_UNAUTHORIZED":
		return http.StatusUnauthorized
	case PermissionDenied:
		return http.StatusForbidden
	case NotFound, EndpointNotFound, ResourceDoesNotExist:
		return http.StatusNotFound
	case Aborted, "RESOURCE_CONFLICT", "ALREADY_EXISTS":
		return http.StatusConflict
	case RequestLimitExceeded, ResourceExhausted:
		return http.StatusTooManyRequests
	case Cancelled:
		return 499
	case NotImplemented:
		return http.StatusNotImplemented
	case TemporarilyUnavailable:
		return http.StatusServiceUnavailable
	case DeadlineExceeded:
		return http.StatusGatewayTimeout
	}
	return http.StatusInternalServerError
}

// Error is an MLflow API error.
type Error struct {
	Code    string
	Message string
	// Status overrides the status derived from Code when non-zero (413 for
	// an oversized body, which MLflow leaves to its proxy).
	Status int
	// StackTrace is sent as "stack_trace" when set, as MLflow does for
	// unexpected model errors.
	StackTrace string
	Err        error // cause, for errors.Is/As; not sent
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }
func (e *Error) Unwrap() error { return e.Err }

// HTTPStatus is the status to answer with.
func (e *Error) HTTPStatus() int {
	if e.Status != 0 {
		return e.Status
	}
	return StatusFor(e.Code)
}

// New returns an *Error with a formatted message.
func New(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an *Error whose message is err's text.
func Wrap(code string, err error) *Error {
	return &Error{Code: code, Message: err.Error(), Err: err}
}

// As extracts an *Error from err's chain.
func As(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	return nil, false
}

// JSON renders the envelope as MLflow's json.dumps would.
func (e *Error) JSON() []byte {
	b := make([]byte, 0, len(e.Message)+64)
	b = append(b, `{"error_code": `...)
	b = pyjson.AppendString(b, e.Code)
	b = append(b, `, "message": `...)
	b = pyjson.AppendString(b, e.Message)
	if e.StackTrace != "" {
		b = append(b, `, "stack_trace": `...)
		b = pyjson.AppendString(b, e.StackTrace)
	}
	return append(b, '}')
}
