package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/mlship/mlship/columnar"
	"github.com/mlship/mlship/flavors"
	"github.com/mlship/mlship/internal/loadgen"
	"github.com/mlship/mlship/mlmodel"
	"github.com/mlship/mlship/serve"
	"github.com/mlship/mlship/serve/scoring"
	"github.com/mlship/mlship/serve/v2"
)

// startInProcess loads the model and serves it on 127.0.0.1:0 with the
// real server, as `mlship serve` would with the same flags, and returns
// once it reports ready (after warm-up).
func startInProcess(ctx context.Context, d *deps, o *benchOptions, ref string) (*benchTarget, error) {
	// The server's own logs would interleave with the report, and under
	// overload it logs every 503: keep them only when asked for.
	log := slog.New(slog.DiscardHandler)
	if *d.logLevel != "" || d.env.get("MLSHIP_LOG_LEVEL") != "" {
		log = d.logger()
	}
	lo := d.loadOptions(o.threads)
	lo.DefaultThreads = servingThreads
	lo.Logger = log
	queueDelay, err := serve.ParseQueueDelay(o.maxQueueDelay)
	if err != nil {
		return nil, err
	}
	loaded, err := d.registry.Load(ctx, ref, o.flavor, lo)
	if err != nil {
		return nil, err
	}
	srv := serve.New(loaded.Predictor, serve.Config{
		Addr:     "127.0.0.1:0",
		Model:    loaded.Model,
		Flavor:   loaded.Flavor,
		Batching: o.batching,
		Batch: serve.BatchConfig{
			MaxBatchRows:  o.maxBatchRows,
			MaxBatchDelay: o.maxBatchDelay,
			Instances:     o.instances,
			MaxQueue:      o.maxQueue,
			MaxQueueDelay: queueDelay,
		},
		Version: Version(),
		Logger:  log,
	})
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		loaded.Close()
		return nil, fmt.Errorf("listening on 127.0.0.1: %w", err)
	}
	sctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(sctx, ln) }()
	stop := func() error {
		cancel()
		err := <-errc
		if cerr := loaded.Close(); err == nil {
			err = cerr
		}
		return err
	}
	// Serve listens at once but reports ready only after warming the
	// model up; load offered before that would measure the warm-up.
	deadline := time.Now().Add(2 * time.Minute)
	for !srv.Ready() {
		select {
		case err := <-errc:
			errc <- err // for stop
			stop()
			return nil, fmt.Errorf("in-process server: %w", err)
		case <-ctx.Done():
			stop()
			return nil, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			stop()
			return nil, errors.New("in-process server did not become ready within 2 minutes")
		}
	}

	m := loaded.Model
	own, _ := ownSchema(loaded.Predictor)
	t := &benchTarget{
		base:   "http://" + ln.Addr().String(),
		model:  m.Dir,
		flavor: loaded.Flavor,
		server: []loadgen.Setting{
			{Name: "--batching", Value: o.batching},
			{Name: "--max-batch-rows", Value: strconv.Itoa(o.maxBatchRows)},
			{Name: "--max-batch-delay", Value: o.maxBatchDelay.String()},
			{Name: "--model-instances", Value: strconv.Itoa(o.instances)},
			{Name: "--max-queue", Value: strconv.Itoa(o.maxQueue)},
			{Name: "--threads", Value: strconv.Itoa(o.threads)},
		},
		stop: stop,
	}
	t.schema = srv.InputSchema()
	if t.schema == nil {
		t.schema = own // no signature: the model's own description, as V2 metadata shows it
	}
	if t.example, err = m.InputExample(); err != nil && !errors.Is(err, mlmodel.ErrNoInputExample) {
		stop()
		return nil, err
	}
	t.raw = func(p loadgen.Protocol, body []byte) (loadgen.Caller, func(), error) {
		return rawPredict(loaded.Predictor, m, own, p, body)
	}
	return t, nil
}

func ownSchema(p flavors.Predictor) (in, out *mlmodel.Schema) {
	if d, ok := p.(flavors.SchemaDescriber); ok {
		return d.ModelSchema()
	}
	return nil, nil
}

// rawPredict decodes body once, with the codecs and settings the server
// uses, and returns a Caller that passes that batch to the flavor's
// Predict: the server's work minus HTTP, decoding, batching and encoding.
func rawPredict(p flavors.Predictor, m *mlmodel.Model, own *mlmodel.Schema, proto loadgen.Protocol, body []byte) (loadgen.Caller, func(), error) {
	var in *mlmodel.Schema
	var params *mlmodel.ParamSchema
	if sig := m.Signature; sig != nil {
		in, params = sig.Inputs, sig.Params
	}
	var batch columnar.Batch
	var args map[string]any
	if proto == loadgen.V2 {
		metas := v2.Metas(in)
		if in == nil {
			metas = v2.Metas(own)
		}
		dec := &v2.Decoder{Inputs: metas}
		if len(metas) == 0 {
			dec.Inputs = nil
		}
		req, err := dec.Decode(body, -1)
		if err != nil {
			return nil, nil, err
		}
		batch, args = req.Batch, req.Parameters
		if params != nil {
			// As the V2 route does: the signature's params schema applies.
			if args, _, err = scoring.EnforceParams(params, req.Parameters); err != nil {
				batch.Release()
				return nil, nil, err
			}
		}
	} else {
		dec := &scoring.Decoder{Inputs: in, Params: params}
		if in == nil {
			dec.Hint = own
		}
		var req *scoring.Request
		var err error
		switch proto {
		case loadgen.CSV:
			req, err = dec.DecodeCSV(body)
		case loadgen.Arrow:
			req, err = dec.DecodeArrow(body)
		default:
			req, err = dec.DecodeJSON(body)
		}
		if err != nil {
			return nil, nil, err
		}
		batch, args = req.Batch, req.Params
	}
	call := func(ctx context.Context) (int, error) {
		out, err := p.Predict(ctx, batch, args)
		if err != nil {
			return 0, err
		}
		out.Release()
		return 200, nil
	}
	return call, batch.Release, nil
}
