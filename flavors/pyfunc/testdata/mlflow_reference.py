#!/usr/bin/env python3
"""Reference scorer for the models in flavors/pyfunc/testdata/models.

A re-implementation, from MLflow 2.17's source, of what `mlflow models serve`
(the Flask scoring server) does with a python_function model:

  load:     mlflow.pyfunc.load_model: put the flavor's `code` dir on sys.path,
            call <loader_module>._load_pyfunc(<model dir>/<data> or <model dir>)
            with the embedded equivalents of mlflow.sklearn._load_pyfunc
            (pickle or cloudpickle, `model_path` vs legacy `data`) and
            mlflow.pyfunc.model._load_pyfunc (cloudpickled PythonModel,
            PythonModelContext with absolute artifact paths, load_context);
            any other loader_module is imported for real.
  request:  scoring_server.invocations for application/json bodies:
            dataframe_split / dataframe_records -> pandas DataFrame cast to the
            signature with astype (proto_json_utils.dataframe_from_parsed_json);
            inputs / instances -> numpy arrays (parse_tf_serving_input);
            "params" split off.
  predict:  PyFuncModel.predict: _enforce_schema (named ColSpec and TensorSpec
            schemas), _enforce_params_schema (defaults filled in), then the
            flavor's predict_fn, with params= only if it accepts params.
  response: predictions_to_json: _get_jsonable_obj(pandas_orient="records")
            then json.dump({"predictions": ...}, cls=NumpyEncoder); errors as
            {"error_code": ..., "message": ...[, "stack_trace": ...]}.

It does not import mlship, and it does not need MLflow: PythonModel pickles
reference mlflow.pyfunc.model.PythonModel, which the stub package written by
make_models.py provides (it must be on PYTHONPATH). make_models.py runs it in
a fresh interpreter, so the models are loaded from disk exactly as a server
would load them:

    PYTHONPATH=<stub dir> /usr/bin/python3 mlflow_reference.py CASES.json MODELS_DIR OUT_DIR
"""
import base64
import datetime
import importlib
import inspect
import json
import os
import pickle
import pickletools
import sys
import traceback
from collections import defaultdict
from io import StringIO

import numpy as np
import pandas as pd
import yaml

# --- mlflow.utils.proto_json_utils (2.17) ---------------------------------


class NumpyEncoder(json.JSONEncoder):
    """mlflow.utils.proto_json_utils.NumpyEncoder as of MLflow 2.17 (the
    pydantic.BaseModel branch, model_dump(), is left out: no model here
    returns pydantic objects)."""

    def try_convert(self, o):
        def encode_binary(x):
            return base64.encodebytes(x).decode("ascii")

        if isinstance(o, np.ndarray):
            if o.dtype == object:
                return [self.try_convert(x)[0] for x in o.tolist()], True
            elif o.dtype == np.bytes_:
                return np.vectorize(encode_binary)(o), True
            else:
                return o.tolist(), True

        if isinstance(o, np.generic):
            return o.item(), True
        if isinstance(o, (bytes, bytearray)):
            return encode_binary(o), True
        if isinstance(o, np.datetime64):
            return np.datetime_as_string(o), True
        if isinstance(o, (pd.Timestamp, datetime.date, datetime.datetime, datetime.time)):
            return o.isoformat(), True
        return o, False

    def default(self, o):
        res, converted = self.try_convert(o)
        if converted:
            return res
        return super().default(o)


def _get_jsonable_obj(data, pandas_orient="records"):
    if isinstance(data, np.ndarray):
        return data.tolist()
    if isinstance(data, pd.DataFrame):
        return data.to_dict(orient=pandas_orient)
    if isinstance(data, pd.Series):
        return pd.DataFrame(data).to_dict(orient=pandas_orient)
    return data


def predictions_to_json(raw_predictions, output):
    predictions = _get_jsonable_obj(raw_predictions, pandas_orient="records")
    return json.dump({"predictions": predictions}, output, cls=NumpyEncoder)


