#!/usr/bin/python3
"""CSV fixtures for the table tests (C++ unit tests, e2e, the table bench).

    /usr/bin/python3 tests/common/tables.py OUTDIR [--big [--big-rows N]] [--only a,b]
    /usr/bin/python3 tests/common/tables.py --split IN.csv TRAIN.csv TEST.csv \
        [--fraction 0.2] [--seed 0] [--delimiter ';']

Every file is written deterministically (the same bytes on every run and machine;
Python's `random.Random(seed)`, UTF-8, LF line ends, no BOM):

real tables (Debian's python3-statsmodels and python3-sklearn; deploy/install-deps.sh)
  fair.csv           statsmodels' `fair` (6366 rows, 9 columns), byte for byte as
                     shipped: a quoted header, codes written as integers (`3`), floats
                     as `17.5`, `0.1111111`. Note `children` has the levels
                     0 1 2 3 4 5.5 (5.5 is the "5 or more" bin), `age` and
                     `yrs_married` are binned too (6 and 7 levels).
                     (fair_int.csv is written only if a shipped copy ever spells its
                     codes as floats, `3.0`; Debian's 0.13.5 does not.)
  wine.csv           scikit-learn's load_wine: 13 features (its feature names), the
                     target as column `class` (0, 1, 2); 178 rows, values as shipped
                     (`127`, not `127.0`)
  breast_cancer.csv  load_breast_cancer: 30 features, target `diagnosis`
                     (`malignant` / `benign`); 569 rows
  iris.csv           load_iris: 4 features, target `species` (setosa, versicolor,
                     virginica); 150 rows
edge cases (generated)
  all_missing.csv              column `nothing` is empty in every row
  one_level.csv                categorical `constant` has the single level `only`
  levels_1000.csv              categorical `level` with exactly 1000 distinct text
                               levels over 3000 rows (each once, then skewed draws)
  single_row_per_category.csv  categorical `name`: 40 levels, each in exactly one row
  dates.csv                    `day` (%Y-%m-%d) and `stamp` (%Y-%m-%d %H:%M:%S), ~5%
                               of each empty, plus a leap day and a 23:59:59
  unicode.csv                  `;`-delimited; unicode column names and values, quoted
                               fields with commas, semicolons, doubled quotes and
                               embedded newlines
  missing.csv                  mixed types (int, float, text, bool, date, integer
                               codes): exactly 10% of each column's cells missing,
                               half written `NA`, half empty
  big.csv                      with --big only: big_table(), 1,000,000 mixed rows

As a module: write_all(outdir), big_table(path, rows), split(csv_in, train_out,
test_out, fraction, seed), read_csv(path, delimiter) and the individual writers.
"""

import argparse
import csv
import datetime
import math
import os
import random
import shutil
import sys

DEBIAN_PYTHON = "/usr/bin/python3"
DIST_PACKAGES = "/usr/lib/python3/dist-packages"


# ---------------------------------------------------------------- CSV helpers

def _needs_quotes(field, delimiter):
    return (field != field.strip() or any(c in field for c in (delimiter, '"', "\n", "\r", ","))
            or field == "")


def _field(value, delimiter, quote_empty=False):
    """One CSV field: None is an empty (missing) cell; strings are quoted when they
    hold the delimiter, a comma, a quote, a line break or edge spaces."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else _fmt(value)
    if text == "" and not quote_empty:
        return ""
    if _needs_quotes(text, delimiter):
        return '"' + text.replace('"', '""') + '"'
    return text


def _fmt(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def write_rows(path, header, rows, delimiter=","):
    """Writes header + rows (lists of str / int / float / bool / None) with LF ends."""
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(delimiter.join(_field(h, delimiter) for h in header) + "\n")
        for row in rows:
            f.write(delimiter.join(_field(v, delimiter) for v in row) + "\n")


def read_csv(path, delimiter=","):
    """Returns (header, rows) as lists of strings (no type conversion)."""
    with open(path, encoding="utf-8", newline="") as f:
        records = list(csv.reader(f, delimiter=delimiter))
    return records[0], records[1:]


def sniff_delimiter(path):
    """`,`, `;` or a tab: whichever the header line holds most often outside quotes."""
    with open(path, encoding="utf-8", newline="") as f:
        first = f.readline()
    unquoted = "".join(first.split('"')[0::2])
    counts = {d: unquoted.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: (counts[d], d == ","))
    return best if counts[best] else ","


def _raw_records(path, delimiter):
    """Yields each CSV record's exact text (its lines, quoted line breaks included)."""
    pending = []
    with open(path, encoding="utf-8", newline="") as f:

        def feed():
            for line in f:
                pending.append(line)
                yield line

        for _ in csv.reader(feed(), delimiter=delimiter):
            text = "".join(pending)
            pending.clear()
            yield text


