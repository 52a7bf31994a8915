package scoring

import (
	"slices"

	"github.com/mlship/mlship/mlmodel"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/mlship/mlship/columnar"
)

// conform applies the input signature to a decoded table, as MLflow's
// schema enforcement does before the model runs: required inputs must be
// present, extra ones are dropped, columns come out in signature order.
// It consumes b. dropped names the columns already left out while parsing.
func (d *Decoder) conform(b columnar.Batch, dropped []string) (columnar.Batch, error) {
	in := d.Inputs
	if in == nil {
		return b, nil
	}
	have := b.Schema()
	var pick []int
	switch {
	case in.IsTensorBased() && !in.HasNames():
		if err := checkUnnamedTensor(in.Tensors[0], b); err != nil {
			b.Release()
			return nil, err
		}
		return b, nil
	case !in.HasNames():
		want := in.Len()
		if int(b.NumCols()) < want {
			got := int(b.NumCols())
			b.Release()
			return nil, invalidInput("Failed to enforce schema of data. Error: Model inference is missing inputs. The model signature declares %d inputs  but the provided value only has %d inputs. Note: the inputs were not named in the signature so we can only verify their count.", want, got)
		}
		for i := 0; i < want; i++ {
			pick = append(pick, i)
		}
	default:
		var missing []string
		for i, name := range in.Names() {
			idx := have.FieldIndices(name)
			if len(idx) == 0 {
				required := true
				if in.Columns != nil {
					required = in.Columns[i].Required
				}
				if required {
					missing = append(missing, name)
				}
				continue
			}
			pick = append(pick, idx[0])
		}
		if len(missing) > 0 {
			extra := append([]string{}, dropped...)
			for _, f := range have.Fields() {
				if !slices.Contains(in.Names(), f.Name) {
					extra = append(extra, f.Name)
				}
			}
			b.Release()
			return nil, missingInputs(missing, extra)
		}
	}
	if len(pick) == int(b.NumCols()) {
		inOrder := true
		for i, p := range pick {
			if p != i {
				inOrder = false
			}
		}
		if inOrder {
			return b, nil
		}
	}
	fields := make([]arrow.Field, len(pick))
	cols := make([]arrow.Array, len(pick))
	for i, p := range pick {
		fields[i], cols[i] = have.Field(p), b.Column(p)
	}
	out := array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, b.NumRows())
	b.Release()
	return out, nil
}

// checkUnnamedTensor applies MLflow's rule for a signature with one unnamed
// tensor: the data is one column holding it (a tensor column, or scalars
// for a 1-D or (-1, 1) spec), or several scalar columns that form its
// second dimension, as DataFrame.to_numpy() would.
func checkUnnamedTensor(spec mlmodel.TensorSpec, b columnar.Batch) error {
	n := int(b.NumCols())
	scalar := func(i int) bool {
		f := b.Schema().Field(i)
		if f.HasMetadata() {
			if v, ok := f.Metadata.GetValue(MetaJSON); ok && v == "true" {
				return false
			}
		}
		_, nested := f.Type.(*arrow.FixedSizeListType)
		return !nested && !columnar.IsUnbatched(f)
	}
	switch {
	case n == 0:
		return invalidInput("Failed to enforce schema of data. Error: the request has no columns; the model takes a tensor of shape %s.", pyShape(spec.Shape))
	case n == 1 && !scalar(0):
		return nil // a tensor column: its cells were checked against the spec
	case n == 1:
		rows := b.NumRows()
		if len(spec.Shape) == 1 || (len(spec.Shape) == 2 && (spec.Shape[1] == 1 || spec.Shape[1] == -1)) {
			return nil
		}
		return invalidInput("Failed to enforce schema of data. Error: Shape of input (%d,) does not match expected shape %s.", rows, pyShape(spec.Shape))
	}
	for i := 0; i < n; i++ {
		if !scalar(i) {
			return invalidInput("Failed to enforce schema of data. Error: column %q holds lists or objects; several columns can fill the model's tensor only with one number per cell.", b.Schema().Field(i).Name)
		}
	}
	if len(spec.Shape) != 2 || (spec.Shape[1] != -1 && spec.Shape[1] != int64(n)) {
		return invalidInput("Failed to enforce schema of data. Error: This model contains a tensor-based model signature with no input names, which suggests a numpy array input, so a dataframe containing %d columns must be convertible to shape %s; its columns give shape (-1, %d).", n, pyShape(spec.Shape), n)
	}
	return nil
}
