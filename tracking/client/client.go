// Package client is a Go client of MLflow's tracking REST API 2.0: it talks
// to `mlship server` or to any MLflow tracking server, as MLflow's own
// clients do (same endpoints, same JSON, same environment variables when the
// caller passes them with WithEnv).
//
// Its methods mirror the store roles of package tracking, so a *Client is a
// tracking.ExperimentStore and a tracking.RunStore: code written against a
// store runs unchanged against a remote server. Errors the server returns
// are *tracking.Error values carrying MLflow's error_code and message.
// Idempotent calls are retried with exponential backoff on 429, 503 and
// connection failures; every call takes a context.
package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mlship/mlship/tracking"
)

// Client talks to one tracking server. It is safe for concurrent use.
type Client struct {
	base     *url.URL // scheme://host[:port][/prefix], no trailing slash
	http     *http.Client
	user     string
	password string
	token    string
	retries  int
	backoff  time.Duration
	maxWait  time.Duration
	log      *slog.Logger
}

var (
	_ tracking.ExperimentStore = (*Client)(nil)
	_ tracking.RunStore        = (*Client)(nil)
)

// Option configures a Client.
type Option func(*config) error

type config struct {
	httpClient  *http.Client
	user, pass  string
	token       string
	insecureTLS bool
	retries     int
	backoff     time.Duration
	maxWait     time.Duration
	timeout     time.Duration
	log         *slog.Logger
	getenv      func(string) string
}

// WithHTTPClient sends requests with hc (its transport, proxy and TLS
// settings); the default is a client with MLflow's 120 s request timeout.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *config) error { c.httpClient = hc; return nil }
}

// WithBasicAuth authenticates every request with HTTP basic auth, as
// MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD do.
func WithBasicAuth(user, password string) Option {
	return func(c *config) error { c.user, c.pass = user, password; return nil }
}

// WithToken sends "Authorization: Bearer token", as MLFLOW_TRACKING_TOKEN
// does. It wins over basic auth.
func WithToken(token string) Option {
	return func(c *config) error { c.token = token; return nil }
}

// WithRetries sets how many times an idempotent call is retried after 429,
// 503 or a connection failure (default 5), and the first backoff (default
// 250 ms, doubled each attempt, with jitter, at most 10 s; a Retry-After
// header is honoured up to that cap).
func WithRetries(n int, backoff time.Duration) Option {
	return func(c *config) error {
		if n < 0 || backoff < 0 {
			return errors.New("client: retries and backoff must not be negative")
		}
		c.retries, c.backoff = n, backoff
		return nil
	}
}

// WithTimeout bounds each HTTP request (default 120 s, MLflow's
// MLFLOW_HTTP_REQUEST_TIMEOUT). It does not apply with WithHTTPClient.
func WithTimeout(d time.Duration) Option {
	return func(c *config) error { c.timeout = d; return nil }
}

// WithLogger logs retries at debug level and warnings; the default discards.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error { c.log = l; return nil }
}

// WithEnv reads MLflow's client environment through getenv:
// MLFLOW_TRACKING_URI (when New gets ""), MLFLOW_TRACKING_USERNAME and
// MLFLOW_TRACKING_PASSWORD, MLFLOW_TRACKING_TOKEN,
// MLFLOW_TRACKING_INSECURE_TLS, MLFLOW_HTTP_REQUEST_MAX_RETRIES and
// MLFLOW_HTTP_REQUEST_TIMEOUT (seconds). Options after it override it.
func WithEnv(getenv func(string) string) Option {
	return func(c *config) error {
		c.getenv = getenv
		if u := getenv("MLFLOW_TRACKING_USERNAME"); u != "" {
			c.user, c.pass = u, getenv("MLFLOW_TRACKING_PASSWORD")
		}
		if t := getenv("MLFLOW_TRACKING_TOKEN"); t != "" {
			c.token = t
		}
		if v, err := strconv.ParseBool(getenv("MLFLOW_TRACKING_INSECURE_TLS")); err == nil {
			c.insecureTLS = v
		}
		if v := getenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return fmt.Errorf("MLFLOW_HTTP_REQUEST_MAX_RETRIES=%q is not a count", v)
			}
			c.retries = n
		}
		if v := getenv("MLFLOW_HTTP_REQUEST_TIMEOUT"); v != "" {
			s, err := strconv.ParseFloat(v, 64)
			if err != nil || s <= 0 {
				return fmt.Errorf("MLFLOW_HTTP_REQUEST_TIMEOUT=%q is not a number of seconds", v)
			}
			c.timeout = time.Duration(s * float64(time.Second))
		}
		return nil
	}
}

