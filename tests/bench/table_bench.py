#!/usr/bin/python3
"""gantry's table model against the reference CTGAN, on this machine, in one run.

    /usr/bin/python3 tests/bench/table_bench.py [--epochs 300] [--seeds 3] [--threads 1]
        [--tables fair,wine] [--gantry build/bin/table_bench] [--ctgan ../shared/peers/ctgan]
        [--ctgan-only] [--per-column] [--json OUT.json] [--keep]

For each table (statsmodels' `fair`, scikit-learn's `wine`; tests/common/tables.py
writes them) it splits the rows 80/20 (seeded), fits both models on the 80% with
CTGAN's default hyper-parameters (300 epochs, batch 500, embedding 128, (256, 256)
generator and discriminator, Adam lr 2e-4 and weight decay 1e-6, pac 10), samples
100,000 rows from each, and prints for each run: preprocessing time, mean time per
epoch, total fit time, the time to sample 100,000 rows, and a quality figure: the mean
over columns of a distance between the first 10,000 sampled rows and the held-out
rows (two-sample KS statistic for continuous columns, total variation distance for
discrete ones; 0 is identical, 1 is disjoint; lower is better). CTGAN runs --seeds
times (its spread is the yardstick); then the ratios and gantry's GEMM floor.

Both programs print the same last lines (../shared/peers/ctgan/README.md):
    epoch_seconds mean M first F last L preprocess_seconds P
    sample_seconds S sampled N
    fit_seconds X epochs E rows R
and gantry's build/bin/table_bench adds
    gemm_floor_seconds_per_epoch G
(the same matrix products alone, per epoch). Exit status: 0 when every run
succeeded, 1 when one failed, 2 when gantry's binary is missing (without
--ctgan-only) or nothing can run.
"""

import argparse
import bisect
import json
import math
import os
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
DEFAULT_CTGAN = os.path.normpath(os.path.join(ROOT, "..", "shared", "peers", "ctgan"))
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable

# The discrete columns (all others continuous), as CTGAN's README uses them. In
# fair every column is a binned survey answer; the six below are codes or counts
# (children: 0 1 2 3 4 5.5, where 5.5 stands for "5 or more"); age (6 levels),
# yrs_married (7) and affairs (77 values, mostly 0) stay continuous.
TABLES = {
    "fair": ["rate_marriage", "religious", "educ", "occupation", "occupation_husb", "children"],
    "wine": ["class"],
}

MISSING = {"", "NA", "NaN", "nan", "null", "NULL", "None"}
MISSING_LEVEL = "\x00missing"

