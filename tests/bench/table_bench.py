#!/usr/bin/python3
"""gantry's table model against the reference CTGAN, on this machine, in one run.

    /usr/bin/python3 tests/bench/table_bench.py [--epochs 300] [--seeds 3] [--gantry-seeds 3]
        [--tables fair,wine,breast_cancer] [--eval-rows 1000] [--eval-every 10] [--threads 1]
        [--gantry build/bin/table_bench] [--ctgan DIR]
        [--ctgan-only] [--per-column] [--json OUT.json] [--keep]

For each table (statsmodels' `fair`, scikit-learn's `wine` and `breast_cancer`;
tests/common/tables.py writes them) it splits the rows 80/20 (seeded) and fits both
models on the 80% with CTGAN's default hyper-parameters (300 epochs, batch 500,
embedding 128, (256, 256) generator and discriminator, Adam lr 2e-4 and weight decay
1e-6, pac 10). gantry trains on exactly those rows and evaluates every --eval-every
epochs on the held-out 20% (selecting by the overall quality); it samples from its
best epoch. CTGAN samples after its last epoch. Each program samples 100,000 rows
(timed).

Then one measure for both: gantry's evaluator (build/bin/table_bench --evaluate,
core/table_eval.h) reads the first --eval-rows sampled rows of every run and
measures them against the same held-out rows: SDMetrics' overall quality, column
shapes and column pair trends, missing-value similarity, coverage and adherence
(0..1, higher is better), the distance-to-closest-record share and exact copies
(privacy: about 0.5 and 0 without memorising), the 5th percentile of the generated
rows' distance to the training rows beside the held-out rows' own, and, with the
table's target column, train-on-synthetic-test-on-real (TSTR) beside the same model
trained on as many real training rows (TRTR). It prints per table each figure's mean
and min..max over the seeds of each program, with the two verdicts of issue 21
(gantry's best-epoch quality at least CTGAN's, its DCR share no higher), the speed
figures (preprocessing, epoch, fit, sampling, gantry's GEMM floor), gantry's
evaluation cost (evaluation time over training time at --eval-every), and a closing
table.

Both programs print the same last lines (the peer's run_ctgan.py and table_bench):
    epoch_seconds mean M first F last L preprocess_seconds P
    sample_seconds S sampled N
    fit_seconds X epochs E rows R
and gantry's build/bin/table_bench adds
    gemm_floor_seconds_per_epoch G
    best_epoch B evaluations K figures quality Q ...
    evaluation_seconds V training_seconds T share H ...
Exit status: 0 when every run succeeded, 1 when one failed, 2 when gantry's binary is
missing (without --ctgan-only) or nothing can run.
"""

import argparse
import bisect
import json
import math
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "common"))
import tables  # noqa: E402

DEFAULT_GANTRY = os.path.join(ROOT, "build", "bin", "table_bench")
# The CTGAN peer (sdv-dev/CTGAN 0.12.1 with its run_ctgan.py driver) lives
# outside the repository: --ctgan DIR, or $GANTRY_CTGAN.
DEFAULT_CTGAN = os.environ.get("GANTRY_CTGAN", "")
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable

# Per table: the discrete columns (all others continuous, as CTGAN's README uses
# them) and the utility's target column.
# - fair: every column is a binned survey answer; the six discrete ones are codes or
#   counts (children: 0 1 2 3 4 5.5, where 5.5 stands for "5 or more"); age (6
#   levels), yrs_married (7) and affairs (77 values, mostly 0) stay continuous. Its
#   target is `children`: of the discrete columns it is the one the others predict
#   (through yrs_married and age; a logistic regression on the real training rows
#   reaches accuracy 0.53 against the majority level's 0.36, where rate_marriage's
#   0.44 is barely its majority's 0.42), so TSTR/TRTR measures whether a generator
#   kept a relation that exists. The table is used as statsmodels ships it (no
#   derived column such as affairs > 0: CTGAN's README does not use fair, and a
#   column computed from another would change what the generators must learn).
# - wine: `class` (3 cultivars); breast_cancer: `diagnosis` (malignant / benign).
TABLES = {
    "fair": {"discrete": ["rate_marriage", "religious", "educ", "occupation",
                          "occupation_husb", "children"],
             "target": "children"},
    "wine": {"discrete": ["class"], "target": "class"},
    "breast_cancer": {"discrete": ["diagnosis"], "target": "diagnosis"},
}

