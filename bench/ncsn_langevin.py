"""Overhead of the annealed Langevin sampler: wall time / (NFE x one forward pass of the same batch), on CPU.

A ratio near 1 means the sampler adds nothing but the network evaluations (target <= 1.05).
Usage: python bench/ncsn_langevin.py [--ngf 16] [--batch 16] [--steps 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from repro.nets.refinenet import CondRefineNetDilated, LevelScore
from repro.nfe import CountingScore
from repro.samplers.langevin import annealed_langevin


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--ngf", type=int, default=16)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--steps", type=int, default=5, help="Langevin steps per level (10 levels)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    net = CondRefineNetDilated(3, args.ngf).eval()
    sigmas = torch.exp(torch.linspace(0.0, torch.log(torch.tensor(0.01)).item(), 10))
    score = LevelScore(net, sigmas)
    x = torch.rand(args.batch, 3, args.size, args.size)
    sig = torch.full((args.batch,), float(sigmas[4]))
    with torch.no_grad():
        score(x, sig)  # warm-up
        forwards = []
        for _ in range(max(5, args.repeats * 3)):
            t = time.perf_counter()
            score(x, sig)
            forwards.append(time.perf_counter() - t)
    forward = statistics.median(forwards)
    ratios = []
    for _ in range(args.repeats):
        counted = CountingScore(score)
        t = time.perf_counter()
        annealed_langevin(counted, x, sigmas.tolist(), n_steps=args.steps)
        ratios.append((time.perf_counter() - t) / (counted.nfe * forward))
    print(f"forward {forward * 1e3:.2f} ms (batch {args.batch}, ngf {args.ngf}, {args.size}px, {args.threads} thread)")
    print(
        f"annealed Langevin: NFE {counted.nfe}, wall / (NFE x forward) = {statistics.median(ratios):.3f} "
        f"(runs: {', '.join(f'{r:.3f}' for r in ratios)})"
    )


if __name__ == "__main__":
    main()
