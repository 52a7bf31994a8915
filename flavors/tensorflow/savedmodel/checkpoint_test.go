package savedmodel

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/mlship/mlship/internal/testenv"
	"github.com/mlship/mlship/internal/tfpb"
)

func openVars(t testing.TB, dir string) *Checkpoint {
	t.Helper()
	s, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	ck, err := s.Variables()
	if err != nil {
		t.Fatal(err)
	}
	return ck
}

func le32(v uint32) []byte   { return binary.LittleEndian.AppendUint32(nil, v) }
func lef32(v float32) []byte { return le32(math.Float32bits(v)) }
func le64(v int64) []byte    { return binary.LittleEndian.AppendUint64(nil, uint64(v)) }

func TestVariableValues(t *testing.T) {
	const vv = "/.ATTRIBUTES/VARIABLE_VALUE"
	tests := []struct {
		dir, key string
		dtype    tfpb.DataType
		shape    []int64
		data     []byte
	}{
		// half_plus_two's index data block is Snappy-compressed.
		{"saved_model_half_plus_two_cpu/00000123", "a", f32, []int64{}, lef32(0.5)},
		{"saved_model_half_plus_two_cpu/00000123", "b", f32, []int64{}, lef32(2)},
		{"saved_model_half_plus_two_cpu/00000123", "c", f32, []int64{}, lef32(3)},
		{"saved_model_half_plus_two_tf2_cpu/00000123", "a" + vv, f32, []int64{}, lef32(0.5)},
		{"saved_model_half_plus_two_tf2_cpu/00000123", "c" + vv, f32, []int64{}, lef32(3)},
		{"saved_model_half_plus_three/00000123", "c", f32, []int64{}, lef32(3)},
		{"tfjs_times_three_float", "v" + vv, f32, []int64{}, lef32(3)},
		{"tfjs_times_two_int", "v" + vv, i32, []int64{}, le32(2)},
		{"tfjs_uint8_multiply", "v1" + vv, i32, []int64{}, le32(3)},
		{"tfjs_uint8_multiply", "v2" + vv, i32, []int64{}, le32(2)},
		{"tfjs_int64_multiply", "v1" + vv, i64, []int64{}, le64(3)},
		{"tfjs_int64_multiply", "v2" + vv, i64, []int64{}, le64(2)},
		{"java_tf_function_multi_sig", "variable" + vv, f32, []int64{}, lef32(2)},
	}
	for _, tt := range tests {
		t.Run(tt.dir+"/"+tt.key, func(t *testing.T) {
			ck := openVars(t, modelDir(t, tt.dir))
			tn, err := ck.Tensor(tt.key)
			if err != nil {
				t.Fatal(err)
			}
			if tn.DType != tt.dtype || !slices.Equal(tn.Shape, tt.shape) || !bytes.Equal(tn.Data, tt.data) {
				t.Errorf("got %v %v % x, want %v %v % x", tn.DType, tn.Shape, tn.Data, tt.dtype, tt.shape, tt.data)
			}
		})
	}
	// A shape is kept as stored, and Float32s decodes the bytes.
	ck := openVars(t, modelDir(t, "tf2onnx_regression"))
	w, err := ck.Tensor("W")
	if err != nil {
		t.Fatal(err)
	}
	if v, err := w.Float32s(); err != nil || len(v) != 1 || math.Abs(float64(v[0])-0.21396) > 1e-4 {
		t.Errorf("W = %v, %v; want ≈0.21396", v, err)
	}
	if _, err := ck.Tensor("nope"); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("missing key: %v", err)
	}
}

