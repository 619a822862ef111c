#!/usr/bin/env python3
"""Durability of gantryd's storage: SIGKILL at random moments, corrupt
checkpoints, a second server on the same directory, retention, and an
upgrade from an older schema.

    python3 tests/e2e/durability_test.py --gantryd build/bin/gantryd [--kills 20]
"""
import argparse
import glob
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import unittest

from gantry_testlib import Gantryd, ROOT, generate_stubs

ARGS = None
pb = None


def setUpModule():
    global pb, grpc
    ARGS.stubs = tempfile.TemporaryDirectory()
    generate_stubs(ARGS.stubs.name)
    import grpc as grpc_module
    from gantry.v1 import gantry_pb2
    grpc = grpc_module
    pb = gantry_pb2


def events_of(stub, job_id, from_seq=0):
    return list(stub.WatchJob(pb.WatchJobRequest(job_id=job_id, from_seq=from_seq), timeout=600))


def epoch_figures(events):
    return [(e.epoch.epoch, e.epoch.loss_d, e.epoch.loss_g, e.epoch.last_loss_d, e.epoch.last_loss_g,
             e.epoch.quality, tuple(e.epoch.preview.values)) for e in events if e.HasField("epoch")]


class DurabilityTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.data = os.path.join(self.tmp.name, "data")

    def tearDown(self):
        self.tmp.cleanup()

    def server(self, *extra, data=None):
        return Gantryd(ARGS.gantryd, data or self.data, extra=extra)

    def mount_small_disk(self, size):
        """The data directory on a tmpfs of `size` (to fill it); the caller
        unmounts it (umount -l) in a finally. Skips the test where mounting
        is not allowed (it needs root)."""
        os.makedirs(self.data)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", self.data],
                           capture_output=True, text=True)
        if r.returncode != 0:
            self.skipTest(f"cannot mount a small tmpfs to fill (needs root): {r.stderr.strip()}")

    def uninterrupted(self, spec):
        """Per-epoch figures of `spec` trained without interruption."""
        s = self.server(data=os.path.join(self.tmp.name, "reference"))
        s.start()
        ch, stub = s.connect()
        job = stub.CreateJob(pb.CreateJobRequest(spec=spec))
        figures = epoch_figures(events_of(stub, job.id))
        ch.close()
        self.assertEqual(s.stop(), 0)
        return figures

    def test_sigkill_at_random_moments(self):
        spec = pb.JobSpec(epochs=900, checkpoint_every=4, dataset=pb.Dataset(size=1024))
        expected = self.uninterrupted(spec)
        rng = random.Random(1234)
        server = self.server()
        server.start()
        ch, stub = server.connect()
        job = stub.CreateJob(pb.CreateJobRequest(spec=spec, name="killed"))
        ch.close()
        # A CLI watcher that follows the job across every restart.
        watcher = subprocess.Popen([ARGS.gantry, "--server", server.address, "watch", job.id, "-o", "json",
                                    "--reconnect-timeout", "120"],
                                   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        acknowledged = [job.id]
        recoveries = []
        kills = 0
        while kills < ARGS.kills:
            time.sleep(rng.uniform(0.05, 0.4))
            ch, stub = server.connect()
            if rng.random() < 0.5:
                # Kill during a create: whatever returned OK must exist afterwards.
                result = {}

                def create():
                    try:
                        result["job"] = stub.CreateJob(pb.CreateJobRequest(
                            spec=pb.JobSpec(epochs=2, dataset=pb.Dataset(size=64))), timeout=5)
                    except grpc.RpcError:
                        pass
                t = threading.Thread(target=create)
                t.start()
                time.sleep(rng.uniform(0, 0.01))
                server.kill()
                t.join()
                if "job" in result:
                    acknowledged.append(result["job"].id)
            else:
                server.kill()
            ch.close()
            kills += 1
            recoveries.append(server.start())
            ch, stub = server.connect()
            state = stub.GetJob(pb.GetJobRequest(job_id=job.id)).state
            ch.close()
            if state == pb.JOB_STATE_SUCCEEDED:
                break
        ch, stub = server.connect()
        events = events_of(stub, job.id)
        for job_id in acknowledged:
            stub.GetJob(pb.GetJobRequest(job_id=job_id))  # raises NOT_FOUND if lost
        ch.close()
        out, _ = watcher.communicate(timeout=300)
        self.assertEqual(server.stop(), 0)

        self.assertEqual([e.seq for e in events], list(range(1, len(events) + 1)))
        self.assertEqual(events[-1].state.state, pb.JOB_STATE_SUCCEEDED)
        self.assertEqual(epoch_figures(events), expected, "losses equal an uninterrupted run's")
        import json
        seen = [int(json.loads(line)["seq"]) for line in out.splitlines()]
        self.assertEqual(seen, list(range(1, len(events) + 1)), "the watcher saw one unbroken sequence")
        print(f"\nsurvived {kills} SIGKILLs; {len(acknowledged)} acknowledged jobs all present; "
              f"recovery to SERVING: min {min(recoveries)*1000:.0f} ms, "
              f"mean {sum(recoveries)/len(recoveries)*1000:.0f} ms, max {max(recoveries)*1000:.0f} ms; "
              f"each: {' '.join(f'{r*1000:.0f}' for r in recoveries)} ms", file=sys.stderr)
        self.assertGreaterEqual(kills, min(ARGS.kills, 20))

    def test_sigterm_drains_and_resumes_exactly(self):
        spec = pb.JobSpec(epochs=60, checkpoint_every=7, dataset=pb.Dataset(size=256))
        expected = self.uninterrupted(spec)
        server = self.server()
        server.start()
        ch, stub = server.connect()
        job = stub.CreateJob(pb.CreateJobRequest(spec=spec))
        for event in stub.WatchJob(pb.WatchJobRequest(job_id=job.id)):
            if event.HasField("epoch") and event.epoch.epoch == 10:
                break
        ch.close()
        self.assertEqual(server.stop(), 0)  # SIGTERM: drain, checkpoint at the epoch's end
        server.start()
        ch, stub = server.connect()
        events = events_of(stub, job.id)
        ch.close()
        self.assertEqual(server.stop(), 0)
        self.assertEqual([e.seq for e in events], list(range(1, len(events) + 1)))
        self.assertEqual(epoch_figures(events), expected)
        with open(server.log_path) as f:
            log = f.read()
        self.assertRegex(log, r"job \S+ stopped for shutdown after epoch \d+")
        self.assertRegex(log, r"restored checkpoint of epoch (\d+); events stored through epoch \1")

    def wait_for_checkpoints(self, server, stub, job_id, count):
        pattern = os.path.join(self.data, "jobs", job_id, "checkpoint-*.ckpt")
        deadline = time.time() + 60
        while len(glob.glob(pattern)) < count:
            self.assertLess(time.time(), deadline)
            time.sleep(0.01)
        return sorted(glob.glob(pattern))

    def test_corrupt_checkpoint_falls_back_to_the_previous_one(self):
        spec = pb.JobSpec(epochs=40, checkpoint_every=3, dataset=pb.Dataset(size=256))
        expected = self.uninterrupted(spec)
        server = self.server()
        server.start()
        ch, stub = server.connect()
        job = stub.CreateJob(pb.CreateJobRequest(spec=spec))
        checkpoints = self.wait_for_checkpoints(server, stub, job.id, 2)
        server.kill()
        ch.close()
        checkpoints = sorted(glob.glob(os.path.join(self.data, "jobs", job.id, "checkpoint-*.ckpt")))
        with open(checkpoints[-1], "r+b") as f:  # truncate the newest
            f.truncate(os.path.getsize(checkpoints[-1]) // 2)
        server.start()
        ch, stub = server.connect()
        events = events_of(stub, job.id)
        ch.close()
        self.assertEqual(server.stop(), 0)
        self.assertEqual(events[-1].state.state, pb.JOB_STATE_SUCCEEDED)
        self.assertEqual(epoch_figures(events), expected)
        with open(server.log_path) as f:
            self.assertIn("is truncated", f.read())

    def test_all_checkpoints_corrupt_fails_only_that_job(self):
        spec = pb.JobSpec(epochs=400, checkpoint_every=2, dataset=pb.Dataset(size=256))
        server = self.server("--max-concurrent-jobs", "2")
        server.start()
        ch, stub = server.connect()
        job = stub.CreateJob(pb.CreateJobRequest(spec=spec))
        self.wait_for_checkpoints(server, stub, job.id, 3)
        server.kill()
        ch.close()
        for path in glob.glob(os.path.join(self.data, "jobs", job.id, "checkpoint-*.ckpt")):
            with open(path, "r+b") as f:
                f.seek(30)
                f.write(b"\xff" * 16)  # flip bytes inside the payload
        server.start()
        ch, stub = server.connect()
        other = stub.CreateJob(pb.CreateJobRequest(spec=pb.JobSpec(epochs=3, dataset=pb.Dataset(size=64))))
        broken = events_of(stub, job.id)
        fine = events_of(stub, other.id)
        got = stub.GetJob(pb.GetJobRequest(job_id=job.id))
        ch.close()
        self.assertEqual(server.stop(), 0)
        self.assertEqual(broken[-1].state.state, pb.JOB_STATE_FAILED)
        # 3 are kept; the kill may land after a 4th is written and before the
        # oldest is pruned (the writer runs beside the training).
        self.assertRegex(got.error, rf"^all [34] checkpoints of job {job.id} are unreadable \(newest: "
                                    r"checkpoint .* is corrupt: checksum mismatch\)$")
        self.assertEqual(fine[-1].state.state, pb.JOB_STATE_SUCCEEDED)

    def test_cancel_a_killed_servers_job_before_it_resumes(self):
        """After a SIGKILL, a job that waits to be resumed (fewer workers now)
        can be cancelled and deleted at once; the one that resumed too."""
        spec = pb.JobSpec(epochs=100000, checkpoint_every=5, dataset=pb.Dataset(size=256))
        server = self.server("--max-concurrent-jobs", "2")
        server.start()
        ch, stub = server.connect()
        ids = [stub.CreateJob(pb.CreateJobRequest(spec=spec)).id for _ in range(2)]
        deadline = time.monotonic() + 60
        while any(stub.GetJob(pb.GetJobRequest(job_id=i)).epochs_done < 6 for i in ids):
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.05)
        ch.close()
        server.kill()
        server = self.server("--max-concurrent-jobs", "1")
        server.start()
        ch, stub = server.connect()
        for job_id in ids:
            job = stub.GetJob(pb.GetJobRequest(job_id=job_id))
            self.assertEqual(job.state, pb.JOB_STATE_RUNNING)
        for job_id in ids:
            stub.CancelJob(pb.CancelJobRequest(job_id=job_id), timeout=30)
        for job_id in ids:
            events = events_of(stub, job_id)
            self.assertEqual([e.seq for e in events], list(range(1, len(events) + 1)))
            self.assertEqual(events[-1].state.state, pb.JOB_STATE_CANCELLED)
            stub.DeleteJob(pb.DeleteJobRequest(job_id=job_id))
        ch.close()
        self.assertEqual(server.stop(), 0)

    def test_second_server_on_the_same_directory_refuses(self):
        first = self.server()
        first.start()
        r = subprocess.run([ARGS.gantryd, "--listen", "127.0.0.1:0", "--data-dir", self.data],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(first.stop(), 0)
        self.assertEqual(r.returncode, 1)
        self.assertIn(f"data directory {self.data} is in use by another gantryd (pid {first.proc.pid})",
                      r.stderr)

    def test_delete_and_retention_remove_rows_and_files(self):
        server = self.server("--retention", "2")
        server.start()
        ch, stub = server.connect()
        ids = []
        for i in range(4):
            job = stub.CreateJob(pb.CreateJobRequest(spec=pb.JobSpec(epochs=2, seed=i, dataset=pb.Dataset(size=64))))
            events_of(stub, job.id)
            ids.append(job.id)
            time.sleep(0.05)
        deadline = time.time() + 30
        while len(stub.ListJobs(pb.ListJobsRequest()).jobs) > 2:
            self.assertLess(time.time(), deadline, "retention ran")
            time.sleep(0.2)
        self.assertEqual([j.id for j in stub.ListJobs(pb.ListJobsRequest()).jobs], ids[:1:-1])
        for gone in ids[:2]:
            self.assertFalse(os.path.exists(os.path.join(self.data, "jobs", gone)))
        stub.DeleteJob(pb.DeleteJobRequest(job_id=ids[3]))
        self.assertFalse(os.path.exists(os.path.join(self.data, "jobs", ids[3])))
        ch.close()
        self.assertEqual(server.stop(), 0)
        db = sqlite3.connect(os.path.join(self.data, "gantry.db"))
        self.assertEqual(db.execute("SELECT id FROM jobs").fetchall(), [(ids[2],)])
        self.assertEqual(db.execute("SELECT DISTINCT job_id FROM events").fetchall(), [(ids[2],)])
        db.close()

    def test_upgrade_from_schema_version_1(self):
        os.makedirs(self.data)
        db = sqlite3.connect(os.path.join(self.data, "gantry.db"))
        db.executescript("""
            CREATE TABLE jobs (id TEXT PRIMARY KEY, idx INTEGER NOT NULL UNIQUE, name TEXT NOT NULL,
              spec BLOB NOT NULL, state INTEGER NOT NULL, error TEXT NOT NULL DEFAULT '',
              create_ns INTEGER NOT NULL, start_ns INTEGER NOT NULL DEFAULT 0,
              end_ns INTEGER NOT NULL DEFAULT 0, epochs_done INTEGER NOT NULL DEFAULT 0, latest BLOB);
            CREATE TABLE events (job_id TEXT NOT NULL, seq INTEGER NOT NULL, event BLOB NOT NULL,
              PRIMARY KEY (job_id, seq)) WITHOUT ROWID;
            PRAGMA user_version = 1;""")
        spec = pb.JobSpec(epochs=3, seed=5, dataset=pb.Dataset(kind=pb.DATASET_KIND_SINE, size=64))
        now = time.time_ns()
        queued = pb.JobEvent(seq=1, job_id="j-old0000001", state=pb.StateChange(state=pb.JOB_STATE_QUEUED))
        db.execute("INSERT INTO jobs (id, idx, name, spec, state, create_ns) VALUES (?, ?, ?, ?, ?, ?)",
                   ("j-old0000001", 7, "from v1", spec.SerializeToString(), pb.JOB_STATE_QUEUED, now))
        db.execute("INSERT INTO events VALUES (?, ?, ?)", ("j-old0000001", 1, queued.SerializeToString()))
        db.commit()
        db.close()
        server = self.server()
        server.start()
        ch, stub = server.connect()
        events = events_of(stub, "j-old0000001")  # the old queued job runs to the end
        job = stub.GetJob(pb.GetJobRequest(job_id="j-old0000001"))
        a = stub.CreateJob(pb.CreateJobRequest(spec=spec, request_id="after-upgrade"))
        b = stub.CreateJob(pb.CreateJobRequest(spec=spec, request_id="after-upgrade"))
        ch.close()
        self.assertEqual(server.stop(), 0)
        self.assertEqual(job.name, "from v1")
        self.assertEqual(job.state, pb.JOB_STATE_SUCCEEDED)
        self.assertEqual([e.seq for e in events], [1, 2, 3, 4, 5, 6])
        self.assertEqual(a.id, b.id)
        db = sqlite3.connect(os.path.join(self.data, "gantry.db"))
        self.assertEqual(db.execute("PRAGMA user_version").fetchone()[0], 10)
        db.close()
        # And the request id survives a restart too.
        server.start()
        ch, stub = server.connect()
        c = stub.CreateJob(pb.CreateJobRequest(spec=spec, request_id="after-upgrade"))
        ch.close()
        self.assertEqual(server.stop(), 0)
        self.assertEqual(c.id, a.id)

    def test_full_disk_fails_the_write_and_keeps_what_is_stored(self):
        self.mount_small_disk("4m")
        try:
            server = self.server()
            server.start()
            ch, stub = server.connect()
            points = pb.Points(dim=2, values=[float(i % 97) for i in range(2 * 50_000)])  # 400 KB
            accepted, error = [], None
            for i in range(40):
                try:
                    job = stub.CreateJob(pb.CreateJobRequest(
                        name=f"big {i}", spec=pb.JobSpec(epochs=1, batch_size=50_000,
                                                         dataset=pb.Dataset(kind=pb.DATASET_KIND_USER,
                                                                            points=points))))
                    accepted.append(job.id)
                except grpc.RpcError as e:
                    error = e
                    break
            self.assertIsNotNone(error, "the disk filled up")
            self.assertEqual(error.code(), grpc.StatusCode.RESOURCE_EXHAUSTED)
            self.assertIn("disk full", error.details())
            self.assertGreater(len(accepted), 0)
            for job_id in accepted:
                stub.GetJob(pb.GetJobRequest(job_id=job_id))  # still there, server still up
            ch.close()
            self.assertEqual(server.stop(), 0)
            server.start()
            ch, stub = server.connect()
            listed = {j.id for j in stub.ListJobs(pb.ListJobsRequest(page_size=1000)).jobs}
            ch.close()
            self.assertEqual(server.stop(), 0)
            self.assertTrue(set(accepted) <= listed, "every acknowledged job survived the full disk")
        finally:
            subprocess.run(["umount", "-l", self.data])

    def test_full_disk_during_training_fails_the_job_naming_the_write(self):
        """A generator snapshot or checkpoint that cannot be written stops the
        job FAILED with the cause, stored, and the server carries on."""
        self.mount_small_disk("12m")
        try:
            server = self.server()
            server.start()
            ch, stub = server.connect()
            # About 4 MB per generator snapshot and 13 MB per checkpoint (weights
            # and Adam's moments of both networks): the disk fills within an epoch.
            spec = pb.JobSpec(epochs=50, checkpoint_every=1, batch_size=64,
                              generator_hidden=pb.LayerSizes(sizes=[1024, 1024]),
                              dataset=pb.Dataset(kind=pb.DATASET_KIND_SINE, size=64))
            job = stub.CreateJob(pb.CreateJobRequest(spec=spec))
            events = events_of(stub, job.id)
            final = stub.GetJob(pb.GetJobRequest(job_id=job.id))
            self.assertEqual(final.state, pb.JOB_STATE_FAILED, final)
            self.assertRegex(final.error,
                             r"^cannot store the (generator snapshot|checkpoint) of epoch \d+: disk full")
            self.assertTrue(events[-1].HasField("state"))
            self.assertEqual(events[-1].state.state, pb.JOB_STATE_FAILED)
            self.assertEqual(events[-1].state.error, final.error)
            # The server still serves: a small job runs to the end.
            small = stub.CreateJob(pb.CreateJobRequest(spec=pb.JobSpec(
                epochs=2, checkpoint_every=100, dataset=pb.Dataset(size=64))))
            self.assertEqual(events_of(stub, small.id)[-1].state.state, pb.JOB_STATE_SUCCEEDED)
            ch.close()
            self.assertEqual(server.stop(), 0)
            # The failure was stored: after a restart the job stays FAILED.
            server.start()
            ch, stub = server.connect()
            again = stub.GetJob(pb.GetJobRequest(job_id=job.id))
            ch.close()
            self.assertEqual(server.stop(), 0)
            self.assertEqual(again.state, pb.JOB_STATE_FAILED)
            self.assertEqual(again.error, final.error)
        finally:
            subprocess.run(["umount", "-l", self.data])

    def test_newer_schema_is_refused(self):
        os.makedirs(self.data)
        db = sqlite3.connect(os.path.join(self.data, "gantry.db"))
        db.execute("PRAGMA user_version = 99")
        db.close()
        r = subprocess.run([ARGS.gantryd, "--listen", "127.0.0.1:0", "--data-dir", self.data],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertIn("database schema version 99 is newer than this gantryd's 10; upgrade gantryd", r.stderr)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--gantryd", default=os.path.join(ROOT, "build/bin/gantryd"))
    ap.add_argument("--gantry", default=os.path.join(ROOT, "build/bin/gantry"))
    ap.add_argument("--kills", type=int, default=20)
    ARGS, rest = ap.parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
