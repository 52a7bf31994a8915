#!/usr/bin/env bash
# Throughput and latency of the in-process server under a concurrency sweep,
# with the flavor's raw Predict measured in the same run as the limit: the
# "Production serving" figures of docs/performance.md. One run per model and
# batching setting; each writes bench/results/serving-<model>-batching-<on|off>.md
# and .json and takes about 90 s at the default duration.
#
#   bench/serving.sh                      # iris and mlp, batching auto and off (~6 min)
#   bench/serving.sh mlp off              # one model, one setting
#   bench/serving.sh mlp-wide             # the 256-2048-2048-10 MLP, where the model is the
#                                         # bottleneck (generated into bench/.cache on first use)
#   TAG=lean BENCH_FLAGS='--client lean' bench/serving.sh   # results named ...-<setting>-lean
#   DURATION=5s bench/serving.sh iris     # shorter levels
#   BENCH_FLAGS='--rows 8' bench/serving.sh mlp auto   # any other mlship bench flag
set -euo pipefail
cd "$(dirname "$0")/.."
GO="${GO:-go}"
DURATION="${DURATION:-10s}"
CONCURRENCY="${CONCURRENCY:-1,8,32,64}"

models=("${1:-iris mlp}")
settings=("${2:-auto off}")

scripts/provision-onnxruntime.sh >/dev/null
"$GO" build -trimpath -o bin/mlship ./cmd/mlship
mkdir -p bench/results

for model in ${models[@]}; do
  case "$model" in
    iris) dir=examples/iris-onnx/model ;;
    mlp) dir=examples/mlp-onnx/model ;;
    mlp-wide)
      dir=bench/.cache/mlp-wide/model
      [[ -f "$dir/model.onnx" ]] || /usr/bin/python3 examples/mlp-onnx/make_model.py --hidden 2048 --out bench/.cache/mlp-wide >&2
      ;;
    *) echo "serving.sh: unknown model $model (iris, mlp or mlp-wide)" >&2; exit 2 ;;
  esac
  for batching in ${settings[@]}; do
    name="serving-$model-batching-$batching${TAG:+-$TAG}"
    echo "== $name" >&2
    # shellcheck disable=SC2086
    bin/mlship bench "$dir" --concurrency "$CONCURRENCY" --duration "$DURATION" --batching "$batching" \
      --json-file "bench/results/$name.json" ${BENCH_FLAGS:-} >"bench/results/$name.md"
    cat "bench/results/$name.md"
  done
done
