#!/usr/bin/env python3
"""End-to-end tests of the gantry CLI against a real gantryd.

    python3 tests/client/cli_test.py --gantry build/bin/gantry --gantryd build/bin/gantryd
"""
import argparse
import hashlib
import json
import math
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "e2e"))
from gantry_testlib import CliDaemon, free_port  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ARGS = None

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_UNAVAILABLE, EXIT_NOT_FOUND = 0, 1, 2, 3, 4
EXIT_JOB_FAILED, EXIT_JOB_CANCELLED = 5, 6


def Server(tmp, *extra):
    return CliDaemon(ARGS.gantryd, ARGS.gantry, tmp, *extra)


def run(args, server=None, env=None):
    if server:
        return server.gantry(*args, env=env)
    return subprocess.run([ARGS.gantry, *args], capture_output=True, text=True, timeout=600, env=env)


class ServerCase(unittest.TestCase):
    """A gantryd of the class's own, and gantry run against it."""

    @classmethod
    def setUpClass(cls):
        cls.tmpdir = tempfile.TemporaryDirectory()
        cls.tmp = cls.tmpdir.name
        cls.server = Server(cls.tmp)

    @classmethod
    def tearDownClass(cls):
        rc = cls.server.stop()
        cls.tmpdir.cleanup()
        assert rc == 0, f"gantryd exited {rc}"

    def gantry(self, *args, expect=EXIT_OK, env=None):
        """gantry against the class's gantryd; env (a dict) replaces the
        environment it runs in (None: this process's)."""
        r = run(args, self.server, env=env)
        self.assertEqual(r.returncode, expect, f"gantry {' '.join(args)}\nstdout: {r.stdout}\nstderr: {r.stderr}")
        return r


