package predict

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzReadInput feeds arbitrary bytes to every text reader under every
// --on-error mode: no panic, no output left behind by a failed run, and a
// successful run accounts for its rows (a skipped row is never written, a
// nulled row always is).
func FuzzReadInput(f *testing.F) {
	seeds := []struct {
		format string
		data   string
	}{
		{"csv", "id,x\n1,0.5\n2,1.5\n"},
		{"csv", "id,x\n1,-1\n2,\"x\n3,oops\n4,1,2\n"},
		{"csv", "x,id\n\n,\nNaN,7\n"},
		{"csv", "\"id\",\"x\"\n\"1\",\"2\"\r\n"},
		{"jsonl", "{\"id\": 1, \"x\": 0.5}\n{\"id\": 2, \"x\": -3}\n"},
		{"jsonl", "{\"id\": 1}\n[1]\n{\n\n{\"id\": \"a\", \"x\": true}\n"},
		{"json", `{"dataframe_split": {"columns": ["id", "x"], "data": [[1, 0.5], [2, 1.5]]}}`},
		{"json", `{"dataframe_records": [{"id": 1, "x": 2}], "params": {"a": 1}}`},
		{"json", `{"inputs": {"id": [1], "x": [-1]}}`},
	}
	for _, s := range seeds {
		for mode := range 3 {
			f.Add(s.format, []byte(s.data), uint8(mode))
		}
	}
	// Arrow IPC: a stream and a file, whole and cut short.
	dir := f.TempDir()
	b := table(f, 0, 40)
	for _, asFile := range []bool{false, true} {
		p := filepath.Join(dir, fmt.Sprint(asFile))
		writeArrow(f, p, asFile, b, b)
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add("arrow", data, uint8(0))
		f.Add("arrow", data[:len(data)*2/3], uint8(1))
	}
	b.Release()
	f.Fuzz(func(t *testing.T, format string, data []byte, mode uint8) {
		fm, err := ParseFormat(format)
		if err != nil || fm == Parquet {
			return // Parquet: the library's own fuzzing; its output is built by arrow-go
		}
		dir := t.TempDir()
		in := filepath.Join(dir, "in."+string(fm))
		if err := os.WriteFile(in, data, 0o644); err != nil {
			t.Fatal(err)
		}
		onErr := []OnError{OnErrorFail, OnErrorSkip, OnErrorNull}[mode%3]
		out := filepath.Join(dir, "out.jsonl")
		sum, err := Run(context.Background(), &doubler{}, doublerModel(t), Options{
			Inputs: []string{in}, Output: out, BatchRows: 3, Parallelism: 2, OnError: onErr, Quiet: true,
			KeepColumns: []string{"id"},
		})
		if err != nil {
			if err.Error() == "" {
				t.Fatal("an error with no message")
			}
			if errors.Is(err, context.Canceled) {
				t.Fatalf("cancelled without a cancel: %v", err)
			}
			if _, statErr := os.Stat(out); statErr == nil {
				t.Fatalf("a failed run (%v) left its output", err)
			}
			noTemps(t, dir)
			return
		}
		written, rerr := os.ReadFile(out)
		if rerr != nil {
			t.Fatalf("a successful run left no output: %v", rerr)
		}
		lines := int64(strings.Count(string(written), "\n"))
		if lines != sum.Rows {
			t.Fatalf("summary says %d rows, the output has %d lines", sum.Rows, lines)
		}
		if onErr == OnErrorFail && sum.Bad != 0 {
			t.Fatalf("--on-error fail succeeded with %d bad rows", sum.Bad)
		}
		if onErr == OnErrorNull && sum.Bad > sum.Rows {
			t.Fatalf("%d nulled rows but only %d written", sum.Bad, sum.Rows)
		}
	})
}

// FuzzParseShard: an accepted --shard is in range.
func FuzzParseShard(f *testing.F) {
	for _, s := range []string{"0/1", "3/4", "4/4", "-1/2", "1/0", " 2 / 3 ", "a/b", "1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sh, err := ParseShard(s)
		if err != nil {
			return
		}
		if sh.Count < 1 || sh.Index < 0 || sh.Index >= sh.Count {
			t.Fatalf("ParseShard(%q) = %+v", s, sh)
		}
	})
}
