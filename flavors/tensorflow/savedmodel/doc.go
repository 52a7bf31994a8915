// Package savedmodel reads TensorFlow SavedModel directories and their
// variables checkpoints in pure Go: no libtensorflow, no Python.
//
// Load reads dir/saved_model.pb (the binary form only; saved_model.pbtxt is
// rejected with an error that says so). SavedModel.MetaGraph picks a
// MetaGraphDef by its tag set ("serve" by default); MetaGraph.Signature gives
// a signature's inputs and outputs with their graph tensor names, dtypes
// and shapes; MetaGraph.Functions gives the function library that TF2
// exports keep their math in.
//
// SavedModel.Variables opens dir/variables/ on first use. The index,
// variables.index, is a LevelDB-format table (blocks possibly
// Snappy-compressed) mapping each tensor key to a BundleEntryProto; the
// data shards variables.data-NNNNN-of-NNNNN hold the raw little-endian
// tensors. Every block checksum is verified when the index is opened and
// every tensor's checksum when Checkpoint.Tensor reads it; a corrupt or
// truncated file is an error naming the file. Lengths and offsets from the
// files are checked against the file sizes before anything is allocated.
//
// # Graph variables and checkpoint keys
//
// A TF1 graph names its variables with VariableV2 (or VarHandleOp) nodes,
// and the checkpoint key is the node name: MetaGraph.VariableKey(ck, "w")
// is "w".
//
// A TF2 export is indirect. The top-level graph holds one VarHandleOp per
// variable and, for each signature, a StatefulPartitionedCall node whose
// function (attr "f") receives the signature's arguments followed by the
// captured variables as extra inputs. The saved object graph
// (MetaGraphDef.object_graph_def) lists, for that concrete function, the
// object ids of those captures (concrete_functions[f].bound_inputs), and
// object id i of the checkpoint's own object graph (the DT_STRING tensor
// _CHECKPOINTABLE_OBJECT_GRAPH, a TrackableObjectGraph) names the key of
// the variable's value in its VARIABLE_VALUE attribute, such as
// "layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE".
//
// Two ways in, for a converter that inlines the call:
//
//   - MetaGraph.CapturedVariables(f, ck) returns the checkpoint keys of f's
//     bound inputs in capture order: the key of the call's input
//     len(args)+i is element i. MetaGraph.Captures does the same but also
//     reports captures that are not variables (constants, assets,
//     resources) instead of failing on them.
//   - MetaGraph.VariableKey(ck, "dense/kernel") resolves one VarHandleOp
//     node (or its shared_name) of the top-level graph the same way, by
//     finding the call that captures it. A variable no signature captures
//     (an optimizer slot, say) is matched by its SavedVariable name when
//     that name is unique.
//
// Not supported, each with an error that says so: partitioned (sliced)
// variables, big-endian bundles, resource/variant/4-bit tensors, and sparse
// or composite signature tensors.
package savedmodel
