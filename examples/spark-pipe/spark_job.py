"""Score a Spark DataFrame with `mlship predict` as the per-partition worker.

Each Spark task starts one `mlship predict` process, streams its partition
to it as Arrow IPC (mapInArrow hands us pyarrow RecordBatches) and yields
the scored batches as they come back. The model runs in mlship: for an
ONNX model, at native speed with no Python in the scoring path.

    spark-submit examples/spark-pipe/spark_job.py \
        --model /opt/models/iris --input s3a://bucket/iris/ --output s3a://bucket/scored/

Needs on every executor: the mlship binary on PATH (or --mlship), the model
directory at the same path (ship it with --files/--archives or a shared
mount), and pyarrow (which Spark's Arrow support needs anyway).
"""
import argparse
import subprocess
import threading

import pyarrow as pa
from pyspark.sql import SparkSession

# The scored schema: the kept id, then the iris model's outputs.
OUTPUT_SCHEMA = "id long, probabilities array<float>, label long"


def scorer(mlship, model):
    def score(batches):
        batches = iter(batches)
        first = next(batches, None)
        if first is None:
            return  # an empty partition: nothing to start
        proc = subprocess.Popen(
            [mlship, "predict", "-m", model, "-i", "-", "-o", "-",
             "--input-format", "arrow", "--output-format", "arrow",
             "--keep-columns", "id", "--quiet", "--parallelism", "1"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        errors = []

        # Write in a thread while reading: both pipes are bounded, and
        # mlship writes scored batches while it still reads.
        def feed():
            try:
                with pa.ipc.new_stream(proc.stdin, first.schema) as w:
                    w.write_batch(first)
                    for b in batches:
                        w.write_batch(b)
            except BrokenPipeError:
                pass  # mlship stopped early; its stderr says why
            except Exception as e:  # noqa: BLE001 - re-raised below
                errors.append(e)
            finally:
                proc.stdin.close()

        t = threading.Thread(target=feed, daemon=True)
        t.start()
        try:
            for b in pa.ipc.open_stream(proc.stdout):
                yield b
        finally:
            t.join()
            err = proc.stderr.read().decode(errors="replace")
            if proc.wait() != 0:
                raise RuntimeError(f"mlship predict failed ({proc.returncode}): {err[-2000:]}")
            if errors:
                raise errors[0]
    return score


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--input", required=True, help="Parquet with columns id and input (array<float> of 4)")
    ap.add_argument("--output", required=True)
    ap.add_argument("--mlship", default="mlship")
    args = ap.parse_args()
    spark = SparkSession.builder.appName("mlship-predict").getOrCreate()
    df = spark.read.parquet(args.input).select("id", "input")
    df.mapInArrow(scorer(args.mlship, args.model), OUTPUT_SCHEMA).write.mode("overwrite").parquet(args.output)


if __name__ == "__main__":
    main()
