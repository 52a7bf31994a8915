package savedmodel

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// readShared reads a file of the shared TensorFlow test models.
func readShared(f *testing.F, rel string) []byte {
	f.Helper()
	b, err := os.ReadFile(filepath.Join(modelDir(f, rel)))
	if err != nil {
		f.Fatal(err)
	}
	return b
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

// FuzzIndex feeds index bytes (and the bytes of the one data shard) through
// the table reader, the bundle decoder and tensor reads, string tensors and
// the object graph included: any input gives values or errors, never a
// panic or an allocation beyond a small multiple of the input.
func FuzzIndex(f *testing.F) {
	for _, m := range []string{
		"saved_model_half_plus_two_cpu/00000123", // snappy block
		"saved_model_half_plus_two_tf2_cpu/00000123",
		"tfjs_int64_multiply",
		"rust_regression_savedmodel",
	} {
		f.Add(readShared(f, m+"/variables/variables.index"), readShared(f, m+"/variables/variables.data-00000-of-00001"))
	}
	f.Add([]byte{}, []byte{})
	f.Fuzz(func(t *testing.T, index, data []byte) {
		defer guard(len(index) + len(data))()
		ck, err := ParseIndex(index)
		if err != nil {
			return
		}
		ck.Prefix = "fuzz"
		ck.readData = func(name string, off, size int64) ([]byte, error) {
			if name != ck.ShardFile(0) {
				return nil, fmt.Errorf("%s: no such shard", name)
			}
			if off > int64(len(data)) || size > int64(len(data))-off {
				return nil, fmt.Errorf("%s: past the end", name)
			}
			return data[off : off+size], nil
		}
		for _, k := range ck.Keys() {
			tn, err := ck.Tensor(k)
			if err != nil {
				continue
			}
			if tn.DType == str {
				if int64(len(tn.Strings)) != tn.NumElements() {
					t.Fatalf("%q: %d strings for shape %v", k, len(tn.Strings), tn.Shape)
				}
			} else if int64(len(tn.Data)) != tn.NumElements()*int64(DTypeSize(tn.DType)) {
				t.Fatalf("%q: %d bytes for %v %v", k, len(tn.Data), tn.DType, tn.Shape)
			}
		}
		if og, err := ck.ObjectGraph(); err == nil {
			for id := range og.Nodes {
				_, _ = checkpointKeyOfNode(ck, int32(id))
			}
		}
	})
}

// FuzzSavedModelProto feeds saved_model.pb bytes through Parse and
// everything a caller does next: MetaGraph selection, signatures, the
// function library, captures and variable keys against a real TF2
// checkpoint.
func FuzzSavedModelProto(f *testing.F) {
	for _, m := range []string{
		"tf2onnx_redundant_inputs",
		"tfjs_times_three_float",
		"tfjs_module_with_multiple_signatures",
		"saved_model_half_plus_two_tf2_cpu/00000123",
		"saved_model_half_plus_two_cpu/00000123",
	} {
		f.Add(readShared(f, m+"/saved_model.pb"))
	}
	ck := openVars(f, modelDir(f, "saved_model_half_plus_two_tf2_cpu/00000123"))
	dir := f.TempDir() // has no variables/: an empty variable set
	f.Fuzz(func(t *testing.T, data []byte) {
		defer guard(len(data))()
		s, err := Parse(dir, data)
		if err != nil {
			return
		}
		for _, tags := range s.TagSets() {
			if len(tags) == 0 {
				continue // an untagged MetaGraph cannot be chosen: no tags means "serve"
			}
			mg, err := s.MetaGraph(tags)
			if err != nil {
				t.Fatalf("MetaGraph(%v) of its own tag set: %v", tags, err)
			}
			for _, k := range mg.SignatureKeys() {
				_, _ = mg.Signature(k)
			}
			_, _ = mg.Signature("")
			_ = mg.Functions()
			for name := range mg.Proto.GetObjectGraphDef().GetConcreteFunctions() {
				_, _ = mg.Captures(name, ck)
				_, _ = mg.CapturedVariables(name, emptyCheckpoint())
			}
			for _, n := range mg.Proto.GetGraphDef().GetNode() {
				if isVariableOp(n.GetOp()) {
					_, _ = mg.VariableKey(ck, n.GetName())
					_, _ = mg.ReadVariable(ck, n.GetName())
				}
			}
		}
		if _, err := s.Variables(); err != nil {
			t.Fatalf("a directory without variables/: %v", err)
		}
	})
}

// FuzzBlock feeds one table block (past its checksum, which FuzzIndex's
// mutations rarely get through) to the entry decoder.
func FuzzBlock(f *testing.F) {
	for _, m := range []string{"saved_model_half_plus_two_cpu/00000123", "tfjs_int64_multiply", "rust_keras_single_input"} {
		b := readShared(f, m+"/variables/variables.index")
		body := b[:len(b)-footerLen]
		_, rest, err := decodeHandle(b[len(b)-footerLen:])
		if err != nil {
			f.Fatal(err)
		}
		index, _, err := decodeHandle(rest)
		if err != nil {
			f.Fatal(err)
		}
		ib, err := readBlock(body, index)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(ib)
		entries, err := blockEntries(ib)
		if err != nil {
			f.Fatal(err)
		}
		for _, e := range entries {
			h, _, err := decodeHandle(e.value)
			if err != nil {
				f.Fatal(err)
			}
			// The stored (possibly compressed) block and its trailer.
			f.Add(body[h.offset : h.offset+h.size+blockTrailerLen])
			if db, err := readBlock(body, h); err == nil {
				f.Add(db)
			}
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		defer guard(len(b))()
		entries, err := blockEntries(b)
		if err == nil {
			total := 0
			for _, e := range entries {
				total += len(e.key)
			}
			// Keys share prefixes, so their total may exceed the block, but
			// each key is at most the block plus its shared prefix.
			if len(entries) > len(b) {
				t.Fatalf("%d entries from %d bytes", len(entries), len(b))
			}
		}
		// The same bytes as a stored block: checksum and decompression.
		if len(b) >= blockTrailerLen {
			_, _ = readBlock(b, blockHandle{0, uint64(len(b) - blockTrailerLen)})
		}
	})
}

// FuzzStrings feeds DT_STRING tensor bytes to the string decoder.
func FuzzStrings(f *testing.F) {
	ck := openVars(f, modelDir(f, "saved_model_half_plus_two_tf2_cpu/00000123"))
	e, _ := ck.Entry(ObjectGraphKey)
	data := readShared(f, "saved_model_half_plus_two_tf2_cpu/00000123/variables/variables.data-00000-of-00001")
	f.Add(data[e.Offset:e.Offset+e.Size], int64(1), e.Crc32C)
	f.Add([]byte{0, 0, 0, 0, 0}, int64(1), uint32(0))
	f.Fuzz(func(t *testing.T, raw []byte, n int64, sum uint32) {
		defer guard(len(raw))()
		if n < 0 {
			return
		}
		ss, err := decodeStrings(raw, n, sum)
		if err == nil && int64(len(ss)) != n {
			t.Fatalf("%d strings, want %d", len(ss), n)
		}
	})
}
