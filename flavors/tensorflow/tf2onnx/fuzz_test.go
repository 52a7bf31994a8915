package tf2onnx

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/mlship/mlship/internal/testenv"
	"github.com/mlship/mlship/internal/tfpb"
)

// FuzzConvert feeds arbitrary MetaGraphDefs to the converter: it may
// refuse them, never panic.
func FuzzConvert(f *testing.F) {
	mg, sig := opGraph()
	mg.SignatureDef = map[string]*tfpb.SignatureDef{"ops": toSignatureDef(sig)}
	if b, err := proto.Marshal(mg); err == nil {
		f.Add(b)
	}
	small := graphOf([]*tfpb.NodeDef{nd("x", "Placeholder", nil, "dtype", tf32), nd("y", "Relu", []string{"x"}, "T", tf32)})
	small.SignatureDef = map[string]*tfpb.SignatureDef{"s": toSignatureDef(sigXY("y:0"))}
	if b, err := proto.Marshal(small); err == nil {
		f.Add(b)
	}
	// Real MetaGraphs, when the shared test data is there.
	root := filepath.Join(testenv.RepoRoot(f), "..", "shared", "testdata", "tensorflow")
	for _, m := range []string{"tfjs_times_three_float", "saved_model_half_plus_two_cpu/00000123", "rust_keras_single_input"} {
		b, err := os.ReadFile(filepath.Join(root, m, "saved_model.pb"))
		if err != nil {
			continue
		}
		var sm tfpb.SavedModel
		if proto.Unmarshal(b, &sm) == nil && len(sm.GetMetaGraphs()) > 0 {
			if mb, err := proto.Marshal(sm.GetMetaGraphs()[0]); err == nil {
				f.Add(mb)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		defer guard(len(data))()
		var mg tfpb.MetaGraphDef
		if proto.Unmarshal(data, &mg) != nil {
			return
		}
		keys := make([]string, 0, len(mg.GetSignatureDef()))
		for k := range mg.GetSignatureDef() {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			sig := Signature{Key: k}
			sd := mg.GetSignatureDef()[k]
			for _, m := range []struct {
				in  map[string]*tfpb.TensorInfo
				out *[]IO
			}{{sd.GetInputs(), &sig.Inputs}, {sd.GetOutputs(), &sig.Outputs}} {
				names := make([]string, 0, len(m.in))
				for n := range m.in {
					names = append(names, n)
				}
				sort.Strings(names)
				for _, n := range names {
					ti := m.in[n]
					io := IO{Name: n, Tensor: ti.GetName(), DType: ti.GetDtype(), UnknownRank: ti.GetTensorShape().GetUnknownRank()}
					for _, d := range ti.GetTensorShape().GetDim() {
						io.Shape = append(io.Shape, d.GetSize())
					}
					*m.out = append(*m.out, io)
				}
			}
			_, _ = Convert(&mg, sig, zeroVars{}, Options{FlattenUnknownRank: true})
		}
	})
}

// fuzzInputLimit is how long one fuzz input may run. Go's fuzzing has no
// per-input timeout: a slow input would hold a CI run until the test
// binary's -timeout (10 minutes). Inputs take milliseconds; past the limit
// guard panics, which ends the worker, and the coordinator writes the
// input to testdata/fuzz as a failure to reproduce.
const fuzzInputLimit = 20 * time.Second

// guard starts the clock on one input of n bytes; call the result when the
// input is done.
func guard(n int) (done func()) {
	start := time.Now()
	tm := time.AfterFunc(fuzzInputLimit, func() {
		panic(fmt.Sprintf("fuzz input of %d bytes still running after %v (started %s)", n, fuzzInputLimit, start.Format(time.TimeOnly)))
	})
	return func() { tm.Stop() }
}

func toSignatureDef(s Signature) *tfpb.SignatureDef {
	sd := &tfpb.SignatureDef{Inputs: map[string]*tfpb.TensorInfo{}, Outputs: map[string]*tfpb.TensorInfo{}}
	for _, m := range []struct {
		ios []IO
		dst map[string]*tfpb.TensorInfo
	}{{s.Inputs, sd.Inputs}, {s.Outputs, sd.Outputs}} {
		for _, io := range m.ios {
			m.dst[io.Name] = &tfpb.TensorInfo{Encoding: &tfpb.TensorInfo_Name{Name: io.Tensor}, Dtype: io.DType, TensorShape: shapeProto(io.Shape...)}
		}
	}
	return sd
}