// ErrNoTrackingURI is New's error when neither its argument nor
// MLFLOW_TRACKING_URI (through WithEnv) names a server.
var ErrNoTrackingURI = errors.New("no tracking server: pass --tracking-uri or set MLFLOW_TRACKING_URI (http://host:port of `mlship server` or an MLflow server)")

// New returns a client of the tracking server at trackingURI,
// http(s)://host[:port][/prefix]. With WithEnv, an empty trackingURI means
// MLFLOW_TRACKING_URI. User info in the URI is used for basic auth.
func New(trackingURI string, opts ...Option) (*Client, error) {
	cfg := config{retries: 5, backoff: 250 * time.Millisecond, maxWait: 10 * time.Second, timeout: 120 * time.Second}
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	if trackingURI == "" && cfg.getenv != nil {
		trackingURI = cfg.getenv("MLFLOW_TRACKING_URI")
	}
	if trackingURI == "" {
		return nil, ErrNoTrackingURI
	}
	u, err := url.Parse(trackingURI)
	if err != nil {
		return nil, fmt.Errorf("tracking URI %q: %w", trackingURI, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("tracking URI %q: the client speaks MLflow's REST API and needs http://host:port or https://host (for a local store such as sqlite:///mlflow.db, start `mlship server --backend-store-uri` on it)", trackingURI)
	}
	if u.User != nil && cfg.user == "" {
		cfg.user = u.User.Username()
		cfg.pass, _ = u.User.Password()
	}
	base := &url.URL{Scheme: u.Scheme, Host: u.Host, Path: strings.TrimRight(u.Path, "/")}
	hc := cfg.httpClient
	if hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		if cfg.insecureTLS {
			tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // the user asked with MLFLOW_TRACKING_INSECURE_TLS
		}
		hc = &http.Client{Transport: tr, Timeout: cfg.timeout}
	}
	log := cfg.log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Client{
		base: base, http: hc, user: cfg.user, password: cfg.pass, token: cfg.token,
		retries: cfg.retries, backoff: cfg.backoff, maxWait: cfg.maxWait, log: log,
	}, nil
}

// TrackingURI is the server's base URI.
func (c *Client) TrackingURI() string { return c.base.String() }

// Close releases idle connections. The client must not be used after.
func (c *Client) Close() error {
	c.http.CloseIdleConnections()
	return nil
}

// request is one call: a method and a path under the base URI, and either
// a JSON body or a raw body opened anew for each attempt.
type request struct {
	method     string
	path       string // escaped, from the base, e.g. /api/2.0/mlflow/runs/get
	query      url.Values
	json       any
	raw        func() (io.ReadCloser, int64, error)
	idempotent bool
}

// api calls an MLflow REST endpoint: path is what follows /api/2.0/mlflow.
// GET takes in as query parameters (url.Values), others as a JSON body.
func (c *Client) api(ctx context.Context, method, path string, in, out any, idempotent bool) error {
	r := request{method: method, path: "/api/2.0/mlflow" + path, idempotent: idempotent}
	if q, ok := in.(url.Values); ok {
		r.query = q
	} else if in != nil {
		r.json = in
	}
	resp, err := c.do(ctx, r)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: reading response: %w", method, r.path, err)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: decoding response: %w", method, r.path, err)
	}
	return nil
}

