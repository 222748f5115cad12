"""The iris model behind KServe's Python model server (v1 protocol, the
TensorFlow Serving REST form): POST /v1/models/<name>:predict with
{"instances": [[4 numbers], ...]} or the columnar {"inputs": [[...], ...]}
answers {"predictions": [class index, ...]}.

Usage: kserve_iris.py --model_name iris --model_path model.joblib --http_port P [--grpc_port G]
"""
import argparse

import joblib
import kserve
import numpy as np


class Iris(kserve.Model):
    def __init__(self, name, path):
        super().__init__(name)
        self.path = path
        self.model = None
        self.load()

    def load(self):
        self.model = joblib.load(self.path)
        self.ready = True
        return True

    def predict(self, payload, headers=None):
        rows = payload.get("instances")
        if rows is None:
            rows = payload.get("inputs")
        if not isinstance(rows, list):
            raise kserve.errors.InvalidInput("expected 'instances' or 'inputs' as a list of rows")
        x = np.asarray(rows, dtype=float)
        if x.ndim != 2 or x.shape[1] != 4:
            raise kserve.errors.InvalidInput(f"expected rows of 4 numbers, got shape {list(x.shape)}")
        return {"predictions": self.model.predict(x).tolist()}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(parents=[kserve.model_server.parser])
    parser.add_argument("--model_path", required=True)
    args, _ = parser.parse_known_args()
    kserve.ModelServer().start([Iris(args.model_name, args.model_path)])