# The evaluator's figures, in the order the tables print them: (key, label, higher
# is better, None = no direction).
FIGURES = [
    ("quality", "overall quality", True),
    ("column_shapes", "column shapes", True),
    ("column_pairs", "pair trends", True),
    ("missing_similarity", "missing similarity", True),
    ("column_coverage", "coverage", True),
    ("adherence", "adherence", True),
    ("dcr_share", "DCR share (~0.5 ideal)", False),
    ("exact_copies", "exact copies", False),
    ("dcr_p5", "dcr_p5", None),
    ("holdout_dcr_p5", "holdout_dcr_p5", None),
    ("utility", "TSTR", True),
    ("utility_real", "TRTR", True),
    ("utility_ratio", "TSTR/TRTR", True),
]

MISSING = {"", "NA", "NaN", "nan", "null", "NULL", "None"}
MISSING_LEVEL = "\x00missing"

LINE_PATTERNS = {
    "epoch": re.compile(r"^epoch_seconds mean (\S+) first (\S+) last (\S+) "
                        r"preprocess_seconds (\S+)\s*$", re.M),
    "sample": re.compile(r"^sample_seconds (\S+) sampled (\d+)\s*$", re.M),
    "fit": re.compile(r"^fit_seconds (\S+) epochs (\d+) rows (\d+)\s*$", re.M),
    "gemm": re.compile(r"^gemm_floor_seconds_per_epoch (\S+)\s*$", re.M),
    "ctgan": re.compile(r"^(ctgan \S+ torch \S+ device \S+ threads \S+).*$", re.M),
    "best": re.compile(r"^best_epoch (\d+) evaluations (\d+) figures (.*)$", re.M),
    "cost": re.compile(r"^evaluation_seconds (\S+) training_seconds (\S+) share (\S+)"
                       r" keep_best_seconds (\S+) eval_every (\d+)\s*$", re.M),
    "figures": re.compile(r"^figures (.*)$", re.M),
    "synthetic": re.compile(r"^synthetic_rows (\d+) unparsed (\d+)(.*)$", re.M),
}


# ---------------------------------------------------------------- parsing

def parse_output(stdout):
    """The figures of run_ctgan.py's / table_bench's last lines (the last match of
    each). Raises ValueError naming the line that is missing."""
    out = {}
    for key in ("epoch", "sample", "fit"):
        found = LINE_PATTERNS[key].findall(stdout)
        if not found:
            raise ValueError(f"no '{LINE_PATTERNS[key].pattern.split(' ')[0][1:]} ...' line")
        last = found[-1]
        if key == "epoch":
            out["epoch_mean"], out["epoch_first"], out["epoch_last"], out["preprocess"] = \
                (float(v) for v in last)
        elif key == "sample":
            out["sample"], out["sampled"] = float(last[0]), int(last[1])
        else:
            out["fit"], out["epochs"], out["rows"] = float(last[0]), int(last[1]), int(last[2])
    gemm = LINE_PATTERNS["gemm"].findall(stdout)
    out["gemm_floor"] = float(gemm[-1]) if gemm else None
    info = LINE_PATTERNS["ctgan"].findall(stdout)
    out["info"] = info[-1] if info else None
    best = LINE_PATTERNS["best"].findall(stdout)
    if best:
        out["best_epoch"], out["evaluations"] = int(best[-1][0]), int(best[-1][1])
        out["best_figures"] = parse_figures(best[-1][2])
    cost = LINE_PATTERNS["cost"].findall(stdout)
    if cost:
        v, t, share, keep, every = cost[-1]
        out["eval_cost"] = {"evaluation_seconds": float(v), "training_seconds": float(t),
                            "share": float(share), "keep_best_seconds": float(keep),
                            "eval_every": int(every)}
    return out


def parse_figures(text):
    """`quality 0.8 column_shapes 0.9 ... utility -` as {name: float or None}, with
    utility_ratio (utility / utility_real) added when both are there."""
    tokens = text.split()
    if len(tokens) % 2:
        raise ValueError(f"figures: odd number of tokens in '{text}'")
    out = {}
    for k, v in zip(tokens[0::2], tokens[1::2]):
        out[k] = None if v == "-" else float(v)
    if "quality" not in out:
        raise ValueError(f"figures: no quality in '{text}'")
    u, r = out.get("utility"), out.get("utility_real")
    out["utility_ratio"] = u / r if u is not None and r not in (None, 0) else None
    return out


# ---------------------------------------------------------------- the distance (the first bench's figure)

def _is_missing(v):
    return v.strip() in MISSING


def discrete_level(v):
    """A discrete cell's level, spelled the same whichever program wrote it: `3`,
    `3.0` and ` 3 ` are one level; missing cells are a level of their own."""
    v = v.strip()
    if v in MISSING:
        return MISSING_LEVEL
    try:
        f = float(v)
    except ValueError:
        return v
    if math.isfinite(f) and f == math.floor(f) and abs(f) < 2 ** 53:
        return str(int(f))
    return repr(f)


