package savedmodel

import (
	"errors"
	"fmt"
	"strings"

	"github.com/mlship/mlship/internal/tfpb"
)

// VariableValueAttr is the attribute name under which a TF2 checkpoint's
// object graph records a variable's value.
const VariableValueAttr = "VARIABLE_VALUE"

// Capture is one bound input of a TF2 concrete function: an object of the
// saved object graph that the function captures as an extra argument.
type Capture struct {
	// NodeID indexes both the SavedObjectGraph and the checkpoint's
	// TrackableObjectGraph (TensorFlow writes them from the same traversal).
	NodeID int32
	// Kind is the SavedObject's kind: "variable", "constant", "asset",
	// "resource", "captured_tensor", ...
	Kind string
	// CheckpointKey is the key of a variable's value, "" for other kinds.
	CheckpointKey string
}

// Captures returns the bound inputs of the concrete function named
// functionName (object_graph_def.concrete_functions[name].bound_inputs), in
// capture order: the function's trailing inputs, after its arguments.
// Variables are resolved to their checkpoint keys through ck's object graph.
func (m *MetaGraph) Captures(functionName string, ck *Checkpoint) ([]Capture, error) {
	og := m.Proto.GetObjectGraphDef()
	cf, ok := og.GetConcreteFunctions()[functionName]
	if !ok {
		if og == nil {
			return nil, fmt.Errorf("function %q: the MetaGraph has no saved object graph (a TF1 export)", functionName)
		}
		return nil, fmt.Errorf("function %q is not a concrete function of the saved object graph", functionName)
	}
	out := make([]Capture, 0, len(cf.GetBoundInputs()))
	for i, id := range cf.GetBoundInputs() {
		c := Capture{NodeID: id, Kind: objectKind(og, id)}
		if c.Kind == "variable" {
			key, err := checkpointKeyOfNode(ck, id)
			if err != nil {
				return nil, fmt.Errorf("function %q capture %d: %w", functionName, i, err)
			}
			c.CheckpointKey = key
		}
		out = append(out, c)
	}
	return out, nil
}

// CapturedVariables returns the checkpoint keys of the concrete function's
// bound inputs, in capture order. It is an error if a bound input is not a
// variable (a captured constant, asset or resource such as a lookup table).
func (m *MetaGraph) CapturedVariables(functionName string, ck *Checkpoint) ([]string, error) {
	caps, err := m.Captures(functionName, ck)
	if err != nil {
		return nil, err
	}
	keys := make([]string, len(caps))
	for i, c := range caps {
		if c.CheckpointKey == "" {
			return nil, fmt.Errorf("function %q capture %d (object %d) is a %s, not a variable", functionName, i, c.NodeID, c.Kind)
		}
		keys[i] = c.CheckpointKey
	}
	return keys, nil
}

// objectKind names the kind of saved object id.
func objectKind(og *tfpb.SavedObjectGraph, id int32) string {
	if id < 0 || int(id) >= len(og.GetNodes()) {
		return "missing object"
	}
	switch og.Nodes[id].GetKind().(type) {
	case *tfpb.SavedObject_Variable:
		return "variable"
	case *tfpb.SavedObject_Constant:
		return "constant"
	case *tfpb.SavedObject_Asset:
		return "asset"
	case *tfpb.SavedObject_Resource:
		return "resource"
	case *tfpb.SavedObject_CapturedTensor:
		return "captured_tensor"
	case *tfpb.SavedObject_Function, *tfpb.SavedObject_BareConcreteFunction:
		return "function"
	case *tfpb.SavedObject_UserObject:
		return "user object"
	}
	return "object of unknown kind"
}

// checkpointKeyOfNode returns the VARIABLE_VALUE checkpoint key of node id
// of the checkpoint's object graph.
func checkpointKeyOfNode(ck *Checkpoint, id int32) (string, error) {
	if ck == nil {
		return "", errors.New("no checkpoint given")
	}
	g, err := ck.ObjectGraph()
	if err != nil {
		return "", err
	}
	if id < 0 || int(id) >= len(g.GetNodes()) {
		return "", fmt.Errorf("object %d is not in the checkpoint's object graph (%d objects)", id, len(g.GetNodes()))
	}
	for _, a := range g.Nodes[id].GetAttributes() {
		if a.GetName() == VariableValueAttr {
			if !ck.Has(a.GetCheckpointKey()) {
				return "", fmt.Errorf("object %d's value %q is not in the checkpoint", id, a.GetCheckpointKey())
			}
			return a.GetCheckpointKey(), nil
		}
	}
	return "", fmt.Errorf("object %d has no %s in the checkpoint", id, VariableValueAttr)
}

// isVariableOp reports whether op creates a variable.
func isVariableOp(op string) bool {
	switch op {
	case "VarHandleOp", "VariableV2", "Variable":
		return true
	}
	return false
}

