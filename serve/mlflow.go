package serve

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/mlship/mlship/flavors"
	"github.com/mlship/mlship/internal/apierr"
	"github.com/mlship/mlship/serve/scoring"
)

// ArrowStreamType is the media type of Arrow IPC streams, accepted as an
// /invocations body and returned when the client asks for it in Accept.
const ArrowStreamType = "application/vnd.apache.arrow.stream"

// ping answers MLflow's health check: 200 with a newline body while the
// model is loaded, warmed and the server not draining; a predictor that can
// fail after loading (a worker pool) is asked too.
func (s *Server) ping(c echo.Context) error {
	if !s.Ready() {
		return apierr.New(apierr.TemporarilyUnavailable, "the server is not ready (starting or shutting down)")
	}
	if err := s.healthy(c.Request().Context()); err != nil {
		return apierr.New(apierr.TemporarilyUnavailable, "model is not ready: %v", err)
	}
	return c.Blob(http.StatusOK, "application/json", []byte("\n"))
}

func (s *Server) healthy(ctx context.Context) error {
	hc, ok := s.model.(flavors.HealthChecker)
	if !ok {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return hc.Check(ctx)
}

func (s *Server) version(c echo.Context) error {
	return c.Blob(http.StatusOK, "application/json", []byte(s.cfg.Version))
}

// contentTypeError is a 415, which MLflow answers in plain text.
type contentTypeError struct{ msg string }

func (e *contentTypeError) Error() string { return e.msg }

// mediaType checks Content-Type as MLflow's scoring server does: charset
// must be UTF-8, no other parameters, and the type text/csv or
// application/json — plus Arrow IPC streams, which only mlship takes.
func mediaType(header string) (string, error) {
	switch header { // the common spellings, without parsing
	case "application/json", "text/csv", "application/json; charset=utf-8", "application/json; charset=UTF-8":
		return header[:strings.IndexByte(header+";", ';')], nil
	}
	typ, params, err := mime.ParseMediaType(header)
	if header == "" || err != nil {
		return "", &contentTypeError{fmt.Sprintf("This predictor only supports the following content types: Types: ['text/csv', 'application/json']. Got '%s'.", header)}
	}
	if typ == ArrowStreamType {
		return typ, nil
	}
	for k, v := range params {
		if k == "charset" {
			if !strings.EqualFold(v, "utf-8") && !strings.EqualFold(v, "utf8") {
				return "", &contentTypeError{"The scoring server only supports UTF-8"}
			}
			continue
		}
		return "", &contentTypeError{fmt.Sprintf("Unrecognized content type parameters: %s. IMPORTANT: The MLflow Model scoring protocol has changed in MLflow version 2.0. If you are seeing this error, you are likely using an outdated scoring request format. To resolve the error, either update your request format or adjust your MLflow Model's requirements file to specify an older version of MLflow (for example, change the 'mlflow' requirement specifier to 'mlflow==1.30.0'). If you are making a request using the MLflow client (e.g. via `mlflow.pyfunc.spark_udf()`), upgrade your MLflow client to a version >= 2.0 in order to use the new request format. For more information about the updated MLflow Model scoring protocol in MLflow 2.0, see https://mlflow.org/docs/latest/models.html#deploy-mlflow-models.", k)}
	}
	switch typ {
	case "application/json", "text/csv":
		return typ, nil
	}
	return "", &contentTypeError{fmt.Sprintf("This predictor only supports the following content types: Types: ['text/csv', 'application/json']. Got '%s'.", header)}
}

// wantsArrow reports whether the Accept header asks for an Arrow stream.
func wantsArrow(accept string) bool {
	for _, part := range strings.Split(accept, ",") {
		if t, _, err := mime.ParseMediaType(strings.TrimSpace(part)); err == nil && t == ArrowStreamType {
			return true
		}
	}
	return false
}

// invocations is POST /invocations.
func (s *Server) invocations(c echo.Context) error {
	typ, err := mediaType(c.Request().Header.Get(echo.HeaderContentType))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), s.cfg.RequestTimeout)
	defer cancel()
	if err := s.pred.Admit(); err != nil {
		return s.predictError(ctx, c, err)
	}
	body, release, err := s.readBody(c)
	if err != nil {
		return err
	}
	defer release()
	var req *scoring.Request
	switch typ {
	case "text/csv":
		req, err = s.dec.DecodeCSV(body)
	case ArrowStreamType:
		req, err = s.dec.DecodeArrow(body)
	default:
		req, err = s.dec.DecodeJSON(body)
	}
	if err != nil {
		return s.detail(err)
	}
	defer req.Release()
	for _, w := range req.Warnings {
		s.warnOnce(w)
	}
	out, err := s.pred.Predict(ctx, req.Batch, req.Params)
	if err != nil {
		return s.predictError(ctx, c, err)
	}
	defer out.Release()
	bp := s.bufs.Get().(*[]byte)
	defer s.bufs.Put(bp)
	if wantsArrow(c.Request().Header.Get(echo.HeaderAccept)) {
		b, err := scoring.EncodeArrow((*bp)[:0], out)
		if err != nil {
			return apierr.Wrap(apierr.InternalError, err)
		}
		*bp = b
		return c.Blob(http.StatusOK, ArrowStreamType, b)
	}
	b, err := scoring.EncodePredictions((*bp)[:0], out, req.Form)
	if err != nil {
		return s.detail(err)
	}
	*bp = b
	return c.Blob(http.StatusOK, "application/json", b)
}