class MlflowException(Exception):
    def __init__(self, message, error_code="INTERNAL_ERROR", **kwargs):
        super().__init__(message)
        self.message = message
        self.error_code = error_code
        self.json_kwargs = kwargs

    def serialize_as_json(self):
        d = {"error_code": self.error_code, "message": self.message}
        d.update(self.json_kwargs)
        return json.dumps(d)


HTTP_STATUS = {"BAD_REQUEST": 400, "INVALID_PARAMETER_VALUE": 400, "INTERNAL_ERROR": 500}

# --- mlflow.types (2.17) ----------------------------------------------------

_NUMPY = {"boolean": np.dtype(bool), "integer": np.dtype(np.int32), "long": np.dtype(np.int64),
          "float": np.dtype(np.float32), "double": np.dtype(np.float64), "string": np.dtype(str),
          "binary": np.dtype(bytes), "datetime": np.dtype("datetime64[ns]")}
_PANDAS = dict(_NUMPY, string=np.dtype(object), binary=np.dtype(object))
_PYTHON = {"boolean": bool, "integer": int, "long": int, "float": float, "double": float,
           "string": str, "binary": bytes, "datetime": datetime.datetime}


class Spec:
    def __init__(self, d):
        self.d = d
        self.tensor = d.get("type") == "tensor"
        self.name = d.get("name")
        if self.tensor:
            self.dtype = np.dtype(d["tensor-spec"]["dtype"])
            self.shape = tuple(d["tensor-spec"]["shape"])
        else:
            self.type = d["type"]
            self.required = d.get("required", not d.get("optional", False))


class Schema:
    def __init__(self, specs):
        self.inputs = [Spec(s) for s in specs]

    def is_tensor_spec(self):
        return self.inputs[0].tensor

    def has_input_names(self):
        return self.inputs[0].name is not None

    def input_names(self):
        return [s.name for s in self.inputs]

    def required_input_names(self):
        return [s.name for s in self.inputs if s.tensor or s.required]


def read_signature(mlmodel):
    sig = mlmodel.get("signature") or {}

    def load(key):
        v = sig.get(key)
        return json.loads(v) if v else None

    inputs, params = load("inputs"), load("params")
    return (Schema(inputs) if inputs else None), params


# --- request parsing: scoring_server + proto_json_utils (2.17) --------------

SUPPORTED_FORMATS = {"dataframe_records", "dataframe_split", "instances", "inputs"}


def invalid_input(msg):
    return MlflowException("Invalid input. " + msg, "BAD_REQUEST")


def cast_df_types_according_to_schema(pdf, schema):
    actual_cols = set(pdf.columns)
    if schema.has_input_names():
        dtype_list = [(s.name, s) for s in schema.inputs]
    elif schema.is_tensor_spec() and len(schema.inputs) == 1:
        dtype_list = [(c, schema.inputs[0]) for c in actual_cols]
    else:
        n = min(len(schema.inputs), len(pdf.columns))
        dtype_list = list(zip(pdf.columns[:n], schema.inputs[:n]))
    for col, spec in dtype_list:
        col_type = spec.dtype if spec.tensor else _PANDAS[spec.type]
        if col in actual_cols:
            try:
                if not spec.tensor and spec.type == "binary":
                    pdf[col] = pdf[col].map(lambda x: base64.decodebytes(bytes(x, "utf8")))
                elif col_type == np.dtype(bytes):
                    pdf[col] = pdf[col].map(lambda x: bytes(x, "utf8"))
                elif schema.is_tensor_spec() and isinstance(pdf[col].iloc[0], list):
                    pass
                else:
                    pdf[col] = pdf[col].astype(col_type, copy=False)
            except Exception as ex:
                raise invalid_input("Data is not compatible with model signature. Failed to convert "
                                    "column %s to type '%s'. Error: '%r'" % (col, col_type, ex))
    return pdf