LINE_PATTERNS = {
    "epoch": re.compile(r"^epoch_seconds mean (\S+) first (\S+) last (\S+) "
                        r"preprocess_seconds (\S+)\s*$", re.M),
    "sample": re.compile(r"^sample_seconds (\S+) sampled (\d+)\s*$", re.M),
    "fit": re.compile(r"^fit_seconds (\S+) epochs (\d+) rows (\d+)\s*$", re.M),
    "gemm": re.compile(r"^gemm_floor_seconds_per_epoch (\S+)\s*$", re.M),
    "ctgan": re.compile(r"^(ctgan \S+ torch \S+ device \S+ threads \S+).*$", re.M),
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
    return out


# ---------------------------------------------------------------- quality

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


def quality(synth_csv, real_csv, discrete, rows=10000):
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


def verdict(g, lo, hi):
    if g < lo:
        return "better than CTGAN's best seed"
    if g <= hi:
        return "within CTGAN's spread"
    return f"worse than CTGAN's worst seed (by {g - hi:.4f})"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n", 1)[1])
    ap.add_argument("--epochs", type=int, default=300)
    ap.add_argument("--seeds", type=int, default=3, help="CTGAN runs per table (seeds 0..N-1)")
    ap.add_argument("--gantry-seeds", type=int, default=1,
                    help="gantry runs per table (seeds 0..N-1)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=500)
    ap.add_argument("--tables", default="fair,wine")
    ap.add_argument("--samples", type=int, default=100_000, help="rows sampled (timed)")
    ap.add_argument("--quality-rows", type=int, default=10_000,
                    help="sampled rows the quality figure uses (the first ones)")
    ap.add_argument("--fraction", type=float, default=0.2, help="held-out fraction")
    ap.add_argument("--split-seed", type=int, default=0)
    ap.add_argument("--gantry", default=DEFAULT_GANTRY, help="gantry's table_bench binary")
    ap.add_argument("--ctgan", default=DEFAULT_CTGAN, help="the CTGAN peer's folder")
    ap.add_argument("--ctgan-only", action="store_true",
                    help="run CTGAN alone (gantry's binary not needed)")
    ap.add_argument("--per-column", action="store_true", help="print each column's distance")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per run")
    ap.add_argument("--json", help="also write every figure here")
    ap.add_argument("--keep", action="store_true", help="keep the work folder (CSVs)")
    args = ap.parse_args(argv)

    names = [t.strip() for t in args.tables.split(",") if t.strip()]
    unknown = [t for t in names if t not in TABLES]
    if unknown:
        ap.error(f"unknown tables {unknown}; known: {sorted(TABLES)}")

    run_gantry = not args.ctgan_only
    if run_gantry and not (os.path.isfile(args.gantry) and os.access(args.gantry, os.X_OK)):
        print(f"table_bench: gantry's binary {args.gantry} does not exist (build the "
              "table_bench target, or pass --gantry PATH; --ctgan-only runs CTGAN alone)")
        return 2
    ctgan_script = os.path.join(args.ctgan, "run_ctgan.py")
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

    print(f"table_bench: gantry vs CTGAN, same machine, one run; {os.cpu_count()} cores")
    print(f"  hyper-parameters (CTGAN's defaults, both): {args.epochs} epochs, batch "
          f"{args.batch_size}, embedding 128, generator and discriminator (256, 256), "
          f"Adam lr 2e-4 decay 1e-6, pac 10; {args.threads} thread(s)")
    print(f"  timed: fit, and sampling {args.samples} rows; quality: the first "
          f"{args.quality_rows} sampled rows vs the held-out {args.fraction:.0%} "
          f"(split seed {args.split_seed}), mean per-column distance (KS for continuous, "
          "TV for discrete columns; lower is better)")
    try:
        tables.write_all(work, only=set(names))
        for name in names:
            discrete = TABLES[name]
            full = os.path.join(work, name + ".csv")
            train = os.path.join(work, name + "_train.csv")
            test = os.path.join(work, name + "_test.csv")
            n_train, n_test = tables.split(full, train, test, args.fraction, args.split_seed)
            header, _ = tables.read_csv(full)
            floor_q, _ = quality(train, test, discrete, rows=args.quality_rows)
            print()
            print(f"{name}: {n_train} training rows, {n_test} held out; {len(header)} columns, "
                  f"{len(discrete)} discrete ({','.join(discrete)})")
            print(f"  {'run':<16}{'preprocess s':>13}{'epoch s':>10}{'fit s':>10}"
                  f"{'sample ' + str(args.samples) + ' s':>18}{'quality':>10}")
            runs = {"ctgan": [], "gantry": []}
            per_col = {"ctgan": [], "gantry": []}
            for seed in range(max(args.seeds if run_ctgan else 0,
                                  args.gantry_seeds if run_gantry else 0)):
                jobs = []
                if run_ctgan and seed < args.seeds:
                    jobs.append(("ctgan", [PYTHON, ctgan_script, "--csv", train,
                                           "--discrete", ",".join(discrete)]))
                if run_gantry and seed < args.gantry_seeds:
                    jobs.append(("gantry", [args.gantry, "--csv", train,
                                            "--categorical", ",".join(discrete)]))
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
                    notes = []
                    if r["sampled"] != args.samples:
                        notes.append(f"sampled {r['sampled']}")
                    if r["epochs"] != args.epochs:
                        notes.append(f"epochs {r['epochs']}")
                    if r["rows"] != n_train:
                        notes.append(f"rows {r['rows']}")
                    try:
                        r["quality"], cols = quality(synth, test, discrete, args.quality_rows)
                    except (OSError, IndexError, ValueError) as e:
                        failed = True
                        print(f"  {label:<16}FAILED: cannot read {synth}: {e}")
                        continue
                    r["columns"] = cols
                    runs[who].append(r)
                    per_col[who].append(cols)
                    print(f"  {label:<16}{fmt_s(r['preprocess'], 13)}{fmt_s(r['epoch_mean'], 10)}"
                          f"{fmt_s(r['fit'], 10)}{fmt_s(r['sample'], 18)}{r['quality']:10.4f}"
                          + (f"   (! {', '.join(notes)})" if notes else ""))
            print(f"  {'training rows':<16}{'':>51}{floor_q:10.4f}"
                  "   (the training rows themselves: this figure's floor)")
            results["tables"][name] = {"train_rows": n_train, "test_rows": n_test,
                                       "discrete": discrete, "training_rows_quality": floor_q,
                                       "ctgan": runs["ctgan"], "gantry": runs["gantry"]}
            c, g = runs["ctgan"], runs["gantry"]
            if c:
                cq = [r["quality"] for r in c]
                print(f"  {'ctgan mean':<16}{fmt_s(statistics.fmean(r['preprocess'] for r in c), 13)}"
                      f"{fmt_s(statistics.fmean(r['epoch_mean'] for r in c), 10)}"
                      f"{fmt_s(statistics.fmean(r['fit'] for r in c), 10)}"
                      f"{fmt_s(statistics.fmean(r['sample'] for r in c), 18)}"
                      f"{statistics.fmean(cq):10.4f}   spread {spread(cq)}")
                if c[0].get("info"):
                    print(f"  ({c[0]['info']})")
            if len(g) > 1:
                gq = [r["quality"] for r in g]
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
            line = f"{name}:"
            if g:
                gfit = statistics.fmean(r["fit"] for r in g)
                gepoch = statistics.fmean(r["epoch_mean"] for r in g)
                gsample = statistics.fmean(r["sample"] for r in g)
                gq = statistics.fmean(r["quality"] for r in g)
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
                    v = verdict(gq, lo, hi)
                    print(f"  gantry fit / CTGAN fit (mean of {len(c)} seeds): "
                          f"{gfit:.2f} / {cfit:.2f} s = {gfit / cfit:.3f} "
                          f"(CTGAN takes {cfit / gfit:.1f}x as long)")
                    print(f"  CTGAN sample / gantry sample ({args.samples} rows): "
                          f"{csample:.3f} / {gsample:.3f} s = {csample / gsample:.1f}x")
                    print(f"  quality: gantry {gq:.4f} vs CTGAN {spread(cq)}: {v}")
                    line += (f" fit gantry {gfit:.1f} s vs CTGAN {cfit:.1f} s"
                             f" (gantry/CTGAN {gfit / cfit:.3f}); sample {args.samples} rows"
                             f" {gsample:.3f} s vs {csample:.3f} s (CTGAN/gantry"
                             f" {csample / gsample:.1f}x); quality {gq:.4f} vs {spread(cq)}"
                             f" ({v}){gemm_text}")
                else:
                    line += (f" gantry fit {gfit:.1f} s, sample {gsample:.3f} s, quality {gq:.4f}"
                             f"{gemm_text} (no CTGAN)")
            elif c:
                line += (f" CTGAN fit {statistics.fmean(r['fit'] for r in c):.1f} s"
                         f" ({statistics.fmean(r['epoch_mean'] for r in c):.3f} s per epoch,"
                         f" {statistics.fmean(r['preprocess'] for r in c):.2f} s preprocessing),"
                         f" sample {args.samples} rows"
                         f" {statistics.fmean(r['sample'] for r in c):.3f} s,"
                         f" quality {spread(cq)} (no gantry)")
            if not c and not g:
                line += " no run succeeded"
            summary.append(line)
    finally:
        if args.keep:
            print(f"\nwork folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    print()
    print(f"summary ({args.epochs} epochs, {args.threads} thread(s); quality: lower is better):")
    for line in summary:
        print("  " + line)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
