#!/usr/bin/env python3
"""Train small Spark ML pipelines with PySpark 4.x and write evserve's Spark fixtures.

Run through make_fixtures.sh (it owns the venv). Every fixture NAME gets, in --out:
  NAME.zip           the PipelineModel.save() directory, zipped at its root (no .crc files)
  NAME.input.csv     input rows (N/A = null), NAME.schema.json their Spark StructType
  NAME.expected.csv  results in the corpus conventions (MANIFEST Part 2)
  NAME.spark.csv     every column Spark's transform added (vectors and arrays as JSON)
and fixtures.tsv lists them. See README.md for the formats and the normalisation that makes
re-runs byte-identical (uids, timestamps, part-file names).
"""

import argparse
import csv
import hashlib
import io
import json
import math
import os
import random
import re
import shutil
import sys
import tempfile
import time
import zipfile

from pyspark.ml import Pipeline, PipelineModel

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import parquet_footer  # noqa: E402
from pyspark.ml.util import Identifiable

# ---------------------------------------------------------------------------------------------
# Deterministic uids. PySpark names every stage <Class>_<12 hex> from uuid4, and the JVM objects
# (and the models they fit) reuse the Python uid. A counter hashed with the fixture name makes
# the names stable; uids the JVM invents itself (RFormula internals, trees inside ensembles) are
# rewritten after the save (normalise_saved).

_uid_state = {"prefix": "init", "n": 0, "issued": set()}


def _hex12(*parts):
    return hashlib.sha1("/".join(str(p) for p in parts).encode()).hexdigest()[:12]


def _deterministic_uid(cls):
    _uid_state["n"] += 1
    uid = "%s_%s" % (cls.__name__, _hex12(_uid_state["prefix"], _uid_state["n"]))
    _uid_state["issued"].add(uid)
    return uid


Identifiable._randomUID = classmethod(_deterministic_uid)


def reset_uids(prefix):
    _uid_state["prefix"] = prefix
    _uid_state["n"] = 0


# ---------------------------------------------------------------------------------------------
# Datasets (all made here, seeded).

POS_ADJ = ["good", "great", "excellent", "wonderful", "amazing", "lovely", "fantastic", "nice",
           "brilliant", "superb", "happy", "delightful", "awesome", "perfect", "pleasant"]
NEG_ADJ = ["bad", "terrible", "awful", "horrible", "poor", "sad", "boring", "ugly", "broken",
           "disappointing", "annoying", "useless", "dreadful", "slow", "rude"]
NOUNS = ["day", "movie", "phone", "service", "food", "game", "team", "weather", "concert",
         "book", "update", "flight", "coffee", "hotel", "show", "battery", "screen", "driver"]
INTENS = ["really", "so", "very", "quite", "truly", "totally", "pretty", "just"]
POS_VERB = ["love", "like", "enjoy", "adore", "recommend"]
NEG_VERB = ["hate", "dislike", "regret", "avoid", "loathe"]
FILLER = ["today", "again", "tonight", "honestly", "lol", "#mood", "@friend", "right now", "!!", "..."]


def sentiment_rows(n, seed):
    """Short tweet-like sentences; about 10% carry a word of the other polarity."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        pos = rng.random() < 0.5
        adj, verb, other = (POS_ADJ, POS_VERB, NEG_ADJ) if pos else (NEG_ADJ, NEG_VERB, POS_ADJ)
        noun = rng.choice(NOUNS)
        t = rng.randrange(5)
        if t == 0:
            s = "the %s was %s %s" % (noun, rng.choice(INTENS), rng.choice(adj))
        elif t == 1:
            s = "I %s this %s" % (rng.choice(verb), noun)
        elif t == 2:
            s = "what a %s %s" % (rng.choice(adj), noun)
        elif t == 3:
            s = "%s %s , %s %s" % (rng.choice(adj).capitalize(), noun, rng.choice(INTENS), rng.choice(adj))
        else:
            s = "my %s is %s but not %s" % (noun, rng.choice(adj), rng.choice(other))
        if rng.random() < 0.1:
            s += " " + rng.choice(other)
        if rng.random() < 0.4:
            s += " " + rng.choice(FILLER)
        rows.append((s, "positive" if pos else "negative"))
    return rows


SPECIES = [("setosa", (5.0, 3.4, 1.5, 0.25), (0.35, 0.38, 0.17, 0.1)),
           ("versicolor", (5.9, 2.8, 4.3, 1.3), (0.5, 0.3, 0.47, 0.2)),
           ("virginica", (6.6, 3.0, 5.55, 2.0), (0.63, 0.32, 0.55, 0.27))]


def flower_rows(n_per_class, seed, noise_cols=0):
    """Iris-like measurements (cm, one decimal), optionally with noise columns n1..nk."""
    rng = random.Random(seed)
    rows = []
    for name, mu, sd in SPECIES:
        for _ in range(n_per_class):
            vals = [round(max(0.1, rng.gauss(m, s)), 1) for m, s in zip(mu, sd)]
            vals += [round(rng.uniform(0, 10), 2) for _ in range(noise_cols)]
            rows.append(tuple(vals) + (name,))
    rng.shuffle(rows)
    return rows


FLOWER_COLS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
COLORS = ["red", "green", "blue", "yellow"]
REGIONS = ["north", "south", "east", "west", "center"]


def customer_rows(n, seed, null_rate=0.0, unseen=False):
    """Mixed tabular data: numeric x1..x4, categorical color/region, and targets
    churn (yes/no), clicked (0/1 double), y (real), count (Poisson), amount (positive)."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        x1 = float(rng.randint(18, 80))
        x2 = round(rng.uniform(10, 150), 2)
        x3 = round(rng.gauss(40, 12), 1)
        x4 = round(rng.random(), 4)
        color = rng.choice(COLORS[:3] if rng.random() < 0.7 else COLORS)
        region = rng.choice(REGIONS)
        if unseen and rng.random() < 0.05:
            color = "purple"
        if unseen and rng.random() < 0.05:
            region = "abroad"
        ci = COLORS.index(color) if color in COLORS else 1
        ri = REGIONS.index(region) if region in REGIONS else 2
        eta = -3.0 + 0.04 * x1 + 0.01 * x2 - 0.03 * x3 + 1.5 * x4 + 0.5 * ci - 0.3 * ri
        p = 1.0 / (1.0 + math.exp(-eta))
        yes = rng.random() < p
        y = round(10 + 0.3 * x1 + 0.05 * x2 - 0.2 * x3 + 4 * x4 + 2 * ci - ri + rng.gauss(0, 2), 3)
        lam = math.exp(0.2 + 0.01 * x1 + 0.3 * x4 + 0.1 * ci)
        count = float(_poisson(rng, lam))
        amount = round(rng.gammavariate(2.0, (5 + 0.1 * x1 + ci) / 2.0) + 0.01, 3)
        row = [x1, x2, x3, x4, color, region, "yes" if yes else "no", 1.0 if yes else 0.0, y, count, amount]
        if null_rate:
            for j in (0, 1, 2, 4, 5):
                if rng.random() < null_rate:
                    row[j] = None
        rows.append(tuple(row))
    return rows


