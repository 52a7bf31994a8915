package serve

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/mlship/mlship/flavors"
	"github.com/mlship/mlship/internal/apierr"
	"github.com/mlship/mlship/internal/pyjson"
	"github.com/mlship/mlship/mlmodel"
	"github.com/mlship/mlship/serve/scoring"
	"github.com/mlship/mlship/serve/v2"
)

// v2Error is an Open Inference Protocol error: {"error": "..."} and a
// status (400 bad request, 404 unknown model, 503 not ready or overloaded,
// 504 timeout, 500 model failure).
type v2Error struct {
	status int
	msg    string
}

func (e *v2Error) Error() string { return e.msg }

func (s *Server) writeV2Error(c echo.Context, status int, msg string) {
	if status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests {
		c.Response().Header().Set("Retry-After", "1")
	}
	b := append([]byte(`{"error":`), pyjson.AppendString(nil, msg)...)
	_ = c.Blob(status, "application/json", append(b, '}'))
}

// v2Metadata describes the model for GET /v2/models/{name}: from the
// signature, else from the model's own description of its tensors.
func v2Metadata(cfg Config, own, ownOut *mlmodel.Schema) v2.ModelMetadata {
	in, out := own, ownOut
	if sig := cfg.Model.Signature; sig != nil {
		if sig.Inputs != nil {
			in = sig.Inputs
		}
		if sig.Outputs != nil {
			out = sig.Outputs
		}
	}
	md := v2.ModelMetadata{Name: cfg.ModelName, Platform: v2.Platform(cfg.Flavor), Inputs: v2.Metas(in), Outputs: v2.Metas(out)}
	if cfg.ModelVersion != "" {
		md.Versions = []string{cfg.ModelVersion}
	}
	return md
}

func (s *Server) v2Server(c echo.Context) error {
	return c.JSON(http.StatusOK, v2.ServerMetadata{Name: "mlship", Version: s.cfg.Version, Extensions: []string{"binary_tensor_data"}})
}

func (s *Server) v2Live(c echo.Context) error {
	return c.JSONBlob(http.StatusOK, []byte(`{"live":true}`))
}

func (s *Server) v2Ready(c echo.Context) error {
	if !s.Ready() {
		return &v2Error{http.StatusServiceUnavailable, "the server is not ready (starting or shutting down)"}
	}
	if err := s.healthy(c.Request().Context()); err != nil {
		return &v2Error{http.StatusServiceUnavailable, "model is not ready: " + err.Error()}
	}
	return c.JSONBlob(http.StatusOK, []byte(`{"ready":true}`))
}

// checkModel resolves {name} and {version}: this server has one model.
func (s *Server) checkModel(c echo.Context) error {
	name, version := c.Param("name"), c.Param("version")
	if name != s.cfg.ModelName {
		return &v2Error{http.StatusNotFound, "Request for unknown model: '" + name + "' is not found"}
	}
	// The router matches /versions//infer with an empty version, which
	// would otherwise pass as "no version given".
	if strings.Contains(c.Path(), "/versions/") && (version == "" || version != s.cfg.ModelVersion) {
		return &v2Error{http.StatusNotFound, "Request for unknown model: '" + name + "' version " + version + " is not found"}
	}
	return nil
}

func (s *Server) v2Model(c echo.Context) error {
	if err := s.checkModel(c); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.v2meta)
}

func (s *Server) v2ModelReady(c echo.Context) error {
	if err := s.checkModel(c); err != nil {
		return err
	}
	ready := s.Ready() && s.healthy(c.Request().Context()) == nil
	body := `{"name":` + string(pyjson.AppendString(nil, s.cfg.ModelName)) + `,"ready":` + strconv.FormatBool(ready) + `}`
	if !ready {
		return c.JSONBlob(http.StatusServiceUnavailable, []byte(body))
	}
	return c.JSONBlob(http.StatusOK, []byte(body))
}

// InferenceHeaderContentLength is the binary extension's header: the
// length of the JSON part of a body that binary tensor data follows.
const InferenceHeaderContentLength = "Inference-Header-Content-Length"

