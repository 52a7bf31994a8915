#!/usr/bin/python3
"""Builds the ONNX test models of flavors/onnx into testdata/models/.

Run from anywhere with Debian's interpreter (python3-onnx, python3-numpy):

    /usr/bin/python3 flavors/onnx/testdata/make_models.py

Each model is an MLflow model directory as mlflow.onnx.save_model writes it
(MLmodel with an `onnx` flavor and a `python_function` block, model.onnx,
and for one model an external-data side file), plus expected.json: input
cases and the outputs numpy computes for them. The Go tests feed the inputs
through the flavor and compare with these outputs, so the expected values
never come from the code under test. The output is deterministic.

ONNX Runtime is not used here (there is none for Debian's Python); the
graphs are kept to operators whose numpy equivalent is exact or well
within the tests' tolerances.
"""
import json
import os
import shutil

import numpy as np
import onnx
from onnx import TensorProto as T
from onnx import helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "models")
OPSET = 17
RNG = np.random.default_rng(20261126)

# ONNX element type -> (numpy dtype, MLflow TensorSpec dtype name)
DTYPES = {
    "float32": (T.FLOAT, np.float32),
    "float64": (T.DOUBLE, np.float64),
    "float16": (T.FLOAT16, np.float16),
    "int8": (T.INT8, np.int8),
    "int16": (T.INT16, np.int16),
    "int32": (T.INT32, np.int32),
    "int64": (T.INT64, np.int64),
    "uint8": (T.UINT8, np.uint8),
    "bool": (T.BOOL, np.bool_),
    "str": (T.STRING, np.str_),
}
ONNX_TO_NAME = {v[0]: k for k, v in DTYPES.items()}


def vi(name, elem, shape):
    return helper.make_tensor_value_info(name, elem, shape)


def make_model(name, nodes, inputs, outputs, initializers=(), check=True):
    graph = helper.make_graph(nodes, name, inputs, outputs, initializer=list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="mlship-testdata")
    model.ir_version = 8
    if check:
        onnx.checker.check_model(model)
    return model


def spec(v):
    """An MLflow TensorSpec for a graph input or output (None: no shape)."""
    tt = v.type.tensor_type
    if not tt.HasField("shape"):
        return None
    shape = [d.dim_value if d.HasField("dim_value") else -1 for d in tt.shape.dim]
    return {"type": "tensor", "tensor-spec": {"dtype": ONNX_TO_NAME[tt.elem_type], "shape": shape},
            "name": v.name}


def mlmodel_text(model, session_options=None):
    """MLmodel as mlflow.onnx.save_model (MLflow 2.17) writes it."""
    lines = [
        "artifact_path: model",
        "flavors:",
        "  onnx:",
        "    code: null",
        "    data: model.onnx",
    ]
    if session_options is not None:
        lines.append("    onnx_session_options:")
        lines.extend("      " + l for l in session_options)
    lines += [
        "    onnx_version: " + onnx.__version__,
        "    providers:",
        "    - CUDAExecutionProvider",
        "    - CPUExecutionProvider",
        "  python_function:",
        "    data: model.onnx",
        "    loader_module: mlflow.onnx",
        "    python_version: 3.11.2",
        "mlflow_version: 2.17.2",
        "model_uuid: " + ("%032x" % (abs(hash_name(model.graph.name)))),
    ]
    ins = [spec(v) for v in model.graph.input]
    outs = [spec(v) for v in model.graph.output]
    if all(ins) and all(outs):
        lines += [
            "signature:",
            "  inputs: '" + json.dumps(ins) + "'",
            "  outputs: '" + json.dumps(outs) + "'",
            "  params: null",
        ]
    lines.append("utc_time_created: '2026-11-26 00:00:00.000000'")
    return "\n".join(lines) + "\n"


def hash_name(s):
    # A stable (unlike hash()) 128-bit number for the model uuid.
    h = 0
    for c in s.encode():
        h = (h * 1099511628211 + c) % (1 << 128)
    return h


def encode(arr):
    arr = np.asarray(arr)
    if arr.dtype.kind == "U":
        data = [str(x) for x in arr.reshape(-1)]
        dtype = "str"
    else:
        data = arr.reshape(-1).tolist()
        dtype = {np.dtype(v[1]): k for k, v in DTYPES.items() if k != "str"}[arr.dtype]
    return {"dtype": dtype, "shape": list(arr.shape), "data": data}


