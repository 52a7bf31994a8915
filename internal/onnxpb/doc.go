// Package onnxpb holds the Go types of the ONNX protocol buffers
// (ModelProto, GraphProto, NodeProto, TensorProto, ...), generated from
// onnx-ml.proto (ONNX 1.12, Debian's python3-onnx) by scripts/gen-proto.sh.
// Nothing here is written by hand except this file.
package onnxpb
