#!/usr/bin/env python3
"""The Python package (client/python, built into build/python by the
gantry_python target) against a real gantryd: submit with keyword arguments
and a dict spec, short enum names, get and jobs by label, watch resuming
across a gantryd killed and restarted mid-job, wait, sample into NumPy
(Sample and SampleStream, seeds, the best epoch), export, cancel, delete,
errors carrying gantry's messages, and the example script end to end.

    python3 tests/e2e/python_package_test.py --gantryd build/bin/gantryd --python build/python
"""
import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
import unittest

from gantry_testlib import ROOT, Gantryd

ARGS = None
gantry = None  # imported from --python in main


def start_serving(server):
    """Starts `server` and waits until the package's own health() says SERVING."""
    server.start(wait=False)
    deadline = time.monotonic() + 120
    with gantry.Client(server.address, timeout=1) as client:
        while True:
            try:
                if client.health() == "SERVING":
                    return
            except gantry.GantryError:
                pass
            if server.proc.poll() is not None:
                raise RuntimeError(f"gantryd exited {server.proc.returncode}; see {server.log_path}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"gantryd did not become SERVING; see {server.log_path}")
            time.sleep(0.05)


class PythonPackageTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.server = Gantryd(ARGS.gantryd, os.path.join(cls.tmp.name, "data"),
                             extra=["--log-level", "warn"])
        start_serving(cls.server)
        cls.client = gantry.Client(cls.server.address)
        # One small evaluated ring8 job, shared by the sampling tests.
        cls.ring = cls.client.submit(dataset="ring8", epochs=30, eval_every=5,
                                     name="shared-ring", labels={"suite": "pkg"})
        assert cls.ring.wait() == "SUCCEEDED", cls.ring.error

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        cls.server.stop()
        cls.tmp.cleanup()

    def test_submit_with_kwargs_and_short_enum_names(self):
        job = self.client.submit(dataset="ring8", loss="WGAN-GP", epochs=2, seed=5,
                                 generator_hidden=[8, 8], name="kw", labels={"grp": "kw"})
        self.assertEqual(job.spec.dataset.kind, gantry.pb.DATASET_KIND_RING8)
        self.assertEqual(job.spec.loss, "wgan_gp")
        self.assertEqual(list(job.spec.generator_hidden.sizes), [8, 8])
        self.assertEqual((job.spec.epochs, job.spec.seed), (2, 5))
        self.assertEqual((job.name, job.labels), ("kw", {"grp": "kw"}))
        self.assertIn(job.state, ("QUEUED", "RUNNING", "SUCCEEDED"))
        self.assertEqual(job.wait(), "SUCCEEDED")
        self.assertEqual(job.epochs_done, 2)

    def test_submit_with_a_dict_spec(self):
        spec = {"dataset": {"kind": "two-moons", "size": 256}, "batchSize": 16,
                "epochs": 9, "discriminator_hidden": {"sizes": [16]}}
        job = self.client.submit(spec, epochs=3, name="dict")  # kwargs over the dict
        self.assertEqual(job.spec.dataset.kind, gantry.pb.DATASET_KIND_TWO_MOONS)
        self.assertEqual((job.spec.dataset.size, job.spec.batch_size, job.spec.epochs), (256, 16, 3))
        self.assertEqual(list(job.spec.discriminator_hidden.sizes), [16])
        # A JobSpec message works the same; user points as a list of rows.
        job2 = self.client.submit(gantry.pb.JobSpec(epochs=2),
                                  dataset=[[i * 0.1, (i % 7) * 0.2] for i in range(64)])
        self.assertEqual(job2.spec.dataset.kind, gantry.pb.DATASET_KIND_USER)
        self.assertEqual(job2.proto.dataset_rows, 64)
        self.assertEqual(job.wait(), "SUCCEEDED")
        self.assertEqual(job2.wait(), "SUCCEEDED")

    def test_bad_inputs_are_named(self):
        with self.assertRaises(gantry.InvalidArgument) as e:
            self.client.submit(epoch=3)
        self.assertIn("unknown field 'epoch'; did you mean 'epochs'?", e.exception.message)
        with self.assertRaises(gantry.InvalidArgument) as e:
            self.client.submit(dataset="ring9")
        self.assertIn("dataset.kind: unknown name 'ring9'", e.exception.message)
        self.assertIn("did you mean 'ring8'?", e.exception.message)
        with self.assertRaises(gantry.InvalidArgument) as e:
            self.client.submit({"dataset": {"knd": "ring8"}})
        self.assertIn("unknown field 'knd'", e.exception.message)
        with self.assertRaises(gantry.InvalidArgument) as e:
            self.client.jobs(state="sleeping")
        self.assertIn("state: unknown name 'sleeping'", e.exception.message)
        # gantryd's own checks arrive with its message and code.
        with self.assertRaises(gantry.InvalidArgument) as e:
            self.client.submit(epochs=0)
        self.assertEqual(e.exception.code, "INVALID_ARGUMENT")
        self.assertEqual(e.exception.message, "epochs: 0 is out of range 1..100000")
        self.assertIsInstance(e.exception, ValueError)
        with self.assertRaises(gantry.NotFound) as e:
            self.client.get("j-missing")
        self.assertEqual(e.exception.code, "NOT_FOUND")
        self.assertIn("not found", e.exception.message)
        self.assertIsInstance(e.exception, gantry.GantryError)
        for bad in (dict(n=0), dict(n=10, epoch="worst"), dict(n=10, seed=-1)):
            with self.assertRaises(gantry.InvalidArgument):
                self.ring.sample(**bad)
        with self.assertRaises(gantry.NotFound) as e:
            self.ring.sample(10, epoch=4)  # not a kept snapshot
        self.assertIn("kept", e.exception.message)

    def test_get_and_jobs_by_label(self):
        a = self.client.submit(epochs=1, dataset="circle", labels={"team": "lbl", "n": "1"})
        b = self.client.submit(epochs=1, dataset="circle", labels={"team": "lbl", "n": "2"})
        c = self.client.submit(epochs=1, dataset="circle", labels={"team": "other"})
        for j in (a, b, c):
            self.assertEqual(j.wait(), "SUCCEEDED")
        got = self.client.get(a.id)
        self.assertEqual((got.id, got.labels, got.state), (a.id, {"team": "lbl", "n": "1"}, "SUCCEEDED"))
        self.assertEqual([j.id for j in self.client.jobs(labels={"team": "lbl"})], [b.id, a.id])
        # Every page: one job a page.
        self.assertEqual([j.id for j in self.client.jobs(labels="team=lbl", page_size=1)],
                         [b.id, a.id])
        self.assertEqual([j.id for j in self.client.jobs(labels={"team": "lbl", "n": "2"})], [b.id])
        self.assertEqual([j.id for j in self.client.jobs(state="succeeded", labels={"team": "other"})],
                         [c.id])
        self.assertEqual(list(self.client.jobs(state="RUNNING", labels={"team": "other"})), [])
        self.assertIsInstance(self.client.tables(), list)

    def test_watch_resumes_across_a_restart(self):
        with tempfile.TemporaryDirectory() as tmp:
            server = Gantryd(ARGS.gantryd, os.path.join(tmp, "data"), extra=["--log-level", "warn"])
            start_serving(server)
            try:
                with gantry.Client(server.address) as client:
                    job = client.submit(dataset="ring8", epochs=400, checkpoint_every=5,
                                        eval_every=50, name="restart")
                    events, restarted = [], False
                    for event in job.watch():
                        events.append(event)
                        if isinstance(event, gantry.EpochEvent) and event.epoch == 12 and not restarted:
                            running = client.get(job.id)
                            self.assertEqual(running.state, "RUNNING",
                                             "the restart must come mid-job")
                            self.assertLess(running.epochs_done, 400)
                            server.kill()
                            server.start(wait=False)  # the iterator reconnects by itself
                            restarted = True
                    self.assertTrue(restarted)
                    seqs = [e.seq for e in events]
                    self.assertEqual(seqs, list(range(1, len(events) + 1)), "no gap, no duplicate")
                    epochs = [e.epoch for e in events if isinstance(e, gantry.EpochEvent)]
                    self.assertEqual(epochs, list(range(1, 401)))
                    self.assertEqual([e.state for e in events if isinstance(e, gantry.StateEvent)][-1],
                                     "SUCCEEDED")
                    last = [e for e in events if isinstance(e, gantry.EpochEvent)][-1]
                    self.assertGreater(last.best_epoch, 0)
                    self.assertIn("sliced_w1", last.best_metrics)
                    self.assertEqual(last.preview.shape, (64, 2))
                    self.assertEqual(job.wait(), "SUCCEEDED")
                    self.assertEqual(job.epochs_done, 400)
                    # from_seq is inclusive; an ended job replays and ends.
                    replay = list(job.watch(from_seq=5))
                    self.assertEqual([e.seq for e in replay], seqs[4:])
                    self.assertEqual(replay[-1], events[-1])
                    # Two EpochEvents of one epoch (live and replayed) compare equal,
                    # their preview arrays left out, and hash alike.
                    live = [e for e in events if isinstance(e, gantry.EpochEvent)]
                    again = [e for e in replay if isinstance(e, gantry.EpochEvent)]
                    self.assertIsNot(live[-1], again[-1])
                    self.assertEqual(live[-1], again[-1])
                    self.assertNotEqual(live[-1], live[-2])
                    self.assertEqual(hash(live[-1]), hash(again[-1]))
                    self.assertEqual(len({live[-1], again[-1], live[-2]}), 2)
            finally:
                server.stop()

    def test_sample(self):
        import numpy as np
        job = self.client.get(self.ring.id)
        a = job.sample(1000, seed=7)
        self.assertIsInstance(a, np.ndarray)
        self.assertEqual((a.shape, a.dtype), ((1000, 2), np.float32))
        self.assertTrue(np.array_equal(a, job.sample(1000, seed=7)), "the same seed, the same points")
        self.assertFalse(np.array_equal(a, job.sample(1000, seed=8)))
        self.assertTrue(np.isfinite(a).all())
        best, seed, epoch = job.sample_with_info(500, epoch="best", seed=3)
        self.assertEqual(best.shape, (500, 2))
        self.assertEqual((seed, epoch), (3, job.best_epoch))
        self.assertGreater(job.best_epoch, 0)
        snapshots = job.snapshots()
        self.assertIn(job.best_epoch, snapshots)
        self.assertEqual(snapshots[-1], 30)
        _, _, epoch = job.sample_with_info(5, epoch=snapshots[0])
        self.assertEqual(epoch, snapshots[0])
        # 600,000 points are 1,200,000 values: more than one message, so SampleStream.
        big, seed, _ = job.sample_with_info(600_000, seed=11)
        self.assertEqual((big.shape, seed), ((600_000, 2), 11))
        self.assertTrue(np.isfinite(big).all())
        self.assertTrue(np.array_equal(big, job.sample(600_000, seed=11)))

    def test_export(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "g.pt")
            with open(path, "w") as f:
                f.write("old")
            epoch = self.ring.export(path, epoch="best")
            self.assertEqual(epoch, self.client.get(self.ring.id).best_epoch)
            with open(path, "rb") as f:
                self.assertEqual(f.read(2), b"PK", "a TorchScript (zip) file")
            self.assertEqual(self.ring.export(os.path.join(tmp, "latest.pt")), 30)
            self.assertEqual(sorted(os.listdir(tmp)), ["g.pt", "latest.pt"], "no temporary file left")
            with self.assertRaises(FileNotFoundError) as e:
                self.ring.export(os.path.join(tmp, "nodir", "g.pt"))
            self.assertIn("no such directory", str(e.exception))
            with self.assertRaises(gantry.NotFound):
                self.ring.export(os.path.join(tmp, "x.pt"), epoch=4)
            self.assertEqual(sorted(os.listdir(tmp)), ["g.pt", "latest.pt"])

    def test_cancel_and_delete(self):
        job = self.client.submit(dataset="grid25", epochs=100000, name="long")
        with self.assertRaises(gantry.DeadlineExceeded):
            job.wait(timeout=0.2)
        with self.assertRaises(gantry.FailedPrecondition) as e:
            job.delete()
        self.assertIn("cancel it before deleting it", e.exception.message)
        job.cancel()
        self.assertEqual(job.wait(), "CANCELLED")
        with self.assertRaises(gantry.FailedPrecondition):
            job.cancel()
        job.delete()
        with self.assertRaises(gantry.NotFound) as e:
            job.refresh()
        self.assertIn("not found", e.exception.message)

    def test_environment_and_unreachable_server(self):
        env = dict(os.environ, GANTRY_SERVER=self.server.address, PYTHONPATH=ARGS.python)
        out = subprocess.run([sys.executable, "-c", "import gantry; print(gantry.Client().health())"],
                             env=env, capture_output=True, text=True, timeout=120)
        self.assertEqual(out.stdout.strip(), "SERVING", out.stderr)
        with gantry.Client("127.0.0.1:1", timeout=2) as client:
            with self.assertRaises(gantry.Unavailable) as e:
                client.get("j-x")
            self.assertEqual(e.exception.code, "UNAVAILABLE")

    def test_table_job_samples_rows(self):
        rows = ["23,Oslo,yes,2024-01-02,1.5", "35,Rome,no,2023-05-06,2.25", "41,Oslo,yes,,3.0",
                "29,Lima,no,2022-11-30,NA", "52,Rome,yes,2021-07-15,4.75", "33,Oslo,no,2024-03-09,2.0"]
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "people.csv")
            with open(path, "w") as f:
                f.write("age,city,member,joined,score\n" + "\n".join(rows * 40) + "\n")
            table = self.client.upload_table(path)
        self.assertEqual((table.rows, table.columns), (240, ["age", "city", "member", "joined", "score"]))
        self.assertIn(table.id, [t.id for t in self.client.tables()])
        job = self.client.submit(dataset={"kind": "table", "table": {"tableId": table.id}},
                                 epochs=2, batch_size=40)
        self.assertEqual(job.wait(), "SUCCEEDED", job.error)
        cols = job.sample(50, seed=4, as_pandas=False)
        self.assertEqual(list(cols), table.columns)
        self.assertTrue(all(len(v) == 50 for v in cols.values()))
        self.assertTrue(set(cols["city"]) <= {"Oslo", "Rome", "Lima"})
        self.assertTrue(all(isinstance(v, bool) for v in cols["member"]))
        self.assertTrue(all(v is None or isinstance(v, float) for v in cols["score"]))
        self.assertEqual(cols, job.sample(50, seed=4, as_pandas=False))
        try:
            import pandas
        except ImportError:
            self.assertIsInstance(job.sample(5, seed=4), dict)
        else:
            df = job.sample(50, seed=4)
            self.assertIsInstance(df, pandas.DataFrame)
            self.assertEqual((list(df.columns), len(df)), (table.columns, 50))
            self.assertEqual(df["city"].tolist(), cols["city"])

    def test_request_id_and_token(self):
        a = self.client.submit(epochs=1, request_id="pkg-retry-1", name="retry")
        b = self.client.submit(epochs=1, request_id="pkg-retry-1", name="retry")
        self.assertEqual(a.id, b.id, "a retry returns the job created the first time")
        with self.assertRaises(gantry.AlreadyExists):
            self.client.submit(epochs=2, request_id="pkg-retry-1", name="retry")
        self.assertEqual(a.wait(), "SUCCEEDED")
        with tempfile.TemporaryDirectory() as tmp:
            token_file = os.path.join(tmp, "token")
            with open(token_file, "w") as f:
                f.write("s3cret-token\n")
            server = Gantryd(ARGS.gantryd, os.path.join(tmp, "data"),
                             extra=["--log-level", "warn", "--auth-token-file", token_file])
            start_serving(server)  # health needs no token
            try:
                with gantry.Client(server.address) as client:
                    with self.assertRaises(gantry.Unauthenticated) as e:
                        client.submit(epochs=1)
                    self.assertEqual(e.exception.code, "UNAUTHENTICATED")
                with gantry.Client(server.address, token="s3cret-token") as client:
                    self.assertEqual(client.submit(epochs=1).wait(), "SUCCEEDED")
                env = dict(os.environ, GANTRY_TOKEN="s3cret-token", PYTHONPATH=ARGS.python)
                out = subprocess.run(
                    [sys.executable, "-c", "import gantry, sys; "
                     f"print(len(list(gantry.Client('{server.address}').jobs())))"],
                    env=env, capture_output=True, text=True, timeout=120)
                self.assertEqual(out.stdout.strip(), "1", out.stderr)
            finally:
                server.stop()

    def test_example_script(self):
        with tempfile.TemporaryDirectory() as tmp:
            out_csv = os.path.join(tmp, "ring8.csv")
            env = dict(os.environ, PYTHONPATH=ARGS.python)
            res = subprocess.run(
                [sys.executable, os.path.join(ROOT, "client/python/examples/train_and_sample.py"),
                 "--server", self.server.address, "--epochs", "30", "--out", out_csv],
                env=env, capture_output=True, text=True, timeout=600)
            self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
            self.assertIn("epoch 30/30", res.stdout)
            self.assertIn("state SUCCEEDED", res.stdout)
            self.assertIn(f"1000 points written to {out_csv}", res.stdout)
            with open(out_csv) as f:
                rows = list(csv.reader(f))
            self.assertEqual(rows[0], ["x0", "x1"])
            self.assertEqual(len(rows), 1001)
            for r in rows[1:]:
                self.assertEqual(len(r), 2)
                [float(x) for x in r]
            job = next(self.client.jobs(labels={"example": "train_and_sample"}))
            self.assertEqual((job.state, job.name), ("SUCCEEDED", "ring8-example"))


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--gantryd", default=os.path.join(ROOT, "build/bin/gantryd"))
    ap.add_argument("--python", default=os.path.join(ROOT, "build/python"),
                    help="the built package's folder (the gantry_python target's output)")
    ARGS, rest = ap.parse_known_args()
    ARGS.python = os.path.abspath(ARGS.python)
    sys.path.insert(0, ARGS.python)
    import gantry  # noqa: E402  (the package under test, from --python)
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
