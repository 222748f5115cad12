#!/usr/bin/env python3
"""Generate evserve's PMML test fixtures (and, with --bench, benchmark models).

For every fixture this writes, into the output directory:

  <name>.pmml          the model, converted by sklearn2pmml (Header Timestamp removed)
  <name>.input.csv     input rows; header = the PMML's non-target DataField names;
                       missing cells are written as N/A
  <name>.expected.csv  predictions of the ORIGINAL Python model (sklearn / xgboost /
                       lightgbm predict, predict_proba, decision_function, ...),
                       row-aligned with the input; header = the PMML target field and
                       the PMML OutputField names
  fixtures.tsv         one line per fixture: name, files, tolerance, zero_threshold,
                       skip_columns, description

Everything is seeded, so re-running gives byte-identical files on the same machine and
package versions. See README.md next to this file.
"""

import argparse
import csv
import io
import math
import os
import re
import sys
import tempfile
import warnings
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd

warnings.filterwarnings("ignore")

from sklearn.cluster import KMeans
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris, load_wine, make_classification
from sklearn.ensemble import (GradientBoostingClassifier, GradientBoostingRegressor,
                              HistGradientBoostingClassifier, IsolationForest, RandomForestClassifier)
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier

from sklearn2pmml import sklearn2pmml
from sklearn2pmml.decoration import CategoricalDomain, ContinuousDomain
from sklearn2pmml.feature_extraction.text import Splitter
from sklearn2pmml.pipeline import PMMLPipeline
from sklearn2pmml.preprocessing import ExpressionTransformer, PMMLLabelEncoder

import lightgbm
import xgboost

PMML_NS = "{http://www.dmg.org/PMML-4_4}"
MISSING = "N/A"
SEED = 20261127

# The converter posts an incident report to a remote host when a conversion fails.
# Route any such request to a closed loopback port instead: this machine has no
# internet, and the tool must never talk to anything but the package registries.
JAVA_OPTS = [
    "-Dhttps.proxyHost=127.0.0.1", "-Dhttps.proxyPort=9",
    "-Dhttp.proxyHost=127.0.0.1", "-Dhttp.proxyPort=9",
]


def log(msg):
    print(msg, flush=True)


# --------------------------------------------------------------------------- datasets

IRIS_COLUMNS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
WINE_COLUMNS = ["alcohol", "malic_acid", "ash", "alcalinity_of_ash", "magnesium", "total_phenols",
                "flavanoids", "nonflavanoid_phenols", "proanthocyanins", "color_intensity", "hue",
                "od280_od315", "proline"]


def iris():
    d = load_iris()
    X = pd.DataFrame(d.data, columns=IRIS_COLUMNS)
    y = pd.Series(np.asarray(d.target_names)[d.target], name="species")
    return X, y


def wine():
    d = load_wine()
    X = pd.DataFrame(d.data, columns=WINE_COLUMNS)
    y = pd.Series(np.asarray(d.target_names)[d.target], name="cultivar")
    return X, y


def breast_cancer():
    d = load_breast_cancer()
    cols = [c.replace(" ", "_") for c in d.feature_names]
    X = pd.DataFrame(d.data, columns=cols)
    y = pd.Series(np.asarray(d.target_names)[d.target], name="diagnosis")
    return X, y


def diabetes():
    d = load_diabetes()
    X = pd.DataFrame(d.data, columns=list(d.feature_names))
    y = pd.Series(d.target, name="progression")
    return X, y


def sample_rows(n_total, n, seed):
    rng = np.random.RandomState(seed)
    return np.sort(rng.choice(n_total, size=n, replace=False))


def inject_missing(X, frac, seed, columns=None):
    """Return a copy of X with about frac of the cells (of `columns`) set to missing."""
    X = X.copy()
    rng = np.random.RandomState(seed)
    cols = list(X.columns) if columns is None else columns
    for c in cols:
        mask = rng.rand(len(X)) < frac
        X.loc[mask, c] = np.nan if X[c].dtype.kind == "f" else None
    return X


def with_missing_rows(X, seed, n_rows=8):
    """Copy of X where n_rows rows (spread out) get one or two missing cells each,
    plus one row that is entirely missing."""
    X = X.copy()
    rng = np.random.RandomState(seed)
    rows = rng.choice(len(X) - 1, size=n_rows, replace=False)
    for i, r in enumerate(rows):
        k = 1 + (i % 2)
        for c in rng.choice(len(X.columns), size=k, replace=False):
            col = X.columns[c]
            X.iloc[r, c] = np.nan if X[col].dtype.kind == "f" else None
    last = len(X) - 1
    for c, col in enumerate(X.columns):
        X.iloc[last, c] = np.nan if X[col].dtype.kind == "f" else None
    return X


# --------------------------------------------------------------------------- helpers

def proba_frame(target, classes, proba, labels):
    out = {target: [str(v) for v in labels]}
    for j, c in enumerate(classes):
        out["probability(%s)" % c] = proba[:, j]
    return pd.DataFrame(out)


def unambiguous_proba(proba, gap=1e-9):
    """Mask of rows whose best class beats the runner-up by more than gap (ties between
    classes are resolved differently by different evaluators, so such rows are dropped)."""
    s = np.sort(proba, axis=1)
    return (s[:, -1] - s[:, -2]) > gap


class Fixture:
    def __init__(self, name, pipeline, X, expected, tolerance, zero_threshold, description,
                 skip_columns=(), float32_outputs=False):
        self.name = name
        self.pipeline = pipeline
        self.X = X.reset_index(drop=True)
        self.expected = expected.reset_index(drop=True)
        self.tolerance = tolerance
        self.zero_threshold = zero_threshold
        self.description = description
        self.skip_columns = list(skip_columns)
        self.float32_outputs = float32_outputs
        assert len(self.X) == len(self.expected), name


FIXTURES = []


def fixture(fn):
    FIXTURES.append(fn)
    return fn


# --------------------------------------------------------------------------- fixtures

