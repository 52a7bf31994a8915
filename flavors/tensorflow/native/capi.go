//go:build cgo

package native

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

// The TensorFlow C API (tensorflow/c/c_api.h, tf_tstring.h), declared here
// with opaque types and resolved with dlsym, so that nothing links against
// libtensorflow at build time.
typedef struct { void* oper; int index; } ml_TF_Output;
typedef struct { uint64_t w[3]; } ml_TF_TString; // sizeof(TF_TString) == 24

static void* ml_lib;
static void* (*p_TF_NewStatus)(void);
static void (*p_TF_DeleteStatus)(void*);
static int (*p_TF_GetCode)(const void*);
static const char* (*p_TF_Message)(const void*);
static void* (*p_TF_NewGraph)(void);
static void (*p_TF_DeleteGraph)(void*);
static void* (*p_TF_NewSessionOptions)(void);
static void (*p_TF_DeleteSessionOptions)(void*);
static void* (*p_TF_LoadSessionFromSavedModel)(const void*, const void*, const char*, const char* const*, int, void*, void*, void*);
static void (*p_TF_CloseSession)(void*, void*);
static void (*p_TF_DeleteSession)(void*, void*);
static void* (*p_TF_GraphOperationByName)(void*, const char*);
static void (*p_TF_SessionRun)(void*, const void*, const ml_TF_Output*, void* const*, int, const ml_TF_Output*, void**, int, const void* const*, int, void*, void*);
static void* (*p_TF_AllocateTensor)(int, const int64_t*, int, size_t);
static void* (*p_TF_NewTensor)(int, const int64_t*, int, void*, size_t, void (*)(void*, size_t, void*), void*);
static void (*p_TF_DeleteTensor)(void*);
static int (*p_TF_TensorType)(const void*);
static int (*p_TF_NumDims)(const void*);
static int64_t (*p_TF_Dim)(const void*, int);
static size_t (*p_TF_TensorByteSize)(const void*);
static void* (*p_TF_TensorData)(const void*);
static void (*p_TF_StringInit)(ml_TF_TString*);
static void (*p_TF_StringCopy)(ml_TF_TString*, const char*, size_t);
static const char* (*p_TF_StringGetDataPointer)(const ml_TF_TString*);
static size_t (*p_TF_StringGetSize)(const ml_TF_TString*);

static char ml_err[512];

// ml_open loads the library once; it returns NULL or an error message.
static const char* ml_open(const char* path) {
	if (ml_lib) return NULL;
	void* h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		const char* e = dlerror();
		strncpy(ml_err, e ? e : "dlopen failed", sizeof(ml_err) - 1);
		return ml_err;
	}
#define SYM(n) *(void**)(&p_##n) = dlsym(h, #n); if (!p_##n) { snprintf(ml_err, sizeof(ml_err), "%s is not the TensorFlow C library: symbol %s is missing", path, #n); dlclose(h); return ml_err; }
	SYM(TF_NewStatus) SYM(TF_DeleteStatus) SYM(TF_GetCode) SYM(TF_Message)
	SYM(TF_NewGraph) SYM(TF_DeleteGraph) SYM(TF_NewSessionOptions) SYM(TF_DeleteSessionOptions)
	SYM(TF_LoadSessionFromSavedModel) SYM(TF_CloseSession) SYM(TF_DeleteSession)
	SYM(TF_GraphOperationByName) SYM(TF_SessionRun)
	SYM(TF_AllocateTensor) SYM(TF_NewTensor) SYM(TF_DeleteTensor) SYM(TF_TensorType)
	SYM(TF_NumDims) SYM(TF_Dim) SYM(TF_TensorByteSize) SYM(TF_TensorData)
	SYM(TF_StringInit) SYM(TF_StringCopy) SYM(TF_StringGetDataPointer) SYM(TF_StringGetSize)
#undef SYM
	ml_lib = h;
	return NULL;
}

static void ml_noop_dealloc(void* data, size_t len, void* arg) {}

