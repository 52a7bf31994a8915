package mlmodel

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// FileName is the descriptor's file name at the model root.
const FileName = "MLmodel"

// Model is a parsed MLmodel descriptor. Every top-level field MLflow 1.x–3.x
// writes has a typed field; anything else lands in Extra and is written back
// unchanged.
type Model struct {
	ArtifactPath            string
	RunID                   string
	UTCTimeCreated          string // "YYYY-MM-DD HH:MM:SS.ffffff", naive UTC
	Flavors                 map[string]FlavorConfig
	ModelUUID               string
	MLflowVersion           string
	Signature               *Signature
	IsSignatureFromTypeHint *bool
	TypeHintFromExample     *bool
	SavedInputExampleInfo   *InputExampleInfo
	Metadata                map[string]any
	DatabricksRuntime       string
	ModelSizeBytes          *int64
	Resources               map[string]any
	AuthPolicy              map[string]any
	EnvVars                 []string
	Prompts                 []string
	ModelID                 string

	// Extra holds top-level keys this package does not know, verbatim.
	Extra map[string]any

	// Dir is the model directory the descriptor was loaded from ("" when
	// parsed from bytes). It is not written.
	Dir string
}

// ParseError is a descriptor that could not be read: it names the file and
// what is wrong with it.
type ParseError struct {
	Path string // file path, or "MLmodel" when parsed from bytes
	Err  error
}

func (e *ParseError) Error() string { return fmt.Sprintf("reading %s: %v", e.Path, e.Err) }
func (e *ParseError) Unwrap() error { return e.Err }

// Parse reads an MLmodel document. name is used in error messages.
func Parse(data []byte, name string) (*Model, error) {
	if name == "" {
		name = FileName
	}
	m, err := parse(data)
	if err != nil {
		return nil, &ParseError{Path: name, Err: err}
	}
	return m, nil
}

func parse(data []byte) (*Model, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("invalid YAML: %w", err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, errors.New("the file is empty")
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("line %d: expected a mapping of MLmodel fields at the top level", root.Line)
	}
	v, err := newConverter(len(data)).fromNode(root)
	if err != nil {
		return nil, err
	}
	// A string field written as a bare number (`mlflow_version: 2.10`)
	// keeps its spelling, not the number's ("2.1").
	text := map[string]string{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		if val := root.Content[i+1]; val.Kind == yaml.ScalarNode {
			switch val.ShortTag() {
			case "!!int", "!!float":
				text[root.Content[i].Value] = val.Value
			}
		}
	}
	return fromMap(v.(map[string]any), text)
}

