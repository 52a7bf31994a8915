package cli

import (
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/mlship/mlship/flavors/tensorflow/savedmodel"
	"github.com/mlship/mlship/flavors/tensorflow/tf2onnx"
	"github.com/mlship/mlship/internal/tfpb"
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

// checkpointVars reads variable values for a trial conversion.
type checkpointVars struct {
	sm *savedmodel.SavedModel
	mg *savedmodel.MetaGraph
}

func (v checkpointVars) Variable(n *tfpb.NodeDef) (*tf2onnx.Tensor, error) {
	ck, err := v.sm.Variables()
	if err != nil {
		return nil, err
	}
	key, err := v.mg.VariableKey(ck, n.GetName())
	if err != nil {
		return nil, err
	}
	t, err := ck.Tensor(key)
	if err != nil {
		return nil, err
	}
	return &tf2onnx.Tensor{DType: t.DType, Shape: t.Shape, Data: t.Data, Strings: t.Strings}, nil
}

// convertible tries the ONNX conversion of one signature.
func convertible(sm *savedmodel.SavedModel, mg *savedmodel.MetaGraph, sig *savedmodel.Signature) string {
	ts := tf2onnx.Signature{Key: sig.Key}
	for _, t := range sig.Inputs {
		ts.Inputs = append(ts.Inputs, tf2onnx.IO(t))
	}
	for _, t := range sig.Outputs {
		ts.Outputs = append(ts.Outputs, tf2onnx.IO(t))
	}
	if _, err := tf2onnx.Convert(mg.Proto, ts, checkpointVars{sm: sm, mg: mg}, tf2onnx.Options{FlattenUnknownRank: true}); err != nil {
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