def tv_distance(a, b):
    """Total variation distance between two samples' level frequencies (0..1)."""
    ca, cb = {}, {}
    for v in a:
        ca[v] = ca.get(v, 0) + 1
    for v in b:
        cb[v] = cb.get(v, 0) + 1
    na, nb = len(a), len(b)
    if na == 0 or nb == 0:
        return 0.0 if na == nb else 1.0
    return 0.5 * sum(abs(ca.get(k, 0) / na - cb.get(k, 0) / nb) for k in set(ca) | set(cb))


def _ks_plain(a, b):
    a, b = sorted(a), sorted(b)
    na, nb = len(a), len(b)
    d = 0.0
    for x in a + b:
        d = max(d, abs(bisect.bisect_right(a, x) / na - bisect.bisect_right(b, x) / nb))
    return d


def ks_statistic(a, b):
    """scipy.stats.ks_2samp(a, b).statistic (the plain sup |F_a - F_b| without scipy)."""
    if not a or not b:
        return 0.0 if len(a) == len(b) else 1.0
    try:
        from scipy.stats import ks_2samp
    except ImportError:
        return _ks_plain(a, b)
    return float(ks_2samp(a, b).statistic)


def _numbers(values):
    out = []
    for v in values:
        if _is_missing(v):
            continue
        try:
            f = float(v)
        except ValueError:
            continue
        if math.isfinite(f):
            out.append(f)
    return out


def distance(synth_csv, real_csv, discrete, rows=10000):
    """Mean per-column distance between the first `rows` rows of synth_csv and all of
    real_csv (0 identical .. 1 disjoint). Continuous columns: the KS statistic over
    the cells that hold numbers (missing cells left out); discrete columns: total
    variation distance, missing as a level of its own. A column synth_csv lacks
    counts 1. Returns (mean, {column: distance})."""
    real_header, real_rows = tables.read_csv(real_csv)
    synth_header, synth_rows = tables.read_csv(synth_csv)
    synth_rows = synth_rows[:rows]
    index = {name: i for i, name in enumerate(synth_header)}
    per_column = {}
    for j, name in enumerate(real_header):
        real = [r[j] if j < len(r) else "" for r in real_rows]
        if name not in index:
            per_column[name] = 1.0
            continue
        k = index[name]
        synth = [r[k] if k < len(r) else "" for r in synth_rows]
        if name in discrete:
            per_column[name] = tv_distance([discrete_level(v) for v in synth],
                                           [discrete_level(v) for v in real])
        else:
            per_column[name] = ks_statistic(_numbers(synth), _numbers(real))
    return statistics.fmean(per_column.values()), per_column


# ---------------------------------------------------------------- runs

def run_one(label, argv, env, timeout):
    """Runs one fit; returns its parsed figures, or a dict with 'error'."""
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"{label}: timed out after {timeout} s"}
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        return {"error": f"{label}: exit status {proc.returncode}\n{tail}"}
    try:
        out = parse_output(proc.stdout)
    except ValueError as e:
        tail = "\n".join(proc.stdout.strip().splitlines()[-10:])
        return {"error": f"{label}: {e} in its output:\n{tail}"}
    out["wall"] = wall
    return out


def thread_env(threads):
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    return env


def fmt_s(x, width=8):
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-".rjust(width)
    if x >= 100:
        return f"{x:{width}.1f}"
    if x >= 1:
        return f"{x:{width}.2f}"
    return f"{x:{width}.4f}"


def spread(values):
    return f"{min(values):.4f}..{max(values):.4f}"


def distance_verdict(g, lo, hi):
    if g < lo:
        return "better than CTGAN's best seed"
    if g <= hi:
        return "within CTGAN's spread"
    return f"worse than CTGAN's worst seed (by {g - hi:.4f})"




# ---------------------------------------------------------------- one evaluator

def evaluate(gantry, train, test, synth, discrete, target, rows, env, timeout):
    """gantry's evaluator on the first `rows` rows of synth: {figures..., 'unparsed',
    'unparsed_detail', 'synthetic_rows'} or {'error'}."""
    argv = [gantry, "--evaluate", "--train", train, "--holdout", test, "--synthetic", synth,
            "--categorical", ",".join(discrete), "--eval-rows", str(rows)]
    if target:
        argv += ["--target", target]
    try:
        proc = subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"evaluating {synth}: timed out after {timeout} s"}
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-10:])
        return {"error": f"evaluating {synth}: exit status {proc.returncode}\n{tail}"}
    fig = LINE_PATTERNS["figures"].findall(proc.stdout)
    syn = LINE_PATTERNS["synthetic"].findall(proc.stdout)
    if not fig or not syn:
        tail = "\n".join(proc.stdout.strip().splitlines()[-10:])
        return {"error": f"evaluating {synth}: no 'figures' or 'synthetic_rows' line:\n{tail}"}
    try:
        out = parse_figures(fig[-1])
    except ValueError as e:
        return {"error": f"evaluating {synth}: {e}"}
    out["synthetic_rows"] = int(syn[-1][0])
    out["unparsed"] = int(syn[-1][1])
    out["unparsed_detail"] = syn[-1][2].strip()
    return out