def split(csv_in, train_out, test_out, fraction=0.2, seed=0, delimiter=None):
    """Random split of a CSV's data rows: round(n * fraction) rows (chosen with
    random.Random(seed)) go to test_out, the rest to train_out; both keep the header
    and the rows' original order and exact text (quoting, line breaks). The
    delimiter only matters for finding where records end (quoted line breaks);
    None: sniff_delimiter(). Returns (train_rows, test_rows)."""
    records = list(_raw_records(csv_in, delimiter or sniff_delimiter(csv_in)))
    if not records:
        raise ValueError(f"{csv_in}: empty")
    header, rows = records[0], records[1:]
    if not header.endswith("\n"):
        header += "\n"
    if rows and not rows[-1].endswith(("\n", "\r")):
        rows[-1] += "\n"
    n_test = int(round(len(rows) * fraction))
    test_idx = set(random.Random(seed).sample(range(len(rows)), n_test))
    with open(train_out, "w", encoding="utf-8", newline="") as tr, \
            open(test_out, "w", encoding="utf-8", newline="") as te:
        tr.write(header)
        te.write(header)
        for i, rec in enumerate(rows):
            (te if i in test_idx else tr).write(rec)
    return len(rows) - n_test, n_test


# ---------------------------------------------------------------- real tables

def _find_data_file(package_rel):
    """A data file inside an installed package, found without importing it (so any
    interpreter can write the fixtures once Debian's packages are installed)."""
    parts = package_rel.split("/")
    try:
        import importlib.util
        spec = importlib.util.find_spec(parts[0])
        if spec is not None and spec.submodule_search_locations:
            for base in spec.submodule_search_locations:
                path = os.path.join(base, *parts[1:])
                if os.path.exists(path):
                    return path
    except ImportError:
        pass
    path = os.path.join(DIST_PACKAGES, *parts)
    if os.path.exists(path):
        return path
    raise FileNotFoundError(f"{package_rel} not found: run deploy/install-deps.sh "
                            "(python3-statsmodels, python3-sklearn)")


def fair_source():
    return _find_data_file("statsmodels/datasets/fair/fair.csv")


def write_fair(outdir):
    """fair.csv as shipped; fair_int.csv too when the codes are spelled as floats."""
    src = fair_source()
    dst = os.path.join(outdir, "fair.csv")
    shutil.copyfile(src, dst)
    written = [dst]
    header, rows = read_csv(src)
    float_codes = [
        i for i in range(len(header))
        if any("." in r[i] for r in rows)
        and all(float(r[i]) == math.floor(float(r[i])) for r in rows)
    ]
    if float_codes:
        out = [[str(int(float(v))) if i in float_codes else v for i, v in enumerate(r)]
               for r in rows]
        path = os.path.join(outdir, "fair_int.csv")
        write_rows(path, header, out)
        written.append(path)
    return written


def _sklearn_table(data_file, names, target_name, target_values):
    """One of scikit-learn's bundled CSVs (first line: n_samples, n_features, target
    names; then features..., target code), with the values' text as shipped and the
    feature names load_*() gives."""
    path = _find_data_file("sklearn/datasets/data/" + data_file)
    header, rows = read_csv(path)
    n, n_features = int(header[0]), int(header[1])
    assert len(rows) == n and all(len(r) == n_features + 1 for r in rows), path
    assert len(names) == n_features, (path, names)
    out = [r[:n_features] + [target_values(int(r[n_features]), header[2:])] for r in rows]
    return list(names) + [target_name], out


