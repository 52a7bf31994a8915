#!/usr/bin/env bash
# Puts DuckDB's Node.js API into mlship's cache, where the tests find it
# (internal/testenv.NewDuckDB): an independent Parquet, CSV and JSON reader
# that checks what `mlship predict` writes.
#   ${MLSHIP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mlship}/duckdb-node/1.5.6-r.1/node_modules/@duckdb/node-api
#
# The npm package @duckdb/node-api ships DuckDB's native library (through
# @duckdb/node-bindings-<platform>), so nothing is compiled. Needs node and
# npm. Idempotent and offline-friendly: does nothing, and touches no
# network, when a working install is already there.
set -euo pipefail

VERSION=1.5.6-r.1

cache="${MLSHIP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mlship}"
base="$cache/duckdb-node"
dest="$base/$VERSION"

# works DIR: DuckDB loads from DIR and answers a query.
works() {
  [[ -f "$1/.complete" ]] || return 1
  (cd "$1" && node -e '
    const { DuckDBInstance } = require("@duckdb/node-api");
    DuckDBInstance.create(":memory:")
      .then((db) => db.connect())
      .then((c) => c.runAndReadAll("SELECT 42 AS x"))
      .then((r) => process.exit(r.getRowsJson()[0][0] === 42 ? 0 : 1))
      .catch(() => process.exit(1));
  ') >/dev/null 2>&1
}

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "provision-duckdb: node and npm are needed (apt-get install nodejs npm)" >&2
  exit 1
fi

if works "$dest"; then
  echo "duckdb node-api $VERSION: $dest"
  exit 0
fi

mkdir -p "$base"
work="$(mktemp -d "$base/.install-XXXXXX")"
trap 'rm -rf "$work"' EXIT
# --no-save/--no-package-lock: a bare node_modules, no package.json to
# drift; --prefix: never the caller's project.
npm install --prefix "$work" --no-save --no-package-lock --no-audit --no-fund \
  --loglevel=error "@duckdb/node-api@$VERSION" >/dev/null
touch "$work/.complete"
if ! works "$work"; then
  echo "provision-duckdb: @duckdb/node-api@$VERSION installed but does not load (is this platform supported?)" >&2
  exit 1
fi
rm -rf "$dest"
mv "$work" "$dest"
trap - EXIT
echo "duckdb node-api $VERSION: $dest"
