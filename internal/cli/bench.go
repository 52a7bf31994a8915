package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/mlship/mlship/internal/loadgen"
	"github.com/mlship/mlship/mlmodel"
)

// benchOptions are the flags of `mlship bench`.
type benchOptions struct {
	concurrency []int
	duration    time.Duration
	requests    int64
	warmup      time.Duration
	rows        int
	protocol    string
	rate        float64
	asJSON      bool
	jsonFile    string
	raw         bool
	cpuProfile  string
	client      string

	// URL targets.
	model     string
	modelName string
	authToken string

	// In-process serving (a model directory target), as `mlship serve`.
	flavor        string
	threads       int
	batching      string
	maxBatchRows  int
	maxBatchDelay time.Duration
	instances     int
	maxQueue      int
	maxQueueDelay string
}

func (o *benchOptions) AddFlags(fs *pflag.FlagSet, d *deps) {
	fs.IntSliceVar(&o.concurrency, "concurrency", []int{1, 8, 32, 64}, "concurrent clients, one level of the sweep each (comma-separated)")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "measured time per level (and per raw measurement)")
	fs.Int64Var(&o.requests, "requests", 0, "measured requests per level instead of --duration (with both, whichever ends first)")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "unmeasured load before each level")
	fs.IntVar(&o.rows, "rows", 1, "rows per request")
	fs.StringVar(&o.protocol, "protocol", "mlflow", "request format: mlflow (JSON on /invocations), csv, v2 (Open Inference Protocol JSON), arrow (Arrow IPC stream on /invocations)")
	fs.Float64Var(&o.rate, "rate", 0, "open loop: offer this many requests per second at each level, --concurrency being the most outstanding (0: closed loop)")
	fs.BoolVar(&o.asJSON, "json", false, "print the report as JSON instead of a markdown table")
	fs.StringVar(&o.jsonFile, "json-file", "", "also write the JSON report to this file")
	fs.BoolVar(&o.raw, "raw", true, "for a model directory, also time the flavor's Predict directly (no HTTP) as the limit")
	fs.StringVar(&o.client, "client", "std", "HTTP client of the load generator: std (net/http's Transport) or lean (its own keep-alive connections, request bytes built once, the answer read on the calling goroutine: about half of std's CPU per request, which the server then has; http:// only)")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to this file; samples of the load generator and raw phases carry the label mlship_bench=client or raw")

	fs.StringVar(&o.model, "model", "", "for a URL target: the model directory to build requests from (default: the server's V2 metadata)")
	fs.StringVar(&o.modelName, "model-name", "", "for a URL target: the model's name in V2 routes (default: read from the server's /metrics, else \"model\")")
	fs.StringVar(&o.authToken, "auth-token", d.env.get("MLSHIP_AUTH_TOKEN"), "send 'Authorization: Bearer TOKEN' (env MLSHIP_AUTH_TOKEN)")

	fs.StringVar(&o.flavor, "flavor", "", "model directory: serve with this flavor instead of the preferred one")
	fs.IntVar(&o.threads, "threads", 0, "model directory: intra-op threads one prediction may use (0: as mlship serve: the model's onnx_session_options, else 1)")
	fs.StringVar(&o.batching, "batching", "auto", "model directory: merge concurrent requests into one model call: auto, on, off")
	fs.IntVar(&o.maxBatchRows, "max-batch-rows", 64, "model directory: most rows merged into one model call")
	fs.DurationVar(&o.maxBatchDelay, "max-batch-delay", 0, "model directory: how long a batch may wait for more requests")
	fs.IntVar(&o.instances, "model-instances", 1, "model directory: model calls that may run at once")
	fs.IntVar(&o.maxQueue, "max-queue", 256, "model directory: requests that may wait for the model before 503s")
	fs.StringVar(&o.maxQueueDelay, "max-queue-delay", "auto", "model directory: most a request may expect to wait in the queue before 503, as `mlship serve` (auto, 0: off, or a duration)")
}

