// Package dockerfile writes a Docker build context that serves an MLflow
// model with `mlship serve` — the counterpart of MLflow's
// `mlflow models generate-dockerfile` — and builds such a context with a
// Docker Engine.
//
// Generate copies the model to model_dir/<name>, the mlship binary and, for
// ONNX models, the ONNX Runtime library into a directory, and writes a
// Dockerfile for it:
//
//   - python_function models get MLflow's base image rule (python:<the
//     model's Python>-slim) with the model's requirements pip-installed into
//     the image's interpreter before the model is copied, so a model-only
//     change rebuilds only the last layers;
//   - ONNX models get a small image on debian:12-slim with no Python at all.
//
// Both run as a non-root user (numeric, so Kubernetes can verify
// runAsNonRoot), expose 8080 and have mlship as entrypoint with
// `serve /opt/ml/model --host 0.0.0.0 --port 8080` as command. The context
// is deterministic: files in sorted order, fixed modes (0644, 0755 for
// directories and executables) and fixed modification times, so the same
// inputs give the same build context byte for byte.
//
// Build sends a context directory to a Docker Engine (/build, the legacy
// builder) over its HTTP API and returns the image ID. No Docker CLI is
// needed; the package reads no environment: callers pass the engine's
// address.
package dockerfile
