package predict

import (
	"fmt"
	"path/filepath"
	"strings"
)

// Format is a file format predict reads or writes.
type Format string

// The formats. JSON is MLflow's request body (dataframe_split,
// dataframe_records, instances, inputs) on input and MLflow's
// {"predictions": ...} response on output; JSONL is one JSON object per
// line (a record) both ways.
const (
	Parquet Format = "parquet"
	Arrow   Format = "arrow"
	CSV     Format = "csv"
	JSON    Format = "json"
	JSONL   Format = "jsonl"
)

// Formats lists every format, for help texts and errors.
var Formats = []Format{Parquet, Arrow, CSV, JSON, JSONL}

// ParseFormat reads a --input-format/--output-format value (also accepting
// common aliases: pq, ipc, feather, arrows, ndjson).
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(strings.TrimPrefix(s, ".")) {
	case "parquet", "pq":
		return Parquet, nil
	case "arrow", "ipc", "feather", "arrows":
		return Arrow, nil
	case "csv":
		return CSV, nil
	case "json":
		return JSON, nil
	case "jsonl", "ndjson":
		return JSONL, nil
	}
	return "", fmt.Errorf("unknown format %q (want one of %s)", s, formatList())
}

func formatList() string {
	parts := make([]string, len(Formats))
	for i, f := range Formats {
		parts[i] = string(f)
	}
	return strings.Join(parts, ", ")
}

// formatOf guesses a file's format from its extension.
func formatOf(path string) (Format, bool) {
	ext := strings.ToLower(filepath.Ext(path))
	if ext == "" {
		return "", false
	}
	f, err := ParseFormat(ext)
	return f, err == nil
}

// columnsPerRow reports whether each row of format f names its own
// columns (JSON lines), so that a required column missing from a row is
// that row's fault rather than the input's.
func (f Format) columnsPerRow() bool { return f == JSONL }

// ext is the extension an output of format f gets.
func (f Format) ext() string {
	return "." + string(f)
}
