package predict

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/parquet/file"
)

// input is one file to score (or stdin), with the part of it this shard
// owns.
type input struct {
	path   string // "-" is stdin
	rel    string // name under the output directory, without extension
	format Format
	size   int64 // bytes, for progress; 0 when unknown
	// rowGroups are the Parquet row groups to read, nil for all of them.
	rowGroups []int
	// rows is the number of rows to read when the file says (Parquet), -1
	// otherwise.
	rows int64
	// good and firstBad are the rows scored so far and the first bad one;
	// only the writer goroutine touches them, in input order.
	good     int64
	firstBad error
}

// Shard is one of N deterministic parts of the input (--shard i/n).
type Shard struct {
	Index, Count int
}

// ParseShard reads "i/n" with 0 <= i < n.
func ParseShard(s string) (Shard, error) {
	a, b, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(strings.TrimSpace(a))
	n, err2 := strconv.Atoi(strings.TrimSpace(b))
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 0 || i >= n {
		return Shard{}, fmt.Errorf("--shard %q: want i/n with 0 <= i < n, e.g. 0/4", s)
	}
	return Shard{Index: i, Count: n}, nil
}

func (s Shard) active() bool { return s.Count > 1 }

// discover expands the INPUT arguments (files, directories, globs, "-")
// into inputs, sorted by path so every process of a sharded run sees the
// same list. A directory is walked recursively, skipping hidden files and
// the _SUCCESS/_metadata-style names that Spark and Hive write beside data.
func discover(args []string, forced Format) ([]*input, error) {
	if len(args) == 0 {
		return nil, errors.New("no input given")
	}
	seen := map[string]bool{}
	var out []*input
	add := func(path, rel string) error {
		if seen[path] {
			return nil
		}
		seen[path] = true
		f := forced
		if f == "" {
			var ok bool
			if f, ok = formatOf(path); !ok {
				return fmt.Errorf("%s: cannot tell the input format from the file name; give --input-format (%s)", path, formatList())
			}
		}
		in := &input{path: path, rel: rel, format: f, rows: -1}
		if st, err := os.Stat(path); err == nil {
			in.size = st.Size()
		}
		out = append(out, in)
		return nil
	}
	for _, arg := range args {
		if arg == "-" {
			if len(args) > 1 {
				return nil, errors.New("stdin (-) cannot be combined with other inputs")
			}
			if forced == "" {
				return nil, errors.New("reading stdin needs --input-format (or -t/--content-type)")
			}
			return []*input{{path: "-", rel: "stdin", format: forced, rows: -1}}, nil
		}
		st, err := os.Stat(arg)
		switch {
		case err == nil && st.IsDir():
			n := 0
			err := filepath.WalkDir(arg, func(p string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				name := d.Name()
				if p != arg && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
					if d.IsDir() {
						return filepath.SkipDir
					}
					return nil
				}
				if d.IsDir() {
					return nil
				}
				if forced == "" {
					if _, ok := formatOf(p); !ok {
						return nil // not data (a README, a checksum file)
					}
				}
				rel, _ := filepath.Rel(arg, p)
				n++
				return add(p, stripExt(rel))
			})
			if err != nil {
				return nil, fmt.Errorf("reading input directory %s: %w", arg, err)
			}
			if n == 0 {
				return nil, fmt.Errorf("input directory %s holds no %s files", arg, formatList())
			}
		case err == nil:
			if err := add(arg, stripExt(filepath.Base(arg))); err != nil {
				return nil, err
			}
		case hasMeta(arg):
			matches, err := filepath.Glob(arg)
			if err != nil {
				return nil, fmt.Errorf("input pattern %q: %w", arg, err)
			}
			n := 0
			for _, m := range matches {
				if st, err := os.Stat(m); err == nil && !st.IsDir() {
					n++
					if err := add(m, stripExt(filepath.Base(m))); err != nil {
						return nil, err
					}
				}
			}
			if n == 0 {
				return nil, fmt.Errorf("no input file matches %q", arg)
			}
		default:
			return nil, fmt.Errorf("input %s: %w", arg, err)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].path < out[j].path })
	return out, nil
}

func hasMeta(p string) bool { return strings.ContainsAny(p, "*?[") }

func stripExt(p string) string { return strings.TrimSuffix(p, filepath.Ext(p)) }

// shard keeps the units (Parquet row groups; whole files otherwise) that
// belong to s: unit k of the sorted list goes to shard k mod n. Parquet
// files are opened for their footers, which also gives the row counts the
// progress bar uses.
func shard(ins []*input, s Shard) ([]*input, error) {
	var out []*input
	unit := 0
	for _, in := range ins {
		if in.format != Parquet || in.path == "-" {
			if !s.active() || unit%s.Count == s.Index {
				out = append(out, in)
			}
			unit++
			continue
		}
		pf, err := file.OpenParquetFile(in.path, false)
		if err != nil {
			return nil, fmt.Errorf("%s: not a readable Parquet file: %w", in.path, err)
		}
		md := pf.MetaData()
		var groups []int
		var rows int64
		for g := 0; g < pf.NumRowGroups(); g++ {
			if !s.active() || unit%s.Count == s.Index {
				groups = append(groups, g)
				rows += md.RowGroup(g).NumRows()
			}
			unit++
		}
		pf.Close()
		if s.active() && len(groups) == 0 {
			continue
		}
		in.rowGroups, in.rows = groups, rows
		if !s.active() {
			in.rowGroups = nil
		}
		out = append(out, in)
	}
	return out, nil
}
