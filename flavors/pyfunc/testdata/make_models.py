#!/usr/bin/env python3
"""Builds the python_function test models in flavors/pyfunc/testdata/models/
and their reference answers in flavors/pyfunc/testdata/expected/<name>.json.

Run from anywhere with Debian's interpreter and packages (python3-sklearn,
python3-pandas, python3-cloudpickle, python3-yaml):

    /usr/bin/python3 flavors/pyfunc/testdata/make_models.py

The output is deterministic: running it again rewrites byte-identical files
(fixed seeds, fixed model_uuid / utc_time_created, and see "Reproducible
pickles" below).

Models (each directory is a complete model as MLflow 2.17 saves it; MLflow is
not packaged for Debian, so the steps of its save functions are replayed here
with the libraries MLflow uses underneath, see save_sklearn / save_python_model
/ save_loader_module):

  sklearn_proba           mlflow.sklearn.save_model(rf, pyfunc_predict_fn="predict_proba",
                          input_example=<ndarray>): TensorSpec float64 [-1, 4] in,
                          float64 [-1, 3] out.
  sklearn_pipeline_mixed  Pipeline(ColumnTransformer(StandardScaler on a double column,
                          passthrough of a long column, OneHotEncoder(handle_unknown=
                          "ignore") on a string column), LogisticRegression) with string
                          labels; ColSpec signature {x: double, n: long, color: string}.
  sklearn_pickle_legacy   the layout of MLflow <= 1.0: `data: model.pkl` in
                          python_function (no model_path, no predict_fn), `env` as a
                          string, sklearn flavor without serialization_format (the
                          pickle is plain pickle.dump), no signature, no model_uuid.
  pyfunc_custom           mlflow.pyfunc.save_model(python_model=LookupModel(),
                          artifacts={"lookup": ..., "stopwords": ...}) with a ParamSchema
                          (scale: double = 1.0, prefix: string = ""); load_context reads
                          both artifacts; predict returns a DataFrame.
  pyfunc_raises           predict raises ValueError("bad input: ...") for negative x.
  pyfunc_slow             predict sleeps params["sleep_seconds"] + max(optional column
                          "sleep") seconds.
  pyfunc_outputs          predict returns, by params["kind"], an ndarray, a 2-D array, a
                          float32 array, a DataFrame, Series, dict of arrays, list of
                          dicts, numpy scalar, string, NaNs, bytes, datetimes.
  corrupt_pickle          an mlflow.sklearn model whose model.pkl was truncated after saving.
  code_loader             mlflow.pyfunc.save_model(loader_module="custom_loader",
                          data_path="weights.json", code_paths=["custom_loader.py"]):
                          python_function has loader_module: custom_loader, code: code,
                          data: data/weights.json.

The stub `mlflow` package. A custom model's python_model.pkl is
cloudpickle.dump(python_model): cloudpickle pickles classes defined in
__main__ (as the models below are) by value, and their base class by
reference, as the module.attribute pair mlflow.pyfunc.model.PythonModel.
MLflow is not installed here, so while pickling, and again when the pickles
are loaded to compute the expected answers, a minimal stand-in package is
written to a temporary directory on sys.path (STUB_FILES below):

    mlflow/__init__.py          __version__ only
    mlflow/pyfunc/__init__.py   re-exports PythonModel, PythonModelContext
    mlflow/pyfunc/model.py      class PythonModel (load_context, predict,
                                predict_stream), class PythonModelContext
                                (artifacts, model_config)

PythonModel's __module__ is "mlflow.pyfunc.model", exactly as in real MLflow,
so the pickles are the ones real MLflow writes for the same classes, and load
under real MLflow too. Whatever loads them (mlship's Python worker, or real
MLflow) must make mlflow.pyfunc.model.PythonModel importable; the stub itself
is not kept.

Expected answers. After building, this script runs mlflow_reference.py in a
fresh interpreter (the stub on PYTHONPATH, nothing from this script in memory):
it loads every model from disk the way mlflow.pyfunc.load_model does, sends
each request case below through a re-implementation of MLflow 2.17's scoring
server path (request parsing and casting, schema and params enforcement,
predictions_to_json with NumpyEncoder) and records status, exact response body
and what the model received. Predictions also computed here on the in-memory
objects must agree with it.

Reproducible pickles. cloudpickle stores, for a class pickled by value, a
random class-tracker id (uuid4), the defining file name in every code object
and the module's __file__. Before pickling, the classes get tracker ids derived
from their names, and code objects and __file__ get the repository-relative
path of this script, so the bytes do not depend on the run or the checkout.
"""
import atexit
import importlib.metadata
import json
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import time
import types
import uuid

