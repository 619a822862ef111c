#!/usr/bin/env python3
"""Table jobs end to end, on the real binaries and real tables.

- statsmodels' `fair` through the CLI: `gantry submit --table fair.csv
  --watch`, then `gantry sample --where occupation=3`: fair's nine column
  names, integer codes written as integers, occupation 3 in every row; the
  table cannot be deleted while the job runs.
- every fixture of tests/common/tables.py (wine, breast_cancer, iris, all
  missing, one level, 1000 levels, one row per category, dates, unicode and
  `;`, 10% missing) uploaded, trained briefly and sampled: the same names,
  types, formats and missing cells come back.
- a 1,000,000-row table through upload and memory admission.
- a table job killed with SIGKILL (several times) resumes bit-exact: every
  epoch's losses equal an uninterrupted run's, and so do its samples.
- a table job taken over by another replica over PostgreSQL (tests/common/
  pg_server.sh) after its owner is killed finishes bit-exact too.

    python3 tests/e2e/tables_test.py --gantryd build/bin/gantryd --gantry build/bin/gantry
"""
import argparse
import csv
import io
import os
import random
import subprocess
import sys
import tempfile
import time
import unittest

from gantry_testlib import CliDaemon, Gantryd, ROOT, generate_stubs

ARGS = None
pb = grpc = None
FIXTURES = None  # a TemporaryDirectory with tests/common/tables.py's files
PG_SERVER = os.path.join(ROOT, "tests", "common", "pg_server.sh")


def setUpModule():
    global pb, grpc, FIXTURES
    ARGS.stubs = tempfile.TemporaryDirectory()
    generate_stubs(ARGS.stubs.name)
    import grpc as grpc_module
    from gantry.v1 import gantry_pb2
    grpc, pb = grpc_module, gantry_pb2
    FIXTURES = tempfile.TemporaryDirectory()
    subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "tests", "common", "tables.py"),
                    FIXTURES.name, "--big", "--big-rows", "1000000"], check=True)


def fixture(name):
    return os.path.join(FIXTURES.name, name)


def read_rows(text, delimiter=","):
    return list(csv.DictReader(io.StringIO(text), delimiter=delimiter))


def upload(stub, path):
    with open(path, "rb") as f:
        data = f.read()

    def chunks():
        first = True
        for i in range(0, max(len(data), 1), 1 << 20):
            req = pb.UploadTableRequest(chunk=data[i:i + (1 << 20)])
            if first:
                req.name = os.path.basename(path)
                first = False
            yield req
    return stub.UploadTable(chunks(), timeout=300)


def small_spec(table_id, epochs, seed=5, **kw):
    """A table job with small networks: quick, and every guarantee the same."""
    spec = pb.JobSpec(epochs=epochs, seed=seed, latent_dim=32, batch_size=100, eval_points=200,
                      checkpoint_every=1, dataset=pb.Dataset(kind=pb.DATASET_KIND_TABLE,
                                                             table=pb.TableSource(table_id=table_id)),
                      **kw)
    spec.generator_hidden.sizes.extend([64, 64])
    spec.discriminator_hidden.sizes.extend([64, 64])
    return spec


def epoch_figures(events):
    return [(e.epoch.epoch, e.epoch.loss_d, e.epoch.loss_g, e.epoch.last_loss_d, e.epoch.last_loss_g,
             e.epoch.d_real, e.epoch.d_fake, e.epoch.quality, e.epoch.best_epoch)
            for e in events if e.HasField("epoch")]


def events_of(stub, job_id):
    return list(stub.WatchJob(pb.WatchJobRequest(job_id=job_id), timeout=900))


def samples_of(stub, job_id, seed=4, count=300):
    return stub.Sample(pb.SampleRequest(job_id=job_id, count=count, seed=seed), timeout=60).rows


class TablesCliTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.d = CliDaemon(ARGS.gantryd, ARGS.gantry, self.tmp.name)

    def tearDown(self):
        self.d.stop()
        self.tmp.cleanup()

    def run_ok(self, *args):
        r = self.d.gantry(*args)
        self.assertEqual(r.returncode, 0, f"gantry {' '.join(args)}: {r.stderr}")
        return r

    def test_fair_submit_watch_and_conditional_sample(self):
        fair = fixture("fair.csv")
        with open(fair) as f:
            header = next(csv.reader(f))
        r = self.run_ok("submit", "--table", fair, "--epochs", "3", "--latent-dim", "32",
                        "--generator-hidden", "64,64", "--discriminator-hidden", "64,64", "--watch")
        self.assertIn("state SUCCEEDED", r.stdout)
        self.assertIn("uploaded fair.csv as table", r.stderr)
        job_id = self.d.gantry("list").stdout.splitlines()[1].split()[0]
        got = self.run_ok("get", job_id).stdout
        self.assertIn("occupation (categorical, 6 levels)", got)
        self.assertIn("by quality", got)
        out = os.path.join(self.tmp.name, "synth.csv")
        self.run_ok("sample", job_id, "--count", "1000", "--where", "occupation=3", "--seed", "1",
                    "--out", out)
        with open(out) as f:
            rows = read_rows(f.read())
        self.assertEqual(len(rows), 1000)
        self.assertEqual(list(rows[0].keys()), header, "fair's nine column names, in order")
        self.assertEqual({row["occupation"] for row in rows}, {"3"})
        for code in ("rate_marriage", "religious", "educ", "occupation_husb"):
            for row in rows:
                self.assertRegex(row[code], r"^\d+$", f"{code} is an integer code")
        with open(fair) as f:
            real = read_rows(f.read())
        levels = {c: {r[c] for r in real} for c in ("rate_marriage", "religious", "educ")}
        for row in rows:
            for c, seen in levels.items():
                self.assertIn(row[c], seen, f"{c} keeps to the levels of the data")
            self.assertGreaterEqual(float(row["affairs"]), 0.0, "no value below the data's minimum")
        # JSON lines with typed values; the same seed gives the same rows.
        js = self.run_ok("sample", job_id, "--count", "5", "--seed", "1", "-o", "json").stdout
        import json
        first = [json.loads(line) for line in js.splitlines()]
        self.assertEqual(len(first), 5)
        self.assertIsInstance(first[0]["occupation"], int)
        self.assertIsInstance(first[0]["age"], float)
        again = self.run_ok("sample", job_id, "--count", "5", "--seed", "1", "-o", "json").stdout
        self.assertEqual(js, again)
        # Impossible conditions are refused, naming the column.
        r = self.d.gantry("sample", job_id, "--count", "5", "--where", "occupation=9")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("occupation: '9' is not a level of this column", r.stderr)
        r = self.d.gantry("sample", job_id, "--count", "5", "--where", "age=100..200")
        self.assertIn("outside the column's range", r.stderr)

    def test_table_in_use_cannot_be_deleted(self):
        table_id = self.run_ok("data", "push", fixture("iris.csv")).stdout.strip()
        r = self.run_ok("submit", "--table-id", table_id, "--epochs", "100000")
        job_id = r.stdout.split()[0]
        r = self.d.gantry("data", "rm", table_id)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(job_id, r.stderr)
        self.run_ok("cancel", job_id)
        deadline = time.time() + 60
        while "CANCELLED" not in self.d.gantry("get", job_id).stdout and time.time() < deadline:
            time.sleep(0.1)
        self.run_ok("data", "rm", table_id)
        # A job naming a table that is gone is refused.
        r = self.d.gantry("submit", "--table-id", table_id)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("no table", r.stderr)


class TablesGrpcTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.server = Gantryd(ARGS.gantryd, os.path.join(cls.tmp.name, "data"))
        cls.server.start()
        cls.ch, cls.stub = cls.server.connect()

    @classmethod
    def tearDownClass(cls):
        cls.ch.close()
        cls.server.stop()
        cls.tmp.cleanup()

    def train(self, name, epochs=2, **kw):
        info = upload(self.stub, fixture(name))
        job = self.stub.CreateJob(pb.CreateJobRequest(spec=small_spec(info.id, epochs, **kw)))
        events = events_of(self.stub, job.id)
        self.assertEqual(events[-1].state.state, pb.JOB_STATE_SUCCEEDED, events[-1].state.error)
        return info, self.stub.GetJob(pb.GetJobRequest(job_id=job.id))

    def test_every_fixture_round_trips_names_types_and_formats(self):
        for name, delimiter in [("wine.csv", ","), ("breast_cancer.csv", ","), ("iris.csv", ","),
                                ("all_missing.csv", ","), ("one_level.csv", ","),
                                ("levels_1000.csv", ","), ("single_row_per_category.csv", ","),
                                ("dates.csv", ","), ("unicode.csv", ";"), ("missing.csv", ",")]:
            with self.subTest(table=name):
                info, job = self.train(name)
                rows = samples_of(self.stub, job.id)
                self.assertEqual(rows.count, 300)
                with open(fixture(name), encoding="utf-8") as f:
                    real_header = next(csv.reader(f, delimiter=delimiter))
                self.assertEqual([c.name for c in rows.columns], real_header)
                schema = {c.name: c for c in job.table_schema.columns}
                for col in rows.columns:
                    s = schema[col.name]
                    self.assertEqual(col.type, s.type)
                    if s.type == pb.COLUMN_TYPE_CATEGORICAL and not s.integer_codes:
                        present = [v for v, m in zip(col.strings, col.missing or [False] * 300) if not m]
                        self.assertTrue(set(present) <= set(s.levels), f"{col.name}: unseen levels")
                    if s.type == pb.COLUMN_TYPE_DATETIME:
                        fmt = s.datetime_format
                        for v, m in zip(col.strings, col.missing or [False] * 300):
                            if not m:
                                time.strptime(v, fmt)  # raises when the format is not kept
                    if s.type in (pb.COLUMN_TYPE_CONTINUOUS,):
                        for v, m in zip(col.doubles, col.missing or [False] * 300):
                            if not m:
                                self.assertGreaterEqual(v, s.min)
                                self.assertLessEqual(v, s.max)
                if name == "all_missing.csv":
                    col = next(c for c in rows.columns if c.name == "nothing")
                    self.assertEqual(list(col.missing), [True] * 300, "an all-missing column stays missing")
                if name == "missing.csv":
                    missing = sum(sum(c.missing) for c in rows.columns)
                    self.assertGreater(missing, 0, "missing cells are modelled and given back")
                if name == "one_level.csv":
                    col = next(c for c in rows.columns if c.name == "constant")
                    self.assertEqual(set(col.strings), {"only"})

    def test_a_million_rows_upload_and_admission(self):
        t0 = time.monotonic()
        info = upload(self.stub, fixture("big.csv"))
        upload_s = time.monotonic() - t0
        self.assertEqual(info.schema.rows, 1_000_000)
        job = self.stub.CreateJob(pb.CreateJobRequest(spec=small_spec(info.id, 100000)))
        self.assertGreater(job.memory_estimate_bytes, 1_000_000 * len(info.schema.columns) * 8,
                           "admission counts the table's rows")
        self.stub.CancelJob(pb.CancelJobRequest(job_id=job.id))
        # A second upload of the same bytes is the same table (deduplicated).
        again = upload(self.stub, fixture("big.csv"))
        self.assertEqual(again.id, info.id)
        print(f"\n1,000,000-row table ({os.path.getsize(fixture('big.csv')) >> 20} MiB) uploaded and "
              f"parsed in {upload_s:.1f} s; admission estimate {job.memory_estimate_bytes >> 20} MiB",
              file=sys.stderr)


class TablesResumeTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()

    def tearDown(self):
        self.tmp.cleanup()

    def reference(self, spec_fn):
        s = Gantryd(ARGS.gantryd, os.path.join(self.tmp.name, "reference"))
        s.start()
        ch, stub = s.connect()
        info = upload(stub, fixture("fair.csv"))
        job = stub.CreateJob(pb.CreateJobRequest(spec=spec_fn(info.id)))
        figures = epoch_figures(events_of(stub, job.id))
        rows = samples_of(stub, job.id)
        ch.close()
        self.assertEqual(s.stop(), 0)
        return figures, rows

    def test_sigkill_resumes_bit_exact(self):
        spec_fn = lambda table_id: small_spec(table_id, 24)
        expected, expected_rows = self.reference(spec_fn)
        server = Gantryd(ARGS.gantryd, os.path.join(self.tmp.name, "killed"))
        server.start()
        ch, stub = server.connect()
        info = upload(stub, fixture("fair.csv"))
        job = stub.CreateJob(pb.CreateJobRequest(spec=spec_fn(info.id)))
        ch.close()
        rng = random.Random(7)
        kills, epochs_at_kill = 0, []
        while kills < 4:
            time.sleep(rng.uniform(0.3, 1.2))
            ch, stub = server.connect()
            j = stub.GetJob(pb.GetJobRequest(job_id=job.id))
            ch.close()
            if j.state == pb.JOB_STATE_SUCCEEDED:
                break
            epochs_at_kill.append(j.epochs_done)
            server.kill()
            kills += 1
            server.start()
        ch, stub = server.connect()
        events = events_of(stub, job.id)
        rows = samples_of(stub, job.id)
        ch.close()
        self.assertEqual(server.stop(), 0)
        self.assertGreaterEqual(kills, 2, "the job was killed mid-training")
        self.assertEqual(events[-1].state.state, pb.JOB_STATE_SUCCEEDED)
        self.assertEqual([e.seq for e in events], list(range(1, len(events) + 1)))
        self.assertEqual(epoch_figures(events), expected, "every epoch equals the uninterrupted run's")
        self.assertEqual(rows.SerializeToString(), expected_rows.SerializeToString(),
                         "samples equal the uninterrupted run's")
        print(f"\ntable job killed {kills} times (at epochs {epochs_at_kill}); "
              f"{len(expected)} epochs bit-exact, samples equal", file=sys.stderr)

    def test_takeover_on_postgresql_is_bit_exact(self):
        spec_fn = lambda table_id: small_spec(table_id, 30)
        expected, expected_rows = self.reference(spec_fn)
        pg_dir = tempfile.mkdtemp(prefix="gantry-pg-")
        dsn = subprocess.run([PG_SERVER, "start", pg_dir], check=True, capture_output=True,
                             text=True).stdout.strip()
        replicas = []
        try:
            extra = ["--store", dsn, "--lease-seconds", "2", "--max-concurrent-jobs", "1",
                     "--drain-grace-ms", "0"]
            for i in range(2):
                d = os.path.join(self.tmp.name, f"replica{i}")
                os.makedirs(d)
                replicas.append(Gantryd(ARGS.gantryd, os.path.join(d, "unused"),
                                        log_path=os.path.join(d, "gantryd.log"), extra=extra))
            replicas[0].start()  # the first replica alone: it claims the job
            ch, stub = replicas[0].connect()
            info = upload(stub, fixture("fair.csv"))
            job = stub.CreateJob(pb.CreateJobRequest(spec=spec_fn(info.id)))
            deadline = time.time() + 120
            while stub.GetJob(pb.GetJobRequest(job_id=job.id)).epochs_done < 8:
                self.assertLess(time.time(), deadline)
                time.sleep(0.05)
            ch.close()
            replicas[1].start()
            killed_at = None
            ch, stub = replicas[1].connect()
            killed_at = stub.GetJob(pb.GetJobRequest(job_id=job.id)).epochs_done
            replicas[0].kill()
            events = events_of(stub, job.id)
            rows = samples_of(stub, job.id)
            ch.close()
            with open(replicas[1].log_path, errors="replace") as f:
                log = f.read()
            self.assertIn(f"job {job.id} resuming", log, "the second replica took the job over")
            self.assertEqual(events[-1].state.state, pb.JOB_STATE_SUCCEEDED)
            self.assertEqual(epoch_figures(events), expected, "bit-exact after the takeover")
            self.assertEqual(rows.SerializeToString(), expected_rows.SerializeToString())
            print(f"\ntable job's owner killed at epoch {killed_at}; the other replica finished it, "
                  f"{len(expected)} epochs bit-exact", file=sys.stderr)
        finally:
            for r in replicas:
                if r.proc and r.proc.poll() is None:
                    r.stop()
            subprocess.run([PG_SERVER, "destroy", pg_dir], check=False)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--gantryd", default=os.path.join(ROOT, "build", "bin", "gantryd"))
    parser.add_argument("--gantry", default=os.path.join(ROOT, "build", "bin", "gantry"))
    ARGS, rest = parser.parse_known_args()
    unittest.main(argv=[sys.argv[0], *rest], verbosity=2)
