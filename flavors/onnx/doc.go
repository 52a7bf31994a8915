// Package onnx serves MLflow models with an `onnx` flavor in-process on ONNX
// Runtime, through github.com/yalue/onnxruntime_go.
//
// The ONNX Runtime shared library is loaded at run time (dlopen), so the
// mlship binary builds and runs without it until an ONNX model is loaded.
// It is looked for, in order: MLSHIP_ONNXRUNTIME_LIB, the system library
// paths (LD_LIBRARY_PATH, ld.so's directories), an installed Python
// onnxruntime package, and mlship's own cache (filled by
// scripts/provision-onnxruntime.sh, which `make run` and `make test` call).
//
// Prediction follows MLflow's ONNX pyfunc semantics (MLFLOW_COMPAT.md §1.4):
// float64 and integer data fed to a tensor(float) input is cast to float32;
// a table feeds a single-input model as one 2-D tensor and a multi-input
// model one column per input name. Tensor inputs whose element type already
// matches are handed to ONNX Runtime without a copy; outputs are copied once,
// out of ONNX Runtime's memory, and wrapped as Arrow arrays without another.
//
// # What onnxruntime_go cannot carry
//
// ONNX Runtime reports a 0-d tensor and a tensor of undeclared shape alike
// (zero dimensions), so the model file's graph inputs and outputs are read
// too (graphio.go) to tell them apart. onnxruntime_go cannot take over a 0-d
// or a float16 tensor that ONNX Runtime allocated, so such outputs are
// allocated beforehand whenever the model fixes their shape. What remains
// out of reach, each with an error saying so: float16 outputs whose shape
// depends on the input, 0-d string and float16 inputs, and sequence, map or
// optional inputs. Sequences of maps (sklearn-onnx's ZipMap) come back as
// Map columns.
//
// The flavor is checked against ONNX's operator test suite
// (onnxtestdata_test.go) and against models with numpy-computed outputs
// built by testdata/make_models.py.
package onnx
