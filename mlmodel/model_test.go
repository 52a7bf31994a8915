package mlmodel

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/mlship/mlship/internal/testenv"
)

var cmpModel = []cmp.Option{
	cmp.AllowUnexported(Signature{}, InputExampleInfo{}),
	cmpopts.IgnoreFields(Model{}, "Dir"),
	cmpopts.EquateEmpty(),
}

// TestLoadSharedTestdata reads every real MLflow model directory and checks
// what MLflow wrote into it.
func TestLoadSharedTestdata(t *testing.T) {
	root := filepath.Join(testenv.SharedTestdata(t), "mlflow")
	tests := []struct {
		dir   string
		check func(t *testing.T, m *Model)
	}{
		{"mlflow_1x_sklearn_model", func(t *testing.T, m *Model) {
			want(t, m.MLflowVersion, "1.30.1")
			want(t, m.ModelUUID, "4d622e7b02614d1eb71f44eeb927be4f")
			want(t, strings.Join(m.FlavorNames(), ","), "python_function,sklearn")
			p, ok, err := m.PyFunc()
			if err != nil || !ok {
				t.Fatalf("PyFunc: %v %v", ok, err)
			}
			// 1.x wrote env as a string naming the conda file.
			if !p.EnvIsString || p.Env["conda"] != "conda.yaml" {
				t.Errorf("env = %v (string form %v), want conda.yaml from the 1.x string", p.Env, p.EnvIsString)
			}
			want(t, p.LoaderModule, "mlflow.sklearn")
			want(t, p.ModelPath, "model.pkl")
			if m.Signature != nil {
				t.Error("unexpected signature")
			}
		}},
		{"pyfunc_python_model_2.8.1", func(t *testing.T, m *Model) {
			want(t, m.MLflowVersion, "2.8.1")
			if m.ModelSizeBytes == nil || *m.ModelSizeBytes != 737 {
				t.Errorf("model_size_bytes = %v, want 737", m.ModelSizeBytes)
			}
			p, _, err := m.PyFunc()
			if err != nil {
				t.Fatal(err)
			}
			if p.EnvIsString || p.Env["virtualenv"] != "python_env.yaml" || p.Env["conda"] != "conda.yaml" {
				t.Errorf("env = %v", p.Env)
			}
			if v, _, _ := m.Flavors["python_function"].String("python_model"); v != "python_model.pkl" {
				t.Errorf("python_model = %q", v)
			}
		}},
		{"langchain_2.12_model_metadata_only", func(t *testing.T, m *Model) {
			want(t, m.DatabricksRuntime, "14.3") // quoted in the file: stays a string
			want(t, m.UTCTimeCreated, "2024-05-17 23:15:28.764394")
			if m.Resources["api_version"] != "1" {
				t.Errorf("resources = %v", m.Resources)
			}
			in := m.Signature.Inputs
			if in == nil || len(in.Columns) != 1 {
				t.Fatalf("inputs = %+v", in)
			}
			c := in.Columns[0]
			want(t, c.Name, "messages")
			if c.Type.Kind != Array || c.Type.Items.Kind != Object || len(c.Type.Items.Properties) != 2 {
				t.Fatalf("messages type = %s", c.Type)
			}
			if p := c.Type.Items.Properties[0]; p.Name != "content" || p.Type.Kind != String || !p.Required {
				t.Errorf("first property = %+v (properties are sorted by name)", p)
			}
			if out := m.Signature.Outputs; out == nil || out.Columns[0].Name != "" || out.Columns[0].Type.Kind != String {
				t.Errorf("outputs = %+v", out)
			}
			if m.Signature.Params != nil {
				t.Error("params: null must stay nil")
			}
			want(t, m.SavedInputExampleInfo.Type, "json_object")
			p, _, _ := m.PyFunc()
			if !p.Streamable || p.PredictStreamFn != "predict_stream" {
				t.Errorf("streamable = %v %q", p.Streamable, p.PredictStreamFn)
			}
		}},
		{"mleap_regression_model", func(t *testing.T, m *Model) {
			if _, ok, _ := m.PyFunc(); ok {
				t.Error("mleap model has no python_function flavor")
			}
			want(t, strings.Join(m.FlavorNames(), ","), "mleap")
			want(t, m.UTCTimeCreated, "2018-08-10 18:34:28.720095")
		}},
		{"js_ui_fixture_mlmodel_only", func(t *testing.T, m *Model) {
			in, out := m.Signature.Inputs, m.Signature.Outputs
			if len(in.Columns) != 1 || in.Columns[0].Type.Kind != Double || !in.Columns[0].Required || in.Columns[0].Spelling != SpellNone {
				t.Errorf("inputs = %+v (no required key means required)", in.Columns)
			}
			if len(out.Tensors) != 1 || out.Tensors[0].DType != "float64" || !cmp.Equal(out.Tensors[0].Shape, []int64{-1}) {
				t.Errorf("outputs = %+v", out.Tensors)
			}
			want(t, m.ArtifactPath, "MLmodel")
		}},
		{"onnx_mlp_handmade", func(t *testing.T, m *Model) {
			in := m.Signature.Inputs
			if !in.IsTensorBased() || in.Tensors[0].Name != "input" || !cmp.Equal(in.Tensors[0].Shape, []int64{-1, 4}) {
				t.Errorf("inputs = %+v", in)
			}
			want(t, m.SavedInputExampleInfo.Format, "tf-serving")
			if provs, _ := m.Flavors["onnx"].Strings("providers"); len(provs) != 2 {
				t.Errorf("providers = %v", provs)
			}
		}},
		{"sklearn_iris_handmade", func(t *testing.T, m *Model) {
			in := m.Signature.Inputs
			if len(in.Columns) != 4 || in.Columns[0].Name != "sepal length (cm)" || in.Columns[0].Spelling != SpellRequired {
				t.Errorf("inputs = %+v", in.Columns)
			}
			want(t, m.SavedInputExampleInfo.PandasOrient, "split")
		}},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		seen[tt.dir] = true
		t.Run(tt.dir, func(t *testing.T) {
			m, err := Load(filepath.Join(root, tt.dir))
			if err != nil {
				t.Fatal(err)
			}
			if m.Dir != filepath.Join(root, tt.dir) {
				t.Errorf("Dir = %q", m.Dir)
			}
			tt.check(t, m)
		})
	}
	// Every model directory in the shared data must at least load.
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if _, err := os.Stat(filepath.Join(root, e.Name(), FileName)); err != nil || seen[e.Name()] {
			continue
		}
		if _, err := Load(filepath.Join(root, e.Name())); err != nil {
			t.Errorf("%s: %v", e.Name(), err)
		}
	}
}