# load_*().feature_names, as scikit-learn 1.2 spells them (checked against the
# installed package by check_sklearn_names() when it can be imported).
WINE_NAMES = [
    "alcohol", "malic_acid", "ash", "alcalinity_of_ash", "magnesium", "total_phenols",
    "flavanoids", "nonflavanoid_phenols", "proanthocyanins", "color_intensity", "hue",
    "od280/od315_of_diluted_wines", "proline",
]
IRIS_NAMES = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]
_BC_STATS = ["radius", "texture", "perimeter", "area", "smoothness", "compactness",
             "concavity", "concave points", "symmetry", "fractal dimension"]
BREAST_CANCER_NAMES = ([f"mean {s}" for s in _BC_STATS] + [f"{s} error" for s in _BC_STATS]
                       + [f"worst {s}" for s in _BC_STATS])


def check_sklearn_names():
    """True when scikit-learn is importable and agrees with the names above and with
    the values written (load_*() parses the same files)."""
    try:
        from sklearn import datasets
    except ImportError:
        return False
    for loader, names in ((datasets.load_wine, WINE_NAMES), (datasets.load_iris, IRIS_NAMES),
                          (datasets.load_breast_cancer, BREAST_CANCER_NAMES)):
        bunch = loader()
        if list(bunch.feature_names) != names:
            raise AssertionError(f"{loader.__name__}: feature names {bunch.feature_names}")
    return True


def check_against_sklearn(outdir, names=("wine", "breast_cancer", "iris")):
    """Checks the written wine/breast_cancer/iris files against load_*() (values and
    targets); returns False when scikit-learn cannot be imported."""
    try:
        from sklearn import datasets
    except ImportError:
        return False
    for name, loader in (("wine", datasets.load_wine), ("iris", datasets.load_iris),
                         ("breast_cancer", datasets.load_breast_cancer)):
        if name not in names:
            continue
        bunch = loader()
        header, rows = read_csv(os.path.join(outdir, name + ".csv"))
        assert header[:-1] == list(bunch.feature_names), name
        assert len(rows) == len(bunch.data), name
        for r, x, t in zip(rows, bunch.data, bunch.target):
            assert [float(v) for v in r[:-1]] == [float(v) for v in x], (name, r)
            label = r[-1] if name == "wine" else list(bunch.target_names).index(r[-1])
            assert int(label) == int(t), (name, r)
    return True


def write_sklearn(outdir, names=("wine", "breast_cancer", "iris")):
    check_sklearn_names()
    written = []
    specs = [
        ("wine.csv", "wine_data.csv", WINE_NAMES, "class", lambda code, names: str(code)),
        ("breast_cancer.csv", "breast_cancer.csv", BREAST_CANCER_NAMES, "diagnosis",
         lambda code, names: names[code]),
        ("iris.csv", "iris.csv", IRIS_NAMES, "species", lambda code, names: names[code]),
    ]
    for out_name, data_file, features, target, value in specs:
        if out_name[:-4] not in names:
            continue
        header, rows = _sklearn_table(data_file, features, target, value)
        path = os.path.join(outdir, out_name)
        write_rows(path, header, rows)
        written.append(path)
    return written


# ---------------------------------------------------------------- edge cases

def write_all_missing(path, rows=120, seed=1):
    rng = random.Random(seed)
    colors = ["red", "green", "blue"]
    out = [[i, round(rng.gauss(10, 3), 4), None, rng.choice(colors)] for i in range(rows)]
    write_rows(path, ["id", "score", "nothing", "color"], out)


def write_one_level(path, rows=200, seed=2):
    rng = random.Random(seed)
    out = [[i, round(rng.uniform(-1, 1), 4), "only", rng.choice(["a", "b", "c"])]
           for i in range(rows)]
    write_rows(path, ["id", "x", "constant", "group"], out)


