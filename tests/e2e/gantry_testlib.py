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


class Gantryd:
    """A gantryd process; connect() gives (channel, Gantry stub)."""

    def __init__(self, binary, data_dir, port=None, extra=(), log_path=None):
        self.binary, self.data_dir, self.extra = binary, data_dir, list(extra)
        self.port = port or free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.log_path = log_path or os.path.join(os.path.dirname(data_dir), f"gantryd-{self.port}.log")
        self.proc = None

    def start(self, wait=True):
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen([self.binary, "--listen", self.address, "--data-dir", self.data_dir,
                                      *self.extra], stdout=log, stderr=subprocess.STDOUT)
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
                raise RuntimeError(f"gantryd exited {self.proc.returncode}; see {self.log_path}")
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
