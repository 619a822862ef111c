#!/usr/bin/env python3
"""What --sync full costs against --sync normal, per stored event.

For each setting, a fresh gantryd on a fresh data directory trains the same
jobs one after another over gRPC: the seed job (300 epochs of 1024 points:
one event per ~10 ms of training) and a job of small epochs (300 epochs of
64 points, batch 64: events as fast as the trainer makes them, so the
commit dominates). The job's time runs from CreateJob to the end of its
event stream. Per event: the difference between the settings over the
job's 303 events. Each figure is the median of --runs runs. Printed, never
asserted.

  /usr/bin/python3 tests/bench/sync_bench.py --gantryd build/bin/gantryd [--runs 3]
"""
import argparse
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
from gantry_testlib import Gantryd, generate_stubs  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gantryd", required=True)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    stubs = tempfile.TemporaryDirectory()
    generate_stubs(stubs.name)
    from gantry.v1 import gantry_pb2 as pb
    jobs = [("seed job (300 epochs x 32 batches)", pb.JobSpec()),
            ("small epochs (300 epochs x 1 batch of 64)",
             pb.JobSpec(batch_size=64, dataset=pb.Dataset(size=64)))]
    seconds = {}
    for sync in ("normal", "full"):
        with tempfile.TemporaryDirectory(dir=os.environ.get("GANTRY_BENCH_DIR")) as tmp:
            server = Gantryd(args.gantryd, os.path.join(tmp, "data"),
                             extra=["--sync", sync, "--max-concurrent-jobs", "1",
                                    "--log-level", "warn"])
            server.start()
            ch, stub = server.connect()
            for name, spec in jobs:
                times, events = [], 0
                for _ in range(args.runs):
                    start = time.monotonic()
                    job = stub.CreateJob(pb.CreateJobRequest(spec=spec))
                    events = sum(1 for _ in stub.WatchJob(pb.WatchJobRequest(job_id=job.id)))
                    times.append(time.monotonic() - start)
                seconds[(sync, name)] = (statistics.median(times), events)
            ch.close()
            server.stop()
    print(f"data directory on: {os.environ.get('GANTRY_BENCH_DIR') or tempfile.gettempdir()}")
    print(f"{'job':<44} {'--sync normal':>14} {'--sync full':>12} {'full/normal':>12} {'per event':>11}")
    for name, _ in jobs:
        normal, events = seconds[("normal", name)]
        full, _ = seconds[("full", name)]
        per_event_ms = (full - normal) / events * 1000
        print(f"{name:<44} {normal:>12.2f} s {full:>10.2f} s {full / normal:>11.2f}x "
              f"{per_event_ms:>8.2f} ms")


if __name__ == "__main__":
    sys.exit(main())
