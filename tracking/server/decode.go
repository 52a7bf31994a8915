package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/mlship/mlship/internal/apierr"
)

// Requests are decoded the way MLflow's handlers decode them
// (mlflow/server/handlers.py _get_request_message), because clients see the
// differences as different error messages:
//
//  1. GET takes its fields from the query string (repeated keys for repeated
//     fields); other methods take a JSON body, which must be sent as
//     application/json. A body that is not JSON counts as {} (Flask's
//     get_json(silent=True)), so it fails on the first required field.
//  2. The body is parsed into the request message as protobuf's json_format
//     would; a field of the wrong type makes that parse fail.
//  3. Then the endpoint's schema is checked in order: required fields always,
//     type checks only when step 2 failed. The first failure is the error.
//
// Fields that failed to parse and passed the schema read as unset.

// kind is the protobuf type of a request field.
type kind uint8

const (
	kString kind = iota
	kInt64
	kDouble
	kBool
	kEnum     // a value name or its number
	kStrings  // repeated string
	kMessages // repeated message
	kMessage
)

// field is one field of a request message.
type field struct {
	name string
	kind kind
	enum []string // kEnum: names, in number order from 1
	sub  []field  // kMessages, kMessage
}

// check is one of MLflow's schema validators (_assert_*).
type check uint8

const (
	required check = iota
	isString
	isIntlike
	isFloatlike
	isArray
	isBool
	itemsString
)

// typeCheck reports whether MLflow skips c when the message parsed.
func (c check) typeCheck() bool { return c != required }

// rule is a schema entry: a field and its validators, plus an optional
// validator of its own that returns the message (without MLflow's "See the
// API docs" suffix, which is added) or "".
type rule struct {
	name   string
	checks []check
	extra  func(v any) string
}

// spec describes one endpoint's request.
type spec struct {
	fields []field
	schema []rule
}

// request is a decoded request: the raw JSON values by field name and the
// fields that failed to parse.
type request struct {
	raw map[string]any
	bad map[string]bool
}

const apiDocsHint = " See the API docs for more information about request parameters."

func invalidParam(format string, args ...any) *apierr.Error {
	return apierr.New(apierr.InvalidParameterValue, format, args...)
}

// maxJSONBody caps a JSON request body. MLflow has no cap of its own (its
// proxies have); one keeps a client from making the server buffer
// unbounded input. log-batch has MLflow's 1 MB limit on top.
const maxJSONBody = 16 << 20

// readBody reads a JSON request body, checking its content type as MLflow
// does for POST and PUT.
func readBody(c echo.Context) ([]byte, error) {
	req := c.Request()
	if req.Method == http.MethodPost || req.Method == http.MethodPut {
		ct := req.Header.Get(echo.HeaderContentType)
		if ct == "" {
			return nil, invalidParam("Bad Request. Content-Type header is missing.")
		}
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil {
			mt = strings.TrimSpace(strings.Split(ct, ";")[0])
		}
		if mt != "application/json" {
			return nil, invalidParam("Bad Request. Content-Type must be one of ['application/json'].")
		}
	}
	if req.Body == nil {
		return nil, nil
	}
	b, err := io.ReadAll(io.LimitReader(req.Body, maxJSONBody+1))
	if err != nil {
		return nil, fmt.Errorf("reading request body: %w", err)
	}
	if len(b) > maxJSONBody {
		return nil, &apierr.Error{Code: apierr.RequestLimitExceeded, Status: http.StatusRequestEntityTooLarge,
			Message: fmt.Sprintf("Request body is larger than %d bytes.", maxJSONBody)}
	}
	return b, nil
}

// parseBody reads a JSON body as MLflow does: anything but a JSON object is
// {} — except a JSON string, which old clients used to double-encode the
// object and which is decoded once more.
func parseBody(b []byte) map[string]any {
	v, ok := decodeJSON(b)
	if !ok {
		return map[string]any{}
	}
	if s, isStr := v.(string); isStr {
		if v, ok = decodeJSON([]byte(s)); !ok {
			return map[string]any{}
		}
	}
	if m, isMap := v.(map[string]any); isMap {
		return m
	}
	return map[string]any{}
}

