package v2

import (
	"strconv"

	"github.com/mlship/mlship/mlmodel"
)

// ModelMetadata is the model metadata response.
type ModelMetadata struct {
	Name       string            `json:"name"`
	Versions   []string          `json:"versions,omitempty"`
	Platform   string            `json:"platform"`
	Inputs     []TensorMeta      `json:"inputs"`
	Outputs    []TensorMeta      `json:"outputs"`
	Properties map[string]string `json:"properties,omitempty"`
}

// ServerMetadata is the server metadata response.
type ServerMetadata struct {
	Name       string   `json:"name"`
	Version    string   `json:"version"`
	Extensions []string `json:"extensions"`
}

// Platform names the model's platform: the spec's names where one fits
// (onnx_onnxv1, tensorflow_savedmodel), mlflow_<flavor> otherwise, and ""
// when the flavor is not known (a library user who left Config.Flavor
// empty) rather than a dangling "mlflow_".
func Platform(flavor string) string {
	switch flavor {
	case "":
		return ""
	case "onnx":
		return "onnx_onnxv1"
	case "tensorflow":
		return "tensorflow_savedmodel"
	}
	return "mlflow_" + flavor
}

// Metas describes a schema as V2 tensors: TensorSpecs keep their dtype and
// shape; each ColSpec column is a [-1] tensor of its type (BYTES for
// strings, binary, datetimes and composite types).
func Metas(s *mlmodel.Schema) []TensorMeta {
	if s == nil {
		return []TensorMeta{}
	}
	out := make([]TensorMeta, 0, s.Len())
	for i, t := range s.Tensors {
		name := t.Name
		if name == "" {
			name = unnamed(i)
		}
		out = append(out, TensorMeta{Name: name, Datatype: FromNumpy(t.DType), Shape: append([]int64{}, t.Shape...)})
	}
	for i, c := range s.Columns {
		name := c.Name
		if name == "" {
			name = unnamed(i)
		}
		dt := BYTES
		if c.Type.Kind.IsScalar() {
			dt = FromKind(string(c.Type.Kind))
		}
		out = append(out, TensorMeta{Name: name, Datatype: dt, Shape: []int64{-1}})
	}
	return out
}

// unnamed is the name an unnamed schema entry gets in V2, where every
// tensor has one: pandas' default column names.
func unnamed(i int) string {
	return "input-" + strconv.Itoa(i)
}