func fromMap(raw map[string]any, text map[string]string) (*Model, error) {
	m := &Model{Extra: map[string]any{}}
	var err error
	str := func(key string, dst *string) {
		if err != nil {
			return
		}
		if t, ok := text[key]; ok {
			*dst = t
			return
		}
		*dst, err = asString(key, raw[key])
	}
	str("artifact_path", &m.ArtifactPath)
	str("run_id", &m.RunID)
	str("utc_time_created", &m.UTCTimeCreated)
	str("model_uuid", &m.ModelUUID)
	str("mlflow_version", &m.MLflowVersion)
	str("databricks_runtime", &m.DatabricksRuntime)
	str("model_id", &m.ModelID)
	if err != nil {
		return nil, err
	}
	if m.IsSignatureFromTypeHint, err = asBoolPtr("is_signature_from_type_hint", raw["is_signature_from_type_hint"]); err != nil {
		return nil, err
	}
	if m.TypeHintFromExample, err = asBoolPtr("type_hint_from_example", raw["type_hint_from_example"]); err != nil {
		return nil, err
	}
	if m.ModelSizeBytes, err = asInt64Ptr("model_size_bytes", raw["model_size_bytes"]); err != nil {
		return nil, err
	}
	if m.Metadata, err = asMap("metadata", raw["metadata"]); err != nil {
		return nil, err
	}
	if m.Resources, err = asMap("resources", raw["resources"]); err != nil {
		return nil, err
	}
	if m.AuthPolicy, err = asMap("auth_policy", raw["auth_policy"]); err != nil {
		return nil, err
	}
	if m.EnvVars, err = asStrings("env_vars", raw["env_vars"]); err != nil {
		return nil, err
	}
	if m.Prompts, err = asStrings("prompts", raw["prompts"]); err != nil {
		return nil, err
	}

	flavors, err := asMap("flavors", raw["flavors"])
	if err != nil {
		return nil, err
	}
	if _, ok := raw["flavors"]; !ok {
		return nil, errors.New(`missing required key "flavors"`)
	}
	m.Flavors = make(map[string]FlavorConfig, len(flavors))
	for name, fv := range flavors {
		switch x := fv.(type) {
		case map[string]any:
			m.Flavors[name] = FlavorConfig(x)
		case nil:
			m.Flavors[name] = FlavorConfig{}
		default:
			return nil, fmt.Errorf("flavors.%s: expected a mapping, got %s", name, describe(fv))
		}
	}

	if sv, ok := raw["signature"]; ok && sv != nil {
		sm, err := asMap("signature", sv)
		if err != nil {
			return nil, err
		}
		if m.Signature, err = signatureFromMap(sm); err != nil {
			return nil, fmt.Errorf("signature: %w", err)
		}
	}
	if ev, ok := raw["saved_input_example_info"]; ok && ev != nil {
		em, err := asMap("saved_input_example_info", ev)
		if err != nil {
			return nil, err
		}
		if m.SavedInputExampleInfo, err = exampleInfoFromMap(em); err != nil {
			return nil, fmt.Errorf("saved_input_example_info: %w", err)
		}
	}
	for k, v := range raw {
		if !knownKeys[k] {
			m.Extra[k] = v
		}
	}
	return m, nil
}

var knownKeys = map[string]bool{
	"artifact_path": true, "run_id": true, "utc_time_created": true, "flavors": true,
	"model_uuid": true, "mlflow_version": true, "signature": true,
	"is_signature_from_type_hint": true, "type_hint_from_example": true,
	"saved_input_example_info": true, "metadata": true, "databricks_runtime": true,
	"model_size_bytes": true, "resources": true, "auth_policy": true, "env_vars": true,
	"prompts": true, "model_id": true,
}

func signatureFromMap(sm map[string]any) (*Signature, error) {
	sig := &Signature{}
	for k, v := range sm {
		switch k {
		case "inputs", "outputs":
			if v == nil {
				continue
			}
			s, ok := v.(string)
			if !ok {
				return nil, fmt.Errorf("%s: %w", k, errNotJSONString)
			}
			schema, err := ParseSchema([]byte(s))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			if k == "inputs" {
				sig.Inputs = schema
			} else {
				sig.Outputs = schema
			}
		case "params":
			if v == nil {
				continue
			}
			s, ok := v.(string)
			if !ok {
				return nil, fmt.Errorf("params: %w", errNotJSONString)
			}
			ps, err := ParseParamSchema([]byte(s))
			if err != nil {
				return nil, fmt.Errorf("params: %w", err)
			}
			sig.Params = ps
		default:
			if sig.extra == nil {
				sig.extra = map[string]any{}
			}
			sig.extra[k] = v
		}
	}
	return sig, nil
}