@fixture
def iris_tree():
    X, y = iris()
    p = PMMLPipeline([("classifier", DecisionTreeClassifier(max_depth=4, random_state=SEED % 1000))])
    p.fit(X, y)
    proba = p.predict_proba(X)
    keep = unambiguous_proba(proba)
    X = X[keep]
    exp = proba_frame("species", p.classes_, p.predict_proba(X), p.predict(X))
    return Fixture("iris_tree", p, X, exp, 1e-12, 1e-15,
                   "DecisionTreeClassifier(max_depth=4) on iris, all 150 rows; demo model. "
                   "Inputs are float in PMML.")


@fixture
def iris_forest():
    X, y = iris()
    p = PMMLPipeline([("classifier", RandomForestClassifier(n_estimators=10, max_depth=5,
                                                            random_state=1, n_jobs=1))])
    p.fit(X, y)
    keep = unambiguous_proba(p.predict_proba(X))
    X = X[keep]
    exp = proba_frame("species", p.classes_, p.predict_proba(X), p.predict(X))
    return Fixture("iris_forest", p, X, exp, 1e-12, 1e-15,
                   "RandomForestClassifier(10 trees, max_depth=5) on iris; demo model. "
                   "probability = average of the trees' leaf class fractions. Rows whose two best "
                   "classes tie are left out. No missing cells: sklearn trees route NaN natively but "
                   "the PMML uses missingValueStrategy=nullPrediction, so they would not agree.")


@fixture
def iris_logreg():
    X, y = iris()
    p = PMMLPipeline([("classifier", LogisticRegression(max_iter=1000))])
    p.fit(X, y)
    exp = proba_frame("species", p.classes_, p.predict_proba(X), p.predict(X))
    return Fixture("iris_logreg", p, X, exp, 1e-12, 1e-15,
                   "Multinomial LogisticRegression (lbfgs) on iris, 150 rows: RegressionModel with "
                   "softmax normalization.")


@fixture
def breast_cancer_logreg():
    X, y = breast_cancer()
    p = PMMLPipeline([("scaler", StandardScaler()), ("classifier", LogisticRegression(max_iter=1000))])
    p.fit(X, y)
    Xs = X.iloc[sample_rows(len(X), 100, 11)]
    exp = proba_frame("diagnosis", p.classes_, p.predict_proba(Xs), p.predict(Xs))
    return Fixture("breast_cancer_logreg", p, Xs, exp, 1e-12, 1e-15,
                   "StandardScaler + binary LogisticRegression on breast_cancer (30 features, 100 of "
                   "569 rows): scaling becomes DerivedFields, then a logit RegressionModel.")


@fixture
def diabetes_linreg():
    X, y = diabetes()
    p = PMMLPipeline([("regressor", LinearRegression())])
    p.fit(X, y)
    Xs = X.iloc[sample_rows(len(X), 100, 12)]
    exp = pd.DataFrame({"progression": p.predict(Xs)})
    return Fixture("diabetes_linreg", p, Xs, exp, 1e-12, 1e-12,
                   "LinearRegression on diabetes (10 features, 100 of 442 rows).")


@fixture
def breast_cancer_gbc():
    X, y = breast_cancer()
    X = X.iloc[:, :10]
    p = PMMLPipeline([("classifier", GradientBoostingClassifier(n_estimators=40, max_depth=3,
                                                                learning_rate=0.1, random_state=3))])
    p.fit(X, y)
    Xs = X.iloc[sample_rows(len(X), 100, 13)]
    exp = proba_frame("diagnosis", p.classes_, p.predict_proba(Xs), p.predict(Xs))
    return Fixture("breast_cancer_gbc", p, Xs, exp, 1e-12, 1e-15,
                   "GradientBoostingClassifier (binary, 40 trees, depth 3) on the first 10 "
                   "breast_cancer features, 100 rows: sum of tree outputs + logit.")


@fixture
def diabetes_gbr():
    X, y = diabetes()
    p = PMMLPipeline([("regressor", GradientBoostingRegressor(n_estimators=50, max_depth=3,
                                                              learning_rate=0.1, random_state=4))])
    p.fit(X, y)
    Xs = X.iloc[sample_rows(len(X), 100, 14)]
    exp = pd.DataFrame({"progression": p.predict(Xs)})
    return Fixture("diabetes_gbr", p, Xs, exp, 1e-12, 1e-12,
                   "GradientBoostingRegressor (50 trees, depth 3) on diabetes, 100 rows.")


@fixture
def wine_xgb():
    X, y = wine()
    ycode = pd.Series(pd.Categorical(y).codes.astype(int), name="cultivar")
    Xm = inject_missing(X, 0.08, 21)
    p = PMMLPipeline([("classifier", xgboost.XGBClassifier(n_estimators=20, max_depth=3, learning_rate=0.3,
                                                           random_state=5, n_jobs=1, tree_method="hist"))])
    p.fit(Xm, ycode)
    Xs = Xm.iloc[sample_rows(len(Xm), 100, 15)]
    Xs = with_missing_rows(Xs, 22, n_rows=6)
    proba = p.predict_proba(Xs)
    keep = unambiguous_proba(proba, 1e-5)
    Xs = Xs[keep]
    exp = proba_frame("cultivar", p.classes_, p.predict_proba(Xs).astype(np.float32), p.predict(Xs))
    return Fixture("wine_xgb", p, Xs, exp, 1e-5, 1e-6,
                   "XGBClassifier multi:softprob (3 classes x 20 trees, depth 3) on wine with ~8% "
                   "missing cells (N/A) in training and input. Classes are coded 0/1/2. XGBoost works in "
                   "float32 (PMML x-mathContext=float), expected values are float32 results.",
                   float32_outputs=True)