def dataframe_from_parsed_json(decoded, orient, schema):
    if orient == "records":
        if not isinstance(decoded, list):
            raise invalid_input("Dataframe records format must be a list of records. Got dictionary.")
        pdf = pd.DataFrame(data=decoded)
    else:
        if not isinstance(decoded, dict):
            raise invalid_input("Dataframe split format must be a dictionary. Got list.")
        keys = set(decoded.keys())
        if "data" not in keys or keys - {"columns", "data", "index"}:
            raise invalid_input("Dataframe split format must have 'data' field and optionally "
                                "'columns' and 'index' fields. Got %s.'" % keys)
        try:
            pdf = pd.DataFrame(index=decoded.get("index"), columns=decoded.get("columns"),
                               data=decoded["data"])
        except Exception as ex:
            raise invalid_input("Provided dataframe_split field is not a valid dataframe "
                                "representation in 'split' format. Error: '%s'" % ex)
    if schema is not None:
        pdf = cast_df_types_according_to_schema(pdf, schema)
    return pdf


def convert_data_type(data, spec):
    if spec is None:
        return np.array(data)
    if spec.tensor:
        return np.array(data, dtype=spec.dtype)
    t = _NUMPY[spec.type]
    return np.array(data, t) if isinstance(data, (list, np.ndarray)) else np.array([data], t)[0]


def _cast_schema_type(input_data, schema):
    types = {s.name: s for s in schema.inputs} if schema and schema.has_input_names() else {}
    if schema is not None:
        if len(types) == 1 and isinstance(input_data, list) and not any(isinstance(x, dict) for x in input_data):
            input_data = {next(iter(types)): input_data}
        elif not schema.has_input_names() and not (isinstance(input_data, list) or np.isscalar(input_data)):
            raise invalid_input("Failed to parse input data. This model contains an un-named "
                                " model signature which expects a single n-dimensional array or "
                                "a single value as input, however, an input of type %s was found."
                                % type(input_data))
    if isinstance(input_data, dict):
        return {c: convert_data_type(v, types.get(c)) for c, v in input_data.items()}
    if isinstance(input_data, list) and input_data and all(isinstance(x, dict) for x in input_data):
        return [{c: convert_data_type(v, types.get(c)) for c, v in row.items()} for row in input_data]
    return convert_data_type(input_data, schema.inputs[0] if schema else None)


def parse_tf_serving_input(inp, schema):
    if "instances" in inp:
        data = inp["instances"]
        if isinstance(data, list) and data and isinstance(data[0], dict):
            types = {s.name: s for s in schema.inputs} if schema and schema.has_input_names() else {}
            cols = defaultdict(list)
            for item in data:
                for c, v in item.items():
                    cols[c].append(convert_data_type(v, types.get(c)))
            return {c: np.array(v) for c, v in cols.items()}
        return _cast_schema_type(data, schema)
    return _cast_schema_type(inp["inputs"], schema)


def parse_json_request(body, schema):
    """_parse_json_data + _split_data_and_params + infer_and_parse_data."""
    try:
        decoded = json.loads(body)
    except json.JSONDecodeError as ex:
        raise invalid_input("Ensure that input is a valid JSON formatted string. Error: '%r'\nInput: \n%s\n"
                            % (ex, body))
    if not isinstance(decoded, dict):
        raise invalid_input("The input must be a JSON dictionary with exactly one of the input fields "
                            "%s. Received a list." % SUPPORTED_FORMATS)
    data = {k: v for k, v in decoded.items() if k in SUPPORTED_FORMATS}
    params = decoded.pop("params", None)
    if len(data) != 1:
        raise MlflowException("The input must be a JSON dictionary with exactly one of the input fields "
                              "%s. Received dictionary with input fields: %s." % (SUPPORTED_FORMATS, list(data)),
                              "BAD_REQUEST")
    fmt = next(iter(data))
    if fmt in ("instances", "inputs"):
        return parse_tf_serving_input(data, schema), params
    return dataframe_from_parsed_json(data[fmt], fmt[len("dataframe_"):], schema), params


