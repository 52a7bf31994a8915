// Package tfpb holds the Go types of the TensorFlow protocol buffers that a
// SavedModel and its variables checkpoint are made of (SavedModel,
// MetaGraphDef, GraphDef, FunctionDefLibrary, SavedObjectGraph,
// TrackableObjectGraph, BundleEntryProto, ...), generated from TensorFlow
// 2.15's .proto files by scripts/gen-proto.sh. Nothing here is written by
// hand except this file.
package tfpb
