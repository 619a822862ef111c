#!/usr/bin/env python3
"""A client in another language: Python with python3-grpcio, against gantryd.

Generates the stubs at test time with protoc and /usr/bin/grpc_python_plugin,
starts a real gantryd on loopback, submits the seed job, follows its stream to
the end, checks every epoch's losses against the tutorial's program run in
the same test, and samples.

    python3 tests/e2e/python_client_test.py --gantryd build/bin/gantryd
"""
import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest

from gantry_testlib import ROOT, free_port, generate_stubs

ARGS = None


class PythonClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        generate_stubs(cls.tmp.name)
        import grpc
        from gantry.v1 import gantry_pb2, gantry_pb2_grpc
        from healthcheck import health_pb2, health_pb2_grpc
        cls.grpc, cls.pb, cls.health_pb = grpc, gantry_pb2, health_pb2
        cls.port = free_port()
        cls.server = subprocess.Popen(
            [ARGS.gantryd, "--listen", f"127.0.0.1:{cls.port}",
             "--data-dir", os.path.join(cls.tmp.name, "data"), "--log-level", "warn"])
        cls.channel = grpc.insecure_channel(f"127.0.0.1:{cls.port}")
        cls.stub = gantry_pb2_grpc.GantryStub(cls.channel)
        health = health_pb2_grpc.HealthStub(cls.channel)
        deadline = time.time() + 30
        while True:
            try:
                status = health.Check(health_pb2.HealthCheckRequest(), timeout=1).status
                if status == health_pb2.HealthCheckResponse.SERVING:
                    break
            except grpc.RpcError:
                pass
            if time.time() > deadline:
                raise RuntimeError("gantryd did not become SERVING")
            time.sleep(0.1)

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        cls.server.send_signal(signal.SIGTERM)
        rc = cls.server.wait(timeout=30)
        cls.tmp.cleanup()
        if rc != 0:
            raise RuntimeError(f"gantryd exited {rc} after SIGTERM")

    def test_seed_job_matches_the_reference_and_samples(self):
        reference = subprocess.Popen(
            [sys.executable, os.path.join(ROOT, "tests/reference/seed_program.py")],
            stdout=subprocess.PIPE, text=True, env=dict(os.environ, OPENBLAS_NUM_THREADS="1"))
        job = self.stub.CreateJob(self.pb.CreateJobRequest(name="seed from python",
                                                           spec=self.pb.JobSpec()))
        self.assertEqual(job.spec.epochs, 300)
        self.assertEqual(job.spec.seed, 111)
        losses, seqs, states = {}, [], []
        for event in self.stub.WatchJob(self.pb.WatchJobRequest(job_id=job.id)):
            seqs.append(event.seq)
            if event.HasField("epoch"):
                losses[event.epoch.epoch] = (event.epoch.last_loss_d, event.epoch.last_loss_g)
            else:
                states.append(event.state.state)
        out, _ = reference.communicate(timeout=600)
        self.assertEqual(reference.returncode, 0)
        self.assertEqual(seqs, list(range(1, len(seqs) + 1)))
        self.assertEqual(states, [self.pb.JOB_STATE_QUEUED, self.pb.JOB_STATE_RUNNING,
                                  self.pb.JOB_STATE_SUCCEEDED])
        ref = {}
        for line in out.splitlines():
            w = line.split()
            ref[int(w[1]) + 1] = (float(w[3]), float(w[5]))  # gantry counts epochs from 1
        self.assertEqual(sorted(losses), list(range(1, 301)))
        self.assertEqual(sorted(ref), list(range(1, 301)))
        for epoch in range(1, 301):
            self.assertAlmostEqual(losses[epoch][0], ref[epoch][0], delta=1e-6, msg=f"epoch {epoch}")
            self.assertAlmostEqual(losses[epoch][1], ref[epoch][1], delta=1e-6, msg=f"epoch {epoch}")

        a = self.stub.Sample(self.pb.SampleRequest(job_id=job.id, count=1000, seed=7))
        b = self.stub.Sample(self.pb.SampleRequest(job_id=job.id, count=1000, seed=7))
        self.assertEqual(a.seed, 7)
        self.assertEqual(a.epoch, 300)
        self.assertEqual(a.points.dim, 2)
        self.assertEqual(len(a.points.values), 2000)
        self.assertEqual(list(a.points.values), list(b.points.values))
        import math
        xs, ys = a.points.values[0::2], a.points.values[1::2]
        err = sum(abs(y - math.sin(x)) for x, y in zip(xs, ys)) / len(xs)
        self.assertLess(err, 0.15, "a trained seed job's samples lie near the sine curve")

    def test_errors_arrive_as_status_codes(self):
        with self.assertRaises(self.grpc.RpcError) as e:
            self.stub.CreateJob(self.pb.CreateJobRequest(spec=self.pb.JobSpec(epochs=0)))
        self.assertEqual(e.exception.code(), self.grpc.StatusCode.INVALID_ARGUMENT)
        self.assertEqual(e.exception.details(), "epochs: 0 is out of range 1..100000")
        with self.assertRaises(self.grpc.RpcError) as e:
            self.stub.GetJob(self.pb.GetJobRequest(job_id="j-missing"))
        self.assertEqual(e.exception.code(), self.grpc.StatusCode.NOT_FOUND)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--gantryd", default=os.path.join(ROOT, "build/bin/gantryd"))
    ARGS, rest = ap.parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
