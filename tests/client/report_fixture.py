#!/usr/bin/python3
"""A TableReport (proto JSON, as gantryd's HTTP API serves it) made up from a
CSV without a server: real distributions and associations from the file,
"synthetic" ones a seeded perturbation of them, invented privacy, utility and
history. For rendering `gantry report --input` offline (tests, layout work).

    /usr/bin/python3 tests/client/report_fixture.py IN.csv OUT.json [--target COLUMN] [--seed N]
"""
import argparse
import csv
import datetime
import json
import math
import os
import random
import sys

BINS, MAX_LEVELS = 20, 30


def _float(text):
    try:
        v = float(text)
        return v if math.isfinite(v) else None
    except ValueError:
        return None


def _days(text):
    """Days since 1970-01-01 of a %Y-%m-%d or %Y-%m-%d %H:%M:%S text, else None."""
    for fmt in ("%Y-%m-%d", "%Y-%m-%d %H:%M:%S"):
        try:
            t = datetime.datetime.strptime(text, fmt)
            return (t - datetime.datetime(1970, 1, 1)).total_seconds() / 86400
        except ValueError:
            pass
    return None


def _column_type(values):
    present = [v for v in values if v != ""]
    if present and all(_days(v) is not None for v in present):
        return "COLUMN_TYPE_DATETIME"
    nums = [_float(v) for v in present]
    if present and all(n is not None for n in nums):
        integral = all(n == math.floor(n) for n in nums)
        if integral and len(set(nums)) <= 16:
            return "COLUMN_TYPE_CATEGORICAL"
        return "COLUMN_TYPE_INTEGER" if integral else "COLUMN_TYPE_CONTINUOUS"
    return "COLUMN_TYPE_CATEGORICAL"


def _perturb(shares, rng, amount):
    noisy = [max(0.0, s * (1 + rng.uniform(-amount, amount)) + rng.uniform(0, amount / 50))
             for s in shares]
    total = sum(noisy) or 1.0
    scale = sum(shares) / total
    return [v * scale for v in noisy]


def _pearson(x, y):
    pairs = [(a, b) for a, b in zip(x, y) if a is not None and b is not None]
    if len(pairs) < 2:
        return None
    mx = sum(a for a, _ in pairs) / len(pairs)
    my = sum(b for _, b in pairs) / len(pairs)
    sxy = sum((a - mx) * (b - my) for a, b in pairs)
    sxx = sum((a - mx) ** 2 for a, _ in pairs)
    syy = sum((b - my) ** 2 for _, b in pairs)
    if sxx == 0 or syy == 0:
        return None
    return sxy / math.sqrt(sxx * syy)


def _cramers_v(x, y):
    n = len(x)
    rows, cols = sorted(set(x)), sorted(set(y))
    if len(rows) < 2 or len(cols) < 2:
        return None
    ri = {v: i for i, v in enumerate(rows)}
    ci = {v: i for i, v in enumerate(cols)}
    table = [[0] * len(cols) for _ in rows]
    for a, b in zip(x, y):
        table[ri[a]][ci[b]] += 1
    rs = [sum(r) for r in table]
    cs = [sum(table[i][j] for i in range(len(rows))) for j in range(len(cols))]
    chi2 = sum((table[i][j] - rs[i] * cs[j] / n) ** 2 / (rs[i] * cs[j] / n)
               for i in range(len(rows)) for j in range(len(cols)) if rs[i] * cs[j] > 0)
    return math.sqrt(chi2 / n / (min(len(rows), len(cols)) - 1))