func (s *Server) v2Infer(c echo.Context) error {
	if err := s.checkModel(c); err != nil {
		return err
	}
	headerLen := -1
	if h := c.Request().Header.Get(InferenceHeaderContentLength); h != "" {
		n, err := strconv.Atoi(h)
		if err != nil || n < 0 {
			return &v2Error{http.StatusBadRequest, "invalid " + InferenceHeaderContentLength + " header " + strconv.Quote(h)}
		}
		headerLen = n
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), s.cfg.RequestTimeout)
	defer cancel()
	if err := s.pred.Admit(); err != nil {
		return s.v2PredictError(ctx, c, err)
	}
	body, release, err := s.readBody(c)
	if err != nil {
		return err
	}
	defer release()
	req, err := s.v2dec.Decode(body, headerLen)
	if err != nil {
		var ve *v2.Error
		if errors.As(err, &ve) {
			return &v2Error{ve.Status, ve.Message}
		}
		return &v2Error{http.StatusBadRequest, err.Error()}
	}
	defer req.Release()
	params := req.Parameters
	if s.dec.Params != nil {
		// The signature's params schema holds here as on /invocations:
		// defaults filled in, values converted, bad ones rejected.
		var warnings []string
		params, warnings, err = scoring.EnforceParams(s.dec.Params, req.Parameters)
		if err != nil {
			msg := err.Error()
			var ae *apierr.Error
			if errors.As(err, &ae) {
				msg = ae.Message
			}
			return &v2Error{http.StatusBadRequest, msg}
		}
		for _, w := range warnings {
			s.warnOnce(w)
		}
	}
	out, err := s.pred.Predict(ctx, req.Batch, params)
	if err != nil {
		return s.v2PredictError(ctx, c, err)
	}
	defer out.Release()
	header, bin, err := v2.Encode(out, req, v2.Response{ModelName: s.cfg.ModelName, ModelVersion: s.cfg.ModelVersion, ID: req.ID})
	if err != nil {
		var ve *v2.Error
		if errors.As(err, &ve) {
			return &v2Error{ve.Status, ve.Message}
		}
		return err
	}
	// An output sent as binary needs Inference-Header-Content-Length even
	// when its bytes are empty: clients (tritonclient's InferResult) only
	// look for binary outputs after that header.
	if bin == nil && headerLen < 0 {
		return c.JSONBlob(http.StatusOK, header)
	}
	c.Response().Header().Set(InferenceHeaderContentLength, strconv.Itoa(len(header)))
	return c.Blob(http.StatusOK, "application/octet-stream", append(header, bin...))
}

func (s *Server) v2PredictError(ctx context.Context, c echo.Context, err error) error {
	switch {
	case overloadReason(err) != "":
		s.metrics.rejected.WithLabelValues(overloadReason(err)).Inc()
		return &v2Error{http.StatusServiceUnavailable, err.Error() + "; retry later"}
	case errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded):
		return &v2Error{http.StatusGatewayTimeout, "Request processing time exceeded limit"}
	case c.Request().Context().Err() != nil:
		return &v2Error{499, "the client closed the request"}
	case errors.Is(err, flavors.ErrClosed):
		return &v2Error{http.StatusServiceUnavailable, "the model is shutting down"}
	case errors.Is(err, flavors.ErrUnavailable):
		return &v2Error{http.StatusServiceUnavailable, err.Error()}
	case flavors.IsInputError(err):
		return &v2Error{http.StatusBadRequest, err.Error()}
	}
	if ae, ok := apierr.As(err); ok {
		return &v2Error{ae.HTTPStatus(), ae.Message}
	}
	var me *flavors.ModelError
	if errors.As(err, &me) {
		status := http.StatusBadRequest
		if me.Code != "" {
			status = apierr.StatusFor(me.Code)
		}
		return &v2Error{status, me.Message}
	}
	s.log.Error("prediction failed", "error", err)
	return &v2Error{http.StatusInternalServerError, "prediction failed: " + err.Error()}
}
