"""A stand-in for MLflow 2.x's scoring server (mlflow models serve, 1.x to 2.20),
for latency and throughput comparisons where MLflow itself cannot be installed.

Same architecture as mlflow.pyfunc.scoring_server + .wsgi: a Flask app under
gunicorn with sync workers; `app` is built when a worker imports this module,
so each worker loads the model once (no --preload); per request the body goes
through the same steps as MLflow 2.17's `invocations`:

  * Content-Type parsing (charset, parameters, text/csv | application/json);
  * JSON: json.loads of the body to check for the unified-LLM keys, then
    json.loads again in _split_data_and_params (MLflow decodes the body twice),
    then dataframe_split / dataframe_records -> pandas.DataFrame cast column by
    column with astype to the signature's types, or inputs / instances -> numpy
    arrays (parse_tf_serving_input); CSV -> pandas.read_csv with the
    signature's dtypes;
  * PyFuncModel.predict: _enforce_schema (named ColSpec and TensorSpec
    schemas: missing-column check, a new DataFrame in schema order with safe
    type conversions), _enforce_params_schema (defaults filled in), then the
    flavor's predict function;
  * predictions_to_json: _get_jsonable_obj(pandas_orient="records") and
    json.dump({"predictions": ...}, cls=NumpyEncoder); errors as MLflow's
    {"error_code", "message"[, "stack_trace"]} envelope with its HTTP status.

Models load with mlflow.pyfunc.load_model when the real mlflow is importable;
otherwise with embedded equivalents of the loaders MLflow would call:
mlflow.sklearn (pickle / cloudpickle, `model_path` or legacy `data`),
mlflow.pyfunc.model (cloudpickled PythonModel; minimal in-memory
mlflow.pyfunc.model.PythonModel / PythonModelContext are installed so that
the pickle's base-class reference resolves) and any loader_module shipped in
the model's `code` directory.

The model directory comes from the environment variable __pyfunc_model_path__,
as in MLflow (a plain path or a file:// URI). Start it with run.sh.
"""
import base64
import datetime
import importlib
import inspect
import json
import logging
import os
import pickle
import sys
import traceback
import types
from collections import defaultdict
from io import StringIO

import flask
import numpy as np
import pandas as pd
import yaml

VERSION = "2.17.2 (mlship baseline)"
_SERVER_MODEL_PATH = "__pyfunc_model_path__"
CONTENT_TYPES = ["text/csv", "application/json"]
SUPPORTED_FORMATS = {"dataframe_records", "dataframe_split", "instances", "inputs"}
REQUIRED_INPUT_FORMAT = ("The input must be a JSON dictionary with exactly one of the input fields %s"
                         % SUPPORTED_FORMATS)
SCORING_PROTOCOL_CHANGE_INFO = (
    "IMPORTANT: The MLflow Model scoring protocol has changed in MLflow version 2.0. If you are"
    " seeing this error, you are likely using an outdated scoring request format. To resolve the"
    " error, either update your request format or adjust your MLflow Model's requirements file to"
    " specify an older version of MLflow (for example, change the 'mlflow' requirement specifier"
    " to 'mlflow==1.30.0'). If you are making a request using the MLflow client"
    " (e.g. via `mlflow.pyfunc.spark_udf()`), upgrade your MLflow client to a version >= 2.0 in"
    " order to use the new request format. For more information about the updated MLflow"
    " Model scoring protocol in MLflow 2.0, see"
    " https://mlflow.org/docs/latest/models.html#deploy-mlflow-models."
)
_logger = logging.getLogger(__name__)


# --- errors -------------------------------------------------------------------


class MlflowException(Exception):
    STATUS = {"BAD_REQUEST": 400, "INVALID_PARAMETER_VALUE": 400}

    def __init__(self, message, error_code="INTERNAL_ERROR", **kwargs):
        super().__init__(message)
        self.message = message
        self.error_code = error_code
        self.json_kwargs = kwargs

    def serialize_as_json(self):
        d = {"error_code": self.error_code, "message": self.message}
        d.update(self.json_kwargs)
        return json.dumps(d)

    def get_http_status_code(self):
        return self.STATUS.get(self.error_code, 500)


def _invalid_input(message):
    return MlflowException("Invalid input. " + message, "BAD_REQUEST")


# --- JSON output (mlflow.utils.proto_json_utils) ----------------------------------


class NumpyEncoder(json.JSONEncoder):
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


