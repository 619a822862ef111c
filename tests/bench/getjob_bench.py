#!/usr/bin/env python3
"""Does heavy work on gantryd's gRPC threads delay a cheap call? (issue 9,
point 5). A fresh gantryd trains one small job to its end; then one client
thread, on a connection of its own, times sequential GetJob calls: first
alone, then during each of three bursts from other client processes (each
with its own connection), calling without pause until the timing is done:

- unary Sample, 500,000 points of dim 2 (1,000,000 values, the unary limit);
- SampleStream, 10,000,000 points (the default --max-sample-points), read
  to the end;
- ExportGenerator (the TorchScript file), read to the end.

Prints GetJob's p50/p99 alone and in each burst, their ratio to alone, and
the burst's calls per second. Measures, never asserts. The load runs in
processes, not threads, so that the timing thread never waits for the GIL of
a client busy decoding a 4 MB response; on a 2-core machine the clients and
gantryd still share the cores.

    /usr/bin/python3 tests/bench/getjob_bench.py --gantryd build/bin/gantryd \\
        [--clients 8] [--seconds 10] [--alone-calls 2000]

gantryd runs with --max-concurrent-jobs 1 --log-level warn (and the default
--max-sample-points 10000000, which the SampleStream burst needs).
"""
import argparse
import multiprocessing
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
from gantry_testlib import Gantryd, generate_stubs  # noqa: E402

SAMPLE_POINTS = 500_000        # x dim 2 = 1,000,000 values: the unary limit
STREAM_POINTS = 10_000_000
BIG = 256 << 20


def channel(address):
    import grpc
    # Each its own connection (no shared subchannel), big messages allowed.
    return grpc.insecure_channel(address, options=[("grpc.use_local_subchannel_pool", 1),
                                                   ("grpc.max_receive_message_length", BIG)])


def load_worker(stubs_dir, address, job_id, kind, stop, ready, counts, index):
    """One burst client: calls `kind` back to back until `stop` is set."""
    sys.path.insert(0, stubs_dir)
    from gantry.v1 import gantry_pb2 as pb
    from gantry.v1 import gantry_pb2_grpc
    stub = gantry_pb2_grpc.GantryStub(channel(address))
    stub.GetJob(pb.GetJobRequest(job_id=job_id), timeout=60)  # connected
    ready.release()
    done = 0
    seed = index * 1_000_003
    while not stop.is_set():
        seed += 1
        if kind == "sample":
            res = stub.Sample(pb.SampleRequest(job_id=job_id, count=SAMPLE_POINTS, seed=seed),
                              timeout=600)
            assert len(res.points.values) == 2 * SAMPLE_POINTS
        elif kind == "stream":
            values = 0
            for chunk in stub.SampleStream(pb.SampleRequest(job_id=job_id, count=STREAM_POINTS,
                                                            seed=seed), timeout=600):
                values += len(chunk.points.values)
            assert values == 2 * STREAM_POINTS
        elif kind == "export":
            size = sum(len(c.data) for c in stub.ExportGenerator(
                pb.ExportGeneratorRequest(job_id=job_id), timeout=600))
            assert size > 0
        done += 1
    counts[index] = done