# --- mlflow.models.utils._enforce_schema (2.17, the parts these models use) ---


def _enforce_mlflow_datatype(name, values, t):
    if values.dtype == object and t not in ("binary", "string"):
        values = values.infer_objects()
    if t == "string" and values.dtype == object:
        return values
    if _PANDAS[t] == values.dtype or _NUMPY[t] == values.dtype:
        return values
    numpy_type = _NUMPY[t]
    if values.dtype.kind == numpy_type.kind:
        is_upcast = values.dtype.itemsize <= numpy_type.itemsize
    elif values.dtype.kind == "u" and numpy_type.kind == "i":
        is_upcast = values.dtype.itemsize < numpy_type.itemsize
    elif values.dtype.kind in ("i", "u") and numpy_type == np.float64:
        is_upcast = values.dtype.itemsize <= 6
    else:
        is_upcast = False
    if is_upcast:
        return values.astype(numpy_type, errors="raise")
    if values.dtype == np.int64 and numpy_type in (np.float32, np.float64) and \
            all(pd.isnull(x) or x in [0, 1] for x in values):
        return values.astype(numpy_type, errors="raise")
    raise MlflowException("Incompatible input types for column %s. Can not safely convert %s to %s."
                          % (name, values.dtype, numpy_type))


def _enforce_tensor_spec(values, spec):
    if len(spec.shape) != len(values.shape) or any(e != -1 and e != a for e, a in zip(spec.shape, values.shape)):
        raise MlflowException("Shape of input %s does not match expected shape %s." % (values.shape, spec.shape))
    if values.dtype != spec.dtype:
        raise MlflowException("dtype of input %s does not match expected dtype %s" % (values.dtype, spec.dtype))
    return values


def _enforce_schema(pf_input, schema):
    if isinstance(pf_input, pd.Series):
        pf_input = pd.DataFrame(pf_input)
    if not schema.is_tensor_spec():
        if np.isscalar(pf_input):
            pf_input = pd.DataFrame([pf_input])
        elif isinstance(pf_input, dict):
            if all(np.isscalar(v) or v is None for v in pf_input.values()):
                pf_input = pd.DataFrame([pf_input])
            else:
                pf_input = pd.DataFrame(pf_input)
        elif isinstance(pf_input, (list, np.ndarray)):
            pf_input = pd.DataFrame(pf_input)
    if schema.has_input_names() and not schema.is_tensor_spec():
        required = schema.required_input_names()
        optional = [s.name for s in schema.inputs if not s.required]
        actual = list(pf_input.columns)
        missing = [c for c in required if c not in actual]
        extra = [c for c in actual if c not in required and c not in optional]
        if missing:
            msg = "Model is missing inputs %s." % missing
            if extra:
                msg += " Note that there were extra inputs: %s" % extra
            raise MlflowException(msg)
        out = {}
        for s in schema.inputs:
            if s.name not in pf_input:
                continue
            out[s.name] = _enforce_mlflow_datatype(s.name, pf_input[s.name], s.type)
        return pd.DataFrame(out)
    if schema.is_tensor_spec() and not schema.has_input_names():
        spec = schema.inputs[0]
        if isinstance(pf_input, pd.DataFrame):
            if spec.shape != (-1, len(pf_input.columns)):
                raise MlflowException("This model contains a model signature with an unnamed input. ...")
            return _enforce_tensor_spec(pf_input.to_numpy(), spec)
        if isinstance(pf_input, np.ndarray):
            return _enforce_tensor_spec(pf_input, spec)
        raise MlflowException("This model contains a tensor-based model signature with no input names, "
                              "which suggests a numpy array input ... but an input of type %s was found."
                              % type(pf_input))
    raise NotImplementedError("schema kind not used by these models")


