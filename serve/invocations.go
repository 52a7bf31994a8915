package serve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/mlship/mlship/flavors"
	"github.com/mlship/mlship/internal/apierr"
	"github.com/mlship/mlship/serve/scoring"
)

// contentTypeError is a 415, which MLflow answers in plain text.
type contentTypeError struct{ msg string }

func (e *contentTypeError) Error() string { return e.msg }

// mediaType checks Content-Type as MLflow's scoring server does: charset
// must be UTF-8, no other parameters, and the type text/csv or
// application/json.
func mediaType(header string) (string, error) {
	typ, params, err := mime.ParseMediaType(header)
	if header == "" || err != nil {
		return "", &contentTypeError{fmt.Sprintf("This predictor only supports the following content types: Types: ['text/csv', 'application/json']. Got '%s'.", header)}
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

// readBody reads the request body up to the configured limit.
func (s *Server) readBody(c echo.Context) ([]byte, error) {
	r := c.Request()
	limit := s.cfg.MaxBodyBytes
	if r.ContentLength > limit {
		return nil, tooLarge(limit)
	}
	body := http.MaxBytesReader(c.Response(), r.Body, limit)
	n := r.ContentLength
	if n < 0 || n > 1<<20 {
		n = 1 << 14 // grow as it comes; do not trust a huge length up front
	}
	buf := make([]byte, 0, n+1)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		m, err := body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, tooLarge(limit)
			}
			return nil, apierr.New(apierr.BadRequest, "reading the request body: %v", err)
		}
	}
}

func tooLarge(limit int64) error {
	return &apierr.Error{Code: apierr.RequestLimitExceeded, Status: http.StatusRequestEntityTooLarge,
		Message: fmt.Sprintf("Request body is larger than the limit of %d bytes (set --max-body-size to change it).", limit)}
}

// invocations is POST /invocations.
func (s *Server) invocations(c echo.Context) error {
	typ, err := mediaType(c.Request().Header.Get(echo.HeaderContentType))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), s.cfg.RequestTimeout)
	defer cancel()
	body, err := s.readBody(c)
	if err != nil {
		return err
	}
	var req *scoring.Request
	if typ == "text/csv" {
		req, err = s.dec.DecodeCSV(body)
	} else {
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
	case errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded):
		return apierr.New(apierr.DeadlineExceeded, "Request processing time exceeded limit")
	case c.Request().Context().Err() != nil:
		return &apierr.Error{Code: apierr.Cancelled, Message: "the client closed the request", Err: err}
	case errors.Is(err, flavors.ErrClosed):
		return apierr.New(apierr.TemporarilyUnavailable, "the model is shutting down")
	}
	if ae, ok := apierr.As(err); ok {
		return s.detail(ae)
	}
	if flavors.IsInputError(err) {
		return &apierr.Error{Code: apierr.BadRequest, Err: err,
			Message: "Encountered an unexpected error while evaluating the model. Verify that the serialized input Dataframe is compatible with the model for inference. Error: " + err.Error()}
	}
	s.log.Error("prediction failed", "error", err)
	return &apierr.Error{Code: apierr.InternalError, Message: "prediction failed: " + err.Error(), Err: err}
}
