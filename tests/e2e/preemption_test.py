#!/usr/bin/env python3
"""Priorities and exact preemption (issue 26, point 3), against a real gantryd
with one worker and the CLI:

- a low-priority job is preempted twice by high-priority ones: each time it
  stops at an epoch boundary with a checkpoint, is QUEUED again with a
  reason naming the job it made room for, and resumes after it (RUNNING
  again), with every epoch reported once;
- it ends bit-identical to the same job run alone: every epoch's losses and
  metrics, and a sample with the same seed;
- `--priority` is refused when it is not low, normal or high.

    python3 tests/e2e/preemption_test.py --gantryd build/bin/gantryd --gantry build/bin/gantry
"""
import argparse
import json
import sys
import tempfile
import time
import unittest

from gantry_testlib import CliDaemon

ARGS = None
# About 45 ms an epoch: long enough to preempt twice on the way.
EPOCHS = 200
SPEC = ["--epochs", str(EPOCHS), "--size", "4096", "--seed", "7", "--checkpoint-every", "25",
        "--eval-every", "20", "--batch-size", "32"]


class PreemptionTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmpdir = tempfile.TemporaryDirectory()
        cls.d = CliDaemon(ARGS.gantryd, ARGS.gantry, cls.tmpdir.name, "--max-concurrent-jobs", "1",
                          "--priority-aging-minutes", "0")

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()
        cls.tmpdir.cleanup()

    def gantry(self, *args):
        r = self.d.gantry(*args)
        self.assertEqual(r.returncode, 0, f"gantry {' '.join(args)}: {r.stderr}")
        return r.stdout

    def job(self, job_id):
        return json.loads(self.gantry("-o", "json", "get", job_id))

    def events(self, job_id):
        return [json.loads(l) for l in self.gantry("-o", "json", "watch", job_id).splitlines() if l.strip()]

    def wait(self, what, fn, timeout=300):
        deadline = time.time() + timeout
        while True:
            v = fn()
            if v:
                return v
            self.assertLess(time.time(), deadline, f"timed out waiting for {what}")
            time.sleep(0.02)

    def test_preempted_twice_ends_bit_identical(self):
        low = self.gantry("submit", "--name", "low", "--priority", "low", *SPEC).split()[0]
        self.assertEqual(self.job(low).get("priority"), "PRIORITY_LOW")
        highs = []
        for round_ in range(2):
            start = int(self.job(low).get("epochs_done", 0))
            self.wait(f"low training past epoch {start + 10}",
                      lambda: self.job(low)["state"] == "JOB_STATE_RUNNING" and
                      int(self.job(low).get("epochs_done", 0)) >= start + 10)
            high = self.gantry("submit", "--name", f"high {round_}", "--priority", "high",
                               "--epochs", "5", "--size", "256").split()[0]
            highs.append(high)
            self.wait(f"high {round_} to succeed", lambda: self.job(high)["state"] == "JOB_STATE_SUCCEEDED")
        self.wait("low to succeed", lambda: self.job(low)["state"] == "JOB_STATE_SUCCEEDED")

        events = self.events(low)
        states = [(e["state"]["state"], e["state"].get("reason", "")) for e in events if "state" in e]
        queued_again = [r for s, r in states[1:] if s == "JOB_STATE_QUEUED"]
        self.assertEqual(len(queued_again), 2, states)
        for high, reason in zip(highs, queued_again):
            self.assertRegex(reason, rf"^preempted for job {high} \(priority high\) after epoch \d+$")
        self.assertEqual([s for s, _ in states],
                         ["JOB_STATE_QUEUED", "JOB_STATE_RUNNING", "JOB_STATE_QUEUED", "JOB_STATE_RUNNING",
                          "JOB_STATE_QUEUED", "JOB_STATE_RUNNING", "JOB_STATE_SUCCEEDED"])
        epochs = [int(e["epoch"]["epoch"]) for e in events if "epoch" in e]
        self.assertEqual(epochs, list(range(1, EPOCHS + 1)))  # each once, in order
        # The high jobs ran while low waited: each started after a preemption.
        for high in highs:
            self.assertEqual(self.job(high)["state"], "JOB_STATE_SUCCEEDED")

        # The same job alone.
        alone = self.gantry("submit", "--name", "alone", "--priority", "low", *SPEC).split()[0]
        self.wait("the job alone to succeed", lambda: self.job(alone)["state"] == "JOB_STATE_SUCCEEDED")

        def reports(job_id):
            out = {}
            for e in self.events(job_id):
                if "epoch" in e:
                    r = dict(e["epoch"])
                    r.pop("seconds", None)  # wall time, not a result
                    out[int(r["epoch"])] = r
            return out
        a, b = reports(low), reports(alone)
        self.assertEqual(sorted(a), sorted(b))
        for epoch in sorted(a):
            self.assertEqual(a[epoch], b[epoch], f"epoch {epoch}")
        sample = ["sample", "--count", "500", "--seed", "11"]
        self.assertEqual(self.gantry(*sample, low), self.gantry(*sample, alone))
        self.assertEqual(self.gantry(*sample, "--epoch", "best", low),
                         self.gantry(*sample, "--epoch", "best", alone))

    def test_a_bad_priority_is_refused(self):
        r = self.d.gantry("submit", "--priority", "urgent", "--epochs", "1")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("--priority 'urgent' is not one of low, normal, high", r.stderr)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--gantryd", required=True)
    parser.add_argument("--gantry", required=True)
    ARGS, rest = parser.parse_known_args()
    unittest.main(argv=[sys.argv[0], *rest], verbosity=2)
