"""Logs loss = beta * (alpha - 0.3)^2 through the REST API.

`mlship run examples/projects/sweep --sweep -P alpha=0.1,0.3,0.5 -P beta=1,2
--sweep-metric loss` runs six of these. An extra `-P timing_dir=DIR` makes
each run write its start and end times to DIR/<run id> (the tests check the
parallelism with it).
"""
import argparse
import json
import os
import time
import urllib.request

parser = argparse.ArgumentParser()
parser.add_argument("--alpha", type=float, required=True)
parser.add_argument("--beta", type=float, required=True)
parser.add_argument("--sleep", type=float, default=0)
parser.add_argument("--timing_dir")
args = parser.parse_args()
start = time.time()


def call(endpoint, body):
    uri = os.environ["MLFLOW_TRACKING_URI"].rstrip("/")
    req = urllib.request.Request(
        uri + "/api/2.0/mlflow/" + endpoint, data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req) as resp:
        return json.load(resp)


time.sleep(args.sleep)
run_id = os.environ["MLFLOW_RUN_ID"]
loss = args.beta * (args.alpha - 0.3) ** 2
call("runs/log-metric", {"run_id": run_id, "key": "loss", "value": loss,
                         "timestamp": int(time.time() * 1000), "step": 0})
print("alpha=%g beta=%g loss=%g" % (args.alpha, args.beta, loss), flush=True)
if args.timing_dir:
    with open(os.path.join(args.timing_dir, run_id), "w") as f:
        f.write("%f %f\n" % (start, time.time()))
