package scoring

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mlship/mlship/columnar"
	"github.com/mlship/mlship/internal/apierr"
	"github.com/mlship/mlship/internal/jsonarrow"
	"github.com/mlship/mlship/internal/jsonscan"
	"github.com/mlship/mlship/mlmodel"
)

// Form is how a request carried its data; it decides the response shape.
type Form int

const (
	// FormDataFrame: the model sees a DataFrame (dataframe_* keys, CSV, or
	// a column-based signature); MLflow answers a list of records or the
	// model's list.
	FormDataFrame Form = iota
	// FormTensor: the model sees an ndarray or a dict of ndarrays
	// (inputs/instances with a tensor signature or none).
	FormTensor
)

func (f Form) String() string {
	if f == FormTensor {
		return "tensor"
	}
	return "dataframe"
}

// Request is a decoded /invocations request.
type Request struct {
	Form   Form
	Batch  columnar.Batch
	Params map[string]any
	// Warnings are things MLflow would log and continue over (params
	// without a params schema, unknown params).
	Warnings []string
}

// Release frees the batch.
func (r *Request) Release() {
	if r != nil && r.Batch != nil {
		r.Batch.Release()
	}
}

// Decoder decodes requests for one model. Its zero value decodes without a
// signature, inferring types as pandas and numpy would.
type Decoder struct {
	// Inputs is the input schema: the MLmodel signature's, or the model's
	// own (an ONNX graph's tensors) when the MLmodel has none.
	Inputs *mlmodel.Schema
	// Hint is the model's own description of its tensor inputs (an ONNX
	// graph's), used when there is no signature: values sent for a named
	// input take its element type, so JSON numbers arrive as the float32 a
	// model wants. Unlike Inputs it enforces nothing and does not change the
	// response form: MLflow has no signature to enforce there.
	Hint *mlmodel.Schema
	// Params is the signature's params schema.
	Params *mlmodel.ParamSchema
	// Mem allocates Arrow buffers; nil means the Go allocator.
	Mem memory.Allocator

	schemas columnar.SchemaCache // requests of one model share a layout
	stamped columnar.SchemaCache // the same, with the form recorded
}

func (d *Decoder) mem() memory.Allocator {
	if d.Mem == nil {
		return memory.DefaultAllocator
	}
	return d.Mem
}

var inputFields = []string{"dataframe_split", "dataframe_records", "instances", "inputs"}

const protocolNote = " IMPORTANT: The MLflow Model scoring protocol has changed in MLflow version 2.0. " +
	"If you are seeing this error, you are likely using an outdated scoring request format. " +
	"To resolve the error, either update your request format or adjust your MLflow Model's requirements file " +
	"to specify an older version of MLflow (for example, change the 'mlflow' requirement specifier to 'mlflow==1.30.0'). " +
	"If you are making a request using the MLflow client (e.g. via `mlflow.pyfunc.spark_udf()`), upgrade your MLflow client " +
	"to a version >= 2.0 in order to use the new request format. For more information about the updated MLflow Model " +
	"scoring protocol in MLflow 2.0, see https://mlflow.org/docs/latest/models.html#deploy-mlflow-models."

func badRequest(format string, args ...any) *apierr.Error {
	return apierr.New(apierr.BadRequest, format, args...)
}

func invalidInput(format string, args ...any) *apierr.Error {
	return apierr.New(apierr.InvalidParameterValue, format, args...)
}

