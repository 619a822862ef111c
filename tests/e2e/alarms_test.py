#!/usr/bin/env python3
"""Alarms (issue 25): training that went wrong says so, against a real gantryd and the CLI.

- `--lr 10 --dropout 0`: the discriminator's outputs pin; the saturation alarm is
  an event on the stream, in `gantry watch`'s output and in Job.alarms.
- losses that become non-finite end the job FAILED naming the epoch, or, with
  `--on-non-finite continue`, raise the alarm and train on.
- a ring8 job whose coverage falls to half its best raises the collapse alarm.

    python3 tests/e2e/alarms_test.py --gantryd build/bin/gantryd --gantry build/bin/gantry
"""
import argparse
import json
import os
import sys
import tempfile
import unittest

from gantry_testlib import CliDaemon

ARGS = None


class AlarmsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmpdir = tempfile.TemporaryDirectory()
        cls.tmp = cls.tmpdir.name
        cls.d = CliDaemon(ARGS.gantryd, ARGS.gantry, cls.tmp, "--max-concurrent-jobs", "2")

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()
        cls.tmpdir.cleanup()

    def gantry(self, *args, ok=True):
        r = self.d.gantry(*args)
        if ok:
            self.assertEqual(r.returncode, 0, f"gantry {' '.join(args)}: {r.stderr}")
        return r

    def events(self, job_id):
        """The job's whole stream as JSON objects (an ended job replays)."""
        r = self.d.gantry("-o", "json", "watch", job_id)
        return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]

    def job(self, job_id):
        return json.loads(self.gantry("-o", "json", "get", job_id).stdout)

    def test_saturation_with_lr_10(self):
        r = self.gantry("submit", "--lr", "10", "--dropout", "0", "--epochs", "25", "--size", "256",
                        "--eval-every", "5", "--watch")
        self.assertIn("state SUCCEEDED", r.stdout)
        lines = [l for l in r.stdout.splitlines() if l.startswith("alarm ")]
        self.assertEqual(len(lines), 1, r.stdout)
        self.assertRegex(lines[0], r"^alarm saturation at epoch \d+: the discriminator's outputs stayed pinned")
        self.check_saturation_stream(r.stdout.splitlines()[0])  # submit prints the id first

    def check_saturation_stream(self, job_id):
        events = self.events(job_id)
        alarms = [e for e in events if "alarm" in e]
        self.assertEqual(len(alarms), 1, alarms)
        alarm = alarms[0]["alarm"]
        self.assertEqual(alarm["kind"], "saturation")
        at = int(alarm["epoch"])
        self.assertGreaterEqual(at, 10)
        # The event right before it is its epoch's, which lists it; the ten
        # epochs up to it had pinned outputs; none before listed an alarm.
        i = events.index(alarms[0])
        self.assertEqual(int(events[i - 1]["epoch"]["epoch"]), at)
        self.assertEqual(events[i - 1]["epoch"]["alarms"], [alarm])
        epochs = {int(e["epoch"]["epoch"]): e["epoch"] for e in events if "epoch" in e}
        for e in range(at - 9, at + 1):
            for key in ("d_real", "d_fake"):
                p = float(epochs[e][key])
                self.assertTrue(p <= 0.01 or p >= 0.99, f"epoch {e} {key} {p}")
        for e in range(1, at):
            self.assertNotIn("alarms", epochs[e], f"epoch {e}")
        self.assertEqual(self.job(job_id)["alarms"], [alarm])

    def test_non_finite_losses_fail_naming_the_epoch(self):
        # Points near the float limit overflow the discriminator's first layers.
        points = os.path.join(self.tmp, "huge.csv")
        with open(points, "w") as f:
            f.write("a,b\n")
            for i in range(64):
                f.write(f"{3.3e38 if i % 2 else -3.3e38},{(i % 7 - 3) * 1.1e38}\n")
        common = ["submit", "--data", points, "--epochs", "3", "--batch-size", "16", "--loss", "wgan_gp"]
        failed = self.gantry(*common, "--watch", ok=False)
        self.assertEqual(failed.returncode, 5, failed.stdout + failed.stderr)  # the job FAILED
        self.assertRegex(failed.stdout, r"\nalarm non_finite at epoch 1: losses became non-finite at epoch 1 "
                                        r"\(loss_d nan, loss_g [^)]+\)\n")
        self.assertRegex(failed.stdout, r"\nstate FAILED: losses became non-finite at epoch 1 \(loss_d nan.*"
                                        r"the spec's on_non_finite \"continue\" keeps such a job training\n")
        job = self.job(failed.stdout.splitlines()[0])
        self.assertEqual((job["state"], [a["kind"] for a in job["alarms"]]), ("JOB_STATE_FAILED", ["non_finite"]))

        kept = self.gantry(*common, "--on-non-finite", "continue", "--watch")
        self.assertIn("state SUCCEEDED", kept.stdout)
        self.assertEqual(len([l for l in kept.stdout.splitlines() if l.startswith("alarm non_finite at epoch 1")]), 1)
        self.assertEqual(int(self.job(kept.stdout.splitlines()[0])["epochs_done"]), 3)

        # bce has no loss for a NaN output: the job fails whatever on_non_finite says, naming the epoch.
        bce = self.gantry("submit", "--data", points, "--epochs", "3", "--batch-size", "16",
                          "--on-non-finite", "continue", "--watch", ok=False)
        self.assertEqual(bce.returncode, 5, bce.stdout + bce.stderr)
        self.assertIn("state FAILED: losses became non-finite at epoch 1: the discriminator's outputs are NaN, "
                      "for which bce has no loss", bce.stdout)
        r = self.gantry("submit", "--on-non-finite", "maybe", ok=False)
        self.assertEqual(r.returncode, 2)
        self.assertIn("'maybe' is not one of fail, continue", r.stderr)

    def test_collapse_on_ring8(self):
        # A one-dimensional latent space draws a curve through the ring and
        # fills few of its 8 modes (3 or 4 here, where a 2-D latent fills 5 or 6).
        r = self.gantry("submit", "--dataset", "ring8", "--latent-dim", "1", "--dropout", "0",
                        "--epochs", "60", "--eval-every", "5", "--watch")
        self.assertIn("state SUCCEEDED", r.stdout)
        self.assertRegex(r.stdout, r"alarm collapse at epoch \d+: the generated points fill only \d of the 8 modes")
        job_id = r.stdout.splitlines()[0]
        events = self.events(job_id)
        alarm = next(e["alarm"] for e in events if "alarm" in e)
        self.assertEqual(alarm["kind"], "collapse")
        at = int(alarm["epoch"])
        self.assertGreaterEqual(at, 35)  # two evaluations from epoch 30 (the warm-up) on
        evaluated = [e["epoch"] for e in events if "epoch" in e and "metrics" in e["epoch"]]
        modes = {int(r["epoch"]): int(r["metrics"]["modes"]) for r in evaluated}
        # Every epoch event of a ring8 job's evaluation carries its modes.
        self.assertTrue(all(1 <= m <= 8 for m in modes.values()), modes)
        self.assertLessEqual(modes[at], 4, modes)
        self.assertLessEqual(modes[at - 5], 4, modes)
        self.assertEqual(self.job(job_id)["alarms"], [alarm])


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--gantryd", required=True)
    p.add_argument("--gantry", required=True)
    ARGS, rest = p.parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == "__main__":
    main()
