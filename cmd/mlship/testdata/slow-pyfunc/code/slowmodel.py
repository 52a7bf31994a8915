"""A python_function model loaded through its own loader module: y = 2x,
taking 20 ms per call, so a test can interrupt a run while it works."""
import time


class _Model:
    def predict(self, df):
        time.sleep(0.02)
        return df["x"].to_numpy() * 2.0


def _load_pyfunc(path):
    return _Model()
