package scoring

import (
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mlship/mlship/internal/apierr"
)

const (
	colsAB     = `[{"type": "double", "name": "a", "required": true}, {"type": "double", "name": "b", "required": true}]`
	tensorIn   = `[{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 4]}, "name": "input"}]`
	tensorAB   = `[{"type": "tensor", "tensor-spec": {"dtype": "int64", "shape": [-1]}, "name": "a"}, {"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 2]}, "name": "b"}]`
	tensorAnon = `[{"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1, 2]}}]`
	colsMixed  = `[{"type": "long", "name": "n", "required": true}, {"type": "string", "name": "s", "required": true}, {"type": "boolean", "name": "f", "required": false}, {"type": "binary", "name": "bin", "required": false}, {"type": "datetime", "name": "dt", "required": false}, {"type": "integer", "name": "i", "required": false}, {"type": "float", "name": "x", "required": false}]`
	colsArray  = `[{"type": "array", "items": {"type": "string"}, "name": "tags", "required": true}, {"type": "object", "properties": {"k": {"type": "long", "required": true}, "v": {"type": "string", "required": false}}, "name": "o", "required": false}]`
	colsAnon   = `[{"type": "double", "required": true}, {"type": "double", "required": true}]`
	colsOne    = `[{"type": "double", "name": "x", "required": true}]`
)

type decodeCase struct {
	name   string
	inputs string // schema JSON ("" = none)
	params string // params schema JSON
	body   string
	csv    bool
	want   string // describe() of the batch
	form   Form
	code   string // expected error code when non-empty
	msg    string // substring of the error message
}

func runDecodeCases(t *testing.T, tests []decodeCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
			defer mem.AssertSize(t, 0)
			d := &Decoder{Inputs: schema(t, tt.inputs), Params: params(t, tt.params), Mem: mem}
			var req *Request
			var err error
			if tt.csv {
				req, err = d.DecodeCSV([]byte(tt.body))
			} else {
				req, err = d.DecodeJSON([]byte(tt.body))
			}
			if tt.code != "" {
				if err == nil {
					desc := describe(t, req.Batch)
					req.Release()
					t.Fatalf("no error; decoded %s", desc)
				}
				ae, ok := apierr.As(err)
				if !ok {
					t.Fatalf("error %T %v is not an MLflow error", err, err)
				}
				if ae.Code != tt.code || !strings.Contains(ae.Message, tt.msg) {
					t.Fatalf("error = %s: %s\nwant %s containing %q", ae.Code, ae.Message, tt.code, tt.msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer req.Release()
			if got := describe(t, req.Batch); got != tt.want {
				t.Errorf("batch:\n got %s\nwant %s", got, tt.want)
			}
			if req.Form != tt.form {
				t.Errorf("form = %s, want %s", req.Form, tt.form)
			}
		})
	}
}

