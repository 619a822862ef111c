"""A history checker for gantryd's crash and fault tests, in the style of
etcd's robustness tests.

Clients record every CreateJob they make and its outcome:

- acknowledged: the call returned a job;
- failed: the server answered an error that means nothing was stored
  (INVALID_ARGUMENT, RESOURCE_EXHAUSTED, INTERNAL, DATA_LOSS);
- unknown: no answer (the server was killed, the call timed out, the
  connection broke).

Each create carries a request_id and the same string as the job's name, so
the checker can find what a call left behind. check() runs against a server
that works again (no faults) and asserts:

- every acknowledged job exists, with the id it was acknowledged with;
- no failed create left a job;
- every unknown outcome resolves one way or the other, consistently: a
  retry of the same request returns the job that exists, or creates one,
  and a second retry returns that same job;
- at most one job per request_id;
- every job's events are gapless and in order: seq 1, 2, 3, ...; QUEUED,
  RUNNING, epochs 1, 2, ... k without a gap or repeat, one terminal state
  last;
- every SUCCEEDED job's epoch figures equal an uninterrupted run of its spec;
- a FAILED job's error names the file and the errno of the write that
  failed.
"""
import re
import threading

# A store write that failed: "... /path/to/file...: Input/output error".
FILE_AND_ERRNO = re.compile(r"(/[^ :]+): (Input/output error|No space left on device|"
                            r"Disk quota exceeded|File too large|Read-only file system|"
                            r"Bad file descriptor|Invalid argument|Interrupted system call|"
                            r"Bad address|Device or resource busy|Operation not permitted|"
                            r"Permission denied|[A-Z][a-z]+( [a-z]+)*)$")

DEFINITE_FAILURES = ("INVALID_ARGUMENT", "RESOURCE_EXHAUSTED", "INTERNAL", "DATA_LOSS")


def figures(events):
    """Per-epoch figures, to compare runs bit for bit."""
    return [(e.epoch.epoch, e.epoch.loss_d, e.epoch.loss_g, e.epoch.last_loss_d,
             e.epoch.last_loss_g, e.epoch.quality, tuple(e.epoch.preview.values))
            for e in events if e.HasField("epoch")]


class History:
    def __init__(self):
        self.lock = threading.Lock()
        self.creates = []  # dicts: request_id, spec_key, outcome, job_id, code

    def create(self, grpc, pb, stub, request_id, spec_key, spec, timeout=10):
        entry = {"request_id": request_id, "spec_key": spec_key, "outcome": "unknown",
                 "job_id": None, "code": None}
        try:
            job = stub.CreateJob(pb.CreateJobRequest(spec=spec, name=request_id,
                                                     request_id=request_id), timeout=timeout)
            entry.update(outcome="acknowledged", job_id=job.id)
        except grpc.RpcError as e:
            entry["code"] = e.code().name
            if e.code().name in DEFINITE_FAILURES:
                entry["outcome"] = "failed"
        with self.lock:
            self.creates.append(entry)
        return entry

    def counts(self):
        out = {"acknowledged": 0, "failed": 0, "unknown": 0}
        for c in self.creates:
            out[c["outcome"]] += 1
        return out


def list_all(pb, stub):
    jobs, token = [], ""
    while True:
        page = stub.ListJobs(pb.ListJobsRequest(page_size=1000, page_token=token), timeout=60)
        jobs += page.jobs
        token = page.next_page_token
        if not token:
            return jobs


def check(test, grpc, pb, stub, history, specs, references, timeout=600):
    """Asserts the history (see the module's doc) on `stub`'s server; waits
    for every job to end. `specs` and `references` map a spec key to its
    JobSpec and to its uninterrupted figures. Returns a summary dict."""
    by_name = {}
    for job in list_all(pb, stub):
        by_name.setdefault(job.name, []).append(job)
    for name, jobs in by_name.items():
        test.assertEqual(len(jobs), 1, f"request_id {name}: {len(jobs)} jobs")
    resolved = {"stored": 0, "not stored": 0}
    to_check = {}  # job id -> spec key
    for c in history.creates:
        found = by_name.get(c["request_id"], [])
        if c["outcome"] == "acknowledged":
            test.assertTrue(found, f"acknowledged job {c['job_id']} ({c['request_id']}) is gone")
            test.assertEqual(found[0].id, c["job_id"])
            to_check[found[0].id] = c["spec_key"]
        elif c["outcome"] == "failed":
            test.assertFalse(found, f"create {c['request_id']} failed ({c['code']}) but left "
                                    f"job {found[0].id if found else ''}")
        else:
            spec = specs[c["spec_key"]]
            retry = lambda: stub.CreateJob(pb.CreateJobRequest(  # noqa: E731
                spec=spec, name=c["request_id"], request_id=c["request_id"]), timeout=60)
            first, second = retry(), retry()
            test.assertEqual(first.id, second.id, f"request {c['request_id']} resolved twice")
            if found:
                test.assertEqual(first.id, found[0].id)
                resolved["stored"] += 1
            else:
                resolved["not stored"] += 1
            to_check[first.id] = c["spec_key"]
    summary = {"jobs": len(to_check), "SUCCEEDED": 0, "FAILED": 0, "exact": 0,
               "resolved": resolved}
    for job_id, key in sorted(to_check.items()):
        events = list(stub.WatchJob(pb.WatchJobRequest(job_id=job_id), timeout=timeout))
        seqs = [e.seq for e in events]
        test.assertEqual(seqs, list(range(1, len(events) + 1)), f"job {job_id}: seqs {seqs[:20]}")
        kinds = ["epoch" if e.HasField("epoch") else pb.JobState.Name(e.state.state)
                 for e in events]
        test.assertEqual(kinds[0], "JOB_STATE_QUEUED", job_id)
        terminal = kinds[-1]
        test.assertIn(terminal, ("JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED"), f"{job_id}: {kinds}")
        states = [k for k in kinds if k != "epoch"]
        test.assertEqual(states.count(terminal), 1, f"{job_id}: {states}")
        if len(kinds) > 2 or terminal == "JOB_STATE_SUCCEEDED":
            test.assertEqual(kinds[1], "JOB_STATE_RUNNING", f"{job_id}: {kinds[:4]}")
        epochs = [e.epoch.epoch for e in events if e.HasField("epoch")]
        test.assertEqual(epochs, list(range(1, len(epochs) + 1)), f"job {job_id}: epochs {epochs}")
        summary[terminal[len("JOB_STATE_"):]] += 1
        if terminal == "JOB_STATE_SUCCEEDED":
            test.assertEqual(figures(events), references[key],
                             f"job {job_id} differs from an uninterrupted run")
            summary["exact"] += 1
        else:
            error = events[-1].state.error
            test.assertRegex(error, FILE_AND_ERRNO, f"job {job_id}: the error names no file and errno")
    return summary
