#!/usr/bin/env bash
# Runs what each Spark task of spark_job.py does, without Spark: a partition
# goes to `mlship predict` as an Arrow IPC stream on stdin and comes back
# scored on stdout. arrowcat plays Spark's part (JSON lines <-> Arrow).
#
#   bash examples/spark-pipe/run-local.sh        # from the repository root
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$root"
go build -o "$work/mlship" ./cmd/mlship
go build -o "$work/arrowcat" ./examples/spark-pipe/arrowcat

# Two "partitions" of iris-shaped rows.
for p in 0 1; do
  awk -v p="$p" 'BEGIN { srand(42 + p); for (i = 0; i < 5000; i++)
    printf "{\"id\": %d, \"input\": [%.1f, %.1f, %.1f, %.1f]}\n", p * 5000 + i, 4 + 4 * rand(), 2 + 2.5 * rand(), 1 + 6 * rand(), 0.1 + 2.4 * rand() }' \
    > "$work/part-$p.jsonl"
done

for p in 0 1; do
  "$work/arrowcat" encode -batch 1000 < "$work/part-$p.jsonl" |
    "$work/mlship" predict -m examples/iris-onnx/model -i - -o - \
      --input-format arrow --output-format arrow --keep-columns id --quiet --parallelism 1 --log-level error |
    "$work/arrowcat" decode > "$work/scored-$p.jsonl" &
done
wait

rows=$(cat "$work"/scored-*.jsonl | wc -l)
echo "scored $rows rows in 2 partitions; first rows:"
head -n 3 "$work/scored-0.jsonl"
test "$rows" -eq 10000