static void* ml_new_status(void) { return p_TF_NewStatus(); }
static void ml_delete_status(void* s) { p_TF_DeleteStatus(s); }
static int ml_code(void* s) { return p_TF_GetCode(s); }
static const char* ml_message(void* s) { return p_TF_Message(s); }
static void* ml_new_graph(void) { return p_TF_NewGraph(); }
static void ml_delete_graph(void* g) { p_TF_DeleteGraph(g); }

static void* ml_load(const char* dir, const char* const* tags, int ntags, void* graph, void* status) {
	void* opts = p_TF_NewSessionOptions();
	void* s = p_TF_LoadSessionFromSavedModel(opts, NULL, dir, tags, ntags, graph, NULL, status);
	p_TF_DeleteSessionOptions(opts);
	return s;
}
static void ml_close(void* sess, void* status) { p_TF_CloseSession(sess, status); p_TF_DeleteSession(sess, status); }
static void* ml_op(void* graph, const char* name) { return p_TF_GraphOperationByName(graph, name); }
static void ml_run(void* sess, const ml_TF_Output* ins, void* const* vals, int nin, const ml_TF_Output* outs, void** outvals, int nout, void* status) {
	p_TF_SessionRun(sess, NULL, ins, vals, nin, outs, outvals, nout, NULL, 0, NULL, status);
}
// ml_wrap makes a tensor over memory the caller keeps alive (pinned) until
// the tensor is deleted.
static void* ml_wrap(int dt, const int64_t* dims, int nd, void* data, size_t len) {
	return p_TF_NewTensor(dt, dims, nd, data, len, ml_noop_dealloc, NULL);
}
static void* ml_alloc(int dt, const int64_t* dims, int nd, size_t len) { return p_TF_AllocateTensor(dt, dims, nd, len); }
static void ml_delete_tensor(void* t) { if (t) p_TF_DeleteTensor(t); }
static int ml_type(void* t) { return p_TF_TensorType(t); }
static int ml_ndims(void* t) { return p_TF_NumDims(t); }
static int64_t ml_dim(void* t, int i) { return p_TF_Dim(t, i); }
static size_t ml_bytes(void* t) { return p_TF_TensorByteSize(t); }
static void* ml_data(void* t) { return p_TF_TensorData(t); }
static void ml_set_string(void* t, size_t i, const char* s, size_t n) {
	ml_TF_TString* ts = (ml_TF_TString*)p_TF_TensorData(t) + i;
	p_TF_StringInit(ts);
	p_TF_StringCopy(ts, s, n);
}
static const char* ml_string(void* t, size_t i, size_t* n) {
	const ml_TF_TString* ts = (const ml_TF_TString*)p_TF_TensorData(t) + i;
	*n = p_TF_StringGetSize(ts);
	return p_TF_StringGetDataPointer(ts);
}
*/
import "C"

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mlship/mlship/columnar"
	"github.com/mlship/mlship/flavors"
	"github.com/mlship/mlship/internal/tfpb"
)

var openMu sync.Mutex

// open loads the TensorFlow C library at path (once per process: a
// second path is refused rather than mixing two TensorFlows).
func open(path string) error {
	openMu.Lock()
	defer openMu.Unlock()
	if loadedLib != "" && loadedLib != path {
		return fmt.Errorf("the TensorFlow C library %s is loaded already; cannot also load %s", loadedLib, path)
	}
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	if msg := C.ml_open(cpath); msg != nil {
		return fmt.Errorf("loading the TensorFlow C library: %s", C.GoString(msg))
	}
	loadedLib = path
	return nil
}

var loadedLib string

// status wraps a TF_Status.
type status struct{ p unsafe.Pointer }

func newStatus() status { return status{C.ml_new_status()} }
func (s status) free()  { C.ml_delete_status(s.p) }
func (s status) err(what string) error {
	if C.ml_code(s.p) == 0 {
		return nil
	}
	return fmt.Errorf("%s: TensorFlow: %s", what, C.GoString(C.ml_message(s.p)))
}