// VariableKey maps a variable as the top-level graph names it (a node name,
// "node:0" also accepted, or a shared_name) to its key in ck:
//
//   - TF1: the VariableV2/VarHandleOp node name, or its shared_name, is the
//     key ("w" -> "w").
//   - TF2: the VarHandleOp is an input of a StatefulPartitionedCall (or
//     PartitionedCall) beyond the called function's arguments; its position
//     picks the concrete function's bound_inputs entry, an object-graph node
//     id, and that node of the checkpoint's _CHECKPOINTABLE_OBJECT_GRAPH
//     names the key ("layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE").
//     Variables no call captures (optimizer slots, say) are matched by the
//     SavedVariable name in the object graph, when exactly one has it.
func (m *MetaGraph) VariableKey(ck *Checkpoint, graphVariable string) (string, error) {
	if ck == nil {
		return "", errors.New("no checkpoint given")
	}
	name := strings.TrimSuffix(strings.TrimPrefix(graphVariable, "^"), ":0")
	if ck.Has(name) && name != ObjectGraphKey {
		return name, nil
	}
	shared := name
	if n := m.Node(name); n != nil {
		if !isVariableOp(n.GetOp()) {
			return "", fmt.Errorf("graph node %q is a %s, not a variable", name, n.GetOp())
		}
		if s := string(n.GetAttr()["shared_name"].GetS()); s != "" {
			shared = s
		}
	}
	if shared != name && ck.Has(shared) && shared != ObjectGraphKey {
		return shared, nil
	}
	og := m.Proto.GetObjectGraphDef()
	if og == nil {
		return "", fmt.Errorf("variable %q is not in the checkpoint (and the MetaGraph has no saved object graph to map it through)", graphVariable)
	}
	idx := m.captureIndex()
	var firstErr error
	for _, c := range idx.byInput[name] {
		key, err := checkpointKeyOfNode(ck, c.object)
		if err == nil {
			return key, nil
		}
		if firstErr == nil {
			firstErr = fmt.Errorf("variable %q (input %d of %s): %w", graphVariable, c.input, c.call, err)
		}
	}
	if firstErr != nil {
		return "", firstErr
	}
	match := int32(-1)
	for _, names := range [][]int32{idx.byVarName[shared], idx.byVarName[name]} {
		for _, id := range names {
			if match >= 0 && match != id {
				return "", fmt.Errorf("variable %q: several objects of the saved object graph have that name", graphVariable)
			}
			match = id
		}
	}
	if match < 0 {
		return "", fmt.Errorf("variable %q has no checkpoint key: not a key, not captured by any signature function, and no saved variable has that name", graphVariable)
	}
	key, err := checkpointKeyOfNode(ck, match)
	if err != nil {
		return "", fmt.Errorf("variable %q: %w", graphVariable, err)
	}
	return key, nil
}

// captureRef is one captured input of a call node: input position input
// of node call is bound to saved object object.
type captureRef struct {
	call   string
	input  int
	object int32
}

// captures indexes, once per MetaGraph, what VariableKey searches: the
// captured inputs of every call node by the graph node they name, and the
// saved variables by name. Walking the graph per variable instead took
// time quadratic in the graph (seconds for a few thousand variables).
type captures struct {
	byInput   map[string][]captureRef
	byVarName map[string][]int32
}

func (m *MetaGraph) captureIndex() *captures {
	m.capOnce.Do(func() {
		c := &captures{byInput: map[string][]captureRef{}, byVarName: map[string][]int32{}}
		og := m.Proto.GetObjectGraphDef()
		for _, n := range m.Proto.GetGraphDef().GetNode() {
			if n.GetOp() != "StatefulPartitionedCall" && n.GetOp() != "PartitionedCall" {
				continue
			}
			cf, ok := og.GetConcreteFunctions()[n.GetAttr()["f"].GetFunc().GetName()]
			if !ok {
				continue // e.g. the saver's restore function
			}
			var data []string
			for _, in := range n.GetInput() {
				if !strings.HasPrefix(in, "^") {
					data = append(data, strings.TrimSuffix(in, ":0"))
				}
			}
			nargs := len(data) - len(cf.GetBoundInputs())
			if nargs < 0 {
				continue
			}
			for i := nargs; i < len(data); i++ {
				c.byInput[data[i]] = append(c.byInput[data[i]], captureRef{call: n.GetName(), input: i, object: cf.BoundInputs[i-nargs]})
			}
		}
		for id, obj := range og.GetNodes() {
			if v := obj.GetVariable(); v != nil {
				c.byVarName[v.GetName()] = append(c.byVarName[v.GetName()], int32(id))
			}
		}
		m.caps = c
	})
	return m.caps
}

// ReadVariable reads the saved value of a top-level graph variable: its
// VariableKey, then Checkpoint.Tensor, and checks the value against the
// node's "dtype" and "shape" attributes where the graph states them.
func (m *MetaGraph) ReadVariable(ck *Checkpoint, graphVariable string) (*Tensor, error) {
	key, err := m.VariableKey(ck, graphVariable)
	if err != nil {
		return nil, err
	}
	t, err := ck.Tensor(key)
	if err != nil {
		return nil, fmt.Errorf("variable %q: %w", graphVariable, err)
	}
	n := m.Node(strings.TrimSuffix(strings.TrimPrefix(graphVariable, "^"), ":0"))
	if n == nil {
		return t, nil
	}
	if a, ok := n.GetAttr()["dtype"]; ok && a.GetType() != tfpb.DataType_DT_INVALID && a.GetType() != t.DType {
		return nil, fmt.Errorf("variable %q is %v in the graph but %v in the checkpoint (%q)", graphVariable, a.GetType(), t.DType, key)
	}
	if a, ok := n.GetAttr()["shape"]; ok && a.GetShape() != nil && !a.GetShape().GetUnknownRank() {
		dims := a.GetShape().GetDim()
		match := len(dims) == len(t.Shape)
		for i := 0; match && i < len(dims); i++ {
			match = dims[i].GetSize() < 0 || dims[i].GetSize() == t.Shape[i]
		}
		if !match {
			return nil, fmt.Errorf("variable %q has shape %v in the checkpoint (%q), which the graph's %v does not allow", graphVariable, t.Shape, key, dims)
		}
	}
	return t, nil
}
