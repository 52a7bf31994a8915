#!/usr/bin/env python3
"""Builds examples/sklearn-iris/model: a scikit-learn iris classifier saved
exactly as MLflow 2.17's

    mlflow.sklearn.save_model(clf, "model", signature=infer_signature(X, clf.predict(X)),
                              input_example=X.iloc[[0, 50, 100]])

writes it, plus examples/sklearn-iris/expected.json with scikit-learn's own
predict / predict_proba for the example rows (and for all 150 iris rows).

MLflow is not packaged for Debian, so the steps of mlflow.sklearn.save_model
are replayed here with the same libraries MLflow uses underneath:
  * model.pkl: cloudpickle.dump(clf, f) with cloudpickle's default protocol
    (mlflow.sklearn._save_model, serialization_format="cloudpickle");
  * input_example.json: json.dumps of DataFrame.to_dict(orient="split")
    without "index" (mlflow.models.utils._Example), and
    serving_input_example.json: {"dataframe_split": ...} with indent=2;
  * model_size_bytes: total size of the directory's files before MLmodel and
    the environment files are written (mlflow.utils.file_utils.get_total_file_size);
  * MLmodel: yaml.safe_dump(Model.to_dict(), default_flow_style=False), so
    keys are sorted and long signature strings are folded at 80 columns;
    save_model (unlike log_model) writes neither artifact_path nor run_id;
  * conda.yaml / python_env.yaml / requirements.txt: what
    _process_pip_requirements + _PythonEnv.current() write when requirement
    inference falls back to the flavor defaults (mlflow pinned first, then
    sorted cloudpickle and scikit-learn pins); python, pip, setuptools and
    wheel versions are those of the running interpreter, as in MLflow.
model_uuid and utc_time_created are fixed so that the output is
deterministic: running the script again rewrites byte-identical files.

Run with Debian's interpreter and packages (python3-sklearn, python3-pandas,
python3-cloudpickle, python3-yaml):
    /usr/bin/python3 examples/sklearn-iris/make_model.py
"""
import importlib.metadata
import json
import os
import shutil
import sys

import cloudpickle
import numpy as np
import pandas as pd
import sklearn
import yaml
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "model")

MLFLOW_VERSION = "2.17.2"
MODEL_UUID = "8f0c6b7e2d1a4c59a3e5b7d9f1a2c4e6"
UTC_TIME_CREATED = "2024-11-26 00:00:00.000000"
PYTHON_VERSION = "%d.%d.%d" % sys.version_info[:3]


def package_version(name):
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def write_env_files(path, pip_requirements):
    """mlflow.utils.environment: conda.yaml, requirements.txt, python_env.yaml."""
    pip = package_version("pip")
    conda_env = {
        "name": "mlflow-env",
        "channels": ["conda-forge"],
        "dependencies": ["python=" + PYTHON_VERSION, "pip<=" + pip if pip else "pip",
                         {"pip": list(pip_requirements)}],
    }
    with open(os.path.join(path, "conda.yaml"), "w") as f:
        yaml.safe_dump(conda_env, stream=f, default_flow_style=False)
    with open(os.path.join(path, "requirements.txt"), "w") as f:
        f.write("\n".join(pip_requirements))  # no trailing newline, as MLflow writes it
    build = []
    for p in ("pip", "setuptools", "wheel"):
        v = package_version(p)
        build.append(p + "==" + v if v else p)
    python_env = {"python": PYTHON_VERSION, "build_dependencies": build,
                  "dependencies": ["-r requirements.txt"]}
    with open(os.path.join(path, "python_env.yaml"), "w") as f:
        yaml.safe_dump(python_env, f, sort_keys=False, default_flow_style=False)


def total_file_size(path):
    return sum(os.path.getsize(os.path.join(d, n)) for d, _, files in os.walk(path) for n in files)