@fixture
def diabetes_xgb():
    X, y = diabetes()
    Xm = inject_missing(X, 0.08, 23)
    p = PMMLPipeline([("regressor", xgboost.XGBRegressor(n_estimators=50, max_depth=3, learning_rate=0.1,
                                                         random_state=6, n_jobs=1, tree_method="hist"))])
    p.fit(Xm, y)
    Xs = Xm.iloc[sample_rows(len(Xm), 100, 16)]
    Xs = with_missing_rows(Xs, 24)
    exp = pd.DataFrame({"progression": p.predict(Xs).astype(np.float32)})
    return Fixture("diabetes_xgb", p, Xs, exp, 5e-6, 1e-6,
                   "XGBRegressor (50 trees, depth 3) on diabetes with ~8% missing cells (N/A). "
                   "float32 arithmetic (x-mathContext=float); expected values are float32 results.",
                   float32_outputs=True)


def churn_data(n, seed):
    """Synthetic binary data: 5 numeric features plus a categorical 'plan' column."""
    Xn, yb = make_classification(n_samples=n, n_features=5, n_informative=3, n_redundant=1,
                                 random_state=seed)
    rng = np.random.RandomState(seed)
    plans = np.array(["basic", "family", "premium", "student"])
    # the plan is informative: it depends on the class, with noise
    idx = np.where(rng.rand(n) < 0.7, yb * 2 + rng.randint(0, 2, n), rng.randint(0, 4, n))
    X = pd.DataFrame(np.round(Xn, 6), columns=["usage", "tenure", "calls", "spend", "score"])
    X["plan"] = pd.Categorical(plans[idx], categories=list(plans))
    y = pd.Series(np.where(yb == 1, "yes", "no"), name="churn")
    return X, y


def lgbm_transformer(X):
    transformers, cats = [], []
    for i, (col, dtype) in enumerate(X.dtypes.items()):
        if isinstance(dtype, pd.CategoricalDtype):
            transformers.append((col, PMMLLabelEncoder(missing_values=-1), [col]))
            cats.append(i)
        else:
            transformers.append((col, "passthrough", [col]))
    return ColumnTransformer(transformers, remainder="drop"), cats


@fixture
def churn_lgbm():
    X, y = churn_data(600, 31)
    # every feature gets some missing cells in training: LightGBM only learns a missing-value
    # direction for features that had missing values (otherwise NaN is scored as 0.0)
    X = inject_missing(X, 0.06, 32)
    mapper, cats = lgbm_transformer(X)
    p = PMMLPipeline([("mapper", mapper),
                      ("classifier", lightgbm.LGBMClassifier(n_estimators=30, num_leaves=8, learning_rate=0.1,
                                                             random_state=7, n_jobs=1, deterministic=True,
                                                             verbose=-1))])
    p.fit(X, y, classifier__categorical_feature=cats)
    Xs = X.iloc[sample_rows(len(X), 100, 17)]
    Xs = with_missing_rows(Xs, 25)
    exp = proba_frame("churn", p.classes_, p.predict_proba(Xs), p.predict(Xs))
    return Fixture("churn_lgbm", p, Xs, exp, 1e-12, 1e-15,
                   "LGBMClassifier (binary, 30 trees, 8 leaves) on synthetic data with a categorical "
                   "string feature 'plan' (LightGBM categorical split, set predicates) and ~6% missing "
                   "numeric cells plus some missing plan values (N/A).")


@fixture
def diabetes_lgbm():
    X, y = diabetes()
    X = X.copy()
    X["sex"] = pd.Categorical(np.where(X["sex"] > 0, "male", "female"), categories=["female", "male"])
    X = inject_missing(X, 0.06, 33)
    mapper, cats = lgbm_transformer(X)
    p = PMMLPipeline([("mapper", mapper),
                      ("regressor", lightgbm.LGBMRegressor(n_estimators=40, num_leaves=8, learning_rate=0.1,
                                                           random_state=8, n_jobs=1, deterministic=True,
                                                           min_data_per_group=5, cat_smooth=1.0,
                                                           verbose=-1))])
    p.fit(X, y, regressor__categorical_feature=cats)
    Xs = X.iloc[sample_rows(len(X), 100, 18)]
    Xs = with_missing_rows(Xs, 26)
    exp = pd.DataFrame({"progression": p.predict(Xs)})
    return Fixture("diabetes_lgbm", p, Xs, exp, 1e-12, 1e-12,
                   "LGBMRegressor (40 trees, 8 leaves) on diabetes; 'sex' turned into a categorical "
                   "string feature (female/male); ~6% missing cells (N/A).")


@fixture
def wine_mlp():
    X, y = wine()
    p = PMMLPipeline([("scaler", StandardScaler()),
                      ("classifier", MLPClassifier(hidden_layer_sizes=(10,), activation="tanh", solver="lbfgs",
                                                   max_iter=2000, random_state=9))])
    p.fit(X, y)
    Xs = X.iloc[sample_rows(len(X), 100, 19)]
    exp = proba_frame("cultivar", p.classes_, p.predict_proba(Xs), p.predict(Xs))
    return Fixture("wine_mlp", p, Xs, exp, 1e-12, 1e-15,
                   "StandardScaler + MLPClassifier (1 hidden layer of 10, tanh, softmax output) on "
                   "wine, 100 rows: NeuralNetwork model.")


@fixture
def diabetes_mlp():
    X, y = diabetes()
    p = PMMLPipeline([("regressor", MLPRegressor(hidden_layer_sizes=(16, 8), activation="relu", solver="lbfgs",
                                                 max_iter=3000, random_state=10))])
    p.fit(X, y)
    Xs = X.iloc[sample_rows(len(X), 100, 20)]
    exp = pd.DataFrame({"progression": p.predict(Xs)})
    return Fixture("diabetes_mlp", p, Xs, exp, 1e-12, 1e-12,
                   "MLPRegressor (hidden layers 16 and 8, relu, identity output) on diabetes, 100 rows.")