func TestDecodeWithoutSignature(t *testing.T) {
	runDecodeCases(t, []decodeCase{
		{name: "split", body: `{"dataframe_split": {"columns": ["a", "b"], "data": [[1, 1.5], [2, 2]]}}`,
			want: "a:int64[2]=1,2; b:float64[2]=1.5,2"},
		{name: "split without columns", body: `{"dataframe_split": {"data": [[1, "x"], [2, "y"]]}}`,
			want: `0:int64[2]=1,2; 1:utf8[2]="x","y"`},
		{name: "split with index and column order", body: `{"dataframe_split": {"index": [7, 8], "data": [[true], [false]], "columns": ["flag"]}}`,
			want: "flag:bool[2]=true,false"},
		{name: "split missing value makes ints float", body: `{"dataframe_split": {"columns": ["a"], "data": [[1], [null], [3]]}}`,
			want: "a:float64[3]=1,null,3"},
		{name: "split leading null then ints", body: `{"dataframe_split": {"columns": ["a"], "data": [[null], [2]]}}`,
			want: "a:float64[2]=null,2"},
		{name: "split only nulls", body: `{"dataframe_split": {"columns": ["a"], "data": [[null]]}}`,
			want: "a:float64[1]=null"},
		{name: "split list cells are tensors", body: `{"dataframe_split": {"columns": ["v"], "data": [[[1, 2]], [[3, 4]]]}}`,
			want: "v:int64[2 2]=1,2,3,4"},
		{name: "split object cells are JSON", body: `{"dataframe_split": {"columns": ["o"], "data": [[{"k": 1}], [null]]}}`,
			want: `o:json="{\"k\": 1}",null`},
		{name: "split NaN token", body: `{"dataframe_split": {"columns": ["a"], "data": [[NaN], [Infinity], [-Infinity]]}}`,
			want: "a:float64[3]=NaN,+Inf,-Inf"},
		{name: "split bare values", body: `{"dataframe_split": {"columns": ["a"], "data": [1, 2]}}`,
			want: "a:int64[2]=1,2"},
		{name: "split empty", body: `{"dataframe_split": {"columns": ["a"], "data": []}}`,
			want: "a:float64[0]="},
		{name: "split row too long", body: `{"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2, 3]]}}`,
			code: apierr.BadRequest, msg: "2 columns passed, passed data had 3 columns"},
		{name: "split row too short", body: `{"dataframe_split": {"columns": ["a", "b"], "data": [[1]]}}`,
			code: apierr.BadRequest, msg: "2 columns passed, passed data had 1 columns"},
		{name: "split extra key", body: `{"dataframe_split": {"data": [], "dtype": "x"}}`,
			code: apierr.BadRequest, msg: "Dataframe split format must have 'data' field and optionally 'columns' and 'index' fields"},
		{name: "split not a dict", body: `{"dataframe_split": [[1]]}`,
			code: apierr.BadRequest, msg: "Dataframe split format must be a dictionary. Got list."},
		{name: "split no data", body: `{"dataframe_split": {"columns": ["a"]}}`,
			code: apierr.BadRequest, msg: "must have 'data' field"},
		{name: "split mixed types", body: `{"dataframe_split": {"columns": ["a"], "data": [[1], ["x"]]}}`,
			code: apierr.BadRequest, msg: "Failed to convert column a (row 1): values mix numbers and strings"},
		{name: "records", body: `{"dataframe_records": [{"a": 1, "b": "x"}, {"b": "y", "c": true}]}`,
			want: `a:float64[2]=1,null; b:utf8[2]="x","y"; c:bool[2]=null,true`},
		{name: "records not a list", body: `{"dataframe_records": {"a": [1]}}`,
			code: apierr.BadRequest, msg: "Dataframe records format must be a list of records. Got dictionary."},
		{name: "inputs nested list", body: `{"inputs": [[1, 2], [3, 4], [5, 6]]}`,
			want: ":int64[3 2]=1,2,3,4,5,6", form: FormTensor},
		{name: "inputs floats win", body: `{"inputs": [1, 2.5]}`,
			want: ":float64[2]=1,2.5", form: FormTensor},
		{name: "inputs dict batched", body: `{"inputs": {"x": [1, 2], "y": [[1.5, 2], [3, 4]]}}`,
			want: "x:int64[2]=1,2; y:float64[2 2]=1.5,2,3,4", form: FormTensor},
		{name: "inputs dict unbatched", body: `{"inputs": {"x": [1, 2, 3], "y": [4, 5]}}`,
			want: "x:int64![3]=1,2,3; y:int64![2]=4,5", form: FormTensor},
		{name: "inputs scalar", body: `{"inputs": 5}`,
			want: ":int64![]=5", form: FormTensor},
		{name: "inputs strings", body: `{"inputs": ["a", "é"]}`,
			want: `:utf8[2]="a","é"`, form: FormTensor},
		{name: "inputs empty list", body: `{"inputs": []}`,
			want: ":float64[0]=", form: FormTensor},
		{name: "inputs ragged", body: `{"inputs": [[1, 2], [3]]}`,
			code: apierr.BadRequest, msg: "ragged"},
		{name: "inputs ragged depth", body: `{"inputs": [[1, 2], 3]}`,
			code: apierr.BadRequest, msg: "ragged"},
		{name: "inputs object in tensor", body: `{"inputs": [{"a": 1}]}`,
			code: apierr.BadRequest, msg: "object cannot be a tensor element"},
		{name: "inputs int too big", body: `{"inputs": [123456789012345678901234567890]}`,
			code: apierr.BadRequest, msg: "out of the int64 range"},
		{name: "instances of records", body: `{"instances": [{"a": 1, "b": [1, 2]}, {"a": 2, "b": [3, 4]}]}`,
			want: "a:int64[2]=1,2; b:int64[2 2]=1,2,3,4", form: FormTensor},
		{name: "instances uneven records", body: `{"instances": [{"a": 1, "b": 2}, {"a": 2}]}`,
			code: apierr.InvalidParameterValue, msg: "The length of values for each input/column name are not the same"},
		{name: "instances of lists", body: `{"instances": [[1, 2], [3, 4]]}`,
			want: ":int64[2 2]=1,2,3,4", form: FormTensor},
		{name: "params ignored without schema", body: `{"inputs": [1], "params": {"k": 1}}`,
			want: ":int64[1]=1", form: FormTensor},
		{name: "other keys ignored", body: `{"inputs": [1], "metadata": {"x": 1}}`,
			want: ":int64[1]=1", form: FormTensor},
	})
}

