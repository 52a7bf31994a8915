#!/usr/bin/env python3
"""Writes a compute-bound variant of examples/sklearn-iris/model for the
batch-scoring benchmark: the same MLflow directory (MLmodel, signature,
environment files) with model.pkl replaced by a cloudpickled
RandomForestClassifier(n_estimators=200, random_state=0) fitted on iris.

The example's LogisticRegression costs ~25 ns a row, less than moving a row
to a worker; a forest costs microseconds a row, which is where the model's
own predict, not I/O, sets the pace.

    /usr/bin/python3 bench/sklearn_forest_model.py /tmp/sk-forest
    SK_MODEL=/tmp/sk-forest TAG=forest bench/predict.sh sklearn
"""
import os
import shutil
import sys

import cloudpickle
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier

here = os.path.dirname(os.path.abspath(__file__))
out = sys.argv[1]
shutil.rmtree(out, ignore_errors=True)
shutil.copytree(os.path.join(here, "..", "examples", "sklearn-iris", "model"), out)
X, y = load_iris(return_X_y=True, as_frame=True)
clf = RandomForestClassifier(n_estimators=200, random_state=0).fit(X, y)
with open(os.path.join(out, "model.pkl"), "wb") as f:
    cloudpickle.dump(clf, f)
print(f"wrote {out}")
