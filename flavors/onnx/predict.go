package onnx

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	ort "github.com/yalue/onnxruntime_go"

	"github.com/mlship/mlship/columnar"
	"github.com/mlship/mlship/flavors"
	"github.com/mlship/mlship/mlmodel"
)

// predictor runs one ONNX Runtime session. Session.Run is thread-safe, so
// concurrent Predict calls share it; the RWMutex only orders them against
// Close.
type predictor struct {
	mu      sync.RWMutex
	session *ort.DynamicAdvancedSession
	closed  bool

	inputs  []ort.InputOutputInfo
	outputs []ort.InputOutputInfo
	log     *slog.Logger
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
	for _, in := range ins {
		if in.OrtValueType != ort.ONNXTypeTensor {
			return nil, fmt.Errorf("model input %q is a %s; mlship feeds tensor inputs only", in.Name, kindName(in.OrtValueType))
		}
	}
	opts, err := cfg.sessionOptions(threads, libDir, log)
	if err != nil {
		return nil, err
	}
	defer opts.Destroy()
	sess, err := ort.NewDynamicAdvancedSession(path, names(ins), names(outs), opts)
	if err != nil {
		return nil, fmt.Errorf("creating ONNX Runtime session for %s: %w", path, err)
	}
	p := &predictor{session: sess, inputs: ins, outputs: outs, log: log}
	log.Info("onnx model loaded", "path", path, "inputs", describeIO(ins), "outputs", describeIO(outs))
	return p, nil
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

func names(infos []ort.InputOutputInfo) []string {
	out := make([]string, len(infos))
	for i, in := range infos {
		out[i] = in.Name
	}
	return out
}

func describeIO(infos []ort.InputOutputInfo) string {
	parts := make([]string, len(infos))
	for i, in := range infos {
		if in.OrtValueType == ort.ONNXTypeTensor {
			parts[i] = fmt.Sprintf("%s %s%v", in.Name, dtypeName(in.DataType), []int64(in.Dimensions))
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
	conv := func(infos []ort.InputOutputInfo) *mlmodel.Schema {
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
	defer func() {
		for _, v := range feeds {
			if v != nil {
				v.Destroy()
			}
		}
	}()
	if err != nil {
		return nil, err
	}
	outs := make([]ort.Value, len(p.outputs))
	defer func() {
		for _, v := range outs {
			if v != nil {
				v.Destroy()
			}
		}
	}()
	for i, o := range p.outputs {
		// onnxruntime_go cannot wrap a 0-d tensor ONNX Runtime allocated,
		// so scalar outputs get a pre-allocated scalar to write into.
		if o.OrtValueType == ort.ONNXTypeTensor && o.Dimensions != nil && len(o.Dimensions) == 0 {
			if outs[i], err = newScalar(o.DataType); err != nil {
				outs[i] = nil // not fatal: let ONNX Runtime allocate it
			}
		}
	}
	if err := p.run(ctx, feeds, outs); err != nil {
		return nil, err
	}
	runtime.KeepAlive(in) // input buffers were lent to ONNX Runtime
	return p.collectOutputs(outs)
}

// run calls the session, turning ctx cancellation into RunOptions.Terminate
// so that a cancelled request stops burning CPU.
func (p *predictor) run(ctx context.Context, feeds, outs []ort.Value) error {
	var ro *ort.RunOptions
	if ctx.Done() != nil {
		var err error
		if ro, err = ort.NewRunOptions(); err != nil {
			return fmt.Errorf("creating run options: %w", err)
		}
		defer ro.Destroy()
		done := make(chan struct{})
		stop := context.AfterFunc(ctx, func() {
			defer close(done)
			ro.Terminate()
		})
		defer func() {
			if !stop() {
				<-done // Terminate is running: let it finish before Destroy
			}
		}()
	}
	err := p.session.RunWithOptions(feeds, outs, ro)
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("onnx run: %w", cerr)
	}
	if err != nil {
		// Run failures are about the data in almost every case (shapes,
		// types, values an operator rejects); MLflow answers them with 400.
		return &flavors.InputError{Err: fmt.Errorf("ONNX Runtime: %s", cleanORTError(err))}
	}
	return nil
}

// cleanORTError strips onnxruntime_go's wrapper prefix from an error.
func cleanORTError(err error) string {
	s := err.Error()
	s = strings.TrimPrefix(s, "Error running network: ")
	return s
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
func (p *predictor) feed(inp ort.InputOutputInfo, f arrow.Field, col arrow.Array) (ort.Value, error) {
	t, err := columnar.TensorOf(f, col)
	if err != nil {
		return nil, flavors.BadInput("input %q: %v", inp.Name, err)
	}
	defer t.Values.Release()
	shape := adaptShape(t.Shape, inp.Dimensions)
	v, err := toORT(t.Values, shape, inp.DataType)
	if err != nil {
		return nil, flavors.BadInput("input %q: %v", inp.Name, err)
	}
	return v, nil
}

// feedStacked builds the [rows, columns] tensor a DataFrame's .values
// would be, from scalar columns.
func (p *predictor) feedStacked(inp ort.InputOutputInfo, in columnar.Batch) (ort.Value, error) {
	cols := make([]arrow.Array, in.NumCols())
	for i := range cols {
		f := in.Schema().Field(i)
		t, err := columnar.TensorOf(f, in.Column(i))
		if err != nil {
			return nil, flavors.BadInput("column %q: %v", f.Name, err)
		}
		defer t.Values.Release()
		if len(t.Shape) != 1 {
			return nil, flavors.BadInput("the model has one input %q; column %q holds tensors of shape %v, so columns cannot be stacked into it — name the column %q instead",
				inp.Name, f.Name, t.Shape[1:], inp.Name)
		}
		cols[i] = t.Values
	}
	rows := int64(in.NumRows())
	shape := adaptShape([]int64{rows, int64(len(cols))}, inp.Dimensions)
	v, err := stackToORT(cols, shape, inp.DataType)
	if err != nil {
		return nil, flavors.BadInput("input %q: %v", inp.Name, err)
	}
	return v, nil
}

// adaptShape reconciles the data's shape with the graph's declared rank in
// the two lossless cases MLflow users hit: a column [N] fed to an input
// declared [N,1], and a one-element tensor fed to a scalar input.
func adaptShape(have []int64, want ort.Shape) []int64 {
	if want == nil || len(have) == len(want) {
		return have
	}
	if len(want) == len(have)+1 && want[len(want)-1] == 1 {
		return append(append([]int64{}, have...), 1)
	}
	if len(want) == 0 && columnar.ShapeSize(have) == 1 {
		return []int64{}
	}
	if len(have) == len(want)+1 && have[len(have)-1] == 1 {
		return have[:len(have)-1]
	}
	return have
}

// collectOutputs turns ONNX Runtime outputs into a record batch: one column
// per output, batched when every output shares its first dimension (the
// usual [N, ...] outputs), otherwise each column holds its whole tensor.
func (p *predictor) collectOutputs(outs []ort.Value) (columnar.Batch, error) {
	type out struct {
		name   string
		shape  []int64 // tensors
		values arrow.Array
		seq    arrow.Array // sequences/maps: already a column
	}
	res := make([]out, len(outs))
	defer func() {
		for _, r := range res {
			if r.values != nil {
				r.values.Release()
			}
			if r.seq != nil {
				r.seq.Release()
			}
		}
	}()
	for i, v := range outs {
		name := p.outputs[i].Name
		res[i].name = name
		switch x := v.(type) {
		case *ort.Sequence:
			col, err := sequenceToArrow(x)
			if err != nil {
				return nil, fmt.Errorf("output %q: %w", name, err)
			}
			res[i].seq = col
		case *ort.Map:
			col, err := mapsToArrow([]*ort.Map{x})
			if err != nil {
				return nil, fmt.Errorf("output %q: %w", name, err)
			}
			res[i].seq = col
		default:
			shape, vals, err := tensorToArrow(v)
			if err != nil {
				return nil, fmt.Errorf("output %q: %w", name, err)
			}
			res[i].shape, res[i].values = shape, vals
		}
	}
	batched, rows := true, int64(-1)
	for _, r := range res {
		n := int64(-1)
		switch {
		case r.seq != nil:
			n = int64(r.seq.Len())
		case len(r.shape) > 0:
			n = r.shape[0]
		}
		if n < 0 || (rows >= 0 && n != rows) {
			batched = false
			break
		}
		rows = n
	}
	fields := make([]arrow.Field, len(res))
	cols := make([]arrow.Array, len(res))
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	for i, r := range res {
		if r.seq != nil {
			if !batched && r.seq.Len() != 1 {
				return nil, fmt.Errorf("output %q is a sequence of %d items but other outputs do not share that length; mlship cannot return them together", r.name, r.seq.Len())
			}
			fields[i] = arrow.Field{Name: r.name, Type: r.seq.DataType(), Nullable: true}
			if !batched {
				fields[i].Metadata = arrow.NewMetadata([]string{columnar.MetaUnbatched}, []string{"true"})
			}
			r.seq.Retain()
			cols[i] = r.seq
			continue
		}
		f, c, err := columnar.NewTensorColumn(r.name, r.shape, r.values, batched)
		if err != nil {
			return nil, fmt.Errorf("output %q: %w", r.name, err)
		}
		fields[i], cols[i] = f, c
	}
	if !batched {
		rows = 1
	}
	if len(res) == 0 {
		rows = 0
	}
	return array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, rows), nil
}

var errUnsupportedType = errors.New("unsupported element type")