def _enforce_params_schema(params, param_specs):
    if param_specs is None:
        return params if params in (None, {}) else None
    params = {} if params is None else dict(params)
    if not isinstance(params, dict):
        raise MlflowException("Parameters must be a dictionary. Got type '%s'." % type(params).__name__,
                              "INVALID_PARAMETER_VALUE")
    allowed = {p["name"] for p in param_specs}
    invalid = set()
    for p in param_specs:
        name, t = p["name"], p["type"]
        if name not in params:
            params[name] = p["default"]
            continue
        v = params[name]
        if v is None:
            continue
        ok = isinstance(v, _PYTHON[t]) and not (t != "boolean" and isinstance(v, bool))
        if not ok and t in ("float", "double") and isinstance(v, int) and not isinstance(v, bool):
            ok = True
        if not ok and t == "long" and isinstance(v, int) and not isinstance(v, bool):
            ok = True
        if ok:
            params[name] = _PYTHON[t](v)
        else:
            invalid.add((name, "Can not safely convert `%s` to `%s` for value `%s`" % (type(v), t, v)))
    if invalid:
        raise MlflowException("Invalid parameters found: %r" % invalid, "INVALID_PARAMETER_VALUE")
    return {k: v for k, v in params.items() if k in allowed}


# --- loaders (mlflow.pyfunc.load_model and the flavors' _load_pyfunc, 2.17) --


class SklearnModelWrapper:
    """mlflow.sklearn._SklearnModelWrapper."""

    def __init__(self, model):
        self.sklearn_model = model
        for fn in ("predict_proba", "predict_log_proba", "predict_joint_log_proba", "score"):
            f = getattr(model, fn, None)
            if f is not None:
                setattr(self, fn, f)

    def predict(self, data, params=None):
        return self.sklearn_model.predict(data)


def load_sklearn(path):
    if os.path.isfile(path):  # legacy `data: model.pkl`: always plain pickle
        fmt = "pickle"
    else:
        mlmodel = read_mlmodel(path)
        fmt = mlmodel["flavors"].get("sklearn", {}).get("serialization_format", "pickle")
        path = os.path.join(path, mlmodel["flavors"]["python_function"]["model_path"])
    with open(path, "rb") as f:
        if fmt == "cloudpickle":
            import cloudpickle
            return SklearnModelWrapper(cloudpickle.load(f)), "mlflow.sklearn (cloudpickle)"
        return SklearnModelWrapper(pickle.load(f)), "mlflow.sklearn (pickle)"


class PythonModelPyfuncWrapper:
    def __init__(self, python_model, context):
        self.python_model = python_model
        self.context = context

    def predict(self, model_input, params=None):
        if inspect.signature(self.python_model.predict).parameters.get("params"):
            return self.python_model.predict(self.context, model_input, params=params)
        return self.python_model.predict(self.context, model_input)


def load_python_model(path):
    import cloudpickle
    from mlflow.pyfunc.model import PythonModelContext  # the stub (or real MLflow)

    conf = read_mlmodel(path)["flavors"]["python_function"]
    with open(os.path.join(path, conf["python_model"]), "rb") as f:
        python_model = cloudpickle.load(f)
    artifacts = {name: os.path.join(path, info["path"]) for name, info in (conf.get("artifacts") or {}).items()}
    context = PythonModelContext(artifacts=artifacts, model_config=None)
    python_model.load_context(context=context)
    return PythonModelPyfuncWrapper(python_model, context), "mlflow.pyfunc.model (cloudpickle)"


def read_mlmodel(path):
    with open(os.path.join(path, "MLmodel")) as f:
        return yaml.safe_load(f)


