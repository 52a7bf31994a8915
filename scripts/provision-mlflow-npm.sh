#!/usr/bin/env bash
# Puts the npm package `mlflow` (a Node.js client of MLflow's tracking REST
# API) into mlship's cache, where the real-client scenario test finds it
# (internal/cli/tracking_npm_test.go, internal/testenv.MLflowNPM):
#   ${MLSHIP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mlship}/mlflow-npm/2.0.7/node_modules/mlflow
#
# Needs node and npm. Idempotent and offline-friendly: does nothing, and
# touches no network, when a working install is already there.
set -euo pipefail

VERSION=2.0.7

cache="${MLSHIP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mlship}"
base="$cache/mlflow-npm"
dest="$base/$VERSION"

# works DIR: the client loads from DIR and has its four API groups.
works() {
  [[ -f "$1/.complete" ]] || return 1
  (cd "$1" && node -e '
    const MLflow = require("mlflow");
    const c = new MLflow({ endpoint: "http://127.0.0.1:1" });
    process.exit(c.Experiments && c.Runs && c.Metrics && c.Artifacts ? 0 : 1);
  ') >/dev/null 2>&1
}

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "provision-mlflow-npm: node and npm are needed (apt-get install nodejs npm)" >&2
  exit 1
fi

if works "$dest"; then
  echo "mlflow (npm) $VERSION: $dest"
  exit 0
fi

mkdir -p "$base"
work="$(mktemp -d "$base/.install-XXXXXX")"
trap 'rm -rf "$work"' EXIT
# --no-save/--no-package-lock: a bare node_modules; --prefix: never the
# caller's project.
npm install --prefix "$work" --no-save --no-package-lock --no-audit --no-fund \
  --loglevel=error "mlflow@$VERSION" >/dev/null
touch "$work/.complete"
if ! works "$work"; then
  echo "provision-mlflow-npm: mlflow@$VERSION installed but does not load" >&2
  exit 1
fi
rm -rf "$dest"
mv "$work" "$dest"
trap - EXIT
echo "mlflow (npm) $VERSION: $dest"
