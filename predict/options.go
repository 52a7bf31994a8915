package predict

import (
	"fmt"
	"io"
	"log/slog"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

// OnError says what happens to a row the model cannot score.
type OnError string

const (
	// OnErrorFail stops at the first bad row, naming the file, the row and
	// the reason (the default).
	OnErrorFail OnError = "fail"
	// OnErrorSkip leaves bad rows out of the output.
	OnErrorSkip OnError = "skip"
	// OnErrorNull writes bad rows with null predictions.
	OnErrorNull OnError = "null"
)

// Options configure a run.
type Options struct {
	// Inputs are files, directories, globs, or "-" for stdin.
	Inputs []string
	// Output is a file, a directory (one output per input), or "-" for
	// stdout.
	Output string
	// InputFormat and OutputFormat override the formats the file
	// extensions give.
	InputFormat, OutputFormat Format
	// BatchRows is the most rows one Predict call gets; 0 sizes batches
	// by the signature's row width (see autoBatchRows).
	BatchRows int
	// Parallelism is the number of batches scored at once.
	Parallelism int
	// KeepColumns pass these input columns through to the output, before
	// the predictions; KeepAll passes every input column.
	KeepColumns []string
	KeepAll     bool
	OnError     OnError
	// Compression is the Parquet codec: snappy (default), zstd, gzip,
	// lz4, brotli or none.
	Compression string
	// RowGroupRows is the most rows in one Parquet row group.
	RowGroupRows int
	Shard        Shard
	// Stdin and Stdout stand for "-"; Stderr gets the progress bar and the
	// summary line.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Progress draws a progress bar on Stderr (the CLI sets it when Stderr
	// is a terminal); Quiet suppresses the summary line too.
	Progress bool
	Quiet    bool
	Logger   *slog.Logger
	Mem      memory.Allocator
}

func (o *Options) validate() error {
	if o.BatchRows < 0 {
		return fmt.Errorf("--batch-rows must be at least 1 (or 0 for automatic)")
	}
	if o.Parallelism < 1 {
		return fmt.Errorf("--parallelism must be at least 1")
	}
	switch o.OnError {
	case "":
		o.OnError = OnErrorFail
	case OnErrorFail, OnErrorSkip, OnErrorNull:
	default:
		return fmt.Errorf("--on-error must be fail, skip or null, not %q", o.OnError)
	}
	if o.KeepAll && len(o.KeepColumns) > 0 {
		return fmt.Errorf("--keep-all and --keep-columns do not go together")
	}
	if o.RowGroupRows < 1 {
		o.RowGroupRows = 1 << 20
	}
	if _, err := codec(o.Compression); err != nil {
		return err
	}
	if o.Output == "" {
		o.Output = "-"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Mem == nil {
		o.Mem = memory.DefaultAllocator
	}
	if o.Stderr == nil {
		o.Stderr = io.Discard
	}
	return nil
}