@fixture
def wine_gnb():
    X, y = wine()
    p = PMMLPipeline([("classifier", GaussianNB())])
    p.fit(X, y)
    Xs = X.iloc[sample_rows(len(X), 100, 21)]
    exp = proba_frame("cultivar", p.classes_, p.predict_proba(Xs), p.predict(Xs))
    return Fixture("wine_gnb", p, Xs, exp, 1e-11, 1e-15,
                   "GaussianNB on wine (13 features), 100 rows: NaiveBayesModel with "
                   "GaussianDistribution (variance includes sklearn's var_smoothing).")


@fixture
def breast_cancer_svc_rbf():
    X, y = breast_cancer()
    X = X.iloc[:, :10]
    p = PMMLPipeline([("scaler", StandardScaler()), ("classifier", SVC(kernel="rbf", C=1.0, gamma="scale"))])
    p.fit(X, y)
    Xs = X.iloc[sample_rows(len(X), 100, 22)]
    keep = np.abs(p.decision_function(Xs)) > 1e-6
    Xs = Xs[keep]
    exp = pd.DataFrame({"diagnosis": p.predict(Xs)})
    return Fixture("breast_cancer_svc_rbf", p, Xs, exp, 1e-12, 1e-15,
                   "StandardScaler + SVC(kernel=rbf) binary on the first 10 breast_cancer features. "
                   "sklearn2pmml emits no probability or decision OutputFields for SVC (probability=True "
                   "is ignored), so only the predicted label is checked. Rows within 1e-6 of the "
                   "decision boundary are left out.")


@fixture
def iris_svc_linear():
    X, y = iris()
    p = PMMLPipeline([("classifier", SVC(kernel="linear", C=1.0, decision_function_shape="ovo"))])
    p.fit(X, y)
    dec = p.decision_function(X)
    # one-against-one votes; drop rows whose vote is tied or which lie on a boundary
    n = len(p.classes_)
    votes = np.zeros((len(X), n))
    k = 0
    for i in range(n):
        for j in range(i + 1, n):
            votes[:, i] += dec[:, k] > 0
            votes[:, j] += dec[:, k] <= 0
            k += 1
    vs = np.sort(votes, axis=1)
    keep = (vs[:, -1] > vs[:, -2]) & (np.min(np.abs(dec), axis=1) > 1e-6)
    X = X[keep]
    exp = pd.DataFrame({"species": p.predict(X)})
    return Fixture("iris_svc_linear", p, X, exp, 1e-12, 1e-15,
                   "SVC(kernel=linear) on iris, 3 classes: SupportVectorMachineModel, OneAgainstOne "
                   "voting. Label only (no OutputFields are emitted for SVC). Rows with tied votes or "
                   "within 1e-6 of a pairwise boundary are left out.")


def knn_neighbors(model_pipeline, Xs, k):
    """1-based row numbers of the k nearest training instances (PMML entityId when the
    TrainingInstances have no id column is the 1-based row number)."""
    est = model_pipeline._final_estimator
    Xt = Xs
    if len(model_pipeline.steps) > 1:
        Xt = Pipeline(model_pipeline.steps[:-1]).transform(Xs)
    dist, ind = est.kneighbors(np.asarray(Xt, dtype=float), n_neighbors=k + 1)
    # drop rows where the k-th and (k+1)-th neighbours are (nearly) tied, or where any two
    # of the first k are tied (their order would be ambiguous)
    d = dist
    gaps = np.diff(d, axis=1)
    keep = np.all(gaps > 1e-9 * np.maximum(1.0, d[:, 1:]), axis=1)
    return ind[:, :k] + 1, keep


@fixture
def breast_cancer_knn():
    X, y = breast_cancer()
    X = X[["mean_radius", "mean_texture", "mean_smoothness", "mean_concavity", "mean_symmetry"]]
    tr = sample_rows(len(X), 150, 23)
    rest = np.setdiff1d(np.arange(len(X)), tr)
    te = rest[sample_rows(len(rest), 100, 24)]
    p = PMMLPipeline([("scaler", StandardScaler()), ("classifier", KNeighborsClassifier(n_neighbors=5))])
    p.fit(X.iloc[tr], y.iloc[tr])
    Xs = X.iloc[te]
    nb, keep = knn_neighbors(p, Xs, 5)
    Xs, nb = Xs[keep], nb[keep]
    exp = pd.DataFrame({"diagnosis": p.predict(Xs)})
    for r in range(5):
        exp["neighbor(%d)" % (r + 1)] = [str(v) for v in nb[:, r]]
    return Fixture("breast_cancer_knn", p, Xs, exp, 1e-12, 1e-15,
                   "StandardScaler + KNeighborsClassifier(k=5, uniform, euclidean), binary, 5 "
                   "breast_cancer features, 150 training instances inlined in the PMML; inputs are "
                   "other rows. neighbor(i) = 1-based row number of the i-th nearest training "
                   "instance. Rows with (near-)tied neighbour distances are left out.")


@fixture
def diabetes_knn():
    X, y = diabetes()
    X = X[["age", "bmi", "bp", "s1", "s5"]]
    tr = sample_rows(len(X), 150, 25)
    rest = np.setdiff1d(np.arange(len(X)), tr)
    te = rest[sample_rows(len(rest), 100, 26)]
    p = PMMLPipeline([("regressor", KNeighborsRegressor(n_neighbors=5))])
    p.fit(X.iloc[tr], y.iloc[tr])
    Xs = X.iloc[te]
    nb, keep = knn_neighbors(p, Xs, 5)
    Xs, nb = Xs[keep], nb[keep]
    exp = pd.DataFrame({"progression": p.predict(Xs)})
    for r in range(5):
        exp["neighbor(%d)" % (r + 1)] = [str(v) for v in nb[:, r]]
    return Fixture("diabetes_knn", p, Xs, exp, 1e-12, 1e-12,
                   "KNeighborsRegressor(k=5, uniform) on 5 diabetes features, 150 training instances "
                   "inlined; prediction = mean target of the 5 nearest. neighbor(i) as in "
                   "breast_cancer_knn.")