class CliTest(ServerCase):
    def submit(self, *args):
        return self.gantry("submit", *args).stdout.strip()

    def path(self, name):
        return os.path.join(self.tmp, name)

    # --- submit, watch, get, list -------------------------------------------------

    def test_submit_watch_json_events(self):
        job = json.loads(self.gantry("-o", "json", "submit", "--epochs", "5", "--size", "256",
                                     "--name", "json job").stdout)
        self.assertEqual(job["state"], "JOB_STATE_QUEUED")
        self.assertEqual(job["name"], "json job")
        self.assertEqual(int(job["spec"]["epochs"]), 5)
        out = self.gantry("watch", job["id"], "-o", "json").stdout
        events = [json.loads(line) for line in out.splitlines()]
        self.assertEqual([int(e["seq"]) for e in events], list(range(1, 9)))
        self.assertEqual([int(e["epoch"]["epoch"]) for e in events if "epoch" in e], [1, 2, 3, 4, 5])
        self.assertEqual(events[-1]["state"]["state"], "JOB_STATE_SUCCEEDED")
        got = json.loads(self.gantry("get", job["id"], "-o", "json").stdout)
        self.assertEqual(got["state"], "JOB_STATE_SUCCEEDED")
        self.assertEqual(got["latest"]["loss_d"], events[-2]["epoch"]["loss_d"])

    def test_trainer_path(self):
        # Every path gives the same bits; each epoch says which one trained it.
        events = {}
        for path in ("auto", "aten"):
            job = json.loads(self.gantry("-o", "json", "submit", "--epochs", "2", "--size", "128",
                                         "--trainer-path", path).stdout)
            self.assertEqual(job["spec"]["trainer_path"], path)
            out = self.gantry("watch", job["id"], "-o", "json").stdout
            events[path] = [json.loads(l)["epoch"] for l in out.splitlines() if "epoch" in json.loads(l)]
            self.assertIn("trainer:", self.gantry("get", job["id"]).stdout)
        self.assertIn(events["auto"][0]["trainer_path"], ("fast", "aten"))
        self.assertEqual([e["trainer_path"] for e in events["aten"]], ["aten", "aten"])
        for a, b in zip(events["auto"], events["aten"]):
            for field in ("loss_d", "loss_g", "last_loss_d", "last_loss_g", "d_real", "d_fake", "quality"):
                self.assertEqual(a[field], b[field], field)
        # Forcing the fast path where it cannot run fails the job with the reason.
        data = self.path("one-column.csv")
        with open(data, "w") as f:
            f.write("".join(f"{i * 0.1}\n" for i in range(9)))
        r = self.gantry("submit", "--data", data, "--batch-size", "4", "--epochs", "1",
                        "--trainer-path", "fast", "--watch", expect=EXIT_JOB_FAILED)
        self.assertIn("trainer_path: fast is not available for this job", r.stdout)
        r = self.gantry("submit", "--trainer-path", "turbo", expect=EXIT_USAGE)

    def test_points_files_people_actually_have(self):
        # A byte order mark and no header: every row is data.
        cases = {"bom.csv": b"\xef\xbb\xbf1,2\n3,4\n5,6\n7,8\n",
                 # Old Mac line endings, and Windows ones after a header.
                 "cr.csv": b"1,2\r3,4\r5,6\r7,8\r",
                 "crlf.csv": b"x,y\r\n1,2\r\n3,4\r\n5,6\r\n7,8\r\n"}
        for name, content in cases.items():
            path = self.path(name)
            with open(path, "wb") as f:
                f.write(content)
            job_id = self.submit("--data", path, "--batch-size", "2", "--epochs", "1")
            job = json.loads(self.gantry("get", job_id, "-o", "json", "--full").stdout)
            self.assertEqual(int(job["spec"]["dataset"]["size"]), 4, name)
            self.assertEqual(job["spec"]["dataset"]["points"]["values"][:2], [1, 2], name)
        hexa = self.path("hex.csv")
        with open(hexa, "w") as f:
            f.write("0x10,2\n3,4\n")
        r = self.gantry("submit", "--data", hexa, expect=EXIT_USAGE)
        self.assertIn("hex.csv:1: '0x10' is not a finite decimal number", r.stderr)
        # A file that never ends is refused at the request limit, not read into memory.
        r = self.gantry("submit", "--data", "/dev/zero", expect=EXIT_USAGE)
        self.assertIn("larger than 64 MiB", r.stderr)

    def test_strict_flag_values(self):
        r = self.gantry("submit", "--seed", "-1", expect=EXIT_USAGE)
        self.assertIn("--seed: '-1' is not an unsigned decimal integer", r.stderr)
        r = self.gantry("sample", "j-x", "--seed", "0x10", expect=EXIT_USAGE)
        self.assertIn("--seed: '0x10' is not an unsigned decimal integer", r.stderr)
        r = self.gantry("submit", "--generator-hidden", "1,,2", expect=EXIT_USAGE)
        self.assertIn("--generator-hidden: '1,,2' has an empty item", r.stderr)
        r = self.gantry("submit", "--discriminator-hidden", "8,-2", expect=EXIT_USAGE)
        self.assertIn("'-2' in '8,-2' is not a positive integer", r.stderr)
        job_id = self.submit("--seed", "18446744073709551615", "--generator-hidden", "", "--epochs", "1",
                             "--size", "64")
        spec = json.loads(self.gantry("get", job_id, "-o", "json").stdout)["spec"]
        self.assertEqual(int(spec["seed"]), 18446744073709551615)
        self.assertEqual(spec.get("generator_hidden", {}).get("sizes", []), [])
        # A token ending in a newline (as secrets often do) is trimmed; control characters are refused.
        self.gantry("--token", "secret\n", "list")
        r = self.gantry("--token", "sec\x01ret", "list", expect=EXIT_USAGE)
        self.assertIn("the token holds a control character", r.stderr)

    def test_submit_watch_plain_progress(self):
        r = self.gantry("submit", "--epochs", "3", "--size", "128", "--watch")
        lines = r.stdout.splitlines()
        self.assertRegex(lines[0], r"^j-[0-9a-z]{10}$")
        self.assertEqual(lines[1:3], ["state QUEUED", "state RUNNING"])
        # An evaluated epoch (the first is) adds its held-out metrics.
        self.assertRegex(lines[3], r"^epoch 1/3 loss_d [0-9.]+ loss_g [0-9.]+ last_loss_d [0-9.]+ "
                                   r"last_loss_g [0-9.]+ quality [0-9.]+"
                                   r"( metrics sliced_w1 \S+ mmd \S+ precision \S+ recall \S+ "
                                   r"density \S+ coverage \S+)?$")
        self.assertEqual(lines[-1], "state SUCCEEDED")

    def test_spec_file_with_flag_overrides(self):
        spec_file = self.path("spec.json")
        with open(spec_file, "w") as f:
            json.dump({"dataset": {"kind": "DATASET_KIND_RING8", "size": "512"}, "epochs": "9",
                       "generator_hidden": {"sizes": [8, 8]}, "learning_rate": 0.002}, f)
        job_id = self.submit("-f", spec_file, "--epochs", "2", "--seed", "5", "--discriminator-hidden", "32,16")
        spec = json.loads(self.gantry("get", job_id, "-o", "json").stdout)["spec"]
        self.assertEqual(spec["dataset"]["kind"], "DATASET_KIND_RING8")
        self.assertEqual(int(spec["dataset"]["size"]), 512)
        self.assertEqual(int(spec["epochs"]), 2)          # the flag wins
        self.assertEqual(int(spec["seed"]), 5)
        self.assertEqual([int(s) for s in spec["generator_hidden"]["sizes"]], [8, 8])
        self.assertEqual([int(s) for s in spec["discriminator_hidden"]["sizes"]], [32, 16])
        self.assertAlmostEqual(spec["learning_rate"], 0.002)
        self.gantry("watch", job_id)

        bad = self.path("bad.json")
        with open(bad, "w") as f:
            f.write('{"epochs": "many"}')
        r = self.gantry("submit", "-f", bad, expect=EXIT_USAGE)
        self.assertIn("bad.json: not a JobSpec in JSON", r.stderr)

    def test_user_data_files(self):
        good = self.path("points.csv")
        with open(good, "w") as f:
            f.write("a,b,c\n" + "".join(f"{i % 3},{i % 5},{i % 7}\n" for i in range(64)))
        job_id = self.submit("--data", good, "--batch-size", "16", "--epochs", "2")
        self.gantry("watch", job_id)
        # get -o json asks for the BASIC view: the points' count, not the points.
        basic = json.loads(self.gantry("get", job_id, "-o", "json").stdout)
        self.assertTrue(basic["points_omitted"])
        self.assertEqual(int(basic["dataset_rows"]), 64)
        self.assertEqual(basic["spec"]["dataset"].get("points", {}).get("values", []), [])
        # --full: the points themselves.
        job = json.loads(self.gantry("get", job_id, "-o", "json", "--full").stdout)
        self.assertEqual(job["spec"]["dataset"]["points"]["dim"], 3)
        self.assertEqual(int(job["spec"]["dataset"]["size"]), 64)
        self.assertEqual(len(job["spec"]["dataset"]["points"]["values"]), 64 * 3)
        self.assertFalse(job.get("points_omitted", False))
        self.assertRegex(self.gantry("get", job_id).stdout, r"dataset:\s+user, 64 points of dim 3\n")
        sample = json.loads(self.gantry("sample", job_id, "-n", "4", "-o", "json").stdout)
        self.assertEqual(sample["dim"], 3)
        self.assertEqual(len(sample["points"]), 4)

        ragged = self.path("ragged.csv")
        with open(ragged, "w") as f:
            f.write("1,2\n3,4\n5,6,7\n")
        r = self.gantry("submit", "--data", ragged, expect=EXIT_USAGE)
        self.assertIn("ragged.csv:3: expected 2 values like the first row, found 3", r.stderr)
        words = self.path("words.csv")
        with open(words, "w") as f:
            f.write("x,y\n1,2\n3,four\n")
        r = self.gantry("submit", "--data", words, expect=EXIT_USAGE)
        self.assertIn("words.csv:3: 'four' is not a finite decimal number", r.stderr)

    def test_list_table_json_and_state_filter(self):
        a = self.submit("--epochs", "1", "--size", "64", "--name", "listed")
        self.gantry("watch", a)
        table = self.gantry("list").stdout.splitlines()
        self.assertEqual(table[0].split(), ["ID", "NAME", "STATE", "EPOCH", "LOSS_D", "LOSS_G", "AGE"])
        row = next(line for line in table if line.startswith(a))
        self.assertEqual(row.split()[1:4], ["listed", "SUCCEEDED", "1/1"])
        listed = [json.loads(line) for line in self.gantry("list", "-o", "json").stdout.splitlines()]
        self.assertIn(a, [j["id"] for j in listed])
        times = [j["create_time"] for j in listed]
        self.assertEqual(times, sorted(times, reverse=True))
        ok = [json.loads(l)["state"] for l in self.gantry("list", "--state", "succeeded", "-o", "json").stdout.splitlines()]
        self.assertTrue(ok and all(s == "JOB_STATE_SUCCEEDED" for s in ok))
        r = self.gantry("list", "--state", "sleeping", expect=EXIT_USAGE)
        self.assertIn("--state 'sleeping' is not one of queued, running, succeeded, failed, cancelled "
                      "(or JOB_STATE_NAME)", r.stderr)

    # --- sample, plot, export -----------------------------------------------------

    def finished_job(self):
        if not hasattr(CliTest, "_finished"):
            job_id = self.submit("--epochs", "40", "--checkpoint-every", "20")
            self.gantry("watch", job_id)
            CliTest._finished = job_id
        return CliTest._finished

    def test_sample_csv_and_json_agree(self):
        job_id = self.finished_job()
        csv = self.gantry("sample", job_id, "-n", "50", "--seed", "9").stdout.splitlines()
        self.assertEqual(csv[0], "x0,x1")
        rows = [[float(v) for v in line.split(",")] for line in csv[1:]]
        self.assertEqual(len(rows), 50)
        js = json.loads(self.gantry("sample", job_id, "-n", "50", "--seed", "9", "-o", "json").stdout)
        self.assertEqual(js["seed"], 9)
        self.assertEqual(js["epoch"], 40)
        for a, b in zip(rows, js["points"]):
            self.assertAlmostEqual(a[0], b[0], places=5)
            self.assertAlmostEqual(a[1], b[1], places=5)
        at20 = self.gantry("sample", job_id, "-n", "50", "--seed", "9", "--epoch", "20").stdout
        self.assertNotEqual(at20, "\n".join(csv) + "\n")
        r = self.gantry("sample", job_id, "-n", "5", "--epoch", "7", expect=EXIT_NOT_FOUND)
        self.assertIn("no snapshot of job", r.stderr)

    def test_large_sample_streams_to_a_file(self):
        job_id = self.finished_job()
        out = self.path("big.csv")
        self.gantry("sample", job_id, "-n", "600000", "--seed", "1", "--out", out)
        with open(out) as f:
            lines = f.read().splitlines()
        self.assertEqual(len(lines), 600001)
        head = self.gantry("sample", job_id, "-n", "3", "--seed", "1").stdout.splitlines()
        self.assertEqual(lines[:4], head)

    def test_sample_plot_png_and_svg_draw_the_points(self):
        from PIL import Image
        job_id = self.finished_job()
        png = self.path("samples.png")
        self.gantry("sample", job_id, "-n", "500", "--plot", png)
        img = Image.open(png).convert("RGB")
        self.assertEqual(img.size, (900, 620))
        colors = img.getcolors(maxcolors=1 << 20)
        orange = sum(n for n, (r, g, b) in colors if r > 180 and 60 < g < 140 and b < 90)
        grey = sum(n for n, (r, g, b) in colors if abs(r - g) < 8 and abs(g - b) < 8 and 130 < r < 190)
        self.assertGreater(orange, 2000, "generated points are drawn")
        self.assertGreater(grey, 2000, "real points are drawn")
        svg = self.path("samples.svg")
        self.gantry("sample", job_id, "-n", "300", "--plot", svg)
        tree = ET.parse(svg)
        paths = [e for e in tree.iter() if e.tag.endswith("path")]
        self.assertGreater(len(paths), 300)
        r = self.gantry("sample", job_id, "-n", "5", "--plot", self.path("x.gif"), expect=EXIT_USAGE)
        self.assertIn("must end in .png or .svg", r.stderr)

    def test_training_plot(self):
        from PIL import Image
        job_id = self.finished_job()
        png = self.path("training.png")
        r = self.gantry("plot", job_id, "--out", png)
        self.assertEqual((r.stdout, r.stderr), ("", f"plotted to {png}\n"), "as sample --plot says it")
        colors = Image.open(png).convert("RGB").getcolors(maxcolors=1 << 20)
        blue = sum(n for n, (r, g, b) in colors if r < 40 and 90 < g < 140 and b > 160)
        green = sum(n for n, (r, g, b) in colors if 100 < r < 140 and g > 150 and b < 80)
        self.assertGreater(blue, 300, "the discriminator's loss curve is drawn")
        self.assertGreater(green, 300, "the quality curve is drawn")
        svg = self.path("training.svg")
        self.gantry("plot", job_id, "--out", svg)
        ET.parse(svg)

    def test_export_runs_in_python(self):
        job_id = self.finished_job()
        out = self.path("generator.pt")
        self.assertIn("epoch 40", self.gantry("export", job_id, "--out", out).stdout)
        sample = json.loads(self.gantry("sample", job_id, "-n", "1", "-o", "json").stdout)
        code = ("import torch,sys; g=torch.jit.load(sys.argv[1]); "
                "print(g.latent_dim, g.data_dim, g.epoch, tuple(g(torch.randn(7, g.latent_dim)).shape))")
        r = subprocess.run(["/usr/bin/python3", "-c", code, out], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), "2 2 40 (7, 2)")
        self.assertEqual(sample["dim"], 2)

    def test_export_failures_name_the_path(self):
        job_id = self.finished_job()
        # The rename over a directory fails: the error names it, no temp file stays.
        target = self.path("export-dir")
        os.makedirs(target, exist_ok=True)
        r = self.gantry("export", job_id, "--out", target, expect=EXIT_USAGE)
        self.assertIn(f"gantry: export: cannot rename {target}.tmp-", r.stderr)
        self.assertIn(f" to {target}: Is a directory", r.stderr)
        self.assertEqual([f for f in os.listdir(self.tmp) if f.startswith("export-dir.tmp")], [])
        missing = self.path("no-such-dir/generator.pt")
        r = self.gantry("export", job_id, "--out", missing, expect=EXIT_USAGE)
        self.assertEqual(r.stderr, f"gantry: export: no such directory: {self.path('no-such-dir')}/\n")

    # --- cancel, delete, health, version, exit codes ------------------------------

    def test_cancel_and_delete(self):
        job_id = self.submit("--epochs", "100000")
        self.assertEqual(self.gantry("cancel", job_id).stdout.strip(), f"cancelling {job_id}")
        self.gantry("watch", job_id, expect=EXIT_JOB_CANCELLED)
        r = self.gantry("cancel", job_id, expect=EXIT_ERROR)
        self.assertIn("has already ended (CANCELLED)", r.stderr)
        self.assertEqual(self.gantry("delete", job_id).stdout.strip(), f"deleted {job_id}")
        self.gantry("get", job_id, expect=EXIT_NOT_FOUND)

    def test_failed_job_exit_code(self):
        data = self.path("overflow.csv")
        with open(data, "w") as f:
            f.write("3e38,3e38\n-3e38,3e38\n1,2\n")
        r = self.gantry("submit", "--data", data, "--batch-size", "2", "--epochs", "3", "--watch",
                        expect=EXIT_JOB_FAILED)
        self.assertIn("state FAILED: losses became non-finite at epoch 1: the discriminator's outputs are NaN", r.stdout)

    def test_errors_and_exit_codes(self):
        r = self.gantry("get", "j-unknown", expect=EXIT_NOT_FOUND)
        self.assertEqual(r.stderr.strip(), "gantry: get j-unknown: job j-unknown not found")
        r = self.gantry("submit", "--epochs", "0", expect=EXIT_USAGE)
        self.assertEqual(r.stderr.strip(), "gantry: submit: epochs: 0 is out of range 1..100000")
        self.gantry("frobnicate", expect=EXIT_USAGE)
        self.gantry("sample", expect=EXIT_USAGE)
        r = run(["--server", f"127.0.0.1:{free_port()}", "--timeout", "1", "list"])
        self.assertEqual(r.returncode, EXIT_UNAVAILABLE)
        self.assertIn("cannot reach gantryd at 127.0.0.1:", r.stderr)
        env = dict(os.environ, GANTRY_SERVER=self.server.address)
        r = subprocess.run([ARGS.gantry, "health"], capture_output=True, text=True, env=env)
        self.assertEqual((r.returncode, r.stdout.strip()), (0, "SERVING"))
        self.assertRegex(self.gantry("version").stdout.strip(), r"^gantry \d+\.\d+\.\d+$")


