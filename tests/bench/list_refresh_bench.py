#!/usr/bin/env python3
"""What does the dashboard's list refresh move? (issue 25, point 1). This
build's dashboard asks for the first page of its runs view every 2 seconds
(GET /v1/jobs?view=summary&page_size=100); a baseline's, from before the
SUMMARY view and paging, asked for the whole list every second
(GET /v1/jobs?page_size=1000). Both revalidate with If-None-Match as a
browser does for a no-cache reply with an ETag.
This stores --jobs ended jobs (1 epoch each) on a gantryd with HTTP, then
makes --refreshes such requests, each with the ETag of the last 200 (when
there was one), and prints the bytes a refresh moved (status line, headers
and body, as read off the socket) and per second at each dashboard's
refresh interval (EVERY): with every job ended, and with one job training
(its row changes every epoch, so each refresh is a whole list).

With --baseline-gantryd an older build gets the same jobs and the same
refreshes in the same invocation.

    /usr/bin/python3 tests/bench/list_refresh_bench.py --gantryd build/bin/gantryd \\
        [--baseline-gantryd OLD] [--jobs 1000] [--refreshes 20]

Measures and prints; never asserts.
"""
import argparse
import json
import os
import socket
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
from gantry_testlib import HttpDaemon  # noqa: E402

LIST = "/v1/jobs?view=summary&page_size=100"    # this build's runs view: its first page, every 2 s
OLD_LIST = "/v1/jobs?page_size=1000"           # the dashboard before SUMMARY and paging, every second
EVERY = {"current": 2.0, "baseline": 1.0}      # seconds between the dashboards' refreshes


def raw_get(port, path, etag):
    """One GET on a fresh connection: (status, etag, bytes read off the socket)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    head = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n"
    if etag:
        head += f"If-None-Match: {etag}\r\n"
    sock.sendall((head + "\r\n").encode())
    data = b""
    while True:
        chunk = sock.recv(1 << 16)
        if not chunk:
            break
        data += chunk
    sock.close()
    header, _, _ = data.partition(b"\r\n\r\n")
    lines = header.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    tag = next((l.split(":", 1)[1].strip() for l in lines[1:] if l.lower().startswith("etag:")), None)
    return status, tag, len(data)


def refreshes(d, n, path):
    """n refreshes as the dashboard makes them: (bytes per refresh, 304s)."""
    etag, total, not_modified = None, 0, 0
    for _ in range(n):
        status, tag, size = raw_get(d.http_port, path, etag)
        total += size
        if status == 304:
            not_modified += 1
        else:
            etag = tag
        time.sleep(0.05)
    return total / n, not_modified


def fill(d, jobs):
    for i in range(jobs):
        d.json("POST", "/v1/jobs", {"name": f"list bench {i}",
                                    "spec": {"epochs": 1, "dataset": {"size": 64}}})
    while True:
        page = d.json("GET", "/v1/jobs?page_size=1000&state=SUCCEEDED")
        if len(page["jobs"]) >= min(jobs, 1000):
            return
        time.sleep(0.5)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gantryd", required=True)
    ap.add_argument("--baseline-gantryd")
    ap.add_argument("--jobs", type=int, default=1000)
    ap.add_argument("--refreshes", type=int, default=20)
    args = ap.parse_args()
    targets = [("current", args.gantryd)] + ([("baseline", args.baseline_gantryd)]
                                             if args.baseline_gantryd else [])
    with tempfile.TemporaryDirectory() as tmp:
        rows = []
        for label, binary in targets:
            os.makedirs(os.path.join(tmp, label))
            d = HttpDaemon(binary, os.path.join(tmp, label), "--log-level", "warn",
                           "--max-concurrent-jobs", "2", "--max-queued-jobs", "2000")
            try:
                start = time.time()
                fill(d, args.jobs)
                filled = time.time() - start
                path = LIST if label == "current" else OLD_LIST
                idle, idle_304 = refreshes(d, args.refreshes, path)
                running = d.json("POST", "/v1/jobs", {"spec": {"epochs": 100000, "dataset": {"size": 1024}}})
                time.sleep(1)
                busy, busy_304 = refreshes(d, args.refreshes, path)
                d.json("POST", f"/v1/jobs/{running['id']}:cancel")
                rows.append({"label": label, "idle": idle, "idle_304": idle_304, "busy": busy,
                             "busy_304": busy_304, "filled": filled, "binary": binary})
            finally:
                d.stop()
        print(f"the dashboard's list ({LIST}; the baseline's: {OLD_LIST}) with {args.jobs} ended jobs "
              f"stored, {args.refreshes} refreshes each, revalidated with If-None-Match when the last "
              "reply had an ETag; bytes off the socket, the first refresh included")
        print(f"{'gantryd':10} {'idle B/refresh':>15} {'304s':>5} {'B/s':>10} {'1 running B/refresh':>20} "
              f"{'304s':>5} {'B/s':>10}  binary")
        for r in rows:
            every = EVERY[r["label"]]
            print(f"{r['label']:10} {r['idle']:15,.0f} {r['idle_304']:5d} {r['idle'] / every:10,.0f} "
                  f"{r['busy']:20,.0f} {r['busy_304']:5d} {r['busy'] / every:10,.0f}  {r['binary']}")
        if len(rows) == 2:
            cur, base = rows

            def per_second(r, key):
                return r[key] / EVERY[r["label"]]

            print(f"current / baseline per second: "
                  f"idle {per_second(cur, 'idle') / per_second(base, 'idle'):.4f}x, "
                  f"one running {per_second(cur, 'busy') / per_second(base, 'busy'):.3f}x")


if __name__ == "__main__":
    main()