// session is a SavedModel loaded by TensorFlow, running one signature.
// TF_SessionRun may be called concurrently; the RWMutex orders runs
// against Close.
type session struct {
	mu      sync.RWMutex
	closed  bool
	graph   unsafe.Pointer
	sess    unsafe.Pointer
	sig     Signature
	inputs  []C.ml_TF_Output
	outputs []C.ml_TF_Output
}

var _ flavors.Predictor = (*session)(nil)

// Load opens the SavedModel in dir with the TensorFlow C library at lib
// and prepares the signature's inputs and outputs.
func Load(ctx context.Context, lib, dir string, tags []string, sig Signature, log *slog.Logger) (flavors.Predictor, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := open(lib); err != nil {
		return nil, err
	}
	st := newStatus()
	defer st.free()
	cdir := C.CString(dir)
	defer C.free(unsafe.Pointer(cdir))
	ctags := make([]*C.char, len(tags))
	for i, t := range tags {
		ctags[i] = C.CString(t)
		defer C.free(unsafe.Pointer(ctags[i]))
	}
	var tagsPtr **C.char
	if len(ctags) > 0 {
		tagsPtr = (**C.char)(C.malloc(C.size_t(len(ctags)) * C.size_t(unsafe.Sizeof(ctags[0]))))
		defer C.free(unsafe.Pointer(tagsPtr))
		copy(unsafe.Slice(tagsPtr, len(ctags)), ctags)
	}
	s := &session{graph: C.ml_new_graph(), sig: sig}
	s.sess = C.ml_load(cdir, tagsPtr, C.int(len(tags)), s.graph, st.p)
	if err := st.err("loading SavedModel " + dir); err != nil {
		C.ml_delete_graph(s.graph)
		return nil, err
	}
	var err error
	if s.inputs, err = s.resolve(sig.Inputs); err == nil {
		s.outputs, err = s.resolve(sig.Outputs)
	}
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("signature %q: %w", sig.Key, err)
	}
	log.Info("tensorflow: SavedModel loaded on the TensorFlow C library", "dir", dir, "library", lib, "signature", sig.Key)
	return s, nil
}

// resolve finds each signature tensor ("op:index") in the graph.
func (s *session) resolve(ios []IO) ([]C.ml_TF_Output, error) {
	out := make([]C.ml_TF_Output, len(ios))
	for i, io := range ios {
		name, idx := io.Tensor, 0
		if j := strings.LastIndexByte(name, ':'); j >= 0 {
			n, err := strconv.Atoi(name[j+1:])
			if err != nil {
				return nil, fmt.Errorf("tensor name %q", io.Tensor)
			}
			name, idx = name[:j], n
		}
		cname := C.CString(name)
		op := C.ml_op(s.graph, cname)
		C.free(unsafe.Pointer(cname))
		if op == nil {
			return nil, fmt.Errorf("%q: the graph has no operation %q", io.Name, name)
		}
		out[i] = C.ml_TF_Output{oper: op, index: C.int(idx)}
	}
	return out, nil
}

// Close closes the session and frees the graph.
func (s *session) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	st := newStatus()
	defer st.free()
	if s.sess != nil {
		C.ml_close(s.sess, st.p)
	}
	C.ml_delete_graph(s.graph)
	return st.err("closing the TensorFlow session")
}

