package scoring

import (
	"errors"
	"fmt"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mlship/mlship/columnar"
	"github.com/mlship/mlship/internal/jsonarrow"
	"github.com/mlship/mlship/internal/jsonscan"
	"github.com/mlship/mlship/mlmodel"
)

// MetaJSON marks a string column whose values are JSON texts: cells of
// MLflow's composite types (array, object, map, any) and JSON objects in
// tables without a signature. Python-side flavors decode them.
const MetaJSON = "mlship.json"

// column accumulates the cells of one table column.
type column interface {
	cell(s *jsonscan.Scanner) error // consume one cell value
	missing() error                 // a row without this column
	rows() int
	finish(name string) (arrow.Field, arrow.Array, error) // nil array: dropped
	Release()
}

// scalarColumn holds scalar cells of a known type.
type scalarColumn struct {
	sink jsonarrow.Sink
	n    int
}

func (c *scalarColumn) cell(s *jsonscan.Scanner) error {
	c.n++
	return typed(jsonarrow.LeafValue(s, c.sink), c.sink)
}

// typed records the column's type on a value error, for MLflow's message.
func typed(err error, s jsonarrow.Sink) error {
	var ve *jsonarrow.ValueError
	if errors.As(err, &ve) && ve.Type == "" {
		return &jsonarrow.ValueError{Msg: ve.Msg, Type: s.TypeName()}
	}
	return err
}
func (c *scalarColumn) missing() error { c.n++; return c.sink.Null() }
func (c *scalarColumn) rows() int      { return c.n }
func (c *scalarColumn) finish(name string) (arrow.Field, arrow.Array, error) {
	a := c.sink.Build()
	return arrow.Field{Name: name, Type: a.DataType(), Nullable: true}, a, nil
}
func (c *scalarColumn) Release() { c.sink.Release() }

// tensorColumn holds cells that are tensors of one shape (or scalars),
// stacked into a batched tensor column [rows, cell shape...].
type tensorColumn struct {
	sink      jsonarrow.Sink
	cellShape []int64 // nil until the first cell
	n         int
	spec      *mlmodel.TensorSpec
}

func (c *tensorColumn) cell(s *jsonscan.Scanner) error {
	shape, err := jsonarrow.ParseNested(s, c.sink)
	if err != nil {
		return typed(err, c.sink)
	}
	if c.cellShape == nil {
		c.cellShape = shape
	} else if !slices.Equal(shape, c.cellShape) {
		return &jsonarrow.ValueError{Msg: fmt.Sprintf("cells have different shapes %s and %s", pyShape(c.cellShape), pyShape(shape))}
	}
	c.n++
	return nil
}

func (c *tensorColumn) missing() error {
	return &jsonarrow.ValueError{Msg: "missing value in a tensor column"}
}
func (c *tensorColumn) rows() int { return c.n }

func (c *tensorColumn) finish(name string) (arrow.Field, arrow.Array, error) {
	if c.cellShape == nil {
		c.cellShape = []int64{}
	}
	shape := append([]int64{int64(c.n)}, c.cellShape...)
	if c.spec != nil {
		if len(c.cellShape) == 0 && !(len(c.spec.Shape) == 1 || (len(c.spec.Shape) == 2 && c.spec.Shape[1] == 1)) {
			return arrow.Field{}, nil, &jsonarrow.ValueError{Msg: fmt.Sprintf("column holds scalars, which only fit tensor shapes (-1,) or (-1, 1); the signature declares %s", pyShape(c.spec.Shape))}
		}
		// MLflow stacks the cells and reshapes them to the spec's shape.
		if checkShape(*c.spec, shape) != nil {
			if re, ok := reshapeTo(shape, c.spec.Shape); ok {
				shape = re
			}
		}
		if err := checkShape(*c.spec, shape); err != nil {
			return arrow.Field{}, nil, &jsonarrow.ValueError{Msg: err.Error()}
		}
	}
	vals := c.sink.Build()
	defer vals.Release()
	batched := len(shape) > 0
	f, a, err := columnar.NewTensorColumn(name, shape, vals, batched)
	if err != nil {
		return arrow.Field{}, nil, err
	}
	return f, a, nil
}
func (c *tensorColumn) Release() { c.sink.Release() }

