package onnx

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	ort "github.com/yalue/onnxruntime_go"

	"github.com/mlship/mlship/columnar"
	"github.com/mlship/mlship/flavors"
	"github.com/mlship/mlship/mlmodel"
)

// predictor runs one ONNX Runtime session. Session.Run is thread-safe, so
// concurrent Predict calls share it; the RWMutex only orders them against
// Close.
type predictor struct {
	mu         sync.RWMutex
	noPrealloc atomic.Bool // outputs proved not to follow their declared shapes
	schemas    columnar.SchemaCache
	session    *ort.DynamicAdvancedSession
	closed     bool

	inputs  []tensorIO
	outputs []tensorIO
	log     *slog.Logger
}

// tensorIO is a graph input or output as ONNX Runtime describes it, plus
// whether its rank is known: ONNX Runtime reports zero dimensions both for
// a 0-d tensor and for a tensor whose type declares no shape at all.
type tensorIO struct {
	ort.InputOutputInfo
	rankKnown bool
	params    []string // symbolic name of each dimension, "" when none (nil when unknown)
}

var (
	_ flavors.Predictor       = (*predictor)(nil)
	_ flavors.SchemaDescriber = (*predictor)(nil)
)

func newPredictor(path string, cfg *Config, threads int, libDir string, log *slog.Logger) (*predictor, error) {
	ins, outs, err := ioInfo(path)
	if err != nil {
		return nil, fmt.Errorf("reading model %s: %w", path, err)
	}
	if len(ins) == 0 {
		// Nothing could be fed, and MLflow's wrapper fails on it too.
		return nil, fmt.Errorf("model %s has no inputs; mlship serves models that take input", path)
	}
	for _, in := range ins {
		if in.OrtValueType != ort.ONNXTypeTensor {
			return nil, fmt.Errorf("model input %q is a %s; mlship feeds tensor inputs only", in.Name, kindName(in.OrtValueType))
		}
	}
	declared, err := readDeclaredShapes(path)
	if err != nil {
		// Not fatal: ONNX Runtime read the file. Zero dimensions are then
		// taken to mean a scalar, the common case.
		log.Warn("onnx model: cannot tell scalars from tensors of unknown rank", "error", err)
	}
	p := &predictor{inputs: withRank(ins, declared), outputs: withRank(outs, declared), log: log}
	opts, err := cfg.sessionOptions(threads, libDir, log)
	if err != nil {
		return nil, err
	}
	defer opts.Destroy()
	p.session, err = ort.NewDynamicAdvancedSession(path, names(p.inputs), names(p.outputs), opts)
	if err != nil {
		return nil, fmt.Errorf("creating ONNX Runtime session for %s: %w", path, err)
	}
	intra := "runtime default"
	if n := cfg.intraThreads(threads); n > 0 {
		intra = strconv.Itoa(n)
	}
	log.Info("onnx model loaded", "path", path, "inputs", describeIO(p.inputs), "outputs", describeIO(p.outputs), "intra_op_threads", intra)
	return p, nil
}

func withRank(infos []ort.InputOutputInfo, declared declaredShapes) []tensorIO {
	out := make([]tensorIO, len(infos))
	for i, in := range infos {
		decl, found := declared[in.Name]
		out[i] = tensorIO{InputOutputInfo: in, rankKnown: len(in.Dimensions) > 0 || !found || decl.hasShape}
		if len(decl.params) == len(in.Dimensions) {
			out[i].params = decl.params
		}
	}
	return out
}

// symbolSizes maps the symbolic dimensions of the inputs ("batch") to their
// sizes in this run's feeds.
func (p *predictor) symbolSizes(feeds []ort.Value) map[string]int64 {
	sizes := map[string]int64{}
	for i, in := range p.inputs {
		shape := feeds[i].GetShape()
		if len(shape) != len(in.params) {
			continue
		}
		for j, name := range in.params {
			if name != "" {
				sizes[name] = shape[j]
			}
		}
	}
	return sizes
}