class RoughEdgesTest(ServerCase):
    """The CLI's rough edges of issue 25: readable range errors, help and
    did-you-mean, -o values a command prints, the sample seed, watch with no
    server, the plot's stream, --dims, several jobs at once, Ctrl-C in
    submit --watch, the dashboard's port, get's view, export's directory and
    every enum spelling."""

    def finished_job(self):
        if not hasattr(RoughEdgesTest, "_finished"):
            job_id = self.gantry("submit", "--epochs", "3", "--size", "256").stdout.strip()
            self.gantry("watch", job_id)
            RoughEdgesTest._finished = job_id
        return RoughEdgesTest._finished

    def test_range_errors_say_readable_bounds(self):
        for args, message in [
                (["--timeout", "0", "list"], "gantry: --timeout: 0 is out of range: more than 0 seconds, at most 1000000\n"),
                (["sample", "j-x", "--count", "0"],
                 "gantry: --count: 0 is out of range: at least 1 (the server's --max-sample-points bounds it)\n"),
                (["watch", "j-x", "--from-seq", "-1"], "gantry: --from-seq: -1 is out of range 0..9000000000000000000\n"),
                (["watch", "j-x", "--reconnect-timeout", "-3"],
                 "gantry: --reconnect-timeout: -3 is out of range 0..1000000000 seconds\n"),
                (["--timeout", "soon", "list"], "gantry: --timeout: 'soon' is not a number\n"),
                # Integer flags take decimal digits only: no exponent, hex,
                # fraction or trailing text (strtod took the first two).
                (["sample", "j-x", "--count", "1e3"], "gantry: --count: '1e3' is not a whole number\n"),
                (["sample", "j-x", "--count", "0x10"], "gantry: --count: '0x10' is not a whole number\n"),
                (["sample", "j-x", "--count", "2.5"], "gantry: --count: '2.5' is not a whole number\n"),
                (["watch", "j-x", "--from-seq", "7abc"], "gantry: --from-seq: '7abc' is not a whole number\n"),
                (["watch", "j-x", "--from-seq", "99999999999999999999"],
                 "gantry: --from-seq: 99999999999999999999 is out of range 0..9000000000000000000\n"),
                (["watch", "j-x", "--from-seq", "9000000000000000001"],
                 "gantry: --from-seq: 9000000000000000001 is out of range 0..9000000000000000000\n")]:
            r = self.gantry(*args, expect=EXIT_USAGE)
            self.assertEqual(r.stderr, message)

    def test_no_command_or_an_unknown_one_prints_the_help(self):
        for args, last in [([], "gantry: give a command (above)"),
                           (["lsit"], "gantry: unknown command 'lsit'; did you mean 'list'?"),
                           (["--timeout", "5", "sumbit", "--epochs", "3"],
                            "gantry: unknown command 'sumbit'; did you mean 'submit'?"),
                           (["frobnicate"], "gantry: unknown command 'frobnicate'")]:
            r = run(args)
            self.assertEqual(r.returncode, EXIT_USAGE, r.stderr)
            self.assertNotIn("A subcommand is required", r.stderr)
            self.assertIn("submit", r.stderr, "the help lists the commands")
            self.assertIn("dashboard", r.stderr)
            self.assertEqual(r.stderr.splitlines()[-1], last)
        r = self.gantry("submit", "--epoch", "5", expect=EXIT_USAGE)
        self.assertEqual(r.stderr, "gantry: submit: unknown flag --epoch; did you mean --epochs? "
                                   "(gantry submit --help lists its flags)\n")
        r = self.gantry("list", "--stat", "running", expect=EXIT_USAGE)
        self.assertIn("unknown flag --stat; did you mean --state?", r.stderr)
        r = self.gantry("data", "push", "f.csv", "--nme", "x", expect=EXIT_USAGE)
        self.assertIn("gantry: data push: unknown flag --nme; did you mean --name?", r.stderr)
        r = self.gantry("list", "--frobnicate", expect=EXIT_USAGE)
        self.assertEqual(r.stderr, "gantry: list: unknown flag --frobnicate (gantry list --help lists its flags)\n")

    def test_output_formats_a_command_does_not_print_are_refused(self):
        r = self.gantry("list", "-o", "csv", expect=EXIT_USAGE)
        self.assertEqual(r.stderr, "gantry: list: -o csv is not supported; list prints table, json\n")
        self.assertEqual(r.stdout, "")
        r = self.gantry("-o", "json", "plot", "j-x", "--out", "x.png", expect=EXIT_USAGE)
        self.assertEqual(r.stderr, "gantry: plot: -o json is not supported; plot prints table\n")
        job_id = self.finished_job()
        listed = [json.loads(line) for line in self.gantry("-o", "JSON", "list").stdout.splitlines()]
        self.assertIn(job_id, [j["id"] for j in listed])
        csv = self.gantry("-o", "csv", "sample", job_id, "-n", "2").stdout.splitlines()
        self.assertEqual(csv[0], "x0,x1")

    def test_sample_prints_the_seed_that_reproduces_it(self):
        job_id = self.finished_job()
        r = self.gantry("sample", job_id, "-n", "20")
        m = re.fullmatch(r"gantry: sample seed (\d+) \(epoch 3\); --seed (\d+) --epoch 3 reproduces it\n", r.stderr)
        self.assertIsNotNone(m, r.stderr)
        self.assertEqual(m.group(1), m.group(2))
        again = self.gantry("sample", job_id, "-n", "20", "--seed", m.group(1), "--epoch", "3")
        self.assertEqual(again.stdout, r.stdout)
        self.assertIn(f"seed {m.group(1)} (epoch 3)", again.stderr)
        out = os.path.join(self.tmp, "seeded.csv")
        r = self.gantry("sample", job_id, "-n", "20", "--out", out)
        self.assertRegex(r.stderr, r"gantry: sample seed \d+ \(epoch 3\)")
        js = self.gantry("sample", job_id, "-n", "2", "-o", "json")
        self.assertEqual(js.stderr, "", "JSON carries the seed")
        self.assertIn("seed", json.loads(js.stdout))

    def test_watch_with_no_server_fails_at_once_like_get(self):
        address = f"127.0.0.1:{free_port()}"
        started = time.monotonic()
        w = run(["--server", address, "watch", "j-x"])
        print(f"\nwatch with no server exited after {time.monotonic() - started:.2f} s", file=sys.stderr)
        g = run(["--server", address, "get", "j-x"])
        self.assertEqual((w.returncode, g.returncode), (EXIT_UNAVAILABLE, EXIT_UNAVAILABLE))
        self.assertTrue(g.stderr.startswith(f"gantry: get j-x: cannot reach gantryd at {address} ("), g.stderr)
        self.assertEqual(w.stderr.replace("gantry: watch j-x:", "gantry: get j-x:"), g.stderr)
        self.assertNotIn("gave up", w.stderr)

    def test_plot_and_sample_plot_report_their_file_alike(self):
        job_id = self.finished_job()
        png = os.path.join(self.tmp, "curves.png")
        r = self.gantry("plot", job_id, "--out", png)
        self.assertEqual((r.stdout, r.stderr), ("", f"plotted to {png}\n"))
        png = os.path.join(self.tmp, "points.png")
        r = self.gantry("sample", job_id, "-n", "50", "--plot", png)
        self.assertEqual(r.stdout, "")
        self.assertEqual(r.stderr.splitlines()[-1], f"plotted to {png}")

    def test_sample_plot_draws_the_dims_asked_for(self):
        from PIL import Image
        helix = os.path.join(self.tmp, "helix.csv")
        with open(helix, "w") as f:
            f.write("x,y,z\n" + "".join(f"{math.cos(i / 30):.4f},{math.sin(i / 30):.4f},{i / 300:.4f}\n"
                                        for i in range(300)))
        job_id = self.gantry("submit", "--data", helix, "--epochs", "2", "--batch-size", "32").stdout.strip()
        self.gantry("watch", job_id)
        images = {}
        for dims in ["0,1", "0,2", "2,1"]:
            png = os.path.join(self.tmp, f"dims{dims}.png")
            self.gantry("sample", job_id, "-n", "100", "--seed", "3", "--plot", png, "--dims", dims)
            images[dims] = Image.open(png).convert("RGB").tobytes()
        self.assertEqual(len(set(images.values())), 3, "each pair of dimensions draws another picture")
        r = self.gantry("sample", job_id, "--plot", os.path.join(self.tmp, "x.png"), "--dims", "0,3", expect=EXIT_USAGE)
        self.assertIn("--dims 0,3: the job's points have 3 dimensions (0..2)", r.stderr)
        for bad in ["1,1", "0", "a,b", "0,1,2"]:
            r = self.gantry("sample", job_id, "--plot", os.path.join(self.tmp, "x.png"), "--dims", bad, expect=EXIT_USAGE)
            self.assertIn(f"--dims '{bad}' is not two different dimensions I,J", r.stderr)
        r = self.gantry("sample", job_id, "--dims", "0,2", expect=EXIT_USAGE)
        self.assertIn("--dims picks what --plot draws", r.stderr)

    def test_cancel_and_delete_several_jobs_by_id_label_or_sweep(self):
        group = f"g{os.getpid()}"
        a = self.gantry("submit", "--epochs", "100000", "--label", f"grp={group}").stdout.strip()
        b = self.gantry("submit", "--epochs", "100000", "--label", f"grp={group}").stdout.strip()
        c = self.gantry("submit", "--epochs", "100000", "--label", f"sweep={group}").stdout.strip()
        # An id given twice, and matched by the label too, is cancelled once.
        r = self.gantry("cancel", a, a, "--label", f"grp={group}")
        self.assertEqual(sorted(r.stdout.splitlines()), sorted([f"cancelling {a}", f"cancelling {b}"]))
        self.assertEqual(r.stderr, "gantry: cancel: 2 jobs, 2 ok, 0 failed\n")
        r = self.gantry("cancel", "--sweep", group)
        self.assertEqual(r.stdout, f"cancelling {c}\n")
        for job_id in (a, b, c):
            self.gantry("watch", job_id, expect=EXIT_JOB_CANCELLED)
        r = self.gantry("cancel", "--label", f"grp={group}", expect=EXIT_NOT_FOUND)
        self.assertIn(f"gantry: cancel: no job with the labels grp={group} is queued or running", r.stderr)
        r = self.gantry("delete", c, c, "j-nosuch", expect=EXIT_NOT_FOUND)  # c once
        self.assertEqual(r.stdout, f"deleted {c}\n")
        self.assertIn("gantry: delete j-nosuch: job j-nosuch not found", r.stderr)
        self.assertIn("gantry: delete: 2 jobs, 1 ok, 1 failed", r.stderr)
        r = self.gantry("delete", "--label", f"grp={group}")
        self.assertEqual(sorted(r.stdout.splitlines()), sorted([f"deleted {a}", f"deleted {b}"]))
        r = self.gantry("delete", "--label", f"grp={group}", expect=EXIT_NOT_FOUND)
        self.assertEqual(r.stderr, f"gantry: delete: no job has the labels grp={group}\n")
        r = self.gantry("delete", expect=EXIT_USAGE)
        self.assertIn("give job ids, --label key=value or --sweep NAME", r.stderr)

    def test_ctrl_c_in_submit_watch_says_the_job_goes_on(self):
        master, slave = os.openpty()  # a terminal: the progress line is rewritten in place
        proc = subprocess.Popen([ARGS.gantry, "--server", self.server.address, "submit", "--epochs", "100000",
                                 "--watch"], stdout=slave, stderr=subprocess.PIPE, text=True)
        os.close(slave)
        seen = b""
        try:
            while b"epoch " not in seen:  # training: a progress line is open
                chunk = os.read(master, 4096)
                self.assertTrue(chunk, "submit --watch ended early")
                seen += chunk
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=60)
            while True:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # EIO: the terminal's other end is closed
                    break
                if not chunk:
                    break
                seen += chunk
        finally:
            os.close(master)
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        job_id = seen.split(b"\r")[0].split()[0].decode()
        self.assertEqual(proc.returncode, 130, err)
        self.assertTrue(seen.endswith(b"\n"), "the progress line is ended: " + repr(seen[-80:]))
        self.assertEqual(err, f"gantry: interrupted; the job goes on: gantry watch {job_id} "
                              f"(gantry cancel {job_id} stops it)\n")
        state = json.loads(self.gantry("get", job_id, "-o", "json").stdout)["state"]
        self.assertIn(state, ("JOB_STATE_RUNNING", "JOB_STATE_QUEUED"))
        self.gantry("cancel", job_id)

    def test_dashboard_asks_gantryd_where_it_listens(self):
        env = {k: v for k, v in os.environ.items() if k != "GANTRY_HTTP"}
        # This class's gantryd serves no HTTP: said, exit 1.
        r = self.gantry("dashboard", expect=1, env=env)
        self.assertEqual(r.stderr, f"gantry: dashboard: gantryd at {self.server.address} serves no dashboard "
                                   "(start it with --http-listen HOST:PORT)\n")
        # One on every address: the host is the one gantry reached it on.
        port = free_port()
        d = Server(self.tmp, "--http-listen", f"0.0.0.0:{port}")
        try:
            r = subprocess.run([ARGS.gantry, "--server", d.address, "dashboard"], capture_output=True, text=True, env=env)
            self.assertEqual((r.returncode, r.stdout, r.stderr), (0, f"http://127.0.0.1:{port}/\n", ""))
        finally:
            d.stop()
        # Nothing answers: the default port, said to be a guess.
        r = subprocess.run([ARGS.gantry, "--server", f"127.0.0.1:{free_port()}", "--timeout", "2", "dashboard"],
                           capture_output=True, text=True, env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"^http://127\.0\.0\.1:8080/\n$")
        self.assertIn("gantryd did not report its HTTP address", r.stderr)
        r = subprocess.run([ARGS.gantry, "dashboard", "--url", "http://h:9000"], capture_output=True, text=True,
                           env=env)
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, "http://h:9000/\n", ""))

    def test_points_keep_their_header_names(self):
        path = os.path.join(self.tmp, "named.csv")
        with open(path, "w") as f:
            f.write('height, "weight (kg)" ,age\n')
            for i in range(64):
                f.write(f"{1.5 + i * 0.01},{60 + i % 7},{20 + i % 30}\n")
        job = json.loads(self.gantry("-o", "json", "submit", "--data", path, "--epochs", "2").stdout)
        self.assertEqual(job["spec"]["dataset"]["columns"], ["height", "weight (kg)", "age"])
        self.gantry("watch", job["id"])
        lines = self.gantry("sample", job["id"], "--count", "3", "--seed", "5").stdout.splitlines()
        self.assertEqual(lines[0], "height,weight (kg),age")
        self.assertEqual(len(lines), 4)
        # A header that does not name every column is refused, naming its line.
        bad = os.path.join(self.tmp, "short.csv")
        with open(bad, "w") as f:
            f.write("# points\nx,y\n1,2,3\n4,5,6\n")
        r = self.gantry("submit", "--data", bad, expect=EXIT_USAGE)
        self.assertEqual(r.stderr, f"gantry: submit: --data {bad}:2: the header names 2 columns, the rows have 3\n")
        # The server checks names too: two the same.
        dup = os.path.join(self.tmp, "dup.csv")
        with open(dup, "w") as f:
            f.write("x,x\n1,2\n3,4\n")
        r = self.gantry("submit", "--data", dup, expect=EXIT_USAGE)
        self.assertIn("dataset.columns: 'x' names two dimensions", r.stderr)

    def test_every_enum_spelling(self):
        for dataset in ["two_moons", "Two_Moons", "DATASET_KIND_TWO_MOONS", "dataset_kind_two_moons"]:
            job = json.loads(self.gantry("-o", "json", "submit", "--dataset", dataset, "--loss", "HINGE",
                                         "--select-by", "Coverage", "--trainer-path", "AUTO", "--epochs", "1",
                                         "--size", "64").stdout)
            self.assertEqual(job["spec"]["dataset"]["kind"], "DATASET_KIND_TWO_MOONS")
            self.assertEqual((job["spec"]["loss"], job["spec"]["select_by"]), ("hinge", "coverage"))
            self.gantry("watch", job["id"])
        for state in ["succeeded", "SUCCEEDED", "JOB_STATE_SUCCEEDED", "job_state_succeeded"]:
            listed = [json.loads(l)["state"] for l in self.gantry("list", "--state", state, "-o", "json").stdout.splitlines()]
            self.assertTrue(listed and set(listed) == {"JOB_STATE_SUCCEEDED"}, listed)
        r = self.gantry("submit", "--dataset", "moons", expect=EXIT_USAGE)
        self.assertEqual(r.stderr, "gantry: submit: --dataset: 'moons' is not one of sine, circle, ring8, grid25, "
                                   "two_moons, spiral, swiss_roll, user, table (or DATASET_KIND_NAME)\n")
        r = self.gantry("submit", "--loss", "hinj", expect=EXIT_USAGE)
        self.assertIn("'hinj' is not one of bce, non_saturating, hinge, wgan_gp; did you mean hinge?", r.stderr)
        r = self.gantry("list", "--state", "runing", expect=EXIT_USAGE)
        self.assertIn("did you mean running?", r.stderr)