def dumps_json(o, level=0):
    """Indented JSON that keeps lists of numbers on one line."""
    pad = "  " * level
    if isinstance(o, dict) and o:
        items = ["%s  %s: %s" % (pad, json.dumps(k), dumps_json(v, level + 1)) for k, v in o.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(o, list) and any(isinstance(x, (dict, list)) for x in o):
        return "[\n" + ",\n".join(pad + "  " + dumps_json(x, level + 1) for x in o) + "\n" + pad + "]"
    return json.dumps(o, allow_nan=False)


def main():
    iris = load_iris(as_frame=True)
    X = iris.data  # DataFrame, float64 columns named like "sepal length (cm)"
    y = iris.target.to_numpy()
    clf = LogisticRegression(max_iter=1000, random_state=0).fit(X, y)

    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)

    # 1. input example (mlflow.models.utils._save_example)
    example = X.iloc[[0, 50, 100]].reset_index(drop=True)
    split = example.where(example.notnull(), None).to_dict(orient="split")
    del split["index"]
    with open(os.path.join(OUT, "input_example.json"), "w") as f:
        f.write(json.dumps(split))
    with open(os.path.join(OUT, "serving_input_example.json"), "w") as f:
        f.write(json.dumps({"dataframe_split": split}, indent=2))

    # 2. signature, as mlflow.models.infer_signature(X, clf.predict(X)) gives it
    inputs = [{"type": "double", "name": c, "required": True} for c in X.columns]
    pred = clf.predict(X)
    assert pred.dtype == np.int64
    outputs = [{"type": "tensor", "tensor-spec": {"dtype": str(pred.dtype), "shape": [-1]}}]

    # 3. the pickle (mlflow.sklearn._save_model, serialization_format="cloudpickle")
    with open(os.path.join(OUT, "model.pkl"), "wb") as f:
        cloudpickle.dump(clf, f)

    # 4. MLmodel (Model.to_dict + yaml.safe_dump)
    mlmodel = {
        "flavors": {
            "python_function": {
                "model_path": "model.pkl",
                "predict_fn": "predict",
                "loader_module": "mlflow.sklearn",
                "python_version": PYTHON_VERSION,
                "env": {"conda": "conda.yaml", "virtualenv": "python_env.yaml"},
            },
            "sklearn": {
                "pickled_model": "model.pkl",
                "sklearn_version": sklearn.__version__,
                "serialization_format": "cloudpickle",
                "code": None,
            },
        },
        "mlflow_version": MLFLOW_VERSION,
        "model_size_bytes": total_file_size(OUT),
        "model_uuid": MODEL_UUID,
        "saved_input_example_info": {
            "artifact_path": "input_example.json",
            "type": "dataframe",
            "pandas_orient": "split",
            "serving_input_path": "serving_input_example.json",
        },
        "signature": {"inputs": json.dumps(inputs), "outputs": json.dumps(outputs), "params": None},
        "utc_time_created": UTC_TIME_CREATED,
    }
    with open(os.path.join(OUT, "MLmodel"), "w") as f:
        yaml.safe_dump(mlmodel, stream=f, default_flow_style=False)

    # 5. environment files (fallback requirements of mlflow.sklearn)
    reqs = ["mlflow==" + MLFLOW_VERSION] + sorted(
        ["scikit-learn==" + sklearn.__version__, "cloudpickle==" + cloudpickle.__version__])
    write_env_files(OUT, reqs)

    # Reference answers, computed by scikit-learn on the pickle as written.
    with open(os.path.join(OUT, "model.pkl"), "rb") as f:
        loaded = cloudpickle.load(f)
    ex_pred = loaded.predict(example)
    ex_proba = loaded.predict_proba(example)
    all_pred = loaded.predict(X)
    assert (all_pred == pred).all()
    expected = {
        "about": "scikit-learn %s predictions of examples/sklearn-iris/model/model.pkl "
                 "(LogisticRegression(max_iter=1000, random_state=0) on iris)" % sklearn.__version__,
        "columns": split["columns"],
        "data": split["data"],
        "classes": loaded.classes_.tolist(),
        "target_names": iris.target_names.tolist(),
        "predict": ex_pred.tolist(),
        "predict_proba": ex_proba.tolist(),
        "invocations_request": {"dataframe_split": split},
        "invocations_response": json.dumps({"predictions": ex_pred.tolist()}),
        "all_rows": {
            "data": X.to_numpy().tolist(),
            "predict": all_pred.tolist(),
        },
    }
    with open(os.path.join(HERE, "expected.json"), "w") as f:
        f.write(dumps_json(expected) + "\n")
    print("wrote", OUT, "and", os.path.join(HERE, "expected.json"))


if __name__ == "__main__":
    main()
