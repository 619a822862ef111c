#!/usr/bin/env python3
"""The clang thread-safety build: every translation unit under server/ parsed
by clang++ with -Wthread-safety as errors (-fsyntax-only: nothing is
compiled or linked), with the include paths and defines of the main build's
compile_commands.json (GCC's other flags and the precompiled header are left
out). Any diagnostic of the analysis fails it, and so does anything clang
cannot parse.

Before that, a self-test: a copy of one server file with its lock lines
taken out must fail with "requires holding mutex", and so must a copy of
another with one REQUIRES annotation taken out, so the check can never pass
because the analysis is off (a flag dropped, a header that no longer
annotates).

    tests/tsa/check.py BUILD_DIR [--jobs N] [--only server/path.cc ...]

BUILD_DIR is a configured and built main build (the generated protobuf
headers must exist). Prints one line per failing file with clang's output,
the count, the wall time and clang's CPU time.
"""
import argparse
import concurrent.futures
import json
import os
import re
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

# clang's thread-safety groups: -Wthread-safety is the analysis, attributes,
# precise and reference; -beta adds the checks of lock order
# (ACQUIRED_BEFORE/AFTER) among others. Every other warning is off: this
# build checks locking only (GCC's build has its own -Wall -Wextra).
CHECK_FLAGS = [
    "-fsyntax-only", "-Wno-everything", "-Wthread-safety", "-Wthread-safety-beta",
    "-Werror=thread-safety", "-Werror=thread-safety-beta", "-ferror-limit=50",
]

# The self-test's broken copies: (file, what is taken out, how many at least).
SELF_TESTS = [
    ("server/jobs/write_behind.cc", re.compile(r"^[ \t]*MutexLock lock\(&mu_\);", re.M), 2),
    ("server/api/sessions.h", re.compile(r"\s*REQUIRES\(mu_\)(?=;)"), 1),
]
EXPECTED = "requires holding mutex"


def clang_args(entry, root):
    """The flags of one compile_commands entry that clang needs: include
    paths, defines, the language standard."""
    words = entry["arguments"] if "arguments" in entry else shlex.split(entry["command"])
    out = []
    it = iter(words[1:])
    for w in it:
        if w in ("-I", "-isystem", "-iquote", "-D", "-U"):
            out += [w, next(it)]
        elif w.startswith(("-I", "-isystem", "-iquote", "-D", "-U", "-std=")) or w == "-pthread":
            out.append(w)
        elif w in ("-o", "-include", "-x", "-MF", "-MT", "-MQ"):
            next(it)  # and its argument: outputs, the precompiled header
        # everything else (-c, -O3, GCC's -W flags, -Winvalid-pch, the file) is left out
    return out


def run_clang(clang, args, source, cwd):
    cmd = [clang] + CHECK_FLAGS + args + [source]
    p = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return p.returncode, p.stdout


def broken_copy(clang, units, root, rel, pattern, at_least):
    """Checks a copy of `rel` without what `pattern` matches, in a scratch
    tree that shadows the source root (-I scratch comes first, so
    "server/..." finds the copy). Returns (ok, message)."""
    with open(os.path.join(root, rel)) as f:
        broken, n = pattern.subn("", f.read())
    if n < at_least:
        return False, (f"self-test: {rel} no longer has what the self-test takes out "
                       f"({pattern.pattern!r} found {n} times, need {at_least}): "
                       f"update SELF_TESTS")
    unit = rel if rel.endswith(".cc") else rel[:-2] + ".cc"
    entry = units.get(os.path.join(root, unit))
    if entry is None:
        return False, f"self-test: {unit} is not in compile_commands.json"
    with tempfile.TemporaryDirectory() as scratch:
        copy = os.path.join(scratch, rel)
        os.makedirs(os.path.dirname(copy))
        with open(copy, "w") as f:
            f.write(broken)
        source = copy if rel.endswith(".cc") else os.path.join(root, unit)
        rc, out = run_clang(clang, ["-I", scratch] + clang_args(entry, root), source,
                            entry.get("directory", root))
    what = f"{rel} with {n} x {pattern.pattern!r} taken out"
    if rc == 0 or EXPECTED not in out:
        return False, (f"self-test FAILED: {what} was accepted (rc {rc}): the analysis is not "
                       f"running\n{out}")
    first = next(l for l in out.splitlines() if EXPECTED in l)
    return True, f"self-test: {what} is refused: {first.split(': error: ')[-1]}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("build")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--only", nargs="*", help="check only these files (relative to the root)")
    ap.add_argument("--clang", default=os.environ.get("GANTRY_CLANGXX", "clang++"))
    opts = ap.parse_args()
    start = time.monotonic()
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    clang = shutil.which(opts.clang)
    if clang is None:
        print(f"thread_safety: {opts.clang} is missing (deploy/install-deps.sh installs clang)")
        return 1
    db = os.path.join(opts.build, "compile_commands.json")
    with open(db) as f:
        entries = json.load(f)
    server = os.path.join(root, "server") + os.sep
    units = {}
    for e in entries:
        path = os.path.normpath(os.path.join(e.get("directory", ""), e["file"]))
        if path.startswith(server) and path.endswith(".cc"):
            units[path] = e
    all_units = dict(units)
    if opts.only:
        units = {p: e for p, e in units.items() if os.path.relpath(p, root) in opts.only}
    if not units:
        print(f"thread_safety: no server/ translation units in {db}")
        return 1
    version = subprocess.run([clang, "--version"], stdout=subprocess.PIPE, text=True).stdout
    print(f"thread_safety: {version.splitlines()[0]}; {len(units)} translation units, "
          f"{opts.jobs} at a time")

    # The self-tests first, then the files, the largest first (the slowest
    # to parse), so that the pool's last tasks are short ones.
    failed = []
    self_test_ok = True
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, opts.jobs)) as pool:
        tests = [pool.submit(broken_copy, clang, all_units, root, *t) for t in SELF_TESTS]
        futures = {
            pool.submit(run_clang, clang, clang_args(e, root), p, e.get("directory", root)): p
            for p, e in sorted(units.items(), key=lambda pe: -os.path.getsize(pe[0]))
        }
        for fut in concurrent.futures.as_completed(futures):
            rc, out = fut.result()
            rel = os.path.relpath(futures[fut], root)
            if rc != 0 or out.strip():
                failed.append(rel)
                print(f"thread_safety: {rel}: FAILED (rc {rc})\n{out}")
        for fut in tests:
            ok, message = fut.result()
            print(f"thread_safety: {message}")
            self_test_ok = self_test_ok and ok
    wall = time.monotonic() - start
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(f"thread_safety: {len(units) - len(failed)} of {len(units)} translation units clean "
          f"({wall:.1f} s wall, {used.ru_utime + used.ru_stime:.1f} s of clang's CPU time)")
    return 0 if self_test_ok and not failed else 1


if __name__ == "__main__":
    sys.exit(main())