def write(name, model, cases, session_options=None, external=False):
    d = os.path.join(OUT, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    path = os.path.join(d, "model.onnx")
    if external:
        # As mlflow.onnx.save_model does by default (save_as_external_data),
        # with every tensor moved out so that the side file surely exists.
        onnx.save_model(model, path, save_as_external_data=True, all_tensors_to_one_file=True,
                        location="model.onnx.data", size_threshold=0)
    else:
        onnx.save_model(model, path)
    with open(os.path.join(d, "MLmodel"), "w") as f:
        f.write(mlmodel_text(model, session_options))
    doc = {"cases": [{"name": c[0], "inputs": {k: encode(v) for k, v in c[1].items()},
                      "outputs": {k: encode(v) for k, v in c[2].items()}} for c in cases]}
    with open(os.path.join(d, "expected.json"), "w") as f:
        f.write('{"cases": [\n' + ",\n".join(json.dumps(c) for c in doc["cases"]) + "\n]}\n")


def sample(dtype, shape):
    """Distinct, exactly representable values of a dtype."""
    n = int(np.prod(shape))
    if dtype is np.str_:
        words = ["alpha", "", "gamma δ", "x" * 40, "line\nbreak", "🙂"]
        return np.array([words[i % len(words)] + str(i) for i in range(n)]).reshape(shape)
    if dtype is np.bool_:
        return (np.arange(n) % 3 == 0).reshape(shape)
    if np.issubdtype(dtype, np.floating):
        return (np.arange(n, dtype=np.float64) * 0.25 - 2.5).astype(dtype).reshape(shape)
    info = np.iinfo(dtype)
    vals = [info.min, info.max, 0, 1] + list(range(2, n))
    return np.array(vals[:n], dtype=dtype).reshape(shape)


def identity_models():
    # One Identity model per element type, rank 3 so that the layout of
    # nested FixedSizeList columns is checked element by element. float16
    # has a fixed batch: a float16 output's shape must be known before the
    # run, from the model (here) or from the inputs (float16_dynamic).
    for name, (elem, dtype) in DTYPES.items():
        batch = 4 if name == "float16" else "batch"
        m = make_model("identity_" + name, [helper.make_node("Identity", ["x"], ["y"])],
                       [vi("x", elem, [batch, 2, 3])], [vi("y", elem, [batch, 2, 3])])
        x = sample(dtype, (4, 2, 3))
        write("identity_" + name, m, [("batch4", {"x": x}, {"y": x})])


def linear_model():
    w = RNG.normal(size=(4, 2)).astype(np.float32)
    b = RNG.normal(size=(2,)).astype(np.float32)
    m = make_model("linear", [
        helper.make_node("MatMul", ["input", "w"], ["xw"]),
        helper.make_node("Add", ["xw", "b"], ["output"]),
    ], [vi("input", T.FLOAT, ["batch", 4])], [vi("output", T.FLOAT, ["batch", 2])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    cases = []
    for n in (1, 64):
        # Multiples of 1/8: exact in float32, so float64 and integer
        # feeds of the same numbers must give the same outputs.
        x = (RNG.integers(-40, 40, size=(n, 4)) / 8).astype(np.float32)
        cases.append(("batch%d" % n, {"input": x}, {"output": x @ w + b}))
    # An empty batch: zero rows in, zero rows out.
    x = np.zeros((0, 4), np.float32)
    cases.append(("batch0", {"input": x}, {"output": x @ w + b}))
    # Whole numbers, for feeding integer columns to the float input.
    x = RNG.integers(-5, 6, size=(3, 4)).astype(np.float32)
    cases.append(("integral", {"input": x}, {"output": x @ w + b}))
    write("linear", m, cases, session_options=[
        "execution_mode: SEQUENTIAL",
        "extra_session_config:",
        "  session.intra_op.allow_spinning: '0'",
        "graph_optimization_level: 99",
        "inter_op_num_threads: 1",
        "intra_op_num_threads: 1",
    ])


def external_data_model():
    w = RNG.normal(size=(8, 16)).astype(np.float32)
    b = RNG.normal(size=(16,)).astype(np.float32)
    m = make_model("external_data", [
        helper.make_node("MatMul", ["input", "w"], ["xw"]),
        helper.make_node("Add", ["xw", "b"], ["output"]),
    ], [vi("input", T.FLOAT, ["batch", 8])], [vi("output", T.FLOAT, ["batch", 16])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    x = (RNG.integers(-40, 40, size=(3, 8)) / 8).astype(np.float32)
    write("external_data", m, [("batch3", {"input": x}, {"output": x @ w + b})], external=True)


def multi_io_model():
    m = make_model("multi_io", [
        helper.make_node("Mul", ["a", "two"], ["scaled"]),
        helper.make_node("Add", ["b", "ten"], ["shifted"]),
        helper.make_node("ReduceSum", ["a", "axis1"], ["rowsum"], keepdims=0),
    ], [vi("a", T.FLOAT, ["batch", 3]), vi("b", T.INT64, ["batch"])],
        [vi("scaled", T.FLOAT, ["batch", 3]), vi("shifted", T.INT64, ["batch"]),
         vi("rowsum", T.FLOAT, ["batch"])],
        [numpy_helper.from_array(np.array(2, np.float32), "two"),
         numpy_helper.from_array(np.array(10, np.int64), "ten"),
         numpy_helper.from_array(np.array([1], np.int64), "axis1")])
    a = sample(np.float32, (5, 3))
    b = np.array([-3, 0, 7, 1 << 40, -(1 << 40)], np.int64)
    write("multi_io", m, [("batch5", {"a": a, "b": b},
                           {"scaled": a * 2, "shifted": b + 10, "rowsum": a.sum(axis=1)})])


def int_scale_model():
    m = make_model("int_scale", [helper.make_node("Mul", ["x", "three"], ["y"])],
                   [vi("x", T.INT64, ["batch"])], [vi("y", T.INT64, ["batch"])],
                   [numpy_helper.from_array(np.array(3, np.int64), "three")])
    x = np.array([2, -5, 0], np.int64)
    write("int_scale", m, [("batch3", {"x": x}, {"y": x * 3})])


def scalar_model():
    # 0-d input and 0-d outputs of three kinds: computed from the input,
    # an int64 from Size, and a string constant.
    m = make_model("scalar", [
        helper.make_node("Mul", ["x", "two"], ["doubled"]),
        helper.make_node("Size", ["x"], ["size"]),
        helper.make_node("Constant", [], ["label"],
                         value=helper.make_tensor("label_value", T.STRING, [], [b"scalar"])),
    ], [vi("x", T.FLOAT, [])],
        [vi("doubled", T.FLOAT, []), vi("size", T.INT64, []), vi("label", T.STRING, [])],
        [numpy_helper.from_array(np.array(2, np.float32), "two")])
    x = np.array(3.5, np.float32)
    write("scalar", m, [("scalar", {"x": x},
                         {"doubled": x * np.float32(2), "size": np.array(x.size, np.int64),
                          "label": np.array("scalar")})])


def unbatched_outputs_model():
    # Outputs whose first dimensions differ ([batch,3] and [3]): they cannot
    # share rows, so each comes back as one whole tensor.
    m = make_model("unbatched_outputs", [
        helper.make_node("Mul", ["x", "two"], ["doubled"]),
        helper.make_node("ReduceSum", ["x", "axis0"], ["colsum"], keepdims=0),
    ], [vi("x", T.FLOAT, ["batch", 3])],
        [vi("doubled", T.FLOAT, ["batch", 3]), vi("colsum", T.FLOAT, [3])],
        [numpy_helper.from_array(np.array(2, np.float32), "two"),
         numpy_helper.from_array(np.array([0], np.int64), "axis0")])
    x = sample(np.float32, (2, 3))
    write("unbatched_outputs", m, [("batch2", {"x": x}, {"doubled": x * 2, "colsum": x.sum(axis=0)})])


def seq_mean_model():
    # Two dynamic axes: batch and time.
    m = make_model("seq_mean", [helper.make_node("ReduceMean", ["x"], ["mean"], axes=[1], keepdims=0)],
                   [vi("x", T.FLOAT, ["batch", "time"])], [vi("mean", T.FLOAT, ["batch"])])
    cases = []
    for n, t in ((2, 3), (3, 5)):
        x = sample(np.float32, (n, t))
        cases.append(("batch%d_time%d" % (n, t), {"x": x}, {"mean": x.mean(axis=1)}))
    write("seq_mean", m, cases)


def unknown_rank_model():
    # "x" and "y" declare no shape at all; "s" and "neg" are 0-d. ONNX
    # Runtime reports both as zero dimensions. onnx's checker insists on a
    # shape for graph inputs and outputs, ONNX Runtime does not, and such
    # models exist, so the checker is skipped here.
    m = make_model("unknown_rank", [
        helper.make_node("Identity", ["x"], ["y"]),
        helper.make_node("Neg", ["s"], ["neg"]),
    ], [vi("x", T.FLOAT, None), vi("s", T.FLOAT, [])],
        [vi("y", T.FLOAT, None), vi("neg", T.FLOAT, [])], check=False)
    x1 = np.array([1.5], np.float32)
    x23 = sample(np.float32, (2, 3))
    s = np.array(2.25, np.float32)
    write("unknown_rank", m, [
        ("rank1_len1", {"x": x1, "s": s}, {"y": x1, "neg": -s}),
        ("rank2", {"x": x23, "s": s}, {"y": x23, "neg": -s}),
    ])


def stack_models():
    # Two-dimensional integer and string inputs, for tables whose scalar
    # columns are stacked into one tensor (MLflow's DataFrame.values).
    m = make_model("stack_int", [helper.make_node("Mul", ["x", "two"], ["y"])],
                   [vi("x", T.INT32, ["batch", 3])], [vi("y", T.INT32, ["batch", 3])],
                   [numpy_helper.from_array(np.array(2, np.int32), "two")])
    x = np.array([[1, -2, 3], [40000, 0, -7]], np.int32)
    write("stack_int", m, [("batch2", {"x": x}, {"y": x * np.int32(2)})])
    m = make_model("stack_str", [helper.make_node("Identity", ["x"], ["y"])],
                   [vi("x", T.STRING, ["batch", 2])], [vi("y", T.STRING, ["batch", 2])])
    x = np.array([["a", "bb"], ["", "δδδ"], ["x y", "z"]])
    write("stack_str", m, [("batch3", {"x": x}, {"y": x})])


def half_to_float_model():
    # A float16 input with a dynamic batch (fed without a copy when the
    # column is float16), including an empty batch.
    m = make_model("half_to_float", [helper.make_node("Cast", ["x"], ["y"], to=T.FLOAT)],
                   [vi("x", T.FLOAT16, ["batch", 2])], [vi("y", T.FLOAT, ["batch", 2])])
    cases = []
    for n in (3, 0):
        x = (np.arange(2 * n).reshape(n, 2) * 0.3 - 1).astype(np.float16)
        cases.append(("batch%d" % n, {"x": x}, {"y": x.astype(np.float32)}))
    write("half_to_float", m, cases)


def float16_dynamic_models():
    # float16 outputs whose shape depends on the batch. onnxruntime_go
    # cannot take over a float16 tensor ONNX Runtime allocated (it copies
    # one byte per element), so the flavor allocates it beforehand; that
    # needs the output's shape before the run: here "batch" is named like
    # the input's first dimension. In float16_untied the output dimension
    # has a name of its own, and the flavor must say it cannot return it.
    for name, out_dim in (("float16_dynamic", "batch"), ("float16_untied", "rows")):
        m = make_model(name, [
            helper.make_node("Cast", ["x"], ["half"], to=T.FLOAT16),
            helper.make_node("Cast", ["half"], ["back"], to=T.FLOAT),
        ], [vi("x", T.FLOAT, ["batch", 2])],
            [vi("half", T.FLOAT16, [out_dim, 2]), vi("back", T.FLOAT, ["batch", 2])])
        x = np.array([[0.1, 1.5], [-2.0, 65504.0], [3.0, -0.5]], np.float32)
        write(name, m, [("batch3", {"x": x},
                         {"half": x.astype(np.float16),
                          "back": x.astype(np.float16).astype(np.float32)})])


def slow_chain_model():
    # Forty chained MatMuls of an [n, n] input with itself: seconds of work
    # at n=512, for cancellation tests. Values are not checked.
    nodes, prev = [], "x"
    for i in range(40):
        out = "y" if i == 39 else "m%d" % i
        nodes.append(helper.make_node("MatMul", [prev, "x"], [out]))
        prev = out
    m = make_model("slow_chain", nodes, [vi("x", T.FLOAT, ["n", "n"])], [vi("y", T.FLOAT, ["n", "n"])])
    write("slow_chain", m, [])


def main():
    os.makedirs(OUT, exist_ok=True)
    identity_models()
    linear_model()
    external_data_model()
    multi_io_model()
    int_scale_model()
    scalar_model()
    unbatched_outputs_model()
    seq_mean_model()
    unknown_rank_model()
    stack_models()
    half_to_float_model()
    float16_dynamic_models()
    slow_chain_model()


if __name__ == "__main__":
    main()
