package tf2onnx

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/mlship/mlship/internal/onnxpb"
	"github.com/mlship/mlship/internal/tfpb"
)

// DefaultOpset is the ONNX opset the converted graphs use: every operator
// the translation emits is in it with the form used here, and ONNX Runtime
// 1.30 implements all of them on the CPU.
const DefaultOpset = 17

// irVersion is the ONNX IR version that goes with opset 17.
const irVersion = 8

// maxCallDepth and maxCalls bound function inlining: TensorFlow function
// calls do not recurse, so a deeper nesting, or a call tree this large,
// is a malformed library (one calling itself twice would never end).
const (
	maxCallDepth = 64
	maxCalls     = 20000
)

// maxOutputs bounds the outputs of one node (Split's num_split, Unpack's
// num), which come from attributes rather than from anything allocated.
const maxOutputs = 1 << 16

// VariableSource supplies the saved values of variables.
type VariableSource interface {
	// Variable returns the value saved for the variable node declares: a
	// VarHandleOp (resource variable) or VariableV2 (TF1 reference
	// variable), usually in the top-level graph.
	Variable(node *tfpb.NodeDef) (*Tensor, error)
}

// IO is one signature input or output: its key, the graph tensor it names
// ("x:0"), its element type and shape (-1 for an unknown dimension).
type IO struct {
	Name        string
	Tensor      string
	DType       tfpb.DataType
	Shape       []int64
	UnknownRank bool
}

// Signature is the SignatureDef to convert.
type Signature struct {
	Key             string
	Inputs, Outputs []IO
}

// Options tune the conversion. The zero value is ready to use.
type Options struct {
	// Opset is the ONNX opset to declare; 0 means DefaultOpset. Only
	// DefaultOpset is supported today.
	Opset int64
	// Producer names the program in the ONNX model's producer fields.
	Producer, ProducerVersion string
	// FlattenUnknownRank makes each output of unknown rank or declared 0-d
	// (see Flattened) a vector of its values plus an int64 output
	// ShapeOutput(name) with its real shape. ONNX Runtime bindings that
	// cannot hand back a 0-d tensor of undeclared shape (onnxruntime_go)
	// then carry every result, and a "scalar" output that TensorFlow lets
	// be a vector (a tf.function fed a batch) is not held to rank 0.
	FlattenUnknownRank bool
}

// Flattened reports whether FlattenUnknownRank flattens an output.
func Flattened(out IO) bool { return out.UnknownRank || len(out.Shape) == 0 }

// ShapeOutput names the shape output of a flattened output.
func ShapeOutput(name string) string { return name + ":shape" }

// ErrUnsupported is matched (errors.Is) by an *UnsupportedError.
var ErrUnsupported = errors.New("not convertible to ONNX")

// UnsupportedError is a node on the signature's path that the conversion
// cannot translate.
type UnsupportedError struct {
	Signature string
	Op        string
	Node      string // the node's path: call nodes from the top-level graph, then the node
	Function  string // the function holding the node, "" for the top-level graph
	Reason    string // what is unsupported when the op itself is (a variant of it, state changes)
	// Hint is appended to the message (the flavor says whether a
	// TensorFlow runtime can take over).
	Hint string
}

func (e *UnsupportedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "signature %q: TensorFlow op %q (node %q", e.Signature, e.Op, e.Node)
	if e.Function != "" {
		fmt.Fprintf(&b, " in function %q", e.Function)
	}
	b.WriteString(") ")
	if e.Reason != "" {
		b.WriteString("cannot be converted to ONNX: " + e.Reason)
	} else {
		b.WriteString("is not supported by the ONNX conversion")
	}
	if e.Hint != "" {
		b.WriteString("; " + e.Hint)
	}
	return b.String()
}

func (e *UnsupportedError) Is(target error) bool { return target == ErrUnsupported }

