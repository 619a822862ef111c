#!/usr/bin/env python3
"""What do the cheap calls cost? (issue 23, point 6). Times sequential
GetJob and Sample(1000 points) calls over gRPC on loopback, from one client
on one connection per server, against an ended seed job (20 epochs, SQLite
store in a fresh data directory), and prints each call's p50/p99 and
Sample's p50 over GetJob's.

With --baseline-gantryd, a second gantryd (an older build) runs beside the
first on this machine, with the same flags and the same job, and the two are
timed in the same invocation: rounds of --round-calls GetJob calls then as
many Sample calls, alternating between the servers (which one goes first
alternates too), so that whatever else loads the machine hits both alike.

    /usr/bin/python3 tests/bench/cheap_calls_bench.py --gantryd build/bin/gantryd \\
        [--baseline-gantryd /path/to/old/gantryd] [--rounds 40] [--round-calls 50]

Each Sample asks for 1000 points with its own seed (so nothing can be
answered from an earlier reply). Measures and prints; never asserts.
"""
import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
from gantry_testlib import Gantryd, generate_stubs  # noqa: E402

SAMPLE_POINTS = 1000
FLAGS = ["--max-concurrent-jobs", "1", "--log-level", "warn"]


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


class Target:
    """One gantryd with an ended job, and the latencies measured on it."""

    def __init__(self, label, binary, tmp):
        self.label, self.binary = label, binary
        self.server = Gantryd(binary, os.path.join(tmp, label, "data"), extra=FLAGS)
        os.makedirs(os.path.join(tmp, label), exist_ok=True)
        self.getjob, self.sample = [], []
        self.seed = 0

    def start(self, pb, pb_grpc):
        import grpc
        self.server.start()
        self.channel = grpc.insecure_channel(self.server.address,
                                             options=[("grpc.use_local_subchannel_pool", 1)])
        self.stub = pb_grpc.GantryStub(self.channel)
        job = self.stub.CreateJob(pb.CreateJobRequest(spec=pb.JobSpec(epochs=20),
                                                      name="cheap calls bench"), timeout=60)
        while job.state in (pb.JOB_STATE_QUEUED, pb.JOB_STATE_RUNNING):
            time.sleep(0.1)
            job = self.stub.GetJob(pb.GetJobRequest(job_id=job.id), timeout=60)
        if job.state != pb.JOB_STATE_SUCCEEDED:
            raise RuntimeError(f"{self.label}: job ended {pb.JobState.Name(job.state)}: {job.error}")
        self.job_id = job.id

    def round(self, pb, calls, record=True):
        get = pb.GetJobRequest(job_id=self.job_id)
        lat = []
        for _ in range(calls):
            t = time.perf_counter()
            self.stub.GetJob(get, timeout=60)
            lat.append((time.perf_counter() - t) * 1000)
        if record:
            self.getjob += lat
        lat = []
        for _ in range(calls):
            self.seed += 1
            req = pb.SampleRequest(job_id=self.job_id, count=SAMPLE_POINTS, seed=self.seed)
            t = time.perf_counter()
            res = self.stub.Sample(req, timeout=60)
            lat.append((time.perf_counter() - t) * 1000)
            if len(res.points.values) != 2 * SAMPLE_POINTS:
                raise RuntimeError(f"{self.label}: Sample gave {len(res.points.values)} values")
        if record:
            self.sample += lat

    def stop(self):
        self.channel.close()
        self.server.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gantryd", default="build/bin/gantryd")
    ap.add_argument("--baseline-gantryd", default="",
                    help="an older gantryd, timed in the same run, alternating with --gantryd")
    ap.add_argument("--rounds", type=int, default=40)
    ap.add_argument("--round-calls", type=int, default=50,
                    help="GetJob calls, then as many Sample calls, per server per round")
    args = ap.parse_args()
    stubs = tempfile.TemporaryDirectory()
    generate_stubs(stubs.name)
    from gantry.v1 import gantry_pb2 as pb
    from gantry.v1 import gantry_pb2_grpc as pb_grpc
    with tempfile.TemporaryDirectory() as tmp:
        targets = [Target("current", args.gantryd, tmp)]
        if args.baseline_gantryd:
            targets.append(Target("baseline", args.baseline_gantryd, tmp))
        try:
            for t in targets:  # one after the other: each trains alone
                t.start(pb, pb_grpc)
            for t in targets:
                t.round(pb, 4 * args.round_calls, record=False)  # warm-up
            for r in range(args.rounds):
                for t in (targets if r % 2 == 0 else targets[::-1]):
                    t.round(pb, args.round_calls)
        finally:
            for t in targets:
                if t.server.proc is not None:
                    t.stop()
    print(f"GetJob and Sample({SAMPLE_POINTS} points) of an ended seed job (20 epochs, SQLite) on "
          f"gantryd {' '.join(FLAGS)}; {os.cpu_count()} CPUs; one client, one connection per "
          f"server, sequential calls; {args.rounds} rounds of {args.round_calls} + "
          f"{args.round_calls} calls per server" + (", servers alternating" if len(targets) > 1
                                                     else ""))
    print(f"{'gantryd':<10} {'calls':>6} {'GetJob p50':>11} {'p99':>7} {'Sample p50':>11} "
          f"{'p99':>7} {'Sample/GetJob p50':>18}  binary")
    for t in targets:
        g50, g99, s50, s99 = pct(t.getjob, 50), pct(t.getjob, 99), pct(t.sample, 50), pct(t.sample, 99)
        print(f"{t.label:<10} {len(t.getjob):>6} {g50:>8.3f} ms {g99:>7.3f} {s50:>8.3f} ms "
              f"{s99:>7.3f} {s50 / g50:>17.2f}x  {t.binary}")
    if len(targets) == 2:
        cur, base = targets
        print(f"current / baseline: GetJob p50 {pct(cur.getjob, 50) / pct(base.getjob, 50):.2f}x, "
              f"Sample p50 {pct(cur.sample, 50) / pct(base.sample, 50):.2f}x")


if __name__ == "__main__":
    main()
