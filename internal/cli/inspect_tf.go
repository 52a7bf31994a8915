package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/mlship/mlship/flavors/tensorflow"
	"github.com/mlship/mlship/flavors/tensorflow/savedmodel"
	"github.com/mlship/mlship/flavors/tensorflow/tf2onnx"
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
	// ONNX is "ok" when the signature converts to ONNX (it runs without
	// TensorFlow), else why not.
	ONNX string `json:"onnx"`
}

// convertible tries the ONNX conversion of one signature, as serving
// would do it.
func convertible(sm *savedmodel.SavedModel, mg *savedmodel.MetaGraph, sig *savedmodel.Signature) string {
	if _, err := tensorflow.Convert(sm, mg, sig); err != nil {
		var ue *tf2onnx.UnsupportedError
		if errors.As(err, &ue) {
			if ue.Reason != "" {
				return fmt.Sprintf("op %s (node %s): %s", ue.Op, ue.Node, ue.Reason)
			}
			return fmt.Sprintf("op %s (node %s) is not supported", ue.Op, ue.Node)
		}
		return err.Error()
	}
	return "ok"
}

type inspectTFInput struct {
	Name   string  `json:"name"`
	Tensor string  `json:"tensor"`
	DType  string  `json:"dtype"`
	Shape  []int64 `json:"shape"` // nil: unknown rank
}

// describeSavedModel reads the SavedModel of a `tensorflow` flavor block
// (nil when the model has none) and tries each signature's conversion.
func describeSavedModel(m *mlmodel.Model) *inspectSavedModel {
	fc, ok := m.Flavors["tensorflow"]
	if !ok {
		return nil
	}
	// The flavor's own reading of the block, so inspect shows what serve
	// would load (or why it would not).
	cfg, err := tensorflow.ModelConfig(m)
	if err != nil {
		dir, _, _ := fc.String("saved_model_dir")
		return &inspectSavedModel{Dir: dir, Error: err.Error()}
	}
	dir := cfg.SavedModelDir
	r := &inspectSavedModel{Dir: dir, Tags: cfg.Tags, Selected: cfg.SignatureKey}
	fail := func(err error) *inspectSavedModel { r.Error = err.Error(); return r }
	abs, err := m.Path(dir)
	if err != nil {
		return fail(err)
	}
	sm, err := savedmodel.Load(abs)
	if err != nil {
		return fail(err)
	}
	r.TagSets = sm.TagSets()
	mg, err := sm.MetaGraph(cfg.Tags)
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
		r.Signatures = append(r.Signatures, inspectTFSig{Key: k, Method: sig.MethodName, Inputs: conv(sig.Inputs), Outputs: conv(sig.Outputs),
			ONNX: convertible(sm, mg, sig)})
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
		if s.ONNX != "" {
			fmt.Fprintf(w, "      onnx:    %s\n", s.ONNX)
		}
	}
}