class DataTest(unittest.TestCase):
    """gantry data push/list/get/rm: uploaded tables."""

    PEOPLE = "age,city,score\n31,Paris,1.5\n45,Lyon,2.25\n27,Paris,3.125\n52,Nice,0.5\n"

    @classmethod
    def setUpClass(cls):
        cls.tmpdir = tempfile.TemporaryDirectory()
        cls.tmp = cls.tmpdir.name
        cls.server = Server(cls.tmp, "--max-table-bytes", "3MiB")

    @classmethod
    def tearDownClass(cls):
        rc = cls.server.stop()
        cls.tmpdir.cleanup()
        assert rc == 0, f"gantryd exited {rc}"

    def gantry(self, *args, expect=EXIT_OK):
        r = run(args, self.server)
        self.assertEqual(r.returncode, expect, f"gantry {' '.join(args)}\nstdout: {r.stdout}\nstderr: {r.stderr}")
        return r

    def write(self, name, content):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(content)
        return path

    def test_push_list_get_rm(self):
        path = self.write("people.csv", self.PEOPLE)
        r = self.gantry("data", "push", path)
        table_id = r.stdout.strip()
        self.assertEqual(table_id, hashlib.sha256(self.PEOPLE.encode()).hexdigest())
        self.assertIn("uploaded people.csv: 4 rows, 3 columns", r.stderr)
        # The same bytes again, under another name: the same table.
        again = json.loads(self.gantry("-o", "json", "data", "push", path, "--name", "other").stdout)
        self.assertEqual(again["id"], table_id)
        self.assertEqual(again["name"], "people.csv")
        self.assertEqual(int(again["schema"]["rows"]), 4)

        listed = self.gantry("data", "list").stdout.splitlines()
        self.assertEqual(listed[0].split(), ["ID", "NAME", "ROWS", "COLUMNS", "SIZE", "AGE"])
        row = [line for line in listed if line.startswith(table_id)]
        self.assertEqual(len(row), 1, listed)
        self.assertEqual(row[0].split()[1:4], ["people.csv", "4", "3"])
        as_json = [json.loads(line) for line in self.gantry("-o", "json", "data", "list").stdout.splitlines()]
        self.assertIn(table_id, [t["id"] for t in as_json])

        shown = self.gantry("data", "get", table_id).stdout
        self.assertIn(f"id:", shown)
        self.assertIn(table_id, shown)
        self.assertRegex(shown, r"city\s+categorical\s+0\s+3 levels: Lyon, Nice, Paris")
        self.assertRegex(shown, r"score\s+continuous\s+0\s+range 0.5 .. 3.125")
        got = json.loads(self.gantry("-o", "json", "data", "get", table_id).stdout)
        self.assertEqual([c["name"] for c in got["schema"]["columns"]], ["age", "city", "score"])

        self.assertEqual(self.gantry("data", "rm", table_id).stdout.strip(), f"deleted {table_id}")
        r = self.gantry("data", "get", table_id, expect=EXIT_NOT_FOUND)
        self.assertEqual(r.stderr.strip(), f"gantry: data get {table_id}: table {table_id} not found")
        self.gantry("data", "rm", table_id, expect=EXIT_NOT_FOUND)

    def test_delimiters(self):
        path = self.write("semi.txt", self.PEOPLE.replace(",", ";"))
        got = json.loads(self.gantry("-o", "json", "data", "push", path, "--delimiter", ";").stdout)
        self.assertEqual(got["schema"]["delimiter"], ";")
        tabs = self.write("tabs.tsv", self.PEOPLE.replace(",", "\t"))
        got = json.loads(self.gantry("-o", "json", "data", "push", tabs, "--delimiter", "tab").stdout)
        self.assertEqual(got["schema"]["delimiter"], "\t")
        self.assertIn("delimiter:  tab", self.gantry("data", "get", got["id"]).stdout)
        self.gantry("data", "push", path, "--delimiter", ":", expect=EXIT_USAGE)

    def test_large_files_stream_in_chunks_up_to_the_limit(self):
        # 2.5 MiB: three 1 MiB messages.
        lines = ["x,group\n"]
        size = len(lines[0])
        i = 0
        while size < (5 << 19):
            line = f"{i * 0.25},{'abc'[i % 3]}\n"
            lines.append(line)
            size += len(line)
            i += 1
        content = "".join(lines)
        path = self.write("big.csv", content)
        got = json.loads(self.gantry("-o", "json", "data", "push", path).stdout)
        self.assertEqual(int(got["size_bytes"]), len(content))
        self.assertEqual(got["id"], hashlib.sha256(content.encode()).hexdigest())
        self.assertEqual(int(got["schema"]["rows"]), i)
        over = self.write("over.csv", content + content)
        r = self.gantry("data", "push", over, expect=EXIT_ERROR)
        self.assertIn("the table is over the server's limit of 3 MiB per file (--max-table-bytes)", r.stderr)

    def test_errors_name_what_is_wrong(self):
        missing = os.path.join(self.tmp, "missing.csv")
        r = self.gantry("data", "push", missing, expect=EXIT_USAGE)
        self.assertIn(f"gantry: data push: cannot read {missing}", r.stderr)
        bad = self.write("bad.csv", "a,b\n1,2\n3,4,5\n6,7\n")
        r = self.gantry("data", "push", bad, expect=EXIT_USAGE)
        self.assertIn("bad.csv", r.stderr)
        self.assertIn("line 3", r.stderr)
        r = self.gantry("data", "get", "nope", expect=EXIT_USAGE)
        self.assertIn("table_id: 'nope' is not a table id", r.stderr)
        self.gantry("data", "get", "0" * 64, expect=EXIT_NOT_FOUND)
        self.gantry("data", expect=EXIT_USAGE)
        self.gantry("data", "push", expect=EXIT_USAGE)


