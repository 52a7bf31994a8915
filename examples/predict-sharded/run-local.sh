#!/usr/bin/env bash
# Runs the shards of job.yaml as local processes and checks that together
# they scored every input row exactly once, and that the union equals a
# single unsharded run.
#
#   bash examples/predict-sharded/run-local.sh [N]     # from the repository root
set -euo pipefail
n=${1:-4}
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$root"
go build -o "$work/mlship" ./cmd/mlship
mkdir -p "$work/in"

# Seven input files of different sizes (JSON lines; whole files are shard
# units, as each Parquet row group is).
id=0
for f in 0 1 2 3 4 5 6; do
  rows=$((500 + 300 * f))
  awk -v start="$id" -v rows="$rows" 'BEGIN { srand(start); for (i = 0; i < rows; i++)
    printf "{\"id\": %d, \"input\": [%.1f, %.1f, %.1f, %.1f]}\n", start + i, 4 + 4 * rand(), 2 + 2.5 * rand(), 1 + 6 * rand(), 0.1 + 2.4 * rand() }' \
    > "$work/in/part-$f.jsonl"
  id=$((id + rows))
done

for ((k = 0; k < n; k++)); do
  "$work/mlship" predict -m examples/iris-onnx/model -i "$work/in" -o "$work/out/" \
    --keep-columns id --shard "$k/$n" --quiet --log-level error &
done
wait
"$work/mlship" predict -m examples/iris-onnx/model -i "$work/in" -o "$work/single/" --keep-columns id --quiet --log-level error

ls "$work/out"
sort "$work"/out/*.jsonl > "$work/sharded.sorted"
sort "$work"/single/*.jsonl > "$work/single.sorted"
total=$(wc -l < "$work/single.sorted")
dups=$(grep -o '"id": [0-9]*' "$work/sharded.sorted" | sort | uniq -d | wc -l)
echo "input rows: $id; scored by $n shards: $(wc -l < "$work/sharded.sorted"); by one run: $total; duplicated ids: $dups"
test "$total" -eq "$id"
test "$dups" -eq 0
cmp -s "$work/sharded.sorted" "$work/single.sorted" && echo "the shards' union equals the single run"