func decodeJSON(b []byte) (any, bool) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return nil, false
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, false
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, false // trailing data
	}
	return v, true
}

// decode reads and validates c's request against sp.
func decode(c echo.Context, sp *spec) (*request, error) {
	req := c.Request()
	var raw map[string]any
	if q := req.URL.Query(); req.Method == http.MethodGet && len(q) > 0 {
		var err error
		if raw, err = queryValues(q, sp); err != nil {
			return nil, err
		}
	} else {
		b, err := readBody(c)
		if err != nil {
			return nil, err
		}
		raw = parseBody(b)
	}
	return validate(raw, sp)
}

// queryValues turns a query string into the values the JSON body would
// carry: lists for repeated fields, strings otherwise, booleans for bool
// fields.
func queryValues(q map[string][]string, sp *spec) (map[string]any, error) {
	raw := map[string]any{}
	for _, f := range sp.fields {
		vs, ok := q[f.name]
		if !ok || len(vs) == 0 {
			continue
		}
		switch f.kind {
		case kStrings, kMessages:
			l := make([]any, len(vs))
			for i, v := range vs {
				l[i] = v
			}
			raw[f.name] = l
		case kBool:
			switch strings.ToLower(vs[0]) {
			case "true":
				raw[f.name] = true
			case "false":
				raw[f.name] = false
			default:
				return nil, invalidParam("Invalid boolean value: %s, must be 'true' or 'false'.", vs[0])
			}
		default:
			raw[f.name] = vs[0]
		}
	}
	return raw, nil
}

// validate runs steps 2 and 3 over decoded values.
func validate(raw map[string]any, sp *spec) (*request, error) {
	stringifyExperimentIDs(raw)
	r := &request{raw: raw, bad: map[string]bool{}}
	parsed := true
	for _, f := range sp.fields {
		if v, ok := raw[f.name]; ok && v != nil && !parses(f, v) {
			r.bad[f.name] = true
			parsed = false
		}
	}
	for _, ru := range sp.schema {
		v, present := raw[ru.name]
		if ru.name == "run_id" && v == nil {
			if u, ok := raw["run_uuid"]; ok {
				v, present = u, true
			}
		}
		if !present && !hasCheck(ru.checks, required) {
			continue
		}
		for _, ch := range ru.checks {
			if ch.typeCheck() && parsed {
				continue
			}
			if !passes(ch, v) {
				msg := fmt.Sprintf("Missing value for required parameter '%s'.", ru.name)
				if ch != required {
					msg = fmt.Sprintf("Invalid value %s for parameter '%s' supplied. Hint: Value was of type '%s'.", pyStr(v), ru.name, pyType(v))
				}
				return nil, invalidParam("%s", msg+apiDocsHint)
			}
		}
		if ru.extra != nil {
			if msg := ru.extra(v); msg != "" {
				return nil, invalidParam("%s", msg+apiDocsHint)
			}
		}
	}
	return r, nil
}

func hasCheck(cs []check, c check) bool {
	for _, x := range cs {
		if x == c {
			return true
		}
	}
	return false
}

// stringifyExperimentIDs accepts numeric experiment ids, as MLflow does for
// clients from before ids became strings.
func stringifyExperimentIDs(raw map[string]any) {
	if n, ok := raw["experiment_id"].(json.Number); ok {
		raw["experiment_id"] = n.String()
	}
	if l, ok := raw["experiment_ids"].([]any); ok {
		for i, v := range l {
			if n, ok := v.(json.Number); ok {
				l[i] = n.String()
			}
		}
	}
}

