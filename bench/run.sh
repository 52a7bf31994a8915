#!/usr/bin/env bash
# Builds mlship and the latency harness, then measures 1-row JSON requests
# to the ONNX example: `mlship serve` (a subprocess on a free 127.0.0.1
# port) next to a bare net/http handler with the same response and raw ONNX
# Runtime Run calls, all in one run. Writes bench/results/latest.md.
#
#   bench/run.sh                    # concurrency 1, 20000 requests after 2000 warm-up
#   bench/run.sh -c 8 -n 50000      # any bench/latency flag passes through
#   GOBENCH=1 bench/run.sh          # also append the go test -bench lines
#   BENCH_COMMIT=abc1234 bench/run.sh   # label results when not run in a git checkout
set -euo pipefail
cd "$(dirname "$0")/.."
GO="${GO:-go}"

scripts/provision-onnxruntime.sh >/dev/null
"$GO" build -trimpath -o bin/mlship ./cmd/mlship
"$GO" build -trimpath -o bin/latency ./bench/latency

mkdir -p bench/results
out=bench/results/latest.md
tmp="$out.$$.tmp"
trap 'rm -f "$tmp"' EXIT

if [[ -n "${BENCH_COMMIT:-}" ]]; then
  commit="$BENCH_COMMIT"
else
  commit="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  if [[ -n "$(git status --porcelain 2>/dev/null)" ]]; then commit="$commit (with uncommitted changes)"; fi
fi
{
  echo "# mlship latency: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo
  echo "- produced by: \`bench/run.sh${*:+ $*}\` at commit $commit"
  echo
  bin/latency -mlship bin/mlship -model examples/iris-onnx/model "$@"
  if [[ "${GOBENCH:-}" == 1 ]]; then
    echo
    echo "## go test -bench"
    echo
    echo "\`$GO test -run '^\$' -bench . -benchmem ./serve ./serve/scoring ./flavors/onnx\`"
    echo
    echo '```'
    "$GO" test -run '^$' -bench . -benchmem ./serve ./serve/scoring ./flavors/onnx | grep -E '^(Benchmark|goos|goarch|cpu|pkg)'
    echo '```'
  fi
} >"$tmp"
mv "$tmp" "$out"
trap - EXIT
cat "$out"
