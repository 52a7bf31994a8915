package scoring

import (
	"math"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mlship/mlship/columnar"
)

type col struct {
	name    string
	shape   []int64
	values  arrow.Array
	batched bool
}

func batchOf(t *testing.T, meta map[string]string, cols ...col) columnar.Batch {
	t.Helper()
	var fields []arrow.Field
	var arrs []arrow.Array
	rows := int64(-1)
	for _, c := range cols {
		f, a, err := columnar.NewTensorColumn(c.name, c.shape, c.values, c.batched)
		if err != nil {
			t.Fatal(err)
		}
		fields, arrs = append(fields, f), append(arrs, a)
		rows = int64(a.Len())
	}
	var md *arrow.Metadata
	if meta != nil {
		m := arrow.MetadataFrom(meta)
		md = &m
	}
	return array.NewRecordBatch(arrow.NewSchema(fields, md), arrs, rows)
}

func f32(v ...float32) arrow.Array {
	b := array.NewFloat32Builder(memory.DefaultAllocator)
	b.AppendValues(v, nil)
	return b.NewArray()
}

func i64(v ...int64) arrow.Array {
	b := array.NewInt64Builder(memory.DefaultAllocator)
	b.AppendValues(v, nil)
	return b.NewArray()
}

func TestEncodePredictions(t *testing.T) {
	probs := func() arrow.Array { return f32(0.1, 0.9, 0.25, 0.75) }
	tests := []struct {
		name  string
		batch func() columnar.Batch
		form  Form
		want  string
	}{
		// MLflow's ONNX wrapper returns a dict of arrays for tensor input;
		// float32 prints as Python prints the float64 it converts to.
		{"tensor form dict", func() columnar.Batch {
			return batchOf(t, nil, col{"probabilities", []int64{2, 2}, probs(), true}, col{"label", []int64{2}, i64(1, 1), true})
		}, FormTensor, `{"predictions": {"probabilities": [[0.10000000149011612, 0.8999999761581421], [0.25, 0.75]], "label": [1, 1]}}`},
		// DataFrame input: each output reshaped to 1-D, one record per element.
		{"dataframe form flat", func() columnar.Batch {
			return batchOf(t, nil, col{"label", []int64{2}, i64(0, 2), true}, col{"score", []int64{2, 1}, f32(0.5, 1), true})
		}, FormDataFrame, `{"predictions": [{"label": 0, "score": 0.5}, {"label": 2, "score": 1.0}]}`},
		{"dataframe form single 2-d output flattens", func() columnar.Batch {
			return batchOf(t, nil, col{"probabilities", []int64{2, 2}, probs(), true})
		}, FormDataFrame, `{"predictions": [{"probabilities": 0.10000000149011612}, {"probabilities": 0.8999999761581421}, {"probabilities": 0.25}, {"probabilities": 0.75}]}`},
		// Where MLflow fails (outputs of different flattened lengths) mlship
		// answers one record per row.
		{"dataframe form rows", func() columnar.Batch {
			return batchOf(t, nil, col{"probabilities", []int64{2, 2}, probs(), true}, col{"label", []int64{2}, i64(1, 1), true})
		}, FormDataFrame, `{"predictions": [{"probabilities": [0.10000000149011612, 0.8999999761581421], "label": 1}, {"probabilities": [0.25, 0.75], "label": 1}]}`},
		{"unbatched outputs", func() columnar.Batch {
			return batchOf(t, nil, col{"a", []int64{3}, i64(1, 2, 3), false}, col{"s", []int64{}, f32(2), false})
		}, FormTensor, `{"predictions": {"a": [1, 2, 3], "s": 2.0}}`},
		{"list kind", func() columnar.Batch {
			return batchOf(t, map[string]string{MetaOutput: "list"}, col{"0", []int64{3}, i64(0, 1, 2), true})
		}, FormDataFrame, `{"predictions": [0, 1, 2]}`},
		{"special floats", func() columnar.Batch {
			return batchOf(t, nil, col{"x", []int64{3}, f32(float32(math.NaN()), float32(math.Inf(1)), 1e-5), true})
		}, FormTensor, `{"predictions": {"x": [NaN, Infinity, 9.999999747378752e-06]}}`},
		{"empty", func() columnar.Batch {
			return batchOf(t, nil, col{"x", []int64{0}, i64(), true})
		}, FormDataFrame, `{"predictions": []}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.batch()
			defer b.Release()
			got, err := EncodePredictions(nil, b, tt.form)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestEncodeCells(t *testing.T) {
	mem := memory.DefaultAllocator
	// A ZipMap-style column: int64 keys become JSON strings, as json.dumps
	// writes dict keys.
	mb := array.NewMapBuilder(mem, arrow.PrimitiveTypes.Int64, arrow.PrimitiveTypes.Float32, false)
	kb, ib := mb.KeyBuilder().(*array.Int64Builder), mb.ItemBuilder().(*array.Float32Builder)
	mb.Append(true)
	kb.AppendValues([]int64{0, 1}, nil)
	ib.AppendValues([]float32{0.5, 0.5}, nil)
	maps := mb.NewArray()
	sb := array.NewStringBuilder(mem)
	sb.AppendValues([]string{"é\"x"}, nil)
	sb.AppendNull()
	strs := sb.NewArray()
	bb := array.NewBinaryBuilder(mem, arrow.BinaryTypes.Binary)
	bb.Append([]byte("hi"))
	bb.Append([]byte{})
	bins := bb.NewArray()
	fb := array.NewFloat64Builder(mem)
	fb.AppendValues([]float64{1, 0}, []bool{true, false})
	nulls := fb.NewArray()
	tb := array.NewTimestampBuilder(mem, &arrow.TimestampType{Unit: arrow.Nanosecond})
	tb.Append(1704164645000000000)
	tb.Append(0)
	ts := tb.NewArray()
	bo := array.NewBooleanBuilder(mem)
	bo.AppendValues([]bool{true, false}, nil)
	bools := bo.NewArray()
	fields := []arrow.Field{
		{Name: "m", Type: maps.DataType()}, {Name: "s", Type: strs.DataType()}, {Name: "b", Type: bins.DataType()},
		{Name: "f", Type: nulls.DataType()}, {Name: "t", Type: ts.DataType()}, {Name: "ok", Type: bools.DataType()},
	}
	maps2 := array.NewSlice(maps, 0, 1)
	mb.Append(true)
	batch := array.NewRecordBatch(arrow.NewSchema(fields[:1], nil), []arrow.Array{maps2}, 1)
	got, err := EncodePredictions(nil, batch, FormDataFrame)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"predictions": [{"m": {"0": 0.5, "1": 0.5}}]}`; string(got) != want {
		t.Errorf("map: got %s want %s", got, want)
	}
	batch2 := array.NewRecordBatch(arrow.NewSchema(fields[1:], nil), []arrow.Array{strs, bins, nulls, ts, bools}, 2)
	got, err = EncodePredictions(nil, batch2, FormDataFrame)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"predictions": [{"s": "\u00e9\"x", "b": "aGk=\n", "f": 1.0, "t": "2024-01-02T03:04:05", "ok": true}, {"s": null, "b": "", "f": NaN, "t": "1970-01-01T00:00:00", "ok": false}]}`
	if string(got) != want {
		t.Errorf("cells:\n got %s\nwant %s", got, want)
	}
	if !strings.Contains(string(got), "NaN") {
		t.Error("missing float must be NaN as pandas would print it")
	}
}