// passes runs one validator as Python would.
func passes(c check, v any) bool {
	switch c {
	case required:
		s, isStr := v.(string)
		return v != nil && !(isStr && s == "")
	case isString:
		_, ok := v.(string)
		return ok
	case isIntlike:
		switch x := v.(type) {
		case json.Number:
			if isIntLiteral(string(x)) {
				return true
			}
			f, err := x.Float64()
			return err == nil && !math.IsInf(f, 0) && !math.IsNaN(f)
		case string:
			return pyIntString(x)
		case bool:
			return true
		}
		return false
	case isFloatlike:
		switch x := v.(type) {
		case json.Number:
			return true
		case string:
			_, ok := pyFloatString(x)
			return ok
		}
		return false
	case isArray:
		_, ok := v.([]any)
		return ok
	case isBool:
		_, ok := v.(bool)
		return ok
	case itemsString:
		l, _ := v.([]any)
		for _, x := range l {
			if _, ok := x.(string); !ok {
				return false
			}
		}
		return true
	}
	return false
}

// parses reports whether protobuf's json_format would accept v for f.
func parses(f field, v any) bool {
	if v == nil {
		return true // null clears a field
	}
	switch f.kind {
	case kString:
		_, ok := v.(string)
		return ok
	case kInt64:
		_, ok := toInt64(v)
		return ok
	case kDouble:
		_, ok := toFloat(v)
		return ok
	case kBool:
		_, ok := v.(bool)
		return ok
	case kEnum:
		_, ok := enumValue(f, v)
		return ok
	case kStrings:
		l, ok := v.([]any)
		if !ok {
			return false
		}
		for _, x := range l {
			if _, ok := x.(string); !ok {
				return false
			}
		}
		return true
	case kMessages:
		l, ok := v.([]any)
		if !ok {
			return false
		}
		for _, x := range l {
			if !parses(field{kind: kMessage, sub: f.sub}, x) {
				return false
			}
		}
		return true
	case kMessage:
		m, ok := v.(map[string]any)
		if !ok {
			return false
		}
		for _, sf := range f.sub {
			if x, ok := m[sf.name]; ok && !parses(sf, x) {
				return false
			}
		}
		return true
	}
	return false
}

func enumValue(f field, v any) (int, bool) {
	switch x := v.(type) {
	case string:
		for i, name := range f.enum {
			if name == x {
				return i + 1, true
			}
		}
	case json.Number:
		if n, err := x.Int64(); err == nil && n >= 1 && int(n) <= len(f.enum) {
			return int(n), true
		}
	}
	return 0, false
}

// Accessors. Each reads a field as the parsed message would hold it: unset
// (zero) when absent, null or unparsable.

func (r *request) has(name string) bool {
	v, ok := r.raw[name]
	return ok && v != nil && !r.bad[name]
}

func (r *request) str(name string) string {
	if !r.has(name) {
		return ""
	}
	s, _ := r.raw[name].(string)
	return s
}

// runID is run_id, else the legacy run_uuid.
func (r *request) runID() string {
	if id := r.str("run_id"); id != "" {
		return id
	}
	return r.str("run_uuid")
}

func (r *request) int64(name string) (int64, bool) {
	if !r.has(name) {
		return 0, false
	}
	return toInt64(r.raw[name])
}

func (r *request) float(name string) float64 {
	if !r.has(name) {
		return 0
	}
	f, _ := toFloat(r.raw[name])
	return f
}

func (r *request) strings(name string) []string {
	if !r.has(name) {
		return nil
	}
	l, _ := r.raw[name].([]any)
	out := make([]string, 0, len(l))
	for _, v := range l {
		if s, ok := v.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// objects is a repeated message field's items.
func (r *request) objects(name string) []map[string]any {
	if !r.has(name) {
		return nil
	}
	return objectList(r.raw[name])
}

func objectList(v any) []map[string]any {
	l, _ := v.([]any)
	out := make([]map[string]any, 0, len(l))
	for _, x := range l {
		if m, ok := x.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// objStr reads a string field of a nested message.
func objStr(m map[string]any, name string) string {
	s, _ := m[name].(string)
	return s
}