func want(t *testing.T, got, wantV string) {
	t.Helper()
	if got != wantV {
		t.Errorf("got %q, want %q", got, wantV)
	}
}

// TestRoundTrip: what we write reads back to the same descriptor, for every
// real file and for files with keys we do not know.
func TestRoundTrip(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(testenv.SharedTestdata(t), "mlflow", "*", FileName))
	local, _ := filepath.Glob(filepath.Join("testdata", "*.MLmodel"))
	files = append(files, local...)
	if len(files) < 8 {
		t.Fatalf("only %d MLmodel files found", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(filepath.Dir(f))+"/"+filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			m1, err := Parse(data, f)
			if err != nil {
				t.Fatal(err)
			}
			out, err := m1.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			m2, err := Parse(out, "marshalled")
			if err != nil {
				t.Fatalf("re-parse: %v\n%s", err, out)
			}
			if diff := cmp.Diff(m1, m2, cmpModel...); diff != "" {
				t.Fatalf("round trip changed the model (-first +second):\n%s\n%s", diff, out)
			}
			// A second write is byte-identical: the output is canonical.
			out2, _ := m2.Marshal()
			if string(out) != string(out2) {
				t.Fatalf("Marshal is not stable:\n%s\n---\n%s", out, out2)
			}
		})
	}
}

