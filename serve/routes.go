package serve

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/mlship/mlship/internal/apierr"
)

func (s *Server) routes() *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	e.Use(s.observe, s.recoverer)
	infer := []echo.MiddlewareFunc{s.authorize, s.track}

	// MLflow scoring protocol.
	e.GET("/ping", s.ping)
	e.GET("/health", s.ping)
	e.GET("/version", s.version)
	e.POST("/invocations", s.invocations, infer...)

	// Open Inference Protocol (KServe V2).
	e.GET("/v2", s.v2Server)
	e.GET("/v2/health/live", s.v2Live)
	e.GET("/v2/health/ready", s.v2Ready)
	for _, prefix := range []string{"/v2/models/:name", "/v2/models/:name/versions/:version"} {
		e.GET(prefix, s.v2Model)
		e.GET(prefix+"/ready", s.v2ModelReady)
		e.POST(prefix+"/infer", s.v2Infer, infer...)
	}

	e.GET("/metrics", echo.WrapHandler(s.metrics.handler()))
	return e
}

// handleError writes the error in the protocol of the route: MLflow's
// {"error_code", "message"} envelope (or its plain-text 415s), or the V2
// {"error": "..."} body.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	path := c.Request().URL.Path
	var ae *apierr.Error
	var he *echo.HTTPError
	var ce *contentTypeError
	var ve *v2Error
	switch {
	case errors.As(err, &ve):
		s.writeV2Error(c, ve.status, ve.msg)
		return
	case errors.As(err, &ce):
		if protocol(path) == "v2" {
			s.writeV2Error(c, http.StatusUnsupportedMediaType, ce.msg)
			return
		}
		// MLflow answers content-type problems with 415 text/plain.
		_ = c.Blob(http.StatusUnsupportedMediaType, "text/plain; charset=utf-8", []byte(ce.msg))
		return
	case errors.As(err, &ae):
	case errors.As(err, &he):
		switch he.Code {
		case http.StatusNotFound:
			ae = apierr.New(apierr.EndpointNotFound, "No endpoint %s %s. mlship serves the MLflow scoring protocol (GET /ping, /health, /version; POST /invocations), the Open Inference Protocol under /v2 and metrics on /metrics.", c.Request().Method, path)
		case http.StatusMethodNotAllowed:
			ae = &apierr.Error{Code: apierr.BadRequest, Status: http.StatusMethodNotAllowed, Message: fmt.Sprintf("Method %s is not allowed on %s.", c.Request().Method, path)}
		default:
			ae = &apierr.Error{Code: apierr.BadRequest, Status: he.Code, Message: fmt.Sprint(he.Message)}
		}
	default:
		s.log.Error("request failed", "path", path, "error", err)
		ae = apierr.New(apierr.InternalError, "internal error: %v", err)
	}
	status := ae.HTTPStatus()
	switch {
	case status == http.StatusServiceUnavailable:
		// Refusals come in floods under overload (one line each would cost
		// more than the refusal) and health probes fail by design while
		// starting or draining: log a sample; the metrics count them all.
		if !isProbe(path) {
			s.shedLog.log(s.log, path, ae.Code, ae.Message)
		}
	case status >= 500:
		s.log.Warn("request failed", "path", path, "status", status, "code", ae.Code, "message", ae.Message)
	}
	if status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests {
		c.Response().Header().Set("Retry-After", "1")
	}
	if protocol(path) == "v2" {
		s.writeV2Error(c, status, ae.Message)
		return
	}
	_ = c.Blob(status, "application/json", ae.JSON())
}
