package flavortest

import (
	"errors"
	"fmt"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/mlship/mlship/columnar"
	"github.com/mlship/mlship/mlmodel"
)

// numpyTypes maps the numpy dtype names of TensorSpecs to the Arrow types
// that carry them. "object" and the types mlship has no column for are
// absent: anything goes.
var numpyTypes = map[string][]arrow.Type{
	"bool": {arrow.BOOL},
	"int8": {arrow.INT8}, "int16": {arrow.INT16}, "int32": {arrow.INT32}, "int64": {arrow.INT64},
	"uint8": {arrow.UINT8}, "uint16": {arrow.UINT16}, "uint32": {arrow.UINT32}, "uint64": {arrow.UINT64},
	"float16": {arrow.FLOAT16}, "float32": {arrow.FLOAT32}, "float64": {arrow.FLOAT64},
	"str":            {arrow.STRING, arrow.LARGE_STRING},
	"bytes":          {arrow.BINARY, arrow.LARGE_BINARY},
	"datetime64[ns]": {arrow.TIMESTAMP}, "datetime64[us]": {arrow.TIMESTAMP},
	"datetime64[ms]": {arrow.TIMESTAMP}, "datetime64[s]": {arrow.TIMESTAMP},
}

// kindTypes maps ColSpec scalar kinds to Arrow types.
var kindTypes = map[mlmodel.Kind][]arrow.Type{
	mlmodel.Boolean:  {arrow.BOOL},
	mlmodel.Integer:  {arrow.INT32},
	mlmodel.Long:     {arrow.INT64},
	mlmodel.Float:    {arrow.FLOAT32},
	mlmodel.Double:   {arrow.FLOAT64},
	mlmodel.String:   {arrow.STRING, arrow.LARGE_STRING},
	mlmodel.Binary:   {arrow.BINARY, arrow.LARGE_BINARY},
	mlmodel.Datetime: {arrow.TIMESTAMP, arrow.DATE32, arrow.DATE64},
}

// conforms checks batch b against schema s: one column per entry, found by
// name when the schema is named (and in schema order when ordered), with
// compatible types and, for tensors, shapes (-1 matches any dimension).
func conforms(s *mlmodel.Schema, b columnar.Batch, ordered bool) error {
	if int(b.NumCols()) != s.Len() {
		return fmt.Errorf("%d columns %v for %d described entries %v", b.NumCols(), fieldNames(b.Schema()), s.Len(), s.Names())
	}
	named := s.HasNames()
	if named && ordered && !slices.Equal(fieldNames(b.Schema()), s.Names()) {
		return fmt.Errorf("columns %v, described %v", fieldNames(b.Schema()), s.Names())
	}
	column := func(i int, name string) (arrow.Field, arrow.Array, error) {
		if !named {
			return b.Schema().Field(i), b.Column(i), nil
		}
		idx := b.Schema().FieldIndices(name)
		if len(idx) != 1 {
			return arrow.Field{}, nil, fmt.Errorf("described %q, but the columns are %v", name, fieldNames(b.Schema()))
		}
		return b.Schema().Field(idx[0]), b.Column(idx[0]), nil
	}
	var errs []error
	for i, spec := range s.Tensors {
		f, col, err := column(i, spec.Name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := tensorConforms(spec, f, col); err != nil {
			errs = append(errs, err)
		}
	}
	for i, spec := range s.Columns {
		f, _, err := column(i, spec.Name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if want, ok := kindTypes[spec.Type.Kind]; ok && !slices.Contains(want, f.Type.ID()) {
			errs = append(errs, fmt.Errorf("column %q is %s, described as %s", f.Name, f.Type, spec.Type))
		}
	}
	return errors.Join(errs...)
}

func tensorConforms(spec mlmodel.TensorSpec, f arrow.Field, col arrow.Array) error {
	want, typed := numpyTypes[spec.DType]
	if !typed {
		return nil // object and exotic dtypes: no layout to compare
	}
	t, err := columnar.TensorOf(f, col)
	if err != nil {
		return fmt.Errorf("column %q, described as a %s tensor: %w", f.Name, spec.DType, err)
	}
	defer t.Values.Release()
	var errs []error
	if !slices.Contains(want, t.Values.DataType().ID()) {
		errs = append(errs, fmt.Errorf("column %q holds %s, described as %s", f.Name, t.Values.DataType(), spec.DType))
	}
	ok := len(t.Shape) == len(spec.Shape)
	for i := 0; ok && i < len(spec.Shape); i++ {
		ok = spec.Shape[i] == -1 || spec.Shape[i] == t.Shape[i]
	}
	if !ok {
		errs = append(errs, fmt.Errorf("column %q has shape %v, described as %v", f.Name, t.Shape, spec.Shape))
	}
	return errors.Join(errs...)
}

func fieldNames(s *arrow.Schema) []string {
	out := make([]string, s.NumFields())
	for i, f := range s.Fields() {
		out[i] = f.Name
	}
	return out
}
