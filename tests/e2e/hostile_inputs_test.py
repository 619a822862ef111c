"""Hostile and odd inputs against a real gantryd (issue 14's findings): each
case failed before its fix. Requests at and past every limit are answered
with the right status and a message that names the field; a cancel is never
lost, and acts within a long batch; the data directory is private whatever
the umask, and an ended job keeps its generator snapshots but no trainer
checkpoints; admission by memory refuses a job too large for its limit,
makes a queued job wait for room, and its estimate is not below the memory a
job really takes."""
import argparse
import glob
import os
import stat
import subprocess
import sys
import tempfile
import time
import unittest

from gantry_testlib import Gantryd, generate_stubs, measure_peak, proc_kib

ARGS = None
pb = grpc = None


def setUpModule():
    global pb, grpc
    ARGS.stubs = tempfile.TemporaryDirectory()
    generate_stubs(ARGS.stubs.name)
    import grpc as grpc_module
    from gantry.v1 import gantry_pb2
    grpc = grpc_module
    pb = gantry_pb2


class HostileInputsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.data = os.path.join(cls.tmp.name, "data")
        old = os.umask(0o022)  # the usual umask: files would be world-readable
        try:
            cls.server = Gantryd(ARGS.gantryd, cls.data, extra=["--max-concurrent-jobs", "2"])
            cls.server.start()
        finally:
            os.umask(old)
        cls.channel, cls.stub = cls.server.connect()

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        cls.server.stop()
        cls.tmp.cleanup()

    def expect_error(self, code, text, call, request):
        with self.assertRaises(grpc.RpcError) as ctx:
            call(request, timeout=30)
        self.assertEqual(ctx.exception.code(), code, ctx.exception.details())
        self.assertIn(text, ctx.exception.details())

    def wait_state(self, job_id, states, timeout=120):
        deadline = time.time() + timeout
        while time.time() < deadline:
            job = self.stub.GetJob(pb.GetJobRequest(job_id=job_id))
            if job.state in states:
                return job
            time.sleep(0.05)
        self.fail(f"job {job_id} did not reach {states}")

    def test_list_limits(self):
        invalid = grpc.StatusCode.INVALID_ARGUMENT
        self.expect_error(invalid, "page_size: 1001 is out of range 0..1000", self.stub.ListJobs,
                          pb.ListJobsRequest(page_size=1001))
        self.expect_error(invalid, "page_size: -1 is out of range 0..1000", self.stub.ListJobs,
                          pb.ListJobsRequest(page_size=-1))
        self.expect_error(invalid, "state: 99 is not a JobState", self.stub.ListJobs,
                          pb.ListJobsRequest(state=99))
        self.stub.ListJobs(pb.ListJobsRequest(page_size=1000), timeout=30)

    def test_hostile_ids_are_escaped_and_truncated(self):
        # A newline and a forged log line, a NUL, and an id of a megabyte:
        # NOT_FOUND each time, the id escaped and cut in the message.
        for bad in ("j-1\n[2026-01-01 00:00:00] [gantryd] [info] job j-x SUCCEEDED", "j-\x00zz"):
            with self.assertRaises(grpc.RpcError) as ctx:
                self.stub.GetJob(pb.GetJobRequest(job_id=bad), timeout=30)
            self.assertEqual(ctx.exception.code(), grpc.StatusCode.NOT_FOUND)
            self.assertNotIn("\n", ctx.exception.details())
            self.assertNotIn("\x00", ctx.exception.details())
        self.expect_error(grpc.StatusCode.NOT_FOUND, "j-1\\n[2026", self.stub.GetJob,
                          pb.GetJobRequest(job_id="j-1\n[2026"))
        with self.assertRaises(grpc.RpcError) as ctx:
            self.stub.GetJob(pb.GetJobRequest(job_id="j-" + "x" * 1_000_000), timeout=30)
        self.assertEqual(ctx.exception.code(), grpc.StatusCode.NOT_FOUND)
        self.assertLess(len(ctx.exception.details()), 300)
        self.assertIn("(1000002 bytes)", ctx.exception.details())
        self.expect_error(grpc.StatusCode.INVALID_ARGUMENT, "(20000 bytes)", self.stub.ListJobs,
                          pb.ListJobsRequest(page_token="9" * 20000))
        # The log has one line per RPC, with the id escaped: no forged line, no megabyte line.
        with open(self.server.log_path, errors="replace") as f:
            log = f.read()
        self.assertNotIn("\n[2026-01-01 00:00:00] [gantryd] [info] job j-x SUCCEEDED", log)
        self.assertIn("job=j-1\\n[2026-01-01 00:00:00]", log)
        self.assertLess(max(len(line) for line in log.splitlines()), 2000)

    def reflection_services(self, address, metadata=()):
        """list_services through gRPC reflection (a hand-encoded request:
        field 7, list_services, an empty string)."""
        channel = grpc.insecure_channel(address)
        try:
            call = channel.stream_stream("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
                                         request_serializer=None, response_deserializer=None)
            return b"".join(call(iter([b"\x3a\x00"]), metadata=metadata, timeout=10))
        finally:
            channel.close()

    def test_reflection_only_when_allowed(self):
        self.assertIn(b"gantry.v1.Gantry", self.reflection_services(self.server.address))
        token = os.path.join(self.tmp.name, "token")
        with open(token, "w") as f:
            f.write("s3cret\n")
        for extra in (["--no-reflection"], ["--auth-token-file", token]):
            other = Gantryd(ARGS.gantryd, os.path.join(self.tmp.name, "r" + str(len(extra[-1]))),
                            extra=extra)
            other.start()
            try:
                for metadata in ((), (("authorization", "Bearer s3cret"),)):
                    with self.assertRaises(grpc.RpcError) as ctx:
                        self.reflection_services(other.address, metadata)
                    self.assertEqual(ctx.exception.code(), grpc.StatusCode.UNIMPLEMENTED, extra)
                if "--auth-token-file" in extra:
                    # The scheme is case-insensitive (RFC 7235); the token is not.
                    ch = grpc.insecure_channel(other.address)
                    from gantry.v1 import gantry_pb2_grpc
                    stub = gantry_pb2_grpc.GantryStub(ch)
                    for scheme in ("Bearer", "bearer", "BEARER"):
                        stub.ListJobs(pb.ListJobsRequest(), metadata=(("authorization", f"{scheme} s3cret"),),
                                      timeout=10)
                    with self.assertRaises(grpc.RpcError) as ctx:
                        stub.ListJobs(pb.ListJobsRequest(), metadata=(("authorization", "bearer S3CRET"),),
                                      timeout=10)
                    self.assertEqual(ctx.exception.code(), grpc.StatusCode.UNAUTHENTICATED)
                    ch.close()
            finally:
                self.assertEqual(other.stop(), 0)

    def test_bad_tls_files_are_named(self):
        d = self.tmp.name
        for name in ("a", "b"):
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                            "-subj", "/CN=localhost", "-keyout", f"{d}/{name}.key", "-out", f"{d}/{name}.crt"],
                           check=True, capture_output=True)
        with open(f"{d}/junk.pem", "w") as f:
            f.write("not a key\n")
        cases = [(f"{d}/a.crt", f"{d}/junk.pem", f"--tls-key {d}/junk.pem: not a PEM private key"),
                 (f"{d}/junk.pem", f"{d}/a.key", f"--tls-cert {d}/junk.pem: not a PEM certificate"),
                 (f"{d}/a.crt", f"{d}/b.key", f"--tls-key {d}/b.key is not the key of --tls-cert {d}/a.crt")]
        for cert, key, message in cases:
            r = subprocess.run([ARGS.gantryd, "--listen", "127.0.0.1:0", "--data-dir", f"{d}/tls-data",
                                "--tls-cert", cert, "--tls-key", key], capture_output=True, text=True, timeout=60)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn(message, r.stderr)
            self.assertNotIn("address in use", r.stderr)

    def test_names_count_characters_not_bytes(self):
        spec = pb.JobSpec(epochs=1, dataset=pb.Dataset(size=64))
        job = self.stub.CreateJob(pb.CreateJobRequest(spec=spec, name="\U0001F600" * 200))
        self.assertEqual(job.name, "\U0001F600" * 200)
        self.expect_error(grpc.StatusCode.INVALID_ARGUMENT, "name: 201 characters is out of range 0..200",
                          self.stub.CreateJob, pb.CreateJobRequest(spec=spec, name="\u00e9" * 201))

    def test_out_of_range_value_is_printed_exactly(self):
        self.expect_error(grpc.StatusCode.INVALID_ARGUMENT,
                          "learning_rate: 10.0000001 is out of range (0, 10]", self.stub.CreateJob,
                          pb.CreateJobRequest(spec=pb.JobSpec(learning_rate=10.0000001)))

    def test_user_data_size_must_match_its_rows(self):
        points = pb.Points(dim=2, values=[0, 0, 1, 1, 2, 2])
        self.expect_error(grpc.StatusCode.INVALID_ARGUMENT,
                          "dataset.size: 5 is not the 3 rows of dataset.points", self.stub.CreateJob,
                          pb.CreateJobRequest(spec=pb.JobSpec(dataset=pb.Dataset(
                              kind=pb.DATASET_KIND_USER, size=5, points=points))))
        # The effective spec (size = rows) is accepted back as it is.
        job = self.stub.CreateJob(pb.CreateJobRequest(spec=pb.JobSpec(epochs=1, batch_size=2, dataset=pb.Dataset(
            kind=pb.DATASET_KIND_USER, size=3, points=points))))
        self.assertEqual(job.spec.dataset.size, 3)

    def test_retry_that_spells_out_a_default_is_the_same_request(self):
        first = self.stub.CreateJob(pb.CreateJobRequest(
            spec=pb.JobSpec(epochs=1, dataset=pb.Dataset(size=64)), request_id="retry-1"))
        again = self.stub.CreateJob(pb.CreateJobRequest(
            spec=pb.JobSpec(epochs=1, seed=111, dropout=0.3, dataset=pb.Dataset(size=64)),
            request_id="retry-1"))
        self.assertEqual(first.id, again.id)
        self.expect_error(grpc.StatusCode.ALREADY_EXISTS, "with a different spec, name or labels",
                          self.stub.CreateJob, pb.CreateJobRequest(
                              spec=pb.JobSpec(epochs=1, seed=112, dataset=pb.Dataset(size=64)),
                              request_id="retry-1"))

    def test_sample_epoch_below_one_is_invalid(self):
        job = self.stub.CreateJob(pb.CreateJobRequest(spec=pb.JobSpec(epochs=1, dataset=pb.Dataset(size=64))))
        self.wait_state(job.id, {pb.JOB_STATE_SUCCEEDED})
        for epoch in (-1, 0):
            self.expect_error(grpc.StatusCode.INVALID_ARGUMENT, f"epoch: {epoch} is out of range 1..1",
                              self.stub.Sample, pb.SampleRequest(job_id=job.id, count=4, epoch=epoch))

    def test_cancel_during_a_single_long_batch_is_not_lost(self):
        # One epoch of one batch over 100,000 points (several seconds of
        # training, milliseconds of set-up): the cancel lands mid-batch.
        spec = pb.JobSpec(epochs=1, batch_size=100000, dataset=pb.Dataset(size=100000),
                          discriminator_hidden=pb.LayerSizes(sizes=[256, 256]))
        job = self.stub.CreateJob(pb.CreateJobRequest(spec=spec))
        self.wait_state(job.id, {pb.JOB_STATE_RUNNING})
        time.sleep(1.5)
        self.stub.CancelJob(pb.CancelJobRequest(job_id=job.id))
        done = self.wait_state(job.id, {pb.JOB_STATE_SUCCEEDED, pb.JOB_STATE_FAILED, pb.JOB_STATE_CANCELLED},
                               timeout=600)
        self.assertEqual(done.state, pb.JOB_STATE_CANCELLED)

    def test_cancel_acts_within_a_long_batch(self):
        # One epoch of one batch of 100,000 rows: the cancel, sent a third of
        # the way into it, acts between two layers, not at the batch's end.
        # Six narrow layers, so that no one GEMM is more than a few percent
        # of the batch.
        spec = pb.JobSpec(epochs=1, batch_size=100000, dataset=pb.Dataset(size=100000),
                          discriminator_hidden=pb.LayerSizes(sizes=[128] * 6))
        whole = self.stub.CreateJob(pb.CreateJobRequest(spec=spec))
        batch_seconds = self.wait_state(whole.id, {pb.JOB_STATE_SUCCEEDED}, timeout=600).latest.seconds
        job = self.stub.CreateJob(pb.CreateJobRequest(spec=spec))
        self.wait_state(job.id, {pb.JOB_STATE_RUNNING})
        time.sleep(batch_seconds / 3)
        start = time.monotonic()
        self.stub.CancelJob(pb.CancelJobRequest(job_id=job.id))
        done = self.wait_state(job.id, {pb.JOB_STATE_SUCCEEDED, pb.JOB_STATE_FAILED, pb.JOB_STATE_CANCELLED},
                               timeout=600)
        latency = time.monotonic() - start
        print(f"\nthe batch takes {batch_seconds:.2f} s; a cancel a third into it acted in "
              f"{latency:.2f} s", file=sys.stderr)
        self.assertEqual(done.state, pb.JOB_STATE_CANCELLED)
        # The job's one epoch is one batch: a cancel that waited for the batch
        # to end would leave a finished epoch behind (no wall-clock bound).
        self.assertEqual(done.epochs_done, 0, "the cancel waited for the batch to end")
        events = list(self.stub.WatchJob(pb.WatchJobRequest(job_id=job.id), timeout=60))
        self.assertFalse(any(e.HasField("epoch") for e in events), "an epoch event after the cancel")

    def test_private_files_and_no_checkpoints_once_ended(self):
        spec = pb.JobSpec(epochs=5, checkpoint_every=2, dataset=pb.Dataset(size=64))
        job = self.stub.CreateJob(pb.CreateJobRequest(spec=spec))
        self.wait_state(job.id, {pb.JOB_STATE_SUCCEEDED})
        job_dir = os.path.join(self.data, "jobs", job.id)
        # The runner deletes an ended job's checkpoints after it stores the
        # terminal event (a crash in between must not lose them), so a
        # client can see SUCCEEDED a moment before they go: wait for it.
        deadline = time.monotonic() + 60
        while glob.glob(os.path.join(job_dir, "checkpoint-*")) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(glob.glob(os.path.join(job_dir, "checkpoint-*")), [])
        snapshots = sorted(os.path.basename(p) for p in glob.glob(os.path.join(job_dir, "snapshot-*")))
        # Every checkpoint_every (2, 4), the last (5) and the first evaluation's
        # (1, a new best epoch; 5 is evaluated too).
        self.assertEqual(snapshots, ["snapshot-00000001.snap", "snapshot-00000002.snap",
                                     "snapshot-00000004.snap", "snapshot-00000005.snap"])
        for d in (self.data, os.path.join(self.data, "jobs"), job_dir):
            self.assertEqual(stat.S_IMODE(os.stat(d).st_mode), 0o700, d)
        files = [os.path.join(self.data, n) for n in ("gantry.db", "gantry.db-wal", "LOCK")]
        files += glob.glob(os.path.join(job_dir, "*"))
        for f in files:
            self.assertEqual(stat.S_IMODE(os.stat(f).st_mode), 0o600, f)


