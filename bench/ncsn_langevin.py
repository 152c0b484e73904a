"""NCSN annealed Langevin overhead: wall time / (NFE x one forward pass of the same batch); target <= 1.05.

The score is the real NCSN RefineNet (small width) behind `LevelScore`, so the ratio covers the sigma-to-level
lookup, the noise draws and the update arithmetic of `repro.diffusion.samplers.langevin.annealed_langevin`.

    python -m bench.ncsn_langevin [--ngf 16] [--batch 16] [--steps 5]
"""

from __future__ import annotations

import argparse

import torch

from bench import Result, device, emit, seconds
from repro.diffusion.nfe import CountingScore
from repro.diffusion.samplers.langevin import annealed_langevin
from repro.diffusion.sde import geometric_sigmas
from repro.nets.refinenet import CondRefineNetDilated, LevelScore

SOURCE = "bench.ncsn_langevin"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--ngf", type=int, default=16)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--steps", type=int, default=5, help="Langevin steps per level (10 levels)")
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    dev = device()
    torch.manual_seed(0)
    sigmas = geometric_sigmas(10, 1.0, 0.01).float()
    score = LevelScore(CondRefineNetDilated(3, args.ngf).eval(), sigmas).to(dev)
    x = torch.rand(args.batch, 3, args.size, args.size, device=dev)
    sig = torch.full((args.batch,), float(sigmas[4]), device=dev)
    counted = CountingScore(score)
    with torch.no_grad():
        forward = seconds(lambda: score(x, sig), dev, repeats=max(5, 3 * args.repeats))
        wall = seconds(
            lambda: annealed_langevin(counted, x, sigmas.tolist(), n_steps=args.steps), dev, repeats=args.repeats
        )
    nfe = counted.nfe // (args.repeats + 1)  # warm-up run included in the count
    note = f"RefineNet ngf {args.ngf}, batch {args.batch}, {args.size}px, NFE {nfe}, {torch.get_num_threads()} threads"
    emit(
        [
            Result(
                "sampler", "ncsn_annealed_langevin", "wall / (NFE x forward)", wall / (nfe * forward), "ratio", note
            ),
            Result("sampler", "ncsn_refinenet_forward", "forward", forward * 1e3, "ms", note),
        ],
        SOURCE,
    )


if __name__ == "__main__":
    main()