def time_getjob(stub, pb, job_id, calls=None, seconds=None):
    """Latencies (ms) of sequential GetJob calls: `calls` of them, or as many
    as fit in `seconds`."""
    lat = []
    end = time.perf_counter() + seconds if seconds else None
    while (calls is None or len(lat) < calls) and (end is None or time.perf_counter() < end):
        t = time.perf_counter()
        stub.GetJob(pb.GetJobRequest(job_id=job_id), timeout=60)
        lat.append((time.perf_counter() - t) * 1000)
    return lat


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def burst(args, stubs_dir, address, job_id, kind, stub, pb):
    ctx = multiprocessing.get_context("spawn")
    stop, ready = ctx.Event(), ctx.Semaphore(0)
    counts = ctx.Array("q", args.clients)
    procs = [ctx.Process(target=load_worker,
                         args=(stubs_dir, address, job_id, kind, stop, ready, counts, i))
             for i in range(args.clients)]
    for p in procs:
        p.start()
    for _ in procs:
        if not ready.acquire(timeout=120):
            raise RuntimeError("a load client did not connect")
    time.sleep(1.0)  # every client's first call in flight
    t0 = time.perf_counter()
    lat = time_getjob(stub, pb, job_id, seconds=args.seconds)
    stop.set()
    for p in procs:
        p.join(timeout=900)
        if p.exitcode != 0:
            raise RuntimeError(f"a {kind} client exited {p.exitcode}")
    # Calls finished by the clients, over the time until the last returned.
    elapsed = time.perf_counter() - t0
    return lat, sum(counts) / elapsed, sum(counts)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gantryd", default="build/bin/gantryd")
    ap.add_argument("--clients", type=int, default=8, help="load client processes per burst")
    ap.add_argument("--seconds", type=float, default=10.0, help="GetJob timing per burst")
    ap.add_argument("--alone-calls", type=int, default=2000)
    ap.add_argument("--bursts", default="sample,stream,export")
    args = ap.parse_args()
    stubs = tempfile.TemporaryDirectory()
    generate_stubs(stubs.name)
    from gantry.v1 import gantry_pb2 as pb
    from gantry.v1 import gantry_pb2_grpc
    flags = ["--max-concurrent-jobs", "1", "--log-level", "warn"]
    with tempfile.TemporaryDirectory() as tmp:
        server = Gantryd(args.gantryd, os.path.join(tmp, "data"), extra=flags)
        server.start()
        try:
            ch = channel(server.address)
            stub = gantry_pb2_grpc.GantryStub(ch)
            job = stub.CreateJob(pb.CreateJobRequest(spec=pb.JobSpec(epochs=20), name="getjob bench"),
                                 timeout=60)
            while job.state in (pb.JOB_STATE_QUEUED, pb.JOB_STATE_RUNNING):
                time.sleep(0.1)
                job = stub.GetJob(pb.GetJobRequest(job_id=job.id), timeout=60)
            if job.state != pb.JOB_STATE_SUCCEEDED:
                raise RuntimeError(f"job ended {pb.JobState.Name(job.state)}: {job.error}")
            time_getjob(stub, pb, job.id, calls=200)  # warm-up
            alone = time_getjob(stub, pb, job.id, calls=args.alone_calls)
            a50, a99 = pct(alone, 50), pct(alone, 99)
            names = {"sample": f"{args.clients} x Sample, {SAMPLE_POINTS:,} points (1M values)",
                     "stream": f"{args.clients} x SampleStream, {STREAM_POINTS:,} points",
                     "export": f"{args.clients} x ExportGenerator"}
            rows = []
            for kind in args.bursts.split(","):
                lat, rate, n = burst(args, stubs.name, server.address, job.id, kind, stub, pb)
                rows.append((names[kind], lat, rate, n))
            ch.close()
        finally:
            server.stop()
    print(f"GetJob latency on gantryd {' '.join(flags)}; {os.cpu_count()} CPUs; one timing thread "
          f"on its own connection; load from {args.clients} client processes")
    print(f"{'load':<46} {'calls':>6} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
          f"{'p50 x':>7} {'p99 x':>7} {'load calls/s':>13}")
    print(f"{'none (alone)':<46} {len(alone):>6} {a50:>8.2f} {a99:>8.2f} {max(alone):>8.2f} "
          f"{1:>7.2f} {1:>7.2f} {'':>13}")
    for name, lat, rate, n in rows:
        p50, p99 = pct(lat, 50), pct(lat, 99)
        print(f"{name:<46} {len(lat):>6} {p50:>8.2f} {p99:>8.2f} {max(lat):>8.2f} "
              f"{p50 / a50:>7.2f} {p99 / a99:>7.2f} {rate:>9.2f} ({n})")
    for name, lat, rate, n in rows[:1]:
        print(f"GetJob alone p50 {a50:.2f} ms p99 {a99:.2f} ms | during {name}: "
              f"p50 {pct(lat, 50):.2f} ms p99 {pct(lat, 99):.2f} ms | "
              f"ratio p50 {pct(lat, 50) / a50:.1f}x p99 {pct(lat, 99) / a99:.1f}x | "
              f"{rate:.1f} Sample calls/s")


if __name__ == "__main__":
    main()