func (o *benchOptions) validate() error {
	if len(o.concurrency) == 0 {
		return errors.New("--concurrency needs at least one level")
	}
	for _, c := range o.concurrency {
		if c < 1 {
			return fmt.Errorf("--concurrency %d: levels must be at least 1", c)
		}
	}
	switch {
	case o.duration < 0 || o.requests < 0 || o.warmup < 0 || o.rate < 0:
		return errors.New("--duration, --requests, --warmup and --rate may not be negative")
	case o.duration == 0 && o.requests == 0:
		return errors.New("--duration 0 needs --requests")
	case o.rows < 1:
		return errors.New("--rows must be at least 1")
	}
	if o.client != "std" && o.client != "lean" {
		return fmt.Errorf("--client must be std or lean, not %q", o.client)
	}
	switch o.batching {
	case "auto", "on", "off":
	default:
		return fmt.Errorf("--batching must be auto, on or off, not %q", o.batching)
	}
	if o.maxBatchRows < 1 || o.instances < 1 || o.maxQueue < 1 {
		return errors.New("--max-batch-rows, --model-instances and --max-queue must be at least 1")
	}
	return nil
}

// NewCmdBench is `mlship bench TARGET`.
func NewCmdBench(d *deps) *cobra.Command {
	o := &benchOptions{}
	cmd := &cobra.Command{
		Use:   "bench TARGET",
		Short: "Load-test a model server and report throughput and latency against the model's own limit",
		Long: "Offer load to TARGET at each level of --concurrency and report throughput, p50/p90/p99 latency and\n" +
			"errors by status. TARGET is a server URL (http://host:port) or a model directory, which is then\n" +
			"served in-process on 127.0.0.1 with the serving flags given; for a model directory the flavor's\n" +
			"Predict is also timed directly, with the same batches at the same concurrency, so the report\n" +
			"shows the server's overhead and its share of that limit.\n\n" +
			"Requests are built from the model's signature and input example (--model for a URL; without\n" +
			"it, from the server's V2 model metadata).",
		Example: "  mlship bench ./model\n" +
			"  mlship bench ./model --concurrency 64 --batching off --duration 5s --json\n" +
			"  mlship bench http://127.0.0.1:8080 --model ./model --protocol v2 --concurrency 1,16",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBench(cmd.Context(), d, o, args[0])
		},
	}
	o.AddFlags(cmd.Flags(), d)
	return cmd
}

// benchTarget is what a run measures: a URL to send to and, for an
// in-process server, the Predict call to compare with.
type benchTarget struct {
	base   string // http://host:port
	model  string // model directory, when known
	flavor string
	name   string // V2 model name
	schema *mlmodel.Schema
	// example is input_example.json, nil when there is none.
	example []byte
	server  []loadgen.Setting
	// raw returns a Caller timing Predict on the batch the server decodes
	// from body; nil for URL targets.
	raw  func(p loadgen.Protocol, body []byte) (loadgen.Caller, func(), error)
	stop func() error
}

