// Package tf2onnx translates the part of a TensorFlow graph that a
// SavedModel signature reaches into an ONNX model (opset 17).
//
// Starting from the signature's output tensors it walks back through the
// inputs it needs, and only those: the signature's inputs stop the walk,
// PartitionedCall and StatefulPartitionedCall nodes are inlined (their
// function's arguments bound to the call's inputs, its outputs taken from
// the function's ret map, tensors inside named "node:out_arg:index"),
// captured resource variables and TF1 VariableV2 nodes become initializers
// whose values come from a VariableSource, and control dependencies are
// dropped once checked not to change a variable. Each reached op is
// translated to ONNX nodes (ops.go); any other op is an *UnsupportedError
// naming the op, the node's path, its function and the signature.
//
// The graph inputs and outputs are named by the signature's keys. A scalar
// signature input is declared without a rank, as TensorFlow does not hold
// a placeholder to its declared shape.
package tf2onnx