// TestUnknownKeysPreserved: MLflow keeps keys it does not know (plugins,
// newer releases) and so must we.
func TestUnknownKeysPreserved(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "unknown_keys.MLmodel"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := Parse(data, "unknown_keys.MLmodel")
	if err != nil {
		t.Fatal(err)
	}
	out, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{
		"plugin_field:\n  nested:\n  - 1\n  - 2.5\n  - 'yes'\n",
		"registered_model_version: 3\n",
		"time_created: 1533925668.72\n",
		"custom_flavor_key: keep me",
		"signature_extra: kept",
		"date_like: 2024-05-17", // an unquoted date stays as written
		"ratio: 1.0e-05",
	} {
		if !strings.Contains(string(out), s) {
			t.Errorf("output lost %q:\n%s", s, out)
		}
	}
}

func TestMarshalGolden(t *testing.T) {
	sig := &Signature{
		Inputs: &Schema{Columns: []ColSpec{
			{Name: "a", Type: Type{Kind: Double}, Required: true},
			{Name: "b", Type: Type{Kind: Array, Items: &Type{Kind: String}}, Required: false},
		}},
		Outputs: &Schema{Tensors: []TensorSpec{{DType: "int64", Shape: []int64{-1}}}},
		Params:  &ParamSchema{Params: []ParamSpec{{Name: "k", Type: Type{Kind: Long}, Default: int64(5)}}},
	}
	size := int64(1234)
	m := &Model{
		ArtifactPath: "model", RunID: "0123456789abcdef0123456789abcdef",
		UTCTimeCreated: "2024-01-02 03:04:05.000006", MLflowVersion: "2.17.2",
		ModelUUID: "fedcba9876543210fedcba9876543210", ModelSizeBytes: &size,
		Flavors: map[string]FlavorConfig{
			"python_function": {"loader_module": "mlflow.onnx", "data": "model.onnx", "python_version": "3.11.2",
				"env": map[string]any{"conda": "conda.yaml", "virtualenv": "python_env.yaml"}},
			"onnx": {"data": "model.onnx", "onnx_version": "1.12.0", "code": nil,
				"providers": []any{"CPUExecutionProvider"}},
		},
		Signature:             sig,
		SavedInputExampleInfo: &InputExampleInfo{ArtifactPath: "input_example.json", Type: "dataframe", PandasOrient: "split"},
	}
	got, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	// What PyYAML's safe_dump writes for this model (MLflow's key order,
	// quoting and JSON separators).
	wantText := `artifact_path: model
flavors:
  onnx:
    code: null
    data: model.onnx
    onnx_version: 1.12.0
    providers:
    - CPUExecutionProvider
  python_function:
    data: model.onnx
    env:
      conda: conda.yaml
      virtualenv: python_env.yaml
    loader_module: mlflow.onnx
    python_version: 3.11.2
mlflow_version: 2.17.2
model_size_bytes: 1234
model_uuid: fedcba9876543210fedcba9876543210
run_id: 0123456789abcdef0123456789abcdef
saved_input_example_info:
  artifact_path: input_example.json
  pandas_orient: split
  type: dataframe
signature:
  inputs: '[{"type": "double", "name": "a", "required": true}, {"type": "array", "items": {"type": "string"}, "name": "b", "required": false}]'
  outputs: '[{"type": "tensor", "tensor-spec": {"dtype": "int64", "shape": [-1]}}]'
  params: '[{"name": "k", "type": "long", "default": 5, "shape": null}]'
utc_time_created: '2024-01-02 03:04:05.000006'
`
	if diff := cmp.Diff(wantText, string(got)); diff != "" {
		t.Fatalf("Marshal (-want +got):\n%s", diff)
	}
}

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	m := &Model{Flavors: map[string]FlavorConfig{"onnx": {"data": "model.onnx"}}, UTCTimeCreated: "2024-01-02 03:04:05.000006"}
	if err := m.WriteFile(dir); err != nil {
		t.Fatal(err)
	}
	back, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(m, back, cmpModel...); diff != "" {
		t.Fatal(diff)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("temporary files left behind: %v", entries)
	}
}

