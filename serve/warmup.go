package serve

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/mlship/mlship/internal/pyjson"
	"github.com/mlship/mlship/mlmodel"
)

// warmup runs one prediction before the server reports ready: runtimes
// allocate, compile and fill caches on their first call, and the first
// real request should not pay for it. It uses the model's saved input
// example, else a synthetic one-row request built from the signature.
// A failed warm-up is logged, not fatal: the example may be stale while
// real requests work.
func (s *Server) warmup(ctx context.Context) {
	if s.cfg.NoWarmup {
		return
	}
	body, err := s.cfg.Model.ServingInputExample()
	source := "input example"
	if err != nil {
		if !errors.Is(err, mlmodel.ErrNoInputExample) {
			s.log.Warn("warm-up: cannot use the input example", "error", err)
		}
		body, source = syntheticRequest(s.dec.Inputs), "signature"
		if body == nil {
			body, source = syntheticRequest(s.dec.Hint), "model inputs"
		}
	}
	if body == nil {
		s.log.Info("warm-up skipped: no input example and no signature to build one from")
		return
	}
	start := time.Now()
	req, err := s.dec.DecodeJSON(body)
	if err != nil {
		s.log.Warn("warm-up request does not decode", "source", source, "error", err)
		return
	}
	defer req.Release()
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	out, err := s.pred.Predict(ctx, req.Batch, req.Params)
	if err != nil {
		s.log.Warn("warm-up prediction failed", "source", source, "error", err)
		return
	}
	out.Release()
	s.log.Info("model warmed up", "source", source, "duration", time.Since(start).String())
}

// syntheticRequest builds a one-row request of zeros (false, "") for a
// schema, or nil when the schema has types it cannot fill.
func syntheticRequest(s *mlmodel.Schema) []byte {
	if s == nil || s.Len() == 0 {
		return nil
	}
	if s.IsTensorBased() {
		if !s.HasNames() {
			zero, ok := tensorZero(s.Tensors[0].DType)
			if !ok {
				return nil
			}
			return append(appendZeros([]byte(`{"inputs": `), s.Tensors[0].Shape, zero), '}')
		}
		b := []byte(`{"inputs": {`)
		for i, t := range s.Tensors {
			zero, ok := tensorZero(t.DType)
			if !ok {
				return nil
			}
			if i > 0 {
				b = append(b, ", "...)
			}
			b = pyjson.AppendString(b, t.Name)
			b = append(b, ": "...)
			b = appendZeros(b, t.Shape, zero)
		}
		return append(b, "}}"...)
	}
	b := []byte(`{"dataframe_records": [{`)
	for i, c := range s.Columns {
		var zero string
		switch c.Type.Kind {
		case mlmodel.Double, mlmodel.Float, mlmodel.Long, mlmodel.Integer:
			zero = "0"
		case mlmodel.Boolean:
			zero = "false"
		case mlmodel.String:
			zero = `""`
		default:
			if !c.Required {
				continue
			}
			return nil
		}
		if i > 0 {
			b = append(b, ", "...)
		}
		name := c.Name
		if name == "" {
			name = strconv.Itoa(i)
		}
		b = pyjson.AppendString(b, name)
		b = append(b, ": "...)
		b = append(b, zero...)
	}
	return append(b, "}]}"...)
}

func tensorZero(dtype string) (string, bool) {
	switch dtype {
	case "float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64":
		return "0", true
	case "bool":
		return "false", true
	case "str":
		return `""`, true
	}
	return "", false
}

// appendZeros writes a nested list of the shape, variable dimensions as 1.
func appendZeros(b []byte, shape []int64, zero string) []byte {
	if len(shape) == 0 {
		return append(b, zero...)
	}
	n := shape[0]
	if n < 0 {
		n = 1
	}
	b = append(b, '[')
	for i := int64(0); i < n; i++ {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = appendZeros(b, shape[1:], zero)
	}
	return append(b, ']')
}