// The MNIST MLP's weights equal the golden .npy files that upstream saved
// from the same model, byte for byte.
func TestGoldenWeights(t *testing.T) {
	dir := modelDir(t, "tfnet_simple_model_from_auto_compile")
	ck := openVars(t, dir)
	tests := []struct{ npy, key string }{
		{"bias0.npy", "layer_with_weights-0/bias/.ATTRIBUTES/VARIABLE_VALUE"},
		{"kernel1.npy", "layer_with_weights-1/kernel/.ATTRIBUTES/VARIABLE_VALUE"},
	}
	for _, tt := range tests {
		shape, data := readNPY(t, filepath.Join(dir, tt.npy))
		tn, err := ck.Tensor(tt.key)
		if err != nil {
			t.Fatal(err)
		}
		if tn.DType != f32 || !slices.Equal(tn.Shape, shape) {
			t.Errorf("%s: %v %v, golden float32 %v", tt.key, tn.DType, tn.Shape, shape)
		}
		if !bytes.Equal(tn.Data, data) {
			t.Errorf("%s: %d bytes differ from %s (%d bytes)", tt.key, len(tn.Data), tt.npy, len(data))
		}
	}
	// The other two, which have no golden file, have the Keras shapes.
	for key, shape := range map[string][]int64{
		"layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE": {784, 100},
		"layer_with_weights-1/bias/.ATTRIBUTES/VARIABLE_VALUE":   {10},
	} {
		if tn, err := ck.Tensor(key); err != nil || !slices.Equal(tn.Shape, shape) {
			t.Errorf("%s: %v (err %v), want shape %v", key, tn, err, shape)
		}
	}
}

// readNPY reads a little-endian float32, C-order .npy file (format 1.0–3.0)
// and returns its shape and raw data.
func readNPY(t *testing.T, name string) ([]int64, []byte) {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 10 || string(b[:6]) != "\x93NUMPY" {
		t.Fatalf("%s: not a .npy file", name)
	}
	var hlen, start int
	switch b[6] {
	case 1:
		hlen, start = int(binary.LittleEndian.Uint16(b[8:])), 10
	case 2, 3:
		hlen, start = int(binary.LittleEndian.Uint32(b[8:])), 12
	default:
		t.Fatalf("%s: .npy version %d", name, b[6])
	}
	header := string(b[start : start+hlen])
	if !strings.Contains(header, "'descr': '<f4'") || !strings.Contains(header, "'fortran_order': False") {
		t.Fatalf("%s: want little-endian float32 in C order, header %s", name, header)
	}
	m := regexp.MustCompile(`'shape': \(([^)]*)\)`).FindStringSubmatch(header)
	if m == nil {
		t.Fatalf("%s: no shape in %s", name, header)
	}
	var shape []int64
	n := int64(1)
	for _, f := range strings.Split(m[1], ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		d, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			t.Fatalf("%s: shape %s", name, m[1])
		}
		shape = append(shape, d)
		n *= d
	}
	data := b[start+hlen:]
	if int64(len(data)) != 4*n {
		t.Fatalf("%s: %d data bytes for shape %v", name, len(data), shape)
	}
	return shape, data
}

// A SavedModel without variables/ has an empty, valid variable set; one
// with data shards but no index is damaged.
func TestNoVariables(t *testing.T) {
	ck := openVars(t, modelDir(t, "tf2onnx_redundant_inputs"))
	if len(ck.Keys()) != 0 {
		t.Errorf("keys %v", ck.Keys())
	}
	if _, err := ck.Tensor("x"); err == nil {
		t.Error("Tensor on an empty set succeeded")
	}
	dir := testenv.CopyDir(t, modelDir(t, "tfjs_times_two_int"))
	if err := os.Remove(filepath.Join(dir, "variables", "variables.index")); err != nil {
		t.Fatal(err)
	}
	s, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Variables(); err == nil || !strings.Contains(err.Error(), "variables.index is missing") {
		t.Errorf("data without index: %v", err)
	}
}

// String tensors: the TF2 object graph is one, and its checksum covers
// the lengths and the bytes.
func TestObjectGraph(t *testing.T) {
	ck := openVars(t, modelDir(t, "saved_model_half_plus_two_tf2_cpu/00000123"))
	tn, err := ck.Tensor(ObjectGraphKey)
	if err != nil {
		t.Fatal(err)
	}
	if tn.DType != str || len(tn.Shape) != 0 || len(tn.Strings) != 1 || len(tn.Strings[0]) < 50 {
		t.Fatalf("object graph tensor %v %v %d strings", tn.DType, tn.Shape, len(tn.Strings))
	}
	og, err := ck.ObjectGraph()
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, n := range og.Nodes {
		for _, a := range n.Attributes {
			keys = append(keys, a.CheckpointKey)
		}
	}
	want := []string{"a/.ATTRIBUTES/VARIABLE_VALUE", "b/.ATTRIBUTES/VARIABLE_VALUE", "c/.ATTRIBUTES/VARIABLE_VALUE"}
	if !slices.Equal(keys, want) {
		t.Errorf("object graph keys %v, want %v", keys, want)
	}
	// TF1 checkpoints have none.
	tf1 := openVars(t, modelDir(t, "saved_model_half_plus_two_cpu/00000123"))
	if _, err := tf1.ObjectGraph(); err == nil || !strings.Contains(err.Error(), ObjectGraphKey) {
		t.Errorf("TF1 ObjectGraph: %v", err)
	}
}