def unwrapped_predictions_to_json(raw_predictions, output):
    return json.dump(_get_jsonable_obj(raw_predictions, pandas_orient="records"), output, cls=NumpyEncoder)


# --- signatures (mlflow.types) --------------------------------------------------------

_NUMPY = {"boolean": np.dtype(bool), "integer": np.dtype(np.int32), "long": np.dtype(np.int64),
          "float": np.dtype(np.float32), "double": np.dtype(np.float64), "string": np.dtype(str),
          "binary": np.dtype(bytes), "datetime": np.dtype("datetime64[ns]")}
_PANDAS = dict(_NUMPY, string=np.dtype(object), binary=np.dtype(object))
_PYTHON = {"boolean": bool, "integer": int, "long": int, "float": float, "double": float,
           "string": str, "binary": bytes, "datetime": datetime.datetime}


class Spec:
    def __init__(self, d):
        self.tensor = d.get("type") == "tensor"
        self.name = d.get("name")
        if self.tensor:
            self.dtype = np.dtype(d["tensor-spec"]["dtype"])
            self.shape = tuple(d["tensor-spec"]["shape"])
            self.required = True
        else:
            self.type = d["type"]
            if not isinstance(self.type, str):
                raise MlflowException("the baseline handles scalar ColSpecs only, not %r" % (self.type,))
            self.required = d.get("required", not d.get("optional", False))


class Schema:
    def __init__(self, specs):
        self.inputs = [Spec(s) for s in specs]
        self.by_name = {s.name: s for s in self.inputs if s.name is not None}

    def is_tensor_spec(self):
        return self.inputs[0].tensor

    def has_input_names(self):
        return self.inputs[0].name is not None

    def input_names(self):
        return [s.name for s in self.inputs]

    def required_input_names(self):
        return [s.name for s in self.inputs if s.required]

    def pandas_types(self):
        return [s.dtype if s.tensor else _PANDAS[s.type] for s in self.inputs]


# --- request parsing ------------------------------------------------------------------


def _cast_df_types_according_to_schema(pdf, schema):
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
                raise _invalid_input("Data is not compatible with model signature. Failed to convert column "
                                     "%s to type '%s'. Error: '%r'" % (col, col_type, ex))
    return pdf


def dataframe_from_parsed_json(decoded, orient, schema):
    if orient == "records":
        if not isinstance(decoded, list):
            kind = "dictionary" if isinstance(decoded, dict) else "type %s" % type(decoded)
            raise _invalid_input("Dataframe records format must be a list of records. Got %s." % kind)
        try:
            pdf = pd.DataFrame(data=decoded)
        except Exception as ex:
            raise _invalid_input("Provided dataframe_records field is not a valid dataframe representation in "
                                 "'records' format. Error: '%s'" % ex)
    else:
        if not isinstance(decoded, dict):
            kind = "list" if isinstance(decoded, list) else "type %s" % type(decoded)
            raise _invalid_input("Dataframe split format must be a dictionary. Got %s." % kind)
        keys = set(decoded.keys())
        if "data" not in keys or keys - {"columns", "data", "index"}:
            raise _invalid_input("Dataframe split format must have 'data' field and optionally 'columns' "
                                 "and 'index' fields. Got %s.'" % keys)
        try:
            pdf = pd.DataFrame(index=decoded.get("index"), columns=decoded.get("columns"), data=decoded["data"])
        except Exception as ex:
            raise _invalid_input("Provided dataframe_split field is not a valid dataframe representation in "
                                 "'split' format. Error: '%s'" % ex)
    if schema is not None:
        pdf = _cast_df_types_according_to_schema(pdf, schema)
    return pdf


def _convert_data_type(data, spec):
    try:
        if spec is None:
            return np.array(data)
        if spec.tensor:
            return np.array(data, dtype=spec.dtype)
        t = _NUMPY[spec.type]
        return np.array(data, t) if isinstance(data, (list, np.ndarray)) else np.array([data], t)[0]
    except MlflowException:
        raise
    except Exception as ex:
        raise _invalid_input("%s" % ex)