def write_levels_1000(path, rows=3000, levels=1000, seed=3):
    """Every level appears at least once; the remaining rows draw levels with weight
    1 / (k + 1), so frequencies range from 1 to a few hundred."""
    rng = random.Random(seed)
    names = [f"lvl_{k:04d}" for k in range(levels)]
    picks = list(range(levels))
    weights = [1.0 / (k + 1) for k in range(levels)]
    picks += rng.choices(range(levels), weights=weights, k=rows - levels)
    rng.shuffle(picks)
    out = [[names[k], round(k / levels + rng.gauss(0, 0.05), 4), rng.choice(["yes", "no"])]
           for k in picks]
    write_rows(path, ["level", "x", "flag"], out)


def write_single_row_per_category(path, levels=40, seed=4):
    rng = random.Random(seed)
    names = [f"item_{k:02d}" for k in range(levels)]
    rng.shuffle(names)
    out = [[name, rng.choice(["left", "right"]), round(rng.gauss(0, 1), 4)] for name in names]
    write_rows(path, ["name", "side", "value"], out)


def write_dates(path, rows=400, seed=5):
    rng = random.Random(seed)
    start = datetime.date(2019, 1, 1)
    t0 = datetime.datetime(2021, 6, 1)
    out = []
    for i in range(rows):
        day = start + datetime.timedelta(days=rng.randrange(3 * 365))
        stamp = t0 + datetime.timedelta(seconds=rng.randrange(90 * 86400))
        if i == 0:
            day, stamp = datetime.date(2020, 2, 29), datetime.datetime(2021, 12, 31, 23, 59, 59)
        day_s = None if rng.random() < 0.05 else day.strftime("%Y-%m-%d")
        stamp_s = None if rng.random() < 0.05 else stamp.strftime("%Y-%m-%d %H:%M:%S")
        out.append([day_s, stamp_s, round(rng.lognormvariate(3, 1), 2),
                    rng.choice(["web", "store", "phone"])])
    write_rows(path, ["day", "stamp", "amount", "channel"], out)


UNICODE_HEADER = ["città", "größe_cm", "名前", "note, free text", "émoji 😀"]


def write_unicode(path, rows=60, seed=6):
    rng = random.Random(seed)
    cities = ["Zürich", "São Paulo", "Kraków", "東京", "Москва", "Αθήνα", "Reykjavík",
              "Ciudad de México, CDMX", "القاهرة"]
    names = ["さくら", "José", "Zoë", "Ørjan", "李雷", "Ñandú"]
    notes = [
        "plain",
        "has, a comma",
        "line one\nline two",
        'he said "hi"; then left',
        "a;b;c",
        "  leading and trailing spaces  ",
        "naïve café, résumé\n— with a dash",
        "",
    ]
    emoji = ["😀", "🚀", "✓", "ä", "日本"]
    out = []
    for _ in range(rows):
        out.append([rng.choice(cities), round(rng.gauss(170, 10), 1), rng.choice(names),
                    rng.choice(notes) or None, rng.choice(emoji)])
    write_rows(path, UNICODE_HEADER, out, delimiter=";")


def write_missing(path, rows=1000, seed=7):
    """Exactly 10% of every column's cells are missing: half `NA`, half empty."""
    rng = random.Random(seed)
    header = ["age", "income", "city", "member", "joined", "score", "grade"]
    cols = [
        [rng.randrange(18, 90) for _ in range(rows)],
        [round(rng.lognormvariate(10, 0.5), 2) for _ in range(rows)],
        [rng.choice(["Lyon", "Oslo", "Lima", "Pune", "Kobe"]) for _ in range(rows)],
        [rng.random() < 0.3 for _ in range(rows)],
        [(datetime.date(2015, 1, 1) + datetime.timedelta(days=rng.randrange(3000)))
         .strftime("%Y-%m-%d") for _ in range(rows)],
        [round(rng.gauss(0, 1), 4) for _ in range(rows)],
        [rng.randrange(1, 6) for _ in range(rows)],
    ]
    n_missing = rows // 10
    for col in cols:
        holes = rng.sample(range(rows), n_missing)
        for j, r in enumerate(holes):
            col[r] = "NA" if j % 2 == 0 else None
    write_rows(path, header, [list(r) for r in zip(*cols)])


BIG_HEADER = ["x_mix", "x_skew", "count", "cat20", "flag", "day"]