def sample_rows(csv_in, csv_out, rows, seed=0):
    """`rows` random rows of csv_in (random.Random(seed), in file order) to csv_out:
    the training rows' reference in the evaluation (the files keep the source's
    order, which need not be random: fair's first rows are those with affairs)."""
    header, body = tables.read_csv(csv_in)
    keep = sorted(random.Random(seed).sample(range(len(body)), min(rows, len(body))))
    tables.write_rows(csv_out, header, [body[i] for i in keep])


def stats(values):
    """(mean, lo, hi) of the values that are not None, or None."""
    v = [x for x in values if x is not None and not (isinstance(x, float) and math.isnan(x))]
    if not v:
        return None
    return statistics.fmean(v), min(v), max(v)


def fmt_stat(st, width=26):
    if st is None:
        return "-".rjust(width)
    mean, lo, hi = st
    return f"{mean:.4f}  {lo:.4f}..{hi:.4f}".rjust(width)


def fmt_v(x, width=10):
    return "-".rjust(width) if x is None else f"{x:{width}.4f}"


def print_figure_table(name, n_test, target, columns, rows):
    """columns: [(label, [figure dicts])]; the reference column `training rows` is a
    single dict (or None)."""
    print(f"  gantry's evaluator: the first {rows} sampled rows of each run against the "
          f"{n_test} held-out rows" + (f"; target {target}" if target else "; no target"))
    head = f"  {'figure':<24}"
    for label, runs in columns:
        head += f"{label + ' (' + str(len(runs)) + ')':>28}"
    head += f"{'training rows':>16}"
    print(head)
    print(f"  {'':<24}" + "".join(f"{'mean  min..max':>28}" for _ in columns) + f"{'':>16}")
    return head


def figure_lines(columns, reference):
    lines = []
    for key, label, _ in FIGURES:
        line = f"  {label:<24}"
        for _, runs in columns:
            line += "  " + fmt_stat(stats([r.get(key) for r in runs]))
        ref = reference.get(key) if reference else None
        line += fmt_v(ref, 16)
        lines.append(line)
    return lines


# The evaluator measures at most this many generated rows' DCR (core/table_eval.h
# kMaxDcrRows).
MAX_DCR_ROWS = 2000


def dcr_noise(gev, gmean, cev, cmean):
    """The standard error of (gantry's mean DCR share - CTGAN's) from sampling alone:
    each run's share is a proportion of its n compared rows (binomial), each program's
    mean averages its runs. The seeds' own spread adds to it."""
    def var(evs, p):
        rows = [min(e.get("synthetic_rows") or 0, MAX_DCR_ROWS) for e in evs]
        rows = [n for n in rows if n > 0]
        if not rows:
            return 0.0
        return sum(p * (1 - p) / n for n in rows) / len(rows) ** 2
    return math.sqrt(var(gev, gmean) + var(cev, cmean))


