#!/usr/bin/env python3
"""Time PySpark's PipelineModel.transform on the benchmark pipelines; print JSON.

    var/venv-spark/bin/python tools/spark_fixtures/pyspark_bench.py --bench DIR [--reps 5]

DIR is what `make_fixtures.sh --bench DIR` wrote (DIR/<name>/ pipeline directories and
DIR/<name>.input.csv + .schema.json). For each pipeline:
  batch: transform of all input rows (cached DataFrame) materialised with the no-op sink,
         after --warmup untimed runs; per_row_us = seconds / rows, rows_per_s = rows / seconds
         (median and best of --reps runs).
  single_row: transform of a one-row DataFrame, materialised the same way (median / best of
         --single-reps runs): the latency of one event through Spark's planner and executor.
Runs on local[1] so the figures compare with a single-threaded native evaluator.
"""

import argparse
import csv
import json
import os
import statistics
import sys
import time


def load_input(spark, base):
    from pyspark.sql.types import StructType
    schema = StructType.fromJson(json.load(open(base + ".schema.json")))
    rows = []
    with open(base + ".input.csv", newline="") as f:
        r = csv.reader(f)
        header = next(r)
        for line in r:
            row = []
            for field, cell in zip(schema.fields, line):
                if cell == "N/A":
                    row.append(None)
                elif field.dataType.typeName() == "double":
                    row.append(float(cell))
                elif field.dataType.typeName() in ("integer", "long"):
                    row.append(int(cell))
                else:
                    row.append(cell)
            rows.append(tuple(row))
    assert header == schema.names, (header, schema.names)
    return spark.createDataFrame(rows, schema)


def run(df, model):
    t0 = time.perf_counter()
    model.transform(df).write.format("noop").mode("overwrite").save()
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", required=True, help="directory written by make_fixtures.sh --bench")
    ap.add_argument("--names", nargs="+", default=["bench_logreg", "bench_rf"])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--single-reps", type=int, default=50)
    a = ap.parse_args()

    from pyspark.sql import SparkSession
    from pyspark.ml import PipelineModel
    spark = (SparkSession.builder.master("local[1]").appName("evserve-pyspark-bench")
             .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
             .config("spark.sql.shuffle.partitions", "1").config("spark.driver.memory", "2g")
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")

    results = {"engine": "pyspark", "spark_version": spark.version, "master": "local[1]",
               "java_version": spark.sparkContext._jvm.System.getProperty("java.version"),
               "pipelines": []}
    for name in a.names:
        base = os.path.join(a.bench, name)
        model = PipelineModel.load(base)
        df = load_input(spark, base).coalesce(1).cache()
        n = df.count()
        for _ in range(a.warmup):
            run(df, model)
        batch = [run(df, model) for _ in range(a.reps)]
        one = spark.createDataFrame(df.take(1), df.schema).cache()
        one.count()
        for _ in range(a.warmup):
            run(one, model)
        single = [run(one, model) for _ in range(a.single_reps)]
        med, best = statistics.median(batch), min(batch)
        results["pipelines"].append({
            "name": name, "stages": len(model.stages),
            "stage_classes": [s.__class__.__name__ for s in model.stages],
            "rows": n, "reps": a.reps,
            "batch_seconds_median": med, "batch_seconds_best": best,
            "per_row_us_median": med / n * 1e6, "per_row_us_best": best / n * 1e6,
            "rows_per_s_median": n / med, "rows_per_s_best": n / best,
            "single_row_reps": a.single_reps,
            "single_row_ms_median": statistics.median(single) * 1e3,
            "single_row_ms_best": min(single) * 1e3,
        })
        df.unpersist()
        one.unpersist()
    print(json.dumps(results, indent=2))
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