def _cast_schema_type(input_data, schema):
    types_ = schema.by_name if schema is not None and schema.has_input_names() else {}
    if schema is not None:
        if len(types_) == 1 and isinstance(input_data, list) and not any(isinstance(x, dict) for x in input_data):
            input_data = {next(iter(types_)): input_data}
        elif not schema.has_input_names() and not (isinstance(input_data, list) or np.isscalar(input_data)):
            raise _invalid_input("Failed to parse input data. This model contains an un-named  model signature "
                                 "which expects a single n-dimensional array or a single value as input, however, "
                                 "an input of type %s was found." % type(input_data))
    if isinstance(input_data, dict):
        return {c: _convert_data_type(v, types_.get(c)) for c, v in input_data.items()}
    if isinstance(input_data, list) and input_data and all(isinstance(x, dict) for x in input_data):
        return [{c: _convert_data_type(v, types_.get(c)) for c, v in row.items()} for row in input_data]
    return _convert_data_type(input_data, schema.inputs[0] if schema else None)


def parse_tf_serving_input(inp, schema):
    if "signature_name" in inp:
        raise _invalid_input('"signature_name" parameter is currently not supported')
    if list(inp.keys()) not in (["instances"], ["inputs"]):
        raise _invalid_input('One of "instances" and "inputs" must be specified (not both or any other keys).'
                             "Received: %s" % list(inp.keys()))
    try:
        if "instances" in inp:
            data = inp["instances"]
            if isinstance(data, list) and data and isinstance(data[0], dict):
                types_ = schema.by_name if schema is not None and schema.has_input_names() else {}
                cols = defaultdict(list)
                for item in data:
                    for c, v in item.items():
                        cols[c].append(_convert_data_type(v, types_.get(c)))
                data = {c: np.array(v) for c, v in cols.items()}
            else:
                data = _cast_schema_type(data, schema)
            if isinstance(data, dict):
                lens = {len(v) for v in data.values() if isinstance(v, (list, np.ndarray))}
                if len(lens) > 1:
                    raise _invalid_input("The length of values for each input/column name are not the same")
            return data
        return _cast_schema_type(inp["inputs"], schema)
    except MlflowException:
        raise
    except Exception as e:
        raise _invalid_input("Ensure that the input is a valid JSON-formatted string.\nError: %r" % e)


def _decode_json_input(body):
    try:
        decoded = json.loads(body)
    except json.decoder.JSONDecodeError as ex:
        raise _invalid_input("Ensure that input is a valid JSON formatted string. Error: '%r'\nInput: \n%s\n"
                             % (ex, body.decode("utf-8", "replace") if isinstance(body, bytes) else body))
    if isinstance(decoded, dict):
        return decoded
    if isinstance(decoded, list):
        raise _invalid_input("%s. Received a list." % REQUIRED_INPUT_FORMAT)
    raise _invalid_input("%s. Received unexpected input type '%s." % (REQUIRED_INPUT_FORMAT, type(decoded)))


def _parse_json_data(body, schema, param_names):
    json_input = _decode_json_input(body)
    if any(k in json_input for k in ("messages", "prompt", "input")):  # unified LLM format: no wrapping key
        data = {k: v for k, v in json_input.items() if k not in param_names}
        params = {k: v for k, v in json_input.items() if k in param_names}
        return data, params, True
    input_dict = _decode_json_input(body)  # _split_data_and_params decodes the body a second time
    data = {k: v for k, v in input_dict.items() if k in SUPPORTED_FORMATS}
    params = input_dict.pop("params", None)
    if len(data) != 1:
        raise MlflowException("%s. Received dictionary with input fields: %s. %s"
                              % (REQUIRED_INPUT_FORMAT, list(data.keys()), SCORING_PROTOCOL_CHANGE_INFO),
                              "BAD_REQUEST")
    fmt = next(iter(data))
    if fmt in ("instances", "inputs"):
        return parse_tf_serving_input(data, schema), params, False
    return dataframe_from_parsed_json(data[fmt], fmt[len("dataframe_"):], schema), params, False


def parse_csv_input(csv_input, schema):
    try:
        if schema is None:
            return pd.read_csv(csv_input)
        return pd.read_csv(csv_input, dtype=dict(zip(schema.input_names(), schema.pandas_types())))
    except Exception as e:
        raise MlflowException("Failed to parse input as a Pandas DataFrame. Ensure that the input is a valid "
                              "CSV-formatted Pandas DataFrame produced using the `pandas.DataFrame.to_csv()` "
                              "method. Error: '%s'" % e, "BAD_REQUEST", stack_trace=traceback.format_exc())


# --- schema and params enforcement (mlflow.models.utils) --------------------------------