class PyFuncModel:
    def __init__(self, path):
        self.mlmodel = read_mlmodel(path)
        conf = self.mlmodel["flavors"]["python_function"]
        if conf.get("code"):
            sys.path.insert(0, os.path.join(path, conf["code"]))
        data_path = os.path.join(path, conf["data"]) if "data" in conf else path
        loader = conf["loader_module"]
        if loader == "mlflow.sklearn":
            self.impl, self.how = load_sklearn(data_path)
        elif loader == "mlflow.pyfunc.model":
            self.impl, self.how = load_python_model(data_path)
        else:
            self.impl = importlib.import_module(loader)._load_pyfunc(data_path)
            self.how = "%s._load_pyfunc" % loader
        self.predict_fn = getattr(self.impl, conf.get("predict_fn", "predict"))
        self.input_schema, self.param_specs = read_signature(self.mlmodel)

    def predict(self, data, params=None):
        if self.input_schema is not None:
            try:
                data = _enforce_schema(data, self.input_schema)
            except MlflowException as e:
                raise MlflowException("Failed to enforce schema of data '%s' with schema '%s'. Error: %s"
                                      % (data, [s.d for s in self.input_schema.inputs], e.message),
                                      "INVALID_PARAMETER_VALUE")
        params = _enforce_params_schema(params, self.param_specs)
        self.last_input, self.last_params = data, params
        if "params" in inspect.signature(self.predict_fn).parameters:
            return self.predict_fn(data, params=params)
        return self.predict_fn(data)


def invocations(model, body):
    """scoring_server.invocations for Content-Type: application/json; returns
    (status, body)."""
    try:
        try:
            data, params = parse_json_request(body, model.input_schema)
        except MlflowException:
            raise
        try:
            raw = model.predict(data, params=params)
        except MlflowException as e:
            e.message = "Failed to predict data '%s'. \nError: %s" % (data, e.message)
            raise
        except Exception:
            raise MlflowException("Encountered an unexpected error while evaluating the model. Verify that "
                                  "the serialized input Dataframe is compatible with the model for inference.",
                                  "BAD_REQUEST", stack_trace=traceback.format_exc())
        out = StringIO()
        predictions_to_json(raw, out)
        return 200, out.getvalue()
    except MlflowException as e:
        return HTTP_STATUS.get(e.error_code, 500), e.serialize_as_json()


# --- driver -----------------------------------------------------------------


def describe_input(x):
    if isinstance(x, pd.DataFrame):
        return {"type": "pandas.DataFrame", "rows": len(x),
                "dtypes": {str(c): str(t) for c, t in x.dtypes.items()}}
    if isinstance(x, np.ndarray):
        return {"type": "numpy.ndarray", "dtype": str(x.dtype), "shape": list(x.shape)}
    return {"type": type(x).__name__}


def pickle_imports(path):
    """What unpickling a file imports: the module.name pairs of its GLOBAL /
    STACK_GLOBAL opcodes, and the modules cloudpickle re-imports by name
    (the argument of cloudpickle's subimport, for module globals of functions
    pickled by value)."""
    globals_, subimports, strings, memo = set(), set(), [], {}
    last, pending = None, False
    with open(path, "rb") as f:
        data = f.read()
    for op, arg, _ in pickletools.genops(data):
        name = op.name
        if name in ("SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE"):
            strings.append(arg)
            last = arg
            if pending:
                subimports.add(arg)
                pending = False
        elif name == "MEMOIZE":
            memo[len(memo)] = last
        elif name in ("BINPUT", "LONG_BINPUT", "PUT"):
            memo[arg] = last
        elif name in ("BINGET", "LONG_BINGET", "GET"):
            last = memo.get(arg)
            if isinstance(last, str):
                strings.append(last)
                if pending:
                    subimports.add(last)
                pending = False
            else:
                pending = isinstance(last, tuple) and last[1].endswith(".subimport")
        elif name in ("GLOBAL", "STACK_GLOBAL"):
            g = arg.replace(" ", ".") if name == "GLOBAL" else "%s.%s" % (strings[-2], strings[-1])
            globals_.add(g)
            last = ("global", g)
            pending = g.endswith(".subimport")
        else:
            last, pending = None, False
    return {"globals": sorted(globals_), "subimport": sorted(subimports)}


