// Package server is mlship's tracking server: MLflow's tracking REST API
// 2.0 (experiments, runs, params, metrics, tags, dataset inputs, logged
// models, artifact listing) over a tracking.Store, MLflow's artifact proxy
// (/api/2.0/mlflow-artifacts/...) over an artifacts.Repository, /health,
// /version, Prometheus metrics, optional HTTP basic auth from an htpasswd
// file, and a hook for the web UI. Paths, field names, JSON rendering,
// validation messages and error statuses are MLflow's, so MLflow's clients
// work against it unchanged (MLFLOW_COMPAT.md §7).
//
// echo stays inside this package: New returns a Server whose Handler is a
// plain http.Handler.
package server
