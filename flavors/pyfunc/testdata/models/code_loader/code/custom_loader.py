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
