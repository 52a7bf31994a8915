"""Prints the parameters it got, typed, and reads the data file.

Extra `-P key=value` parameters arrive as `--key value` and are printed too.
"""
import argparse
import json
import os

parser = argparse.ArgumentParser()
parser.add_argument("--alpha", type=float, required=True)
parser.add_argument("--l1-ratio", type=float, required=True)
parser.add_argument("--epochs", type=int, required=True)
parser.add_argument("--data", required=True)
parser.add_argument("--label", required=True)
args, extra = parser.parse_known_args()

with open(args.data) as f:
    rows = sum(1 for _ in f) - 1
print(json.dumps({
    "alpha": args.alpha, "l1_ratio": args.l1_ratio, "epochs": args.epochs,
    "data": args.data, "rows": rows, "label": args.label, "extra": extra,
    "run_id": os.environ.get("MLFLOW_RUN_ID"), "cwd": os.getcwd(),
}, sort_keys=True), flush=True)