func runBench(ctx context.Context, d *deps, o *benchOptions, target string) (err error) {
	if err := o.validate(); err != nil {
		return err
	}
	proto, err := loadgen.ParseProtocol(o.protocol)
	if err != nil {
		return fmt.Errorf("--protocol: %w", err)
	}
	stopProfile, err := startCPUProfile(o.cpuProfile)
	if err != nil {
		return err
	}
	defer stopProfile()
	maxConc := 0
	for _, c := range o.concurrency {
		maxConc = max(maxConc, c)
	}
	client := loadgen.NewClient(maxConc)
	defer client.CloseIdleConnections()
	header := http.Header{}
	if o.authToken != "" {
		header.Set("Authorization", "Bearer "+o.authToken)
	}

	var t *benchTarget
	if strings.HasPrefix(target, "http://") || strings.HasPrefix(target, "https://") {
		t, err = urlTarget(ctx, client, header, o, target)
	} else {
		if o.model != "" {
			return errors.New("--model is for URL targets; a model directory target is the model")
		}
		t, err = startInProcess(ctx, d, o, target)
	}
	if err != nil {
		return err
	}
	if t.stop != nil {
		defer func() {
			if serr := t.stop(); serr != nil && err == nil {
				err = fmt.Errorf("stopping the in-process server: %w", serr)
			}
		}()
	}
	if t.name == "" {
		t.name = "model"
		if m, ok, err := loadgen.ScrapeMetrics(ctx, client, t.base, header); err == nil && ok && m.ModelName != "" {
			t.name = m.ModelName
		} else if t.model != "" {
			t.name = filepath.Base(t.model)
		}
	}
	if t.schema == nil {
		if t.schema, err = loadgen.V2Inputs(ctx, client, t.base, t.name, header); err != nil {
			return fmt.Errorf("the model has no signature to build requests from (pass --model DIR, or --model-name if the name is wrong): %w", err)
		}
	}
	sample, err := loadgen.NewSample(t.schema, t.example, o.rows)
	if err != nil {
		return err
	}
	ctype, body, err := sample.Body(proto)
	if err != nil {
		return err
	}
	req := loadgen.Request{URL: t.base + proto.Path(t.name), ContentType: ctype, Body: body, Header: header}
	// One request first: a target that cannot answer it would only fill
	// the report with errors.
	var status int
	var answer []byte
	pprof.Do(ctx, pprof.Labels("mlship_bench", "client"), func(ctx context.Context) {
		status, answer, err = loadgen.Send(ctx, client, req) // with --client std its connection is the load generator's too
	})
	if err != nil {
		return fmt.Errorf("trial request to %s: %w", req.URL, err)
	}
	if status != http.StatusOK {
		return fmt.Errorf("trial request to %s answered %d: %s", req.URL, status, strings.TrimSpace(string(answer)))
	}

	report := &loadgen.Report{
		Date:      time.Now().UTC().Format("2006-01-02 15:04 MST"),
		Command:   "mlship " + strings.Join(os.Args[1:], " "),
		Target:    target,
		Model:     t.model,
		Flavor:    t.flavor,
		Protocol:  proto,
		URL:       proto.Path(t.name),
		Rows:      o.rows,
		BodyBytes: len(body),
		Values:    sample.Source,
		Load:      describeLoad(o),
		Machine:   loadgen.ThisMachine(),
		Server:    t.server,
	}
	var raw loadgen.Caller
	if t.raw != nil && o.raw {
		var release func()
		if raw, release, err = t.raw(proto, body); err != nil {
			return fmt.Errorf("preparing the raw Predict measurement: %w", err)
		}
		defer release()
	}
	call := loadgen.HTTPCaller(client, req)
	if o.client == "lean" {
		var closeLean func()
		if call, closeLean, err = loadgen.LeanCaller(req, maxConc); err != nil {
			return fmt.Errorf("--client lean: %w", err)
		}
		defer closeLean()
	}
	for _, c := range o.concurrency {
		lvl, err := benchLevel(ctx, d, o, c, client, header, t.base, call, raw)
		if err != nil {
			return err
		}
		report.Levels = append(report.Levels, lvl)
	}
	if o.jsonFile != "" {
		f, err := os.Create(o.jsonFile)
		if err != nil {
			return fmt.Errorf("--json-file: %w", err)
		}
		werr := report.WriteJSON(f)
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return fmt.Errorf("--json-file: %w", werr)
		}
	}
	if o.asJSON {
		return report.WriteJSON(d.stdout)
	}
	return report.WriteMarkdown(d.stdout)
}