// DecodeJSON decodes an application/json request body.
func (d *Decoder) DecodeJSON(body []byte) (*Request, error) {
	s := jsonscan.New(body)
	switch s.Peek() {
	case jsonscan.Object:
	case jsonscan.Array:
		if _, err := s.Skip(); err == nil && s.End() == nil {
			return nil, badRequest("Invalid input. The input must be a JSON dictionary with exactly one of the input fields {'dataframe_split', 'dataframe_records', 'instances', 'inputs'}. Received a list.")
		}
		return nil, invalidJSON(s)
	default:
		if _, err := s.Skip(); err == nil && s.End() == nil {
			return nil, badRequest("Invalid input. The input must be a JSON dictionary with exactly one of the input fields {'dataframe_split', 'dataframe_records', 'instances', 'inputs'}. Received a JSON %s.", kindOf(body))
		}
		return nil, invalidJSON(jsonscan.New(body))
	}
	top := map[string][]byte{}
	var order []string
	err := s.Object(func(k []byte) error {
		raw, err := s.Skip()
		key := string(k)
		if _, dup := top[key]; !dup {
			order = append(order, key)
		}
		top[key] = raw // last one wins, as in Python's json.loads
		return err
	})
	if err == nil {
		err = s.End()
	}
	if err != nil {
		return nil, invalidJSON(jsonscan.New(body))
	}
	if _, ok := top["signature_name"]; ok {
		return nil, badRequest("Invalid input. 'signature_name' is not supported: MLflow models have one signature.")
	}
	var present []string
	for _, f := range inputFields {
		if _, ok := top[f]; ok {
			present = append(present, f)
		}
	}
	if len(present) != 1 {
		for _, k := range []string{"messages", "prompt", "input"} {
			if _, ok := top[k]; ok && len(present) == 0 {
				return nil, badRequest("Invalid input. The unified LLM request form (%q without an input field) is not supported by mlship yet; send the model input in one of the input fields {'dataframe_split', 'dataframe_records', 'instances', 'inputs'}.", k)
			}
		}
		if slices.Contains(present, "inputs") && slices.Contains(present, "instances") {
			return nil, badRequest("Invalid input. Both 'instances' and 'inputs' were supplied; send exactly one.")
		}
		return nil, badRequest("The input must be a JSON dictionary with exactly one of the input fields {'dataframe_split', 'dataframe_records', 'instances', 'inputs'}. Received dictionary with input fields: %s.%s", pyList(order), protocolNote)
	}
	req := &Request{}
	if raw, ok := top["params"]; ok {
		params, warnings, err := d.decodeParams(raw)
		if err != nil {
			return nil, err
		}
		req.Params, req.Warnings = params, warnings
	} else {
		req.Params = d.defaultParams()
	}
	field := present[0]
	raw := top[field]
	var batch columnar.Batch
	switch field {
	case "dataframe_split":
		batch, err = d.dataframeSplit(raw)
	case "dataframe_records":
		batch, err = d.dataframeRecords(raw)
	case "instances":
		batch, err = d.instances(raw)
	case "inputs":
		batch, err = d.inputs(raw)
	}
	if err != nil {
		return nil, asAPIError(err, field)
	}
	req.Form = d.form(field)
	req.Batch = d.stamp(batch, req.Form)
	return req, nil
}

// MetaForm is schema metadata on decoded batches saying what the model
// should receive: "dataframe" (a pandas DataFrame) or "tensor" (ndarrays, a
// dict of them). Flavors that run Python build their input from it.
const MetaForm = "mlship.form"

var formMeta = map[Form]arrow.Metadata{
	FormDataFrame: arrow.NewMetadata([]string{MetaForm}, []string{"dataframe"}),
	FormTensor:    arrow.NewMetadata([]string{MetaForm}, []string{"tensor"}),
}

// stamp records the form on the batch (consuming b).
func (d *Decoder) stamp(b columnar.Batch, f Form) columnar.Batch {
	md := formMeta[f]
	schema := d.stamped.Schema(b.Schema().Fields(), &md)
	out := array.NewRecordBatch(schema, b.Columns(), b.NumRows())
	b.Release()
	return out
}

// form applies MLflow's rule: the signature decides what the model sees (a
// column-based schema makes a DataFrame, a tensor-based one ndarrays);
// without one the request key does.
func (d *Decoder) form(field string) Form {
	switch {
	case d.Inputs.IsTensorBased():
		return FormTensor
	case d.Inputs != nil:
		return FormDataFrame
	case field == "dataframe_split" || field == "dataframe_records" || field == "csv":
		return FormDataFrame
	}
	return FormTensor
}