// value is a TensorFlow tensor as the ONNX graph has it.
type value struct {
	name     string // ONNX tensor name; "" for a resource handle
	dtype    tfpb.DataType
	konst    *Tensor       // known at conversion time (Const and what passes one through)
	shape    []int64       // static shape when known (constants, variables), else nil
	variable *tfpb.NodeDef // for a resource handle: the variable it refers to
}

// scope is the top-level graph or one inlined function call.
type scope struct {
	parent *scope
	path   string // call nodes leading here, "/"-joined; "" at the top
	fn     *tfpb.FunctionDef
	nodes  map[string]*tfpb.NodeDef
	args   map[string]argRef
	argVal map[string]*value
	memo   map[string][]*value
	calls  map[string]*scope
	active map[string]bool
	// ctlOK are control inputs already checked not to change state.
	ctlOK map[string]bool
	depth int
}

type argRef struct {
	s   *scope
	ref string
}

func newScope(parent *scope, path string, fn *tfpb.FunctionDef, nodes []*tfpb.NodeDef) *scope {
	s := &scope{
		parent: parent, path: path, fn: fn, nodes: make(map[string]*tfpb.NodeDef, len(nodes)),
		args: map[string]argRef{}, argVal: map[string]*value{}, memo: map[string][]*value{},
		calls: map[string]*scope{}, active: map[string]bool{}, ctlOK: map[string]bool{},
	}
	if parent != nil {
		s.depth = parent.depth + 1
	}
	for _, n := range nodes {
		s.nodes[n.GetName()] = n
	}
	return s
}

func (s *scope) fnName() string {
	if s.fn == nil {
		return ""
	}
	return s.fn.GetSignature().GetName()
}

func (s *scope) nodePath(n string) string {
	if s.path == "" {
		return n
	}
	return s.path + "/" + n
}

type converter struct {
	sig     string
	lib     map[string]*tfpb.FunctionDef
	vars    VariableSource
	feeds   map[string]*value
	nodes   []*onnxpb.NodeProto
	inits   []*onnxpb.TensorProto
	varInit map[*tfpb.NodeDef]string
	varDims map[*tfpb.NodeDef][]int64
	used    map[string]bool
	calls   int // function calls inlined so far
	// consts are the Const values decoded so far, by their proto: a
	// function inlined by many calls decodes its constants once.
	consts map[*tfpb.TensorProto]*Tensor
	fill   int64 // what compact constants may still expand to
}

