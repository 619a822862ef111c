#!/usr/bin/env python3
"""Two figures of the PostgreSQL store, printed, never asserted:

1. Cross-replica latency: replica A trains the seed job; a watcher on
   replica B (and, for comparison, one on A itself) records when each epoch
   event arrives. Latency: from the owner stamping the event (its time
   field, set just before its commit) to the watcher receiving it; both
   replicas run on this machine, so one clock. p50 and p99 over the job's
   300 epoch events.
2. Per-epoch cost of the store: the seed job through gantryd on SQLite (in a
   data directory) and on PostgreSQL (a server this script starts on
   loopback): from RUNNING to the last epoch's event, minus the epochs' own
   training time (EpochReport.seconds), per epoch. Best of --runs runs each.

  /usr/bin/python3 tests/bench/replica_bench.py --gantryd build/bin/gantryd [--runs 2]
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
from gantry_testlib import Gantryd, ROOT, generate_stubs  # noqa: E402

PG_SERVER = os.path.join(ROOT, "tests", "common", "pg_server.sh")


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def event_s(e):
    return e.time.seconds + e.time.nanos / 1e9


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gantryd", required=True)
    ap.add_argument("--runs", type=int, default=2)
    args = ap.parse_args()
    stubs = tempfile.TemporaryDirectory()
    generate_stubs(stubs.name)
    from gantry.v1 import gantry_pb2 as pb
    tmp = tempfile.mkdtemp(prefix="gantry-replica-bench-")
    pg_dir = tempfile.mkdtemp(prefix="gantry-pg-")  # its own: the postgres user must reach it
    dsn = subprocess.run([PG_SERVER, "start", pg_dir], check=True, capture_output=True,
                         text=True).stdout.strip()
    servers = []
    try:
        def server(name, *extra):
            s = Gantryd(args.gantryd, os.path.join(tmp, name, "data"),
                        log_path=os.path.join(tmp, name + ".log"), extra=extra)
            os.makedirs(os.path.join(tmp, name), exist_ok=True)
            s.start()
            servers.append(s)
            return s

        # 1. Latency. A alone claims the job; B starts once it runs.
        a = server("a", "--store", dsn, "--max-concurrent-jobs", "1")
        _, stub_a = a.connect()
        job = stub_a.CreateJob(pb.CreateJobRequest(spec=pb.JobSpec(), name="latency"))
        while stub_a.GetJob(pb.GetJobRequest(job_id=job.id)).state != pb.JOB_STATE_RUNNING:
            time.sleep(0.005)
        b = server("b", "--store", dsn, "--max-concurrent-jobs", "1")
        _, stub_b = b.connect()
        arrivals = {"b": [], "a": []}

        def follow(name, stub):
            start = time.time()
            for e in stub.WatchJob(pb.WatchJobRequest(job_id=job.id), timeout=600):
                now = time.time()
                # Only events stored after the watch began came live.
                if e.HasField("epoch") and event_s(e) > start:
                    arrivals[name].append(now - event_s(e))
        threads = [threading.Thread(target=follow, args=("b", stub_b)),
                   threading.Thread(target=follow, args=("a", stub_a))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        live_b, live_a = arrivals["b"], arrivals["a"]
        print("seed job trained on replica A; epoch events watched live (ms from the owner "
              "stamping the event to the watcher receiving it):")
        for label, xs in (("watcher on replica B (PostgreSQL NOTIFY, then a read)", live_b),
                          ("watcher on replica A itself (in-process)", live_a)):
            print(f"  {label:58s} p50 {percentile(xs, 50) * 1000:7.2f}  "
                  f"p99 {percentile(xs, 99) * 1000:7.2f}  ({len(xs)} events)")
        for s in servers:
            s.stop()
        servers.clear()

        # 2. Per-epoch cost, SQLite against PostgreSQL.
        def per_epoch(extra, name):
            best = None
            for run in range(args.runs):
                s = server(f"{name}{run}", *extra)
                _, stub = s.connect()
                j = stub.CreateJob(pb.CreateJobRequest(spec=pb.JobSpec()))
                events = list(stub.WatchJob(pb.WatchJobRequest(job_id=j.id), timeout=600))
                running = next(event_s(e) for e in events
                               if e.HasField("state") and e.state.state == pb.JOB_STATE_RUNNING)
                epochs = [e for e in events if e.HasField("epoch")]
                wall = event_s(epochs[-1]) - running
                train = sum(e.epoch.seconds for e in epochs)
                cost = (wall - train) / len(epochs)
                s.stop()
                servers.clear()
                if best is None or cost < best[0]:
                    best = (cost, wall, train, len(epochs))
            return best
        sqlite = per_epoch([], "sqlite")
        pg = per_epoch(["--store", dsn], "pg")
        print("per-epoch cost of the store, the seed job through gantryd "
              f"(best of {args.runs}; RUNNING to the last epoch, minus the epochs' training):")
        for label, (cost, wall, train, n) in (("SQLite (--data-dir)", sqlite),
                                              ("PostgreSQL (--store, loopback)", pg)):
            print(f"  {label:32s} {cost * 1000:6.3f} ms per epoch  ({wall:.2f} s for {n} epochs, "
                  f"{train:.2f} s of it training; {100 * (wall - train) / train:.1f}%)")
        print(f"  PostgreSQL / SQLite per-epoch cost: {pg[0] / sqlite[0]:.2f}x" if sqlite[0] > 0
              else "  SQLite's per-epoch cost rounds to 0")
    finally:
        for s in servers:
            s.proc.kill()
        subprocess.run([PG_SERVER, "destroy", pg_dir], check=False)


if __name__ == "__main__":
    main()
