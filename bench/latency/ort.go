package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"sync"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/mlship/mlship/flavors"
	"github.com/mlship/mlship/flavors/onnx"
	"github.com/mlship/mlship/mlmodel"
	"github.com/mlship/mlship/serve"
)

// inProcess is the example loaded in this process by the onnx flavor, as
// `mlship serve` loads it. Loading it is also how this process initialises
// ONNX Runtime, so the raw sessions run on the library and environment the
// flavor chose.
var inProcess struct {
	once  sync.Once
	model *mlmodel.Model
	pred  flavors.Predictor
	path  string // the .onnx file
	err   error
}

func loadInProcess(o options) (*mlmodel.Model, flavors.Predictor, string, error) {
	inProcess.once.Do(func() {
		m, err := mlmodel.Load(o.model)
		if err != nil {
			inProcess.err = err
			return
		}
		fc, ok := m.Flavors[onnx.FlavorName]
		if !ok {
			inProcess.err = fmt.Errorf("%s has no onnx flavor", o.model)
			return
		}
		cfg, err := onnx.ParseConfig(fc)
		if err != nil {
			inProcess.err = err
			return
		}
		if inProcess.path, err = m.Path(cfg.Data); err != nil {
			inProcess.err = err
			return
		}
		getenv := func(k string) string {
			if k == onnx.EnvLibrary {
				return o.ortLib
			}
			return os.Getenv(k)
		}
		inProcess.model = m
		inProcess.pred, inProcess.err = onnx.Flavor{}.Load(context.Background(), m,
			flavors.LoadOptions{Threads: o.threads, Getenv: getenv})
	})
	return inProcess.model, inProcess.pred, inProcess.path, inProcess.err
}

func ortVersionString() string {
	if !ort.IsInitialized() {
		return ""
	}
	return ort.GetVersion()
}

// mlshipInProcess serves the example with package serve from this process
// over loopback: the handler and net/http without a second process.
func mlshipInProcess(ctx context.Context, body []byte, ctype string, o options) (*target, error) {
	m, p, _, err := loadInProcess(o)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := serve.New(p, serve.Config{Model: m})
	sctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(sctx, ln) }()
	url := "http://" + ln.Addr().String() + "/invocations"
	resp, err := fetch(ctx, url, body, ctype)
	stop := func() error {
		cancel()
		return <-errc
	}
	if err != nil {
		stop()
		return nil, err
	}
	t := httpTarget("mlship serve (HTTP, in this process)", url, body, ctype, len(resp.body), o)
	t.stop = stop
	return t, nil
}

// rawTarget times DynamicAdvancedSession.Run on one session shared by the
// workers, as mlship shares its session between requests, with the
// session options mlship uses (ONNX Runtime's defaults, or -threads
// intra-op threads). Each worker owns a pre-built [rows, 4] input; with
// prebuilt it also owns its output tensors, otherwise ONNX Runtime
// allocates them and they are destroyed after each call.
func rawTarget(prebuilt bool, o options) (*target, error) {
	_, _, path, err := loadInProcess(o)
	if err != nil {
		return nil, err
	}
	opts, err := ort.NewSessionOptions()
	if err != nil {
		return nil, err
	}
	defer opts.Destroy()
	if o.threads > 0 {
		if err := opts.SetIntraOpNumThreads(o.threads); err != nil {
			return nil, err
		}
	}
	sess, err := ort.NewDynamicAdvancedSession(path, []string{"input"}, []string{"probabilities", "label"}, opts)
	if err != nil {
		return nil, err
	}
	rows := int64(o.rows)
	data := make([]float32, 0, 4*o.rows)
	for i := range o.rows {
		data = append(data, irisRows[i%len(irisRows)][:]...)
	}
	newWorker := func() (func() error, func()) {
		fail := func(err error) (func() error, func()) { return func() error { return err }, func() {} }
		in, err := ort.NewTensor(ort.NewShape(rows, 4), append([]float32(nil), data...))
		if err != nil {
			return fail(err)
		}
		ins := []ort.Value{in}
		if !prebuilt {
			return func() error {
				outs := []ort.Value{nil, nil}
				if err := sess.Run(ins, outs); err != nil {
					return err
				}
				outs[0].Destroy()
				outs[1].Destroy()
				return nil
			}, func() { in.Destroy() }
		}
		probs, err := ort.NewEmptyTensor[float32](ort.NewShape(rows, 3))
		if err != nil {
			in.Destroy()
			return fail(err)
		}
		label, err := ort.NewEmptyTensor[int64](ort.NewShape(rows))
		if err != nil {
			in.Destroy()
			probs.Destroy()
			return fail(err)
		}
		outs := []ort.Value{probs, label}
		return func() error { return sess.Run(ins, outs) }, func() {
			in.Destroy()
			probs.Destroy()
			label.Destroy()
		}
	}
	name := "raw ORT Run, pre-built outputs (in-process; the limit)"
	if !prebuilt {
		name = "raw ORT Run, ORT-allocated outputs (in-process)"
	}
	return &target{name: name, newWorker: newWorker, stop: sess.Destroy}, nil
}
