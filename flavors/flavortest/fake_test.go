package flavortest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mlship/mlship/columnar"
	"github.com/mlship/mlship/flavors"
	"github.com/mlship/mlship/mlmodel"
)

// The fake flavor is a linear model over one float32 [-1,2] tensor "x":
// y = scale*x[0] + x[1] (float32 [-1]) and label = y > 0 (int64 [-1]). Its
// good form is what a conforming flavor does; each fault breaks one rule
// the suite must catch.

const fakeName = "fake"

type fault string

const (
	good                  fault = ""
	loadsWithoutConfig    fault = "loads a model without its block"
	loadsNothing          fault = "returns no predictor and no error for a model without its block"
	panicsOnCancelledLoad fault = "panics loading with a cancelled context"
	nilBatch              fault = "returns neither a batch nor an error"
	dropsLastRow          fault = "returns one row fewer"
	liesAboutRows         fault = "claims more rows than its columns have"
	mutatesInput          fault = "writes into its input"
	aliasesInput          fault = "returns input memory without a reference"
	retainsInput          fault = "keeps its last input"
	nondeterministic      fault = "drifts from call to call"
	batchStatistics       fault = "normalises by the batch mean"
	ignoresOffset         fault = "reads a slice from the start of its buffer"
	sharedScratch         fault = "lets concurrent calls share a scratch buffer"
	ignoresCancel         fault = "ignores a cancelled context"
	opaqueCancel          fault = "hides the context's error"
	slowCancel            fault = "takes long to notice cancellation"
	panicsOnBadInput      fault = "type-asserts its input unchecked"
	acceptsNoColumns      fault = "predicts on a batch with no columns"
	plainErrors           fault = "rejects bad input with a plain error"
	batchWithError        fault = "returns a batch along with its error"
	breaksAfterBadInput   fault = "stays broken after a bad input"
	panicsOnZeroRows      fault = "indexes row 0 unconditionally"
	rejectsParams         fault = "rejects params it does not know"
	describesWrongInput   fault = "describes an input it does not accept"
	describesWrongOutput  fault = "describes an output type it does not return"
	unhealthy             fault = "reports itself unhealthy"
	closeNotIdempotent    fault = "fails a second Close"
	worksAfterClose       fault = "predicts after Close"
	closeBreaksInFlight   fault = "fails in-flight predictions on Close with another error"
)

type fakeFlavor struct {
	fault fault
	// plain hides the optional interfaces (io.Closer, SchemaDescriber,
	// HealthChecker), as a minimal flavor has none.
	plain bool
}

var _ flavors.Flavor = fakeFlavor{}

func (fakeFlavor) Name() string { return fakeName }

func (f fakeFlavor) Load(ctx context.Context, m *mlmodel.Model, _ flavors.LoadOptions) (flavors.Predictor, error) {
	if err := ctx.Err(); err != nil {
		if f.fault == panicsOnCancelledLoad {
			panic("load interrupted")
		}
		return nil, err
	}
	cfg, ok := m.Flavors[fakeName]
	if !ok && f.fault == loadsNothing {
		return nil, nil
	}
	if !ok && f.fault != loadsWithoutConfig {
		return nil, fmt.Errorf("the model has no %q flavor", fakeName)
	}
	scale := float32(2)
	if v, ok := cfg["scale"].(float64); ok {
		scale = float32(v)
	}
	p := &fakePredictor{fault: f.fault, scale: scale}
	if f.plain {
		return struct{ flavors.Predictor }{p}, nil
	}
	return p, nil
}

type fakePredictor struct {
	fault fault
	scale float32

	// mu orders Predict (read-locked for the whole call) against Close.
	mu     sync.RWMutex
	closed bool

	calls   atomic.Int64
	broken  atomic.Bool
	scratch struct {
		sync.Mutex
		y []float32
	}
	kept struct {
		sync.Mutex
		b columnar.Batch
	}
}

var (
	_ flavors.Predictor       = (*fakePredictor)(nil)
	_ flavors.SchemaDescriber = (*fakePredictor)(nil)
	_ flavors.HealthChecker   = (*fakePredictor)(nil)
)

