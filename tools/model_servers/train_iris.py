"""Trains the iris model the model servers serve, and writes what the tests
compare against.

Usage: train_iris.py OUT_DIR
Writes OUT_DIR/model.joblib (scikit-learn LogisticRegression, class indices
0 setosa, 1 versicolor, 2 virginica), OUT_DIR/model-settings.json (MLServer's
scikit-learn runtime, one declared input tensor "input-0" FP64 [-1, 4]) and
OUT_DIR/iris.csv (the 150 iris rows with the model's own prediction).
"""
import csv
import json
import os
import sys

import joblib
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    x, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=1000).fit(x, y)
    joblib.dump(model, os.path.join(out, "model.joblib"))
    settings = {
        "name": "iris",
        "implementation": "mlserver_sklearn.SKLearnModel",
        "inputs": [{"name": "input-0", "datatype": "FP64", "shape": [-1, 4]}],
        "outputs": [{"name": "predict", "datatype": "INT64", "shape": [-1, 1]}],
        "parameters": {"uri": "./model.joblib", "version": "v1"},
    }
    with open(os.path.join(out, "model-settings.json"), "w") as f:
        json.dump(settings, f, indent=2)
    pred = model.predict(x)
    with open(os.path.join(out, "iris.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["sepal_length", "sepal_width", "petal_length", "petal_width", "prediction"])
        for row, p in zip(x, pred):
            w.writerow([repr(float(v)) for v in row] + [int(p)])


if __name__ == "__main__":
    main()
