package predict

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mlship/mlship/columnar"
	"github.com/mlship/mlship/mlmodel"
	"github.com/mlship/mlship/serve/scoring"
)

// assemble turns a scored chunk into the batch its output gets: the
// pass-through columns, then the predictions (nulls filled in for bad rows
// kept with --on-error null). For MLflow's JSON output the predictions keep
// the shape metadata that decides the response form; every other format
// gets plain, named columns.
func (r *runner) assemble(res *result, format Format) (columnar.Batch, error) {
	if len(res.parts) == 0 {
		return nil, nil // every row skipped
	}
	var pieces []columnar.Batch
	defer func() {
		for _, p := range pieces {
			p.Release()
		}
	}()
	for _, p := range res.parts {
		if p.out != nil {
			b, err := r.named(p.out, res.form, format)
			if err != nil {
				return nil, err
			}
			if r.predSchema == nil {
				r.predSchema = b.Schema()
			}
			pieces = append(pieces, b)
			continue
		}
		b, err := r.nulls(p.nulls, res.form, format)
		if err != nil {
			return nil, err
		}
		pieces = append(pieces, b)
	}
	pred, err := concatLoose(r, pieces)
	if err != nil {
		return nil, err
	}
	if res.keep == nil {
		return pred, nil
	}
	defer pred.Release()
	if pred.NumRows() != res.keep.NumRows() {
		return nil, fmt.Errorf("the model returned %d rows for %d input rows; passing columns through needs one prediction per row", pred.NumRows(), res.keep.NumRows())
	}
	fields := append([]arrow.Field{}, res.keep.Schema().Fields()...)
	cols := append([]arrow.Array{}, res.keep.Columns()...)
	for i, f := range pred.Schema().Fields() {
		if len(res.keep.Schema().FieldIndices(f.Name)) > 0 {
			return nil, fmt.Errorf("the pass-through column %q has the name of a prediction column; keep other columns or rename it in the input", f.Name)
		}
		fields = append(fields, f)
		cols = append(cols, pred.Column(i))
	}
	var md *arrow.Metadata
	if format == JSON {
		m := arrow.NewMetadata([]string{scoring.MetaOutput}, []string{"records"})
		md = &m
	}
	return array.NewRecordBatch(arrow.NewSchema(fields, md), cols, pred.NumRows()), nil
}

// concatLoose joins pieces whose schemas may differ only in metadata.
func concatLoose(r *runner, pieces []columnar.Batch) (columnar.Batch, error) {
	if len(pieces) == 1 {
		pieces[0].Retain()
		return pieces[0], nil
	}
	schema := pieces[0].Schema()
	same := make([]columnar.Batch, len(pieces))
	for i, p := range pieces {
		if !p.Schema().Equal(schema) {
			b, err := conformTo(p, schema)
			if err != nil {
				for _, s := range same[:i] {
					s.Release()
				}
				return nil, err
			}
			same[i] = b
			continue
		}
		p.Retain()
		same[i] = p
	}
	defer func() {
		for _, s := range same {
			s.Release()
		}
	}()
	return columnar.Concat(r.mem, same)
}

// named gives prediction columns their output names: the signature's
// outputs when the model's own names are not among them (matched by
// position), the model's names otherwise, and "prediction" for the one
// unnamed column of a model that returns an array.
func (r *runner) named(out columnar.Batch, form scoring.Form, format Format) (columnar.Batch, error) {
	if format == JSON && !r.keeping() {
		return withKind(nullableElems(out), form), nil
	}
	fields := out.Schema().Fields()
	for _, f := range fields {
		if columnar.IsUnbatched(f) || isJSONText(f) {
			return nil, fmt.Errorf("the model returned %q, which is not one value per row: only --output-format json can hold it", f.Name)
		}
	}
	rename := len(r.outNames) == len(fields)
	if rename {
		known := map[string]bool{}
		for _, n := range r.outNames {
			known[n] = true
		}
		inSig := true
		for _, f := range fields {
			inSig = inSig && known[f.Name]
		}
		rename = !inSig
	}
	nf := make([]arrow.Field, len(fields))
	for i, f := range fields {
		name := f.Name
		switch {
		case rename:
			name = r.outNames[i]
		case len(fields) == 1 && (name == "0" || name == ""):
			name = "prediction"
		}
		nf[i] = arrow.Field{Name: name, Type: withNullableElems(f.Type), Nullable: true}
	}
	b := nullableElems(out)
	defer b.Release()
	return array.NewRecordBatch(arrow.NewSchema(nf, nil), b.Columns(), b.NumRows()), nil
}

// nullableElems gives b's tensor columns (fixed-size lists, whose elements
// the flavors declare non-nullable) nullable elements, relabelling the
// same buffers. A bad row written with --on-error null keeps its tensor's
// length with null elements (see nullColumn), which only a nullable
// element can hold: Parquet writes a non-nullable one as required and the
// rows after it lose their alignment. The null rows of a run's first
// batch take the signature's types, which have nullable elements too, so
// both agree. Field names and metadata are kept.
func nullableElems(b columnar.Batch) columnar.Batch {
	fields := append([]arrow.Field{}, b.Schema().Fields()...)
	cols := make([]arrow.Array, len(fields))
	for i, f := range fields {
		fields[i].Type = withNullableElems(f.Type)
		data := relabel(b.Column(i).Data(), fields[i].Type)
		cols[i] = array.MakeFromData(data)
		data.Release()
	}
	defer func() {
		for _, c := range cols {
			c.Release()
		}
	}()
	var md *arrow.Metadata
	if b.Schema().HasMetadata() {
		m := b.Schema().Metadata()
		md = &m
	}
	return array.NewRecordBatch(arrow.NewSchema(fields, md), cols, b.NumRows())
}