func TestDecodeTopLevelErrors(t *testing.T) {
	runDecodeCases(t, []decodeCase{
		{name: "not json", body: `{"inputs": [1,}`, code: apierr.BadRequest, msg: "Invalid input. Ensure that input is a valid JSON formatted string. Error:"},
		{name: "truncated", body: `{"inputs": [1`, code: apierr.BadRequest, msg: "valid JSON"},
		{name: "trailing garbage", body: `{"inputs": [1]} x`, code: apierr.BadRequest, msg: "valid JSON"},
		{name: "empty body", body: ``, code: apierr.BadRequest, msg: "valid JSON"},
		{name: "list", body: `[{"a": 1}]`, code: apierr.BadRequest, msg: "The input must be a JSON dictionary with exactly one of the input fields {'dataframe_split', 'dataframe_records', 'instances', 'inputs'}. Received a list."},
		{name: "string", body: `"x"`, code: apierr.BadRequest, msg: "must be a JSON dictionary"},
		{name: "no input field", body: `{"data": [1], "columns": ["a"]}`, code: apierr.BadRequest,
			msg: "The input must be a JSON dictionary with exactly one of the input fields {'dataframe_split', 'dataframe_records', 'instances', 'inputs'}. Received dictionary with input fields: ['data', 'columns']. IMPORTANT: The MLflow Model scoring protocol has changed in MLflow version 2.0."},
		{name: "two input fields", body: `{"dataframe_split": {"data": []}, "dataframe_records": []}`, code: apierr.BadRequest, msg: "exactly one of the input fields"},
		{name: "inputs and instances", body: `{"inputs": [1], "instances": [1]}`, code: apierr.BadRequest, msg: "Both 'instances' and 'inputs'"},
		{name: "signature_name", body: `{"inputs": [1], "signature_name": "serving_default"}`, code: apierr.BadRequest, msg: "signature_name"},
		{name: "llm form", body: `{"messages": [{"role": "user", "content": "hi"}]}`, code: apierr.BadRequest, msg: "not supported by mlship yet"},
		{name: "invalid utf8", body: "{\"inputs\": [\"\xff\"]}", code: apierr.BadRequest, msg: "UTF-8"},
		{name: "params not a dict", body: `{"inputs": [1], "params": [1]}`, params: `[{"name": "k", "type": "long", "default": 1, "shape": null}]`,
			code: apierr.InvalidParameterValue, msg: "Parameters must be a dictionary. Got type 'list'."},
		{name: "deep nesting", body: `{"inputs": ` + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + `}`, code: apierr.BadRequest, msg: "nesting deeper"},
	})
}