def _poisson(rng, lam):
    k, p, l = 0, 1.0, math.exp(-lam)
    while True:
        p *= rng.random()
        if p <= l:
            return k
        k += 1


# ---------------------------------------------------------------------------------------------
# Output helpers.

def fmt(v):
    """Cell text: repr for floats (17 significant digits, round-trips), N/A for null."""
    from pyspark.ml.linalg import DenseVector, SparseVector
    if v is None:
        return "N/A"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        if v != v or v in (float("inf"), float("-inf")):
            return json.dumps(v)  # NaN, Infinity, -Infinity: the spelling used inside vectors too
        return repr(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, DenseVector):
        return json.dumps([float(x) for x in v.toArray()])
    if isinstance(v, SparseVector):
        return json.dumps({"size": int(v.size), "indices": [int(i) for i in v.indices],
                           "values": [float(x) for x in v.values]})
    if isinstance(v, (list, tuple)):
        return json.dumps([_plain(x) for x in v])
    return str(v)


def _plain(x):
    return float(x) if isinstance(x, float) else x


def write_csv(path, header, rows):
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for r in rows:
        w.writerow(r)
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(buf.getvalue())


def find_stages(model):
    """Every fitted stage, depth first (pipelines, tuning wrappers and RFormula's inner model)."""
    from pyspark.ml.tuning import CrossValidatorModel, TrainValidationSplitModel
    out = []
    if isinstance(model, PipelineModel):
        for s in model.stages:
            out += find_stages(s)
    elif isinstance(model, (CrossValidatorModel, TrainValidationSplitModel)):
        out.append(model)
        out += find_stages(model.bestModel)
    else:
        out.append(model)
    return out


def label_names(model, label):
    """Labels of the StringIndexerModel that indexes `label` (the pipeline's label indexer)."""
    from pyspark.ml.feature import StringIndexerModel, RFormulaModel
    for s in find_stages(model):
        if isinstance(s, StringIndexerModel):
            cols = s.getInputCols() if s.isSet("inputCols") else [s.getInputCol()]
            if label in cols:
                return list(s.labelsArray[cols.index(label)])
        if isinstance(s, RFormulaModel):
            inner = s._call_java("pipelineModel")  # noqa: the JVM PipelineModel
            for st in inner.stages():
                if st.getClass().getSimpleName() == "StringIndexerModel":
                    ins = list(st.getInputCols()) if st.isSet(st.getParam("inputCols")) else [st.getInputCol()]
                    if label in ins:
                        return [list(a) for a in st.labelsArray()][ins.index(label)]
    raise RuntimeError("no label indexer for %s" % label)


# ---------------------------------------------------------------------------------------------
# Save normalisation: byte-identical re-runs.

PART_RE = re.compile(r"^(part-\d{5}-)([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(-c\d{3}.*)$")
UID_TOKEN = re.compile(r"[0-9a-f]{12}")
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
JVM_TOKEN = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]+_[0-9a-f]{12}(?![0-9a-f])")


def normalise_saved(spark, root, name, codec):
    # 1. Hadoop checksums go (the zip leaves them out; they would be stale after step 3 anyway).
    for d, _, files in os.walk(root):
        for f in files:
            if f.endswith(".crc"):
                os.remove(os.path.join(d, f))
    meta_files = []
    for d, _, files in os.walk(root):
        if os.path.basename(d) == "metadata":
            meta_files += [os.path.join(d, f) for f in files if f.startswith("part-")]
    # 2. Names the JVM made up from random UUIDs: uids of stages it creates (RFormula's inner
    #    pipeline) and temporary column names (RFormula's stridx_/onehot_/interaction_ columns).
    #    They become hashes of the order of first appearance, walking the metadata files in
    #    pipeline order (stage index) with every random part masked.
    def masked(p):
        return UID_TOKEN.sub("X", UUID_RE.sub("U", os.path.relpath(p, root)))
    mapping = {}
    for p in sorted(meta_files, key=masked):
        text = open(p, encoding="utf-8").read()
        for tok in JVM_TOKEN.findall(text):
            if tok not in _uid_state["issued"] and tok not in mapping:
                prefix = tok.rsplit("_", 1)[0]
                mapping[tok] = "%s_%s" % (prefix, _hex12(name, "jvm", len(mapping)))
    # 2b. Parquet data that names those columns (ColumnPruner, VectorAttributeRewriter).
    if mapping:
        for d, _, files in os.walk(root):
            if os.path.basename(d) == "data" and any(f.endswith(".parquet") for f in files):
                rewrite_parquet_strings(spark, d, mapping, codec)
    # 3. Tree ensembles keep each tree's metadata JSON (uid, timestamp) inside treesMetadata/
    #    Parquet: rewrite that table with the same schema and codec.
    for d, dirs, _ in os.walk(root):
        if os.path.basename(d) == "treesMetadata":
            rewrite_trees_metadata(spark, d, name, codec)
    # 4. Parquet footers: parquet-mr lists encodings in hash-set order, which changes per run.
    for d, _, files in os.walk(root):
        for f in files:
            if f.endswith(".parquet") and parquet_footer.canonicalise(os.path.join(d, f)) < 0:
                print("warning: %s: Parquet footer left as written" % os.path.join(d, f), file=sys.stderr)
    # 5. Timestamps -> 0 and uid renames in the metadata JSON; directory renames.
    for p in meta_files:
        text = open(p, encoding="utf-8").read()
        text = re.sub(r'"timestamp":\d+', '"timestamp":0', text)
        text = JVM_TOKEN.sub(lambda m: mapping.get(m.group(0), m.group(0)), text)
        with open(p, "w", encoding="utf-8") as f:
            f.write(text)
    for d, dirs, _ in os.walk(root, topdown=False):
        for sub in dirs:
            new = sub
            for old, rep in mapping.items():
                new = new.replace(old, rep)
            if new != sub:
                os.rename(os.path.join(d, sub), os.path.join(d, new))
    # 6. part-NNNNN-<job uuid>-cNNN.* : the job uuid becomes a hash of the directory.
    for d, _, files in os.walk(root):
        rel = os.path.relpath(d, root)
        h = hashlib.sha1(("%s/%s" % (name, rel)).encode()).hexdigest()
        fake = "%s-%s-%s-%s-%s" % (h[:8], h[8:12], h[12:16], h[16:20], h[20:32])
        for f in files:
            m = PART_RE.match(f)
            if m:
                os.rename(os.path.join(d, f), os.path.join(d, m.group(1) + fake + m.group(3)))


