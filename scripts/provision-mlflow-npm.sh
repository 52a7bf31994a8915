#!/usr/bin/env bash
# Puts the npm package `mlflow` (a Node.js client of MLflow's tracking REST
# API) into mlship's cache, where the real-client scenario test finds it
# (internal/cli/tracking_npm_test.go, internal/testenv.MLflowNPM):
#   ${MLSHIP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mlship}/mlflow-npm/2.0.7/node_modules/mlflow
#
# Needs node and npm. Idempotent and offline-friendly (scripts/npm-cache.sh).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/npm-cache.sh"

VERSION=2.0.7 # internal/testenv.MLflowNPMVersion

# The client loads and has its four API groups.
npm_cache_install provision-mlflow-npm mlflow-npm mlflow "$VERSION" "mlflow (npm)" '
  const MLflow = require("mlflow");
  const c = new MLflow({ endpoint: "http://127.0.0.1:1" });
  process.exit(c.Experiments && c.Runs && c.Metrics && c.Artifacts ? 0 : 1);
'
