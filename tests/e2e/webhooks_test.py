#!/usr/bin/env python3
"""Webhooks (issue 26, point 4), against a real gantryd and a real HTTP
receiver this test starts:

- 100 jobs end while the receiver answers 500 to half of the POSTs and
  gantryd is killed (SIGKILL) twice on the way, each time while the receiver
  holds POSTs open: every event a webhook subscribes to (each job's end, each
  new best epoch, an alarm) is delivered at least once, nothing else is, a
  duplicate carries the same Idempotency-Key and the same body, and every
  POST's X-Gantry-Signature verifies (HMAC-SHA256 of "T.BODY" with the
  webhook's secret); the POSTs cut by a kill are sent again by the restarted
  gantryd at once (their claims' leases would hold for minutes); a webhook
  filtered by a label gets only its jobs' ends; the delivery logs end with
  nothing pending;
- the resource over HTTP/JSON and the CLI: create (the secret shown once),
  list, the delivery log, delete; bad input is refused naming the field;
  roles: a viewer cannot create one, a member cannot delete or read another's,
  an admin can; both are in the audit log.

    python3 tests/e2e/webhooks_test.py --gantryd build/bin/gantryd --gantry build/bin/gantry
"""
import argparse
import hashlib
import hmac
import http.server
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import unittest

from gantry_testlib import Gantryd, HttpDaemon, ROOT, free_port, generate_stubs

ARGS = None
pb = None
JOBS = 100
TERMINAL = ("JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED")


def setUpModule():
    global pb
    ARGS.stubs = tempfile.TemporaryDirectory()
    generate_stubs(ARGS.stubs.name)
    from gantry.v1 import gantry_pb2
    pb = gantry_pb2