// ioInfo reads input and output descriptions with graph optimisation off:
// it is a throwaway session and only needs the graph's interface.
func ioInfo(path string) ([]ort.InputOutputInfo, []ort.InputOutputInfo, error) {
	o, err := ort.NewSessionOptions()
	if err != nil {
		return nil, nil, err
	}
	defer o.Destroy()
	if err := o.SetGraphOptimizationLevel(ort.GraphOptimizationLevelDisableAll); err != nil {
		return nil, nil, err
	}
	return ort.GetInputOutputInfoWithOptions(path, o)
}

func names(infos []tensorIO) []string {
	out := make([]string, len(infos))
	for i, in := range infos {
		out[i] = in.Name
	}
	return out
}

func describeIO(infos []tensorIO) string {
	parts := make([]string, len(infos))
	for i, in := range infos {
		if in.OrtValueType == ort.ONNXTypeTensor {
			parts[i] = fmt.Sprintf("%s %s%v", in.Name, dtypeName(in.DataType), []int64(in.Dimensions))
			if !in.rankKnown {
				parts[i] = fmt.Sprintf("%s %s[unknown rank]", in.Name, dtypeName(in.DataType))
			}
		} else {
			parts[i] = in.Name + " " + kindName(in.OrtValueType)
		}
	}
	return strings.Join(parts, ", ")
}

func kindName(t ort.ONNXType) string {
	switch t {
	case ort.ONNXTypeTensor:
		return "tensor"
	case ort.ONNXTypeSequence:
		return "sequence"
	case ort.ONNXTypeMap:
		return "map"
	case ort.ONNXTypeOptional:
		return "optional"
	case ort.ONNXTypeSparseTensor:
		return "sparse tensor"
	}
	return "value of unknown kind"
}

// ModelSchema implements flavors.SchemaDescriber: the graph's tensors as
// MLflow TensorSpecs (numpy dtype names, -1 for dynamic dimensions).
// Sequence and map outputs are described as object tensors.
func (p *predictor) ModelSchema() (inputs, outputs *mlmodel.Schema) {
	conv := func(infos []tensorIO) *mlmodel.Schema {
		s := &mlmodel.Schema{}
		for _, in := range infos {
			spec := mlmodel.TensorSpec{Name: in.Name, DType: "object", Shape: []int64{-1}}
			if in.OrtValueType == ort.ONNXTypeTensor {
				spec.DType = dtypeName(in.DataType)
				spec.Shape = append([]int64{}, in.Dimensions...)
			}
			s.Tensors = append(s.Tensors, spec)
		}
		return s
	}
	return conv(p.inputs), conv(p.outputs)
}

// Close releases the session. Predictions in flight finish first.
func (p *predictor) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	return p.session.Destroy()
}

// Predict implements flavors.Predictor. ONNX models take no params; like
// MLflow's ONNX wrapper it ignores them.
func (p *predictor) Predict(ctx context.Context, in columnar.Batch, _ map[string]any) (columnar.Batch, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return nil, flavors.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	feeds, err := p.bindInputs(in)
	defer destroyAll(feeds)
	if err != nil {
		return nil, err
	}
	outs := make([]ort.Value, len(p.outputs))
	defer func() { destroyAll(outs) }()
	sizes := p.symbolSizes(feeds)
	all := !p.noPrealloc.Load()
	pre := false
	for i, o := range p.outputs {
		if outs[i], err = preallocate(o, sizes, all); err != nil {
			return nil, fmt.Errorf("output %q: %w", o.Name, err)
		}
		pre = pre || outs[i] != nil
	}
	err = p.run(ctx, feeds, outs)
	if err != nil && all && pre && flavors.IsInputError(err) {
		// The model's declared output shapes may not hold (a symbolic
		// dimension that is not what its name says): let ONNX Runtime
		// allocate the outputs from now on, and try once more.
		if p.noPrealloc.CompareAndSwap(false, true) {
			p.log.Info("onnx outputs do not match their declared shapes; letting ONNX Runtime allocate them", "error", err)
		}
		destroyAll(outs)
		for i, o := range p.outputs {
			if outs[i], err = preallocate(o, sizes, false); err != nil {
				return nil, fmt.Errorf("output %q: %w", o.Name, err)
			}
		}
		err = p.run(ctx, feeds, outs)
	}
	if err != nil {
		return nil, err
	}
	runtime.KeepAlive(in) // input buffers were lent to ONNX Runtime
	return p.collectOutputs(outs)
}

