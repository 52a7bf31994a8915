package projects

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/mlship/mlship/projects/mlproject"
	"github.com/mlship/mlship/tracking"
)

// MaxSweepRuns bounds a sweep's cross product.
const MaxSweepRuns = 10000

// sweepCombos expands comma-separated values into the cross product of
// parameter combinations, the first parameter varying slowest.
func sweepCombos(params []mlproject.KV) ([][]mlproject.KV, error) {
	combos := [][]mlproject.KV{nil}
	for _, kv := range params {
		values := strings.Split(kv.Value, ",")
		if len(combos)*len(values) > MaxSweepRuns {
			return nil, fmt.Errorf("the sweep has more than %d combinations", MaxSweepRuns)
		}
		next := make([][]mlproject.KV, 0, len(combos)*len(values))
		for _, c := range combos {
			for _, v := range values {
				next = append(next, append(append([]mlproject.KV(nil), c...), mlproject.KV{Key: kv.Key, Value: v}))
			}
		}
		combos = next
	}
	return combos, nil
}

// sweptKeys are the parameters given several values.
func sweptKeys(params []mlproject.KV) []string {
	var keys []string
	for _, kv := range params {
		if strings.Contains(kv.Value, ",") {
			keys = append(keys, kv.Key)
		}
	}
	return keys
}

func formatKVs(kvs []mlproject.KV) string {
	parts := make([]string, len(kvs))
	for i, kv := range kvs {
		parts[i] = kv.Key + "=" + kv.Value
	}
	return strings.Join(parts, ",")
}

// sweep runs one child run per combination under a parent run, at most
// MaxParallel at a time, and prints a summary table.
func (r *runner) sweep(ctx context.Context, j *job, invs []*mlproject.Invocation) (*Result, error) {
	swept := sweptKeys(r.o.Params)
	isSwept := map[string]bool{}
	for _, k := range swept {
		isSwept[k] = true
	}
	// The parent records what all children share.
	var shared []mlproject.KV
	for _, kv := range r.o.Params {
		if !isSwept[kv.Key] {
			shared = append(shared, kv)
		}
	}
	extra := []tracking.Tag{{Key: TagSweep, Value: strings.Join(swept, ",")}}
	if r.o.SweepMetric != "" {
		extra = append(extra, tracking.Tag{Key: TagSweepMetric, Value: r.o.SweepMetric})
	}
	parent, err := j.createRun(ctx, r.o.RunName, shared, extra...)
	if err != nil {
		return nil, err
	}
	pid := parent.Info.RunID
	res := &Result{RunID: pid, ExperimentID: j.expID, Params: shared, Children: make([]Result, len(invs))}
	r.log.Info("sweep started", "parent_run_id", pid, "runs", len(invs), "max_parallel", r.o.MaxParallel)
	fmt.Fprintf(r.o.Stderr, "mlship: sweep of %d runs under parent run %s (at most %d at a time)\n", len(invs), pid, r.o.MaxParallel)

	var out, errOut lockedWriter
	out.w, errOut.w = r.o.Stdout, r.o.Stderr
	sem := make(chan struct{}, r.o.MaxParallel)
	var wg sync.WaitGroup
	errs := make([]error, len(invs))
	started := make([]bool, len(invs))
loop:
	for i, inv := range invs {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			break loop // combinations not started get no run
		}
		if ctx.Err() != nil {
			<-sem
			break
		}
		started[i] = true
		wg.Add(1)
		go func(i int, inv *mlproject.Invocation) {
			defer wg.Done()
			defer func() { <-sem }()
			var values []mlproject.KV
			for _, kv := range inv.AllParams() {
				if isSwept[kv.Key] {
					values = append(values, kv)
				}
			}
			prefix := fmt.Sprintf("[%d %s] ", i+1, formatKVs(values))
			so, se := &prefixWriter{w: &out, prefix: prefix}, &prefixWriter{w: &errOut, prefix: prefix}
			child, err := j.runOne(ctx, inv, childName(r.o.RunName, parent, i), pid, so, se)
			so.Flush()
			se.Flush()
			errs[i] = err
			if child != nil {
				res.Children[i] = *child
			}
		}(i, inv)
	}
	wg.Wait()

	status := tracking.StatusFinished
	failed, notRun := 0, 0
	for i := range invs {
		switch {
		case !started[i]:
			notRun++
			res.Children[i] = Result{Params: invs[i].AllParams(), Status: ""}
		case errs[i] != nil && !errors.Is(errs[i], ErrFailed):
			failed++
			status = tracking.StatusFailed
		case res.Children[i].Status != tracking.StatusFinished:
			failed++
			status = tracking.StatusFailed
		}
	}
	if ctx.Err() != nil {
		status = tracking.StatusKilled
	}
	if r.o.SweepMetric != "" {
		for i := range res.Children {
			c := &res.Children[i]
			if c.RunID == "" {
				continue
			}
			run, err := r.o.Tracker.GetRun(context.WithoutCancel(ctx), c.RunID)
			if err != nil {
				r.log.Warn("reading a sweep child's metric", "run_id", c.RunID, "err", err)
				continue
			}
			for _, m := range run.Data.Metrics {
				if m.Key == r.o.SweepMetric {
					v := m.Value
					c.Metric = &v
				}
			}
		}
	}
	res.Status = status
	endErr := j.end(ctx, pid, status)
	printSummary(r.o.Stdout, r.o.SweepMetric, swept, res)
	switch {
	case endErr != nil:
		return res, endErr
	case status == tracking.StatusKilled:
		return res, fmt.Errorf("%w: sweep %s was interrupted (%d of %d runs never started): %w", ErrFailed, pid, notRun, len(invs), context.Cause(ctx))
	case failed > 0:
		return res, fmt.Errorf("%w: sweep %s: %d of %d runs did not finish", ErrFailed, pid, failed, len(invs))
	}
	return res, nil
}