// jsonColumn keeps each cell's JSON text (composite ColSpec types, objects
// without a schema), validating it against the type when there is one.
type jsonColumn struct {
	b   *array.StringBuilder
	typ *mlmodel.Type
	req bool
}

func (c *jsonColumn) cell(s *jsonscan.Scanner) error {
	if s.Peek() == jsonscan.Null {
		_ = s.Null()
		return c.missing()
	}
	start := s.Offset()
	raw, err := s.Skip()
	if err != nil {
		return err
	}
	if c.typ != nil && c.typ.Kind != mlmodel.AnyType {
		v, err := jsonscan.New(raw).Value()
		if err != nil {
			return err
		}
		if err := validateValue(v, *c.typ); err != nil {
			return &jsonarrow.ValueError{Msg: err.Error()}
		}
	}
	_ = start
	c.b.BinaryBuilder.Append(raw)
	return nil
}

func (c *jsonColumn) missing() error {
	if c.req && c.typ != nil && c.typ.Kind != mlmodel.AnyType {
		return &jsonarrow.ValueError{Msg: "missing value (null) in a required column"}
	}
	c.b.AppendNull()
	return nil
}
func (c *jsonColumn) rows() int { return c.b.Len() }
func (c *jsonColumn) finish(name string) (arrow.Field, arrow.Array, error) {
	a := c.b.NewArray()
	return arrow.Field{Name: name, Type: a.DataType(), Nullable: true,
		Metadata: arrow.NewMetadata([]string{MetaJSON}, []string{"true"})}, a, nil
}
func (c *jsonColumn) Release() { c.b.Release() }

// skipColumn consumes cells of a column the signature does not use: MLflow
// ignores extra columns, so they are not worth building.
type skipColumn struct{ n int }

func (c *skipColumn) cell(s *jsonscan.Scanner) error { c.n++; _, err := s.Skip(); return err }
func (c *skipColumn) missing() error                 { c.n++; return nil }
func (c *skipColumn) rows() int                      { return c.n }
func (c *skipColumn) finish(string) (arrow.Field, arrow.Array, error) {
	return arrow.Field{}, nil, nil
}
func (c *skipColumn) Release() {}

// inferColumn types a column without a schema from its first non-null
// cell: scalars (typed as pandas would), lists (a tensor column), or
// objects (a JSON column).
type inferColumn struct {
	mem     memory.Allocator
	dtype   string              // values take this numpy dtype when set
	spec    *mlmodel.TensorSpec // tensor cells must fit this spec when set
	pending int                 // nulls seen before the first value
	inner   column
}

func (c *inferColumn) newSink() jsonarrow.Sink {
	if c.dtype != "" {
		if sk, err := dtypeSink(c.mem, c.dtype); err == nil {
			return sk
		}
	}
	return jsonarrow.NewInferSink(c.mem)
}

func (c *inferColumn) cell(s *jsonscan.Scanner) error {
	if c.inner == nil {
		switch s.Peek() {
		case jsonscan.Null:
			if err := s.Null(); err != nil {
				return err
			}
			c.pending++
			return nil
		case jsonscan.Array:
			c.inner = &tensorColumn{sink: c.newSink(), spec: c.spec}
		case jsonscan.Object:
			if c.spec != nil {
				return &jsonarrow.ValueError{Msg: "a JSON object cannot be a tensor element"}
			}
			c.inner = &jsonColumn{b: array.NewStringBuilder(c.mem)}
		default:
			c.inner = &scalarColumn{sink: c.newSink()}
		}
		for ; c.pending > 0; c.pending-- {
			if err := c.inner.missing(); err != nil {
				return err
			}
		}
	}
	return c.inner.cell(s)
}

func (c *inferColumn) missing() error {
	if c.inner == nil {
		c.pending++
		return nil
	}
	return c.inner.missing()
}

func (c *inferColumn) rows() int {
	if c.inner == nil {
		return c.pending
	}
	return c.inner.rows()
}

