package tensorflow

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/protobuf/proto"

	"github.com/mlship/mlship/columnar"
	"github.com/mlship/mlship/flavors"
	"github.com/mlship/mlship/flavors/onnx"
	"github.com/mlship/mlship/flavors/tensorflow/savedmodel"
	"github.com/mlship/mlship/internal/onnxpb"
)

// handWrittenKeras writes the Keras Dense(5,relu)->Dense(5,relu)->
// Dense(1,sigmoid) network of rust_keras_single_input directly as ONNX,
// with the checkpoint's weights: the baseline the conversion is measured
// against.
func handWrittenKeras(tb testing.TB, dir string) []byte {
	tb.Helper()
	sm, err := savedmodel.Load(dir)
	if err != nil {
		tb.Fatal(err)
	}
	ck, err := sm.Variables()
	if err != nil {
		tb.Fatal(err)
	}
	g := &onnxpb.GraphProto{Name: proto.String("keras_dense")}
	f32 := int32(onnxpb.TensorProto_FLOAT)
	dims := func(d ...int64) *onnxpb.TensorShapeProto {
		s := &onnxpb.TensorShapeProto{}
		for _, v := range d {
			dim := &onnxpb.TensorShapeProto_Dimension{}
			if v >= 0 {
				dim.Value = &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: v}
			}
			s.Dim = append(s.Dim, dim)
		}
		return s
	}
	vi := func(name string, d ...int64) *onnxpb.ValueInfoProto {
		return &onnxpb.ValueInfoProto{Name: proto.String(name), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
			TensorType: &onnxpb.TypeProto_Tensor{ElemType: &f32, Shape: dims(d...)}}}}
	}
	node := func(op string, in []string, out string) {
		g.Node = append(g.Node, &onnxpb.NodeProto{OpType: proto.String(op), Input: in, Output: []string{out}, Name: proto.String(out)})
	}
	g.Input = []*onnxpb.ValueInfoProto{vi("test_in_input", -1, 5)}
	g.Output = []*onnxpb.ValueInfoProto{vi("test_out", -1, 1)}
	x := "test_in_input"
	for layer, act := range []string{"Relu", "Relu", "Sigmoid"} {
		for _, part := range []string{"kernel", "bias"} {
			key := fmt.Sprintf("layer_with_weights-%d/%s/.ATTRIBUTES/VARIABLE_VALUE", layer, part)
			t, err := ck.Tensor(key)
			if err != nil {
				tb.Fatal(err)
			}
			g.Initializer = append(g.Initializer, &onnxpb.TensorProto{Name: proto.String(fmt.Sprintf("%s%d", part, layer)), Dims: t.Shape, DataType: &f32, RawData: t.Data})
		}
		node("MatMul", []string{x, fmt.Sprintf("kernel%d", layer)}, fmt.Sprintf("mm%d", layer))
		node("Add", []string{fmt.Sprintf("mm%d", layer), fmt.Sprintf("bias%d", layer)}, fmt.Sprintf("add%d", layer))
		x = fmt.Sprintf("act%d", layer)
		if layer == 2 {
			x = "test_out"
		}
		node(act, []string{fmt.Sprintf("add%d", layer)}, x)
	}
	b, err := proto.Marshal(&onnxpb.ModelProto{IrVersion: proto.Int64(8), Graph: g, ProducerName: proto.String("hand"),
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(17)}}})
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func kerasInput(tb testing.TB, rows int) arrow.RecordBatch {
	bld := array.NewFloat32Builder(memory.DefaultAllocator)
	defer bld.Release()
	for i := 0; i < rows*5; i++ {
		bld.Append(float32(math.Sin(float64(i))))
	}
	vals := bld.NewArray()
	defer vals.Release()
	f, col, err := columnar.NewTensorColumn("test_in_input", []int64{int64(rows), 5}, vals, true)
	if err != nil {
		tb.Fatal(err)
	}
	defer col.Release()
	return array.NewRecordBatch(arrow.NewSchema([]arrow.Field{f}, nil), []arrow.Array{col}, int64(rows))
}

// BenchmarkKerasDense: rows/s of the converted rust_keras_single_input
// against the same network written directly as ONNX, both on ONNX Runtime
// through the onnx flavor's session code, one intra-op thread (as serving
// runs them).
//
//	go test -run '^$' -bench BenchmarkKerasDense -benchtime 3s ./flavors/tensorflow
func BenchmarkKerasDense(b *testing.B) {
	dir := sharedModel(b, "rust_keras_single_input")
	opts := loadOptions(b)
	opts.DefaultThreads = 1
	sm, err := savedmodel.Load(dir)
	if err != nil {
		b.Fatal(err)
	}
	mg, err := sm.MetaGraph([]string{"serve"})
	if err != nil {
		b.Fatal(err)
	}
	sig, err := mg.Signature("serving_default")
	if err != nil {
		b.Fatal(err)
	}
	converted, err := Convert(sm, mg, sig)
	if err != nil {
		b.Fatal(err)
	}
	models := []struct {
		name  string
		bytes []byte
	}{{"converted", converted}, {"handwritten", handWrittenKeras(b, dir)}}
	preds := map[string]flavors.Predictor{}
	for _, m := range models {
		path := filepath.Join(b.TempDir(), m.name+".onnx")
		if err := os.WriteFile(path, m.bytes, 0o644); err != nil {
			b.Fatal(err)
		}
		p, err := onnx.LoadFile(context.Background(), path, nil, opts)
		if err != nil {
			b.Fatal(err)
		}
		defer p.(io.Closer).Close()
		preds[m.name] = p
	}
	// Both compute the same thing.
	in := kerasInput(b, 64)
	var outs []string
	for _, m := range models {
		out, err := preds[m.name].Predict(context.Background(), in, nil)
		if err != nil {
			b.Fatal(err)
		}
		outs = append(outs, fmt.Sprint(out.Column(0)))
		out.Release()
	}
	in.Release()
	if outs[0] != outs[1] {
		b.Fatalf("converted and hand-written models disagree:\n%s\n%s", outs[0], outs[1])
	}
	for _, rows := range []int{1, 1024} {
		for _, m := range models {
			b.Run(fmt.Sprintf("%s/batch=%d", m.name, rows), func(b *testing.B) {
				in := kerasInput(b, rows)
				defer in.Release()
				p := preds[m.name]
				ctx := context.Background()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					out, err := p.Predict(ctx, in, nil)
					if err != nil {
						b.Fatal(err)
					}
					out.Release()
				}
				b.ReportMetric(float64(b.N*rows)/b.Elapsed().Seconds(), "rows/s")
			})
		}
	}
}