func kindOf(body []byte) string {
	return jsonscan.New(body).Peek().String()
}

// invalidJSON re-scans body to report MLflow's invalid-JSON error with the
// position of the problem.
func invalidJSON(s *jsonscan.Scanner) error {
	_, err := s.Skip()
	if err == nil {
		err = s.End()
	}
	msg := "unexpected end of input"
	if err != nil {
		msg = err.Error()
	}
	return badRequest("Invalid input. Ensure that input is a valid JSON formatted string. Error: '%s'", msg)
}

// asAPIError turns decoding errors into MLflow errors: syntax problems are
// BAD_REQUEST, values that do not fit the signature INVALID_PARAMETER_VALUE.
func asAPIError(err error, field string) error {
	if e, ok := apierr.As(err); ok {
		return e
	}
	var se *jsonscan.SyntaxError
	if errors.As(err, &se) {
		return badRequest("Invalid input. Ensure that input is a valid JSON formatted string. Error: '%s'", se)
	}
	return invalidInput("Invalid input. Data is not compatible with model signature. %s", err.Error())
}

// columnError names the column in a value error.
func columnError(name string, err error) error {
	var ve *jsonarrow.ValueError
	if errors.As(err, &ve) {
		return fmt.Errorf("Failed to convert column %s: %s", name, ve.Msg)
	}
	return err
}

// columnFor returns the accumulator for a table column: typed by the
// signature when it lists the column, skipped when the signature exists but
// does not use it, inferred otherwise.
func (d *Decoder) columnFor(name string, pos int) column {
	in := d.Inputs
	if in == nil {
		return &inferColumn{mem: d.mem(), dtype: d.hintDType(name)}
	}
	if in.IsTensorBased() {
		if !in.HasNames() {
			// One unnamed tensor: either a column of tensor cells, or scalar
			// columns stacked side by side into it (DataFrame.to_numpy()).
			// Either way the values take the tensor's dtype.
			t := &in.Tensors[0]
			if _, err := DTypeArrow(t.DType); err != nil {
				return &inferColumn{mem: d.mem()}
			}
			return &inferColumn{mem: d.mem(), dtype: t.DType, spec: t}
		}
		for i := range in.Tensors {
			t := &in.Tensors[i]
			if t.Name == name {
				sk, err := dtypeSink(d.mem(), t.DType)
				if err != nil {
					return &inferColumn{mem: d.mem()}
				}
				return &tensorColumn{sink: sk, spec: t}
			}
		}
		return &skipColumn{}
	}
	for i, c := range in.Columns {
		// Named specs bind by name; unnamed ones by position (a column whose
		// name is literally "" is not the first unnamed spec).
		if (c.Name != "" && c.Name == name) || (c.Name == "" && i == pos) {
			return d.colSpecColumn(c)
		}
	}
	if !in.HasNames() {
		return &inferColumn{mem: d.mem()}
	}
	return &skipColumn{}
}

func (d *Decoder) colSpecColumn(c mlmodel.ColSpec) column {
	if c.Type.Kind.IsScalar() {
		return &scalarColumn{sink: jsonarrow.NewSink(d.mem(), KindArrow(c.Type.Kind), string(c.Type.Kind))}
	}
	t := c.Type
	return &jsonColumn{b: array.NewStringBuilder(d.mem()), typ: &t, req: c.Required}
}

// table assembles named columns into a batch, then applies the signature.
type table struct {
	schemas *columnar.SchemaCache
	names   []string
	cols    []column
	index   map[string]int
}

func (t *table) add(name string, c column) int {
	if t.index == nil {
		t.index = map[string]int{}
	}
	t.index[name] = len(t.cols)
	t.names = append(t.names, name)
	t.cols = append(t.cols, c)
	return len(t.cols) - 1
}

func (t *table) Release() {
	for _, c := range t.cols {
		c.Release()
	}
}

