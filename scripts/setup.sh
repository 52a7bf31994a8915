#!/usr/bin/env bash
# Provisions what mlship needs on a Debian machine with Go installed.
#   scripts/setup.sh run    # the ONNX Runtime library (for `make run`)
#   scripts/setup.sh test   # plus Debian packages the test suite uses and
#                           # DuckDB (npm) for reading outputs back
# Safe to run repeatedly: it only installs what is missing.
set -euo pipefail
mode="${1:-run}"
here="$(cd "$(dirname "$0")" && pwd)"

if ! command -v go >/dev/null 2>&1; then
  echo "setup: Go is required (https://go.dev/doc/install); mlship needs Go 1.26 or newer" >&2
  exit 1
fi

# Debian packages, by mode. libonnx-testdata: the ONNX operator test suite
# the onnx flavor is checked against. python3 + numpy/onnx: regenerate test
# models (not needed to run the tests themselves).
apt_pkgs=()
if [[ "$mode" == "test" ]]; then
  apt_pkgs+=(libonnx-testdata)
  # python_function models: Debian's interpreter with the scientific stack
  # (PyPI is not needed, and pyarrow is not required by the worker).
  apt_pkgs+=(python3 python3-numpy python3-pandas python3-sklearn python3-cloudpickle python3-joblib)
  # internal/pyenv builds virtualenvs: `python3 -m venv` needs ensurepip.
  apt_pkgs+=(python3-venv)
  # bench/mlflow-baseline: the MLflow 2.x-style scoring server (Flask under
  # gunicorn; it reads MLmodel with PyYAML).
  apt_pkgs+=(python3-flask gunicorn python3-yaml)
  # pack and build-docker: a real OCI registry to push images to and pull
  # them back from (started by the tests on 127.0.0.1 with their own config).
  apt_pkgs+=(docker-registry)
  # tracking: the PostgreSQL store's conformance suite runs against a real
  # server the tests start on 127.0.0.1 (never the packaged cluster), and
  # the web UI is checked in headless Chromium.
  apt_pkgs+=(postgresql chromium)
fi

# Node.js and npm install DuckDB, the independent reader predict's tests
# check outputs with. Checked by command, not package: a NodeSource nodejs
# (which bundles npm) serves as well as Debian's nodejs + npm.
cmd_pkgs=()
if [[ "$mode" == "test" ]]; then
  command -v node >/dev/null 2>&1 || cmd_pkgs+=(nodejs)
  command -v npm >/dev/null 2>&1 || cmd_pkgs+=(npm)
fi

missing=()
for p in "${apt_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
missing+=("${cmd_pkgs[@]}")
if ((${#missing[@]})); then
  sudo=""
  if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo -n"; fi
  fi
  if [[ $(id -u) -eq 0 || -n "$sudo" ]]; then
    echo "setup: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq >/dev/null || true
    $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    # On a systemd machine the package starts its own registry with the
    # packaged config (all interfaces, port 5000): the tests never use it.
    if [[ " ${missing[*]} " == *" docker-registry "* && -d /run/systemd/system ]]; then
      $sudo systemctl disable --now docker-registry.service >/dev/null 2>&1 || true
    fi
  else
    echo "setup: missing Debian packages: ${missing[*]} (install them with apt-get as root); tests that need them will say so" >&2
  fi
fi

"$here/provision-onnxruntime.sh"

if [[ "$mode" == "test" ]]; then
  "$here/provision-duckdb.sh" ||
    echo "setup: DuckDB is not provisioned; the tests that read outputs back with it will say so" >&2
  "$here/provision-playwright.sh" ||
    echo "setup: playwright-core is not provisioned; the tracking UI's click tests will say so" >&2
  "$here/provision-mlflow-npm.sh" ||
    echo "setup: the npm mlflow client is not provisioned; the real-client tracking scenario will say so" >&2
fi
