#!/usr/bin/env python3
"""Fault injection (libfiu): gantryd's writes, fsyncs and renames fail at
random while jobs train and clients create jobs, and gantryd is killed in
the middle of it.

gantryd runs under `fiu-run -x` (libfiu's POSIX preload); once it serves,
`fiu-ctrl` makes write() fail with EIO, pwrite() (SQLite's writes) with
ENOSPC, fsync() with EIO and rename() with EIO, each with a small
probability. Three client threads create jobs (two specs, each with a
request_id) and record every outcome in a History (history.py); a thread
polls health. Halfway, gantryd is SIGKILLed and started again under the
same faults. Then the faults stop, gantryd is killed once more and started
without libfiu, every job runs to its end, and the history checker asserts
what survived: every acknowledged job, no failed create, unknown outcomes
resolved consistently, gapless events, SUCCEEDED jobs bit-identical to an
uninterrupted run, FAILED ones naming the file and the errno. It also
asserts that gantryd never crashed on its own and that health reported the
store's trouble while writes failed.

    /usr/bin/python3 tests/e2e/faults_test.py --gantryd build/bin/gantryd [--seconds 8]
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest

from gantry_testlib import Gantryd, generate_stubs
from history import History, check, figures

ARGS = None
grpc = pb = pb_grpc = health_pb2 = health_pb2_grpc = None

FAULTS = [
    "enable_random name=posix/io/rw/write,probability=0.05,failinfo=5",      # EIO
    "enable_random name=posix/io/rw/pwrite,probability=0.02,failinfo=28",    # ENOSPC
    "enable_random name=posix/io/sync/fsync,probability=0.05,failinfo=5",
    "enable_random name=posix/io/dir/rename,probability=0.05,failinfo=5",
]
FAULT_NAMES = ["posix/io/rw/write", "posix/io/rw/pwrite", "posix/io/sync/fsync",
               "posix/io/dir/rename"]


def setUpModule():
    global grpc, pb, pb_grpc, health_pb2, health_pb2_grpc
    ARGS.stubs = tempfile.TemporaryDirectory()
    generate_stubs(ARGS.stubs.name)
    import grpc as grpc_module
    from gantry.v1 import gantry_pb2, gantry_pb2_grpc
    from healthcheck import health_pb2 as h, health_pb2_grpc as hg
    grpc, pb, pb_grpc, health_pb2, health_pb2_grpc = grpc_module, gantry_pb2, gantry_pb2_grpc, h, hg


def fiu_ctrl(pid, commands):
    args = ["fiu-ctrl"]
    for c in commands:
        args += ["-c", c]
    subprocess.run(args + [str(pid)], check=True, timeout=30)


class FaultInjectionTest(unittest.TestCase):
    def setUp(self):
        self.assertIsNotNone(shutil.which("fiu-run"), "fiu-run is missing: deploy/install-deps.sh installs fiu-utils")
        self.tmp = tempfile.TemporaryDirectory()
        self.data = os.path.join(self.tmp.name, "data")

    def tearDown(self):
        self.tmp.cleanup()

    def specs(self):
        return {
            "a": pb.JobSpec(epochs=40, seed=7, checkpoint_every=3, dataset=pb.Dataset(size=256)),
            "b": pb.JobSpec(epochs=25, seed=9, checkpoint_every=2, batch_size=64,
                            dataset=pb.Dataset(kind=pb.DATASET_KIND_RING8, size=512)),
        }

    def references(self, specs):
        server = Gantryd(ARGS.gantryd, os.path.join(self.tmp.name, "reference"))
        server.start()
        ch, stub = server.connect()
        out = {}
        for key, spec in specs.items():
            job = stub.CreateJob(pb.CreateJobRequest(spec=spec))
            out[key] = figures(stub.WatchJob(pb.WatchJobRequest(job_id=job.id), timeout=600))
        ch.close()
        self.assertEqual(server.stop(), 0)
        return out

    def faulty_server(self):
        server = Gantryd(ARGS.gantryd, self.data, wrapper=["fiu-run", "-x"],
                         extra=["--max-queued-jobs", "1000", "--log-level", "warn"])
        server.start()
        fiu_ctrl(server.proc.pid, FAULTS)
        return server

    def test_random_write_faults_and_kills(self):
        specs = self.specs()
        references = self.references(specs)
        history = History()
        server = self.faulty_server()
        address = server.address
        stop = threading.Event()
        health_seen = []

        def client(t):
            ch = grpc.insecure_channel(address)
            stub = pb_grpc.GantryStub(ch)
            i = 0
            while not stop.is_set():
                key = "ab"[i % 2]
                entry = history.create(grpc, pb, stub, f"c{t}-{i}", key, specs[key], timeout=5)
                if entry["outcome"] == "unknown":
                    time.sleep(0.2)  # the server is restarting
                i += 1
                time.sleep(0.05)
            ch.close()

        def health():
            ch = grpc.insecure_channel(address)
            stub = health_pb2_grpc.HealthStub(ch)
            while not stop.is_set():
                try:
                    status = stub.Check(health_pb2.HealthCheckRequest(), timeout=0.5).status
                    health_seen.append(health_pb2.HealthCheckResponse.ServingStatus.Name(status))
                except grpc.RpcError as e:
                    health_seen.append(e.code().name)
                time.sleep(0.05)
            ch.close()

        threads = [threading.Thread(target=client, args=(t,)) for t in range(3)]
        threads.append(threading.Thread(target=health))
        for t in threads:
            t.start()
        kills = 0
        try:
            time.sleep(ARGS.seconds / 2)
            self.assertIsNone(server.proc.poll(), "gantryd died under the faults")
            server.kill()
            kills += 1
            server = self.faulty_server()
            time.sleep(ARGS.seconds / 2)
            self.assertIsNone(server.proc.poll(), "gantryd died under the faults")
            fiu_ctrl(server.proc.pid, [f"disable name={n}" for n in FAULT_NAMES])
        finally:
            stop.set()
            for t in threads:
                t.join()
        server.kill()
        kills += 1
        # Without libfiu: everything resumes and ends.
        clean = Gantryd(ARGS.gantryd, self.data, extra=["--max-queued-jobs", "1000"])
        clean.start()
        ch, stub = clean.connect()
        summary = check(self, grpc, pb, stub, history, specs, references)
        ch.close()
        self.assertEqual(clean.stop(), 0)
        counts = history.counts()
        not_serving = sum(1 for s in health_seen if s == "NOT_SERVING")
        print(f"[faults] {len(history.creates)} creates: {counts['acknowledged']} acknowledged, "
              f"{counts['failed']} failed, {counts['unknown']} unknown (resolved: "
              f"{summary['resolved']['stored']} stored, {summary['resolved']['not stored']} not); "
              f"{summary['jobs']} jobs checked: {summary['SUCCEEDED']} SUCCEEDED "
              f"({summary['exact']} equal to an uninterrupted run), {summary['FAILED']} FAILED "
              f"naming the file and errno; {kills} kills; health NOT_SERVING in {not_serving} of "
              f"{len(health_seen)} probes", flush=True)
        self.assertGreater(counts["acknowledged"], 10)
        self.assertGreater(not_serving, 0, "health never reported the failing store")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--gantryd", required=True)
    ap.add_argument("--seconds", type=float, default=8.0)
    ARGS, rest = ap.parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