func TestDecodeStrings(t *testing.T) {
	enc := func(ss ...string) ([]byte, uint32) {
		var b []byte
		crc := uint32(0)
		for _, s := range ss {
			b = binary.AppendUvarint(b, uint64(len(s)))
			crc = crcUpdate(crc, le32(uint32(len(s))))
		}
		lc := le32(maskCRC(crc))
		b = append(b, lc...)
		crc = crcUpdate(crc, lc)
		for _, s := range ss {
			b = append(b, s...)
			crc = crcUpdate(crc, []byte(s))
		}
		return b, maskCRC(crc)
	}
	raw, sum := enc("", "ab", strings.Repeat("x", 300))
	got, err := decodeStrings(raw, 3, sum)
	if err != nil || len(got) != 3 || string(got[1]) != "ab" || len(got[2]) != 300 {
		t.Fatalf("decode: %q, %v", got, err)
	}
	for i := range raw {
		bad := slices.Clone(raw)
		bad[i] ^= 0x40
		if _, err := decodeStrings(bad, 3, sum); err == nil {
			t.Errorf("byte %d flipped: no error", i)
		}
	}
	if _, err := decodeStrings(raw, 4, sum); err == nil {
		t.Error("wrong element count: no error")
	}
	if _, err := decodeStrings(raw[:len(raw)-1], 3, sum); err == nil {
		t.Error("truncated: no error")
	}
}

func crcUpdate(crc uint32, p []byte) uint32 { return crc32.Update(crc, castagnoli, p) }

// flip xors one byte of a file.
func flip(t *testing.T, name string, off int) {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if off < 0 {
		off += len(b)
	}
	b[off] ^= 0x5a
	if err := os.WriteFile(name, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func truncate(t *testing.T, name string, size int64) {
	t.Helper()
	if err := os.Truncate(name, size); err != nil {
		t.Fatal(err)
	}
}

// Corrupt and truncated checkpoint files give errors that name the file.
func TestCorruption(t *testing.T) {
	const hp2 = "saved_model_half_plus_two_cpu/00000123"
	const tf2 = "saved_model_half_plus_two_tf2_cpu/00000123"
	index := filepath.Join("variables", "variables.index")
	data := filepath.Join("variables", "variables.data-00000-of-00001")
	tests := []struct {
		name   string
		model  string
		damage func(t *testing.T, dir string)
		// key is read after opening; "" means opening must fail.
		key, file, msg string
	}{
		{"data byte flipped", hp2, func(t *testing.T, d string) { flip(t, filepath.Join(d, data), 9) }, "b", data, "checksum mismatch"},
		{"data truncated", hp2, func(t *testing.T, d string) { truncate(t, filepath.Join(d, data), 10) }, "c", data, "truncated"},
		{"data missing", hp2, func(t *testing.T, d string) { os.Remove(filepath.Join(d, data)) }, "a", data, "no such file"},
		{"string data flipped", tf2, func(t *testing.T, d string) { flip(t, filepath.Join(d, data), 30) }, ObjectGraphKey, data, "checksum mismatch"},
		{"snappy block flipped", hp2, func(t *testing.T, d string) { flip(t, filepath.Join(d, index), 3) }, "", index, "checksum mismatch"},
		{"block trailer flipped", tf2, func(t *testing.T, d string) { flip(t, filepath.Join(d, index), -footerLen-1) }, "", index, "checksum mismatch"},
		{"magic flipped", hp2, func(t *testing.T, d string) { flip(t, filepath.Join(d, index), -1) }, "", index, "magic"},
		{"index truncated by one", hp2, func(t *testing.T, d string) {
			st, _ := os.Stat(filepath.Join(d, index))
			truncate(t, filepath.Join(d, index), st.Size()-1)
		}, "", index, "magic"},
		{"index truncated to 20 bytes", tf2, func(t *testing.T, d string) { truncate(t, filepath.Join(d, index), 20) }, "", index, "shorter than a table footer"},
		{"index empty", tf2, func(t *testing.T, d string) { truncate(t, filepath.Join(d, index), 0) }, "", index, "shorter than a table footer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := testenv.CopyDir(t, modelDir(t, tt.model))
			tt.damage(t, dir)
			s, err := Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			ck, err := s.Variables()
			if tt.key != "" {
				if err != nil {
					t.Fatalf("Variables: %v", err)
				}
				_, err = ck.Tensor(tt.key)
			}
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), filepath.Join(dir, tt.file)) || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q, want it to name %s and say %q", err, tt.file, tt.msg)
			}
		})
	}
}