def parquet_spark_schema(path):
    """The StructType Spark recorded in a Parquet footer (keeps the nullable flags it wrote)."""
    from pyspark.sql.types import StructType
    for f in sorted(os.listdir(path)):
        if f.endswith(".parquet"):
            raw = open(os.path.join(path, f), "rb").read()
            i = raw.rindex(b'{"type":"struct","fields":')
            obj, _ = json.JSONDecoder().raw_decode(raw[i:].decode("utf-8", "replace"))
            return StructType.fromJson(obj)
    raise RuntimeError("no parquet file in " + path)


def rewrite_parquet_strings(spark, path, mapping, codec):
    """Rename the JVM's random names inside a small Parquet table, if it holds any; string
    arrays and maps (sets in Spark, written in hash order) are sorted. Schema and codec stay."""
    schema = parquet_spark_schema(path)
    rows = spark.read.parquet(path).collect()
    hit = [False]

    def fix(v):
        if isinstance(v, str):
            w = JVM_TOKEN.sub(lambda m: mapping.get(m.group(0), m.group(0)), v)
            hit[0] |= w != v
            return w
        if isinstance(v, (list, tuple)) and not hasattr(v, "__fields__"):
            out = [fix(x) for x in v]
            renamed = any(isinstance(x, str) and JVM_TOKEN.search(x) for x in v)
            return sorted(out) if renamed and all(isinstance(x, str) for x in out) else out
        if isinstance(v, dict):
            return {fix(k): fix(x) for k, x in sorted(v.items(), key=lambda kv: fix(kv[0]))}
        if hasattr(v, "__fields__"):
            return tuple(fix(x) for x in v)
        return v
    fixed = [tuple(fix(x) for x in r) for r in rows]
    if not hit[0]:
        return
    tmp = path + ".rewrite"
    spark.createDataFrame(fixed, schema).repartition(1).write.option("compression", codec).parquet(tmp)
    shutil.rmtree(path)
    os.rename(tmp, path)
    for f in os.listdir(path):
        if f.endswith(".crc"):
            os.remove(os.path.join(path, f))


def rewrite_trees_metadata(spark, path, name, codec):
    """Spark 4.3 writes (_1 treeID int, _2 metadata JSON string, _3 weight double); older
    versions named them treeID/metadata/weights. Rewrite the JSON, keep schema and codec."""
    schema = parquet_spark_schema(path)
    id_col, js_col, w_col = schema.names
    rows = sorted(spark.read.parquet(path).collect(), key=lambda r: r[id_col])
    fixed = []
    for r in rows:
        js = re.sub(r'"timestamp":\d+', '"timestamp":0', r[js_col])
        m = re.search(r'"uid":"([^"]+)"', js)
        prefix = m.group(1).rsplit("_", 1)[0]
        js = js.replace(m.group(1), "%s_%s" % (prefix, _hex12(name, UID_TOKEN.sub("X", os.path.relpath(path, os.path.dirname(os.path.dirname(path)))), r[id_col])))
        fixed.append((r[id_col], js, r[w_col]))
    tmp = path + ".rewrite"
    spark.createDataFrame(fixed, schema).repartition(1).write.option("compression", codec).parquet(tmp)
    shutil.rmtree(path)
    os.rename(tmp, path)
    for f in os.listdir(path):
        if f.endswith(".crc"):
            os.remove(os.path.join(path, f))