// TestParseErrors: a bad descriptor is an error naming the file and the
// problem, never a panic.
func TestParseErrors(t *testing.T) {
	tests := []struct{ name, doc, want string }{
		{"empty", "", "empty"},
		{"invalid yaml", "flavors: [unclosed", "invalid YAML"},
		{"top-level list", "- a\n- b\n", "expected a mapping"},
		{"no flavors", "run_id: abc\n", `missing required key "flavors"`},
		{"flavors not a map", "flavors: [onnx]\n", "flavors: expected a mapping"},
		{"flavor not a map", "flavors:\n  onnx: 3\n", "flavors.onnx: expected a mapping"},
		{"run_id a list", "flavors: {}\nrun_id: [1]\n", "run_id: expected a string"},
		{"size not int", "flavors: {}\nmodel_size_bytes: big\n", "model_size_bytes: expected an integer"},
		{"inputs not json", "flavors: {}\nsignature:\n  inputs: '[{'\n", "signature: inputs: schema is not a JSON list"},
		{"inputs not string", "flavors: {}\nsignature:\n  inputs: [1]\n", "signature: inputs: expected a JSON string"},
		{"example params", "flavors: {}\nsaved_input_example_info:\n  params: [1]\n", "saved_input_example_info: params"},
		{"env_vars", "flavors: {}\nenv_vars: [1]\n", "env_vars[0]: expected a string"},
		{"merge key", "a: &x {b: 1}\nflavors:\n  <<: *x\n", "merge keys"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.doc), "/models/m/MLmodel")
			if err == nil {
				t.Fatal("no error")
			}
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Path != "/models/m/MLmodel" {
				t.Errorf("error %v does not name the file", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestPyFuncErrors(t *testing.T) {
	m, err := Parse([]byte("flavors:\n  python_function:\n    data: x\n"), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := m.PyFunc(); !ok || err == nil || !strings.Contains(err.Error(), "loader_module") {
		t.Errorf("missing loader_module: ok=%v err=%v", ok, err)
	}
	m, _ = Parse([]byte("flavors:\n  python_function:\n    loader_module: m\n    env: 3\n"), "")
	if _, _, err := m.PyFunc(); err == nil || !strings.Contains(err.Error(), "env") {
		t.Errorf("bad env: %v", err)
	}
	m, _ = Parse([]byte("flavors:\n  python_function:\n    loader_module: m\n"), "")
	p, _, err := m.PyFunc()
	if err != nil || p.PredictFn != "predict" {
		t.Errorf("default predict_fn = %q, %v", p.PredictFn, err)
	}
}

func TestModelPath(t *testing.T) {
	m := &Model{Dir: "/models/m"}
	if p, err := m.Path("data/model.onnx"); err != nil || p != "/models/m/data/model.onnx" {
		t.Errorf("Path = %q, %v", p, err)
	}
	for _, bad := range []string{"", "../secret", "a/../../b", "/etc/passwd"} {
		if _, err := m.Path(bad); err == nil {
			t.Errorf("Path(%q) accepted a path outside the model", bad)
		}
	}
}

// A hand-written descriptor may spell a version as a bare number; it keeps
// its spelling rather than becoming the float's ("2.1").
func TestNumericStringFields(t *testing.T) {
	m, err := Parse([]byte("flavors: {}\nmlflow_version: 2.10\nrun_id: 0123\nmodel_uuid: 1e5\n"), "")
	if err != nil {
		t.Fatal(err)
	}
	if m.MLflowVersion != "2.10" || m.RunID != "0123" || m.ModelUUID != "1e5" {
		t.Errorf("got %q %q %q", m.MLflowVersion, m.RunID, m.ModelUUID)
	}
	out, _ := m.Marshal()
	if !strings.Contains(string(out), "mlflow_version: '2.10'") {
		t.Errorf("written as:\n%s", out)
	}
}

// Aliases that refer to themselves or expand without bound are errors, not
// a crash or an out-of-memory.
func TestAliasBombs(t *testing.T) {
	for _, doc := range []string{
		"flavors: {}\na: &x [*x]\n",
		"flavors: {}\na: &a [1,1,1,1,1,1,1,1,1,1]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\n",
	} {
		if _, err := Parse([]byte(doc), ""); err == nil {
			t.Errorf("accepted %q", doc)
		}
	}
	// A modest, legitimate alias still works.
	m, err := Parse([]byte("flavors:\n  a: &cfg {data: x}\n  b: *cfg\n"), "")
	if err != nil || m.Flavors["b"]["data"] != "x" {
		t.Fatalf("alias: %v %v", err, m)
	}
}