@fixture
def wine_isolation_forest():
    X, _ = wine()
    rng = np.random.RandomState(27)
    p = PMMLPipeline([("detector", IsolationForest(n_estimators=20, max_samples=64, random_state=11))])
    p.fit(X)
    Xs = X.iloc[sample_rows(len(X), 90, 28)].copy()
    # add some clear outliers: training rows with a few features pushed far out
    out = X.iloc[sample_rows(len(X), 10, 29)].copy()
    for c in ["alcohol", "proline", "color_intensity", "magnesium"]:
        out[c] = out[c] * (1.5 + rng.rand(len(out)))
    Xs = pd.concat([Xs, out])
    dec = p.decision_function(Xs)
    keep = np.abs(dec) > 1e-9
    Xs = Xs[keep]
    dec = p.decision_function(Xs)
    pred = p.predict(Xs)
    exp = pd.DataFrame({"decisionFunction": dec,
                        "outlier": np.where(pred == -1, "true", "false"),
                        "predict(outlier)": [str(int(v)) for v in pred]})
    return Fixture("wine_isolation_forest", p, Xs, exp, 1e-12, 1e-13,
                   "IsolationForest (20 trees, max_samples=64, contamination=auto) on wine; 10 rows "
                   "are pushed-out outliers. decisionFunction = sklearn decision_function = "
                   "0.5 - 2^(-mean path length / c(64)); outlier = (predict == -1) as PMML boolean; "
                   "predict(outlier) = sklearn predict (-1 outlier, 1 inlier). The PMML's "
                   "rawAnomalyScore/normalizedAnomalyScore are not final results and not listed.")


@fixture
def wine_kmeans():
    X, _ = wine()
    p = PMMLPipeline([("scaler", StandardScaler()), ("clusterer", KMeans(n_clusters=4, n_init=10, random_state=12))])
    p.fit(X)
    Xs = X.iloc[sample_rows(len(X), 100, 30)]
    Xt = p.steps[0][1].transform(Xs)
    dist = p.steps[1][1].transform(Xt)
    sq = dist ** 2
    s = np.sort(sq, axis=1)
    keep = (s[:, 1] - s[:, 0]) > 1e-9
    Xs, sq = Xs[keep], sq[keep]
    exp = pd.DataFrame({"cluster": [str(int(v)) for v in p.predict(Xs)]})
    for k in range(sq.shape[1]):
        exp["affinity(%d)" % k] = sq[:, k]
    return Fixture("wine_kmeans", p, Xs, exp, 1e-12, 1e-12,
                   "StandardScaler + KMeans(4) on wine: ClusteringModel with squaredEuclidean. "
                   "cluster = sklearn predict (cluster id as string); affinity(k) = squared Euclidean "
                   "distance to centre k (sklearn transform()**2).")


WORDS = {
    "sport": ["match", "goal", "team", "coach", "league", "score", "player", "season", "win", "stadium",
              "referee", "cup"],
    "tech": ["software", "chip", "cloud", "server", "code", "update", "battery", "network", "device",
             "app", "data", "robot"],
    "food": ["recipe", "pasta", "bread", "cheese", "soup", "spice", "oven", "salad", "dessert", "kitchen",
             "sauce", "flavor"],
}
FILLER = ["the", "a", "new", "big", "today", "great", "with", "and", "for", "this", "our", "very", "old"]


def make_corpus(n, seed):
    rng = np.random.RandomState(seed)
    topics = sorted(WORDS)
    texts, labels = [], []
    for i in range(n):
        t = topics[i % len(topics)]
        k = rng.randint(5, 10)
        words = []
        for _ in range(k):
            r = rng.rand()
            if r < 0.5:
                words.append(WORDS[t][rng.randint(len(WORDS[t]))])
            elif r < 0.65:
                o = topics[rng.randint(len(topics))]
                words.append(WORDS[o][rng.randint(len(WORDS[o]))])
            else:
                words.append(FILLER[rng.randint(len(FILLER))])
        s = " ".join(words)
        if rng.rand() < 0.3:
            s = s.capitalize()
        if rng.rand() < 0.3:
            s = s + "!"
        texts.append(s)
        labels.append(t)
    return pd.DataFrame({"text": texts}), pd.Series(labels, name="topic")


@fixture
def text_tfidf_logreg():
    X, y = make_corpus(120, 34)
    vec = TfidfVectorizer(analyzer="word", preprocessor=None, strip_accents=None, lowercase=True,
                          tokenizer=Splitter(), token_pattern=None, norm=None, min_df=2)
    p = PMMLPipeline([("tfidf", ColumnTransformer([("text", vec, "text")])),
                      ("classifier", LogisticRegression(max_iter=2000))])
    p.fit(X, y)
    Xs, _ = make_corpus(100, 35)
    exp = proba_frame("topic", p.classes_, p.predict_proba(Xs), p.predict(Xs))
    return Fixture("text_tfidf_logreg", p, Xs, exp, 1e-12, 1e-15,
                   "TfidfVectorizer(Splitter tokenizer, lowercase, norm=None, smooth idf, min_df=2) + "
                   "multinomial LogisticRegression on 120 generated sentences (3 topics); inputs are "
                   "100 other generated sentences (some capitalised or ending in '!'). TextIndex "
                   "term frequencies times idf weights.")


def applicants(n, seed):
    rng = np.random.RandomState(seed)
    income = np.round(rng.lognormal(10.5, 0.5, n), 2)
    age = rng.randint(18, 80, n).astype(float)
    debt = np.round(rng.gamma(2.0, 4000.0, n), 2)
    region = np.array(["north", "south", "east", "west"])[rng.randint(0, 4, n)]
    z = (np.log(income) - 10.5) * 2 - debt / 10000 + (age - 45) / 30 + np.where(region == "north", 0.8, 0.0)
    y = np.where(z + rng.normal(0, 0.7, n) > 0, "approve", "reject")
    X = pd.DataFrame({"income": income, "age": age, "debt": debt, "region": region})
    return X, pd.Series(y, name="decision")


