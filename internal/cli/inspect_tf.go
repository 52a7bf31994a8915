package cli

import (
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/mlship/mlship/flavors/tensorflow/savedmodel"
	"github.com/mlship/mlship/mlmodel"
)

// inspectSavedModel is what `mlship inspect` reports about a model's
// TensorFlow SavedModel: its MetaGraphs' tag sets and every signature of
// the MetaGraph the flavor selects.
type inspectSavedModel struct {
	Dir        string         `json:"dir"`
	TagSets    [][]string     `json:"tag_sets"`
	Tags       []string       `json:"tags"`
	Selected   string         `json:"signature_def_key"`
	Signatures []inspectTFSig `json:"signatures"`
	Error      string         `json:"error,omitempty"`
}

type inspectTFSig struct {
	Key     string           `json:"key"`
	Method  string           `json:"method_name,omitempty"`
	Inputs  []inspectTFInput `json:"inputs"`
	Outputs []inspectTFInput `json:"outputs"`
}

type inspectTFInput struct {
	Name   string  `json:"name"`
	Tensor string  `json:"tensor"`
	DType  string  `json:"dtype"`
	Shape  []int64 `json:"shape"` // nil: unknown rank
}

// describeSavedModel reads the SavedModel of a `tensorflow` flavor block
// (nil when the model has none). It reads saved_model.pb only.
func describeSavedModel(m *mlmodel.Model) *inspectSavedModel {
	fc, ok := m.Flavors["tensorflow"]
	if !ok {
		return nil
	}
	dir, _, _ := fc.String("saved_model_dir")
	if mt, _, _ := fc.String("model_type"); dir == "" && mt == "keras" {
		data, _, _ := fc.String("data")
		if data == "" {
			data = "data"
		}
		dir = path.Join(data, "model")
	}
	tags, _ := fc.Strings("meta_graph_tags")
	if len(tags) == 0 {
		tags = []string{savedmodel.ServeTag}
	}
	key, _, _ := fc.String("signature_def_key")
	if key == "" {
		key = savedmodel.DefaultSignatureKey
	}
	r := &inspectSavedModel{Dir: dir, Tags: tags, Selected: key}
	fail := func(err error) *inspectSavedModel { r.Error = err.Error(); return r }
	if dir == "" {
		return fail(fmt.Errorf("the tensorflow flavor names no saved_model_dir"))
	}
	abs, err := m.Path(dir)
	if err != nil {
		return fail(err)
	}
	sm, err := savedmodel.Load(abs)
	if err != nil {
		return fail(err)
	}
	r.TagSets = sm.TagSets()
	mg, err := sm.MetaGraph(tags)
	if err != nil {
		return fail(err)
	}
	for _, k := range mg.SignatureKeys() {
		sig, err := mg.Signature(k)
		if err != nil {
			r.Signatures = append(r.Signatures, inspectTFSig{Key: k, Method: err.Error()})
			continue
		}
		conv := func(ts []savedmodel.TensorInfo) []inspectTFInput {
			out := make([]inspectTFInput, len(ts))
			for i, t := range ts {
				dt := strings.ToLower(strings.TrimPrefix(t.DType.String(), "DT_"))
				out[i] = inspectTFInput{Name: t.Name, Tensor: t.Tensor, DType: dt, Shape: t.Shape}
			}
			return out
		}
		r.Signatures = append(r.Signatures, inspectTFSig{Key: k, Method: sig.MethodName, Inputs: conv(sig.Inputs), Outputs: conv(sig.Outputs)})
	}
	return r
}

func printSavedModel(w io.Writer, r *inspectSavedModel) {
	if r == nil {
		return
	}
	fmt.Fprintf(w, "SavedModel: %s (tags %s)\n", r.Dir, strings.Join(r.Tags, ","))
	if r.Error != "" {
		fmt.Fprintf(w, "           cannot read it: %s\n", r.Error)
		return
	}
	tensors := func(ts []inspectTFInput) string {
		parts := make([]string, len(ts))
		for i, t := range ts {
			shape := "unknown rank"
			if t.Shape != nil {
				shape = fmt.Sprint(t.Shape)
			}
			parts[i] = fmt.Sprintf("%s %s %s (%s)", t.Name, t.DType, shape, t.Tensor)
		}
		if len(parts) == 0 {
			return "none"
		}
		return strings.Join(parts, ", ")
	}
	for _, s := range r.Signatures {
		mark := " "
		if s.Key == r.Selected {
			mark = "*"
		}
		fmt.Fprintf(w, " %s %s  %s\n", mark, s.Key, s.Method)
		fmt.Fprintf(w, "      inputs:  %s\n", tensors(s.Inputs))
		fmt.Fprintf(w, "      outputs: %s\n", tensors(s.Outputs))
	}
}
