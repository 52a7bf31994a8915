// Command latency measures end-to-end request latency of `mlship serve`
// over loopback HTTP next to the limits it is compared against, all in one
// run, and prints a markdown report:
//
//   - mlship: `mlship serve MODEL` started as a subprocess on a free
//     127.0.0.1 port;
//   - bare: a net/http handler that reads the body and answers a canned copy
//     of mlship's response (same bytes, same Content-Type), served by a child
//     process of this program so that both HTTP targets run as separate
//     processes (bare-inproc serves it from this process instead);
//   - raw: onnxruntime_go's DynamicAdvancedSession.Run, in-process, on the
//     same model with the same thread settings and pre-built input and
//     output tensors (raw-ortalloc lets ONNX Runtime allocate the outputs,
//     as mlship must);
//   - mlship-inproc: package serve over loopback from this process, to
//     separate the cost of a second process from the handler's.
//
// Every target is started first; each gets -warmup requests, then -n
// measured ones in rounds of -chunk, targets taking turns, from -c
// goroutines over keep-alive connections. For server subprocesses the
// report adds their CPU time and thread switch-ins per request. Servers
// are stopped by PID.
//
//	go build -o bin/mlship ./cmd/mlship && go run ./bench/latency -mlship bin/mlship
//
// bench/run.sh builds both and writes bench/results/latest.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mlship/mlship/flavors/onnx"
)

type options struct {
	mlship      string
	model       string
	rows        int
	body        string
	contentType string
	concurrency int
	n           int
	warmup      int
	threads     int
	ortLib      string
	targets     string
	chunk       int
	serverEnv   []string
	out         string
}

// irisRows cycles through the example's three rows.
var irisRows = [][4]float32{{5.1, 3.5, 1.4, 0.2}, {7.0, 3.2, 4.7, 1.4}, {6.3, 3.3, 6.0, 2.5}}