// build finishes every column; all must have rows rows. dropped lists the
// columns the signature does not use.
func (t *table) Build(rows int) (b columnar.Batch, dropped []string, err error) {
	fields := make([]arrow.Field, 0, len(t.cols))
	arrs := make([]arrow.Array, 0, len(t.cols))
	defer func() {
		for _, a := range arrs {
			a.Release()
		}
	}()
	for i, c := range t.cols {
		if c.rows() != rows {
			return nil, nil, invalidInput("The length of values for each input/column name are not the same")
		}
		f, a, err := c.finish(t.names[i])
		if err != nil {
			return nil, nil, invalidInput("Invalid input. Data is not compatible with model signature. %v", columnError(t.names[i], err))
		}
		if a == nil {
			dropped = append(dropped, t.names[i])
			continue
		}
		fields = append(fields, f)
		arrs = append(arrs, a)
	}
	// Reshaping tensor cells to the signature's shape (MLflow does) can
	// change the first dimension; the columns must still agree.
	for i, a := range arrs {
		if i == 0 {
			rows = a.Len()
		} else if a.Len() != rows {
			return nil, nil, invalidInput("Invalid input. After reshaping to the signature's shapes the inputs have different first dimensions (%d and %d).", rows, a.Len())
		}
	}
	return array.NewRecordBatch(t.schemas.Schema(fields, nil), arrs, int64(rows)), dropped, nil
}

