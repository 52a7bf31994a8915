"""mlship's python_function worker.

Started by mlship (flavors/pyfunc) as `python mlship_worker.py MODEL_DIR CONFIG_JSON`.
It loads one MLflow model the way MLflow does, then answers prediction
requests over a compact framed protocol on its stdin / original stdout,
until stdin closes. Anything the model prints goes to stderr, which mlship
forwards to its log.

Frames: a 16-byte header (b"MLSP", kind:u8, 3 reserved bytes, payload
length:u64 little-endian), then the payload: a u32 JSON length, the JSON
metadata, then raw buffers (each padded to 8 bytes) in the order the
metadata lists them. Columns travel in Arrow's layout: numbers as one
contiguous little-endian buffer (read here with numpy.frombuffer, no copy),
strings as int32 offsets plus UTF-8 data, booleans and validity as one byte
per value.

The protocol is private to mlship and versioned by PROTOCOL below.
"""

import importlib
import inspect
import json
import math
import os
import struct
import sys
import time
import traceback
import types

PROTOCOL = 1
MAGIC = b"MLSP"
HEADER = struct.Struct("<4sB3xQ")

PREDICT, RESULT, ERROR, READY, FATAL = 1, 2, 3, 4, 5


class LoadError(Exception):
    """A model that cannot be loaded, with what to do about it."""


# --- framing ---------------------------------------------------------------

def read_exact(f, n):
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = f.readinto(view[got:])
        if not k:
            raise EOFError
        got += k
    return buf


def read_frame(f, timing=None):
    head = f.read(HEADER.size)
    if not head:
        raise EOFError
    if timing is not None and timing.on:
        timing.wait_end = timing.clock()
    if len(head) < HEADER.size:
        head += read_exact(f, HEADER.size - len(head))
    magic, kind, length = HEADER.unpack(head)
    if magic != MAGIC:
        raise ValueError("bad frame magic %r" % magic)
    payload = read_exact(f, length) if length else bytearray()
    (jlen,) = struct.unpack_from("<I", payload, 0)
    meta = json.loads(bytes(payload[4:4 + jlen]))
    return kind, meta, payload, 4 + jlen


def _align(n):
    return (n + 7) & ~7


def write_frame(fd, kind, meta, buffers=()):
    js = json.dumps(meta, separators=(",", ":"), allow_nan=True).encode()
    parts = [struct.pack("<I", len(js)), js]
    size = 4 + len(js)
    for b in buffers:
        pad = _align(size) - size
        if pad:
            parts.append(b"\0" * pad)
            size += pad
        mv = memoryview(b).cast("B")
        parts.append(mv)
        size += mv.nbytes
    parts.insert(0, HEADER.pack(MAGIC, kind, size))
    views = [memoryview(p).cast("B") for p in parts]
    while views:
        n = os.writev(fd, views[:1024])  # IOV_MAX
        while n:
            if n >= views[0].nbytes:
                n -= views[0].nbytes
                views.pop(0)
            else:
                views[0] = views[0][n:]
                n = 0


# --- the minimal mlflow compatibility modules ------------------------------

def install_mlflow_compat():
    """Make `mlflow.pyfunc.model.PythonModel` and friends importable when the
    real mlflow is not installed: cloudpickled custom models reference them
    by name. Only installed when `import mlflow` fails."""

    class PythonModel:
        """Compatible base class of mlflow.pyfunc.PythonModel."""

        def load_context(self, context):
            pass

        def predict(self, context, model_input, params=None):
            raise NotImplementedError

        def predict_stream(self, context, model_input, params=None):
            raise NotImplementedError

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

    class MlflowException(Exception):
        def __init__(self, message, error_code="INTERNAL_ERROR", **kwargs):
            super().__init__(message)
            self.message = str(message)
            self.error_code = error_code

    mlflow = types.ModuleType("mlflow")
    mlflow.__path__ = []
    mlflow.__version__ = "0.0.0+mlship-compat"
    exceptions = types.ModuleType("mlflow.exceptions")
    exceptions.MlflowException = MlflowException
    pyfunc = types.ModuleType("mlflow.pyfunc")
    pyfunc.__path__ = []
    model = types.ModuleType("mlflow.pyfunc.model")
    for m in (pyfunc, model):
        m.PythonModel = PythonModel
        m.PythonModelContext = PythonModelContext
    mlflow.pyfunc = pyfunc
    mlflow.exceptions = exceptions
    mlflow.MlflowException = MlflowException
    pyfunc.model = model
    sys.modules.update({"mlflow": mlflow, "mlflow.pyfunc": pyfunc, "mlflow.pyfunc.model": model,
                        "mlflow.exceptions": exceptions})
    return PythonModelContext