// runOptions are reused between calls: creating and destroying one costs
// two cgo calls per prediction.
var runOptions = sync.Pool{New: func() any {
	ro, err := ort.NewRunOptions()
	if err != nil {
		return err
	}
	return ro
}}

// run calls the session, turning ctx cancellation into RunOptions.Terminate
// so that a cancelled request stops burning CPU.
func (p *predictor) run(ctx context.Context, feeds, outs []ort.Value) error {
	// Which outputs ONNX Runtime allocates (and onnxruntime_go must take
	// over), for explaining a failure to read one.
	byORT := make([]bool, len(outs))
	for i, v := range outs {
		byORT[i] = v == nil
	}
	var ro *ort.RunOptions
	if ctx.Done() != nil {
		switch v := runOptions.Get().(type) {
		case *ort.RunOptions:
			ro = v
		case error:
			return fmt.Errorf("creating run options: %w", v)
		}
		var terminated atomic.Bool
		done := make(chan struct{})
		stop := context.AfterFunc(ctx, func() {
			defer close(done)
			terminated.Store(true)
			ro.Terminate()
		})
		defer func() {
			if !stop() {
				<-done // Terminate is running: let it finish first
			}
			if terminated.Load() {
				// A terminated RunOptions stops every run it is given until
				// reset; reset it before it is reused.
				if ro.UnsetTerminate() != nil {
					ro.Destroy()
					return
				}
			}
			runOptions.Put(ro)
		}()
	}
	err := p.session.RunWithOptions(feeds, outs, ro)
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("onnx run: %w", cerr)
	}
	if err == nil {
		return nil
	}
	// onnxruntime_go prefixes the status of ONNX Runtime's Run with this;
	// other errors come from taking over the outputs afterwards.
	const runFailed = "Error running network: "
	if msg := err.Error(); strings.HasPrefix(msg, runFailed) {
		// Run failures are about the data in almost every case (shapes,
		// types, values an operator rejects); MLflow answers them with 400.
		return &flavors.InputError{Err: fmt.Errorf("ONNX Runtime: %s", strings.TrimPrefix(msg, runFailed))}
	}
	return p.outputError(byORT, err)
}

// outputError explains a failure to take over ONNX Runtime's outputs,
// naming the onnxruntime_go limitation when one applies.
func (p *predictor) outputError(byORT []bool, err error) error {
	for i, o := range p.outputs {
		if !byORT[i] || o.OrtValueType != ort.ONNXTypeTensor {
			continue
		}
		switch {
		case o.DataType == ort.TensorElementDataTypeFloat16:
			return fmt.Errorf("output %q: float16 outputs whose shape (%v) the model does not tie to its inputs' cannot be read through onnxruntime_go: %w",
				o.Name, []int64(o.Dimensions), err)
		case !o.rankKnown:
			return fmt.Errorf("output %q has no declared shape; if it came out 0-d, onnxruntime_go cannot read it: %w", o.Name, err)
		}
	}
	return fmt.Errorf("reading ONNX Runtime outputs: %w", err)
}