// Convert translates what the signature's outputs reach in the MetaGraph
// into an ONNX model whose inputs and outputs are the signature's keys.
// Function calls are inlined and variables become initializers.
func Convert(mg *tfpb.MetaGraphDef, sig Signature, vars VariableSource, opts Options) (*onnxpb.ModelProto, error) {
	if opts.Opset != 0 && opts.Opset != DefaultOpset {
		return nil, fmt.Errorf("opset %d is not supported (use %d)", opts.Opset, DefaultOpset)
	}
	if len(sig.Outputs) == 0 {
		return nil, fmt.Errorf("signature %q has no outputs", sig.Key)
	}
	gd := mg.GetGraphDef()
	c := &converter{
		sig: sig.Key, lib: map[string]*tfpb.FunctionDef{}, vars: vars, feeds: map[string]*value{},
		varInit: map[*tfpb.NodeDef]string{}, varDims: map[*tfpb.NodeDef][]int64{}, used: map[string]bool{},
		consts: map[*tfpb.TensorProto]*Tensor{}, fill: maxTotalFillBytes,
	}
	for _, f := range gd.GetLibrary().GetFunction() {
		c.lib[f.GetSignature().GetName()] = f
	}
	g := &onnxpb.GraphProto{Name: ptr("tensorflow:" + sig.Key)}
	for _, in := range sig.Inputs {
		vi, err := valueInfo(in)
		if err != nil {
			return nil, fmt.Errorf("signature %q input %q: %w", sig.Key, in.Name, err)
		}
		c.reserve(in.Name)
		g.Input = append(g.Input, vi)
		c.feeds[topTensor(in.Tensor)] = &value{name: in.Name, dtype: in.DType}
	}
	for _, out := range sig.Outputs {
		c.reserve(out.Name)
		if opts.FlattenUnknownRank && Flattened(out) {
			c.reserve(ShapeOutput(out.Name))
		}
	}
	top := newScope(nil, "", nil, gd.GetNode())
	for _, out := range sig.Outputs {
		v, err := c.resolve(top, out.Tensor)
		if err != nil {
			return nil, err
		}
		if v.name == "" {
			return nil, fmt.Errorf("signature %q output %q (%s) is a resource handle, not a tensor", sig.Key, out.Name, out.Tensor)
		}
		vi, err := valueInfo(out)
		if err != nil {
			return nil, fmt.Errorf("signature %q output %q: %w", sig.Key, out.Name, err)
		}
		if opts.FlattenUnknownRank && Flattened(out) {
			flat := c.fresh(out.Name + "/flat")
			c.inits = append(c.inits, &onnxpb.TensorProto{Name: &flat, Dims: []int64{1}, DataType: ptr(int32(onnxpb.TensorProto_INT64)), Int64Data: []int64{-1}})
			c.emit("Reshape", out.Name, []string{v.name, flat}, []string{out.Name})
			c.emit("Shape", ShapeOutput(out.Name), []string{v.name}, []string{ShapeOutput(out.Name)})
			vi.GetType().GetTensorType().Shape = &onnxpb.TensorShapeProto{Dim: []*onnxpb.TensorShapeProto_Dimension{{}}}
			g.Output = append(g.Output, vi, &onnxpb.ValueInfoProto{Name: ptr(ShapeOutput(out.Name)), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
				TensorType: &onnxpb.TypeProto_Tensor{ElemType: ptr(int32(onnxpb.TensorProto_INT64)), Shape: &onnxpb.TensorShapeProto{Dim: []*onnxpb.TensorShapeProto_Dimension{{}}}}}}})
			continue
		}
		c.emit("Identity", out.Name, []string{v.name}, []string{out.Name})
		g.Output = append(g.Output, vi)
	}
	g.Node, g.Initializer = c.nodes, c.inits
	producer := opts.Producer
	if producer == "" {
		producer = "mlship tf2onnx"
	}
	return &onnxpb.ModelProto{
		IrVersion:       ptr(int64(irVersion)),
		OpsetImport:     []*onnxpb.OperatorSetIdProto{{Domain: ptr(""), Version: ptr(int64(DefaultOpset))}},
		ProducerName:    &producer,
		ProducerVersion: ptr(opts.ProducerVersion),
		Graph:           g,
	}, nil
}

// valueInfo declares a graph input or output from the signature. A scalar
// signature tensor is declared without a rank: TensorFlow does not hold a
// placeholder to its declared shape, and exported tf.functions are fed
// vectors through scalar signatures routinely.
func valueInfo(io IO) (*onnxpb.ValueInfoProto, error) {
	et, err := onnxType(io.DType)
	if err != nil {
		return nil, err
	}
	tt := &onnxpb.TypeProto_Tensor{ElemType: ptr(int32(et))}
	if !io.UnknownRank && len(io.Shape) > 0 {
		shape := &onnxpb.TensorShapeProto{}
		for _, d := range io.Shape {
			dim := &onnxpb.TensorShapeProto_Dimension{}
			if d >= 0 {
				dim.Value = &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: d}
			}
			shape.Dim = append(shape.Dim, dim)
		}
		tt.Shape = shape
	}
	return &onnxpb.ValueInfoProto{Name: ptr(io.Name), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: tt}}}, nil
}

// topTensor normalises a top-level tensor name to "node:index".
func topTensor(t string) string {
	if strings.Contains(t, ":") {
		return t
	}
	return t + ":0"
}

// reserve marks an ONNX name as taken.
func (c *converter) reserve(name string) { c.used[name] = true }

