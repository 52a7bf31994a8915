package loadgen

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/mlship/mlship/mlmodel"
)

// Sample is the data one request carries: a value per row for each model
// input, taken from the model's input example when it fits the signature
// and made up otherwise. Body turns it into a request body.
type Sample struct {
	Inputs []Input
	Rows   int
	// Tensor says the inputs are tensors (a tensor signature, or V2
	// metadata); otherwise they are DataFrame columns.
	Tensor bool
	// Named says the inputs have names; an unnamed signature binds them by
	// position.
	Named bool
	// Source says where the values came from, for the report.
	Source string
}

// Input is one model input and its values for every row.
type Input struct {
	Name string
	// DType is a numpy dtype name (float32, int64, bool, str, ...): the
	// tensor's own, or the one MLflow gives a column's type.
	DType string
	// Cell is the shape of one row's value (empty: a scalar).
	Cell []int64
	// Num holds Rows × size(Cell) values, row-major, for numeric and bool
	// inputs (bool as 0 or 1); Str holds them for str inputs.
	Num []float64
	Str []string
}

// cellSize is the number of values in one row of in.
func (in *Input) cellSize() int {
	n := 1
	for _, d := range in.Cell {
		n *= int(d)
	}
	return n
}

func (in *Input) isString() bool { return in.DType == "str" }

// kindDType is the numpy dtype MLflow uses for a column type.
var kindDType = map[mlmodel.Kind]string{
	mlmodel.Boolean: "bool", mlmodel.Integer: "int32", mlmodel.Long: "int64",
	mlmodel.Float: "float32", mlmodel.Double: "float64", mlmodel.String: "str",
}

// supported dtypes: those every protocol here can carry.
var supported = map[string]bool{
	"bool": true, "int8": true, "int16": true, "int32": true, "int64": true,
	"uint8": true, "uint16": true, "uint32": true, "uint64": true,
	"float32": true, "float64": true, "str": true,
}

// NewSample builds rows rows of data for schema: the rows of example (an
// input_example.json, cycled as often as needed) when it parses and fits
// the schema, otherwise deterministic made-up values. A reason the example
// was not used is recorded in Source.
func NewSample(schema *mlmodel.Schema, example []byte, rows int) (*Sample, error) {
	if schema == nil || schema.Len() == 0 {
		return nil, errors.New("no input schema: the model has no signature; pass a model directory with one, or bench a server that answers V2 model metadata")
	}
	if rows < 1 {
		return nil, fmt.Errorf("rows must be at least 1, not %d", rows)
	}
	s := &Sample{Rows: rows, Tensor: schema.IsTensorBased(), Named: schema.HasNames()}
	for _, t := range schema.Tensors {
		if !supported[t.DType] {
			return nil, fmt.Errorf("input %q: dtype %s is not supported by the load generator", t.Name, t.DType)
		}
		if len(t.Shape) == 0 || t.Shape[0] != -1 {
			return nil, fmt.Errorf("input %q: shape %v has no variable first dimension, so requests cannot choose their row count", t.Name, t.Shape)
		}
		s.Inputs = append(s.Inputs, Input{Name: t.Name, DType: t.DType, Cell: append([]int64{}, t.Shape[1:]...)})
	}
	for _, c := range schema.Columns {
		dt, ok := kindDType[c.Type.Kind]
		if !ok {
			return nil, fmt.Errorf("column %q: type %s is not supported by the load generator", c.Name, c.Type)
		}
		s.Inputs = append(s.Inputs, Input{Name: c.Name, DType: dt})
	}
	var why string
	if example == nil {
		why = "no input example"
	} else if err := s.fillFromExample(example); err != nil {
		why = "input example not usable: " + err.Error()
	} else {
		s.Source = "input example"
		return s, nil
	}
	s.fillSynthetic()
	s.Source = "made up (" + why + ")"
	return s, nil
}

// fillSynthetic gives every input deterministic values: small numbers with
// three decimals (what a feature vector looks like), cycling integers,
// alternating booleans, short strings. Inner dimensions left variable (-1)
// get one element.
func (s *Sample) fillSynthetic() {
	x := uint32(2463534242) // xorshift32: same numbers on every run
	next := func() uint32 {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		return x
	}
	for i := range s.Inputs {
		in := &s.Inputs[i]
		for j, d := range in.Cell {
			if d < 0 {
				in.Cell[j] = 1
			}
		}
		n := s.Rows * in.cellSize()
		in.Num, in.Str = nil, nil
		for k := 0; k < n; k++ {
			switch {
			case in.isString():
				in.Str = append(in.Str, "v"+strconv.Itoa(int(next()%100)))
			case in.DType == "bool":
				in.Num = append(in.Num, float64(k%2))
			case strings.HasPrefix(in.DType, "float"):
				in.Num = append(in.Num, float64(int(next()%2000))/1000-1)
			default:
				in.Num = append(in.Num, float64(next()%10))
			}
		}
	}
}