func TestDecodeTensorSignature(t *testing.T) {
	runDecodeCases(t, []decodeCase{
		{name: "inputs list binds the only tensor", inputs: tensorIn, body: `{"inputs": [[5.1, 3.5, 1.4, 0.2]]}`,
			want: "input:float32[1 4]=5.1,3.5,1.4,0.2", form: FormTensor},
		{name: "inputs dict", inputs: tensorIn, body: `{"inputs": {"input": [[1, 2, 3, 4], [5, 6, 7, 8]]}}`,
			want: "input:float32[2 4]=1,2,3,4,5,6,7,8", form: FormTensor},
		{name: "extra input ignored", inputs: tensorIn, body: `{"inputs": {"input": [[1, 2, 3, 4]], "other": [1]}}`,
			want: "input:float32[1 4]=1,2,3,4", form: FormTensor},
		{name: "wrong shape", inputs: tensorIn, body: `{"inputs": [[1, 2, 3]]}`,
			code: apierr.InvalidParameterValue, msg: "Shape of input (1, 3) does not match expected shape (-1, 4)."},
		{name: "wrong rank", inputs: tensorIn, body: `{"inputs": [1, 2, 3, 4]}`,
			code: apierr.InvalidParameterValue, msg: "Shape of input (4,) does not match expected shape (-1, 4)."},
		{name: "string in float tensor", inputs: tensorIn, body: `{"inputs": [["a", 2, 3, 4]]}`,
			code: apierr.BadRequest, msg: `Failed to convert input "input": expected float32, got a string`},
		{name: "missing input", inputs: tensorAB, body: `{"inputs": {"a": [1]}}`,
			code: apierr.InvalidParameterValue, msg: "Model is missing inputs ['b']."},
		{name: "several inputs need a dict", inputs: tensorAB, body: `{"inputs": [1, 2]}`,
			code: apierr.BadRequest, msg: "send 'inputs' as a dictionary"},
		{name: "multi", inputs: tensorAB, body: `{"inputs": {"b": [[1, 2], [3, 4]], "a": [7, 8.0]}}`,
			want: "a:int64[2]=7,8; b:float32[2 2]=1,2,3,4", form: FormTensor},
		{name: "fractional into int64", inputs: tensorAB, body: `{"inputs": {"a": [1.5], "b": [[1, 2]]}}`,
			code: apierr.BadRequest, msg: "1.5 is not an integer; converting it to int64 would lose data"},
		{name: "split with list cells", inputs: tensorIn, body: `{"dataframe_split": {"columns": ["input"], "data": [[[1, 2, 3, 4]], [[5, 6, 7, 8]]]}}`,
			want: "input:float32[2 4]=1,2,3,4,5,6,7,8", form: FormTensor},
		{name: "split flat cells reshaped", inputs: tensorIn, body: `{"dataframe_split": {"columns": ["input"], "data": [[[1, 2, 3, 4, 5, 6, 7, 8]]]}}`,
			want: "input:float32[2 4]=1,2,3,4,5,6,7,8", form: FormTensor},
		{name: "split scalar cells need a 1-d spec", inputs: tensorIn, body: `{"dataframe_split": {"columns": ["input"], "data": [[1]]}}`,
			code: apierr.InvalidParameterValue, msg: "only fit tensor shapes (-1,) or (-1, 1)"},
		{name: "split scalar cells for 1-d spec", inputs: tensorAB, body: `{"dataframe_split": {"columns": ["a", "b"], "data": [[1, [1, 2]], [2, [3, 4]]]}}`,
			want: "a:int64[2]=1,2; b:float32[2 2]=1,2,3,4", form: FormTensor},
		{name: "records into tensors", inputs: tensorAB, body: `{"dataframe_records": [{"a": 1, "b": [1, 2]}]}`,
			want: "a:int64[1]=1; b:float32[1 2]=1,2", form: FormTensor},
		{name: "unnamed spec from columns", inputs: tensorAnon, body: `{"dataframe_split": {"data": [[1, 2], [3, 4]]}}`,
			want: "0:float64[2]=1,3; 1:float64[2]=2,4", form: FormTensor},
		{name: "unnamed spec wrong width", inputs: tensorAnon, body: `{"dataframe_split": {"data": [[1, 2, 3]]}}`,
			code: apierr.InvalidParameterValue, msg: "must be convertible to shape (-1, 2)"},
		{name: "unnamed spec rejects dict", inputs: tensorAnon, body: `{"inputs": {"x": [[1, 2]]}}`,
			code: apierr.BadRequest, msg: "unnamed"},
		{name: "unnamed spec list", inputs: tensorAnon, body: `{"inputs": [[1, 2]]}`,
			want: ":float64[1 2]=1,2", form: FormTensor},
	})
}

