#!/usr/bin/env python3
"""Builds examples/iris-onnx/model: an iris classifier saved in MLflow's
model-directory layout with an `onnx` flavor.

A multinomial logistic regression is trained with scikit-learn on the iris
data set and exported by hand as an ONNX graph (MatMul + Add + Softmax for
`probabilities`, ArgMax for `label`), because skl2onnx and MLflow are not
packaged for Debian 12. The MLmodel descriptor, environment files and input
examples follow what mlflow.onnx.save_model (MLflow 2.17) writes.

Run with Debian's interpreter and packages:
    apt-get install python3-sklearn python3-onnx
    /usr/bin/python3 examples/iris-onnx/make_model.py
The output is deterministic: running it again rewrites identical files.
"""
import json
import os
import platform
import shutil
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "model")


def build_graph(coef, intercept):
    w = numpy_helper.from_array(coef.T.astype(np.float32), "coef")
    b = numpy_helper.from_array(intercept.astype(np.float32), "intercept")
    nodes = [
        helper.make_node("MatMul", ["input", "coef"], ["logits_raw"]),
        helper.make_node("Add", ["logits_raw", "intercept"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
        helper.make_node("ArgMax", ["logits"], ["label"], axis=1, keepdims=0),
    ]
    graph = helper.make_graph(
        nodes,
        "iris_logistic_regression",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 4])],
        [
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 3]),
            helper.make_tensor_value_info("label", TensorProto.INT64, ["batch"]),
        ],
        initializer=[w, b],
    )
    model = helper.make_model(graph, producer_name="mlship-examples", opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


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
model_uuid: 6a1f0e2b3c4d4e5f8a9b0c1d2e3f4a5b
saved_input_example_info:
  artifact_path: input_example.json
  serving_input_path: serving_input_example.json
  type: ndarray
signature:
  inputs: '[{{"name": "input", "type": "tensor", "tensor-spec": {{"dtype": "float32", "shape": [-1, 4]}}}}]'
  outputs: '[{{"name": "probabilities", "type": "tensor", "tensor-spec": {{"dtype": "float32", "shape": [-1, 3]}}}}, {{"name": "label", "type": "tensor", "tensor-spec": {{"dtype": "int64", "shape": [-1]}}}}]'
  params: null
utc_time_created: '2026-11-26 00:00:00.000000'
"""


def main():
    iris = load_iris()
    clf = LogisticRegression(max_iter=1000, random_state=0).fit(iris.data, iris.target)
    model = build_graph(clf.coef_, clf.intercept_)

    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    onnx.save_model(model, os.path.join(OUT, "model.onnx"))
    size = os.path.getsize(os.path.join(OUT, "model.onnx"))

    example = iris.data[[0, 50, 100]].round(1).tolist()
    with open(os.path.join(OUT, "input_example.json"), "w") as f:
        json.dump({"input": example}, f)
    with open(os.path.join(OUT, "serving_input_example.json"), "w") as f:
        json.dump({"inputs": {"input": example}}, f, indent=2)

    py = "3.11.2" if sys.version_info[:2] == (3, 11) else platform.python_version()
    with open(os.path.join(OUT, "MLmodel"), "w") as f:
        f.write(MLMODEL.format(onnx_version=onnx.__version__, python_version=py, size=size))
    reqs = ["mlflow==2.17.2", "onnx==%s" % onnx.__version__, "onnxruntime==1.20.0"]
    with open(os.path.join(OUT, "requirements.txt"), "w") as f:
        f.write("\n".join(reqs))
    with open(os.path.join(OUT, "python_env.yaml"), "w") as f:
        f.write("python: %s\nbuild_dependencies:\n- pip==23.0.1\n- setuptools==66.1.1\n- wheel==0.38.4\n"
                "dependencies:\n- -r requirements.txt\n" % py)
    with open(os.path.join(OUT, "conda.yaml"), "w") as f:
        f.write("channels:\n- conda-forge\ndependencies:\n- python=%s\n- pip<=23.0.1\n- pip:\n"
                % py + "".join("  - %s\n" % r for r in reqs) + "name: mlflow-env\n")

    # Reference answers for tests: numpy's evaluation of the same graph.
    x = np.array(example, dtype=np.float32)
    logits = x @ clf.coef_.T.astype(np.float32) + clf.intercept_.astype(np.float32)
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs = e / e.sum(axis=1, keepdims=True)
    with open(os.path.join(HERE, "expected.json"), "w") as f:
        json.dump({"input": example, "probabilities": probs.astype(np.float32).tolist(),
                   "label": logits.argmax(axis=1).tolist(),
                   "sklearn_label": clf.predict(np.array(example)).tolist()}, f, indent=1)
    print("wrote", OUT)


if __name__ == "__main__":
    main()
