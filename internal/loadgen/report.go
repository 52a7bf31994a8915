package loadgen

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Report is one benchmark run: what was measured, on what, and one Level
// per concurrency of the sweep. It is written as a markdown table or JSON.
type Report struct {
	Date string `json:"date"`
	// Command is the command line that produced the report.
	Command  string   `json:"command,omitempty"`
	Target   string   `json:"target"`
	Model    string   `json:"model,omitempty"`
	Flavor   string   `json:"flavor,omitempty"`
	Protocol Protocol `json:"protocol"`
	URL      string   `json:"url"`
	Rows     int      `json:"rows"`
	// BodyBytes is the size of the request body; Values says where its
	// data came from.
	BodyBytes int    `json:"body_bytes"`
	Values    string `json:"values"`
	// Load describes the load: closed or open loop, duration, warm-up.
	Load    string  `json:"load"`
	Machine Machine `json:"machine"`
	// Server lists the in-process server's settings (empty for a URL).
	Server []Setting `json:"server,omitempty"`
	Levels []Level   `json:"levels"`
}

// Setting is one name and value, kept in order for the report.
type Setting struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Machine describes where the run happened.
type Machine struct {
	CPU        string `json:"cpu"`
	CPUs       int    `json:"cpus"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	Kernel     string `json:"kernel"`
	Go         string `json:"go"`
}

// ThisMachine describes the machine the process runs on.
func ThisMachine() Machine {
	m := Machine{CPU: "unknown", CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), Kernel: runtime.GOOS, Go: runtime.Version()}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if data, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = "Linux " + strings.TrimSpace(string(data))
	}
	return m
}

// Level is one concurrency of the sweep: the server's figures and, when
// measured, the raw Predictor's with the same batches and concurrency.
type Level struct {
	Concurrency int    `json:"concurrency"`
	Server      Stats  `json:"server"`
	Raw         *Stats `json:"raw,omitempty"`
	// MeanBatchRows and MeanBatchRequests are the average Predict call of
	// the server during the level, from its /metrics (0: not available).
	MeanBatchRows     float64 `json:"mean_batch_rows,omitempty"`
	MeanBatchRequests float64 `json:"mean_batch_requests,omitempty"`
	// RawRatio is server throughput over raw throughput; OverheadP50 and
	// OverheadP99 are server minus raw latency, in µs.
	RawRatio    float64 `json:"throughput_ratio_to_raw,omitempty"`
	OverheadP50 float64 `json:"overhead_p50_us,omitempty"`
	OverheadP99 float64 `json:"overhead_p99_us,omitempty"`
	// CPU is the machine's use over the level's measured phases.
	CPU CPUUse `json:"cpu"`
}

// Stats summarise a Result.
type Stats struct {
	Requests   int64            `json:"requests"`
	OK         int64            `json:"ok"`
	Errors     map[string]int64 `json:"errors"`
	FirstError string           `json:"first_error,omitempty"`
	Skipped    int64            `json:"skipped,omitempty"`
	Seconds    float64          `json:"duration_s"`
	Throughput float64          `json:"throughput_rps"`
	// Latency is over successful requests; FailedLatency over the others.
	Latency       Latency  `json:"latency_us"`
	FailedLatency *Latency `json:"failed_latency_us,omitempty"`
}

// Latency quantiles in microseconds.
type Latency struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p99.9"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

func latencyOf(h *Histogram) Latency {
	us := func(d time.Duration) float64 { return math.Round(float64(d)/float64(time.Microsecond)*10) / 10 }
	return Latency{P50: us(h.Quantile(.5)), P90: us(h.Quantile(.9)), P99: us(h.Quantile(.99)),
		P999: us(h.Quantile(.999)), Max: us(h.Max()), Mean: us(h.Mean())}
}

// StatsOf summarises r.
func StatsOf(r *Result) Stats {
	s := Stats{Requests: r.Requests, OK: r.OK, Errors: r.Errors, FirstError: r.FirstError, Skipped: r.Skipped,
		Seconds: math.Round(r.Elapsed.Seconds()*1000) / 1000, Throughput: math.Round(r.Throughput()*10) / 10,
		Latency: latencyOf(&r.Latency)}
	if s.Errors == nil {
		s.Errors = map[string]int64{}
	}
	if r.Failed.Count() > 0 {
		l := latencyOf(&r.Failed)
		s.FailedLatency = &l
	}
	return s
}

// NewLevel fills in the comparisons between server and raw figures.
func NewLevel(concurrency int, server Stats, raw *Stats) Level {
	l := Level{Concurrency: concurrency, Server: server, Raw: raw}
	if raw != nil && raw.Throughput > 0 && server.OK > 0 {
		l.RawRatio = math.Round(server.Throughput/raw.Throughput*1000) / 1000
		l.OverheadP50 = math.Round((server.Latency.P50-raw.Latency.P50)*10) / 10
		l.OverheadP99 = math.Round((server.Latency.P99-raw.Latency.P99)*10) / 10
	}
	return l
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteMarkdown writes the report as a list of facts and a table.
func (r *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "## mlship bench: %s\n\n", r.Target)
	if r.Command != "" {
		fmt.Fprintf(&b, "- command: `%s`\n", r.Command)
	}
	fmt.Fprintf(&b, "- date: %s\n", r.Date)
	fmt.Fprintf(&b, "- machine: %s, %d CPUs (GOMAXPROCS %d), %s, %s\n", r.Machine.CPU, r.Machine.CPUs, r.Machine.GOMAXPROCS, r.Machine.Kernel, r.Machine.Go)
	if r.Model != "" {
		fmt.Fprintf(&b, "- model: %s", r.Model)
		if r.Flavor != "" {
			fmt.Fprintf(&b, " (flavor %s)", r.Flavor)
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "- requests: %s POST %s, %d row(s), %d B body, values: %s\n", r.Protocol, r.URL, r.Rows, r.BodyBytes, r.Values)
	fmt.Fprintf(&b, "- load: %s\n", r.Load)
	if len(r.Server) > 0 {
		parts := make([]string, len(r.Server))
		for i, s := range r.Server {
			parts[i] = s.Name + " " + s.Value
		}
		fmt.Fprintf(&b, "- server (in-process): %s\n", strings.Join(parts, ", "))
	}
	raw := false
	for _, l := range r.Levels {
		raw = raw || l.Raw != nil
	}
	b.WriteString("\n| concurrency | req/s | p50 | p90 | p99 | p99.9 | max | errors | rows/batch | CPU busy / this process |")
	sep := "\n| ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |"
	if raw {
		b.WriteString(" raw req/s | raw p50 | raw p99 | of raw | p50 overhead |")
		sep += " ---: | ---: | ---: | ---: | ---: |"
	}
	b.WriteString(sep + "\n")
	for _, l := range r.Levels {
		s := l.Server
		errs := "0"
		if n := s.Requests - s.OK; n > 0 {
			errs = fmt.Sprintf("%d (%.1f%%; %s)", n, 100*float64(n)/float64(s.Requests), summary(s.Errors))
		}
		if s.Skipped > 0 {
			errs += fmt.Sprintf("; %d not sent", s.Skipped)
		}
		fmt.Fprintf(&b, "| %d | %.0f | %s | %s | %s | %s | %s | %s | %s | %.0f%% / %.0f%% |", l.Concurrency, s.Throughput,
			num(s.Latency.P50), num(s.Latency.P90), num(s.Latency.P99), num(s.Latency.P999), num(s.Latency.Max), errs, batch(l.MeanBatchRows),
			l.CPU.Machine, l.CPU.Process)
		if raw {
			if l.Raw == nil {
				b.WriteString(" – | – | – | – | – |")
			} else {
				fmt.Fprintf(&b, " %.0f | %s | %s | %.1f%% | %s |", l.Raw.Throughput, num(l.Raw.Latency.P50), num(l.Raw.Latency.P99), 100*l.RawRatio, num(l.OverheadP50))
			}
		}
		b.WriteString("\n")
	}
	b.WriteString("\nLatencies in µs, of successful requests, measured by the client")
	if strings.HasPrefix(r.Load, "open") {
		b.WriteString(" from each request's scheduled arrival")
	}
	b.WriteString(". Rows/batch is the server's mean rows per model call (its /metrics). CPU: the machine's busy time and this process's, in % of all CPUs, over the level's measured phases; busy well above this process's share means other work ran (or the server is another process).")
	if raw {
		b.WriteString(" Raw: the same decoded batches passed to the flavor's Predict by as many goroutines, no HTTP, no batching; \"of raw\" is server throughput over raw throughput, p50 overhead the server's p50 minus raw p50.")
	}
	b.WriteString("\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func summary(m map[string]int64) string {
	r := Result{Errors: m}
	return r.ErrorSummary()
}

func num(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

func batch(v float64) string {
	if v == 0 {
		return "–"
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

// CPUReading is the machine's CPU time (all CPUs, from /proc/stat) and
// this process's (from /proc/self/stat), in clock ticks.
type CPUReading struct {
	busy, idle, steal, self uint64
	ok                      bool
}

// ReadCPU takes a reading; on systems without /proc it is empty and
// CPUUse reports nothing.
func ReadCPU() CPUReading {
	var r CPUReading
	stat, err := os.ReadFile("/proc/stat")
	if err != nil {
		return r
	}
	line, _, _ := strings.Cut(string(stat), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return r
	}
	var v [8]uint64
	for i := range v {
		v[i], _ = strconv.ParseUint(f[i+1], 10, 64)
	}
	// user nice system idle iowait irq softirq steal
	r.busy, r.idle, r.steal = v[0]+v[1]+v[2]+v[5]+v[6], v[3]+v[4], v[7]
	self, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return r
	}
	// The command name (field 2) may hold spaces; fields count from after it.
	s := string(self)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		s = s[i+1:]
	}
	sf := strings.Fields(s)
	if len(sf) < 13 {
		return r
	}
	utime, _ := strconv.ParseUint(sf[11], 10, 64)
	stime, _ := strconv.ParseUint(sf[12], 10, 64)
	r.self, r.ok = utime+stime, true
	return r
}

// CPUUse is how busy the machine's CPUs were between two readings, and
// how much of that was this process, in percent of all CPUs' time. Busy
// well above this process's share means other work shared the machine
// (or, for a URL target, the server in its own process).
type CPUUse struct {
	Machine float64 `json:"machine_busy_pct"`
	Steal   float64 `json:"steal_pct"`
	Process float64 `json:"process_pct"`
}

// CPUBetween computes the use between readings a and b (zero when either
// is empty).
func CPUBetween(a, b CPUReading) CPUUse {
	total := (b.busy - a.busy) + (b.idle - a.idle) + (b.steal - a.steal)
	if !a.ok || !b.ok || total == 0 {
		return CPUUse{}
	}
	pct := func(x uint64) float64 { return math.Round(1000*float64(x)/float64(total)) / 10 }
	return CPUUse{Machine: pct(b.busy - a.busy), Steal: pct(b.steal - a.steal), Process: pct(b.self - a.self)}
}
