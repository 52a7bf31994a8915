//go:build cgo

package builtin

// The ONNX flavor needs cgo (onnxruntime_go loads the library with dlopen);
// a CGO_ENABLED=0 build leaves it out.
import _ "github.com/mlship/mlship/flavors/onnx"
