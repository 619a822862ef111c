"""Shared helpers for the Python end-to-end tests: stubs generated at test
time with protoc and /usr/bin/grpc_python_plugin, and gantryd processes."""
import os
import signal
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def generate_stubs(out_dir):
    """gantry/v1 as it is; health.proto as module `healthcheck`, because a
    generated `grpc` package would hide grpcio's own."""
    proto_dir = os.path.join(ROOT, "proto")
    health_dir = os.path.join(out_dir, "health_src")
    os.makedirs(os.path.join(health_dir, "healthcheck"), exist_ok=True)
    with open(os.path.join(proto_dir, "grpc/health/v1/health.proto")) as src, \
            open(os.path.join(health_dir, "healthcheck/health.proto"), "w") as dst:
        dst.write(src.read())
    for include, proto in ((proto_dir, "gantry/v1/gantry.proto"),
                           (health_dir, "healthcheck/health.proto")):
        subprocess.run(
            ["protoc", f"-I{include}", f"--python_out={out_dir}", f"--grpc_python_out={out_dir}",
             "--plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin", proto],
            check=True)
    sys.path.insert(0, out_dir)


def proc_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} for pid {pid}")


def measure_peak(gantryd, spec, extra=()):
    """(GetJob's memory_estimate_bytes, measured peak bytes above idle) of
    `spec` (a gantry.v1.JobSpec) trained alone on a fresh gantryd."""
    import tempfile
    import grpc
    from gantry.v1 import gantry_pb2 as pb
    from gantry.v1 import gantry_pb2_grpc
    with tempfile.TemporaryDirectory() as tmp:
        server = Gantryd(gantryd, os.path.join(tmp, "data"),
                         extra=["--max-concurrent-jobs", "1", "--max-job-memory", "0",
                                "--max-memory", "0", "--log-level", "warn", *extra])
        server.start()
        try:
            time.sleep(0.3)
            pid = server.proc.pid
            # Reset the high-water mark, so that the start-up self-test's peak
            # does not count (Linux: 5 > clear_refs).
            with open(f"/proc/{pid}/clear_refs", "w") as f:
                f.write("5")
            idle = proc_kib(pid, "VmRSS")
            # GetJob returns the whole spec, user points included.
            ch = grpc.insecure_channel(server.address,
                                       options=[("grpc.max_receive_message_length", 256 << 20)])
            stub = gantry_pb2_grpc.GantryStub(ch)
            job = stub.CreateJob(pb.CreateJobRequest(spec=spec), timeout=120)
            peak = idle
            while True:
                peak = max(peak, proc_kib(pid, "VmHWM"))
                job = stub.GetJob(pb.GetJobRequest(job_id=job.id), timeout=60)
                if job.state not in (pb.JOB_STATE_QUEUED, pb.JOB_STATE_RUNNING):
                    break
                time.sleep(0.05)
            peak = max(peak, proc_kib(pid, "VmHWM"))
            ch.close()
            if job.state != pb.JOB_STATE_SUCCEEDED:
                raise RuntimeError(f"job ended {pb.JobState.Name(job.state)}: {job.error}")
            return job.memory_estimate_bytes, (peak - idle) * 1024
        finally:
            server.stop()


class Gantryd:
    """A gantryd process; connect() gives (channel, Gantry stub)."""

    def __init__(self, binary, data_dir, port=None, extra=(), log_path=None, wrapper=()):
        self.binary, self.data_dir, self.extra = binary, data_dir, list(extra)
        self.wrapper = list(wrapper)  # e.g. ["fiu-run", "-x"]
        self.port = port or free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.log_path = log_path or os.path.join(os.path.dirname(data_dir), f"gantryd-{self.port}.log")
        self.proc = None

    def start(self, wait=True):
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen([*self.wrapper, self.binary, "--listen", self.address,
                                      "--data-dir", self.data_dir, *self.extra],
                                     stdout=log, stderr=subprocess.STDOUT)
        log.close()
        return self.wait_serving() if wait else None

    def wait_serving(self, timeout=60):
        """Seconds from now until health says SERVING."""
        import grpc
        from healthcheck import health_pb2, health_pb2_grpc
        start = time.monotonic()
        while True:
            # A fresh channel each try: a channel that saw the port closed
            # waits out its reconnect backoff (seconds) before trying again.
            with grpc.insecure_channel(self.address, options=[("grpc.use_local_subchannel_pool", 1)]) as ch:
                try:
                    status = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(),
                                                                 timeout=0.5).status
                    if status == health_pb2.HealthCheckResponse.SERVING:
                        return time.monotonic() - start
                except grpc.RpcError:
                    pass
            if self.proc.poll() is not None:
                raise RuntimeError(f"gantryd exited {self.proc.returncode}; its log ends:\n" + open(self.log_path, errors="replace").read()[-3000:])
            if time.monotonic() - start > timeout:
                raise RuntimeError("gantryd did not become SERVING")
            time.sleep(0.01)

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=60)

    def connect(self):
        import grpc
        from gantry.v1 import gantry_pb2_grpc
        channel = grpc.insecure_channel(self.address)
        return channel, gantry_pb2_grpc.GantryStub(channel)


