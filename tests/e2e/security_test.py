#!/usr/bin/env python3
"""TLS, bearer tokens and Prometheus metrics, against a real gantryd and the CLI.

    python3 tests/e2e/security_test.py --gantryd build/bin/gantryd --gantry build/bin/gantry
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import unittest
import urllib.request

from gantry_testlib import CliDaemon, ROOT, free_port

ARGS = None


def sh(cmd, cwd):
    subprocess.run(cmd, cwd=cwd, shell=True, check=True, capture_output=True, executable="/bin/bash")


def Daemon(tmp, *extra, scheme_args=()):
    return CliDaemon(ARGS.gantryd, ARGS.gantry, tmp, *extra, cli_args=scheme_args)


class SecurityTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmpdir = tempfile.TemporaryDirectory()
        cls.tmp = cls.tmpdir.name
        sh('openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 '
           '-subj "/CN=gantry test CA"', cls.tmp)
        sh('openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj "/CN=localhost"',
           cls.tmp)
        sh('openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem '
           '-days 2 -extfile <(printf "subjectAltName=DNS:localhost,IP:127.0.0.1")', cls.tmp)
        sh('openssl req -x509 -newkey rsa:2048 -nodes -keyout other.key -out other.pem -days 2 '
           '-subj "/CN=someone else"', cls.tmp)

    @classmethod
    def tearDownClass(cls):
        cls.tmpdir.cleanup()

    def path(self, name):
        return os.path.join(self.tmp, name)

    def test_tls(self):
        d = Daemon(self.tmp, "--tls-cert", self.path("server.pem"), "--tls-key", self.path("server.key"),
                   scheme_args=["--tls-ca", self.path("ca.pem")])
        try:
            r = d.gantry("submit", "--epochs", "2", "--size", "64", "--watch")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("state SUCCEEDED", r.stdout)
            # Plaintext against a TLS server, or a CA that did not sign it: unreachable.
            plain = subprocess.run([ARGS.gantry, "--server", d.address, "--timeout", "2", "list"],
                                   capture_output=True, text=True)
            self.assertEqual(plain.returncode, 3)
            wrong = subprocess.run([ARGS.gantry, "--server", d.address, "--timeout", "2", "--tls-ca",
                                    self.path("other.pem"), "list"], capture_output=True, text=True)
            self.assertEqual(wrong.returncode, 3)
        finally:
            self.assertEqual(d.stop(), 0)
        r = subprocess.run([ARGS.gantryd, "--listen", "127.0.0.1:0", "--data-dir", self.path("x"),
                            "--tls-cert", self.path("server.pem")], capture_output=True, text=True)
        self.assertEqual(r.returncode, 1)
        self.assertIn("--tls-cert and --tls-key go together", r.stderr)

    def test_tokens(self):
        with open(self.path("token"), "w") as f:
            f.write("s3cret-token\n")
        d = Daemon(self.tmp, "--auth-token-file", self.path("token"))
        try:
            missing = d.gantry("list")
            self.assertEqual(missing.returncode, 7)
            self.assertIn("missing 'authorization: Bearer <token>' metadata", missing.stderr)
            wrong = d.gantry("--token", "guess", "list")
            self.assertEqual(wrong.returncode, 7)
            self.assertIn("invalid token", wrong.stderr)
            self.assertEqual(d.gantry("health").returncode, 0, "health needs no token")
            r = d.gantry("--token", "s3cret-token", "submit", "--epochs", "2", "--size", "64", "--watch")
            self.assertEqual(r.returncode, 0, r.stderr)
            job_id = r.stdout.splitlines()[0]
            env = dict(os.environ, GANTRY_TOKEN="s3cret-token")
            self.assertEqual(d.gantry("sample", job_id, "-n", "600000", "--out", self.path("s.csv"),
                                      env=env).returncode, 0)
            self.assertEqual(d.gantry("watch", job_id, env=env).returncode, 0)
            self.assertEqual(d.gantry("watch", job_id).returncode, 7)
            self.assertEqual(d.gantry("export", job_id, "--out", self.path("g.pt"), env=env).returncode, 0)
        finally:
            self.assertEqual(d.stop(), 0)

    def test_metrics(self):
        mport = free_port()
        d = Daemon(self.tmp, "--metrics-listen", f"127.0.0.1:{mport}")
        try:
            r = d.gantry("submit", "--epochs", "7", "--size", "64", "--watch")
            self.assertEqual(r.returncode, 0, r.stderr)
            job_id = r.stdout.splitlines()[0]
            for args in (["-n", "100"], ["-n", "600000", "--out", self.path("m.csv")]):
                r = d.gantry("sample", job_id, *args)
                self.assertEqual(r.returncode, 0, f"sample {args}: {r.stderr}")
            r = d.gantry("get", "j-nothere")
            self.assertEqual(r.returncode, 4, r.stderr)
            text = urllib.request.urlopen(f"http://127.0.0.1:{mport}/metrics", timeout=10).read().decode()

            def value(name, **labels):
                lab = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
                pattern = re.escape(name) + (r"\{" + re.escape(lab) + r"\}" if lab else "") + r" ([0-9.e+]+)"
                m = re.search(r"^" + pattern + r"$", text, re.M)
                self.assertIsNotNone(m, f"{name} {labels} in\n{text}")
                return float(m.group(1))

            self.assertEqual(value("gantry_jobs", state="SUCCEEDED"), 1)
            self.assertEqual(value("gantry_jobs", state="RUNNING"), 0)
            self.assertEqual(value("gantry_epochs_trained_total"), 7)
            self.assertEqual(value("gantry_epoch_duration_seconds_count"), 7)
            self.assertEqual(value("gantry_points_sampled_total"), 600100)
            self.assertEqual(value("gantry_rpcs_total", code="OK", method="CreateJob"), 1)
            self.assertEqual(value("gantry_rpcs_total", code="OK", method="SampleStream"), 1)
            self.assertEqual(value("gantry_rpcs_total", code="NOT_FOUND", method="GetJob"), 1)
            self.assertEqual(value("gantry_watch_streams_open"), 0)
        finally:
            self.assertEqual(d.stop(), 0)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--gantryd", default=os.path.join(ROOT, "build/bin/gantryd"))
    ap.add_argument("--gantry", default=os.path.join(ROOT, "build/bin/gantry"))
    ARGS, rest = ap.parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
