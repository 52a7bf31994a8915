#!/usr/bin/env bash
# Starts the MLflow 2.x-style baseline scoring server (scoring_server.py: Flask
# under gunicorn, sync workers, one model copy per worker) on 127.0.0.1:PORT,
# waits until it answers /ping and every worker has loaded the model, then prints
# the gunicorn master's PID on stdout and returns. Stop it with `kill PID`.
#
#   bench/mlflow-baseline/run.sh PORT MODEL_DIR [WORKERS]     # WORKERS defaults to 1, as in MLflow
#   bench/mlflow-baseline/run.sh 5001 examples/sklearn-iris/model 4
#
# The command line is the one `mlflow models serve` builds in MLflow 1.x-2.20:
#   gunicorn --timeout=<t> -b <host>:<port> -w <n> ${GUNICORN_CMD_ARGS} -- mlflow.pyfunc.scoring_server.wsgi:app
# with the model directory in __pyfunc_model_path__. MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT
# (default 60) sets --timeout; GUNICORN_CMD_ARGS is read by gunicorn itself.
# Server output goes to $MLFLOW_BASELINE_LOG (default /tmp/mlflow-baseline-PORT.log).
# Needs Debian's gunicorn and python3-flask (scripts/setup.sh test installs them).
set -euo pipefail
if [[ $# -lt 2 || $# -gt 3 ]]; then
  echo "usage: $0 PORT MODEL_DIR [WORKERS]" >&2
  exit 2
fi
port="$1"
model="$(cd "$2" && pwd)"
workers="${3:-1}"
here="$(cd "$(dirname "$0")" && pwd)"
python="${PYTHON:-/usr/bin/python3}"
timeout="${MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT:-60}"
log="${MLFLOW_BASELINE_LOG:-/tmp/mlflow-baseline-$port.log}"

if ! "$python" -c 'import flask, gunicorn' 2>/dev/null; then
  echo "mlflow-baseline: needs gunicorn and Flask for $python (apt-get install gunicorn python3-flask)" >&2
  exit 1
fi
if [[ ! -f "$model/MLmodel" ]]; then
  echo "mlflow-baseline: no MLmodel in $model" >&2
  exit 1
fi

# exec keeps the PID: $! is gunicorn's master process.
(cd "$here" && exec env __pyfunc_model_path__="$model" PYTHONDONTWRITEBYTECODE=1 \
  "$python" -m gunicorn --timeout="$timeout" -b "127.0.0.1:$port" -w "$workers" -- scoring_server:app \
  </dev/null >"$log" 2>&1) &
pid=$!

ping() {
  "$python" - "$port" <<'EOF'
import sys, urllib.request
try:
    urllib.request.urlopen("http://127.0.0.1:%s/ping" % sys.argv[1], timeout=1).read()
except Exception:
    sys.exit(1)
EOF
}
for _ in $(seq 1 600); do
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "mlflow-baseline: server exited; see $log" >&2
    tail -n 20 "$log" >&2 || true
    exit 1
  fi
  if ping; then
    # /ping answers as soon as one worker is up; wait for the others to log their model load.
    for _ in $(seq 1 600); do
      if (( $(grep -c '^mlflow-baseline: pid .* loaded' "$log" || true) >= workers )); then break; fi
      sleep 0.1
    done
    echo "$pid"
    exit 0
  fi
  sleep 0.1
done
echo "mlflow-baseline: no answer on 127.0.0.1:$port after 60s; see $log" >&2
kill "$pid" 2>/dev/null || true
exit 1