// dataframeSplit reads pandas' split orient: {"columns": [...], "data":
// [[...], ...], "index": [...]}.
func (d *Decoder) dataframeSplit(raw []byte) (columnar.Batch, error) {
	s := jsonscan.New(raw)
	if k := s.Peek(); k != jsonscan.Object {
		return nil, badRequest("Dataframe split format must be a dictionary. Got %s.", pyTypeName(k))
	}
	var columnsRaw, dataRaw []byte
	var keys []string
	err := s.Object(func(k []byte) error {
		v, err := s.Skip()
		keys = append(keys, string(k))
		switch string(k) {
		case "columns":
			columnsRaw = v
		case "data":
			dataRaw = v
		case "index":
		default:
			return badRequest("Dataframe split format must have 'data' field and optionally 'columns' and 'index' fields. Got %s.'", pyList(keys))
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if dataRaw == nil {
		return nil, badRequest("Dataframe split format must have 'data' field and optionally 'columns' and 'index' fields. Got %s.'", pyList(keys))
	}
	return d.splitTable(columnsRaw, dataRaw)
}

// splitTable builds a table from split-orient parts: optional column names
// and a list of rows.
func (d *Decoder) splitTable(columnsRaw, dataRaw []byte) (columnar.Batch, error) {
	var names []string
	if columnsRaw != nil {
		cs := jsonscan.New(columnsRaw)
		err := cs.Array(func(int) error {
			switch cs.Peek() {
			case jsonscan.String:
				n, err := cs.String()
				names = append(names, n)
				return err
			case jsonscan.Number:
				n, err := cs.Number()
				names = append(names, n.String())
				return err
			}
			return badRequest("Provided dataframe_split field is not a valid dataframe representation in 'split' format. Error: 'column names must be strings'")
		})
		if err != nil {
			return nil, err
		}
	}
	ds := jsonscan.New(dataRaw)
	if ds.Peek() != jsonscan.Array {
		return nil, badRequest("Provided dataframe_split field is not a valid dataframe representation in 'split' format. Error: 'data must be a list of rows'")
	}
	t := &table{schemas: &d.schemas}
	defer t.Release()
	setup := func(n int) {
		if names == nil {
			for i := 0; i < n; i++ {
				names = append(names, strconv.Itoa(i))
			}
		}
		for i, n := range names {
			t.add(n, d.columnFor(n, i))
		}
	}
	if names != nil {
		setup(len(names))
	}
	rows := 0
	err := ds.Array(func(r int) error {
		rows++
		if ds.Peek() != jsonscan.Array {
			// A bare value per row is a one-column frame.
			if t.cols == nil {
				setup(1)
			}
			if len(t.cols) != 1 {
				return badRequest("Provided dataframe_split field is not a valid dataframe representation in 'split' format. Error: '%d columns passed, passed data had 1 columns'", len(t.cols))
			}
			return cellErr(t.names[0], r, t.cols[0].cell(ds))
		}
		if t.cols == nil {
			// No "columns": count the first row's cells.
			n, err := countArray(ds)
			if err != nil {
				return err
			}
			setup(n)
		}
		i := 0
		err := ds.Array(func(int) error {
			if i >= len(t.cols) {
				_, err := ds.Skip()
				i++
				return err
			}
			err := cellErr(t.names[i], r, t.cols[i].cell(ds))
			i++
			return err
		})
		if err != nil {
			return err
		}
		if i != len(t.cols) {
			return badRequest("Provided dataframe_split field is not a valid dataframe representation in 'split' format. Error: '%d columns passed, passed data had %d columns'", len(t.cols), i)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if t.cols == nil {
		setup(0)
	}
	b, dropped, err := t.Build(rows)
	if err != nil {
		return nil, err
	}
	return d.conform(b, dropped)
}

// countArray counts the elements of the array at the scanner's position
// without consuming it.
func countArray(s *jsonscan.Scanner) (int, error) {
	saved := *s
	n := 0
	err := s.Array(func(int) error { n++; _, err := s.Skip(); return err })
	*s = saved
	return n, err
}

func cellErr(col string, row int, err error) error {
	if err == nil {
		return nil
	}
	var ve *jsonarrow.ValueError
	if errors.As(err, &ve) && ve.Type == "" {
		// Composite values (array, object, map) are checked as MLflow's
		// schema enforcement checks them: INVALID_PARAMETER_VALUE.
		return invalidInput("Failed to enforce schema of data. Error: column %s, row %d: %s", col, row, ve.Msg)
	}
	if errors.As(err, &ve) && ve.Type == "a value" {
		// No signature: the values themselves do not make a column.
		return badRequest("Invalid input. Failed to convert column %s (row %d): %s", col, row, ve.Msg)
	}
	if errors.As(err, &ve) {
		// MLflow casts the parsed frame to the signature's dtypes and
		// answers a failed cast with BAD_REQUEST and this sentence.
		return badRequest("Invalid input. Data is not compatible with model signature. Failed to convert column %s to type '%s'. Error: 'row %d: %s'", col, pandasType(ve.Type), row, ve.Msg)
	}
	return err
}

// pandasType names the dtype MLflow casts a column to.
func pandasType(t string) string {
	switch t {
	case "double":
		return "float64"
	case "float":
		return "float32"
	case "long":
		return "int64"
	case "integer":
		return "int32"
	case "boolean":
		return "bool"
	case "string", "binary", "":
		return "object"
	case "datetime":
		return "datetime64[ns]"
	}
	return t // numpy dtypes of tensor columns
}

// dataframeRecords reads a list of row objects; columns appear in
// first-seen order and rows without a column get a missing value.
func (d *Decoder) dataframeRecords(raw []byte) (columnar.Batch, error) {
	s := jsonscan.New(raw)
	if k := s.Peek(); k != jsonscan.Array {
		return nil, badRequest("Dataframe records format must be a list of records. Got %s.", pyTypeName(k))
	}
	return d.records(s, true)
}

// records reads a list of objects into columns. fill: missing keys are
// missing values (pandas); otherwise lengths must agree (TF serving rows).
func (d *Decoder) records(s *jsonscan.Scanner, fill bool) (columnar.Batch, error) {
	t := &table{schemas: &d.schemas}
	defer t.Release()
	rows := 0
	err := s.Array(func(r int) error {
		if s.Peek() != jsonscan.Object {
			return badRequest("Dataframe records format must be a list of records (JSON objects); row %d is a %s.", r, s.Peek())
		}
		rows++
		seen := make([]bool, len(t.cols))
		err := s.Object(func(k []byte) error {
			i, ok := t.index[string(k)]
			if !ok {
				i = t.add(string(k), d.columnFor(string(k), len(t.cols)))
				seen = append(seen, false)
				for j := 0; j < r && fill; j++ {
					if err := cellErr(string(k), j, t.cols[i].missing()); err != nil {
						return err
					}
				}
			}
			seen[i] = true
			return cellErr(string(k), r, t.cols[i].cell(s))
		})
		if err != nil {
			return err
		}
		for i, ok := range seen {
			if !ok && fill {
				if err := cellErr(t.names[i], r, t.cols[i].missing()); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	b, dropped, err := t.Build(rows)
	if err != nil {
		return nil, err
	}
	return d.conform(b, dropped)
}

// instances reads TF-serving's row form: a list of objects is transposed
// into named inputs; any other list is treated as `inputs`.
func (d *Decoder) instances(raw []byte) (columnar.Batch, error) {
	s := jsonscan.New(raw)
	if s.Peek() == jsonscan.Array {
		saved := *s
		first := jsonscan.Invalid
		_ = s.Array(func(i int) error {
			if i == 0 {
				first = s.Peek()
			}
			_, err := s.Skip()
			return err
		})
		*s = saved
		if first == jsonscan.Object {
			return d.records(s, false)
		}
	}
	return d.inputs(raw)
}

// inputs reads TF-serving's columnar form: a dict of name → value, or one
// value for a single-input model.
func (d *Decoder) inputs(raw []byte) (columnar.Batch, error) {
	s := jsonscan.New(raw)
	colBased := d.Inputs != nil && !d.Inputs.IsTensorBased()
	if s.Peek() == jsonscan.Object {
		if d.Inputs != nil && !d.Inputs.HasNames() && !colBased {
			return nil, badRequest("Invalid input. The model's input schema is unnamed, so 'inputs' must be a list or a single value, not a dictionary.")
		}
		if colBased {
			return d.columnsFromDict(s)
		}
		return d.tensorsFromDict(s)
	}
	if colBased {
		return d.columnsFromValue(s)
	}
	name := ""
	if d.Inputs.IsTensorBased() {
		if len(d.Inputs.Tensors) > 1 {
			return nil, badRequest("Invalid input. The model has %d inputs %s; send 'inputs' as a dictionary keyed by input name.", len(d.Inputs.Tensors), pyList(d.Inputs.Names()))
		}
		name = d.Inputs.Tensors[0].Name
	}
	sk, spec, err := d.tensorSink(name)
	if err != nil {
		return nil, err
	}
	defer sk.Release()
	shape, err := jsonarrow.ParseNested(s, sk)
	if err != nil {
		return nil, tensorErr(name, err)
	}
	b, err := d.tensorBatch([]string{name}, [][]int64{shape}, []jsonarrow.Sink{sk}, []*mlmodel.TensorSpec{spec})
	if err != nil {
		return nil, err
	}
	return markBare(b), nil
}

// MetaBare marks the one column of a request that sent a bare value (a
// list, not a dict of named inputs): MLflow hands the model an ndarray then,
// not a dict, even when the signature names the input.
const MetaBare = "mlship.bare"

func markBare(b columnar.Batch) columnar.Batch {
	f := b.Schema().Field(0)
	keys, vals := append([]string{MetaBare}, f.Metadata.Keys()...), append([]string{"true"}, f.Metadata.Values()...)
	f.Metadata = arrow.NewMetadata(keys, vals)
	out := array.NewRecordBatch(arrow.NewSchema([]arrow.Field{f}, nil), b.Columns(), b.NumRows())
	b.Release()
	return out
}

func tensorErr(name string, err error) error {
	var ve *jsonarrow.ValueError
	if errors.As(err, &ve) {
		label := "input"
		if name != "" {
			label = fmt.Sprintf("input %q", name)
		}
		return badRequest("Invalid input. Data is not compatible with model signature. Failed to convert %s: %s", label, ve.Msg)
	}
	return err
}

func (d *Decoder) tensorSink(name string) (jsonarrow.Sink, *mlmodel.TensorSpec, error) {
	if d.Inputs.IsTensorBased() {
		for i := range d.Inputs.Tensors {
			t := &d.Inputs.Tensors[i]
			if t.Name == name {
				sk, err := dtypeSink(d.mem(), t.DType)
				if err != nil {
					return nil, nil, invalidInput("%v", err)
				}
				return sk, t, nil
			}
		}
		return nil, nil, nil // not in the signature: skipped
	}
	if dt := d.hintDType(name); dt != "" {
		if sk, err := dtypeSink(d.mem(), dt); err == nil {
			return sk, nil, nil
		}
	}
	return jsonarrow.NewInferSink(d.mem()), nil, nil
}

// hintDType is the element type the model itself declares for the input
// named name ("" for an unnamed value, which binds to a single-input
// model), or "" when unknown.
func (d *Decoder) hintDType(name string) string {
	if !d.Hint.IsTensorBased() {
		return ""
	}
	for _, t := range d.Hint.Tensors {
		if t.Name == name {
			return t.DType
		}
	}
	if name == "" && len(d.Hint.Tensors) == 1 {
		return d.Hint.Tensors[0].DType
	}
	return ""
}

func (d *Decoder) tensorsFromDict(s *jsonscan.Scanner) (columnar.Batch, error) {
	var names []string
	var shapes [][]int64
	var sinks []jsonarrow.Sink
	var specs []*mlmodel.TensorSpec
	defer func() {
		for _, sk := range sinks {
			sk.Release()
		}
	}()
	err := s.Object(func(k []byte) error {
		name := string(k)
		if slices.Contains(names, name) {
			return badRequest("Invalid input. Input %q appears twice.", name)
		}
		sk, spec, err := d.tensorSink(name)
		if err != nil {
			return err
		}
		if sk == nil {
			_, err := s.Skip() // extra input: ignored, as MLflow does
			return err
		}
		shape, err := jsonarrow.ParseNested(s, sk)
		if err != nil {
			sk.Release()
			return tensorErr(name, err)
		}
		names, shapes, sinks, specs = append(names, name), append(shapes, shape), append(sinks, sk), append(specs, spec)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return d.tensorBatch(names, shapes, sinks, specs)
}

// tensorBatch lays out whole tensors as columns: batched when all share a
// first dimension, else one row each. Signature specs check shapes.
func (d *Decoder) tensorBatch(names []string, shapes [][]int64, sinks []jsonarrow.Sink, specs []*mlmodel.TensorSpec) (columnar.Batch, error) {
	for i, spec := range specs {
		if spec == nil {
			continue
		}
		if err := checkShape(*spec, shapes[i]); err != nil {
			return nil, invalidInput("Failed to enforce schema of data for input %q. Error: %s", spec.Name, err)
		}
	}
	if d.Inputs.IsTensorBased() && d.Inputs.HasNames() {
		var missing []string
		for _, t := range d.Inputs.Tensors {
			if !slices.Contains(names, t.Name) {
				missing = append(missing, t.Name)
			}
		}
		if len(missing) > 0 {
			return nil, missingInputs(missing, nil)
		}
	}
	batched := len(shapes) > 0
	rows := int64(-1)
	for _, sh := range shapes {
		if len(sh) == 0 || (rows >= 0 && sh[0] != rows) {
			batched = false
			break
		}
		rows = sh[0]
	}
	if !batched {
		rows = 1
	}
	fields := make([]arrow.Field, len(names))
	cols := make([]arrow.Array, len(names))
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	for i, name := range names {
		vals := sinks[i].Build()
		f, c, err := columnar.NewTensorColumn(name, shapes[i], vals, batched)
		vals.Release()
		if err != nil {
			return nil, invalidInput("input %q: %v", name, err)
		}
		fields[i], cols[i] = f, c
	}
	if len(names) == 0 {
		rows = 0
	}
	order := d.schemaOrder(names)
	of := make([]arrow.Field, len(order))
	oc := make([]arrow.Array, len(order))
	for j, i := range order {
		of[j], oc[j] = fields[i], cols[i]
	}
	return array.NewRecordBatch(d.schemas.Schema(of, nil), oc, rows), nil
}

// schemaOrder returns indexes of names in signature order (names the
// signature does not list keep their order, after).
func (d *Decoder) schemaOrder(names []string) []int {
	if len(names) == 1 {
		return []int{0}
	}
	idx := make([]int, len(names))
	for i := range idx {
		idx[i] = i
	}
	if d.Inputs == nil {
		return idx
	}
	pos := map[string]int{}
	for i, n := range d.Inputs.Names() {
		pos[n] = i
	}
	sort.SliceStable(idx, func(a, b int) bool {
		pa, oka := pos[names[idx[a]]]
		pb, okb := pos[names[idx[b]]]
		if !oka {
			pa = len(pos)
		}
		if !okb {
			pb = len(pos)
		}
		return pa < pb
	})
	return idx
}

// columnsFromDict reads {"name": values, ...} for a column-based schema:
// each list is a column; scalars (and composite-typed values) are one row.
func (d *Decoder) columnsFromDict(s *jsonscan.Scanner) (columnar.Batch, error) {
	t := &table{schemas: &d.schemas}
	defer t.Release()
	allScalar := true
	err := s.Object(func(k []byte) error {
		name := string(k)
		if _, dup := t.index[name]; dup {
			return badRequest("Invalid input. Input %q appears twice.", name)
		}
		c := d.columnFor(name, len(t.cols))
		t.add(name, c)
		composite := false
		if jc, ok := c.(*jsonColumn); ok && jc.typ != nil && jc.typ.Kind != mlmodel.AnyType {
			composite = true
		}
		if s.Peek() == jsonscan.Array && !composite {
			allScalar = false
			return s.Array(func(r int) error { return cellErr(name, r, c.cell(s)) })
		}
		return cellErr(name, 0, c.cell(s))
	})
	if err != nil {
		return nil, err
	}
	rows := 0
	if len(t.cols) > 0 {
		rows = t.cols[0].rows()
	}
	_ = allScalar
	b, dropped, err := t.Build(rows)
	if err != nil {
		return nil, err
	}
	return d.conform(b, dropped)
}

// columnsFromValue reads a bare value for a column-based schema: a list
// binds to the only named column; a 2-D list becomes positional columns
// "0", "1", ... (pandas' default names).
func (d *Decoder) columnsFromValue(s *jsonscan.Scanner) (columnar.Batch, error) {
	if d.Inputs.HasNames() && len(d.Inputs.Columns) == 1 {
		name := d.Inputs.Columns[0].Name
		t := &table{schemas: &d.schemas}
		defer t.Release()
		c := d.columnFor(name, 0)
		t.add(name, c)
		var err error
		if s.Peek() == jsonscan.Array {
			err = s.Array(func(r int) error { return cellErr(name, r, c.cell(s)) })
		} else {
			err = cellErr(name, 0, c.cell(s))
		}
		if err != nil {
			return nil, err
		}
		b, dropped, err := t.Build(c.rows())
		if err != nil {
			return nil, err
		}
		return d.conform(b, dropped)
	}
	// Positional: the value is a table's rows (pandas' default column
	// names 0, 1, ...), typed by position for an unnamed signature.
	raw, err := s.Skip()
	if err != nil {
		return nil, err
	}
	if k := jsonscan.New(raw).Peek(); k != jsonscan.Array {
		raw = append(append([]byte{'['}, raw...), ']')
	}
	return d.splitTable(nil, raw)
}

func pyTypeName(k jsonscan.Kind) string {
	switch k {
	case jsonscan.Array:
		return "list"
	case jsonscan.Object:
		return "dictionary"
	case jsonscan.String:
		return "str"
	case jsonscan.Number:
		return "number"
	case jsonscan.Bool:
		return "bool"
	case jsonscan.Null:
		return "NoneType"
	}
	return "invalid JSON"
}

func missingInputs(missing, extra []string) error {
	msg := "Model is missing inputs " + pyList(missing) + "."
	if len(extra) > 0 {
		msg += " Note that there were extra inputs: " + pyList(extra) + "."
	}
	return invalidInput("Failed to enforce schema of data. Error: %s", msg)
}

var _ = strings.TrimSpace
