package serve

import (
	"crypto/subtle"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/mlship/mlship/internal/apierr"
)

// RequestIDHeader carries a request's ID: taken from the client when it
// sends one, generated otherwise, and echoed in the response.
const RequestIDHeader = "X-Request-Id"

// protocol names the wire protocol of a route, for metrics and errors.
func protocol(path string) string {
	switch {
	case strings.HasPrefix(path, "/v2"):
		return "v2"
	case path == "/invocations" || path == "/ping" || path == "/health" || path == "/version":
		return "mlflow"
	}
	return "other"
}

// newRequestID returns an ID unique within this process and unlikely to
// repeat across restarts: a random per-process prefix and a counter (no
// system call per request).
func (s *Server) newRequestID() string {
	n := s.reqSeq.Add(1)
	b := make([]byte, 0, 24)
	b = append(b, s.reqPrefix...)
	b = append(b, '-')
	b = strconv.AppendUint(b, n, 36)
	return string(b)
}

// recoverer turns a panic in a handler into a 500 and keeps serving.
func (s *Server) recoverer(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if r := recover(); r != nil {
				s.log.Error("panic while handling request", "path", c.Request().URL.Path, "panic", fmt.Sprint(r))
				err = apierr.New(apierr.InternalError, "internal error while handling the request")
			}
		}()
		return next(c)
	}
}

// observe assigns the request ID, counts the request and times it, and
// writes the access log line.
func (s *Server) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		req := c.Request()
		id := req.Header.Get(RequestIDHeader)
		if id == "" || len(id) > 128 {
			id = s.newRequestID()
		}
		c.Response().Header()[RequestIDHeader] = []string{id}
		err := next(c)
		if err != nil {
			c.Error(err) // writes the response now, so the status is known
		}
		route := c.Path()
		if route == "" {
			route = "unmatched"
		}
		status := c.Response().Status
		proto := protocol(req.URL.Path)
		if route != "/metrics" {
			s.metrics.requests.WithLabelValues(route, proto, strconv.Itoa(status)).Inc()
			s.metrics.duration.WithLabelValues(route, proto).Observe(time.Since(start).Seconds())
		}
		if s.cfg.AccessLog {
			s.log.Info("request", "id", id, "method", req.Method, "path", req.URL.Path, "status", status,
				"duration", time.Since(start).String(), "bytes_in", req.ContentLength, "bytes_out", c.Response().Size, "remote", req.RemoteAddr)
		}
		return nil
	}
}

// authorize requires the bearer token on inference routes when one is set.
// The comparison takes constant time.
func (s *Server) authorize(next echo.HandlerFunc) echo.HandlerFunc {
	if s.cfg.AuthToken == "" {
		return next
	}
	want := []byte("Bearer " + s.cfg.AuthToken)
	return func(c echo.Context) error {
		got := []byte(c.Request().Header.Get(echo.HeaderAuthorization))
		if subtle.ConstantTimeCompare(got, want) != 1 {
			s.metrics.rejected.WithLabelValues("unauthenticated").Inc()
			c.Response().Header().Set("WWW-Authenticate", `Bearer realm="mlship"`)
			msg := "a valid bearer token is required (Authorization: Bearer <token>)"
			if protocol(c.Request().URL.Path) == "v2" {
				return &v2Error{status: http.StatusUnauthorized, msg: msg}
			}
			return apierr.New(apierr.Unauthenticated, "%s", msg)
		}
		return next(c)
	}
}

// track counts inference requests in flight.
func (s *Server) track(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		s.metrics.inflight.Inc()
		defer s.metrics.inflight.Dec()
		return next(c)
	}
}