def _enforce_mlflow_datatype(name, values, t):
    if values.dtype == object and t not in ("binary", "string"):
        values = values.infer_objects()
    if t == "string" and values.dtype == object:
        return values
    if _PANDAS[t] == values.dtype or _NUMPY[t] == values.dtype:
        return values
    if t == "binary" and values.dtype.kind == "S":
        return values
    if t == "datetime" and values.dtype.kind == "M":
        return values.astype(np.dtype("datetime64[ns]"))
    if t == "boolean" and values.dtype == object:
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
            if all(np.isscalar(v) or v is None or (isinstance(v, list) and all(isinstance(i, str) for i in v))
                   for v in pf_input.values()):
                pf_input = pd.DataFrame([pf_input])
            else:
                try:
                    pf_input = pd.DataFrame(pf_input)
                except Exception as e:
                    raise MlflowException("This model contains a column-based signature, which suggests a "
                                          "DataFrame input. There was an error casting the input data to a "
                                          "DataFrame: %s" % e)
        elif isinstance(pf_input, (list, np.ndarray)):
            pf_input = pd.DataFrame(pf_input)
        if not isinstance(pf_input, pd.DataFrame):
            raise MlflowException("Expected input to be DataFrame. Found: %s" % type(pf_input).__name__)
    if schema.has_input_names():
        if schema.is_tensor_spec():
            if isinstance(pf_input, dict):
                return {s.name: _enforce_tensor_spec(pf_input[s.name], s) for s in schema.inputs}
            if isinstance(pf_input, pd.DataFrame):
                return {s.name: _enforce_tensor_spec(np.array(pf_input[s.name], dtype=s.dtype).reshape(s.shape), s)
                        for s in schema.inputs}
            raise MlflowException("This model contains a tensor-based model signature with input names, but an "
                                  "input of type %s was found." % type(pf_input))
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
            if s.name in pf_input:
                out[s.name] = _enforce_mlflow_datatype(s.name, pf_input[s.name], s.type)
        return pd.DataFrame(out)
    if schema.is_tensor_spec():
        spec = schema.inputs[0]
        if isinstance(pf_input, pd.DataFrame):
            if pf_input.empty:
                raise MlflowException("Input DataFrame is empty.")
            if len(pf_input.columns) == 1:
                return _enforce_tensor_spec(np.array(pf_input[pf_input.columns[0]], dtype=spec.dtype).reshape(
                    spec.shape), spec)
            if spec.shape != (-1, len(pf_input.columns)):
                raise MlflowException("This model contains a model signature with an unnamed input. Since the "
                                      "input data is a pandas DataFrame containing multiple columns, the input "
                                      "shape must be of the structure (-1, number_of_dataframe_columns).")
            return _enforce_tensor_spec(pf_input.to_numpy(), spec)
        if isinstance(pf_input, np.ndarray):
            return _enforce_tensor_spec(pf_input, spec)
        raise MlflowException("This model contains a tensor-based model signature with no input names, which "
                              "suggests a numpy array input, but an input of type %s was found." % type(pf_input))
    n = len(schema.inputs)
    if len(pf_input.columns) < n:
        raise MlflowException("Model inference is missing inputs. The model signature declares %d inputs  but the "
                              "provided value only has %d inputs." % (n, len(pf_input.columns)))
    return pd.DataFrame({c: _enforce_mlflow_datatype(c, pf_input[c], s.type)
                         for c, s in zip(pf_input.columns[:n], schema.inputs)})


def _enforce_params_schema(params, param_specs):
    if param_specs is None:
        if params not in (None, {}):
            _logger.warning("`params` can only be specified at inference time if the model signature defines a "
                            "params schema. Ignoring provided params: %s", list(params))
            return None
        return params
    params = {} if params is None else params
    if not isinstance(params, dict):
        raise MlflowException("Parameters must be a dictionary. Got type '%s'." % type(params).__name__,
                              "INVALID_PARAMETER_VALUE")
    invalid = set()
    for p in param_specs:
        name, t = p["name"], p.get("type", p.get("dtype"))
        if name not in params:
            params[name] = p.get("default")
            continue
        v = params[name]
        if v is None or p.get("shape") is not None or t not in _PYTHON:
            continue
        ok = isinstance(v, _PYTHON[t]) and not (t != "boolean" and isinstance(v, bool))
        if not ok and t in ("float", "double", "long") and isinstance(v, int) and not isinstance(v, bool):
            ok = True
        if ok:
            params[name] = _PYTHON[t](v)
        else:
            invalid.add((name, "Can not safely convert `%s` to `%s` for value `%s`" % (type(v), t, v)))
    if invalid:
        raise MlflowException("Invalid parameters found: %r" % invalid, "INVALID_PARAMETER_VALUE")
    allowed = {p["name"] for p in param_specs}
    return {k: v for k, v in params.items() if k in allowed}


