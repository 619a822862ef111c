#!/usr/bin/env python3
"""gantryd's admission estimate against the memory a job really takes.

For each spec, a fresh gantryd (so that its peak belongs to that job alone)
trains the job to its end over gRPC; the script samples the server's
resident memory while it trains and prints, per spec, the estimate that
GetJob reports (memory_estimate_bytes), the measured peak above the idle
server's resident memory (VmHWM - VmRSS before the job), and their ratio.
Each job writes a checkpoint (checkpoint_every 1, two epochs), so the peak
covers everything a job does.  Printed, never asserted (the hostile_inputs
test asserts that the estimate is not below the peak).

  /usr/bin/python3 tests/bench/memory_bench.py --gantryd build/bin/gantryd [--large] [--aten]

--large adds the 16x4096 spec (about 11 GB of memory, minutes); --aten
trains on the ATen path instead of the fast one.
"""
import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
from gantry_testlib import generate_stubs, measure_peak  # noqa: E402

MIB = 1 << 20


def specs(pb, large):
    two = dict(epochs=2, checkpoint_every=1)
    out = [
        ("seed job (sine 1024, D 256-128-64, G 16-32)", pb.JobSpec(**two)),
        ("4x1024 both networks, batch 256",
         pb.JobSpec(**two, batch_size=256, generator_hidden=pb.LayerSizes(sizes=[1024] * 4),
                    discriminator_hidden=pb.LayerSizes(sizes=[1024] * 4))),
        ("sine 1,000,000 points, batch 100,000",
         pb.JobSpec(epochs=1, checkpoint_every=1, batch_size=100000,
                    dataset=pb.Dataset(size=1000000))),
        ("user data 200,000 x 8, batch 1000",
         pb.JobSpec(**two, batch_size=1000, dataset=pb.Dataset(
             kind=pb.DATASET_KIND_USER,
             points=pb.Points(dim=8, values=[float(i % 97) for i in range(1600000)])))),
    ]
    if large:
        out.append(("16x4096 both networks, 32 points",
                    pb.JobSpec(**two, batch_size=32, dataset=pb.Dataset(size=32),
                               generator_hidden=pb.LayerSizes(sizes=[4096] * 16),
                               discriminator_hidden=pb.LayerSizes(sizes=[4096] * 16))))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gantryd", required=True)
    ap.add_argument("--large", action="store_true", help="also the 16x4096 spec (~11 GB)")
    ap.add_argument("--aten", action="store_true", help="train on the ATen path")
    args = ap.parse_args()
    stubs = tempfile.TemporaryDirectory()
    generate_stubs(stubs.name)
    from gantry.v1 import gantry_pb2 as pb
    extra = ["--trainer-path", "aten"] if args.aten else []
    print(f"training loop: {'ATen' if args.aten else 'fast (auto)'}")
    print(f"{'spec':<48} {'estimate':>12} {'measured peak':>14} {'estimate/peak':>14}")
    for name, spec in specs(pb, args.large):
        est, peak = measure_peak(args.gantryd, spec, extra)
        print(f"{name:<48} {est / MIB:>8.1f} MiB {peak / MIB:>10.1f} MiB {est / max(peak, 1):>13.2f}x",
              flush=True)


if __name__ == "__main__":
    sys.exit(main())