func (p *fakePredictor) Predict(ctx context.Context, in columnar.Batch, params map[string]any) (columnar.Batch, error) {
	if p.fault == nilBatch {
		return nil, nil
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed && p.fault != worksAfterClose {
		if p.fault == closeBreaksInFlight {
			return nil, errors.New("session destroyed")
		}
		return nil, flavors.ErrClosed
	}
	if err := ctx.Err(); err != nil && p.fault != ignoresCancel {
		switch p.fault {
		case opaqueCancel:
			return nil, errors.New("prediction stopped")
		case slowCancel:
			time.Sleep(500 * time.Millisecond)
		}
		return nil, fmt.Errorf("fake: %w", err)
	}
	if len(params) > 0 && p.fault == rejectsParams {
		return nil, fmt.Errorf("unknown params %v", params)
	}
	if p.broken.Load() {
		return nil, errors.New("the model is in a bad state")
	}
	if p.fault == acceptsNoColumns && in.NumCols() == 0 {
		return p.output(nil, 0)
	}
	x, release, err := p.read(in)
	if err != nil {
		if p.fault == breaksAfterBadInput {
			p.broken.Store(true)
		}
		switch p.fault {
		case plainErrors:
			return nil, errors.New(err.Error())
		case batchWithError:
			empty, _ := p.output(nil, 0)
			return empty, &flavors.InputError{Err: err}
		}
		return nil, &flavors.InputError{Err: err}
	}
	defer release()
	n := len(x) / 2
	if p.fault == panicsOnZeroRows {
		_ = x[0] // a zero-row batch panics here
	}
	if p.fault == mutatesInput {
		x[0] = 42
	}
	if p.fault == retainsInput {
		in.Retain()
		p.kept.Lock()
		if p.kept.b != nil {
			p.kept.b.Release()
		}
		p.kept.b = in
		p.kept.Unlock()
	}

	y := make([]float32, n)
	for i := range y {
		y[i] = p.scale*x[2*i] + x[2*i+1]
	}
	switch p.fault {
	case nondeterministic:
		drift := float32(p.calls.Add(1)) * 1e-3
		for i := range y {
			y[i] += drift
		}
	case batchStatistics:
		var mean float32
		for _, v := range y {
			mean += v / float32(n)
		}
		for i := range y {
			y[i] -= mean
		}
	case sharedScratch:
		// Publish this call's results, give another call time to publish
		// its own, then answer with whatever is there. The slices are
		// never written once published, so there is no data race for
		// -race to see: only wrong answers for the suite to find.
		p.scratch.Lock()
		p.scratch.y = y
		p.scratch.Unlock()
		time.Sleep(2 * time.Millisecond)
		p.scratch.Lock()
		y = p.scratch.y
		p.scratch.Unlock()
	case dropsLastRow:
		if len(y) > 1 {
			y = y[:len(y)-1]
		}
	}
	out, err := p.output(y, int64(len(y)))
	if err != nil {
		return nil, err
	}
	switch p.fault {
	case liesAboutRows:
		return lyingBatch{out}, nil
	case aliasesInput:
		// Expose x[0] of each row through the input's own memory, with no
		// reference to it: valid only while the caller keeps its input.
		raw := arrow.Float32Traits.CastToBytes(x)
		data := array.NewData(arrow.PrimitiveTypes.Float32, len(x), []*memory.Buffer{nil, memory.NewBufferBytes(raw)}, nil, 0, 0)
		defer data.Release()
		echo := array.MakeFromData(data)
		defer echo.Release()
		f, col, err := columnar.NewTensorColumn("x_echo", []int64{int64(n), 2}, echo, true)
		if err != nil {
			out.Release()
			return nil, err
		}
		defer col.Release()
		fields := append(out.Schema().Fields(), f)
		cols := append(append([]arrow.Array{}, out.Columns()...), col)
		withEcho := array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, out.NumRows())
		out.Release()
		return withEcho, nil
	}
	return out, nil
}

