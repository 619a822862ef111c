#!/usr/bin/env python3
"""What 50 open Server-Sent Event streams cost gantryd: trains the seed job
(300 epochs) through a real gantryd with --http-listen, once with no
watcher, then with 50 SSE streams (GET /v1/jobs/ID/events) following it
from the start, and prints both training times (the job's start_time to
end_time) and their ratio. Measures, never asserts.

    python3 tests/bench/sse_bench.py --gantryd build/bin/gantryd [--streams 50]
"""
import argparse
import datetime
import os
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
from gantry_testlib import HttpDaemon, SseReader  # noqa: E402


def seconds(ts):
    # RFC 3339 with nanoseconds: keep microseconds for fromisoformat.
    head, frac = ts.rstrip("Z").split(".") if "." in ts else (ts.rstrip("Z"), "0")
    return datetime.datetime.fromisoformat(head).timestamp() + float("0." + frac)


def follow(d, job_id, counts, i):
    conn = d.connection(timeout=600)
    conn.request("GET", f"/v1/jobs/{job_id}/events")
    reader, n = SseReader(conn.getresponse()), 0
    while reader.next() is not None:
        n += 1
    counts[i] = n
    conn.close()


def run(d, streams):
    job = d.json("POST", "/v1/jobs", {"name": f"seed, {streams} streams", "spec": {}})
    counts = [0] * streams
    threads = [threading.Thread(target=follow, args=(d, job["id"], counts, i)) for i in range(streams)]
    for t in threads:
        t.start()
    while True:
        job = d.json("GET", f"/v1/jobs/{job['id']}")
        if job["state"] in ("JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED"):
            break
        time.sleep(0.2)
    for t in threads:
        t.join()
    return seconds(job["endTime"]) - seconds(job["startTime"]), sum(counts)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gantryd", default="build/bin/gantryd")
    ap.add_argument("--streams", type=int, default=50)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        d = HttpDaemon(args.gantryd, tmp, "--max-concurrent-jobs", "1", "--log-level", "warn",
                       "--http-max-event-streams", str(max(64, args.streams)))
        try:
            alone, _ = run(d, 0)
            with_streams, events = run(d, args.streams)
        finally:
            d.stop()
    print("seed job through gantryd, 300 epochs")
    print(f"training time, no event stream:      {alone:6.2f} s")
    print(f"training time, {args.streams} SSE streams:       {with_streams:6.2f} s  ({events} events delivered)")
    print(f"slow-down with streams:              {with_streams / alone:6.3f}x")


if __name__ == "__main__":
    main()
