#!/usr/bin/env python3
"""gantryd's HTTP/JSON gateway against a real gantryd on loopback: every JSON
route (jobs and tables), Server-Sent Events (live, and resumed with
Last-Event-ID), every error
status, the event-stream cap, request-body limits, tokens (header and the
login cookie), TLS, /metrics and /healthz, and `gantry dashboard`.

    python3 tests/e2e/http_api_test.py --gantryd build/bin/gantryd --gantry build/bin/gantry
"""
import argparse
import hashlib
import json
import os
import ssl
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse

from gantry_testlib import ROOT, HttpDaemon, SseReader

ARGS = None


def small_spec(epochs, size=64, **extra):
    return {"epochs": epochs, "dataset": {"size": size}, **extra}


def read_events(daemon, job_id, headers=None, query="", limit=None):
    """Every SSE message of the job's stream (to its end, or `limit`)."""
    conn = daemon.connection()
    conn.request("GET", f"/v1/jobs/{job_id}/events{query}", headers=headers or {})
    res = conn.getresponse()
    assert res.status == 200, (res.status, res.read())
    assert res.getheader("Content-Type").startswith("text/event-stream")
    reader, out = SseReader(res), []
    while limit is None or len(out) < limit:
        msg = reader.next()
        if msg is None:
            break
        out.append((int(msg[0]), json.loads(msg[1])))
    conn.close()
    return out


def wait_state(daemon, job_id, state, headers=None):
    deadline = time.time() + 300
    while time.time() < deadline:
        job = daemon.json("GET", f"/v1/jobs/{job_id}", headers=headers)
        if job["state"] == state:
            return job
        time.sleep(0.05)
    raise AssertionError(f"{job_id} never reached {state}")


class HttpApiTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmpdir = tempfile.TemporaryDirectory()
        cls.tmp = cls.tmpdir.name
        cls.d = HttpDaemon(ARGS.gantryd, cls.tmp, "--max-concurrent-jobs", "2",
                           "--max-message-bytes", str(1 << 20))

    @classmethod
    def tearDownClass(cls):
        rc = cls.d.stop()
        cls.tmpdir.cleanup()
        if rc != 0:
            raise RuntimeError(f"gantryd exited {rc}")

    def error(self, method, path, status, code, body=None, headers=None):
        """Asserts the request fails with HTTP `status` and gRPC `code`; returns the message."""
        data = json.dumps(body).encode() if isinstance(body, dict) else body
        if headers is None and data is not None:
            headers = {"Content-Type": "application/json"}
        got, hdrs, raw = self.d.request(method, path, data, headers or {})
        self.assertEqual(got, status, raw)
        self.assertTrue(hdrs["content-type"].startswith("application/json"), hdrs)
        err = json.loads(raw)["error"]
        self.assertEqual(err["code"], status)
        self.assertEqual(err["status"], code)
        return err["message"]

    def test_job_routes(self):
        d = self.d
        job = d.json("POST", "/v1/jobs", {"name": "routes", "spec": small_spec(12)})
        jid = job["id"]
        self.assertEqual(job["name"], "routes")
        self.assertIn(job["state"], ("JOB_STATE_QUEUED", "JOB_STATE_RUNNING"))
        self.assertEqual(job["spec"]["epochs"], "12")          # int64 as a string: canonical JSON
        self.assertEqual(job["spec"]["batchSize"], "32")       # defaults filled in
        self.assertEqual(d.json("GET", f"/v1/jobs/{jid}")["id"], jid)
        ids = [j["id"] for j in d.json("GET", "/v1/jobs")["jobs"]]
        self.assertIn(jid, ids)

        events = read_events(d, jid)
        seqs = [seq for seq, _ in events]
        self.assertEqual(seqs, list(range(1, len(events) + 1)))
        self.assertEqual([e["seq"] for _, e in events], [str(s) for s in seqs])  # id: is the seq
        epochs = [int(e["epoch"]["epoch"]) for _, e in events if "epoch" in e]
        self.assertEqual(epochs, list(range(1, 13)))
        self.assertEqual(events[-1][1]["state"]["state"], "JOB_STATE_SUCCEEDED")
        self.assertEqual(len(events[2][1]["epoch"]["preview"]["values"]), 128)

        job = d.json("GET", f"/v1/jobs/{jid}")
        self.assertEqual(job["state"], "JOB_STATE_SUCCEEDED")
        self.assertEqual(job["epochsDone"], "12")
        succeeded = d.json("GET", "/v1/jobs?state=SUCCEEDED&page_size=1000")["jobs"]
        self.assertIn(jid, [j["id"] for j in succeeded])
        self.assertTrue(all(j["state"] == "JOB_STATE_SUCCEEDED" for j in succeeded))
        self.assertEqual(d.json("GET", "/v1/jobs?state=JOB_STATE_SUCCEEDED")["jobs"][0]["state"],
                         "JOB_STATE_SUCCEEDED")

        # Samples: JSON, the same seed gives the same points, CSV with Accept: text/csv.
        s1 = d.json("GET", f"/v1/jobs/{jid}/samples?count=5&seed=3")
        status, hdrs, raw = d.request("GET", f"/v1/jobs/{jid}/samples?count=5&seed=3")
        self.assertEqual(status, 200)
        self.assertTrue(hdrs["content-type"].startswith("application/json"))
        self.assertEqual(hdrs["vary"], "Accept")  # one URL, two representations
        s2 = json.loads(raw)
        self.assertEqual(s1, s2)
        self.assertEqual((s1["seed"], s1["epoch"], s1["points"]["dim"]), ("3", "12", 2))
        self.assertEqual(len(s1["points"]["values"]), 10)
        status, hdrs, raw = d.request("GET", f"/v1/jobs/{jid}/samples?count=5&seed=3",
                                      headers={"Accept": "text/csv"})
        self.assertEqual(status, 200)
        self.assertTrue(hdrs["content-type"].startswith("text/csv"))
        self.assertEqual(hdrs["vary"], "Accept")
        lines = raw.decode().splitlines()
        self.assertEqual(lines[0], "x0,x1")
        csv_values = [float(v) for line in lines[1:] for v in line.split(",")]
        for a, b in zip(csv_values, s1["points"]["values"]):
            self.assertAlmostEqual(a, b, places=6)
        self.assertEqual(len(csv_values), 10)
        early = d.json("GET", f"/v1/jobs/{jid}/samples?count=2&seed=3&epoch=10")
        self.assertEqual(early["epoch"], "10")
        # epoch=best: the best evaluated epoch's snapshot, as GetJob names it.
        best = int(job["bestEpoch"])
        self.assertIn(best, (1, 10, 12))                     # the evaluated epochs
        self.assertIn("slicedW1", job["bestMetrics"])
        by_best = d.json("GET", f"/v1/jobs/{jid}/samples?count=2&seed=3&epoch=best")
        self.assertEqual(by_best["epoch"], str(best))
        self.assertEqual(by_best["points"],
                         d.json("GET", f"/v1/jobs/{jid}/samples?count=2&seed=3&epoch={best}")["points"])
        status, hdrs, _ = d.request("GET", f"/v1/jobs/{jid}/generator?epoch=best")
        self.assertEqual(status, 200)
        self.assertEqual(hdrs["x-gantry-epoch"], str(best))

        # The kept snapshots: every 10th, the last, and each epoch that was the
        # best when it was evaluated (1, 10, 12 here); each one samples.
        kept = d.json("GET", f"/v1/jobs/{jid}/snapshots")
        self.assertEqual(kept["bestEpoch"], str(best))
        epochs = [int(e) for e in kept["epochs"]]
        self.assertEqual(epochs, sorted(epochs))
        self.assertTrue({10, 12, best} <= set(epochs) <= {1, 10, 12}, epochs)
        for e in kept["epochs"]:
            self.assertEqual(d.json("GET", f"/v1/jobs/{jid}/samples?count=1&epoch={e}")["epoch"], e)
        self.error("GET", "/v1/jobs/j-nosuchjob/snapshots", 404, "NOT_FOUND")

        ds = d.json("GET", f"/v1/jobs/{jid}/dataset?max_points=10")
        self.assertEqual(ds["totalPoints"], "64")
        self.assertEqual(len(ds["points"]["values"]), 20)

        status, hdrs, raw = d.request("GET", f"/v1/jobs/{jid}/generator")
        self.assertEqual(status, 200)
        self.assertEqual(raw[:2], b"PK")                    # TorchScript: a zip archive
        self.assertIn(f'filename="{jid}-generator-epoch12.pt"', hdrs["content-disposition"])

        self.assertEqual(d.json("DELETE", f"/v1/jobs/{jid}"), {})
        self.error("GET", f"/v1/jobs/{jid}", 404, "NOT_FOUND")

    def test_table_routes(self):
        d = self.d
        people = b"age,city,score\n31,Paris,1.5\n45,Lyon,2.25\n27,Paris,3.125\n52,Nice,0.5\n"
        csv = {"Content-Type": "text/csv"}

        def upload(name, body, query="", headers=csv):
            path = "/v1/tables?name=" + urllib.parse.quote(name) + query
            status, _, raw = d.request("POST", path, body, headers)
            return status, json.loads(raw)

        status, info = upload("people=v1.csv", people)
        self.assertEqual(status, 200, info)
        table_id = hashlib.sha256(people).hexdigest()
        self.assertEqual(info["id"], table_id)
        self.assertEqual(info["name"], "people=v1.csv")  # a name with '=' reads whole
        self.assertEqual(int(info["sizeBytes"]), len(people))
        self.assertIn("createTime", info)
        self.assertEqual(int(info["schema"]["rows"]), 4)
        self.assertEqual([c["name"] for c in info["schema"]["columns"]], ["age", "city", "score"])
        self.assertEqual(info["schema"]["columns"][1]["type"], "COLUMN_TYPE_CATEGORICAL")
        # The same bytes again: the same table, under its first name.
        status, again = upload("copy.csv", people)
        self.assertEqual((status, again["id"], again["name"]), (200, table_id, "people=v1.csv"))
        # A tab delimiter, given as %09 (or "tab").
        tabs = people.replace(b",", b"\t")
        status, tabbed = upload("tabs.tsv", tabs, "&delimiter=%09")
        self.assertEqual((status, tabbed["schema"]["delimiter"]), (200, "\t"), tabbed)

        self.assertEqual(d.json("GET", f"/v1/tables/{table_id}")["name"], "people=v1.csv")
        listed = d.json("GET", "/v1/tables")
        ids = [t["id"] for t in listed["tables"]]
        self.assertEqual(ids[:2], [tabbed["id"], table_id])  # newest first
        page = d.json("GET", "/v1/tables?page_size=1")
        self.assertEqual(len(page["tables"]), 1)
        self.assertTrue(page["nextPageToken"])
        rest = d.json("GET", "/v1/tables?page_size=1000&page_token=" + page["nextPageToken"])
        self.assertEqual([t["id"] for t in rest["tables"]], ids[1:])

        # Errors, through the one status mapping.
        self.assertIn("name: empty", self.error("POST", "/v1/tables", 400, "INVALID_ARGUMENT",
                                                people, csv))
        self.assertIn("is not text/csv",
                      self.error("POST", "/v1/tables?name=x.csv", 415, "INVALID_ARGUMENT",
                                 people, {"Content-Type": "application/x-www-form-urlencoded"}))
        msg = self.error("POST", "/v1/tables?name=bad.csv", 400, "INVALID_ARGUMENT",
                         b"a,b\n1,2\n3,4,5\n6,7\n", csv)
        self.assertIn("bad.csv", msg)
        self.assertIn("line 3", msg)
        self.assertIn("delimiter: ':' is not a delimiter",
                      self.error("POST", "/v1/tables?name=x.csv&delimiter=:", 400,
                                 "INVALID_ARGUMENT", people, csv))
        self.assertIn("the file is empty",
                      self.error("POST", "/v1/tables?name=x.csv", 400, "INVALID_ARGUMENT", b"", csv))
        self.assertIn("is not a table id",
                      self.error("GET", "/v1/tables/nope", 400, "INVALID_ARGUMENT"))
        self.assertIn("not found", self.error("GET", "/v1/tables/" + "0" * 64, 404, "NOT_FOUND"))
        self.error("DELETE", "/v1/tables/" + "0" * 64, 404, "NOT_FOUND")
        self.assertIn("page_size", self.error("GET", "/v1/tables?page_size=x", 400, "INVALID_ARGUMENT"))
        # A body over --max-message-bytes (1 MiB here) is refused before it is parsed.
        status, _, raw = d.request("POST", "/v1/tables?name=big.csv", b"x\n" * (1 << 20), csv)
        self.assertEqual(status, 413, raw)

        self.assertEqual(d.json("DELETE", f"/v1/tables/{table_id}"), {})
        self.error("GET", f"/v1/tables/{table_id}", 404, "NOT_FOUND")
        self.assertNotIn(table_id, [t["id"] for t in d.json("GET", "/v1/tables")["tables"]])

    def test_views(self):
        points = {"dim": 3, "values": [float(i % 11) for i in range(3 * 40)]}
        jid = self.d.json("POST", "/v1/jobs", {"spec": {
            "epochs": 1, "batchSize": 8,
            "dataset": {"kind": "DATASET_KIND_USER", "points": points}}})["id"]
        basic = self.d.json("GET", f"/v1/jobs/{jid}")
        self.assertTrue(basic["pointsOmitted"])
        self.assertEqual(basic["datasetRows"], "40")
        self.assertEqual(basic["spec"]["dataset"]["points"]["dim"], 3)
        self.assertEqual(basic["spec"]["dataset"]["points"].get("values", []), [])
        full = self.d.json("GET", f"/v1/jobs/{jid}?view=full")
        self.assertFalse(full.get("pointsOmitted", False))
        self.assertEqual(full["spec"]["dataset"]["points"]["values"], points["values"])
        listed = self.d.json("GET", "/v1/jobs?view=FULL&page_size=1000")["jobs"]
        self.assertEqual(next(j for j in listed if j["id"] == jid)["spec"]["dataset"]["points"]["values"],
                         points["values"])
        self.error("GET", f"/v1/jobs/{jid}?view=everything", 400, "INVALID_ARGUMENT")
        ended = wait_state(self.d, jid, "JOB_STATE_SUCCEEDED")
        # SUMMARY, a list's row: no preview points, the rest as BASIC.
        self.assertTrue(ended["latest"]["preview"]["values"])
        for path in (f"/v1/jobs/{jid}?view=summary", "/v1/jobs?view=summary&page_size=1000"):
            got = self.d.json("GET", path)
            row = next(j for j in got["jobs"] if j["id"] == jid) if "jobs" in got else got
            self.assertNotIn("preview", row["latest"], path)
            self.assertEqual({k: v for k, v in row["latest"].items() if k != "preview"},
                             {k: v for k, v in ended["latest"].items() if k != "preview"}, path)
            self.assertEqual(row["spec"], ended["spec"], path)
            self.assertTrue(row["pointsOmitted"], path)

    def test_paging(self):
        ids = [self.d.json("POST", "/v1/jobs", {"spec": small_spec(1)})["id"] for _ in range(3)]
        seen, token = [], ""
        while True:
            page = self.d.json("GET", f"/v1/jobs?page_size=2&page_token={token}")
            self.assertLessEqual(len(page["jobs"]), 2)
            seen += [j["id"] for j in page["jobs"]]
            token = page["nextPageToken"]
            if not token:
                break
        self.assertEqual(len(seen), len(set(seen)))
        self.assertTrue(set(ids) <= set(seen))

    def test_labels_and_label_selector(self):
        tag = f"http{os.getpid()}"
        ids = {}
        for i in range(5):
            job = self.d.json("POST", "/v1/jobs", {"spec": small_spec(1), "labels": {
                "sweep": tag, "seed": str(i % 2)}})
            self.assertEqual(job["labels"], {"sweep": tag, "seed": str(i % 2)})
            ids[job["id"]] = i
        # In pages of 2, newest first: all five and nothing else.
        seen, token = [], ""
        while True:
            page = self.d.json("GET", "/v1/jobs?page_size=2&label_selector=" +
                               urllib.parse.quote(f"sweep={tag}") + f"&page_token={token}")
            seen += [j["id"] for j in page["jobs"]]
            token = page["nextPageToken"]
            if not token:
                break
        self.assertEqual(seen, sorted(ids, key=ids.get, reverse=True))
        both = self.d.json("GET", "/v1/jobs?label_selector=" + urllib.parse.quote(f"sweep={tag},seed=1"))
        self.assertEqual(sorted(j["id"] for j in both["jobs"]), sorted(k for k, v in ids.items() if v % 2))
        # Unencoded works too: '=' and ',' are fine in a query value.
        self.assertEqual(len(self.d.json("GET", f"/v1/jobs?label_selector=sweep={tag},seed=0")["jobs"]), 3)
        self.assertEqual(self.d.json("GET", "/v1/jobs?label_selector=sweep=none-such")["jobs"], [])
        self.assertEqual(self.d.json("GET", f"/v1/jobs/{seen[0]}")["labels"]["sweep"], tag)
        self.assertEqual(self.error("GET", "/v1/jobs?label_selector=sweep", 400, "INVALID_ARGUMENT"),
                         "label_selector: term 'sweep' is not key=value")
        self.assertIn("labels: key 'a b' (value 'x') must be 1..63 characters",
                      self.error("POST", "/v1/jobs", 400, "INVALID_ARGUMENT",
                                 {"spec": small_spec(1), "labels": {"a b": "x"}}))
        for job_id in ids:
            wait_state(self.d, job_id, "JOB_STATE_SUCCEEDED")

    def test_cancel(self):
        jid = self.d.json("POST", "/v1/jobs", {"spec": small_spec(100000, size=1024)})["id"]
        job = self.d.json("POST", f"/v1/jobs/{jid}:cancel")
        self.assertIn(job["state"], ("JOB_STATE_CANCELLED", "JOB_STATE_RUNNING", "JOB_STATE_QUEUED"))
        wait_state(self.d, jid, "JOB_STATE_CANCELLED")
        events = read_events(self.d, jid)
        self.assertEqual(events[-1][1]["state"]["state"], "JOB_STATE_CANCELLED")

    def test_sse_live_and_resume(self):
        d = self.d
        jid = d.json("POST", "/v1/jobs", {"spec": small_spec(120)})["id"]
        # Live: the first ten events arrive while the job runs, then the
        # stream is dropped.
        first = read_events(d, jid, limit=10)
        self.assertEqual([s for s, _ in first], list(range(1, 11)))
        # Resume after seq 10, as a browser's EventSource does.
        rest = read_events(d, jid, headers={"Last-Event-ID": "10"})
        self.assertEqual([s for s, _ in rest], list(range(11, 11 + len(rest))))
        self.assertEqual(rest[-1][1]["state"]["state"], "JOB_STATE_SUCCEEDED")
        total = rest[-1][0]
        self.assertEqual(total, 123)  # QUEUED, RUNNING, 120 epochs, SUCCEEDED
        # Last-Event-ID: 100 starts at seq 101; ?from_seq=5 at seq 5.
        self.assertEqual(read_events(d, jid, headers={"Last-Event-ID": "100"})[0][0], 101)
        self.assertEqual(read_events(d, jid, query="?from_seq=5")[0][0], 5)
        # After the terminal event there is nothing more: 204 ends EventSource's retries.
        status, _, raw = d.request("GET", f"/v1/jobs/{jid}/events", headers={"Last-Event-ID": str(total)})
        self.assertEqual((status, raw), (204, b""))

    def test_errors(self):
        d = self.d
        msg = self.error("POST", "/v1/jobs", 400, "INVALID_ARGUMENT", b'{"spec": {"epochs": ')
        self.assertIn("request body", msg)
        msg = self.error("POST", "/v1/jobs", 400, "INVALID_ARGUMENT", {"spec": {"epochz": 3}})
        self.assertIn("epochz", msg)
        msg = self.error("POST", "/v1/jobs", 400, "INVALID_ARGUMENT",
                         {"spec": {"batchSize": 2000, "dataset": {"size": 64}}})
        self.assertIn("batch_size: 2000 is out of range", msg)
        self.assertIn("count: 'abc' is not an integer",
                      self.error("GET", "/v1/jobs/j-x/samples?count=abc", 400, "INVALID_ARGUMENT"))
        self.assertIn("state: 'BORED' is not one of", self.error("GET", "/v1/jobs?state=BORED", 400, "INVALID_ARGUMENT"))
        self.assertIn("page_token", self.error("GET", "/v1/jobs?page_token=x", 400, "INVALID_ARGUMENT"))
        self.assertIn("Last-Event-ID", self.error("GET", "/v1/jobs/j-x/events", 400, "INVALID_ARGUMENT",
                                                  headers={"Last-Event-ID": "soon"}))
        self.assertIn("job j-nothere not found",
                      self.error("GET", "/v1/jobs/j-nothere", 404, "NOT_FOUND"))
        for path in ("/samples", "/dataset", "/generator", "/events"):
            self.error("GET", f"/v1/jobs/j-nothere{path}", 404, "NOT_FOUND")
        self.error("POST", "/v1/jobs/j-nothere:cancel", 404, "NOT_FOUND")
        self.error("DELETE", "/v1/jobs/j-nothere", 404, "NOT_FOUND")
        self.assertIn("no route", self.error("GET", "/v1/nothing", 404, "NOT_FOUND"))

        done = d.json("POST", "/v1/jobs", {"spec": small_spec(3), "requestId": "r-http-1"})["id"]
        self.assertEqual(d.json("POST", "/v1/jobs", {"spec": small_spec(3), "requestId": "r-http-1"})["id"], done)
        self.assertIn("request_id r-http-1 was used",
                      self.error("POST", "/v1/jobs", 409, "ALREADY_EXISTS",
                                 {"spec": small_spec(4), "requestId": "r-http-1"}))
        wait_state(d, done, "JOB_STATE_SUCCEEDED")
        self.assertIn("no snapshot", self.error("GET", f"/v1/jobs/{done}/samples?count=1&epoch=2",
                                                404, "NOT_FOUND"))
        self.error("POST", f"/v1/jobs/{done}:cancel", 400, "FAILED_PRECONDITION")
        self.assertIn("over Sample's limit",
                      self.error("GET", f"/v1/jobs/{done}/samples?count=600000", 429, "RESOURCE_EXHAUSTED"))
        self.error("GET", f"/v1/jobs/{done}/samples?count=0", 400, "INVALID_ARGUMENT")

        running = d.json("POST", "/v1/jobs", {"spec": small_spec(100000, size=1024)})["id"]
        try:
            self.assertIn("cancel it before deleting it",
                          self.error("DELETE", f"/v1/jobs/{running}", 400, "FAILED_PRECONDITION"))
        finally:
            d.json("POST", f"/v1/jobs/{running}:cancel")
        # A body over --max-message-bytes (1 MiB here) is refused before it is parsed.
        status, _, raw = d.request("POST", "/v1/jobs", b"{" + b" " * (2 << 20) + b"}",
                                   {"Content-Type": "application/json"})
        self.assertEqual(status, 413, raw)

    def test_queued_job_errors(self):
        d = HttpDaemon(ARGS.gantryd, self.tmp, "--max-concurrent-jobs", "1", "--max-queued-jobs", "1")
        try:
            blocker = d.json("POST", "/v1/jobs", {"spec": small_spec(100000, size=1024)})["id"]
            wait_state(d, blocker, "JOB_STATE_RUNNING")
            queued = d.json("POST", "/v1/jobs", {"spec": small_spec(5)})["id"]
            self.assertEqual(d.json("GET", f"/v1/jobs/{queued}")["state"], "JOB_STATE_QUEUED")
            got, _, raw = d.request("GET", f"/v1/jobs/{queued}/samples?count=1")
            self.assertEqual(got, 400)
            self.assertEqual(json.loads(raw)["error"]["status"], "FAILED_PRECONDITION")
            got, _, raw = d.request("POST", "/v1/jobs", json.dumps({"spec": small_spec(5)}).encode(),
                                    {"Content-Type": "application/json"})
            self.assertEqual(got, 429)
            self.assertIn("the queue is full", json.loads(raw)["error"]["message"])
            d.json("POST", f"/v1/jobs/{blocker}:cancel")
        finally:
            self.assertEqual(d.stop(), 0)

    def test_event_stream_cap(self):
        d = HttpDaemon(ARGS.gantryd, self.tmp, "--http-max-event-streams", "2")
        try:
            jid = d.json("POST", "/v1/jobs", {"spec": small_spec(100000, size=1024)})["id"]
            conns = []
            for _ in range(2):
                c = d.connection()
                c.request("GET", f"/v1/jobs/{jid}/events")
                res = c.getresponse()
                self.assertEqual(res.status, 200)
                self.assertIsNotNone(SseReader(res).next())
                conns.append(c)
            status, hdrs, raw = d.request("GET", f"/v1/jobs/{jid}/events")
            self.assertEqual(status, 503, raw)
            self.assertEqual(json.loads(raw)["error"]["status"], "UNAVAILABLE")
            self.assertEqual(hdrs.get("retry-after"), "5")
            metrics = d.request("GET", "/metrics")[2].decode()
            self.assertIn("gantry_watch_streams_open 2", metrics)
            for c in conns:
                c.close()
            # The server notices closed streams at their next write (the next
            # epoch): a new stream is then accepted.
            deadline = time.time() + 60
            while self._stream_refused(d, jid):
                self.assertLess(time.time(), deadline, "closed streams were never released")
                time.sleep(0.1)
            d.json("POST", f"/v1/jobs/{jid}:cancel")
        finally:
            self.assertEqual(d.stop(), 0)

    def test_drain_ends_event_streams(self):
        d = HttpDaemon(ARGS.gantryd, self.tmp)
        jid = d.json("POST", "/v1/jobs", {"spec": small_spec(100000, size=1024)})["id"]
        conn = d.connection()
        conn.request("GET", f"/v1/jobs/{jid}/events")
        reader = SseReader(conn.getresponse())
        last = None
        for _ in range(5):
            last = reader.next()
        self.assertIsNotNone(last)
        # SIGTERM: the stream ends (reader.next() gives None; a client would
        # reconnect with Last-Event-ID) and gantryd exits 0.
        d.proc.send_signal(15)
        while (msg := reader.next()) is not None:
            last = msg
        conn.close()
        self.assertEqual(d.proc.wait(timeout=60), 0)
        d.log.close()

    @staticmethod
    def _stream_refused(d, jid):
        c = d.connection()
        try:
            c.request("GET", f"/v1/jobs/{jid}/events")
            return c.getresponse().status == 503
        finally:
            c.close()

    def test_metrics_and_health(self):
        self.d.json("GET", "/v1/jobs")
        status, hdrs, raw = self.d.request("GET", "/metrics")
        self.assertEqual(status, 200)
        text = raw.decode()
        self.assertIn('gantry_rpcs_total{code="OK",method="ListJobs"}', text)
        self.assertIn("gantry_epochs_trained_total", text)
        status, _, raw = self.d.request("GET", "/healthz")
        self.assertEqual((status, raw), (200, b"SERVING\n"))

    def test_dashboard_files(self):
        status, hdrs, raw = self.d.request("GET", "/")
        self.assertEqual(status, 200)
        self.assertIn(b"/static/chart.min.js", raw)
        self.assertIn("default-src 'self'", hdrs["content-security-policy"])
        # The dashboard's modules (server/web/README.md): the router imports
        # the pages; the job page follows the events.
        for name, needle in (("app.js", b"from './runs.js'"), ("job.js", b"EventSource"),
                             ("runs.js", b"label_selector"), ("compare.js", b"EventSource"),
                             ("common.js", b"export async function api"), ("table.js", b"samplePanel"),
                             ("report.js", b"renderReport"), ("new.js", b"renderNew"),
                             ("style.css", b".chart-box"), ("chart.min.js", b"Chart.js v3.9")):
            status, hdrs, raw = self.d.request("GET", f"/static/{name}")
            self.assertEqual(status, 200, name)
            self.assertIn(needle, raw)
            if name.endswith(".js"):
                self.assertEqual(hdrs["content-type"], "text/javascript; charset=utf-8", name)
        self.assertEqual(self.d.request("GET", "/static/nothing.js")[0], 404)

    def test_enum_spellings(self):
        """Short lower-case names, canonical ones and any case, in bodies and queries."""
        d = self.d
        for kind, want in (("two_moons", "DATASET_KIND_TWO_MOONS"), ("RING8", "DATASET_KIND_RING8"),
                           ("dataset_kind_grid25", "DATASET_KIND_GRID25"),
                           ("DATASET_KIND_SPIRAL", "DATASET_KIND_SPIRAL")):
            job = d.json("POST", "/v1/jobs", {"spec": {"epochs": 1, "dataset": {"size": 64, "kind": kind}}})
            self.assertEqual(job["spec"]["dataset"]["kind"], want, kind)   # replies stay canonical
        msg = self.error("POST", "/v1/jobs", 400, "INVALID_ARGUMENT",
                         {"spec": {"epochs": 1, "dataset": {"kind": "two_moon"}}})
        self.assertIn("spec.dataset.kind: 'two_moon' is not one of sine, circle, ring8, grid25, "
                      "two_moons, spiral, swiss_roll, user, table", msg)
        # A string that only looks like a field elsewhere is left alone.
        job = d.json("POST", "/v1/jobs", {"name": "running", "spec": small_spec(1), "labels": {"kind": "sine"}})
        self.assertEqual(job["name"], "running")
        self.assertEqual(job["labels"], {"kind": "sine"})
        wait_state(d, job["id"], "JOB_STATE_SUCCEEDED")
        for state in ("succeeded", "SUCCEEDED", "Job_State_Succeeded"):
            jobs = d.json("GET", f"/v1/jobs?state={state}&page_size=1000")["jobs"]
            self.assertIn(job["id"], [j["id"] for j in jobs], state)
            self.assertEqual({j["state"] for j in jobs}, {"JOB_STATE_SUCCEEDED"}, state)
        self.assertIn("state: 'bored' is not one of queued, running, succeeded, failed, cancelled",
                      self.error("GET", "/v1/jobs?state=bored", 400, "INVALID_ARGUMENT"))
        self.assertIn("view: 'everything' is not one of basic, full, summary",
                      self.error("GET", "/v1/jobs?view=everything", 400, "INVALID_ARGUMENT"))

    def test_conditional_gets(self):
        """ETags on GET replies; If-None-Match gets 304 with no body until the reply changes."""
        d = self.d
        # A list only this test's ended jobs are in, so nothing changes it meanwhile.
        tag_label = f"etag{os.getpid()}"
        for _ in range(2):
            job = d.json("POST", "/v1/jobs", {"spec": small_spec(1), "labels": {"t": tag_label}})
            wait_state(d, job["id"], "JOB_STATE_SUCCEEDED")
        listing = f"/v1/jobs?label_selector=t%3D{tag_label}"
        for path in ("/static/chart.min.js", "/", listing):
            status, hdrs, raw = d.request("GET", path)
            self.assertEqual(status, 200, path)
            tag = hdrs["etag"]
            # The first 128 bits of SHA-256(type NUL body): the same from
            # every build and process, so computed here as well.
            digest = hashlib.sha256(hdrs["content-type"].encode() + b"\0" + raw).hexdigest()
            self.assertEqual(tag, f'"{digest[:32]}"', path)
            self.assertIn("no-cache", hdrs["cache-control"])
            if path == listing:  # the API's replies depend on the caller: no shared cache
                self.assertEqual(hdrs["cache-control"], "private, no-cache")
            status, hdrs2, raw2 = d.request("GET", path, None, {"If-None-Match": tag})
            self.assertEqual((status, raw2), (304, b""), path)
            self.assertEqual(hdrs2["etag"], tag)
            self.assertNotIn("content-length", hdrs2)
            self.assertNotIn("content-type", hdrs2)
            for header in (f'"0000000000000000", W/{tag}', "*"):
                self.assertEqual(d.request("GET", path, None, {"If-None-Match": header})[0], 304, header)
            status, _, raw3 = d.request("GET", path, None, {"If-None-Match": '"0000000000000000"'})
            self.assertEqual((status, raw3), (200, raw), path)
        # A change to the list changes its tag: the old one gets the new body.
        _, hdrs, before = d.request("GET", listing)
        d.json("POST", "/v1/jobs", {"spec": small_spec(1), "labels": {"t": tag_label}})
        status, hdrs2, after = d.request("GET", listing, None, {"If-None-Match": hdrs["etag"]})
        self.assertEqual(status, 200)
        self.assertNotEqual(hdrs2["etag"], hdrs["etag"])
        self.assertGreater(len(after), len(before))
        # Errors and streams carry none (an ended job's stream ends after its last event).
        self.assertNotIn("etag", d.request("GET", "/v1/jobs/j-nothere")[1])
        status, hdrs, raw = d.request("GET", f"/v1/jobs/{job['id']}/events")
        self.assertEqual(status, 200)
        self.assertIn(b"JOB_STATE_SUCCEEDED", raw)
        self.assertNotIn("etag", hdrs)

    def test_tokens_and_login_cookie(self):
        token_file = os.path.join(self.tmp, "token")
        with open(token_file, "w") as f:
            f.write("s3cret token/1\n")
        d = HttpDaemon(ARGS.gantryd, self.tmp, "--auth-token-file", token_file)
        good = {"Authorization": "Bearer s3cret token/1"}
        try:
            self.assertEqual(d.request("GET", "/healthz")[0], 200)  # no token needed
            for path in ("/v1/jobs", "/metrics", "/v1/jobs/j-x/events"):
                status, hdrs, raw = d.request("GET", path)
                self.assertEqual(status, 401, path)
                self.assertEqual(json.loads(raw)["error"]["status"], "UNAUTHENTICATED")
                self.assertIn("Bearer", hdrs["www-authenticate"])
            status, _, raw = d.request("GET", "/v1/jobs", headers={"Authorization": "Bearer guess"})
            self.assertEqual((status, json.loads(raw)["error"]["message"]), (401, "invalid token"))
            jid = d.json("POST", "/v1/jobs", {"spec": small_spec(3)}, headers=good)["id"]
            # The dashboard redirects to the login form; a wrong token is refused.
            status, hdrs, _ = d.request("GET", "/")
            self.assertEqual((status, hdrs["location"]), (303, "/login"))
            self.assertEqual(d.request("GET", "/static/app.js")[0], 303)
            status, _, raw = d.request("GET", "/login")
            self.assertEqual(status, 200)
            self.assertIn(b'name="token"', raw)
            form = {"Content-Type": "application/x-www-form-urlencoded"}
            status, _, raw = d.request("POST", "/login", b"token=wrong", form)
            self.assertEqual(status, 401)
            self.assertIn(b"not valid", raw)
            status, hdrs, _ = d.request("POST", "/login", b"token=s3cret+token%2F1", form)
            self.assertEqual(status, 303)
            cookie = hdrs["set-cookie"]
            self.assertIn("HttpOnly", cookie)
            self.assertIn("SameSite=Strict", cookie)
            jar = {"Cookie": cookie.split(";")[0]}
            self.assertEqual(d.request("GET", "/", headers=jar)[0], 200)
            self.assertEqual(d.json("GET", f"/v1/jobs/{jid}", headers=jar)["id"], jid)
            wait_state(d, jid, "JOB_STATE_SUCCEEDED", headers=good)
            events = read_events(d, jid, headers=jar)   # what EventSource does: the cookie only
            self.assertEqual(events[-1][1]["state"]["state"], "JOB_STATE_SUCCEEDED")
            self.assertEqual(d.request("GET", "/v1/jobs", headers={"Cookie": "gantry_token=nope"})[0], 401)
            # The cookie holds a session id, never the token; the old token
            # cookie is not a credential any more.
            value = jar["Cookie"].split("=", 1)[1]
            self.assertRegex(value, "^[0-9a-f]{64}$")
            self.assertNotIn("s3cret", cookie)
            self.assertIn("Max-Age=43200", cookie)
            old = {"Cookie": "gantry_token=s3cret%20token%2F1"}
            self.assertEqual(d.request("GET", "/v1/jobs", headers=old)[0], 401)
            # A second sign-in is a second session; logging out revokes only its own.
            status, hdrs, _ = d.request("POST", "/login", b"token=s3cret+token%2F1", form)
            other = {"Cookie": hdrs["set-cookie"].split(";")[0]}
            self.assertNotEqual(other, jar)
            status, hdrs, _ = d.request("POST", "/logout", b"", headers=jar)
            self.assertEqual((status, hdrs["location"]), (303, "/login"))
            self.assertIn("Max-Age=0", hdrs["set-cookie"])
            status, _, raw = d.request("GET", "/v1/jobs", headers=jar)
            self.assertEqual(status, 401)
            self.assertIn("session", json.loads(raw)["error"]["message"])
            self.assertEqual(d.request("GET", "/v1/jobs", headers=other)[0], 200)
        finally:
            self.assertEqual(d.stop(), 0)
        # Sessions are stored: a restart on the same data directory keeps them.
        d = HttpDaemon(ARGS.gantryd, self.tmp, "--auth-token-file", token_file, data_dir=d.data_dir)
        try:
            self.assertEqual(d.request("GET", "/v1/jobs", headers=other)[0], 200)
            self.assertEqual(d.request("GET", "/v1/jobs", headers=jar)[0], 401)
        finally:
            self.assertEqual(d.stop(), 0)

    def test_failed_logins_are_throttled(self):
        token_file = os.path.join(self.tmp, "token-throttle")
        with open(token_file, "w") as f:
            f.write("s3cret\n")
        d = HttpDaemon(ARGS.gantryd, self.tmp, "--auth-token-file", token_file)

        def from_other_address(method, path, body=None, headers=None):
            return d.request(method, path, body, headers, source="127.0.0.2")

        try:
            form = {"Content-Type": "application/x-www-form-urlencoded"}
            statuses = [from_other_address("POST", "/login", b"token=guess", form)[0]
                        for _ in range(8)]
            print(f"[http] 8 wrong logins from one address: {statuses}")
            self.assertEqual(statuses[:5], [401] * 5)
            self.assertIn(429, statuses[5:])
            status, hdrs, raw = from_other_address("POST", "/login", b"token=s3cret", form)
            self.assertEqual(status, 429)  # even the right token waits
            self.assertGreaterEqual(int(hdrs["retry-after"]), 1)
            self.assertIn(b"Too many failed sign-ins", raw)
            # Guessing through the API's header is throttled the same way.
            status, hdrs, raw = from_other_address("GET", "/v1/jobs",
                                                   headers={"Authorization": "Bearer guess"})
            self.assertEqual(status, 429)
            self.assertIn("retry-after", hdrs)
            # Another address is not affected.
            self.assertEqual(d.request("GET", "/v1/jobs",
                                       headers={"Authorization": "Bearer s3cret"})[0], 200)
        finally:
            self.assertEqual(d.stop(), 0)

    def test_tls(self):
        def sh(cmd):
            subprocess.run(cmd, cwd=self.tmp, shell=True, check=True, capture_output=True,
                           executable="/bin/bash")
        sh('openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj "/CN=test CA"')
        sh('openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj "/CN=localhost"')
        sh('openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem '
           '-days 2 -extfile <(printf "subjectAltName=DNS:localhost,IP:127.0.0.1")')
        ctx = ssl.create_default_context(cafile=os.path.join(self.tmp, "ca.pem"))
        d = HttpDaemon(ARGS.gantryd, self.tmp, "--tls-cert", os.path.join(self.tmp, "server.pem"),
                       "--tls-key", os.path.join(self.tmp, "server.key"), scheme="https", ssl_context=ctx)
        try:
            self.assertEqual(d.json("GET", "/v1/jobs")["jobs"], [])
            plain = HttpDaemon.__new__(HttpDaemon)
            plain.base, plain.http_port = f"http://127.0.0.1:{d.http_port}", d.http_port
            with self.assertRaises(Exception):
                status = plain.request("GET", "/healthz", timeout=5)[0]
                if status != 200:
                    raise OSError(status)
        finally:
            self.assertEqual(d.stop(), 0)

    def test_cli_dashboard(self):
        r = subprocess.run([ARGS.gantry, "dashboard", "--url", self.d.base], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), self.d.base + "/")
        env = {k: v for k, v in os.environ.items() if k != "GANTRY_HTTP"}
        # gantryd says where its HTTP side listens (GetServerInfo, and GET /v1/server).
        r = subprocess.run([ARGS.gantry, "--server", self.d.address, "dashboard"], capture_output=True,
                           text=True, env=env)
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, self.d.base + "/\n", ""))
        info = self.d.json("GET", "/v1/server")
        self.assertEqual(info["httpAddress"], self.d.base.split("//")[1])
        self.assertEqual(info["storage"], "sqlite")
        self.assertRegex(info["version"], r"^\d+\.\d+")
        # None answers: the default port on the --server host, said to be a guess.
        r = subprocess.run([ARGS.gantry, "--server", "10.1.2.3:50051", "--timeout", "2", "dashboard"],
                           capture_output=True, text=True, env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), "http://10.1.2.3:8080/")
        self.assertIn("did not report its HTTP address", r.stderr)

    def test_user_points_csv_uses_their_column_names(self):
        d = self.d
        points = [v for i in range(32) for v in (i * 0.1, 1 - i * 0.05, i % 3)]
        spec = {"epochs": 1, "dataset": {"kind": "user", "points": {"dim": 3, "values": points},
                                          "columns": ["a", "b,c", "d"]}}
        jid = d.json("POST", "/v1/jobs", {"spec": spec})["id"]
        read_events(d, jid)
        status, _, raw = d.request("GET", f"/v1/jobs/{jid}/samples?count=2&seed=1", headers={"Accept": "text/csv"})
        self.assertEqual(status, 200, raw)
        self.assertEqual(raw.decode().splitlines()[0], 'a,"b,c",d')
        bad = dict(spec, dataset=dict(spec["dataset"], columns=["a", "b"]))
        msg = self.error("POST", "/v1/jobs", 400, "INVALID_ARGUMENT", {"spec": bad})
        self.assertEqual(msg, "dataset.columns: 2 names for points of dimension 3; give one per dimension or none")
        msg = self.error("POST", "/v1/jobs", 400, "INVALID_ARGUMENT",
                         {"spec": {"dataset": {"kind": "ring8", "columns": ["x", "y"]}}})
        self.assertEqual(msg, "dataset.columns: only allowed with kind user, not ring8")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--gantryd", default=os.path.join(ROOT, "build/bin/gantryd"))
    ap.add_argument("--gantry", default=os.path.join(ROOT, "build/bin/gantry"))
    ARGS, rest = ap.parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
