#!/usr/bin/env bash
# Prints its two arguments on separate lines: the title keeps its quote.
set -euo pipefail
echo "output=$1"
echo "title=$2"
echo "run=${MLFLOW_RUN_ID} experiment=${MLFLOW_EXPERIMENT_ID}"