class WatchReconnectTest(unittest.TestCase):
    def test_watch_resumes_across_a_server_side_cut(self):
        with tempfile.TemporaryDirectory() as tmp:
            server = Server(tmp, "--max-connection-age-ms", "700")
            try:
                # Long enough (seconds, even on the fast path) for the 700 ms
                # connection age to cut the watch at least once.
                r = run(["submit", "--epochs", "300"], server)
                job_id = r.stdout.strip()
                w = run(["watch", job_id, "-o", "json"], server)
                self.assertEqual(w.returncode, 0, w.stderr)
                seqs = [int(json.loads(line)["seq"]) for line in w.stdout.splitlines()]
                self.assertEqual(seqs, list(range(1, 304)), "no gaps, no duplicates")
                self.assertIn("resuming from seq", w.stderr, "the stream really was cut")
            finally:
                self.assertEqual(server.stop(), 0)

    def test_a_stream_the_server_accepted_is_established_before_any_event(self):
        """The server's initial metadata establishes a watch: a stream cut
        before its first event (from_seq past the last) is resumed, not
        reported as an error."""
        with tempfile.TemporaryDirectory() as tmp:
            # Every connection is cut within half a second, before any event.
            server = Server(tmp, "--max-connection-age-ms", "300")
            try:
                job_id = run(["submit", "--epochs", "100000"], server).stdout.strip()
                watch = subprocess.Popen([ARGS.gantry, "--server", server.address, "watch", job_id,
                                          "--from-seq", "1000000000"],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                try:
                    ready, _, _ = select.select([watch.stderr], [], [], 120)
                    self.assertTrue(ready, "watch said nothing in 120 s")
                    line = watch.stderr.readline()
                finally:
                    watch.kill()
                    watch.wait()
                self.assertRegex(line, rf"^gantry: watch {job_id}: stream ended \(.*\); "
                                       r"resuming from seq 1000000000$")
                run(["cancel", job_id], server)
            finally:
                self.assertEqual(server.stop(), 0)

    def test_watch_gives_up_after_reconnect_timeout(self):
        with tempfile.TemporaryDirectory() as tmp:
            server = Server(tmp)
            try:
                job_id = run(["submit", "--epochs", "100000"], server).stdout.strip()
                watch = subprocess.Popen([ARGS.gantry, "--server", server.address, "watch", job_id,
                                          "-o", "json", "--reconnect-timeout", "3"],
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                try:
                    # The stream works: the job is training.
                    while True:
                        line = watch.stdout.readline()
                        if not line:
                            self.fail("watch ended early: " + watch.stderr.read())
                        if "epoch" in json.loads(line):
                            break
                    server.proc.send_signal(signal.SIGKILL)
                    server.proc.wait()
                    killed = time.monotonic()
                    _, err = watch.communicate(timeout=30)
                    elapsed = time.monotonic() - killed
                finally:
                    if watch.poll() is None:
                        watch.kill()
                        watch.wait()
                self.assertEqual(watch.returncode, EXIT_UNAVAILABLE, err)
                # No wall-clock bound (it fails at random on a busy machine):
                # the message says which timeout it gave up after.
                print(f"\nwatch gave up {elapsed:.2f} s after the server died (--reconnect-timeout 3)",
                      file=sys.stderr)
                self.assertIn(f"gantry: watch {job_id}: gave up after --reconnect-timeout 3 s: "
                              f"cannot reach gantryd at {server.address}", err)
            finally:
                server.log.close()


class LargeUserDatasetsTest(unittest.TestCase):
    """ListJobs over jobs with large user datasets fits one default page:
    the BASIC view leaves the points out, FULL brings them."""

    def test_five_jobs_of_a_million_points_list_in_one_page(self):
        with tempfile.TemporaryDirectory() as tmp:
            server = Server(tmp, "--max-concurrent-jobs", "1")
            try:
                # One long job holds the only worker, so the big ones stay queued.
                blocker = server.gantry("submit", "--epochs", "100000").stdout.strip()
                csv = os.path.join(tmp, "million.csv")
                with open(csv, "w") as f:
                    f.write("x,y\n")
                    f.writelines(f"{i % 1000 / 7:.3f},{i % 977 / 3:.3f}\n" for i in range(1_000_000))
                ids = []
                for i in range(5):
                    r = server.gantry("submit", "--data", csv, "--name", f"big {i}", "--epochs", "1")
                    self.assertEqual(r.returncode, EXIT_OK, r.stderr)
                    ids.append(r.stdout.strip())
                r = server.gantry("list", "-o", "json")
                self.assertEqual(r.returncode, EXIT_OK, r.stderr)
                by_id = {j["id"]: j for j in map(json.loads, r.stdout.splitlines())}
                for job_id in ids:
                    self.assertIn(job_id, by_id)
                    job = by_id[job_id]
                    self.assertEqual(int(job["dataset_rows"]), 1_000_000)
                    self.assertTrue(job["points_omitted"])
                    self.assertEqual(job["spec"]["dataset"].get("points", {}).get("values", []), [])
                table = server.gantry("list")
                self.assertEqual(table.returncode, EXIT_OK, table.stderr)
                for job_id in ids:
                    self.assertIn(job_id, table.stdout)
                # FULL, where the points are needed: all of them, as sent.
                full = server.gantry("get", ids[0], "-o", "json", "--full")
                self.assertEqual(full.returncode, EXIT_OK, full.stderr)
                values = json.loads(full.stdout)["spec"]["dataset"]["points"]["values"]
                self.assertEqual(len(values), 2_000_000)
                self.assertAlmostEqual(values[2 * 1234 + 1], 1234 % 977 / 3, places=3)
                for job_id in ids + [blocker]:
                    self.assertEqual(server.gantry("cancel", job_id).returncode, EXIT_OK)
            finally:
                self.assertEqual(server.stop(), 0)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--gantry", default=os.path.join(ROOT, "build/bin/gantry"))
    ap.add_argument("--gantryd", default=os.path.join(ROOT, "build/bin/gantryd"))
    ARGS, rest = ap.parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
