// Package tensorflow serves MLflow models with a `tensorflow` flavor, and
// plain TensorFlow SavedModels, without TensorFlow.
//
// The SavedModel is read in pure Go (flavors/tensorflow/savedmodel); the
// flavor block's saved_model_dir, meta_graph_tags and signature_def_key
// (defaults: ["serve"], "serving_default") pick the graph and signature,
// and model_type keras with save_format tf is read from data/model. The
// part of the graph the signature's outputs reach is converted to ONNX
// (flavors/tensorflow/tf2onnx) and run on ONNX Runtime through the onnx
// flavor's own session code (onnx.LoadFile). The converted model is kept
// under LoadOptions.CacheDir, keyed by a SHA-256 of saved_model.pb, the
// variables and the signature, or in a temporary file removed once
// loaded: nothing is written beside the user's model.
//
// MLSHIP_TF_RUNTIME (--tf-runtime) chooses: auto converts and falls back
// to the TensorFlow C library (flavors/tensorflow/native) for graphs with
// ops the conversion does not translate; onnx only converts; native only
// uses the library. Signatures without inputs that return saved values
// (a getter of a variable) are answered without a session.
//
// The predictor describes its tensors from the signature
// (flavors.SchemaDescriber), which types requests and the Open Inference
// Protocol metadata when MLmodel has no signature. docs/tensorflow.md lists
// the supported ops.
package tensorflow