# --- loading ----------------------------------------------------------------------------


class _SklearnModelWrapper:
    def __init__(self, model):
        self.sklearn_model = model
        for fn in ("predict_proba", "predict_log_proba", "predict_joint_log_proba", "score"):
            f = getattr(model, fn, None)
            if f is not None:
                setattr(self, fn, f)

    def predict(self, data, params=None):
        return self.sklearn_model.predict(data)


def _load_sklearn(path, mlmodel):
    if os.path.isfile(path):
        fmt = "pickle"
    else:
        fmt = mlmodel["flavors"].get("sklearn", {}).get("serialization_format", "pickle")
        path = os.path.join(path, mlmodel["flavors"]["python_function"]["model_path"])
    with open(path, "rb") as f:
        if fmt == "cloudpickle":
            import cloudpickle
            return _SklearnModelWrapper(cloudpickle.load(f))
        return _SklearnModelWrapper(pickle.load(f))


def _install_mlflow_compat():
    class PythonModelContext:
        def __init__(self, artifacts, model_config=None):
            self._artifacts, self._model_config = artifacts, model_config

        artifacts = property(lambda self: self._artifacts)
        model_config = property(lambda self: self._model_config)

    class PythonModel:
        def load_context(self, context):
            pass

        def predict(self, context, model_input, params=None):
            raise NotImplementedError()

        def predict_stream(self, context, model_input, params=None):
            raise NotImplementedError()

    mods = {n: types.ModuleType(n) for n in ("mlflow", "mlflow.pyfunc", "mlflow.pyfunc.model")}
    mods["mlflow"].__path__ = []
    mods["mlflow.pyfunc"].__path__ = []
    for cls in (PythonModel, PythonModelContext):
        cls.__module__ = "mlflow.pyfunc.model"
        setattr(mods["mlflow.pyfunc.model"], cls.__name__, cls)
        setattr(mods["mlflow.pyfunc"], cls.__name__, cls)
    mods["mlflow"].pyfunc = mods["mlflow.pyfunc"]
    mods["mlflow.pyfunc"].model = mods["mlflow.pyfunc.model"]
    sys.modules.update(mods)
    return PythonModelContext


class _PythonModelPyfuncWrapper:
    def __init__(self, python_model, context):
        self.python_model, self.context = python_model, context

    def predict(self, model_input, params=None):
        if inspect.signature(self.python_model.predict).parameters.get("params"):
            return self.python_model.predict(self.context, model_input, params=params)
        return self.python_model.predict(self.context, model_input)


def _load_python_model(path, conf):
    import cloudpickle
    try:
        from mlflow.pyfunc.model import PythonModelContext
    except ImportError:
        PythonModelContext = _install_mlflow_compat()
    with open(os.path.join(path, conf["python_model"]), "rb") as f:
        python_model = cloudpickle.load(f)
    artifacts = {n: os.path.join(path, a["path"]) for n, a in (conf.get("artifacts") or {}).items()}
    context = PythonModelContext(artifacts=artifacts, model_config=conf.get("config"))
    python_model.load_context(context=context)
    return _PythonModelPyfuncWrapper(python_model, context)