// do sends r, retrying as allowed, and returns a 2xx response whose body
// the caller closes. Any other status becomes an error.
func (c *Client) do(ctx context.Context, r request) (*http.Response, error) {
	var body []byte
	if r.json != nil {
		var err error
		if body, err = json.Marshal(r.json); err != nil {
			return nil, fmt.Errorf("%s %s: encoding request: %w", r.method, r.path, err)
		}
	}
	// r.path is already escaped: artifact paths escape each segment.
	target := c.base.String() + r.path
	if len(r.query) > 0 {
		target += "?" + r.query.Encode()
	}
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, r.method, target, nil)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", r.method, r.path, err)
		}
		switch {
		case body != nil:
			req.Body = io.NopCloser(bytes.NewReader(body))
			req.ContentLength = int64(len(body))
			req.Header.Set("Content-Type", "application/json")
		case r.raw != nil:
			rc, n, err := r.raw()
			if err != nil {
				return nil, err
			}
			req.Body, req.ContentLength = rc, n
			if n == 0 {
				req.Body = http.NoBody
				rc.Close()
			}
			req.Header.Set("Content-Type", "application/octet-stream")
		}
		req.Header.Set("Accept", "application/json")
		req.Header.Set("User-Agent", "mlship-tracking-client")
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		} else if c.user != "" {
			req.SetBasicAuth(c.user, c.password)
		}
		resp, err := c.http.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			// A refused connection never reached the server, so even a
			// non-idempotent call may go again.
			if attempt < c.retries && (r.idempotent || refused(err)) {
				c.wait(ctx, attempt, "", r, err.Error())
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				continue
			}
			return nil, fmt.Errorf("%s %s: %w", r.method, r.path, err)
		}
		if resp.StatusCode >= 200 && resp.StatusCode < 300 {
			return resp, nil
		}
		retryable := resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable
		if retryable && attempt < c.retries && r.idempotent {
			after := resp.Header.Get("Retry-After")
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
			resp.Body.Close()
			c.wait(ctx, attempt, after, r, resp.Status)
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			continue
		}
		defer resp.Body.Close()
		return nil, decodeError(resp)
	}
}

// wait sleeps before retry attempt+1: Retry-After when the server gave
// one, else exponential backoff with full jitter, capped.
func (c *Client) wait(ctx context.Context, attempt int, retryAfter string, r request, why string) {
	d := c.backoff << attempt
	if d > c.maxWait || d <= 0 {
		d = c.maxWait
	}
	d = d/2 + rand.N(d/2+1)
	if s, err := strconv.Atoi(strings.TrimSpace(retryAfter)); err == nil && s >= 0 {
		d = min(time.Duration(s)*time.Second, c.maxWait)
	}
	c.log.Debug("tracking request retry", "method", r.method, "path", r.path, "attempt", attempt+1, "after", d, "reason", why)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// refused reports whether err is a failure to connect, which means the
// request was never sent.
func refused(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}

// decodeError turns a non-2xx response into a *tracking.Error: the
// server's MLflow envelope when there is one, else a code for the status.
func decodeError(resp *http.Response) error {
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var eb errorBody
	if json.Unmarshal(data, &eb) == nil && eb.ErrorCode != "" {
		return &tracking.Error{Code: tracking.ErrorCode(eb.ErrorCode), Message: eb.Message}
	}
	msg := strings.TrimSpace(string(data))
	if len(msg) > 500 {
		msg = msg[:500] + "..."
	}
	if msg == "" {
		msg = resp.Status
	} else {
		msg = resp.Status + ": " + msg
	}
	return &tracking.Error{Code: statusCode(resp.StatusCode), Message: fmt.Sprintf("%s %s: %s", resp.Request.Method, resp.Request.URL.Path, msg)}
}

// statusCode is the MLflow error code a bare HTTP status stands for.
func statusCode(status int) tracking.ErrorCode {
	switch status {
	case http.StatusBadRequest:
		return tracking.InvalidParameterValue
	case http.StatusUnauthorized:
		return "UNAUTHENTICATED"
	case http.StatusForbidden:
		return "PERMISSION_DENIED"
	case http.StatusNotFound:
		return "ENDPOINT_NOT_FOUND"
	case http.StatusConflict:
		return tracking.ResourceAlreadyExists
	case http.StatusTooManyRequests:
		return "REQUEST_LIMIT_EXCEEDED"
	case http.StatusServiceUnavailable:
		return tracking.TemporarilyUnavailable
	case http.StatusNotImplemented:
		return "NOT_IMPLEMENTED"
	}
	return tracking.InternalError
}
