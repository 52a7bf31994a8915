#!/usr/bin/env bash
# Puts DuckDB's Node.js API into mlship's cache, where the tests find it
# (internal/testenv.NewDuckDB): an independent Parquet, CSV and JSON reader
# that checks what `mlship predict` writes.
#   ${MLSHIP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mlship}/duckdb-node/1.5.6-r.1/node_modules/@duckdb/node-api
#
# The npm package @duckdb/node-api ships DuckDB's native library (through
# @duckdb/node-bindings-<platform>), so nothing is compiled. Needs node and
# npm. Idempotent and offline-friendly (scripts/npm-cache.sh).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/npm-cache.sh"

VERSION=1.5.6-r.1 # internal/testenv.DuckDBVersion

# DuckDB loads and answers a query.
npm_cache_install provision-duckdb duckdb-node @duckdb/node-api "$VERSION" "duckdb node-api" '
  const { DuckDBInstance } = require("@duckdb/node-api");
  DuckDBInstance.create(":memory:")
    .then((db) => db.connect())
    .then((c) => c.runAndReadAll("SELECT 42 AS x"))
    .then((r) => process.exit(r.getRowsJson()[0][0] === 42 ? 0 : 1))
    .catch(() => process.exit(1));
' "is this platform supported?"