@fixture
def applicants_domain_onehot():
    X, y = applicants(400, 36)
    # sklearn2pmml's Python-side Domain.transform only replaces missing values when a
    # replacement is given, so the as_mean/as_median replacements are passed explicitly
    income_mean = round(float(X["income"].mean()), 2)
    debt_median = round(float(X["debt"].median()), 2)
    mapper = ColumnTransformer([
        # no valid range (with_data=False): every number is valid, outliers are clipped
        ("income", ContinuousDomain(missing_value_treatment="as_mean", missing_value_replacement=income_mean,
                                    outlier_treatment="as_extreme_values", low_value=10000.0,
                                    high_value=150000.0, with_data=False), ["income"]),
        # valid range = training range; out-of-range ages are used as they are
        ("age", ContinuousDomain(missing_value_treatment="as_value", missing_value_replacement=40.0,
                                 invalid_value_treatment="as_is"), ["age"]),
        # valid range = training range; out-of-range debts are treated as missing -> median
        ("debt", ContinuousDomain(missing_value_treatment="as_median", missing_value_replacement=debt_median,
                                  invalid_value_treatment="as_missing"), ["debt"]),
        ("region", Pipeline([
            ("domain", CategoricalDomain(missing_value_treatment="as_value", missing_value_replacement="north",
                                         invalid_value_treatment="as_value", invalid_value_replacement="south")),
            ("onehot", OneHotEncoder())]), ["region"]),
    ])
    p = PMMLPipeline([("mapper", mapper), ("scaler", StandardScaler()),
                      ("classifier", LogisticRegression(max_iter=1000))])
    p.fit(X, y)
    Xs, _ = applicants(100, 37)
    Xs = Xs.astype({"region": object})
    rng = np.random.RandomState(38)
    rows = rng.permutation(len(Xs))
    # missing numbers and categories
    for i, r in enumerate(rows[:9]):
        Xs.loc[r, ["income", "age", "debt"][i % 3]] = np.nan
    for r in rows[9:13]:
        Xs.loc[r, "region"] = None
    # unseen categories (also a case variant)
    for r, v in zip(rows[13:17], ["central", "northwest", "NORTH", "mars"]):
        Xs.loc[r, "region"] = v
    # incomes outside [10000, 150000], ages and debts outside the training range
    for r, v in zip(rows[17:20], [2500.0, 950000.0, 180000.0]):
        Xs.loc[r, "income"] = v
    for r, v in zip(rows[20:22], [12.0, 97.0]):
        Xs.loc[r, "age"] = v
    for r, v in zip(rows[22:24], [-50.0, 250000.0]):
        Xs.loc[r, "debt"] = v
    Xs.loc[rows[24], ["income", "age", "debt", "region"]] = [np.nan, np.nan, np.nan, None]
    exp = proba_frame("decision", p.classes_, p.predict_proba(Xs), p.predict(Xs))
    return Fixture("applicants_domain_onehot", p, Xs, exp, 1e-12, 1e-15,
                   "sklearn2pmml.decoration on synthetic data: income ContinuousDomain(missing asMean=%s, "
                   "outliers asExtremeValues [10000,150000]); age (missing asValue 40, invalid asIs); "
                   "debt (missing asMedian=%s, out-of-training-range invalid asMissing); "
                   "region CategoricalDomain (missing->north, invalid->south) + OneHotEncoder; "
                   "StandardScaler; binary LogisticRegression. Inputs have N/A cells, unseen regions "
                   "(incl. 'NORTH'), clipped incomes and out-of-range ages/debts." % (income_mean, debt_median))


@fixture
def wine_expressions():
    X, y = wine()
    cols = ["flavanoids", "total_phenols", "proline", "magnesium", "color_intensity", "hue", "alcohol", "ash"]
    X = X[cols]
    # each ExpressionTransformer gets two columns: with a single column its output is 1-D,
    # which ColumnTransformer rejects
    mapper = ColumnTransformer([
        ("flav_ratio", ExpressionTransformer("X[0] / X[1]"), ["flavanoids", "total_phenols"]),
        ("log_ratio", ExpressionTransformer("numpy.log(X[0]) - numpy.log(X[1])"), ["proline", "magnesium"]),
        ("color_hue", ExpressionTransformer("(X[0] * X[1] - 2.5) if X[1] > 0.8 else -X[0]"),
         ["color_intensity", "hue"]),
        ("alc_ash", ExpressionTransformer("numpy.sqrt(X[0] * X[1])"), ["alcohol", "ash"]),
    ])
    p = PMMLPipeline([("mapper", mapper), ("scaler", StandardScaler()),
                      ("classifier", LogisticRegression(max_iter=1000))])
    p.fit(X, y)
    Xs = X.iloc[sample_rows(len(X), 100, 31)]
    exp = proba_frame("cultivar", p.classes_, p.predict_proba(Xs), p.predict(Xs))
    return Fixture("wine_expressions", p, Xs, exp, 1e-12, 1e-15,
                   "sklearn2pmml ExpressionTransformer features on wine: 'X[0] / X[1]', "
                   "'numpy.log(X[0]) - numpy.log(X[1])', '(X[0] * X[1] - 2.5) if X[1] > 0.8 else -X[0]', "
                   "'numpy.sqrt(X[0] * X[1])' (Apply /, ln, -, *, if, greaterThan, sqrt), then "
                   "StandardScaler + multinomial LogisticRegression.")


@fixture
def breast_cancer_hgb():
    X, y = breast_cancer()
    X = X.iloc[:, :8]
    Xm = inject_missing(X, 0.08, 39)
    p = PMMLPipeline([("classifier", HistGradientBoostingClassifier(max_iter=30, max_depth=3, random_state=13))])
    p.fit(Xm, y)
    Xs = Xm.iloc[sample_rows(len(Xm), 100, 32)]
    Xs = with_missing_rows(Xs, 40)
    exp = proba_frame("diagnosis", p.classes_, p.predict_proba(Xs), p.predict(Xs))
    return Fixture("breast_cancer_hgb", p, Xs, exp, 1e-12, 1e-15,
                   "HistGradientBoostingClassifier (binary, 30 iterations, depth 3) on 8 breast_cancer "
                   "features with ~8% missing cells (N/A), which it routes natively.")


