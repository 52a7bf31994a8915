package tensorflow

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/mlship/mlship/flavors/tensorflow/savedmodel"
	"github.com/mlship/mlship/internal/onnxpb"
	"github.com/mlship/mlship/internal/testenv"
)

// readNpy returns the raw little-endian float32 data of a version 1 .npy
// file of dtype <f4 in C order.
func readNpy(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 10 || !bytes.HasPrefix(b, []byte("\x93NUMPY\x01")) {
		t.Fatalf("%s: not a version 1 .npy file", path)
	}
	n := int(binary.LittleEndian.Uint16(b[8:10]))
	header := string(b[10 : 10+n])
	if !strings.Contains(header, "'<f4'") || !strings.Contains(header, "'fortran_order': False") {
		t.Fatalf("%s: header %q", path, header)
	}
	return b[10+n:]
}

// TestMNISTWeightsAreGolden: the converted MNIST MLP carries exactly the
// weights TensorFlow.NET's test asserts (kernel1.npy, bias0.npy) as ONNX
// initializers.
func TestMNISTWeightsAreGolden(t *testing.T) {
	dir := filepath.Join(testenv.SharedTestdata(t), "tensorflow", "tfnet_simple_model_from_auto_compile")
	sm, err := savedmodel.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	mg, err := sm.MetaGraph([]string{"serve"})
	if err != nil {
		t.Fatal(err)
	}
	sig, err := mg.Signature("serving_default")
	if err != nil {
		t.Fatal(err)
	}
	b, err := Convert(sm, mg, sig)
	if err != nil {
		t.Fatal(err)
	}
	var m onnxpb.ModelProto
	if err := proto.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, golden := range []struct {
		file string
		dims []int64
	}{{"kernel1.npy", []int64{100, 10}}, {"bias0.npy", []int64{100}}} {
		want := readNpy(t, filepath.Join(dir, golden.file))
		found := false
		for _, init := range m.GetGraph().GetInitializer() {
			if bytes.Equal(init.GetRawData(), want) {
				found = true
				if got := init.GetDims(); len(got) != len(golden.dims) || got[0] != golden.dims[0] {
					t.Errorf("%s: initializer %s has dims %v, want %v", golden.file, init.GetName(), got, golden.dims)
				}
			}
		}
		if !found {
			t.Errorf("%s: no initializer of the converted model holds these weights", golden.file)
		}
	}
	if n := len(m.GetGraph().GetInitializer()); n < 4 {
		t.Errorf("%d initializers, want the 4 weights at least", n)
	}
}
