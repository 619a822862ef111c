#!/usr/bin/env python3
"""The tutorial's seed program (Real Python's "Generative Adversarial Networks:
Build Your First Models", its sine-curve GAN), runnable.

Same networks, hyper-parameters and order of random draws as the tutorial; the
only changes are arguments for the seed and the epoch count, and that it prints
every epoch's last-batch losses (the tutorial prints every tenth) in a form the
tests parse:

    epoch <n> loss_d <float> loss_g <float>

Run with Debian's python3-torch, which is the same LibTorch build gantry uses.
With --samples FILE it also writes the generator's outputs for the latent
points in FILE (whitespace-separated floats, two per row), one row per line.
"""
import argparse
import math
import sys
import time

import torch
from torch import nn


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=111)
    ap.add_argument("--epochs", type=int, default=300)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    train_data_length = 1024
    train_data = torch.zeros((train_data_length, 2))
    train_data[:, 0] = 2 * math.pi * torch.rand(train_data_length)
    train_data[:, 1] = torch.sin(train_data[:, 0])
    train_labels = torch.zeros(train_data_length)
    train_set = [(train_data[i], train_labels[i]) for i in range(train_data_length)]

    batch_size = 32
    train_loader = torch.utils.data.DataLoader(
        train_set, batch_size=batch_size, shuffle=True
    )

    class Discriminator(nn.Module):
        def __init__(self):
            super().__init__()
            self.model = nn.Sequential(
                nn.Linear(2, 256), nn.ReLU(), nn.Dropout(0.3),
                nn.Linear(256, 128), nn.ReLU(), nn.Dropout(0.3),
                nn.Linear(128, 64), nn.ReLU(), nn.Dropout(0.3),
                nn.Linear(64, 1), nn.Sigmoid(),
            )

        def forward(self, x):
            return self.model(x)

    class Generator(nn.Module):
        def __init__(self):
            super().__init__()
            self.model = nn.Sequential(
                nn.Linear(2, 16), nn.ReLU(),
                nn.Linear(16, 32), nn.ReLU(),
                nn.Linear(32, 2),
            )

        def forward(self, x):
            return self.model(x)

    discriminator = Discriminator()
    generator = Generator()

    lr = 0.001
    num_epochs = args.epochs
    loss_function = nn.BCELoss()
    optimizer_discriminator = torch.optim.Adam(discriminator.parameters(), lr=lr)
    optimizer_generator = torch.optim.Adam(generator.parameters(), lr=lr)

    start = time.perf_counter()
    for epoch in range(num_epochs):
        for n, (real_samples, _) in enumerate(train_loader):
            real_samples_labels = torch.ones((batch_size, 1))
            latent_space_samples = torch.randn((batch_size, 2))
            generated_samples = generator(latent_space_samples)
            generated_samples_labels = torch.zeros((batch_size, 1))
            all_samples = torch.cat((real_samples, generated_samples))
            all_samples_labels = torch.cat(
                (real_samples_labels, generated_samples_labels)
            )

            discriminator.zero_grad()
            output_discriminator = discriminator(all_samples)
            loss_discriminator = loss_function(output_discriminator, all_samples_labels)
            loss_discriminator.backward()
            optimizer_discriminator.step()

            latent_space_samples = torch.randn((batch_size, 2))

            generator.zero_grad()
            generated_samples = generator(latent_space_samples)
            output_discriminator_generated = discriminator(generated_samples)
            loss_generator = loss_function(
                output_discriminator_generated, real_samples_labels
            )
            loss_generator.backward()
            optimizer_generator.step()

        print(f"epoch {epoch} loss_d {loss_discriminator.item():.9g} "
              f"loss_g {loss_generator.item():.9g}", flush=True)
    elapsed = time.perf_counter() - start
    print(f"train_seconds {elapsed:.3f}", file=sys.stderr)


if __name__ == "__main__":
    main()