def wide(layers, width, **kw):
    return pb.JobSpec(generator_hidden=pb.LayerSizes(sizes=[width] * layers),
                      discriminator_hidden=pb.LayerSizes(sizes=[width] * layers), **kw)


class AdmissionTest(unittest.TestCase):
    """Admission by memory: gantryd estimates each job's peak memory from its
    spec (GetJob's memory_estimate_bytes) and decides by it."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.servers = []

    def tearDown(self):
        for ch, server in self.servers:
            ch.close()
            server.stop()
        self.tmp.cleanup()

    def start(self, *extra):
        server = Gantryd(ARGS.gantryd, os.path.join(self.tmp.name, f"data{len(self.servers)}"),
                         extra=list(extra))
        server.start()
        ch, stub = server.connect()
        self.servers.append((ch, server))
        return stub

    def test_kept_snapshots_are_not_held_in_memory(self):
        """Finding 2: kept generator snapshots stay in the store, not in RAM,
        and those read back for Sample stay within --snapshot-cache."""
        stub = self.start("--snapshot-cache", "16MiB")
        pid = self.servers[-1][1].proc.pid
        rss = lambda: proc_kib(pid, "VmRSS") * 1024  # noqa: E731
        before = rss()
        # A 1024x1024 generator: about 4 MiB per snapshot, one kept every epoch.
        spec = pb.JobSpec(epochs=60, checkpoint_every=1, batch_size=64,
                          generator_hidden=pb.LayerSizes(sizes=[1024, 1024]),
                          dataset=pb.Dataset(size=64))
        job = stub.CreateJob(pb.CreateJobRequest(spec=spec))
        for _ in stub.WatchJob(pb.WatchJobRequest(job_id=job.id), timeout=600):
            pass
        after_training = rss()
        for epoch in range(1, 41):
            r = stub.Sample(pb.SampleRequest(job_id=job.id, count=4, seed=1, epoch=epoch), timeout=60)
            self.assertEqual(r.epoch, epoch)
        after_sampling = rss()
        mib = 2 ** 20
        print(f"\nkept snapshots: RSS {before / mib:.0f} MiB before, {after_training / mib:.0f} MiB "
              f"after 60 kept snapshots of 4 MiB, {after_sampling / mib:.0f} MiB after sampling 40 "
              f"epochs through a 16 MiB cache", file=sys.stderr)
        # Held in memory they would be 240 MiB, and 160 MiB for the sampled ones.
        self.assertLess(after_training - before, 120 * mib)
        self.assertLess(after_sampling - before, 120 * mib)

    def test_a_job_beyond_the_limit_is_refused_naming_estimate_and_limit(self):
        stub = self.start("--max-job-memory", "1GiB", "--max-memory", "2GiB")
        # 16 layers of 4096 on both networks: gigabytes of parameters alone.
        with self.assertRaises(grpc.RpcError) as ctx:
            stub.CreateJob(pb.CreateJobRequest(spec=wide(16, 4096)), timeout=30)
        self.assertEqual(ctx.exception.code(), grpc.StatusCode.RESOURCE_EXHAUSTED)
        details = ctx.exception.details()
        self.assertIn("estimated", details)
        self.assertIn("GiB (model", details)
        self.assertIn("more than --max-job-memory 1.0 GiB", details)
        # A huge batch is refused too (its activations), before any allocation.
        with self.assertRaises(grpc.RpcError) as ctx:
            stub.CreateJob(pb.CreateJobRequest(spec=pb.JobSpec(
                batch_size=1000000, dataset=pb.Dataset(size=1000000))), timeout=30)
        self.assertEqual(ctx.exception.code(), grpc.StatusCode.RESOURCE_EXHAUSTED)
        self.assertIn("more than --max-job-memory", ctx.exception.details())
        # The seed job fits and shows its estimate.
        job = stub.CreateJob(pb.CreateJobRequest(spec=pb.JobSpec(epochs=1)))
        got = stub.GetJob(pb.GetJobRequest(job_id=job.id))
        self.assertGreater(got.memory_estimate_bytes, 1 << 20)
        self.assertLess(got.memory_estimate_bytes, 64 << 20)
        self.assertEqual(got.memory_estimate_bytes, job.memory_estimate_bytes)

    def test_bad_sizes_are_refused_at_start(self):
        for flag, value in (("--max-memory", "lots"), ("--max-job-memory", "-1GiB"),
                            ("--max-memory", "12XB")):
            r = subprocess.run([ARGS.gantryd, "--data-dir", os.path.join(self.tmp.name, "bad"),
                                flag, value], capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn(f"{flag}: '{value}' is not a size", r.stderr)

    def test_estimate_is_not_below_the_measured_peak(self):
        specs = {
            "4x1024, batch 256": wide(4, 1024, epochs=2, checkpoint_every=1, batch_size=256),
            "sine 200,000 points, batch 50,000": pb.JobSpec(
                epochs=1, batch_size=50000, dataset=pb.Dataset(size=200000)),
        }
        for name, spec in specs.items():
            estimate, peak = measure_peak(ARGS.gantryd, spec)
            print(f"\n{name}: estimate {estimate / 2**20:.1f} MiB, measured peak "
                  f"{peak / 2**20:.1f} MiB", file=sys.stderr)
            self.assertGreaterEqual(estimate, peak, name)

    def test_a_queued_job_waits_for_memory(self):
        spec = wide(4, 1024, epochs=3, batch_size=256)
        probe = self.start("--max-concurrent-jobs", "2")
        probe_job = probe.CreateJob(pb.CreateJobRequest(spec=spec))
        need = probe_job.memory_estimate_bytes
        probe.CancelJob(pb.CancelJobRequest(job_id=probe_job.id))
        # Two workers, but memory for one such job at a time.
        room = str(int(need * 1.5))
        stub = self.start("--max-concurrent-jobs", "2", "--max-memory", room, "--max-job-memory", room)
        a = stub.CreateJob(pb.CreateJobRequest(spec=spec, name="a"))
        b = stub.CreateJob(pb.CreateJobRequest(spec=spec, name="b"))
        saw_b_waiting = False
        deadline = time.time() + 600
        while time.time() < deadline:
            # b first: if b runs and a still runs after, they ran together.
            jb = stub.GetJob(pb.GetJobRequest(job_id=b.id))
            ja = stub.GetJob(pb.GetJobRequest(job_id=a.id))
            if ja.state == pb.JOB_STATE_RUNNING:
                self.assertNotEqual(jb.state, pb.JOB_STATE_RUNNING, "b started beside a")
                saw_b_waiting |= jb.state == pb.JOB_STATE_QUEUED
            if jb.state == pb.JOB_STATE_SUCCEEDED:
                break
            time.sleep(0.02)
        self.assertTrue(saw_b_waiting)
        self.assertEqual(ja.state, pb.JOB_STATE_SUCCEEDED)
        self.assertEqual(jb.state, pb.JOB_STATE_SUCCEEDED)
        a_end = ja.end_time.ToNanoseconds()
        self.assertGreaterEqual(jb.start_time.ToNanoseconds(), a_end, "b started before a ended")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--gantryd", required=True)
    ARGS, rest = ap.parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
