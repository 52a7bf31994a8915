package predict

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"golang.org/x/sync/errgroup"

	"github.com/mlship/mlship/columnar"
	"github.com/mlship/mlship/flavors"
	"github.com/mlship/mlship/mlmodel"
	"github.com/mlship/mlship/serve/scoring"
)

// Summary is what a run did.
type Summary struct {
	Inputs   int
	Rows     int64 // rows written
	Bad      int64 // rows skipped or written with null predictions
	OnError  OnError
	Duration time.Duration
}

// String is the final summary line.
func (s Summary) String() string {
	rate := 0.0
	if s.Duration > 0 {
		rate = float64(s.Rows+s.badSkipped()) / s.Duration.Seconds()
	}
	line := fmt.Sprintf("scored %s rows from %d input(s) in %s (%s rows/s)", group(s.Rows+s.badSkipped()), s.Inputs, s.Duration.Round(time.Millisecond), group(int64(rate)))
	switch {
	case s.Bad > 0 && s.OnError == OnErrorSkip:
		line += fmt.Sprintf("; %s bad rows skipped", group(s.Bad))
	case s.Bad > 0:
		line += fmt.Sprintf("; %s bad rows written with null predictions", group(s.Bad))
	default:
		line += "; 0 errors"
	}
	return line
}

func (s Summary) badSkipped() int64 {
	if s.OnError == OnErrorSkip {
		return s.Bad
	}
	return 0
}

// Automatic batch sizes: batches of about batchBytes of input, between
// minAutoRows and maxAutoRows rows. Memory follows bytes in flight, not
// rows: 10,000 rows of a 256-float tensor are 10 MiB a batch, and with up
// to 2 × --parallelism batches, their outputs, the runtime's activations
// and the Go heap's headroom, that took a 2-core run past 500 MiB
// (docs/performance.md); 4 MiB batches keep it near 400 MiB at the same
// CPU cost per row. Narrow rows get as many rows as fit in those bytes:
// a model call has a fixed cost (a python_function worker's round trip,
// pandas and scikit-learn's input checks: about 1 ms), which at the old
// cap of 10,000 rows of 4 doubles (32 bytes) was most of the cost of a
// cheap model such as a LogisticRegression; 131,072-row batches of the
// same rows cost a fifth as many calls per row and no more memory than a
// wide model's batches. maxAutoRows only bounds the rows of
// single-column inputs narrower than 4 bytes, whose outputs (at least
// 8 bytes a row) would otherwise outweigh them.
const (
	batchBytes  = 4 << 20
	minAutoRows = 256
	maxAutoRows = 1 << 20
	// unknownWidthRows is the batch size when no signature gives the
	// row width: rows might be wide.
	unknownWidthRows = 10000
)

// autoBatchRows sizes batches by the signature's row width (8 bytes a
// column, 32 a string, a tensor's element count × element size). Rows
// whose width the signature does not bound — no signature, arrays,
// objects, maps, tensors with a variable inner dimension — keep batches
// of unknownWidthRows, as before batches grew with narrow rows.
func autoBatchRows(in *mlmodel.Schema) int {
	width := int64(0)
	variable := in == nil
	if in != nil {
		for _, c := range in.Columns {
			switch c.Type.Kind {
			case mlmodel.Array, mlmodel.Object, mlmodel.Map, mlmodel.AnyType:
				variable = true
				width += 32
			case mlmodel.String, mlmodel.Binary:
				width += 32
			default:
				width += 8
			}
		}
		for _, t := range in.Tensors {
			n := int64(1)
			for _, d := range t.Shape[min(1, len(t.Shape)):] {
				if d > 0 {
					n *= d
				} else {
					variable = true
				}
			}
			size := int64(8)
			switch t.DType {
			case "float32", "int32", "uint32":
				size = 4
			case "float16", "int16", "uint16":
				size = 2
			case "bool", "int8", "uint8":
				size = 1
			case "str", "object", "bytes":
				size = 32
			}
			width += n * size
		}
	}
	if width <= 0 {
		return unknownWidthRows
	}
	hi := int64(maxAutoRows)
	if variable {
		hi = unknownWidthRows
	}
	return int(min(max(batchBytes/width, minAutoRows), hi))
}