def run_model(path, spec):
    result = {"model": os.path.basename(path)}
    result.update(spec.get("about", {}))
    try:
        model = PyFuncModel(path)
        result["load"] = {"ok": True, "loaded_with": model.how}
    except Exception as e:
        result["load"] = {"ok": False, "error": "%s: %s" % (type(e).__name__, e)}
        if spec.get("load_must_fail"):
            return result
        raise
    if spec.get("load_must_fail"):
        raise SystemExit("%s: loaded although it must not" % path)
    cases = []
    for case in spec["cases"]:
        body = json.dumps(case["request"])
        model.last_input = model.last_params = None
        status, response = invocations(model, body)
        c = {"name": case["name"]}
        if case.get("note"):
            c["note"] = case["note"]
        c["request"] = case["request"]
        c["status"] = status
        if status == 200:
            c["model_input"] = describe_input(model.last_input)
            c["params"] = model.last_params
            c["response"] = response
            try:
                c["predictions"] = json.loads(response, parse_constant=_reject)["predictions"]
            except ValueError:
                c["strict_json"] = False  # NaN / Infinity: Python's json.dump default
            if "predictions" in case and c.get("predictions") != case["predictions"]:
                raise SystemExit("%s/%s: predictions %r, the script expects %r"
                                 % (result["model"], case["name"], c.get("predictions"), case["predictions"]))
        else:
            err = json.loads(response)
            c["error_code"] = err["error_code"]
            want = case.get("error", {})
            for key in ("message_contains", "stack_trace_contains"):
                if key in want:
                    field = err.get("message" if key == "message_contains" else "stack_trace", "")
                    if want[key] not in field:
                        raise SystemExit("%s/%s: %r not in %r" % (result["model"], case["name"], want[key], field))
                    c[key] = want[key]
            if want.get("error_code") and want["error_code"] != err["error_code"]:
                raise SystemExit("%s/%s: error_code %s" % (result["model"], case["name"], err["error_code"]))
            if "stack_trace" in err:
                c["has_stack_trace"] = True
        if case.get("expect_status", 200) != status:
            raise SystemExit("%s/%s: status %d, want %d: %s" % (result["model"], case["name"], status,
                                                               case.get("expect_status", 200), response))
        for k in ("min_seconds",):
            if k in case:
                c[k] = case[k]
        cases.append(c)
    result["cases"] = cases
    return result


def _reject(name):
    raise ValueError(name)


def main():
    cases_file, models_dir, out_dir = sys.argv[1:4]
    with open(cases_file) as f:
        specs = json.load(f)
    for name, spec in specs.items():
        path = os.path.join(models_dir, name)
        res = run_model(path, spec)
        for pkl in spec.get("report_pickle_imports", []):
            res.setdefault("pickle_imports", {})[pkl] = pickle_imports(os.path.join(path, pkl))
        with open(os.path.join(out_dir, name + ".json"), "w") as f:
            f.write(dumps_json(res))
            f.write("\n")
        print("%-24s %s, %d cases" % (name, "loaded" if res["load"]["ok"] else "load fails (expected)",
                                       len(res.get("cases", []))))


def dumps_json(o, level=0):
    """Indented JSON with scalar lists kept on one line; strict (no NaN)."""
    pad = "  " * level
    if isinstance(o, dict) and o:
        items = ['%s  %s: %s' % (pad, json.dumps(k), dumps_json(v, level + 1)) for k, v in o.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(o, list) and o and any(isinstance(x, (dict, list)) for x in o):
        if all(isinstance(x, list) and not any(isinstance(y, (dict, list)) for y in x) for x in o) and len(o) > 0:
            return "[\n" + ",\n".join(pad + "  " + json.dumps(x, allow_nan=False) for x in o) + "\n" + pad + "]"
        return "[\n" + ",\n".join(pad + "  " + dumps_json(x, level + 1) for x in o) + "\n" + pad + "]"
    return json.dumps(o, allow_nan=False)


if __name__ == "__main__":
    main()