// fillFromExample reads MLflow's saved input example: for tensors, a dict
// of arrays ({"name": [[...], ...]}) or one array for an unnamed tensor;
// for columns, pandas' split orient ({"columns": [...], "data": [[...]]})
// or a list of records.
func (s *Sample) fillFromExample(example []byte) error {
	dec := json.NewDecoder(bytes.NewReader(example))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return err
	}
	var cols [][]any // per input, its values row by row
	var err error
	if s.Tensor {
		cols, err = s.exampleTensors(v)
	} else {
		cols, err = s.exampleColumns(v)
	}
	if err != nil {
		return err
	}
	for i := range s.Inputs {
		in := &s.Inputs[i]
		have := cols[i]
		if len(have) == 0 {
			return fmt.Errorf("input %q has no rows", in.Name)
		}
		var cell []int64
		in.Num, in.Str = nil, nil
		for r := 0; r < s.Rows; r++ {
			flat, shape, err := flatten(have[r%len(have)])
			if err != nil {
				return fmt.Errorf("input %q: %w", in.Name, err)
			}
			if r == 0 {
				cell = shape
				if err := fits(in.Cell, cell); err != nil {
					return fmt.Errorf("input %q: %w", in.Name, err)
				}
				if len(cell) == 0 && len(in.Cell) == 1 {
					cell = in.Cell // scalars for a (-1, 1) spec: one value per row
				}
			} else if !slices.Equal(shape, cell) && !(len(shape) == 0 && len(cell) == 1) {
				return fmt.Errorf("input %q: rows of different shapes %v and %v", in.Name, cell, shape)
			}
			for _, x := range flat {
				if err := in.add(x); err != nil {
					return fmt.Errorf("input %q: %w", in.Name, err)
				}
			}
		}
		in.Cell = cell
	}
	return nil
}

// exampleTensors splits a tensor example into each input's rows.
func (s *Sample) exampleTensors(v any) ([][]any, error) {
	out := make([][]any, len(s.Inputs))
	switch x := v.(type) {
	case map[string]any:
		for i, in := range s.Inputs {
			name := in.Name
			if !s.Named && len(s.Inputs) == 1 && len(x) == 1 {
				for k := range x {
					name = k // one unnamed tensor saved under some key
				}
			}
			rows, ok := x[name].([]any)
			if !ok {
				return nil, fmt.Errorf("no array for input %q", in.Name)
			}
			out[i] = rows
		}
	case []any:
		if len(s.Inputs) != 1 {
			return nil, fmt.Errorf("a bare array cannot fill %d inputs", len(s.Inputs))
		}
		out[0] = x
	default:
		return nil, errors.New("expected a JSON object or array")
	}
	return out, nil
}

// exampleColumns splits a DataFrame example into each column's rows.
func (s *Sample) exampleColumns(v any) ([][]any, error) {
	out := make([][]any, len(s.Inputs))
	switch x := v.(type) {
	case map[string]any: // split orient
		data, ok := x["data"].([]any)
		if !ok {
			return nil, errors.New(`expected pandas' split orient ({"columns": ..., "data": ...})`)
		}
		names, _ := x["columns"].([]any)
		for i, in := range s.Inputs {
			idx := i // unnamed columns bind by position
			if s.Named {
				idx = -1
				for j, n := range names {
					if n == in.Name {
						idx = j
					}
				}
				if idx < 0 {
					return nil, fmt.Errorf("no column %q", in.Name)
				}
			}
			for _, row := range data {
				r, ok := row.([]any)
				if !ok || idx >= len(r) {
					return nil, fmt.Errorf("row without column %d", idx)
				}
				out[i] = append(out[i], r[idx])
			}
		}
	case []any: // records
		for _, rec := range x {
			m, ok := rec.(map[string]any)
			if !ok {
				return nil, errors.New("expected a list of records")
			}
			for i, in := range s.Inputs {
				val, ok := m[in.Name]
				if !ok {
					return nil, fmt.Errorf("record without %q", in.Name)
				}
				out[i] = append(out[i], val)
			}
		}
	default:
		return nil, errors.New("expected a JSON object or array")
	}
	return out, nil
}

// add appends one scalar from the example.
func (in *Input) add(x any) error {
	if in.isString() {
		s, ok := x.(string)
		if !ok {
			return fmt.Errorf("expected strings, got %v", x)
		}
		in.Str = append(in.Str, s)
		return nil
	}
	switch v := x.(type) {
	case json.Number:
		f, err := v.Float64()
		if err != nil {
			return err
		}
		in.Num = append(in.Num, f)
	case bool:
		in.Num = append(in.Num, map[bool]float64{false: 0, true: 1}[v])
	default:
		return fmt.Errorf("expected numbers, got %v", x)
	}
	return nil
}

// flatten turns a nested JSON array (or a scalar) into its values and
// shape, rejecting ragged arrays.
func flatten(v any) ([]any, []int64, error) {
	arr, ok := v.([]any)
	if !ok {
		return []any{v}, []int64{}, nil
	}
	var flat []any
	var inner []int64
	for i, e := range arr {
		f, shape, err := flatten(e)
		if err != nil {
			return nil, nil, err
		}
		if i == 0 {
			inner = shape
		} else if !slices.Equal(shape, inner) {
			return nil, nil, errors.New("ragged array")
		}
		flat = append(flat, f...)
	}
	if inner == nil {
		inner = []int64{}
	}
	return flat, append([]int64{int64(len(arr))}, inner...), nil
}

// fits checks an example cell's shape against the spec's (-1: any). A
// (-1, 1) spec also takes scalar cells, as MLflow reshapes them.
func fits(spec, have []int64) error {
	if len(spec) == 1 && spec[0] == 1 && len(have) == 0 {
		return nil
	}
	if len(spec) != len(have) {
		return fmt.Errorf("rows of shape %v do not fit the signature's %v", have, spec)
	}
	for i := range spec {
		if spec[i] >= 0 && spec[i] != have[i] {
			return fmt.Errorf("rows of shape %v do not fit the signature's %v", have, spec)
		}
	}
	return nil
}