// fresh returns an unused ONNX tensor name based on base.
func (c *converter) fresh(base string) string {
	name := base
	for i := 1; c.used[name]; i++ {
		name = base + "_" + strconv.Itoa(i)
	}
	c.used[name] = true
	return name
}

func (c *converter) emit(op, name string, ins, outs []string, attrs ...*onnxpb.AttributeProto) {
	c.nodes = append(c.nodes, &onnxpb.NodeProto{
		Name: ptr(name), OpType: ptr(op), Domain: ptr(""), Input: ins, Output: outs, Attribute: attrs,
	})
}

// resolve returns the value of a tensor reference in scope s: "node:i" or
// "node" at the top level; "arg" or "node:out_arg:i" inside a function.
func (c *converter) resolve(s *scope, ref string) (*value, error) {
	if s.fn == nil {
		t := topTensor(ref)
		if v, ok := c.feeds[t]; ok {
			return v, nil
		}
		i := strings.LastIndexByte(t, ':')
		idx, err := strconv.Atoi(t[i+1:])
		if err != nil || idx < 0 {
			return nil, fmt.Errorf("signature %q: bad tensor name %q", c.sig, ref)
		}
		n, ok := s.nodes[t[:i]]
		if !ok {
			return nil, fmt.Errorf("signature %q: tensor %q names no node of the graph", c.sig, ref)
		}
		return c.output(s, n, idx)
	}
	parts := strings.Split(ref, ":")
	switch len(parts) {
	case 1:
		if v, ok := s.argVal[ref]; ok {
			return v, nil
		}
		a, ok := s.args[ref]
		if !ok {
			return nil, fmt.Errorf("signature %q: function %q has no argument %q", c.sig, s.fnName(), ref)
		}
		v, err := c.resolve(a.s, a.ref)
		if err != nil {
			return nil, err
		}
		s.argVal[ref] = v
		return v, nil
	case 3:
		n, ok := s.nodes[parts[0]]
		if !ok {
			return nil, fmt.Errorf("signature %q: function %q has no node %q", c.sig, s.fnName(), parts[0])
		}
		idx, err := strconv.Atoi(parts[2])
		if err != nil || idx < 0 {
			return nil, fmt.Errorf("signature %q: bad tensor name %q in function %q", c.sig, ref, s.fnName())
		}
		return c.output(s, n, outputIndex(n.GetOp(), parts[1], idx))
	}
	return nil, fmt.Errorf("signature %q: bad tensor name %q in function %q", c.sig, ref, s.fnName())
}

// multiOutputArgs lists, for translated ops with several output
// arguments, their names in order (each one tensor). Inside a function a
// tensor is "node:arg:i"; for every other op translated here all outputs
// are one list argument and i is the output's index.
var multiOutputArgs = map[string][]string{
	"FusedBatchNorm":   {"y", "batch_mean", "batch_variance", "reserve_space_1", "reserve_space_2"},
	"FusedBatchNormV2": {"y", "batch_mean", "batch_variance", "reserve_space_1", "reserve_space_2"},
	"FusedBatchNormV3": {"y", "batch_mean", "batch_variance", "reserve_space_1", "reserve_space_2", "reserve_space_3"},
}

func outputIndex(op, arg string, i int) int {
	for j, a := range multiOutputArgs[op] {
		if a == arg {
			return j + i
		}
	}
	return i
}

func isCall(op string) bool { return op == "PartitionedCall" || op == "StatefulPartitionedCall" }

