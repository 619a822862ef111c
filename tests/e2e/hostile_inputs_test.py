"""Hostile and odd inputs against a real gantryd (issue 14's findings): each
case failed before its fix. Requests at and past every limit are answered
with the right status and a message that names the field; a cancel is never
lost; the data directory is private whatever the umask, and an ended job
keeps its generator snapshots but no trainer checkpoints."""
import argparse
import glob
import os
import stat
import subprocess
import sys
import tempfile
import time
import unittest

from gantry_testlib import Gantryd, generate_stubs

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
        self.expect_error(grpc.StatusCode.ALREADY_EXISTS, "with a different spec or name",
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

    def test_private_files_and_no_checkpoints_once_ended(self):
        spec = pb.JobSpec(epochs=5, checkpoint_every=2, dataset=pb.Dataset(size=64))
        job = self.stub.CreateJob(pb.CreateJobRequest(spec=spec))
        self.wait_state(job.id, {pb.JOB_STATE_SUCCEEDED})
        job_dir = os.path.join(self.data, "jobs", job.id)
        self.assertEqual(glob.glob(os.path.join(job_dir, "checkpoint-*")), [])
        snapshots = sorted(os.path.basename(p) for p in glob.glob(os.path.join(job_dir, "snapshot-*")))
        self.assertEqual(snapshots, ["snapshot-00000002.snap", "snapshot-00000004.snap",
                                     "snapshot-00000005.snap"])
        for d in (self.data, os.path.join(self.data, "jobs"), job_dir):
            self.assertEqual(stat.S_IMODE(os.stat(d).st_mode), 0o700, d)
        files = [os.path.join(self.data, n) for n in ("gantry.db", "gantry.db-wal", "LOCK")]
        files += glob.glob(os.path.join(job_dir, "*"))
        for f in files:
            self.assertEqual(stat.S_IMODE(os.stat(f).st_mode), 0o600, f)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--gantryd", required=True)
    ARGS, rest = ap.parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
