"""Fits nothing, logs a metric and an MLflow model through the REST API.

Uses only the standard library (urllib): it is what `mlflow.log_metric` and
`mlflow.pyfunc.log_model` do over HTTP against `mlship server
--serve-artifacts` (or an MLflow server with the artifact proxy). The model
is a python_function model with a loader module: y = slope * x + intercept.
"""
import argparse
import json
import os
import time
import urllib.parse
import urllib.request
import uuid

parser = argparse.ArgumentParser()
parser.add_argument("--slope", type=float, required=True)
parser.add_argument("--intercept", type=float, required=True)
args = parser.parse_args()

URI = os.environ["MLFLOW_TRACKING_URI"].rstrip("/")
RUN_ID = os.environ["MLFLOW_RUN_ID"]


def request(method, path, body=None, content_type="application/json"):
    req = urllib.request.Request(URI + path, data=body, method=method,
                                 headers={"Content-Type": content_type})
    with urllib.request.urlopen(req) as resp:
        data = resp.read()
        return json.loads(data) if data else {}


def call(endpoint, body):
    return request("POST", "/api/2.0/mlflow/" + endpoint, json.dumps(body).encode())


# A metric with a history: the "training" loss goes down.
now = int(time.time() * 1000)
for step, loss in enumerate([1.0, 0.5, 0.25]):
    call("runs/log-metric", {"run_id": RUN_ID, "key": "loss", "value": loss, "timestamp": now + step, "step": step})
call("runs/log-metric", {"run_id": RUN_ID, "key": "accuracy", "value": 0.875, "timestamp": now, "step": 0})

# The model directory, as mlflow.pyfunc.save_model would lay it out.
created = time.strftime("%Y-%m-%d %H:%M:%S.000000", time.gmtime())
model_uuid = uuid.uuid4().hex
flavors = {"python_function": {"loader_module": "linear_model", "code": "code", "data": "weights.json",
                               "env": {"virtualenv": "python_env.yaml"}, "python_version": "3.11.2"}}
signature_inputs = json.dumps([{"type": "double", "name": "x", "required": True}])
signature_outputs = json.dumps([{"type": "double", "required": True}])
files = {
    "MLmodel": "\n".join([
        "artifact_path: model",
        "flavors:",
        "  python_function:",
        "    code: code",
        "    data: weights.json",
        "    env:",
        "      virtualenv: python_env.yaml",
        "    loader_module: linear_model",
        "    python_version: 3.11.2",
        "model_uuid: " + model_uuid,
        "run_id: " + RUN_ID,
        "signature:",
        "  inputs: '" + signature_inputs + "'",
        "  outputs: '" + signature_outputs + "'",
        "utc_time_created: '" + created + "'",
        "",
    ]),
    "python_env.yaml": "python: 3.11.2\nbuild_dependencies:\n- pip\ndependencies:\n- -r requirements.txt\n",
    "requirements.txt": "numpy\npandas\n",
    "weights.json": json.dumps({"slope": args.slope, "intercept": args.intercept}),
    "code/linear_model.py": "\n".join([
        "import json",
        "",
        "",
        "class _Linear:",
        "    def __init__(self, w):",
        "        self.w = w",
        "",
        "    def predict(self, model_input, params=None):",
        "        return model_input['x'] * self.w['slope'] + self.w['intercept']",
        "",
        "",
        "def _load_pyfunc(path):",
        "    with open(path) as f:",
        "        return _Linear(json.load(f))",
        "",
    ]),
}

# Upload through the artifact proxy: the run's artifact URI is
# mlflow-artifacts:/<experiment>/<run>/artifacts.
run = request("GET", "/api/2.0/mlflow/runs/get?run_id=" + RUN_ID)
artifact_uri = run["run"]["info"]["artifact_uri"]
if not artifact_uri.startswith("mlflow-artifacts:"):
    raise SystemExit("the tracking server does not proxy artifacts (artifact URI %s)" % artifact_uri)
root = urllib.parse.urlparse(artifact_uri).path.strip("/")
for name, body in sorted(files.items()):
    path = "/api/2.0/mlflow-artifacts/artifacts/%s/model/%s" % (root, name)
    request("PUT", urllib.parse.quote(path), body.encode(), "application/octet-stream")

model_json = {"artifact_path": "model", "flavors": flavors, "run_id": RUN_ID,
              "utc_time_created": created, "model_uuid": model_uuid}
call("runs/log-model", {"run_id": RUN_ID, "model_json": json.dumps(model_json)})
print("logged model runs:/%s/model (slope=%g intercept=%g)" % (RUN_ID, args.slope, args.intercept), flush=True)