# --- loading ----------------------------------------------------------------

INSTALL_HINTS = {
    "mlflow.langchain": "mlflow and langchain",
    "mlflow.transformers": "mlflow and transformers",
    "mlflow.xgboost": "mlflow and xgboost",
    "mlflow.lightgbm": "mlflow and lightgbm",
    "mlflow.pytorch": "mlflow and torch",
    "mlflow.tensorflow": "mlflow and tensorflow",
    "mlflow.onnx": "mlflow and onnxruntime (or serve it with mlship's onnx flavor)",
    "mlflow.pyfunc.loaders.code_model": "mlflow",
    "mlflow.pyfunc.loaders.chat_model": "mlflow",
}


class Loaded:
    """A loaded model: predict(data, params) and how it was loaded."""

    def __init__(self, fn, how, accepts_params):
        self.fn = fn
        self.how = how
        self.accepts_params = accepts_params

    def predict(self, data, params):
        if params is not None and self.accepts_params:
            return self.fn(data, params=params)
        return self.fn(data)


def accepts_params(fn):
    try:
        return "params" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def load(model_dir, cfg):
    conf = cfg["pyfunc"]
    model_config = cfg.get("model_config")
    if cfg.get("use_mlflow", True):
        try:
            import mlflow.pyfunc  # noqa: F401  the real thing: exact semantics
        except ImportError:
            pass
        else:
            kwargs = {"model_config": model_config} if model_config else {}
            m = mlflow.pyfunc.load_model(model_dir, **kwargs)
            return Loaded(m.predict, "mlflow %s (mlflow.pyfunc.load_model)" % mlflow.__version__, True)
    code = conf.get("code")
    if code:
        sys.path.insert(0, os.path.join(model_dir, code))
    loader = conf["loader_module"]
    data_path = os.path.join(model_dir, conf["data"]) if conf.get("data") else model_dir
    if loader == "mlflow.sklearn":
        return load_sklearn(model_dir, data_path, conf, cfg)
    if loader == "mlflow.pyfunc.model":
        return load_python_model(model_dir, conf, model_config)
    try:
        mod = importlib.import_module(loader)
    except ImportError as e:
        what = INSTALL_HINTS.get(loader, "the package that provides it")
        raise LoadError("loader module %r cannot be imported (%s); install %s in the model's environment "
                        "(for example with --env-manager virtualenv), or serve a flavor mlship runs natively"
                        % (loader, e, what)) from None
    fn = getattr(mod, "_load_pyfunc", None)
    if fn is None:
        raise LoadError("loader module %r has no _load_pyfunc(data_path) function" % loader)
    n = len(inspect.signature(fn).parameters)
    obj = fn(data_path, model_config) if (n >= 2 and model_config is not None) else fn(data_path)
    predict = getattr(obj, conf.get("predict_fn") or "predict")
    return Loaded(predict, "loader module %s" % loader, accepts_params(predict))


def load_pickle(path, fmt):
    if fmt == "pickle":
        import pickle
        with open(path, "rb") as f:
            return pickle.load(f)
    try:
        import cloudpickle
    except ImportError:
        raise LoadError("the model was saved with cloudpickle, which is not installed in this interpreter "
                        "(apt-get install python3-cloudpickle, or pip install cloudpickle)") from None
    with open(path, "rb") as f:
        return cloudpickle.load(f)


