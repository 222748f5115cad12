#!/usr/bin/env python3
"""Writes a random-forest PMML over the iris features to stdout, for benchmarks.

Same shape as sklearn2pmml's RandomForestClassifier export (tests/fixtures/pmml/
iris_forest.pmml): MiningModel, multipleModelMethod="average", binary TreeModels
with lessOrEqual/True splits and ScoreDistribution leaves. The splits are random
(seeded), not trained: it is a size and shape stand-in, not a useful model.
"""
import argparse
import random

FEATURES = [("sepal_length", 4.3, 7.9), ("sepal_width", 2.0, 4.4),
            ("petal_length", 1.0, 6.9), ("petal_width", 0.1, 2.5)]
LABELS = ["setosa", "versicolor", "virginica"]


def node(out, depth, max_depth, pred, rng, indent):
    pad = "\t" * indent
    if depth == max_depth or (depth > 2 and rng.random() < 0.3):
        counts = [rng.randint(0, 20) for _ in LABELS]
        if sum(counts) == 0:
            counts[0] = 1
        best = LABELS[counts.index(max(counts))]
        out.append(f'{pad}<Node score="{best}" recordCount="{sum(counts)}">{pred}')
        for label, c in zip(LABELS, counts):
            out.append(f'{pad}\t<ScoreDistribution value="{label}" recordCount="{c}"/>')
        out.append(f"{pad}</Node>")
        return
    name, lo, hi = rng.choice(FEATURES)
    split = round(rng.uniform(lo, hi), 4)
    out.append(f"{pad}<Node>{pred}")
    node(out, depth + 1, max_depth,
         f'<SimplePredicate field="{name}" operator="lessOrEqual" value="{split}"/>', rng, indent + 1)
    node(out, depth + 1, max_depth, "<True/>", rng, indent + 1)
    out.append(f"{pad}</Node>")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--trees", type=int, default=100)
    ap.add_argument("--depth", type=int, default=10)
    ap.add_argument("--seed", type=int, default=42)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    fields = "".join(f'\t\t\t<MiningField name="{n}"/>\n' for n, _, _ in FEATURES)
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           '<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4">',
           f'\t<Header description="random {a.trees}-tree forest, depth {a.depth}, seed {a.seed} (bench/make_forest.py)"/>',
           "\t<DataDictionary>",
           '\t\t<DataField name="species" optype="categorical" dataType="string">']
    out += [f'\t\t\t<Value value="{v}"/>' for v in LABELS]
    out.append("\t\t</DataField>")
    out += [f'\t\t<DataField name="{n}" optype="continuous" dataType="float"/>' for n, _, _ in FEATURES]
    out.append("\t</DataDictionary>")
    out.append('\t<MiningModel functionName="classification">')
    out.append("\t\t<MiningSchema>\n\t\t\t<MiningField name=\"species\" usageType=\"target\"/>\n" + fields + "\t\t</MiningSchema>")
    out.append("\t\t<Output>")
    out += [f'\t\t\t<OutputField name="probability({v})" optype="continuous" dataType="double" feature="probability" value="{v}"/>'
            for v in LABELS]
    out.append("\t\t</Output>")
    out.append('\t\t<Segmentation multipleModelMethod="average">')
    for t in range(a.trees):
        out.append(f'\t\t\t<Segment id="{t + 1}">\n\t\t\t\t<True/>')
        out.append('\t\t\t\t<TreeModel functionName="classification" missingValueStrategy="nullPrediction">')
        out.append("\t\t\t\t\t<MiningSchema>\n" + fields.replace("\t\t\t<", "\t\t\t\t\t\t<") + "\t\t\t\t\t</MiningSchema>")
        node(out, 0, a.depth, "<True/>", rng, 5)
        out.append("\t\t\t\t</TreeModel>\n\t\t\t</Segment>")
    out.append("\t\t</Segmentation>\n\t</MiningModel>\n</PMML>")
    print("\n".join(out))


if __name__ == "__main__":
    main()
