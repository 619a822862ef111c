#!/usr/bin/env python3
"""Studies (issue 24), against real gantryd processes and real training:

- ASHA on ring8 survives kill -9 of its gantryd mid-study: after the
  restart it takes exactly the decisions an undisturbed gantryd takes for
  the same spec (same trials, parameters, promotions and objectives, bit
  for bit), and no segment runs twice (one job per trial segment);
- PBT's member with an exploit in its lineage, replayed as one job
  (ReplayTrial: its parameters changing at the epochs they changed, from
  the parent it copied), trains bit-identically: every epoch's losses
  equal those of the member's segment jobs, and its samples equal the
  member's last job's;
- the resource: a grid study over HTTP/JSON followed with WatchStudy until
  it ends, cancel of a running study (its jobs end CANCELLED), delete (its
  jobs go too), and bad input refused naming the field.

    python3 tests/e2e/studies_test.py --gantryd build/bin/gantryd
"""
import argparse
import json
import os
import sys
import subprocess
import tempfile
import threading
import time
import unittest

from gantry_testlib import Gantryd, free_port, generate_stubs

ARGS = None
pb = None
grpc = None


def setUpModule():
    global pb, grpc
    ARGS.stubs = tempfile.TemporaryDirectory()
    generate_stubs(ARGS.stubs.name)
    from gantry.v1 import gantry_pb2
    import grpc as grpc_module
    pb, grpc = gantry_pb2, grpc_module


def base_spec(epochs):
    """A small ring8 job: cheap epochs, evaluated on few points."""
    return pb.JobSpec(dataset=pb.Dataset(kind=pb.DATASET_KIND_RING8, size=512), batch_size=64,
                      epochs=epochs, checkpoint_every=1, eval_points=128, preview_points=0)


def lr_param(lo=1e-4, hi=3e-2):
    return pb.SearchParam(name="learning_rate", kind="log_uniform", min=lo, max=hi)


def wait_study(stub, study_id, timeout=400, until=None):
    deadline = time.monotonic() + timeout
    while True:
        study = stub.GetStudy(pb.GetStudyRequest(study_id=study_id), timeout=30)
        if (until or (lambda s: s.state != pb.JOB_STATE_RUNNING))(study):
            return study
        if time.monotonic() > deadline:
            raise AssertionError(f"study {study_id} still {pb.JobState.Name(study.state)}: {study.summary}")
        time.sleep(0.2)


def wait_job(stub, job_id, timeout=300):
    deadline = time.monotonic() + timeout
    while True:
        job = stub.GetJob(pb.GetJobRequest(job_id=job_id), timeout=30)
        if job.state in (pb.JOB_STATE_SUCCEEDED, pb.JOB_STATE_FAILED, pb.JOB_STATE_CANCELLED):
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} still {pb.JobState.Name(job.state)}")
        time.sleep(0.2)


def decisions(study):
    """What a study decided, trial by trial: every segment's epochs, parent,
    parameters and objective (exact floats)."""
    out = []
    for t in study.trials:
        out.append((t.number, t.status, [(s.start_epoch, s.end_epoch, s.parent_trial,
                                          sorted(s.params.items()),
                                          s.objective if s.HasField("objective") else None)
                                         for s in t.segments]))
    return out


def study_jobs(stub, study_id):
    jobs, token = [], ""
    while True:
        page = stub.ListJobs(pb.ListJobsRequest(label_selector=f"study={study_id}", page_size=1000,
                                                page_token=token), timeout=30)
        jobs.extend(page.jobs)
        token = page.next_page_token
        if not token:
            return jobs


def epoch_events(stub, job_id):
    """epoch -> (loss_d, loss_g, last_loss_d, last_loss_g, d_real, d_fake)."""
    out = {}
    for ev in stub.WatchJob(pb.WatchJobRequest(job_id=job_id), timeout=120):
        if ev.HasField("epoch"):
            e = ev.epoch
            out[e.epoch] = (e.loss_d, e.loss_g, e.last_loss_d, e.last_loss_g, e.d_real, e.d_fake)
    return out


class StudiesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.http_port = free_port()
        cls.steady = Gantryd(ARGS.gantryd, os.path.join(cls.tmp.name, "steady"),
                             extra=["--max-concurrent-jobs", "2", "--http-listen", f"127.0.0.1:{cls.http_port}"])
        cls.steady.start()
        cls.channel, cls.stub = cls.steady.connect()

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        cls.steady.stop()
        cls.tmp.cleanup()

    def test_asha_survives_kill_and_decides_as_an_undisturbed_server(self):
        base = base_spec(27)
        base.dataset.size, base.batch_size = 1024, 32  # slower epochs: the kill lands mid-study
        base.eval_every = 2  # a trial's best so far can lie inside a segment
        spec = pb.StudySpec(base=base, space=[lr_param()], algorithm="asha", max_trials=12,
                            concurrency=2, seed=3, min_epochs=1, reduction_factor=3)
        # The undisturbed reference.
        ref = self.stub.CreateStudy(pb.CreateStudyRequest(spec=spec, name="asha-ref"), timeout=30)
        ref = wait_study(self.stub, ref.id)
        self.assertEqual(ref.state, pb.JOB_STATE_SUCCEEDED, ref.error)
        # The same study on a gantryd killed mid-study.
        victim = Gantryd(ARGS.gantryd, os.path.join(self.tmp.name, "victim"), extra=["--max-concurrent-jobs", "2"])
        victim.start()
        channel, stub = victim.connect()
        try:
            study = stub.CreateStudy(pb.CreateStudyRequest(spec=spec, name="asha-killed"), timeout=30)
            at_kill = wait_study(stub, study.id, timeout=120,
                                 until=lambda s: s.state != pb.JOB_STATE_RUNNING or s.summary.jobs >= 6 and any(
                                     seg.state == pb.JOB_STATE_RUNNING for t in s.trials for seg in t.segments))
            self.assertEqual(at_kill.state, pb.JOB_STATE_RUNNING, "the study ended before the kill")
            victim.kill()
            channel.close()
            victim.start()
            channel, stub = victim.connect()
            done = wait_study(stub, study.id)
            self.assertEqual(done.state, pb.JOB_STATE_SUCCEEDED, done.error)
            self.assertEqual(decisions(done), decisions(ref))
            self.assertEqual(done.summary.best_objective, ref.summary.best_objective)
            self.assertEqual(done.summary.epochs_spent, ref.summary.epochs_spent)
            jobs = study_jobs(stub, study.id)
            keys = [(j.labels["trial"], j.labels["segment"]) for j in jobs]
            self.assertEqual(len(keys), len(set(keys)), "a segment ran twice")
            self.assertEqual(len(jobs), sum(len(t.segments) for t in done.trials))
            self.assertTrue(all(j.state == pb.JOB_STATE_SUCCEEDED for j in jobs))
            rungs = {}
            for t in done.trials:
                rungs[t.segments[-1].end_epoch] = rungs.get(t.segments[-1].end_epoch, 0) + 1
            full_grid_epochs = 12 * 27
            print(f"asha: {len(done.trials)} trials, {len(jobs)} jobs, {done.summary.epochs_spent} epochs "
                  f"(12 full trials: {full_grid_epochs}), trials by last epoch {sorted(rungs.items())}, "
                  f"best sliced_w1 {done.summary.best_objective:.4f} (trial {done.summary.best_trial}); "
                  f"killed with {at_kill.summary.jobs} jobs created, {at_kill.summary.epochs_spent} epochs "
                  f"trained: the same decisions as the undisturbed run")
            self.assertLess(at_kill.summary.jobs, len(jobs), "the kill came after the last decision")
            self.assertIn(27, rungs, "no trial reached the last rung")
            self.assertLess(done.summary.epochs_spent, full_grid_epochs)
            # Plan version 2: a result is the trial's best evaluated epoch so
            # far, so it never rises along a trial; the summary's best is the
            # best job's best epoch, and the best replayed to that epoch ends on it.
            self.assertEqual(done.spec.plan_version, 2)
            for t in done.trials:
                objectives = [seg.objective for seg in t.segments if seg.HasField("objective")]
                self.assertEqual(objectives, sorted(objectives, reverse=True), f"trial {t.number}")
                for seg in t.segments:
                    if seg.HasField("objective"):
                        self.assertLessEqual(seg.objective_epoch, seg.end_epoch)
                        self.assertEqual(seg.objective, seg.metrics.sliced_w1)  # the metrics where it was measured
            best_job = stub.GetJob(pb.GetJobRequest(job_id=done.summary.best_job_id), timeout=30)
            self.assertEqual(best_job.best_epoch, done.summary.best_epoch)
            self.assertEqual(best_job.best_metrics.sliced_w1, done.summary.best_objective)
            replay = stub.ReplayTrial(pb.ReplayTrialRequest(study_id=study.id), timeout=30)
            self.assertEqual(replay.spec.epochs, done.summary.best_epoch)
            replayed = wait_job(stub, replay.id)
            self.assertEqual(replayed.state, pb.JOB_STATE_SUCCEEDED, replayed.error)
            self.assertEqual((replayed.best_epoch, replayed.best_metrics.sliced_w1),
                             (done.summary.best_epoch, done.summary.best_objective))
            inside = all(seg.end_epoch != done.summary.best_epoch for t in done.trials for seg in t.segments)
            print(f"asha best: trial {done.summary.best_trial} epoch {done.summary.best_epoch} "
                  f"({'inside' if inside else 'at the end of'} a segment, job {best_job.id}); "
                  f"replayed as one job of {replay.spec.epochs} epochs: equal")
        finally:
            channel.close()
            victim.stop()

    def test_pbt_replay_is_bit_identical_to_the_member(self):
        spec = pb.StudySpec(base=base_spec(9), space=[lr_param(), pb.SearchParam(
            name="dropout", kind="uniform", min=0.1, max=0.5)], algorithm="pbt", population=4,
                            perturb_interval=3, concurrency=2, seed=5)
        study = self.stub.CreateStudy(pb.CreateStudyRequest(spec=spec, name="pbt"), timeout=30)
        study = wait_study(self.stub, study.id)
        self.assertEqual(study.state, pb.JOB_STATE_SUCCEEDED, study.error)
        by_number = {t.number: t for t in study.trials}
        self.assertEqual(len(by_number), 4)
        # A member whose last segment copied another member.
        copied = [t for t in study.trials if any(s.parent_trial not in (0, t.number) for s in t.segments)]
        self.assertTrue(copied, "no exploit happened")
        member = copied[-1]
        # Its lineage: (segment job, start, end) from the first epoch on.
        chain, number, index = [], member.number, len(member.segments) - 1
        while index >= 0:
            seg = by_number[number].segments[index]
            chain.append((seg.job_id, seg.start_epoch, seg.end_epoch))
            number = seg.parent_trial or number
            index -= 1
        chain.reverse()
        replay = self.stub.ReplayTrial(pb.ReplayTrialRequest(study_id=study.id, trial=member.number),
                                       timeout=30)
        self.assertTrue(replay.spec.schedule, "the replay changes no parameter")
        self.assertFalse(replay.spec.HasField("init_from"))
        replay = wait_job(self.stub, replay.id)
        self.assertEqual(replay.state, pb.JOB_STATE_SUCCEEDED, replay.error)
        replayed = epoch_events(self.stub, replay.id)
        expected = {}
        for job_id, start, end in chain:
            events = epoch_events(self.stub, job_id)
            for e in range(start + 1, end + 1):
                expected[e] = events[e]
        self.assertEqual(sorted(replayed), list(range(1, 10)))
        self.assertEqual(replayed, expected)
        a = self.stub.Sample(pb.SampleRequest(job_id=chain[-1][0], count=256, seed=9), timeout=60)
        b = self.stub.Sample(pb.SampleRequest(job_id=replay.id, count=256, seed=9), timeout=60)
        self.assertEqual(list(a.points.values), list(b.points.values))
        print(f"pbt: member {member.number} (lineage {[c[0] for c in chain]}, parents "
              f"{[s.parent_trial for s in member.segments]}) replayed as {replay.id} with "
              f"{len(replay.spec.schedule)} changes: 9 epochs' losses and 256 samples bit-identical")

    def test_init_from_and_a_schedule_resume_exactly_after_kill(self):
        """The two job features studies stand on, through kill -9: a job
        started from another's kept checkpoint (init_from) and killed before
        its first checkpoint of its own resumes from the parent's; a job
        whose learning rate changes after epoch 10 (schedule), killed past
        the change, resumes on the new rate. Both train exactly what the
        other does: the schedule job's epochs are the parent's, then the
        init_from job's."""
        victim = Gantryd(ARGS.gantryd, os.path.join(self.tmp.name, "victim-jobs"),
                         extra=["--max-concurrent-jobs", "2"])
        victim.start()
        channel, stub = victim.connect()
        try:
            def job(**fields):
                fields.setdefault("learning_rate", 0.001)
                spec = pb.JobSpec(dataset=pb.Dataset(kind=pb.DATASET_KIND_RING8, size=1024), batch_size=16,
                                  eval_points=64, preview_points=0, **fields)
                return stub.CreateJob(pb.CreateJobRequest(spec=spec), timeout=30).id
            parent = job(epochs=10, keep_checkpoint=True)
            self.assertEqual(wait_job(stub, parent).state, pb.JOB_STATE_SUCCEEDED)
            child = job(epochs=60, learning_rate=0.003, checkpoint_every=1000,
                        init_from=pb.JobStart(job_id=parent, epoch=10))
            scheduled = job(epochs=60, checkpoint_every=5, schedule=[pb.SpecChange(
                after_epoch=10, params={"learning_rate": "0.003"})])
            deadline = time.monotonic() + 120
            while True:
                a = stub.GetJob(pb.GetJobRequest(job_id=child), timeout=30).epochs_done
                b = stub.GetJob(pb.GetJobRequest(job_id=scheduled), timeout=30).epochs_done
                if a >= 14 and b >= 17:
                    break
                self.assertLess(time.monotonic(), deadline, "the two jobs never got past their kill points")
                time.sleep(0.05)
            self.assertLess(a, 60, "the init_from job ended before the kill")
            self.assertLess(b, 60, "the scheduled job ended before the kill")
            victim.kill()
            channel.close()
            victim.start()
            channel, stub = victim.connect()
            for j in (child, scheduled):
                self.assertEqual(wait_job(stub, j).state, pb.JOB_STATE_SUCCEEDED)
            first, second, whole = (epoch_events(stub, j) for j in (parent, child, scheduled))
            self.assertEqual(sorted(second), list(range(11, 61)))
            self.assertEqual(whole, {**first, **second})
            print(f"init_from killed at epoch {a} (no checkpoint of its own), schedule killed at "
                  f"epoch {b} (past its change): 60 epochs each, equal", flush=True)
        finally:
            channel.close()
            victim.stop()

    def http(self, method, path, body=None):
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=60)
        try:
            conn.request(method, path, body=json.dumps(body) if body is not None else None,
                         headers={"Content-Type": "application/json"})
            res = conn.getresponse()
            raw = res.read()
            return res.status, json.loads(raw) if raw else None
        finally:
            conn.close()

    def cli(self, *args, expect=0):
        r = subprocess.run([ARGS.gantry, "--server", self.steady.address, *args], capture_output=True,
                           text=True, timeout=600, stdin=subprocess.DEVNULL)
        self.assertEqual(r.returncode, expect, f"gantry {' '.join(args)}\nstdout: {r.stdout}\nstderr: {r.stderr}")
        return r

    def test_the_cli_creates_follows_ranks_replays_cancels_and_deletes(self):
        small = ["--dataset", "ring8", "--size", "256", "--batch-size", "64", "--eval-points", "128",
                 "--eval-every", "1", "--preview-points", "0"]
        # A grid of 2 x 2 followed to its end: exit 0, one id on stdout's first line.
        r = self.cli("study", "create", *small, "--epochs", "6", "--name", "cli-grid", "--label", "suite=cli",
                     "--param", "learning_rate=choice:0.001|0.003", "--param", "seed=choice:1|2",
                     "--concurrency", "2", "--watch")
        study_id = r.stdout.split()[0]
        self.assertTrue(study_id.startswith("st-"), r.stdout)
        study = self.stub.GetStudy(pb.GetStudyRequest(study_id=study_id), timeout=30)
        self.assertEqual(study.state, pb.JOB_STATE_SUCCEEDED, study.error)
        self.assertEqual([dict(t.params) for t in study.trials],
                         [{"learning_rate": lr, "seed": seed} for lr in ("0.001", "0.003") for seed in ("1", "2")])
        jobs = study_jobs(self.stub, study_id)
        self.assertEqual(sorted(j.spec.seed for j in jobs), [1, 1, 2, 2], "seed is a parameter")
        self.assertTrue(all(j.labels["suite"] == "cli" for j in jobs))
        # list and get name it; get says what a result is.
        listed = [json.loads(line) for line in self.cli("study", "list", "-o", "json").stdout.splitlines()]
        self.assertIn(study_id, [st["id"] for st in listed])
        got = self.cli("study", "get", study_id).stdout
        self.assertIn("cli-grid", got)
        self.assertIn("sliced_w1 (min), a trial's best epoch so far", got)
        # The leaderboard ranks the trials by their objective, as the API has them.
        board = [json.loads(line) for line in self.cli("study", "leaderboard", study_id, "-o", "json").stdout.splitlines()]
        ranked = sorted(study.trials, key=lambda t: (t.objective, t.number))
        self.assertEqual([row["trial"] for row in board], [t.number for t in ranked])
        self.assertEqual([row["objective"] for row in board], [t.objective for t in ranked])
        pareto = self.cli("study", "leaderboard", study_id, "--pareto", "precision,coverage").stdout
        self.assertIn("Pareto", pareto)
        # replay: the best result as one job, to the best epoch.
        job_id = self.cli("study", "replay", study_id).stdout.split()[0]
        replayed = wait_job(self.stub, job_id)
        self.assertEqual(replayed.spec.epochs, study.summary.best_epoch)
        self.assertEqual((replayed.best_epoch, replayed.best_metrics.sliced_w1),
                         (study.summary.best_epoch, study.summary.best_objective))
        # Every algorithm's own flags reach the spec.
        r = self.cli("study", "create", *small, "--epochs", "4", "--algorithm", "pbt", "--population", "2",
                     "--perturb-interval", "2", "--truncation", "0.5", "--resample-probability", "0.5",
                     "--param", "learning_rate=log_uniform:1e-4:1e-3", "--seed", "4", "--watch")
        pbt = self.stub.GetStudy(pb.GetStudyRequest(study_id=r.stdout.split()[0]), timeout=30)
        self.assertEqual((pbt.state, pbt.spec.population, pbt.spec.perturb_interval, pbt.spec.truncation,
                          pbt.spec.resample_probability, pbt.spec.seed), (pb.JOB_STATE_SUCCEEDED, 2, 2, 0.5, 0.5, 4))
        r = self.cli("study", "create", *small, "--epochs", "4", "--algorithm", "asha", "--min-epochs", "1",
                     "--reduction-factor", "2", "--max-trials", "4", "--max-epochs", "12",
                     "--param", "dropout=uniform:0:0.5", "--watch")
        asha = self.stub.GetStudy(pb.GetStudyRequest(study_id=r.stdout.split()[0]), timeout=30)
        self.assertEqual((asha.state, asha.spec.min_epochs, asha.spec.reduction_factor, asha.spec.max_trials),
                         (pb.JOB_STATE_SUCCEEDED, 1, 2, 4))
        self.assertLessEqual(asha.summary.epochs_spent, 12)
        # Bad input is named, exit 2, and nothing is created.
        before = len(self.stub.ListStudies(pb.ListStudiesRequest(page_size=1000), timeout=30).studies)
        r = self.cli("study", "create", *small, "--param", "learning_rate=gaussian:0:1", expect=2)
        self.assertIn("--param", r.stderr)
        r = self.cli("study", "create", *small, "--param", "seed=choice:-3|4", expect=2)
        self.assertIn("seed: '-3' is not a whole number >= 0", r.stderr)
        self.assertEqual(len(self.stub.ListStudies(pb.ListStudiesRequest(page_size=1000), timeout=30).studies), before)
        # A running study cancelled: watch exits 6; then deleted with its jobs.
        r = self.cli("study", "create", *small, "--epochs", "400", "--param", "learning_rate=choice:0.001|0.002")
        running = r.stdout.split()[0]
        wait_study(self.stub, running, timeout=120, until=lambda s: any(
            seg.state == pb.JOB_STATE_RUNNING for t in s.trials for seg in t.segments))
        self.cli("study", "cancel", running)
        self.cli("study", "watch", running, expect=6)
        deadline = time.monotonic() + 120
        while any(j.state in (pb.JOB_STATE_QUEUED, pb.JOB_STATE_RUNNING) for j in study_jobs(self.stub, running)):
            self.assertLess(time.monotonic(), deadline, "the cancelled study's jobs still run")
            time.sleep(0.2)
        self.cli("study", "delete", running)
        self.cli("study", "get", running, expect=4)
        self.assertEqual(study_jobs(self.stub, running), [])

    def test_the_resource_over_http_watch_cancel_delete_and_errors(self):
        body = {"name": "grid", "labels": {"team": "a"}, "spec": {
            "base": {"dataset": {"kind": "DATASET_KIND_RING8", "size": 256}, "batchSize": 64,
                     "epochs": 120, "evalPoints": 64, "previewPoints": 0},
            "space": [{"name": "learning_rate", "kind": "choice", "values": ["0.001", "0.002"]},
                      {"name": "generator_hidden", "kind": "choice", "values": ["16,16", "8"]}]}}
        status, created = self.http("POST", "/v1/studies", body)
        self.assertEqual(status, 200, created)
        self.assertEqual(created["spec"]["algorithm"], "grid")
        self.assertEqual(created["spec"]["maxTrials"], "4")
        seen = []
        watch = threading.Thread(target=lambda: seen.extend(self.stub.WatchStudy(
            pb.WatchStudyRequest(study_id=created["id"]), timeout=300)))
        watch.start()
        watch.join(300)
        self.assertFalse(watch.is_alive())
        self.assertGreaterEqual(len(seen), 2)
        self.assertEqual(seen[-1].state, pb.JOB_STATE_SUCCEEDED)
        self.assertTrue(all(s.state == pb.JOB_STATE_RUNNING for s in seen[:-1]))
        status, got = self.http("GET", f"/v1/studies/{created['id']}")
        self.assertEqual(status, 200)
        self.assertEqual(len(got["trials"]), 4)
        self.assertTrue(all(t["status"] == "done" for t in got["trials"]))
        params = sorted(tuple(sorted(t["params"].items())) for t in got["trials"])
        self.assertEqual(len(set(params)), 4)
        jobs = study_jobs(self.stub, created["id"])
        self.assertEqual(len(jobs), 4)
        self.assertTrue(all(j.labels["team"] == "a" for j in jobs))
        status, listed = self.http("GET", "/v1/studies?page_size=1000")
        self.assertIn(created["id"], [s["id"] for s in listed["studies"]])
        self.assertEqual(listed["studies"][0].get("trials", []), [])
        status, err = self.http("POST", f"/v1/studies/{created['id']}:cancel")
        self.assertEqual(status, 400, err)  # FAILED_PRECONDITION
        self.assertEqual(err["error"]["status"], "FAILED_PRECONDITION")
        self.assertIn("has ended", err["error"]["message"])
        status, _ = self.http("DELETE", f"/v1/studies/{created['id']}")
        self.assertEqual(status, 200)
        self.assertEqual(self.http("GET", f"/v1/studies/{created['id']}")[0], 404)
        self.assertEqual(study_jobs(self.stub, created["id"]), [])

        # Cancel of a running study: its jobs end too.
        running = self.stub.CreateStudy(pb.CreateStudyRequest(spec=pb.StudySpec(
            base=base_spec(5000), space=[lr_param()], algorithm="random", max_trials=3, seed=1)),
            timeout=30)
        wait_study(self.stub, running.id, timeout=60, until=lambda s: any(
            seg.state == pb.JOB_STATE_RUNNING for t in s.trials for seg in t.segments))
        cancelled = self.stub.CancelStudy(pb.CancelStudyRequest(study_id=running.id), timeout=30)
        self.assertEqual(cancelled.state, pb.JOB_STATE_CANCELLED)
        deadline = time.monotonic() + 60
        while any(j.state in (pb.JOB_STATE_QUEUED, pb.JOB_STATE_RUNNING) for j in study_jobs(self.stub, running.id)):
            self.assertLess(time.monotonic(), deadline, "the cancelled study's jobs still run")
            time.sleep(0.2)
        states = [(j.id, pb.JobState.Name(j.state), j.error) for j in study_jobs(self.stub, running.id)]
        self.assertTrue(states)
        self.assertTrue(all(s[1] == "JOB_STATE_CANCELLED" for s in states), states)

        # Bad input, named.
        bad = [({"spec": {"base": {"epochs": 3}, "space": [lr_json()], "algorithm": "bayes"}}, "algorithm"),
               ({"spec": {"base": {"epochs": 3}, "space": []}}, "space"),
               ({"spec": {"base": {"epochs": 3}, "space": [lr_json()], "algorithm": "grid"}}, "a grid needs choice"),
               ({"spec": {"base": {"epochs": 3}, "space": [lr_json()], "algorithm": "asha", "objective": "quality"}},
                "quality is for table jobs"),
               ({"spec": {"base": {"epochs": 3}, "space": [{"name": "batch_size", "kind": "int", "min": 8, "max": 16}],
                          "algorithm": "pbt"}}, "only learning_rate"),
               ({"spec": {"base": {"epochs": 3}, "space": [lr_json()], "algorithm": "random"},
                 "labels": {"study": "x"}}, "study is set by the study")]
        for request, message in bad:
            status, err = self.http("POST", "/v1/studies", request)
            self.assertEqual(status, 400, err)
            self.assertIn(message, err["error"]["message"])
        self.assertEqual(self.http("GET", "/v1/studies/st-none")[0], 404)


def lr_json():
    return {"name": "learning_rate", "kind": "log_uniform", "min": 1e-4, "max": 1e-2}


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--gantryd", required=True)
    parser.add_argument("--gantry", required=True)
    ARGS, rest = parser.parse_known_args()
    unittest.main(argv=[sys.argv[0], *rest], verbosity=2)