# --------------------------------------------------------------------------- bench models

BENCH = []


def bench(fn):
    BENCH.append(fn)
    return fn


def bench_data(n_features=16, n_train=5000, n_rows=1000):
    X, yb = make_classification(n_samples=n_train + n_rows, n_features=n_features, n_informative=10,
                                n_redundant=3, n_classes=2, class_sep=0.8, flip_y=0.03, random_state=SEED)
    cols = ["f%02d" % i for i in range(n_features)]
    X = pd.DataFrame(np.round(X, 6), columns=cols)
    y = pd.Series(np.where(yb == 1, "yes", "no"), name="label")
    return X.iloc[:n_train], y.iloc[:n_train], X.iloc[n_train:]


@bench
def bench_logreg():
    X, y, Xs = bench_data()
    p = PMMLPipeline([("classifier", LogisticRegression(max_iter=2000))])
    p.fit(X, y)
    exp = proba_frame("label", p.classes_, p.predict_proba(Xs), p.predict(Xs))
    return Fixture("bench_logreg", p, Xs, exp, 1e-12, 1e-15, "LogisticRegression, 16 features, 1000 rows.")


@bench
def bench_rf():
    X, y, Xs = bench_data()
    p = PMMLPipeline([("classifier", RandomForestClassifier(n_estimators=100, max_depth=10, random_state=14,
                                                            n_jobs=1))])
    p.fit(X, y)
    proba = p.predict_proba(Xs)
    exp = proba_frame("label", p.classes_, proba, p.predict(Xs))
    return Fixture("bench_rf", p, Xs, exp, 1e-12, 1e-15,
                   "RandomForestClassifier, 100 trees, max_depth 10, 16 features, 1000 rows "
                   "(labels of exact 0.5 ties are arbitrary).")


@bench
def bench_gbm():
    X, y, Xs = bench_data()
    p = PMMLPipeline([("classifier", GradientBoostingClassifier(n_estimators=150, max_depth=6, learning_rate=0.1,
                                                                subsample=0.8, random_state=15))])
    p.fit(X, y)
    exp = proba_frame("label", p.classes_, p.predict_proba(Xs), p.predict(Xs))
    return Fixture("bench_gbm", p, Xs, exp, 1e-12, 1e-15,
                   "GradientBoostingClassifier, 150 trees, max_depth 6, 16 features, 1000 rows.")


@bench
def bench_mlp():
    X, y, Xs = bench_data()
    p = PMMLPipeline([("scaler", StandardScaler()),
                      ("classifier", MLPClassifier(hidden_layer_sizes=(32, 32), activation="relu", max_iter=300,
                                                   random_state=16))])
    p.fit(X, y)
    exp = proba_frame("label", p.classes_, p.predict_proba(Xs), p.predict(Xs))
    return Fixture("bench_mlp", p, Xs, exp, 1e-12, 1e-15,
                   "StandardScaler + MLPClassifier (32, 32, relu), 16 features, 1000 rows.")


# --------------------------------------------------------------------------- writing

def convert(pipeline, path):
    fd, tmp = tempfile.mkstemp(suffix=".pmml")
    os.close(fd)
    try:
        out, err = io.StringIO(), io.StringIO()
        # sklearn2pmml prints the converter's log and a banner to stdout; keep them out of the
        # progress output unless the conversion fails.
        from contextlib import redirect_stdout
        with redirect_stdout(out):
            sklearn2pmml(pipeline, tmp, java_opts=JAVA_OPTS)
        with open(tmp, encoding="utf-8") as f:
            text = f.read()
    except Exception:
        sys.stderr.write(out.getvalue())
        raise
    finally:
        os.remove(tmp)
    # The converter stamps the conversion time into the Header; drop it so files are stable.
    text, n = re.subn(r"[ \t]*<Timestamp>[^<]*</Timestamp>\r?\n", "", text)
    assert n == 1, "expected one Header Timestamp"
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    return text


def pmml_schema(text):
    root = ET.fromstring(text.encode("utf-8"))
    fields = [(df.get("name"), df.get("dataType"), df.get("optype"))
              for df in root.find(PMML_NS + "DataDictionary").findall(PMML_NS + "DataField")]
    not_models = {PMML_NS + t for t in ("Header", "MiningBuildTask", "DataDictionary",
                                          "TransformationDictionary", "Extension")}
    model = next(el for el in root if el.tag not in not_models)
    targets = [mf.get("name") for mf in model.find(PMML_NS + "MiningSchema").findall(PMML_NS + "MiningField")
               if mf.get("usageType") in ("target", "predicted")]
    # OutputFields of the top model, and of nested models (a modelChain's last segment
    # carries the final ones, e.g. gradient boosting's probabilities)
    outputs = [(of.get("name"), of.get("isFinalResult", "true") == "true")
               for of in model.iter(PMML_NS + "OutputField")]
    return fields, targets, outputs


def fmt_value(v, dtype):
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
        return MISSING
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if dtype in ("integer",):
        fv = float(v)
        assert fv == int(fv), v
        return str(int(fv))
    if dtype in ("float", "double"):
        return repr(float(v))
    if isinstance(v, (float, np.floating)):
        return repr(float(v))
    s = str(v)
    assert s != MISSING and "\n" not in s
    return s


def write_csv(path, header, rows):
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