// toMap is the inverse of fromMap: the document MLflow would write.
func (m *Model) toMap() map[string]any {
	out := make(map[string]any, len(m.Extra)+16)
	for k, v := range m.Extra {
		out[k] = v
	}
	setStr := func(k, v string) {
		if v != "" {
			out[k] = v
		}
	}
	setStr("artifact_path", m.ArtifactPath)
	setStr("run_id", m.RunID)
	setStr("utc_time_created", m.UTCTimeCreated)
	setStr("model_uuid", m.ModelUUID)
	setStr("mlflow_version", m.MLflowVersion)
	setStr("databricks_runtime", m.DatabricksRuntime)
	setStr("model_id", m.ModelID)
	flavors := make(map[string]any, len(m.Flavors))
	for k, v := range m.Flavors {
		flavors[k] = map[string]any(v)
	}
	out["flavors"] = flavors
	if m.IsSignatureFromTypeHint != nil {
		out["is_signature_from_type_hint"] = *m.IsSignatureFromTypeHint
	}
	if m.TypeHintFromExample != nil {
		out["type_hint_from_example"] = *m.TypeHintFromExample
	}
	if m.ModelSizeBytes != nil {
		out["model_size_bytes"] = *m.ModelSizeBytes
	}
	if m.Metadata != nil {
		out["metadata"] = m.Metadata
	}
	if m.Resources != nil {
		out["resources"] = m.Resources
	}
	if m.AuthPolicy != nil {
		out["auth_policy"] = m.AuthPolicy
	}
	if m.EnvVars != nil {
		out["env_vars"] = m.EnvVars
	}
	if m.Prompts != nil {
		out["prompts"] = m.Prompts
	}
	if m.Signature != nil {
		sig := map[string]any{"inputs": nil, "outputs": nil, "params": nil}
		for k, v := range m.Signature.extra {
			sig[k] = v
		}
		if m.Signature.Inputs != nil {
			sig["inputs"] = string(m.Signature.Inputs.appendJSON(nil))
		}
		if m.Signature.Outputs != nil {
			sig["outputs"] = string(m.Signature.Outputs.appendJSON(nil))
		}
		if m.Signature.Params != nil {
			sig["params"] = string(m.Signature.Params.appendJSON(nil))
		}
		out["signature"] = sig
	}
	if m.SavedInputExampleInfo != nil {
		out["saved_input_example_info"] = m.SavedInputExampleInfo.toMap()
	}
	return out
}

// Marshal returns the descriptor as MLflow writes it: PyYAML block style,
// keys sorted, strings quoted only where needed.
func (m *Model) Marshal() ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	enc.CompactSeqIndent()
	if err := enc.Encode(toNode(m.toMap())); err != nil {
		return nil, fmt.Errorf("encoding MLmodel: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encoding MLmodel: %w", err)
	}
	return buf.Bytes(), nil
}

// WriteFile writes the descriptor to dir/MLmodel atomically (a temporary file
// renamed into place), so a reader never sees half a descriptor.
func (m *Model) WriteFile(dir string) error {
	data, err := m.Marshal()
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".MLmodel-*")
	if err != nil {
		return fmt.Errorf("writing MLmodel: %w", err)
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("writing MLmodel: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing MLmodel: %w", err)
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		return fmt.Errorf("writing MLmodel: %w", err)
	}
	if err := os.Rename(f.Name(), filepath.Join(dir, FileName)); err != nil {
		return fmt.Errorf("writing MLmodel: %w", err)
	}
	return nil
}

// FlavorNames returns the flavor keys, sorted.
func (m *Model) FlavorNames() []string {
	names := make([]string, 0, len(m.Flavors))
	for k := range m.Flavors {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// Path resolves a path named in the descriptor (a flavor's `data`, an
// example's `artifact_path`) against the model directory, refusing paths
// that leave it.
func (m *Model) Path(rel string) (string, error) {
	if rel == "" {
		return "", errors.New("empty path")
	}
	if filepath.IsAbs(rel) {
		return "", fmt.Errorf("path %q must be relative to the model directory", rel)
	}
	clean := filepath.Clean(filepath.FromSlash(rel))
	if clean == ".." || strings.HasPrefix(clean, ".."+string(filepath.Separator)) {
		return "", fmt.Errorf("path %q leaves the model directory", rel)
	}
	return filepath.Join(m.Dir, clean), nil
}