def load_sklearn(model_dir, data_path, conf, cfg):
    """mlflow.sklearn._load_pyfunc: MLflow > 1.9.1 writes model_path and
    passes the model root; older models name the pickle in `data`."""
    sk = cfg.get("sklearn") or {}
    fmt = sk.get("serialization_format") or "pickle"
    if conf.get("model_path"):
        path = os.path.join(model_dir, conf["model_path"])
    elif os.path.isfile(data_path):
        path = data_path
    else:
        path = os.path.join(data_path, sk.get("pickled_model", "model.pkl"))
    try:
        model = load_pickle(path, fmt)
    except LoadError:
        raise
    except ModuleNotFoundError as e:
        raise LoadError("unpickling %s needs module %r, which this interpreter lacks: install it "
                        "(scikit-learn %s was used to save the model)" % (path, e.name, sk.get("sklearn_version", "?"))) from None
    except Exception as e:
        raise LoadError("cannot unpickle %s (%s: %s); the file may be corrupt, or saved by an incompatible "
                        "scikit-learn (saved with %s)" % (path, type(e).__name__, e, sk.get("sklearn_version", "?"))) from None
    fn_name = conf.get("predict_fn") or "predict"
    fn = getattr(model, fn_name, None)
    if fn is None:
        raise LoadError("the model has no %s method" % fn_name)
    return Loaded(fn, "embedded loader for mlflow.sklearn (%s)" % fmt, False)


def load_python_model(model_dir, conf, model_config):
    """mlflow.pyfunc.model._load_pyfunc: a cloudpickled PythonModel, its
    artifacts, load_context, and predict(context, model_input, params)."""
    try:
        import mlflow.pyfunc.model as m  # noqa: F401
        context_cls = m.PythonModelContext
    except ImportError:
        context_cls = install_mlflow_compat()
    path = os.path.join(model_dir, conf.get("python_model", "python_model.pkl"))
    try:
        model = load_pickle(path, "cloudpickle")
    except LoadError:
        raise
    except ModuleNotFoundError as e:
        raise LoadError("unpickling %s needs module %r, which this interpreter lacks; install it "
                        "(see the model's requirements.txt)" % (path, e.name)) from None
    except Exception as e:
        raise LoadError("cannot unpickle the custom PythonModel %s (%s: %s); the file may be corrupt or "
                        "need another Python version (saved with %s)"
                        % (path, type(e).__name__, e, conf.get("python_version", "?"))) from None
    artifacts = {}
    for name, spec in (conf.get("artifacts") or {}).items():
        rel = spec.get("path") if isinstance(spec, dict) else spec
        artifacts[name] = os.path.join(model_dir, rel)
    context = context_cls(artifacts=artifacts, model_config=model_config or conf.get("config") or {})
    model.load_context(context)
    predict = model.predict
    params = list(inspect.signature(predict).parameters.values())
    with_context = bool(params) and params[0].name == "context"
    takes_params = any(p.name == "params" for p in params)

    def fn(data, params=None):
        args = (context, data) if with_context else (data,)
        if takes_params:
            return predict(*args, params=params)
        return predict(*args)

    return Loaded(fn, "embedded loader for mlflow.pyfunc.model", True)


# --- columns in, columns out -----------------------------------------------

def decode_input(meta, payload, off, np, pd):
    cols = []
    starts = []
    for c in meta["columns"]:
        bufs = []
        starts.append(_align(off))
        for n in c["buffers"]:
            off = _align(off)
            bufs.append(memoryview(payload)[off:off + n])
            off += n
        cols.append((c, bufs))
    if meta["form"] != "tensor":
        frame = block_frame(meta, starts, payload, np, pd)
        if frame is not None:
            return frame
    values = []
    for c, bufs in cols:
        values.append((c["name"], column_values(c, bufs, np)))
    if meta["form"] == "tensor":
        if meta.get("stack"):
            # DataFrame.to_numpy() of the columns, in the tensor's dtype.
            return np.column_stack([v for _, v in values]).astype(meta["stack"])
        if len(values) == 1 and (values[0][0] == "" or cols[0][0].get("bare")):
            return values[0][1]
        return {name: v for name, v in values}
    names, arrays = [], []
    for name, v in values:
        if isinstance(v, np.ndarray) and v.ndim > 1:
            v = list(v)  # a table cell per row: each a sub-array
        names.append(name)
        arrays.append(v)
    return make_frame(names, arrays, int(meta["rows"]), np, pd)


_index_cache = {}