// benchLevel measures one concurrency: warm-up, the server, then Predict.
func benchLevel(ctx context.Context, d *deps, o *benchOptions, c int, client *http.Client, header http.Header, base string, call, raw loadgen.Caller) (loadgen.Level, error) {
	opts := loadgen.Options{Concurrency: c, Duration: o.duration, Requests: o.requests, Rate: o.rate}
	if o.warmup > 0 {
		w := opts
		w.Duration, w.Requests = o.warmup, 0
		if _, err := runAs(ctx, "client", w, call); err != nil {
			return loadgen.Level{}, err
		}
	}
	// The server's batch counters around the measured phase only.
	before, okBefore, _ := loadgen.ScrapeMetrics(ctx, client, base, header)
	cpu0 := loadgen.ReadCPU()
	res, err := runAs(ctx, "client", opts, call)
	if err != nil {
		return loadgen.Level{}, err
	}
	after, okAfter, _ := loadgen.ScrapeMetrics(ctx, client, base, header)
	server := loadgen.StatsOf(res)
	fmt.Fprintf(d.stderr, "concurrency %d: %.0f req/s, p50 %.1f µs, p99 %.1f µs, %d errors\n", c, server.Throughput, server.Latency.P50, server.Latency.P99, res.ErrorCount())
	var rawStats *loadgen.Stats
	if raw != nil {
		ropts := opts
		ropts.Rate = 0 // the limit is what Predict sustains, whatever the offered rate
		ropts.Warmup = min(o.warmup, time.Second)
		r, err := runAs(ctx, "raw", ropts, raw)
		if err != nil {
			return loadgen.Level{}, err
		}
		if r.ErrorCount() > 0 {
			return loadgen.Level{}, fmt.Errorf("raw Predict failed %d times: %s", r.ErrorCount(), r.FirstError)
		}
		s := loadgen.StatsOf(r)
		rawStats = &s
		fmt.Fprintf(d.stderr, "concurrency %d: raw Predict %.0f calls/s, p50 %.1f µs, p99 %.1f µs\n", c, s.Throughput, s.Latency.P50, s.Latency.P99)
	}
	lvl := loadgen.NewLevel(c, server, rawStats)
	lvl.CPU = loadgen.CPUBetween(cpu0, loadgen.ReadCPU())
	if okBefore && okAfter {
		if n := after.Batches - before.Batches; n > 0 {
			lvl.MeanBatchRows = round1((after.BatchRows - before.BatchRows) / n)
			lvl.MeanBatchRequests = round1((after.BatchRequests - before.BatchRequests) / n)
		}
	}
	return lvl, nil
}

// runAs runs load with the pprof label mlship_bench=role on its
// goroutines (and those they start, such as the HTTP client's connection
// loops), so a --cpuprofile of an in-process run separates the server's
// samples from the load generator's and the raw Predict phase's:
// go tool pprof -tagignore mlship_bench=client|raw shows the server alone.
func runAs(ctx context.Context, role string, opts loadgen.Options, call loadgen.Caller) (res *loadgen.Result, err error) {
	pprof.Do(ctx, pprof.Labels("mlship_bench", role), func(ctx context.Context) {
		res, err = loadgen.Run(ctx, opts, call)
	})
	return res, err
}

func round1(v float64) float64 { return float64(int64(v*10+0.5)) / 10 }

func describeLoad(o *benchOptions) string {
	var b strings.Builder
	if o.rate > 0 {
		fmt.Fprintf(&b, "open loop at %s req/s (at most --concurrency outstanding)", strconv.FormatFloat(o.rate, 'f', -1, 64))
	} else {
		b.WriteString("closed loop (each client sends its next request when the last is answered)")
	}
	b.WriteString(", keep-alive connections (" + map[string]string{"std": "net/http client", "lean": "lean client"}[o.client] + "); per level ")
	switch {
	case o.requests > 0 && o.duration > 0:
		fmt.Fprintf(&b, "%d requests or %s, whichever first", o.requests, o.duration)
	case o.requests > 0:
		fmt.Fprintf(&b, "%d requests", o.requests)
	default:
		b.WriteString(o.duration.String())
	}
	fmt.Fprintf(&b, " after %s warm-up", o.warmup)
	return b.String()
}

// urlTarget prepares a server given by URL: requests come from --model's
// signature when given, else from the server's V2 metadata.
func urlTarget(ctx context.Context, client *http.Client, header http.Header, o *benchOptions, target string) (*benchTarget, error) {
	t := &benchTarget{base: strings.TrimRight(target, "/"), name: o.modelName}
	if o.model == "" {
		return t, nil
	}
	m, err := mlmodel.Load(o.model)
	if err != nil {
		return nil, err
	}
	t.model = m.Dir
	if m.Signature != nil && m.Signature.Inputs != nil {
		t.schema = m.Signature.Inputs
	}
	if t.example, err = m.InputExample(); err != nil && !errors.Is(err, mlmodel.ErrNoInputExample) {
		return nil, err
	}
	return t, nil
}
