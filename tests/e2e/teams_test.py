#!/usr/bin/env python3
"""Principals and roles (issue 26, point 1), against a real gantryd with
--credentials-file, over gRPC (the CLI) and HTTP/JSON:

- every job records its owner; `gantry list --owner` and ?owner= filter by it;
- a viewer reads but cannot create, cancel or delete; a member creates and
  cancels/deletes its own jobs only; an admin does everything;
- tables: members upload, only admins delete;
- every attempt, allowed or refused, is in the audit log (`gantry audit`,
  GET /v1/audit): admins read all of it, others their own;
- the file is read again when it changes and on SIGHUP, without a restart:
  a new principal's token works, a removed one's is refused, and a file that
  no longer parses keeps the principals read last;
- a bad file stops gantryd at start naming the file and the line;
- client certificates (--tls-client-ca): a certificate the CA signed names
  the principal cert:COMMON_NAME over gRPC and HTTP, without a token; one
  naming no principal, and none at all, are refused; one another CA signed
  fails the handshake;
- quotas: a principal's queued jobs and memory are refused past its quota,
  naming it and the use; past its running quota its jobs wait while others'
  start, and start once one of its own ends.

    python3 tests/e2e/teams_test.py --gantryd build/bin/gantryd --gantry build/bin/gantry \
        --python build/python
"""
import argparse
import hashlib
import json
import os
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

from gantry_testlib import HttpDaemon

ARGS = None
TOKENS = {"alice": "alice-secret-1", "bob": "bob-secret-2", "carol": "carol-secret-3",
          "vic": "vic-secret-4", "dave": "dave-secret-5"}
ROLES = {"alice": "admin", "bob": "member", "carol": "member", "vic": "viewer", "dave": "member"}


def credentials(names):
    return "".join(f"{n} {ROLES[n]} sha256:{hashlib.sha256(TOKENS[n].encode()).hexdigest()}\n"
                   for n in names)


def long_spec():
    return {"epochs": 100000, "dataset": {"size": 64}}


class TeamsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmpdir = tempfile.TemporaryDirectory()
        cls.tmp = cls.tmpdir.name
        cls.creds = os.path.join(cls.tmp, "credentials")
        cls.write(["alice", "bob", "carol", "vic"])
        cls.d = HttpDaemon(ARGS.gantryd, cls.tmp, "--credentials-file", cls.creds,
                           "--max-concurrent-jobs", "1")

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()
        cls.tmpdir.cleanup()

    @classmethod
    def write(cls, names, extra=""):
        # A new name each time, renamed over the file, so the change is whole
        # when gantryd reads it and its modification time moves.
        tmp = cls.creds + ".new"
        with open(tmp, "w") as f:
            f.write(credentials(names) + extra)
        os.replace(tmp, cls.creds)

    def cli(self, who, *args):
        env = dict(os.environ, GANTRY_TOKEN=TOKENS[who])
        return subprocess.run([ARGS.gantry, "--server", self.d.address, *args], capture_output=True,
                              text=True, timeout=120, env=env)

    def http(self, who, method, path, body=None):
        headers = {"Authorization": f"Bearer {TOKENS[who]}", "Content-Type": "application/json"}
        data = json.dumps(body).encode() if body is not None else None
        status, _, raw = self.d.request(method, path, data, headers)
        return status, (json.loads(raw) if raw else {})

    def submit(self, who, name):
        r = self.cli(who, "submit", "--name", name, "--epochs", "100000", "--size", "64")
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout.split()[0]

    def wait_ended(self, job_id):
        deadline = time.time() + 60
        while True:
            status, job = self.http("alice", "GET", f"/v1/jobs/{job_id}")
            self.assertEqual(status, 200, job)
            if job["state"] in ("JOB_STATE_CANCELLED", "JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED"):
                return job
            self.assertLess(time.time(), deadline, f"{job_id} did not end")
            time.sleep(0.05)

    def audit(self):
        status, body = self.http("alice", "GET", "/v1/audit?page_size=1000")
        self.assertEqual(status, 200, body)
        return body.get("entries", [])

    def audited(self, who, action, target, allowed, code):
        return any(e.get("principal", "") == who and e["action"] == action and
                   e.get("target", "") == target and bool(e.get("allowed")) == allowed and
                   e["code"] == code for e in self.audit())

    def test_roles_over_grpc(self):
        bob_job = self.submit("bob", "bob grpc")
        carol_job = self.submit("carol", "carol grpc")
        r = self.cli("alice", "-o", "json", "get", bob_job)
        self.assertEqual(json.loads(r.stdout)["owner"], "bob")
        self.assertIn("owner:", self.cli("alice", "get", carol_job).stdout)

        # A viewer reads, and may neither create nor cancel.
        self.assertEqual(self.cli("vic", "get", bob_job).returncode, 0)
        r = self.cli("vic", "submit", "--epochs", "1")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("viewer 'vic' may not create", r.stderr)
        r = self.cli("vic", "cancel", bob_job)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("viewer 'vic' may not cancel anything (viewers only read)", r.stderr)
        # A member cancels only its own.
        r = self.cli("bob", "cancel", carol_job)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(f"member 'bob' may not cancel job {carol_job}, which belongs to 'carol'", r.stderr)
        self.assertEqual(self.cli("bob", "cancel", bob_job).returncode, 0)
        # ... and deletes only its own; an admin deletes anyone's.
        self.assertEqual(self.cli("alice", "cancel", carol_job).returncode, 0)
        self.wait_ended(bob_job)
        self.wait_ended(carol_job)
        r = self.cli("bob", "delete", carol_job)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("which belongs to 'carol'", r.stderr)
        self.assertEqual(self.cli("alice", "delete", carol_job).returncode, 0)
        self.assertEqual(self.cli("bob", "delete", bob_job).returncode, 0)

        self.assertTrue(self.audited("vic", "CancelJob", bob_job, False, "PERMISSION_DENIED"))
        self.assertTrue(self.audited("vic", "CreateJob", "", False, "PERMISSION_DENIED"))
        self.assertTrue(self.audited("bob", "CancelJob", carol_job, False, "PERMISSION_DENIED"))
        self.assertTrue(self.audited("bob", "DeleteJob", carol_job, False, "PERMISSION_DENIED"))
        self.assertTrue(self.audited("bob", "CancelJob", bob_job, True, "OK"))
        self.assertTrue(self.audited("alice", "DeleteJob", carol_job, True, "OK"))
        self.assertTrue(self.audited("bob", "CreateJob", bob_job, True, "OK"))
        # The CLI's audit table; a member's own entries only.
        r = self.cli("alice", "audit", "--target", carol_job)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("DENIED", r.stdout)
        self.assertIn("DeleteJob", r.stdout)
        r = self.cli("bob", "-o", "json", "audit")
        entries = [json.loads(line) for line in r.stdout.splitlines()]
        self.assertTrue(entries and all(e["principal"] == "bob" for e in entries), r.stdout)
        r = self.cli("bob", "audit", "--principal", "alice")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("may read only its own audit entries", r.stderr)
        self.assertEqual(self.cli("vic", "whoami").stdout.strip(), "vic (viewer)")

    def test_roles_over_http(self):
        status, job = self.http("bob", "POST", "/v1/jobs", {"name": "bob http", "spec": long_spec()})
        self.assertEqual(status, 200, job)
        self.assertEqual(job["owner"], "bob")
        jid = job["id"]
        status, body = self.http("vic", "POST", f"/v1/jobs/{jid}:cancel")
        self.assertEqual(status, 403, body)
        self.assertEqual(body["error"]["status"], "PERMISSION_DENIED")
        status, body = self.http("carol", "POST", f"/v1/jobs/{jid}:cancel")
        self.assertEqual(status, 403, body)
        self.assertIn("which belongs to 'bob'", body["error"]["message"])
        status, body = self.http("alice", "POST", f"/v1/jobs/{jid}:cancel")
        self.assertEqual(status, 200, body)
        self.wait_ended(jid)
        status, body = self.http("carol", "DELETE", f"/v1/jobs/{jid}")
        self.assertEqual(status, 403, body)
        status, body = self.http("bob", "DELETE", f"/v1/jobs/{jid}")
        self.assertEqual(status, 200, body)
        # Owner filter, and who am I.
        self.http("carol", "POST", "/v1/jobs", {"name": "carol http", "spec": {"epochs": 1}})
        status, body = self.http("vic", "GET", "/v1/jobs?owner=carol&page_size=1000")
        self.assertEqual(status, 200, body)
        self.assertTrue(body["jobs"] and all(j["owner"] == "carol" for j in body["jobs"]), body)
        r = self.cli("vic", "list", "--owner", "carol")
        self.assertIn("OWNER", r.stdout)
        self.assertIn("carol http", r.stdout)
        self.assertEqual(self.http("carol", "GET", "/v1/server")[1]["role"], "member")
        # Tables: a member uploads; only an admin deletes.
        status, _, raw = self.d.request("POST", "/v1/tables?name=t.csv", b"a,b\n1,x\n2,y\n3,x\n",
                                        {"Authorization": f"Bearer {TOKENS['bob']}", "Content-Type": "text/csv"})
        self.assertEqual(status, 200, raw)
        table = json.loads(raw)["id"]
        status, body = self.http("bob", "DELETE", f"/v1/tables/{table}")
        self.assertEqual(status, 403, body)
        self.assertIn("tables have no owner (one file is one table, whoever uploaded it), so only admins "
                      "delete them", body["error"]["message"])
        status, _, _ = self.d.request("POST", "/v1/tables?name=t.csv", b"a\n1\n",
                                      {"Authorization": f"Bearer {TOKENS['vic']}", "Content-Type": "text/csv"})
        self.assertEqual(status, 403)
        self.assertEqual(self.http("alice", "DELETE", f"/v1/tables/{table}")[0], 200)
        self.assertTrue(self.audited("bob", "UploadTable", table, True, "OK"))
        self.assertTrue(self.audited("bob", "DeleteTable", table, False, "PERMISSION_DENIED"))
        self.assertTrue(self.audited("alice", "DeleteTable", table, True, "OK"))
        self.assertTrue(self.audited("vic", "CancelJob", jid, False, "PERMISSION_DENIED"))

    def test_python_client(self):
        sys.path.insert(0, ARGS.python)
        import gantry
        with gantry.Client(self.d.address, token=TOKENS["carol"]) as carol, \
                gantry.Client(self.d.address, token=TOKENS["vic"]) as vic:
            job = carol.submit(name="carol py", epochs=100000, dataset={"size": 64})
            self.assertEqual(vic.server_info().role, "viewer")
            self.assertIn(job.id, [j.id for j in vic.jobs(owner="carol")])
            with self.assertRaises(gantry.PermissionDenied) as refused:
                vic.get(job.id).cancel()
            self.assertIn("viewer 'vic' may not cancel", str(refused.exception))
            job.cancel()
            entries = list(carol.audit(target=job.id))
            self.assertEqual([(e.action, e.allowed) for e in entries], [("CancelJob", True), ("CreateJob", True)])
            self.assertEqual([e.principal for e in vic.audit()][:1], ["vic"])

    def whoami(self, who):
        """gRPC's answer for `who`'s token (gRPC's failed tokens are not
        throttled as the HTTP side's are): "dave (member)", or None when refused."""
        r = self.cli(who, "whoami")
        if r.returncode == 7:
            return None
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout.strip()

    def log(self):
        with open(self.d.log_path) as f:
            return f.read()

    def test_reload_without_restart(self):
        try:
            self.assertIsNone(self.whoami("dave"))
            self.write(["alice", "bob", "carol", "vic", "dave"])
            deadline = time.time() + 30  # a wait, generous for a busy machine
            while self.whoami("dave") is None:
                self.assertLess(time.time(), deadline, "the new principal was never accepted")
                time.sleep(0.1)
            self.assertEqual(self.whoami("dave"), "dave (member)")
            self.assertEqual(self.http("dave", "GET", "/v1/jobs")[0], 200)
            # A file that no longer parses keeps the principals read last.
            self.write(["alice", "bob", "carol", "vic"], "eve admin not-a-hash\n")
            os.kill(self.d.proc.pid, signal.SIGHUP)
            deadline = time.time() + 30  # a wait, generous for a busy machine
            while "credentials file not reloaded" not in self.log():
                self.assertLess(time.time(), deadline, "the bad file was not reported")
                time.sleep(0.1)
            self.assertIn(f"{self.creds}:5: the token must be given as sha256:HEX", self.log())
            self.assertEqual(self.whoami("dave"), "dave (member)")
            # Fixed, without dave: his token is refused from then on.
            self.write(["alice", "bob", "carol", "vic"])
            os.kill(self.d.proc.pid, signal.SIGHUP)
            deadline = time.time() + 30  # a wait, generous for a busy machine
            while self.whoami("dave") is not None:
                self.assertLess(time.time(), deadline, "the removed principal was still accepted")
                time.sleep(0.1)
            self.assertIn("received SIGHUP", self.log())
            self.assertIsNone(self.d.proc.poll(), "SIGHUP must not stop gantryd")
        finally:
            self.write(["alice", "bob", "carol", "vic"])

    def test_quotas(self):
        creds = os.path.join(self.tmp, "quota-credentials")
        h = lambda n: hashlib.sha256(TOKENS[n].encode()).hexdigest()
        with open(creds, "w") as f:
            f.write(f"alice admin sha256:{h('alice')}\n"
                    f"bob member sha256:{h('bob')} queued=1 running=1\n"
                    f"carol member sha256:{h('carol')} memory=1MiB\n"
                    f"dave member sha256:{h('dave')} running=0\n")
        d = HttpDaemon(ARGS.gantryd, self.tmp, "--credentials-file", creds, "--max-concurrent-jobs", "2")
        try:
            def post(who, name, spec):
                status, _, raw = d.request("POST", "/v1/jobs", json.dumps({"name": name, "spec": spec}).encode(),
                                           {"Authorization": f"Bearer {TOKENS[who]}", "Content-Type": "application/json"})
                return status, json.loads(raw)

            def state(jid):
                status, _, raw = d.request("GET", f"/v1/jobs/{jid}", None,
                                           {"Authorization": f"Bearer {TOKENS['alice']}"})
                return json.loads(raw)["state"]

            def wait_state(jid, want):
                deadline = time.time() + 60
                while state(jid) != want:
                    self.assertLess(time.time(), deadline, f"{jid} never {want} (is {state(jid)})")
                    time.sleep(0.05)

            status, b1 = post("bob", "b1", long_spec())
            self.assertEqual(status, 200, b1)
            wait_state(b1["id"], "JOB_STATE_RUNNING")
            status, b2 = post("bob", "b2", long_spec())
            self.assertEqual(status, 200, b2)
            # bob runs 1 of his running=1: b2 waits though a worker is free...
            status, b3 = post("bob", "b3", long_spec())
            self.assertEqual(status, 429, b3)
            self.assertEqual(b3["error"]["message"],
                             "quota: bob has 1 queued jobs, as many as its queued=1 allows; wait for one "
                             "to start, or cancel one")
            # A refusal is an answer about the caller: the server stays healthy.
            self.assertEqual(d.request("GET", "/healthz")[0], 200)
            # ... and alice's job, queued after it, takes the free worker.
            status, a1 = post("alice", "a1", long_spec())
            self.assertEqual(status, 200, a1)
            wait_state(a1["id"], "JOB_STATE_RUNNING")
            self.assertEqual(state(b2["id"]), "JOB_STATE_QUEUED")
            # carol's memory quota: the estimate of a big job is over 1 MiB.
            status, big = post("carol", "big", {"epochs": 1, "batch_size": 1024,
                                                "dataset": {"size": 100000}})
            self.assertEqual(status, 429, big)
            self.assertRegex(big["error"]["message"],
                             r"^quota: the job needs an estimated [0-9.]+ MiB, and the queued and running "
                             r"jobs of carol hold 0 B of the 1\.0 MiB its memory quota allows$")
            # b1 ends: b2 starts in its place.
            d.request("POST", f"/v1/jobs/{b1['id']}:cancel", b"",
                      {"Authorization": f"Bearer {TOKENS['bob']}"})
            wait_state(b1["id"], "JOB_STATE_CANCELLED")
            wait_state(b2["id"], "JOB_STATE_RUNNING")
            for jid in (a1["id"], b2["id"]):
                d.request("POST", f"/v1/jobs/{jid}:cancel", b"", {"Authorization": f"Bearer {TOKENS['alice']}"})
                wait_state(jid, "JOB_STATE_CANCELLED")
            # dave may run nothing (running=0): his job waits with both workers free...
            status, d1 = post("dave", "d1", {"epochs": 1})
            self.assertEqual(status, 200, d1)
            time.sleep(1.5)
            self.assertEqual(state(d1["id"]), "JOB_STATE_QUEUED")
            # ... until the file raises his quota: it starts with no other event.
            with open(creds) as f:
                text = f.read().replace(f"sha256:{h('dave')} running=0", f"sha256:{h('dave')} running=1")
            with open(creds + ".new", "w") as f:
                f.write(text)
            os.replace(creds + ".new", creds)
            wait_state(d1["id"], "JOB_STATE_SUCCEEDED")
            self.assertEqual(d.request("GET", "/healthz")[0], 200)
        finally:
            d.stop()

    def test_client_certificates(self):
        sys.path.insert(0, ARGS.python)
        import grpc
        from gantry.v1 import gantry_pb2 as pb, gantry_pb2_grpc
        tmp = os.path.join(self.tmp, "certs")
        os.makedirs(tmp, exist_ok=True)

        def sh(cmd):
            subprocess.run(cmd, cwd=tmp, shell=True, check=True, capture_output=True, executable="/bin/bash")

        def client(name, ca="ca"):
            sh(f'openssl req -newkey rsa:2048 -nodes -keyout {name}.key -out {name}.csr -subj "/CN={name}"')
            sh(f"openssl x509 -req -in {name}.csr -CA {ca}.pem -CAkey {ca}.key -CAcreateserial "
               f"-out {name}.pem -days 2")

        sh('openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj "/CN=test CA"')
        sh('openssl req -x509 -newkey rsa:2048 -nodes -keyout other.key -out other.pem -days 2 -subj "/CN=other CA"')
        sh('openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj "/CN=localhost"')
        sh('openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem '
           '-days 2 -extfile <(printf "subjectAltName=DNS:localhost,IP:127.0.0.1")')
        client("ci-bot")
        client("stranger")
        client("rogue", ca="other")
        creds = os.path.join(tmp, "credentials")
        with open(creds, "w") as f:
            f.write(credentials(["alice"]) + "ci-bot member cert:ci-bot queued=5\n")
        def read(name):
            with open(os.path.join(tmp, name), "rb") as f:
                return f.read()
        server_ctx = ssl.create_default_context(cafile=os.path.join(tmp, "ca.pem"))
        d = HttpDaemon(ARGS.gantryd, self.tmp, "--credentials-file", creds,
                       "--tls-cert", os.path.join(tmp, "server.pem"), "--tls-key", os.path.join(tmp, "server.key"),
                       "--tls-client-ca", os.path.join(tmp, "ca.pem"), scheme="https", ssl_context=server_ctx)
        try:
            def stub(name=None):
                channel = grpc.secure_channel(
                    f"localhost:{d.port}",
                    grpc.ssl_channel_credentials(read("ca.pem"), read(f"{name}.key") if name else None,
                                                 read(f"{name}.pem") if name else None))
                return channel, gantry_pb2_grpc.GantryStub(channel)

            channel, bot = stub("ci-bot")
            info = bot.GetServerInfo(pb.GetServerInfoRequest(), timeout=30)
            self.assertEqual((info.principal, info.role), ("ci-bot", "member"))
            job = bot.CreateJob(pb.CreateJobRequest(name="by certificate",
                                                    spec=pb.JobSpec(epochs=100000)), timeout=30)
            self.assertEqual(job.owner, "ci-bot")
            channel.close()
            for name, code, text in [("stranger", grpc.StatusCode.UNAUTHENTICATED,
                                      "the client certificate 'stranger' names no principal"),
                                     (None, grpc.StatusCode.UNAUTHENTICATED, "missing 'authorization")]:
                channel, s = stub(name)
                with self.assertRaises(grpc.RpcError) as e:
                    s.ListJobs(pb.ListJobsRequest(), timeout=30)
                self.assertEqual(e.exception.code(), code)
                self.assertIn(text, e.exception.details())
                channel.close()
            channel, rogue = stub("rogue")
            with self.assertRaises(grpc.RpcError) as e:
                rogue.ListJobs(pb.ListJobsRequest(), timeout=10)
            self.assertEqual(e.exception.code(), grpc.StatusCode.UNAVAILABLE)
            channel.close()
            # A token still works beside certificates.
            channel, anyone = stub()
            info = anyone.GetServerInfo(pb.GetServerInfoRequest(), timeout=30,
                                        metadata=[("authorization", f"Bearer {TOKENS['alice']}")])
            self.assertEqual(info.principal, "alice")
            channel.close()
            # HTTP: the same certificate names the same principal.
            ctx = ssl.create_default_context(cafile=os.path.join(tmp, "ca.pem"))
            ctx.load_cert_chain(os.path.join(tmp, "ci-bot.pem"), os.path.join(tmp, "ci-bot.key"))
            d.ssl_context = ctx
            self.assertEqual(d.json("GET", "/v1/server")["principal"], "ci-bot")
            status, _, raw = d.request("POST", f"/v1/jobs/{job.id}:cancel", b"", {"Content-Type": "application/json"})
            self.assertEqual(status, 200, raw)  # its own job: ci-bot is a member
            d.ssl_context = server_ctx
            status, _, raw = d.request("GET", "/v1/jobs")
            self.assertEqual(status, 401, raw)
        finally:
            d.ssl_context = server_ctx
            d.stop()

    def test_bad_files_stop_the_start(self):
        bad = os.path.join(self.tmp, "bad-credentials")
        for text, expect in [("alice boss sha256:" + "0" * 64 + "\n", "bad-credentials:1: 'boss' is not one of admin, member, viewer"),
                             (credentials(["alice"]) + credentials(["alice"]), "bad-credentials:2: 'alice' is named twice")]:
            with open(bad, "w") as f:
                f.write(text)
            r = subprocess.run([ARGS.gantryd, "--listen", "127.0.0.1:0", "--data-dir",
                                os.path.join(self.tmp, "bad-data"), "--credentials-file", bad],
                               capture_output=True, text=True, timeout=60)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn(expect, r.stderr)
        token = os.path.join(self.tmp, "token")
        with open(token, "w") as f:
            f.write("t\n")
        r = subprocess.run([ARGS.gantryd, "--listen", "127.0.0.1:0", "--credentials-file", self.creds,
                            "--auth-token-file", token], capture_output=True, text=True, timeout=60)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("excludes", r.stderr)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--gantryd", required=True)
    parser.add_argument("--gantry", required=True)
    parser.add_argument("--python", required=True, help="build/python: the gantry package")
    ARGS, rest = parser.parse_known_args()
    unittest.main(argv=[sys.argv[0], *rest], verbosity=2)