def frame_labels(names, pd):
    """The frame's column Index, cached: building one costs more than the
    rest of a 1-row frame."""
    if names and all(n.isdigit() and n == str(i) for i, n in enumerate(names)):
        names = list(range(len(names)))  # pandas' labels for a table without column names
    key = tuple(names)
    idx = _index_cache.get(key)
    if idx is None:
        idx = _index_cache[key] = pd.Index(names)
        if len(_index_cache) > 64:
            _index_cache.clear()
    return idx


def block_frame(meta, starts, payload, np, pd):
    """A DataFrame over the payload itself when every column is a plain
    number column of one dtype (no nulls) and the columns lie back to back
    in the frame, as mlship sends them: the k columns of n values are then
    one (k, n) array, which is exactly pandas' own block layout. The frame
    is built without copying, and the model's DataFrame.to_numpy() (what
    scikit-learn calls) is a view of it too, where a frame built column by
    column is copied into a block first: that copy cost about as much as
    predict itself for a LogisticRegression. Returns None when the columns
    do not qualify."""
    cols = meta["columns"]
    rows = int(meta["rows"])
    if not cols or rows <= 0:
        return None
    dtype = cols[0].get("dtype")
    if cols[0].get("kind") != "num" or not dtype:
        return None
    size = np.dtype(dtype).itemsize
    width = rows * size
    for i, c in enumerate(cols):
        if (c.get("kind") != "num" or c.get("dtype") != dtype or c.get("validity") or c.get("bare")
                or list(c.get("shape") or ()) != [rows] or list(c.get("buffers") or ()) != [width]
                or starts[i] != starts[0] + i * width):
            return None
    if starts[0] % size or starts[0] + len(cols) * width > len(payload):
        return None
    block = np.frombuffer(payload, dtype=dtype, count=len(cols) * rows, offset=starts[0]).reshape(len(cols), rows)
    idx = frame_labels([c["name"] for c in cols], pd)
    try:
        return pd.DataFrame(block.T, columns=idx, index=pd.RangeIndex(rows), copy=False)
    except (TypeError, ValueError):
        return None


def make_frame(names, arrays, rows, np, pd):
    """pandas.DataFrame from columns, fast: DataFrame(dict, columns=...)
    costs ~400 us for one row in pandas 1.5 (it reindexes); building from
    the arrays directly costs ~20 us, which is most of a 1-row request."""
    if not names:
        return pd.DataFrame(index=pd.RangeIndex(rows))
    idx = frame_labels(names, pd)
    cols = [a if isinstance(a, np.ndarray) else np.array(a + [None], dtype=object)[:-1] for a in arrays]
    try:
        return pd.DataFrame._from_arrays(cols, columns=idx, index=pd.RangeIndex(rows), verify_integrity=False)
    except (AttributeError, TypeError, ValueError):
        return pd.DataFrame(dict(zip(idx, arrays)))


def column_values(c, bufs, np):
    kind, shape = c["kind"], c["shape"]
    validity = None
    if c.get("validity"):
        validity = np.frombuffer(bufs[-1], dtype=np.bool_)
        bufs = bufs[:-1]
    if kind in ("num", "time", "bool"):
        dtype = np.dtype(c["dtype"]) if kind == "num" else (np.bool_ if kind == "bool" else np.int64)
        arr = np.frombuffer(bufs[0], dtype=dtype)
        if kind == "time":
            arr = arr.view("datetime64[ns]")
        arr = arr.reshape(shape)
        if validity is not None:
            if arr.dtype.kind == "f":
                arr = arr.copy()
                arr[~validity] = np.nan
            elif kind == "time":
                arr = arr.copy()
                arr[~validity] = np.datetime64("NaT")
            else:
                obj = arr.astype(object)
                obj[~validity] = None
                arr = obj
        return arr
    offsets = np.frombuffer(bufs[0], dtype=np.int32)
    data = bytes(bufs[1])
    n = len(offsets) - 1
    out = np.empty(n, dtype=object)
    for i in range(n):
        s = data[offsets[i]:offsets[i + 1]]
        if kind == "str":
            out[i] = s.decode("utf-8")
        elif kind == "bin":
            out[i] = s
        else:  # json
            out[i] = json.loads(s)
    if validity is not None:
        out[~validity] = None
    return out.reshape(shape) if len(shape) > 1 else out


