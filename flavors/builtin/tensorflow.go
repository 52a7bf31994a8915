//go:build cgo

package builtin

// The TensorFlow flavor converts SavedModels to ONNX and runs them on the
// ONNX flavor's session code, so it needs cgo as that flavor does.
import _ "github.com/mlship/mlship/flavors/tensorflow"