// runner is one run's shared state.
type runner struct {
	opts *Options
	p    flavors.Predictor
	log  *slog.Logger
	mem  memory.Allocator
	// dec decodes inputs for the model (the signature applies); keepDec
	// decodes pass-through columns with no signature, as pandas reads them.
	dec, keepDec *scoring.Decoder
	// outNames are the signature's output names, which prediction columns
	// take.
	outNames []string
	outSpec  *mlmodel.Schema
	// predSchema is the prediction columns' schema once the model has
	// produced some (null predictions take it); only the writer uses it.
	predSchema *arrow.Schema

	bytesRead  atomic.Int64
	rowsDone   atomic.Int64
	bad        atomic.Int64
	totalBytes int64
	totalRows  int64 // -1 when unknown
}

// job is one chunk of one input on its way through the pipeline; a job
// with no rows marks the end of its input.
type job struct {
	seq   int64
	in    *input
	first int64 // index of the chunk's first row in its input
	src   rows
}

// result is a scored job: the predictions of its rows in order (runs of
// bad rows as null parts) and the pass-through columns for the same rows.
type result struct {
	job
	parts []part
	keep  columnar.Batch
	form  scoring.Form
	err   error
	// good counts the rows that got predictions; firstBad locates the
	// chunk's first bad row (nil when none).
	good     int
	firstBad error
}

type part struct {
	out   columnar.Batch // nil for a run of bad rows
	nulls int
}

func (r *result) release() {
	for _, p := range r.parts {
		if p.out != nil {
			p.out.Release()
		}
	}
	if r.keep != nil {
		r.keep.Release()
	}
	if r.src != nil {
		r.src.release()
	}
}

// Run scores opts.Inputs with p, the predictor of model m, and writes
// opts.Output.
func Run(ctx context.Context, p flavors.Predictor, m *mlmodel.Model, opts Options) (Summary, error) {
	start := time.Now()
	o := &opts
	if err := o.validate(); err != nil {
		return Summary{}, err
	}
	sum := Summary{OnError: o.OnError}
	ins, err := discover(o.Inputs, o.InputFormat)
	if err != nil {
		return sum, err
	}
	if ins, err = shard(ins, o.Shard); err != nil {
		return sum, err
	}
	sum.Inputs = len(ins)
	if o.BatchRows == 0 {
		var in *mlmodel.Schema
		if m != nil && m.Signature != nil {
			in = m.Signature.Inputs
		}
		o.BatchRows = autoBatchRows(in)
	}
	r := &runner{opts: o, p: p, log: o.Logger, mem: o.Mem, totalRows: 0}
	r.dec = &scoring.Decoder{Mem: o.Mem}
	r.keepDec = &scoring.Decoder{Mem: o.Mem}
	if m != nil && m.Signature != nil {
		r.dec.Inputs, r.dec.Params = m.Signature.Inputs, m.Signature.Params
		r.outSpec = m.Signature.Outputs
	}
	if d, ok := p.(flavors.SchemaDescriber); ok && r.dec.Inputs == nil {
		// As serving does: type values by the model's own inputs.
		r.dec.Hint, _ = d.ModelSchema()
	}
	if r.outSpec.HasNames() {
		r.outNames = r.outSpec.Names()
	}
	for _, in := range ins {
		r.totalBytes += in.size
		if in.rows < 0 {
			r.totalRows = -1
		} else if r.totalRows >= 0 {
			r.totalRows += in.rows
		}
	}
	outs, err := r.plan(ins)
	if err != nil {
		return sum, err
	}
	stop := r.startProgress()
	err = r.pipeline(ctx, ins, outs)
	stop()
	sum.Rows, sum.Bad, sum.Duration = r.rowsDone.Load(), r.bad.Load(), time.Since(start)
	if err != nil {
		return sum, err
	}
	if !o.Quiet {
		fmt.Fprintln(o.Stderr, sum.String())
	}
	return sum, nil
}

func (r *runner) keeping() bool { return r.opts.KeepAll || len(r.opts.KeepColumns) > 0 }