func TestDecodeColumnSignature(t *testing.T) {
	runDecodeCases(t, []decodeCase{
		{name: "ints in double columns", inputs: colsAB, body: `{"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2], [3.5, 4]]}}`,
			want: "a:float64[2]=1,3.5; b:float64[2]=2,4"},
		{name: "columns reordered and extra dropped", inputs: colsAB, body: `{"dataframe_split": {"columns": ["z", "b", "a"], "data": [["x", 2, 1]]}}`,
			want: "a:float64[1]=1; b:float64[1]=2"},
		{name: "missing column", inputs: colsAB, body: `{"dataframe_split": {"columns": ["a", "c"], "data": [[1, 2]]}}`,
			code: apierr.InvalidParameterValue, msg: "Model is missing inputs ['b']. Note that there were extra inputs: ['c']."},
		{name: "string in double", inputs: colsAB, body: `{"dataframe_split": {"columns": ["a", "b"], "data": [[1, "x"]]}}`,
			code: apierr.BadRequest, msg: "Failed to convert column b to type 'float64'. Error: 'row 0: expected double, got a string'"},
		{name: "records", inputs: colsAB, body: `{"dataframe_records": [{"a": 1, "b": 2}]}`,
			want: "a:float64[1]=1; b:float64[1]=2"},
		{name: "inputs dict of lists is a frame", inputs: colsAB, body: `{"inputs": {"a": [1, 2], "b": [3, 4]}}`,
			want: "a:float64[2]=1,2; b:float64[2]=3,4"},
		{name: "inputs dict of scalars is one row", inputs: colsAB, body: `{"inputs": {"a": 1, "b": 2}}`,
			want: "a:float64[1]=1; b:float64[1]=2"},
		{name: "inputs uneven", inputs: colsAB, body: `{"inputs": {"a": [1, 2], "b": [3]}}`,
			code: apierr.InvalidParameterValue, msg: "The length of values for each input/column name are not the same"},
		{name: "instances rows", inputs: colsAB, body: `{"instances": [{"a": 1, "b": 2}, {"a": 3, "b": 4}]}`,
			want: "a:float64[2]=1,3; b:float64[2]=2,4"},
		{name: "plain list binds the only column", inputs: colsOne, body: `{"inputs": [1, 2, 3]}`,
			want: "x:float64[3]=1,2,3"},
		{name: "2-d list against named columns", inputs: colsAB, body: `{"inputs": [[1, 2]]}`,
			code: apierr.InvalidParameterValue, msg: "Model is missing inputs ['a', 'b']. Note that there were extra inputs: ['0', '1']."},
		{name: "2-d list against unnamed columns", inputs: colsAnon, body: `{"inputs": [[1, 2], [3, 4]]}`,
			want: "0:float64[2]=1,3; 1:float64[2]=2,4"},
		{name: "unnamed too few columns", inputs: colsAnon, body: `{"dataframe_split": {"data": [[1]]}}`,
			code: apierr.InvalidParameterValue, msg: "The model signature declares 2 inputs  but the provided value only has 1 inputs."},
		{name: "typed columns", inputs: colsMixed,
			body: `{"dataframe_records": [{"n": 3, "s": "x", "f": true, "bin": "aGk=", "dt": "2024-01-02T03:04:05", "i": 7, "x": 0.5}]}`,
			want: `n:int64[1]=3; s:utf8[1]="x"; f:bool[1]=true; bin:binary[1]=aGk=; dt:timestamp[ns][1]=2024-01-02T03:04:05; i:int32[1]=7; x:float32[1]=0.5`},
		{name: "optional columns may be absent", inputs: colsMixed, body: `{"dataframe_records": [{"n": 3.0, "s": "x"}]}`,
			want: `n:int64[1]=3; s:utf8[1]="x"`},
		{name: "fraction into long", inputs: colsMixed, body: `{"dataframe_records": [{"n": 1.5, "s": "x"}]}`,
			code: apierr.BadRequest, msg: "Failed to convert column n to type 'int64'. Error: 'row 0: 1.5 is not an integer; converting it to long would lose data'"},
		{name: "null in long", inputs: colsMixed, body: `{"dataframe_records": [{"n": null, "s": "x"}]}`,
			code: apierr.BadRequest, msg: "integer columns cannot hold missing values"},
		{name: "out of range integer", inputs: colsMixed, body: `{"dataframe_records": [{"n": 1, "s": "x", "i": 3000000000}]}`,
			code: apierr.BadRequest, msg: "3000000000 does not fit integer"},
		{name: "number for string", inputs: colsMixed, body: `{"dataframe_records": [{"n": 1, "s": 5}]}`,
			code: apierr.BadRequest, msg: "expected a string, got the number 5"},
		{name: "bad base64", inputs: colsMixed, body: `{"dataframe_records": [{"n": 1, "s": "x", "bin": "!!"}]}`,
			code: apierr.BadRequest, msg: "base64"},
		{name: "zoned datetime", inputs: colsMixed, body: `{"dataframe_records": [{"n": 1, "s": "x", "dt": "2024-01-02T03:04:05+02:00"}]}`,
			code: apierr.BadRequest, msg: "without a time zone"},
		{name: "number for boolean", inputs: colsMixed, body: `{"dataframe_records": [{"n": 1, "s": "x", "f": 1}]}`,
			code: apierr.BadRequest, msg: "expected boolean, got the number 1"},
		{name: "array and object columns", inputs: colsArray, body: `{"dataframe_split": {"columns": ["tags", "o"], "data": [[["a", "b"], {"k": 1}], [[], null]]}}`,
			want: `tags:json="[\"a\", \"b\"]","[]"; o:json="{\"k\": 1}",null`},
		{name: "array item type", inputs: colsArray, body: `{"dataframe_split": {"columns": ["tags"], "data": [[["a", 1]]]}}`,
			code: apierr.InvalidParameterValue, msg: "item 1: expected string, got a number"},
		{name: "object missing property", inputs: colsArray, body: `{"dataframe_split": {"columns": ["tags", "o"], "data": [[[], {"v": "x"}]]}}`,
			code: apierr.InvalidParameterValue, msg: "Missing required properties: {'k'}"},
		{name: "object unknown property", inputs: colsArray, body: `{"dataframe_split": {"columns": ["tags", "o"], "data": [[[], {"k": 1, "zz": 2}]]}}`,
			code: apierr.InvalidParameterValue, msg: "Invalid properties not defined in the schema found: {'zz'}"},
		{name: "inputs dict with array column is one row", inputs: colsArray, body: `{"inputs": {"tags": ["a", "b"]}}`,
			want: `tags:json="[\"a\", \"b\"]"`},
	})
}

