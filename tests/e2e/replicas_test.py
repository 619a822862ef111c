#!/usr/bin/env python3
"""Several gantryd replicas over one real PostgreSQL 15, started here in a
temporary directory (tests/common/pg_server.sh): jobs spread over replicas
and watched through others, kill -9 takeovers, a SIGSTOPped zombie, a
PostgreSQL outage, cancel and sample through a replica that does not own
the job. Every finished job is compared, epoch by epoch, with the same
spec trained uninterrupted by one gantryd on SQLite.

    python3 tests/e2e/replicas_test.py --gantryd build/bin/gantryd [--kills 5]
"""
import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

from gantry_testlib import Gantryd, ROOT, generate_stubs

ARGS = None
pb = grpc = None
PG = None  # the server: {"dir", "dsn"}
PG_SERVER = os.path.join(ROOT, "tests", "common", "pg_server.sh")


def setUpModule():
    global pb, grpc, PG
    ARGS.stubs = tempfile.TemporaryDirectory()
    generate_stubs(ARGS.stubs.name)
    import grpc as grpc_module
    from gantry.v1 import gantry_pb2
    grpc, pb = grpc_module, gantry_pb2
    pg_dir = tempfile.mkdtemp(prefix="gantry-pg-")
    dsn = subprocess.run([PG_SERVER, "start", pg_dir], check=True, capture_output=True,
                         text=True).stdout.strip()
    PG = {"dir": pg_dir, "dsn": dsn}
    print(f"PostgreSQL for the tests: {dsn} in {pg_dir}", flush=True)


def tearDownModule():
    if PG:
        subprocess.run([PG_SERVER, "destroy", PG["dir"]], check=False)


def psql(dsn, sql):
    out = subprocess.run(["psql", "-X", "-At", "-F", "|", "-d", dsn, "-c", sql], check=True,
                         capture_output=True, text=True).stdout
    return [line.split("|") for line in out.splitlines() if line]


def epoch_figures(events):
    return [(e.epoch.epoch, e.epoch.loss_d, e.epoch.loss_g, e.epoch.last_loss_d,
             e.epoch.last_loss_g, e.epoch.quality, tuple(e.epoch.preview.values))
            for e in events if e.HasField("epoch")]


def watch_all(stub, job_id, timeout=600):
    return list(stub.WatchJob(pb.WatchJobRequest(job_id=job_id), timeout=timeout))


def spec(seed, epochs, size=256):
    return pb.JobSpec(epochs=epochs, seed=seed, checkpoint_every=5, dataset=pb.Dataset(size=size))


class Replicas:
    """N gantryd replicas over one fresh database."""

    def __init__(self, tmp, n, lease_seconds, workers=1):
        self.db = f"t{int(time.time() * 1000) % 10**9}_{os.getpid()}"
        psql(PG["dsn"], f"CREATE DATABASE {self.db}")
        self.dsn = PG["dsn"].rsplit("/", 1)[0] + "/" + self.db
        self.tmp = tmp
        self.extra = ["--store", self.dsn, "--lease-seconds", str(lease_seconds),
                      "--max-concurrent-jobs", str(workers), "--drain-grace-ms", "0"]
        self.servers = []
        for i in range(n):
            d = os.path.join(tmp, f"replica{i}")
            os.makedirs(d, exist_ok=True)
            self.servers.append(Gantryd(ARGS.gantryd, os.path.join(d, "unused"),
                                        log_path=os.path.join(d, "gantryd.log"), extra=self.extra))
        for s in self.servers:
            s.start(wait=False)
        for s in self.servers:
            s.wait_serving()
        self.stubs = [s.connect() for s in self.servers]

    def stub(self, i):
        return self.stubs[i % len(self.stubs)][1]

    def restart(self, i):
        s = self.servers[i]
        s.start()
        self.stubs[i] = s.connect()

    def owner_index(self, job_id):
        """Which replica holds the job's lease now (None: none of ours)."""
        rows = psql(self.dsn, f"SELECT owner, state FROM jobs WHERE id = '{job_id}'")
        if not rows or rows[0][1] != "2":
            return None
        pid = rows[0][0].rsplit(":", 1)[-1]
        for i, s in enumerate(self.servers):
            if s.proc and s.proc.poll() is None and str(s.proc.pid) == pid:
                return i
        return None

    def log(self, i):
        return open(self.servers[i].log_path, errors="replace").read()

    def stop(self):
        for s in self.servers:
            if s.proc and s.proc.poll() is None:
                try:
                    s.proc.send_signal(signal.SIGCONT)
                    s.stop()
                except Exception:
                    s.proc.kill()