// withNullableElems is t with the elements of every fixed-size list level
// nullable, as schemaOf builds tensor types.
func withNullableElems(t arrow.DataType) arrow.DataType {
	fsl, ok := t.(*arrow.FixedSizeListType)
	if !ok {
		return t
	}
	return arrow.FixedSizeListOf(fsl.Len(), withNullableElems(fsl.Elem()))
}

// relabel is d with type t, which has d's layout.
func relabel(d arrow.ArrayData, t arrow.DataType) arrow.ArrayData {
	fsl, ok := t.(*arrow.FixedSizeListType)
	if !ok {
		d.Retain()
		return d
	}
	child := relabel(d.Children()[0], fsl.Elem())
	defer child.Release()
	return array.NewData(t, d.Len(), d.Buffers(), []arrow.ArrayData{child}, d.NullN(), d.Offset())
}

// withKind records on a JSON-bound batch how MLflow would shape it, as the
// request's form decides when the model did not say (consumes b).
func withKind(b columnar.Batch, form scoring.Form) columnar.Batch {
	if _, ok := b.Schema().Metadata().GetValue(scoring.MetaOutput); ok {
		return b
	}
	kind := "records"
	if form == scoring.FormTensor {
		kind = "dict"
	}
	md := arrow.NewMetadata([]string{scoring.MetaOutput}, []string{kind})
	out := array.NewRecordBatch(arrow.NewSchema(b.Schema().Fields(), &md), b.Columns(), b.NumRows())
	b.Release()
	return out
}

func isJSONText(f arrow.Field) bool {
	v, ok := f.Metadata.GetValue(scoring.MetaJSON)
	return ok && v == "true"
}

// nulls makes n rows of null predictions in the prediction schema: the
// one the model has produced so far in this run, else the signature's.
func (r *runner) nulls(n int, form scoring.Form, format Format) (columnar.Batch, error) {
	schema := r.predSchema
	if schema == nil {
		s, err := schemaOf(r.outSpec)
		if err != nil {
			return nil, fmt.Errorf("cannot write null predictions before the model has produced one (the first rows all failed) and the signature has no outputs to take their types from; use --on-error skip")
		}
		schema = s
	}
	cols := make([]arrow.Array, schema.NumFields())
	for i, f := range schema.Fields() {
		cols[i] = nullColumn(r, f.Type, n)
	}
	b := array.NewRecordBatch(schema, cols, int64(n))
	for _, c := range cols {
		c.Release()
	}
	if format == JSON && !r.keeping() {
		return withKind(b, form), nil
	}
	return b, nil
}

// nullColumn is n null values of type t. A tensor row (fixed-size list)
// is kept present with null elements, so every row still has the tensor's
// shape, which tensor views of the column rely on.
func nullColumn(r *runner, t arrow.DataType, n int) arrow.Array {
	fsl, ok := t.(*arrow.FixedSizeListType)
	if !ok {
		return array.MakeArrayOfNull(r.mem, t, n)
	}
	child := nullColumn(r, fsl.Elem(), n*int(fsl.Len()))
	defer child.Release()
	data := array.NewData(t, n, []*memory.Buffer{nil}, []arrow.ArrayData{child.Data()}, 0, 0)
	defer data.Release()
	return array.MakeFromData(data)
}

// schemaOf is the Arrow schema of a signature's outputs.
func schemaOf(s *mlmodel.Schema) (*arrow.Schema, error) {
	if s == nil || s.Len() == 0 {
		return nil, fmt.Errorf("no outputs")
	}
	var fields []arrow.Field
	for i, c := range s.Columns {
		if !c.Type.Kind.IsScalar() {
			return nil, fmt.Errorf("output type %s", c.Type)
		}
		t := scoring.KindArrow(c.Type.Kind)
		name := c.Name
		if name == "" {
			name = fmt.Sprint(i)
		}
		fields = append(fields, arrow.Field{Name: name, Type: t, Nullable: true})
	}
	for _, ts := range s.Tensors {
		t, err := scoring.DTypeArrow(ts.DType)
		if err != nil {
			return nil, err
		}
		for k := len(ts.Shape) - 1; k >= 1; k-- {
			if ts.Shape[k] < 0 {
				return nil, fmt.Errorf("variable inner dimension")
			}
			t = arrow.FixedSizeListOf(int32(ts.Shape[k]), t)
		}
		fields = append(fields, arrow.Field{Name: ts.Name, Type: t, Nullable: true})
	}
	return arrow.NewSchema(fields, nil), nil
}

// conformTo casts b's columns to schema's types where they differ (a CSV
// column typed as integers in one chunk and as floats in the next, a
// column that was all missing): pandas would have typed the whole file at
// once. Names must match.
func conformTo(b columnar.Batch, schema *arrow.Schema) (columnar.Batch, error) {
	if int(b.NumCols()) != schema.NumFields() {
		return nil, fmt.Errorf("the output columns changed between batches: %s, then %s", schema, b.Schema())
	}
	cols := make([]arrow.Array, b.NumCols())
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	for i, f := range schema.Fields() {
		got := b.Schema().Field(i)
		if got.Name != f.Name {
			return nil, fmt.Errorf("the output columns changed between batches: %s, then %s", schema, b.Schema())
		}
		if arrow.TypeEqual(got.Type, f.Type) {
			c := b.Column(i)
			c.Retain()
			cols[i] = c
			continue
		}
		c, err := compute.CastArray(context.Background(), b.Column(i), compute.SafeCastOptions(f.Type))
		if err != nil {
			return nil, fmt.Errorf("column %q was %s in earlier rows and is %s here, which does not convert: %w", f.Name, f.Type, got.Type, err)
		}
		cols[i] = c
	}
	return array.NewRecordBatch(schema, cols, b.NumRows()), nil
}