def big_table(path, rows=1_000_000, seed=8):
    """A large mixed table: a 3-mode Gaussian mixture, a log-normal (1% missing), a
    geometric count, a 20-level categorical with skewed frequencies (1% missing), a
    boolean and a date. About 45 bytes a row; 1M rows take some seconds."""
    rng = random.Random(seed)
    levels = [f"c{k:02d}" for k in range(20)]
    cum = []
    acc = 0.0
    for k in range(20):
        acc += 1.0 / (k + 1)
        cum.append(acc)
    modes = [(-3.0, 0.5), (0.0, 1.0), (4.0, 0.3)]
    base = datetime.date(2000, 1, 1).toordinal()
    days = [datetime.date.fromordinal(base + d).strftime("%Y-%m-%d") for d in range(9000)]
    rand, gauss, choices = rng.random, rng.gauss, rng.choices
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(",".join(BIG_HEADER) + "\n")
        buf = []
        for i in range(rows):
            mu, sd = modes[int(rand() * 3)]
            x_mix = f"{gauss(mu, sd):.5f}"
            x_skew = "" if rand() < 0.01 else f"{math.exp(gauss(1.0, 0.8)):.4f}"
            count = str(int(math.log(1.0 - rand()) / math.log(0.7)))
            cat = "" if rand() < 0.01 else choices(levels, cum_weights=cum)[0]
            flag = "true" if rand() < 0.4 else "false"
            day = days[int(rand() * len(days))]
            buf.append(f"{x_mix},{x_skew},{count},{cat},{flag},{day}\n")
            if len(buf) == 10000:
                f.write("".join(buf))
                buf.clear()
        f.write("".join(buf))


# ---------------------------------------------------------------- all of them

EDGE_CASES = {
    "all_missing": write_all_missing,
    "one_level": write_one_level,
    "levels_1000": write_levels_1000,
    "single_row_per_category": write_single_row_per_category,
    "dates": write_dates,
    "unicode": write_unicode,
    "missing": write_missing,
}


def write_all(outdir, only=None, big=False, big_rows=1_000_000):
    """Writes the fixtures (all, or the names in `only`) and returns their paths."""
    os.makedirs(outdir, exist_ok=True)
    written = []

    def wanted(name):
        return only is None or name in only

    if wanted("fair"):
        written += write_fair(outdir)
    sk_names = [n for n in ("wine", "breast_cancer", "iris") if wanted(n)]
    if sk_names:
        written += write_sklearn(outdir, sk_names)
        check_against_sklearn(outdir, sk_names)  # when scikit-learn imports: as load_*()
    for name, writer in EDGE_CASES.items():
        if wanted(name):
            path = os.path.join(outdir, name + ".csv")
            writer(path)
            written.append(path)
    if big or (only is not None and "big" in only):
        path = os.path.join(outdir, "big.csv")
        big_table(path, big_rows)
        written.append(path)
    return written


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n", 1)[1])
    ap.add_argument("outdir", nargs="?", help="where to write the fixtures")
    ap.add_argument("--only", help="comma-separated fixture names (e.g. fair,wine,unicode)")
    ap.add_argument("--big", action="store_true", help="also write big.csv (1M rows)")
    ap.add_argument("--big-rows", type=int, default=1_000_000)
    ap.add_argument("--split", nargs=3, metavar=("IN", "TRAIN", "TEST"),
                    help="split IN into TRAIN and TEST instead of writing fixtures")
    ap.add_argument("--fraction", type=float, default=0.2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--delimiter", help="the CSV's delimiter for --split (default: sniffed)")
    args = ap.parse_args(argv)
    if args.split:
        n_train, n_test = split(*args.split, fraction=args.fraction, seed=args.seed,
                                delimiter=args.delimiter)
        print(f"split {args.split[0]}: train {n_train} rows, test {n_test} rows")
        return 0
    if not args.outdir:
        ap.error("OUTDIR is required (or --split)")
    only = set(args.only.split(",")) if args.only else None
    for path in write_all(args.outdir, only=only, big=args.big, big_rows=args.big_rows):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
