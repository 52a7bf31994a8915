package predict

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/mlship/mlship/columnar"
)

// outputs routes scored batches to their files: one output for the whole
// run (a file or stdout) or one per input (a directory). Each file is
// written under a hidden temporary name in its final directory and renamed
// when complete.
type outputs struct {
	r      *runner
	single *sink            // the one output, or nil
	per    map[*input]*sink // one per input in directory mode
	open   []*sink          // sinks with a temporary file still open
}

type sink struct {
	path   string // final path, "-" for stdout
	format Format
	tmp    *os.File
	buf    *bufio.Writer
	w      formatWriter
	done   bool
}

// plan decides where each input's predictions go.
func (r *runner) plan(ins []*input) (*outputs, error) {
	o := r.opts
	outs := &outputs{r: r}
	out := o.Output
	st, statErr := os.Stat(out)
	dirMode := out != "-" && ((statErr == nil && st.IsDir()) || strings.HasSuffix(out, "/") || strings.HasSuffix(out, string(os.PathSeparator)))
	if !dirMode {
		f := o.OutputFormat
		if f == "" && out != "-" {
			var ok bool
			if f, ok = formatOf(out); !ok {
				return nil, fmt.Errorf("cannot tell the output format from %q; give --output-format (%s)", out, formatList())
			}
		}
		if f == "" {
			f = ins[0].format
			for _, in := range ins[1:] {
				if in.format != f {
					return nil, fmt.Errorf("inputs in several formats go to one output: give --output-format")
				}
			}
		}
		if out != "-" {
			if err := notAnInput(out, ins); err != nil {
				return nil, err
			}
		}
		outs.single = &sink{path: out, format: f}
		return outs, nil
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, fmt.Errorf("creating the output directory: %w", err)
	}
	outs.per = map[*input]*sink{}
	taken := map[string]*input{}
	for _, in := range ins {
		f := o.OutputFormat
		if f == "" {
			f = in.format
		}
		name := in.rel
		if o.Shard.active() {
			name += fmt.Sprintf(".shard-%d-of-%d", o.Shard.Index, o.Shard.Count)
		}
		path := filepath.Join(out, name+f.ext())
		if prev, dup := taken[path]; dup {
			return nil, fmt.Errorf("inputs %s and %s would both write %s; score them into different directories", prev.path, in.path, path)
		}
		if err := notAnInput(path, ins); err != nil {
			return nil, err
		}
		taken[path] = in
		outs.per[in] = &sink{path: path, format: f}
	}
	return outs, nil
}

func notAnInput(out string, ins []*input) error {
	a, err := filepath.Abs(out)
	if err != nil {
		return nil
	}
	for _, in := range ins {
		if b, err := filepath.Abs(in.path); err == nil && a == b {
			return fmt.Errorf("the output %s is also an input", out)
		}
	}
	return nil
}

func (o *outputs) sinkFor(in *input) *sink {
	if o.single != nil {
		return o.single
	}
	return o.per[in]
}

// start opens the sink's destination.
func (o *outputs) start(s *sink) error {
	var w io.Writer
	if s.path == "-" {
		w = o.r.opts.Stdout
	} else {
		dir, base := filepath.Split(s.path)
		if dir == "" {
			dir = "."
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		// Hidden and marked: never taken for a finished output, and
		// skipped when the directory is read as an input.
		f, err := os.CreateTemp(dir, "."+base+".mlship-tmp-*")
		if err != nil {
			return err
		}
		s.tmp = f
		o.open = append(o.open, s)
		w = f
	}
	s.buf = bufio.NewWriterSize(w, 1<<20)
	s.w = o.r.newWriter(s)
	return nil
}

func (o *outputs) write(in *input, b columnar.Batch) error {
	s := o.sinkFor(in)
	if s.w == nil {
		if err := o.start(s); err != nil {
			return err
		}
	}
	return s.w.write(b)
}

// endInput completes an input's own output in directory mode.
func (o *outputs) endInput(in *input) error {
	if o.single != nil {
		return nil
	}
	return o.complete(o.per[in])
}

// finish completes the single output.
func (o *outputs) finish() error {
	if o.single == nil {
		return nil
	}
	return o.complete(o.single)
}

// complete closes the format (footer, closing brackets), flushes, syncs
// and renames the file into place.
func (o *outputs) complete(s *sink) error {
	if s.w == nil {
		if err := o.start(s); err != nil { // an input with no rows
			return err
		}
	}
	if err := s.w.close(); err != nil {
		return fmt.Errorf("finishing %s: %w", s.path, err)
	}
	if err := s.buf.Flush(); err != nil {
		return fmt.Errorf("writing %s: %w", s.path, err)
	}
	if s.tmp == nil {
		s.done = true
		return nil
	}
	if err := s.tmp.Sync(); err != nil {
		return fmt.Errorf("writing %s: %w", s.path, err)
	}
	if err := s.tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", s.path, err)
	}
	if err := os.Rename(s.tmp.Name(), s.path); err != nil {
		return fmt.Errorf("moving the finished output into place: %w", err)
	}
	s.done, s.tmp = true, nil
	return nil
}

// abort removes every output not completed: a failed or interrupted run
// leaves no file that looks finished.
func (o *outputs) abort() {
	var errs []error
	for _, s := range o.open {
		if s.done || s.tmp == nil {
			continue
		}
		s.tmp.Close()
		if err := os.Remove(s.tmp.Name()); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		o.r.log.Warn("could not remove unfinished outputs", "err", errors.Join(errs...))
	}
}
