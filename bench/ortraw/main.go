// Command ortraw measures the raw limit for `mlship predict` on an ONNX
// model: rows per second of ONNX Runtime's Run over batches of -batch-rows
// rows, -parallelism calls at a time on one shared session with -threads
// intra-op threads, as `mlship predict --batch-rows N --parallelism P
// --threads T` runs the model. Nothing is read, decoded or written.
//
// Modes (-mode, comma-separated, each measured in turn):
//
//   - ort: DynamicAdvancedSession.Run with a pre-built input tensor and
//     pre-built output tensors per worker, nothing allocated per call (the
//     limit);
//   - ort-alloc: the same with outputs allocated by ONNX Runtime and
//     destroyed after each call;
//   - predict: the onnx flavor's Predict (Arrow batch in, Arrow batch out,
//     what predict/ calls) on a pre-built tensor column per worker.
//
// Inputs are the model's single float tensor input [-1, K], values uniform in
// [0, 8) as bench/predictgen writes them. The library is found as mlship
// finds it ($MLSHIP_ONNXRUNTIME_LIB, else mlship's cache).
//
//	go run ./bench/ortraw -model examples/mlp-onnx/model -batch-rows 10000 -parallelism 2 -threads 1
//
// bench/predict.sh runs it next to `mlship predict`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	ort "github.com/yalue/onnxruntime_go"

	"github.com/mlship/mlship/columnar"
	"github.com/mlship/mlship/flavors"
	"github.com/mlship/mlship/flavors/onnx"
	"github.com/mlship/mlship/mlmodel"
)

type options struct {
	model       string
	batchRows   int
	parallelism int
	threads     int
	duration    time.Duration
	warmup      time.Duration
	modes       string
}

func main() {
	var o options
	flag.StringVar(&o.model, "model", "", "ONNX model directory (required)")
	flag.IntVar(&o.batchRows, "batch-rows", 10000, "rows per Run call (mlship predict --batch-rows)")
	flag.IntVar(&o.parallelism, "parallelism", 1, "concurrent Run calls on the shared session (--parallelism)")
	flag.IntVar(&o.threads, "threads", 0, "intra-op threads of the session (--threads; 0: ONNX Runtime's default)")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "measured time per mode")
	flag.DurationVar(&o.warmup, "warmup", time.Second, "unmeasured time per mode first")
	flag.StringVar(&o.modes, "mode", "ort,ort-alloc,predict", "what to time: ort, ort-alloc, predict (comma-separated)")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "ortraw:", err)
		os.Exit(1)
	}
}

func cacheDir() string {
	if d := os.Getenv("MLSHIP_CACHE_DIR"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "mlship")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "mlship")
}

func run(o options) error {
	if o.model == "" {
		return errors.New("-model is required")
	}
	if o.batchRows < 1 || o.parallelism < 1 {
		return errors.New("-batch-rows and -parallelism must be at least 1")
	}
	m, err := mlmodel.Load(o.model)
	if err != nil {
		return err
	}
	// Loading with the flavor initialises ONNX Runtime as mlship does and
	// gives the predict mode its predictor.
	pred, err := onnx.Flavor{}.Load(context.Background(), m, flavors.LoadOptions{
		Threads: o.threads, Getenv: os.Getenv, CacheDir: cacheDir(),
	})
	if err != nil {
		return err
	}
	defer pred.(interface{ Close() error }).Close()
	fc := m.Flavors[onnx.FlavorName]
	cfg, err := onnx.ParseConfig(fc)
	if err != nil {
		return err
	}
	path, err := m.Path(cfg.Data)
	if err != nil {
		return err
	}
	ins, outs, err := ort.GetInputOutputInfo(path)
	if err != nil {
		return err
	}
	if len(ins) != 1 || ins[0].DataType != ort.TensorElementDataTypeFloat || len(ins[0].Dimensions) != 2 || ins[0].Dimensions[1] < 1 {
		return fmt.Errorf("%s: want one float32 input [-1, K]", path)
	}
	width := int(ins[0].Dimensions[1])
	sopts, err := ort.NewSessionOptions()
	if err != nil {
		return err
	}
	defer sopts.Destroy()
	if o.threads > 0 {
		if err := sopts.SetIntraOpNumThreads(o.threads); err != nil {
			return err
		}
	}
	outNames := make([]string, len(outs))
	for i, x := range outs {
		outNames[i] = x.Name
	}
	sess, err := ort.NewDynamicAdvancedSession(path, []string{ins[0].Name}, outNames, sopts)
	if err != nil {
		return err
	}
	defer sess.Destroy()

	threads := "ONNX Runtime's default"
	if o.threads > 0 {
		threads = fmt.Sprint(o.threads)
	}
	fmt.Printf("model %s: input %s float32 [-1, %d]; batch %d rows, %d concurrent calls, intra-op threads %s, %s per mode; ONNX Runtime %s\n",
		o.model, ins[0].Name, width, o.batchRows, o.parallelism, threads, o.duration, ort.GetVersion())
	fmt.Println()
	fmt.Println("| mode | rows/s | calls/s | ms/call | CPUs busy (this process) | rows per CPU-second |")
	fmt.Println("| --- | ---: | ---: | ---: | ---: | ---: |")
	for _, mode := range strings.Split(o.modes, ",") {
		var newWorker func(seed uint64) (func() error, func(), error)
		switch mode {
		case "ort", "ort-alloc":
			prebuilt := mode == "ort"
			newWorker = func(seed uint64) (func() error, func(), error) {
				return ortWorker(sess, outs, o.batchRows, width, seed, prebuilt)
			}
		case "predict":
			newWorker = func(seed uint64) (func() error, func(), error) {
				return predictWorker(pred, ins[0].Name, o.batchRows, width, seed)
			}
		default:
			return fmt.Errorf("unknown -mode %q (ort, ort-alloc, predict)", mode)
		}
		calls, elapsed, cpu, err := measure(newWorker, o)
		if err != nil {
			return fmt.Errorf("%s: %w", mode, err)
		}
		perSec := float64(calls) / elapsed.Seconds()
		rows := float64(calls) * float64(o.batchRows)
		fmt.Printf("| %s | %s | %.1f | %.3f | %.2f | %s |\n", mode, group(rows/elapsed.Seconds()), perSec,
			1e3*elapsed.Seconds()*float64(o.parallelism)/float64(calls), cpu.Seconds()/elapsed.Seconds(), group(rows/cpu.Seconds()))
	}
	return nil
}

