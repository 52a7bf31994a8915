// Package mlmodel reads and writes MLflow model directories: the MLmodel
// descriptor, its flavors, the model signature and the saved input example.
//
// It follows what MLflow 1.x–3.x write (see docs/mlflow-compatibility.md):
// every top-level field has a typed home, unknown keys are kept verbatim and
// written back, the python_function `env` may be a string (1.x) or a map,
// and signature schemas keep the `required`/`optional` spelling they were
// read with so that old and new MLflow releases can still read what we write.
//
// mlmodel is a leaf package: it imports only the standard library, a YAML
// library and the stdlib-only internal/pyjson.
package mlmodel
