"""The in-Python reference for `mlship predict` on a scikit-learn model.

Loads MODEL/model.pkl as MLflow's sklearn flavor does (cloudpickle), reads
the CSV with pandas, and times the model's own predict on the whole frame:
the limit a batch scorer that calls the same predict cannot beat. Also times
read_csv + predict, and read_csv + predict + writing the predictions with
to_csv, which is the whole job `mlship predict -i X.csv -o Y.csv` does.

    /usr/bin/python3 bench/sklearn_predict.py examples/sklearn-iris/model /tmp/iris.csv

Prints one markdown table row per measurement; bench/predict.sh runs it.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

import pandas as pd

try:
    import cloudpickle as pickler
except ImportError:  # a plain pickle reads most cloudpickle files
    import pickle as pickler


def best_and_median(fn, repeat):
    times = []
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), statistics.median(times), out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model", help="MLflow sklearn model directory (model.pkl)")
    ap.add_argument("csv", help="input CSV with a header row")
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()

    with open(os.path.join(a.model, "model.pkl"), "rb") as f:
        model = pickler.load(f)

    read_best, read_med, df = best_and_median(lambda: pd.read_csv(a.csv), a.repeat)
    rows = len(df)
    pred_best, pred_med, pred = best_and_median(lambda: model.predict(df), a.repeat)

    def write():
        with tempfile.NamedTemporaryFile(suffix=".csv") as tmp:
            pd.DataFrame({"prediction": pred}).to_csv(tmp.name, index=False)

    write_best, write_med, _ = best_and_median(write, a.repeat)

    print(f"rows: {rows}; python {sys.version.split()[0]}, pandas {pd.__version__}, "
          f"scikit-learn {__import__('sklearn').__version__}; "
          f"best (median) of {a.repeat}")
    print()
    print("| measured | seconds | rows/s |")
    print("| --- | ---: | ---: |")
    for name, best, med in (
        ("model.predict(df) on the whole frame", pred_best, pred_med),
        ("pd.read_csv", read_best, read_med),
        ("pd.read_csv + predict", read_best + pred_best, read_med + pred_med),
        ("pd.read_csv + predict + to_csv", read_best + pred_best + write_best, read_med + pred_med + write_med),
    ):
        print(f"| {name} | {best:.3f} ({med:.3f}) | {rows / best:,.0f} |")


if __name__ == "__main__":
    main()