// bindInputs maps the batch's columns to the graph inputs, MLflow's way: by
// name when every input has a column of its name; otherwise a single-input
// model takes the only column, or all the (scalar) columns stacked into a
// 2-D tensor, as a DataFrame's .values would be.
func (p *predictor) bindInputs(in columnar.Batch) ([]ort.Value, error) {
	schema := in.Schema()
	idx := make([]int, len(p.inputs))
	byName := true
	for i, inp := range p.inputs {
		found := schema.FieldIndices(inp.Name)
		if len(found) == 0 {
			byName = false
			break
		}
		idx[i] = found[0]
	}
	feeds := make([]ort.Value, len(p.inputs))
	switch {
	case byName:
		for i, inp := range p.inputs {
			v, err := p.feed(inp, schema.Field(idx[i]), in.Column(idx[i]))
			if err != nil {
				return feeds, err
			}
			feeds[i] = v
		}
	case len(p.inputs) == 1 && in.NumCols() == 1:
		v, err := p.feed(p.inputs[0], schema.Field(0), in.Column(0))
		if err != nil {
			return feeds, err
		}
		feeds[0] = v
	case len(p.inputs) == 1 && in.NumCols() > 1:
		v, err := p.feedStacked(p.inputs[0], in)
		if err != nil {
			return feeds, err
		}
		feeds[0] = v
	default:
		return feeds, flavors.BadInput("the model's inputs are [%s] but the data has columns [%s]; send one column per input name",
			strings.Join(names(p.inputs), ", "), strings.Join(fieldNames(schema), ", "))
	}
	return feeds, nil
}

func fieldNames(s *arrow.Schema) []string {
	out := make([]string, s.NumFields())
	for i, f := range s.Fields() {
		out[i] = f.Name
	}
	return out
}

// feed turns one column into an ONNX Runtime value of the input's type.
func (p *predictor) feed(inp tensorIO, f arrow.Field, col arrow.Array) (ort.Value, error) {
	t, err := columnar.TensorOf(f, col)
	if err != nil {
		return nil, flavors.BadInput("input %q: %v", inp.Name, err)
	}
	defer t.Values.Release()
	shape := adaptShape(t.Shape, inp)
	v, err := toORT(t.Values, shape, inp.DataType)
	if err != nil {
		return nil, flavors.BadInput("input %q: %v", inp.Name, err)
	}
	return v, nil
}

// feedStacked builds the [rows, columns] tensor a DataFrame's .values
// would be, from scalar columns.
func (p *predictor) feedStacked(inp tensorIO, in columnar.Batch) (ort.Value, error) {
	cols := make([]arrow.Array, in.NumCols())
	for i := range cols {
		f := in.Schema().Field(i)
		t, err := columnar.TensorOf(f, in.Column(i))
		if err != nil {
			return nil, flavors.BadInput("column %q: %v", f.Name, err)
		}
		defer t.Values.Release()
		// Each column must hold one value per row: a batched scalar
		// column, or a 0-d one in a one-row batch.
		if int64(t.Values.Len()) != in.NumRows() || len(t.Shape) > 1 {
			return nil, flavors.BadInput("the model has one input %q; column %q holds tensors of shape %v, so columns cannot be stacked into it — name the column %q instead",
				inp.Name, f.Name, t.Shape, inp.Name)
		}
		cols[i] = t.Values
	}
	rows := int64(in.NumRows())
	shape := adaptShape([]int64{rows, int64(len(cols))}, inp)
	v, err := stackToORT(cols, shape, inp.DataType)
	if err != nil {
		return nil, flavors.BadInput("input %q: %v", inp.Name, err)
	}
	return v, nil
}

// adaptShape reconciles the data's shape with the input's declared rank
// in the lossless cases MLflow users hit: a column [N] fed to an input
// declared [N,1], a column [N,1] fed to an input declared [N], and a
// one-element tensor fed to a scalar input. An input of unknown rank takes
// the data as it is.
func adaptShape(have []int64, want tensorIO) []int64 {
	dims := want.Dimensions
	if !want.rankKnown || len(have) == len(dims) {
		return have
	}
	if len(dims) == len(have)+1 && dims[len(dims)-1] == 1 {
		return append(append([]int64{}, have...), 1)
	}
	if len(dims) == 0 && columnar.ShapeSize(have) == 1 {
		return []int64{}
	}
	if len(have) == len(dims)+1 && have[len(have)-1] == 1 {
		return have[:len(have)-1]
	}
	return have
}