class PyFuncModel:
    """mlflow.pyfunc.PyFuncModel: schema and params enforcement around the
    flavor's predict function."""

    def __init__(self, path):
        if path.startswith("file://"):
            path = path[len("file://"):]
        with open(os.path.join(path, "MLmodel")) as f:
            self.mlmodel = yaml.safe_load(f)
        conf = (self.mlmodel.get("flavors") or {}).get("python_function")
        if conf is None:
            raise MlflowException('Model does not have the "python_function" flavor', "RESOURCE_DOES_NOT_EXIST")
        sig = self.mlmodel.get("signature") or {}
        self.input_schema = Schema(json.loads(sig["inputs"])) if sig.get("inputs") else None
        self.param_specs = json.loads(sig["params"]) if sig.get("params") else None
        self.loaded_with = "mlflow"
        try:
            import mlflow.pyfunc  # the real thing, when installed
            if hasattr(mlflow.pyfunc, "load_model"):
                self._mlflow_model = mlflow.pyfunc.load_model(path)
                self.predict = self._mlflow_model.predict
                return
        except ImportError:
            pass
        self._mlflow_model = None
        if conf.get("code"):
            sys.path.insert(0, os.path.join(path, conf["code"]))
        data_path = os.path.join(path, conf["data"]) if conf.get("data") else path
        loader = conf["loader_module"]
        if loader == "mlflow.sklearn":
            impl = _load_sklearn(data_path, self.mlmodel)
        elif loader == "mlflow.pyfunc.model":
            impl = _load_python_model(data_path, conf)
        else:
            impl = importlib.import_module(loader)._load_pyfunc(data_path)
        self.loaded_with = "embedded loader for " + loader
        self._predict_fn = getattr(impl, conf.get("predict_fn", "predict"))
        self._fn_takes_params = "params" in inspect.signature(self._predict_fn).parameters

    def predict(self, data, params=None):
        if self.input_schema is not None:
            try:
                data = _enforce_schema(data, self.input_schema)
            except MlflowException as e:
                raise MlflowException("Failed to enforce schema of data '%s' with schema '%s'. Error: %s"
                                      % (data, self.mlmodel["signature"]["inputs"], e.message),
                                      "INVALID_PARAMETER_VALUE")
        params = _enforce_params_schema(params, self.param_specs)
        if self._fn_takes_params:
            return self._predict_fn(data, params=params)
        return self._predict_fn(data)


# --- the scoring server ------------------------------------------------------------------


def invocations(data, content_type, model):
    """Returns (body, status, mimetype) like scoring_server.invocations."""
    type_parts = list(map(str.strip, (content_type or "").split(";")))
    mime_type = type_parts[0]
    parameter_values = {k: v for pair in type_parts[1:] for k, _, v in [pair.partition("=")]}
    if parameter_values.get("charset", "utf-8").lower() != "utf-8":
        return "The scoring server only supports UTF-8", 415, "text/plain"
    unexpected = set(parameter_values.keys()).difference({"charset"})
    if unexpected:
        return ("Unrecognized content type parameters: %s. %s" % (", ".join(unexpected), SCORING_PROTOCOL_CHANGE_INFO),
                415, "text/plain")
    unified_llm = False
    if mime_type == "text/csv":
        data, params = parse_csv_input(StringIO(data.decode("utf-8")), model.input_schema), None
    elif mime_type == "application/json":
        names = {p["name"] for p in model.param_specs or []}
        data, params, unified_llm = _parse_json_data(data, model.input_schema, names)
    else:
        return ("This predictor only supports the following content types: Types: %s. Got '%s'."
                % (CONTENT_TYPES, content_type), 415, "text/plain")
    try:
        raw_predictions = model.predict(data, params=params)
    except MlflowException as e:
        e.message = "Failed to predict data '%s'. \nError: %s" % (data, e.message)
        raise
    except Exception:
        raise MlflowException("Encountered an unexpected error while evaluating the model. Verify that the "
                              "serialized input Dataframe is compatible with the model for inference.",
                              "BAD_REQUEST", stack_trace=traceback.format_exc())
    result = StringIO()
    (unwrapped_predictions_to_json if unified_llm else predictions_to_json)(raw_predictions, result)
    return result.getvalue(), 200, "application/json"


def init(model):
    app = flask.Flask(__name__)

    @app.route("/ping", methods=["GET"])
    @app.route("/health", methods=["GET"])
    def ping():
        return flask.Response(response="\n", status=200 if model is not None else 404, mimetype="application/json")

    @app.route("/version", methods=["GET"])
    def version():
        return flask.Response(response=VERSION, status=200, mimetype="application/json")

    @app.route("/invocations", methods=["POST"])
    def transformation():
        try:
            body, status, mimetype = invocations(flask.request.data, flask.request.content_type, model)
        except MlflowException as e:
            body, status, mimetype = e.serialize_as_json(), e.get_http_status_code(), "application/json"
        return flask.Response(response=body, status=status, mimetype=mimetype)

    return app


def _load_from_env():
    path = os.environ.get(_SERVER_MODEL_PATH)
    if not path:
        raise SystemExit("set %s to the model directory (run.sh does)" % _SERVER_MODEL_PATH)
    model = PyFuncModel(path)
    print("mlflow-baseline: pid %d loaded %s (%s)" % (os.getpid(), path, model.loaded_with), file=sys.stderr)
    return model


app = init(_load_from_env()) if os.environ.get(_SERVER_MODEL_PATH) else None