class ReplicasTest(unittest.TestCase):
    reference = {}  # (seed, epochs, size) -> epoch figures, trained on SQLite

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def expected(self, specs):
        """Per-epoch figures of each spec trained uninterrupted on one SQLite gantryd."""
        missing = [s for s in specs if (s.seed, s.epochs, s.dataset.size) not in self.reference]
        if missing:
            data = tempfile.mkdtemp(dir=self.tmp.name)
            ref = Gantryd(ARGS.gantryd, os.path.join(data, "data"),
                          extra=["--max-concurrent-jobs", "2"])
            ref.start()
            try:
                _, stub = ref.connect()
                ids = [stub.CreateJob(pb.CreateJobRequest(spec=s)).id for s in missing]
                for s, job_id in zip(missing, ids):
                    events = watch_all(stub, job_id)
                    self.assertEqual(events[-1].state.state, pb.JOB_STATE_SUCCEEDED)
                    self.reference[(s.seed, s.epochs, s.dataset.size)] = epoch_figures(events)
            finally:
                ref.stop()
        return [self.reference[(s.seed, s.epochs, s.dataset.size)] for s in specs]

    def assert_exact(self, replicas, job_id, spec_, reader=0):
        """The finished job's events, read through `reader`: seqs 1..N once
        each, SUCCEEDED, and every epoch equal to the uninterrupted run; and
        in the store, no event written under an older lease after a newer
        one (fencing)."""
        events = watch_all(replicas.stub(reader), job_id)
        self.assertEqual([e.seq for e in events], list(range(1, len(events) + 1)))
        self.assertEqual(events[-1].state.state, pb.JOB_STATE_SUCCEEDED, events[-1])
        self.assertEqual(epoch_figures(events), self.expected([spec_])[0])
        leases = [int(r[0]) for r in psql(replicas.dsn,
                  f"SELECT lease FROM events WHERE job_id = '{job_id}' ORDER BY seq")]
        self.assertEqual(leases, sorted(leases), "an event was written under a lost lease")
        return events, leases

    def test_eight_jobs_over_three_replicas_watched_elsewhere(self):
        r = Replicas(tempfile.mkdtemp(dir=self.tmp.name), 3, lease_seconds=5)
        try:
            specs = [spec(100 + i, 60) for i in range(8)]
            ids = [r.stub(i).CreateJob(pb.CreateJobRequest(spec=s)).id for i, s in enumerate(specs)]
            results = [None] * 8

            def follow(i):  # live, through a replica other than the one it was submitted to
                results[i] = watch_all(r.stub(i + 1), ids[i])
            threads = [threading.Thread(target=follow, args=(i,)) for i in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            expected = self.expected(specs)
            for i in range(8):
                self.assertEqual(results[i][-1].state.state, pb.JOB_STATE_SUCCEEDED)
                self.assertEqual([e.seq for e in results[i]], list(range(1, len(results[i]) + 1)))
                self.assertEqual(epoch_figures(results[i]), expected[i], f"job {i}")
            owners = {row[0] for row in psql(r.dsn, "SELECT owner FROM jobs")}
            print(f"8 jobs trained by {len(owners)} replicas, each watched live through another; "
                  "all equal to the single-server runs", flush=True)
            self.assertGreaterEqual(len(owners), 2)
        finally:
            r.stop()

    def test_kill_minus_nine_takeovers_finish_bit_exact(self):
        r = Replicas(tempfile.mkdtemp(dir=self.tmp.name), 3, lease_seconds=1.5)
        try:
            specs = [spec(200 + i, 900) for i in range(4)]
            ids = [r.stub(i).CreateJob(pb.CreateJobRequest(spec=s)).id for i, s in enumerate(specs)]
            kills = 0
            deadline = time.monotonic() + 300
            while kills < ARGS.kills and time.monotonic() < deadline:
                owned = [(j, r.owner_index(j)) for j in ids]
                owned = [(j, o) for j, o in owned if o is not None]
                if not owned:
                    if all(r.stub(0).GetJob(pb.GetJobRequest(job_id=j)).state >= pb.JOB_STATE_SUCCEEDED
                           for j in ids):
                        break
                    time.sleep(0.1)
                    continue
                job_id, victim = owned[kills % len(owned)]
                epoch = r.stub(victim + 1).GetJob(pb.GetJobRequest(job_id=job_id)).epochs_done
                r.servers[victim].kill()
                kills += 1
                print(f"kill -9 #{kills}: replica {victim} (training {job_id} at epoch {epoch})",
                      flush=True)
                r.restart(victim)
                time.sleep(1.0)
            self.assertEqual(kills, ARGS.kills, "the jobs ended before every kill landed")
            taken_over = 0
            for j, s in zip(ids, specs):
                _, leases = self.assert_exact(r, j, s, reader=2)
                taken_over += len(set(leases)) > 2
            print(f"{kills} kills: all 4 jobs SUCCEEDED, bit-exact against uninterrupted runs, "
                  f"seqs unbroken; {taken_over} were taken over at least once", flush=True)
            self.assertGreaterEqual(taken_over, 1)
        finally:
            r.stop()

    def test_a_paused_replica_writes_nothing_after_takeover(self):
        r = Replicas(tempfile.mkdtemp(dir=self.tmp.name), 2, lease_seconds=1.5)
        try:
            s = spec(300, 1500)
            job_id = r.stub(0).CreateJob(pb.CreateJobRequest(spec=s)).id
            deadline = time.monotonic() + 60
            while (zombie := r.owner_index(job_id)) is None or r.stub(0).GetJob(
                    pb.GetJobRequest(job_id=job_id)).epochs_done < 20:
                self.assertLess(time.monotonic(), deadline)
                time.sleep(0.05)
            lease_before = int(psql(r.dsn, f"SELECT lease FROM jobs WHERE id = '{job_id}'")[0][0])
            r.servers[zombie].proc.send_signal(signal.SIGSTOP)
            other = 1 - zombie
            while r.owner_index(job_id) != other:
                self.assertLess(time.monotonic(), deadline + 60, "no takeover")
                time.sleep(0.05)
            stopped_at = r.stub(other).GetJob(pb.GetJobRequest(job_id=job_id)).epochs_done
            time.sleep(1.0)
            r.servers[zombie].proc.send_signal(signal.SIGCONT)
            print(f"replica {zombie} SIGSTOPped holding lease {lease_before}; replica {other} took "
                  f"the job over after epoch {stopped_at}; SIGCONT", flush=True)
            events, leases = self.assert_exact(r, job_id, s, reader=zombie)
            first_new = next(i for i, l in enumerate(leases) if l > lease_before)
            self.assertEqual([l for l in leases[first_new:] if l <= lease_before], [])
            time.sleep(0.5)
            log = r.log(zombie)
            self.assertIn("no longer held", log)
            print(f"the zombie wrote no event after the takeover (events {first_new + 1}.."
                  f"{len(leases)} under newer leases); its log: "
                  + next(line for line in log.splitlines() if "no longer held" in line)[-160:],
                  flush=True)
            r.servers[zombie].wait_serving(timeout=10)
        finally:
            r.stop()

    def test_postgresql_outage_pauses_jobs_and_loses_nothing(self):
        r = Replicas(tempfile.mkdtemp(dir=self.tmp.name), 2, lease_seconds=30)
        from healthcheck import health_pb2, health_pb2_grpc
        try:
            s = spec(400, 1500)
            job_id = r.stub(0).CreateJob(pb.CreateJobRequest(spec=s)).id
            deadline = time.monotonic() + 60
            while r.stub(0).GetJob(pb.GetJobRequest(job_id=job_id)).epochs_done < 50:
                self.assertLess(time.monotonic(), deadline)
                time.sleep(0.05)
            subprocess.run([PG_SERVER, "stop", PG["dir"]], check=True)
            down = time.monotonic()
            try:
                not_serving = set()
                unavailable = None
                while time.monotonic() - down < 5:
                    for i, (ch, stub) in enumerate(r.stubs):
                        st = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(),
                                                                  timeout=2).status
                        if st == health_pb2.HealthCheckResponse.NOT_SERVING:
                            not_serving.add(i)
                    try:
                        r.stub(1).GetJob(pb.GetJobRequest(job_id=job_id), timeout=10)
                    except grpc.RpcError as e:
                        unavailable = e
                    time.sleep(0.2)
            finally:
                subprocess.run([PG_SERVER, "restart", PG["dir"]], check=True)
            print(f"PostgreSQL stopped for {time.monotonic() - down:.1f} s: health NOT_SERVING on "
                  f"replicas {sorted(not_serving)}; GetJob: {unavailable.code().name}: "
                  f"{unavailable.details()[:140]}", flush=True)
            self.assertEqual(not_serving, {0, 1})
            self.assertEqual(unavailable.code(), grpc.StatusCode.UNAVAILABLE)
            self.assertIn("PostgreSQL", unavailable.details())
            self.assert_exact(r, job_id, s, reader=1)
            for srv in r.servers:
                srv.wait_serving(timeout=15)
            print("after the outage: the job SUCCEEDED bit-exact, seqs unbroken; both SERVING",
                  flush=True)
        finally:
            r.stop()

    def test_cancel_sample_delete_and_request_ids_through_other_replicas(self):
        r = Replicas(tempfile.mkdtemp(dir=self.tmp.name), 2, lease_seconds=5)
        try:
            job = r.stub(0).CreateJob(pb.CreateJobRequest(spec=spec(500, 5000), request_id="rq-1"))
            again = r.stub(1).CreateJob(pb.CreateJobRequest(spec=spec(500, 5000), request_id="rq-1"))
            self.assertEqual(again.id, job.id)  # idempotent across replicas
            deadline = time.monotonic() + 60
            while (owner := r.owner_index(job.id)) is None or r.stub(0).GetJob(
                    pb.GetJobRequest(job_id=job.id)).epochs_done < 12:
                self.assertLess(time.monotonic(), deadline)
                time.sleep(0.05)
            other = r.stub(1 - owner)
            a = other.Sample(pb.SampleRequest(job_id=job.id, count=20, seed=7, epoch=10))
            b = r.stub(owner).Sample(pb.SampleRequest(job_id=job.id, count=20, seed=7, epoch=10))
            self.assertEqual(list(a.points.values), list(b.points.values))
            self.assertEqual(len(a.points.values), 40)
            t0 = time.monotonic()
            other.CancelJob(pb.CancelJobRequest(job_id=job.id))
            # A deadline for the loop, not a latency bound: the latency is printed.
            deadline = t0 + 120
            while other.GetJob(pb.GetJobRequest(job_id=job.id)).state != pb.JOB_STATE_CANCELLED:
                self.assertLess(time.monotonic(), deadline, "the cancel did not reach the owner")
                time.sleep(0.01)
            latency = time.monotonic() - t0
            print(f"sampled through the non-owner (equal to the owner's), cancelled through it: "
                  f"CANCELLED {latency * 1000:.0f} ms later", flush=True)
            other.DeleteJob(pb.DeleteJobRequest(job_id=job.id))
            with self.assertRaises(grpc.RpcError) as e:
                r.stub(owner).GetJob(pb.GetJobRequest(job_id=job.id))
            self.assertEqual(e.exception.code(), grpc.StatusCode.NOT_FOUND)
        finally:
            r.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--gantryd", required=True)
    parser.add_argument("--kills", type=int, default=5)
    ARGS, rest = parser.parse_known_args()
    ARGS.gantryd = os.path.abspath(ARGS.gantryd)
    unittest.main(argv=[sys.argv[0], *rest], verbosity=2)