class Receiver:
    """An HTTP server on loopback that records every POST and answers 500 to
    about `fail_share` of them (seeded), 204 to the others."""

    def __init__(self, secrets, fail_share=0.5, seed=11):
        self.secrets = secrets  # webhook id -> secret, filled once they exist
        self.started = int(time.time())
        self.lock = threading.Lock()
        self.rng = random.Random(seed)
        self.fail_share = fail_share
        self.posts = []       # (key, body, answered status, signature ok, headers)
        self.delivered = {}   # key -> [bodies answered 2xx]
        # While `holding` is set, POSTs wait (then fail): gantryd is killed
        # with them in flight.
        self.holding = threading.Event()
        self.released = threading.Event()
        self.held = []        # keys of the POSTs held
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                key = self.headers.get("Idempotency-Key", "")
                if receiver.holding.is_set():
                    with receiver.lock:
                        receiver.held.append(key)
                    receiver.released.wait(60)
                    with receiver.lock:
                        ok = receiver.signed(self.headers.get("X-Gantry-Signature", ""), body, key)
                        receiver.posts.append((key, body, 503, ok, dict(self.headers)))
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                with receiver.lock:
                    fail = receiver.rng.random() < receiver.fail_share
                    ok = receiver.signed(self.headers.get("X-Gantry-Signature", ""), body, key)
                    status = 500 if fail else 204
                    receiver.posts.append((key, body, status, ok, dict(self.headers)))
                    if not fail:
                        receiver.delivered.setdefault(key, []).append(body)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def signed(self, header, body, key):
        parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
        secret = self.secrets.get(key.split("/")[0])
        if secret is None or "t" not in parts or "v1" not in parts:
            return False
        want = hmac.new(secret.encode(), parts["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
        # The timestamp is a signing time during this test (no bound on
        # how late the POST came: a busy machine may be slow).
        return (hmac.compare_digest(want, parts["v1"]) and
                self.started - 1 <= int(parts["t"]) <= time.time() + 1)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class DeliveryTest(unittest.TestCase):
    def test_every_event_is_delivered_at_least_once_across_two_kills(self):
        tmp = tempfile.TemporaryDirectory()
        secrets = {}
        receiver = Receiver(secrets)
        # A POST's timeout of 100 s leases a claimed delivery for 330 s: only
        # the restart's freeing of the dead holder's claims sends it again
        # within this test's waits.
        d = Gantryd(ARGS.gantryd, os.path.join(tmp.name, "data"),
                    extra=["--max-concurrent-jobs", "2", "--webhook-workers", "4",
                           "--webhook-allow-private", "--webhook-timeout-seconds", "100",
                           "--webhook-first-retry-seconds", "0.05", "--webhook-max-retry-seconds", "0.4"])
        try:
            d.start()
            ch, stub = d.connect()
            every = stub.CreateWebhook(pb.CreateWebhookRequest(webhook=pb.Webhook(url=receiver.url)))
            only_b = stub.CreateWebhook(pb.CreateWebhookRequest(webhook=pb.Webhook(
                url=receiver.url, events=[pb.WEBHOOK_EVENT_JOB_ENDED], label_selector="batch=b",
                secret="a-secret-of-our-own")))
            self.assertEqual(list(every.events), [pb.WEBHOOK_EVENT_JOB_ENDED, pb.WEBHOOK_EVENT_NEW_BEST,
                                                  pb.WEBHOOK_EVENT_ALARM])
            self.assertTrue(every.secret.startswith("whsec_"), every.secret)
            self.assertEqual(only_b.secret, "a-secret-of-our-own")
            secrets[every.id], secrets[only_b.id] = every.secret, only_b.secret
            listed = stub.ListWebhooks(pb.ListWebhooksRequest()).webhooks
            self.assertEqual([w.id for w in listed], [every.id, only_b.id])
            self.assertTrue(all(w.secret == "" for w in listed))  # shown once only

            # 100 small jobs with held-out evaluations (new best epochs),
            # labelled batch=a and batch=b in turn; the first saturates (an
            # alarm: --lr 10 --dropout 0). Request ids make the submissions
            # safe to retry across the kills.
            ids = []
            for i in range(JOBS):
                spec = pb.JobSpec(epochs=6, eval_every=2, eval_points=64, seed=i,
                                  dataset=pb.Dataset(size=64))
                if i == 0:
                    spec = pb.JobSpec(epochs=25, eval_every=5, learning_rate=10, dropout=0,
                                      dataset=pb.Dataset(size=256))
                job = stub.CreateJob(pb.CreateJobRequest(
                    spec=spec, name=f"hook-{i}", request_id=f"hook-{i}",
                    labels={"batch": "ab"[i % 2]}), timeout=30)
                ids.append(job.id)
            ch.close()

            def ended():
                c, s = d.connect()
                try:
                    page = s.ListJobs(pb.ListJobsRequest(page_size=1000, view=pb.JOB_VIEW_SUMMARY),
                                      timeout=30)
                    return sum(j.state >= pb.JOB_STATE_SUCCEEDED for j in page.jobs)
                finally:
                    c.close()

            held = []
            for threshold in (30, 65):
                deadline = time.time() + 90
                while ended() < threshold:
                    self.assertLess(time.time(), deadline, "jobs did not end")
                    time.sleep(0.2)
                # Kill gantryd while the receiver holds POSTs open: their
                # deliveries are claimed, their outcome never recorded.
                receiver.released.clear()
                receiver.holding.set()
                deadline = time.time() + 30
                while True:
                    with receiver.lock:
                        if receiver.held:
                            break
                    self.assertLess(time.time(), deadline, "no POST came to hold")
                    time.sleep(0.01)
                d.kill()
                receiver.holding.clear()
                receiver.released.set()
                with receiver.lock:
                    held += receiver.held
                    receiver.held.clear()
                d.start()
            deadline = time.time() + 90
            while ended() < JOBS:
                self.assertLess(time.time(), deadline, "jobs did not end")
                time.sleep(0.2)

            # What must be delivered, from the jobs' stored events.
            ch, stub = d.connect()
            expected = {}
            for i, job_id in enumerate(ids):
                for e in stub.WatchJob(pb.WatchJobRequest(job_id=job_id), timeout=60):
                    kinds = []
                    if e.HasField("state") and e.state.state >= pb.JOB_STATE_SUCCEEDED:
                        kinds.append("WEBHOOK_EVENT_JOB_ENDED")
                        if i % 2 == 1:
                            expected[f"{only_b.id}/{job_id}/{e.seq}/WEBHOOK_EVENT_JOB_ENDED"] = job_id
                    if e.HasField("epoch") and e.epoch.best_epoch == e.epoch.epoch > 0:
                        kinds.append("WEBHOOK_EVENT_NEW_BEST")
                    if e.HasField("epoch") and any(a.epoch == e.epoch.epoch for a in e.epoch.alarms):
                        kinds.append("WEBHOOK_EVENT_ALARM")
                    for kind in kinds:
                        expected[f"{every.id}/{job_id}/{e.seq}/{kind}"] = job_id
            bests = sum(k.endswith("NEW_BEST") for k in expected)
            self.assertGreaterEqual(bests, JOBS, "every job has at least one best epoch")
            self.assertEqual(sum(k.endswith("ALARM") for k in expected), 1, "the first job's saturation")
            self.assertTrue(held and set(held) <= set(expected), held)

            deadline = time.time() + 90
            while True:
                with receiver.lock:
                    missing = set(expected) - set(receiver.delivered)
                if not missing or time.time() > deadline:
                    break
                time.sleep(0.1)
            self.assertEqual(missing, set(), f"{len(missing)} of {len(expected)} never delivered")

            with receiver.lock:
                posts = list(receiver.posts)
                delivered = dict(receiver.delivered)
            self.assertEqual(set(delivered), set(expected), "delivered exactly the subscribed events")
            self.assertEqual({p[0] for p in posts} - set(expected), set(), "nothing else was POSTed")
            self.assertTrue(all(ok for _, _, _, ok, _ in posts), "every signature verifies")
            failed = [p for p in posts if p[2] >= 500]
            self.assertGreater(len(failed), len(expected) // 4, "the receiver failed about half")
            bodies = {}
            for key, body, _, _, headers in posts:
                bodies.setdefault(key, set()).add(body)
                self.assertEqual(headers.get("X-Gantry-Event"), key.split("/")[3])
            self.assertTrue(all(len(b) == 1 for b in bodies.values()),
                            "every attempt at one delivery carries the same body")
            duplicates = sum(len(v) - 1 for v in delivered.values())
            print(f"webhooks: {len(expected)} deliveries ({bests} new best epochs), {len(posts)} POSTs, "
                  f"{len(failed)} answered 500, {len(held)} held open at the kills and sent again, "
                  f"{duplicates} delivered twice", file=sys.stderr)

            # The payloads name what happened.
            for key, job_id in expected.items():
                payload = json.loads(delivered[key][0])
                self.assertEqual(payload["id"], key)
                self.assertEqual(payload["jobId"], job_id)
                self.assertEqual(payload["type"], key.split("/")[3])
                self.assertEqual(payload["event"]["seq"], key.split("/")[2])  # int64 as a string
                self.assertIn(payload["labels"]["batch"], "ab")
                if payload["type"] == "WEBHOOK_EVENT_JOB_ENDED":
                    self.assertIn(payload["state"], TERMINAL)
                elif payload["type"] == "WEBHOOK_EVENT_ALARM":
                    alarms = payload["event"]["epoch"]["alarms"]
                    self.assertEqual(alarms[-1]["kind"], "saturation")
                    self.assertEqual(alarms[-1]["epoch"], payload["event"]["epoch"]["epoch"])
                else:
                    self.assertNotIn("values", payload["event"].get("epoch", {}).get("preview", {}))

            # The delivery logs: nothing pending, every one DELIVERED, and
            # some took more than one attempt.
            deadline = time.time() + 30
            while any(w.pending for w in stub.ListWebhooks(pb.ListWebhooksRequest()).webhooks):
                self.assertLess(time.time(), deadline, "deliveries still pending")
                time.sleep(0.1)
            log = []
            req = pb.ListDeliveriesRequest(webhook_id=every.id, page_size=150)
            while True:
                page = stub.ListDeliveries(req)
                log.extend(page.deliveries)
                if not page.next_page_token:
                    break
                req.page_token = page.next_page_token
            self.assertEqual({x.id for x in log}, {k for k in expected if k.startswith(every.id)})
            self.assertTrue(all(x.state == pb.DELIVERY_STATE_DELIVERED for x in log))
            self.assertTrue(any(x.attempts > 1 for x in log))
            self.assertTrue(all(x.last_status == 204 for x in log))
            ch.close()
        finally:
            if d.proc and d.proc.poll() is None:
                d.stop()
            receiver.stop()
            tmp.cleanup()


TOKENS = {"ada": "ada-token-1", "bob": "bob-token-2", "vic": "vic-token-3"}
ROLES = {"ada": "admin", "bob": "member", "vic": "viewer"}


class ResourceTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmpdir = tempfile.TemporaryDirectory()
        creds = os.path.join(cls.tmpdir.name, "credentials")
        with open(creds, "w") as f:
            for n, t in TOKENS.items():
                f.write(f"{n} {ROLES[n]} sha256:{hashlib.sha256(t.encode()).hexdigest()}\n")
        cls.d = HttpDaemon(ARGS.gantryd, cls.tmpdir.name, "--credentials-file", creds)

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()
        cls.tmpdir.cleanup()

    def http(self, who, method, path, body=None):
        headers = {"Authorization": f"Bearer {TOKENS[who]}", "Content-Type": "application/json"}
        data = json.dumps(body).encode() if body is not None else None
        status, _, raw = self.d.request(method, path, data, headers)
        return status, (json.loads(raw) if raw else {})

    def cli(self, who, *args):
        env = dict(os.environ, GANTRY_TOKEN=TOKENS[who])
        return subprocess.run([ARGS.gantry, "--server", self.d.address, *args], capture_output=True,
                              text=True, timeout=60, env=env)

    def test_create_list_deliveries_delete_over_http_and_the_cli(self):
        status, hook = self.http("bob", "POST", "/v1/webhooks",
                                 {"url": "https://hooks.example.test/x", "events": ["WEBHOOK_EVENT_JOB_ENDED"],
                                  "labelSelector": "team=ml"})
        self.assertEqual(status, 200, hook)
        self.assertEqual(hook["principal"], "bob")
        self.assertTrue(hook["id"].startswith("wh-"))
        self.assertGreaterEqual(len(hook["secret"]), 32)
        status, listed = self.http("bob", "GET", "/v1/webhooks")
        self.assertEqual(status, 200)
        self.assertEqual([w["id"] for w in listed["webhooks"]], [hook["id"]])
        self.assertEqual(listed["webhooks"][0]["secret"], "")  # shown once only
        status, log = self.http("bob", "GET", f"/v1/webhooks/{hook['id']}/deliveries")
        self.assertEqual((status, log.get("deliveries", [])), (200, []))

        r = self.cli("bob", "webhook", "create", "https://example.test/hook", "--event", "best",
                     "--event", "alarm", "--label", "team=ml", "--secret", "sixteen-chars-ok")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("on best,alarm (labels team=ml)", r.stdout)
        self.assertIn("sixteen-chars-ok", r.stdout)
        cli_id = r.stdout.split()[1].rstrip(":")
        r = self.cli("bob", "webhook", "list")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(cli_id, r.stdout)
        self.assertIn(hook["id"], r.stdout)
        self.assertNotIn("sixteen-chars-ok", r.stdout)
        r = self.cli("bob", "webhook", "deliveries", cli_id)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("SEQ", r.stdout)
        r = self.cli("bob", "webhook", "delete", cli_id)
        self.assertEqual((r.returncode, r.stdout.strip()), (0, f"deleted webhook {cli_id}"), r.stderr)
        r = self.cli("bob", "webhook", "delete", cli_id)
        self.assertEqual(r.returncode, 4, r.stdout)  # NOT_FOUND
        self.assertIn(f"webhook {cli_id} not found", r.stderr)

        # Roles: a viewer may not create one; a member may not delete or read
        # another's; an admin lists everyone's and deletes it. Audited.
        status, body = self.http("vic", "POST", "/v1/webhooks", {"url": "https://hooks.example.test/v"})
        self.assertEqual(status, 403, body)
        status, ada_hook = self.http("ada", "POST", "/v1/webhooks", {"url": "HTTPS://hooks.example.test/a"})
        self.assertEqual(status, 200, ada_hook)
        status, body = self.http("bob", "DELETE", f"/v1/webhooks/{ada_hook['id']}")
        self.assertEqual(status, 403, body)
        self.assertEqual(body["error"]["status"], "PERMISSION_DENIED")
        self.assertIn("belongs to 'ada'", body["error"]["message"])
        status, body = self.http("bob", "GET", f"/v1/webhooks/{ada_hook['id']}/deliveries")
        self.assertEqual(status, 403, body)
        status, listed = self.http("ada", "GET", "/v1/webhooks")
        self.assertEqual({w["id"] for w in listed["webhooks"]}, {hook["id"], ada_hook["id"]})
        status, _ = self.http("ada", "DELETE", f"/v1/webhooks/{hook['id']}")
        self.assertEqual(status, 200)
        status, audit = self.http("ada", "GET", "/v1/audit?page_size=100")
        seen = {(e["principal"], e["action"], e.get("target", ""), e.get("allowed", False))
                for e in audit["entries"]}
        self.assertIn(("bob", "CreateWebhook", hook["id"], True), seen)
        self.assertIn(("bob", "DeleteWebhook", ada_hook["id"], False), seen)
        self.assertIn(("ada", "DeleteWebhook", hook["id"], True), seen)
        self.assertIn(("vic", "CreateWebhook", "", False), seen)

    def test_bad_input_is_refused_naming_the_field(self):
        cases = [
            ({}, "webhook.url is required"),
            ({"url": "ftp://hooks.example.test/x"}, "must start with http:// or https://"),
            ({"url": "http:///nohost"}, "names no host"),
            ({"url": "http://hooks.example.test/a b"}, "holds a space"),
            ({"url": "https://hooks.example.test/", "events": [7]}, "webhook.events: 7 is not one of"),
            ({"url": "https://hooks.example.test/", "events": ["WEBHOOK_EVENT_ALARM", "WEBHOOK_EVENT_ALARM"]},
             "WEBHOOK_EVENT_ALARM is named twice"),
            ({"url": "https://hooks.example.test/", "labelSelector": "team"}, "webhook.label_selector"),
            ({"url": "https://hooks.example.test/", "secret": "short"}, "webhook.secret is 5 characters"),
            ({"url": "https://hooks.example.test/", "id": "wh-mine"}, "set by the server"),
            # Not into gantryd's own network (--webhook-allow-private lets it).
            ({"url": "http://127.0.0.1:8080/"}, "'127.0.0.1' is a loopback, private or link-local address"),
            ({"url": "http://169.254.169.254/latest/meta-data"}, "'169.254.169.254' is a loopback"),
            ({"url": "http://10.1.2.3/"}, "'10.1.2.3' is a loopback"),
            ({"url": "http://[::1]:9/"}, "'::1' is a loopback"),
            ({"url": "http://localhost/"}, "'localhost' is a loopback"),
        ]
        for body, message in cases:
            status, answer = self.http("bob", "POST", "/v1/webhooks", body)
            self.assertEqual(status, 400, (body, answer))
            self.assertIn(message, answer["error"]["message"], body)
        status, answer = self.http("bob", "POST", "/v1/webhooks",
                                   {"url": "https://hooks.example.test/", "jobId": "j-doesnotexist"})
        self.assertEqual(status, 404, answer)
        r = self.cli("bob", "webhook", "create", "https://hooks.example.test/", "--event", "finished")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("--event 'finished' is not one of ended, best, alarm", r.stderr)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--gantryd", default=os.path.join(ROOT, "build/bin/gantryd"))
    ap.add_argument("--gantry", default=os.path.join(ROOT, "build/bin/gantry"))
    ARGS, rest = ap.parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