// Predict feeds the batch's columns by input name (or a single column to a
// single input) and returns one column per output.
func (s *session) Predict(ctx context.Context, in columnar.Batch, _ map[string]any) (columnar.Batch, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, flavors.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var pin runtime.Pinner
	defer pin.Unpin()
	feeds := make([]unsafe.Pointer, len(s.sig.Inputs))
	defer func() {
		for _, t := range feeds {
			C.ml_delete_tensor(t)
		}
	}()
	schema := in.Schema()
	for i, io := range s.sig.Inputs {
		idx := schema.FieldIndices(io.Name)
		switch {
		case len(idx) == 1:
		case len(s.sig.Inputs) == 1 && in.NumCols() == 1:
			idx = []int{0}
		default:
			return nil, flavors.BadInput("the signature's input %q is not among the columns", io.Name)
		}
		t, err := columnar.TensorOf(schema.Field(idx[0]), in.Column(idx[0]))
		if err != nil {
			return nil, flavors.BadInput("input %q: %v", io.Name, err)
		}
		feeds[i], err = toTensor(&pin, t, io.DType)
		t.Values.Release()
		if err != nil {
			return nil, flavors.BadInput("input %q: %v", io.Name, err)
		}
	}
	outs := make([]unsafe.Pointer, len(s.outputs))
	defer func() {
		for _, t := range outs {
			C.ml_delete_tensor(t)
		}
	}()
	st := newStatus()
	defer st.free()
	if len(s.outputs) == 0 {
		return nil, fmt.Errorf("signature %q has no outputs", s.sig.Key)
	}
	var inPtr *C.ml_TF_Output
	var valPtr *unsafe.Pointer
	if len(s.inputs) > 0 {
		inPtr, valPtr = &s.inputs[0], &feeds[0]
	}
	// The arrays of TF_Tensor pointers are C pointers held in Go memory,
	// passed for the duration of the call only.
	C.ml_run(s.sess, inPtr, valPtr, C.int(len(feeds)), &s.outputs[0], &outs[0], C.int(len(outs)), st.p)
	if err := st.err("running signature " + s.sig.Key); err != nil {
		return nil, &flavors.InputError{Err: err}
	}
	return collect(s.sig.Outputs, outs)
}

// arrowTypes maps the element types fed and returned to Arrow types.
var arrowTypes = map[tfpb.DataType]arrow.DataType{
	tfpb.DataType_DT_FLOAT: arrow.PrimitiveTypes.Float32, tfpb.DataType_DT_DOUBLE: arrow.PrimitiveTypes.Float64,
	tfpb.DataType_DT_INT8: arrow.PrimitiveTypes.Int8, tfpb.DataType_DT_INT16: arrow.PrimitiveTypes.Int16,
	tfpb.DataType_DT_INT32: arrow.PrimitiveTypes.Int32, tfpb.DataType_DT_INT64: arrow.PrimitiveTypes.Int64,
	tfpb.DataType_DT_UINT8: arrow.PrimitiveTypes.Uint8, tfpb.DataType_DT_UINT16: arrow.PrimitiveTypes.Uint16,
	tfpb.DataType_DT_UINT32: arrow.PrimitiveTypes.Uint32, tfpb.DataType_DT_UINT64: arrow.PrimitiveTypes.Uint64,
}

// toTensor makes a TF_Tensor of type dt from t: over the Arrow buffer
// itself when the types agree (pinned for the run), else converted into
// a tensor TensorFlow allocates.
func toTensor(pin *runtime.Pinner, t columnar.Tensor, dt tfpb.DataType) (unsafe.Pointer, error) {
	dims := make([]C.int64_t, len(t.Shape))
	for i, d := range t.Shape {
		dims[i] = C.int64_t(d)
	}
	var dimsPtr *C.int64_t
	if len(dims) > 0 {
		dimsPtr = &dims[0]
	}
	n := t.Values.Len()
	if dt == tfpb.DataType_DT_STRING {
		tt := C.ml_alloc(C.int(dt), dimsPtr, C.int(len(dims)), C.size_t(n*24))
		if tt == nil {
			return nil, fmt.Errorf("allocating a string tensor")
		}
		for i := 0; i < n; i++ {
			var b []byte
			switch v := t.Values.(type) {
			case *array.String:
				b = []byte(v.Value(i))
			case *array.Binary:
				b = v.Value(i)
			default:
				C.ml_delete_tensor(tt)
				return nil, fmt.Errorf("a %s column cannot feed a string input", t.Values.DataType())
			}
			var p *C.char
			if len(b) > 0 {
				p = (*C.char)(unsafe.Pointer(&b[0]))
			}
			C.ml_set_string(tt, C.size_t(i), p, C.size_t(len(b)))
		}
		return tt, nil
	}
	want, ok := arrowTypes[dt]
	if !ok {
		return nil, fmt.Errorf("%w %s", errTensorType, dt)
	}
	size := want.(arrow.FixedWidthDataType).BitWidth() / 8
	if arrow.TypeEqual(t.Values.DataType(), want) && n > 0 {
		buf := t.Values.Data().Buffers()[1].Bytes()[t.Values.Data().Offset()*size:][:n*size]
		pin.Pin(&buf[0])
		return C.ml_wrap(C.int(dt), dimsPtr, C.int(len(dims)), unsafe.Pointer(&buf[0]), C.size_t(len(buf))), nil
	}
	// Another numeric type (JSON numbers arrive as float64 or int64): cast
	// element by element, as MLflow's tensor inputs are cast.
	tt := C.ml_alloc(C.int(dt), dimsPtr, C.int(len(dims)), C.size_t(n*size))
	if tt == nil {
		return nil, fmt.Errorf("allocating a tensor")
	}
	if n == 0 {
		return tt, nil
	}
	dst := unsafe.Slice((*byte)(C.ml_data(tt)), n*size)
	if err := castInto(dst, dt, t.Values); err != nil {
		C.ml_delete_tensor(tt)
		return nil, err
	}
	return tt, nil
}

