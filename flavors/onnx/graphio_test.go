package onnx

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// readDeclaredShapes tells inputs and outputs that declare no shape from
// 0-d ones, which ONNX Runtime reports alike, and names symbolic
// dimensions, which ONNX Runtime reports as -1.
func TestReadDeclaredShapes(t *testing.T) {
	for _, tc := range []struct {
		model string
		want  declaredShapes
	}{
		{"unknown_rank", declaredShapes{"x": {}, "s": {hasShape: true}, "y": {}, "neg": {hasShape: true}}},
		{"seq_mean", declaredShapes{
			"x":    {hasShape: true, params: []string{"batch", "time"}},
			"mean": {hasShape: true, params: []string{"batch"}},
		}},
		// Weights in a side file: the graph is still in model.onnx.
		{"external_data", declaredShapes{
			"input":  {hasShape: true, params: []string{"batch", ""}},
			"output": {hasShape: true, params: []string{"batch", ""}},
		}},
	} {
		t.Run(tc.model, func(t *testing.T) {
			got, err := readDeclaredShapes(filepath.Join("testdata", "models", tc.model, "model.onnx"))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(declaredShape{})); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// A damaged file is an error, never a panic or a partial answer taken as
// whole.
func TestReadDeclaredShapesDamaged(t *testing.T) {
	good, err := os.ReadFile(filepath.Join("testdata", "models", "linear", "model.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"truncated", good[:len(good)-3]},
		{"overlong length", append(append([]byte{}, good...), 0x3a, 0xff, 0xff, 0x03)}, // field 7, length 65535
		{"bad tag", []byte{0x00, 0x01}},
		// The graph's first field has a length running past the graph.
		{"length past the message end", []byte(":\x06Z\xdd\xdd\xdd\xdd\xdd\xdd\xdd\xdd\xdf1")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "model.onnx")
			if err := os.WriteFile(path, tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			if got, err := readDeclaredShapes(path); err == nil {
				t.Fatalf("no error; got %v", got)
			}
		})
	}
}
