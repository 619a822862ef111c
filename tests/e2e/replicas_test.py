#!/usr/bin/env python3
"""Several gantryd replicas over one real PostgreSQL 15, started here in a
temporary directory (tests/common/pg_server.sh): jobs spread over replicas
and watched through others, kill -9 takeovers, a SIGSTOPped zombie, a
PostgreSQL outage, cancel and sample through a replica that does not own
the job, a cancel through a woken zombie, cancels of a killed replica's jobs
while no worker is free, and per-replica queue admission (issue 22). Every finished job is compared, epoch by epoch, with the same
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

    def __init__(self, tmp, n, lease_seconds, workers=1, extra=()):
        self.db = f"t{int(time.time() * 1000) % 10**9}_{os.getpid()}"
        psql(PG["dsn"], f"CREATE DATABASE {self.db}")
        self.dsn = PG["dsn"].rsplit("/", 1)[0] + "/" + self.db
        self.tmp = tmp
        self.extra = ["--store", self.dsn, "--lease-seconds", str(lease_seconds),
                      "--max-concurrent-jobs", str(workers), "--drain-grace-ms", "0", *extra]
        self.servers = [self._server(i) for i in range(n)]
        for s in self.servers:
            s.start(wait=False)
        for s in self.servers:
            s.wait_serving()
        self.stubs = [s.connect() for s in self.servers]

    def _server(self, i):
        d = os.path.join(self.tmp, f"replica{i}")
        os.makedirs(d, exist_ok=True)
        return Gantryd(ARGS.gantryd, os.path.join(d, "unused"),
                       log_path=os.path.join(d, "gantryd.log"), extra=self.extra)

    def add(self):
        """Starts one more replica (a fresh process); its index."""
        s = self._server(len(self.servers))
        s.start()
        self.servers.append(s)
        self.stubs.append(s.connect())
        return len(self.servers) - 1

    def owner_string(self, i):
        """Replica i's lease owner name as the store records it (HOST:PID)."""
        return f"{socket.gethostname()}:{self.servers[i].proc.pid}"

    def row(self, job_id, columns):
        return psql(self.dsn, f"SELECT {columns} FROM jobs WHERE id = '{job_id}'")[0]

    def lease_expired(self, job_id):
        """Whether the job's lease has expired on the database's clock."""
        return self.row(job_id, "lease_expires_ns < (extract(epoch from clock_timestamp())"
                                " * 1000000000)::bigint")[0] == "t"

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
        with open(self.servers[i].log_path, errors="replace") as f:
            return f.read()

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

    def test_a_study_survives_the_death_of_its_replica(self):
        """The replica deciding for an ASHA study is killed mid-study: another
        takes the study's lease over and ends it with exactly the decisions
        (trials, parameters, promotions, objectives) of the same study run
        undisturbed on one SQLite gantryd, one job per trial segment."""
        base = pb.JobSpec(dataset=pb.Dataset(kind=pb.DATASET_KIND_RING8, size=1024), batch_size=32,
                          epochs=27, checkpoint_every=1, eval_points=128, preview_points=0)
        study_spec = pb.StudySpec(base=base, algorithm="asha", max_trials=12, concurrency=2, seed=3,
                                  min_epochs=1, reduction_factor=3, space=[pb.SearchParam(
                                      name="learning_rate", kind="log_uniform", min=1e-4, max=3e-2)])

        def decisions(study):
            return [(t.number, t.status, [(g.start_epoch, g.end_epoch, g.parent_trial,
                                           sorted(g.params.items()), g.objective)
                                          for g in t.segments]) for t in study.trials]

        def finish(stub, study_id):
            deadline = time.monotonic() + 300
            while True:
                study = stub.GetStudy(pb.GetStudyRequest(study_id=study_id), timeout=30)
                if study.state != pb.JOB_STATE_RUNNING:
                    return study
                self.assertLess(time.monotonic(), deadline, "the study never ended")
                time.sleep(0.2)

        ref_dir = tempfile.mkdtemp(dir=self.tmp.name)
        ref = Gantryd(ARGS.gantryd, os.path.join(ref_dir, "data"), extra=["--max-concurrent-jobs", "2"])
        ref.start()
        try:
            _, stub = ref.connect()
            reference = finish(stub, stub.CreateStudy(pb.CreateStudyRequest(spec=study_spec)).id)
        finally:
            ref.stop()
        self.assertEqual(reference.state, pb.JOB_STATE_SUCCEEDED, reference.error)

        r = Replicas(tempfile.mkdtemp(dir=self.tmp.name), 3, lease_seconds=1.5)
        try:
            study_id = r.stub(0).CreateStudy(pb.CreateStudyRequest(spec=study_spec)).id
            victim = None
            deadline = time.monotonic() + 120
            while victim is None:
                self.assertLess(time.monotonic(), deadline, "no replica took the study")
                rows = psql(r.dsn, f"SELECT holder, state FROM studies WHERE id = '{study_id}'")
                study = r.stub(0).GetStudy(pb.GetStudyRequest(study_id=study_id))
                self.assertEqual(study.state, pb.JOB_STATE_RUNNING, "the study ended before the kill")
                if rows and rows[0][0] and study.summary.jobs >= 4:
                    pid = rows[0][0].rsplit(":", 1)[-1]
                    victim = next(i for i, s in enumerate(r.servers) if str(s.proc.pid) == pid)
                else:
                    time.sleep(0.05)
            jobs_at_kill = study.summary.jobs
            r.servers[victim].kill()
            done = finish(r.stub(victim + 1), study_id)
            self.assertEqual(done.state, pb.JOB_STATE_SUCCEEDED, done.error)
            self.assertEqual(decisions(done), decisions(reference))
            lease, holder = psql(r.dsn, f"SELECT lease, holder FROM studies WHERE id = '{study_id}'")[0]
            self.assertGreaterEqual(int(lease), 2, "the study was not taken over")
            self.assertNotEqual(holder.rsplit(":", 1)[-1], str(r.servers[victim].proc.pid))
            jobs = r.stub(victim + 1).ListJobs(pb.ListJobsRequest(label_selector=f"study={study_id}",
                                                                  page_size=1000)).jobs
            segments = [(j.labels["trial"], j.labels["segment"]) for j in jobs]
            self.assertEqual(len(segments), len(set(segments)), "a segment ran twice")
            self.assertEqual(len(jobs), sum(len(t.segments) for t in done.trials))
            print(f"study {study_id}: replica {victim} killed holding it with {jobs_at_kill} jobs created; "
                  f"taken over (lease {lease}), ended with {len(jobs)} jobs and the decisions of the "
                  f"undisturbed SQLite run", flush=True)
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

    def wait_until(self, what, predicate, seconds=120, poll=0.05):
        """Polls `predicate` until true; fails naming `what` after `seconds`
        (a loop deadline for a slow machine, never a latency bound)."""
        deadline = time.monotonic() + seconds
        while not predicate():
            self.assertLess(time.monotonic(), deadline, f"gave up waiting: {what}")
            time.sleep(poll)

    def test_a_cancel_through_a_zombie_is_stored_and_ends_the_job(self):
        """Issue 22, finding 1: a replica that was SIGSTOPped past its lease
        still runs its stale runner when it wakes; a cancel it receives at
        that moment must be stored (cancel_requested), so that the new
        owner ends the job CANCELLED."""
        r = Replicas(tempfile.mkdtemp(dir=self.tmp.name), 2, lease_seconds=3)
        try:
            # One 200,000-row batch per epoch: an epoch takes seconds, so the
            # woken zombie is still in the middle of one when the cancel comes.
            s = pb.JobSpec(epochs=1000, seed=600, checkpoint_every=1, batch_size=200_000,
                           dataset=pb.Dataset(size=200_000))
            job_id = r.stub(0).CreateJob(pb.CreateJobRequest(spec=s)).id
            self.wait_until("the job trains its first epoch", lambda: r.owner_index(job_id) is not None
                            and int(r.row(job_id, "epochs_done")[0]) >= 1, seconds=300)
            zombie = r.owner_index(job_id)
            other = 1 - zombie
            lease_before = int(r.row(job_id, "lease")[0])
            r.servers[zombie].proc.send_signal(signal.SIGSTOP)
            stopped = time.monotonic()
            self.wait_until("the other replica takes the job over",
                            lambda: r.owner_index(job_id) == other, seconds=300)
            took_over = time.monotonic() - stopped
            r.servers[zombie].proc.send_signal(signal.SIGCONT)
            woke = time.time()
            reply = r.stub(zombie).CancelJob(pb.CancelJobRequest(job_id=job_id), timeout=60)
            answered = time.time()
            requested, lease_after = r.row(job_id, "cancel_requested, lease")
            print(f"replica {zombie} SIGSTOPped holding lease {lease_before}; replica {other} took "
                  f"the job over {took_over:.1f} s later (lease {lease_after}); SIGCONT, and at "
                  f"once CancelJob through replica {zombie}: OK, {pb.JobState.Name(reply.state)}, "
                  f"answered {(answered - woke) * 1000:.0f} ms after SIGCONT; "
                  f"cancel_requested in the database: {requested}", flush=True)
            self.assertEqual(requested, "1", "the cancel was acknowledged but not stored")
            t0 = time.monotonic()
            self.wait_until("the job ends CANCELLED", lambda: r.stub(other).GetJob(
                pb.GetJobRequest(job_id=job_id)).state == pb.JOB_STATE_CANCELLED)
            ended_ms = (time.monotonic() - t0) * 1000
            events = watch_all(r.stub(other), job_id)
            self.assertEqual([e.seq for e in events], list(range(1, len(events) + 1)))
            self.assertEqual(events[-1].state.state, pb.JOB_STATE_CANCELLED)
            leases = [int(x[0]) for x in psql(r.dsn, f"SELECT lease FROM events WHERE job_id = "
                                                     f"'{job_id}' ORDER BY seq")]
            self.assertEqual(leases, sorted(leases), "an event was written under a lost lease")
            self.assertGreater(leases[-1], lease_before)
            time.sleep(0.5)
            line = next((l for l in r.log(zombie).splitlines() if "no longer held" in l), "")
            self.assertTrue(line, "the zombie never logged its lost lease")
            logged = time.mktime(time.strptime(line[1:20], "%Y-%m-%d %H:%M:%S")) + \
                float("0" + line[20:24])
            print(f"the cancel was answered {(answered - logged) * 1000:+.0f} ms after the zombie "
                  f"logged its lost lease: {line[:220]}", flush=True)
            print(f"the job ended CANCELLED at the new owner {ended_ms:.0f} ms after the answer: "
                  f"{len(events)} events, seqs unbroken, leases {sorted(set(leases))} (the "
                  f"CANCELLED event under lease {leases[-1]}); final cancel_requested "
                  f"{r.row(job_id, 'cancel_requested')[0]}", flush=True)
        finally:
            r.stop()

    def test_a_dead_owners_job_is_cancelled_without_a_free_worker(self):
        """Issue 22, finding 2: the owner is killed and the other replica's
        workers are all busy: a cancel ends the job CANCELLED anyway, at
        once when its lease has expired (the reply says CANCELLED), else
        when the replica loop finds the lease expired."""
        r = Replicas(tempfile.mkdtemp(dir=self.tmp.name), 2, lease_seconds=3, workers=2)
        try:
            r.servers[1].proc.send_signal(signal.SIGSTOP)  # replica 0 claims both
            try:
                doomed = [r.stub(0).CreateJob(pb.CreateJobRequest(spec=spec(700 + i, 100_000))).id
                          for i in range(2)]
                self.wait_until("replica 0 trains both jobs", lambda: all(
                    r.owner_index(j) == 0 and int(r.row(j, "epochs_done")[0]) >= 1 for j in doomed))
            finally:
                r.servers[1].proc.send_signal(signal.SIGCONT)
            busy = [r.stub(1).CreateJob(pb.CreateJobRequest(spec=spec(710 + i, 100_000))).id
                    for i in range(2)]
            self.wait_until("replica 1 trains two other jobs",
                            lambda: all(r.owner_index(j) == 1 for j in busy))
            r.servers[0].kill()
            killed = time.monotonic()
            early = r.stub(1).CancelJob(pb.CancelJobRequest(job_id=doomed[0]), timeout=60)
            early_at = time.monotonic() - killed
            self.wait_until("the second job's lease expires", lambda: r.lease_expired(doomed[1]))
            late_at = time.monotonic() - killed
            late = r.stub(1).CancelJob(pb.CancelJobRequest(job_id=doomed[1]), timeout=60)
            print(f"replica 0 killed holding {doomed}; replica 1 busy with 2 of its own; "
                  f"CancelJob {early_at * 1000:.0f} ms after the kill: "
                  f"{pb.JobState.Name(early.state)}; CancelJob once the lease expired "
                  f"({late_at:.1f} s after the kill): {pb.JobState.Name(late.state)}", flush=True)
            self.assertEqual(late.state, pb.JOB_STATE_CANCELLED, "an expired lease was waited for")
            self.wait_until("the first job ends CANCELLED", lambda: r.stub(1).GetJob(
                pb.GetJobRequest(job_id=doomed[0])).state == pb.JOB_STATE_CANCELLED)
            first_at = time.monotonic() - killed
            for j in busy:  # no worker was free: the jobs ended without one
                self.assertEqual(r.owner_index(j), 1)
            me = r.owner_string(1)
            for j in doomed:
                events = watch_all(r.stub(1), j)
                self.assertEqual([e.seq for e in events], list(range(1, len(events) + 1)))
                self.assertEqual(events[-1].state.state, pb.JOB_STATE_CANCELLED)
                owner, lease, ckpts = r.row(j, "owner, lease, (SELECT count(*) FROM blobs b WHERE "
                                               "b.job_id = jobs.id AND b.kind = 0)")
                self.assertEqual(owner, me)
                self.assertEqual(int(lease), 2)  # one claim by replica 0, one to end it
                self.assertEqual(ckpts, "0", "an ended job's checkpoints stay")
                leases = [int(x[0]) for x in psql(r.dsn, f"SELECT lease FROM events WHERE "
                                                         f"job_id = '{j}' ORDER BY seq")]
                self.assertEqual(leases[-1], 2)
            print(f"both ended CANCELLED by replica 1 under lease 2 while its workers trained "
                  f"other jobs; the first {first_at:.1f} s after the kill (its lease expired at "
                  f"{late_at:.1f} s or before); checkpoints deleted", flush=True)
        finally:
            r.stop()

    def test_a_replica_counts_only_queued_jobs_as_waiting(self):
        """Issue 22, finding 3: admission (--max-queued-jobs) counts the jobs
        waiting for a worker; a fresh replica does not count other
        replicas' running jobs, a replica whose queued jobs another one
        claimed recounts, and the refusal says what it counted."""
        r = Replicas(tempfile.mkdtemp(dir=self.tmp.name), 1, lease_seconds=5,
                     extra=["--max-queued-jobs", "1"])
        try:
            running = r.stub(0).CreateJob(pb.CreateJobRequest(spec=spec(800, 100_000))).id
            self.wait_until("replica 0 trains it", lambda: r.owner_index(running) == 0)
            queued = r.stub(0).CreateJob(pb.CreateJobRequest(spec=spec(801, 100_000))).id
            fresh = r.add()
            self.wait_until("the fresh replica claims the queued job",
                            lambda: r.owner_index(queued) == fresh)
            waiting = lambda: int(psql(r.dsn, "SELECT count(*) FROM jobs WHERE state = 1")[0][0])
            self.assertEqual(waiting(), 0)
            # Replica 0 counted `queued`, which the fresh replica claimed.
            a = r.stub(0).CreateJob(pb.CreateJobRequest(spec=spec(802, 100_000)))
            # The fresh replica found 1 running and 1 queued job at start.
            b = r.stub(fresh).CreateJob(pb.CreateJobRequest(spec=spec(803, 100_000)))
            self.assertEqual((a.state, b.state), (pb.JOB_STATE_QUEUED, pb.JOB_STATE_QUEUED))
            with self.assertRaises(grpc.RpcError) as refused:
                r.stub(fresh).CreateJob(pb.CreateJobRequest(spec=spec(804, 100_000)))
            self.assertEqual(refused.exception.code(), grpc.StatusCode.RESOURCE_EXHAUSTED)
            self.assertEqual(refused.exception.details(),
                             "the queue is full: this replica counts 1 queued jobs waiting for a "
                             "worker (--max-queued-jobs 1 applies per replica)")
            print(f"both replicas busy, the queue empty: each accepted one job; then "
                  f"{waiting()} queued in the database and the fresh replica refuses: "
                  f"{refused.exception.details()}", flush=True)
        finally:
            r.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--gantryd", required=True)
    parser.add_argument("--kills", type=int, default=5)
    ARGS, rest = parser.parse_known_args()
    ARGS.gantryd = os.path.abspath(ARGS.gantryd)
    unittest.main(argv=[sys.argv[0], *rest], verbosity=2)
