package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/mlship/mlship/mlmodel"
)

// NewClient returns an HTTP client for load generation: keep-alive
// connections, up to conns of them to the one host (so every worker keeps
// its own), no proxy from the environment, no compression.
func NewClient(conns int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}}
}

// Request is what every call of an HTTPCaller sends.
type Request struct {
	URL         string
	ContentType string
	Body        []byte
	// Header is added to every request (e.g. Authorization).
	Header http.Header
}

// HTTPCaller POSTs r with client on each call and reads the whole answer,
// so the connection is reused.
func HTTPCaller(client *http.Client, r Request) Caller {
	return func(ctx context.Context) (int, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.URL, bytes.NewReader(r.Body))
		if err != nil {
			return 0, err
		}
		for k, v := range r.Header {
			req.Header[k] = v
		}
		req.Header.Set("Content-Type", r.ContentType)
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil {
			return 0, fmt.Errorf("reading the answer: %w", err)
		}
		return resp.StatusCode, nil
	}
}

// Send makes one request and returns its status and body: a check that
// the target answers before load is put on it.
func Send(ctx context.Context, client *http.Client, r Request) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.URL, bytes.NewReader(r.Body))
	if err != nil {
		return 0, nil, err
	}
	for k, v := range r.Header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", r.ContentType)
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, body, err
}

func get(ctx context.Context, client *http.Client, url string, header http.Header) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: status %d: %s", url, resp.StatusCode, bytes.TrimSpace(body))
	}
	return body, nil
}

// numpyOf maps V2 datatypes to numpy dtype names.
var numpyOf = map[string]string{
	"BOOL": "bool", "INT8": "int8", "INT16": "int16", "INT32": "int32", "INT64": "int64",
	"UINT8": "uint8", "UINT16": "uint16", "UINT32": "uint32", "UINT64": "uint64",
	"FP16": "float16", "FP32": "float32", "FP64": "float64", "BYTES": "str",
}

// V2Inputs reads GET {base}/v2/models/{model} and returns the model's
// inputs as a tensor schema, for targets known only by URL.
func V2Inputs(ctx context.Context, client *http.Client, base, model string, header http.Header) (*mlmodel.Schema, error) {
	body, err := get(ctx, client, strings.TrimRight(base, "/")+"/v2/models/"+model, header)
	if err != nil {
		return nil, fmt.Errorf("reading V2 model metadata: %w", err)
	}
	var md struct {
		Inputs []struct {
			Name     string  `json:"name"`
			Datatype string  `json:"datatype"`
			Shape    []int64 `json:"shape"`
		} `json:"inputs"`
	}
	if err := json.Unmarshal(body, &md); err != nil {
		return nil, fmt.Errorf("reading V2 model metadata: %w", err)
	}
	if len(md.Inputs) == 0 {
		return nil, fmt.Errorf("V2 model metadata of %q lists no inputs", model)
	}
	s := &mlmodel.Schema{}
	for _, in := range md.Inputs {
		dt, ok := numpyOf[in.Datatype]
		if !ok {
			return nil, fmt.Errorf("V2 model metadata: input %q has unknown datatype %q", in.Name, in.Datatype)
		}
		s.Tensors = append(s.Tensors, mlmodel.TensorSpec{Name: in.Name, DType: dt, Shape: in.Shape})
	}
	return s, nil
}

// Metrics are the server-side figures read from an mlship /metrics page.
type Metrics struct {
	// Batches is the number of Predict calls; BatchRows and BatchRequests
	// the rows and requests they carried in total.
	Batches, BatchRows, BatchRequests float64
	// ModelName is the model's name label, "" when absent.
	ModelName string
}

// ScrapeMetrics reads the figures above from {base}/metrics. ok is false
// when the page is not mlship's.
func ScrapeMetrics(ctx context.Context, client *http.Client, base string, header http.Header) (m Metrics, ok bool, err error) {
	body, err := get(ctx, client, strings.TrimRight(base, "/")+"/metrics", header)
	if err != nil {
		return Metrics{}, false, err
	}
	return ParseMetrics(body)
}

// ParseMetrics reads Prometheus text exposition for the Metrics fields.
func ParseMetrics(text []byte) (m Metrics, ok bool, err error) {
	sc := bufio.NewScanner(bytes.NewReader(text))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		name, val, found := strings.Cut(line, " ")
		if !found {
			continue
		}
		f := func() float64 {
			v, perr := strconv.ParseFloat(strings.TrimSpace(val), 64)
			if perr != nil && err == nil {
				err = fmt.Errorf("metric %s: %w", name, perr)
			}
			return v
		}
		switch {
		case name == "mlship_batch_rows_count":
			m.Batches, ok = f(), true
		case name == "mlship_batch_rows_sum":
			m.BatchRows = f()
		case name == "mlship_batch_requests_sum":
			m.BatchRequests = f()
		case strings.HasPrefix(name, "mlship_model_info{"):
			m.ModelName = label(name, "name")
		}
	}
	if err == nil {
		err = sc.Err()
	}
	return m, ok, err
}

// label extracts a label's value from a series name such as
// metric{a="x",b="y"}. Label values here are names without quotes or
// escapes in practice; an escaped value is returned as written.
func label(series, key string) string {
	i := strings.Index(series, key+`="`)
	if i < 0 || (i > 0 && series[i-1] != '{' && series[i-1] != ',') {
		return ""
	}
	rest := series[i+len(key)+2:]
	j := strings.IndexByte(rest, '"')
	if j < 0 {
		return ""
	}
	return rest[:j]
}