func main() {
	var o options
	var serveBare, canned string
	flag.StringVar(&o.mlship, "mlship", "bin/mlship", "mlship binary to start (build it first: make build)")
	flag.StringVar(&o.model, "model", "examples/iris-onnx/model", "ONNX model directory (MLmodel with an onnx flavor)")
	flag.IntVar(&o.rows, "rows", 1, "rows per request: the JSON body is {\"inputs\": [[f0, f1, f2, f3], ...]} and the raw tensor is [rows, 4]")
	flag.StringVar(&o.body, "body", "", "request body to send instead of the generated one (raw ORT still uses -rows)")
	flag.StringVar(&o.contentType, "content-type", "application/json", "Content-Type of -body")
	flag.IntVar(&o.concurrency, "c", 1, "concurrent requests (goroutines, one keep-alive connection each)")
	flag.IntVar(&o.n, "n", 20000, "measured requests per target")
	flag.IntVar(&o.warmup, "warmup", 2000, "warm-up requests per target, not measured")
	flag.IntVar(&o.threads, "threads", 0, "intra-op threads for mlship (--threads) and the raw session (0: ONNX Runtime's default, as mlship without --threads)")
	flag.StringVar(&o.ortLib, "ort-lib", "", "libonnxruntime.so for the raw target (default: $MLSHIP_ONNXRUNTIME_LIB, else mlship's cache)")
	flag.StringVar(&o.targets, "targets", "mlship,bare,raw,raw-ortalloc", "comma-separated, measured in this order: mlship, bare, mlship-inproc, bare-inproc, raw, raw-ortalloc")
	flag.IntVar(&o.chunk, "chunk", 1000, "measured requests per target per round: targets take turns in chunks of this size")
	flag.Func("server-env", "KEY=VALUE added to the environment of the server subprocesses (mlship and bare); repeatable, e.g. -server-env GOMAXPROCS=1", func(v string) error {
		if !strings.Contains(v, "=") {
			return fmt.Errorf("want KEY=VALUE, got %q", v)
		}
		o.serverEnv = append(o.serverEnv, v)
		return nil
	})
	flag.StringVar(&o.out, "o", "", "write the markdown report to this file as well as stdout")
	flag.StringVar(&serveBare, "serve-bare", "", "internal: serve the canned response on this address (127.0.0.1:0) and print it")
	flag.StringVar(&canned, "canned", "", "internal: file holding Content-Type, a newline, then the canned body")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if serveBare != "" {
		if err := runBareChild(ctx, serveBare, canned); err != nil {
			fmt.Fprintln(os.Stderr, "latency: bare server:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "latency:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	if o.concurrency < 1 || o.n < 1 || o.warmup < 0 || o.rows < 1 || o.chunk < 1 {
		return fmt.Errorf("-c, -n, -chunk and -rows must be positive, -warmup not negative")
	}
	var names []string
	for _, t := range strings.Split(o.targets, ",") {
		switch t = strings.TrimSpace(t); t {
		case "mlship", "mlship-inproc", "bare", "bare-inproc", "raw", "raw-ortalloc":
			names = append(names, t)
		case "":
		default:
			return fmt.Errorf("unknown target %q", t)
		}
	}
	body, ctype := []byte(o.body), o.contentType
	if o.body == "" {
		body, ctype = inputsBody(o.rows), "application/json"
	}
	o.ortLib = ortLibrary(o.ortLib)

	// Start every target first, then measure them in interleaved chunks so
	// that drift on a shared machine hits all of them alike.
	var targets []*target
	defer func() {
		for _, t := range targets {
			if t.stop != nil {
				t.stop()
			}
		}
	}()
	var ml *child
	var resp response // mlship's answer, which the bare handlers copy
	needResp := slices.ContainsFunc(names, func(n string) bool { return strings.HasPrefix(n, "bare") })
	if slices.Contains(names, "mlship") || needResp {
		var err error
		if ml, err = startMLShip(ctx, o); err != nil {
			return err
		}
		if resp, err = fetch(ctx, ml.url, body, ctype); err != nil {
			ml.stop()
			return fmt.Errorf("mlship: %w", err)
		}
		if !slices.Contains(names, "mlship") {
			if err := ml.stop(); err != nil {
				return err
			}
			ml = nil
		}
	}
	var ortVersion string
	for _, name := range names {
		var t *target
		var err error
		switch name {
		case "mlship":
			t = httpTarget("mlship serve (HTTP, subprocess)", ml.url, body, ctype, len(resp.body), o)
			t.stop, t.sched = ml.stop, ml.sched
		case "bare":
			var c *child
			if c, err = startBareChild(ctx, resp, o.serverEnv); err == nil {
				t = httpTarget(fmt.Sprintf("bare net/http, canned %d B (HTTP, subprocess)", len(resp.body)), c.url, body, ctype, len(resp.body), o)
				t.stop, t.sched = c.stop, c.sched
			}
		case "bare-inproc":
			var url string
			var stop func() error
			if url, stop, err = startBareInProcess(resp); err == nil {
				t = httpTarget(fmt.Sprintf("bare net/http, canned %d B (HTTP, in this process)", len(resp.body)), url, body, ctype, len(resp.body), o)
				t.stop = stop
			}
		case "mlship-inproc":
			t, err = mlshipInProcess(ctx, body, ctype, o)
		case "raw", "raw-ortalloc":
			t, err = rawTarget(name == "raw", o)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		targets = append(targets, t)
		if strings.HasPrefix(name, "raw") || name == "mlship-inproc" {
			ortVersion = ortVersionString()
		}
	}
	env := runEnv{loadBefore: loadAvg()}
	t0, ok0 := readCPUTimes()
	results, err := measureAll(ctx, targets, o)
	if err != nil {
		return err
	}
	t1, ok1 := readCPUTimes()
	env.loadAfter, env.cpu = loadAvg(), cpuUse(t0, t1, ok0 && ok1)
	for _, t := range targets {
		if t.stop != nil {
			if err := t.stop(); err != nil {
				return fmt.Errorf("stopping %s: %w", t.name, err)
			}
			t.stop = nil
		}
	}

	env.ortVersion = ortVersion
	report := renderReport(o, body, ctype, env, results)
	fmt.Print(report)
	if o.out != "" {
		if err := os.MkdirAll(filepath.Dir(o.out), 0o755); err != nil {
			return err
		}
		return os.WriteFile(o.out, []byte(report), 0o644)
	}
	return nil
}

// inputsBody is {"inputs": [[...], ...]} with rows rows of the example.
func inputsBody(rows int) []byte {
	var b strings.Builder
	b.WriteString(`{"inputs": [`)
	for i := range rows {
		if i > 0 {
			b.WriteString(", ")
		}
		r := irisRows[i%len(irisRows)]
		b.WriteString("[")
		for j, v := range r {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString(strconv.FormatFloat(float64(v), 'f', -1, 32))
		}
		b.WriteString("]")
	}
	b.WriteString("]}")
	return []byte(b.String())
}

// ortLibrary is the library the raw target loads: the flag, then
// MLSHIP_ONNXRUNTIME_LIB, then mlship's cache (where `make setup` puts it
// and where mlship finds it when nothing else is installed).
func ortLibrary(flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	if p := os.Getenv(onnx.EnvLibrary); p != "" {
		return p
	}
	cache := os.Getenv("MLSHIP_CACHE_DIR")
	if cache == "" {
		if x := os.Getenv("XDG_CACHE_HOME"); x != "" {
			cache = filepath.Join(x, "mlship")
		} else {
			home, _ := os.UserHomeDir()
			cache = filepath.Join(home, ".cache", "mlship")
		}
	}
	return onnx.CachedLibraryPath(cache)
}

// runEnv is what the report says about the conditions of the run.
type runEnv struct {
	ortVersion            string
	loadBefore, loadAfter string
	cpu                   string
}

func renderReport(o options, body []byte, ctype string, env runEnv, rs []result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## Latency: %d-row %s requests, concurrency %d\n\n", o.rows, ctype, o.concurrency)
	fmt.Fprintf(&b, "- command: `%s`\n", strings.Join(os.Args, " "))
	fmt.Fprintf(&b, "- date: %s\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "- machine: %s, %d CPUs (GOMAXPROCS %d), Linux %s\n", cpuModel(), runtime.NumCPU(), runtime.GOMAXPROCS(0), kernel())
	fmt.Fprintf(&b, "- Go %s; ONNX Runtime %s; threads: %s\n", runtime.Version(), orUnknown(env.ortVersion), threadsNote(o.threads))
	fmt.Fprintf(&b, "- machine during the measurement: %s; load average %s before, %s after\n", env.cpu, env.loadBefore, env.loadAfter)
	if len(o.serverEnv) > 0 {
		fmt.Fprintf(&b, "- server subprocess environment: %s\n", strings.Join(o.serverEnv, " "))
	}
	fmt.Fprintf(&b, "- %d measured requests per target after %d warm-up, interleaved in rounds of %d; keep-alive connections; 127.0.0.1\n", o.n, o.warmup, o.chunk)
	shown := body
	if len(shown) > 120 {
		shown = append(append([]byte{}, shown[:120]...), "…"...)
	}
	fmt.Fprintf(&b, "- request body (%d B): `%s`\n\n", len(body), strings.ReplaceAll(string(shown), "\n", `\n`))
	b.WriteString("| target | p50 | p90 | p99 | p99.9 | max | mean | req/s | server CPU/req | server switches/req |\n")
	b.WriteString("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, r := range rs {
		s := r.stats
		cpu, sw := "–", "–"
		if s.serverCPU > 0 {
			cpu, sw = us(s.serverCPU), strconv.FormatFloat(s.serverSwitches, 'f', 1, 64)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %.0f | %s | %s |\n", r.name,
			us(s.p50), us(s.p90), us(s.p99), us(s.p999), us(s.max), us(s.mean), s.throughput, cpu, sw)
	}
	b.WriteString("\nTimes in µs. HTTP rows are client-side round trips and include the client's own work (this process, the same for every HTTP row); ")
	b.WriteString("raw rows are per-call times of Run in this process. Server CPU/req and switches/req are the server process's CPU time and thread switch-ins (all threads, /proc/PID/task/*/schedstat) over the measured requests.\n")

	find := func(prefix string) *result {
		for i := range rs {
			if strings.HasPrefix(rs[i].name, prefix) {
				return &rs[i]
			}
		}
		return nil
	}
	ml, bare, raw := find("mlship"), find("bare net/http, canned"), find("raw ORT Run, pre-built")
	if ml != nil && (bare != nil || raw != nil) {
		b.WriteString("\nOverhead of mlship over each limit:\n\n")
		b.WriteString("| mlship minus | p50 | p99 |\n| --- | ---: | ---: |\n")
		if raw != nil {
			fmt.Fprintf(&b, "| %s | %s | %s |\n", raw.name, us(ml.stats.p50-raw.stats.p50), us(ml.stats.p99-raw.stats.p99))
		}
		if bare != nil {
			fmt.Fprintf(&b, "| %s | %s | %s |\n", bare.name, us(ml.stats.p50-bare.stats.p50), us(ml.stats.p99-bare.stats.p99))
		}
		if raw != nil {
			over := ml.stats.p50 - raw.stats.p50
			verdict := "met"
			if over >= 200*time.Microsecond {
				verdict = "NOT met"
			}
			fmt.Fprintf(&b, "\nTarget p50 overhead over raw Run < 200 µs: **%s** (%s µs).\n", verdict, us(over))
		}
	}
	return b.String()
}

func threadsNote(n int) string {
	if n <= 0 {
		return "ONNX Runtime defaults (mlship without --threads)"
	}
	return fmt.Sprintf("intra-op %d (mlship --threads %d)", n, n)
}

func orUnknown(s string) string {
	if s == "" {
		return "not loaded"
	}
	return s
}

func us(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Microsecond), 'f', 1, 64)
}

// logTail keeps the last bytes written to it, for error messages.
type logTail struct {
	mu  sync.Mutex
	buf []byte
}

func (t *logTail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > 8<<10 {
		t.buf = t.buf[len(t.buf)-4<<10:]
	}
	return len(p), nil
}

func (t *logTail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

var _ io.Writer = (*logTail)(nil)