// output returns output idx of node n.
func (c *converter) output(s *scope, n *tfpb.NodeDef, idx int) (*value, error) {
	if isCall(n.GetOp()) {
		child, err := c.callScope(s, n)
		if err != nil {
			return nil, err
		}
		outs := child.fn.GetSignature().GetOutputArg()
		if idx >= len(outs) {
			return nil, fmt.Errorf("signature %q: node %q has no output %d", c.sig, s.nodePath(n.GetName()), idx)
		}
		ret, ok := child.fn.GetRet()[outs[idx].GetName()]
		if !ok {
			return nil, fmt.Errorf("signature %q: function %q does not define its output %q", c.sig, child.fnName(), outs[idx].GetName())
		}
		return c.resolve(child, ret)
	}
	outs, err := c.node(s, n)
	if err != nil {
		return nil, err
	}
	if idx >= len(outs) {
		return nil, fmt.Errorf("signature %q: node %q (%s) has no output %d", c.sig, s.nodePath(n.GetName()), n.GetOp(), idx)
	}
	return outs[idx], nil
}

// dataInputs splits off control inputs ("^node"), which are dropped once
// checked not to change state.
func (c *converter) dataInputs(s *scope, n *tfpb.NodeDef) ([]string, error) {
	var data []string
	for _, in := range n.GetInput() {
		if ctl, ok := strings.CutPrefix(in, "^"); ok {
			if err := c.checkControl(s, ctl, map[string]bool{}); err != nil {
				return nil, err
			}
			continue
		}
		data = append(data, in)
	}
	return data, nil
}

// mutates reports ops that change variables: a signature whose result
// depends on one (an increment, a training step) is stateful, and a pure
// ONNX graph would silently drop the change.
func mutates(op string) bool {
	for _, p := range []string{"Assign", "ResourceApply", "Apply", "ResourceSparseApply", "SparseApply", "Scatter", "ResourceScatter"} {
		if strings.HasPrefix(op, p) {
			return true
		}
	}
	return false
}

const statefulReason = "it changes a variable, and stateful signatures are not supported"

// checkControl checks a control dependency: a state change, directly or
// through a grouping NoOp or a called function's control outputs, makes
// the signature stateful.
//
// A node found harmless is remembered (s.ctlOK), so chains of control
// dependencies are walked once, not once per node that waits on them; a
// harmful one ends the conversion.
func (c *converter) checkControl(s *scope, name string, seen map[string]bool) error {
	if seen[name] || s.ctlOK[name] {
		return nil
	}
	seen[name] = true
	n, ok := s.nodes[name]
	if !ok {
		return nil
	}
	switch {
	case mutates(n.GetOp()):
		return &UnsupportedError{Signature: c.sig, Op: n.GetOp(), Node: s.nodePath(name), Function: s.fnName(),
			Reason: statefulReason}
	case isCall(n.GetOp()):
		if _, err := c.callScope(s, n); err != nil {
			return err
		}
	case n.GetOp() == "NoOp" || n.GetOp() == "Identity":
		for _, in := range n.GetInput() {
			if ctl, ok := strings.CutPrefix(in, "^"); ok {
				if err := c.checkControl(s, ctl, seen); err != nil {
					return err
				}
			}
		}
	}
	s.ctlOK[name] = true
	return nil
}

// callScope inlines the function a call node runs (once per call node).
func (c *converter) callScope(s *scope, n *tfpb.NodeDef) (*scope, error) {
	if child, ok := s.calls[n.GetName()]; ok {
		return child, nil
	}
	path := s.nodePath(n.GetName())
	fname := n.GetAttr()["f"].GetFunc().GetName()
	fn, ok := c.lib[fname]
	if !ok {
		return nil, fmt.Errorf("signature %q: node %q calls function %q, which the graph's library does not have", c.sig, path, fname)
	}
	if s.depth >= maxCallDepth {
		return nil, fmt.Errorf("signature %q: function calls nest deeper than %d at node %q", c.sig, maxCallDepth, path)
	}
	if c.calls++; c.calls > maxCalls {
		return nil, fmt.Errorf("signature %q: more than %d function calls to inline (at node %q)", c.sig, maxCalls, path)
	}
	ins, err := c.dataInputs(s, n)
	if err != nil {
		return nil, err
	}
	args := fn.GetSignature().GetInputArg()
	if len(ins) != len(args) {
		return nil, fmt.Errorf("signature %q: node %q passes %d inputs to function %q, which takes %d", c.sig, path, len(ins), fname, len(args))
	}
	child := newScope(s, path, fn, fn.GetNodeDef())
	for i, a := range args {
		child.args[a.GetName()] = argRef{s: s, ref: ins[i]}
	}
	s.calls[n.GetName()] = child
	// The function's control outputs run with every call: a state change
	// among them makes the call stateful.
	ctl := make([]string, 0, len(fn.GetControlRet()))
	for _, v := range fn.GetControlRet() {
		ctl = append(ctl, v)
	}
	sort.Strings(ctl)
	for _, name := range ctl {
		if err := c.checkControl(child, name, map[string]bool{}); err != nil {
			return nil, err
		}
	}
	return child, nil
}