def make_report(path, target=None, seed=1, job_id="j-offline0001", name=None):
    rng = random.Random(seed)
    with open(path, encoding="utf-8", newline="") as f:
        first = f.readline()
        f.seek(0)
        unquoted = "".join(first.split('"')[0::2])
        delimiter = max((",", ";", "\t"), key=lambda d: (unquoted.count(d), d == ","))
        records = list(csv.reader(f, delimiter=delimiter))
    header, rows = records[0], records[1:]
    n = len(rows)
    columns, codes = [], []  # codes: a discretised value per row, for Cramer's V
    numeric_values = []
    for c, col_name in enumerate(header):
        values = [r[c] if c < len(r) else "" for r in rows]
        ctype = _column_type(values)
        missing = sum(v == "" for v in values)
        rep = {"name": col_name, "type": ctype, "missingReal": missing / n,
               "missingSynthetic": max(0.0, missing / n + rng.uniform(-0.01, 0.01)) if missing else 0.0,
               "coverage": round(rng.uniform(0.85, 1.0), 4), "adherence": round(rng.uniform(0.95, 1.0), 4)}
        if ctype == "COLUMN_TYPE_CATEGORICAL":
            counts = {}
            for v in values:
                if v != "":
                    counts[v] = counts.get(v, 0) + 1
            levels = sorted(counts, key=lambda v: (-counts[v], v))
            kept = levels[:MAX_LEVELS]
            labels = list(kept)
            real = [counts[v] / n for v in kept]
            if len(levels) > MAX_LEVELS:
                labels.append("(other)")
                real.append(sum(counts[v] for v in levels[MAX_LEVELS:]) / n)
            rep["shapeMetric"] = "TVComplement"
            code_of = {v: i for i, v in enumerate(levels)}
            codes.append([code_of.get(v, -1) for v in values])
            numeric_values.append(None)
        else:
            convert = _days if ctype == "COLUMN_TYPE_DATETIME" else _float
            nums = [convert(v) if v != "" else None for v in values]
            present = [x for x in nums if x is not None]
            lo, hi = min(present), max(present)
            if hi == lo:
                hi = lo + 1
            edges = [lo + (hi - lo) * i / BINS for i in range(BINS + 1)]
            real = [0.0] * BINS
            bins = []
            for x in nums:
                if x is None:
                    bins.append(-1)
                    continue
                b = min(BINS - 1, int((x - lo) / (hi - lo) * BINS))
                real[b] += 1 / n
                bins.append(b)
            labels = []
            rep["edges"] = edges
            rep["shapeMetric"] = "KSComplement"
            codes.append(bins)
            numeric_values.append(nums)
        if missing:
            labels.append("(missing)")
            real.append(missing / n)
        rep["labels"] = labels
        rep["real"] = real
        rep["synthetic"] = _perturb(real, rng, 0.5)
        rep["shape"] = round(1 - 0.5 * sum(abs(a - b) for a, b in zip(real, rep["synthetic"])), 4)
        if not labels or labels == ["(missing)"]:
            labels_only_missing = labels
            rep["labels"] = labels_only_missing
        columns.append(rep)
    pairs = []
    for a in range(len(header)):
        for b in range(a + 1, len(header)):
            if numeric_values[a] is not None and numeric_values[b] is not None:
                real = _pearson(numeric_values[a], numeric_values[b])
                metric = "CorrelationSimilarity"
            else:
                real = _cramers_v(codes[a], codes[b])
                metric = "ContingencySimilarity"
            pair = {"a": a, "b": b, "metric": metric}
            if real is not None:
                lo = -1.0 if metric == "CorrelationSimilarity" else 0.0
                synth = min(1.0, max(lo, real + rng.uniform(-0.25, 0.25)))
                pair.update(real=real, synthetic=synth, score=1 - abs(real - synth) / 2)
            pairs.append(pair)
    history = []
    epochs = 30
    for e in range(1, epochs + 1):
        q = 0.55 + 0.35 * (1 - math.exp(-e / 8)) + rng.uniform(-0.02, 0.02)
        m = {"quality": q, "columnShapes": q + 0.03, "columnPairs": q - 0.03, "dcrShare": 0.5 + rng.uniform(-0.04, 0.08)}
        if target:
            m["utility"] = 0.3 + 0.4 * (1 - math.exp(-e / 10)) + rng.uniform(-0.03, 0.03)
            m["utilityReal"] = 0.75
        history.append({"epoch": str(e), "metrics": m})
    best = max(history, key=lambda h: h["metrics"]["quality"])
    metrics = dict(best["metrics"])
    metrics.update(missingSimilarity=0.99, columnCoverage=0.93, adherence=0.99, exactCopies=0.0,
                   dcrP5=0.041, holdoutDcrP5=0.043)
    report = {
        "jobId": job_id, "jobName": name or os.path.basename(path), "epoch": best["epoch"],
        "bestEpoch": best["epoch"], "selectBy": "column_distance", "metrics": metrics,
        "columns": columns, "pairs": pairs, "realRows": str(round(n * 0.2)), "syntheticRows": str(round(n * 0.2)),
        "history": history, "maxDcrShare": 0.6,
        "privacy": {"dcrShare": metrics["dcrShare"], "exactCopies": 0.0, "dcrP5": 0.041, "holdoutDcrP5": 0.043,
                    "holdoutExactCopies": 0.0008, "referenceRows": str(round(n * 0.2)),
                    "syntheticRows": str(min(2000, round(n * 0.2))), "verdict": "no sign of memorisation"},
    }
    if target:
        t = header.index(target)
        classification = columns[t]["type"] == "COLUMN_TYPE_CATEGORICAL"
        report["utility"] = {"target": target, "task": "classification" if classification else "regression",
                             "scoreName": "macro_f1" if classification else "r2",
                             "synthetic": metrics["utility"], "real": 0.75,
                             "syntheticAccuracy": 0.71 if classification else 0.0,
                             "realAccuracy": 0.78 if classification else 0.0,
                             "trainRows": str(round(n * 0.2)), "testRows": str(round(n * 0.2))}
    return report


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("csv")
    ap.add_argument("out")
    ap.add_argument("--target")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--name")
    args = ap.parse_args(argv)
    report = make_report(args.csv, args.target, args.seed, name=args.name)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(report, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