func (c *inferColumn) finish(name string) (arrow.Field, arrow.Array, error) {
	if c.inner == nil {
		// Only nulls: a float64 column of NaN, as pandas makes it.
		b := array.NewFloat64Builder(c.mem)
		defer b.Release()
		b.AppendNulls(c.pending)
		a := b.NewArray()
		return arrow.Field{Name: name, Type: a.DataType(), Nullable: true}, a, nil
	}
	return c.inner.finish(name)
}

func (c *inferColumn) Release() {
	if c.inner != nil {
		c.inner.Release()
	}
}

// validateValue checks a decoded JSON value against a composite type, with
// MLflow's rules: array items recursively, object properties (required
// ones present, no unknown ones), map keys strings (always true in JSON).
func validateValue(v any, t mlmodel.Type) error {
	switch t.Kind {
	case mlmodel.AnyType:
		return nil
	case mlmodel.Array:
		items, ok := v.([]any)
		if !ok {
			return fmt.Errorf("expected a list for %s, got %s", t, jsonKind(v))
		}
		for i, it := range items {
			if err := validateValue(it, *t.Items); err != nil {
				return fmt.Errorf("item %d: %w", i, err)
			}
		}
		return nil
	case mlmodel.Map:
		m, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("expected an object for %s, got %s", t, jsonKind(v))
		}
		for k, it := range m {
			if err := validateValue(it, *t.Values); err != nil {
				return fmt.Errorf("key %q: %w", k, err)
			}
		}
		return nil
	case mlmodel.Object:
		m, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("expected an object for %s, got %s", t, jsonKind(v))
		}
		var missing, unknown []string
		known := map[string]bool{}
		for _, p := range t.Properties {
			known[p.Name] = true
			pv, ok := m[p.Name]
			if !ok || pv == nil {
				if p.Required {
					missing = append(missing, p.Name)
				}
				continue
			}
			if err := validateValue(pv, p.Type); err != nil {
				return fmt.Errorf("property %q: %w", p.Name, err)
			}
		}
		for k := range m {
			if !known[k] {
				unknown = append(unknown, k)
			}
		}
		slices.Sort(unknown)
		if len(missing) > 0 {
			return fmt.Errorf("Missing required properties: %s", pySet(missing))
		}
		if len(unknown) > 0 {
			return fmt.Errorf("Invalid properties not defined in the schema found: %s", pySet(unknown))
		}
		return nil
	case mlmodel.SparkMLVector:
		return validateValue(v, mlmodel.Type{Kind: mlmodel.Array, Items: &mlmodel.Type{Kind: mlmodel.Double}})
	}
	return validateScalar(v, t.Kind)
}

func validateScalar(v any, k mlmodel.Kind) error {
	bad := func() error { return fmt.Errorf("expected %s, got %s", k, jsonKind(v)) }
	switch k {
	case mlmodel.String, mlmodel.Binary, mlmodel.Datetime:
		if _, ok := v.(string); !ok {
			return bad()
		}
	case mlmodel.Boolean:
		if _, ok := v.(bool); !ok {
			return bad()
		}
	case mlmodel.Double, mlmodel.Float:
		if _, ok := v.(jsonscan.Num); !ok {
			return bad()
		}
	case mlmodel.Long, mlmodel.Integer:
		n, ok := v.(jsonscan.Num)
		if !ok {
			return bad()
		}
		if _, ok := n.Integral(); !ok {
			return fmt.Errorf("%s is not an integer", n)
		}
	}
	return nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case jsonscan.Num:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// pySet formats names as Python prints a set of strings: {'a', 'b'}.
func pySet(names []string) string {
	return "{" + pyQuoteJoin(names) + "}"
}

// pyList formats names as Python prints a list of strings: ['a', 'b'].
func pyList(names []string) string {
	return "[" + pyQuoteJoin(names) + "]"
}

func pyQuoteJoin(names []string) string {
	out := make([]byte, 0, 16*len(names))
	for i, n := range names {
		if i > 0 {
			out = append(out, ", "...)
		}
		out = append(out, '\'')
		out = append(out, n...)
		out = append(out, '\'')
	}
	return string(out)
}

var errNotTable = errors.New("not a table")
