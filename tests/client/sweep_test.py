#!/usr/bin/env python3
"""End-to-end tests of labels, label selectors, the new spec flags, --epoch
best and `gantry sweep` (one grid study: its jobs, its progress, its
leaderboard, a rerun that attaches, a CLI killed while the study goes on)
against a real gantryd.

    python3 tests/client/sweep_test.py --gantry build/bin/gantry --gantryd build/bin/gantryd
"""
import argparse
import csv
import io
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "e2e"))
from gantry_testlib import CliDaemon, generate_stubs  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ARGS = None

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_UNAVAILABLE, EXIT_NOT_FOUND = 0, 1, 2, 3, 4
EXIT_JOB_FAILED = 5
STUDY_ID = r"st-[0-9a-z]+"
METRICS = ["sliced_w1", "mmd", "precision", "recall", "density", "coverage"]
# A sweep of 2 seeds x 2 learning rates, small enough to run in seconds.
SMALL = ["--epochs", "6", "--size", "128", "--eval-every", "2", "--eval-points", "128"]


class SweepTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmpdir = tempfile.TemporaryDirectory()
        cls.tmp = cls.tmpdir.name
        cls.server = CliDaemon(ARGS.gantryd, ARGS.gantry, cls.tmp)

    @classmethod
    def tearDownClass(cls):
        rc = cls.server.stop()
        cls.tmpdir.cleanup()
        assert rc == 0, f"gantryd exited {rc}"

    def gantry(self, *args, expect=EXIT_OK):
        r = self.server.gantry(*args)
        self.assertEqual(r.returncode, expect,
                         f"gantry {' '.join(args)}\nstdout: {r.stdout}\nstderr: {r.stderr}")
        return r

    def listed(self, *selector_flags):
        out = self.gantry("list", "-o", "json", *selector_flags).stdout
        return [json.loads(line) for line in out.splitlines()]

    def studies(self):
        out = self.gantry("study", "list", "-o", "json").stdout
        return [json.loads(line) for line in out.splitlines()]

    def sweep_studies(self, name):
        return [st for st in self.studies() if st.get("labels", {}).get("sweep") == name]

    def study(self, study_id):
        return json.loads(self.gantry("study", "get", study_id, "-o", "json").stdout)

    # --- gantry sweep ---------------------------------------------------------

    def test_sweep_submits_watches_and_ranks(self):
        name = f"sw4-{os.getpid()}"
        r = self.gantry("-o", "json", "sweep", "--name", name, "--seed", "1..2",
                        "--learning-rate", "1e-3,5e-4", *SMALL)
        created = re.search(rf"sweep {name}: created study ({STUDY_ID}): 4 jobs \(learning_rate 2 x seed 2\)\n",
                            r.stderr)
        self.assertIsNotNone(created, r.stderr)
        study_id = created.group(1)
        rows = [json.loads(line) for line in r.stdout.splitlines()]
        self.assertEqual(len(rows), 4, r.stdout)
        # Exactly the cross product, each job once.
        self.assertEqual(sorted((row["params"]["seed"], row["params"]["learning_rate"]) for row in rows),
                         [("1", "0.0005"), ("1", "0.001"), ("2", "0.0005"), ("2", "0.001")])
        self.assertEqual(len({row["job_id"] for row in rows}), 4)
        for row in rows:
            self.assertEqual(row["state"], "SUCCEEDED", row)
            self.assertEqual(row["select_by"], "sliced_w1")
            self.assertGreater(row["best_epoch"], 0, row)
            self.assertLessEqual(row["best_epoch"], 6, row)
            self.assertEqual(sorted(row["best_metrics"]), sorted(METRICS), row)
            # The study's trial i is the sweep's i-th combination (the last flag fastest).
            trial = int(re.fullmatch(rf"{name} trial ([1-4])", row["name"]).group(1))
            self.assertEqual((row["params"]["learning_rate"], row["params"]["seed"]),
                             [("0.001", "1"), ("0.001", "2"), ("0.0005", "1"), ("0.0005", "2")][trial - 1])
        # Ranked by the best epoch's sliced_w1, lowest first.
        self.assertEqual([row["rank"] for row in rows], [1, 2, 3, 4])
        values = [row["best_metrics"]["sliced_w1"] for row in rows]
        self.assertEqual(values, sorted(values))
        # Each row is the job's own best epoch and metrics.
        for row in rows:
            job = json.loads(self.gantry("get", row["job_id"], "-o", "json").stdout)
            self.assertEqual(int(job["best_epoch"]), row["best_epoch"])
            self.assertAlmostEqual(job["best_metrics"]["sliced_w1"], row["best_metrics"]["sliced_w1"])

        # list --sweep: exactly these jobs, labelled by the sweep and its study.
        jobs = self.listed("--sweep", name)
        self.assertEqual(sorted(j["id"] for j in jobs), sorted(row["job_id"] for row in rows))
        self.assertTrue(all(j["labels"] == {"sweep": name, "study": study_id, "trial": j["labels"]["trial"],
                                            "segment": "0"} for j in jobs), jobs)
        self.assertEqual(sorted(j["labels"]["trial"] for j in jobs), ["1", "2", "3", "4"])
        self.assertEqual(sorted(j["id"] for j in self.listed("--label", f"sweep={name}")),
                         sorted(j["id"] for j in jobs))

        # The leaderboard of the existing sweep: csv, the same order.
        text = self.gantry("-o", "csv", "sweep", "--leaderboard", name).stdout
        table = list(csv.reader(io.StringIO(text)))
        self.assertEqual(table[0], ["rank", "job_id", "learning_rate", "seed", "state", "best_epoch",
                                    *METRICS, "stop_reason"])
        self.assertEqual(len(table), 5)
        self.assertEqual([line[1] for line in table[1:]], [row["job_id"] for row in rows])
        self.assertEqual([line[0] for line in table[1:]], ["1", "2", "3", "4"])
        for line, row in zip(table[1:], rows):
            self.assertEqual(int(line[5]), row["best_epoch"])
            self.assertAlmostEqual(float(line[6]), row["best_metrics"]["sliced_w1"], places=6)
        # ... and as a table.
        out = self.gantry("sweep", "--leaderboard", name).stdout.splitlines()
        self.assertEqual(out[0], f"leaderboard of sweep {name}: 4 jobs, by sliced_w1 (lower is better)")
        self.assertEqual(out[1].split()[:6], ["RANK", "JOB_ID", "LEARNING_RATE", "SEED", "STATE", "BEST_EPOCH"])
        self.assertEqual([line.split()[1] for line in out[2:]], [row["job_id"] for row in rows])

        # A retried sweep creates nothing twice: it attaches to its study.
        r = self.gantry("sweep", "--name", name, "--seed", "1..2", "--learning-rate", "1e-3,5e-4",
                        *SMALL, "--no-watch")
        self.assertEqual(r.stdout, f"{name} {study_id}\n")
        self.assertIn(f"sweep {name}: attached to study {study_id} (SUCCEEDED), created with these values: "
                      "4 jobs", r.stderr)
        self.assertEqual(len(self.listed("--sweep", name)), 4)
        self.assertEqual([st["id"] for st in self.sweep_studies(name)], [study_id])
        # The same name for a different sweep is refused, naming the study.
        for other in (["--seed", "3"], ["--seed", "2,1", "--learning-rate", "1e-3,5e-4"]):
            r = self.gantry("sweep", "--name", name, *other, *SMALL, expect=EXIT_ERROR)
            self.assertIn(f"gantry: sweep: {name} exists with other values (study {study_id}); "
                          "choose another --name", r.stderr)
        self.assertEqual(len(self.listed("--sweep", name)), 4)
        self.assertEqual([st["id"] for st in self.sweep_studies(name)], [study_id])

    def test_sweep_higher_is_better_metrics_rank_descending(self):
        name = f"swrecall-{os.getpid()}"
        r = self.gantry("-o", "json", "sweep", "--name", name, "--seed", "1,2,3", "--select-by", "recall",
                        *SMALL)
        rows = [json.loads(line) for line in r.stdout.splitlines()]
        self.assertEqual(len(rows), 3)
        self.assertTrue(all(row["select_by"] == "recall" for row in rows), rows)
        values = [row["best_metrics"]["recall"] for row in rows]
        self.assertEqual(values, sorted(values, reverse=True))

    def test_sweep_plain_progress_when_stdout_is_not_a_terminal(self):
        name = f"swplain-{os.getpid()}"
        r = self.gantry("sweep", "--name", name, "--seed", "7,8", "--epochs", "2", "--size", "64")
        lines = r.stdout.splitlines()
        self.assertRegex(lines[0], rf"^sweep {name}: created study {STUDY_ID}: 2 jobs \(seed 2\)$")
        self.assertNotIn("\033", r.stdout)   # no cursor movement: plain lines
        self.assertNotIn("\r", r.stdout)
        job_lines = [line for line in lines if re.match(r"^j-[0-9a-z]{10}  seed=[78]  ", line)]
        self.assertTrue(any("SUCCEEDED  epoch 2/2" in line for line in job_lines), r.stdout)
        self.assertIn(f"sweep {name}: 2/2 done, 0 running, 0 queued, 100%", lines)
        board = lines.index(f"leaderboard of sweep {name}: 2 jobs, by sliced_w1 (lower is better)")
        self.assertEqual(len(lines), board + 4)  # the header line, the table header, 2 rows

    def test_sweep_limits_and_bad_values(self):
        studies, jobs = len(self.studies()), len(self.listed())
        r = self.gantry("sweep", "--seed", "1..100", "--learning-rate", "1e-3,2e-3,3e-3", expect=EXIT_USAGE)
        self.assertIn("gantry: sweep: 300 jobs (learning_rate 3 x seed 100) are more than 256; "
                      "sweep fewer values", r.stderr)
        r = self.gantry("sweep", "--seed", "1..1000", expect=EXIT_USAGE)
        self.assertIn("--seed: range '1..1000' has more than 256 values", r.stderr)
        r = self.gantry("sweep", "--seed", "1..101", expect=EXIT_USAGE)
        self.assertIn("gantry: sweep: --seed has 101 values, more than the 100 one axis may have", r.stderr)
        r = self.gantry("sweep", "--epochs", "9..3", expect=EXIT_USAGE)
        self.assertIn("--epochs: range '9..3' is empty", r.stderr)
        # Only a study's parameters take several values.
        params = ("learning_rate, beta1, beta2, dropout, gp_weight, weight_decay, latent_dim, batch_size, "
                  "n_critic, pac, generator_hidden, discriminator_hidden, loss, spectral_norm, seed")
        r = self.gantry("sweep", "--name", "x", "--seed", "1,2", "--epochs", "2,3", expect=EXIT_USAGE)
        self.assertIn("gantry: sweep: --epochs takes one value: a sweep is a grid study, whose trials vary "
                      + params + "\n", r.stderr)
        for flag, values in (("--dataset", "ring8,grid25"), ("--select-by", "mmd,recall"),
                             ("--eval-every", "1,2")):
            r = self.gantry("sweep", "--name", "x", flag, values, expect=EXIT_USAGE)
            self.assertIn(f"gantry: sweep: {flag} takes one value: a sweep is a grid study", r.stderr)
        many = [arg for i in range(13) for arg in ("--label", f"k{i}=v")]
        r = self.gantry("sweep", "--name", "x", "--seed", "1", *many, expect=EXIT_USAGE)
        self.assertIn("13 --label labels and sweep=x are more than the 13 a study may carry", r.stderr)
        r = self.gantry("sweep", "--learning-rate", "1e-3,fast", expect=EXIT_USAGE)
        self.assertIn("--learning-rate: 'fast' is not a finite decimal number", r.stderr)
        r = self.gantry("sweep", "--loss", "bce,bogus", expect=EXIT_USAGE)
        self.assertIn("--loss: 'bogus' is not one of bce, non_saturating, hinge, wgan_gp", r.stderr)
        r = self.gantry("sweep", "--seed", "1,1", expect=EXIT_USAGE)
        self.assertIn("--seed: '1' is given twice", r.stderr)
        r = self.gantry("sweep", "--name", "no spaces", "--seed", "1", expect=EXIT_USAGE)
        self.assertIn("--name 'no spaces' must be 1..63 characters of [A-Za-z0-9._-]", r.stderr)
        r = self.gantry("sweep", "--label", "sweep=x", expect=EXIT_USAGE)
        self.assertIn("the sweep sets the label sweep itself", r.stderr)
        r = self.gantry("sweep", "--leaderboard", f"none-{os.getpid()}", expect=EXIT_NOT_FOUND)
        self.assertIn(f"no job carries the label sweep=none-{os.getpid()}", r.stderr)
        r = self.gantry("sweep", "--leaderboard", "x", "--seed", "1", expect=EXIT_USAGE)
        self.assertIn("--leaderboard prints an existing sweep", r.stderr)
        # Nothing was created by any of them.
        self.assertEqual(self.listed("--label", "sweep=x"), [])
        self.assertEqual((len(self.studies()), len(self.listed())), (studies, jobs))

    def test_sweep_of_failing_jobs_exits_5_and_leaves_them_unranked(self):
        data = os.path.join(self.tmp, "overflow.csv")
        with open(data, "w") as f:
            f.write("3e38,3e38\n-3e38,3e38\n1,2\n")
        name = f"swfail-{os.getpid()}"
        r = self.gantry("-o", "csv", "sweep", "--name", name, "--data", data, "--batch-size", "1,2",
                        "--epochs", "2", expect=EXIT_JOB_FAILED)
        table = list(csv.reader(io.StringIO(r.stdout)))
        self.assertEqual(table[0][:3], ["rank", "job_id", "batch_size"])
        self.assertEqual([(line[0], line[3]) for line in table[1:]], [("", "FAILED"), ("", "FAILED")])
        self.assertRegex(r.stderr, rf"gantry: sweep {name}: study {STUDY_ID} FAILED")

    def test_sweep_is_one_grid_study_in_the_sweeps_order(self):
        name = f"swgrid-{os.getpid()}"
        r = self.gantry("sweep", "--name", name, "--label", "team=a", "--generator-hidden", "16,32/8",
                        "--learning-rate", "1e-3,5e-4", "--loss", "bce,hinge", "--spectral-norm", "true,false",
                        "--epochs", "1", "--size", "64", "--eval-points", "64", "--beta1", "0.5")
        self.assertIn("leaderboard of sweep", r.stdout)
        [listed] = self.sweep_studies(name)
        study = self.study(listed["id"])
        self.assertEqual((study["name"], study["labels"], study["state"]),
                         (name, {"sweep": name, "team": "a"}, "JOB_STATE_SUCCEEDED"))
        spec = study["spec"]
        self.assertEqual((spec["algorithm"], spec["objective"], int(spec["max_trials"]), int(spec["concurrency"])),
                         ("grid", "sliced_w1", 16, 16))
        # One-valued flags are the base; several-valued ones the space, values as given
        # (the base has their first values: the server checks it as a job).
        self.assertEqual((spec["base"]["beta1"], int(spec["base"]["epochs"]), spec["base"]["loss"]),
                         (0.5, 1, "bce"))
        self.assertEqual([(p["name"], p["kind"], p["values"]) for p in spec["space"]],
                         [("generator_hidden", "choice", ["16,32", "8"]),
                          ("learning_rate", "choice", ["1e-3", "5e-4"]),
                          ("loss", "choice", ["bce", "hinge"]),
                          ("spectral_norm", "choice", ["true", "false"])])
        # Trial i is the sweep's i-th combination, the last flag varying fastest.
        combos = [{"generator_hidden": g, "learning_rate": lr, "loss": loss, "spectral_norm": sn}
                  for g in ("16,32", "8") for lr in ("1e-3", "5e-4") for loss in ("bce", "hinge")
                  for sn in ("true", "false")]
        self.assertEqual([int(t["number"]) for t in study["trials"]], list(range(1, 17)))
        self.assertEqual([t["params"] for t in study["trials"]], combos)
        # Each job trains its trial's values, labelled sweep=NAME and the --label.
        jobs = {j["labels"]["trial"]: j for j in self.listed("--sweep", name)}
        self.assertEqual(len(jobs), 16)
        for i, combo in enumerate(combos, start=1):
            job = jobs[str(i)]
            self.assertEqual(job["labels"]["team"], "a")
            self.assertEqual(job["name"], f"{name} trial {i}")
            self.assertEqual(",".join(job["spec"]["generator_hidden"]["sizes"]), combo["generator_hidden"])
            self.assertAlmostEqual(job["spec"]["learning_rate"], float(combo["learning_rate"]))
            self.assertEqual(job["spec"]["loss"], combo["loss"])
            self.assertEqual(job["spec"].get("spectral_norm", False), combo["spectral_norm"] == "true")
            self.assertEqual(job["spec"]["beta1"], 0.5)

    def test_a_killed_sweep_goes_on_and_the_same_command_attaches(self):
        name = f"swkill-{os.getpid()}"
        command = ["sweep", "--name", name, "--seed", "1,2", "--epochs", "1500", "--size", "64",
                   "--eval-every", "500", "--eval-points", "64"]
        cli = subprocess.Popen([ARGS.gantry, "--server", self.server.address, *command],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.time() + 60
            while not any(j["state"] == "JOB_STATE_RUNNING" for j in self.listed("--sweep", name)):
                self.assertLess(time.time(), deadline, "no job of the sweep started")
                self.assertIsNone(cli.poll(), "the sweep ended before its jobs ran")
                time.sleep(0.05)
        finally:
            cli.send_signal(signal.SIGKILL)
            cli.communicate(timeout=30)
        [study] = self.sweep_studies(name)
        self.assertEqual(study["state"], "JOB_STATE_RUNNING")
        # The study goes on by itself, to the end.
        deadline = time.time() + 300
        while self.study(study["id"])["state"] == "JOB_STATE_RUNNING":
            self.assertLess(time.time(), deadline, "the study did not end")
            time.sleep(0.2)
        self.assertEqual(self.study(study["id"])["state"], "JOB_STATE_SUCCEEDED")
        jobs = sorted(j["id"] for j in self.listed("--sweep", name))
        self.assertEqual(len(jobs), 2)
        # The same command attaches: no new study, no new job, the leaderboard.
        r = self.gantry(*command)
        lines = r.stdout.splitlines()
        self.assertEqual(lines[0], f"sweep {name}: attached to study {study['id']} (SUCCEEDED), "
                                   "created with these values: 2 jobs (seed 2)")
        board = lines.index(f"leaderboard of sweep {name}: 2 jobs, by sliced_w1 (lower is better)")
        self.assertEqual(sorted(line.split()[1] for line in lines[board + 2:]), jobs)
        self.assertEqual([st["id"] for st in self.sweep_studies(name)], [study["id"]])
        self.assertEqual(sorted(j["id"] for j in self.listed("--sweep", name)), jobs)

    def test_ctrl_c_leaves_the_sweep_running_and_says_how_to_follow_or_stop_it(self):
        name = f"swint-{os.getpid()}"
        cli = subprocess.Popen([ARGS.gantry, "--server", self.server.address, "sweep", "--name", name,
                                "--seed", "1,2", "--epochs", "100000", "--size", "64"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.time() + 60
            while not any(j["state"] == "JOB_STATE_RUNNING" for j in self.listed("--sweep", name)):
                self.assertLess(time.time(), deadline, "no job of the sweep started")
                self.assertIsNone(cli.poll(), "the sweep ended before its jobs ran")
                time.sleep(0.05)
            cli.send_signal(signal.SIGINT)
            _, err = cli.communicate(timeout=30)
        finally:
            if cli.poll() is None:
                cli.kill()
                cli.wait()
        self.assertEqual(cli.returncode, 130, err)
        [study] = self.sweep_studies(name)
        self.assertIn(f"gantry: interrupted; sweep {name} goes on as study {study['id']}: the same command "
                      f"follows it again (gantry study cancel {study['id']} stops it)", err)
        self.assertEqual(self.study(study["id"])["state"], "JOB_STATE_RUNNING")
        # The hint works: the study and its jobs end CANCELLED.
        self.gantry("study", "cancel", study["id"])
        deadline = time.time() + 60
        while any(j["state"] in ("JOB_STATE_QUEUED", "JOB_STATE_RUNNING") for j in self.listed("--sweep", name)):
            self.assertLess(time.time(), deadline, "the cancelled sweep's jobs still run")
            time.sleep(0.1)
        self.assertEqual(self.study(study["id"])["state"], "JOB_STATE_CANCELLED")

    # --- labels and selectors -------------------------------------------------

    def test_labels_on_submit_get_and_list(self):
        team = f"t{os.getpid()}"
        a = self.gantry("submit", "--epochs", "1", "--size", "64", "--label", f"team={team}",
                        "--label", "run=a").stdout.strip()
        b = self.gantry("submit", "--epochs", "1", "--size", "64", "--label", f"team={team}",
                        "--label", "run=b").stdout.strip()
        self.assertRegex(self.gantry("get", a).stdout, rf"labels:\s+run=a,team={team}\n")
        self.assertEqual([j["id"] for j in self.listed("--label", f"team={team}")], [b, a])
        self.assertEqual([j["id"] for j in self.listed("--label", f"team={team}", "--label", "run=b")], [b])
        self.assertEqual(self.listed("--label", f"team={team}", "--label", "run=c"), [])
        table = self.gantry("list", "--label", f"team={team}").stdout.splitlines()
        self.assertEqual(len(table), 3)
        # Bad labels: each error names the label and the rule.
        r = self.gantry("submit", "--label", "team", expect=EXIT_USAGE)
        self.assertIn("gantry: submit: --label 'team' is not key=value", r.stderr)
        r = self.gantry("submit", "--label", "=x", expect=EXIT_USAGE)
        self.assertIn("--label '=x' has an empty key", r.stderr)
        r = self.gantry("submit", "--label", "a b=x", expect=EXIT_USAGE)
        self.assertIn("gantry: submit: labels: key 'a b' (value 'x') must be 1..63 characters of "
                      "[A-Za-z0-9._-] starting with a letter or digit", r.stderr)
        r = self.gantry("submit", "--label", "k=" + "v" * 64, expect=EXIT_USAGE)
        self.assertIn("labels: value '" + "v" * 64 + "' of key 'k' must be 0..63 characters", r.stderr)
        many = [arg for i in range(17) for arg in ("--label", f"k{i}=v")]
        r = self.gantry("submit", *many, expect=EXIT_USAGE)
        self.assertIn("labels: 17 labels is more than the 16 a job may carry", r.stderr)
        # Bad selectors: the term is named.
        r = self.gantry("list", "--label", "team", expect=EXIT_USAGE)
        self.assertIn("gantry: list: --label 'team' is not key=value", r.stderr)
        r = self.gantry("list", "--label", "a=1,b=2", expect=EXIT_USAGE)
        self.assertIn("--label 'a=1,b=2' holds a ','", r.stderr)
        r = self.gantry("list", "--label", "a=b=c", expect=EXIT_USAGE)
        self.assertIn("gantry: list: label_selector: term 'a=b=c': value 'b=c' of key 'a' must be "
                      "0..63 characters of [A-Za-z0-9._-]", r.stderr)
        r = self.gantry("list", "--label", "run=a", "--label", "run=b", expect=EXIT_USAGE)
        self.assertIn("label_selector: term 'run=b': key 'run' is given twice", r.stderr)
        r = self.gantry("list", "--sweep", "x y", expect=EXIT_USAGE)
        self.assertIn("label_selector: term 'sweep=x y'", r.stderr)

    # --- the new spec flags, --epoch best ---------------------------------------

    def test_new_spec_flags_reach_the_spec(self):
        job_id = self.gantry("submit", "--epochs", "4", "--size", "128", "--loss", "wgan_gp",
                             "--gp-weight", "5", "--n-critic", "3", "--spectral-norm", "--eval-every", "2",
                             "--eval-points", "64", "--select-by", "mmd", "--patience", "20",
                             "--min-delta", "0.001").stdout.strip()
        spec = json.loads(self.gantry("get", job_id, "-o", "json").stdout)["spec"]
        self.assertEqual(spec["loss"], "wgan_gp")
        self.assertEqual(spec["gp_weight"], 5)
        self.assertEqual(int(spec["n_critic"]), 3)
        self.assertIs(spec["spectral_norm"], True)
        self.assertEqual(int(spec["eval_every"]), 2)
        self.assertEqual(int(spec["eval_points"]), 64)
        self.assertEqual(spec["select_by"], "mmd")
        self.assertEqual(int(spec["patience"]), 20)
        self.assertAlmostEqual(spec["min_delta"], 0.001)
        self.gantry("watch", job_id)
        # A JSON spec file with the new fields; a flag overrides one.
        path = os.path.join(self.tmp, "quality.json")
        with open(path, "w") as f:
            json.dump({"epochs": "2", "dataset": {"size": "64"}, "loss": "hinge", "select_by": "recall",
                       "patience": "3", "spectral_norm": True}, f)
        job_id = self.gantry("submit", "-f", path, "--loss", "non_saturating",
                             "--spectral-norm=false").stdout.strip()
        spec = json.loads(self.gantry("get", job_id, "-o", "json").stdout)["spec"]
        self.assertEqual((spec["loss"], spec["select_by"], int(spec["patience"])),
                         ("non_saturating", "recall", 3))
        self.assertFalse(spec.get("spectral_norm", False))
        self.gantry("watch", job_id)
        r = self.gantry("submit", "--loss", "l2", expect=EXIT_USAGE)
        self.assertIn("--loss: 'l2' is not one of bce, non_saturating, hinge, wgan_gp", r.stderr)
        r = self.gantry("submit", "--spectral-norm=maybe", expect=EXIT_USAGE)
        self.assertIn("--spectral-norm: 'maybe' is not true or false", r.stderr)
        r = self.gantry("submit", "--gp-weight", "nan", expect=EXIT_USAGE)
        self.assertIn("--gp-weight: 'nan' is not a finite decimal number", r.stderr)
        r = self.gantry("submit", "--select-by", "fid", expect=EXIT_USAGE)
        self.assertIn("--select-by: 'fid' is not one of sliced_w1, mmd, precision, recall, density, "
                      "coverage", r.stderr)

    def test_epoch_best_samples_and_exports_the_best_epoch(self):
        job_id = self.gantry("submit", "--epochs", "8", "--size", "128", "--eval-every", "2",
                             "--checkpoint-every", "1").stdout.strip()
        out = self.gantry("watch", job_id).stdout
        # Evaluated epochs carry their metrics in the progress lines.
        self.assertRegex(out, r"\nepoch 2/8 loss_d .* quality [0-9.]+ metrics sliced_w1 \S+ mmd \S+ "
                              r"precision \S+ recall \S+ density \S+ coverage \S+\n")
        job = json.loads(self.gantry("get", job_id, "-o", "json").stdout)
        best = int(job["best_epoch"])
        self.assertGreater(best, 0)
        self.assertRegex(self.gantry("get", job_id).stdout, rf"best epoch:\s+{best} \(by sliced_w1\)\n")
        sample = json.loads(self.gantry("sample", job_id, "-n", "5", "--seed", "4", "--epoch", "best",
                                        "-o", "json").stdout)
        self.assertEqual(sample["epoch"], best)
        at = json.loads(self.gantry("sample", job_id, "-n", "5", "--seed", "4", "--epoch", str(best),
                                    "-o", "json").stdout)
        self.assertEqual(sample["points"], at["points"])
        out_file = os.path.join(self.tmp, "best.pt")
        self.assertIn(f"(epoch {best},", self.gantry("export", job_id, "--epoch", "best",
                                                      "--out", out_file).stdout)
        r = self.gantry("sample", job_id, "--epoch", "worst", expect=EXIT_USAGE)
        self.assertIn("gantry: sample: --epoch 'worst' is neither an epoch (an integer >= 1) nor best",
                      r.stderr)
        r = self.gantry("export", job_id, "--epoch", "0", expect=EXIT_USAGE)
        self.assertIn("gantry: export: --epoch '0' is neither an epoch", r.stderr)


class LeaderboardTest(unittest.TestCase):
    """The leaderboard's ranking and formats against a fake gantry server
    whose ListJobs answers jobs with chosen best metrics, in pages."""

    @classmethod
    def setUpClass(cls):
        import grpc
        from concurrent import futures
        cls.stubs = tempfile.TemporaryDirectory()
        generate_stubs(cls.stubs.name)
        from gantry.v1 import gantry_pb2 as pb, gantry_pb2_grpc
        cls.pb = pb
        cls.jobs = []          # what ListJobs answers, newest first
        cls.selectors = []     # the label selectors it was asked for
        test = cls

        class Fake(gantry_pb2_grpc.GantryServicer):
            def ListJobs(self, request, context):
                test.selectors.append(request.label_selector)
                wanted = dict(t.split("=", 1) for t in request.label_selector.split(",") if t)
                jobs = [j for j in test.jobs if all(j.labels.get(k) == v for k, v in wanted.items())]
                start = int(request.page_token or 0)
                end = start + 2   # pages of 2: the CLI must follow next_page_token
                return pb.ListJobsResponse(jobs=jobs[start:end],
                                           next_page_token=str(end) if end < len(jobs) else "")

        cls.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        gantry_pb2_grpc.add_GantryServicer_to_server(Fake(), cls.server)
        cls.port = cls.server.add_insecure_port("127.0.0.1:0")
        cls.server.start()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop(0)
        cls.stubs.cleanup()

    def job(self, i, sweep, seed, lr, state="SUCCEEDED", select_by="sliced_w1", best=None, stop=""):
        pb = self.pb
        job = pb.Job(id=f"j-{i:010d}", name=f"{sweep}-{i}", state=getattr(pb, "JOB_STATE_" + state),
                     spec=pb.JobSpec(seed=seed, learning_rate=lr, epochs=50, select_by=select_by),
                     labels={"sweep": sweep}, stop_reason=stop)
        if best is not None:
            job.best_epoch = best[0]
            job.best_metrics.CopyFrom(pb.Metrics(**dict(zip(METRICS, best[1:]))))
        return job

    def leaderboard(self, name, output, expect=EXIT_OK):
        r = subprocess.run([ARGS.gantry, "--server", f"127.0.0.1:{self.port}", "-o", output, "sweep",
                            "--leaderboard", name], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, expect, r.stderr)
        return r

    def test_ranked_by_the_select_by_metric_in_every_format(self):
        # Newest first, as ListJobs answers: j-5 ... j-1; j-6 is another sweep's.
        type(self).jobs = [
            self.job(6, "other", 1, 0.001, best=(9, 0.0, 0, 0, 0, 0, 0)),
            self.job(5, "fake", 2, 0.0005, state="FAILED"),
            self.job(4, "fake", 2, 0.001, best=(30, 0.30, 0.03, 0.7, 0.6, 0.9, 0.8)),
            self.job(3, "fake", 1, 0.0005, best=(20, 0.10, 0.01, 0.9, 0.8, 1.0, 0.9),
                     stop="early stopping: sliced_w1 did not improve, by 0.01, for 5 epochs"),
            self.job(2, "fake", 1, 0.001, best=(40, 0.20, 0.02, 0.8, 0.95, 1.1, 0.7)),
            self.job(1, "fake", 1, 0.001, state="CANCELLED"),
        ]
        rows = [json.loads(line) for line in self.leaderboard("fake", "json").stdout.splitlines()]
        self.assertEqual(self.selectors[-1], "sweep=fake")
        self.assertEqual([r["job_id"] for r in rows],
                         ["j-0000000003", "j-0000000002", "j-0000000004", "j-0000000001", "j-0000000005"])
        self.assertEqual([r["rank"] for r in rows], [1, 2, 3, None, None])
        self.assertEqual([r["best_metrics"]["sliced_w1"] for r in rows[:3]], [0.1, 0.2, 0.3])
        self.assertIsNone(rows[3]["best_metrics"])
        self.assertEqual(rows[0]["params"], {"learning_rate": "0.0005", "seed": "1"})
        self.assertEqual(rows[0]["best_epoch"], 20)
        self.assertEqual(rows[4]["state"], "FAILED")

        table = list(csv.reader(io.StringIO(self.leaderboard("fake", "csv").stdout)))
        self.assertEqual(table[0], ["rank", "job_id", "learning_rate", "seed", "state", "best_epoch",
                                    *METRICS, "stop_reason"])
        self.assertEqual(table[1], ["1", "j-0000000003", "0.0005", "1", "SUCCEEDED", "20", "0.1", "0.01",
                                    "0.9", "0.8", "1", "0.9",
                                    "early stopping: sliced_w1 did not improve, by 0.01, for 5 epochs"])
        self.assertEqual(table[4], ["", "j-0000000001", "0.001", "1", "CANCELLED", "", "", "", "", "", "",
                                    "", ""])

        out = self.leaderboard("fake", "table").stdout.splitlines()
        self.assertEqual(out[0], "leaderboard of sweep fake: 5 jobs, by sliced_w1 (lower is better)")
        self.assertEqual([line.split()[:2] for line in out[2:]],
                         [["1", "j-0000000003"], ["2", "j-0000000002"], ["3", "j-0000000004"],
                          ["-", "j-0000000001"], ["-", "j-0000000005"]])

    def test_higher_is_better_and_mixed_metrics(self):
        type(self).jobs = [
            self.job(3, "rec", 3, 0.001, select_by="recall", best=(5, 0.1, 0, 0, 0.50, 0, 0)),
            self.job(2, "rec", 2, 0.001, select_by="recall", best=(5, 0.3, 0, 0, 0.90, 0, 0)),
            self.job(1, "rec", 1, 0.001, select_by="recall", best=(5, 0.2, 0, 0, 0.70, 0, 0)),
        ]
        rows = [json.loads(line) for line in self.leaderboard("rec", "json").stdout.splitlines()]
        self.assertEqual([r["best_metrics"]["recall"] for r in rows], [0.9, 0.7, 0.5])
        self.assertEqual([r["params"] for r in rows], [{"seed": "2"}, {"seed": "1"}, {"seed": "3"}])
        self.assertIn("by recall (higher is better)", self.leaderboard("rec", "table").stdout)
        # Jobs that select by different metrics are ranked by sliced_w1, and told so.
        type(self).jobs[0].spec.select_by = "mmd"
        r = self.leaderboard("rec", "json")
        self.assertEqual([json.loads(line)["best_metrics"]["sliced_w1"] for line in r.stdout.splitlines()],
                         [0.1, 0.2, 0.3])
        self.assertIn("gantry: sweep rec: its jobs select their best epoch by different metrics; "
                      "ranked by sliced_w1", r.stderr)
        self.leaderboard("none", "json", expect=EXIT_NOT_FOUND)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--gantry", default=os.path.join(ROOT, "build/bin/gantry"))
    ap.add_argument("--gantryd", default=os.path.join(ROOT, "build/bin/gantryd"))
    ARGS, rest = ap.parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
