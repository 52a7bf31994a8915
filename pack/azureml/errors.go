package azureml

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
)

// ErrNotFound reports an endpoint or deployment that does not exist.
var ErrNotFound = errors.New("not found")

// Error is a request or long-running operation that Azure Resource Manager
// refused or that failed, with ARM's error code and message. It wraps the
// *azcore.ResponseError, whose text holds the whole response.
type Error struct {
	Method, Path string
	// StatusCode is the HTTP status of the failed response; for a failed
	// asynchronous operation it is that of the status request (200).
	StatusCode int
	// Status is the operation status ("Failed", "Canceled") when an
	// asynchronous operation ended badly, else "".
	Status string
	// Code and Message come from ARM's error body, with the codes and
	// messages of nested details in Details.
	Code, Message string
	Details       []string

	Err *azcore.ResponseError
}

func newError(method, path string, re *azcore.ResponseError) *Error {
	e := &Error{Method: method, Path: path, StatusCode: re.StatusCode, Code: re.ErrorCode, Err: re}
	if re.RawResponse == nil {
		return e
	}
	body, _ := runtime.Payload(re.RawResponse)
	var b struct {
		Status string          `json:"status"`
		Error  *armErrorDetail `json:"error"`
	}
	if json.Unmarshal(body, &b) == nil {
		e.Status = b.Status
		if b.Error != nil {
			if b.Error.Code != "" {
				e.Code = b.Error.Code
			}
			e.Message = b.Error.Message
			var walk func([]armErrorDetail)
			walk = func(ds []armErrorDetail) {
				for _, d := range ds {
					e.Details = append(e.Details, strings.TrimPrefix(d.Code+": "+d.Message, ": "))
					walk(d.Details)
				}
			}
			walk(b.Error.Details)
		}
	}
	return e
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: ", e.Method, shortPath(e.Path))
	if e.Status != "" {
		fmt.Fprintf(&b, "operation %s", e.Status)
	} else {
		fmt.Fprintf(&b, "%d %s", e.StatusCode, http.StatusText(e.StatusCode))
	}
	if e.Code != "" {
		b.WriteString(": " + e.Code)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if len(e.Details) > 0 {
		b.WriteString(" (" + strings.Join(e.Details, "; ") + ")")
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrNotFound) true for a 404.
func (e *Error) Is(target error) bool {
	return target == ErrNotFound && e.StatusCode == http.StatusNotFound && e.Status == ""
}

// IsNotFound reports whether err says a resource does not exist.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// shortPath drops the subscription and resource group from an ARM path:
// "workspaces/ws/onlineEndpoints/ep".
func shortPath(p string) string {
	if i := strings.Index(p, "/providers/"+provider+"/"); i >= 0 {
		return p[i+len("/providers/"+provider+"/"):]
	}
	return p
}