func TestDecodeCSV(t *testing.T) {
	runDecodeCases(t, []decodeCase{
		{name: "inferred", csv: true, body: "a,b,c,d\n1,1.5,x,True\n2,,y,False\n",
			want: `a:int64[2]=1,2; b:float64[2]=1.5,null; c:utf8[2]="x","y"; d:bool[2]=true,false`},
		{name: "na values", csv: true, body: "a,s\nNA,N/A\n3,hello\n",
			want: `a:float64[2]=null,3; s:utf8[2]=null,"hello"`},
		{name: "pandas number forms", csv: true, body: "a\n.5\n5.\n-1e3\n007\ninf\n",
			want: "a:float64[5]=0.5,5,-1000,7,+Inf"},
		{name: "quoted fields", csv: true, body: "s\n\"a,b\"\n\"he said \"\"hi\"\"\"\n",
			want: `s:utf8[2]="a,b","he said \"hi\""`},
		{name: "typed by signature", csv: true, inputs: colsAB, body: "b,a\n1,2\n",
			want: "a:float64[1]=2; b:float64[1]=1"},
		{name: "numeric text into string column", csv: true, inputs: colsMixed, body: "n,s\n1,42\n",
			want: `n:int64[1]=1; s:utf8[1]="42"`},
		{name: "text into double", csv: true, inputs: colsAB, body: "a,b\n1,x\n",
			code: apierr.BadRequest, msg: "Failed to convert column b to type 'float64'"},
		{name: "missing column", csv: true, inputs: colsAB, body: "a\n1\n",
			code: apierr.InvalidParameterValue, msg: "Model is missing inputs ['b']."},
		{name: "too many fields", csv: true, body: "a,b\n1,2,3\n",
			code: apierr.BadRequest, msg: "Expected 2 fields in line 2, saw 3"},
		{name: "empty", csv: true, body: "",
			code: apierr.BadRequest, msg: "No columns to parse from file"},
		{name: "bare quote", csv: true, body: "a\n\"x\n",
			code: apierr.BadRequest, msg: "Failed to parse input as a Pandas DataFrame"},
	})
}

