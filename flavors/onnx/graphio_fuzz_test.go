package onnx

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/protowire"
)

// graphioSeeds are real model files (the examples' and the test models'),
// a copy of the MLP example with its weights cut short (so the fuzzer can
// afford to mutate its graph), and truncated and bit-flipped variants.
func graphioSeeds(tb testing.TB) [][]byte {
	var seeds [][]byte
	for _, path := range []string{
		filepath.Join("..", "..", "examples", "iris-onnx", "model", "model.onnx"),
		filepath.Join("..", "..", "examples", "mlp-onnx", "model", "model.onnx"),
		filepath.Join("testdata", "models", "seq_mean", "model.onnx"),
		filepath.Join("testdata", "models", "unknown_rank", "model.onnx"),
		filepath.Join("testdata", "models", "external_data", "model.onnx"),
		filepath.Join("testdata", "models", "multi_io", "model.onnx"),
		filepath.Join("testdata", "models", "identity_str", "model.onnx"),
	} {
		b, err := os.ReadFile(path)
		if err != nil {
			tb.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	seeds = append(seeds, cutInitializers(tb, seeds[1]))
	iris := seeds[0]
	for _, n := range []int{1, 2, len(iris) / 3, len(iris) / 2, len(iris) - 5, len(iris) - 1} {
		seeds = append(seeds, iris[:n])
	}
	for _, bit := range []int{3, 8*len(iris)/4 + 1, 8*len(iris)/2 + 6, 8*len(iris) - 2} {
		b := bytes.Clone(iris)
		b[bit/8] ^= 1 << (bit % 8)
		seeds = append(seeds, b)
	}
	seeds = append(seeds,
		[]byte{0x3a, 0xff, 0xff, 0xff, 0xff, 0x0f},                         // graph of 4 GiB
		[]byte{0x3a, 0x06, 0x5a, 0x80, 0x80, 0x80, 0x01, 0x00},             // a 2 MiB input
		[]byte{0x3a, 0x04, 0x5b, 0x0a, 0x01, 0x78},                         // a group
		[]byte{0x3a, 0x02, 0x59, 0x01, 0x39, 0xff},                         // fixed64 past the end
		[]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, // overlong tag
		nil,
	)
	return seeds
}

// cutInitializers rewrites a model with each initializer's raw_data cut to
// 8 bytes: the same graph, a few KB instead of MB.
func cutInitializers(tb testing.TB, model []byte) []byte {
	tb.Helper()
	out := rewrite(tb, model, func(num protowire.Number, v []byte) []byte {
		if num != 7 { // ModelProto.graph
			return v
		}
		return rewrite(tb, v, func(num protowire.Number, v []byte) []byte {
			if num != 5 { // GraphProto.initializer
				return v
			}
			return rewrite(tb, v, func(num protowire.Number, v []byte) []byte {
				if num == 9 && len(v) > 8 { // TensorProto.raw_data
					return v[:8]
				}
				return v
			})
		})
	})
	if len(out) > 64<<10 {
		tb.Fatalf("the cut model has %d bytes", len(out))
	}
	return out
}

// rewrite copies msg's fields, passing each length-delimited payload
// through fn.
func rewrite(tb testing.TB, msg []byte, fn func(protowire.Number, []byte) []byte) []byte {
	var out []byte
	for len(msg) > 0 {
		num, typ, n := protowire.ConsumeTag(msg)
		if n < 0 {
			tb.Fatal("malformed seed model")
		}
		m := protowire.ConsumeFieldValue(num, typ, msg[n:])
		if m < 0 {
			tb.Fatal("malformed seed model")
		}
		if typ == protowire.BytesType {
			v, _ := protowire.ConsumeBytes(msg[n:])
			out = protowire.AppendTag(out, num, typ)
			out = protowire.AppendBytes(out, fn(num, v))
		} else {
			out = append(out, msg[:n+m]...)
		}
		msg = msg[n+m:]
	}
	return out
}

// chunkedReader returns at most n bytes per Read, so that the bufio.Reader
// in front of it holds little and skips seek.
type chunkedReader struct {
	*bytes.Reader
	n int
}

func (r chunkedReader) Read(p []byte) (int, error) {
	return r.Reader.Read(p[:min(len(p), r.n)])
}

// FuzzDeclaredShapes parses arbitrary model files. Parsing must not panic
// or allocate by a length the file does not back; it must give the same
// answer whether skipped fields are discarded from the buffer or seeked
// over; and what it returns must be what a plain in-memory protobuf decode
// of the whole file finds.
func FuzzDeclaredShapes(f *testing.F) {
	for _, s := range graphioSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, model []byte) {
		got, err := parseDeclaredShapes(bytes.NewReader(model), int64(len(model)))
		chunked, cerr := parseDeclaredShapes(chunkedReader{bytes.NewReader(model), 1 + len(model)%13}, int64(len(model)))
		if (err == nil) != (cerr == nil) {
			t.Fatalf("buffered: %v; seeking: %v", err, cerr)
		}
		if err != nil {
			if got != nil {
				t.Errorf("both %v and the error %v", got, err)
			}
			if err.Error() == "" {
				t.Fatal("an error without a message")
			}
			return
		}
		opt := cmp.AllowUnexported(declaredShape{})
		if diff := cmp.Diff(got, chunked, opt); diff != "" {
			t.Fatalf("buffered and seeking reads differ (-buffered +seeking):\n%s", diff)
		}
		if diff := cmp.Diff(inMemoryShapes(model), got, opt); diff != "" {
			t.Fatalf("differs from an in-memory decode (-memory +streamed):\n%s", diff)
		}
		for name, d := range got {
			if name == "" {
				t.Error("an entry without a name")
			}
			if !d.hasShape && len(d.params) > 0 {
				t.Errorf("%q: dimensions %q without a shape", name, d.params)
			}
		}
	})
}

// inMemoryShapes is readDeclaredShapes for a model held in memory.
func inMemoryShapes(model []byte) declaredShapes {
	out := declaredShapes{}
	for _, m := range fields(model) {
		if m.num != 7 || m.v == nil {
			continue
		}
		for _, g := range fields(m.v) {
			if (g.num != 11 && g.num != 12) || g.v == nil {
				continue
			}
			if name, decl := valueInfoShape(g.v); name != "" {
				out[name] = decl
			}
		}
	}
	return out
}

// A model whose graph is past the reader's buffer is read by seeking, and
// reads the same.
func TestDeclaredShapesSeeking(t *testing.T) {
	model, err := os.ReadFile(filepath.Join("..", "..", "examples", "mlp-onnx", "model", "model.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := parseDeclaredShapes(bytes.NewReader(model), int64(len(model)))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) == 0 {
		t.Fatal("no inputs or outputs")
	}
	if diff := cmp.Diff(inMemoryShapes(model), got, cmp.AllowUnexported(declaredShape{})); diff != "" {
		t.Errorf("(-memory +streamed):\n%s", diff)
	}
}
