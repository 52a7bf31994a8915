package mlmodel

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	yaml "go.yaml.in/yaml/v3"
)

// InputExampleInfo is `saved_input_example_info`: where the example is
// stored and how it is encoded.
type InputExampleInfo struct {
	ArtifactPath     string // input_example.json
	Type             string // dataframe | ndarray | json_object | sparse_matrix_csc | sparse_matrix_csr
	PandasOrient     string // split | values (dataframes)
	Format           string // tf-serving (2.x ndarray examples stored as {"inputs": ...})
	ServingInputPath string // serving_input_example.json (2.15+)
	Params           string // "true" when the example was a (data, params) tuple

	extra map[string]any
}

func exampleInfoFromMap(em map[string]any) (*InputExampleInfo, error) {
	info := &InputExampleInfo{}
	fields := map[string]*string{
		"artifact_path": &info.ArtifactPath, "type": &info.Type, "pandas_orient": &info.PandasOrient,
		"format": &info.Format, "serving_input_path": &info.ServingInputPath,
	}
	for k, v := range em {
		if dst, ok := fields[k]; ok {
			s, err := asString(k, v)
			if err != nil {
				return nil, err
			}
			*dst = s
			continue
		}
		if k == "params" {
			// MLflow writes the string "true"; accept a YAML boolean too.
			switch x := v.(type) {
			case string:
				info.Params = x
			case bool:
				if x {
					info.Params = "true"
				} else {
					info.Params = "false"
				}
			default:
				return nil, fmt.Errorf("params: expected \"true\", got %s", describe(v))
			}
			continue
		}
		if info.extra == nil {
			info.extra = map[string]any{}
		}
		info.extra[k] = v
	}
	return info, nil
}

func (i *InputExampleInfo) toMap() map[string]any {
	out := map[string]any{}
	for k, v := range i.extra {
		out[k] = v
	}
	set := func(k, v string) {
		if v != "" {
			out[k] = v
		}
	}
	set("artifact_path", i.ArtifactPath)
	set("type", i.Type)
	set("pandas_orient", i.PandasOrient)
	set("format", i.Format)
	set("serving_input_path", i.ServingInputPath)
	set("params", i.Params)
	return out
}

// ErrNoInputExample means the model was saved without an input example.
var ErrNoInputExample = errors.New("the model has no saved input example")

// InputExample reads the saved example file (input_example.json) as the
// raw JSON MLflow stored.
func (m *Model) InputExample() ([]byte, error) {
	info := m.SavedInputExampleInfo
	if info == nil || info.ArtifactPath == "" {
		return nil, ErrNoInputExample
	}
	p, err := m.Path(info.ArtifactPath)
	if err != nil {
		return nil, fmt.Errorf("saved_input_example_info.artifact_path: %w", err)
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("reading input example: %w", err)
	}
	if !json.Valid(data) {
		return nil, fmt.Errorf("input example %s is not valid JSON", p)
	}
	return data, nil
}

// ServingInputExample returns a request body for POST /invocations built
// from the saved example: serving_input_example.json when MLflow wrote one
// (2.15+), otherwise the body MLflow would have written for it (§1.6):
// dataframes as {"dataframe_split": ...}, everything else as {"inputs": ...},
// with params carried along.
func (m *Model) ServingInputExample() ([]byte, error) {
	info := m.SavedInputExampleInfo
	if info == nil {
		return nil, ErrNoInputExample
	}
	if info.ServingInputPath != "" {
		p, err := m.Path(info.ServingInputPath)
		if err != nil {
			return nil, fmt.Errorf("saved_input_example_info.serving_input_path: %w", err)
		}
		if data, err := os.ReadFile(p); err == nil {
			if !json.Valid(data) {
				return nil, fmt.Errorf("serving input example %s is not valid JSON", p)
			}
			return data, nil
		}
	}
	raw, err := m.InputExample()
	if err != nil {
		return nil, err
	}
	var data, params json.RawMessage = raw, nil
	wrapped := info.Params == "true" || (info.Type == "ndarray" && info.Format == "tf-serving")
	if wrapped {
		// Stored as {"inputs": <data>, "params": {...}}.
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(raw, &obj); err != nil {
			return nil, fmt.Errorf("input example: expected a JSON object with \"inputs\": %w", err)
		}
		in, ok := obj["inputs"]
		if !ok {
			return nil, errors.New(`input example: expected a JSON object with "inputs"`)
		}
		data, params = in, obj["params"]
	}
	key := "inputs"
	switch info.Type {
	case "dataframe":
		key = "dataframe_split"
		if info.PandasOrient == "values" {
			// Values orient stores bare rows; split needs {"data": rows}.
			var rows json.RawMessage
			if err := json.Unmarshal(data, &rows); err != nil {
				return nil, fmt.Errorf("input example: %w", err)
			}
			if bytes.HasPrefix(bytes.TrimSpace(rows), []byte("[")) {
				data = append(append([]byte(`{"data": `), rows...), '}')
			}
		}
	case "sparse_matrix_csc", "sparse_matrix_csr":
		return nil, fmt.Errorf("input example of type %s cannot be sent to /invocations", info.Type)
	}
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "{%q: %s", key, data)
	if params != nil {
		fmt.Fprintf(&buf, ", \"params\": %s", params)
	}
	buf.WriteString("}")
	return buf.Bytes(), nil
}

// RegisteredModelMeta is the registered_model_meta file MLflow writes when
// it downloads a model from the registry (models:/ URIs).
type RegisteredModelMeta struct {
	Name    string
	Version string
}

// RegisteredModelMetaFile is its file name at the model root.
const RegisteredModelMetaFile = "registered_model_meta"

// RegisteredModelMeta reads registered_model_meta; nil without error when
// the model has none.
func (m *Model) RegisteredModelMeta() (*RegisteredModelMeta, error) {
	if m.Dir == "" {
		return nil, nil
	}
	p := filepath.Join(m.Dir, RegisteredModelMetaFile)
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", p, err)
	}
	var n yaml.Node
	if err := yaml.Unmarshal(data, &n); err != nil {
		return nil, &ParseError{Path: p, Err: fmt.Errorf("invalid YAML: %w", err)}
	}
	v, err := newConverter(len(data)).fromNode(&n)
	if err != nil {
		return nil, &ParseError{Path: p, Err: err}
	}
	mm, ok := v.(map[string]any)
	if !ok {
		return nil, &ParseError{Path: p, Err: errors.New("expected a mapping with model_name and model_version")}
	}
	out := &RegisteredModelMeta{}
	if out.Name, err = asString("model_name", mm["model_name"]); err != nil {
		return nil, &ParseError{Path: p, Err: err}
	}
	if out.Version, err = asString("model_version", mm["model_version"]); err != nil {
		return nil, &ParseError{Path: p, Err: err}
	}
	return out, nil
}