// group formats x rounded, with thousands separators.
func group(x float64) string {
	s := strconv.FormatInt(int64(math.Round(x)), 10)
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}

// cpuTime is the CPU time (user and system) this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// measure runs parallelism workers for warmup, then counts their calls for
// duration, and returns the CPU time the process used meanwhile.
func measure(newWorker func(seed uint64) (func() error, func(), error), o options) (int64, time.Duration, time.Duration, error) {
	var (
		counting atomic.Bool
		stop     atomic.Bool
		calls    atomic.Int64
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	fns := make([]func() error, o.parallelism)
	for i := range fns {
		call, cleanup, err := newWorker(uint64(i + 1))
		if err != nil {
			return 0, 0, 0, err
		}
		defer cleanup()
		fns[i] = call
	}
	for _, call := range fns {
		wg.Go(func() {
			for !stop.Load() {
				if err := call(); err != nil {
					errOnce.Do(func() { firstErr = err })
					stop.Store(true)
					return
				}
				if counting.Load() {
					calls.Add(1)
				}
			}
		})
	}
	time.Sleep(o.warmup)
	counting.Store(true)
	start, cpu0 := time.Now(), cpuTime()
	time.Sleep(o.duration)
	n := calls.Load()
	elapsed, cpu := time.Since(start), cpuTime()-cpu0
	stop.Store(true)
	wg.Wait()
	if firstErr != nil {
		return 0, 0, 0, firstErr
	}
	if n == 0 {
		return 0, 0, 0, errors.New("no call finished in the measured time: raise -duration")
	}
	return n, elapsed, cpu, nil
}

func features(rows, width int, seed uint64) []float32 {
	rng := rand.New(rand.NewPCG(seed, 0x6f7274726177))
	v := make([]float32, rows*width)
	for i := range v {
		v[i] = float32(8 * rng.Float64())
	}
	return v
}

func ortWorker(sess *ort.DynamicAdvancedSession, outs []ort.InputOutputInfo, rows, width int, seed uint64, prebuilt bool) (func() error, func(), error) {
	in, err := ort.NewTensor(ort.NewShape(int64(rows), int64(width)), features(rows, width, seed))
	if err != nil {
		return nil, nil, err
	}
	ins := []ort.Value{in}
	if !prebuilt {
		return func() error {
				vals := make([]ort.Value, len(outs))
				if err := sess.Run(ins, vals); err != nil {
					return err
				}
				for _, v := range vals {
					v.Destroy()
				}
				return nil
			}, func() {
				in.Destroy()
			}, nil
	}
	vals := make([]ort.Value, len(outs))
	cleanup := func() {
		in.Destroy()
		for _, v := range vals {
			if v != nil {
				v.Destroy()
			}
		}
	}
	for i, x := range outs {
		shape := x.Dimensions.Clone()
		for j, d := range shape {
			if d < 0 {
				shape[j] = int64(rows)
			}
		}
		var v ort.Value
		switch x.DataType {
		case ort.TensorElementDataTypeFloat:
			v, err = ort.NewEmptyTensor[float32](shape)
		case ort.TensorElementDataTypeDouble:
			v, err = ort.NewEmptyTensor[float64](shape)
		case ort.TensorElementDataTypeInt64:
			v, err = ort.NewEmptyTensor[int64](shape)
		case ort.TensorElementDataTypeInt32:
			v, err = ort.NewEmptyTensor[int32](shape)
		default:
			err = fmt.Errorf("output %q: element type %v not handled", x.Name, x.DataType)
		}
		if err != nil {
			cleanup()
			return nil, nil, err
		}
		vals[i] = v
	}
	return func() error { return sess.Run(ins, vals) }, cleanup, nil
}

// predictWorker calls the flavor's Predict on the batch the scoring decoder
// makes from a fixed-size-list column: one batched float32 [rows, width]
// tensor column named after the input.
func predictWorker(p flavors.Predictor, name string, rows, width int, seed uint64) (func() error, func(), error) {
	fb := array.NewFloat32Builder(memory.DefaultAllocator)
	fb.AppendValues(features(rows, width, seed), nil)
	vals := fb.NewArray()
	fb.Release()
	defer vals.Release()
	f, col, err := columnar.NewTensorColumn(name, []int64{int64(rows), int64(width)}, vals, true)
	if err != nil {
		return nil, nil, err
	}
	defer col.Release()
	in := array.NewRecordBatch(arrow.NewSchema([]arrow.Field{f}, nil), []arrow.Array{col}, int64(rows))
	// predict/ calls Predict with its run's cancellable context, which
	// arms RunOptions.Terminate per call; so does this.
	ctx, cancel := context.WithCancel(context.Background())
	return func() error {
			out, err := p.Predict(ctx, in, nil)
			if err != nil {
				return err
			}
			out.Release()
			return nil
		}, func() {
			cancel()
			in.Release()
		}, nil
}