// TestDecodeHint: without a signature the model's own input types type the
// values, but nothing is enforced and the request key still decides the
// form (MLflow has no signature to apply either).
func TestDecodeHint(t *testing.T) {
	hint := schema(t, tensorIn)
	cases := []struct{ body, want string }{
		{`{"inputs": [[1, 2, 3, 4]]}`, ":float32[1 4]=1,2,3,4"},
		{`{"inputs": {"input": [[1, 2, 3, 4]], "other": [1]}}`, "input:float32[1 4]=1,2,3,4; other:int64[1]=1"},
		{`{"inputs": [[1, 2, 3]]}`, ":float32[1 3]=1,2,3"}, // no shape enforcement
		{`{"instances": [{"input": [1, 2, 3, 4]}]}`, "input:float32[1 4]=1,2,3,4"},
	}
	for _, c := range cases {
		d := &Decoder{Hint: hint}
		req, err := d.DecodeJSON([]byte(c.body))
		if err != nil {
			t.Fatalf("%s: %v", c.body, err)
		}
		if got := describe(t, req.Batch); got != c.want || req.Form != FormTensor {
			t.Errorf("%s: got %s (%s), want %s", c.body, got, req.Form, c.want)
		}
		req.Release()
	}
	d := &Decoder{Hint: hint}
	req, err := d.DecodeJSON([]byte(`{"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2.5]]}}`))
	if err != nil {
		t.Fatal(err)
	}
	defer req.Release()
	if got := describe(t, req.Batch); got != "a:int64[1]=1; b:float64[1]=2.5" || req.Form != FormDataFrame {
		t.Errorf("dataframe without signature: %s %s", got, req.Form)
	}
}