// node translates n (once) and returns its outputs.
func (c *converter) node(s *scope, n *tfpb.NodeDef) ([]*value, error) {
	name := n.GetName()
	if outs, ok := s.memo[name]; ok {
		return outs, nil
	}
	if s.active[name] {
		return nil, fmt.Errorf("signature %q: the graph has a cycle through node %q (loops are not supported)", c.sig, s.nodePath(name))
	}
	tr, ok := translators[n.GetOp()]
	if !ok {
		reason := ""
		if mutates(n.GetOp()) {
			reason = statefulReason
		}
		return nil, c.unsupported(s, n, reason)
	}
	s.active[name] = true
	defer delete(s.active, name)
	refs, err := c.dataInputs(s, n)
	if err != nil {
		return nil, err
	}
	ins := make([]*value, len(refs))
	for i, r := range refs {
		if ins[i], err = c.resolve(s, r); err != nil {
			return nil, err
		}
	}
	t := &translation{c: c, s: s, n: n, in: ins}
	outs, err := tr(t)
	if err != nil {
		var ue *UnsupportedError
		if errors.As(err, &ue) {
			return nil, err
		}
		return nil, fmt.Errorf("signature %q: node %q (%s): %w", c.sig, s.nodePath(name), n.GetOp(), err)
	}
	s.memo[name] = outs
	return outs, nil
}

func (c *converter) unsupported(s *scope, n *tfpb.NodeDef, reason string) error {
	return &UnsupportedError{Signature: c.sig, Op: n.GetOp(), Node: s.nodePath(n.GetName()), Function: s.fnName(), Reason: reason}
}

// variable returns the initializer holding a variable's value, and the
// value's shape.
func (c *converter) variable(node *tfpb.NodeDef) (string, []int64, error) {
	if c.vars == nil {
		return "", nil, fmt.Errorf("variable %q: the SavedModel has no variables", node.GetName())
	}
	if name, ok := c.varInit[node]; ok {
		return name, c.varDims[node], nil
	}
	t, err := c.vars.Variable(node)
	if err != nil {
		return "", nil, fmt.Errorf("variable %q: %w", node.GetName(), err)
	}
	name := c.fresh(node.GetName())
	init, err := toONNX(name, t)
	if err != nil {
		return "", nil, fmt.Errorf("variable %q: %w", node.GetName(), err)
	}
	c.inits = append(c.inits, init)
	c.varInit[node] = name
	c.varDims[node] = append([]int64{}, t.Shape...)
	return name, c.varDims[node], nil
}

// constValue decodes a Const node's value (once per proto), within the
// conversion's budget for compact constants.
func (c *converter) constValue(tp *tfpb.TensorProto) (*Tensor, error) {
	if k, ok := c.consts[tp]; ok {
		return k, nil
	}
	k, err := fromTF(tp, &c.fill)
	if err != nil {
		return nil, err
	}
	c.consts[tp] = k
	return k, nil
}

// constant adds an initializer.
func (c *converter) constant(base string, t *Tensor) (string, error) {
	name := c.fresh(base)
	init, err := toONNX(name, t)
	if err != nil {
		return "", err
	}
	c.inits = append(c.inits, init)
	return name, nil
}