import cloudpickle
import numpy as np
import pandas as pd
import sklearn
import yaml
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.tree import DecisionTreeClassifier

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = os.path.join(HERE, "models")
EXPECTED = os.path.join(HERE, "expected")
REL_SCRIPT = "flavors/pyfunc/testdata/make_models.py"

MLFLOW_VERSION = "2.17.2"
UTC_TIME_CREATED = "2024-11-26 00:00:00.000000"
PYTHON_VERSION = "%d.%d.%d" % sys.version_info[:3]

# --- the stub mlflow package --------------------------------------------------

STUB_FILES = {
    "mlflow/__init__.py": '''\
"""Minimal stand-in for MLflow, written by flavors/pyfunc/testdata/make_models.py
so that custom PythonModel classes can be pickled (and loaded) without MLflow.
Not MLflow."""
__version__ = "%s"
''' % MLFLOW_VERSION,
    "mlflow/pyfunc/__init__.py": '''\
from mlflow.pyfunc.model import PythonModel, PythonModelContext  # noqa: F401
''',
    "mlflow/pyfunc/model.py": '''\
"""The two classes of mlflow.pyfunc.model (MLflow 2.x) that pickled custom
models and their loader need, with the same module path and names."""


class PythonModelContext:
    def __init__(self, artifacts, model_config=None):
        self._artifacts = artifacts
        self._model_config = model_config

    @property
    def artifacts(self):
        return self._artifacts

    @property
    def model_config(self):
        return self._model_config


class PythonModel:
    def load_context(self, context):
        pass

    def predict(self, context, model_input, params=None):
        raise NotImplementedError()

    def predict_stream(self, context, model_input, params=None):
        raise NotImplementedError()
''',
}