// Flipping any byte of an index is detected, except in the footer's
// padding, which no checksum covers and nothing reads, and except flips
// that leave the footer's block handles meaning the same.
func TestIndexEveryByte(t *testing.T) {
	for _, m := range []string{"saved_model_half_plus_two_cpu/00000123", "tfjs_int64_multiply"} {
		orig, err := os.ReadFile(filepath.Join(modelDir(t, m), "variables", "variables.index"))
		if err != nil {
			t.Fatal(err)
		}
		want, err := ParseIndex(orig)
		if err != nil {
			t.Fatal(err)
		}
		// The handles' varints end where the padding starts.
		_, rest, _ := decodeHandle(orig[len(orig)-footerLen:])
		_, rest, _ = decodeHandle(rest)
		padStart := len(orig) - len(rest)
		padEnd := len(orig) - 8
		missed := 0
		for i := range orig {
			for _, x := range []byte{0x01, 0x80, 0xff} {
				b := slices.Clone(orig)
				b[i] ^= x
				ck, err := ParseIndex(b)
				if err != nil {
					continue
				}
				if i >= padStart && i < padEnd {
					continue // footer padding
				}
				if i >= len(orig)-footerLen && sameHandles(orig, b) {
					continue // a non-minimal varint of the same handle (0x1b -> 0x9b 0x00)
				}
				if !slices.Equal(ck.Keys(), want.Keys()) {
					t.Errorf("%s: byte %d ^ %#x: keys changed silently: %v", m, i, x, ck.Keys())
				}
				missed++
				t.Errorf("%s: byte %d ^ %#x (of %d) not detected", m, i, x, len(orig))
			}
		}
		if missed > 0 {
			t.Logf("%s: %d undetected flips", m, missed)
		}
	}
}

func sameHandles(a, b []byte) bool {
	ha := func(p []byte) [2]blockHandle {
		m, rest, _ := decodeHandle(p[len(p)-footerLen:])
		i, _, _ := decodeHandle(rest)
		return [2]blockHandle{m, i}
	}
	return ha(a) == ha(b)
}

// Flipping any byte of a data shard fails exactly the tensors stored there.
func TestDataEveryByte(t *testing.T) {
	dir := testenv.CopyDir(t, modelDir(t, "tfjs_uint8_multiply"))
	ck := openVars(t, dir)
	name := ck.ShardFile(0)
	orig, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	for i := range orig {
		b := slices.Clone(orig)
		b[i] ^= 0x10
		if err := os.WriteFile(name, b, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, k := range ck.Keys() {
			e, _ := ck.Entry(k)
			_, err := ck.Tensor(k)
			inside := int64(i) >= e.Offset && int64(i) < e.Offset+e.Size
			if inside != (err != nil) {
				t.Errorf("byte %d flipped, tensor %q at [%d,+%d): error %v", i, k, e.Offset, e.Size, err)
			}
		}
	}
}

// A block whose entries each repeat the whole previous key plus one byte
// would expand quadratically; it is refused instead.
func TestBlockKeyExpansion(t *testing.T) {
	var b []byte
	const n = 200000
	b = append(b, 0, 1, 0, 'k') // first key "k"
	for i := 1; i < n; i++ {
		b = binary.AppendUvarint(b, uint64(i)) // share all of the previous key
		b = append(b, 1, 0, 'k')
	}
	b = append(b, le32(0)...)
	b = append(b, le32(1)...)
	if _, err := blockEntries(b); err == nil || !strings.Contains(err.Error(), "expand") {
		t.Fatalf("quadratic block: %v", err)
	}
	// The real indexes stay far below the bound.
	for _, m := range []string{"tfnet_lstm_from_sequential", "rust_keras_multiple_inputs"} {
		openVars(t, modelDir(t, m))
	}
}