def noise_text(diff, se):
    if not se:
        return f"difference {diff:+.4f}"
    judged = "within sampling noise" if abs(diff) < 2 * se else "beyond sampling noise"
    return f"difference {diff:+.4f}, sampling noise alone {se:.4f} s.e.: {judged}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n", 1)[1])
    ap.add_argument("--epochs", type=int, default=300)
    ap.add_argument("--seeds", type=int, default=3, help="CTGAN runs per table (seeds 0..N-1)")
    ap.add_argument("--gantry-seeds", type=int, default=None,
                    help="gantry runs per table (seeds 0..N-1; default: --seeds)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=500)
    ap.add_argument("--tables", default="fair,wine,breast_cancer")
    ap.add_argument("--samples", type=int, default=100_000, help="rows sampled (timed)")
    ap.add_argument("--eval-rows", type=int, default=1000,
                    help="sampled rows gantry's evaluator measures (the first ones), and "
                         "gantry's rows per evaluation during training")
    ap.add_argument("--eval-every", type=int, default=10,
                    help="gantry's epochs between evaluations (the best epoch is chosen "
                         "among them)")
    ap.add_argument("--quality-rows", type=int, default=10_000,
                    help="sampled rows the distance figure uses (the first ones)")
    ap.add_argument("--fraction", type=float, default=0.2, help="held-out fraction")
    ap.add_argument("--split-seed", type=int, default=0)
    ap.add_argument("--gantry", default=DEFAULT_GANTRY, help="gantry's table_bench binary")
    ap.add_argument("--ctgan", default=DEFAULT_CTGAN, help="the CTGAN peer's folder (default $GANTRY_CTGAN)")
    ap.add_argument("--ctgan-only", action="store_true",
                    help="run CTGAN alone (gantry's binary not needed; no evaluator figures)")
    ap.add_argument("--per-column", action="store_true", help="print each column's distance")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per run")
    ap.add_argument("--json", help="also write every figure here")
    ap.add_argument("--keep", action="store_true", help="keep the work folder (CSVs)")
    args = ap.parse_args(argv)
    if args.gantry_seeds is None:
        args.gantry_seeds = args.seeds

    names = [t.strip() for t in args.tables.split(",") if t.strip()]
    unknown = [t for t in names if t not in TABLES]
    if unknown:
        ap.error(f"unknown tables {unknown}; known: {sorted(TABLES)}")

    run_gantry = not args.ctgan_only
    have_binary = os.path.isfile(args.gantry) and os.access(args.gantry, os.X_OK)
    if run_gantry and not have_binary:
        print(f"table_bench: gantry's binary {args.gantry} does not exist (build the "
              "table_bench target, or pass --gantry PATH; --ctgan-only runs CTGAN alone)")
        return 2
    ctgan_script = os.path.join(args.ctgan or ".", "run_ctgan.py")
    run_ctgan = os.path.isfile(ctgan_script)
    if not run_ctgan:
        print(f"table_bench: the CTGAN peer is not at {args.ctgan}: running gantry only")
        if not run_gantry:
            return 2

    work = tempfile.mkdtemp(prefix="gantry-table-bench-")
    env = thread_env(args.threads)
    results = {"settings": {k: v for k, v in vars(args).items() if k not in ("json",)},
               "tables": {}}
    failed = False
    summary = []
    closing = []
    cost_lines = []

    print(f"table_bench: gantry vs CTGAN, same machine, one run; {os.cpu_count()} cores")
    print(f"  hyper-parameters (CTGAN's defaults, both): {args.epochs} epochs, batch "
          f"{args.batch_size}, embedding 128, generator and discriminator (256, 256), "
          f"Adam lr 2e-4 decay 1e-6, pac 10; {args.threads} thread(s)")
    print(f"  gantry: {args.gantry_seeds if run_gantry else 0} seed(s), evaluated every "
          f"{args.eval_every} epochs on {args.eval_rows} rows against the held-out rows, "
          f"sampled from its best epoch (overall quality); CTGAN: "
          f"{args.seeds if run_ctgan else 0} seed(s), sampled after its last epoch")
    print(f"  timed: fit, and sampling {args.samples} rows; distance: the first "
          f"{args.quality_rows} sampled rows vs the held-out {args.fraction:.0%} "
          f"(split seed {args.split_seed}), mean per-column KS / TV distance (lower is "
          "better); the evaluator's figures: the first "
          f"{args.eval_rows} sampled rows, gantry's evaluator (higher is better unless "
          "said)")
    try:
        tables.write_all(work, only=set(names))
        for name in names:
            discrete = TABLES[name]["discrete"]
            target = TABLES[name]["target"]
            full = os.path.join(work, name + ".csv")
            train = os.path.join(work, name + "_train.csv")
            test = os.path.join(work, name + "_test.csv")
            n_train, n_test = tables.split(full, train, test, args.fraction, args.split_seed)
            header, _ = tables.read_csv(full)
            floor_q, _ = distance(train, test, discrete, rows=args.quality_rows)
            print()
            print(f"{name}: {n_train} training rows, {n_test} held out; {len(header)} columns, "
                  f"{len(discrete)} discrete ({','.join(discrete)}); target {target}")
            print(f"  {'run':<16}{'preprocess s':>13}{'epoch s':>10}{'fit s':>10}"
                  f"{'sample ' + str(args.samples) + ' s':>18}{'distance':>10}{'best epoch':>12}")
            runs = {"ctgan": [], "gantry": []}
            per_col = {"ctgan": [], "gantry": []}
            for seed in range(max(args.seeds if run_ctgan else 0,
                                  args.gantry_seeds if run_gantry else 0)):
                jobs = []
                if run_ctgan and seed < args.seeds:
                    jobs.append(("ctgan", [PYTHON, ctgan_script, "--csv", train,
                                           "--discrete", ",".join(discrete)]))
                if run_gantry and seed < args.gantry_seeds:
                    jobs.append(("gantry", [args.gantry, "--csv", train, "--holdout", test,
                                            "--categorical", ",".join(discrete),
                                            "--target", target,
                                            "--eval-every", str(args.eval_every),
                                            "--eval-rows", str(args.eval_rows)]))
                for who, cmd in jobs:
                    synth = os.path.join(work, f"{name}_{who}_{seed}.csv")
                    cmd = cmd + ["--epochs", str(args.epochs),
                                 "--batch-size", str(args.batch_size), "--seed", str(seed),
                                 "--samples", str(args.samples), "--out", synth,
                                 "--threads", str(args.threads)]
                    label = f"{who} seed {seed}"
                    r = run_one(f"{name}: {label}", cmd, env, args.timeout)
                    if "error" in r:
                        failed = True
                        print(f"  {label:<16}FAILED: " + r["error"].replace("\n", "\n    "))
                        continue
                    r["seed"] = seed
                    notes = []
                    if r["sampled"] != args.samples:
                        notes.append(f"sampled {r['sampled']}")
                    if r["epochs"] != args.epochs:
                        notes.append(f"epochs {r['epochs']}")
                    if r["rows"] != n_train:
                        notes.append(f"rows {r['rows']}")
                    try:
                        r["distance"], cols = distance(synth, test, discrete, args.quality_rows)
                    except (OSError, IndexError, ValueError) as e:
                        failed = True
                        print(f"  {label:<16}FAILED: cannot read {synth}: {e}")
                        continue
                    r["columns"] = cols
                    if have_binary:
                        ev = evaluate(args.gantry, train, test, synth, discrete, target,
                                      args.eval_rows, env, args.timeout)
                        if "error" in ev:
                            failed = True
                            notes.append("evaluation failed: " + ev["error"].replace("\n", " / "))
                        else:
                            r["evaluation"] = ev
                            if ev["unparsed"]:
                                notes.append(f"{ev['unparsed']} cells unparsed: "
                                             f"{ev['unparsed_detail']}")
                    runs[who].append(r)
                    per_col[who].append(cols)
                    best = str(r["best_epoch"]) if "best_epoch" in r else "-"
                    print(f"  {label:<16}{fmt_s(r['preprocess'], 13)}{fmt_s(r['epoch_mean'], 10)}"
                          f"{fmt_s(r['fit'], 10)}{fmt_s(r['sample'], 18)}{r['distance']:10.4f}"
                          f"{best:>12}"
                          + (f"   (! {'; '.join(notes)})" if notes else ""))
            print(f"  {'training rows':<16}{'':>51}{floor_q:10.4f}"
                  "   (the training rows themselves: this figure's floor)")
            reference = None
            if have_binary:
                ref_csv = os.path.join(work, f"{name}_train_sample.csv")
                sample_rows(train, ref_csv, args.eval_rows)
                reference = evaluate(args.gantry, train, test, ref_csv, discrete, target,
                                     args.eval_rows, env, args.timeout)
                if "error" in reference:
                    failed = True
                    print("  training rows' evaluation FAILED: "
                          + reference["error"].replace("\n", "\n    "))
                    reference = None
            results["tables"][name] = {"train_rows": n_train, "test_rows": n_test,
                                       "discrete": discrete, "target": target,
                                       "training_rows_distance": floor_q,
                                       "training_rows_evaluation": reference,
                                       "ctgan": runs["ctgan"], "gantry": runs["gantry"]}
            c, g = runs["ctgan"], runs["gantry"]
            if c:
                cq = [r["distance"] for r in c]
                print(f"  {'ctgan mean':<16}{fmt_s(statistics.fmean(r['preprocess'] for r in c), 13)}"
                      f"{fmt_s(statistics.fmean(r['epoch_mean'] for r in c), 10)}"
                      f"{fmt_s(statistics.fmean(r['fit'] for r in c), 10)}"
                      f"{fmt_s(statistics.fmean(r['sample'] for r in c), 18)}"
                      f"{statistics.fmean(cq):10.4f}   spread {spread(cq)}")
                if c[0].get("info"):
                    print(f"  ({c[0]['info']})")
            if len(g) > 1:
                gq = [r["distance"] for r in g]
                print(f"  {'gantry mean':<16}{fmt_s(statistics.fmean(r['preprocess'] for r in g), 13)}"
                      f"{fmt_s(statistics.fmean(r['epoch_mean'] for r in g), 10)}"
                      f"{fmt_s(statistics.fmean(r['fit'] for r in g), 10)}"
                      f"{fmt_s(statistics.fmean(r['sample'] for r in g), 18)}"
                      f"{statistics.fmean(gq):10.4f}   spread {spread(gq)}")
            if args.per_column:
                cols = list(header)
                print("  per column (KS continuous / TV discrete):")
                for who in ("ctgan", "gantry"):
                    if per_col[who]:
                        vals = [statistics.fmean(pc[col] for pc in per_col[who]) for col in cols]
                        print(f"    {who:<7}" + "  ".join(f"{col}={v:.3f}"
                                                        for col, v in zip(cols, vals)))

            # The evaluator's table: one measure for both programs.
            gev = [r["evaluation"] for r in g if "evaluation" in r]
            cev = [r["evaluation"] for r in c if "evaluation" in r]
            verdicts = {}
            if gev or cev:
                print()
                columns = []
                if gev:
                    columns.append(("gantry best epoch", gev))
                if cev:
                    columns.append((f"CTGAN {args.epochs} ep", cev))
                print_figure_table(name, n_test, target, columns, args.eval_rows)
                for line in figure_lines(columns, reference):
                    print(line)
                if g and any("best_epoch" in r for r in g):
                    bests = ", ".join(str(r.get("best_epoch", "-")) for r in g)
                    inrun = [r["best_figures"]["quality"] for r in g if r.get("best_figures")]
                    print(f"  gantry's best epochs (of {args.epochs}, evaluated every "
                          f"{args.eval_every}): {bests}"
                          + (f"; its own figure there (the trainer's {args.eval_rows} rows): "
                             f"quality {statistics.fmean(inrun):.4f}" if inrun else ""))
                if gev and cev:
                    gqm = statistics.fmean(e["quality"] for e in gev)
                    cqm = statistics.fmean(e["quality"] for e in cev)
                    ok_q = gqm >= cqm
                    verdicts["quality"] = {"gantry": gqm, "ctgan": cqm, "ok": ok_q}
                    print(f"  verdict: gantry's best-epoch quality {gqm:.4f} "
                          f"{'>=' if ok_q else '<'} CTGAN's {cqm:.4f}: "
                          f"{'yes' if ok_q else 'NO'}")
                    gd = [e["dcr_share"] for e in gev if e.get("dcr_share") is not None]
                    cd = [e["dcr_share"] for e in cev if e.get("dcr_share") is not None]
                    if gd and cd:
                        gdm, cdm = statistics.fmean(gd), statistics.fmean(cd)
                        ok_d = gdm <= cdm
                        se = dcr_noise(gev, gdm, cev, cdm)
                        verdicts["dcr_share"] = {"gantry": gdm, "ctgan": cdm, "ok": ok_d,
                                                 "noise_se": se}
                        print(f"  verdict: gantry's DCR share {gdm:.4f} "
                              f"{'<=' if ok_d else '>'} CTGAN's {cdm:.4f}: "
                              f"{'yes' if ok_d else 'NO'} ({noise_text(gdm - cdm, se)})")
                for label, evs in columns:
                    st = {key: stats([e.get(key) for e in evs]) for key, _, _ in FIGURES}
                    closing.append((name, label, st, len(evs)))
            results["tables"][name]["verdicts"] = verdicts

            costs = [r["eval_cost"] for r in g if r.get("eval_cost")]
            if costs:
                v = sum(x["evaluation_seconds"] for x in costs)
                t = sum(x["training_seconds"] for x in costs)
                k = sum(r.get("evaluations", 0) for r in g)
                share = v / t if t > 0 else float("nan")
                keep = sum(x["keep_best_seconds"] for x in costs)
                print(f"  gantry's evaluation cost: {v:.2f} s in {k} evaluations vs {t:.2f} s of "
                      f"training ({len(costs)} run(s), every {args.eval_every} epochs, "
                      f"{args.eval_rows} rows): evaluation share of training time "
                      f"{100 * share:.2f}% (keeping the best snapshot: {keep:.3f} s more)")
                results["tables"][name]["evaluation_share"] = share
                cost_lines.append(f"{name}: evaluation share of training time {100 * share:.2f}%"
                                  f" ({v:.2f} s of evaluation, {t:.2f} s of training, {k} "
                                  f"evaluations, every {args.eval_every} epochs)"
                                  + (f"; issue 21 asks <= 5%: {'yes' if share <= 0.05 else 'NO'}"
                                     if name == "fair" and args.epochs >= 10 * args.eval_every
                                     else "; not judged: under 10 evaluation intervals, the "
                                     "first and last epochs' evaluations weigh too much"
                                     if name == "fair" else ""))

            line = f"{name}:"
            if g:
                gfit = statistics.fmean(r["fit"] for r in g)
                gepoch = statistics.fmean(r["epoch_mean"] for r in g)
                gsample = statistics.fmean(r["sample"] for r in g)
                gq = statistics.fmean(r["distance"] for r in g)
                floors = [r["gemm_floor"] for r in g if r["gemm_floor"] is not None]
                if floors:
                    floor = statistics.fmean(floors)
                    ratio = gepoch / floor if floor > 0 else float("inf")
                    print(f"  gantry GEMM floor: {floor:.4f} s per epoch (the same matrix "
                          f"products alone); gantry's epoch {gepoch:.4f} s = {ratio:.2f}x the floor")
                    gemm_text = f"; epoch {ratio:.2f}x its GEMM floor"
                else:
                    print("  gantry GEMM floor: not reported (no gemm_floor_seconds_per_epoch line)")
                    gemm_text = ""
                if c:
                    cfit = statistics.fmean(r["fit"] for r in c)
                    csample = statistics.fmean(r["sample"] for r in c)
                    lo, hi = min(cq), max(cq)
                    v = distance_verdict(gq, lo, hi)
                    print(f"  gantry fit / CTGAN fit (mean of {len(g)} / {len(c)} seeds): "
                          f"{gfit:.2f} / {cfit:.2f} s = {gfit / cfit:.3f} "
                          f"(CTGAN takes {cfit / gfit:.1f}x as long; gantry's fit includes its "
                          "evaluations)")
                    print(f"  CTGAN sample / gantry sample ({args.samples} rows): "
                          f"{csample:.3f} / {gsample:.3f} s = {csample / gsample:.1f}x")
                    print(f"  distance: gantry {gq:.4f} vs CTGAN {spread(cq)}: {v}")
                    line += (f" fit gantry {gfit:.1f} s vs CTGAN {cfit:.1f} s"
                             f" (gantry/CTGAN {gfit / cfit:.3f}); sample {args.samples} rows"
                             f" {gsample:.3f} s vs {csample:.3f} s (CTGAN/gantry"
                             f" {csample / gsample:.1f}x); distance {gq:.4f} vs {spread(cq)}"
                             f" ({v}){gemm_text}")
                else:
                    line += (f" gantry fit {gfit:.1f} s, sample {gsample:.3f} s, distance {gq:.4f}"
                             f"{gemm_text} (no CTGAN)")
            elif c:
                line += (f" CTGAN fit {statistics.fmean(r['fit'] for r in c):.1f} s"
                         f" ({statistics.fmean(r['epoch_mean'] for r in c):.3f} s per epoch,"
                         f" {statistics.fmean(r['preprocess'] for r in c):.2f} s preprocessing),"
                         f" sample {args.samples} rows"
                         f" {statistics.fmean(r['sample'] for r in c):.3f} s,"
                         f" distance {spread(cq)} (no gantry)")
            if not c and not g:
                line += " no run succeeded"
            summary.append(line)
    finally:
        if args.keep:
            print(f"\nwork folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    print()
    print(f"summary ({args.epochs} epochs, {args.threads} thread(s); speed, and the distance: "
          "lower is better):")
    for line in summary:
        print("  " + line)
    for line in cost_lines:
        print("  " + line)
    if closing:
        print()
        print(f"closing table (gantry's evaluator, the first {args.eval_rows} sampled rows vs "
              f"the held-out rows; gantry at its best epoch, CTGAN after {args.epochs} epochs; "
              "mean over seeds):")
        keys = ["quality", "column_shapes", "column_pairs", "missing_similarity", "dcr_share",
                "exact_copies", "dcr_p5", "holdout_dcr_p5", "utility", "utility_real",
                "utility_ratio"]
        heads = ["quality", "shapes", "pairs", "missing", "DCR share", "copies", "dcr_p5",
                 "hold p5", "TSTR", "TRTR", "TSTR/TRTR"]
        print(f"  {'table':<14}{'program':<20}{'seeds':>6}" + "".join(f"{h:>10}" for h in heads))
        for name, label, st, n in closing:
            cells = "".join(fmt_v(st[k][0] if st[k] else None, 10) for k in keys)
            print(f"  {name:<14}{label:<20}{n:>6}{cells}")
        verdict_lines = []
        for name in names:
            v = results["tables"].get(name, {}).get("verdicts", {})
            if v:
                parts = []
                if "quality" in v:
                    parts.append(f"quality {v['quality']['gantry']:.4f} vs "
                                 f"{v['quality']['ctgan']:.4f} "
                                 f"({'at least CTGAN' if v['quality']['ok'] else 'BELOW CTGAN'})")
                if "dcr_share" in v:
                    parts.append(f"DCR share {v['dcr_share']['gantry']:.4f} vs "
                                 f"{v['dcr_share']['ctgan']:.4f} "
                                 f"({'no higher' if v['dcr_share']['ok'] else 'HIGHER'}; "
                                 f"{noise_text(v['dcr_share']['gantry'] - v['dcr_share']['ctgan'], v['dcr_share']['noise_se'])})")
                verdict_lines.append(f"  {name}: " + "; ".join(parts))
        if verdict_lines:
            print("verdicts (issue 21: gantry's best-epoch quality at least CTGAN's, its DCR "
                  "share no higher):")
            for line in verdict_lines:
                print(line)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