// detail applies MLFLOW_DISABLE_SCHEMA_DETAILS to enforcement errors.
func (s *Server) detail(err error) error {
	ae, ok := apierr.As(err)
	if !ok {
		return apierr.Wrap(apierr.BadRequest, err)
	}
	if s.cfg.HideSchemaDetails && ae.Code == apierr.InvalidParameterValue {
		return &apierr.Error{Code: ae.Code, Message: "Failed to enforce model input schema. Please check your input data.", Err: ae}
	}
	return ae
}

// predictError maps a Predict failure to MLflow's answer.
func (s *Server) predictError(ctx context.Context, c echo.Context, err error) error {
	switch {
	case overloadReason(err) != "":
		s.metrics.rejected.WithLabelValues(overloadReason(err)).Inc()
		return apierr.New(apierr.TemporarilyUnavailable, "%v; retry later", err)
	case errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded):
		return apierr.New(apierr.DeadlineExceeded, "Request processing time exceeded limit")
	case c.Request().Context().Err() != nil:
		return &apierr.Error{Code: apierr.Cancelled, Message: "the client closed the request", Err: err}
	case errors.Is(err, flavors.ErrClosed):
		return apierr.New(apierr.TemporarilyUnavailable, "the model is shutting down")
	case errors.Is(err, flavors.ErrUnavailable):
		return &apierr.Error{Code: apierr.TemporarilyUnavailable, Message: err.Error(), Err: err}
	}
	if ae, ok := apierr.As(err); ok {
		return s.detail(ae)
	}
	var me *flavors.ModelError
	if errors.As(err, &me) {
		code := me.Code
		if code == "" {
			code = apierr.BadRequest
		}
		return s.detail(&apierr.Error{Code: code, Message: me.Message, StackTrace: me.StackTrace, Err: err})
	}
	if flavors.IsInputError(err) {
		return &apierr.Error{Code: apierr.BadRequest, Err: err,
			Message: "Encountered an unexpected error while evaluating the model. Verify that the serialized input Dataframe is compatible with the model for inference. Error: " + err.Error()}
	}
	s.log.Error("prediction failed", "error", err)
	return &apierr.Error{Code: apierr.InternalError, Message: "prediction failed: " + err.Error(), Err: err}
}