// childName names the i-th child run after its parent: <parent name>-<i+1>.
func childName(base string, parent *tracking.Run, i int) string {
	if base == "" {
		base = parent.Info.RunName
	}
	if base == "" {
		return ""
	}
	return fmt.Sprintf("%s-%d", base, i+1)
}

// printSummary writes the sweep's table: one row per combination with
// its run, status and (with --sweep-metric) metric; the best row is
// marked for the maximum and the minimum, since which is better depends
// on the metric.
func printSummary(w io.Writer, metric string, swept []string, res *Result) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	head := append([]string{"#", "run_id"}, swept...)
	head = append(head, "status")
	if metric != "" {
		head = append(head, metric)
	}
	fmt.Fprintf(w, "\nsweep %s: %d runs\n", res.RunID, len(res.Children))
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	maxI, minI := -1, -1
	for i, c := range res.Children {
		if c.Metric == nil || math.IsNaN(*c.Metric) {
			continue
		}
		if maxI < 0 || *c.Metric > *res.Children[maxI].Metric {
			maxI = i
		}
		if minI < 0 || *c.Metric < *res.Children[minI].Metric {
			minI = i
		}
	}
	for i, c := range res.Children {
		row := []string{strconv.Itoa(i + 1), orDash(c.RunID)}
		vals := map[string]string{}
		for _, kv := range c.Params {
			vals[kv.Key] = kv.Value
		}
		for _, k := range swept {
			row = append(row, vals[k])
		}
		st := string(c.Status)
		if st == "" {
			st = "NOT STARTED"
		}
		row = append(row, st)
		if metric != "" {
			v := "-"
			if c.Metric != nil {
				v = strconv.FormatFloat(*c.Metric, 'g', 6, 64)
				if i == maxI {
					v += " (max)"
				}
				if i == minI && minI != maxI {
					v += " (min)"
				}
			}
			row = append(row, v)
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// lockedWriter serialises writes of whole lines from parallel runs.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// prefixWriter prefixes each line with a sweep child's label and writes
// complete lines only, so parallel runs' output does not interleave
// mid-line.
type prefixWriter struct {
	w      io.Writer
	prefix string
	buf    bytes.Buffer
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.buf.Write(b)
	for {
		line, err := p.buf.ReadBytes('\n')
		if err != nil { // no newline yet: keep the partial line
			p.buf.Reset()
			p.buf.Write(line)
			return len(b), nil
		}
		if _, err := p.w.Write(append([]byte(p.prefix), line...)); err != nil {
			return len(b), err
		}
	}
}

// Flush writes a last line without a newline.
func (p *prefixWriter) Flush() {
	if p.buf.Len() > 0 {
		_, _ = p.w.Write(append(append([]byte(p.prefix), p.buf.Bytes()...), '\n'))
		p.buf.Reset()
	}
}