def write_stub(root):
    for rel, text in STUB_FILES.items():
        p = os.path.join(root, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write(text)


STUB_DIR = tempfile.mkdtemp(prefix="mlship-mlflow-stub-")
atexit.register(shutil.rmtree, STUB_DIR, True)
write_stub(STUB_DIR)
sys.path.insert(0, STUB_DIR)
from mlflow.pyfunc.model import PythonModel  # noqa: E402  (the stub)

# --- custom models (defined in __main__, so cloudpickle pickles them by value) --


class LookupModel(PythonModel):
    """pyfunc_custom: a word lookup table and a stop-word list as artifacts."""

    def load_context(self, context):
        with open(context.artifacts["lookup"]) as f:
            self.lookup = json.load(f)
        with open(context.artifacts["stopwords"]) as f:
            self.stopwords = set(line.strip() for line in f if line.strip())

    def predict(self, context, model_input, params=None):
        params = params or {}
        scale = float(params.get("scale", 1.0))
        prefix = params.get("prefix", "")
        ids, labels, scores = [], [], []
        for word, x in zip(model_input["word"], model_input["x"]):
            entry = self.lookup.get(word)
            if entry is None or word in self.stopwords:
                ids.append(-1)
                labels.append(prefix + "<unk>")
                scores.append(0.0)
            else:
                ids.append(entry["id"])
                labels.append(prefix + word)
                scores.append(entry["weight"] * x * scale)
        return pd.DataFrame({"id": np.array(ids, dtype=np.int64), "label": labels,
                             "score": np.array(scores, dtype=np.float64)})


class RaisingModel(PythonModel):
    """pyfunc_raises: ValueError for negative inputs, square roots otherwise."""

    def predict(self, context, model_input, params=None):
        x = model_input["x"].to_numpy()
        bad = np.flatnonzero(x < 0)
        if len(bad):
            raise ValueError("bad input: x must be >= 0, got %r at row %d" % (float(x[bad[0]]), int(bad[0])))
        return np.sqrt(x)


class SlowModel(PythonModel):
    """pyfunc_slow: sleeps params["sleep_seconds"] + max(column "sleep")."""

    def predict(self, context, model_input, params=None):
        delay = float((params or {}).get("sleep_seconds") or 0.0)
        if "sleep" in model_input.columns:
            delay += float(model_input["sleep"].max())
        if delay > 0:
            time.sleep(delay)
        return model_input["x"].to_numpy()


class OutputsModel(PythonModel):
    """pyfunc_outputs: one output type per params["kind"]."""

    def predict(self, context, model_input, params=None):
        kind = (params or {}).get("kind") or "ndarray"
        x = model_input["x"].to_numpy(dtype=np.float64)
        names = model_input["name"].tolist()
        if kind == "ndarray":
            return x * 2
        if kind == "ndarray_2d":
            return np.column_stack([x, x ** 2])
        if kind == "ndarray_int":
            return np.arange(len(x), dtype=np.int64) * 10
        if kind == "float32":
            return (x / 3).astype(np.float32)
        if kind == "dataframe":
            return pd.DataFrame({"name": names, "x": x, "double": x * 2,
                                 "n": np.arange(len(x), dtype=np.int64), "positive": x > 0})
        if kind == "series":
            return pd.Series(x * 10, name="tenfold")
        if kind == "series_unnamed":
            return pd.Series(x + 1)
        if kind == "dict":
            return {"sum": np.float64(x.sum()), "count": np.int64(len(x)), "values": x,
                    "names": np.array(names)}
        if kind == "list_of_dicts":
            return [{"name": n, "x": v, "rank": np.int64(i)} for i, (n, v) in enumerate(zip(names, x))]
        if kind == "scalar":
            return np.int64(len(x))
        if kind == "string":
            return "rows=%d first=%s" % (len(x), names[0])
        if kind == "nan":
            return np.where(np.arange(len(x)) % 2 == 0, np.nan, x)
        if kind == "bytes":
            return [n.encode("utf-8") for n in names]
        if kind == "datetime_frame":
            t = pd.Timestamp("2024-01-01") + pd.to_timedelta(np.arange(len(x)), unit="h")
            return pd.DataFrame({"name": names, "t": t})
        if kind == "datetime_ndarray":
            return np.array(["2024-01-01T00:00:00"] * len(x), dtype="datetime64[ns]")
        raise ValueError("unknown kind %r" % kind)


CUSTOM_CLASSES = [LookupModel, RaisingModel, SlowModel, OutputsModel]

# --- helpers replaying MLflow 2.17's save path -----------------------------------


def model_uuid(name):
    return uuid.uuid5(uuid.NAMESPACE_URL, "mlship:flavors/pyfunc/testdata/models/" + name).hex


def package_version(name):
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def colspec(t, name, required=True):
    return {"type": t, "name": name, "required": required}


def tensorspec(dtype, shape, name=None):
    d = {"type": "tensor"}
    if name is not None:
        d["name"] = name
    d["tensor-spec"] = {"dtype": dtype, "shape": list(shape)}
    return d


def paramspec(name, t, default):
    return {"name": name, "type": t, "default": default, "shape": None}


def signature(inputs, outputs=None, params=None):
    """ModelSignature.to_dict: each part a json.dumps string or None."""
    return {"inputs": json.dumps(inputs) if inputs else None,
            "outputs": json.dumps(outputs) if outputs else None,
            "params": json.dumps(params) if params else None}


def save_example(path, example):
    """mlflow.models.utils._Example(...).save(path); returns the info dict."""
    info = {"artifact_path": "input_example.json"}
    params = None
    if isinstance(example, tuple):
        example, params = example
        info["params"] = "true"
    if isinstance(example, pd.DataFrame):
        data = example.where(example.notnull(), None).to_dict(orient="split")
        del data["index"]
        if all(example.columns == range(len(example.columns))):
            del data["columns"]
        serving = {"dataframe_split": data}
        info.update({"type": "dataframe", "pandas_orient": "split" if "columns" in data else "values"})
    elif isinstance(example, np.ndarray):
        data = np.where(np.isnan(example), None, example).tolist()
        serving = {"inputs": data}
        info["type"] = "ndarray"
    else:
        raise TypeError(type(example))
    if params is not None:
        data = {"inputs": data, "params": params}
        serving["params"] = params
    with open(os.path.join(path, "input_example.json"), "w") as f:
        f.write(json.dumps(data))
    with open(os.path.join(path, "serving_input_example.json"), "w") as f:
        f.write(json.dumps(serving, indent=2))
    info["serving_input_path"] = "serving_input_example.json"
    return info


def total_file_size(path):
    return sum(os.path.getsize(os.path.join(d, n)) for d, _, files in os.walk(path) for n in files)


def write_mlmodel(path, mlmodel):
    """Model.save: yaml.safe_dump(Model.to_dict(), default_flow_style=False)."""
    with open(os.path.join(path, "MLmodel"), "w") as f:
        yaml.safe_dump(mlmodel, stream=f, default_flow_style=False)


def write_env_files(path, default_reqs):
    """What the flavors write when requirement inference falls back to their
    defaults: requirements sorted, mlflow pinned first (_process_pip_requirements),
    conda.yaml (_mlflow_conda_env), python_env.yaml (_PythonEnv.current)."""
    reqs = ["mlflow==" + MLFLOW_VERSION] + sorted(set(default_reqs))
    pip = package_version("pip")
    conda_env = {"name": "mlflow-env", "channels": ["conda-forge"],
                 "dependencies": ["python=" + PYTHON_VERSION, "pip<=" + pip if pip else "pip", {"pip": reqs}]}
    with open(os.path.join(path, "conda.yaml"), "w") as f:
        yaml.safe_dump(conda_env, stream=f, default_flow_style=False)
    with open(os.path.join(path, "requirements.txt"), "w") as f:
        f.write("\n".join(reqs))
    build = []
    for p in ("pip", "setuptools", "wheel"):
        v = package_version(p)
        build.append(p + "==" + v if v else p)
    with open(os.path.join(path, "python_env.yaml"), "w") as f:
        yaml.safe_dump({"python": PYTHON_VERSION, "build_dependencies": build,
                        "dependencies": ["-r requirements.txt"]}, f, sort_keys=False, default_flow_style=False)


def fresh_dir(name):
    path = os.path.join(MODELS, name)
    if os.path.isdir(path):
        shutil.rmtree(path)
    os.makedirs(path)
    return path


def base_mlmodel(name, flavors, sig=None, example_info=None):
    m = {"flavors": flavors, "mlflow_version": MLFLOW_VERSION, "model_uuid": model_uuid(name),
         "utc_time_created": UTC_TIME_CREATED}
    if sig is not None:
        m["signature"] = sig
    if example_info is not None:
        m["saved_input_example_info"] = example_info
    return m


def save_sklearn(name, sk_model, sig, example, predict_fn="predict"):
    """mlflow.sklearn.save_model(sk_model, path, signature=sig, input_example=example,
    pyfunc_predict_fn=predict_fn) with serialization_format="cloudpickle"."""
    path = fresh_dir(name)
    info = save_example(path, example)
    with open(os.path.join(path, "model.pkl"), "wb") as f:
        cloudpickle.dump(sk_model, f)
    flavors = {
        "python_function": {"model_path": "model.pkl", "predict_fn": predict_fn, "loader_module": "mlflow.sklearn",
                            "python_version": PYTHON_VERSION,
                            "env": {"conda": "conda.yaml", "virtualenv": "python_env.yaml"}},
        "sklearn": {"pickled_model": "model.pkl", "sklearn_version": sklearn.__version__,
                    "serialization_format": "cloudpickle", "code": None},
    }
    m = base_mlmodel(name, flavors, sig, info)
    m["model_size_bytes"] = total_file_size(path)
    write_mlmodel(path, m)
    write_env_files(path, ["scikit-learn==" + sklearn.__version__, "cloudpickle==" + cloudpickle.__version__])
    return path


def _relocate_code(code):
    consts = tuple(_relocate_code(c) if isinstance(c, types.CodeType) else c for c in code.co_consts)
    return code.replace(co_filename=REL_SCRIPT, co_consts=consts)


def make_pickles_reproducible():
    sys.modules["__main__"].__file__ = REL_SCRIPT
    by_class = cloudpickle.cloudpickle._DYNAMIC_CLASS_TRACKER_BY_CLASS
    by_id = cloudpickle.cloudpickle._DYNAMIC_CLASS_TRACKER_BY_ID
    for cls in CUSTOM_CLASSES:
        tid = uuid.uuid5(uuid.NAMESPACE_URL, "mlship:" + REL_SCRIPT + ":" + cls.__qualname__).hex
        by_class[cls] = tid
        by_id[tid] = cls
        for attr in vars(cls).values():
            if isinstance(attr, types.FunctionType):
                attr.__code__ = _relocate_code(attr.__code__)


def save_python_model(name, python_model, sig, example, artifacts=None):
    """mlflow.pyfunc.save_model(path, python_model=..., artifacts=..., signature=...,
    input_example=...) -> _save_model_with_class_artifacts_params."""
    path = fresh_dir(name)
    info = save_example(path, example)
    with open(os.path.join(path, "python_model.pkl"), "wb") as f:
        cloudpickle.dump(python_model, f)
    conf = {"cloudpickle_version": cloudpickle.__version__, "python_model": "python_model.pkl"}
    if artifacts:
        os.makedirs(os.path.join(path, "artifacts"))
        saved = {}
        for art_name, (uri, content) in artifacts.items():
            rel = "artifacts/" + os.path.basename(uri)
            with open(os.path.join(path, rel), "w") as f:
                f.write(content)
            saved[art_name] = {"path": rel, "uri": uri}
        conf["artifacts"] = saved
    conf.update({"loader_module": "mlflow.pyfunc.model", "code": None, "python_version": PYTHON_VERSION,
                 "env": {"conda": "conda.yaml", "virtualenv": "python_env.yaml"},
                 "streamable": type(python_model).predict_stream is not PythonModel.predict_stream})
    m = base_mlmodel(name, {"python_function": conf}, sig, info)
    m["model_size_bytes"] = total_file_size(path)
    write_mlmodel(path, m)
    write_env_files(path, ["cloudpickle==" + cloudpickle.__version__])
    return path


# --- data -------------------------------------------------------------------------

CUSTOM_LOADER_PY = '''\
"""Loader module for flavors/pyfunc/testdata/models/code_loader (MLflow's
`loader_module` contract: _load_pyfunc(data_path) returns an object with
predict). A linear model whose weights are read from the model's data file."""
import json

import numpy as np


class LinearModel:
    def __init__(self, features, coef, intercept):
        self.features = features
        self.coef = np.asarray(coef, dtype=np.float64)
        self.intercept = float(intercept)

    def predict(self, model_input, params=None):
        x = model_input[self.features].to_numpy(dtype=np.float64)
        return x @ self.coef + self.intercept


def _load_pyfunc(data_path):
    with open(data_path) as f:
        w = json.load(f)
    return LinearModel(w["features"], w["coef"], w["intercept"])
'''

LOOKUP = {"apple": {"id": 1, "weight": 0.5}, "banana": {"id": 2, "weight": 1.5},
          "cherry": {"id": 3, "weight": -2.0}, "the": {"id": 4, "weight": 9.0}}
STOPWORDS = "the\na\nan\n"


def pipeline_data():
    rng = np.random.default_rng(7)
    n = 240
    x = rng.normal(0.0, 1.0, n).round(3)
    cnt = rng.integers(0, 10, n).astype(np.int64)
    color = rng.choice(["red", "green", "blue"], n)
    score = 1.5 * x + 0.3 * (cnt - 5) + np.where(color == "red", 1.0, np.where(color == "blue", -1.0, 0.0))
    score += rng.normal(0.0, 0.5, n)
    y = np.where(score > 0, "yes", "no")
    return pd.DataFrame({"x": x, "n": cnt, "color": color.astype(object)}), y


def split(df):
    d = df.to_dict(orient="split")
    del d["index"]
    return d


def build():
    os.makedirs(MODELS, exist_ok=True)
    make_pickles_reproducible()
    specs = {}
    iris = load_iris()
    X, y = iris.data, iris.target
    ex_rows = X[[0, 50, 100]]

    # sklearn_proba ---------------------------------------------------------------
    rf = RandomForestClassifier(n_estimators=8, max_depth=3, random_state=0).fit(X, y)
    proba = rf.predict_proba(X)
    save_sklearn("sklearn_proba", rf,
                 signature([tensorspec("float64", (-1, 4))], [tensorspec(str(proba.dtype), (-1, 3))]),
                 ex_rows, predict_fn="predict_proba")
    more = X[[10, 60, 110, 149]]
    specs["sklearn_proba"] = {"about": {"predict_fn": "predict_proba", "output": "ndarray float64 [N, 3]"}, "cases": [
        {"name": "input_example", "request": {"inputs": ex_rows.tolist()},
         "predictions": rf.predict_proba(ex_rows).tolist()},
        {"name": "dataframe_split_no_columns", "request": {"dataframe_split": {"data": more.tolist()}},
         "note": "unnamed TensorSpec [-1, 4]: a 4-column frame is passed as one float64 array",
         "predictions": rf.predict_proba(more).tolist()},
        {"name": "wrong_shape", "request": {"inputs": [[1.0, 2.0, 3.0]]}, "expect_status": 400,
         "error": {"error_code": "INVALID_PARAMETER_VALUE",
                   "message_contains": "Shape of input (1, 3) does not match expected shape (-1, 4)."}},
    ]}

    # sklearn_pipeline_mixed ------------------------------------------------------
    df, labels = pipeline_data()
    pipe = Pipeline([
        ("prep", ColumnTransformer([
            ("num", StandardScaler(), ["x"]),
            ("cnt", "passthrough", ["n"]),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["color"]),
        ])),
        ("clf", LogisticRegression(max_iter=1000, random_state=0)),
    ]).fit(df, labels)
    out = pipe.predict(df)
    ex = pd.DataFrame({"x": [0.5, -1.25, 2.0], "n": np.array([3, 7, 0], dtype=np.int64),
                       "color": ["red", "blue", "green"]})
    sig = signature([colspec("double", "x"), colspec("long", "n"), colspec("string", "color")],
                    [tensorspec(out.dtype.name if out.dtype.char != "U" else "str", (-1,))])
    save_sklearn("sklearn_pipeline_mixed", pipe, sig, ex)
    unseen = pd.DataFrame({"x": [0.1, -0.1], "n": np.array([5, 5], dtype=np.int64), "color": ["purple", "red"]})
    ints = pd.DataFrame({"x": [1.0, -2.0], "n": np.array([4, 1], dtype=np.int64), "color": ["green", "green"]})
    specs["sklearn_pipeline_mixed"] = {"about": {"output": "ndarray of str labels 'no' / 'yes'"}, "cases": [
        {"name": "input_example", "request": {"dataframe_split": split(ex)}, "predictions": pipe.predict(ex).tolist()},
        {"name": "unseen_category", "request": {"dataframe_split": split(unseen)},
         "note": "OneHotEncoder(handle_unknown='ignore'): an unseen color encodes as all zeros",
         "predictions": pipe.predict(unseen).tolist()},
        {"name": "ints_for_double_reordered_extra_column",
         "request": {"dataframe_split": {"columns": ["extra", "color", "n", "x"],
                                         "data": [["?", "green", 4, 1], ["?", "green", 1, -2]]}},
         "note": "JSON integers in a double column are cast to float64 while parsing; the extra column is "
                 "dropped and the columns reordered to the signature's order",
         "predictions": pipe.predict(ints).tolist()},
        {"name": "dataframe_records", "request": {"dataframe_records": ex.to_dict(orient="records")},
         "predictions": pipe.predict(ex).tolist()},
        {"name": "inputs_columnar", "request": {"inputs": {c: ex[c].tolist() for c in ex.columns}},
         "predictions": pipe.predict(ex).tolist()},
        {"name": "instances_rows", "request": {"instances": ex.to_dict(orient="records")},
         "predictions": pipe.predict(ex).tolist()},
        {"name": "missing_column", "request": {"dataframe_split": {"columns": ["x", "n"], "data": [[1.0, 2]]}},
         "expect_status": 400,
         "error": {"error_code": "INVALID_PARAMETER_VALUE", "message_contains": "Model is missing inputs ['color']."}},
        {"name": "string_in_double_column", "request": {"dataframe_split": {"columns": ["x", "n", "color"],
                                                                             "data": [["abc", 1, "red"]]}},
         "expect_status": 400,
         "error": {"error_code": "BAD_REQUEST",
                   "message_contains": "Failed to convert column x to type 'float64'"}},
    ]}

    # sklearn_pickle_legacy -------------------------------------------------------
    tree = DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, y)
    path = fresh_dir("sklearn_pickle_legacy")
    with open(os.path.join(path, "model.pkl"), "wb") as f:
        pickle.dump(tree, f)  # mlflow.sklearn <= 1.0: pickle.dump(sk_model, out)
    write_mlmodel(path, {
        "artifact_path": "model",
        "flavors": {
            "python_function": {"data": "model.pkl", "env": "conda.yaml", "loader_module": "mlflow.sklearn",
                                "python_version": PYTHON_VERSION},
            "sklearn": {"pickled_model": "model.pkl", "sklearn_version": sklearn.__version__},
        },
        "run_id": uuid.uuid5(uuid.NAMESPACE_URL, "mlship:run:sklearn_pickle_legacy").hex,
        "utc_time_created": "2019-06-05 12:00:00.000000",
    })
    with open(os.path.join(path, "conda.yaml"), "w") as f:
        yaml.safe_dump({"name": "mlflow-env", "channels": ["defaults"],
                        "dependencies": ["python=" + PYTHON_VERSION, "scikit-learn=" + sklearn.__version__,
                                         {"pip": ["mlflow"]}]}, stream=f, default_flow_style=False)
    specs["sklearn_pickle_legacy"] = {"about": {"layout": "MLflow <= 1.0: python_function.data, plain pickle, "
                                                          "no signature"}, "cases": [
        {"name": "dataframe_split_no_columns", "request": {"dataframe_split": {"data": ex_rows.tolist()}},
         "predictions": tree.predict(ex_rows).tolist()},
        {"name": "inputs_ndarray", "request": {"inputs": X[[5, 55, 105, 140]].tolist()},
         "note": "no signature: the list becomes a numpy array and goes to predict as is",
         "predictions": tree.predict(X[[5, 55, 105, 140]]).tolist()},
    ]}

    # corrupt_pickle ----------------------------------------------------------------
    lr = LogisticRegression(max_iter=1000, random_state=0).fit(X, y)
    cols = ["a", "b", "c", "d"]
    path = save_sklearn("corrupt_pickle", lr,
                        signature([colspec("double", c) for c in cols], [tensorspec("int64", (-1,))]),
                        pd.DataFrame(ex_rows, columns=cols))
    pkl = os.path.join(path, "model.pkl")
    with open(pkl, "rb") as f:
        good = f.read()
    with open(pkl, "wb") as f:
        f.write(good[: len(good) // 2])  # cut in the middle after saving (MLmodel still has the full size)
    specs["corrupt_pickle"] = {"about": {"note": "model.pkl is the first half of a valid cloudpickle"},
                               "load_must_fail": True, "cases": []}

    # code_loader -------------------------------------------------------------------
    path = fresh_dir("code_loader")
    ex = pd.DataFrame({"a": [1.0, 2.0, -0.5], "b": [0.0, 4.0, 2.0]})
    info = save_example(path, ex)
    os.makedirs(os.path.join(path, "data"))
    weights = {"features": ["a", "b"], "coef": [0.5, -1.25], "intercept": 2.0}
    with open(os.path.join(path, "data", "weights.json"), "w") as f:
        json.dump(weights, f)
    os.makedirs(os.path.join(path, "code"))
    with open(os.path.join(path, "code", "custom_loader.py"), "w") as f:
        f.write(CUSTOM_LOADER_PY)
    m = base_mlmodel("code_loader", {"python_function": {
        "loader_module": "custom_loader", "python_version": PYTHON_VERSION, "code": "code",
        "data": "data/weights.json", "env": {"conda": "conda.yaml", "virtualenv": "python_env.yaml"}}},
        signature([colspec("double", "a"), colspec("double", "b")], [tensorspec("float64", (-1,))]), info)
    m["model_size_bytes"] = total_file_size(path)
    write_mlmodel(path, m)
    write_env_files(path, ["cloudpickle==" + cloudpickle.__version__])
    lin = ex.to_numpy() @ np.array(weights["coef"]) + weights["intercept"]
    specs["code_loader"] = {"about": {"loader_module": "custom_loader (code/custom_loader.py)"}, "cases": [
        {"name": "input_example", "request": {"dataframe_split": split(ex)}, "predictions": lin.tolist()},
    ]}

    # pyfunc_custom -----------------------------------------------------------------
    ex = pd.DataFrame({"word": ["apple", "banana", "the", "durian"], "x": [2.0, 1.0, 3.0, 4.0]})
    params = [paramspec("scale", "double", 1.0), paramspec("prefix", "string", "")]
    sig = signature([colspec("string", "word"), colspec("double", "x")],
                    [colspec("long", "id"), colspec("string", "label"), colspec("double", "score")], params)
    lookup_text = json.dumps(LOOKUP, indent=2, sort_keys=True) + "\n"
    save_python_model("pyfunc_custom", LookupModel(), sig, (ex, {"scale": 2.0, "prefix": "w:"}),
                      artifacts={"lookup": ("lookup.json", lookup_text), "stopwords": ("stopwords.txt", STOPWORDS)})
    ref = LookupModel()
    ref.lookup, ref.stopwords = LOOKUP, {"the", "a", "an"}

    def custom(frame, p):
        return ref.predict(None, frame, dict({"scale": 1.0, "prefix": ""}, **p)).to_dict(orient="records")

    specs["pyfunc_custom"] = {"about": {"python_model": "LookupModel", "artifacts": ["lookup", "stopwords"]},
                              "report_pickle_imports": ["python_model.pkl"], "cases": [
        {"name": "serving_input_example_with_params",
         "request": {"dataframe_split": split(ex), "params": {"scale": 2.0, "prefix": "w:"}},
         "predictions": custom(ex, {"scale": 2.0, "prefix": "w:"})},
        {"name": "default_params", "request": {"dataframe_split": split(ex)},
         "note": "params absent: the model receives the ParamSchema defaults",
         "predictions": custom(ex, {})},
        {"name": "int_for_double_param", "request": {"dataframe_split": split(ex.iloc[:2]), "params": {"scale": 3}},
         "predictions": custom(ex.iloc[:2], {"scale": 3.0})},
        {"name": "unknown_param_ignored", "request": {"dataframe_split": split(ex.iloc[:1]),
                                                      "params": {"prefix": "p-", "nope": 1}},
         "predictions": custom(ex.iloc[:1], {"prefix": "p-"})},
        {"name": "bad_param_type", "request": {"dataframe_split": split(ex.iloc[:1]), "params": {"scale": "big"}},
         "expect_status": 400, "error": {"error_code": "INVALID_PARAMETER_VALUE",
                                         "message_contains": "Invalid parameters found"}},
    ]}

    # pyfunc_raises -----------------------------------------------------------------
    ex = pd.DataFrame({"x": [1.0, 4.0, 9.0]})
    save_python_model("pyfunc_raises", RaisingModel(),
                      signature([colspec("double", "x")], [tensorspec("float64", (-1,))]), ex)
    specs["pyfunc_raises"] = {"about": {"python_model": "RaisingModel"},
                              "report_pickle_imports": ["python_model.pkl"], "cases": [
        {"name": "ok", "request": {"dataframe_split": split(ex)}, "predictions": [1.0, 2.0, 3.0]},
        {"name": "raises", "request": {"dataframe_split": {"columns": ["x"], "data": [[1.0], [-4.0]]}},
         "expect_status": 400,
         "error": {"error_code": "BAD_REQUEST",
                   "message_contains": "Encountered an unexpected error while evaluating the model.",
                   "stack_trace_contains": "ValueError: bad input: x must be >= 0, got -4.0 at row 1"}},
    ]}

    # pyfunc_slow -------------------------------------------------------------------
    ex = pd.DataFrame({"x": [1.0, 2.0], "sleep": [0.0, 0.0]})
    save_python_model("pyfunc_slow", SlowModel(),
                      signature([colspec("double", "x"), colspec("double", "sleep", required=False)],
                                [tensorspec("float64", (-1,))], [paramspec("sleep_seconds", "double", 0.0)]), ex)
    specs["pyfunc_slow"] = {"about": {"python_model": "SlowModel",
                                      "sleeps": "params.sleep_seconds + max(column 'sleep', optional)"},
                            "report_pickle_imports": ["python_model.pkl"], "cases": [
        {"name": "no_sleep_optional_column_absent", "request": {"dataframe_split": {"columns": ["x"],
                                                                                    "data": [[1.0], [2.5]]}},
         "predictions": [1.0, 2.5], "min_seconds": 0.0},
        {"name": "sleep_by_param", "request": {"dataframe_split": {"columns": ["x"], "data": [[3.0]]},
                                               "params": {"sleep_seconds": 0.3}},
         "predictions": [3.0], "min_seconds": 0.3},
        {"name": "sleep_by_column", "request": {"dataframe_split": {"columns": ["x", "sleep"],
                                                                    "data": [[1.0, 0.1], [2.0, 0.25]]}},
         "predictions": [1.0, 2.0], "min_seconds": 0.25},
    ]}

    # pyfunc_outputs ----------------------------------------------------------------
    ex = pd.DataFrame({"x": [1.5, -2.0, 3.25], "name": ["alice", "bob", "carol"]})
    save_python_model("pyfunc_outputs", OutputsModel(),
                      signature([colspec("double", "x"), colspec("string", "name")], None,
                                [paramspec("kind", "string", "ndarray")]), ex)
    kinds = ["ndarray", "ndarray_2d", "ndarray_int", "float32", "dataframe", "series", "series_unnamed", "dict",
             "list_of_dicts", "scalar", "string", "nan", "bytes", "datetime_frame", "datetime_ndarray"]
    cases = [{"name": "default_kind", "request": {"dataframe_split": split(ex)}}]
    for k in kinds:
        cases.append({"name": k, "request": {"dataframe_split": split(ex), "params": {"kind": k}}})
    cases.append({"name": "unknown_kind", "request": {"dataframe_split": split(ex), "params": {"kind": "nope"}},
                  "expect_status": 400,
                  "error": {"error_code": "BAD_REQUEST", "stack_trace_contains": "ValueError: unknown kind 'nope'"}})
    specs["pyfunc_outputs"] = {"about": {"python_model": "OutputsModel",
                                         "response": "MLflow 2.17 predictions_to_json: _get_jsonable_obj(records) "
                                                     "+ json.dump(cls=NumpyEncoder); 'response' is the exact body"},
                               "report_pickle_imports": ["python_model.pkl"], "cases": cases}
    return specs


def main():
    specs = build()
    if os.path.isdir(EXPECTED):
        shutil.rmtree(EXPECTED)
    os.makedirs(EXPECTED)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(specs, f)
        cases_file = f.name
    try:
        env = dict(os.environ, PYTHONPATH=STUB_DIR, PYTHONDONTWRITEBYTECODE="1")
        subprocess.run([sys.executable, os.path.join(HERE, "mlflow_reference.py"), cases_file, MODELS, EXPECTED],
                       env=env, check=True, cwd=tempfile.gettempdir())
    finally:
        os.unlink(cases_file)
    print("wrote", MODELS, "and", EXPECTED)


if __name__ == "__main__":
    main()