// collect copies the outputs into Arrow columns, batched when they share
// a first dimension (as the ONNX flavor lays results out).
func collect(ios []IO, outs []unsafe.Pointer) (columnar.Batch, error) {
	type res struct {
		shape []int64
		vals  arrow.Array
	}
	rs := make([]res, len(outs))
	defer func() {
		for _, r := range rs {
			if r.vals != nil {
				r.vals.Release()
			}
		}
	}()
	for i, t := range outs {
		if t == nil {
			return nil, fmt.Errorf("output %q: TensorFlow returned no tensor", ios[i].Name)
		}
		nd := int(C.ml_ndims(t))
		shape := make([]int64, nd)
		for d := range shape {
			shape[d] = int64(C.ml_dim(t, C.int(d)))
		}
		n := int(columnar.ShapeSize(shape))
		dt := tfpb.DataType(C.ml_type(t))
		if dt == tfpb.DataType_DT_STRING {
			b := array.NewStringBuilder(memory.DefaultAllocator)
			for j := 0; j < n; j++ {
				var sz C.size_t
				p := C.ml_string(t, C.size_t(j), &sz)
				b.Append(C.GoStringN(p, C.int(sz)))
			}
			rs[i] = res{shape, b.NewArray()}
			b.Release()
			continue
		}
		at, ok := arrowTypes[dt]
		if !ok && dt != tfpb.DataType_DT_BOOL {
			return nil, fmt.Errorf("output %q: %w %s", ios[i].Name, errTensorType, dt)
		}
		raw := unsafe.Slice((*byte)(C.ml_data(t)), int(C.ml_bytes(t)))
		if dt == tfpb.DataType_DT_BOOL {
			b := array.NewBooleanBuilder(memory.DefaultAllocator)
			for j := 0; j < n; j++ {
				b.Append(raw[j] != 0)
			}
			rs[i] = res{shape, b.NewArray()}
			b.Release()
			continue
		}
		buf := memory.NewBufferBytes(append([]byte(nil), raw...)) // the one copy out of TensorFlow's memory
		data := array.NewData(at, n, []*memory.Buffer{nil, buf}, nil, 0, 0)
		rs[i] = res{shape, array.MakeFromData(data)}
		data.Release()
	}
	batched, rows := true, int64(-1)
	for _, r := range rs {
		if len(r.shape) == 0 || (rows >= 0 && r.shape[0] != rows) {
			batched = false
			break
		}
		rows = r.shape[0]
	}
	fields := make([]arrow.Field, len(rs))
	cols := make([]arrow.Array, len(rs))
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	for i, r := range rs {
		f, c, err := columnar.NewTensorColumn(ios[i].Name, r.shape, r.vals, batched)
		if err != nil {
			return nil, err
		}
		fields[i], cols[i] = f, c
	}
	if !batched {
		rows = 1
	}
	return array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, rows), nil
}