class NumpyEncoder(json.JSONEncoder):
    """MLflow's mlflow.utils.proto_json_utils.NumpyEncoder."""

    def try_convert(self, o):
        import numpy as np
        import pandas as pd

        def encode_binary(x):
            import base64
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
        if isinstance(o, (pd.Timestamp,)):
            return o.isoformat(), True
        import datetime
        if isinstance(o, (datetime.date, datetime.datetime)):
            return o.isoformat(), True
        return o, False

    def default(self, o):
        res, converted = self.try_convert(o)
        if converted:
            return res
        return super().default(o)


def jsonable(data, np, pd):
    """mlflow.pyfunc.scoring_server._get_jsonable_obj(pandas_orient="records")."""
    if isinstance(data, np.ndarray):
        return data.tolist()
    if isinstance(data, pd.DataFrame):
        return data.to_dict(orient="records")
    if isinstance(data, pd.Series):
        return pd.DataFrame(data).to_dict(orient="records")
    return data


def encode_output(pred, np, pd):
    """Row-aligned results (ndarray, DataFrame, Series) go back as columns;
    anything else as the JSON text MLflow's server would write."""
    if isinstance(pred, pd.Series):
        pred = pd.DataFrame(pred)
    if isinstance(pred, pd.DataFrame):
        cols, bufs = [], []
        for name, series in pred.items():
            c, b = encode_column(str(name), series.to_numpy(), np)
            if c is None:
                return encode_json(pred, np, pd)
            cols.append(c)
            bufs.extend(b)
        return {"kind": "dataframe", "rows": int(len(pred)), "columns": cols}, bufs
    if isinstance(pred, np.ndarray) and pred.ndim >= 1 and pred.dtype.kind != "M":
        # (datetimes: ndarray.tolist() gives MLflow's nanosecond integers or
        # datetime objects depending on the unit; the JSON path does exactly
        # what MLflow does.)
        c, b = encode_column("0", pred, np)
        if c is not None:
            return {"kind": "ndarray", "rows": int(pred.shape[0]), "columns": [c]}, b
    return encode_json(pred, np, pd)


def encode_json(pred, np, pd):
    text = json.dumps(jsonable(pred, np, pd), cls=NumpyEncoder).encode()
    return {"kind": "json", "rows": 1, "columns": [{"name": "predictions", "kind": "json", "shape": [],
                                                   "buffers": [8, len(text)]}]}, [struct.pack("<ii", 0, len(text)), text]


def encode_column(name, arr, np):
    """A column's metadata and buffers, or (None, None) when it needs JSON."""
    shape = list(arr.shape)
    k = arr.dtype.kind
    if k in "fiu" and arr.dtype.itemsize in (1, 2, 4, 8):
        a = np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<"), copy=False)
        return {"name": name, "kind": "num", "dtype": a.dtype.str, "shape": shape, "buffers": [a.nbytes]}, [a]
    if k == "b":
        a = np.ascontiguousarray(arr, dtype=np.uint8)
        return {"name": name, "kind": "bool", "shape": shape, "buffers": [a.nbytes]}, [a]
    if k == "M":
        a = np.ascontiguousarray(arr.astype("datetime64[ns]")).view(np.int64)
        valid = ~np.isnat(arr.astype("datetime64[ns]"))
        c = {"name": name, "kind": "time", "shape": shape, "buffers": [a.nbytes]}
        if not valid.all():
            v = valid.astype(np.uint8)
            c["validity"] = True
            c["buffers"].append(v.nbytes)
            return c, [a, v]
        return c, [a]
    if arr.ndim == 1 and k in "OU":
        items = arr.tolist()
        if all(isinstance(x, str) or x is None for x in items):
            return strings(name, shape, items, np)
    return None, None


