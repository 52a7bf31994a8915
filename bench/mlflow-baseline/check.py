#!/usr/bin/env python3
"""Checks the baseline server against the reference answers of the pyfunc
test models: starts run.sh for each model in flavors/pyfunc/testdata/models
that loads, posts every request case of flavors/pyfunc/testdata/expected/<name>.json
and compares status and body (exact body for 200s, error_code and the recorded
message / stack-trace fragments for errors). Also checks examples/sklearn-iris.

    /usr/bin/python3 bench/mlflow-baseline/check.py [PORT]
"""
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TESTDATA = os.path.join(ROOT, "flavors", "pyfunc", "testdata")


def post(port, body):
    req = urllib.request.Request("http://127.0.0.1:%d/invocations" % port, data=body.encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def serve(port, model_dir):
    out = subprocess.run([os.path.join(HERE, "run.sh"), str(port), model_dir, "1"], check=True,
                         capture_output=True, text=True)
    return int(out.stdout.strip())


def stop(pid):
    os.kill(pid, 15)


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 5099
    failures = 0
    runs = []
    for name in sorted(os.listdir(os.path.join(TESTDATA, "models"))):
        with open(os.path.join(TESTDATA, "expected", name + ".json")) as f:
            runs.append((name, os.path.join(TESTDATA, "models", name), json.load(f)))
    with open(os.path.join(ROOT, "examples", "sklearn-iris", "expected.json")) as f:
        iris = json.load(f)
    runs.append(("examples/sklearn-iris", os.path.join(ROOT, "examples", "sklearn-iris", "model"),
                 {"load": {"ok": True}, "cases": [{"name": "example", "request": iris["invocations_request"],
                                                   "status": 200, "response": iris["invocations_response"]}]}))
    for name, model_dir, exp in runs:
        if not exp["load"]["ok"]:
            try:
                pid = serve(port, model_dir)
                stop(pid)
                print("FAIL %s: started although the model must not load" % name)
                failures += 1
            except subprocess.CalledProcessError:
                print("ok   %s: does not start (%s)" % (name, exp["load"]["error"]))
            continue
        pid = serve(port, model_dir)
        try:
            for case in exp["cases"]:
                status, body = post(port, json.dumps(case["request"]))
                ok = status == case["status"]
                if ok and status == 200:
                    ok = body == case["response"]
                elif ok:
                    err = json.loads(body)
                    ok = err["error_code"] == case["error_code"] and \
                        case.get("message_contains", "") in err["message"] and \
                        case.get("stack_trace_contains", "") in err.get("stack_trace", "")
                print("%s %s/%s" % ("ok  " if ok else "FAIL", name, case["name"]))
                if not ok:
                    failures += 1
                    print("     got %d %s" % (status, body[:400]))
        finally:
            stop(pid)
            subprocess.run(["sleep", "1"])
    print("%d failures" % failures)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
