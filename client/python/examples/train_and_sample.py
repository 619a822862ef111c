#!/usr/bin/env python3
"""Train a small GAN on gantryd and keep 1000 points from its best epoch.

Connects to gantryd (--server, else $GANTRY_SERVER, else 127.0.0.1:50051;
a token from $GANTRY_TOKEN), submits a ring8 job (eight Gaussians on a
circle), prints each epoch and every alarm as they happen, waits for the
end, samples 1000 points from the best evaluated epoch and writes them to a
CSV file.

    PYTHONPATH=build/python python3 client/python/examples/train_and_sample.py --out ring8.csv
"""
import argparse
import csv
import sys

import gantry


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", help="gantryd's address (HOST:PORT)")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--seed", type=int, default=7, help="the sample's seed")
    parser.add_argument("--out", default="ring8_samples.csv")
    args = parser.parse_args()

    with gantry.Client(args.server) as client:
        job = client.submit(dataset="ring8", epochs=args.epochs, eval_every=10,
                            generator_hidden=[64, 64], name="ring8-example",
                            labels={"example": "train_and_sample"})
        print(f"submitted {job.id}")

        for event in job.watch():
            if isinstance(event, gantry.EpochEvent):
                line = (f"epoch {event.epoch}/{event.epochs}  loss_d {event.loss_d:.4f}  "
                        f"loss_g {event.loss_g:.4f}")
                if event.metrics:
                    line += f"  sliced_w1 {event.metrics.get('sliced_w1', 0):.4f}"
                print(line)
            elif isinstance(event, gantry.AlarmEvent):
                print(f"alarm {event.kind} at epoch {event.epoch}: {event.message}")
            elif isinstance(event, gantry.StateEvent):
                print(f"state {event.state}" + (f": {event.error}" if event.error else ""))

        state = job.wait()
        if state != "SUCCEEDED":
            print(f"job {job.id} ended {state}: {job.error}", file=sys.stderr)
            return 1

        points = job.sample(1000, epoch="best", seed=args.seed)
        with open(args.out, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow([f"x{i}" for i in range(points.shape[1])])
            writer.writerows(points.tolist())
        print(f"best epoch {job.best_epoch} ({job.spec.select_by}: "
              f"{job.best_metrics.get(job.spec.select_by, float('nan')):.4f}); "
              f"{len(points)} points written to {args.out}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except gantry.GantryError as e:
        print(f"train_and_sample: {e}", file=sys.stderr)
        sys.exit(1)