// pipeline runs the reader, the scoring workers and the ordered writer.
// At most 2×Parallelism chunks exist at once, whatever the input size:
// that, with --batch-rows, is what bounds memory.
func (r *runner) pipeline(ctx context.Context, ins []*input, outs *outputs) (err error) {
	g, ctx := errgroup.WithContext(ctx)
	slots := make(chan struct{}, 2*r.opts.Parallelism)
	jobs := make(chan job)
	results := make(chan *result, 2*r.opts.Parallelism)
	defer func() {
		if err != nil {
			outs.abort()
		}
	}()

	// readAll is set when the reader got through every input. The writer
	// completes outputs only then: when the reader fails, jobs closes
	// before the group cancels ctx, and the writer must not take the end
	// of the jobs for the end of the input.
	var readAll atomic.Bool
	var readErr error
	g.Go(func() (err error) {
		defer func() {
			readErr = err // before close: the writer may see the close first
			close(jobs)
		}()
		var seq int64
		send := func(j job) error {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				if j.src != nil {
					j.src.release()
				}
				return ctx.Err()
			}
			j.seq = seq
			seq++
			select {
			case jobs <- j:
				return nil
			case <-ctx.Done():
				if j.src != nil {
					j.src.release()
				}
				return ctx.Err()
			}
		}
		for _, in := range ins {
			var first int64
			err := r.read(ctx, in, func(src rows) error {
				j := job{in: in, first: first, src: src}
				first += int64(src.Len())
				return send(j)
			})
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return fmt.Errorf("%s: %w", in.name(), err)
			}
			if err := send(job{in: in}); err != nil {
				return err
			}
		}
		readAll.Store(true)
		return nil
	})

	var wg sync.WaitGroup
	for range r.opts.Parallelism {
		wg.Go(func() {
			for j := range jobs {
				res := r.score(ctx, j)
				select {
				case results <- res:
				case <-ctx.Done():
					res.release()
				}
			}
		})
	}
	go func() {
		wg.Wait()
		close(results)
	}()

	g.Go(func() error {
		pending := map[int64]*result{}
		defer func() {
			for _, p := range pending {
				p.release()
			}
		}()
		var next int64
		for res := range results {
			pending[res.seq] = res
			for {
				cur, ok := pending[next]
				if !ok {
					break
				}
				delete(pending, next)
				next++
				err := r.emit(ctx, outs, cur)
				cur.release()
				<-slots
				if err != nil {
					return err
				}
			}
		}
		if !readAll.Load() {
			return errReadFailed // the reader's own error is the one reported
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return outs.finish()
	})
	err = g.Wait()
	if errors.Is(err, errReadFailed) && readErr != nil {
		err = readErr
	}
	if errors.Is(err, context.Canceled) && context.Cause(ctx) != nil {
		err = context.Cause(ctx)
	}
	return err
}

// errReadFailed stops the writer when the reader failed; errgroup reports
// the reader's error, which came first.
var errReadFailed = errors.New("the input could not be read to the end")

// emit writes one scored chunk in order.
func (r *runner) emit(ctx context.Context, outs *outputs, res *result) error {
	if res.err != nil {
		return res.err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if res.src == nil {
		if res.in.format.columnsPerRow() && res.in.good == 0 && res.in.firstBad != nil {
			// Every row of an input whose rows name their own columns was
			// bad (see structural): most likely the wrong file or a key
			// spelt differently everywhere, which --on-error is not meant
			// to turn into an output of nothing (or of nulls).
			return fmt.Errorf("no row could be scored; the first bad one: %w", res.in.firstBad)
		}
		return outs.endInput(res.in)
	}
	res.in.good += int64(res.good)
	if res.in.firstBad == nil {
		res.in.firstBad = res.firstBad
	}
	b, err := r.assemble(res, outs.sinkFor(res.in).format)
	if err != nil {
		return fmt.Errorf("%s: %w", res.in.name(), err)
	}
	if b == nil {
		return nil
	}
	defer b.Release()
	if err := outs.write(res.in, b); err != nil {
		return fmt.Errorf("writing the output of %s: %w", res.in.name(), err)
	}
	r.rowsDone.Add(b.NumRows())
	return nil
}

func (in *input) name() string {
	if in.path == "-" {
		return "stdin"
	}
	return in.path
}

// group writes n with thousands separators.
func group(n int64) string {
	s := fmt.Sprint(n)
	neg := n < 0
	if neg {
		s = s[1:]
	}
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}