class CliDaemon:
    """A gantryd process whose readiness is checked with the CLI's own
    `health` (so it works with TLS and tokens too); gantry(...) runs the CLI
    against it."""

    def __init__(self, gantryd, gantry, tmp, *extra, cli_args=()):
        self.gantry_bin = gantry
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.cli_args = list(cli_args)
        self.log = open(os.path.join(tmp, f"gantryd-{self.port}.log"), "w")
        self.proc = subprocess.Popen([gantryd, "--listen", self.address, "--data-dir",
                                      os.path.join(tmp, f"data-{self.port}"), *extra],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while self.gantry("--timeout", "1", "health").returncode != 0:
            if time.time() > deadline or self.proc.poll() is not None:
                raise RuntimeError("gantryd did not start")
            time.sleep(0.1)

    def gantry(self, *args, env=None, input=None):
        return subprocess.run([self.gantry_bin, "--server", self.address, *self.cli_args, *args],
                              capture_output=True, text=True, timeout=600, env=env, input=input)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=60)
        self.log.close()
        return rc


class HttpDaemon:
    """A gantryd process with --http-listen on a free port; ready once its
    /healthz answers. url(path) gives the address of a path; request(...)
    makes one HTTP request and returns (status, headers, body bytes)."""

    def __init__(self, gantryd, tmp, *extra, scheme="http", ssl_context=None, data_dir=None):
        self.port, self.http_port = free_port(), free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.base = f"{scheme}://127.0.0.1:{self.http_port}"
        self.ssl_context = ssl_context
        self.log_path = os.path.join(tmp, f"gantryd-{self.port}.log")
        self.log = open(self.log_path, "w")
        self.data_dir = data_dir or os.path.join(tmp, f"data-{self.port}")
        self.proc = subprocess.Popen([gantryd, "--listen", self.address, "--http-listen",
                                      f"127.0.0.1:{self.http_port}", "--data-dir",
                                      self.data_dir, *extra],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while True:
            try:
                if self.request("GET", "/healthz")[0] == 200:
                    break
            except OSError:
                pass
            if time.time() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"gantryd did not start; see {self.log_path}")
            time.sleep(0.05)

    def url(self, path):
        return self.base + path

    def connection(self, timeout=60, source=None):
        """`source`: the client's address (another of 127/8, to be another client)."""
        import http.client
        source_address = (source, 0) if source else None
        if self.base.startswith("https"):
            return http.client.HTTPSConnection("127.0.0.1", self.http_port, timeout=timeout,
                                               context=self.ssl_context,
                                               source_address=source_address)
        return http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=timeout,
                                          source_address=source_address)

    def request(self, method, path, body=None, headers=None, timeout=60, source=None):
        conn = self.connection(timeout, source)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            res = conn.getresponse()
            return res.status, {k.lower(): v for k, v in res.getheaders()}, res.read()
        finally:
            conn.close()

    def json(self, method, path, body=None, headers=None, expect=200):
        import json
        data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
        status, hdrs, raw = self.request(method, path, data, {"Content-Type": "application/json",
                                                             **(headers or {})})
        if status != expect:
            raise AssertionError(f"{method} {path}: HTTP {status}, expected {expect}: {raw[:500]!r}")
        return json.loads(raw) if raw else None

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=60)
        self.log.close()
        return rc


class SseReader:
    """Reads Server-Sent Events from an open http.client response: next()
    gives (id, data) for each message, or None at the end of the stream."""

    def __init__(self, response):
        self.response = response

    def next(self):
        event_id, data = None, []
        while True:
            line = self.response.readline()
            if not line:
                return None
            line = line.decode().rstrip("\r\n")
            if line == "":
                if data:
                    return event_id, "\n".join(data)
                continue
            if line.startswith(":"):
                continue
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "id":
                event_id = value
            elif field == "data":
                data.append(value)