def strings(name, shape, items, np):
    encoded = [b"" if x is None else x.encode("utf-8") for x in items]
    offsets = np.zeros(len(encoded) + 1, dtype="<i4")
    np.cumsum([len(b) for b in encoded], out=offsets[1:])
    data = b"".join(encoded)
    c = {"name": name, "kind": "str", "shape": shape, "buffers": [offsets.nbytes, len(data)]}
    bufs = [offsets, data]
    if any(x is None for x in items):
        v = np.array([x is not None for x in items], dtype=np.uint8)
        c["validity"] = True
        c["buffers"].append(v.nbytes)
        bufs.append(v)
    return c, bufs


# --- main ---------------------------------------------------------------------

def error_meta(exc):
    code = getattr(exc, "error_code", None)
    if isinstance(code, str) and code:
        return {"error_code": code, "message": getattr(exc, "message", None) or str(exc)}
    return {"error_code": "BAD_REQUEST",
            "message": "Encountered an unexpected error while evaluating the model. Verify that the serialized "
                       "input Dataframe is compatible with the model for inference.",
            "stack_trace": traceback.format_exc()}


def main():
    model_dir, cfg = sys.argv[1], json.loads(sys.argv[2])
    # The protocol owns the original stdout; whatever the model prints goes
    # to stderr with the rest of the logs.
    out_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    proto_in = os.fdopen(0, "rb", buffering=0)
    started = time.time()
    try:
        import numpy as np
        import pandas as pd
        model = load(model_dir, cfg)
    except BaseException as e:  # noqa: BLE001  anything stops the load
        msg = str(e) if isinstance(e, LoadError) else "%s: %s" % (type(e).__name__, e)
        write_frame(out_fd, FATAL, {"error": msg, "traceback": traceback.format_exc()})
        sys.exit(3)
    write_frame(out_fd, READY, {"protocol": PROTOCOL, "pid": os.getpid(), "python": sys.version.split()[0],
                                "loaded_by": model.how, "load_seconds": round(time.time() - started, 3),
                                "numpy": np.__version__, "pandas": pd.__version__})
    timing = Timing(os.environ.get("MLSHIP_WORKER_TIMING"))
    clock = timing.clock
    while True:
        t0 = clock()
        try:
            kind, meta, payload, off = read_frame(proto_in, timing)
        except EOFError:
            timing.close()
            return
        if kind != PREDICT:
            write_frame(out_fd, ERROR, {"error_code": "INTERNAL_ERROR", "message": "unexpected frame kind %d" % kind})
            continue
        t1 = clock()
        try:
            data = decode_input(meta, payload, off, np, pd)
            t2 = clock()
            pred = model.predict(data, meta.get("params"))
            t3 = clock()
            out, bufs = encode_output(pred, np, pd)
        except Exception as e:  # noqa: BLE001  reported to the client
            write_frame(out_fd, ERROR, error_meta(e))
            continue
        t4 = clock()
        write_frame(out_fd, RESULT, out, bufs)
        if timing.on:
            timing.add(meta.get("rows", 0), len(payload), t0, t1, t2, t3, t4, clock())


class Timing:
    """Per-request phase times, for profiling without py-spy: with
    MLSHIP_WORKER_TIMING=PATH each worker appends one line per request to
    PATH.<pid>: rows, payload bytes, then seconds waiting for the request,
    reading its payload, building the model input, predict, encoding the
    output and writing it. Wall-clock seconds, or the process's CPU
    seconds with MLSHIP_WORKER_TIMING_CPU=1 (steadier on a shared machine:
    time spent preempted does not count). Off, it costs nothing but the
    clock reads."""

    def __init__(self, path):
        self.f = None
        if path:
            try:
                self.f = open("%s.%d" % (path, os.getpid()), "a")
            except OSError as e:
                print("MLSHIP_WORKER_TIMING: %s" % e, file=sys.stderr)
        self.on = self.f is not None
        self.wait_end = 0.0
        self.clock = time.process_time if os.environ.get("MLSHIP_WORKER_TIMING_CPU") else time.perf_counter

    def add(self, rows, nbytes, t0, t1, t2, t3, t4, t5):
        w = self.wait_end - t0
        self.f.write("%d %d %.6f %.6f %.6f %.6f %.6f %.6f\n" % (rows, nbytes, w, t1 - self.wait_end, t2 - t1, t3 - t2, t4 - t3, t5 - t4))

    def close(self):
        if self.f:
            self.f.close()


if __name__ == "__main__":
    main()
