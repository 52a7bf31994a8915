#!/usr/bin/env python3
"""Builds examples/mlp-onnx/model: a 256-512-512-10 multilayer perceptron
saved in MLflow's model-directory layout with an `onnx` flavor.

It is the heavier benchmark model next to examples/iris-onnx: one row costs
about 400k multiply-adds (the iris model needs 12), so the time goes into
the model rather than into HTTP, and merging requests into batches pays off
the way it does for real networks (one Gemm over 64 rows is far cheaper than
64 Gemms over one row).

The weights are random (a fixed seed, He-scaled so activations stay in a
sane range); the network is not trained on anything. The graph is written
by hand as PyTorch's exporter would write nn.Linear layers: Gemm with
transB=1 and weights stored [out, in], Relu between layers, opset 13. The
MLmodel descriptor, environment files and input examples follow what
mlflow.onnx.save_model (MLflow 2.17) writes.

Run with Debian's interpreter and packages:
    apt-get install python3-onnx python3-numpy
    /usr/bin/python3 examples/mlp-onnx/make_model.py
The output is deterministic: running it again rewrites identical files.

    /usr/bin/python3 examples/mlp-onnx/make_model.py --hidden 2048 --out /tmp/mlp-wide
writes a wider variant (DIR/model and DIR/expected.json) for experiments:
at 2048 units one row reads 19 MB of weights, so the model, not HTTP,
bounds a server on a small machine, which is where batching pays.
"""
import argparse
import json
import os
import platform
import shutil
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))

SIZES = [256, 512, 512, 10]  # input, hidden, hidden, output; --hidden changes the middle two
SEED = 20261126


def make_weights():
    """He-initialised weights [out, in] and small biases, float32."""
    rng = np.random.default_rng(SEED)
    layers = []
    for fan_in, fan_out in zip(SIZES[:-1], SIZES[1:]):
        w = (rng.standard_normal((fan_out, fan_in)) * np.sqrt(2.0 / fan_in)).astype(np.float32)
        b = (rng.standard_normal(fan_out) * 0.01).astype(np.float32)
        layers.append((w, b))
    return layers


def build_graph(layers):
    nodes, inits = [], []
    x = "input"
    for i, (w, b) in enumerate(layers):
        inits.append(numpy_helper.from_array(w, "fc%d.weight" % i))
        inits.append(numpy_helper.from_array(b, "fc%d.bias" % i))
        last = i == len(layers) - 1
        y = "output" if last else "fc%d" % i
        nodes.append(helper.make_node("Gemm", [x, "fc%d.weight" % i, "fc%d.bias" % i], [y],
                                      alpha=1.0, beta=1.0, transB=1))
        if not last:
            nodes.append(helper.make_node("Relu", [y], ["relu%d" % i]))
            y = "relu%d" % i
        x = y
    graph = helper.make_graph(
        nodes,
        "mlp_" + "_".join(str(n) for n in SIZES),
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", SIZES[0]])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", SIZES[-1]])],
        initializer=inits,
    )
    model = helper.make_model(graph, producer_name="mlship-examples", opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def forward(layers, x):
    """numpy's evaluation of the same graph, in float32."""
    for i, (w, b) in enumerate(layers):
        x = (x @ w.T + b).astype(np.float32)
        if i < len(layers) - 1:
            x = np.maximum(x, 0)
    return x


MLMODEL = """\
artifact_path: model
flavors:
  onnx:
    code: null
    data: model.onnx
    onnx_version: {onnx_version}
    providers:
    - CUDAExecutionProvider
    - CPUExecutionProvider
  python_function:
    data: model.onnx
    env:
      conda: conda.yaml
      virtualenv: python_env.yaml
    loader_module: mlflow.onnx
    python_version: {python_version}
mlflow_version: 2.17.2
model_size_bytes: {size}
model_uuid: 3c9d2e7f1a5b4c6d8e0f2a4b6c8d0e1f
saved_input_example_info:
  artifact_path: input_example.json
  serving_input_path: serving_input_example.json
  type: ndarray
signature:
  inputs: '[{{"type": "tensor", "tensor-spec": {{"dtype": "float32", "shape": [-1, {n_in}]}}, "name": "input"}}]'
  outputs: '[{{"type": "tensor", "tensor-spec": {{"dtype": "float32", "shape": [-1, {n_out}]}}, "name": "output"}}]'
  params: null
utc_time_created: '2026-11-26 00:00:00.000000'
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hidden", type=int, default=SIZES[1], help="units in each hidden layer (default %(default)s)")
    ap.add_argument("--out", default=HERE, help="directory for model/ and expected.json (default: beside this script)")
    args = ap.parse_args()
    SIZES[1] = SIZES[2] = args.hidden
    here = args.out
    model_dir = os.path.join(here, "model")

    layers = make_weights()
    model = build_graph(layers)

    if os.path.isdir(model_dir):
        shutil.rmtree(model_dir)
    os.makedirs(model_dir)
    onnx.save_model(model, os.path.join(model_dir, "model.onnx"))
    size = os.path.getsize(os.path.join(model_dir, "model.onnx"))

    # Three example rows with three decimals, so that the JSON text is the
    # exact float32 input the reference answers below are computed from.
    rng = np.random.default_rng(SEED + 1)
    example = rng.standard_normal((3, SIZES[0])).round(3).tolist()
    with open(os.path.join(model_dir, "input_example.json"), "w") as f:
        json.dump({"input": example}, f)
    with open(os.path.join(model_dir, "serving_input_example.json"), "w") as f:
        json.dump({"inputs": {"input": example}}, f, indent=2)

    py = "3.11.2" if sys.version_info[:2] == (3, 11) else platform.python_version()
    with open(os.path.join(model_dir, "MLmodel"), "w") as f:
        f.write(MLMODEL.format(onnx_version=onnx.__version__, python_version=py, size=size,
                               n_in=SIZES[0], n_out=SIZES[-1]))
    reqs = ["mlflow==2.17.2", "onnx==%s" % onnx.__version__, "onnxruntime==1.20.0"]
    with open(os.path.join(model_dir, "requirements.txt"), "w") as f:
        f.write("\n".join(reqs))
    with open(os.path.join(model_dir, "python_env.yaml"), "w") as f:
        f.write("python: %s\nbuild_dependencies:\n- pip==23.0.1\n- setuptools==66.1.1\n- wheel==0.38.4\n"
                "dependencies:\n- -r requirements.txt\n" % py)
    with open(os.path.join(model_dir, "conda.yaml"), "w") as f:
        f.write("channels:\n- conda-forge\ndependencies:\n- python=%s\n- pip<=23.0.1\n- pip:\n"
                % py + "".join("  - %s\n" % r for r in reqs) + "name: mlflow-env\n")

    # Reference answers for tests: numpy's evaluation of the same graph.
    out = forward(layers, np.array(example, dtype=np.float32))
    with open(os.path.join(here, "expected.json"), "w") as f:
        json.dump({"input": example, "output": out.tolist(),
                   "argmax": out.argmax(axis=1).tolist()}, f)
    print("wrote", model_dir)


if __name__ == "__main__":
    main()
