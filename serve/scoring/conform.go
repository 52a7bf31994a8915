package scoring

import (
	"slices"

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
		spec := in.Tensors[0]
		if n := int(b.NumCols()); n > 1 {
			if len(spec.Shape) != 2 || (spec.Shape[1] != -1 && spec.Shape[1] != int64(n)) {
				b.Release()
				return nil, invalidInput("Failed to enforce schema of data. Error: This model contains a tensor-based model signature with no input names, which suggests a numpy array input, so a dataframe containing %d columns must be convertible to shape %s; its columns give shape (-1, %d).", n, pyShape(spec.Shape), n)
			}
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
