#!/usr/bin/env python3
"""gantryd at scale (issue 9, point 3): resident memory does not grow with
the number of stored events or ended jobs, and a restart on a large data
directory is quick.

One gantryd on a fresh data directory (the default SQLite storage) trains
2000 small jobs, each 300 epochs of a 64-point sine dataset in one batch of
64 (303 stored events a job: QUEUED, RUNNING, 300 epochs, SUCCEEDED; 600,000
epoch events in all). What is stored is what counts here, not the training:
the networks are one hidden layer of 8 each way (an epoch of the seed's
256-128-64 discriminator costs about 1 ms of CPU, 600,000 of them most of
the test's time), no checkpoint before the end (30 checkpoints and
snapshots a job, each fsynced, more than doubled a job's time) and 16
evaluation points; the events are the seed job's (64 preview points each).
Jobs take about 90 ms of gantryd's CPU each, and as long for the 2000th as
for the 10th (the per-wave rates are printed). The test

- reads gantryd's VmRSS (the least of a few readings, a second after the
  jobs end) once the first 10 jobs have ended, and again once all 2000 have,
  prints both and their ratio, and asserts the second is within 1.5x of the
  first;
- stops gantryd (SIGTERM), starts it again on the same directory, prints the
  time from exec to health SERVING, and asserts that the restarted server's
  resident memory is within 1.5x of the first reading too (a start that
  read every stored event would not be; a wall time is printed, never
  asserted);
- checks after the restart that random old jobs SUCCEEDED with 300 epochs,
  that WatchJob from seq 1 replays a whole job (303 events, seqs 1..303
  contiguous, in the order above) and that ListJobs pages through all 2000
  jobs (page_size 1000: two pages).

Both figures are printed before anything is asserted, so a failing run still
reports them. Jobs are submitted in waves: CreateJob is tried until the queue
is full (RESOURCE_EXHAUSTED) and again after a pause.

    /usr/bin/python3 tests/e2e/scale_test.py --gantryd build/bin/gantryd [--jobs 2000]
"""
import argparse
import os
import random
import shutil
import sys
import tempfile
import time
import unittest

from gantry_testlib import Gantryd, generate_stubs, proc_kib

ARGS = None
pb = grpc = None

EPOCHS = 300
FIRST = 10                 # RSS baseline: after this many jobs have ended
MAX_CONCURRENT = 2
MAX_QUEUED = 500           # the queue limit the feeder keeps hitting
RSS_RATIO_LIMIT = 1.5
HIDDEN = 8                 # one hidden layer of 8 units in both networks
EVAL_POINTS = 16           # the least the spec allows
MIB = 1024.0


def setUpModule():
    global pb, grpc
    ARGS.stubs = tempfile.TemporaryDirectory()
    generate_stubs(ARGS.stubs.name)
    import grpc as grpc_module
    from gantry.v1 import gantry_pb2
    grpc = grpc_module
    pb = gantry_pb2


def log(msg):
    print(f"[scale] {msg}", flush=True)


def settled_rss_kib(pid, readings=5, settle=1.0, gap=0.2):
    """The least VmRSS of a few readings, `settle` seconds after now."""
    time.sleep(settle)
    low = None
    for _ in range(readings):
        kib = proc_kib(pid, "VmRSS")
        low = kib if low is None else min(low, kib)
        time.sleep(gap)
    return low


class ScaleTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.data = os.path.join(self.tmp.name, "data")
        # A copy, so that both runs are the same build even if the build
        # directory is rebuilt while the test runs (gantryd has no RPATH).
        self.binary = os.path.join(self.tmp.name, "gantryd")
        shutil.copy2(ARGS.gantryd, self.binary)
        self.server = Gantryd(self.binary, self.data,
                              extra=["--max-concurrent-jobs", str(MAX_CONCURRENT),
                                     "--max-queued-jobs", str(MAX_QUEUED), "--log-level", "warn"])
        self.channel = None

    def tearDown(self):
        if self.channel is not None:
            self.channel.close()
        if self.server.proc is not None and self.server.proc.poll() is None:
            self.server.stop()
        self.tmp.cleanup()

    def spec(self):
        # This test measures what stays in memory, not training: small
        # networks (the seed's discriminator would make the 600,000 epochs
        # most of the test's time), evaluated on the first and last epoch
        # only on few points, and no checkpoint before the end.
        return pb.JobSpec(epochs=EPOCHS, batch_size=64, dataset=pb.Dataset(size=64),
                          generator_hidden=pb.LayerSizes(sizes=[HIDDEN]),
                          discriminator_hidden=pb.LayerSizes(sizes=[HIDDEN]),
                          eval_every=EPOCHS, eval_points=EVAL_POINTS, checkpoint_every=EPOCHS)

    def create(self, stub, i):
        """CreateJob for job i, waiting while the queue is full."""
        while True:
            try:
                return stub.CreateJob(pb.CreateJobRequest(spec=self.spec(), name=f"scale-{i}",
                                                          request_id=f"scale-{i}"), timeout=60).id
            except grpc.RpcError as e:
                if e.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
                    raise
                time.sleep(0.5)

    def wait_ended(self, stub, job_ids, timeout):
        """Waits until every job of `job_ids` has ended; returns them."""
        deadline = time.monotonic() + timeout
        ended = {}
        pending = list(job_ids)
        while pending:
            job = stub.GetJob(pb.GetJobRequest(job_id=pending[0]), timeout=60)
            if job.state in (pb.JOB_STATE_QUEUED, pb.JOB_STATE_RUNNING):
                self.assertLess(time.monotonic(), deadline, f"job {job.id} still {job.state}")
                time.sleep(0.2)
                continue
            ended[job.id] = job
            pending.pop(0)
        return ended

    def list_all(self, stub):
        """Every job through ListJobs in pages of 1000: (pages, jobs)."""
        pages, jobs, token = 0, [], ""
        while True:
            page = stub.ListJobs(pb.ListJobsRequest(page_size=1000, page_token=token), timeout=120)
            pages += 1
            jobs.extend(page.jobs)
            token = page.next_page_token
            if not token:
                return pages, jobs
            self.assertLess(pages, 100, "ListJobs does not end")

    def test_memory_and_restart_with_2000_ended_jobs(self):
        n = ARGS.jobs
        started = time.monotonic()
        self.server.start()
        pid = self.server.proc.pid
        self.channel, stub = self.server.connect()
        idle_kib = settled_rss_kib(pid, settle=0.5)

        # The first 10 alone, so that the baseline is an idle server with 10
        # ended jobs, as is the reading after all of them.
        ids = [self.create(stub, i) for i in range(FIRST)]
        for job in self.wait_ended(stub, ids, timeout=300).values():
            self.assertEqual(job.state, pb.JOB_STATE_SUCCEEDED, job.error)
        rss_first_kib = settled_rss_kib(pid)
        log(f"idle RSS {idle_kib / MIB:.1f} MiB; after {FIRST} jobs {rss_first_kib / MIB:.1f} MiB")

        # The rest in waves: as many as the queue takes, then a pause.
        t_submit = time.monotonic()
        next_report, t_wave = 250, t_submit
        for i in range(FIRST, n):
            ids.append(self.create(stub, i))
            if i + 1 >= next_report:
                # Once the queue is full, a wave of 250 submitted is a wave
                # of 250 ended: its rate is the server's, which must not fall
                # as ended jobs accumulate.
                now = time.monotonic()
                log(f"{i + 1}/{n} submitted, {now - t_submit:.0f} s "
                    f"({(now - t_wave) / 250 * 1000:.0f} ms a job in this wave)")
                next_report, t_wave = next_report + 250, now
        # FIFO with two workers: once the last few have ended, all have.
        self.wait_ended(stub, ids[-4 * MAX_CONCURRENT:], timeout=3600)
        train_s = time.monotonic() - t_submit
        rss_all_kib = settled_rss_kib(pid)

        pages, jobs = self.list_all(stub)
        states = {}
        for job in jobs:
            states[job.state] = states.get(job.state, 0) + 1
        self.assertEqual(states, {pb.JOB_STATE_SUCCEEDED: n},
                         {pb.JobState.Name(s): c for s, c in states.items()})
        events = sum(job.last_seq for job in jobs)
        epoch_events = sum(job.epochs_done for job in jobs)
        ratio = rss_all_kib / rss_first_kib
        log(f"{n} jobs trained in {train_s:.0f} s ({train_s / (n - FIRST) * 1000:.0f} ms a job, "
            f"{MAX_CONCURRENT} at once)")
        log(f"RSS after {FIRST} jobs: {rss_first_kib / MIB:.1f} MiB; after {n} jobs "
            f"({epoch_events:,} epoch events, {events:,} events): {rss_all_kib / MIB:.1f} MiB "
            f"(ratio {ratio:.2f})")

        # Restart on the same directory: exec to SERVING.
        self.channel.close()
        self.channel = None
        self.assertEqual(self.server.stop(), 0)
        t0 = time.monotonic()
        self.server.start(wait=False)
        self.server.wait_serving(timeout=600)
        restart_s = time.monotonic() - t0
        pid = self.server.proc.pid
        rss_restart_kib = proc_kib(pid, 'VmRSS')
        log(f"restart to SERVING: {restart_s:.3f} s "
            f"(RSS then {rss_restart_kib / MIB:.1f} MiB)")
        self.channel, stub = self.server.connect()

        # The stored jobs after the restart.
        rng = random.Random(9)
        for job_id in rng.sample(ids, 5):
            job = stub.GetJob(pb.GetJobRequest(job_id=job_id), timeout=60)
            self.assertEqual(job.state, pb.JOB_STATE_SUCCEEDED, job_id)
            self.assertEqual(job.epochs_done, EPOCHS, job_id)
            self.assertEqual(job.last_seq, EPOCHS + 3, job_id)
        replayed = rng.choice(ids)
        events = list(stub.WatchJob(pb.WatchJobRequest(job_id=replayed, from_seq=1), timeout=120))
        self.assertEqual([e.seq for e in events], list(range(1, EPOCHS + 4)), replayed)
        kinds = [e.state.state if e.HasField("state") else ("epoch", e.epoch.epoch) for e in events]
        self.assertEqual(kinds, [pb.JOB_STATE_QUEUED, pb.JOB_STATE_RUNNING]
                         + [("epoch", k) for k in range(1, EPOCHS + 1)] + [pb.JOB_STATE_SUCCEEDED])
        pages, jobs = self.list_all(stub)
        self.assertEqual(pages, (n + 999) // 1000)
        self.assertEqual(len(jobs), n)
        self.assertEqual({job.id for job in jobs}, set(ids))
        self.assertTrue(all(job.state == pb.JOB_STATE_SUCCEEDED for job in jobs))
        log(f"after restart: 5 random jobs SUCCEEDED with {EPOCHS} epochs, {len(events)} events "
            f"replayed, ListJobs {len(jobs)} jobs in {pages} pages; "
            f"whole test {time.monotonic() - started:.0f} s")

        # The figures, last, so that both are printed whatever fails.
        self.assertLessEqual(ratio, RSS_RATIO_LIMIT,
                             f"RSS grew from {rss_first_kib / MIB:.1f} MiB after {FIRST} jobs to "
                             f"{rss_all_kib / MIB:.1f} MiB after {n}")
        self.assertLessEqual(rss_restart_kib / rss_first_kib, RSS_RATIO_LIMIT,
                             f"the restarted server holds {rss_restart_kib / MIB:.1f} MiB: "
                             "its start read what is stored")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--gantryd", required=True)
    ap.add_argument("--jobs", type=int, default=2000, help="jobs in all (default 2000, the issue's figure)")
    ARGS, rest = ap.parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