def zip_dir(src, dst):
    """Stable zip: sorted entries, directories included, fixed time and modes."""
    entries = []
    for d, dirs, files in os.walk(src):
        rel = os.path.relpath(d, src)
        if rel != ".":
            entries.append((rel.replace(os.sep, "/") + "/", None))
        for f in files:
            r = os.path.join(rel, f) if rel != "." else f
            entries.append((r.replace(os.sep, "/"), os.path.join(d, f)))
    entries.sort()
    tmp = dst + ".tmp"
    with zipfile.ZipFile(tmp, "w") as z:
        for arc, full in entries:
            zi = zipfile.ZipInfo(arc, date_time=(1980, 1, 1, 0, 0, 0))
            zi.create_system = 3
            if full is None:
                zi.external_attr = (0o40755 << 16) | 0x10
                z.writestr(zi, b"")
            else:
                zi.external_attr = 0o100644 << 16
                zi.compress_type = zipfile.ZIP_DEFLATED
                with open(full, "rb") as f:
                    z.writestr(zi, f.read(), compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
    os.replace(tmp, dst)


# ---------------------------------------------------------------------------------------------
# Fixture table.

class Fx:
    def __init__(self, name, kind, label, desc, build, tol="1e-14", codec="snappy",
                 max_records=None, prediction="prediction"):
        self.name, self.kind, self.label, self.desc, self.build = name, kind, label, desc, build
        self.tol, self.codec, self.max_records, self.prediction = tol, codec, max_records, prediction


def fixtures():
    from pyspark.ml import feature as F
    from pyspark.ml import classification as C
    from pyspark.ml import regression as R
    from pyspark.ml import clustering as K
    from pyspark.ml import tuning as T
    from pyspark.ml import evaluation as E

    text_cols = ["text", "sentiment"]
    flower_cols = FLOWER_COLS + ["species"]
    cust_all = ["x1", "x2", "x3", "x4", "color", "region", "churn", "clicked", "y", "count", "amount"]

    def text(spark, n_train=320, n_test=160):
        return (spark.createDataFrame(sentiment_rows(n_train, 11), text_cols),
                spark.createDataFrame(sentiment_rows(n_test, 12), text_cols))

    def flowers(spark, noise=0):
        cols = FLOWER_COLS + ["n%d" % (i + 1) for i in range(noise)] + ["species"]
        return (spark.createDataFrame(flower_rows(40, 21, noise), cols),
                spark.createDataFrame(flower_rows(34, 22, noise), cols))

    def cust(spark, cols, nulls=0.0, unseen=False, n_test=150, train_nulls=None):
        """train_nulls: null rate of the training rows (default: the same as the test rows)."""
        from pyspark.sql.types import StructType, StructField, DoubleType, StringType
        types = {"color": StringType(), "region": StringType(), "churn": StringType()}
        schema = StructType([StructField(c, types.get(c, DoubleType()), True) for c in cust_all])
        tn = nulls if train_nulls is None else train_nulls
        tr = spark.createDataFrame(customer_rows(400, 31, tn), schema).select(*cols)
        te = spark.createDataFrame(customer_rows(n_test, 32, nulls, unseen), schema).select(*cols)
        return tr, te

    def label_idx(col="sentiment", out="label"):
        return F.StringIndexer(inputCol=col, outputCol=out)

    fx = []

    # -- the original project's tweet-sentiment pipeline -------------------------------------
    def tweets(spark):
        tr, te = text(spark)
        idx = label_idx().fit(tr)
        p = Pipeline(stages=[
            F.Tokenizer(inputCol="text", outputCol="words"),
            F.HashingTF(inputCol="words", outputCol="rawFeatures", numFeatures=256),
            idx,
            F.VectorIndexer(inputCol="rawFeatures", outputCol="features", maxCategories=4, handleInvalid="keep"),
            C.RandomForestClassifier(labelCol="label", featuresCol="features", numTrees=20, maxDepth=8, seed=7),
            F.IndexToString(inputCol="prediction", outputCol="predicted_sentiment", labels=idx.labels)])
        return p.fit(tr), te
    fx.append(Fx("tweets_sentiment", "classification", "sentiment",
                 "The original project's tweet pipeline: Tokenizer -> HashingTF(256) -> StringIndexer(sentiment) "
                 "-> VectorIndexer(maxCategories 4, keep: counts unseen in training map to the extra category) "
                 "-> RandomForestClassifier(20 trees, depth 8; 85% right on the test rows) -> IndexToString "
                 "(predicted_sentiment); generated positive/negative sentences", tweets))

    # -- text ------------------------------------------------------------------------------------
    def text_bernoulli(spark):
        tr, te = text(spark)
        p = Pipeline(stages=[F.Tokenizer(inputCol="text", outputCol="words"),
                             F.HashingTF(inputCol="words", outputCol="tf", numFeatures=64, binary=True),
                             label_idx(),
                             C.NaiveBayes(featuresCol="tf", modelType="bernoulli", smoothing=0.5)])
        return p.fit(tr), te
    fx.append(Fx("text_hashing_binary_nb_bernoulli", "classification", "sentiment",
                 "Tokenizer -> HashingTF(64, binary) -> NaiveBayes bernoulli (smoothing 0.5)", text_bernoulli))

    def text_multinomial(spark):
        tr, te = text(spark)
        p = Pipeline(stages=[F.Tokenizer(inputCol="text", outputCol="words"),
                             F.HashingTF(inputCol="words", outputCol="tf", numFeatures=128),
                             label_idx(),
                             C.NaiveBayes(featuresCol="tf", modelType="multinomial")])
        return p.fit(tr), te
    fx.append(Fx("text_hashing_nb_multinomial", "classification", "sentiment",
                 "Tokenizer -> HashingTF(128, counts; hash collisions add up) -> NaiveBayes multinomial", text_multinomial))

    def text_complement(spark):
        tr, te = text(spark)
        p = Pipeline(stages=[F.RegexTokenizer(inputCol="text", outputCol="words", pattern="\\W+", minTokenLength=2),
                             F.StopWordsRemover(inputCol="words", outputCol="filtered"),
                             F.CountVectorizer(inputCol="filtered", outputCol="tf", minDF=2.0),
                             label_idx(),
                             C.NaiveBayes(featuresCol="tf", modelType="complement")])
        return p.fit(tr), te
    fx.append(Fx("text_countvec_nb_complement", "classification", "sentiment",
                 "RegexTokenizer(\\W+, gaps, minTokenLength 2) -> StopWordsRemover(english) -> CountVectorizer(minDF 2) "
                 "-> NaiveBayes complement", text_complement))

    def text_idf_logreg(spark):
        tr, te = text(spark)
        p = Pipeline(stages=[F.RegexTokenizer(inputCol="text", outputCol="words", pattern="[a-z#@]+", gaps=False),
                             F.StopWordsRemover(inputCol="words", outputCol="filtered", stopWords=["the", "a", "is", "was", "this", "my"]),
                             F.NGram(inputCol="filtered", outputCol="bigrams", n=2),
                             F.CountVectorizer(inputCol="filtered", outputCol="tf1", vocabSize=60),
                             F.CountVectorizer(inputCol="bigrams", outputCol="tf2", minDF=3.0, binary=True),
                             F.IDF(inputCol="tf1", outputCol="idf1", minDocFreq=2),
                             F.VectorAssembler(inputCols=["idf1", "tf2"], outputCol="features"),
                             label_idx(),
                             C.LogisticRegression(regParam=0.01, maxIter=50)])
        return p.fit(tr), te
    fx.append(Fx("text_ngram_idf_logreg", "classification", "sentiment",
                 "RegexTokenizer(matching [a-z#@]+, lowercase) -> StopWordsRemover(custom) -> NGram(2) -> CountVectorizer "
                 "(words vocab 60; bigrams minDF 3 binary) -> IDF(minDocFreq 2) -> VectorAssembler -> binomial LogisticRegression",
                 text_idf_logreg))

    def text_svc(spark):
        tr, te = text(spark)
        p = Pipeline(stages=[F.Tokenizer(inputCol="text", outputCol="words"),
                             F.HashingTF(inputCol="words", outputCol="tf", numFeatures=256),
                             F.IDF(inputCol="tf", outputCol="tfidf"),
                             F.Normalizer(inputCol="tfidf", outputCol="features", p=2.0),
                             label_idx(),
                             C.LinearSVC(regParam=0.01, maxIter=50)])
        return p.fit(tr), te
    fx.append(Fx("text_idf_normalizer_svc", "classification", "sentiment",
                 "Tokenizer -> HashingTF(256) -> IDF -> Normalizer(p 2) -> LinearSVC (no probability column)", text_svc))

    # -- flowers -------------------------------------------------------------------------------
    def fl_pipe(spark, stages, noise=0, feature_cols=None, idx_last=False):
        tr, te = flowers(spark, noise)
        cols = feature_cols or FLOWER_COLS + ["n%d" % (i + 1) for i in range(noise)]
        idx = label_idx("species").fit(tr)
        st = [idx, F.VectorAssembler(inputCols=cols, outputCol="features")] + stages
        if idx_last:
            st.append(F.IndexToString(inputCol="prediction", outputCol="predicted_species", labels=idx.labels))
        return Pipeline(stages=st).fit(tr), te

    fx.append(Fx("flowers_logreg_multinomial", "classification", "species",
                 "StringIndexer -> VectorAssembler -> multinomial LogisticRegression (regParam 0.01) -> IndexToString",
                 lambda s: fl_pipe(s, [C.LogisticRegression(family="multinomial", regParam=0.01, maxIter=100)], idx_last=True)))
    fx.append(Fx("flowers_nb_gaussian", "classification", "species", "VectorAssembler -> NaiveBayes gaussian",
                 lambda s: fl_pipe(s, [C.NaiveBayes(modelType="gaussian")])))
    fx.append(Fx("flowers_mlp", "classification", "species",
                 "VectorAssembler -> StandardScaler(mean, std) -> MultilayerPerceptron [4, 5, 3] (BLAS arithmetic: 1e-12)",
                 lambda s: fl_pipe(s, [F.StandardScaler(inputCol="features", outputCol="scaled", withMean=True),
                                       C.MultilayerPerceptronClassifier(featuresCol="scaled", layers=[4, 5, 3], maxIter=100, seed=5)]),
                 tol="1e-12"))
    fx.append(Fx("flowers_pca_decision_tree", "classification", "species",
                 "VectorAssembler -> PCA(k 2) -> DecisionTreeClassifier(depth 4) (PCA is a BLAS gemv: 1e-12)",
                 lambda s: fl_pipe(s, [F.PCA(inputCol="features", outputCol="pca", k=2),
                                       C.DecisionTreeClassifier(featuresCol="pca", maxDepth=4, seed=3)]),
                 tol="1e-12"))
    fx.append(Fx("flowers_elementwise_rf", "classification", "species",
                 "VectorAssembler -> ElementwiseProduct([1, 0.5, 2, -1]) -> RandomForestClassifier(5 trees, depth 4)",
                 lambda s: fl_pipe(s, [F.ElementwiseProduct(inputCol="features", outputCol="scaled", scalingVec=[1.0, 0.5, 2.0, -1.0]),
                                       C.RandomForestClassifier(featuresCol="scaled", numTrees=5, maxDepth=4, seed=9)])))
    fx.append(Fx("flowers_ufs_logreg", "classification", "species",
                 "VectorAssembler(4 measurements + 3 noise columns) -> UnivariateFeatureSelector(continuous/categorical, "
                 "numTopFeatures 3) -> multinomial LogisticRegression",
                 lambda s: fl_pipe(s, [F.UnivariateFeatureSelector(featuresCol="features", outputCol="selected", labelCol="label",
                                                                   selectionMode="numTopFeatures").setFeatureType("continuous")
                                       .setLabelType("categorical").setSelectionThreshold(3),
                                       C.LogisticRegression(featuresCol="selected", maxIter=100, regParam=0.05)], noise=3)))

    def fl_cluster(spark, stages):
        tr, te = flowers(spark)
        return Pipeline(stages=[F.VectorAssembler(inputCols=FLOWER_COLS, outputCol="features")] + stages).fit(tr), te
    fx.append(Fx("flowers_kmeans_cosine", "clustering", "cluster", "VectorAssembler -> KMeans(k 3, cosine)",
                 lambda s: fl_cluster(s, [K.KMeans(k=3, distanceMeasure="cosine", seed=4)])))
    fx.append(Fx("flowers_bisecting_kmeans", "clustering", "cluster",
                 "VectorAssembler -> Normalizer(p inf) -> BisectingKMeans(k 4, euclidean)",
                 lambda s: fl_cluster(s, [F.Normalizer(inputCol="features", outputCol="norm", p=float("inf")),
                                          K.BisectingKMeans(featuresCol="norm", k=4, seed=4)])))

    # -- customers: mixed numeric / categorical ---------------------------------------------------
    num4 = ["x1", "x2", "x3", "x4"]

    def cust_logreg(spark):
        tr, te = cust(spark, num4 + ["color", "region", "churn"], nulls=0.05, unseen=True)
        st = [F.StringIndexer(inputCols=["color", "region"], outputCols=["color_idx", "region_idx"], handleInvalid="keep"),
              F.OneHotEncoder(inputCols=["color_idx", "region_idx"], outputCols=["color_vec", "region_vec"], handleInvalid="keep"),
              F.Imputer(inputCols=["x1", "x2", "x3"], outputCols=["x1i", "x2i", "x3i"], strategy="median"),
              F.VectorAssembler(inputCols=["x1i", "x2i", "x3i", "x4", "color_vec", "region_vec"], outputCol="features"),
              label_idx("churn", "label_idx"),
              C.LogisticRegression(labelCol="label_idx", regParam=0.01, elasticNetParam=0.5, maxIter=100)]
        return Pipeline(stages=st).fit(tr), te
    fx.append(Fx("customers_logreg_binomial", "classification", "churn",
                 "StringIndexer(color, region; handleInvalid keep) -> OneHotEncoder(keep) -> Imputer(median) -> VectorAssembler "
                 "-> binomial LogisticRegression (elastic net). Nulls in x1-x3, color, region; unseen categories",
                 cust_logreg))

    def cust_linreg(spark):
        tr, te = cust(spark, num4 + ["color", "y"])
        st = [F.StringIndexer(inputCol="color", outputCol="color_idx", stringOrderType="alphabetAsc"),
              F.OneHotEncoder(inputCol="color_idx", outputCol="color_vec", dropLast=False),
              F.VectorAssembler(inputCols=["x1"], outputCol="x1v"),
              F.Interaction(inputCols=["x1v", "color_vec"], outputCol="x1_color"),
              F.Interaction(inputCols=["x2", "x4"], outputCol="x2_x4"),
              F.VectorAssembler(inputCols=["x1", "x2", "x3", "x4", "color_vec", "x1_color", "x2_x4"], outputCol="features"),
              R.LinearRegression(labelCol="y", regParam=0.1, elasticNetParam=0.0)]
        return Pipeline(stages=st).fit(tr), te
    fx.append(Fx("customers_interaction_linreg", "regression", "y",
                 "StringIndexer(alphabetAsc) -> OneHotEncoder(dropLast false) -> Interaction(vector x onehot; x2 x x4) "
                 "-> VectorAssembler -> LinearRegression (ridge)", cust_linreg))

    def glm(family, link, label, extra=None, link_col=None):
        def build(spark):
            tr, te = cust(spark, num4 + ["color", label])
            kw = {"link": link} if link else {}
            g = R.GeneralizedLinearRegression(labelCol=label, family=family, regParam=0.01, maxIter=50, **kw)
            if extra:
                extra(g)
            if link_col:
                g.setLinkPredictionCol(link_col)
            st = [F.StringIndexer(inputCol="color", outputCol="color_idx"),
                  F.OneHotEncoder(inputCol="color_idx", outputCol="color_vec"),
                  F.VectorAssembler(inputCols=num4 + ["color_vec"], outputCol="features"), g]
            return Pipeline(stages=st).fit(tr), te
        return build
    for family, link, label, extra, lc in [
            ("gaussian", "identity", "y", None, None),
            ("binomial", "logit", "clicked", None, "eta"),
            ("binomial", "probit", "clicked", None, None),
            ("binomial", "cloglog", "clicked", None, None),
            ("poisson", "log", "count", None, "eta"),
            ("gamma", "inverse", "amount", None, None),
            ("tweedie", None, "amount", lambda g: g.setVariancePower(1.5).setLinkPower(0.0), None)]:
        nm = "glm_%s_%s" % (family, link or "power0")
        desc = "StringIndexer -> OneHotEncoder -> VectorAssembler -> GeneralizedLinearRegression %s/%s" % (
            family, link or "variancePower 1.5, linkPower 0 (log)")
        if lc:
            desc += "; linkPredictionCol eta"
        if family == "binomial":
            desc += "; label clicked is 0/1 numeric, prediction is the mean"
        fx.append(Fx(nm, "regression", label, desc, glm(family, link, label, extra, lc)))

    def cust_tree(est, label, cols=num4 + ["color", "region"], nulls=0.0):
        def build(spark):
            tr, te = cust(spark, cols + [label], nulls=nulls, train_nulls=0.0)
            st = [F.StringIndexer(inputCols=["color", "region"], outputCols=["color_idx", "region_idx"], handleInvalid="keep"),
                  F.VectorAssembler(inputCols=num4 + ["color_idx", "region_idx"], outputCol="assembled", handleInvalid="keep"),
                  F.VectorIndexer(inputCol="assembled", outputCol="features", maxCategories=6, handleInvalid="keep")]
            if label == "churn":
                st.append(label_idx("churn", "label_idx"))
            st.append(est())
            return Pipeline(stages=st).fit(tr), te
        return build
    tree_desc = ("StringIndexer(color, region; keep) -> VectorAssembler(keep: nulls become NaN) -> VectorIndexer(6, keep) -> "
                 "trained without nulls, test rows with nulls in x1-x3/color/region: ")
    fx.append(Fx("customers_gbt_classifier", "classification", "churn", tree_desc + "GBTClassifier(10 iter, depth 3)",
                 cust_tree(lambda: C.GBTClassifier(labelCol="label_idx", maxIter=10, maxDepth=3, seed=13), "churn", nulls=0.05)))
    fx.append(Fx("customers_gbt_regressor", "regression", "y", tree_desc + "GBTRegressor(10 iter, depth 3)",
                 cust_tree(lambda: R.GBTRegressor(labelCol="y", maxIter=10, maxDepth=3, seed=13), "y", nulls=0.05)))
    fx.append(Fx("customers_decision_tree_regressor", "regression", "y", tree_desc + "DecisionTreeRegressor(depth 5)",
                 cust_tree(lambda: R.DecisionTreeRegressor(labelCol="y", maxDepth=5, seed=13), "y", nulls=0.05)))
    fx.append(Fx("customers_random_forest_regressor", "regression", "amount", tree_desc + "RandomForestRegressor(6 trees, depth 4)",
                 cust_tree(lambda: R.RandomForestRegressor(labelCol="amount", numTrees=6, maxDepth=4, seed=13), "amount")))
    fx.append(Fx("customers_decision_tree_classifier", "classification", "churn", tree_desc + "DecisionTreeClassifier(depth 4, entropy)",
                 cust_tree(lambda: C.DecisionTreeClassifier(labelCol="label_idx", maxDepth=4, impurity="entropy", seed=13), "churn", nulls=0.05)))

    def isotonic(spark):
        tr, te = cust(spark, ["x1", "x2", "y"])
        st = [F.VectorAssembler(inputCols=["x1", "x2"], outputCol="features"),
              R.IsotonicRegression(labelCol="y", featureIndex=0, isotonic=True)]
        return Pipeline(stages=st).fit(tr), te
    fx.append(Fx("customers_isotonic", "regression", "y",
                 "VectorAssembler(x1, x2) -> IsotonicRegression(featureIndex 0, increasing); test rows include ties and "
                 "values between boundaries", isotonic))

    def quantile(spark):
        tr, te = cust(spark, ["x2", "x3", "x4", "y"])
        st = [F.QuantileDiscretizer(inputCols=["x2", "x3"], outputCols=["x2_b", "x3_b"], numBuckets=4, handleInvalid="keep",
                                    relativeError=0.0),
              F.OneHotEncoder(inputCols=["x2_b", "x3_b"], outputCols=["x2_v", "x3_v"]),
              F.VectorAssembler(inputCols=["x2_v", "x3_v", "x4"], outputCol="features"),
              R.LinearRegression(labelCol="y")]
        return Pipeline(stages=st).fit(tr), te
    fx.append(Fx("customers_quantile_discretizer", "regression", "y",
                 "QuantileDiscretizer(x2, x3; 4 buckets, relativeError 0, handleInvalid keep) -> OneHotEncoder -> VectorAssembler "
                 "-> LinearRegression", quantile))

    def slicer(spark):
        tr, te = cust(spark, num4 + ["churn"])
        st = [F.VectorAssembler(inputCols=num4, outputCol="assembled"),
              F.VectorSizeHint(inputCol="assembled", size=4, handleInvalid="error"),
              F.VectorSlicer(inputCol="assembled", outputCol="features", indices=[0], names=["x4", "x2"]),
              label_idx("churn", "label_idx"),
              C.LogisticRegression(labelCol="label_idx", maxIter=50)]
        return Pipeline(stages=st).fit(tr), te
    fx.append(Fx("customers_vector_slicer", "classification", "churn",
                 "VectorAssembler -> VectorSizeHint(4) -> VectorSlicer(indices [0], names [x4, x2] from the assembler's "
                 "attributes) -> binomial LogisticRegression", slicer))

    def rformula_lr(spark):
        tr, te = cust(spark, num4 + ["color", "region", "y"])
        st = [F.RFormula(formula="y ~ color + region + x1 + x2 + x1:color + x3:x4")]
        st.append(R.LinearRegression(maxIter=50))
        return Pipeline(stages=st).fit(tr), te
    fx.append(Fx("customers_rformula_linreg", "regression", "y",
                 "RFormula(y ~ color + region + x1 + x2 + x1:color + x3:x4) -> LinearRegression", rformula_lr))

    def rformula_cls(spark):
        tr, te = cust(spark, num4 + ["color", "region", "churn"], nulls=0.05, unseen=True)
        st = [F.RFormula(formula="churn ~ . - x1 - x2 - x3", handleInvalid="keep", stringIndexerOrderType="alphabetDesc"),
              C.LogisticRegression(maxIter=50, regParam=0.01)]
        return Pipeline(stages=st).fit(tr), te
    fx.append(Fx("customers_rformula_logreg", "classification", "churn",
                 "RFormula(churn ~ . - x1 - x2 - x3, handleInvalid keep, alphabetDesc; the label is indexed inside "
                 "RFormula) -> LogisticRegression. Nulls and unseen values in color/region (x1..x3 are dropped: "
                 "their nulls would need imputing)", rformula_cls))

    def sqltrans(spark):
        tr, te = cust(spark, num4 + ["y"])
        st = [F.SQLTransformer(statement="SELECT *, x1 * x2 AS x12, sqrt(x2) AS sx2, x3 / 10.0 - x4 AS d FROM __THIS__"),
              F.VectorAssembler(inputCols=["x1", "x12", "sx2", "d"], outputCol="features"),
              R.LinearRegression(labelCol="y")]
        return Pipeline(stages=st).fit(tr), te
    fx.append(Fx("customers_sql_transformer", "regression", "y",
                 "SQLTransformer(SELECT *, x1 * x2 AS x12, sqrt(x2) AS sx2, x3 / 10.0 - x4 AS d) -> VectorAssembler "
                 "-> LinearRegression", sqltrans))

    # -- tuning wrappers ---------------------------------------------------------------------------
    def cv(spark):
        tr, te = cust(spark, num4 + ["churn"])
        lr = C.LogisticRegression(labelCol="label_idx", maxIter=50)
        inner = Pipeline(stages=[F.VectorAssembler(inputCols=num4, outputCol="features"), lr])
        grid = T.ParamGridBuilder().addGrid(lr.regParam, [0.001, 0.1]).build()
        c = T.CrossValidator(estimator=inner, estimatorParamMaps=grid, numFolds=3, seed=17,
                             evaluator=E.BinaryClassificationEvaluator(labelCol="label_idx"))
        return Pipeline(stages=[label_idx("churn", "label_idx"), c]).fit(tr), te
    fx.append(Fx("customers_cross_validator", "classification", "churn",
                 "StringIndexer(label) -> CrossValidatorModel(3 folds; bestModel = PipelineModel[VectorAssembler, "
                 "LogisticRegression]; metadata embeds the estimator, grid and evaluator)", cv))

    def tvs(spark):
        tr, te = flowers(spark)
        dt = C.DecisionTreeClassifier(maxDepth=3, seed=2)
        inner = Pipeline(stages=[F.VectorAssembler(inputCols=FLOWER_COLS, outputCol="features"), dt])
        grid = T.ParamGridBuilder().addGrid(dt.maxDepth, [2, 4]).build()
        t = T.TrainValidationSplit(estimator=inner, estimatorParamMaps=grid, trainRatio=0.7, seed=17,
                                   evaluator=E.MulticlassClassificationEvaluator())
        return Pipeline(stages=[label_idx("species"), t]).fit(tr), te
    fx.append(Fx("flowers_train_validation_split", "classification", "species",
                 "StringIndexer -> TrainValidationSplitModel(bestModel = PipelineModel[VectorAssembler, DecisionTreeClassifier])",
                 tvs))

    # -- storage variants --------------------------------------------------------------------------
    fx.append(Fx("customers_rf_multipart", "classification", "churn",
                 "RandomForestClassifier(8 trees, depth 5) saved with spark.sql.files.maxRecordsPerFile 40, so data/ has "
                 "several part files (no stage writer splits model data this small on its own: tree ensembles split "
                 "above 7,280,000 nodes)",
                 cust_tree(lambda: C.RandomForestClassifier(labelCol="label_idx", numTrees=8, maxDepth=5, seed=13), "churn"),
                 max_records=40))
    fx.append(Fx("customers_logreg_zstd", "classification", "churn",
                 "customers_logreg_binomial's pipeline saved with spark.sql.parquet.compression.codec zstd",
                 cust_logreg, codec="zstd"))
    fx.append(Fx("customers_gbt_gzip", "regression", "y",
                 "customers_gbt_regressor's pipeline saved with spark.sql.parquet.compression.codec gzip",
                 cust_tree(lambda: R.GBTRegressor(labelCol="y", maxIter=10, maxDepth=3, seed=13), "y", nulls=0.05), codec="gzip"))
    fx.append(Fx("flowers_nb_uncompressed", "classification", "species",
                 "flowers_nb_gaussian's pipeline saved with spark.sql.parquet.compression.codec uncompressed",
                 lambda s: fl_pipe(s, [C.NaiveBayes(modelType="gaussian")]), codec="uncompressed"))
    return fx


# ---------------------------------------------------------------------------------------------

def spark_session():
    from pyspark.sql import SparkSession
    s = (SparkSession.builder.master("local[1]").appName("evserve-spark-fixtures")
         .config("spark.ui.enabled", "false")
         .config("spark.ui.showConsoleProgress", "false")
         .config("spark.sql.shuffle.partitions", "1")
         .config("spark.default.parallelism", "1")
         .config("spark.sql.session.timeZone", "UTC")
         .config("spark.driver.memory", "1g")
         .getOrCreate())
    s.sparkContext.setLogLevel("ERROR")
    return s


def save_model(spark, model, path, name, codec, max_records=None):
    conf = spark.conf
    conf.set("spark.sql.parquet.compression.codec", codec)
    if max_records:
        conf.set("spark.sql.files.maxRecordsPerFile", str(max_records))
    try:
        model.write().overwrite().save(path)
    finally:
        conf.set("spark.sql.parquet.compression.codec", "snappy")
        conf.unset("spark.sql.files.maxRecordsPerFile")
    conf.set("spark.sql.parquet.compression.codec", codec)
    try:
        normalise_saved(spark, path, name, codec)
    finally:
        conf.set("spark.sql.parquet.compression.codec", "snappy")


def write_fixture(spark, fx, out, work, keep_dir=False):
    reset_uids(fx.name)
    model, test = fx.build(spark)
    in_cols = test.columns
    path = os.path.join(work, fx.name)
    save_model(spark, model, path, fx.name, fx.codec, fx.max_records)
    # Score the model as it was saved and reloaded (what a consumer of the zip sees).
    loaded = PipelineModel.load(path)
    res = loaded.transform(test)
    added = [c for c in res.columns if c not in in_cols]
    rows = res.collect()
    in_rows = test.collect()
    if len(rows) != len(in_rows) or any(tuple(r[c] for c in in_cols) != tuple(i) for r, i in zip(rows, in_rows)
                                        if all(v == v for v in i if isinstance(v, float))):
        raise RuntimeError("%s: output rows are not aligned with the input" % fx.name)

    base = os.path.join(out, fx.name)
    write_csv(base + ".input.csv", in_cols, [[fmt(r[c]) for c in in_cols] for r in in_rows])
    with open(base + ".schema.json", "w") as f:
        f.write(json.dumps(test.schema.jsonValue(), sort_keys=True, separators=(",", ":")) + "\n")
    write_csv(base + ".spark.csv", added, [[fmt(r[c]) for c in added] for r in rows])

    pred = fx.prediction
    if fx.kind == "classification":
        labels = label_names(model, fx.label)
        has_prob = "probability" in added
        n_classes = len(rows[0]["probability"]) if has_prob else len(labels)
        if n_classes == len(labels) + 1:
            # A label indexer with handleInvalid "keep" adds a class for unseen labels; Spark's
            # own name for it (in the indexer's output attribute) is "__unknown".
            labels = labels + ["__unknown"]
        assert n_classes == len(labels), (fx.name, n_classes, labels)
        header = [fx.label] + (["probability(%s)" % l for l in labels] if has_prob else [])
        exp = []
        for r in rows:
            line = [labels[int(r[pred])]]
            if has_prob:
                line += [repr(float(x)) for x in r["probability"].toArray()]
            exp.append(line)
    elif fx.kind == "regression":
        header = [fx.label]
        exp = [[fmt(float(r[pred]))] for r in rows]
    else:
        header = ["cluster"]
        exp = [[str(int(r[pred]))] for r in rows]
    write_csv(base + ".expected.csv", header, exp)
    zip_dir(path, base + ".zip")
    if not keep_dir:
        shutil.rmtree(path)
    return len(rows)


# ---------------------------------------------------------------------------------------------
# Benchmark pipelines (not committed): 10,000 rows each.

def write_bench(spark, out):
    from pyspark.ml import feature as F
    from pyspark.ml import classification as C
    os.makedirs(out, exist_ok=True)
    work = out

    def emit(name, model, test, labels):
        path = os.path.join(work, name)
        save_model(spark, model, path, name, "snappy")
        zip_dir(path, os.path.join(out, name + ".zip"))
        in_cols = test.columns
        rows = model.transform(test).collect()
        base = os.path.join(out, name)
        write_csv(base + ".input.csv", in_cols, [[fmt(r[c]) for c in in_cols] for r in rows])
        with open(base + ".schema.json", "w") as f:
            f.write(json.dumps(test.schema.jsonValue(), sort_keys=True, separators=(",", ":")) + "\n")
        write_csv(base + ".expected.csv", ["churn"] + ["probability(%s)" % l for l in labels],
                  [[labels[int(r.prediction)]] + [repr(float(x)) for x in r.probability.toArray()] for r in rows])
        print("bench %-12s %d rows -> %s" % (name, len(rows), path), flush=True)

    from pyspark.sql.types import StructType, StructField, DoubleType, StringType
    cols = ["x1", "x2", "x3", "x4", "color", "region", "churn"]
    schema = StructType([StructField(c, StringType() if c in ("color", "region", "churn") else DoubleType(), True)
                         for c in cols])

    def data(n, seed):
        return spark.createDataFrame([r[:7] for r in customer_rows(n, seed)], schema)

    reset_uids("bench_logreg")
    tr, te = data(10000, 41), data(10000, 42)
    lr = Pipeline(stages=[
        F.StringIndexer(inputCols=["color", "region"], outputCols=["color_idx", "region_idx"], handleInvalid="keep"),
        F.OneHotEncoder(inputCols=["color_idx", "region_idx"], outputCols=["color_vec", "region_vec"]),
        F.VectorAssembler(inputCols=["x1", "x2", "x3", "x4", "color_vec", "region_vec"], outputCol="features"),
        F.StringIndexer(inputCol="churn", outputCol="label_idx"),
        C.LogisticRegression(labelCol="label_idx", maxIter=100, regParam=0.001)]).fit(tr)
    # The label's StringIndexer is only needed for fitting: the served pipeline has 4 stages and
    # the expected CSV maps predictions through the indexer's labels.
    served = PipelineModel([s for i, s in enumerate(lr.stages) if i != 3])
    emit("bench_logreg", served, te.drop("churn"), list(lr.stages[3].labels))

    reset_uids("bench_rf")
    num = ["x1", "x2", "x3", "x4"]
    rf = Pipeline(stages=[
        F.StringIndexer(inputCol="churn", outputCol="label_idx"),
        F.VectorAssembler(inputCols=num, outputCol="features"),
        C.RandomForestClassifier(labelCol="label_idx", numTrees=100, maxDepth=8, seed=43)]).fit(tr.select(*num, "churn"))
    served = PipelineModel(rf.stages[1:])
    emit("bench_rf", served, te.select(*num), list(rf.stages[0].labels))


def write_tsv(path, all_fx, made, version):
    """fixtures.tsv in fixture order; with --only, rows of fixtures not made now are kept."""
    old = {}
    if os.path.exists(path):
        for line in open(path, encoding="utf-8").read().splitlines()[1:]:
            old[line.split("\t", 1)[0]] = line
    lines = ["name\tkind\tlabel\ttolerance\tdescription"]
    for f in all_fx:
        if f.name in made:
            lines.append("\t".join([f.name, f.kind, f.label, f.tol, f.desc + " (Spark %s)" % version]))
        elif f.name in old:
            lines.append(old[f.name])
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="tests/fixtures/spark")
    ap.add_argument("--bench", help="write the benchmark pipelines into this directory instead")
    ap.add_argument("--only", nargs="+", help="only these fixtures (their fixtures.tsv rows are updated)")
    ap.add_argument("--list", action="store_true", help="list the fixture names and exit")
    a = ap.parse_args()

    fxs = fixtures()
    if a.list:
        for f in fxs:
            print(f.name)
        return 0
    spark = spark_session()
    print("Spark %s, Java %s" % (spark.version, spark.sparkContext._jvm.System.getProperty("java.version")), flush=True)
    if a.bench:
        write_bench(spark, os.path.abspath(a.bench))
        return 0
    if a.only:
        unknown = set(a.only) - {f.name for f in fxs}
        if unknown:
            print("unknown fixture(s): %s" % ", ".join(sorted(unknown)), file=sys.stderr)
            return 2
        fxs = [f for f in fxs if f.name in a.only]
    os.makedirs(a.out, exist_ok=True)
    work = tempfile.mkdtemp(prefix="spark-fixtures-")
    try:
        failed = []
        for f in fxs:
            t0 = time.time()
            try:
                n = write_fixture(spark, f, a.out, work)
            except Exception as e:  # report, go on with the others, fail at the end
                msg = [l for l in str(e).strip().splitlines() if l.strip() and not l.strip().startswith("at ")]
                print("%-36s FAILED: %s" % (f.name, " | ".join(msg[:3]) or type(e).__name__), flush=True)
                failed.append(f.name)
                continue
            size = os.path.getsize(os.path.join(a.out, f.name + ".zip"))
            print("%-36s %-14s %4d rows  zip %6d B  %5.1fs" % (f.name, f.kind, n, size, time.time() - t0), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    made = {f.name for f in fxs} - set(failed)
    write_tsv(os.path.join(a.out, "fixtures.tsv"), fixtures(), made, spark.version)
    if failed:
        print("failed: %s" % " ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