// read returns the values of column "x" in row-major order, checking it is
// a float32 [n,2] tensor, and a function releasing them.
func (p *fakePredictor) read(in columnar.Batch) ([]float32, func(), error) {
	if p.fault == panicsOnBadInput {
		col := in.Column(0).(*array.FixedSizeList) // panics on no or wrong columns
		vals := col.ListValues().(*array.Float32).Float32Values()
		off := col.Data().Offset() * 2
		return vals[off : off+2*col.Len()], func() {}, nil
	}
	if in.NumCols() == 0 {
		return nil, nil, errors.New("no columns")
	}
	idx := in.Schema().FieldIndices("x")
	if len(idx) == 0 {
		return nil, nil, fmt.Errorf("no column %q", "x")
	}
	f, col := in.Schema().Field(idx[0]), in.Column(idx[0])
	t, err := columnar.TensorOf(f, col)
	if err != nil {
		return nil, nil, err
	}
	fl, ok := t.Values.(*array.Float32)
	if !ok || len(t.Shape) != 2 || t.Shape[1] != 2 {
		err := fmt.Errorf("column x is %s %v, want float32 [n,2]", t.Values.DataType(), t.Shape)
		t.Values.Release()
		return nil, nil, err
	}
	vals := fl.Float32Values()
	if p.fault == ignoresOffset {
		// The classic zero-copy mistake: the buffer, not the array.
		buf := col.Data().Children()[0].Buffers()[1].Bytes()
		vals = arrow.Float32Traits.CastFromBytes(buf)[:len(vals)]
	}
	return vals, t.Values.Release, nil
}

func (p *fakePredictor) output(y []float32, rows int64) (columnar.Batch, error) {
	yb := array.NewFloat32Builder(memory.DefaultAllocator)
	defer yb.Release()
	lb := array.NewInt64Builder(memory.DefaultAllocator)
	defer lb.Release()
	for _, v := range y {
		yb.Append(v)
		if v > 0 {
			lb.Append(1)
		} else {
			lb.Append(0)
		}
	}
	ya, la := yb.NewArray(), lb.NewArray()
	defer ya.Release()
	defer la.Release()
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "y", Type: arrow.PrimitiveTypes.Float32, Nullable: true},
		{Name: "label", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	}, nil)
	return array.NewRecordBatch(schema, []arrow.Array{ya, la}, rows), nil
}

// lyingBatch claims one row more than its columns hold, which
// array.NewRecordBatch would refuse to build.
type lyingBatch struct{ columnar.Batch }

func (b lyingBatch) NumRows() int64 { return b.Batch.NumRows() + 1 }

func (p *fakePredictor) ModelSchema() (inputs, outputs *mlmodel.Schema) {
	in := mlmodel.TensorSpec{Name: "x", DType: "float32", Shape: []int64{-1, 2}}
	y := mlmodel.TensorSpec{Name: "y", DType: "float32", Shape: []int64{-1}}
	switch p.fault {
	case describesWrongInput:
		in.Name = "features"
	case describesWrongOutput:
		y.DType = "float64"
	}
	label := mlmodel.TensorSpec{Name: "label", DType: "int64", Shape: []int64{-1}}
	return &mlmodel.Schema{Tensors: []mlmodel.TensorSpec{in}}, &mlmodel.Schema{Tensors: []mlmodel.TensorSpec{y, label}}
}

func (p *fakePredictor) Check(context.Context) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed || p.fault == unhealthy {
		return errors.New("not ready")
	}
	return nil
}

func (p *fakePredictor) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		if p.fault == closeNotIdempotent {
			return errors.New("already closed")
		}
		return nil
	}
	p.closed = true
	p.kept.Lock()
	defer p.kept.Unlock()
	if p.kept.b != nil {
		p.kept.b.Release()
		p.kept.b = nil
	}
	return nil
}

// fakeModel is the descriptor the fake flavor loads.
func fakeModel() *mlmodel.Model {
	return &mlmodel.Model{
		Flavors: map[string]mlmodel.FlavorConfig{fakeName: {"scale": 2.0}, mlmodel.PyFuncFlavorName: {}},
		Signature: &mlmodel.Signature{
			Inputs: &mlmodel.Schema{Tensors: []mlmodel.TensorSpec{{Name: "x", DType: "float32", Shape: []int64{-1, 2}}}},
		},
	}
}