def emit(fx, outdir):
    text = convert(fx.pipeline, os.path.join(outdir, fx.name + ".pmml"))
    fields, targets, outputs = pmml_schema(text)
    types = {n: t for n, t, _ in fields}
    inputs = [n for n, _, _ in fields if n not in targets]
    missing_cols = [c for c in inputs if c not in fx.X.columns]
    assert not missing_cols, (fx.name, missing_cols)
    # keep the dataset's column order
    dropped = [c for c in fx.X.columns if c not in inputs]
    if dropped:
        fx.description += " Inputs unused by the model are not in the PMML nor the input CSV: %s." % ", ".join(dropped)
    inputs = [c for c in fx.X.columns if c in inputs]
    rows = [[fmt_value(v, types[c]) for c, v in zip(inputs, r)] for r in fx.X[inputs].itertuples(index=False)]
    write_csv(os.path.join(outdir, fx.name + ".input.csv"), inputs, rows)

    out_names = [n for n, final in outputs if final]
    for c in fx.expected.columns:
        assert c in targets or c in out_names, (fx.name, c, targets, out_names)
    ecols = list(fx.expected.columns)
    erows = []
    for r in fx.expected.itertuples(index=False):
        erows.append([fmt_value(v, None) for v in r])
    write_csv(os.path.join(outdir, fx.name + ".expected.csv"), ecols, erows)
    n_missing = int(fx.X[inputs].isna().sum().sum())
    return {"name": fx.name, "rows": len(fx.X), "inputs": len(inputs), "missing": n_missing,
            "bytes": os.path.getsize(os.path.join(outdir, fx.name + ".pmml"))}


TSV_HEADER = ["name", "pmml", "input", "expected", "tolerance", "zero_threshold", "skip_columns", "description"]


def write_tsv(path, fixtures):
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write("\t".join(TSV_HEADER) + "\n")
        for fx in fixtures:
            desc = fx.description.replace("\t", " ").replace("\n", " ")
            f.write("\t".join([fx.name, fx.name + ".pmml", fx.name + ".input.csv", fx.name + ".expected.csv",
                               repr(fx.tolerance), repr(fx.zero_threshold), ",".join(fx.skip_columns),
                               desc]) + "\n")


# --------------------------------------------------------------------------- verification (optional)

def close(a, e, tol, zt):
    if a == e:
        return True
    if math.isnan(a) or math.isnan(e):
        return False
    d = abs(a - e)
    return d <= zt or d <= tol * max(abs(a), abs(e))


def verify(outdir, fx, strip_math_context=False):
    """Evaluate the written PMML with JPMML-Evaluator and compare with the expected CSV.
    Only a cross-check of the fixture and of its tolerance: the expected values always come
    from the original Python model."""
    from jpmml_evaluator import make_evaluator
    path = os.path.join(outdir, fx.name + ".pmml")
    if strip_math_context:
        with open(path, encoding="utf-8") as f:
            text = re.sub(r' x-mathContext="float"', "", f.read())
        fd, path = tempfile.mkstemp(suffix=".pmml")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
    try:
        ev = make_evaluator(path, backend="jpype").verify()
        inp = pd.read_csv(os.path.join(outdir, fx.name + ".input.csv"), na_values=[MISSING],
                          keep_default_na=False, dtype=str)
        args = inp.astype(object).where(inp.notna(), None)
        res = ev.evaluateAll(args)
    finally:
        if strip_math_context:
            os.remove(path)
    exp = pd.read_csv(os.path.join(outdir, fx.name + ".expected.csv"), keep_default_na=False, dtype=str)
    worst, worst_abs, bad = 0.0, 0.0, []
    for c in exp.columns:
        if c in fx.skip_columns:
            continue
        got = res[c].tolist()
        for i, (g, e) in enumerate(zip(got, exp[c].tolist())):
            try:
                ef = float(e)
                numeric = True
            except ValueError:
                numeric = False
            if numeric and g is not None and not isinstance(g, (str, bool)):
                gf = float(g)
                d = abs(gf - ef)
                if d > 0:
                    worst = max(worst, d / max(abs(gf), abs(ef)))
                    worst_abs = max(worst_abs, d)
                if not close(gf, ef, fx.tolerance, fx.zero_threshold):
                    bad.append((i, c, g, e))
            else:
                gs = "" if g is None else ("true" if g is True else "false" if g is False else str(g))
                if gs != e:
                    bad.append((i, c, g, e))
    return worst, worst_abs, bad


# --------------------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="tests/fixtures/pmml", help="output directory (default: %(default)s)")
    ap.add_argument("--bench", metavar="DIR", help="write the larger benchmark models into DIR instead")
    ap.add_argument("--only", nargs="*", help="generate only these fixtures")
    ap.add_argument("--verify", action="store_true",
                    help="cross-check every fixture with JPMML-Evaluator (needs the jpmml_evaluator package)")
    args = ap.parse_args()

    builders = BENCH if args.bench else FIXTURES
    outdir = args.bench or args.out
    os.makedirs(outdir, exist_ok=True)
    if args.only:
        unknown = set(args.only) - {b.__name__ for b in builders}
        if unknown:
            ap.error("unknown fixture(s): " + ", ".join(sorted(unknown)))
        builders = [b for b in builders if b.__name__ in args.only]

    done, failed = [], []
    for i, b in enumerate(builders, 1):
        log("[%d/%d] %s" % (i, len(builders), b.__name__))
        fx = b()
        info = emit(fx, outdir)
        done.append(fx)
        msg = "      %(rows)d rows, %(inputs)d inputs, %(missing)d missing cells, PMML %(bytes)d bytes" % info
        if args.verify:
            worst, worst_abs, bad = verify(outdir, fx)
            msg += "; JPMML max diff rel %.3g abs %.3g" % (worst, worst_abs)
            if fx.float32_outputs:
                worst_d, worst_abs_d, bad_d = verify(outdir, fx, strip_math_context=True)
                msg += " (double math: rel %.3g abs %.3g, %d over tolerance)" % (worst_d, worst_abs_d, len(bad_d))
            if bad:
                failed.append(fx.name)
                msg += "; %d MISMATCHES, first: %s" % (len(bad), bad[:3])
        log(msg)

    if not args.only:
        write_tsv(os.path.join(outdir, "fixtures.tsv"), done)
    else:
        log("(--only: fixtures.tsv not rewritten)")
    if failed:
        log("verification failed for: " + ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
